//! What Stats reads of a container's cgroup, and the `key value` files it
//! and the OOM watch read.

use std::fs;
use std::path::PathBuf;

use cgroups_rs::fs::cgroup::Cgroup;
use cgroups_rs::fs::cpuacct::CpuAcctController;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::MaxValue;

/// What Stats reports.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub memory_usage_bytes: u64,
    pub memory_limit_bytes: u64,
    pub cpu_usage_nanos: u64,
    pub cpu_throttled_nanos: u64,
    pub cpu_throttled_periods: u64,
    pub pids_current: u64,
    pub pids_limit: u64,
}

/// Reads `cg`'s figures; `cpu_dir` is its directory in the cpu
/// controller's hierarchy.
pub(super) fn read(cg: &Cgroup, cpu_dir: Option<PathBuf>, v2: bool) -> Stats {
    let mut s = Stats::default();
    if let Some(m) = cg.controller_of::<MemController>() {
        let st = m.memory_stat();
        s.memory_usage_bytes = st.usage_in_bytes;
        let limit = st.limit_in_bytes;
        // v1 reports "no limit" as a huge page-aligned number.
        s.memory_limit_bytes = if limit <= 0 || limit >= (1i64 << 62) {
            0
        } else {
            limit as u64
        };
    }
    let cpu_stat = cpu_dir
        .and_then(|d| fs::read_to_string(d.join("cpu.stat")).ok())
        .unwrap_or_default();
    if v2 {
        s.cpu_usage_nanos = read_key(&cpu_stat, "usage_usec").unwrap_or(0) * 1000;
        s.cpu_throttled_nanos = read_key(&cpu_stat, "throttled_usec").unwrap_or(0) * 1000;
    } else {
        if let Some(a) = cg.controller_of::<CpuAcctController>() {
            s.cpu_usage_nanos = a.cpuacct().usage;
        }
        s.cpu_throttled_nanos = read_key(&cpu_stat, "throttled_time").unwrap_or(0);
    }
    s.cpu_throttled_periods = read_key(&cpu_stat, "nr_throttled").unwrap_or(0);
    if let Some(p) = cg.controller_of::<PidController>() {
        s.pids_current = p.get_pid_current().unwrap_or(0);
        s.pids_limit = match p.get_pid_max() {
            Ok(MaxValue::Value(v)) if v > 0 => v as u64,
            _ => 0,
        };
    }
    s
}

/// `key value` lines, as in memory.events, memory.oom_control, cpu.stat.
pub(super) fn read_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_stat_files() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(read_key(t, "oom_kill"), Some(2));
        assert_eq!(read_key(t, "nope"), None);
    }
}
