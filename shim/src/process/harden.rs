//! What the init does before it reports ready: docker's default
//! confinement. Masked and read-only paths in the container's own mount
//! namespace, docker's default capability set (every other capability
//! dropped from the bounding, effective, permitted and inheritable sets, and
//! no ambient ones), `no_new_privs`, and no way to the kernel's keyrings.
//! `--privileged` skips all of it, and has a session keyring of its own.

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
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapPrm:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX)
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
///
/// add_key, request_key and keyctl, by architecture (`seccomp_data.arch`),
/// as numbered there; a 64-bit process can also call the 32-bit ABI of its
/// machine (`int 0x80`, compat ARM), which has numbers of its own.
const X86_64: (u32, [u32; 3]) = (0xc000_003e, [248, 249, 250]);
const I386: (u32, [u32; 3]) = (0x4000_0003, [286, 287, 288]);
const AARCH64: (u32, [u32; 3]) = (0xc000_00b7, [217, 218, 219]);
const ARM: (u32, [u32; 3]) = (0x4000_0028, [309, 310, 311]);
/// The x32 ABI's syscalls are x86_64's numbers (arch x86_64) with this bit.
const X32_BIT: u32 = 0x4000_0000;

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// A word of `seccomp_data` at an offset: the syscall's number at 0, the
/// architecture at 4.
const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const DENY: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

/// The filter of a machine whose native ABI is `native` and whose other
/// ABI is `compat`: each architecture's three numbers denied (every test
/// of a number jumps to the last instruction), anything else allowed.
/// `x32`: the native numbers may carry [`X32_BIT`].
const fn key_filter(
    native: (u32, [u32; 3]),
    compat: (u32, [u32; 3]),
    x32: bool,
) -> [libc::sock_filter; 15] {
    let (n, c) = (native.1, compat.1);
    // Without x32, the mask leaves the number as it is.
    let mask = if x32 { !X32_BIT } else { !0 };
    [
        stmt(LOAD, 4),
        jeq(native.0, 0, 6),
        stmt(LOAD, 0),
        stmt(AND, mask),
        jeq(n[0], 9, 0),
        jeq(n[1], 8, 0),
        jeq(n[2], 7, 0),
        stmt(RET, ALLOW),
        jeq(compat.0, 0, 4),
        stmt(LOAD, 0),
        jeq(c[0], 3, 0),
        jeq(c[1], 2, 0),
        jeq(c[2], 1, 0),
        stmt(RET, ALLOW),
        stmt(RET, DENY),
    ]
}

const KEY_FILTER_X86_64: [libc::sock_filter; 15] = key_filter(X86_64, I386, true);
const KEY_FILTER_AARCH64: [libc::sock_filter; 15] = key_filter(AARCH64, ARM, false);

/// Installs the key management filter (after `no_new_privs`, which lets a
/// filter in without CAP_SYS_ADMIN). Until a bundle brings docker's whole
/// seccomp profile, this is the one part of it the host mode cannot do
/// without: the rest of docker's confinement is already in the mounts and
/// the capabilities. (Elsewhere than x86_64 and aarch64, none.)
pub fn refuse_keyrings() -> Result<(), Fault> {
    let filter: &[libc::sock_filter] = if cfg!(target_arch = "x86_64") {
        &KEY_FILTER_X86_64
    } else if cfg!(target_arch = "aarch64") {
        &KEY_FILTER_AARCH64
    } else {
        return Ok(());
    };
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    Fault::check(sys::seccomp_filter(&prog), Step::Seccomp, 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter, run by a small interpreter of the classic BPF it uses.
    fn verdict(filter: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let data = [nr, arch];
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = filter[pc];
            pc += 1;
            match i.code {
                LOAD => acc = data[i.k as usize / 4],
                AND => acc &= i.k,
                RET => return i.k,
                _ => pc += if acc == i.k { i.jt } else { i.jf } as usize,
            }
        }
    }

    #[test]
    fn the_key_syscalls_are_refused_on_every_abi_and_nothing_else() {
        for (filter, abis, x32) in [
            (&KEY_FILTER_X86_64, [X86_64, I386], true),
            (&KEY_FILTER_AARCH64, [AARCH64, ARM], false),
        ] {
            for (arch, nrs) in abis {
                for nr in nrs {
                    assert_eq!(verdict(filter, arch, nr), DENY, "{arch:#x} {nr}");
                }
                for other in [0, 1, 59, 247, 251, 285, 289, 308, 312] {
                    assert_eq!(verdict(filter, arch, other), ALLOW, "{arch:#x} {other}");
                }
            }
            // The x32 ABI: x86_64's numbers with the x32 bit.
            let x32_keyctl = verdict(filter, abis[0].0, 250 | X32_BIT);
            assert_eq!(x32_keyctl == DENY, x32 && abis[0].1[2] == 250);
            // Another architecture altogether: nothing to say.
            assert_eq!(verdict(filter, 0xdead, 250), ALLOW);
        }
        // And the numbers are this machine's own.
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                X86_64.1,
                [libc::SYS_add_key, libc::SYS_request_key, libc::SYS_keyctl].map(|n| n as u32)
            );
        }
    }

    #[test]
    fn the_default_set_is_dockers() {
        // CapEff of a default docker container: 00000000a80425fb.
        assert_eq!(default_cap_mask(), 0xa804_25fb);
    }
}
