//! What the shim and `mydockerctl` (cleaning up after a dead shim) both do to
//! a container's cgroup directories.

use std::io;
use std::path::Path;
use std::time::Duration;

/// Removes one cgroup directory (a missing one is already removed).
///
/// By the time a container's cgroup is removed its init has been reaped, and
/// every process of its PID namespace with it, so the rmdir is tried first.
/// While the directory is busy (a process still exiting, or one moved in
/// from outside) whatever its `cgroup.procs` lists is SIGKILLed and the
/// rmdir tried again, every 5 ms for up to 2 s. A frozen (paused)
/// cgroup is thawed too: its tasks sit on a SIGKILL until then.
pub fn remove_dir(dir: &Path) -> io::Result<()> {
    let mut last = None;
    for _ in 0..400 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Whichever this hierarchy has (v1's freezer, or v2's every
        // directory); the others have neither file.
        let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
        let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(last.unwrap_or_else(|| io::Error::other("gave up")))
}
