//! Pause and resume: the freezer, v1's `freezer.state` or v2's
//! `cgroup.freeze`. Freezing is not instant (a task in an uninterruptible
//! sleep freezes when it leaves it), so both wait until the kernel says the
//! whole cgroup is frozen, and give up, thawed, after a while.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::CgroupError;

/// How long a freeze may take before it is given up (runc's order).
const PATIENCE: Duration = Duration::from_secs(2);

/// Freezes (`on`) or thaws the cgroup at `dir`, and waits until it is.
pub fn set(dir: &Path, v2: bool, on: bool, cgroup: &str) -> Result<(), CgroupError> {
    let (file, value) = match (v2, on) {
        (true, true) => ("cgroup.freeze", "1"),
        (true, false) => ("cgroup.freeze", "0"),
        (false, true) => ("freezer.state", "FROZEN"),
        (false, false) => ("freezer.state", "THAWED"),
    };
    let write = || {
        fs::write(dir.join(file), value).map_err(|e| CgroupError::Write {
            path: cgroup.to_string(),
            file,
            value: value.to_string(),
            cause: e.to_string(),
        })
    };
    write()?;
    let deadline = Instant::now() + PATIENCE;
    let mut pause = Duration::from_micros(100);
    loop {
        if is(dir, v2, on) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            if on {
                // Half frozen helps nobody: thawed, as it was.
                let _ = set_thawed(dir, v2);
            }
            return Err(CgroupError::Write {
                path: cgroup.to_string(),
                file,
                value: value.to_string(),
                cause: format!("not done after {} s", PATIENCE.as_secs()),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
        // v1 may stay FREEZING when a task was forking as it was asked:
        // asking again takes the new task in (runc does the same).
        if on && !v2 {
            write()?;
        }
    }
}

fn set_thawed(dir: &Path, v2: bool) -> std::io::Result<()> {
    match v2 {
        true => fs::write(dir.join("cgroup.freeze"), "0"),
        false => fs::write(dir.join("freezer.state"), "THAWED"),
    }
}

/// Whether the cgroup is all frozen (`on`) or all thawed.
fn is(dir: &Path, v2: bool, on: bool) -> bool {
    if v2 {
        let events = fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
        let frozen = events
            .lines()
            .any(|l| l.split_whitespace().eq(["frozen", "1"]));
        frozen == on
    } else {
        let state = fs::read_to_string(dir.join("freezer.state")).unwrap_or_default();
        state.trim() == if on { "FROZEN" } else { "THAWED" }
    }
}
