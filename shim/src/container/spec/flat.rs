//! Create's flat fields as a spec: what docker would give for them (its
//! capabilities, masks, the user's capabilities, devices, sysctls).

use oci_spec::runtime::Spec;
use serde_json::json;

use super::tables::CAPS;
use crate::container::config::ContainerConfig;
use crate::container::error::{field_err, invalid, Result};

/// A capability's spec name from docker's forms: `NET_ADMIN`,
/// `cap_net_admin`, `CAP_NET_ADMIN`.
fn cap_name(field: &str, name: &str) -> Result<&'static str> {
    let upper = name.to_ascii_uppercase();
    let full = match upper.strip_prefix("CAP_") {
        Some(_) => upper.clone(),
        None => format!("CAP_{upper}"),
    };
    CAPS.iter().find(|c| **c == full).copied().ok_or_else(|| {
        invalid(format!(
            "{field}: unknown capability {}",
            mydocker::brief(name)
        ))
    })
}

/// docker's set, without `drop` and with `add` (`ALL` in either: every
/// one), drops first, as docker applies them.
fn flat_caps(c: &ContainerConfig) -> Result<Vec<&'static str>> {
    if c.privileged {
        return Ok(CAPS.to_vec());
    }
    let all = |list: &[String]| list.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let names = |field: &str, list: &[String]| -> Result<Vec<&'static str>> {
        list.iter()
            .filter(|c| !c.eq_ignore_ascii_case("ALL"))
            .map(|c| cap_name(field, c))
            .collect()
    };
    let (add, drop) = (
        names("cap_add", &c.cap_add)?,
        names("cap_drop", &c.cap_drop)?,
    );
    // docker's: `--cap-add ALL` is every one but those dropped; `--cap-drop
    // ALL` none but those added; otherwise its set, plus, minus.
    let mut caps: Vec<&str> = if all(&c.cap_add) {
        CAPS.to_vec()
    } else if all(&c.cap_drop) {
        Vec::new()
    } else {
        crate::process::harden::DEFAULT_CAPS
            .iter()
            .map(|n| CAPS[*n as usize])
            .collect()
    };
    if !all(&c.cap_add) {
        for a in &add {
            if !caps.contains(a) {
                caps.push(a);
            }
        }
    }
    if !all(&c.cap_drop) || all(&c.cap_add) {
        caps.retain(|c| !drop.contains(c));
    }
    Ok(caps)
}

/// The spec of Create's flat fields: what docker would give for them.
pub fn from_flat(c: &ContainerConfig) -> Result<Spec> {
    let caps = flat_caps(c)?;
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
    // Create's (another's, the host's, a CNI attachment's held one), or
    // a new one.
    let network = match &c.netns {
        Some(path) => json!({"type": "network", "path": path}),
        None => json!({"type": "network"}),
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
                {"type": "pid"}, network, {"type": "ipc"},
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
    if !c.sysctls.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = c
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        spec["linux"]["sysctl"] = map.into();
    }
    if !c.flat_devices.is_empty() {
        let mut rules = vec![json!({"allow": false, "access": "rwm"})];
        let mut nodes = Vec::new();
        for d in &c.flat_devices {
            let access = if d.permissions.is_empty() {
                "rwm"
            } else {
                d.permissions.as_str()
            };
            nodes.push(json!({
                "path": d.path, "type": d.kind, "major": d.major, "minor": d.minor,
                "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid,
            }));
            rules.push(json!({
                "allow": true, "type": d.kind, "major": d.major, "minor": d.minor,
                "access": access,
            }));
        }
        spec["linux"]["devices"] = nodes.into();
        spec["linux"]["resources"]["devices"] = rules.into();
    }
    match c.seccomp_profile.as_str() {
        "" | "unconfined" => {}
        text => {
            let profile: serde_json::Value =
                serde_json::from_str(text).map_err(|e| invalid(format!("seccomp_profile: {e}")))?;
            refuse_docker_profile("seccomp_profile", &profile)?;
            spec["linux"]["seccomp"] = profile;
        }
    }
    serde_json::from_value(spec).map_err(|e| invalid(format!("the container's spec: {e}")))
}

fn paths(list: &[&std::ffi::CStr]) -> Vec<String> {
    list.iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// docker's profile format (`archMap`, rules' `includes`/`excludes` by
/// capability and architecture) is not the OCI spec's: read as one, its
/// conditions would be dropped and its conditional rules made
/// unconditional. Refused by name.
pub(super) fn refuse_docker_profile(field: &str, profile: &serde_json::Value) -> Result<()> {
    let docker_rule =
        |r: &serde_json::Value| r.get("includes").is_some() || r.get("excludes").is_some();
    let docker = profile.get("archMap").is_some()
        || profile["syscalls"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(docker_rule));
    if docker {
        return Err(field_err(
            field,
            "docker's profile format (archMap, includes, excludes) is not supported: give it in the OCI spec's form",
        ));
    }
    Ok(())
}
