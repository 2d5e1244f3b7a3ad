//! What can go wrong starting a process.

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::errno::Errno,
    },
    /// The process could not set itself up; in its words (see
    /// init::describe).
    #[error("{0}")]
    Setup(String),
    #[error("the container's init exited before it was set up")]
    ChildDied,
}

pub type Result<T, E = SpawnError> = std::result::Result<T, E>;

/// A system call's error, as the failure of `what`.
pub(crate) fn sys(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> SpawnError {
    move |source| SpawnError::Sys { what, source }
}
