//! docker's flags for what a container is beyond its command, read into
//! Create's spec-shaped fields: `--rootfs`/`--bundle`, `-v`, `--mount`,
//! `--tmpfs`, `-u`, `--ulimit`, `--cap-add/--cap-drop`, `--sysctl`,
//! `--device`, `--security-opt`, `--entrypoint`. Errors are docker's
//! wording where it has one.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use mydocker::v1;

use crate::args::RunArgs;
use crate::images::root::ImageRoot;

/// `-v HOST:CTR[:OPTS]`: a bind (docker's named volumes, a source that is
/// not a path, are not here yet).
pub fn volume(spec: &str) -> Result<v1::Mount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => bail!("invalid volume specification: '{spec}'"),
    };
    if !src.starts_with('/') {
        bail!("invalid volume specification: '{spec}': named volumes are not supported yet; the source must be an absolute host path");
    }
    if !dst.starts_with('/') {
        bail!("invalid volume specification: '{spec}': mount path must be absolute");
    }
    let mut options = vec!["rbind".to_string()];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => options.push(o.into()),
            "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared" => {
                options.push(o.into())
            }
            // SELinux relabelling: nothing to do without SELinux.
            "z" | "Z" => {}
            o => bail!("invalid volume specification: '{spec}': unknown option {o}"),
        }
    }
    if !options
        .iter()
        .any(|o| o.ends_with("private") || o.ends_with("slave") || o.ends_with("shared"))
    {
        options.push("rprivate".into());
    }
    Ok(v1::Mount {
        destination: dst.into(),
        r#type: "bind".into(),
        source: src.into(),
        options,
    })
}

/// `--tmpfs CTR[:OPTS]`: docker's defaults are noexec, nosuid, nodev.
pub fn tmpfs(spec: &str) -> Result<v1::Mount> {
    let (dst, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if !dst.starts_with('/') {
        bail!("invalid mount path {dst}: mount path must be absolute");
    }
    let mut options: Vec<String> = ["noexec", "nosuid", "nodev"].map(String::from).into();
    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
    Ok(v1::Mount {
        destination: dst.into(),
        r#type: "tmpfs".into(),
        source: "tmpfs".into(),
        options,
    })
}

/// `--mount type=bind|tmpfs,source=...,target=...[,readonly][,tmpfs-size=..]`.
pub fn mount(spec: &str) -> Result<v1::Mount> {
    let (mut typ, mut src, mut dst) = ("volume".to_string(), None, None);
    let mut ro = false;
    let mut extra = Vec::new();
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => typ = v.into(),
            "source" | "src" => src = Some(v.to_string()),
            "target" | "destination" | "dst" => dst = Some(v.to_string()),
            "readonly" | "ro" => ro = v.is_empty() || v == "true" || v == "1",
            "bind-propagation" => extra.push(v.to_string()),
            "tmpfs-size" => extra.push(format!("size={v}")),
            "tmpfs-mode" => extra.push(format!("mode={v}")),
            _ => bail!("invalid argument for --mount: unexpected key '{k}' in '{field}'"),
        }
    }
    let dst = dst.ok_or_else(|| anyhow!("invalid argument for --mount: target is required"))?;
    let mut m = match typ.as_str() {
        "bind" => {
            let src =
                src.ok_or_else(|| anyhow!("invalid argument for --mount: source is required"))?;
            volume(&format!("{src}:{dst}"))?
        }
        "tmpfs" => {
            if src.is_some() {
                bail!("invalid argument for --mount: source is not allowed for tmpfs");
            }
            tmpfs(&dst)?
        }
        t => bail!("invalid argument for --mount: type {t} is not supported yet (bind, tmpfs)"),
    };
    if ro {
        m.options.push("ro".into());
    }
    for e in extra {
        if m.r#type == "bind" {
            m.options.retain(|o| !o.ends_with("private"));
        }
        m.options.push(e);
    }
    Ok(m)
}

/// `-u USER[:GROUP]`: numbers, or names in the root file system's
/// `/etc/passwd` and `/etc/group` (read without leaving it).
#[cfg(test)]
fn user(spec: &str, rootfs: Option<&Path>) -> Result<v1::User> {
    user_and_home(spec, rootfs).map(|(u, _)| u)
}

/// [`user`], and its home directory (docker's `HOME`): its passwd entry's,
/// or `/` for a user the root file system does not name.
pub fn user_and_home(spec: &str, rootfs: Option<&Path>) -> Result<(v1::User, String)> {
    let passwd = rootfs
        .map(|r| read_in_root(r, "etc/passwd"))
        .unwrap_or_default();
    let group = rootfs
        .map(|r| read_in_root(r, "etc/group"))
        .unwrap_or_default();
    user_and_home_in(spec, &passwd, &group)
}

/// [`user_and_home`] with the names in `passwd` and `group` (the files'
/// text).
fn user_and_home_in(spec: &str, passwd: &str, group: &str) -> Result<(v1::User, String)> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // name:x:uid:gid:...
    let entry = |text: &str, key: &str, by_name: bool| -> Option<Vec<String>> {
        text.lines()
            .map(|l| l.split(':').map(String::from).collect::<Vec<_>>())
            .find(|f| f.len() > 3 && if by_name { f[0] == key } else { f[2] == key })
    };
    let home_of = |e: &Option<Vec<String>>| {
        e.as_ref()
            .and_then(|e| e.get(5).filter(|h| !h.is_empty()).cloned())
            .unwrap_or_else(|| "/".into())
    };
    let (uid, name, primary, home) = match u.parse::<u32>() {
        Ok(uid) => {
            let e = entry(passwd, u, false);
            let home = home_of(&e);
            (
                uid,
                e.as_ref().map(|e| e[0].clone()),
                e.and_then(|e| e[3].parse().ok()),
                home,
            )
        }
        Err(_) => {
            let e = entry(passwd, u, true).ok_or_else(|| {
                anyhow!("unable to find user {u}: no matching entries in passwd file")
            })?;
            let uid = e[2]
                .parse()
                .map_err(|_| anyhow!("user {u}: bad uid in passwd"))?;
            let primary = e[3].parse().ok();
            (uid, Some(u.to_string()), primary, home_of(&Some(e)))
        }
    };
    if uid == u32::MAX {
        bail!("user {u}: 4294967295 (-1) is not an id");
    }
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => entry(group, g, true)
                .and_then(|e| e[2].parse().ok())
                .ok_or_else(|| {
                    anyhow!("unable to find group {g}: no matching entries in group file")
                })?,
        },
        None => primary.unwrap_or(0),
    };
    // Supplementary groups: those that list the user by name (docker's).
    let mut additional_gids: Vec<u32> = match &name {
        Some(n) => group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() > 3 && f[3].split(',').any(|m| m == n))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.dedup();
    Ok((
        v1::User {
            uid,
            gid,
            additional_gids,
        },
        home,
    ))
}

/// A file of the root file system, read as if it were `/`: a symbolic
/// link in it resolves inside it, never to the host's file.
/// `rel` as a container on `image`'s layers sees it.
fn read_in_layers(image: &ImageRoot, rel: &str) -> String {
    match crate::images::initlayer::entry_in(&image.lower, rel) {
        Some((layer, _)) => read_in_root(layer, rel),
        None => String::new(),
    }
}

fn read_in_root(root: &Path, rel: &str) -> String {
    let Ok(dir) = std::fs::File::open(root) else {
        return String::new();
    };
    let how = nix::fcntl::OpenHow::new()
        .flags(nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC)
        .resolve(
            nix::fcntl::ResolveFlag::RESOLVE_IN_ROOT
                | nix::fcntl::ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    match nix::fcntl::openat2(&dir, rel, how) {
        Ok(fd) => std::io::read_to_string(std::fs::File::from(fd)).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// `--ulimit TYPE=SOFT[:HARD]` (docker's names: nofile, nproc, core, ...).
pub fn ulimit(spec: &str) -> Result<v1::Rlimit> {
    let (name, vals) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {spec}"))?;
    let num = |s: &str| -> Result<u64> {
        match s {
            "-1" | "unlimited" => Ok(u64::MAX),
            s => s
                .parse()
                .map_err(|_| anyhow!("invalid ulimit argument: {spec}: {s} is not a number")),
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    const NAMES: [&str; 16] = [
        "cpu",
        "fsize",
        "data",
        "stack",
        "core",
        "rss",
        "nproc",
        "nofile",
        "memlock",
        "as",
        "locks",
        "sigpending",
        "msgqueue",
        "nice",
        "rtprio",
        "rttime",
    ];
    if !NAMES.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    Ok(v1::Rlimit {
        r#type: format!("RLIMIT_{}", name.to_uppercase()),
        soft,
        hard,
    })
}

/// `--device HOST[:CTR[:PERMS]]`: the host's node, as it is (its numbers,
/// mode and owner).
pub fn device(spec: &str) -> Result<v1::Device> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.bytes().all(|b| b"rwm".contains(&b)) && !c.is_empty() => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => bail!("invalid device specification: {spec}"),
    };
    if perms.is_empty() || !perms.bytes().all(|b| b"rwm".contains(&b)) {
        bail!("invalid device mode: {perms}");
    }
    if !ctr.starts_with("/dev/") {
        bail!("invalid device specification: {spec}: the container path must be under /dev");
    }
    let m = std::fs::metadata(host).map_err(|e| {
        anyhow!("error gathering device information while adding custom device {host:?}: {e}")
    })?;
    let kind = if m.file_type().is_char_device() {
        "c"
    } else if m.file_type().is_block_device() {
        "b"
    } else {
        bail!("{host} is not a device node");
    };
    let rdev = m.rdev();
    Ok(v1::Device {
        path: ctr.into(),
        r#type: kind.into(),
        major: libc::major(rdev),
        minor: libc::minor(rdev),
        file_mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        permissions: perms.into(),
    })
}

/// `--sysctl KEY=VALUE`.
pub fn sysctl(spec: &str) -> Result<(String, String)> {
    match spec.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => bail!("invalid argument {spec:?} for \"--sysctl\" flag: sysctl must be KEY=VALUE"),
    }
}

/// `--security-opt`s: the seccomp profile for Create (as its field takes
/// it), after checking the rest.
pub fn security_opts(opts: &[String]) -> Result<String> {
    let mut seccomp = String::new();
    for o in opts {
        let (k, v) = o
            .split_once(['=', ':'])
            .map_or((o.as_str(), ""), |(k, v)| (k, v));
        match k {
            "seccomp" if v == "unconfined" => seccomp = "unconfined".into(),
            "seccomp" if !v.is_empty() => {
                let text = std::fs::read_to_string(v)
                    .map_err(|e| anyhow!("opening seccomp profile ({v}) failed: {e}"))?;
                // One line on the wire: the shim parses it again.
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| anyhow!("decoding seccomp profile failed: {e}"))?;
                seccomp = value.to_string();
            }
            // Always so here for a container that is not privileged.
            "no-new-privileges" if v.is_empty() || v == "true" => {}
            "no-new-privileges" => {
                bail!("no-new-privileges=false is not supported: containers always have it")
            }
            _ => bail!("invalid --security-opt: {o:?} (supported: seccomp=unconfined|FILE, no-new-privileges)"),
        }
    }
    Ok(seccomp)
}

/// docker's `--restart NAME[:N]`, with its messages.
pub fn restart_policy(spec: &str, rm: bool) -> anyhow::Result<v1::RestartPolicy> {
    let (name, count) = match spec.split_once(':') {
        Some((_, c)) if c.contains(':') => anyhow::bail!("invalid restart policy format"),
        Some((n, c)) => match c.parse::<i64>() {
            Ok(c) if c < 0 => anyhow::bail!("maximum retry count cannot be negative"),
            Ok(c) => (n, u32::try_from(c).unwrap_or(u32::MAX)),
            Err(_) => anyhow::bail!("maximum retry count must be an integer"),
        },
        None => (spec, 0),
    };
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => anyhow::bail!("invalid restart policy '{name}'"),
    }
    if count > 0 && name != "on-failure" {
        anyhow::bail!("maximum retry count cannot be used with restart policy '{name}'");
    }
    if rm && !matches!(name, "" | "no") {
        anyhow::bail!("Conflicting options: --restart and --rm");
    }
    Ok(v1::RestartPolicy {
        name: name.to_string(),
        max_retries: count,
    })
}

/// The file system and identity flags, as Create's spec-shaped fields (in
/// an otherwise empty request), with what `image` supplies under them; with
/// `--bundle`, checks that nothing the bundle says is given on the command
/// line too.
pub fn request_fields(
    args: &RunArgs,
    image: Option<&ImageRoot>,
) -> anyhow::Result<v1::CreateRequest> {
    let abs = |p: &Path| -> anyhow::Result<String> {
        let p = std::path::absolute(p).with_context(|| format!("{}", p.display()))?;
        Ok(p.to_string_lossy().into_owned())
    };
    if let Some(bundle) = &args.bundle {
        let given = [
            ("a command", !args.command.is_empty()),
            ("-e", !args.env.is_empty()),
            ("--hostname", args.hostname.is_some()),
            ("-w", args.workdir.is_some()),
            ("--privileged", args.privileged),
            ("-v", !args.volumes.is_empty()),
            ("--mount", !args.mounts.is_empty()),
            ("--tmpfs", !args.tmpfs.is_empty()),
            ("--read-only", args.read_only),
            ("-u", args.user.is_some()),
            ("--ulimit", !args.ulimits.is_empty()),
            ("--cap-add", !args.cap_add.is_empty()),
            ("--cap-drop", !args.cap_drop.is_empty()),
            ("--security-opt", !args.security_opts.is_empty()),
            ("--sysctl", !args.sysctls.is_empty()),
            ("--device", !args.devices.is_empty()),
            ("--entrypoint", args.entrypoint.is_some()),
            (
                "resource limits",
                args.limits.to_resources("")? != v1::Resources::default(),
            ),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, on)| *on) {
            anyhow::bail!(
                "{flag} cannot be used with --bundle: its config.json says what the container is"
            );
        }
        let bundle = abs(bundle)?;
        // Its terminal is the spec's: -t must agree, so that this end is
        // a terminal exactly when the container's is.
        let text = std::fs::read_to_string(Path::new(&bundle).join("config.json"))
            .with_context(|| format!("bundle {bundle}: config.json"))?;
        let spec: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("bundle {bundle}: config.json"))?;
        let terminal = spec["process"]["terminal"].as_bool().unwrap_or(false);
        if terminal != args.tty {
            anyhow::bail!(
                "the bundle's process.terminal is {terminal}: run it {} -t",
                if terminal { "with" } else { "without" }
            );
        }
        return Ok(v1::CreateRequest {
            bundle,
            restart: Some(restart_policy(&args.restart, args.rm)?),
            ..Default::default()
        });
    }
    // `--rootfs /`: the host's own files, as the container's mount
    // namespace copies them (wave 1's only mode).
    let own_root = args.rootfs.as_deref().filter(|p| *p != Path::new("/"));
    let rootfs = own_root.map(abs).transpose()?;
    let mut mounts = Vec::new();
    for v in &args.volumes {
        mounts.push(volume(v)?);
    }
    for m in &args.mounts {
        mounts.push(mount(m)?);
    }
    for t in &args.tmpfs {
        mounts.push(tmpfs(t)?);
    }
    if rootfs.is_none() && image.is_none() && (!mounts.is_empty() || args.read_only) {
        anyhow::bail!(
            "-v, --mount, --tmpfs and --read-only need a root of the container's own: an image, --rootfs DIR (not /) or --bundle"
        );
    }
    // Both are lines of the /etc files the shim writes for such a root.
    if rootfs.is_none() && image.is_none() && (!args.dns.is_empty() || !args.add_host.is_empty()) {
        anyhow::bail!(
            "--dns and --add-host need a root of the container's own: an image or --rootfs DIR (not /)"
        );
    }
    let image_user = image.and_then(|i| i.user());
    let user = args
        .user
        .as_deref()
        .or(image_user.as_deref())
        .map(|u| match image {
            Some(i) => user_and_home_in(
                u,
                &read_in_layers(i, "etc/passwd"),
                &read_in_layers(i, "etc/group"),
            ),
            None => user_and_home(u, own_root),
        })
        .transpose()?;
    // docker's HOME for the user, unless -e gives one (run.rs adds what
    // this request's env has to the command line's).
    let mut env = image.map(|i| i.env(Vec::new())).unwrap_or_default();
    if let Some((u, home)) = &user {
        if u.uid != 0 && !env.iter().any(|kv| kv.starts_with("HOME=")) {
            env.push(format!("HOME={home}"));
        }
    }
    let user = user.map(|(u, _)| u);
    let rlimits = args
        .ulimits
        .iter()
        .map(|u| ulimit(u))
        .collect::<anyhow::Result<_>>()?;
    let devices = args
        .devices
        .iter()
        .map(|d| device(d))
        .collect::<anyhow::Result<_>>()?;
    let sysctls = args
        .sysctls
        .iter()
        .map(|s| sysctl(s))
        .collect::<anyhow::Result<_>>()?;
    let argv = match image {
        Some(i) => {
            let argv = i.argv(args.entrypoint.as_deref(), &args.command[1..]);
            if argv.is_empty() {
                bail!("No command specified");
            }
            argv
        }
        None => {
            let mut argv = args.command.clone();
            if let Some(e) = &args.entrypoint {
                if !e.is_empty() {
                    argv.insert(0, e.clone());
                }
            }
            if argv.is_empty() {
                bail!("No command specified");
            }
            argv
        }
    };
    Ok(v1::CreateRequest {
        layers: image.map(|i| v1::Layers {
            lower: std::iter::once(&i.init)
                .chain(&i.lower)
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            ..Default::default()
        }),
        image: image.map(|i| i.name.clone()).unwrap_or_default(),
        image_id: image.map(|i| i.id.clone()).unwrap_or_default(),
        cwd: image.and_then(|i| i.working_dir()).unwrap_or_default(),
        restart: Some(restart_policy(&args.restart, args.rm)?),
        argv,
        env,
        rootfs: rootfs.unwrap_or_default(),
        read_only: args.read_only,
        mounts,
        user,
        rlimits,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        sysctls,
        devices,
        seccomp_profile: security_opts(&args.security_opts)?,
        dns: args
            .dns
            .iter()
            .map(|d| match d.parse::<std::net::IpAddr>() {
                Ok(_) => Ok(d.clone()),
                Err(_) => Err(anyhow::anyhow!(
                    "IP address is not correctly formatted: {d}"
                )),
            })
            .collect::<anyhow::Result<_>>()?,
        extra_hosts: args
            .add_host
            .iter()
            .map(|h| match h.split_once(':') {
                None => Err(anyhow::anyhow!("bad format for add-host: {h:?}")),
                Some((_, ip)) if ip.parse::<std::net::IpAddr>().is_err() => {
                    Err(anyhow::anyhow!("invalid IP address in add-host: {ip:?}"))
                }
                Some(_) => Ok(h.clone()),
            })
            .collect::<anyhow::Result<_>>()?,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_and_mounts_read_as_docker() {
        let v = volume("/tmp:/x:ro").unwrap();
        assert_eq!((v.source.as_str(), v.destination.as_str()), ("/tmp", "/x"));
        assert_eq!(v.options, ["rbind", "ro", "rprivate"]);
        assert!(volume("data:/x")
            .unwrap_err()
            .to_string()
            .contains("named volumes"));
        assert!(volume("/tmp:x").is_err());
        assert!(volume("/tmp").is_err());
        assert!(volume("/tmp:/x:bogus").is_err());
        let m = mount("type=bind,source=/tmp,target=/y,readonly").unwrap();
        assert_eq!(m.destination, "/y");
        assert!(m.options.contains(&"ro".to_string()));
        let t = mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(t.options, ["noexec", "nosuid", "nodev", "size=1m"]);
        assert!(mount("type=volume,target=/v").is_err());
        assert!(mount("type=bind,target=/v").is_err());
        assert_eq!(
            tmpfs("/run:size=64k").unwrap().options.last().unwrap(),
            "size=64k"
        );
    }

    #[test]
    fn devices_sysctls_and_security_opts() {
        let d = device("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!((d.path.as_str(), d.r#type.as_str()), ("/dev/mynull", "c"));
        assert_eq!((d.major, d.minor, d.permissions.as_str()), (1, 3, "r"));
        assert_eq!(device("/dev/null").unwrap().path, "/dev/null");
        assert_eq!(device("/dev/null:rw").unwrap().permissions, "rw");
        assert!(device("/etc/passwd").is_err());
        assert!(device("/dev/null:/x").is_err());
        assert!(device("/dev/null:/dev/x:rwz").is_err());
        assert_eq!(sysctl("net.ipv4.ip_forward=1").unwrap().1, "1");
        assert!(sysctl("novalue").is_err());
        assert_eq!(
            security_opts(&["seccomp=unconfined".into()]).unwrap(),
            "unconfined"
        );
        assert_eq!(security_opts(&["no-new-privileges".into()]).unwrap(), "");
        assert!(security_opts(&["apparmor=x".into()]).is_err());
        assert!(security_opts(&["seccomp=/nonexistent.json".into()]).is_err());
    }

    #[test]
    fn ulimits_read_as_docker() {
        let l = ulimit("nofile=64:128").unwrap();
        assert_eq!(
            (l.r#type.as_str(), l.soft, l.hard),
            ("RLIMIT_NOFILE", 64, 128)
        );
        assert_eq!(ulimit("nproc=10").unwrap().hard, 10);
        assert!(ulimit("nofile=10:5").is_err());
        assert!(ulimit("bogus=1").is_err());
        assert!(ulimit("nofile").is_err());
    }

    #[test]
    fn users_by_number_and_by_name_in_the_root() {
        let root = std::env::temp_dir().join(format!("mydocker-user-{}", std::process::id()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\nbob:x:1000:\nwheel:x:10:bob\n",
        )
        .unwrap();
        let u = user("bob", Some(&root)).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.as_slice()),
            (1000, 1000, &[10][..])
        );
        let u = user("1000:1000", Some(&root)).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        let u = user("2000", None).unwrap();
        assert_eq!((u.uid, u.gid), (2000, 0));
        assert!(user("nobody-here", Some(&root)).is_err());
        assert!(user("bob:nogroup", Some(&root)).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
