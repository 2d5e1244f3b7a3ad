//! The shim spawned before our own command line is parsed (`run` and
//! `create`), and the signals held back while it has no one to tell it to
//! go.

use std::path::PathBuf;

use anyhow::Context;

use crate::args::DEFAULT_ROOT;

/// A new container id: 64 random hex digits, as docker's.
pub fn new_id() -> anyhow::Result<String> {
    mydocker::random_id().context("read /dev/urandom")
}

/// A shim spawned before our own command line was parsed.
pub struct EarlyShim {
    pub root: PathBuf,
    pub id: String,
    pub shim: mydocker::ShimCommand,
    pub spawned: mydocker::SpawnedShim,
}

/// The signals that `run` proxies, held back while a shim spawned early has
/// no one to tell it to go: a SIGINT then would kill us and leave it behind.
fn proxied_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset initialise and fill a set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Holds the signals back again (after a pull, which ran with them at
/// their default action), until the container is made or nothing is
/// left, as for a shim spawned early.
pub fn hold_signals() {
    let set = proxied_signals();
    // SAFETY: sigprocmask with a set we own.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Delivers what [`spawn_early`] held back (to the handlers of [`Signals`]
/// once they are installed, else with the default action).
pub fn release_signals() {
    let set = proxied_signals();
    // SAFETY: sigprocmask with a set we own.
    unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
}

/// A signal that came while the command line was parsed ends us, as it did
/// before the shim was spawned early: the early shim goes first, so that
/// nothing is left. Otherwise the shim is handed on.
pub fn unless_interrupted(early: Option<EarlyShim>) -> Option<EarlyShim> {
    // SAFETY: sigpending and sigismember on a set we own.
    let pending = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set);
        [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT]
            .iter()
            .any(|&s| libc::sigismember(&set, s) == 1)
    };
    if !pending {
        return early;
    }
    if let Some(e) = early {
        e.abandon();
    }
    // The signal's default action ends the process here.
    release_signals();
    None
}

/// For `run` and `create`, spawns the shim before anything else: before
/// clap parses the command line and the runtime is built (0.4-0.5 ms
/// here), which then overlap the shim's own start instead of preceding it.
/// Only the plain forms, `mydockerctl run|create ...` with the root from
/// $MYDOCKER_ROOT or the default, and without help or version flags; the
/// rest, and any failure here, take the ordinary path, which reports it.
/// [`create`] uses the shim, or abandons it if the parsed command line
/// says otherwise.
pub fn spawn_early() -> Option<EarlyShim> {
    let mut args = std::env::args_os().skip(1);
    let sub = args.next()?;
    if sub != "run" && sub != "create" {
        return None;
    }
    let ordinary = |a: &std::ffi::OsStr| {
        let b = a.as_encoded_bytes();
        // `--root DIR` or `--root=DIR` (not `--rootfs`): another state root.
        b == b"--root"
            || b.starts_with(b"--root=")
            || matches!(b, b"-h" | b"--help" | b"-V" | b"--version")
    };
    if args.any(|a| ordinary(&a)) {
        return None;
    }
    let root = std::env::var_os("MYDOCKER_ROOT")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_ROOT), PathBuf::from);
    // The first run makes the root; one refused then must not.
    if !root.is_dir() {
        return None;
    }
    let id = new_id().ok()?;
    let shim = mydocker::ShimCommand::find().ok()?;
    let set = proxied_signals();
    // SAFETY: sigprocmask with a set we own.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    match mydocker::spawn_shim(&shim, &root, &id) {
        Ok(spawned) => Some(EarlyShim {
            root,
            id,
            shim,
            spawned,
        }),
        Err(_) => {
            release_signals();
            None
        }
    }
}

impl EarlyShim {
    /// Ends the shim, which has no container yet, and removes its directory.
    pub fn abandon(mut self) {
        let _ = self.spawned.process.kill();
        let _ = self.spawned.process.wait();
        let _ = std::fs::remove_dir_all(mydocker::shim_dir(&self.root, &self.id));
    }
}
