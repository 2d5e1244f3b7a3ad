//! docker's flags for a container's file system and identity, read into
//! Create's spec-shaped fields: `-v`, `--mount`, `--tmpfs`, `-u`,
//! `--ulimit`. Errors are docker's wording where it has one.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use mydocker::v1;

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
pub fn user(spec: &str, rootfs: Option<&Path>) -> Result<v1::User> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = rootfs
        .map(|r| read_in_root(r, "etc/passwd"))
        .unwrap_or_default();
    let group = rootfs
        .map(|r| read_in_root(r, "etc/group"))
        .unwrap_or_default();
    // name:x:uid:gid:...
    let entry = |text: &str, key: &str, by_name: bool| -> Option<Vec<String>> {
        text.lines()
            .map(|l| l.split(':').map(String::from).collect::<Vec<_>>())
            .find(|f| f.len() > 3 && if by_name { f[0] == key } else { f[2] == key })
    };
    let (uid, name, primary) = match u.parse::<u32>() {
        Ok(uid) => {
            let e = entry(&passwd, u, false);
            (
                uid,
                e.as_ref().map(|e| e[0].clone()),
                e.and_then(|e| e[3].parse().ok()),
            )
        }
        Err(_) => {
            let e = entry(&passwd, u, true).ok_or_else(|| {
                anyhow!("unable to find user {u}: no matching entries in passwd file")
            })?;
            let uid = e[2]
                .parse()
                .map_err(|_| anyhow!("user {u}: bad uid in passwd"))?;
            (uid, Some(u.to_string()), e[3].parse().ok())
        }
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => entry(&group, g, true)
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
    Ok(v1::User {
        uid,
        gid,
        additional_gids,
    })
}

/// A file of the root file system, read as if it were `/`: a symbolic
/// link in it resolves inside it, never to the host's file.
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
