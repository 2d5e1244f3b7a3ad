//! Signals to a process, or to every process of its PID namespace.

use nix::errno::Errno;
use nix::unistd::Pid;

/// kill(2) with any signal number, real-time ones included.
pub fn send(pid: Pid, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill(2) with integer arguments.
    if unsafe { libc::kill(pid.as_raw(), sig) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Every process whose PID namespace is that of `init`, found through
/// /proc, but `init` itself. SIGKILL to the init alone would do (the
/// namespace dies with it), but other signals must reach each process
/// themselves.
pub fn namespace_members(init: Pid) -> Vec<Pid> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(target) = ns(&init.to_string()) else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| *p != init.as_raw() && ns(&p.to_string()).as_ref() == Some(&target))
        .map(Pid::from_raw)
        .collect()
}

/// A signal number as the API takes it: 0 is SIGKILL; 1 to SIGRTMAX
/// (real-time signals too); anything else None.
pub fn number(n: i32) -> Option<i32> {
    match n {
        0 => Some(libc::SIGKILL),
        n if (1..=libc::SIGRTMAX()).contains(&n) => Some(n),
        _ => None,
    }
}
