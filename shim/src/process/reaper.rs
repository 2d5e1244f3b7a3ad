//! The shim is a child subreaper and reaps every exit here, in one place:
//! one `waitpid(-1)` loop driven by SIGCHLD, which hands each exit to
//! whoever watches that pid (a container, for its init).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

/// What is told of a watched process's exit.
pub trait Reaped: Send + Sync {
    /// Called synchronously in the loop, the moment the pid is reaped:
    /// from then on the pid is not the watcher's to signal (it may be
    /// another process's already). What takes longer belongs in a task.
    fn reaped(self: Arc<Self>, status: WaitStatus);
}

#[derive(Default)]
pub struct Reaper {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    watched: HashMap<i32, Arc<dyn Reaped>>,
}

impl Reaper {
    /// Installs the SIGCHLD handler and starts reaping. Call before the
    /// first child is created.
    pub fn start() -> std::io::Result<Arc<Self>> {
        let reaper = Arc::new(Self::default());
        let mut sigchld = signal(SignalKind::child())?;
        let r = reaper.clone();
        tokio::spawn(async move {
            loop {
                r.reap_all();
                if sigchld.recv().await.is_none() {
                    break;
                }
            }
        });
        Ok(reaper)
    }

    /// Hands the exit of `pid` to `to` when it comes. The shim's runtime
    /// is single-threaded and Create calls this right after the clone,
    /// before any await: the reaper cannot run in between, so no exit can
    /// come before its registration.
    pub fn watch(&self, pid: Pid, to: Arc<dyn Reaped>) {
        self.inner.lock().unwrap().watched.insert(pid.as_raw(), to);
    }

    fn reap_all(&self) {
        loop {
            let ws = match waitpid(
                Pid::from_raw(-1),
                Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
            ) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "waitpid failed");
                    return;
                }
                Ok(ws) => ws,
            };
            let Some(pid) = ws.pid() else { continue };
            if !matches!(ws, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
                continue;
            }
            let mut g = self.inner.lock().unwrap();
            match g.watched.remove(&pid.as_raw()) {
                Some(to) => {
                    drop(g);
                    to.reaped(ws);
                }
                None => tracing::debug!(pid = pid.as_raw(), "reaped an orphan"),
            }
        }
    }
}
