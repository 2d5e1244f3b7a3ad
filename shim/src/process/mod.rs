//! Processes: everything it takes to start one confined process and to
//! know when it ends. The container's init is the first use; an exec'd
//! process is the next.
//!
//! - [`spawn`]: the clone, into new namespaces (joining those made
//!   [`ahead`]) and the cgroup, and the child's first steps;
//! - [`init`]: the child's own work until it execs, with raw system calls
//!   only (`sys`): its [`mounts`], its [`terminal`], its [`loopback`]
//!   up, [`harden`]ing, the cgroup join, the command read off a pipe
//!   ([`relay`]), the PATH [`lookup`]; what fails is a [`report`], put into
//!   words by [`describe`];
//! - [`exec`]: sending a waiting process its command (Start);
//! - [`signal`]: signals to it, or to its whole PID namespace;
//! - [`reaper`]: the one `waitpid` loop, which tells each watcher of its
//!   process's exit.

mod ack;
pub mod ahead;
#[cfg(test)]
pub mod bpf_test;
mod clone;
mod cpath;
pub mod default_filter;
pub mod describe;
pub mod enter;
pub mod error;
pub mod exec;
pub mod extras;
pub mod harden;
pub mod hooks;
pub mod identity;
pub mod init;
pub mod lookup;
pub mod loopback;
pub mod mounts;
pub mod reaper;
pub mod relay;
pub mod report;
pub mod rootfs;
pub mod signal;
pub mod spawn;
pub mod start_hooks;
mod sys;
pub mod syscalls;
pub mod terminal;

pub use error::SpawnError;
