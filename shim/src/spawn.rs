//! Starting the container's init in new namespaces.
//!
//! The shim runs a tokio runtime, and a forked copy of a threaded process may
//! only make async-signal-safe calls until it execs. So the child of `clone`
//! does nothing but place its descriptors and exec our own binary in init
//! mode; everything that needs memory or the filesystem happens in that fresh
//! process (see `init.rs`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::sched::CloneFlags;
use nix::unistd::Pid;

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

/// Clones the init into new UTS, PID, mount, IPC and network namespaces.
///
/// Must be called from the thread that will outlive the container (the
/// shim's main thread): PR_SET_PDEATHSIG fires when the creating *thread*
/// exits.
pub fn spawn_init(stdio: ChildStdio) -> Result<SpawnedInit> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(SpawnError::SelfExe)?;
    let exe = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| SpawnError::SelfExe(std::io::ErrorKind::InvalidInput.into()))?;
    let argv0 = CString::from(c"mydocker-init");
    let argv1 = CString::from(c"init");
    let argv = [argv0.as_ptr(), argv1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];

    let (cmd_r, cmd_w) = pipe_high()?;
    let (status_r, status_w) = pipe_high()?;
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

    let mut stack = vec![0u8; 64 * 1024];
    let child = Box::new(|| -> isize {
        // Runs in the clone child, a copy of a threaded process: only
        // async-signal-safe calls from here to execve.
        // SAFETY: each call is a raw syscall on values prepared before clone.
        unsafe {
            for (from, to) in moves {
                if libc::dup2(from, to) < 0 {
                    return 125;
                }
            }
            // Kill the container if the shim dies: nobody would supervise it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            libc::setsid();
            if tty && libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return 125;
            }
            // Handlers are reset by exec, ignored signals and the mask are
            // not; the init resets them again before the user's command.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
            125
        }
    });
    // SAFETY: the child runs only the closure above, which makes
    // async-signal-safe syscalls and then execs or exits; the stack is ours
    // and outlives the call (the child gets its own copy: no CLONE_VM).
    let pid = unsafe {
        nix::sched::clone(child, &mut stack, NAMESPACES, Some(libc::SIGCHLD))
            .map_err(sys("clone"))?
    };
    // The child's ends: the init has its own copies now.
    drop((cmd_r, status_w, stdin, stdout, stderr));
    Ok(SpawnedInit {
        pid,
        cmd: cmd_w,
        status: status_r,
    })
}
