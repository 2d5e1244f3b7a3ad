//! Input toward a process: its stdin, fed by one task, and its terminal's
//! size.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::error::{IoError, Result};
use crate::fd::AsyncIoFd;

/// What attachers can send toward the container.
pub enum StdinOp {
    Data(Bytes),
    Close,
}

/// The container's stdin, fed by one task so that writes from several
/// attachers never interleave within a message.
#[derive(Clone)]
pub struct Stdin {
    tx: mpsc::Sender<StdinOp>,
}

impl Stdin {
    /// `tty`: the target is a PTY master, where "close" means sending the
    /// terminal's EOF character rather than closing the descriptor (which
    /// would hang up the terminal).
    pub fn spawn(target: Arc<AsyncIoFd>, tty: bool) -> Self {
        let (tx, mut rx) = mpsc::channel::<StdinOp>(64);
        tokio::spawn(async move {
            let mut target = Some(target);
            while let Some(op) = rx.recv().await {
                match (op, &target) {
                    (StdinOp::Data(d), Some(t)) => {
                        if let Err(e) = t.write_all(&d).await {
                            tracing::debug!(error = %e, "stdin write failed; closing it");
                            target = None;
                        }
                    }
                    (StdinOp::Close, Some(t)) if tty => {
                        let _ = t.write_all(&[0x04]).await;
                    }
                    (StdinOp::Close, Some(_)) => target = None,
                    (_, None) => {}
                }
            }
        });
        Self { tx }
    }

    pub async fn send(&self, op: StdinOp) -> Result<()> {
        self.tx.send(op).await.map_err(|_| IoError::StdinClosed)
    }
}

/// Sets a PTY's window size.
pub fn resize(master: &AsyncIoFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a live struct.
    let rc = unsafe { libc::ioctl(master.raw(), libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        return Err(IoError::Sys {
            what: "resize terminal",
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}
