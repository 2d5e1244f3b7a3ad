//! The system call tables of the target, by name, for seccomp profiles
//! (which name system calls): read from the kernel's UAPI headers
//! (Debian's linux-libc-dev, which libc6-dev brings), so that they are
//! this kernel ABI's, not copies kept by hand. On x86_64 also the 32-bit
//! ABI's, which a 64-bit process can call too.

use std::io::Write;
use std::path::PathBuf;

fn table(header: &str) -> Vec<(String, i64)> {
    println!("cargo:rerun-if-changed={header}");
    let text = std::fs::read_to_string(header).unwrap_or_default();
    let mut table: Vec<(String, i64)> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            if w.next() != Some("#define") {
                return None;
            }
            let name = w.next()?.strip_prefix("__NR_")?;
            // x32's: `(__X32_SYSCALL_BIT + N)`.
            let rest: String = w.collect::<Vec<_>>().join(" ");
            let nr = match rest.strip_prefix("(__X32_SYSCALL_BIT + ") {
                Some(n) => 0x4000_0000 + n.trim_end_matches(')').trim().parse::<i64>().ok()?,
                None => rest.parse().ok()?,
            };
            Some((name.to_string(), nr))
        })
        .collect();
    table.sort();
    table.dedup_by(|a, b| a.0 == b.0);
    table
}

fn write(f: &mut std::fs::File, name: &str, doc: &str, table: &[(String, i64)]) {
    writeln!(
        f,
        "/// {doc} (name, number), sorted by name; empty where the headers were not found."
    )
    .unwrap();
    writeln!(f, "pub const {name}: &[(&str, i64)] = &[").unwrap();
    for (n, nr) in table {
        writeln!(f, "    ({n:?}, {nr}),").unwrap();
    }
    writeln!(f, "];").unwrap();
}

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let (native, compat, x32) = match arch.as_str() {
        "x86_64" => (
            table("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
            table("/usr/include/x86_64-linux-gnu/asm/unistd_32.h"),
            table("/usr/include/x86_64-linux-gnu/asm/unistd_x32.h"),
        ),
        "aarch64" => (
            table("/usr/include/asm-generic/unistd.h"),
            Vec::new(),
            Vec::new(),
        ),
        _ => (Vec::new(), Vec::new(), Vec::new()),
    };
    // Without them seccomp profiles would compile to nothing: a build
    // error, not a quiet hole.
    if matches!(arch.as_str(), "x86_64" | "aarch64") && native.len() < 200 {
        panic!("the kernel's system call headers were not found: install linux-libc-dev (libc6-dev brings it)");
    }
    if arch == "x86_64" && (compat.len() < 200 || x32.len() < 200) {
        panic!("the kernel's 32-bit and x32 system call headers were not found (linux-libc-dev)");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("syscalls.rs");
    let mut f = std::fs::File::create(out).unwrap();
    write(&mut f, "SYSCALLS", "The native ABI's system calls", &native);
    write(
        &mut f,
        "SYSCALLS_COMPAT",
        "The 32-bit ABI's (x86_64's i386)",
        &compat,
    );
    write(
        &mut f,
        "SYSCALLS_X32",
        "x86_64's x32 ABI's (with its bit)",
        &x32,
    );
}
