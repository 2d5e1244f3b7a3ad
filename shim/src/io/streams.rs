//! Opening a process's streams: a PTY, or pipes (and /dev/null for a
//! stdin nobody feeds); the ends the process gets as 0, 1 and 2; and, once
//! it has its copies, the readers and the stdin writer on the shim's ends.

use std::os::fd::{AsRawFd, OwnedFd};
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
    /// rows, cols of the terminal.
    pub terminal_size: Option<(u16, u16)>,
}

/// The process's ends, each close-on-exec (it gets them by dup2).
pub struct ChildEnds {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// Its stdin is a terminal, to be its controlling one.
    pub tty: bool,
}

/// The shim's ends, until the process has its own copies.
pub struct Opened {
    hub: Arc<OutputHub>,
    kind: Ends,
}

enum Ends {
    Tty {
        master: OwnedFd,
    },
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

/// Opens the streams of `spec`, their output logged to `log`.
pub fn open(spec: &StreamSpec, log: &Path) -> Result<(ChildEnds, Opened)> {
    let log = LogWriter::open(log).map_err(|source| IoError::Sys {
        what: "open container log",
        source,
    })?;
    let hub = Arc::new(OutputHub::new(Some(log)));
    if spec.tty {
        let (master, slave) = open_pty(spec.terminal_size)?;
        let ends = ChildEnds {
            stdin: dup(&slave)?,
            stdout: dup(&slave)?,
            stderr: slave,
            tty: true,
        };
        return Ok((
            ends,
            Opened {
                hub,
                kind: Ends::Tty { master },
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
        tty: false,
    };
    let kind = Ends::Pipes {
        stdin: in_w,
        stdout: out_r,
        stderr: err_r,
    };
    Ok((ends, Opened { hub, kind }))
}

impl Opened {
    /// Starts the readers and the stdin writer. Call once the process has
    /// its copies of the ends (and they are closed here), so that its exit
    /// is their end of file.
    pub fn start(self) -> Result<Streams> {
        let hub = self.hub;
        match self.kind {
            Ends::Tty { master } => {
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

fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    fd.try_clone().map_err(|source| IoError::Sys {
        what: "dup",
        source,
    })
}

fn dev_null() -> Result<OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|source| IoError::Sys {
            what: "open /dev/null",
            source,
        })
}

/// A PTY pair, both ends close-on-exec (the child gets the slave by dup2).
fn open_pty(size: Option<(u16, u16)>) -> Result<(OwnedFd, OwnedFd)> {
    use nix::pty::{grantpt, posix_openpt, unlockpt};
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(sys("open /dev/ptmx"))?;
    grantpt(&master).map_err(sys("grantpt"))?;
    unlockpt(&master).map_err(sys("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(sys("ptsname"))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open pty slave"))?;
    let master: OwnedFd = master.into();
    let (rows, cols) = size.unwrap_or((24, 80));
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a live struct.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(sys("set terminal size")(nix::errno::Errno::last()));
    }
    Ok((master, slave))
}
