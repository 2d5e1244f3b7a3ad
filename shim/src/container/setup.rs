//! Create's steps around the init: its cgroup, made before the clone (v2,
//! to be born in) or while it sets itself up (v1), and the create hooks
//! while it waits.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::config::{ContainerConfig, Layers};
use super::error::{invalid, ContainerError, Result};
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

/// The form a layer the shim removes must have, `.../<id>/upper` and
/// `.../<id>/work`: a directory named after no other container.
fn owned_form(id: &str, l: &Layers) -> bool {
    let parent = l.upper.parent();
    parent == l.work.parent()
        && parent.and_then(|p| p.file_name()) == Some(std::ffi::OsStr::new(id))
}

/// At removal: an image root's upper and work directories, when they are
/// the container's alone, with the directory (named after it) they are in.
pub fn remove_owned_layers(config: &ContainerConfig) {
    let Some(l) = config.layers.as_ref().filter(|l| l.owned) else {
        return;
    };
    if !owned_form(config.id.as_str(), l) {
        tracing::warn!("the container's layer is not in a directory of its own: kept");
        return;
    }
    let Some(dir) = l.upper.parent() else {
        return;
    };
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "removing the container's layer failed");
        }
    }
}

/// An image's layers are mounted (by the init, in its namespace) on a
/// directory of the state dir, which is then the root as a rootfs is.
pub fn layers_mount_point(config: &mut ContainerConfig, dir: &Path) -> Result<()> {
    let Some(l) = &config.layers else {
        return Ok(());
    };
    if l.owned && !owned_form(&config.id, l) {
        return Err(invalid(
            "layers: owned upper and work directories must be in one directory named after the container's id",
        ));
    }
    if !config.rootfs.is_empty() {
        return Err(invalid("layers and rootfs cannot go together"));
    }
    let point = dir.join("rootfs");
    if let Err(e) = std::fs::create_dir_all(&point) {
        return Err(ContainerError::Sys {
            what: "make the root's mount point",
            source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        });
    }
    config.rootfs = point.to_string_lossy().into_owned();
    Ok(())
}
