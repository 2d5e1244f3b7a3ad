//! Watching a container's cgroup for OOM kills: an eventfd on v1, inotify
//! on v2.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::stats::read_key;
use crate::fd::AsyncIoFd;

/// Watches `dir` (the memory controller's directory of the cgroup at
/// `path`) for OOM kills from now on; each one is logged, sets `seen`, and
/// kills the container's `init`. `None` when the kernel offers neither
/// kind of notification.
pub(super) fn watch(
    dir: &Path,
    v2: bool,
    path: String,
    seen: Arc<AtomicBool>,
    init: i32,
) -> Option<tokio::task::JoinHandle<()>> {
    let registered = if v2 {
        inotify_on(&dir.join("memory.events")).map(|fd| (fd, None))
    } else {
        eventfd_on(dir).map(|(efd, ctl)| (efd, Some(ctl)))
    };
    let (fd, keep) = match registered {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot watch for OOM kills");
            return None;
        }
    };
    let fd = AsyncIoFd::new(fd).ok()?;
    let counter = dir.join(if v2 {
        "memory.events"
    } else {
        "memory.oom_control"
    });
    Some(tokio::spawn(async move {
        let _keep = keep;
        let mut buf = bytes::BytesMut::with_capacity(4096);
        let mut kills = 0;
        loop {
            buf.clear();
            match fd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            // v2 notifies every change of memory.events: only a larger
            // oom_kill count is a kill. v1 signals each OOM of the
            // cgroup; with the kernel's killer disabled (see
            // disable_oom_killer) the task waits under_oom for us.
            let text = fs::read_to_string(&counter).unwrap_or_default();
            if v2 {
                match read_key(&text, "oom_kill") {
                    Some(n) if n > kills => kills = n,
                    _ => continue,
                }
            } else if read_key(&text, "under_oom") != Some(1)
                && read_key(&text, "oom_kill").unwrap_or(0) <= kills
            {
                continue;
            } else {
                kills = read_key(&text, "oom_kill").unwrap_or(0);
            }
            seen.store(true, Ordering::SeqCst);
            tracing::warn!(cgroup = %path, "the kernel OOM-killed a process of the container; killing the container");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(init),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }))
}

/// v1: an eventfd that the kernel signals on each OOM of the cgroup, and the
/// open `memory.oom_control` that must stay open for it.
pub(super) fn eventfd_on(dir: &Path) -> std::io::Result<(OwnedFd, fs::File)> {
    // SAFETY: eventfd(2) with flags; the result is checked.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: efd is a fresh descriptor that nothing else owns.
    let efd = unsafe { OwnedFd::from_raw_fd(efd) };
    let ctl = fs::File::open(dir.join("memory.oom_control"))?;
    fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd()),
    )?;
    Ok((efd, ctl))
}

/// v2: an inotify descriptor that becomes readable when `file` changes.
pub(super) fn inotify_on(file: &Path) -> std::io::Result<OwnedFd> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    ino.add_watch(file, AddWatchFlags::IN_MODIFY)?;
    Ok(OwnedFd::from(ino))
}
