//! Starting the container's init in new namespaces.
//!
//! The shim runs a tokio runtime, and a child of a threaded process may only
//! make async-signal-safe calls until it execs; this one may also share the
//! shim's memory (opt-in, see [`SHARE_MEMORY_ENV`] and [`clone3`]). So the child of `clone3`
//! creates its namespaces, enters its cgroup, places its descriptors, closes
//! everything else of the shim's, undoes the runtime's signal dispositions,
//! and goes on as the init (see `init.rs`), with raw system calls only, on
//! memory prepared here, before the clone.
//!
//! Only the PID namespace comes with the clone (the child must be born in it
//! to be its PID 1). The others, the network namespace above all (0.6 ms
//! here), were made ahead as the shim started ([`Ahead`]), and the child
//! joins them; without those, it creates them itself with `unshare`, while
//! the shim makes the cgroup (v1). The child then makes its mounts, waits on
//! the command pipe for the shim's word that the cgroup is there
//! ([`SpawnedInit::proceed`]), joins it, and drops its capabilities
//! (init.rs).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sched::CloneFlags;
use nix::sys::memfd::MFdFlags;
use nix::unistd::Pid;

use super::ack;
use super::ahead::{
    self, ahead_word, Ahead, CGROUP_ROOT, MADE_COVER, MADE_SYS, NS_GETFD_FAILED, NS_HOLDER_FAILED,
    NS_JOINED, NS_OWN, NS_SETNS_FAILED, UNSHARE_NAMESPACES,
};
#[cfg(target_arch = "x86_64")]
use super::clone::{clone3_takes_stack_bottom, clone3_vm};
use super::clone::{pipe_high, raise, seqpacket_high, CloneArgs, CLONE_INTO_CGROUP, NO_CLONE3_ENV};
use super::describe::Names;
use super::error::{sys, Result, SpawnError};
use super::init::{self, InitPlan, ACK_FD, CGROUP_FD, CMD_FD, HOLDER_FD, STATUS_FD};
use super::loopback;
use super::relay;
use super::report::{fail, Fault, Step};
use super::start_hooks::HOOK_STATE_FD;
use super::sys as raw;

/// How the init enters its cgroup, before it runs anything of the
/// container's.
///
/// Not by writing its pid to `cgroup.procs` from the shim: moving a whole
/// thread group takes the kernel's cgroup_threadgroup_rwsem for writing,
/// which waits for an RCU grace period, 5-15 ms of every container start.
pub enum JoinAt {
    /// cgroup v2: clone3 with CLONE_INTO_CGROUP and this directory (open,
    /// and its path). Where clone3 cannot (see [`spawn_init`]), the child
    /// writes "0" to its `cgroup.procs`.
    Dir { dir: OwnedFd, path: CString },
    /// cgroup v1: the clone child, still single-threaded, writes "0" (its
    /// own thread) to the `tasks` file of each hierarchy's directory (the
    /// cgroup room names them); moving one thread of its own needs no
    /// thread-group lock. The shim makes the cgroup, and sends it those
    /// directories, while the child creates its namespaces.
    Later,
}

/// A directory of the container's cgroup, and the name of its hierarchy
/// (`memory`; on v2, `cgroup2`): the init joins it, and mounts it under
/// that name.
pub type CgroupDir = (CString, CString);

/// The descriptors the init gets as 0, 1 and 2. (With a terminal, it
/// makes its own in its devpts and puts its slave there: see
/// `terminal.rs`.)
pub struct ChildStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// An init that is setting itself up, then waits for its command.
pub struct SpawnedInit {
    pub pid: Pid,
    /// The write end of the command pipe (the init reads CMD_FD).
    pub cmd: OwnedFd,
    /// The read end of the status pipe (the init writes STATUS_FD).
    pub status: OwnedFd,
    /// Its set-up, still under way.
    pub setup: Setup,
    /// How it will join its cgroup when told to.
    join: Join,
    /// What it runs on until it execs, when it shares our memory: keep it
    /// until then.
    pub memory: Option<InitMemory>,
    /// Where its startContainer hooks' state goes (the init has it at
    /// HOOK_STATE_FD), when it has hooks: written before Start.
    pub hook_state: Option<OwnedFd>,
}

enum Join {
    /// clone3 put it there (CLONE_INTO_CGROUP).
    Born,
    /// It writes "0" to this v2 directory's `cgroup.procs` (the clone(2)
    /// fallback).
    Procs(CString),
    /// It writes "0" to the `tasks` files of the v1 directories the shim
    /// sends.
    Dirs,
}

impl SpawnedInit {
    /// Tells the init that its cgroup is made: on v1 it joins each of
    /// `dirs` (one per hierarchy); on v2 `dirs` is not used: it was born
    /// in its cgroup, or, after the clone(2) fallback, joins through
    /// `cgroup.procs`. Then it finishes its set-up.
    pub fn proceed(&self, dirs: &[CgroupDir]) -> Result<()> {
        let pairs: Vec<CString> = match &self.join {
            Join::Born => Vec::new(),
            Join::Procs(p) => vec![under_root(p), c"cgroup2".into()],
            Join::Dirs => dirs
                .iter()
                .flat_map(|(d, n)| [under_root(d), n.clone()])
                .collect(),
        };
        let msg = relay::encode_join(&pairs, init::JOIN_BUF)
            .map_err(|e| SpawnError::Setup(format!("the cgroup's paths: {e}")))?;
        let mut sent = 0;
        while sent < msg.len() {
            match nix::unistd::write(&self.cmd, &msg[sent..]) {
                Ok(n) => sent += n,
                Err(nix::errno::Errno::EINTR) => {}
                // EPIPE: it is gone, and its report says why.
                Err(e) => return Err(sys("tell the init to go on")(e)),
            }
        }
        Ok(())
    }
}

/// An init that has set itself up.
pub struct Ready {
    /// Its terminal's master, when it made one.
    pub master: Option<OwnedFd>,
    /// The holder of the namespaces it joined, when it joined some.
    pub holder: Option<Holder>,
}

/// The holder of a container's namespaces. Kept until the container has
/// exited: its last process does not then tear the namespaces down (all
/// its mounts, its /sys, its devpts and tmpfs file systems, 0.1-0.2 ms
/// here) before its parent hears of its exit, and so before anyone is told.
/// Dropped, the holder exits (and does it, elsewhere: on another CPU, the
/// one it was cloned on); the shim's reaper reaps it.
pub struct Holder {
    _ahead: Ahead,
}

/// `dir` relative to [`CGROUP_ROOT`] where it is under it: the init opens
/// it there through the descriptor it holds (the container's own /sys
/// hides the host's hierarchies by then); elsewhere, as it is.
fn under_root(dir: &CString) -> CString {
    let root = CGROUP_ROOT.to_bytes();
    match dir.as_bytes().strip_prefix(root) {
        Some(rest) if rest.len() > 1 && rest[0] == b'/' => {
            CString::new(&rest[1..]).unwrap_or_else(|_| dir.clone())
        }
        _ => dir.clone(),
    }
}

/// The init's set-up, which runs while the shim goes on with Create.
pub struct Setup {
    pid: Pid,
    ack: OwnedFd,
    /// What a failure's item names.
    names: Names,
    /// Holds the namespaces the init joins (see [`Holder`]).
    ahead: Option<Ahead>,
}

impl Setup {
    /// Waits until the init has set itself up. On failure it is gone, and
    /// reaped, when this returns.
    ///
    /// Call it before anything else may reap children (no await between
    /// [`spawn_init`] and this): the pid is only ours to reap until then.
    pub fn wait(self) -> Result<Ready> {
        // On failure it is exiting or stuck, and nobody watches it yet: end
        // it and reap it here, so a failed spawn leaves nothing.
        let (master, joined) =
            ack::read_ack(self.ack, &self.names).inspect_err(|_| end(self.pid))?;
        Ok(Ready {
            master,
            // Kept only where it holds the init's namespaces: unjoined,
            // they go at once.
            holder: self.ahead.filter(|_| joined).map(|a| Holder { _ahead: a }),
        })
    }

    /// Waits for an init planned to wait for hooks
    /// ([`InitPlan::with_hooks_pause`]) to say its namespaces are made. Its
    /// failure before that, in its words. Then [`Setup::resume`] (or
    /// [`Setup::end`]).
    pub fn pause(&self) -> Result<()> {
        ack::read_pause(&self.ack, &self.names)
    }

    /// Lets a paused init go on (see [`Setup::pause`]).
    pub fn resume(&self) -> Result<()> {
        nix::unistd::write(&self.ack, &[1]).map_err(sys("resume the init"))?;
        Ok(())
    }

    /// Ends an init that will not be used, and reaps it. What it reported,
    /// if it had failed on its own first (killed, it has nothing to say).
    pub fn end(self) -> Option<SpawnError> {
        // Killed first, so that the read ends.
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let report = ack::read_ack(self.ack, &self.names)
            .err()
            .filter(|e| matches!(e, SpawnError::Setup(_)));
        let _ = nix::sys::wait::waitpid(self.pid, None);
        report
    }
}

fn end(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// What the clone itself creates: the PID namespace, which the child must be
/// born into to be its PID 1.
const CLONE_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWPID;

/// Clones the init into new UTS, PID, mount, IPC and network namespaces. It
/// joins those made ahead ([`Ahead`]) or creates them while the caller goes
/// on, then waits for
/// [`SpawnedInit::proceed`] to join its cgroup (see [`JoinAt`]) and set
/// itself up; [`Setup::wait`] waits for that.
///
/// Must be called from the thread that will outlive the container (the
/// shim's main thread): PR_SET_PDEATHSIG fires when the creating *thread*
/// exits.
pub fn spawn_init(stdio: ChildStdio, join: &JoinAt, plan: InitPlan) -> Result<SpawnedInit> {
    spawn_init_sharing(stdio, join, plan, shares_memory())
}

/// Set to 1 to have the init share the shim's memory until it execs (see
/// [`clone3`]). Off by default: one run in nineteen of the cgroup v2 guest
/// (Debian's 6.1 kernel under qemu's TCG) hung with both CPUs in a soft
/// lockup inside shims, and it is not understood yet.
pub const SHARE_MEMORY_ENV: &str = "MYDOCKER_INIT_SHARES_MEMORY";

fn shares_memory() -> bool {
    std::env::var_os(SHARE_MEMORY_ENV).is_some_and(|v| v == "1")
}

/// [`spawn_init`], with the init sharing the shim's memory or not.
fn spawn_init_sharing(
    stdio: ChildStdio,
    join: &JoinAt,
    plan: InitPlan,
    share: bool,
) -> Result<SpawnedInit> {
    let (cmd_r, cmd_w) = pipe_high()?;
    let (status_r, status_w) = pipe_high()?;
    let (ack_r, ack_w) = seqpacket_high()?;
    let stdin = raise(stdio.stdin)?;
    let stdout = raise(stdio.stdout)?;
    let stderr = raise(stdio.stderr)?;
    let names = plan.names();
    let hook_state = match plan.has_start_hooks() {
        true => Some(raise(
            nix::sys::memfd::memfd_create(c"mydocker-hook-state", MFdFlags::MFD_CLOEXEC)
                .map_err(sys("memfd_create"))?,
        )?),
        false => None,
    };
    let ahead = ahead::take();
    // A privileged container sees the host's /dev, /sys and mounts, as
    // docker's does: not what the holder made of them. It makes its own
    // namespaces (the holder goes once Create is done).
    let joins = !plan.privileged();
    let child = Box::new(ChildArgs {
        moves: [
            (stdin.as_raw_fd(), 0),
            (stdout.as_raw_fd(), 1),
            (stderr.as_raw_fd(), 2),
            (cmd_r.as_raw_fd(), CMD_FD),
            (status_w.as_raw_fd(), STATUS_FD),
            (ack_w.as_raw_fd(), ACK_FD),
        ],
        shim_end: cmd_w.as_raw_fd(),
        ack: ack_w.as_raw_fd(),
        ns_from: ahead
            .as_ref()
            .filter(|_| joins)
            .map_or(-1, |a| a.pidfd.as_raw_fd()),
        ns_ready: ahead
            .as_ref()
            .filter(|_| joins)
            .map_or(-1, |a| a.ready.as_raw_fd()),
        cgroups: -1,
        hook_state: hook_state.as_ref().map_or(-1, |f| f.as_raw_fd()),
        plan,
    });
    let mut args = CloneArgs {
        flags: CLONE_NAMESPACES.bits() as u32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    let mut how = match join {
        JoinAt::Dir { dir, .. } => {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = dir.as_raw_fd() as u64;
            Join::Born
        }
        JoinAt::Later => Join::Dirs,
    };

    let clone3 = if std::env::var_os(NO_CLONE3_ENV).is_some() {
        Err((nix::errno::Errno::ENOSYS, child))
    } else {
        clone3(&mut args, child, share)
    };
    let (pid, memory) = match clone3 {
        Ok(cloned) => cloned,
        // No clone3 (before Linux 5.3, or a seccomp profile such as
        // docker's default that answers ENOSYS for it), or no
        // CLONE_INTO_CGROUP (cgroup v2 before 5.7): clone(2), and on v2 the
        // child joins by writing "0" to cgroup.procs, the thread-group move
        // it cannot avoid then.
        Err((e, mut child))
            if e == nix::errno::Errno::ENOSYS
                || (e == nix::errno::Errno::EINVAL && args.flags & CLONE_INTO_CGROUP != 0) =>
        {
            if let JoinAt::Dir { path, .. } = join {
                how = Join::Procs(path.clone());
            }
            // As much as the init's own stack when it shares our memory: its
            // paths are built on it (a few pages each), and an overflow here
            // would not fault but write over the child's copy of the heap.
            let mut stack = vec![0u8; STACK_LEN];
            let ptr: *mut ChildArgs = &mut *child;
            let run = Box::new(|| -> isize {
                // SAFETY: in the clone child, on its own copy of everything
                // prepared above (no CLONE_VM).
                unsafe { child_setup(&mut *ptr) }
            });
            // SAFETY: the child runs only `child_setup` (raw system calls,
            // then exec or _exit) on a stack that outlives the call (it gets
            // its own copy: no CLONE_VM).
            let pid = unsafe {
                nix::sched::clone(run, &mut stack, CLONE_NAMESPACES, Some(libc::SIGCHLD))
                    .map_err(sys("clone"))?
            };
            (pid.as_raw(), None)
        }
        Err((e, _)) => return Err(sys("clone3")(e)),
    };
    let pid = Pid::from_raw(pid);
    // The child's ends: the init has its own copies now.
    drop((cmd_r, status_w, stdin, stdout, stderr, ack_w));
    Ok(SpawnedInit {
        pid,
        cmd: cmd_w,
        status: status_r,
        setup: Setup {
            pid,
            ack: ack_r,
            names,
            ahead,
        },
        join: how,
        memory,
        hook_state,
    })
}

/// Everything the child reads and writes until it execs, made before the
/// clone.
struct ChildArgs {
    /// Its descriptors, and where it moves them.
    moves: [(RawFd, RawFd); 6],
    /// The command pipe's write end, which the child has a copy of.
    shim_end: RawFd,
    /// Where it reports its set-up until the ack pipe is in place.
    ack: RawFd,
    /// A pidfd of the [`Ahead`] whose namespaces it joins, and the pipe on
    /// which that says whether it made them; -1: it makes its own.
    ns_from: RawFd,
    ns_ready: RawFd,
    /// CGROUP_FD once the child holds the host's cgroup hierarchies there
    /// (the holder's descriptor of them); -1 without.
    cgroups: RawFd,
    /// The startContainer hooks' state, for HOOK_STATE_FD; -1 without.
    hook_state: RawFd,
    plan: InitPlan,
}

/// The child's stack while it shares our memory (or after the clone(2)
/// fallback): the init's needs are a few pages (it builds paths in
/// PATH_MAX buffers); debug builds take more.
const STACK_LEN: usize = 256 * 1024;

/// clone3 the init. With `share`, on x86_64, it shares our memory until it
/// execs (CLONE_VM, as posix_spawn's child does): a fork would copy the shim's
/// page tables and make every page copy-on-write, so that each page the
/// shim writes afterwards, and each the child writes, costs a fault (about
/// 50 a container here, 5-9 µs each on this VM), and a created container
/// would hold a copy of the shim. The child runs on its own stack, on
/// [`ChildArgs`], and makes only the system calls of `sys.rs` (no errno);
/// [`InitMemory`] keeps all that until it has exec'd or is gone.
#[cfg(target_arch = "x86_64")]
fn clone3(
    args: &mut CloneArgs,
    child: Box<ChildArgs>,
    share: bool,
) -> std::result::Result<(i32, Option<InitMemory>), (nix::errno::Errno, Box<ChildArgs>)> {
    if !share || !clone3_takes_stack_bottom() {
        return clone3_copy(args, child);
    }
    // SAFETY: a fresh anonymous mapping, ours alone.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err((nix::errno::Errno::last(), child));
    }
    // A guard page: an overflow faults instead of writing into the shim.
    // SAFETY: the lowest page of the mapping above.
    unsafe { libc::mprotect(stack, 4096, libc::PROT_NONE) };
    let mut pidfd: libc::c_int = -1;
    args.flags |= (libc::CLONE_VM | libc::CLONE_PIDFD) as u64;
    args.pidfd = &mut pidfd as *mut libc::c_int as u64;
    args.stack = stack as u64;
    args.stack_size = STACK_LEN as u64;
    let child = Box::into_raw(child);
    // SAFETY: `child_entry` runs only `child_setup` on that stack and on
    // `child`, which InitMemory keeps until the init has exec'd or is gone.
    let ret = unsafe { clone3_vm(args, child.cast(), child_entry) };
    if ret < 0 {
        // SAFETY: no child was made: the arguments and the stack are ours.
        unsafe { libc::munmap(stack, STACK_LEN) };
        // SAFETY: from Box::into_raw above, not used since.
        let child = unsafe { Box::from_raw(child) };
        return Err((nix::errno::Errno::from_raw(-ret as i32), child));
    }
    // SAFETY: CLONE_PIDFD stored a descriptor that is now ours.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let memory = InitMemory {
        stack,
        child,
        pidfd,
        exec_done: false,
    };
    Ok((ret as i32, Some(memory)))
}

/// clone3 the init as a copy of the shim (see the x86_64 version).
#[cfg(not(target_arch = "x86_64"))]
fn clone3(
    args: &mut CloneArgs,
    child: Box<ChildArgs>,
    _share: bool,
) -> std::result::Result<(i32, Option<InitMemory>), (nix::errno::Errno, Box<ChildArgs>)> {
    clone3_copy(args, child)
}

/// clone3 the init as a fork: a copy of the shim.
fn clone3_copy(
    args: &mut CloneArgs,
    mut child: Box<ChildArgs>,
) -> std::result::Result<(i32, Option<InitMemory>), (nix::errno::Errno, Box<ChildArgs>)> {
    // SAFETY: clone3 without CLONE_VM and without a stack is fork with
    // namespace and cgroup flags: the child gets a copy of this thread's
    // stack and memory and runs only `child_setup`, which never returns.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r == 0 {
        // SAFETY: in the clone child, on its own copy of the arguments.
        unsafe { child_setup(&mut child) }
    }
    if r < 0 {
        return Err((nix::errno::Errno::last(), child));
    }
    Ok((r as i32, None))
}

/// Where the child starts on its own stack (x86_64, CLONE_VM).
#[cfg(target_arch = "x86_64")]
extern "C" fn child_entry(child: *mut libc::c_void) -> ! {
    // SAFETY: the arguments clone3 was given, which InitMemory keeps alive
    // and which nothing else touches until this process has exec'd or died.
    unsafe { child_setup(&mut *child.cast::<ChildArgs>()) }
}

/// What the init runs on while it shares the shim's memory: its stack and
/// [`ChildArgs`]. Freed once it has exec'd ([`InitMemory::exec_done`]);
/// dropped before that, it first kills the init and waits until it has
/// exited (leaving it to the reaper), so that the memory is never freed
/// under it.
pub struct InitMemory {
    stack: *mut libc::c_void,
    child: *mut ChildArgs,
    pidfd: OwnedFd,
    exec_done: bool,
}

// SAFETY: the pointers are this value's own (a mapping and a Box), used by
// no other thread of the shim; the init that also uses them is waited for
// in Drop.
unsafe impl Send for InitMemory {}

impl InitMemory {
    /// The init has exec'd (its status pipe, close-on-exec, read EOF): it
    /// has memory of its own now.
    pub fn exec_done(mut self) {
        self.exec_done = true;
    }
}

impl Drop for InitMemory {
    fn drop(&mut self) {
        if !self.exec_done {
            let fd = self.pidfd.as_raw_fd();
            // SAFETY: pidfd_send_signal and waitid with our pidfd and a
            // siginfo we own. WNOWAIT: the reaper still reaps it.
            unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd, libc::SIGKILL, 0, 0);
                let mut info: libc::siginfo_t = std::mem::zeroed();
                loop {
                    let flags = libc::WEXITED | libc::WNOWAIT;
                    match libc::waitid(libc::P_PIDFD, fd as libc::id_t, &mut info, flags) {
                        0 => break,
                        _ if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
                        // Reaped already: gone.
                        _ if nix::errno::Errno::last() == nix::errno::Errno::ECHILD => break,
                        // Its end cannot be confirmed: leak the memory
                        // rather than free it under the init.
                        _ => return,
                    }
                }
            }
        }
        // SAFETY: the init has exec'd or exited: the mapping and the
        // arguments are ours alone, and freed once.
        unsafe {
            libc::munmap(self.stack, STACK_LEN);
            drop(Box::from_raw(self.child));
        }
    }
}

/// The clone child, which shares the shim's memory (or is a copy of the
/// threaded shim): only the raw system calls of `sys.rs` from here to
/// execve, and no return.
///
/// # Safety
/// Call only in a fresh clone child, with descriptors that are open.
unsafe fn child_setup(child: &mut ChildArgs) -> ! {
    let ack = child.ack;
    // Without this copy, a shim that died before PR_SET_PDEATHSIG below
    // would leave the init waiting on the command pipe forever.
    // SAFETY: the child's copy of the shim's end, used by nothing here.
    let _ = unsafe { raw::close(child.shim_end) };
    for &(from, to) in &child.moves {
        // SAFETY: 0-5 are the child's to replace (its copies of the shim's).
        if let Err(e) = unsafe { raw::dup_to(from, to) } {
            fail(ack, Fault::new(Step::PlaceFds, e, 0));
        }
    }

    // Kill the container if the shim dies: nobody would supervise it.
    // SAFETY: prctl with integer arguments, then with a C string.
    unsafe {
        let _ = raw::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as usize, 0);
        let name = c"mydocker-init".as_ptr() as usize;
        let _ = raw::prctl(libc::PR_SET_NAME, name, 0);
    }
    let _ = raw::setsid();
    // The runtime's handlers and ignored signals are the shim's, not the
    // container's: exec resets handlers but keeps what is ignored (SIGPIPE),
    // and until then a handler would run the shim's code here.
    reset_signals();
    // The namespaces made ahead, when there are: joining is all that is
    // left, once the holder has made them. It may still be at it (it
    // started with the shim, and Create came soon after): the wait is here,
    // after what needs no namespace above, and not in the shim, which makes
    // the cgroup meanwhile. Else the costly part of the clone (the network
    // namespace) is made here, while the shim makes the cgroup; its kernel
    // memory is charged to the cgroup the child is in (the container's on
    // v2, born there; the shim's on v1).
    let outcome = if child.ns_from < 0 {
        (NS_OWN, 0)
    } else {
        // How long it waits for the holder, for the shim's log: the
        // holder's work is off the path to the command only while it is
        // done by the time the init gets here.
        let before = raw::monotonic_us();
        let word = ahead_word(child.ns_ready);
        child.plan.waited_us = raw::monotonic_us().saturating_sub(before) as i32;
        match word {
            // With a root of its own, a mount namespace of its own too,
            // copied from the shim's as it is now: the holder's is a copy
            // from when the shim started, with its /dev and /sys over the
            // host's, and the root, the bind sources and a network
            // namespace's path may be mounts made since (an orchestrator's
            // overlay, a CNI namespace). Its other namespaces are joined.
            [0, ..] if child.plan.has_root() => {
                let others = UNSHARE_NAMESPACES & !libc::CLONE_NEWNS;
                match raw::setns(child.ns_from, others)
                    .and_then(|_| raw::unshare(libc::CLONE_NEWNS))
                {
                    Ok(_) => (NS_JOINED, 0),
                    Err(e) => (NS_SETNS_FAILED, e),
                }
            }
            // The holder's descriptor of the host's cgroup hierarchies in
            // its namespaces (its /sys hides them), taken first: the init
            // joins and binds its cgroup through it, at CGROUP_FD (free to
            // take: what is moved to 0-5 above came from 10 up). Without
            // it, the holder's namespaces are of no use to it.
            [0, made, root] => match take_cgroups(child.ns_from, made, root) {
                Err(e) => (NS_GETFD_FAILED, e),
                Ok(held) => match raw::setns(child.ns_from, UNSHARE_NAMESPACES) {
                    Ok(_) => {
                        child.plan.made_ahead = made;
                        child.cgroups = if held { CGROUP_FD } else { -1 };
                        (NS_JOINED, 0)
                    }
                    Err(e) => (NS_SETNS_FAILED, e),
                },
            },
            [e, ..] => (NS_HOLDER_FAILED, e),
        }
    };
    child.plan.namespaces = outcome;
    if outcome.0 != NS_JOINED {
        if let Err(e) = raw::unshare(UNSHARE_NAMESPACES) {
            fail(ACK_FD, Fault::new(Step::Unshare, e, 0));
        }
        if let Err(e) = loopback::up() {
            fail(ACK_FD, Fault::new(Step::Loopback, e, 0));
        }
    }
    // Nothing of the shim's stays open here while the init waits for its
    // command: a connection or the listening socket held by the init would
    // outlive the shim's own close.
    if child.plan.made_ahead & MADE_COVER != 0 {
        // The holder's second word comes here (see init.rs).
        // SAFETY: 7 is the child's to replace; the source is >= 10.
        if let Err(e) = unsafe { raw::dup_to(child.ns_ready, HOLDER_FD) } {
            fail(ACK_FD, Fault::new(Step::PlaceFds, e, 0));
        }
    }
    if child.hook_state >= 0 {
        // SAFETY: 8 is the child's to replace; the source is >= 10.
        let placed = unsafe { raw::dup_to(child.hook_state, HOOK_STATE_FD) };
        // Not the command's: each hook gets its copy as stdin.
        if let Err(e) = placed.and_then(|_| raw::set_cloexec(HOOK_STATE_FD)) {
            fail(ACK_FD, Fault::new(Step::PlaceFds, e, 0));
        }
    }
    close_from(HOOK_STATE_FD + 1);
    for (fd, kept) in [
        (CGROUP_FD, child.cgroups >= 0),
        (HOLDER_FD, child.plan.made_ahead & MADE_COVER != 0),
        (HOOK_STATE_FD, child.hook_state >= 0),
    ] {
        if !kept {
            // SAFETY: the child's copy of whatever the shim had there.
            let _ = unsafe { raw::close(fd) };
        }
    }
    let _ = raw::unblock_all();
    init::run(&mut child.plan)
}

/// Copies the holder's descriptor `root` (when it made a /sys: `made`) to
/// CGROUP_FD: whether it did. In the clone child.
fn take_cgroups(pidfd: RawFd, made: i32, root: RawFd) -> Result<bool, i32> {
    if made & MADE_SYS == 0 {
        return Ok(false);
    }
    // pidfd_getfd needs ptrace's rights over the holder: refused (Yama's
    // ptrace_scope 3, an LSM), the init makes its own namespaces.
    let fd = raw::pidfd_getfd(pidfd, root)? as RawFd;
    if fd == CGROUP_FD {
        return Ok(true);
    }
    // SAFETY: 6 is the child's to replace, and `fd` the copy pidfd_getfd
    // just made.
    let placed = unsafe { raw::dup_to(fd, CGROUP_FD) };
    // SAFETY: as above.
    let _ = unsafe { raw::close(fd) };
    placed.map(|_| true)
}

/// Sets every signal to its default action, with the raw syscall: glibc's
/// sigaction refuses its own two (32 and 33), and an ignored one would stay
/// ignored in the command. What the shim inherited ignored is reset too.
///
/// # Safety
/// Only in the clone child, which runs none of the shim's handlers again.
pub(super) unsafe fn reset_signals() {
    let dfl = raw::KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        // SIGKILL and SIGSTOP answer EINVAL: they cannot be changed.
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            // SAFETY: SIG_DFL runs nothing.
            let _ = unsafe { raw::rt_sigaction(sig, &dfl) };
        } else {
            // SAFETY: an all-zero sigaction is SIG_DFL with no flags.
            let mut d: libc::sigaction = unsafe { std::mem::zeroed() };
            d.sa_sigaction = libc::SIG_DFL;
            // SAFETY: sigaction(2) with a struct we own. (This is the fork
            // path: errno here is the child's own.)
            unsafe { libc::sigaction(sig, &d, std::ptr::null_mut()) };
        }
    }
}

/// Closes every descriptor from `first` up.
///
/// # Safety
/// Only where nothing else owns those descriptors: the clone child.
pub(super) unsafe fn close_from(first: RawFd) {
    // SAFETY: the caller's: nothing else owns these descriptors.
    if unsafe { raw::close_range(first) }.is_err() {
        // Before Linux 5.9: one by one, up to the descriptor limit.
        let max = raw::open_max().unwrap_or(1024).clamp(1024, 1 << 20) as RawFd;
        for fd in first..max {
            // SAFETY: as above.
            let _ = unsafe { raw::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::describe::describe;

    /// The tests below wait for children of this (test) process: one at a
    /// time, so that neither reaps or sees the other's.
    static CHILDREN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Whether these tests can run here (clone with namespaces needs root).
    fn as_root() -> bool {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            eprintln!("skipped: clone with namespaces needs root");
        }
        root
    }

    /// A directory standing in for a cgroup (its `tasks` takes writes), and
    /// the pair an init is sent to join it as `hierarchy`.
    fn fake_cgroup(tag: &str, hierarchy: &std::ffi::CStr) -> (std::path::PathBuf, CgroupDir) {
        let dir = std::env::temp_dir().join(format!("mydocker-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tasks"), "").unwrap();
        let pair = (
            CString::new(dir.to_str().unwrap()).unwrap(),
            hierarchy.into(),
        );
        (dir, pair)
    }

    /// Start: the command sent to a waiting init (its pipes).
    fn exec(
        (cmd, status): (OwnedFd, OwnedFd),
        command: Vec<u8>,
    ) -> Result<(), crate::process::exec::ExecError> {
        let waiting = crate::process::exec::Waiting::new(cmd, status, command);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(waiting.exec())
    }

    fn null_stdio() -> ChildStdio {
        let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
        ChildStdio {
            stdin: null(),
            stdout: null(),
            stderr: null(),
        }
    }

    /// A child that cannot join its cgroup says so, with the stage and the
    /// errno, and is gone when spawn_init returns. A directory whose `tasks`
    /// is /dev/full stands in for a cgroup that refuses the write (as v1
    /// does with ENOSPC when a cpuset is empty).
    #[test]
    fn a_failed_join_is_reported_and_leaves_no_child() {
        if !as_root() {
            return;
        }
        let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        let stdio = null_stdio();
        let plan = InitPlan::new("h", false, None, false, 0, 1, 0).unwrap();
        let (dir, cg) = fake_cgroup("join", c"memory");
        std::fs::remove_file(dir.join("tasks")).unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.join("tasks")).unwrap();
        let err = spawn_init(stdio, &JoinAt::Later, plan)
            .and_then(|init| {
                init.proceed(&[cg])?;
                init.setup.wait().map(drop)
            })
            .expect_err("the join must fail");
        std::fs::remove_dir_all(&dir).unwrap();
        let msg = err.to_string();
        assert!(msg.starts_with("join the cgroup: ENOSPC"), "{msg}");
        // Reaped already: no child of ours is left, not even a zombie.
        assert_eq!(
            nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)),
            Err(nix::errno::Errno::ECHILD)
        );
    }

    /// What fails after the ready report (the end of the set-up, which
    /// overlaps the shim's answer to Create) is reported as Start's
    /// failure, on the status pipe, even when the init is gone by the time
    /// the command is sent. Here its cgroup's hierarchy has a name that is
    /// no directory it can make on its /sys/fs/cgroup.
    #[test]
    fn a_failure_after_the_ready_report_is_starts_to_report() {
        if !as_root() {
            return;
        }
        let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        let (dir, cg) = fake_cgroup("late", c"no/such");
        let (command, envc) = init::encode(&["true".into()], &[], "", "h").unwrap();
        let plan = InitPlan::new("h", false, None, false, command.len(), 1, envc).unwrap();
        let init = spawn_init(null_stdio(), &JoinAt::Later, plan).unwrap();
        init.proceed(&[cg]).unwrap();
        let pid = init.pid;
        init.setup.wait().expect("ready before the failure");
        // Gone before the command is sent: its report is still read.
        let ws = nix::sys::wait::waitpid(pid, None).unwrap();
        assert_eq!(ws, nix::sys::wait::WaitStatus::Exited(pid, 125));
        let err = exec((init.cmd, init.status), command).unwrap_err();
        let crate::process::exec::ExecError::Failed(report) = err else {
            panic!("{err}");
        };
        let (code, msg) = describe(&report, &["true".into()], &[], "");
        assert_eq!(code, 125);
        assert!(
            msg.starts_with("mount cgroup hierarchy #1 on /sys/fs/cgroup: "),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A v1 hierarchy of co-mounted controllers (`cpu,cpuacct` on systemd
    /// hosts) is bound by that name and linked by each of its own, as the
    /// host has it; here a plain directory stands in for the cgroup.
    #[test]
    fn co_mounted_controllers_get_a_link_by_each_name() {
        if !as_root() {
            return;
        }
        let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        let (dir, cg) = fake_cgroup("comount", c"cpu,cpuacct");
        std::fs::write(dir.join("mark"), "").unwrap();
        let script =
            "readlink /sys/fs/cgroup/cpu /sys/fs/cgroup/cpuacct; ls /sys/fs/cgroup/cpuacct/";
        let argv = ["sh".to_string(), "-c".into(), script.into()];
        let (command, envc) = init::encode(&argv, &[], "", "h").unwrap();
        let plan = InitPlan::new("h", false, None, false, command.len(), 3, envc).unwrap();
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut stdio = null_stdio();
        stdio.stdout = out_w;
        let init = spawn_init(stdio, &JoinAt::Later, plan).unwrap();
        init.proceed(&[cg]).unwrap();
        let pid = init.pid;
        init.setup.wait().unwrap();
        exec((init.cmd, init.status), command).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(out_r), &mut out).unwrap();
        let ws = nix::sys::wait::waitpid(pid, None).unwrap();
        assert_eq!(ws, nix::sys::wait::WaitStatus::Exited(pid, 0), "{out}");
        assert_eq!(out, "cpu,cpuacct\ncpu,cpuacct\nmark\ntasks\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An init dropped before it execs, while it still runs on memory it
    /// shares with the shim, is killed, and has exited by the time the drop
    /// returns: the memory is never freed under it. (Reaping stays the
    /// reaper's: it is a zombie here.)
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn dropping_an_init_that_has_not_execd_ends_it_first() {
        if !as_root() {
            return;
        }
        if std::env::var_os(NO_CLONE3_ENV).is_some() || !clone3_takes_stack_bottom() {
            eprintln!("skipped: the init is a copy of the shim here");
            return;
        }
        let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        let stdio = null_stdio();
        let plan = InitPlan::new("h", false, None, false, 0, 1, 0).unwrap();
        let init = spawn_init_sharing(stdio, &JoinAt::Later, plan, true).unwrap();
        assert!(init.memory.is_some(), "x86_64 shares memory with the init");
        let pid = init.pid;
        // It waits for the cgroup's go-ahead, holding the command pipe open.
        drop(init.memory);
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let status = waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap();
        assert_eq!(
            status,
            WaitStatus::Signaled(pid, nix::sys::signal::Signal::SIGKILL, false)
        );
    }
}
