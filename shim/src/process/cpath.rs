//! A path built on the stack, for the init before it execs: nothing
//! allocated (see `sys.rs`).

use std::ffi::CStr;

use super::lookup::PATH_BUF;

/// A NUL-terminated path of at most PATH_MAX bytes, built in place.
pub struct CPath {
    buf: [u8; PATH_BUF],
    len: usize,
}

impl CPath {
    /// `start`, then what is pushed; `None` when it would not fit.
    pub fn new(start: &[u8]) -> Option<Self> {
        let mut p = Self {
            buf: [0; PATH_BUF],
            len: 0,
        };
        p.push(start)?;
        Some(p)
    }

    pub fn push(&mut self, part: &[u8]) -> Option<&mut Self> {
        let end = self.len.checked_add(part.len())?;
        if end >= self.buf.len() || part.contains(&0) {
            return None;
        }
        self.buf[self.len..end].copy_from_slice(part);
        self.len = end;
        self.buf[end] = 0;
        Some(self)
    }

    /// `n` in decimal.
    pub fn push_num(&mut self, mut n: u32) -> Option<&mut Self> {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let d = digits;
        self.push(&d[i..])
    }

    pub fn as_cstr(&self) -> &CStr {
        // A NUL ends it, and push keeps NULs out of it.
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).unwrap_or(c"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_built_and_bounded() {
        let mut p = CPath::new(b"/proc/self/fd/").unwrap();
        p.push_num(0).unwrap();
        assert_eq!(p.as_cstr(), c"/proc/self/fd/0");
        let mut p = CPath::new(b"/sys/fs/cgroup/").unwrap();
        p.push(b"cpu,cpuacct").unwrap();
        assert_eq!(p.as_cstr(), c"/sys/fs/cgroup/cpu,cpuacct");
        let mut p = CPath::new(b"/dev/pts/").unwrap();
        p.push_num(4_294_967_295).unwrap();
        assert_eq!(p.as_cstr(), c"/dev/pts/4294967295");
        assert!(CPath::new(&[b'a'; PATH_BUF]).is_none());
        assert!(CPath::new(b"a\0b").is_none());
    }
}
