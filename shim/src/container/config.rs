//! What a container is to be: its command, its streams, its limits,
//! checked before anything is made for it.

use std::path::PathBuf;

use mydocker::units::Limits;
use oci_spec::runtime::{Mount, PosixRlimit, User};

use super::error::{invalid, Result};
use super::hooks::Hooks;
use crate::cgroup::devices::Rule as DeviceRule;
use crate::io::streams::StreamSpec;
use crate::process::describe::Names;
use crate::process::extras::DeviceNode;
use crate::process::identity::Identity;
use crate::process::rootfs::RootSpec;

/// A device node of Create's fields (the proto's `Device`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlatDevice {
    pub path: String,
    pub kind: String,
    pub major: u32,
    pub minor: u32,
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub permissions: String,
}

/// An overlay root (the proto's `Layers`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layers {
    /// The image's layers, the topmost first.
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Upper and work are the container's alone: removed with it.
    pub owned: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    pub id: String,
    pub name: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    pub tty: bool,
    pub stdin: bool,
    /// rows, cols
    pub terminal_size: Option<(u16, u16)>,
    pub limits: Limits,
    pub privileged: bool,
    /// Removed when the command exits (see the proto's `auto_remove`).
    pub auto_remove: bool,
    /// An overlay root of an image's layers.
    pub layers: Option<Layers>,
    /// The image as the caller named it, and its id, for the records.
    pub image: String,
    pub image_id: String,
    /// Run again after it exits (see restart.rs).
    pub restart: super::restart::Policy,
    /// An OCI bundle, whose spec says all of the above but the id, name,
    /// stdin and auto_remove.
    pub bundle: Option<PathBuf>,
    /// The flat fields' root file system, mounts, user and rlimits, in the
    /// spec's own types.
    pub rootfs: String,
    pub read_only: bool,
    pub mounts: Vec<Mount>,
    pub user: Option<User>,
    pub rlimits: Vec<PosixRlimit>,
    /// Capabilities added to and dropped from docker's set.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Device nodes asked for by Create's fields (docker's --device).
    pub flat_devices: Vec<FlatDevice>,
    /// "", "unconfined", or an OCI seccomp profile as JSON.
    pub seccomp_profile: String,
    /// What the spec made of them (see spec.rs's `apply`).
    pub root: Option<RootSpec>,
    pub identity: Identity,
    /// Sysctls to set (key, value), device nodes to make, and the device
    /// rules (the spec's allow rules and its nodes') added to docker's.
    pub sysctls: Vec<(String, String)>,
    /// The spec's process.oomScoreAdj.
    pub oom_score_adj: Option<i32>,
    pub devices: Vec<DeviceNode>,
    pub device_rules: Vec<DeviceRule>,
    /// The spec's hooks, and its annotations (which their state shows).
    pub hooks: Hooks,
    pub annotations: serde_json::Value,
    /// A network namespace to join (a spec's path, or Create's).
    pub netns: Option<String>,
    /// The network Create asked for (network.rs).
    pub network: super::network::NetConfig,
    /// docker's --dns and --add-host (name, address), checked.
    pub dns: Vec<String>,
    pub extra_hosts: Vec<(String, String)>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
}

impl ContainerConfig {
    /// Checks what the kernel would otherwise reject later, or worse, accept
    /// in a surprising way.
    pub fn validate(&mut self) -> Result<()> {
        mydocker::validate_id(&self.id).map_err(|e| invalid(e.to_string()))?;
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(invalid("argv must name a command"));
        }
        let nul = |s: &String| s.as_bytes().contains(&0);
        if self.argv.iter().any(nul) {
            return Err(invalid("an argument contains a NUL byte"));
        }
        for kv in &self.env {
            if nul(kv) {
                return Err(invalid("an environment variable contains a NUL byte"));
            }
            match kv.split_once('=') {
                Some((k, _)) if !k.is_empty() => {}
                _ => {
                    return Err(invalid(format!(
                        "environment entry {} is not KEY=VALUE",
                        mydocker::brief(kv)
                    )))
                }
            }
        }
        if self.auto_remove && !self.restart.is_none() {
            return Err(invalid(
                "conflicting options: a restart policy and auto_remove",
            ));
        }
        if nul(&self.cwd) {
            return Err(invalid("the working directory contains a NUL byte"));
        }
        if !self.cwd.is_empty() && !self.cwd.starts_with('/') {
            return Err(invalid(format!(
                "working directory {} is not absolute",
                mydocker::brief(&self.cwd)
            )));
        }
        // A bundle without a hostname keeps the one its UTS namespace
        // has (runc's); Create's fields default to the id (docker's).
        if self.hostname.is_empty() && self.bundle.is_none() {
            // A full 64-hex id is exactly the kernel's 64-byte limit.
            self.hostname = self.id.clone();
        }
        if self.hostname.len() > 64 || nul(&self.hostname) || self.hostname.contains('/') {
            return Err(invalid(format!(
                "hostname {} is invalid (at most 64 bytes, no `/`)",
                mydocker::brief(&self.hostname)
            )));
        }
        crate::cgroup::check(&self.limits).map_err(|e| invalid(e.to_string()))?;
        if let Some((rows, cols)) = self.terminal_size {
            if rows == 0 || cols == 0 {
                self.terminal_size = None;
            }
        }
        Ok(())
    }
}

impl ContainerConfig {
    /// What a failure of its init's set-up names.
    pub fn names(&self) -> Names {
        Names {
            mounts: self
                .root
                .as_ref()
                .map(|r| r.mounts.iter().map(|m| m.destination.clone()).collect())
                .unwrap_or_default(),
            masked: self.masked_paths.clone(),
            readonly: self.readonly_paths.clone(),
            sysctls: self
                .oom_score_adj
                .map(|_| "/proc/self/oom_score_adj".to_string())
                .into_iter()
                .chain(self.sysctls.iter().map(|(k, _)| k.clone()))
                .collect(),
            devices: self.devices.iter().map(|d| d.path.clone()).collect(),
            start_hooks: self
                .hooks
                .start_container
                .iter()
                .map(|h| h.path.to_string_lossy().into_owned())
                .collect(),
        }
    }

    /// What its init's streams are to be.
    pub fn streams(&self) -> StreamSpec {
        StreamSpec {
            tty: self.tty,
            stdin: self.stdin,
        }
    }
}
