//! What the init does before it reports ready: docker's default
//! confinement. Masked and read-only paths in the container's own mount
//! namespace, docker's default capability set (every other capability
//! dropped from the bounding, effective, permitted and inheritable sets, and
//! no ambient ones), and `no_new_privs`. `--privileged` skips all of it.

use std::ffi::CStr;

use super::report::{Fault, Step};
use super::sys;

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
pub const MASKED_PATHS: &[&CStr] = &[
    c"/proc/asound",
    c"/proc/acpi",
    c"/proc/interrupts",
    c"/proc/kcore",
    c"/proc/keys",
    c"/proc/latency_stats",
    c"/proc/timer_list",
    c"/proc/timer_stats",
    c"/proc/sched_debug",
    c"/proc/scsi",
    c"/sys/firmware",
    c"/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only.
pub const READONLY_PATHS: &[&CStr] = &[
    c"/proc/bus",
    c"/proc/fs",
    c"/proc/irq",
    c"/proc/sys",
    c"/proc/sysrq-trigger",
];

/// The capability mask docker's default set makes.
pub fn default_cap_mask() -> u64 {
    DEFAULT_CAPS.iter().fold(0, |m, c| m | (1u64 << c))
}

/// The highest capability this kernel knows. Read by the shim, once: the
/// init cannot open files on the heap's behalf.
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// Whether something is at `path`, and whether it is a directory.
fn probe(path: &CStr) -> Option<bool> {
    let st = sys::stat(path, false).ok()?;
    Some(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Masks and write-protects docker's paths. Runs in the init, after its
/// fresh /proc is mounted: raw syscalls only, nothing allocated.
pub fn protect_paths() -> Result<(), Fault> {
    let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    for (i, p) in MASKED_PATHS.iter().enumerate() {
        let Some(is_dir) = probe(p) else {
            continue; // Nothing there to hide.
        };
        let r = if is_dir {
            sys::mount(Some(c"tmpfs"), p, Some(c"tmpfs"), ro, Some(c"size=0"))
        } else {
            sys::mount(Some(c"/dev/null"), p, None, libc::MS_BIND, None)
        };
        Fault::check(r, Step::Mask, i)?;
    }
    for (i, p) in READONLY_PATHS.iter().enumerate() {
        if probe(p).is_none() {
            continue;
        }
        let bind = libc::MS_BIND | libc::MS_REC;
        Fault::check(
            sys::mount(Some(p), p, None, bind, None),
            Step::BindReadOnly,
            i,
        )?;
        let remount = libc::MS_BIND | libc::MS_REMOUNT | ro;
        Fault::check(
            sys::mount(Some(p), p, None, remount, None),
            Step::MakeReadOnly,
            i,
        )?;
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

/// Drops every capability outside docker's default set, then sets
/// no_new_privs. The bounding set is what counts for root across exec: a
/// root process gets its bounding set as permitted and effective. Runs in
/// the init: raw syscalls only.
pub fn drop_privileges(last_cap: u32) -> Result<(), Fault> {
    for cap in 0..=last_cap {
        if DEFAULT_CAPS.contains(&cap) {
            continue;
        }
        // SAFETY: prctl with integer arguments.
        match unsafe { sys::prctl(libc::PR_CAPBSET_DROP, cap as usize, 0) } {
            // EINVAL: a capability this kernel does not have.
            Ok(_) | Err(libc::EINVAL) => {}
            Err(e) => return Err(Fault::new(Step::DropCap, e, cap as usize)),
        }
    }
    let clear = libc::PR_CAP_AMBIENT_CLEAR_ALL as usize;
    // SAFETY: prctl with integer arguments.
    let _ = unsafe { sys::prctl(libc::PR_CAP_AMBIENT, clear, 0) };
    let mask = default_cap_mask();
    let (lo, hi) = (mask as u32, (mask >> 32) as u32);
    let header = CapHeader {
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
    let header = &header as *const CapHeader as *const u8;
    Fault::check(
        sys::capset(header, data.as_ptr() as *const u8),
        Step::SetCaps,
        0,
    )?;
    Fault::check(
        // SAFETY: prctl with integer arguments.
        unsafe { sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0) },
        Step::NoNewPrivs,
        0,
    )?;
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
