//! Which devices a container may use: docker's list (runc's defaults), in
//! the devices controller on v1 and in an eBPF program attached to its
//! cgroup on v2. Any device may be made (`mknod`, CAP_MKNOD is docker's),
//! but only these opened: `/dev/null`, `zero`, `full`, `random`,
//! `urandom`, `tty`, `console`, `ptmx`, the terminals of devpts, and
//! `/dev/net/tun`. A raw disk (`b 8:0`) made in the container opens with
//! EPERM. `--privileged` leaves them all open, as docker's does.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::error::{CgroupError, Result};

/// One rule: `c` or `b` (None: both), a major and minor (None: any), and
/// what it allows of `r`, `w`, `m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: Option<u8>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: std::borrow::Cow<'static, str>,
}

const fn rule(kind: u8, major: Option<u32>, minor: Option<u32>, access: &'static str) -> Rule {
    Rule {
        kind: Some(kind),
        major,
        minor,
        access: std::borrow::Cow::Borrowed(access),
    }
}

/// docker's, as runc writes them for a default container.
const ALLOWED: [Rule; 12] = [
    rule(b'c', None, None, "m"),
    rule(b'b', None, None, "m"),
    rule(b'c', Some(1), Some(3), "rwm"),
    rule(b'c', Some(1), Some(5), "rwm"),
    rule(b'c', Some(1), Some(7), "rwm"),
    rule(b'c', Some(1), Some(8), "rwm"),
    rule(b'c', Some(1), Some(9), "rwm"),
    rule(b'c', Some(5), Some(0), "rwm"),
    rule(b'c', Some(5), Some(1), "rwm"),
    rule(b'c', Some(5), Some(2), "rwm"),
    rule(b'c', Some(136), None, "rwm"),
    rule(b'c', Some(10), Some(200), "rwm"),
];

impl Rule {
    /// As v1's `devices.allow` takes it: `c 1:3 rwm`, `b *:* m`.
    fn v1(&self) -> String {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let kind = self.kind.map_or('a', char::from);
        format!("{kind} {}:{} {}", n(self.major), n(self.minor), self.access)
    }
}

/// `extra`, then docker's list: what a container may use (a spec's allow
/// rules and the devices it makes come first, runc's order).
fn all(extra: &[Rule]) -> Vec<Rule> {
    extra
        .iter()
        .cloned()
        .chain(ALLOWED.iter().cloned())
        .collect()
}

/// v1: everything denied, then [`ALLOWED`] and `extra`, in the devices
/// controller's directory of the container's cgroup. The controller takes
/// one rule per write(2): each file is opened once and written a rule at a
/// time (a container's Create waits for this, on v1).
pub(super) fn restrict_v1(dir: &Path, path: &str, extra: &[Rule]) -> Result<()> {
    let err = |file: &str, value: &str, e: std::io::Error| CgroupError::Setup {
        path: path.into(),
        what: format!("write {value:?} to {file}"),
        cause: e.to_string(),
    };
    let open = |file: &'static str| {
        fs::OpenOptions::new()
            .write(true)
            .open(dir.join(file))
            .map_err(|e| err(file, "", e))
    };
    open("devices.deny")?
        .write_all(b"a")
        .map_err(|e| err("devices.deny", "a", e))?;
    let mut allow = open("devices.allow")?;
    for r in &all(extra) {
        let rule = r.v1();
        allow
            .write_all(rule.as_bytes())
            .map_err(|e| err("devices.allow", &rule, e))?;
    }
    Ok(())
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    /// dst in the low four bits, src in the high four.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx: access_type (type | access << 16), major,
// minor; BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_*.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// The program: r2 the device's type, r3 the access asked for, r4 and r5
/// its major and minor; each rule returns 1 (allowed) when the type, the
/// numbers and the access all fit, and the end returns 0.
fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        let mut block = Vec::new();
        if let Some(k) = r.kind {
            block.push((2, if k == b'b' { DEV_BLOCK } else { DEV_CHAR }));
        }
        let allowed = r.access.bytes().fold(0, |a, c| {
            a | match c {
                b'r' => ACC_READ,
                b'w' => ACC_WRITE,
                b'm' => ACC_MKNOD,
                _ => 0,
            }
        });
        // The access asked for, but what the rule allows: nothing left.
        let access = [insn(MOV32_X, 1, 3, 0, 0), insn(AND32_K, 1, 0, 0, !allowed)];
        if let Some(m) = r.major {
            block.push((4, m as i32));
        }
        if let Some(m) = r.minor {
            block.push((5, m as i32));
        }
        // Each test jumps past the rest of the block (its tests, the
        // access check, and the two that return 1).
        let len = block.len() + access.len() + 1 + 2;
        for (i, (reg, value)) in block.iter().enumerate() {
            let skip = len - i - 1;
            p.push(insn(JNE_K, *reg, 0, skip as i16, *value));
        }
        p.extend_from_slice(&access);
        p.push(insn(JNE_K, 1, 0, 2, 0));
        p.push(insn(MOV64_K, 0, 0, 0, 1));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The start of `union bpf_attr` for BPF_PROG_LOAD; the kernel takes a
/// shorter attr than its own, the rest being zero.
#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// For BPF_PROG_ATTACH.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &T) -> std::io::Result<libc::c_long> {
    // SAFETY: bpf(2) with an attr of the size given, which lives across
    // the call; the pointers in it point at live memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// v2: the program of [`ALLOWED`], attached to the cgroup `dir` (open).
/// Attached, it lives as long as the cgroup; our descriptor goes.
pub(super) fn restrict_v2(dir: &OwnedFd, path: &str, extra: &[Rule]) -> Result<()> {
    let err = |what: &str, e: std::io::Error| CgroupError::Setup {
        path: path.into(),
        what: format!("devices (eBPF): {what}"),
        cause: e.to_string(),
    };
    let insns = program(&all(extra));
    let license = c"Apache-2.0";
    let load = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    // The verifier answers EAGAIN when it is short of something for a
    // moment (seen under load in the v2 guest): tried again, a few times,
    // as libbpf tries.
    let mut tries = 0;
    let prog = loop {
        match bpf(BPF_PROG_LOAD, &load) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < 5 => tries += 1,
            r => break r.map_err(|e| err("load the program", e))?,
        }
    };
    // SAFETY: BPF_PROG_LOAD returned a new descriptor, ours.
    let prog = unsafe { OwnedFd::from_raw_fd(prog as i32) };
    let attach = AttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &attach).map_err(|e| err("attach the program", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_rules_read_as_docker_writes_them() {
        let all: Vec<String> = ALLOWED.iter().map(Rule::v1).collect();
        assert_eq!(all[0], "c *:* m");
        assert_eq!(all[1], "b *:* m");
        assert_eq!(all[2], "c 1:3 rwm");
        assert_eq!(all[10], "c 136:* rwm");
    }

    /// The program, run on the devices it is asked about, by a small
    /// interpreter of the few instructions it uses: what the kernel's
    /// verifier and the real cgroup decide is checked end to end by the
    /// integration tests (in the cgroup v2 guest).
    fn allows(p: &[Insn], kind: i32, access: i32, major: u32, minor: u32) -> bool {
        let ctx = [(kind | (access << 16)) as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = ctx[i.off as usize / 4] as u64,
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                MOV32_X => r[dst] = r[src] as u32 as u64,
                MOV64_K => r[dst] = i.imm as i64 as u64,
                JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JNE_K => {}
                EXIT => return r[0] == 1,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn the_program_allows_dockers_devices_and_nothing_else() {
        let p = program(&ALLOWED);
        let rw = ACC_READ | ACC_WRITE;
        assert!(allows(&p, DEV_CHAR, rw, 1, 3), "/dev/null");
        assert!(allows(&p, DEV_CHAR, ACC_READ, 1, 9), "/dev/urandom");
        assert!(allows(&p, DEV_CHAR, rw, 136, 7), "a terminal");
        assert!(allows(&p, DEV_CHAR, rw, 5, 2), "ptmx");
        assert!(allows(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), "mknod of a disk");
        assert!(!allows(&p, DEV_BLOCK, ACC_READ, 8, 0), "reading a disk");
        assert!(!allows(&p, DEV_BLOCK, ACC_READ | ACC_MKNOD, 8, 0));
        assert!(!allows(&p, DEV_CHAR, ACC_READ, 1, 1), "/dev/mem");
        assert!(!allows(&p, DEV_CHAR, ACC_WRITE, 1, 11), "/dev/kmsg");
        assert!(!allows(&p, DEV_CHAR, rw, 10, 229), "/dev/fuse");
        assert!(allows(&p, DEV_CHAR, rw, 10, 200), "/dev/net/tun");
        assert!(!allows(&p, DEV_CHAR, rw, 137, 0));
    }
}
