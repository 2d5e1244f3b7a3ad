//! The OCI runtime spec as the one description of a container: a bundle's
//! `config.json`, or the spec the shim writes for Create's flat fields
//! ([`from_flat`]), is read by [`apply`] into what the rooms below use. One
//! path either way; the spec that ran is kept in the state dir.
//!
//! What the spec may say and this shim does not do yet is refused by name
//! (hooks, a user namespace, joining a namespace other than the network's
//! by path, sharing the host's, resources it does not apply), never
//! ignored.

mod flat;
mod linux;
mod mounts;
mod tables;

pub use flat::from_flat;
pub use tables::rlimit_number;

use linux::{check_sysctl, devices, namespaces, resources};
use mounts::proc_flags;
use tables::mask;

use std::path::{Path, PathBuf};

use mydocker::units::Limits;
use oci_spec::runtime::Spec;

use super::config::ContainerConfig;
use super::error::{field_err, invalid, ContainerError, Result};
use super::hooks::Hooks;
use super::seccomp;
use crate::process::harden::CapSets;
use crate::process::hooks::Hook;
use crate::process::identity::{Filters, Identity, MAX_GROUPS};
use crate::process::rootfs::{RootError, RootSpec};

/// runtime-spec versions read: 1.0 to 1.2.
const VERSIONS: [&str; 3] = ["1.0", "1.1", "1.2"];

/// Reads `bundle/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    if !bundle.is_absolute() {
        return Err(invalid(format!(
            "bundle {} is not an absolute path",
            mydocker::brief(&bundle.to_string_lossy())
        )));
    }
    let file = bundle.join("config.json");
    let name = mydocker::brief(&bundle.to_string_lossy()).to_string();
    // Not there is the host's state; not JSON, the request's.
    let text = std::fs::read_to_string(&file).map_err(|e| {
        ContainerError::Root(RootError::Missing(format!(
            "bundle {name}: config.json: {e}"
        )))
    })?;
    let raw: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("bundle {name}: config.json: {e}")))?;
    flat::refuse_docker_profile("linux.seccomp", &raw["linux"]["seccomp"])?;
    let spec: Spec = serde_json::from_value(raw)
        .map_err(|e| invalid(format!("bundle {name}: config.json: {e}")))?;
    let v = spec.version();
    if !VERSIONS
        .iter()
        .any(|ok| v == ok || v.starts_with(&format!("{ok}.")) || v.starts_with(&format!("{ok}-")))
    {
        return Err(field_err(
            "ociVersion",
            format!("{} is not supported (1.0 to 1.2)", mydocker::brief(v)),
        ));
    }
    Ok(spec)
}

/// The fields that say what a bundle's spec says: none may be set beside
/// it.
fn check_bundle_alone(c: &ContainerConfig) -> Result<()> {
    let set = [
        ("argv", !c.argv.is_empty()),
        ("cap_add", !c.cap_add.is_empty()),
        ("cap_drop", !c.cap_drop.is_empty()),
        ("sysctls", !c.sysctls.is_empty()),
        ("devices", !c.flat_devices.is_empty()),
        ("seccomp_profile", !c.seccomp_profile.is_empty()),
        ("env", !c.env.is_empty()),
        ("cwd", !c.cwd.is_empty()),
        ("hostname", !c.hostname.is_empty()),
        ("tty", c.tty),
        ("terminal_size", c.terminal_size.is_some()),
        // Where its cgroup goes is the runtime's to say (the parent),
        // unless the spec's cgroupsPath does.
        (
            "resources",
            c.limits
                != Limits {
                    cgroup_parent: c.limits.cgroup_parent.clone(),
                    ..Limits::default()
                },
        ),
        ("privileged", c.privileged),
        ("rootfs", !c.rootfs.is_empty()),
        ("layers", c.layers.is_some()),
        ("read_only", c.read_only),
        ("mounts", !c.mounts.is_empty()),
        ("user", c.user.is_some()),
        ("rlimits", !c.rlimits.is_empty()),
    ];
    match set.iter().find(|(_, on)| *on) {
        Some((name, _)) => Err(invalid(format!(
            "{name} cannot be set with a bundle: its config.json says what the container is"
        ))),
        None => Ok(()),
    }
}

/// The spec for `c`: its bundle's, or one made of its flat fields.
pub fn resolve(c: &ContainerConfig) -> Result<Spec> {
    match &c.bundle {
        Some(b) => {
            check_bundle_alone(c)?;
            load(b)
        }
        None => from_flat(c),
    }
}

/// Reads `spec` into `c`: the command, its identity, its root and mounts,
/// its limits. `bundle`: where a relative `root.path` is.
pub fn apply(spec: &Spec, c: &mut ContainerConfig) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| field_err("process", "missing"))?;
    // A message names the field the caller gave: the spec's, or Create's.
    let flat = c.bundle.is_none();
    c.argv = process.args().clone().unwrap_or_default();
    if c.argv.is_empty() || c.argv[0].is_empty() {
        return Err(match flat {
            true => invalid("argv must name a command"),
            false => field_err("process.args", "must name a command"),
        });
    }
    c.env = process.env().clone().unwrap_or_default();
    c.cwd = process.cwd().to_string_lossy().into_owned();
    c.tty = process.terminal().unwrap_or(false);
    if let Some(size) = process.console_size() {
        let side = |n: u64| u16::try_from(n).ok().filter(|n| *n > 0);
        match (side(size.height()), side(size.width())) {
            (Some(rows), Some(cols)) => c.terminal_size = Some((rows, cols)),
            _ => {
                return Err(field_err(
                    "process.consoleSize",
                    "height and width must be 1 to 65535",
                ))
            }
        }
    }
    c.hostname = spec.hostname().clone().unwrap_or_default();

    let user = process.user();
    let groups = user.additional_gids().clone().unwrap_or_default();
    // -1 is "unchanged" to setresuid: the command would stay root.
    if user.uid() == u32::MAX || user.gid() == u32::MAX || groups.contains(&u32::MAX) {
        return Err(field_err(
            if flat { "user" } else { "process.user" },
            "4294967295 (-1) is not an id",
        ));
    }
    if groups.len() > MAX_GROUPS {
        return Err(field_err(
            "process.user.additionalGids",
            format!("at most {MAX_GROUPS}"),
        ));
    }
    let mut rlimits = Vec::new();
    for r in process.rlimits().iter().flatten() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let n = rlimit_number(&name)
            .ok_or_else(|| field_err("process.rlimits", format!("unknown type {name}")))?;
        if r.soft() > r.hard() {
            return Err(field_err(
                "process.rlimits",
                format!(
                    "{name}: the soft limit {} is above the hard {}",
                    r.soft(),
                    r.hard()
                ),
            ));
        }
        rlimits.push((n, r.soft(), r.hard()));
    }
    let caps = match (process.capabilities(), c.privileged) {
        // Flat and privileged: every capability there is, as docker gives.
        (_, true) => None,
        (None, false) => Some(CapSets {
            bounding: 0,
            effective: 0,
            permitted: 0,
            inheritable: 0,
            ambient: 0,
        }),
        (Some(k), false) => Some(CapSets {
            bounding: mask("process.capabilities.bounding", k.bounding())?,
            effective: mask("process.capabilities.effective", k.effective())?,
            permitted: mask("process.capabilities.permitted", k.permitted())?,
            inheritable: mask("process.capabilities.inheritable", k.inheritable())?,
            ambient: mask("process.capabilities.ambient", k.ambient())?,
        }),
    };
    c.identity = Identity {
        uid: user.uid(),
        gid: user.gid(),
        groups,
        // runc's and docker's, not the shim's own.
        umask: Some(user.umask().unwrap_or(0o022)),
        rlimits,
        caps,
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        docker_seccomp: false,
        filters: Filters::default(),
    };
    // docker's seccomp for its own kind of container (Create's fields,
    // without a profile of their own); a bundle's is its spec's.
    if c.bundle.is_none() && !c.privileged && c.seccomp_profile.is_empty() {
        let bounding = c.identity.caps.map_or(u64::MAX, |k| k.bounding);
        let prog = crate::process::default_filter::build(bounding);
        if !prog.is_empty() {
            c.identity.filters = Filters(vec![prog]);
            c.identity.docker_seccomp = true;
        }
    }
    if process
        .apparmor_profile()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(field_err("process.apparmorProfile", "not supported yet"));
    }
    if process
        .selinux_label()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(field_err("process.selinuxLabel", "not supported yet"));
    }

    c.hooks = match spec.hooks() {
        Some(h) => hooks(h)?,
        None => Hooks::default(),
    };
    c.annotations = spec
        .annotations()
        .as_ref()
        .map(|a| serde_json::to_value(a).unwrap_or_default())
        .unwrap_or_default();
    let bundle = c.bundle.clone();
    c.root = match spec.root() {
        Some(root) => {
            let p = root.path();
            let path = match (&bundle, p.is_absolute()) {
                (Some(b), false) => b.join(p),
                _ => p.clone(),
            };
            Some(RootSpec {
                path,
                readonly: root.readonly().unwrap_or(false),
                mounts: mounts::mounts(
                    spec.mounts().as_deref().unwrap_or_default(),
                    bundle.as_deref(),
                )?,
                proc_flags: proc_flags(spec.mounts().as_deref().unwrap_or_default())?,
                overlay: None,
                workdir: None,
            })
        }
        None if bundle.is_some() => return Err(field_err("root.path", "missing")),
        None => {
            if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
                return Err(invalid(
                    "mounts need a root file system of the container's own (rootfs)",
                ));
            }
            None
        }
    };

    let Some(linux) = spec.linux() else {
        return Err(field_err("linux", "missing"));
    };
    c.netns = namespaces(linux.namespaces().as_deref().unwrap_or_default())?;
    c.masked_paths = linux.masked_paths().clone().unwrap_or_default();
    c.readonly_paths = linux.readonly_paths().clone().unwrap_or_default();
    for p in c.masked_paths.iter().chain(&c.readonly_paths) {
        if !p.starts_with('/') || p.contains('\0') {
            return Err(field_err(
                "linux.maskedPaths/readonlyPaths",
                format!("{} is not an absolute path", mydocker::brief(p)),
            ));
        }
    }
    let refuse = [
        ("linux.uidMappings", linux.uid_mappings().is_some()),
        ("linux.gidMappings", linux.gid_mappings().is_some()),
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
        (
            "linux.mountLabel",
            linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()),
        ),
        (
            "linux.rootfsPropagation",
            linux
                .rootfs_propagation()
                .as_ref()
                .is_some_and(|p| p != "private" && p != "rprivate"),
        ),
        (
            "domainname",
            spec.domainname().as_ref().is_some_and(|d| !d.is_empty()),
        ),
        ("process.scheduler", process.scheduler().is_some()),
        ("process.ioPriority", process.io_priority().is_some()),
    ];
    if let Some((field, _)) = refuse.iter().find(|(_, on)| *on) {
        return Err(field_err(field, "not supported yet"));
    }
    if let Some(adj) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(field_err("process.oomScoreAdj", "must be -1000 to 1000"));
        }
        // Written by the init to its own /proc/self, which its command
        // keeps (a sysctl-like file, see process/extras.rs).
        c.oom_score_adj = Some(adj);
    }
    c.sysctls = Vec::new();
    let mut sysctls: Vec<(&String, &String)> = linux.sysctl().iter().flatten().collect();
    sysctls.sort();
    for (k, v) in sysctls {
        check_sysctl(k, c.netns.is_some())?;
        c.sysctls.push((k.clone(), v.clone()));
    }
    devices(linux, c)?;
    if let Some(profile) = linux.seccomp() {
        c.identity.filters = Filters(seccomp::compile(profile)?);
    }
    if let Some(p) = linux.cgroups_path() {
        let p = p.to_string_lossy();
        let p = p.trim_matches('/');
        match p.rsplit_once('/') {
            Some((parent, last)) if last == c.id => c.limits.cgroup_parent = parent.into(),
            _ if p == c.id => c.limits.cgroup_parent = String::new(),
            _ => {
                return Err(field_err(
                    "linux.cgroupsPath",
                    format!("must end in the container's id {}", c.id),
                ))
            }
        }
    }
    resources(linux, c)?;
    Ok(())
}

/// The spec's hooks, checked: absolute paths, timeouts of a second or
/// more.
fn hooks(h: &oci_spec::runtime::Hooks) -> Result<Hooks> {
    let list = |field: &str, v: &Option<Vec<oci_spec::runtime::Hook>>| -> Result<Vec<Hook>> {
        v.iter()
            .flatten()
            .enumerate()
            .map(|(i, h)| {
                let f = format!("hooks.{field}[{i}]");
                if !h.path().is_absolute() {
                    return Err(field_err(&f, "path must be absolute"));
                }
                let timeout = match h.timeout() {
                    None => None,
                    Some(t) if t >= 1 => Some(std::time::Duration::from_secs(t as u64)),
                    Some(_) => return Err(field_err(&f, "timeout must be 1 or more seconds")),
                };
                Ok(Hook {
                    path: h.path().clone(),
                    args: h.args().clone().unwrap_or_default(),
                    env: h.env().clone().unwrap_or_default(),
                    timeout,
                })
            })
            .collect()
    };
    #[allow(deprecated)]
    let prestart = list("prestart", h.prestart())?;
    let mut create_runtime = prestart;
    create_runtime.extend(list("createRuntime", h.create_runtime())?);
    Ok(Hooks {
        create_runtime,
        create_container: list("createContainer", h.create_container())?,
        start_container: list("startContainer", h.start_container())?,
        poststart: list("poststart", h.poststart())?,
        poststop: list("poststop", h.poststop())?,
    })
}

/// Where the spec that ran is kept, beside the shim's own records.
pub fn save(spec: &Spec, dir: &Path) -> Result<PathBuf> {
    let path = dir.join(mydocker::state::SPEC_FILE);
    let text = serde_json::to_vec_pretty(spec)
        .map_err(|e| invalid(format!("the container's spec: {e}")))?;
    std::fs::write(&path, text).map_err(|e| ContainerError::Sys {
        what: "write the container's spec",
        source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::mounts::options;
    use super::tables::{number, CAPS};
    use super::*;
    use serde_json::json;

    #[test]
    fn mount_options_read_as_runc_reads_them() {
        let o = |v: &[&str]| options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (flags, prop, bind, data) = o(&["rbind", "ro", "nosuid", "rprivate"]).unwrap();
        assert_eq!(
            flags,
            libc::MS_REC | libc::MS_RDONLY | libc::MS_NOSUID,
            "rbind marks MS_REC"
        );
        assert_eq!(prop, libc::MS_PRIVATE | libc::MS_REC);
        assert!(bind);
        assert_eq!(data, "");
        let (flags, prop, bind, data) = o(&["nosuid", "mode=1777", "size=64k", "rw"]).unwrap();
        assert_eq!((flags, prop, bind), (libc::MS_NOSUID, 0, false));
        assert_eq!(data, "mode=1777,size=64k");
        assert!(o(&["bogus"]).is_err());
    }

    #[test]
    fn flat_fields_make_dockers_spec_and_read_back() {
        let mut c = ContainerConfig {
            id: "abc".into(),
            argv: vec!["sh".into()],
            rootfs: "/srv/root".into(),
            read_only: true,
            user: Some(serde_json::from_value(json!({"uid": 1000, "gid": 10})).unwrap()),
            limits: Limits {
                memory_limit_bytes: 64 << 20,
                nano_cpus: 500_000_000,
                pids_limit: 10,
                cgroup_parent: "p".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let spec = resolve(&c).unwrap();
        apply(&spec, &mut c).unwrap();
        let root = c.root.as_ref().unwrap();
        assert_eq!(root.path, Path::new("/srv/root"));
        assert!(root.readonly);
        assert_eq!((c.identity.uid, c.identity.gid), (1000, 10));
        // A user other than root: the bounding set only (moby's).
        let caps = c.identity.caps.unwrap();
        assert_eq!(caps.bounding, crate::process::harden::default_cap_mask());
        assert_eq!(caps.effective | caps.permitted, 0);
        assert!(c.identity.no_new_privs && c.identity.docker_seccomp);
        assert_eq!(c.identity.filters.0.len(), 1);
        assert_eq!(c.limits.memory_limit_bytes, 64 << 20);
        assert_eq!(c.limits.nano_cpus, 500_000_000);
        assert_eq!(c.limits.pids_limit, 10);
        assert_eq!(c.limits.cgroup_parent, "p");
        assert_eq!(
            c.masked_paths.len(),
            crate::process::harden::MASKED_PATHS.len()
        );
        // Privileged: every capability, nothing masked, no filter.
        let mut p = ContainerConfig {
            id: "abc".into(),
            argv: vec!["sh".into()],
            privileged: true,
            ..Default::default()
        };
        let spec = resolve(&p).unwrap();
        apply(&spec, &mut p).unwrap();
        assert!(p.identity.caps.is_none() && !p.identity.docker_seccomp);
        assert!(p.identity.filters.0.is_empty());
        assert!(p.masked_paths.is_empty() && p.root.is_none());
    }

    #[test]
    fn capability_and_rlimit_names_are_the_kernels_numbers() {
        assert_eq!(number(&CAPS, "CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number(&CAPS, "CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(rlimit_number("RLIMIT_NOFILE"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(rlimit_number("RLIMIT_RTTIME"), Some(libc::RLIMIT_RTTIME));
        assert_eq!(rlimit_number("RLIMIT_NOPE"), None);
    }
}
