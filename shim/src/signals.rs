//! The shim's signals (SIGCHLD, SIGTERM, SIGINT), read from signalfds
//! rather than through tokio's signal driver: that one sets up state for
//! every signal number on first use (22 KB of channels, resident in every
//! shim, and page faults at each shim's start), for three signals here.
//!
//! A signalfd sees only signals that no thread takes: all three must be
//! blocked in every thread, which [`block`] does for the threads made after
//! it (call it before the runtime is built), and [`Signals::new`] checks.

use std::task::{ready, Context, Poll};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tokio::io::unix::AsyncFd;

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("{0} is not blocked: call signals::block() before the runtime is built")]
    NotBlocked(Signal),
    #[error("signalfd: {0}")]
    Sys(#[from] nix::Error),
    #[error("register signalfd: {0}")]
    Register(#[from] std::io::Error),
}

const HANDLED: [Signal; 3] = [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT];

/// Blocks the shim's signals in this thread and the threads it makes from
/// now on. The init unblocks everything before it execs the command.
pub fn block() -> Result<(), SignalError> {
    let set: SigSet = HANDLED.into_iter().collect();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(())
}

/// Some of the shim's signals, as they come.
pub struct Signals {
    fd: AsyncFd<SignalFd>,
}

impl Signals {
    /// Must be called from within the runtime; `wanted` must be blocked.
    pub fn new(wanted: &[Signal]) -> Result<Self, SignalError> {
        let mut current = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut current))?;
        if let Some(s) = wanted.iter().find(|s| !current.contains(**s)) {
            return Err(SignalError::NotBlocked(*s));
        }
        let set: SigSet = wanted.iter().copied().collect();
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        // SAFETY: a SignalFd owns its descriptor, which stays open and the
        // same for as long as the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| SignalError::Register(e.into()))?;
        Ok(Self { fd })
    }

    /// The next signal. Signals of one kind that come before it is read
    /// count as one (as with any pending signal).
    pub async fn recv(&self) -> Result<Signal, SignalError> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Signal, SignalError>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            match guard.get_inner().read_signal() {
                Ok(Some(info)) => {
                    // The kernel reports only signals in the fd's mask.
                    if let Ok(s) = Signal::try_from(info.ssi_signo as i32) {
                        return Poll::Ready(Ok(s));
                    }
                }
                Ok(None) => guard.clear_ready(),
                Err(nix::Error::EINTR) => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}
