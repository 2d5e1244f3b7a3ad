//! cgroup v2: a leaf whose parents delegate the controllers to it.

use std::fs;
use std::path::Path;

use super::error::{CgroupError, Result};

/// v2: creates `path` under `root`, enabling our controllers in the
/// `cgroup.subtree_control` of every level above it, so the container's
/// cgroup is a leaf whose parent holds no process and delegates the
/// controllers to it. cgroups-rs would check the host's own controller list
/// and ignore a failure to enable one; this checks each write.
pub(super) fn create(root: &Path, path: &str) -> Result<()> {
    let mut level = root.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let available = fs::read_to_string(level.join("cgroup.controllers")).unwrap_or_default();
        for c in V2_CONTROLLERS {
            let have = available.split_whitespace().any(|a| a == *c);
            if !have {
                if *c == "cpuset" {
                    continue;
                }
                return Err(CgroupError::Controller {
                    controller: c.to_string(),
                    path: level.display().to_string(),
                });
            }
            let file = level.join("cgroup.subtree_control");
            let enabled = fs::read_to_string(&file).unwrap_or_default();
            if enabled.split_whitespace().any(|e| e == *c) {
                continue;
            }
            // create(true) is a no-op on cgroupfs, where the file exists; it
            // lets the unit tests' plain directories stand in for one.
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&file)
                .and_then(|mut f| std::io::Write::write_all(&mut f, format!("+{c}").as_bytes()))
                .map_err(|e| CgroupError::Setup {
                    path: path.into(),
                    what: format!("enable +{c} in {}", file.display()),
                    cause: e.to_string(),
                })?;
        }
        level.push(part);
        match fs::create_dir(&level) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && i + 1 < parts.len() => {}
            // Left by a shim that was killed: reusable once nothing is in it.
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && fs::read_to_string(level.join("cgroup.procs"))
                        .map(|p| p.trim().is_empty())
                        .unwrap_or(true) => {}
            Err(e) => {
                return Err(CgroupError::Create {
                    path: path.into(),
                    cause: e.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// The v2 controllers a container uses (cpuset where the host offers it).
const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "pids", "cpuset"];
