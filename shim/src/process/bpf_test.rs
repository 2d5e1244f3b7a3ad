//! For tests: a classic BPF interpreter of what seccomp programs use here
//! (loads of `seccomp_data`, AND, the jumps, returns), and a stack's
//! answer as the kernel gives it.

/// What `prog` answers for system call `nr` of `arch` with `args`.
pub fn run(prog: &[libc::sock_filter], nr: i64, arch: u32, args: [u64; 6]) -> u32 {
    // struct seccomp_data: nr, arch, instruction_pointer, args[6].
    let mut data = vec![nr as u32, arch, 0, 0];
    for a in args {
        data.extend([a as u32, (a >> 32) as u32]);
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = prog[pc];
        pc += 1;
        let code = u32::from(i.code);
        assert!(code & 0x08 == 0, "the X register is not modelled");
        match (code & 0x07, code & 0xf0) {
            (0x00, _) => acc = data[i.k as usize / 4],
            (0x04, 0x50) => acc &= i.k,
            (0x06, _) => return i.k,
            (0x05, 0x00) => pc += i.k as usize,
            (0x05, op) => {
                let taken = match op {
                    0x10 => acc == i.k,
                    0x20 => acc > i.k,
                    0x30 => acc >= i.k,
                    0x40 => acc & i.k != 0,
                    _ => panic!("jump {op:#x}"),
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            other => panic!("instruction {other:?}"),
        }
    }
}

/// A stack's answer: the most severe of its programs' (the kernel's
/// precedence: the lowest action, as a signed number).
pub fn verdict(progs: &[Vec<libc::sock_filter>], nr: i64, arch: u32, args: [u64; 6]) -> u32 {
    progs
        .iter()
        .map(|p| run(p, nr, arch, args))
        .min_by_key(|r| (r & libc::SECCOMP_RET_ACTION_FULL) as i32)
        .unwrap_or(libc::SECCOMP_RET_ALLOW)
}

/// This machine's native `seccomp_data.arch`.
pub fn native_arch() -> u32 {
    if cfg!(target_arch = "x86_64") {
        0xc000_003e
    } else {
        0xc000_00b7
    }
}
