//! Finding containers (full id, name, or unambiguous id prefix), reading
//! their state from disk, and talking to their shims.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use mydocker::state::{self, ConfigRecord, ExitRecord, Phase, StateRecord};
use mydocker::v1;
use mydocker::ShimClient;
use tonic::Code;

/// A container named on the command line, resolved to its full id.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    /// What the user typed, for messages.
    pub arg: String,
    pub root: PathBuf,
}

pub fn no_such(arg: &str) -> anyhow::Error {
    anyhow::anyhow!("No such container: {arg}")
}

/// Resolves, as docker does: a full id, then a name, then a unique prefix.
pub fn resolve(root: &Path, arg: &str) -> anyhow::Result<Target> {
    let target = |id: &str| Target {
        id: id.to_string(),
        arg: arg.to_string(),
        root: root.to_path_buf(),
    };
    if mydocker::validate_id(arg).is_ok() && mydocker::shim_dir(root, arg).is_dir() {
        return Ok(target(arg));
    }
    if let Some(id) = state::lookup_name(root, arg) {
        if mydocker::shim_dir(root, &id).is_dir() {
            return Ok(target(&id));
        }
    }
    if mydocker::validate_id(arg).is_err() {
        return Err(no_such(arg));
    }
    let found: Vec<String> = state::list_ids(root)
        .into_iter()
        .filter(|id| id.starts_with(arg))
        .collect();
    match found.len() {
        0 => Err(no_such(arg)),
        1 => Ok(target(&found[0])),
        n => anyhow::bail!("{n} containers match the id prefix {arg:?}: give more of the id"),
    }
}

/// Everything known about a container, from its state directory.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub dir: PathBuf,
    pub config: ConfigRecord,
    pub state: StateRecord,
    pub exit: Option<ExitRecord>,
    pub shim_alive: bool,
    /// What its restart policy has done.
    pub restarts: state::RestartRecord,
}

/// What a container is doing, as far as can be told.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Created,
    Running,
    Exited(ExitRecord),
    /// The shim is gone without recording an exit: its container was killed
    /// with it (PR_SET_PDEATHSIG), and no exit status is known.
    Dead,
}

impl Record {
    pub fn read(root: &Path, id: &str) -> anyhow::Result<Self> {
        let dir = mydocker::shim_dir(root, id);
        let config: ConfigRecord =
            state::read_json(&dir.join(state::CONFIG_FILE))?.with_context(|| {
                format!("container {id} has no config (it is being created or removed)")
            })?;
        let state: StateRecord =
            state::read_json(&dir.join(state::STATE_FILE))?.unwrap_or_default();
        let exit = state::read_json(&dir.join(state::EXIT_FILE))?;
        let shim_alive = process_alive(state.shim_pid, id);
        let restarts = match config.restart_policy.as_str() {
            "" | "no" => Default::default(),
            _ => state::read_json(&dir.join(state::RESTARTS_FILE))?.unwrap_or_default(),
        };
        Ok(Self {
            restarts,
            id: id.to_string(),
            dir,
            config,
            state,
            exit,
            shim_alive,
        })
    }

    /// Every container under `root` whose config could be read.
    pub fn all(root: &Path) -> Vec<Self> {
        let mut v: Vec<Self> = state::list_ids(root)
            .iter()
            .filter_map(|id| Self::read(root, id).ok())
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.config.created_at));
        v
    }

    pub fn status(&self) -> Status {
        if let Some(e) = &self.exit {
            return Status::Exited(e.clone());
        }
        if !self.shim_alive {
            return Status::Dead;
        }
        match self.state.phase {
            Phase::Created => Status::Created,
            // Paused is running, frozen: see `paused`.
            Phase::Running | Phase::Paused => Status::Running,
        }
    }

    /// Running, frozen by `pause`.
    pub fn paused(&self) -> bool {
        self.state.phase == Phase::Paused && self.status() == Status::Running
    }

    /// Exited, and its restart policy will run it again.
    pub fn restarting(&self) -> bool {
        self.restarts.restarting && self.shim_alive && matches!(self.status(), Status::Exited(_))
    }

    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// Whether `pid` is a live (not zombie) process whose command line names
/// `id`: a recorded pid may have been reused by anything since.
pub fn process_alive(pid: i32, id: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    if state.starts_with('Z') || state.starts_with('X') {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).any(|a| a == id.as_bytes()))
        .unwrap_or(false)
}

impl Target {
    pub fn socket(&self) -> PathBuf {
        mydocker::socket_path(&self.root, &self.id)
    }

    pub fn record(&self) -> anyhow::Result<Record> {
        Record::read(&self.root, &self.id)
    }

    pub async fn connect(&self) -> anyhow::Result<ShimClient> {
        let socket = self.socket();
        if !socket.exists() {
            return Err(no_such(&self.arg));
        }
        mydocker::connect(&socket)
            .await
            .with_context(|| format!("the shim of container {} is not answering", self.arg))
    }

    /// Turns a gRPC error into a one-line message.
    pub fn status_error(&self, s: tonic::Status) -> anyhow::Error {
        status_error(&self.arg, s)
    }
}

pub fn status_error(arg: &str, s: tonic::Status) -> anyhow::Error {
    match s.code() {
        Code::NotFound => no_such(arg),
        _ => anyhow::anyhow!("{}", s.message()),
    }
}

/// The exit code of a container, waiting for it if it runs. Read from disk
/// when recorded, so it holds after the shim is gone.
pub async fn wait_exit(t: &Target) -> anyhow::Result<i32> {
    let rec = t.record()?;
    match rec.status() {
        Status::Exited(e) => Ok(e.exit_code),
        Status::Dead => anyhow::bail!(
            "container {}: its shim died, killing it; no exit status was recorded",
            t.arg
        ),
        Status::Created | Status::Running => {
            let mut c = t.connect().await?;
            let r = c
                .wait(v1::WaitRequest {
                    id: t.id.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|s| t.status_error(s))?;
            Ok(r.into_inner().status.map(|s| s.exit_code).unwrap_or(-1))
        }
    }
}

/// `stop`: SIGTERM, then SIGKILL after `timeout`, as docker does.
pub async fn stop(t: &Target, timeout: Duration) -> anyhow::Result<()> {
    let rec = t.record()?;
    // Exited, it may be about to run again: the Kill ends its restart
    // policy, as docker's stop does.
    let policy = !matches!(rec.config.restart_policy.as_str(), "" | "no");
    let exited = matches!(rec.status(), Status::Exited(_));
    if rec.status() != Status::Running && !(exited && policy && rec.shim_alive) {
        return Ok(());
    }
    let mut c = t.connect().await?;
    let kill = |signal| v1::KillRequest {
        id: t.id.clone(),
        signal,
        all: false,
        ..Default::default()
    };
    match c.kill(kill(libc::SIGTERM)).await {
        Ok(_) => {}
        Err(s) if s.code() == Code::FailedPrecondition => return Ok(()),
        Err(s) => return Err(t.status_error(s)),
    }
    let mut w = c.clone();
    let waited = tokio::time::timeout(
        timeout,
        w.wait(v1::WaitRequest {
            id: t.id.clone(),
            ..Default::default()
        }),
    )
    .await;
    if waited.is_err() {
        match c.kill(kill(libc::SIGKILL)).await {
            Ok(_) => {}
            Err(s) if s.code() == Code::FailedPrecondition => {}
            Err(s) => return Err(t.status_error(s)),
        }
        c.wait(v1::WaitRequest {
            id: t.id.clone(),
            ..Default::default()
        })
        .await
        .map_err(|s| t.status_error(s))?;
    }
    Ok(())
}

/// `rm [-f]`: deletes the container through its shim, or, when the shim is
/// gone, removes what is left of it.
pub async fn remove(t: &Target, force: bool) -> anyhow::Result<()> {
    let rec = t.record().ok();
    let shim_alive = rec.as_ref().map(|r| r.shim_alive).unwrap_or(false);
    if !shim_alive {
        return remove_leftovers(t, rec.as_ref(), force);
    }
    let auto_remove = rec.as_ref().is_some_and(|r| r.config.auto_remove);
    if !force && rec.as_ref().is_some_and(|r| r.restarting()) {
        anyhow::bail!(
            "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
            t.arg
        );
    }
    let mut c = t.connect().await?;
    let st = c
        .state(v1::StateRequest { id: t.id.clone() })
        .await
        .map_err(|s| t.status_error(s))?
        .into_inner();
    if st.status == v1::Status::Running as i32 || st.status == v1::Status::Paused as i32 {
        if !force {
            anyhow::bail!(
                "cannot remove container {}: container is running: stop the container before removing or force remove (rm -f)",
                t.arg
            );
        }
        match c
            .kill(v1::KillRequest {
                id: t.id.clone(),
                signal: libc::SIGKILL,
                all: true,
                ..Default::default()
            })
            .await
        {
            Ok(_) => {}
            // It exited meanwhile.
            Err(s) if s.code() == Code::FailedPrecondition => {}
            Err(s) => return Err(t.status_error(s)),
        }
        // A --rm container is removed by its shim as it exits: the answers
        // below may find it gone already, which is what was asked.
        let waited = c
            .wait(v1::WaitRequest {
                id: t.id.clone(),
                ..Default::default()
            })
            .await;
        if let Err(s) = waited {
            if !auto_remove {
                return Err(t.status_error(s));
            }
        }
    }
    let deleted = c
        .delete(v1::DeleteRequest {
            id: t.id.clone(),
            ..Default::default()
        })
        .await;
    drop(c);
    match deleted {
        Ok(_) => {}
        Err(_) if auto_remove => {}
        Err(s) => return Err(t.status_error(s)),
    }
    wait_gone(st.shim_pid).await;
    if auto_remove && mydocker::shim_dir(&t.root, &t.id).exists() {
        anyhow::bail!("container {} was not removed by its shim", t.arg);
    }
    Ok(())
}

/// A container whose shim is gone: remove its cgroup (killing anything left
/// in it), its state and its name.
fn remove_leftovers(t: &Target, rec: Option<&Record>, force: bool) -> anyhow::Result<()> {
    if let Some(r) = rec {
        // Its processes died with the shim (PR_SET_PDEATHSIG); anything
        // that escaped is in its cgroup, which remove_cgroup kills. The pid
        // on record is stale and may be anyone's now: it is not signalled.
        if !r.config.cgroup.is_empty() {
            remove_cgroup(&r.config.cgroup)?;
        }
        state::release_name(&t.root, &r.config.name, &t.id);
        // Its writable layer, which `run IMAGE` made as
        // <data root>/containers/<id>/upper beside an owner.json: nothing
        // else is removed.
        let upper = Path::new(&r.config.root_path);
        if let Some(layer) = upper.parent().filter(|l| {
            r.config.root_kind == "overlay"
                && upper.ends_with(Path::new("containers").join(&t.id).join("upper"))
                && l.join("owner.json").is_file()
        }) {
            let _ = std::fs::remove_dir_all(layer);
        }
    }
    let dir = mydocker::shim_dir(&t.root, &t.id);
    // Its CNI network: DEL from the record, in its namespace still pinned
    // in the state dir, releases its address and its port rules. If that
    // fails the state dir stays, so that the next rm tries again; rm -f
    // says so and goes on (what DEL could not release stays).
    if let Err(e) = mydocker::cni::Record::replay_del(&dir) {
        if !force {
            return Err(anyhow::Error::new(e).context(format!(
                "release the network of {} (rm -f removes it anyway)",
                t.id
            )));
        }
        eprintln!("Warning: the network of {} was not released: {e}", t.id);
        mydocker::cni::unpin_netns(&dir);
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    Ok(())
}

/// Removes a cgroup a dead shim left, in every hierarchy it is in (killing
/// what is inside). Its parent stays, as the shim leaves it.
fn remove_cgroup(path: &str) -> anyhow::Result<()> {
    if path.split('/').any(|c| c.is_empty() || c == "..") {
        anyhow::bail!("refusing to remove the recorded cgroup {path:?}");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mounts.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mountpoint) = left.split_whitespace().nth(4) else {
            continue;
        };
        let dir = Path::new(mountpoint).join(path);
        if !dir.is_dir() {
            continue;
        }
        mydocker::cgroupfs::remove_dir(&dir)
            .with_context(|| format!("cannot remove cgroup {}", dir.display()))?;
    }
    Ok(())
}

/// Waits (briefly) for a shim process to be gone after Delete, so that
/// `rm` returning means nothing of the container is left.
pub async fn wait_gone(pid: u32) {
    if pid == 0 {
        return;
    }
    // A pidfd becomes readable the moment the process exits: no polling.
    // SAFETY: pidfd_open(2) with integer arguments; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    if fd >= 0 {
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd =
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
        // SAFETY: an OwnedFd stays open, and the same, while the AsyncFd owns it.
        if let Ok(afd) = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        } {
            let _ = tokio::time::timeout(Duration::from_secs(5), afd.readable()).await;
            return;
        }
    }
    for _ in 0..500 {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                let state = s.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            })
            .unwrap_or(false);
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn from_nanos(n: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n.max(0) as u64)
}

/// docker's way of saying how long ago: "5 seconds", "About a minute",
/// "3 hours".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match s {
        0 => "Less than a second".into(),
        1..=59 => plural(s, "second"),
        60..=119 => "About a minute".into(),
        120..=3599 => plural(s / 60, "minute"),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => plural(s / 3600, "hour"),
        172_800..=1_209_599 => plural(s / 86_400, "day"),
        1_209_600..=5_183_999 => plural(s / 604_800, "week"),
        5_184_000..=63_071_999 => plural(s / 2_592_000, "month"),
        _ => plural(s / 31_536_000, "year"),
    }
}

pub fn ago(n: i64) -> String {
    let d = SystemTime::now()
        .duration_since(from_nanos(n))
        .unwrap_or_default();
    format!("{} ago", human_duration(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        let d = Duration::from_secs;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(1)), "1 second");
        assert_eq!(human_duration(d(5)), "5 seconds");
        assert_eq!(human_duration(d(61)), "About a minute");
        assert_eq!(human_duration(d(180)), "3 minutes");
        assert_eq!(human_duration(d(3600)), "About an hour");
        assert_eq!(human_duration(d(3 * 3600)), "3 hours");
        assert_eq!(human_duration(d(3 * 86_400)), "3 days");
        assert_eq!(human_duration(d(15 * 86_400)), "2 weeks");
        assert_eq!(human_duration(d(90 * 86_400)), "3 months");
        assert_eq!(human_duration(d(800 * 86_400)), "2 years");
    }
}
