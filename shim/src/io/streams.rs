//! Opening a process's streams: pipes (and /dev/null for a stdin nobody
//! feeds), or, for a terminal, nothing yet: the process makes its own PTY
//! in its devpts and sends the master back (process/terminal.rs). The
//! ends the process gets as 0, 1 and 2; and, once it is set up, the
//! readers and the stdin writer on the shim's ends.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use nix::fcntl::OFlag;

use super::error::{IoError, Result};
use super::hub::OutputHub;
use super::log::LogWriter;
use super::pump::spawn_pump;
use super::stdin::Stdin;
use super::ttyout::spawn_reader;
use crate::fd::AsyncIoFd;
use crate::stream::StreamKind;

/// What a process's streams are to be.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamSpec {
    /// A terminal, rather than pipes.
    pub tty: bool,
    /// Keep stdin open for attachers to write to (a terminal always is).
    pub stdin: bool,
}

/// The process's ends, each close-on-exec (it gets them by dup2). With a
/// terminal, /dev/null until it puts its terminal there.
pub struct ChildEnds {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The shim's ends, until the process has its own copies.
pub struct Opened {
    hub: Arc<OutputHub>,
    kind: Ends,
}

enum Ends {
    /// A terminal: its master comes from the process.
    Tty,
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
}

/// A running process's streams, as the shim holds them.
pub struct Streams {
    pub hub: Arc<OutputHub>,
    pub stdin: Option<Stdin>,
    /// The terminal's master, for resizing.
    pub pty: Option<Arc<AsyncIoFd>>,
}

fn sys(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> IoError {
    move |e| IoError::Sys {
        what,
        source: e.into(),
    }
}

/// Opens the streams of `spec`, their output logged to `log` (an exec's
/// is not: docker's).
pub fn open(spec: &StreamSpec, log: Option<&Path>) -> Result<(ChildEnds, Opened)> {
    let log = log
        .map(LogWriter::open)
        .transpose()
        .map_err(|source| IoError::Sys {
            what: "open container log",
            source,
        })?;
    open_into(spec, Arc::new(OutputHub::new(log)))
}

/// [`open`], the output going to `hub` (made earlier, for attachers that
/// came before the process).
pub fn open_into(spec: &StreamSpec, hub: Arc<OutputHub>) -> Result<(ChildEnds, Opened)> {
    if spec.tty {
        let ends = ChildEnds {
            stdin: dev_null()?,
            stdout: dev_null()?,
            stderr: dev_null()?,
        };
        return Ok((
            ends,
            Opened {
                hub,
                kind: Ends::Tty,
            },
        ));
    }
    let (in_r, in_w) = if spec.stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        (dev_null()?, None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let ends = ChildEnds {
        stdin: in_r,
        stdout: out_w,
        stderr: err_w,
    };
    let kind = Ends::Pipes {
        stdin: in_w,
        stdout: out_r,
        stderr: err_r,
    };
    Ok((ends, Opened { hub, kind }))
}

impl Opened {
    /// Starts the readers and the stdin writer, on `master` for a terminal
    /// (the one the process made). Call once the process has its copies of
    /// the ends (and they are closed here), so that its exit is their end
    /// of file.
    pub fn start(self, master: Option<OwnedFd>) -> Result<Streams> {
        let hub = self.hub;
        match self.kind {
            Ends::Tty => {
                let master = master.ok_or(IoError::NoTerminal)?;
                // Written to by the runtime (stdin), read by the reader's
                // thread.
                let master = Arc::new(AsyncIoFd::with_interest(
                    master,
                    tokio::io::Interest::WRITABLE,
                )?);
                spawn_reader(hub.clone(), master.clone(), StreamKind::Stdout);
                Ok(Streams {
                    hub,
                    stdin: Some(Stdin::spawn(master.clone(), true)),
                    pty: Some(master),
                })
            }
            Ends::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                spawn_pump(
                    hub.clone(),
                    Arc::new(AsyncIoFd::new(stdout)?),
                    StreamKind::Stdout,
                );
                spawn_pump(
                    hub.clone(),
                    Arc::new(AsyncIoFd::new(stderr)?),
                    StreamKind::Stderr,
                );
                let stdin = match stdin {
                    Some(w) => Some(Stdin::spawn(Arc::new(AsyncIoFd::new(w)?), false)),
                    None => None,
                };
                Ok(Streams {
                    hub,
                    stdin,
                    pty: None,
                })
            }
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))
}

fn dev_null() -> Result<OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|source| IoError::Sys {
            what: "open /dev/null",
            source,
        })
}
