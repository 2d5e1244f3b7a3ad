//! This kernel ABI's system call numbers by name (build.rs reads them from
//! its headers): the native ABI's and, on x86_64, the 32-bit one's.

include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));

fn find(table: &[(&str, i64)], name: &str) -> Option<i64> {
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// A system call's number in the native ABI.
pub fn number(name: &str) -> Option<i64> {
    find(SYSCALLS, name)
}

/// A system call's number in the 32-bit ABI (x86_64's i386).
pub fn compat_number(name: &str) -> Option<i64> {
    find(SYSCALLS_COMPAT, name)
}

/// A system call's number in x86_64's x32 ABI (bit 30 set).
pub fn x32_number(name: &str) -> Option<i64> {
    find(SYSCALLS_X32, name)
}

/// How many the native table has (none: the headers were not found).
pub fn known() -> usize {
    SYSCALLS.len()
}
