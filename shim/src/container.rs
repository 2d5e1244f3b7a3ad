//! The container: its configuration, its lifecycle (Created -> Running ->
//! Exited), and the single path by which an exit becomes known.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::BytesMut;
use nix::fcntl::OFlag;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use tokio::sync::watch;

use mydocker::state::{self, ConfigRecord, ExitRecord, Phase, StateError, StateRecord};

use crate::cgroup::{self, ContainerCgroup, JoinAt};
use crate::init::{self, InitPlan};
use crate::io::{self, AsyncIoFd, LogWriter, OutputHub, Stdin, StreamKind};
use crate::relay::{self, Report};
use crate::spawn::{self, ChildStdio};
use crate::ttyout;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("container {0} is already started")]
    AlreadyStarted(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is running: stop it first")]
    StillRunning(String),
    #[error("container {0} exited before it was started")]
    ExitedBeforeStart(String),
    #[error("{0}")]
    ExecFailed(String),
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    #[error(transparent)]
    Spawn(#[from] spawn::SpawnError),
    #[error(transparent)]
    Io(#[from] io::IoError),
    #[error("init relay: {0}")]
    Relay(#[from] relay::RelayError),
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::errno::Errno,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument(msg.into())
}

pub use mydocker::units::Limits;

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
        if nul(&self.cwd) {
            return Err(invalid("the working directory contains a NUL byte"));
        }
        if !self.cwd.is_empty() && !self.cwd.starts_with('/') {
            return Err(invalid(format!(
                "working directory {} is not absolute",
                mydocker::brief(&self.cwd)
            )));
        }
        if self.hostname.is_empty() {
            // A full 64-hex id is exactly the kernel's 64-byte limit.
            self.hostname = self.id.clone();
        }
        if self.hostname.len() > 64 || nul(&self.hostname) || self.hostname.contains('/') {
            return Err(invalid(format!(
                "hostname {} is invalid (at most 64 bytes, no `/`)",
                mydocker::brief(&self.hostname)
            )));
        }
        cgroup::check(&self.limits).map_err(|e| invalid(e.to_string()))?;
        if let Some((rows, cols)) = self.terminal_size {
            if rows == 0 || cols == 0 {
                self.terminal_size = None;
            }
        }
        Ok(())
    }
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitStatus {
    /// As a shell reports it: the code, or 128 + signal.
    pub code: i32,
    /// The terminating signal, 0 if none.
    pub signal: i32,
    pub at: SystemTime,
    pub oom_killed: bool,
    /// Why the command could not be executed, when it could not.
    pub error: Option<String>,
}

impl ExitStatus {
    pub fn from_wait(ws: WaitStatus, at: SystemTime) -> Option<Self> {
        let (code, signal) = match ws {
            WaitStatus::Exited(_, code) => (code, 0),
            WaitStatus::Signaled(_, sig, _) => (128 + sig as i32, sig as i32),
            _ => return None,
        };
        Some(Self {
            code,
            signal,
            at,
            oom_killed: false,
            error: None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Exited,
}

struct State {
    status: Status,
    pid: Pid,
    /// The init's command and status pipes and the command to send it,
    /// until Start takes them.
    pipes: Option<(OwnedFd, OwnedFd, Vec<u8>)>,
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
    pub hub: Arc<OutputHub>,
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
    init_memory: Mutex<Option<spawn::InitMemory>>,
}

impl Container {
    /// Starts the init in its namespaces and the readers of its output. The
    /// command itself is not run until [`Container::start`].
    pub fn create(mut config: ContainerConfig, dir: &Path) -> Result<Arc<Self>> {
        config.validate()?;
        cgroup::check(&config.limits)?;
        // Limits are in place, and the init in the cgroup, before Create
        // returns and so before the command can run: it only ever runs
        // constrained. v2: the clone is born into the directory, which must
        // exist first. v1: the cgroup is made while the init creates its
        // namespaces and mounts, and the init joins it after.
        let early = if cgroup::unified() {
            let cg = ContainerCgroup::load(&config.id, &config.limits)?;
            cg.make(&config.limits)?;
            Some(cg)
        } else {
            None
        };
        let parts = match &early {
            Some(cg) => cg.join_at().map_err(ContainerError::from),
            None => Ok(JoinAt::Later),
        }
        .and_then(|join| Self::spawn_parts(&config, dir, &join));
        let (init, command, stdin, pty, hub) = match parts {
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
            None => ContainerCgroup::load(&config.id, &config.limits)
                .and_then(|cg| cg.make(&config.limits).map(|files| (cg, files))),
        };
        let (cgroup, tasks) = match made {
            Ok(made) => made,
            Err(e) => {
                init.setup.end();
                return Err(e.into());
            }
        };
        if let Err(e) = init.proceed(&tasks) {
            // Either it died before hearing it (its namespaces failed), and
            // its report says why, or it still waits and will not be used.
            let err = init.setup.end().unwrap_or(e);
            let _ = cgroup.remove();
            return Err(err.into());
        }
        tracing::info!(pid = init.pid.as_raw(), cgroup = %cgroup.path, "init created");
        let setup = init.setup;
        let oom_seen = Arc::new(AtomicBool::new(false));
        let oom_watch = cgroup.watch_oom(oom_seen.clone(), init.pid.as_raw());
        tracing::debug!(watching = oom_watch.is_some(), "oom watch");
        if oom_watch.is_some() && config.limits.memory_limit_bytes > 0 {
            if let Err(e) = cgroup.disable_oom_killer() {
                tracing::warn!(error = %e, "the kernel's OOM killer stays on");
            }
        }
        let created_at = SystemTime::now();
        let c = Arc::new(Self {
            config,
            dir: dir.to_path_buf(),
            created_at,
            hub,
            state: Mutex::new(State {
                status: Status::Created,
                pid: init.pid,
                pipes: Some((init.cmd, init.status, command)),
                start_requested: false,
                reaped: false,
                started_at: None,
                exec_error: None,
            }),
            exit: watch::Sender::new(None),
            start_lock: tokio::sync::Mutex::new(()),
            stdin,
            pty,
            cgroup: Mutex::new(Some(cgroup)),
            oom_seen,
            oom_watch,
            init_memory: Mutex::new(init.memory),
        });
        let written = c
            .write_config(created_at)
            .and_then(|_| c.write_state(Phase::Created, None));
        // The init set itself up meanwhile (mounts, hostname, capabilities).
        // Nothing above awaited, so its pid is still ours to reap on failure.
        if let Err(e) = setup.wait() {
            c.remove_cgroup();
            c.forget_records();
            return Err(e.into());
        }
        if let Err(e) = written {
            let _ = c.kill(libc::SIGKILL, false);
            c.remove_cgroup();
            c.forget_records();
            return Err(e);
        }
        Ok(c)
    }

    /// A Create that failed leaves no record claiming a container.
    fn forget_records(&self) {
        for f in [state::CONFIG_FILE, state::STATE_FILE] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
    }

    /// The streams, the init, and the command it will be sent. On error
    /// nothing is left running: an init already cloned exits when its
    /// command pipe closes unread.
    #[allow(clippy::type_complexity)]
    fn spawn_parts(
        config: &ContainerConfig,
        dir: &Path,
        join: &JoinAt,
    ) -> Result<(
        spawn::SpawnedInit,
        Vec<u8>,
        Option<Stdin>,
        Option<Arc<AsyncIoFd>>,
        Arc<OutputHub>,
    )> {
        let log =
            LogWriter::open(&dir.join(state::LOG_FILE)).map_err(|source| io::IoError::Sys {
                what: "open container log",
                source,
            })?;
        let hub = Arc::new(OutputHub::new(Some(log)));
        let (command, envc) =
            init::encode(&config.argv, &config.env, &config.cwd, &config.hostname)?;
        let plan = InitPlan::new(
            &config.hostname,
            config.privileged,
            command.len(),
            config.argv.len(),
            envc,
        )?;
        let (init, stdin, pty) = if config.tty {
            let (master, slave) = open_pty(config.terminal_size)?;
            let stdio = ChildStdio {
                stdin: dup(&slave)?,
                stdout: dup(&slave)?,
                stderr: slave,
                controlling_tty: true,
            };
            let init = spawn::spawn_init(stdio, join, plan)?;
            // Written to by the runtime (stdin), read by the pump's thread.
            let master = Arc::new(AsyncIoFd::with_interest(
                master,
                tokio::io::Interest::WRITABLE,
            )?);
            ttyout::spawn_reader(hub.clone(), master.clone(), StreamKind::Stdout);
            (init, Some(Stdin::spawn(master.clone(), true)), Some(master))
        } else {
            let (in_r, in_w) = if config.stdin {
                let (r, w) = pipe()?;
                (r, Some(w))
            } else {
                (dev_null()?, None)
            };
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            let stdio = ChildStdio {
                stdin: in_r,
                stdout: out_w,
                stderr: err_w,
                controlling_tty: false,
            };
            let init = spawn::spawn_init(stdio, join, plan)?;
            io::spawn_pump(
                hub.clone(),
                Arc::new(AsyncIoFd::new(out_r)?),
                StreamKind::Stdout,
            );
            io::spawn_pump(
                hub.clone(),
                Arc::new(AsyncIoFd::new(err_r)?),
                StreamKind::Stderr,
            );
            let stdin = match in_w {
                Some(w) => Some(Stdin::spawn(Arc::new(AsyncIoFd::new(w)?), false)),
                None => None,
            };
            (init, stdin, None)
        };
        Ok((init, command, stdin, pty, hub))
    }

    /// Removes the cgroup (killing what is left in it), once.
    pub fn remove_cgroup(&self) {
        if let Some(w) = &self.oom_watch {
            w.abort();
        }
        if let Some(cg) = self.cgroup.lock().unwrap().take() {
            if let Err(e) = cg.remove() {
                tracing::error!(error = %e, "removing the cgroup failed");
            }
        }
    }

    pub fn stats(&self) -> Option<cgroup::Stats> {
        self.cgroup.lock().unwrap().as_ref().map(|c| c.stats())
    }

    /// Changes the limits of a created or running container.
    pub fn update(&self, limits: &Limits) -> Result<()> {
        if self.status() == Status::Exited {
            return Err(ContainerError::NotRunning(self.id().into()));
        }
        cgroup::check(limits)?;
        match self.cgroup.lock().unwrap().as_ref() {
            Some(cg) => Ok(cg.apply(limits)?),
            None => Err(ContainerError::NotRunning(self.id().into())),
        }
    }

    pub fn cgroup_path(&self) -> String {
        self.cgroup
            .lock()
            .unwrap()
            .as_ref()
            .map(|c| c.path.clone())
            .unwrap_or_default()
    }

    fn write_config(&self, created_at: SystemTime) -> Result<()> {
        let c = &self.config;
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
            cgroup: self.cgroup_path(),
            privileged: c.privileged,
            auto_remove: c.auto_remove,
            created_at: nanos(created_at),
        };
        Ok(state::write_json(
            &self.dir.join(state::CONFIG_FILE),
            &record,
        )?)
    }

    fn write_state(&self, phase: Phase, started_at: Option<SystemTime>) -> Result<()> {
        let record = StateRecord {
            phase,
            pid: self.pid().as_raw(),
            shim_pid: std::process::id() as i32,
            started_at: started_at.map(nanos).unwrap_or(0),
        };
        Ok(state::write_json(
            &self.dir.join(state::STATE_FILE),
            &record,
        )?)
    }

    pub fn id(&self) -> &str {
        &self.config.id
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

    /// Sends the init its command and returns once the command is executing,
    /// or fails with why it could not be.
    pub async fn start(&self) -> Result<Pid> {
        let _guard = self.start_lock.lock().await;
        let (cmd, status, frame, pid) = {
            let mut s = self.state.lock().unwrap();
            // Started and since exited is "already started", not "exited
            // before it was started".
            if s.start_requested {
                return Err(ContainerError::AlreadyStarted(self.id().into()));
            }
            if s.status == Status::Exited {
                return Err(ContainerError::ExitedBeforeStart(self.id().into()));
            }
            s.start_requested = true;
            let (cmd, status, frame) = s.pipes.take().expect("pipes are kept until Start");
            (cmd, status, frame, s.pid)
        };
        let cmd = AsyncIoFd::new(cmd)?;
        if let Err(e) = cmd.write_all(&frame).await {
            tracing::warn!(error = %e, "sending the command to init failed");
            return Err(ContainerError::ExitedBeforeStart(self.id().into()));
        }
        drop(cmd);
        // The status pipe is close-on-exec in the init: EOF with nothing
        // read means the exec succeeded.
        let status = AsyncIoFd::new(status)?;
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            // A full buffer would read 0 bytes, which looks like EOF.
            buf.reserve(4096);
            let n = status
                .read(&mut buf)
                .await
                .map_err(|source| io::IoError::Sys {
                    what: "read init status",
                    source,
                })?;
            // Anything past one report is not the init's.
            if n == 0 || buf.len() > Report::SIZE {
                break;
            }
        }
        if buf.is_empty() {
            if let Some(m) = self.init_memory.lock().unwrap().take() {
                m.exec_done();
            }
            let now = SystemTime::now();
            {
                let mut s = self.state.lock().unwrap();
                s.status = Status::Running;
                s.started_at = Some(now);
            }
            if let Err(e) = self.write_state(Phase::Running, Some(now)) {
                // The command runs; only the record of it failed.
                tracing::error!(error = %e, "recording the start failed");
            }
            tracing::info!(pid = pid.as_raw(), "started");
            return Ok(pid);
        }
        let failure = match Report::decode(&buf) {
            Ok(r) => {
                let c = &self.config;
                init::describe(&r, &c.argv, &c.env, &c.cwd).1
            }
            Err(e) => format!("init failed: {e}"),
        };
        tracing::info!(error = %failure, "command could not be executed");
        self.state.lock().unwrap().exec_error = Some(failure.clone());
        Err(ContainerError::ExecFailed(failure))
    }

    /// Whether its command was executed (Start succeeded).
    pub fn ran(&self) -> bool {
        self.state.lock().unwrap().started_at.is_some()
    }

    /// Called by the reaper, synchronously, the moment the init is reaped.
    pub fn mark_reaped(&self) {
        self.state.lock().unwrap().reaped = true;
        if let Some(w) = &self.oom_watch {
            w.abort();
        }
    }

    /// Called by the reaper with the init's wait status. Publishes the exit
    /// once Start is done and every byte of output has been handed on.
    pub async fn on_init_exit(&self, ws: WaitStatus) {
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
            s.pipes = None;
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
            let record = ExitRecord {
                exit_code: status.code,
                signal: status.signal,
                oom_killed: status.oom_killed,
                error: status.error.clone().unwrap_or_default(),
                finished_at: nanos(status.at),
            };
            if let Err(e) = state::write_json(&self.dir.join(state::EXIT_FILE), &record) {
                tracing::error!(error = %e, "recording the exit failed");
            }
        }
        self.hub.finish(&status);
        self.exit.send_replace(Some(status));
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
        // Real-time signals too: 1 to SIGRTMAX, as the API says.
        let sig = match signal {
            0 => libc::SIGKILL,
            n if (1..=libc::SIGRTMAX()).contains(&n) => n,
            n => return Err(invalid(format!("invalid signal {n}"))),
        };
        // The runtime is single-threaded and the reaper marks `reaped` in the
        // same synchronous step as its waitpid: between this check and the
        // kill below, the pid cannot have been reaped and reused.
        let s = self.state.lock().unwrap();
        if s.status == Status::Exited || s.reaped {
            return Err(ContainerError::NotRunning(self.id().into()));
        }
        let pid = s.pid;
        if all {
            for p in namespace_members(pid) {
                let _ = signal_raw(p, sig);
            }
        }
        match signal_raw(pid, sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(source) => Err(ContainerError::Sys {
                what: "kill",
                source,
            }),
        }
    }

    /// Kills whatever is left and waits for the exit to be recorded.
    pub async fn kill_and_wait(&self) -> ExitStatus {
        if self.status() != Status::Exited {
            let _ = self.kill(libc::SIGKILL, false);
        }
        self.wait().await
    }

    pub async fn write_stdin(&self, op: io::StdinOp) -> Result<()> {
        match &self.stdin {
            Some(s) => Ok(s.send(op).await?),
            None => Err(io::IoError::NoStdin.into()),
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Err(invalid(format!(
                "invalid terminal size {rows}x{cols}: rows and cols must be 1 to 65535"
            )));
        }
        match &self.pty {
            Some(m) => Ok(io::resize(m, rows, cols)?),
            None => Err(io::IoError::NoTerminal.into()),
        }
    }
}

/// kill(2) with any signal number, real-time ones included.
fn signal_raw(pid: Pid, sig: i32) -> std::result::Result<(), nix::errno::Errno> {
    // SAFETY: kill(2) with integer arguments.
    if unsafe { libc::kill(pid.as_raw(), sig) } == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}

pub fn nanos(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Every process whose PID namespace is that of `init`, found through
/// /proc. SIGKILL to the init alone would do (the namespace dies with it),
/// but other signals must reach each process themselves.
fn namespace_members(init: Pid) -> Vec<Pid> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(target) = ns(&init.to_string()) else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| *p != init.as_raw() && ns(&p.to_string()).as_ref() == Some(&target))
        .map(Pid::from_raw)
        .collect()
}

fn sys(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> ContainerError {
    move |source| ContainerError::Sys { what, source }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    fd.try_clone()
        .map_err(|e| sys("dup")(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))))
}

fn dev_null() -> Result<OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| {
            sys("open /dev/null")(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        })
}

/// A PTY pair, both ends close-on-exec (the child gets the slave by dup2).
fn open_pty(size: Option<(u16, u16)>) -> Result<(OwnedFd, OwnedFd)> {
    use nix::pty::{grantpt, posix_openpt, unlockpt};
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(sys("open /dev/ptmx"))?;
    grantpt(&master).map_err(sys("grantpt"))?;
    unlockpt(&master).map_err(sys("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(sys("ptsname"))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open pty slave"))?;
    let master: OwnedFd = master.into();
    let (rows, cols) = size.unwrap_or((24, 80));
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a live struct.
    if unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::TIOCSWINSZ,
            &ws,
        )
    } < 0
    {
        return Err(sys("set terminal size")(nix::errno::Errno::last()));
    }
    Ok((master, slave))
}
