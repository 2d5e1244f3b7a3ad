//! The system call table of the target, by name, for the OCI spec's
//! seccomp profiles (which name system calls): read from the kernel's UAPI
//! headers (Debian's linux-libc-dev, which libc6-dev brings), so that it is
//! this kernel ABI's, not a copy kept by hand.

use std::io::Write;
use std::path::PathBuf;

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let header = match arch.as_str() {
        "x86_64" => "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
        "aarch64" => "/usr/include/asm-generic/unistd.h",
        _ => "",
    };
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
            let nr = w.next()?.parse().ok()?;
            Some((name.to_string(), nr))
        })
        .collect();
    table.sort();
    table.dedup_by(|a, b| a.0 == b.0);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("syscalls.rs");
    let mut f = std::fs::File::create(out).unwrap();
    writeln!(
        f,
        "/// (name, number), sorted by name; empty where the headers were not found."
    )
    .unwrap();
    writeln!(f, "pub const SYSCALLS: &[(&str, i64)] = &[").unwrap();
    for (name, nr) in &table {
        writeln!(f, "    ({name:?}, {nr}),").unwrap();
    }
    writeln!(f, "];").unwrap();
}
