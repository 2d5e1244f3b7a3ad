//! Pause and resume: the freezer, v1's `freezer.state` or v2's
//! `cgroup.freeze`. Freezing is not instant (a task in an uninterruptible
//! sleep freezes when it leaves it): the caller asks, then polls
//! [`Freezer::frozen`] without blocking the runtime meanwhile.

use std::fs;
use std::path::PathBuf;

use super::error::CgroupError;

/// A container cgroup's freezer files.
pub struct Freezer {
    pub(super) dir: PathBuf,
    pub(super) v2: bool,
    /// The cgroup's path, for errors.
    pub(super) cgroup: String,
}

impl Freezer {
    /// Asks the kernel to freeze (`on`) or thaw every task of the cgroup.
    /// A thaw is done when this returns; a freeze, once [`Self::frozen`].
    pub fn ask(&self, on: bool) -> Result<(), CgroupError> {
        let (file, value) = match (self.v2, on) {
            (true, true) => ("cgroup.freeze", "1"),
            (true, false) => ("cgroup.freeze", "0"),
            (false, true) => ("freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED"),
        };
        fs::write(self.dir.join(file), value).map_err(|e| CgroupError::Freeze {
            path: self.cgroup.clone(),
            cause: format!("write {value} to {file}: {e}"),
        })
    }

    /// Whether every task is frozen. v1 may stay FREEZING when a task was
    /// forking as it was asked: asking again takes the new one in (as
    /// runc does).
    pub fn frozen(&self) -> bool {
        if self.v2 {
            let events = fs::read_to_string(self.dir.join("cgroup.events")).unwrap_or_default();
            events
                .lines()
                .any(|l| l.split_whitespace().eq(["frozen", "1"]))
        } else {
            let state = fs::read_to_string(self.dir.join("freezer.state")).unwrap_or_default();
            if state.trim() == "FROZEN" {
                return true;
            }
            let _ = self.ask(true);
            false
        }
    }

    /// A freeze not done in time.
    pub fn too_slow(&self, secs: u64) -> CgroupError {
        CgroupError::Freeze {
            path: self.cgroup.clone(),
            cause: format!("not all of its processes froze within {secs} s"),
        }
    }
}
