//! A container's hooks, at the points of its life the OCI spec names:
//! createRuntime and createContainer at Create (the init waits for them,
//! its namespaces made and its cgroup joined, its root not yet entered),
//! startContainer by the init itself at Start, before the command
//! (process/start_hooks.rs), poststart after Start, poststop once the
//! container is removed. Each gets the container's state on its stdin.

use std::path::Path;

use nix::unistd::Pid;

use crate::process::hooks::{self, Hook, HookError, Place};
use crate::process::relay::RelayError;
use crate::process::start_hooks::StartHook;

/// The hooks of a spec, by the point they run at (`prestart`, deprecated,
/// runs first of createRuntime's, as runc runs it).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// Whether the init has to wait for any at Create.
    pub fn at_create(&self) -> bool {
        !self.create_runtime.is_empty() || !self.create_container.is_empty()
    }
}

/// The state a hook reads (the runtime spec's "state").
pub fn state(
    id: &str,
    status: &str,
    pid: Option<Pid>,
    bundle: &Path,
    annotations: &serde_json::Value,
) -> Vec<u8> {
    let mut s = serde_json::json!({
        "ociVersion": "1.2.0",
        "id": id,
        "status": status,
        "bundle": bundle,
    });
    if let Some(pid) = pid {
        s["pid"] = pid.as_raw().into();
    }
    if !annotations.is_null() {
        s["annotations"] = annotations.clone();
    }
    serde_json::to_vec(&s).unwrap_or_default()
}

/// Runs `list` in order, the first failure ending it.
pub fn run_all(kind: &str, list: &[Hook], state: &[u8], place: Place) -> Result<(), HookError> {
    for (i, h) in list.iter().enumerate() {
        hooks::run(kind, i, h, state, place)?;
    }
    Ok(())
}

/// Runs `list`, each whatever the others did, and logs the failures
/// (poststart and poststop: the spec's "MUST log a warning").
pub fn run_logged(kind: &str, list: &[Hook], state: &[u8]) {
    for (i, h) in list.iter().enumerate() {
        if let Err(e) = hooks::run(kind, i, h, state, Place::Runtime) {
            tracing::warn!(error = %e, "hook failed");
        }
    }
}

/// The startContainer hooks, as the init runs them (a NUL byte in a
/// string is refused).
pub fn for_init(list: &[Hook]) -> Result<Vec<StartHook>, RelayError> {
    list.iter()
        .map(|h| StartHook::new(&h.path.to_string_lossy(), &h.args, &h.env, h.timeout))
        .collect()
}
