//! A spec's hooks: programs the runtime runs at points of a container's
//! life, each given the container's state as JSON on its stdin (the OCI
//! runtime spec's "hooks"). GPU and network tooling relies on them.
//!
//! Run from the shim, synchronously: the shim's runtime has one thread,
//! and its reaper (`waitpid(-1)`, reaper.rs) runs only when a task
//! awaits, so a hook's exit is this code's to collect as long as nothing
//! awaits while it runs. A hook "in the container's namespaces" enters
//! them (through its init's `/proc/PID/ns`) between fork and exec; the
//! mount namespace last, which makes the container's root its own.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

/// A hook, as the spec gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    /// argv, with argv[0]; empty: the path alone.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<Duration>,
}

/// Where a hook runs.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// In the runtime's namespaces: the shim's.
    Runtime,
    /// In the namespaces of this process (the container's init).
    Container(Pid),
}

/// Why a hook failed: in words that name it (`createRuntime[0]
/// /usr/bin/x`).
#[derive(Debug, thiserror::Error)]
#[error("hook {name}: {what}")]
pub struct HookError {
    pub name: String,
    pub what: String,
}

/// The namespaces a container hook enters, in this order (the mount
/// namespace last: from then on paths are the container's).
const NAMESPACES: [&str; 5] = ["ipc", "uts", "net", "pid", "mnt"];

/// Runs `hook` (the `i`th of `kind`) with `state` on its stdin, and waits
/// for it (at most its timeout): Ok when it exited 0.
pub fn run(kind: &str, i: usize, hook: &Hook, state: &[u8], place: Place) -> Result<(), HookError> {
    let name = format!(
        "{kind}[{i}] {}",
        mydocker::brief(&hook.path.to_string_lossy())
    );
    let fail = |what: String| HookError {
        name: name.clone(),
        what,
    };
    let mut cmd = Command::new(&hook.path);
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear()
        .envs(hook.env.iter().filter_map(|kv| kv.split_once('=')))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .current_dir("/")
        // A group of its own: a timeout ends what it started too.
        .process_group(0);
    if let Place::Container(pid) = place {
        let fds: Vec<OwnedFd> = NAMESPACES
            .iter()
            .map(|ns| {
                std::fs::File::open(format!("/proc/{pid}/ns/{ns}"))
                    .map(OwnedFd::from)
                    .map_err(|e| fail(format!("open the container's {ns} namespace: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        // SAFETY: between fork and exec the child only makes system calls
        // (setns, chdir) on descriptors and a string that outlive it.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &raw {
                    if libc::setns(*fd, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if libc::chdir(c"/".as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let r = spawn_and_wait(&mut cmd, state, hook.timeout, fail);
        // Open until the spawn: the closure holds only their numbers.
        drop(fds);
        return r;
    }
    spawn_and_wait(&mut cmd, state, hook.timeout, fail)
}

fn spawn_and_wait(
    cmd: &mut Command,
    state: &[u8],
    timeout: Option<Duration>,
    fail: impl Fn(String) -> HookError,
) -> Result<(), HookError> {
    let mut child = cmd.spawn().map_err(|e| fail(format!("start: {e}")))?;
    // The state, then EOF, from a thread: a hook that does not read it
    // must not keep its timeout from running out (nor does its EPIPE fail
    // it).
    if let Some(mut stdin) = child.stdin.take() {
        let state = state.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&state);
        });
    }
    let stderr = child.stderr.take();
    let (tx, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut out);
        }
        let _ = tx.send(out);
    });
    let deadline = timeout.map(|t| Instant::now() + t);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(fail(format!("wait: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // SAFETY: kill(2) of the hook's own process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break Err(fail(format!(
                "did not finish within its timeout of {}s",
                timeout.unwrap_or_default().as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // What it said, unless something it left running still holds its
    // stderr (the reader then ends with that, unwaited for).
    let err = said
        .recv_timeout(Duration::from_millis(200))
        .unwrap_or_default();
    let status = status?;
    if status.success() {
        return Ok(());
    }
    // Its last line of stderr, if it said anything: one line.
    let said = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let how = match status.code() {
        Some(code) => format!("exited {code}"),
        None => format!("killed by {status}"),
    };
    Err(fail(match said {
        "" => how,
        s => format!("{how}: {}", mydocker::brief(s)),
    }))
}
