//! The OCI runtime spec as the one description of a container: a bundle's
//! `config.json`, or the spec the shim writes for Create's flat fields
//! ([`from_flat`]), is read by [`apply`] into what the rooms below use. One
//! path either way; the spec that ran is kept in the state dir.
//!
//! What the spec may say and this shim does not do yet is refused by name
//! (seccomp, hooks, sysctls, extra devices, a user namespace, joining a
//! namespace other than the network's by path, sharing the host's), never
//! ignored.

use std::path::{Path, PathBuf};

use mydocker::units::Limits;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use serde_json::json;

use super::config::ContainerConfig;
use super::error::{invalid, ContainerError, Result};
use crate::process::harden::CapSets;
use crate::process::identity::{Identity, MAX_GROUPS};
use crate::process::rootfs::{check_destination, MountKind, MountOp, RootError, RootSpec};

/// runtime-spec versions read: 1.0 to 1.2.
const VERSIONS: [&str; 3] = ["1.0", "1.1", "1.2"];

/// The capabilities by number, as the spec names them.
const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The rlimits by number, as the spec names them.
const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// The number of a capability or rlimit named `name` in `table`.
pub fn number(table: &[&str], name: &str) -> Option<u32> {
    table.iter().position(|n| *n == name).map(|i| i as u32)
}

/// An rlimit's number, from its spec name (`RLIMIT_NOFILE`).
pub fn rlimit_number(name: &str) -> Option<u32> {
    number(&RLIMITS, name)
}

/// The mounts the init makes itself (see process/rootfs.rs): a spec's
/// entries for them, as `runc spec` writes, are those.
const STANDARD: [(&str, &str); 7] = [
    ("/proc", "proc"),
    ("/dev", "tmpfs"),
    ("/dev/pts", "devpts"),
    ("/dev/shm", "tmpfs"),
    ("/dev/mqueue", "mqueue"),
    ("/sys", "sysfs"),
    ("/sys/fs/cgroup", "cgroup"),
];

/// A string as a spec's field, for the messages.
fn field_err(field: &str, what: impl std::fmt::Display) -> ContainerError {
    invalid(format!("{field}: {what}"))
}

/// Reads `bundle/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    if !bundle.is_absolute() {
        return Err(invalid(format!(
            "bundle {} is not an absolute path",
            bundle.display()
        )));
    }
    let file = bundle.join("config.json");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| invalid(format!("bundle {}: config.json: {e}", bundle.display())))?;
    let spec: Spec = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("bundle {}: config.json: {e}", bundle.display())))?;
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

/// The spec of Create's flat fields: what docker would give for them.
pub fn from_flat(c: &ContainerConfig) -> Result<Spec> {
    let caps: Vec<&str> = if c.privileged {
        CAPS.to_vec()
    } else {
        crate::process::harden::DEFAULT_CAPS
            .iter()
            .map(|n| CAPS[*n as usize])
            .collect()
    };
    let user = c.user.clone().unwrap_or_default();
    // moby: a user other than root has no effective or permitted
    // capabilities (the bounding set stays).
    let root_caps: Vec<&str> = if user.uid() == 0 {
        caps.clone()
    } else {
        Vec::new()
    };
    let l = &c.limits;
    let mut resources = serde_json::Map::new();
    if l.memory_limit_bytes > 0 {
        resources.insert("memory".into(), json!({"limit": l.memory_limit_bytes}));
    }
    let mut cpu = serde_json::Map::new();
    if l.nano_cpus > 0 {
        cpu.insert("period".into(), json!(100_000));
        cpu.insert("quota".into(), json!(l.nano_cpus / 10_000));
    }
    if l.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(l.cpu_shares));
    }
    if !l.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(l.cpuset_cpus));
    }
    if !l.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(l.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources.insert("cpu".into(), cpu.into());
    }
    if l.pids_limit > 0 {
        resources.insert("pids".into(), json!({"limit": l.pids_limit}));
    }
    let parent = if l.cgroup_parent.is_empty() {
        "mydocker"
    } else {
        l.cgroup_parent.trim_matches('/')
    };
    let mut spec = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": c.tty,
            "user": user,
            "args": c.argv,
            "env": c.env,
            "cwd": if c.cwd.is_empty() { "/" } else { c.cwd.as_str() },
            "capabilities": {
                "bounding": caps,
                "effective": root_caps,
                "permitted": root_caps,
                "inheritable": root_caps,
            },
            "rlimits": c.rlimits,
            "noNewPrivileges": !c.privileged,
        },
        "hostname": c.hostname,
        "mounts": c.mounts,
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
            ],
            "resources": resources,
            "cgroupsPath": format!("{parent}/{}", c.id),
        },
    });
    // A side of 0 is the default size (see the proto), not a size.
    if let Some((rows @ 1.., cols @ 1..)) = c.terminal_size {
        spec["process"]["consoleSize"] = json!({"height": rows, "width": cols});
    }
    if !c.rootfs.is_empty() {
        spec["root"] = json!({"path": c.rootfs, "readonly": c.read_only});
    }
    if !c.privileged {
        spec["linux"]["maskedPaths"] = json!(paths(crate::process::harden::MASKED_PATHS));
        spec["linux"]["readonlyPaths"] = json!(paths(crate::process::harden::READONLY_PATHS));
    }
    serde_json::from_value(spec).map_err(|e| invalid(format!("the container's spec: {e}")))
}

fn paths(list: &[&std::ffi::CStr]) -> Vec<String> {
    list.iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// The fields that say what a bundle's spec says: none may be set beside
/// it.
fn check_bundle_alone(c: &ContainerConfig) -> Result<()> {
    let set = [
        ("argv", !c.argv.is_empty()),
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

fn mask(field: &str, set: &Option<oci_spec::runtime::Capabilities>) -> Result<u64> {
    let mut m = 0u64;
    for cap in set.iter().flatten() {
        let name = serde_json::to_value(cap)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let n = number(&CAPS, &name)
            .ok_or_else(|| field_err(field, format!("unknown capability {name}")))?;
        m |= 1 << n;
    }
    Ok(m)
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
        umask: user.umask(),
        rlimits,
        caps,
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        // docker's filter for its own kind of container; a bundle's is
        // its spec's seccomp (not supported yet: refused below).
        key_filter: c.bundle.is_none() && !c.privileged,
    };
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

    if spec.hooks().is_some() {
        return Err(field_err("hooks", "not supported yet"));
    }
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
                mounts: mounts(spec.mounts().as_deref().unwrap_or_default())?,
                proc_flags: proc_flags(spec.mounts().as_deref().unwrap_or_default())?,
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
        ("linux.seccomp", linux.seccomp().is_some()),
        (
            "linux.sysctl",
            linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()),
        ),
        (
            "linux.devices",
            linux.devices().as_ref().is_some_and(|d| !d.is_empty()),
        ),
        ("linux.uidMappings", linux.uid_mappings().is_some()),
        ("linux.gidMappings", linux.gid_mappings().is_some()),
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
    ];
    if let Some((field, _)) = refuse.iter().find(|(_, on)| *on) {
        return Err(field_err(field, "not supported yet"));
    }
    // runc's default (deny everything but its own defaults) is what this
    // shim does: docker's allow-list. Other rules are not honoured yet.
    let deny_all = |d: &oci_spec::runtime::LinuxDeviceCgroup| {
        !d.allow()
            && d.typ()
                .is_none_or(|t| t == oci_spec::runtime::LinuxDeviceType::A)
            && d.major().is_none()
            && d.minor().is_none()
            && d.access().as_deref().is_none_or(|a| a == "rwm")
    };
    let devices = linux.resources().as_ref().and_then(|r| r.devices().clone());
    if !devices.unwrap_or_default().iter().all(deny_all) {
        return Err(field_err(
            "linux.resources.devices",
            "rules other than deny-all are not supported yet (docker's allow-list applies)",
        ));
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
    if let Some(r) = linux.resources() {
        let l = &mut c.limits;
        if let Some(m) = r.memory() {
            l.memory_limit_bytes = m.limit().unwrap_or(0).max(0);
        }
        if let Some(cpu) = r.cpu() {
            if let (Some(q), Some(p)) = (cpu.quota(), cpu.period()) {
                if q > 0 && p > 0 {
                    l.nano_cpus = q.saturating_mul(1_000_000_000) / p as i64;
                }
            }
            l.cpu_shares = cpu.shares().unwrap_or(0);
            l.cpuset_cpus = cpu.cpus().clone().unwrap_or_default();
            l.cpuset_mems = cpu.mems().clone().unwrap_or_default();
        }
        if let Some(p) = r.pids() {
            l.pids_limit = p.limit();
        }
    }
    Ok(())
}

/// A namespace type as the spec names it ("network", not "net").
fn ns_name(t: LinuxNamespaceType) -> &'static str {
    use LinuxNamespaceType as T;
    match t {
        T::Mount => "mount",
        T::Cgroup => "cgroup",
        T::Uts => "uts",
        T::Ipc => "ipc",
        T::User => "user",
        T::Pid => "pid",
        T::Network => "network",
        T::Time => "time",
    }
}

/// The namespaces the spec asks for: this shim gives every container new
/// PID, mount, network, IPC, UTS and cgroup namespaces.
fn namespaces(list: &[oci_spec::runtime::LinuxNamespace]) -> Result<Option<String>> {
    use LinuxNamespaceType as T;
    let mut netns = None;
    for ns in list {
        if let (T::Network, Some(p)) = (ns.typ(), ns.path()) {
            // How an orchestrator hands a container its network.
            if !p.is_absolute() {
                return Err(field_err(
                    "linux.namespaces",
                    format!("network namespace path {} is not absolute", p.display()),
                ));
            }
            if let Err(e) = std::fs::metadata(p) {
                return Err(ContainerError::Root(RootError::Missing(format!(
                    "linux.namespaces: network namespace {}: {e}",
                    p.display()
                ))));
            }
            netns = Some(p.to_string_lossy().into_owned());
            continue;
        }
        if ns.path().is_some() {
            return Err(field_err(
                "linux.namespaces",
                format!(
                    "joining the {} namespace by path is not supported yet",
                    ns.typ()
                ),
            ));
        }
        if ns.typ() == T::User || ns.typ() == T::Time {
            return Err(field_err(
                "linux.namespaces",
                format!("a {} namespace is not supported yet", ns_name(ns.typ())),
            ));
        }
    }
    for t in [T::Pid, T::Mount, T::Network, T::Ipc, T::Uts] {
        if !list.iter().any(|n| n.typ() == t) {
            return Err(field_err(
                "linux.namespaces",
                format!(
                    "sharing the host's {} namespace is not supported yet",
                    ns_name(t)
                ),
            ));
        }
    }
    Ok(netns)
}

/// Mount options: flags, propagation, and the rest as the file system's
/// data (mount(8)'s names).
fn options(opts: &[String]) -> Result<(libc::c_ulong, libc::c_ulong, bool, String)> {
    let (mut flags, mut prop, mut bind) = (0, 0, None);
    let mut data = Vec::new();
    for o in opts {
        let o = o.as_str();
        match o {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" => flags &= !libc::MS_RDONLY,
            "nosuid" => flags |= libc::MS_NOSUID,
            "suid" => flags &= !libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "dev" => flags &= !libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "exec" => flags &= !libc::MS_NOEXEC,
            "noatime" => flags |= libc::MS_NOATIME,
            "nodiratime" => flags |= libc::MS_NODIRATIME,
            "relatime" => flags |= libc::MS_RELATIME,
            "strictatime" => flags |= libc::MS_STRICTATIME,
            "sync" => flags |= libc::MS_SYNCHRONOUS,
            "dirsync" => flags |= libc::MS_DIRSYNC,
            "mand" | "nomand" | "async" | "atime" | "defaults" => {}
            "bind" => bind = Some(false),
            "rbind" => bind = Some(true),
            "private" => prop = libc::MS_PRIVATE,
            "rprivate" => prop = libc::MS_PRIVATE | libc::MS_REC,
            "slave" => prop = libc::MS_SLAVE,
            "rslave" => prop = libc::MS_SLAVE | libc::MS_REC,
            "shared" => prop = libc::MS_SHARED,
            "rshared" => prop = libc::MS_SHARED | libc::MS_REC,
            "unbindable" => prop = libc::MS_UNBINDABLE,
            "runbindable" => prop = libc::MS_UNBINDABLE | libc::MS_REC,
            o if o.contains('=') || o.starts_with("mode") => data.push(o),
            o => {
                return Err(invalid(format!(
                    "mount option {} is not known",
                    mydocker::brief(o)
                )))
            }
        }
    }
    // MS_REC marks rbind here; mounts() takes it off again.
    if bind == Some(true) {
        flags |= libc::MS_REC;
    }
    Ok((flags, prop, bind.is_some(), data.join(",")))
}

/// The flags of the spec's own /proc, where it has one.
fn proc_flags(list: &[Mount]) -> Result<Option<libc::c_ulong>> {
    match list.iter().find(|m| m.destination() == Path::new("/proc")) {
        Some(m) => {
            let (flags, ..) = options(m.options().as_deref().unwrap_or_default())
                .map_err(|e| field_err("mounts /proc", e))?;
            Ok(Some(flags))
        }
        None => Ok(None),
    }
}

fn mounts(list: &[Mount]) -> Result<Vec<MountOp>> {
    let mut out = Vec::new();
    for m in list {
        let dest = m.destination().to_string_lossy().into_owned();
        let typ = m.typ().clone().unwrap_or_default();
        if STANDARD.iter().any(|(d, _)| *d == dest) {
            continue;
        }
        check_destination(&dest).map_err(|e| field_err("mounts", e))?;
        let (flags, propagation, bind, data) = options(m.options().as_deref().unwrap_or_default())
            .map_err(|e| field_err(&format!("mounts {dest}"), e))?;
        let source = m.source().clone().unwrap_or_default();
        let kind = if typ == "bind" || bind {
            MountKind::Bind {
                source,
                recursive: flags & libc::MS_REC != 0,
            }
        } else {
            match typ.as_str() {
                "tmpfs" | "proc" | "sysfs" | "mqueue" | "devpts" => MountKind::Fs {
                    fstype: typ.clone(),
                    source: if source.as_os_str().is_empty() {
                        typ.clone()
                    } else {
                        source.to_string_lossy().into_owned()
                    },
                },
                "" => return Err(field_err(&format!("mounts {dest}"), "no type")),
                t => {
                    return Err(field_err(
                        &format!("mounts {dest}"),
                        format!("type {} is not supported yet", mydocker::brief(t)),
                    ))
                }
            }
        };
        out.push(MountOp {
            destination: dest,
            kind,
            flags: flags & !libc::MS_REC,
            propagation,
            data,
        });
    }
    Ok(out)
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
    use super::*;

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
        assert!(c.identity.no_new_privs && c.identity.key_filter);
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
        assert!(p.identity.caps.is_none() && !p.identity.key_filter);
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
