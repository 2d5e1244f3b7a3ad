//! The spec's `linux` section, but for its mounts and seccomp: namespaces,
//! sysctls, devices, resources.

use oci_spec::runtime::LinuxNamespaceType;

use super::tables::ns_name;
use crate::cgroup::devices::Rule as DeviceRule;
use crate::container::config::ContainerConfig;
use crate::container::error::{field_err, ContainerError, Result};
use crate::process::extras::DeviceNode;
use crate::process::rootfs::RootError;

/// docker's rule for sysctls: only those of the container's own
/// namespaces (IPC's, and the network's unless it is given by path, which
/// another owns).
pub(super) fn check_sysctl(key: &str, netns_given: bool) -> Result<()> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let field = || format!("linux.sysctl {}", mydocker::brief(key));
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        && !key.contains("..")
        && !key.starts_with('.');
    if !plain {
        return Err(field_err(&field(), "not a sysctl name"));
    }
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if key.starts_with("net.") {
        if netns_given {
            return Err(field_err(
                &field(),
                "the network namespace is given by path: its owner sets its sysctls",
            ));
        }
        return Ok(());
    }
    Err(field_err(
        &field(),
        "not of the container's own namespaces (docker allows kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)",
    ))
}

/// The namespaces the spec asks for: this shim gives every container new
/// PID, mount, network, IPC, UTS and cgroup namespaces.
pub(super) fn namespaces(list: &[oci_spec::runtime::LinuxNamespace]) -> Result<Option<String>> {
    use LinuxNamespaceType as T;
    let mut netns = None;
    for ns in list {
        if let (T::Network, Some(p)) = (ns.typ(), ns.path()) {
            // How an orchestrator hands a container its network.
            if !p.is_absolute() {
                return Err(field_err(
                    "linux.namespaces",
                    format!(
                        "network namespace path {} is not absolute",
                        mydocker::brief(&p.to_string_lossy())
                    ),
                ));
            }
            if let Err(e) = std::fs::metadata(p) {
                return Err(ContainerError::Root(RootError::Missing(format!(
                    "linux.namespaces: network namespace {}: {e}",
                    mydocker::brief(&p.to_string_lossy())
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

/// The spec's device nodes and rules: runc's order, the rules after the
/// nodes' own.
pub(super) fn devices(linux: &oci_spec::runtime::Linux, c: &mut ContainerConfig) -> Result<()> {
    c.devices = Vec::new();
    c.device_rules = Vec::new();
    for d in linux.devices().iter().flatten() {
        let path = d.path().to_string_lossy().into_owned();
        let field = || format!("linux.devices {}", mydocker::brief(&path));
        let kind = match d.typ() {
            oci_spec::runtime::LinuxDeviceType::C | oci_spec::runtime::LinuxDeviceType::U => b'c',
            oci_spec::runtime::LinuxDeviceType::B => b'b',
            oci_spec::runtime::LinuxDeviceType::P => b'p',
            _ => return Err(field_err(&field(), "type must be c, b, u or p")),
        };
        let num = |n: i64| u32::try_from(n).map_err(|_| field_err(&field(), "bad device number"));
        let (major, minor) = (num(d.major())?, num(d.minor())?);
        c.devices.push(DeviceNode {
            path,
            kind,
            major,
            minor,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
        // runc lets the container use the devices its spec makes (Create's
        // fields say with what permissions, as rules).
        if kind != b'p' && c.bundle.is_some() {
            c.device_rules.push(DeviceRule {
                kind: Some(kind),
                major: Some(major),
                minor: Some(minor),
                access: "rwm".into(),
            });
        }
    }
    // The spec's device rules: deny-all (as every rule list starts, and
    // this shim's does), then what it allows, added to docker's list.
    // Another deny is not honoured yet.
    let rules = linux.resources().as_ref().and_then(|r| r.devices().clone());
    for (i, d) in rules.unwrap_or_default().iter().enumerate() {
        let any = d
            .typ()
            .is_none_or(|t| t == oci_spec::runtime::LinuxDeviceType::A);
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        if !d.allow() {
            if i == 0 && any && d.major().is_none() && d.minor().is_none() && access == "rwm" {
                continue;
            }
            return Err(field_err(
                "linux.resources.devices",
                "a deny rule other than the first deny-all is not supported yet",
            ));
        }
        if access.is_empty() || !access.bytes().all(|b| b"rwm".contains(&b)) {
            return Err(field_err(
                "linux.resources.devices",
                format!("access {} is not r, w, m", mydocker::brief(&access)),
            ));
        }
        let num = |n: Option<i64>| -> Result<Option<u32>> {
            n.filter(|n| *n >= 0)
                .map(|n| {
                    u32::try_from(n)
                        .map_err(|_| field_err("linux.resources.devices", "bad device number"))
                })
                .transpose()
        };
        use oci_spec::runtime::LinuxDeviceType as T;
        let kinds: &[Option<u8>] = match d.typ() {
            Some(T::B) => &[Some(b'b')],
            Some(T::C | T::U) => &[Some(b'c')],
            Some(T::P) => {
                return Err(field_err(
                    "linux.resources.devices",
                    "a rule for type p (a FIFO) is not a device rule",
                ))
            }
            // Every type: as such only without numbers (v1's `a` is every
            // device, whatever numbers follow); with them, both kinds.
            _ if d.major().is_some_and(|n| n >= 0) || d.minor().is_some_and(|n| n >= 0) => {
                &[Some(b'c'), Some(b'b')]
            }
            _ => &[None],
        };
        let (major, minor) = (num(d.major())?, num(d.minor())?);
        for kind in kinds {
            c.device_rules.push(DeviceRule {
                kind: *kind,
                major,
                minor,
                access: access.clone().into(),
            });
        }
    }
    Ok(())
}

/// The spec's resources, into the limits the cgroup code applies; what it
/// does not apply is refused by name.
pub(super) fn resources(linux: &oci_spec::runtime::Linux, c: &mut ContainerConfig) -> Result<()> {
    if let Some(r) = linux.resources() {
        let field = |f: &str| format!("linux.resources.{f}");
        let unsupported = [
            ("blockIO", r.block_io().is_some()),
            (
                "hugepageLimits",
                r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
            ),
            ("network", r.network().is_some()),
            ("rdma", r.rdma().as_ref().is_some_and(|h| !h.is_empty())),
            (
                "unified",
                r.unified().as_ref().is_some_and(|h| !h.is_empty()),
            ),
        ];
        if let Some((f, _)) = unsupported.iter().find(|(_, on)| *on) {
            return Err(field_err(&field(f), "not supported yet"));
        }
        let l = &mut c.limits;
        if let Some(m) = r.memory() {
            l.memory_limit_bytes = m.limit().unwrap_or(0).max(0);
            // This shim's memory limit is docker's -m alone: no swap
            // beyond it, which is a swap limit equal to it (or none set).
            let swap_ok = match m.swap() {
                None => true,
                Some(sw) => sw == l.memory_limit_bytes || (sw <= 0 && l.memory_limit_bytes == 0),
            };
            let unsupported = [
                ("memory.swap", !swap_ok),
                ("memory.reservation", m.reservation().is_some_and(|v| v > 0)),
                ("memory.kernel", m.kernel().is_some_and(|v| v > 0)),
                ("memory.kernelTCP", m.kernel_tcp().is_some_and(|v| v > 0)),
                ("memory.swappiness", m.swappiness().is_some()),
                (
                    "memory.disableOOMKiller",
                    m.disable_oom_killer() == Some(true),
                ),
            ];
            if let Some((f, _)) = unsupported.iter().find(|(_, on)| *on) {
                return Err(field_err(&field(f), "not supported yet"));
            }
        }
        if let Some(cpu) = r.cpu() {
            if cpu.realtime_runtime().is_some() || cpu.realtime_period().is_some() {
                return Err(field_err(&field("cpu.realtime*"), "not supported yet"));
            }
            if cpu.idle().is_some_and(|v| v != 0) || cpu.burst().is_some_and(|v| v != 0) {
                return Err(field_err(&field("cpu.idle/burst"), "not supported yet"));
            }
            // runc's default period.
            let period = cpu.period().unwrap_or(100_000);
            if let Some(q) = cpu.quota() {
                if q > 0 && period > 0 {
                    l.nano_cpus = q.saturating_mul(1_000_000_000) / period as i64;
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
