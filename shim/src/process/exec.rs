//! Start: a process that has set itself up waits for its command on a
//! pipe; this sends it, and learns from the status pipe whether the
//! command runs (EOF: the exec closed it) or why not (a report).

use std::os::fd::OwnedFd;

use bytes::BytesMut;

use super::relay::{RelayError, Report};
use crate::fd::{AsyncIoFd, FdError};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// It was gone before it could read its command.
    #[error("the process exited before it was sent its command")]
    Gone,
    /// It could not run the command; its report says why.
    #[error("the command could not be executed (step {})", .0.step)]
    Failed(Report),
    #[error("init failed: {0}")]
    Garbled(RelayError),
    #[error("read the status pipe: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Fd(#[from] FdError),
}

/// A process waiting for its command: the command pipe's write end, the
/// status pipe's read end, and the command it will be sent.
pub struct Waiting {
    cmd: OwnedFd,
    status: OwnedFd,
    command: Vec<u8>,
}

impl Waiting {
    pub fn new(cmd: OwnedFd, status: OwnedFd, command: Vec<u8>) -> Self {
        Self {
            cmd,
            status,
            command,
        }
    }

    /// What a process that is gone reported before it exited, if anything:
    /// the end of its set-up after its ready report can fail, and it then
    /// says why on the status pipe. Read once it has exited (the pipe is at
    /// its end then, and this does not block).
    pub fn report_of_gone(&self) -> Option<Report> {
        let mut buf = [0u8; Report::SIZE];
        let mut got = 0;
        while got < buf.len() {
            match nix::unistd::read(&self.status, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        Report::decode(&buf[..got]).ok()
    }

    /// Sends the command, and returns once it is executing, or with why it
    /// could not be.
    pub async fn exec(self) -> Result<(), ExecError> {
        let cmd = AsyncIoFd::new(self.cmd)?;
        if let Err(e) = cmd.write_all(&self.command).await {
            // Gone: it may have said why.
            let status = Waiting {
                cmd: cmd.into_inner(),
                status: self.status,
                command: Vec::new(),
            };
            if let Some(r) = status.report_of_gone() {
                return Err(ExecError::Failed(r));
            }
            tracing::warn!(error = %e, "sending the command to the init failed");
            return Err(ExecError::Gone);
        }
        drop(cmd);
        // The status pipe is close-on-exec in the init: EOF with nothing
        // read means the exec succeeded.
        let status = AsyncIoFd::new(self.status)?;
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            // A full buffer would read 0 bytes, which looks like EOF.
            buf.reserve(4096);
            let n = status.read(&mut buf).await.map_err(ExecError::Read)?;
            // Anything past one report is not the init's.
            if n == 0 || buf.len() > Report::SIZE {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(());
        }
        match Report::decode(&buf) {
            Ok(r) => Err(ExecError::Failed(r)),
            Err(e) => Err(ExecError::Garbled(e)),
        }
    }
}
