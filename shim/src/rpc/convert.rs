//! Between the wire and the domain: requests into the container's own
//! types, its answers into messages, and its errors into gRPC codes, each
//! in one place.

use tonic::Status;

use mydocker::state::StateError;
use mydocker::units::Limits;
use mydocker::v1;

use crate::cgroup::CgroupError;
use crate::container::config::{FlatDevice, Layers};
use crate::container::exec::{ExecConfig, ExecStatus};
use crate::container::network::{CniNet, NetConfig, Port};
use crate::container::restart;
use crate::container::seccomp::SeccompError;
use crate::container::shim::Shim;
use crate::container::{self, Container, ContainerConfig, ContainerError};
use crate::exit::{nanos, ExitStatus};
use crate::io::IoError;
use crate::process::rootfs::RootError;
use crate::process::SpawnError;

/// The one conversion from our errors to gRPC codes.
impl From<ContainerError> for Status {
    fn from(e: ContainerError) -> Self {
        use ContainerError as E;
        let msg = e.to_string();
        match e {
            E::InvalidArgument(_) => Status::invalid_argument(msg),
            E::NotFound(_) | E::NoSuchExec(_) => Status::not_found(msg),
            E::TooManyExecs(_) => Status::resource_exhausted(msg),
            E::AlreadyExists(_) | E::ExecExists(_) => Status::already_exists(msg),
            E::NotThisShim { .. }
            | E::Deleted(_)
            | E::StillExists(_)
            | E::AlreadyStarted(_)
            | E::NotRunning(_)
            | E::Paused(_)
            | E::AlreadyPaused(_)
            | E::NotPaused(_)
            | E::StillRunning(_)
            | E::ExitedBeforeStart(_)
            | E::ExecFailed(_)
            | E::ExecAlreadyStarted(_)
            | E::ExecNotRunning(_)
            | E::ExecStillRunning(_)
            | E::NoCgroup => Status::failed_precondition(msg),
            E::Root(RootError::Invalid(_)) | E::Seccomp(SeccompError::Invalid(_)) => {
                Status::invalid_argument(msg)
            }
            E::Seccomp(SeccompError::Unsupported(_)) => Status::failed_precondition(msg),
            E::Root(RootError::Missing(_)) => Status::failed_precondition(msg),
            // The init's own set-up failed (a mount, the root), or a hook
            // of the spec's: the host or the spec, not this shim.
            E::Spawn(SpawnError::Setup(_)) | E::Hook(_) => Status::failed_precondition(msg),
            E::Cgroup(CgroupError::Invalid(_)) => Status::invalid_argument(msg),
            E::Cgroup(CgroupError::Write { .. }) => Status::invalid_argument(msg),
            E::Cgroup(_) => Status::failed_precondition(msg),
            E::Network(mydocker::cni::CniError::Config(_)) => Status::invalid_argument(msg),
            E::Network(_) => Status::failed_precondition(msg),
            E::Io(IoError::NoStdin | IoError::NoTerminal) => Status::failed_precondition(msg),
            E::State(StateError::NameInUse(..)) => Status::already_exists(msg),
            E::State(StateError::InvalidName(_)) => Status::invalid_argument(msg),
            E::Spawn(_) | E::Exec(_) | E::Io(_) | E::Relay(_) | E::Sys { .. } | E::State(_) => {
                tracing::error!(error = %msg, "internal error");
                Status::internal(msg)
            }
        }
    }
}

pub fn exit_to_proto(s: &ExitStatus) -> v1::ExitStatus {
    v1::ExitStatus {
        exit_code: s.code,
        signal: s.signal,
        exited_at_unix_nanos: nanos(s.at),
        oom_killed: s.oom_killed,
        error: s.error.clone().unwrap_or_default(),
    }
}

/// One of Create's spec-shaped fields, read as the OCI spec's type.
fn spec_part<T: serde::de::DeserializeOwned>(
    field: &str,
    v: serde_json::Value,
) -> Result<T, Status> {
    serde_json::from_value(v).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

pub fn config_from_proto(r: v1::CreateRequest) -> Result<ContainerConfig, Status> {
    let terminal_size = r.terminal_size.as_ref().map(terminal_size).transpose()?;
    let limits: Limits = r.resources.unwrap_or_default().into();
    let restart = r.restart.unwrap_or_default();
    let restart = restart::Policy::parse(&restart.name, restart.max_retries)?;
    let mounts = r
        .mounts
        .into_iter()
        .map(|m| {
            let mut v = serde_json::json!({
                "destination": m.destination,
                "type": m.r#type,
                "options": m.options,
            });
            if !m.source.is_empty() {
                v["source"] = m.source.into();
            }
            spec_part("mounts", v)
        })
        .collect::<Result<_, _>>()?;
    let user = r
        .user
        .map(|u| {
            spec_part(
                "user",
                serde_json::json!({
                    "uid": u.uid,
                    "gid": u.gid,
                    "additionalGids": u.additional_gids,
                }),
            )
        })
        .transpose()?;
    let rlimits = r
        .rlimits
        .into_iter()
        .map(|l| {
            let v = serde_json::json!({"type": l.r#type, "soft": l.soft, "hard": l.hard});
            spec_part("rlimits", v)
        })
        .collect::<Result<_, _>>()?;
    let mut sysctls: Vec<(String, String)> = r.sysctls.into_iter().collect();
    sysctls.sort();
    let flat_devices = r
        .devices
        .into_iter()
        .map(|d| FlatDevice {
            path: d.path,
            kind: d.r#type,
            major: d.major,
            minor: d.minor,
            file_mode: d.file_mode,
            uid: d.uid,
            gid: d.gid,
            permissions: d.permissions,
        })
        .collect();
    let (network, netns) = network_from_proto(r.network, !r.bundle.is_empty())?;
    // Lines of the /etc files the shim writes for a root of the
    // container's own: a bundle's are its own, the host's the host's.
    let own_etc = r.bundle.is_empty() && (!r.rootfs.is_empty() || r.layers.is_some());
    let asks_etc = !r.dns.is_empty() || !r.extra_hosts.is_empty();
    if asks_etc && !own_etc {
        return Err(Status::invalid_argument(
            "dns and extra_hosts need a root of the container's own (rootfs or layers; a bundle's /etc is its own)",
        ));
    }
    let (dns, extra_hosts) = names_from_proto(r.dns, r.extra_hosts)?;
    Ok(ContainerConfig {
        network,
        netns,
        dns,
        extra_hosts,
        bundle: (!r.bundle.is_empty()).then(|| r.bundle.into()),
        cap_add: r.cap_add,
        cap_drop: r.cap_drop,
        sysctls,
        flat_devices,
        seccomp_profile: r.seccomp_profile,
        rootfs: r.rootfs,
        read_only: r.read_only,
        mounts,
        user,
        rlimits,
        id: r.id,
        name: r.name,
        argv: r.argv,
        env: r.env,
        cwd: r.cwd,
        hostname: r.hostname,
        tty: r.tty,
        stdin: r.stdin,
        terminal_size,
        limits,
        privileged: r.privileged,
        auto_remove: r.auto_remove,
        layers: r
            .layers
            .filter(|l| !l.lower.is_empty() || !l.upper.is_empty() || !l.work.is_empty())
            .map(|l| Layers {
                lower: l.lower.into_iter().map(Into::into).collect(),
                upper: l.upper.into(),
                work: l.work.into(),
                owned: l.owned,
            }),
        image: r.image,
        image_id: r.image_id,
        restart,
        ..Default::default()
    })
}

/// `dns` and `extra_hosts` checked: addresses, and names that fit a line
/// of /etc/hosts.
#[allow(clippy::type_complexity)]
fn names_from_proto(
    dns: Vec<String>,
    extra_hosts: Vec<String>,
) -> Result<(Vec<String>, Vec<(String, String)>), Status> {
    for d in &dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(Status::invalid_argument(format!(
                "dns: {} is not an IP address",
                mydocker::brief(d)
            )));
        }
    }
    let hosts = extra_hosts
        .iter()
        .map(|h| {
            let bad = |why: &str| {
                Status::invalid_argument(format!("extra_hosts: {}: {why}", mydocker::brief(h)))
            };
            let (name, ip) = h.split_once(':').ok_or_else(|| bad("not NAME:IP"))?;
            if name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '#')
            {
                return Err(bad(
                    "the name is empty or has a blank, a control character or #",
                ));
            }
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| bad("not an IP address"))?;
            Ok((name.to_string(), ip.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok((dns, hosts))
}

/// The network Create asks for, and the namespace path the init joins
/// for it (the host's is the shim's own).
fn network_from_proto(
    n: Option<v1::Network>,
    bundle: bool,
) -> Result<(NetConfig, Option<String>), Status> {
    let Some(n) = n else {
        return Ok((NetConfig::default(), None));
    };
    let asked = [!n.netns_path.is_empty(), n.host, !n.conflist.is_empty()];
    if asked.iter().filter(|a| **a).count() > 1 {
        return Err(Status::invalid_argument(
            "network: one of netns_path, host and conflist",
        ));
    }
    if bundle && asked.iter().any(|a| *a) {
        return Err(Status::invalid_argument(
            "network: a bundle's network is its spec's (linux.namespaces)",
        ));
    }
    if n.conflist.is_empty() && (!n.ports.is_empty() || !n.ip.is_empty()) {
        return Err(Status::invalid_argument(
            "network: ports and an address need a CNI network (conflist)",
        ));
    }
    if n.host {
        let own = format!("/proc/{}/ns/net", std::process::id());
        return Ok((
            NetConfig {
                host: true,
                ..Default::default()
            },
            Some(own),
        ));
    }
    if !n.netns_path.is_empty() {
        let joined = NetConfig {
            joined: true,
            ..Default::default()
        };
        return Ok((joined, Some(n.netns_path)));
    }
    if n.conflist.is_empty() {
        return Ok((NetConfig::default(), None));
    }
    let ports: Vec<Port> = n
        .ports
        .into_iter()
        .map(|p| Port {
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p.protocol,
            host_ip: p.host_ip,
        })
        .collect();
    let cni = CniNet::new(n.conflist, n.cni_path, &ports, &n.ip)?;
    Ok((
        NetConfig {
            cni: Some(cni),
            ..Default::default()
        },
        None,
    ))
}

/// A terminal size off the wire: each side 1 to 65535 (0 is refused by
/// the container).
pub fn terminal_size(ws: &v1::WindowSize) -> Result<(u16, u16), Status> {
    match (u16::try_from(ws.rows), u16::try_from(ws.cols)) {
        (Ok(rows), Ok(cols)) => Ok((rows, cols)),
        _ => Err(Status::invalid_argument(format!(
            "invalid terminal size {}x{}: rows and cols must be 1 to 65535",
            ws.rows, ws.cols
        ))),
    }
}

pub fn state_to_proto(shim: &Shim, c: &Container) -> v1::StateResponse {
    let s = c.snapshot();
    let (restart_count, restarting) = shim.restart_state();
    v1::StateResponse {
        id: c.id().to_string(),
        status: match s.status {
            container::Status::Created => v1::Status::Created,
            container::Status::Running => v1::Status::Running,
            container::Status::Paused => v1::Status::Paused,
            container::Status::Exited => v1::Status::Exited,
        } as i32,
        pid: s.pid,
        exit: s.exit.as_ref().map(exit_to_proto),
        argv: c.config.argv.clone(),
        tty: c.config.tty,
        stdin: c.config.stdin,
        created_at_unix_nanos: nanos(s.created_at),
        started_at_unix_nanos: s.started_at.map(nanos).unwrap_or(0),
        name: shim.name(),
        restart_count,
        restarting,
        restart: Some(v1::RestartPolicy {
            name: c.config.restart.name().into(),
            max_retries: c.config.restart.max_retries,
        }),
        shim_pid: std::process::id(),
        execs: c
            .execs()
            .iter()
            .map(|e| {
                let s = e.snapshot();
                v1::ExecState {
                    exec_id: s.id,
                    status: match s.status {
                        ExecStatus::Created => v1::Status::Created,
                        ExecStatus::Running => v1::Status::Running,
                        ExecStatus::Exited => v1::Status::Exited,
                    } as i32,
                    pid: s.pid,
                    exit: s.exit.as_ref().map(exit_to_proto),
                    argv: e.config.argv.clone(),
                    tty: e.config.tty,
                }
            })
            .collect(),
    }
}

/// An Exec request: the container's id, the exec's id (maybe empty), and
/// what it asks for.
pub fn exec_from_proto(r: v1::ExecRequest) -> Result<(String, String, ExecConfig), Status> {
    let terminal_size = r.terminal_size.as_ref().map(terminal_size).transpose()?;
    let config = ExecConfig {
        argv: r.argv,
        env: r.env,
        cwd: r.cwd,
        user: r.user.map(|u| (u.uid, u.gid, u.additional_gids)),
        tty: r.tty,
        stdin: r.stdin,
        // 0x0: the default, as Create takes it.
        terminal_size: terminal_size.filter(|(r, c)| *r > 0 && *c > 0),
    };
    Ok((r.id, r.exec_id, config))
}

pub fn stats_to_proto(c: &Container, s: &crate::cgroup::Stats) -> v1::StatsResponse {
    v1::StatsResponse {
        memory_usage_bytes: s.memory_usage_bytes,
        memory_limit_bytes: s.memory_limit_bytes,
        cpu_usage_nanos: s.cpu_usage_nanos,
        cpu_throttled_nanos: s.cpu_throttled_nanos,
        cpu_throttled_periods: s.cpu_throttled_periods,
        pids_current: s.pids_current,
        pids_limit: s.pids_limit,
        read_at_unix_nanos: nanos(std::time::SystemTime::now()),
        online_cpus: mydocker::units::online("cpu").len() as u32,
        cgroup: c.cgroup_path(),
    }
}
