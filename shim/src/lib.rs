//! The library of `mydocker-shim`: one container's lifecycle, its init, its
//! standard streams, and the gRPC service over them.
//!
//! The rooms, and the one way their imports go (docs/ARCHITECTURE.md has
//! the picture):
//!
//! ```text
//! rpc ──▶ container ──▶ process   (clone, init, hardening, exec, reaper)
//!                   ├─▶ cgroup    (limits, OOM watch, stats)
//!                   └─▶ io        (readers ─▶ hub ─▶ log, replay, attachers)
//! ```
//!
//! and the leaves every room may use: [`exit`] (how a process ended),
//! [`stream`] (stdout or stderr), [`fd`] (a descriptor the runtime drives).

pub mod cgroup;
pub mod container;
pub mod exit;
pub mod fd;
pub mod io;
pub mod process;
pub mod rpc;
pub mod stream;
