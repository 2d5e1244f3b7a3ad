//! What the process says when a step of its set-up or exec fails: the
//! step, the errno and an item, in a fixed-size [`Report`], and the exit
//! code it then exits with. Written with raw system calls only (see
//! `sys.rs`).

use std::os::fd::RawFd;

use super::relay::Report;
use super::sys;

/// Exit code when the container could not be set up.
pub(super) const EXIT_SETUP: i32 = 125;
/// Exit code when the command was found but cannot be invoked.
const EXIT_CANNOT_INVOKE: i32 = 126;
/// Exit code when the command was not found.
const EXIT_NOT_FOUND: i32 = 127;

/// The init's steps, in order. A [`Report`] names the one that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Ready = 0,
    Unshare,
    Loopback,
    JoinCgroup,
    PlaceFds,
    MakePrivate,
    MountProc,
    Mask,
    BindReadOnly,
    MakeReadOnly,
    Hostname,
    MountDev,
    DevNode,
    Terminal,
    Keyring,
    CgroupNs,
    MountSys,
    MountCgroup,
    Cover,
    DropCap,
    SetCaps,
    NoNewPrivs,
    Seccomp,
    ReadCommand,
    DecodeCommand,
    Chdir,
    Exec,
    Root,
    Mount,
    MountPoint,
    ReadOnlyRoot,
    User,
    Rlimit,
    JoinNetns,
    Sysctl,
    Device,
    /// Not a failure: the init's namespaces are made, and it waits for the
    /// createRuntime and createContainer hooks (init.rs).
    Hooks,
    /// A startContainer hook exited other than 0: `errno` is its wait
    /// status (start_hooks.rs), `item` the hook.
    StartHook,
    /// A startContainer hook could not be started.
    StartHookSpawn,
    /// A startContainer hook outlived its timeout: `errno` is the timeout
    /// in seconds.
    StartHookTimeout,
    /// An exec'd process could not enter the container's namespaces.
    Enter,
    /// Not a failure: an exec's first stage has cloned the second, whose
    /// pid is in `errno` (enter.rs).
    Entered,
}

impl Step {
    const ALL: [Step; 42] = [
        Step::Ready,
        Step::Unshare,
        Step::Loopback,
        Step::JoinCgroup,
        Step::PlaceFds,
        Step::MakePrivate,
        Step::MountProc,
        Step::Mask,
        Step::BindReadOnly,
        Step::MakeReadOnly,
        Step::Hostname,
        Step::MountDev,
        Step::DevNode,
        Step::Terminal,
        Step::Keyring,
        Step::CgroupNs,
        Step::MountSys,
        Step::MountCgroup,
        Step::Cover,
        Step::DropCap,
        Step::SetCaps,
        Step::NoNewPrivs,
        Step::Seccomp,
        Step::ReadCommand,
        Step::DecodeCommand,
        Step::Chdir,
        Step::Exec,
        Step::Root,
        Step::Mount,
        Step::MountPoint,
        Step::ReadOnlyRoot,
        Step::User,
        Step::Rlimit,
        Step::JoinNetns,
        Step::Sysctl,
        Step::Device,
        Step::Hooks,
        Step::StartHook,
        Step::StartHookSpawn,
        Step::StartHookTimeout,
        Step::Enter,
        Step::Entered,
    ];

    pub(super) fn from_u32(n: u32) -> Option<Self> {
        Self::ALL.get(n as usize).copied()
    }
}

/// A failed step: what the init reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub step: Step,
    pub errno: i32,
    pub item: u32,
}

impl Fault {
    /// The step failed with `errno`.
    pub fn new(step: Step, errno: i32, item: usize) -> Self {
        Self {
            step,
            errno,
            item: item as u32,
        }
    }

    /// A step's system call, its error as this step's fault.
    pub fn check(r: sys::SysResult, step: Step, item: usize) -> Result<usize, Self> {
        r.map_err(|e| Self::new(step, e, item))
    }

    fn report(&self) -> Report {
        Report {
            step: self.step as u32,
            errno: self.errno,
            item: self.item,
        }
    }
}

/// The exit code of an init that failed at `step` (docker's conventions).
pub fn exit_code(step: Step, errno: i32) -> i32 {
    match step {
        Step::Chdir => EXIT_CANNOT_INVOKE,
        Step::Exec if errno == libc::ENOENT => EXIT_NOT_FOUND,
        Step::Exec => EXIT_CANNOT_INVOKE,
        _ => EXIT_SETUP,
    }
}

/// Writes a report. Async-signal-safe.
pub(super) fn send(fd: RawFd, r: &Report) {
    // A short or failed write leaves the shim with a truncated report or
    // EOF, which it handles.
    let _ = sys::write(fd, &r.encode());
}

/// Reports `fault` on `fd` and exits with its code (without running
/// anything of the shim's: atexit handlers, buffered I/O).
pub fn fail(fd: RawFd, fault: Fault) -> ! {
    send(fd, &fault.report());
    sys::exit(exit_code(fault.step, fault.errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_in_order() {
        for (i, s) in Step::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "{s:?}");
            assert_eq!(Step::from_u32(i as u32), Some(*s));
        }
        assert_eq!(Step::from_u32(Step::ALL.len() as u32), None);
    }
}
