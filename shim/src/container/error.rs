//! What can go wrong with a container, from its shim's Create to its
//! removal. The API fronts map each to their own codes, in one place each.

use mydocker::state::StateError;

use crate::cgroup::CgroupError;
use crate::io::IoError;
use crate::process::exec::ExecError;
use crate::process::hooks::HookError;
use crate::process::relay::RelayError;
use crate::process::rootfs::RootError;

use super::seccomp::SeccompError;
use crate::process::SpawnError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("this shim serves container {serves}, not {asked}")]
    NotThisShim { serves: String, asked: String },
    #[error("container {0} was deleted; this shim is exiting")]
    Deleted(String),
    #[error("container {0} still exists: delete it first")]
    StillExists(String),
    #[error("container {0} is already started")]
    AlreadyStarted(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is paused, unpause the container first")]
    Paused(String),
    #[error("container {0} is already paused")]
    AlreadyPaused(String),
    #[error("container {0} is not paused")]
    NotPaused(String),
    #[error("container {0} is running: stop it first")]
    StillRunning(String),
    #[error("container {0} exited before it was started")]
    ExitedBeforeStart(String),
    #[error("{0}")]
    ExecFailed(String),
    #[error("no such exec instance: {0}")]
    NoSuchExec(String),
    #[error("exec {0} already exists")]
    ExecExists(String),
    #[error("exec {0} is already started")]
    ExecAlreadyStarted(String),
    #[error("exec {0} is not running")]
    ExecNotRunning(String),
    #[error("exec {0} is running: kill it first")]
    ExecStillRunning(String),
    #[error("the container has {0} execs that have not exited: no room for another")]
    TooManyExecs(usize),
    #[error("the container has no cgroup any more")]
    NoCgroup,
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("init relay: {0}")]
    Relay(#[from] RelayError),
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::errno::Errno,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Network(#[from] mydocker::cni::CniError),
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

pub(crate) fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument(msg.into())
}

/// A field of a spec (or of Create) and what is wrong with it, for the
/// messages: `process.args: must name a command`.
pub(crate) fn field_err(field: &str, what: impl std::fmt::Display) -> ContainerError {
    ContainerError::InvalidArgument(format!("{field}: {what}"))
}
