//! What can go wrong with a container's cgroup.

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{0}")]
    Invalid(String),
    #[error("cgroup {path}: set {file} to {value:?}: {cause}")]
    Write {
        path: String,
        file: &'static str,
        value: String,
        cause: String,
    },
    #[error("cgroup {path}: freezer: {cause}")]
    Freeze { path: String, cause: String },
    #[error("create cgroup {path}: {cause}")]
    Create { path: String, cause: String },
    #[error("cgroup {path}: no {controller} controller (on v2, check cgroup.subtree_control of its parent)")]
    Controller { controller: String, path: String },
    /// The host refused to set up what is not the user's to choose (the
    /// device rules): not a bad request.
    #[error("cgroup {path}: {what}: {cause}")]
    Setup {
        path: String,
        what: String,
        cause: String,
    },
    #[error("put the init into cgroup {path}: {cause}")]
    Join { path: String, cause: String },
    #[error("remove cgroup {path}: {cause}")]
    Remove { path: String, cause: String },
}

pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
