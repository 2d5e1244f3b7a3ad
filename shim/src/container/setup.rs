//! Create's steps around the init: its cgroup, made before the clone (v2,
//! to be born in) or while it sets itself up (v1), and the create hooks
//! while it waits.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::config::ContainerConfig;
use super::error::Result;
use super::hooks;
use crate::cgroup::{CgroupError, ContainerCgroup};
use crate::process::hooks::Place;
use crate::process::spawn::{CgroupDir, SpawnedInit};

/// v2, before the clone: the cgroup, made, and its directory (open,
/// and its path) to be born into.
pub fn make_v2(config: &ContainerConfig) -> Result<(ContainerCgroup, OwnedFd, CString)> {
    let cg = ContainerCgroup::load(&config.id, &config.limits)?;
    cg.make(&config.limits)?;
    let ready = cg.v2_dir().and_then(|d| {
        d.ok_or_else(|| CgroupError::Join {
            path: cg.path.clone(),
            cause: "no v2 directory".into(),
        })
    });
    match ready {
        Ok((dir, path)) => Ok((cg, dir, path)),
        Err(e) => {
            let _ = cg.remove();
            Err(e.into())
        }
    }
}

/// v1, while the init sets itself up: the cgroup, made, and the
/// directories the init joins.
pub fn make_v1(config: &ContainerConfig) -> Result<(ContainerCgroup, Vec<CgroupDir>)> {
    let cg = ContainerCgroup::load(&config.id, &config.limits)?;
    let dirs = cg.make(&config.limits)?;
    Ok((cg, dirs))
}

/// createRuntime (the shim's namespaces) and createContainer (the
/// container's) hooks, while the init waits with its namespaces made,
/// before its root is entered. Nothing awaits meanwhile: the hooks'
/// exits are theirs to collect (process/hooks.rs).
pub fn create_hooks(config: &ContainerConfig, dir: &Path, init: &SpawnedInit) -> Result<()> {
    init.setup.pause()?;
    let bundle = config.bundle.as_deref().unwrap_or(dir);
    let state = hooks::state(
        &config.id,
        "creating",
        Some(init.pid),
        bundle,
        &config.annotations,
    );
    let h = &config.hooks;
    hooks::run_all("createRuntime", &h.create_runtime, &state, Place::Runtime)?;
    hooks::run_all(
        "createContainer",
        &h.create_container,
        &state,
        Place::Container(init.pid),
    )?;
    init.setup.resume()?;
    Ok(())
}
