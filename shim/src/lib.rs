//! The library of `mydocker-shim`: one container's lifecycle, its init, its
//! standard streams, and the gRPC service over them.

pub mod cgroup;
pub mod container;
pub mod harden;
pub mod init;
pub mod io;
pub mod reaper;
pub mod relay;
pub mod server;
pub mod service;
pub mod spawn;
mod sys;
mod ttyout;
