//! `mydockerctl top`: the container's processes as `ps` shows them, found
//! in its cgroup (so its execs, and whatever they left running, too).

use std::path::Path;

use crate::args::TopArgs;
use crate::containers::{self, Status};
use crate::error::exit_with;

pub fn top(root: &Path, args: TopArgs) -> anyhow::Result<i32> {
    let t = containers::resolve(root, &args.id)?;
    let record = t.record()?;
    if record.status() != Status::Running {
        return Err(exit_with(1, format!("Container {} is not running", t.id)));
    }
    let pids = procs(&record.config.cgroup);
    if pids.is_empty() {
        return Err(exit_with(
            1,
            format!("container {}: no process in its cgroup", t.arg),
        ));
    }
    // docker's default is `ps -ef`'s columns.
    let opts = if args.ps_args.is_empty() {
        vec!["-f".to_string()]
    } else {
        args.ps_args
    };
    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    let st = std::process::Command::new("ps")
        .args(&opts)
        .arg("-p")
        .arg(list.join(","))
        .status()
        .map_err(|e| exit_with(1, format!("run ps: {e}")))?;
    // ps exits 1 when every listed process has gone meanwhile.
    Ok(if st.success() { 0 } else { 1 })
}

/// The processes of cgroup `rel` (relative to each hierarchy's root): from
/// the v2 hierarchy, or the first v1 hierarchy that has it.
fn procs(rel: &str) -> Vec<i32> {
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![base.join(rel)];
    if let Ok(entries) = std::fs::read_dir(base) {
        let mut v1: Vec<_> = entries.flatten().map(|e| e.path().join(rel)).collect();
        v1.sort();
        dirs.extend(v1);
    }
    for dir in dirs {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if !pids.is_empty() {
                return pids;
            }
        }
    }
    Vec::new()
}
