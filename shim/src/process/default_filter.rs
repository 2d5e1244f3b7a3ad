//! docker's default seccomp confinement, for a container of Create's
//! fields: the system calls docker's documentation lists as blocked by its
//! default profile, each unless the container has the capability docker
//! lets it through for, refused with EPERM; `clone` with a namespace flag
//! and `unshare` without CAP_SYS_ADMIN (so, no user namespace either);
//! `clone3` answered ENOSYS, as docker does, so that libc falls back to
//! `clone`. On every ABI of the machine: x86_64's own, x32's and i386's
//! numbers (AArch32's for the calls that matter most: this build has no
//! table of them).
//!
//! docker's profile is an allow-list of some 370 calls; this is the
//! deny-list of what it blocks among the calls a container could make, so
//! a system call newer than both is allowed here and refused there. Built
//! by the shim (the numbers are this kernel ABI's, syscalls.rs), loaded by
//! the init right before its exec, as a spec's profile is (identity.rs).

use super::syscalls;

/// (system call, the capability that lets it through): docker's.
const DENIED: [(&str, Option<u32>); 48] = [
    ("acct", Some(CAP_SYS_PACCT)),
    ("add_key", None),
    ("bpf", Some(CAP_SYS_ADMIN)),
    ("clock_adjtime", Some(CAP_SYS_TIME)),
    ("clock_settime", Some(CAP_SYS_TIME)),
    ("create_module", Some(CAP_SYS_MODULE)),
    ("delete_module", Some(CAP_SYS_MODULE)),
    ("finit_module", Some(CAP_SYS_MODULE)),
    ("get_kernel_syms", None),
    ("get_mempolicy", Some(CAP_SYS_NICE)),
    ("init_module", Some(CAP_SYS_MODULE)),
    ("ioperm", Some(CAP_SYS_RAWIO)),
    ("iopl", Some(CAP_SYS_RAWIO)),
    ("kcmp", Some(CAP_SYS_PTRACE)),
    ("kexec_file_load", Some(CAP_SYS_BOOT)),
    ("kexec_load", Some(CAP_SYS_BOOT)),
    ("keyctl", None),
    ("lookup_dcookie", Some(CAP_SYS_ADMIN)),
    ("mbind", Some(CAP_SYS_NICE)),
    ("mount", Some(CAP_SYS_ADMIN)),
    ("move_pages", Some(CAP_SYS_NICE)),
    ("name_to_handle_at", Some(CAP_DAC_READ_SEARCH)),
    ("nfsservctl", None),
    ("open_by_handle_at", Some(CAP_DAC_READ_SEARCH)),
    ("perf_event_open", Some(CAP_SYS_ADMIN)),
    ("pivot_root", Some(CAP_SYS_ADMIN)),
    ("process_vm_readv", Some(CAP_SYS_PTRACE)),
    ("process_vm_writev", Some(CAP_SYS_PTRACE)),
    ("query_module", None),
    ("quotactl", Some(CAP_SYS_ADMIN)),
    ("reboot", Some(CAP_SYS_BOOT)),
    ("request_key", None),
    ("set_mempolicy", Some(CAP_SYS_NICE)),
    ("setns", Some(CAP_SYS_ADMIN)),
    ("settimeofday", Some(CAP_SYS_TIME)),
    ("stime", Some(CAP_SYS_TIME)),
    ("swapon", Some(CAP_SYS_ADMIN)),
    ("swapoff", Some(CAP_SYS_ADMIN)),
    ("sysfs", None),
    ("_sysctl", None),
    ("umount", Some(CAP_SYS_ADMIN)),
    ("umount2", Some(CAP_SYS_ADMIN)),
    ("unshare", Some(CAP_SYS_ADMIN)),
    ("uselib", None),
    ("userfaultfd", Some(CAP_SYS_PTRACE)),
    ("ustat", None),
    ("vm86", None),
    ("vm86old", None),
];

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_MODULE: u32 = 16;
const CAP_SYS_RAWIO: u32 = 17;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_PACCT: u32 = 20;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_BOOT: u32 = 22;
const CAP_SYS_NICE: u32 = 23;
const CAP_SYS_TIME: u32 = 25;

/// clone's flags that make namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS,
/// NEWIPC, NEWUSER, NEWPID, NEWNET).
const NAMESPACE_FLAGS: u32 = 0x7e02_0000;

#[cfg(test)]
const X32_BIT: u32 = 0x4000_0000;

const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

fn ins(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// One architecture's part: the call's number loaded, each denied number
/// answered, clone3's, then each clone's namespace flags (argument 0's low
/// word, which reloads the accumulator: last), then allowed.
fn section(nrs: &[u32], clones: &[u32], clone3s: &[u32]) -> Vec<libc::sock_filter> {
    let mut p = vec![ins(LOAD, 0, 0, 0)];
    for nr in nrs {
        p.push(ins(JEQ, *nr, 0, 1));
        p.push(ins(RET, EPERM, 0, 0));
    }
    for nr in clone3s {
        p.push(ins(JEQ, *nr, 0, 1));
        p.push(ins(RET, ENOSYS, 0, 0));
    }
    // Each: not this clone, on to the next test (4 on); this one, its
    // flags, and allowed past the other tests when there are none.
    for (i, nr) in clones.iter().enumerate() {
        let left = (clones.len() - 1 - i) as u8;
        p.push(ins(JEQ, *nr, 0, 3));
        p.push(ins(LOAD, 16, 0, 0));
        p.push(ins(JSET, NAMESPACE_FLAGS, 0, 1 + 4 * left));
        p.push(ins(RET, EPERM, 0, 0));
    }
    p.push(ins(RET, ALLOW, 0, 0));
    p
}

/// AArch32's numbers (ARM EABI), which this build has no header of: the
/// calls that matter most.
const ARM_DENIED: [(&str, u32); 7] = [
    ("mount", 21),
    ("umount2", 52),
    ("add_key", 309),
    ("request_key", 310),
    ("keyctl", 311),
    ("unshare", 337),
    ("setns", 375),
];
const ARM_CLONE: u32 = 120;

/// x86_64's x32 ABI (the same architecture, numbers with bit 30) ends the
/// process, as libseccomp's bad-architecture action does: for a spec's
/// profile (container/seccomp.rs), whose seccompiler filters check the
/// architecture alone, so that x32's numbers would reach their fallback,
/// which a deny-list profile allows.
pub fn x32_guard() -> Vec<libc::sock_filter> {
    const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    vec![
        ins(LOAD, 4, 0, 0),
        ins(JEQ, X86_64, 0, 3),
        ins(LOAD, 0, 0, 0),
        ins(JGE, 0x4000_0000, 0, 1),
        ins(RET, libc::SECCOMP_RET_KILL_PROCESS, 0, 0),
        ins(RET, ALLOW, 0, 0),
    ]
}

const X86_64: u32 = 0xc000_003e;

/// The filter for a container whose bounding set is `caps`: empty on an
/// architecture other than x86_64 and aarch64 (the container then gets a
/// session keyring of its own, harden.rs).
pub fn build(caps: u64) -> Vec<libc::sock_filter> {
    let (native_arch, compat_arch) = if cfg!(target_arch = "x86_64") {
        (X86_64, 0x4000_0003_u32)
    } else if cfg!(target_arch = "aarch64") {
        (0xc000_00b7, 0x4000_0028)
    } else {
        return Vec::new();
    };
    let has = |cap: u32| caps & (1 << cap) != 0;
    let denied = DENIED
        .iter()
        .filter(|(_, cap)| !cap.is_some_and(has))
        .map(|(name, _)| *name);
    let admin = has(CAP_SYS_ADMIN);
    let nums = |f: fn(&str) -> Option<i64>| -> Vec<u32> {
        denied.clone().filter_map(f).map(|n| n as u32).collect()
    };
    let one = |f: fn(&str) -> Option<i64>, name: &str| -> Vec<u32> {
        f(name).map(|n| n as u32).into_iter().collect()
    };
    // x86_64's own numbers and x32's (the same architecture, bit 30 set,
    // some numbers of its own).
    let mut native_nrs = nums(syscalls::number);
    native_nrs.extend(nums(syscalls::x32_number));
    let (mut clones, mut clone3s) = (Vec::new(), Vec::new());
    if !admin {
        for f in [syscalls::number, syscalls::x32_number] {
            clones.extend(one(f, "clone"));
            clone3s.extend(one(f, "clone3"));
        }
    }
    let native = section(&native_nrs, &clones, &clone3s);
    let compat = if cfg!(target_arch = "aarch64") {
        let arm: Vec<u32> = ARM_DENIED
            .iter()
            .filter(|(name, _)| denied.clone().any(|d| d == *name))
            .map(|(_, nr)| *nr)
            .collect();
        let clone: Vec<u32> = if admin { Vec::new() } else { vec![ARM_CLONE] };
        section(&arm, &clone, &[])
    } else if admin {
        section(&nums(syscalls::compat_number), &[], &[])
    } else {
        section(
            &nums(syscalls::compat_number),
            &one(syscalls::compat_number, "clone"),
            &one(syscalls::compat_number, "clone3"),
        )
    };
    // The architecture first: a machine's kernel takes calls of these two
    // only; anything else falls through to allowed.
    let mut p = vec![
        ins(LOAD, 4, 0, 0),
        ins(JEQ, native_arch, 1, 0),
        ins(JA, native.len() as u32, 0, 0),
    ];
    p.extend(native);
    p.push(ins(JEQ, compat_arch, 1, 0));
    p.push(ins(RET, ALLOW, 0, 0));
    p.extend(compat);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::process::bpf_test::run;

    fn verdict(p: &[libc::sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        run(p, nr as i64, arch, [arg0, 0, 0, 0, 0, 0])
    }

    #[test]
    fn dockers_calls_are_refused_unless_its_capability_is_there() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let (x86_64, i386) = (0xc000_003e, 0x4000_0003);
        let docker = crate::process::harden::default_cap_mask();
        let p = build(docker);
        let n = |name| syscalls::number(name).unwrap() as u32;
        let c = |name| syscalls::compat_number(name).unwrap() as u32;
        for name in [
            "keyctl", "add_key", "mount", "unshare", "setns", "bpf", "reboot",
        ] {
            assert_eq!(verdict(&p, x86_64, n(name), 0), EPERM, "{name}");
            assert_eq!(verdict(&p, i386, c(name), 0), EPERM, "{name} (i386)");
        }
        // x32's numbers for the same calls, its own ones too.
        let x = |name| syscalls::x32_number(name).unwrap() as u32;
        assert_eq!(x("keyctl"), n("keyctl") | X32_BIT);
        assert_eq!(verdict(&p, x86_64, x("keyctl"), 0), EPERM);
        assert_eq!(verdict(&p, x86_64, x("kexec_load"), 0), EPERM);
        assert_eq!(verdict(&p, x86_64, x("process_vm_readv"), 0), EPERM);
        assert_eq!(
            verdict(&p, x86_64, x("clone"), libc::CLONE_NEWUSER as u64),
            EPERM
        );
        assert_eq!(verdict(&p, x86_64, x("clone"), 0), ALLOW);
        assert_eq!(verdict(&p, x86_64, x("read"), 0), ALLOW);
        for name in ["read", "openat", "execve", "chroot", "kill"] {
            assert_eq!(verdict(&p, x86_64, n(name), 0), ALLOW, "{name}");
        }
        assert_eq!(verdict(&p, i386, c("read"), 0), ALLOW);
        assert_eq!(verdict(&p, x86_64, n("clone3"), 0), ENOSYS);
        // clone: a thread, yes; a user namespace, no.
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(verdict(&p, x86_64, n("clone"), thread), ALLOW);
        let userns = libc::CLONE_NEWUSER as u64;
        assert_eq!(verdict(&p, x86_64, n("clone"), userns), EPERM);
        assert_eq!(verdict(&p, i386, c("clone"), userns), EPERM);
        // Another architecture altogether: not this filter's.
        assert_eq!(verdict(&p, 0xdead, 250, 0), ALLOW);
        // With CAP_SYS_ADMIN, docker lets these through.
        let p = build(docker | 1 << CAP_SYS_ADMIN);
        for name in ["mount", "unshare", "setns", "clone3"] {
            assert_eq!(verdict(&p, x86_64, n(name), 0), ALLOW, "{name}");
        }
        assert_eq!(verdict(&p, x86_64, n("clone"), userns), ALLOW);
        assert_eq!(verdict(&p, x86_64, n("keyctl"), 0), EPERM);
    }
}
