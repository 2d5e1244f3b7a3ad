//! A process that enters a running container: an exec.
//!
//! It is born in the container's PID namespace (the shim's thread sets its
//! own namespace for children to the container's for the clone, and back:
//! that setting is per thread, and nothing awaits in between), and on v2
//! in its cgroup (CLONE_INTO_CGROUP); on v1 it joins the cgroup first
//! thing, through each hierarchy's `tasks`, while the host's paths are
//! still in view. Then it enters the container's other namespaces through
//! the init's pidfd (its mount namespace makes the container's root its
//! own), makes its terminal in the container's devpts, takes the
//! container's identity (rlimits, capabilities, user, no_new_privs,
//! seccomp: identity.rs), finds its program, and says it is ready (with
//! the terminal's master) on its ack socket before it execs; an exec that
//! fails is a second report there, and EOF (the socket is close-on-exec)
//! means it runs. As the init, it makes only the raw system calls of
//! `sys.rs` from the clone to exec, on memory made before the clone.

use std::ffi::{c_char, CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;
use tokio::io::Interest;

use crate::fd::AsyncIoFd;

use super::clone::{raise, seqpacket_high, CloneArgs, CLONE_INTO_CGROUP, NO_CLONE3_ENV};
use super::error::{sys, SpawnError};
use super::identity::{self, Identity};
use super::lookup::{lookup, probe_exec, PATH_BUF};
use super::relay::Report;
use super::report::{fail, send, Fault, Step};
use super::spawn::{close_from, reset_signals, ChildStdio};
use super::sys as raw;
use super::terminal;

/// Where the exec'd process reports (the ack socket).
const ACK_FD: RawFd = 3;
/// Where the first stage holds the init's pidfd.
const INIT_FD: RawFd = 4;

/// The namespaces it enters after its birth in the PID namespace.
const ENTERED: libc::c_int = libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// Everything the process needs, made before the clone.
pub struct EnterPlan {
    /// Owns what `ptrs` points to.
    _strings: Vec<CString>,
    /// argv, NULL, envp, NULL.
    ptrs: Vec<*const c_char>,
    argc: usize,
    /// The PATH its program is looked up on.
    path: CString,
    cwd: CString,
    identity: Identity,
    last_cap: u32,
    terminal: Option<(u16, u16)>,
    /// The files it writes "0" to, to join its cgroup, unless it was born
    /// there: v1's `tasks` files, or v2's `cgroup.procs`.
    join: Vec<CString>,
    /// Set before the clone: CLONE_INTO_CGROUP put it in its cgroup.
    born_in_cgroup: bool,
    /// The container's oom_score_adj, as its text.
    oom_score_adj: Option<CString>,
}

impl EnterPlan {
    /// `argv` with `env`, in `cwd` (the program looked up on `path`), as
    /// `identity`; joining its cgroup through `join` when it cannot be
    /// born there. A string with a NUL byte is refused.
    pub fn new(
        argv: &[String],
        env: &[String],
        path: &str,
        cwd: &str,
        identity: Identity,
        terminal: Option<(u16, u16)>,
        join: Vec<CString>,
    ) -> std::result::Result<Self, super::relay::RelayError> {
        let c = |s: &str| CString::new(s).map_err(|_| super::relay::RelayError::InnerNul);
        let strings: Vec<CString> = argv
            .iter()
            .chain(env)
            .map(|s| c(s))
            .collect::<std::result::Result<_, _>>()?;
        let argc = argv.len();
        let mut ptrs: Vec<*const c_char> = Vec::with_capacity(strings.len() + 2);
        ptrs.extend(strings[..argc].iter().map(|s| s.as_ptr()));
        ptrs.push(std::ptr::null());
        ptrs.extend(strings[argc..].iter().map(|s| s.as_ptr()));
        ptrs.push(std::ptr::null());
        Ok(Self {
            _strings: strings,
            ptrs,
            argc,
            path: c(path)?,
            cwd: c(if cwd.is_empty() { "/" } else { cwd })?,
            identity,
            last_cap: super::harden::last_cap(),
            terminal,
            join,
            born_in_cgroup: false,
            oom_score_adj: None,
        })
    }

    /// With the container's oom_score_adj.
    pub fn with_oom_score_adj(mut self, adj: Option<i32>) -> Self {
        self.oom_score_adj = adj.and_then(|a| CString::new(a.to_string()).ok());
        self
    }
}

/// A pidfd of `pid` (Linux 5.3), through which a process enters its
/// namespaces.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new
    // descriptor, which is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// What the clone child gets.
struct ExecArgs {
    /// Its descriptors, and where it moves them.
    moves: [(RawFd, RawFd); 5],
    /// Where it reports until its descriptors are in place.
    ack: RawFd,
    plan: EnterPlan,
}

/// A process entering the container: its pid (in the shim's PID
/// namespace), and the socket it reports on.
pub struct SpawnedExec {
    pub pid: Pid,
    pub ack: OwnedFd,
}

/// Why no process came to be.
#[derive(Debug)]
pub enum EnterError {
    /// The first stage reported this step failing (its namespaces, its
    /// cgroup, the second clone).
    Report(Report),
    Spawn(SpawnError),
}

impl From<SpawnError> for EnterError {
    fn from(e: SpawnError) -> Self {
        Self::Spawn(e)
    }
}

/// Starts the process in the container of the init of `init` (a pidfd),
/// in two stages, as runc does: the first, cloned from the shim (on v2
/// into the cgroup `cgroup`, a directory), is not in the container's PID
/// namespace, so nothing in the container sees it while it holds the
/// host's namespaces and privileges: it places its descriptors (closing
/// every other of the shim's), joins the cgroup (v1), enters the init's
/// namespaces, and clones the second as the shim's child (CLONE_PARENT),
/// born in the container's PID namespace with everything joined already;
/// it reports the second's pid and exits. Blocks for the first stage's
/// few system calls; the second's word comes on `ack` ([`started`]).
pub fn spawn_exec(
    init: &OwnedFd,
    stdio: ChildStdio,
    plan: EnterPlan,
    cgroup: Option<&OwnedFd>,
) -> std::result::Result<SpawnedExec, EnterError> {
    let (ack_r, ack_w) = seqpacket_high()?;
    let stdin = raise(stdio.stdin)?;
    let stdout = raise(stdio.stdout)?;
    let stderr = raise(stdio.stderr)?;
    let init = raise(init.try_clone().map_err(|e| {
        sys("dup the init's pidfd")(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
    })?)?;
    let mut child = Box::new(ExecArgs {
        moves: [
            (stdin.as_raw_fd(), 0),
            (stdout.as_raw_fd(), 1),
            (stderr.as_raw_fd(), 2),
            (ack_w.as_raw_fd(), ACK_FD),
            (init.as_raw_fd(), INIT_FD),
        ],
        ack: ack_w.as_raw_fd(),
        plan,
    });
    // No handler of the shim's may run in the copy: every signal blocked
    // across the clone (the second stage unblocks them).
    let old = block_all();
    let cloned = clone_first(&mut child, cgroup);
    restore(&old);
    let first = cloned?;
    drop((stdin, stdout, stderr, ack_w, init));
    // Its pid, or why there is none. (The first stage is reaped as an
    // orphan by the reaper.)
    let pid = match recv(&ack_r, false) {
        Ok((Some(r), _)) if r.step == Step::Entered as u32 && r.errno > 0 => r.errno,
        Ok((Some(r), _)) => return Err(EnterError::Report(r)),
        Ok((None, _)) => return Err(SpawnError::ChildDied.into()),
        Err(e) => return Err(sys("read the exec's report")(e).into()),
    };
    tracing::debug!(first = first, pid, "exec entered");
    Ok(SpawnedExec {
        pid: Pid::from_raw(pid),
        ack: ack_r,
    })
}

fn block_all() -> libc::sigset_t {
    // SAFETY: sigfillset and pthread_sigmask on sets we own.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

fn restore(old: &libc::sigset_t) {
    // SAFETY: pthread_sigmask with a set we own.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// clone3 into the cgroup, or a plain fork where that cannot be (no
/// clone3, or v1): the first stage's pid.
fn clone_first(
    child: &mut ExecArgs,
    cgroup: Option<&OwnedFd>,
) -> std::result::Result<i32, EnterError> {
    if std::env::var_os(NO_CLONE3_ENV).is_none() {
        if let Some(dir) = cgroup {
            child.plan.born_in_cgroup = true;
            let mut args = CloneArgs {
                flags: CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: dir.as_raw_fd() as u64,
                ..Default::default()
            };
            // SAFETY: clone3 without CLONE_VM or a stack is a fork into a
            // cgroup: the child runs only `first_stage` on its own copy of
            // this memory, and never returns.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &mut args as *mut CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            };
            match r {
                // SAFETY: in the clone child, on its own copy.
                0 => unsafe { first_stage(child) },
                r if r > 0 => return Ok(r as i32),
                _ => {
                    let e = nix::errno::Errno::last();
                    if !matches!(e, nix::errno::Errno::ENOSYS | nix::errno::Errno::EINVAL) {
                        return Err(fork_failed(e as i32));
                    }
                }
            }
            child.plan.born_in_cgroup = false;
        }
    }
    match raw::fork() {
        // SAFETY: in the fork child, on its own copy.
        Ok(0) => unsafe { first_stage(child) },
        Ok(pid) => Ok(pid as i32),
        Err(e) => Err(fork_failed(e)),
    }
}

/// A fork refused: the container's pids limit (EAGAIN) is the container's
/// matter, in words, not the shim's.
fn fork_failed(errno: i32) -> EnterError {
    EnterError::Report(Report {
        step: Step::Enter as u32,
        errno,
        item: 2,
    })
}

/// The first stage, from the clone until it has cloned the second.
///
/// # Safety
/// Only in a fresh clone child of the shim, on its own copy of `child`.
unsafe fn first_stage(child: &mut ExecArgs) -> ! {
    let ack = child.ack;
    // SAFETY: prctl with integer arguments. Not dumpable: nobody but root
    // of the host opens its /proc files (it is a copy of the shim), nor
    // the second stage's until it execs. A shim gone, nobody would
    // collect its exit.
    unsafe {
        let _ = raw::prctl(libc::PR_SET_DUMPABLE, 0, 0);
        let _ = raw::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as usize, 0);
    }
    // SAFETY: this process runs none of the shim's handlers (they are
    // blocked until the second stage, which starts with these defaults).
    unsafe { reset_signals() };
    for &(from, to) in &child.moves {
        // SAFETY: 0-4 are the child's to replace; the sources are >= 10.
        if let Err(e) = unsafe { raw::dup_to(from, to) } {
            fail(ack, Fault::new(Step::PlaceFds, e, 0));
        }
    }
    // First: nothing of the shim's stays open here.
    // SAFETY: nothing past here uses them.
    unsafe { close_from(INIT_FD + 1) };
    let plan = &mut child.plan;
    if !plan.born_in_cgroup {
        for (i, file) in plan.join.iter().enumerate() {
            if let Err(e) = join(file) {
                fail(ACK_FD, Fault::new(Step::JoinCgroup, e, i));
            }
        }
    }
    if let Err(e) = raw::setns(INIT_FD, ENTERED | libc::CLONE_NEWPID) {
        fail(ACK_FD, Fault::new(Step::Enter, e, 0));
    }
    // SAFETY: the pidfd, used no more.
    let _ = unsafe { raw::close(INIT_FD) };
    // The second stage waits until this has said its pid (its own word
    // must come after it): until this exits and the pipe's write end with
    // it.
    let (wait_r, wait_w) = match raw::pipe() {
        Ok(p) => p,
        Err(e) => fail(ACK_FD, Fault::new(Step::Enter, e, 1)),
    };
    match raw::clone_parent() {
        Ok(0) => {
            // SAFETY: the write end, the first stage's.
            let _ = unsafe { raw::close(wait_w) };
            let mut b = [0u8; 1];
            while let Err(libc::EINTR) = raw::read(wait_r, &mut b) {}
            // SAFETY: used no more.
            let _ = unsafe { raw::close(wait_r) };
            second_stage(plan)
        }
        Ok(pid) => {
            send(
                ACK_FD,
                &Report {
                    step: Step::Entered as u32,
                    errno: pid as i32,
                    item: 0,
                },
            );
            raw::exit(0)
        }
        Err(e) => fail(ACK_FD, Fault::new(Step::Enter, e, 2)),
    }
}

/// The second stage: in the container's namespaces and cgroup, the
/// shim's child; its terminal, identity and program, then exec.
fn second_stage(plan: &mut EnterPlan) -> ! {
    // SAFETY: prctl with integer arguments: its parent is the shim now
    // (a fork clears the setting).
    unsafe {
        let _ = raw::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as usize, 0);
    }
    let _ = raw::setsid();
    let _ = raw::unblock_all();
    let f = match run(plan) {
        Err(f) => f,
        Ok(never) => match never {},
    };
    fail(ACK_FD, f)
}

/// Writes "0" (this process) to a cgroup's `tasks` or `cgroup.procs`.
fn join(file: &CStr) -> std::result::Result<(), i32> {
    let fd = raw::open(file, libc::O_WRONLY | libc::O_CLOEXEC)? as RawFd;
    let written = raw::write(fd, b"0");
    // SAFETY: the descriptor just opened.
    let _ = unsafe { raw::close(fd) };
    match written? {
        1 => Ok(()),
        _ => Err(libc::EIO),
    }
}

/// Inside: its terminal, its identity, its program; ready; exec.
fn run(plan: &mut EnterPlan) -> std::result::Result<std::convert::Infallible, Fault> {
    let master = match plan.terminal {
        Some((rows, cols)) => terminal::make(rows, cols)?,
        None => -1,
    };
    // As the init did: without docker's seccomp (which refuses keyrings), a
    // session keyring of its own, not the shim's (runc's exec does the
    // same).
    if !plan.identity.docker_seccomp {
        super::harden::own_keyring()?;
    }
    // The container's, which the init set for itself (runc's exec too).
    if let Some(adj) = &plan.oom_score_adj {
        let fd = Fault::check(
            raw::open(
                c"/proc/self/oom_score_adj",
                libc::O_WRONLY | libc::O_CLOEXEC,
            ),
            Step::Sysctl,
            0,
        )? as RawFd;
        let written = raw::write(fd, adj.as_bytes());
        // SAFETY: the descriptor just opened.
        let _ = unsafe { raw::close(fd) };
        Fault::check(written, Step::Sysctl, 0)?;
    }
    identity::assume(&plan.identity, plan.last_cap)?;
    Fault::check(raw::chdir(&plan.cwd), Step::Chdir, 0)?;
    // SAFETY: ptrs[0] is argv[0], a C string in `_strings`.
    let name = unsafe { CStr::from_ptr(plan.ptrs[0]) };
    let mut buf = [0u8; PATH_BUF];
    let program = lookup(name, plan.path.to_bytes(), &mut buf, probe_exec)
        .map_err(|e| Fault::new(Step::Exec, e as i32, 0))?;
    let ready = Report {
        step: Step::Ready as u32,
        errno: 0,
        item: 0,
    };
    if master >= 0 {
        if let Err(e) = raw::send_with_fd(ACK_FD, &ready.encode(), master) {
            return Err(Fault::new(Step::Terminal, e, terminal::SEND_STEP));
        }
        // SAFETY: our own descriptor; the shim has its copy.
        let _ = unsafe { raw::close(master) };
    } else {
        send(ACK_FD, &ready);
    }
    // Closed by a successful exec: the shim reads EOF.
    let _ = raw::set_cloexec(ACK_FD);
    if plan.identity.no_new_privs {
        identity::load_filters(&plan.identity)?;
    }
    let argv = plan.ptrs.as_ptr();
    // SAFETY: argv, NULL, envp, NULL, all C strings that live until the
    // exec.
    let errno = unsafe { raw::execve(program, argv, argv.add(plan.argc + 1)) };
    Err(Fault::new(Step::Exec, errno, 0))
}

/// What the second stage said: ready (with its terminal's master), then
/// EOF once it runs; or (Err(Some)) the report of the step that failed;
/// Err(None): it died before saying, or said something that is not a
/// report.
pub async fn started(ack: OwnedFd) -> std::result::Result<Option<OwnedFd>, Option<Report>> {
    let ack = AsyncIoFd::with_interest(ack, Interest::READABLE).map_err(|_| None)?;
    let next = || ack.read_with(|fd| recv(fd, true).map_err(std::io::Error::from));
    let (first, master) = next().await.map_err(|_| None)?;
    let first = first.ok_or(None)?;
    if first.step != Step::Ready as u32 {
        return Err(Some(first));
    }
    match next().await {
        // EOF: exec closed it.
        Ok((None, _)) => Ok(master),
        Ok((Some(r), _)) => Err(Some(r)),
        Err(_) => Err(None),
    }
}

/// One record of the ack socket, and a descriptor it carried; None at EOF.
/// A record that is not a report is EBADMSG. `dontwait`: EAGAIN rather
/// than wait.
fn recv(ack: &OwnedFd, dontwait: bool) -> nix::Result<(Option<Report>, Option<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; Report::SIZE];
    let mut space = nix::cmsg_space!(RawFd);
    let mut flags = MsgFlags::MSG_CMSG_CLOEXEC;
    if dontwait {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(ack.as_raw_fd(), &mut iov, Some(&mut space), flags) {
            Ok(m) => {
                let mut fd = None;
                for c in m.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for raw in fds {
                            // SAFETY: SCM_RIGHTS gave us this descriptor.
                            let f = unsafe { OwnedFd::from_raw_fd(raw) };
                            fd.get_or_insert(f);
                        }
                    }
                }
                let bytes = m.bytes;
                if bytes == 0 {
                    return Ok((None, fd));
                }
                return match Report::decode(&buf[..bytes]) {
                    Ok(r) => Ok((Some(r), fd)),
                    Err(_) => Err(nix::errno::Errno::EBADMSG),
                };
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}
