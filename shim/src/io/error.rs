//! What can go wrong with a process's streams.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Fd(#[from] crate::fd::FdError),
    #[error("the container has no stdin (create it with stdin or tty)")]
    NoStdin,
    #[error("stdin is closed")]
    StdinClosed,
    #[error("the container has no terminal to resize")]
    NoTerminal,
}

pub type Result<T, E = IoError> = std::result::Result<T, E>;
