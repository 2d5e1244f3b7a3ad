//! What the init does last, before it execs the command: docker's default
//! confinement. Masked and read-only paths in the container's own mount
//! namespace, docker's default capability set (every other capability
//! dropped from the bounding, effective, permitted and inheritable sets, and
//! no ambient ones), and `no_new_privs`. `--privileged` skips all of it.

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

/// docker's default capabilities (moby's `DefaultCapabilities`).
pub const DEFAULT_CAPS: &[u32] = &[
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    8,  // CAP_SETPCAP
    10, // CAP_NET_BIND_SERVICE
    13, // CAP_NET_RAW
    18, // CAP_SYS_CHROOT
    27, // CAP_MKNOD
    29, // CAP_AUDIT_WRITE
    31, // CAP_SETFCAP
];

/// Paths docker hides: files get /dev/null over them, directories an empty
/// read-only tmpfs.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The capability mask docker's default set makes.
pub fn default_cap_mask() -> u64 {
    DEFAULT_CAPS.iter().fold(0, |m, c| m | (1u64 << c))
}

fn err<'a>(what: &'static str, path: &'a str) -> impl FnOnce(Errno) -> String + 'a {
    move |e| format!("{what} {path}: {}", e.desc())
}

/// Masks and write-protects docker's paths. Must run after the fresh /proc
/// is mounted, in the container's mount namespace.
pub fn protect_paths() -> Result<(), String> {
    for p in MASKED_PATHS {
        let meta = match std::fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(_) => continue, // Nothing there to hide.
        };
        if meta.is_dir() {
            mount(
                Some("tmpfs"),
                *p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
            )
            .map_err(err("mask", p))?;
        } else {
            mount(
                Some("/dev/null"),
                *p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(err("mask", p))?;
        }
    }
    for p in READONLY_PATHS {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        mount(
            Some(*p),
            *p,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(err("bind", p))?;
        mount(
            Some(*p),
            *p,
            None::<&str>,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(err("make read-only", p))?;
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// The highest capability this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drops every capability outside docker's default set, then sets
/// no_new_privs. The bounding set is what counts for root across exec: a
/// root process gets its bounding set as permitted and effective.
pub fn drop_privileges() -> Result<(), String> {
    // /proc/sys is read-only now, but still readable.
    let last = last_cap();
    for cap in 0..=last {
        if DEFAULT_CAPS.contains(&cap) {
            continue;
        }
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc < 0 && Errno::last() != Errno::EINVAL {
            return Err(format!(
                "drop capability {cap} from the bounding set: {}",
                Errno::last().desc()
            ));
        }
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
    let mask = default_cap_mask();
    let lo = mask as u32;
    let hi = (mask >> 32) as u32;
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: lo,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: hi,
        },
    ];
    // SAFETY: capset(2) reads a v3 header and two data structs we own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc < 0 {
        return Err(format!("set capabilities: {}", Errno::last().desc()));
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(format!("set no_new_privs: {}", Errno::last().desc()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_dockers() {
        // CapEff of a default docker container: 00000000a80425fb.
        assert_eq!(default_cap_mask(), 0xa804_25fb);
    }
}
