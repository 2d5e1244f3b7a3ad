//! The namespaces made ahead: a holder, cloned as the shim starts, creates
//! the container's UTS, mount, IPC and network namespaces on another CPU
//! while the shim starts up, sets up what of them does not depend on the
//! container (its `lo`, `/dev`, `/sys`), and holds them until the init
//! joins them.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use nix::unistd::Pid;

use super::clone::NO_CLONE3_ENV;
#[cfg(target_arch = "x86_64")]
use super::clone::{clone3_vm, kernel_at_least, pipe_high, raise, CloneArgs};
#[cfg(target_arch = "x86_64")]
use super::error::{sys, Result};
use super::loopback;
use super::mounts;
use super::sys as raw;

/// The container's UTS, mount, IPC and network namespaces, made ahead: by
/// a child the shim clones as it starts (the holder), which creates them on
/// another CPU while the shim starts up, answers its client and reads the
/// Create, then holds them until the init has joined them (setns through
/// the holder's pidfd). The network namespace is most of an init's set-up
/// (0.6 ms here): made ahead, it is off the path from Create to the command.
///
/// It also brings `lo` up, mounts the container's `/dev` and `/sys`, and
/// then, while the init sets itself up, covers the host's kernel file
/// systems mounted elsewhere (mounts.rs): whatever the container, those are
/// the same, and made here they are off that path too. (A privileged container, whose view is the host's, does
/// not join them: its init makes its own.)
///
/// What changes for the container: its mount table is the host's as the
/// shim started, not as Create came; and the namespaces' kernel memory is
/// charged to the shim's cgroup, not the container's (on v1 it always was).
///
/// One container per shim: the first init takes them; a second Create (after
/// a failed one) has its init make its own, as where there are none.
pub struct Ahead {
    pid: Pid,
    pub(super) pidfd: OwnedFd,
    /// Where the holder says, once, whether it made them (see
    /// [`ahead_word`]). The init that joins them reads it.
    pub(super) ready: OwnedFd,
    /// Closed (dropped), the holder exits; the reaper reaps it.
    _hold: OwnedFd,
}

static AHEAD: Mutex<Option<Ahead>> = Mutex::new(None);

/// The namespaces made ahead, for the first init to join; `None` after
/// that, or where there are none.
pub(super) fn take() -> Option<Ahead> {
    AHEAD.lock().unwrap().take()
}

/// The holder's stack. It makes a few raw system calls and keeps nothing:
/// a few hundred bytes. Static: there is one holder per shim, and memory a
/// child shares with us could only be freed once it has exited.
#[repr(C, align(16))]
struct AheadStack(std::cell::UnsafeCell<[u8; AHEAD_STACK_LEN]>);
const AHEAD_STACK_LEN: usize = 64 * 1024;
// SAFETY: only the holder uses it, through the raw pointer given to clone3.
unsafe impl Sync for AheadStack {}
static AHEAD_STACK: AheadStack = AheadStack(std::cell::UnsafeCell::new([0; AHEAD_STACK_LEN]));

/// The holder's two pipe ends, and what it mounts.
struct AheadFds {
    ready: RawFd,
    hold: RawFd,
    /// Mount a fresh `/sys`: only where the host's cgroups are under
    /// `/sys/fs/cgroup`, whose directory it opens first for the init, which
    /// joins and binds its cgroup through it (see [`ahead_word`]); elsewhere
    /// a fresh `/sys` could hide them, and the init mounts it itself once
    /// it has joined.
    sys: bool,
}

/// Where the host's cgroup hierarchies are, on every layout we know: a
/// tmpfs of v1 mounts (or the hybrid's), or v2's one.
pub(super) const CGROUP_ROOT: &std::ffi::CStr = c"/sys/fs/cgroup";

/// Whether the host's cgroups are all under [`CGROUP_ROOT`].
pub(super) fn cgroups_at_root() -> bool {
    match nix::sys::statfs::statfs(CGROUP_ROOT.to_bytes()) {
        Ok(s) => {
            let t = s.filesystem_type();
            t == nix::sys::statfs::TMPFS_MAGIC || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
        }
        Err(_) => false,
    }
}

/// What the holder made, in its ready word: the namespaces (always, when
/// it says 0), and these.
pub(super) const MADE_DEV: i32 = 1;
pub(super) const MADE_SYS: i32 = 2;
/// It goes on to cover the host's kernel file systems mounted elsewhere,
/// and says how that went in a second word (an errno, 0).
pub(super) const MADE_COVER: i32 = 4;

/// Starts making the namespaces ahead (see [`Ahead`]): call once, first
/// thing in `main`, so that the work overlaps the shim's start. Before any
/// thread exists: the holder shares our memory, and must not do so with
/// threads that could be in the middle of anything when it is cloned.
/// Where it cannot (no clone3, a kernel before 5.9, which lacks close_range
/// and setns through a pidfd), the init makes its own; the error, if any, is
/// returned for the log, which does not exist yet.
pub fn make_ahead() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    {
        static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if std::env::var_os(NO_CLONE3_ENV).is_some()
            || !kernel_at_least(5, 9)
            || STARTED.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return None;
        }
        match start_ahead() {
            Ok(a) => *AHEAD.lock().unwrap() = Some(a),
            Err(e) => return Some(format!("namespaces not made ahead: {e}")),
        }
    }
    None
}

/// Ends the holder when no init took its namespaces (the shim ends without
/// a container), and reaps it: call after the runtime, whose reaper would
/// otherwise have.
pub fn end_ahead() {
    let Some(a) = AHEAD.lock().unwrap().take() else {
        return;
    };
    // Killed rather than let go: it may still be making the network
    // namespace, which takes long under load, and nothing will use it.
    // SAFETY: pidfd_send_signal with our pidfd and no siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            a.pidfd.as_raw_fd(),
            libc::SIGKILL,
            0,
            0,
        );
    }
    let _ = nix::sys::wait::waitpid(a.pid, None);
}

#[cfg(target_arch = "x86_64")]
fn start_ahead() -> Result<Ahead> {
    let (ready_r, ready_w) = pipe_high()?;
    let (hold_r, hold_w) = pipe_high()?;
    // Leaked: the holder reads it while it shares our memory; 8 bytes, once.
    let fds: &'static mut AheadFds = Box::leak(Box::new(AheadFds {
        ready: ready_w.as_raw_fd(),
        hold: hold_r.as_raw_fd(),
        sys: cgroups_at_root(),
    }));
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_PIDFD) as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: AHEAD_STACK.0.get() as u64,
        stack_size: AHEAD_STACK_LEN as u64,
        ..Default::default()
    };
    // SAFETY: CLONE_VM on a stack only this child uses (make_ahead runs
    // once); `ahead_entry` makes raw system calls on it and on `fds`, which
    // is never freed.
    let ret = unsafe { clone3_vm(&mut args, (fds as *mut AheadFds).cast(), ahead_entry) };
    if ret < 0 {
        return Err(sys("clone3")(nix::errno::Errno::from_raw(-ret as i32)));
    }
    let pid = Pid::from_raw(ret as i32);
    if let Some(away) = elsewhere() {
        // Best effort: here, it would wait for the shim to block.
        let _ = nix::sched::sched_setaffinity(pid, &away);
    }
    // SAFETY: CLONE_PIDFD stored a descriptor that is now ours.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // Above what an init moves its descriptors onto (0-6): it still uses
    // this one after.
    let pidfd = raise(pidfd)?;
    drop((ready_w, hold_r));
    Ok(Ahead {
        pid,
        pidfd,
        ready: ready_r,
        _hold: hold_w,
    })
}

/// The holder: makes the namespaces, says so, and waits to be let go.
#[cfg(target_arch = "x86_64")]
extern "C" fn ahead_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: the leaked AheadFds start_ahead passed, never written again.
    let fds = unsafe { &*arg.cast::<AheadFds>() };
    let (ready, hold) = (fds.ready, fds.hold);
    // SAFETY: prctl with a C string.
    let _ = unsafe { raw::prctl(libc::PR_SET_NAME, c"mydocker-ns".as_ptr() as usize, 0) };
    // Only its two ends stay open: a copy of the shim's end of `hold` would
    // keep it from ever reading EOF, and one of the listening socket would
    // keep that open after the shim's exit.
    let (lo, hi) = (ready.min(hold), ready.max(hold));
    // SAFETY: the holder's own copies of the shim's descriptors.
    let closed = unsafe {
        raw::close_between(0, lo - 1)
            .and_then(|_| match hi - lo {
                1 => Ok(0),
                _ => raw::close_between(lo + 1, hi - 1),
            })
            .and_then(|_| raw::close_between(hi + 1, RawFd::MAX))
    };
    let made = closed
        .and_then(|_| raw::unshare(UNSHARE_NAMESPACES))
        // Private at once, as the init would make it: a copy that stays a
        // peer of the host's mounts would take in every mount event while it
        // waits. And not in the shim's directory, which would keep that
        // file system busy.
        .and_then(|_| raw::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None))
        .and_then(|_| raw::chdir(c"/"))
        // Here, off the path from Create to the command (see loopback.rs).
        .and_then(|_| loopback::up())
        .and_then(|_| mounts::dev(false).map_err(|f| f.errno))
        .and_then(|_| {
            if !fds.sys {
                return Ok((MADE_DEV | MADE_COVER, -1));
            }
            // The host's hierarchies, as this mount namespace has them,
            // before its own /sys hides them.
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
            let Ok(root) = raw::open(CGROUP_ROOT, flags) else {
                return Ok((MADE_DEV | MADE_COVER, -1));
            };
            mounts::sys(false)
                .map(|_| (MADE_DEV | MADE_SYS | MADE_COVER, root as i32))
                .map_err(|f| f.errno)
        });
    let word = match made {
        Ok((made, root)) => [0, made, root],
        Err(e) => [e, 0, -1],
    };
    let errno = word[0];
    // Opened before the word: the init mounts the container's /proc after
    // it, where the holder has no /proc/self.
    let table = mounts::open_mount_table();
    let _ = raw::write(ready, &word_bytes(word));
    if errno == 0 {
        // After the word: the init goes on meanwhile, and waits for this
        // one only before its command (see init.rs).
        let covered = match table.map(mounts::cover_kernel_fs_from) {
            Ok(Ok(())) => 0i32,
            Ok(Err(f)) => f.errno,
            Err(e) => e,
        };
        let _ = raw::write(ready, &covered.to_ne_bytes());
        let mut b = [0u8; 1];
        // Every signal is blocked (clone3_vm): only EOF, when the shim lets
        // go or dies, ends this.
        let _ = raw::read(hold, &mut b);
    }
    raw::exit(0)
}

/// The words in memory order, as the holder writes them.
fn word_bytes(word: [i32; 3]) -> [u8; 12] {
    let mut out = [0u8; 12];
    for (i, w) in word.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
    }
    out
}

/// The holder's word on `ready`: 0 when it made the namespaces, what else
/// it made ([`MADE_DEV`], [`MADE_SYS`]), and with a /sys its descriptor of
/// the host's cgroup hierarchies (for `pidfd_getfd`); else the errno it
/// failed with (-1: it said nothing). In the init, before it has its own
/// descriptors in place.
pub(super) fn ahead_word(ready: RawFd) -> [i32; 3] {
    let mut buf = [0u8; 12];
    let mut got = 0;
    while got < buf.len() {
        match raw::read(ready, &mut buf[got..]) {
            Ok(0) => return [-1, 0, -1],
            Ok(n) => got += n,
            Err(libc::EINTR) => {}
            Err(e) => return [e, 0, -1],
        }
    }
    let word = |i: usize| i32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    [word(0), word(4), word(8)]
}

/// How the init's namespaces came to be, as its ready report says (`item`).
pub(super) const NS_OWN: u32 = 0;
pub(super) const NS_JOINED: u32 = 1;
pub(super) const NS_HOLDER_FAILED: u32 = 2;
pub(super) const NS_SETNS_FAILED: u32 = 3;
pub(super) const NS_GETFD_FAILED: u32 = 4;

/// The rest: joined when made ahead ([`Ahead`]), else made by the child
/// itself, in parallel with the shim.
pub(super) const UNSHARE_NAMESPACES: libc::c_int =
    libc::CLONE_NEWUTS | libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET;

/// The CPUs the shim may use other than the one it runs on, when there are
/// any: where the holder makes the namespaces. The kernel places a new
/// child on its parent's CPU, where it would wait until the shim blocks
/// (0.3-0.8 ms here) while another CPU idles. (Only the holder, which never
/// runs anything of the container's: the init, whose CPUs the container
/// inherits, stays where the kernel puts it.)
fn elsewhere() -> Option<nix::sched::CpuSet> {
    let mut cpus = nix::sched::sched_getaffinity(Pid::from_raw(0)).ok()?;
    // SAFETY: sched_getcpu takes no arguments.
    let here = unsafe { libc::sched_getcpu() };
    let here = usize::try_from(here).ok()?;
    if !cpus.is_set(here).ok()? {
        return None;
    }
    cpus.unset(here).ok()?;
    let others = (0..nix::sched::CpuSet::count()).any(|c| cpus.is_set(c).unwrap_or(false));
    others.then_some(cpus)
}
