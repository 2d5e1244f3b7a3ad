//! The startContainer hooks, which the init runs itself: at Start, once
//! its command has come and before it execs it, in the container's root
//! and namespaces, its cgroup, as its user with its capabilities and its
//! seccomp filter, as runc runs them. From the shim they would run a
//! program of the image's with the runtime's privileges.
//!
//! Each is a fork of the init that execs the hook's path, with the
//! container's state on its stdin (a memfd the shim made before the clone
//! and filled at Create, at [`HOOK_STATE_FD`]) and /dev/null as its stdout
//! and stderr, in a process group of its own (a timeout ends what it
//! started too). The init waits for each in turn: one that fails, or
//! outlives its timeout, fails Start, and the command does not run. Raw
//! system calls only (`sys.rs`), on memory made before the clone.

use std::ffi::{c_char, CString};
use std::os::fd::RawFd;
use std::time::Duration;

use super::identity::{self, Identity};
use super::lookup::{probe_exec, Probe};
use super::relay::RelayError;
use super::report::{Fault, Step};
use super::sys;

/// Where the init holds the state its startContainer hooks read.
pub const HOOK_STATE_FD: RawFd = 8;

/// How long the init sleeps between looks at a hook that has a timeout.
const POLL_MS: u64 = 2;

/// A hook, ready to exec: its strings, and argv and envp pointing into
/// them.
pub struct StartHook {
    path: CString,
    /// Owns what `ptrs` points to (a CString's bytes do not move with it).
    _strings: Vec<CString>,
    /// argv, NULL, envp, NULL.
    ptrs: Vec<*const c_char>,
    argc: usize,
    /// 0: none.
    timeout_ms: u64,
}

impl StartHook {
    /// The hook at `path`, run as `args` (argv[0] first; empty: the path
    /// alone) with `env` and no more than `timeout`.
    pub fn new(
        path: &str,
        args: &[String],
        env: &[String],
        timeout: Option<Duration>,
    ) -> Result<Self, RelayError> {
        let c = |s: &str| CString::new(s).map_err(|_| RelayError::InnerNul);
        let path = c(path)?;
        let argv: Vec<CString> = match args.is_empty() {
            true => vec![path.clone()],
            false => args.iter().map(|a| c(a)).collect::<Result<_, _>>()?,
        };
        let argc = argv.len();
        let strings: Vec<CString> = argv
            .into_iter()
            .chain(env.iter().map(|e| c(e)).collect::<Result<Vec<_>, _>>()?)
            .collect();
        let mut ptrs: Vec<*const c_char> = Vec::with_capacity(strings.len() + 2);
        ptrs.extend(strings[..argc].iter().map(|s| s.as_ptr()));
        ptrs.push(std::ptr::null());
        ptrs.extend(strings[argc..].iter().map(|s| s.as_ptr()));
        ptrs.push(std::ptr::null());
        Ok(Self {
            path,
            _strings: strings,
            ptrs,
            argc,
            timeout_ms: timeout.map_or(0, |t| t.as_millis().max(1) as u64),
        })
    }

    /// Its path, for the words of its failure.
    pub fn name(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// How a failed hook's report carries its wait status or its timeout (in
/// the report's `errno`, which is no errno for these two steps).
pub fn timed_out(secs: u64, i: usize) -> Fault {
    Fault::new(Step::StartHookTimeout, secs.min(i32::MAX as u64) as i32, i)
}

/// Runs `hooks` in order, confined as `identity` (its seccomp filter, if
/// it waits for the command's exec, goes in before each hook's); the first
/// that fails ends it, with its fault.
pub fn run_all(hooks: &[StartHook], identity: &Identity) -> Result<(), Fault> {
    for (i, h) in hooks.iter().enumerate() {
        run(h, i, identity)?;
    }
    Ok(())
}

fn run(h: &StartHook, i: usize, identity: &Identity) -> Result<(), Fault> {
    let spawn_fault = |e| Fault::new(Step::StartHookSpawn, e, i);
    // Not found, or not executable: said now, in the init's words, rather
    // than as the child's exit.
    match probe_exec(&h.path) {
        Probe::Executable => {}
        Probe::Missing => return Err(spawn_fault(libc::ENOENT)),
        Probe::NotExecutable => return Err(spawn_fault(libc::EACCES)),
    }
    // Each reads the whole state.
    sys::rewind(HOOK_STATE_FD).map_err(spawn_fault)?;
    // The child says why it could not exec on this pipe (close-on-exec: EOF
    // when it did).
    let (err_r, err_w) = sys::pipe().map_err(spawn_fault)?;
    let pid = match sys::fork() {
        Ok(0) => child(h, err_w, identity),
        Ok(pid) => pid as i32,
        Err(e) => {
            close_both(err_r, err_w);
            return Err(spawn_fault(e));
        }
    };
    // SAFETY: the write end, the child's now.
    let _ = unsafe { sys::close(err_w) };
    let mut word = [0u8; 4];
    let mut got = 0;
    while got < word.len() {
        match sys::read(err_r, &mut word[got..]) {
            Err(libc::EINTR) => {}
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    // SAFETY: the read end, used no more.
    let _ = unsafe { sys::close(err_r) };
    if got == word.len() {
        let _ = reap(pid);
        return Err(spawn_fault(i32::from_ne_bytes(word)));
    }
    let status = match h.timeout_ms {
        0 => reap(pid),
        ms => {
            let start = sys::monotonic_us();
            loop {
                match sys::wait4(pid, libc::WNOHANG) {
                    Err(libc::EINTR) | Ok(None) => {}
                    done => break done,
                }
                if sys::monotonic_us().saturating_sub(start) >= ms * 1000 {
                    let _ = sys::kill(-pid, libc::SIGKILL);
                    let _ = sys::kill(pid, libc::SIGKILL);
                    let _ = reap(pid);
                    return Err(timed_out(ms / 1000, i));
                }
                sys::sleep_ms(POLL_MS);
            }
        }
    };
    match status {
        Ok(Some(0)) => Ok(()),
        Ok(Some(ws)) => Err(Fault::new(Step::StartHook, ws, i)),
        Ok(None) => Err(spawn_fault(libc::ECHILD)),
        Err(e) => Err(spawn_fault(e)),
    }
}

/// Waits for `pid` to exit: its wait status.
fn reap(pid: i32) -> Result<Option<i32>, i32> {
    loop {
        match sys::wait4(pid, 0) {
            Err(libc::EINTR) => {}
            r => return r,
        }
    }
}

fn close_both(a: RawFd, b: RawFd) {
    // SAFETY: the pipe's ends, which nothing else has.
    unsafe {
        let _ = sys::close(a);
        let _ = sys::close(b);
    }
}

/// The hook's process: its descriptors, then exec; on failure, the errno
/// on `err`, and exit.
fn child(h: &StartHook, err: RawFd, identity: &Identity) -> ! {
    let _ = sys::own_process_group();
    let placed = (|| {
        // SAFETY: 0-2 are this process's to replace.
        unsafe { sys::dup_to(HOOK_STATE_FD, 0) }?;
        let null = sys::open(c"/dev/null", libc::O_WRONLY | libc::O_CLOEXEC)? as RawFd;
        // SAFETY: as above.
        unsafe {
            sys::dup_to(null, 1)?;
            sys::dup_to(null, 2)?;
        }
        sys::chdir(c"/")?;
        // With no_new_privs the init loads the filter only before its
        // own exec: a hook, a program of the image's, gets it here.
        if identity.no_new_privs {
            identity::load_filters(identity).map_err(|f| f.errno)?;
        }
        Ok(0)
    })();
    let errno = match placed {
        Err(e) => e,
        // SAFETY: `ptrs` is argv, NULL, envp, NULL, all C strings in
        // `_strings`, which live until the exec.
        Ok(_) => unsafe {
            let argv = h.ptrs.as_ptr();
            sys::execve(&h.path, argv, argv.add(h.argc + 1))
        },
    };
    let _ = sys::write(err, &errno.to_ne_bytes());
    sys::exit(127)
}
