//! Cgroups: the container's own, through cgroups-rs: created with its limits
//! before the command runs, watched for OOM kills, read for Stats, and
//! removed (after killing what is left in it) on every way out.
//!
//! cgroup v1 and v2 differ in the files: v1 has `memory.limit_in_bytes`,
//! `cpu.shares`, `cpu.cfs_quota_us` and needs `cpuset.cpus`/`cpuset.mems`
//! filled before a process may join; v2 has `memory.max`, `cpu.weight`
//! (converted from shares, see [`mydocker::units::shares_to_weight`]),
//! `cpu.max`, and needs the controllers enabled in the parent's
//! `cgroup.subtree_control`. Every write is checked: an error names the file
//! and the value.
//!
//! [`group`] is the container's cgroup and all it does; [`v1`] and [`v2`]
//! what each hierarchy needs; `devices` the devices it may open; [`oom`]
//! the OOM watch; [`stats`] what Stats reads.

pub mod devices;
mod error;
pub mod freezer;
pub mod group;
mod oom;
pub mod stats;
mod v1;
mod v2;

pub use error::CgroupError;
pub use group::{check, unified, ContainerCgroup};
pub use stats::Stats;
