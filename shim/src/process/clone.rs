//! The clone itself: clone3's argument block, a clone that shares the
//! shim's memory on a stack of its own, and the descriptors a child moves
//! into place.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::error::{sys, Result};

/// Lowest descriptor number used for what the child must move into 0..=4,
/// so that no `dup2` there can clobber a source still to be moved.
pub(super) const HIGH_FD: RawFd = 10;

pub(super) fn pipe_high() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    Ok((raise(r)?, raise(w)?))
}

/// A connected pair of SOCK_SEQPACKET sockets, for a channel that may carry
/// a descriptor (the init's report, with its terminal's master).
pub(super) fn seqpacket_high() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(sys("socketpair"))?;
    Ok((raise(a)?, raise(b)?))
}

pub(super) fn raise(fd: OwnedFd) -> Result<OwnedFd> {
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
pub(super) struct CloneArgs {
    pub(super) flags: u64,
    pub(super) pidfd: u64,
    pub(super) child_tid: u64,
    pub(super) parent_tid: u64,
    pub(super) exit_signal: u64,
    pub(super) stack: u64,
    pub(super) stack_size: u64,
    pub(super) tls: u64,
    pub(super) set_tid: u64,
    pub(super) set_tid_size: u64,
    pub(super) cgroup: u64,
}

pub(super) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Set (to anything) to skip clone3 and take the clone(2) path that kernels
/// and sandboxes without clone3 get: for troubleshooting, and for the test
/// of that path.
pub const NO_CLONE3_ENV: &str = "MYDOCKER_NO_CLONE3";

/// clone3 with CLONE_VM and the stack in `args`: the child calls
/// `entry(arg)` there, and never returns. The parent gets the pid, or
/// -errno.
///
/// No handler of the shim's may run in a child that shares its memory:
/// every signal is blocked across the clone, and the child inherits that
/// mask (the init resets the handlers, then unblocks them, in child_setup).
///
/// # Safety
/// `args` has CLONE_VM and a stack that nothing else uses until the child
/// has exited or exec'd; `entry` makes only raw system calls, on that stack
/// and on `arg`, which must outlive it likewise.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn clone3_vm(
    args: &mut CloneArgs,
    arg: *mut libc::c_void,
    entry: extern "C" fn(*mut libc::c_void) -> !,
) -> isize {
    // SAFETY: sigfillset and pthread_sigmask on sets we own.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    let ret: isize;
    // SAFETY: the caller's. The child returns from the syscall on its own
    // stack, with the registers as they were: r12 and r13 (which `syscall`
    // keeps) carry the argument and the entry, which it calls with the
    // stack 16-byte aligned. The parent goes on past label 2.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    ret
}

/// Whether clone3 takes a stack as its lowest address and size (Linux 5.5,
/// "clone3: validate stack arguments"); 5.3 and 5.4 took the highest
/// address, and the child's first call would write below our mapping.
#[cfg(target_arch = "x86_64")]
pub(super) fn clone3_takes_stack_bottom() -> bool {
    kernel_at_least(5, 5)
}

#[cfg(target_arch = "x86_64")]
pub(super) fn kernel_at_least(major: u32, minor: u32) -> bool {
    static RELEASE: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    let running = *RELEASE.get_or_init(|| {
        let Ok(u) = nix::sys::utsname::uname() else {
            return (0, 0);
        };
        let release = u.release().to_string_lossy().into_owned();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor)
    });
    running >= (major, minor)
}
