//! The container: its configuration, its lifecycle (Created -> Running ->
//! Exited), and the single path by which an exit becomes known.
//!
//! A container wires the other rooms together and is the only one that
//! knows them all: its init is a [`process`](crate::process), its limits a
//! [`cgroup`](crate::cgroup), its streams [`io`](crate::io). [`shim`] holds
//! the one container a shim serves, from Create to removal; the API fronts
//! (`rpc`) call into it and into [`Container`], and nothing here knows a
//! wire type. [`config`] is what was asked, [`records`] what is kept on
//! disk.

pub mod config;
pub mod error;
mod etc;
pub mod exec;
pub mod hooks;
pub mod network;
pub mod records;
pub mod restart;
pub mod seccomp;
mod setup;
pub mod shim;
pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mydocker::state::{self, Phase};
use mydocker::units::Limits;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use tokio::sync::watch;

pub use config::ContainerConfig;
pub use error::{ContainerError, Result};

use crate::cgroup::{self, ContainerCgroup, Stats};
use crate::exit::ExitStatus;
use crate::fd::AsyncIoFd;
use crate::io::hub::{Attacher, OutputHub};
use crate::io::stdin::{Stdin, StdinOp};
use crate::io::{streams, IoError};
use crate::process::describe::describe_with;
use crate::process::exec::{ExecError, Waiting};
use crate::process::extras::Extras;
use crate::process::init::{self, InitPlan};
use crate::process::reaper::Reaped;
use crate::process::rootfs::RootPlan;
use crate::process::signal;
use crate::process::spawn::{self, ChildStdio, Holder, InitMemory, JoinAt, SpawnedInit};
use error::invalid;
use exec::{Exec, ExecConfig, Launch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    /// Running, but frozen by Pause.
    Paused,
    Exited,
}

struct State {
    status: Status,
    pid: Pid,
    /// The init, waiting for its command, until Start takes it.
    waiting: Option<Waiting>,
    start_requested: bool,
    /// The init has been reaped: its pid may already belong to another
    /// process, so nothing may be sent to it any more.
    reaped: bool,
    started_at: Option<SystemTime>,
    exec_error: Option<String>,
}

/// A point-in-time view of a container, for State.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    pub pid: u32,
    pub exit: Option<ExitStatus>,
    pub created_at: SystemTime,
    pub started_at: Option<SystemTime>,
}

pub struct Container {
    pub config: ContainerConfig,
    pub dir: PathBuf,
    pub created_at: SystemTime,
    hub: Arc<OutputHub>,
    state: Mutex<State>,
    exit: watch::Sender<Option<ExitStatus>>,
    /// Held by Start for its whole run, and taken by the exit path before it
    /// publishes: an exit during Start then carries Start's exec error.
    start_lock: tokio::sync::Mutex<()>,
    stdin: Option<Stdin>,
    pty: Option<Arc<AsyncIoFd>>,
    cgroup: Mutex<Option<ContainerCgroup>>,
    oom_seen: Arc<AtomicBool>,
    oom_watch: Option<tokio::task::JoinHandle<()>>,
    /// What the init runs on until it execs (it shares the shim's memory).
    init_memory: Mutex<Option<InitMemory>>,
    /// The holder of its namespaces, until it has exited (see [`Holder`]).
    holder: Mutex<Option<Holder>>,
    /// Its exec'd processes, in the order they were added.
    execs: Mutex<Vec<Arc<Exec>>>,
    /// One Pause at a time (it awaits while the kernel freezes).
    freeze_lock: tokio::sync::Mutex<()>,
}

impl Container {
    /// Starts the init in its namespaces and the readers of its output. The
    /// command itself is not run until [`Container::start`]. `created_at`
    /// is kept from an earlier run of the same container (docker's `start`
    /// of an exited one), else now.
    pub fn create(
        mut config: ContainerConfig,
        dir: &Path,
        created_at: Option<SystemTime>,
    ) -> Result<Arc<Self>> {
        setup::layers_mount_point(&mut config, dir)?;
        let mut spec = spec::resolve(&config)?;
        spec::apply(&spec, &mut config)?;
        config.validate()?;
        spec.set_hostname(Some(config.hostname.clone()));
        let root = match &config.root {
            Some(r) => {
                let mut r = r.clone();
                r.overlay = config
                    .layers
                    .as_ref()
                    .map(|l| (l.lower.clone(), l.upper.clone(), l.work.clone()));
                r.workdir = Some(config.cwd.clone());
                if config.bundle.is_none() {
                    r.mounts.extend(etc::files(&config, dir)?);
                }
                Some(RootPlan::new(&r)?)
            }
            None => None,
        };
        // Limits are in place, and the init in the cgroup, before Create
        // returns and so before the command can run: it only ever runs
        // constrained. v2: the clone is born into the directory, which must
        // exist first. v1: the cgroup is made while the init creates its
        // namespaces and mounts, and the init joins it after.
        let early = if cgroup::unified() {
            Some(setup::make_v2(&config)?)
        } else {
            None
        };
        let (early, join) = match early {
            Some((cg, dir, path)) => (Some(cg), JoinAt::Dir { dir, path }),
            None => (None, JoinAt::Later),
        };
        let (init, command, opened) = match Self::spawn_parts(&config, dir, &join, root) {
            Ok(parts) => parts,
            Err(e) => {
                if let Some(cg) = &early {
                    let _ = cg.remove();
                }
                return Err(e);
            }
        };
        let made = match early {
            Some(cg) => Ok((cg, Vec::new())),
            None => setup::make_v1(&config),
        };
        let (cgroup, dirs) = match made {
            Ok(made) => made,
            Err(e) => {
                init.setup.end();
                return Err(e);
            }
        };
        // The devices it may open: while the init sets itself up (before
        // it joins, on v1: its own set-up is the longer), and before Create
        // returns, so before the command runs.
        if !config.privileged {
            let v2_dir = match &join {
                JoinAt::Dir { dir, .. } => Some(dir),
                JoinAt::Later => None,
            };
            if let Err(e) = cgroup.restrict_devices(v2_dir, &config.device_rules) {
                init.setup.end();
                let _ = cgroup.remove();
                return Err(e.into());
            }
        }
        if let Err(e) = init.proceed(&dirs) {
            // Either it died before hearing it (its namespaces failed), and
            // its report says why, or it still waits and will not be used.
            let err = init.setup.end().unwrap_or(e);
            let _ = cgroup.remove();
            return Err(err.into());
        }
        if config.hooks.at_create() {
            if let Err(e) = setup::create_hooks(&config, dir, &init) {
                init.setup.end();
                let _ = cgroup.remove();
                return Err(e);
            }
        }
        tracing::info!(pid = init.pid.as_raw(), cgroup = %cgroup.path, "init created");
        let oom_seen = Arc::new(AtomicBool::new(false));
        let oom_watch = cgroup.watch_oom(oom_seen.clone(), init.pid.as_raw());
        tracing::debug!(watching = oom_watch.is_some(), "oom watch");
        if oom_watch.is_some() && config.limits.memory_limit_bytes > 0 {
            if let Err(e) = cgroup.disable_oom_killer() {
                tracing::warn!(error = %e, "the kernel's OOM killer stays on");
            }
        }
        // A run again puts its records back itself if it fails.
        let first = created_at.is_none();
        let created_at = created_at.unwrap_or_else(SystemTime::now);
        let written = records::write_config(dir, &config, cgroup.path.clone(), created_at)
            .and_then(|_| records::write_state(dir, Phase::Created, init.pid, None))
            .and_then(|_| spec::save(&spec, dir).map(drop));
        // The init set itself up meanwhile (mounts, hostname, its terminal,
        // capabilities). Nothing above awaited, so its pid is still ours to
        // reap on failure.
        let undo = |cgroup: ContainerCgroup| {
            if let Some(w) = &oom_watch {
                w.abort();
            }
            if let Err(e) = cgroup.remove() {
                tracing::error!(error = %e, "removing the cgroup failed");
            }
            if first {
                records::forget(dir);
            }
        };
        let (streams, holder) = match init.setup.wait() {
            Ok(ready) => (
                written.and_then(|_| Ok(opened.start(ready.master)?)),
                ready.holder,
            ),
            Err(e) => {
                undo(cgroup);
                return Err(e.into());
            }
        };
        let streams = match streams {
            Ok(s) => s,
            Err(e) => {
                // Set up and waiting for its command, which it will not get;
                // the reaper reaps it.
                let _ = signal::send(init.pid, libc::SIGKILL);
                undo(cgroup);
                return Err(e);
            }
        };
        Ok(Arc::new(Self {
            config,
            dir: dir.to_path_buf(),
            created_at,
            hub: streams.hub,
            state: Mutex::new(State {
                status: Status::Created,
                pid: init.pid,
                waiting: Some(Waiting::new(init.cmd, init.status, command)),
                start_requested: false,
                reaped: false,
                started_at: None,
                exec_error: None,
            }),
            exit: watch::Sender::new(None),
            start_lock: tokio::sync::Mutex::new(()),
            stdin: streams.stdin,
            pty: streams.pty,
            cgroup: Mutex::new(Some(cgroup)),
            oom_seen,
            oom_watch,
            init_memory: Mutex::new(init.memory),
            holder: Mutex::new(holder),
            execs: Mutex::new(Vec::new()),
            freeze_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// The init, and the command it will be sent, and its streams (started
    /// once it is set up). On error nothing is left running: an init
    /// already cloned exits when its command pipe closes unread.
    fn spawn_parts(
        config: &ContainerConfig,
        dir: &Path,
        join: &JoinAt,
        root: Option<RootPlan>,
    ) -> Result<(SpawnedInit, Vec<u8>, streams::Opened)> {
        let extras =
            Extras::new(&config.sysctls, &config.devices, config.oom_score_adj).map_err(invalid)?;
        let (ends, opened) = streams::open(&config.streams(), Some(&dir.join(state::LOG_FILE)))?;
        let (command, envc) = init::encode_with(
            &config.argv,
            &config.env,
            &config.cwd,
            &config.hostname,
            config.bundle.is_none(),
        )?;
        let terminal = config.tty.then(|| config.terminal_size.unwrap_or((24, 80)));
        let plan = InitPlan::new(
            &config.hostname,
            config.privileged,
            terminal,
            matches!(join, JoinAt::Dir { .. }),
            command.len(),
            config.argv.len(),
            envc,
        )?
        .with_root(root)
        .with_identity(config.identity.clone())
        .with_paths(&config.masked_paths, &config.readonly_paths)?
        .with_netns(config.netns.as_deref())?
        .with_extras(extras)
        .with_hooks_pause(config.hooks.at_create())
        .with_start_hooks(hooks::for_init(&config.hooks.start_container)?);
        let stdio = ChildStdio {
            stdin: ends.stdin,
            stdout: ends.stdout,
            stderr: ends.stderr,
        };
        let mut init = spawn::spawn_init(stdio, join, plan)?;
        if let Some(fd) = init.hook_state.take() {
            // What its startContainer hooks read, now that its pid is
            // known; the init has its own copy of the memfd.
            let bundle = config.bundle.as_deref().unwrap_or(dir);
            let state = hooks::state(
                &config.id,
                "created",
                Some(init.pid),
                bundle,
                &config.annotations,
            );
            if let Err(e) = std::io::Write::write_all(&mut std::fs::File::from(fd), &state) {
                init.setup.end();
                return Err(ContainerError::Sys {
                    what: "write the startContainer hooks' state",
                    source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                });
            }
        }
        Ok((init, command, opened))
    }

    /// The state its hooks read, in this status.
    fn hook_state(&self, status: &str, pid: Option<Pid>) -> Vec<u8> {
        let bundle = self.config.bundle.as_deref().unwrap_or(&self.dir);
        hooks::state(self.id(), status, pid, bundle, &self.config.annotations)
    }

    /// The poststop hooks, once it is removed (their failures are logged).
    pub fn poststop(&self) {
        let state = self.hook_state("stopped", None);
        hooks::run_logged("poststop", &self.config.hooks.poststop, &state);
    }

    /// Removes the cgroup (killing what is left in it), once.
    pub fn remove_cgroup(&self) {
        if let Some(w) = &self.oom_watch {
            w.abort();
        }
        // A frozen one is thawed by the removal (cgroupfs::remove_dir).
        if let Some(cg) = self.cgroup.lock().unwrap().take() {
            if let Err(e) = cg.remove() {
                tracing::error!(error = %e, "removing the cgroup failed");
            }
        }
    }

    pub fn stats(&self) -> Result<Stats> {
        self.cgroup
            .lock()
            .unwrap()
            .as_ref()
            .map(|c| c.stats())
            .ok_or(ContainerError::NoCgroup)
    }

    /// Changes the limits of a created or running container.
    pub fn update(&self, limits: &Limits) -> Result<()> {
        if !limits.cgroup_parent.is_empty() {
            return Err(invalid("the cgroup parent of a container cannot change"));
        }
        if self.status() == Status::Exited {
            return Err(ContainerError::NotRunning(self.id().into()));
        }
        cgroup::check(limits)?;
        match self.cgroup.lock().unwrap().as_ref() {
            Some(cg) => cg.apply(limits)?,
            None => return Err(ContainerError::NotRunning(self.id().into())),
        }
        records::update_limits(&self.dir, limits)
    }

    pub fn cgroup_path(&self) -> String {
        self.cgroup
            .lock()
            .unwrap()
            .as_ref()
            .map(|c| c.path.clone())
            .unwrap_or_default()
    }

    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Registers an exec (`exec_id` empty: one is made) in a running
    /// container.
    pub fn add_exec(&self, exec_id: String, config: ExecConfig) -> Result<Arc<Exec>> {
        match self.status() {
            Status::Running => {}
            Status::Paused => return Err(ContainerError::Paused(self.id().into())),
            _ => return Err(ContainerError::NotRunning(self.id().into())),
        }
        let exec_id = match exec_id.is_empty() {
            true => exec::new_id()?,
            false if mydocker::id::is_valid_id(&exec_id) => exec_id,
            false => {
                return Err(invalid(format!(
                    "invalid exec id {}: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 bytes",
                    mydocker::brief(&exec_id)
                )))
            }
        };
        let mut execs = self.execs.lock().unwrap();
        if execs.iter().any(|e| e.id == exec_id) {
            return Err(ContainerError::ExecExists(exec_id));
        }
        // Bounded, as docker forgets its execs: past the bound the oldest
        // that have exited go; none has, and the caller is told.
        while execs.len() >= exec::MAX_EXECS {
            match execs
                .iter()
                .position(|e| matches!(e.deletable(), Ok(Some(_))))
            {
                Some(i) => {
                    execs.remove(i);
                }
                None => return Err(ContainerError::TooManyExecs(exec::MAX_EXECS)),
            }
        }
        let e = Exec::new(exec_id, config)?;
        execs.push(e.clone());
        Ok(e)
    }

    pub fn exec(&self, exec_id: &str) -> Result<Arc<Exec>> {
        self.execs
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.id == exec_id)
            .cloned()
            .ok_or_else(|| ContainerError::NoSuchExec(exec_id.into()))
    }

    /// Forgets an exec that has exited or never started: its status, if
    /// it had one.
    pub fn delete_exec(&self, exec_id: &str) -> Result<Option<crate::exit::ExitStatus>> {
        let mut execs = self.execs.lock().unwrap();
        let i = execs
            .iter()
            .position(|e| e.id == exec_id)
            .ok_or_else(|| ContainerError::NoSuchExec(exec_id.into()))?;
        let status = execs[i].deletable()?;
        execs.remove(i);
        Ok(status)
    }

    pub fn execs(&self) -> Vec<Arc<Exec>> {
        self.execs.lock().unwrap().clone()
    }

    /// What `exec` starts with: refused unless the container runs.
    pub fn launch(&self, exec: &Exec) -> Result<Launch> {
        if !exec.is_created() {
            return Err(ContainerError::ExecAlreadyStarted(exec.id.clone()));
        }
        let pid = {
            let s = self.state.lock().unwrap();
            if s.status == Status::Paused && !s.reaped {
                return Err(ContainerError::Paused(self.id().into()));
            }
            if s.status != Status::Running || s.reaped {
                return Err(ContainerError::NotRunning(self.id().into()));
            }
            s.pid
        };
        match self.cgroup.lock().unwrap().as_ref() {
            Some(cg) => exec::launch(&self.config, pid, cg, exec),
            None => Err(ContainerError::NotRunning(self.id().into())),
        }
    }

    pub fn pid(&self) -> Pid {
        self.state.lock().unwrap().pid
    }

    pub fn status(&self) -> Status {
        self.state.lock().unwrap().status
    }

    pub fn snapshot(&self) -> Snapshot {
        let s = self.state.lock().unwrap();
        Snapshot {
            status: s.status,
            pid: if s.status == Status::Exited {
                0
            } else {
                s.pid.as_raw() as u32
            },
            exit: self.exit.borrow().clone(),
            created_at: self.created_at,
            started_at: s.started_at,
        }
    }

    /// Registers an attacher for the output (see
    /// [`OutputHub::attach`]).
    pub fn attach(&self, replay: bool) -> Attacher {
        self.hub.attach(replay)
    }

    pub fn detach(&self, attacher: u64) {
        self.hub.detach(attacher)
    }

    /// Sends the init its command and returns once the command is executing,
    /// or fails with why it could not be.
    pub async fn start(&self) -> Result<Pid> {
        let _guard = self.start_lock.lock().await;
        let (waiting, pid) = {
            let mut s = self.state.lock().unwrap();
            // Started and since exited is "already started", not "exited
            // before it was started".
            if s.start_requested {
                return Err(ContainerError::AlreadyStarted(self.id().into()));
            }
            if s.status == Status::Exited {
                // Its set-up failed after Create returned, and it said why.
                if let Some(why) = &s.exec_error {
                    return Err(ContainerError::ExecFailed(why.clone()));
                }
                return Err(ContainerError::ExitedBeforeStart(self.id().into()));
            }
            s.start_requested = true;
            let waiting = s.waiting.take().expect("the init waits until Start");
            (waiting, s.pid)
        };
        let failure = match waiting.exec().await {
            Ok(()) => {
                if let Some(m) = self.init_memory.lock().unwrap().take() {
                    m.exec_done();
                }
                let now = SystemTime::now();
                {
                    let mut s = self.state.lock().unwrap();
                    s.status = Status::Running;
                    s.started_at = Some(now);
                }
                if let Err(e) = records::write_state(&self.dir, Phase::Running, pid, Some(now)) {
                    // The command runs; only the record of it failed.
                    tracing::error!(error = %e, "recording the start failed");
                }
                tracing::info!(pid = pid.as_raw(), "started");
                if !self.config.hooks.poststart.is_empty() {
                    let state = self.hook_state("running", Some(pid));
                    hooks::run_logged("poststart", &self.config.hooks.poststart, &state);
                }
                return Ok(pid);
            }
            Err(ExecError::Gone) => {
                return Err(ContainerError::ExitedBeforeStart(self.id().into()))
            }
            Err(ExecError::Failed(r)) => {
                let c = &self.config;
                describe_with(&r, &c.argv, &c.env, &c.cwd, &c.names()).1
            }
            Err(e @ ExecError::Garbled(_)) => e.to_string(),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(error = %failure, "command could not be executed");
        self.state.lock().unwrap().exec_error = Some(failure.clone());
        Err(ContainerError::ExecFailed(failure))
    }

    /// Whether Start was asked for (whether or not the command ran).
    pub fn start_attempted(&self) -> bool {
        self.state.lock().unwrap().start_requested
    }

    /// Whether its command was executed (Start succeeded).
    pub fn ran(&self) -> bool {
        self.state.lock().unwrap().started_at.is_some()
    }

    /// Publishes the exit once Start is done and every byte of output has
    /// been handed on.
    async fn on_init_exit(&self, ws: WaitStatus) {
        let at = SystemTime::now();
        let _guard = self.start_lock.lock().await;
        if !self.hub.drained_after_exit().await {
            tracing::warn!("output did not reach EOF after the exit");
        }
        let Some(mut status) = ExitStatus::from_wait(ws, at) else {
            return;
        };
        let ran = {
            let mut s = self.state.lock().unwrap();
            s.status = Status::Exited;
            // Never started: the end of its set-up (after Create returned)
            // may have failed, and it said why.
            if let Some(r) = s.waiting.take().and_then(|w| w.report_of_gone()) {
                let c = &self.config;
                s.exec_error.get_or_insert_with(|| {
                    describe_with(&r, &c.argv, &c.env, &c.cwd, &c.names()).1
                });
            }
            status.error = s.exec_error.clone();
            s.started_at.is_some()
        };
        // The counter is the kernel's own record; the watcher covers kernels
        // whose v1 memory.oom_control has no oom_kill line.
        let kills = self
            .cgroup
            .lock()
            .unwrap()
            .as_ref()
            .map(|c| c.oom_kills())
            .unwrap_or(0);
        status.oom_killed = kills > 0 || self.oom_seen.load(Ordering::SeqCst);
        tracing::info!(code = status.code, signal = status.signal, "exited");
        // On disk before anyone is told, so that the status outlives us;
        // unless the records are about to go with the container.
        if !(self.config.auto_remove && ran) {
            if let Err(e) = records::write_exit(&self.dir, &status) {
                tracing::error!(error = %e, "recording the exit failed");
            }
        }
        self.hub.finish(&status);
        self.exit.send_replace(Some(status));
        // Now, not before: the namespaces go down with it, elsewhere.
        drop(self.holder.lock().unwrap().take());
    }

    /// Waits for the exit.
    pub async fn wait(&self) -> ExitStatus {
        let mut rx = self.exit.subscribe();
        // The sender lives in self, which the caller holds: it cannot close.
        let status = rx
            .wait_for(|s| s.is_some())
            .await
            .expect("exit channel open")
            .clone();
        status.expect("is_some")
    }

    /// Signals PID 1, or every process of the container.
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        let sig =
            signal::number(signal).ok_or_else(|| invalid(format!("invalid signal {signal}")))?;
        // The runtime is single-threaded and the reaper marks `reaped` in the
        // same synchronous step as its waitpid: between this check and the
        // kill below, the pid cannot have been reaped and reused.
        let s = self.state.lock().unwrap();
        if s.status == Status::Exited || s.reaped {
            return Err(ContainerError::NotRunning(self.id().into()));
        }
        let pid = s.pid;
        let paused = s.status == Status::Paused;
        if all {
            for p in signal::namespace_members(pid) {
                let _ = signal::send(p, sig);
            }
        }
        let sent = match signal::send(pid, sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(source) => Err(ContainerError::Sys {
                what: "kill",
                source,
            }),
        };
        drop(s);
        if paused && sent.is_ok() {
            // Thawed after the signal, as docker does, so that it is acted
            // on (a frozen task sits on even a SIGKILL).
            self.resume()?;
        }
        sent
    }

    /// Pause: freezes every process of a running container, once the
    /// kernel says all are frozen (polled, the runtime free meanwhile).
    pub async fn pause(&self) -> Result<()> {
        let _one = self.freeze_lock.lock().await;
        let freezer = {
            let s = self.state.lock().unwrap();
            match s.status {
                Status::Running if !s.reaped => {}
                Status::Paused => return Err(ContainerError::AlreadyPaused(self.id().into())),
                _ => return Err(ContainerError::NotRunning(self.id().into())),
            }
            match self.cgroup.lock().unwrap().as_ref() {
                Some(cg) => cg.freezer()?,
                None => return Err(ContainerError::NotRunning(self.id().into())),
            }
        };
        freezer.ask(true)?;
        const PATIENCE: u64 = 5;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(PATIENCE);
        let mut nap = Duration::from_micros(200);
        while !freezer.frozen() {
            if tokio::time::Instant::now() >= deadline {
                // Half frozen helps nobody: thawed, as it was.
                let _ = freezer.ask(false);
                return Err(freezer.too_slow(PATIENCE).into());
            }
            tokio::time::sleep(nap).await;
            nap = (nap * 2).min(Duration::from_millis(20));
        }
        let mut s = self.state.lock().unwrap();
        if s.status != Status::Running {
            // It exited meanwhile.
            let _ = freezer.ask(false);
            return Err(ContainerError::NotRunning(self.id().into()));
        }
        s.status = Status::Paused;
        self.record_phase(&s, Phase::Paused);
        Ok(())
    }

    /// Resume (and a Kill of a paused container): thaws it.
    pub fn resume(&self) -> Result<()> {
        let mut s = self.state.lock().unwrap();
        if s.status != Status::Paused {
            return Err(match s.status {
                Status::Running => ContainerError::NotPaused(self.id().into()),
                _ => ContainerError::NotRunning(self.id().into()),
            });
        }
        match self.cgroup.lock().unwrap().as_ref() {
            Some(cg) => cg.freezer()?.ask(false)?,
            None => return Err(ContainerError::NotRunning(self.id().into())),
        }
        s.status = Status::Running;
        self.record_phase(&s, Phase::Running);
        Ok(())
    }

    fn record_phase(&self, s: &State, phase: Phase) {
        if let Err(e) = records::write_state(&self.dir, phase, s.pid, s.started_at) {
            tracing::error!(error = %e, "recording the pause failed");
        }
        tracing::info!(?phase, "freezer");
    }

    /// Kills whatever is left and waits for the exit to be recorded.
    pub async fn kill_and_wait(&self) -> ExitStatus {
        if self.status() != Status::Exited {
            let _ = self.kill(libc::SIGKILL, false);
        }
        self.wait().await
    }

    pub async fn write_stdin(&self, op: StdinOp) -> Result<()> {
        match &self.stdin {
            Some(s) => Ok(s.send(op).await?),
            None => Err(IoError::NoStdin.into()),
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        exec::resize_pty(self.pty.as_deref(), rows, cols)
    }
}

impl Reaped for Container {
    fn reaped(self: Arc<Self>, ws: WaitStatus) {
        // Before anything else runs: from now on the pid is not ours to
        // signal.
        self.state.lock().unwrap().reaped = true;
        if let Some(w) = &self.oom_watch {
            w.abort();
        }
        tokio::spawn(async move { self.on_init_exit(ws).await });
    }
}
