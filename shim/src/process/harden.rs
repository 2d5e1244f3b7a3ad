//! What the init does before it reports ready: docker's default
//! confinement. Masked and read-only paths in the container's own mount
//! namespace, docker's default capability set (every other capability
//! dropped from the bounding, effective, permitted and inheritable sets, and
//! no ambient ones), `no_new_privs`, and no way to the kernel's keyrings.
//! `--privileged` skips all of it, and has a session keyring of its own.

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

/// Masks and write-protects docker's paths, once /proc and /sys are the
/// container's. Runs in the init: raw syscalls only, nothing allocated.
/// Masked directories share one empty read-only tmpfs (the first is
/// mounted, the others are binds of it): every file system is one more to
/// tear down when the container exits.
pub fn protect_paths() -> Result<(), Fault> {
    let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let mut empty: Option<&CStr> = None;
    for (i, p) in MASKED_PATHS.iter().enumerate() {
        let Some(is_dir) = probe(p) else {
            continue; // Nothing there to hide.
        };
        let r = match (is_dir, empty) {
            (true, None) => {
                empty = Some(p);
                sys::mount(Some(c"tmpfs"), p, Some(c"tmpfs"), ro, Some(c"size=0"))
            }
            // Read-only as its file system is.
            (true, Some(e)) => sys::mount(Some(e), p, None, libc::MS_BIND, None),
            (false, _) => sys::mount(Some(c"/dev/null"), p, None, libc::MS_BIND, None),
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

/// A session keyring of the container's own, as runc gives each: without
/// it, a privileged container (which can reach keyrings: no filter) would
/// share the session keyring the shim was started in.
pub fn own_keyring() -> Result<(), Fault> {
    // A null name: a new anonymous keyring ("_ses").
    Fault::check(
        sys::keyctl(libc::KEYCTL_JOIN_SESSION_KEYRING as libc::c_int, 0),
        Step::Keyring,
        0,
    )?;
    Ok(())
}

/// The system calls of the kernel's key management, refused with EPERM as
/// docker's default seccomp profile refuses them: keyrings are not
/// namespaced, and the user keyring of uid 0 is every root process's on the
/// host; and without a keyring of its own, its session keyring is the
/// shim's. A privileged container, which has no filter, gets one (see
/// [`own_keyring`]).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const KEY_SYSCALLS: [u32; 3] = [
    libc::SYS_add_key as u32,
    libc::SYS_request_key as u32,
    libc::SYS_keyctl as u32,
];
/// The same on the 32-bit x86 ABI, which a 64-bit process can still call
/// (`int 0x80`): add_key, request_key, keyctl.
#[cfg(target_arch = "x86_64")]
const KEY_SYSCALLS_I386: [u32; 3] = [286, 287, 288];

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// The x32 ABI's syscalls are x86_64's numbers with this bit.
#[cfg(target_arch = "x86_64")]
const X32_BIT: u32 = 0x4000_0000;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// A word of `seccomp_data` at an offset.
const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const DENY: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

/// The filter: the architecture at offset 4 of `seccomp_data`, the
/// syscall's number at 0.
#[cfg(target_arch = "x86_64")]
const KEY_FILTER: [libc::sock_filter; 15] = [
    stmt(LOAD, 4),
    jeq(AUDIT_ARCH_X86_64, 0, 6),
    stmt(LOAD, 0),
    stmt(
        (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16,
        !X32_BIT,
    ),
    jeq(KEY_SYSCALLS[0], 9, 0),
    jeq(KEY_SYSCALLS[1], 8, 0),
    jeq(KEY_SYSCALLS[2], 7, 0),
    stmt(RET, ALLOW),
    jeq(AUDIT_ARCH_I386, 0, 4),
    stmt(LOAD, 0),
    jeq(KEY_SYSCALLS_I386[0], 3, 0),
    jeq(KEY_SYSCALLS_I386[1], 2, 0),
    jeq(KEY_SYSCALLS_I386[2], 1, 0),
    stmt(RET, ALLOW),
    stmt(RET, DENY),
];

#[cfg(target_arch = "aarch64")]
const KEY_FILTER: [libc::sock_filter; 8] = [
    stmt(LOAD, 4),
    jeq(AUDIT_ARCH_AARCH64, 0, 4),
    stmt(LOAD, 0),
    jeq(KEY_SYSCALLS[0], 3, 0),
    jeq(KEY_SYSCALLS[1], 2, 0),
    jeq(KEY_SYSCALLS[2], 1, 0),
    stmt(RET, ALLOW),
    stmt(RET, DENY),
];

/// Installs the key management filter (after `no_new_privs`, which lets a
/// filter in without CAP_SYS_ADMIN). Until a bundle brings docker's whole
/// seccomp profile, this is the one part of it the host mode cannot do
/// without: the rest of docker's confinement is already in the mounts and
/// the capabilities.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn refuse_keyrings() -> Result<(), Fault> {
    let prog = libc::sock_fprog {
        len: KEY_FILTER.len() as u16,
        filter: KEY_FILTER.as_ptr() as *mut libc::sock_filter,
    };
    Fault::check(sys::seccomp_filter(&prog), Step::Seccomp, 0)?;
    Ok(())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn refuse_keyrings() -> Result<(), Fault> {
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
