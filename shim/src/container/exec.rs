//! A container's exec'd processes (docker's `exec`): each registered by
//! Exec with its own streams, started by Start with its id (entering the
//! container: process/enter.rs), and reaped like the init, its status
//! kept until the container is removed. Its output goes to its own hub
//! (attachers and replay), not to the container's log.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use tokio::sync::watch;

use super::config::ContainerConfig;
use super::error::{invalid, ContainerError, Result};
use crate::cgroup::ContainerCgroup;
use crate::exit::ExitStatus;
use crate::fd::AsyncIoFd;
use crate::io::hub::{Attacher, OutputHub};
use crate::io::stdin::{self, Stdin, StdinOp};
use crate::io::streams::{self, Opened, StreamSpec};
use crate::io::IoError;
use crate::process::describe::{describe_with, Names};
use crate::process::enter::{self, EnterError, EnterPlan};
use crate::process::init::DEFAULT_PATH;
use crate::process::reaper::{Reaped, Reaper};
use crate::process::signal;
use crate::process::spawn::ChildStdio;

/// The most execs a container keeps (running, or exited and not
/// deleted): past it, the oldest exited one is forgotten.
pub const MAX_EXECS: usize = 1024;

/// What an exec asks for; what it leaves empty is the container's.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub argv: Vec<String>,
    /// Added to the container's environment.
    pub env: Vec<String>,
    pub cwd: String,
    /// (uid, gid, additional gids)
    pub user: Option<(u32, u32, Vec<u32>)>,
    pub tty: bool,
    pub stdin: bool,
    pub terminal_size: Option<(u16, u16)>,
}

impl ExecConfig {
    /// Refuses what cannot run: no command, NUL bytes, a relative cwd,
    /// an environment entry that is not KEY=VALUE.
    pub fn validate(&self) -> Result<()> {
        if self.argv.first().is_none_or(|a| a.is_empty()) {
            return Err(invalid("argv must name a command"));
        }
        let nul = |s: &String| s.as_bytes().contains(&0);
        if self.argv.iter().any(nul) || self.env.iter().any(nul) || nul(&self.cwd) {
            return Err(invalid("a string of the exec contains a NUL byte"));
        }
        if !self.cwd.is_empty() && !self.cwd.starts_with('/') {
            return Err(invalid(format!(
                "working directory {} is not absolute",
                mydocker::brief(&self.cwd)
            )));
        }
        for kv in &self.env {
            if kv.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                return Err(invalid(format!(
                    "environment entry {} is not KEY=VALUE",
                    mydocker::brief(kv)
                )));
            }
        }
        if let Some((uid, gid, groups)) = &self.user {
            // -1 is "leave as it is" to the kernel: root, for a request
            // that named someone else.
            if *uid == u32::MAX || *gid == u32::MAX || groups.contains(&u32::MAX) {
                return Err(invalid("user: 4294967295 (-1) is not a user or group id"));
            }
        }
        if let Some((rows, cols)) = self.terminal_size {
            if rows == 0 || cols == 0 {
                return Err(invalid("terminal size: rows and cols must be 1 to 65535"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStatus {
    Created,
    Running,
    Exited,
}

/// What the container hands an exec to start it with.
pub struct Launch {
    pub container_id: String,
    /// A pidfd of the container's init.
    pub init: OwnedFd,
    pub plan: EnterPlan,
    /// The container's v2 cgroup directory, to be born in.
    pub cgroup_dir: Option<OwnedFd>,
    /// What its failures name, and the command as it will run.
    pub names: Names,
    pub env: Vec<String>,
    pub cwd: String,
}

struct Inner {
    status: ExecStatus,
    pid: Option<Pid>,
    /// Reaped: its pid is not ours to signal any more.
    reaped: bool,
    /// Where its output goes, until it has exited: a record kept after that
    /// (until the container is removed) is its status alone, not its
    /// replay buffer.
    hub: Option<Arc<OutputHub>>,
    /// Why it could not be executed.
    error: Option<String>,
    stdin: Option<Stdin>,
    pty: Option<Arc<AsyncIoFd>>,
}

/// An exec cloned, not yet confirmed running.
pub struct Starting {
    pid: Pid,
    ack: OwnedFd,
    opened: Opened,
    names: Names,
    env: Vec<String>,
    cwd: String,
}

/// A point-in-time view, for State.
#[derive(Debug, Clone)]
pub struct ExecSnapshot {
    pub id: String,
    pub status: ExecStatus,
    pub pid: u32,
    pub exit: Option<ExitStatus>,
}

pub struct Exec {
    pub id: String,
    pub config: ExecConfig,
    inner: Mutex<Inner>,
    exit: watch::Sender<Option<ExitStatus>>,
    /// Held by Start, and by the exit path before it publishes: an exit
    /// during Start carries Start's error.
    start_lock: tokio::sync::Mutex<()>,
}

impl Exec {
    /// Registers an exec of `config`: its hub is made now, so that an
    /// attacher before Start misses nothing; its pipes at Start (one never
    /// started holds no descriptor).
    pub fn new(id: String, config: ExecConfig) -> Result<Arc<Self>> {
        config.validate()?;
        Ok(Arc::new(Self {
            id,
            inner: Mutex::new(Inner {
                status: ExecStatus::Created,
                pid: None,
                reaped: false,
                hub: Some(Arc::new(OutputHub::new(None))),
                error: None,
                stdin: None,
                pty: None,
            }),
            config,
            exit: watch::Sender::new(None),
            start_lock: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn snapshot(&self) -> ExecSnapshot {
        let g = self.inner.lock().unwrap();
        ExecSnapshot {
            id: self.id.clone(),
            status: g.status,
            pid: match (g.status, g.pid) {
                (ExecStatus::Running, Some(p)) => p.as_raw() as u32,
                _ => 0,
            },
            exit: self.exit.borrow().clone(),
        }
    }

    /// Its status if it may go (exited: Some; never started: None); an
    /// error while it runs, or is being started.
    pub fn deletable(&self) -> Result<Option<ExitStatus>> {
        let g = self.inner.lock().unwrap();
        match g.status {
            ExecStatus::Created => Ok(None),
            ExecStatus::Exited => match self.exit.borrow().clone() {
                Some(s) => Ok(Some(s)),
                // Exited, its status not published yet (its output still
                // draining): still running as far as callers can tell.
                None => Err(ContainerError::ExecStillRunning(self.id.clone())),
            },
            ExecStatus::Running => Err(ContainerError::ExecStillRunning(self.id.clone())),
        }
    }

    /// Whether it was never started (Start takes it).
    pub fn is_created(&self) -> bool {
        self.inner.lock().unwrap().status == ExecStatus::Created
    }

    /// Held while it is started, and by its exit before it publishes.
    pub async fn start_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.start_lock.lock().await
    }

    /// Starts it (under [`start_lock`](Self::start_lock)) with what the
    /// container gave: cloned into the container, and watched. Nothing
    /// here awaits, so its exit cannot come unwatched.
    pub fn spawn(self: &Arc<Self>, launch: Launch, reaper: &Reaper) -> Result<Starting> {
        let hub = {
            let g = self.inner.lock().unwrap();
            match (g.status, &g.hub) {
                (ExecStatus::Created, Some(hub)) => hub.clone(),
                _ => return Err(ContainerError::ExecAlreadyStarted(self.id.clone())),
            }
        };
        let spec = StreamSpec {
            tty: self.config.tty,
            stdin: self.config.stdin,
        };
        let (ends, opened) = streams::open_into(&spec, hub)?;
        self.inner.lock().unwrap().status = ExecStatus::Running;
        let stdio = ChildStdio {
            stdin: ends.stdin,
            stdout: ends.stdout,
            stderr: ends.stderr,
        };
        let Launch {
            container_id,
            init,
            plan,
            cgroup_dir,
            names,
            env,
            cwd,
        } = launch;
        let spawned = match enter::spawn_exec(&init, stdio, plan, cgroup_dir.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                let err = if exited(&init) {
                    // Its init went meanwhile: its namespace takes no one
                    // in (whatever step noticed).
                    ContainerError::NotRunning(container_id)
                } else {
                    match e {
                        EnterError::Report(r) => ContainerError::ExecFailed(
                            describe_with(&r, &self.config.argv, &env, &cwd, &names).1,
                        ),
                        EnterError::Spawn(e) => e.into(),
                    }
                };
                self.never_ran(&err);
                return Err(err);
            }
        };
        self.inner.lock().unwrap().pid = Some(spawned.pid);
        reaper.watch(spawned.pid, self.clone());
        tracing::debug!(exec_id = %self.id, pid = spawned.pid.as_raw(), "exec cloned");
        Ok(Starting {
            pid: spawned.pid,
            ack: spawned.ack,
            opened,
            names,
            env,
            cwd,
        })
    }

    /// Returns once its command runs, or with why it could not.
    pub async fn started(&self, s: Starting) -> Result<Pid> {
        let Starting {
            pid,
            ack,
            opened,
            names,
            env,
            cwd,
        } = s;
        let said = enter::started(ack).await;
        let failure = match said {
            Ok(master) => match opened.start(master) {
                Ok(streams) => {
                    let mut g = self.inner.lock().unwrap();
                    g.stdin = streams.stdin;
                    g.pty = streams.pty;
                    tracing::info!(exec_id = %self.id, pid = pid.as_raw(), "exec started");
                    return Ok(pid);
                }
                Err(e) => {
                    let _ = self.kill(libc::SIGKILL);
                    e.to_string()
                }
            },
            Err(Some(report)) => describe_with(&report, &self.config.argv, &env, &cwd, &names).1,
            Err(None) => "exec: the process exited before it could run its command".into(),
        };
        tracing::info!(exec_id = %self.id, error = %failure, "exec could not be executed");
        self.inner.lock().unwrap().error = Some(failure.clone());
        Err(ContainerError::ExecFailed(failure))
    }

    /// Publishes the status of one whose Start failed before its process
    /// was made: it will never run.
    pub fn never_ran(&self, why: &ContainerError) {
        let msg = why.to_string();
        {
            let mut g = self.inner.lock().unwrap();
            g.status = ExecStatus::Exited;
            g.error = Some(msg.clone());
        }
        let mut status = failed_status(126);
        status.error = Some(msg);
        self.publish(status);
    }

    /// Waits for the exit.
    pub async fn wait(&self) -> ExitStatus {
        let mut rx = self.exit.subscribe();
        let s = rx
            .wait_for(|s| s.is_some())
            .await
            .expect("exit channel open")
            .clone();
        s.expect("is_some")
    }

    /// Signals it (0: SIGKILL).
    pub fn kill(&self, signal: i32) -> Result<()> {
        let sig =
            signal::number(signal).ok_or_else(|| invalid(format!("invalid signal {signal}")))?;
        let g = self.inner.lock().unwrap();
        match (g.status, g.pid) {
            (ExecStatus::Running, Some(pid)) if !g.reaped => match signal::send(pid, sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                Err(source) => Err(ContainerError::Sys {
                    what: "kill",
                    source,
                }),
            },
            _ => Err(ContainerError::ExecNotRunning(self.id.clone())),
        }
    }

    /// An attacher of its output: refused once it has exited (its status
    /// is Wait's).
    pub fn attach(&self, replay: bool) -> Result<Attacher> {
        match &self.inner.lock().unwrap().hub {
            Some(hub) => Ok(hub.attach(replay)),
            None => Err(ContainerError::ExecNotRunning(self.id.clone())),
        }
    }

    pub fn detach(&self, attacher: u64) {
        if let Some(hub) = &self.inner.lock().unwrap().hub {
            hub.detach(attacher)
        }
    }

    pub async fn write_stdin(&self, op: StdinOp) -> Result<()> {
        let stdin = self.inner.lock().unwrap().stdin.clone();
        match stdin {
            Some(s) => Ok(s.send(op).await?),
            None => Err(IoError::NoStdin.into()),
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let pty = self.inner.lock().unwrap().pty.clone();
        resize_pty(pty.as_deref(), rows, cols)
    }

    /// Once its output is all handed on: its status, to every waiter and
    /// attacher.
    async fn on_exit(&self, ws: WaitStatus) {
        let at = SystemTime::now();
        let _guard = self.start_lock.lock().await;
        let hub = self.inner.lock().unwrap().hub.clone();
        if let Some(hub) = hub {
            if !hub.drained_after_exit().await {
                tracing::warn!(exec_id = %self.id, "exec output did not reach EOF after the exit");
            }
        }
        let Some(mut status) = ExitStatus::from_wait(ws, at) else {
            return;
        };
        {
            let mut g = self.inner.lock().unwrap();
            g.status = ExecStatus::Exited;
            status.error = g.error.clone();
            // The streams go with it (a stdin writer holds the pipe).
            g.stdin = None;
            g.pty = None;
        }
        tracing::info!(exec_id = %self.id, code = status.code, signal = status.signal, "exec exited");
        self.publish(status);
    }

    fn publish(&self, status: ExitStatus) {
        let hub = self.inner.lock().unwrap().hub.take();
        if let Some(hub) = hub {
            hub.finish(&status);
        }
        self.exit.send_replace(Some(status));
    }
}

/// Sets the size of a process's terminal (`pty`, its master; None: it has
/// none): the container's command's or an exec's.
pub fn resize_pty(pty: Option<&AsyncIoFd>, rows: u16, cols: u16) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Err(invalid(format!(
            "invalid terminal size {rows}x{cols}: rows and cols must be 1 to 65535"
        )));
    }
    match pty {
        Some(m) => Ok(stdin::resize(m, rows, cols)?),
        None => Err(IoError::NoTerminal.into()),
    }
}

/// Whether the process of `pidfd` has exited (its pidfd is readable).
fn exited(pidfd: &OwnedFd) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// The status of an exec that never ran.
fn failed_status(code: i32) -> ExitStatus {
    ExitStatus {
        code,
        signal: 0,
        at: SystemTime::now(),
        oom_killed: false,
        error: None,
    }
}

impl Reaped for Exec {
    fn reaped(self: Arc<Self>, ws: WaitStatus) {
        self.inner.lock().unwrap().reaped = true;
        tokio::spawn(async move { self.on_exit(ws).await });
    }
}

/// A new exec id: 64 hex digits, as docker's.
pub fn new_id() -> Result<String> {
    mydocker::random_id().map_err(|e| ContainerError::Sys {
        what: "read /dev/urandom",
        source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

/// What `exec` starts with in the container of `config`, whose init is
/// `init` and whose cgroup is `cgroup`: the container's environment (with
/// docker's defaults, as its command got them) and the exec's on top, its
/// directory and user unless the exec names its own, its confinement.
pub fn launch(
    config: &ContainerConfig,
    init: Pid,
    cgroup: &ContainerCgroup,
    exec: &Exec,
) -> Result<Launch> {
    let c = &exec.config;
    let pidfd = enter::pidfd_open(init).map_err(|e| match e {
        nix::errno::Errno::ESRCH => ContainerError::NotRunning(config.id.clone()),
        source => ContainerError::Sys {
            what: "pidfd_open the container's init",
            source,
        },
    })?;
    let mut env = with_defaults(&config.env, &config.hostname, config.bundle.is_none());
    for kv in &c.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    let path = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let cwd = match (c.cwd.as_str(), config.cwd.as_str()) {
        ("", "") => "/".to_string(),
        ("", theirs) => theirs.to_string(),
        (mine, _) => mine.to_string(),
    };
    let mut identity = config.identity.clone();
    if let Some((uid, gid, groups)) = &c.user {
        identity.uid = *uid;
        identity.gid = *gid;
        identity.groups.clone_from(groups);
    }
    let terminal = c.tty.then(|| c.terminal_size.unwrap_or((24, 80)));
    let plan = EnterPlan::new(
        &c.argv,
        &env,
        &path,
        &cwd,
        identity,
        terminal,
        cgroup.join_files()?,
    )?
    .with_oom_score_adj(config.oom_score_adj);
    Ok(Launch {
        container_id: config.id.clone(),
        init: pidfd,
        plan,
        cgroup_dir: cgroup.v2_dir()?.map(|(dir, _)| dir),
        names: config.names(),
        env,
        cwd,
    })
}

/// `env` with docker's PATH, HOSTNAME and HOME added where it has none
/// (`defaults`: a container of Create's fields; a bundle's environment is
/// taken as it is, as runc takes it).
fn with_defaults(env: &[String], hostname: &str, defaults: bool) -> Vec<String> {
    let mut env = env.to_vec();
    if !defaults {
        return env;
    }
    let has = |env: &[String], k: &str| env.iter().any(|kv| kv.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") && !hostname.is_empty() {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        env.push("HOME=/root".into());
    }
    env
}
