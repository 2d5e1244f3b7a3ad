//! Starting the container's init in new namespaces.
//!
//! The shim runs a tokio runtime, and a forked copy of a threaded process may
//! only make async-signal-safe calls until it execs. So the child of `clone3`
//! does nothing but enter its cgroup, place its descriptors and exec our own
//! binary in init mode; everything that needs memory or the filesystem
//! happens in that fresh process (see `init.rs`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::cgroup::JoinAt;
use crate::init::{CMD_FD, STATUS_FD};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::errno::Errno,
    },
    #[error("cannot locate the shim's own binary: {0}")]
    SelfExe(std::io::Error),
    #[error("the container's init exited before it was set up")]
    ChildDied,
}

pub type Result<T, E = SpawnError> = std::result::Result<T, E>;

fn sys(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> SpawnError {
    move |source| SpawnError::Sys { what, source }
}

/// The descriptors the init gets as 0, 1 and 2.
pub struct ChildStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// Make stdin the controlling terminal (it is a PTY slave).
    pub controlling_tty: bool,
}

/// An init that is waiting for its command.
pub struct SpawnedInit {
    pub pid: Pid,
    /// The write end of the command pipe (the init reads fd 3).
    pub cmd: OwnedFd,
    /// The read end of the status pipe (the init writes fd 4).
    pub status: OwnedFd,
}

const NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWUTS
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET);

/// Lowest descriptor number used for what the child must move into 0..=4,
/// so that no `dup2` there can clobber a source still to be moved.
const HIGH_FD: RawFd = 10;

fn pipe_high() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    Ok((raise(r)?, raise(w)?))
}

fn raise(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= HIGH_FD {
        return Ok(fd);
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor we own.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, HIGH_FD) };
    if n < 0 {
        return Err(sys("dup")(nix::errno::Errno::last()));
    }
    // SAFETY: n is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// clone3's argument block (linux/sched.h, version 2: with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Set (to anything) to skip clone3 and take the clone(2) path that kernels
/// and sandboxes without clone3 get: for troubleshooting, and for the test
/// of that path.
pub const NO_CLONE3_ENV: &str = "MYDOCKER_NO_CLONE3";

/// Where the clone child got to when it failed: the ack says.
const STAGES: [&str; 4] = [
    "",
    "join the cgroup",
    "place the descriptors",
    "take the controlling terminal",
];

/// Clones the init into new UTS, PID, mount, IPC and network namespaces,
/// inside its cgroup from birth (see [`JoinAt`]), and returns once the
/// child has joined the cgroup and set up its descriptors.
///
/// Must be called from the thread that will outlive the container (the
/// shim's main thread): PR_SET_PDEATHSIG fires when the creating *thread*
/// exits.
pub fn spawn_init(stdio: ChildStdio, join: &JoinAt) -> Result<SpawnedInit> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(SpawnError::SelfExe)?;
    let exe = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| SpawnError::SelfExe(std::io::ErrorKind::InvalidInput.into()))?;
    let argv0 = CString::from(c"mydocker-init");
    let argv1 = CString::from(c"init");
    let argv = [argv0.as_ptr(), argv1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];

    let (cmd_r, cmd_w) = pipe_high()?;
    let (status_r, status_w) = pipe_high()?;
    let (ack_r, ack_w) = pipe_high()?;
    let stdin = raise(stdio.stdin)?;
    let stdout = raise(stdio.stdout)?;
    let stderr = raise(stdio.stderr)?;
    let moves = [
        (stdin.as_raw_fd(), 0),
        (stdout.as_raw_fd(), 1),
        (stderr.as_raw_fd(), 2),
        (cmd_r.as_raw_fd(), CMD_FD),
        (status_w.as_raw_fd(), STATUS_FD),
    ];
    let tty = stdio.controlling_tty;
    let mut args = CloneArgs {
        flags: NAMESPACES.bits() as u32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    let tasks: Vec<RawFd> = match join {
        JoinAt::Dir(dir) => {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = dir.as_raw_fd() as u64;
            Vec::new()
        }
        JoinAt::Tasks(files) => files.iter().map(|f| f.as_raw_fd()).collect(),
    };
    let ack = ack_w.as_raw_fd();

    let clone3 = if std::env::var_os(NO_CLONE3_ENV).is_some() {
        Err(nix::errno::Errno::ENOSYS)
    } else {
        // SAFETY: clone3 without CLONE_VM and without a stack is fork with
        // namespace and cgroup flags: the child gets a copy of this thread's
        // stack and runs only `child_setup`, which never returns.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &mut args as *mut CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if r == 0 {
            // SAFETY: in the clone child, with everything prepared above.
            unsafe { child_setup(&tasks, &moves, tty, ack, &exe, &argv, &envp) }
        }
        if r < 0 {
            Err(nix::errno::Errno::last())
        } else {
            Ok(r as i32)
        }
    };
    let procs_file;
    let pid = match clone3 {
        Ok(pid) => pid,
        // No clone3 (before Linux 5.3, or a seccomp profile such as
        // docker's default that answers ENOSYS for it), or no
        // CLONE_INTO_CGROUP (cgroup v2 before 5.7): clone(2), and the child
        // joins by writing "0" to cgroup.procs, the thread-group move it
        // cannot avoid then.
        Err(e)
            if e == nix::errno::Errno::ENOSYS
                || (e == nix::errno::Errno::EINVAL && args.flags & CLONE_INTO_CGROUP != 0) =>
        {
            let tasks = match join {
                JoinAt::Dir(dir) => {
                    procs_file = nix::fcntl::openat(
                        dir,
                        "cgroup.procs",
                        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .map_err(sys("open cgroup.procs"))?;
                    vec![procs_file.as_raw_fd()]
                }
                JoinAt::Tasks(_) => tasks.clone(),
            };
            let mut stack = vec![0u8; 64 * 1024];
            let child = Box::new(|| -> isize {
                // SAFETY: in the clone child, with everything prepared above.
                unsafe { child_setup(&tasks, &moves, tty, ack, &exe, &argv, &envp) }
            });
            // SAFETY: the child runs only `child_setup` (async-signal-safe
            // calls, then exec or _exit) on a stack that outlives the call
            // (it gets its own copy: no CLONE_VM).
            unsafe {
                nix::sched::clone(child, &mut stack, NAMESPACES, Some(libc::SIGCHLD))
                    .map_err(sys("clone"))?
            }
            .as_raw()
        }
        Err(e) => return Err(sys("clone3")(e)),
    };
    let pid = Pid::from_raw(pid);
    // The child's ends: the init has its own copies now.
    drop((cmd_r, status_w, stdin, stdout, stderr, ack_w));
    if let Err(e) = read_ack(ack_r) {
        // It is exiting or stuck before exec, and nobody watches it yet:
        // end it and reap it here, so a failed spawn leaves nothing.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(e);
    }
    Ok(SpawnedInit {
        pid,
        cmd: cmd_w,
        status: status_r,
    })
}

/// The clone child, a copy of a threaded process: only async-signal-safe
/// calls from here to execve, and no return.
///
/// # Safety
/// Call only in a fresh clone/fork child, with descriptors that are open.
unsafe fn child_setup(
    tasks: &[RawFd],
    moves: &[(RawFd, RawFd)],
    tty: bool,
    ack: RawFd,
    exe: &CString,
    argv: &[*const libc::c_char; 3],
    envp: &[*const libc::c_char; 1],
) -> ! {
    let fail = |stage: u32| -> ! {
        let s = stage.to_le_bytes();
        let e = (*libc::__errno_location()).to_le_bytes();
        let msg = [s[0], s[1], s[2], s[3], e[0], e[1], e[2], e[3]];
        libc::write(ack, msg.as_ptr().cast(), msg.len());
        libc::_exit(125)
    };
    // First, so that everything the container does is accounted to it.
    for &t in tasks {
        if libc::write(t, b"0".as_ptr().cast(), 1) != 1 {
            fail(1);
        }
    }
    for &(from, to) in moves {
        if libc::dup2(from, to) < 0 {
            fail(2);
        }
    }
    // Kill the container if the shim dies: nobody would supervise it.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    libc::setsid();
    if tty && libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
        fail(3);
    }
    // Handlers are reset by exec, ignored signals and the mask are not; the
    // init resets them again before the user's command.
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    let ok = [0u8; 8];
    libc::write(ack, ok.as_ptr().cast(), ok.len());
    libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
    libc::_exit(125)
}

/// Waits for the child's 8-byte ack: stage 0 when it is set up, else the
/// stage that failed and its errno. EOF means it died before saying.
fn read_ack(ack: OwnedFd) -> Result<()> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(&ack, &mut buf[got..]) {
            Ok(0) => return Err(SpawnError::ChildDied),
            Ok(n) => got += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(sys("read the init's ack")(e)),
        }
    }
    let stage = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
    let errno = i32::from_le_bytes(buf[4..].try_into().unwrap());
    match stage {
        0 => Ok(()),
        n => Err(SpawnError::Sys {
            what: STAGES.get(n).copied().unwrap_or("set up"),
            source: nix::errno::Errno::from_raw(errno),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child that cannot join its cgroup says so, with the stage and the
    /// errno, and is gone when spawn_init returns. /dev/full stands in for
    /// a `tasks` file that refuses the write (as v1 does with ENOSPC when
    /// a cpuset is empty).
    #[test]
    fn a_failed_join_is_reported_and_leaves_no_child() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: clone with namespaces needs root");
            return;
        }
        let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let stdio = ChildStdio {
            stdin: null(),
            stdout: null(),
            stderr: null(),
            controlling_tty: false,
        };
        let err = spawn_init(stdio, &JoinAt::Tasks(vec![full.into()]))
            .err()
            .expect("the join must fail");
        let msg = err.to_string();
        assert!(msg.starts_with("join the cgroup: ENOSPC"), "{msg}");
        // Reaped already: no child of ours is left, not even a zombie.
        assert_eq!(
            nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)),
            Err(nix::errno::Errno::ECHILD)
        );
    }
}
