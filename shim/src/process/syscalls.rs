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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_are_this_abis() {
        assert_eq!(number("read"), Some(libc::SYS_read));
        assert_eq!(number("keyctl"), Some(libc::SYS_keyctl));
        assert_eq!(number("clone3"), Some(libc::SYS_clone3));
        assert_eq!(number("no_such_call"), None);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(compat_number("keyctl"), Some(288));
            assert_eq!(x32_number("keyctl"), Some(0x4000_0000 + 250));
            assert_eq!(x32_number("kexec_load"), Some(0x4000_0000 + 528));
        }
    }
}
