//! How a process ended: the one account of an exit that the container, its
//! output hub (the last thing an attacher is sent) and the API fronts share.

use std::time::SystemTime;

use nix::sys::wait::WaitStatus;

/// How a container (or any process of one) ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitStatus {
    /// As a shell reports it: the code, or 128 + signal.
    pub code: i32,
    /// The terminating signal, 0 if none.
    pub signal: i32,
    pub at: SystemTime,
    pub oom_killed: bool,
    /// Why the command could not be executed, when it could not.
    pub error: Option<String>,
}

impl ExitStatus {
    pub fn from_wait(ws: WaitStatus, at: SystemTime) -> Option<Self> {
        let (code, signal) = match ws {
            WaitStatus::Exited(_, code) => (code, 0),
            WaitStatus::Signaled(_, sig, _) => (128 + sig as i32, sig as i32),
            _ => return None,
        };
        Some(Self {
            code,
            signal,
            at,
            oom_killed: false,
            error: None,
        })
    }
}

/// Nanoseconds since the Unix epoch, as the records and the API carry
/// times (0 for a time before it).
pub fn nanos(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
