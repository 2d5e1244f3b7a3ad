//! A container's records on disk (`config.json`, `state.json`,
//! `exit.json`), which outlive its shim: `ps -a`, `inspect` and `wait` read
//! them. Each is written atomically (mydocker::state).

use std::path::Path;
use std::time::SystemTime;

use mydocker::state::{self, ConfigRecord, ExitRecord, Phase, StateRecord};
use mydocker::units::Limits;
use nix::unistd::Pid;

use super::config::ContainerConfig;
use super::error::Result;
use crate::exit::{nanos, ExitStatus};

/// What was asked, and the cgroup it got.
pub fn write_config(
    dir: &Path,
    c: &ContainerConfig,
    cgroup: String,
    created_at: SystemTime,
) -> Result<()> {
    let record = ConfigRecord {
        id: c.id.clone(),
        name: c.name.clone(),
        argv: c.argv.clone(),
        env: c.env.clone(),
        cwd: if c.cwd.is_empty() {
            "/".into()
        } else {
            c.cwd.clone()
        },
        hostname: c.hostname.clone(),
        tty: c.tty,
        stdin: c.stdin,
        limits: c.limits.clone(),
        cgroup,
        privileged: c.privileged,
        auto_remove: c.auto_remove,
        restart_policy: c.restart.name().into(),
        restart_max_retries: c.restart.max_retries,
        read_only: c.read_only || c.root.as_ref().is_some_and(|r| r.readonly),
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        root_kind: match (&c.layers, &c.bundle, c.rootfs.is_empty()) {
            (Some(_), _, _) => "overlay",
            (None, Some(_), _) => "bundle",
            (None, None, false) => "rootfs",
            (None, None, true) => "host",
        }
        .into(),
        root_path: match (&c.layers, &c.bundle) {
            (Some(l), _) => l.upper.to_string_lossy().into_owned(),
            (None, Some(b)) => b.to_string_lossy().into_owned(),
            (None, None) if c.rootfs.is_empty() => "/".into(),
            (None, None) => c.rootfs.clone(),
        },
        created_at: nanos(created_at),
    };
    Ok(state::write_json(&dir.join(state::CONFIG_FILE), &record)?)
}

/// The limits an Update changed (the fields it set), into `config.json`:
/// what `inspect` shows is what the cgroup holds.
pub fn update_limits(dir: &Path, l: &Limits) -> Result<()> {
    let path = dir.join(state::CONFIG_FILE);
    let Some(mut record) = state::read_json::<ConfigRecord>(&path)? else {
        return Ok(());
    };
    record.limits.merge(l);
    Ok(state::write_json(&path, &record)?)
}

/// A new name (Rename), into `config.json`.
pub fn rename(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(state::CONFIG_FILE);
    let Some(mut record) = state::read_json::<ConfigRecord>(&path)? else {
        return Ok(());
    };
    record.name = name.to_string();
    Ok(state::write_json(&path, &record)?)
}

/// Where it is in its life, its init's pid and the shim's.
pub fn write_state(
    dir: &Path,
    phase: Phase,
    pid: Pid,
    started_at: Option<SystemTime>,
) -> Result<()> {
    let record = StateRecord {
        phase,
        pid: pid.as_raw(),
        shim_pid: std::process::id() as i32,
        started_at: started_at.map(nanos).unwrap_or(0),
    };
    Ok(state::write_json(&dir.join(state::STATE_FILE), &record)?)
}

/// How it ended.
pub fn write_exit(dir: &Path, status: &ExitStatus) -> Result<()> {
    let record = ExitRecord {
        exit_code: status.code,
        signal: status.signal,
        oom_killed: status.oom_killed,
        error: status.error.clone().unwrap_or_default(),
        finished_at: nanos(status.at),
    };
    Ok(state::write_json(&dir.join(state::EXIT_FILE), &record)?)
}

/// What the restart policy has done.
pub fn write_restarts(dir: &Path, count: u32, restarting: bool) -> Result<()> {
    let record = state::RestartRecord { count, restarting };
    Ok(state::write_json(&dir.join(state::RESTARTS_FILE), &record)?)
}

/// A Create that failed leaves no record claiming a container.
pub fn forget(dir: &Path) {
    for f in [state::CONFIG_FILE, state::STATE_FILE] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}
