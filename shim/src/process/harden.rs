//! docker's default confinement, in the init: masked and read-only paths in
//! the container's own mount namespace, the capability sets (docker's
//! default set, every other capability dropped from the bounding,
//! effective, permitted and inheritable sets, and no ambient ones, unless
//! a spec says otherwise), `no_new_privs`. The kernel's keyrings are
//! refused by docker's seccomp (default_filter.rs); a container without
//! it gets a session keyring of its own, as runc gives every one.

use std::ffi::{CStr, CString};

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

/// The shim's own permitted capabilities (all where it cannot tell): what
/// a container of its can be given at most. Read once.
pub fn own_permitted() -> u64 {
    static OWN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| {
        let header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget(2) of this process into two structs of ours, the
        // version 3 layout the header names.
        let r = unsafe {
            libc::syscall(
                libc::SYS_capget,
                &header as *const CapHeader,
                data.as_mut_ptr(),
            )
        };
        if r != 0 {
            return u64::MAX;
        }
        u64::from(data[0].permitted) | u64::from(data[1].permitted) << 32
    })
}

/// Whether something is at `path`, and whether it is a directory.
fn probe(path: &CStr) -> Option<bool> {
    let st = sys::stat(path, false).ok()?;
    Some(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Masks `masked` and write-protects `readonly` (docker's lists, or a
/// spec's), once /proc and /sys are the container's. Runs in the init:
/// raw syscalls only, nothing allocated. Masked directories share one
/// empty read-only tmpfs (the first is mounted, the others are binds of
/// it): every file system is one more to tear down when the container
/// exits.
pub fn protect_paths(masked: &[CString], readonly: &[CString]) -> Result<(), Fault> {
    // Read-only and nothing else, as docker's and runc's masks are.
    let ro = libc::MS_RDONLY;
    let mut empty: Option<&CStr> = None;
    for (i, p) in masked.iter().enumerate() {
        let p = p.as_c_str();
        let Some(is_dir) = probe(p) else {
            continue; // Nothing there to hide.
        };
        let r = match (is_dir, empty) {
            (true, None) => {
                empty = Some(p);
                sys::mount(Some(c"tmpfs"), p, Some(c"tmpfs"), ro, None)
            }
            // Read-only as its file system is.
            (true, Some(e)) => sys::mount(Some(e), p, None, libc::MS_BIND, None),
            (false, _) => sys::mount(Some(c"/dev/null"), p, None, libc::MS_BIND, None),
        };
        Fault::check(r, Step::Mask, i)?;
    }
    for (i, p) in readonly.iter().enumerate() {
        let p = p.as_c_str();
        if probe(p).is_none() {
            continue;
        }
        let bind = libc::MS_BIND | libc::MS_REC;
        Fault::check(
            sys::mount(Some(p), p, None, bind, None),
            Step::BindReadOnly,
            i,
        )?;
        // With the flags of the mount it is on (a remount without them
        // would clear them, or be refused where they are locked), as runc
        // keeps them: statfs's ST_* are MS_*'s numbers.
        let kept = libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
            | libc::MS_NOATIME
            | libc::MS_NODIRATIME
            | libc::MS_RELATIME;
        let on = sys::statfs_flags(p).unwrap_or(0) as libc::c_ulong & kept;
        let remount = libc::MS_BIND | libc::MS_REMOUNT | ro | on;
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

/// The five capability sets, as masks (bit N: capability N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl CapSets {
    /// docker's default set in the four sets and none ambient: what root
    /// in a docker container has.
    pub fn docker() -> Self {
        let m = default_cap_mask();
        Self {
            bounding: m,
            effective: m,
            permitted: m,
            inheritable: m,
            ambient: 0,
        }
    }
}

/// Keeps only `caps.bounding` in the bounding set: what counts for root
/// across exec (a root process gets its bounding set as permitted and
/// effective). First of the drops, while CAP_SETPCAP is still there.
pub fn drop_bounding(last_cap: u32, caps: &CapSets) -> Result<(), Fault> {
    for cap in 0..=last_cap.min(63) {
        if caps.bounding & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments.
        match unsafe { sys::prctl(libc::PR_CAPBSET_DROP, cap as usize, 0) } {
            // EINVAL: a capability this kernel does not have.
            Ok(_) | Err(libc::EINVAL) => {}
            Err(e) => return Err(Fault::new(Step::DropCap, e, cap as usize)),
        }
    }
    Ok(())
}

/// Sets the effective, permitted and inheritable sets, then the ambient
/// one, then (when asked) no_new_privs. After the user switch (see
/// identity.rs), which kept the permitted set for this. Runs in the init:
/// raw syscalls only.
pub fn set_caps(caps: &CapSets, no_new_privs: bool) -> Result<(), Fault> {
    let clear = libc::PR_CAP_AMBIENT_CLEAR_ALL as usize;
    // SAFETY: prctl with integer arguments.
    let _ = unsafe { sys::prctl(libc::PR_CAP_AMBIENT, clear, 0) };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: lo(caps.effective),
            permitted: lo(caps.permitted),
            inheritable: lo(caps.inheritable),
        },
        CapData {
            effective: hi(caps.effective),
            permitted: hi(caps.permitted),
            inheritable: hi(caps.inheritable),
        },
    ];
    let header = &header as *const CapHeader as *const u8;
    Fault::check(
        sys::capset(header, data.as_ptr() as *const u8),
        Step::SetCaps,
        0,
    )?;
    for cap in 0..64usize {
        if caps.ambient & (1 << cap) == 0 {
            continue;
        }
        let raise = libc::PR_CAP_AMBIENT_RAISE as usize;
        // One that is not also inheritable and permitted cannot be raised:
        // skipped, as runc does (`runc spec` asks for ambient capabilities
        // it does not make inheritable).
        // SAFETY: prctl with integer arguments.
        match unsafe { sys::prctl(libc::PR_CAP_AMBIENT, raise, cap) } {
            Ok(_) | Err(libc::EPERM) => {}
            Err(e) => return Err(Fault::new(Step::SetCaps, e, cap)),
        }
    }
    if no_new_privs {
        Fault::check(
            // SAFETY: prctl with integer arguments.
            unsafe { sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0) },
            Step::NoNewPrivs,
            0,
        )?;
    }
    Ok(())
}

/// A session keyring of the container's own, as runc gives each: without
/// it, a container that can reach keyrings (privileged, or without
/// docker's seccomp) would share the session keyring the shim was started
/// in.
pub fn own_keyring() -> Result<(), Fault> {
    // A null name: a new anonymous keyring ("_ses").
    Fault::check(
        sys::keyctl(libc::KEYCTL_JOIN_SESSION_KEYRING as libc::c_int, 0),
        Step::Keyring,
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
