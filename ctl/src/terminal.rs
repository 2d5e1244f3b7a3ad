//! The local terminal: raw mode that is always restored, its size, and the
//! detach key sequence.

use std::os::fd::BorrowedFd;

use nix::sys::termios::{self, SetArg, Termios};

/// Puts a terminal in raw mode; the mode it had is restored on drop, which
/// covers every way out of the program that unwinds or returns (exits by
/// signal are turned into returns by the caller's handlers).
pub struct RawMode {
    fd: i32,
    saved: Termios,
}

impl RawMode {
    /// `None` when `fd` is not a terminal.
    pub fn enter(fd: i32) -> Option<Self> {
        // SAFETY: fd 0 stays open for the life of the process.
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = termios::tcgetattr(bfd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(bfd, SetArg::TCSADRAIN, &raw).ok()?;
        Some(Self { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: as in enter.
        let bfd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = termios::tcsetattr(bfd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// The window size of the terminal on `fd`, as (rows, cols).
pub fn window_size(fd: i32) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into a live struct.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// docker's default: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses docker's detach-key syntax: comma-separated keys, each a single
/// character or `ctrl-<c>` with c one of a-z @ [ \ ] ^ _.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid detach keys {spec:?}: use e.g. ctrl-p,ctrl-q or ctrl-a,d");
    let mut out = Vec::new();
    for key in spec.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let c = c.as_bytes();
            if c.len() != 1 {
                return Err(bad());
            }
            let b = c[0].to_ascii_lowercase();
            match b {
                b'a'..=b'z' => out.push(b - b'a' + 1),
                b'@' => out.push(0),
                b'[' => out.push(27),
                b'\\' => out.push(28),
                b']' => out.push(29),
                b'^' => out.push(30),
                b'_' => out.push(31),
                _ => return Err(bad()),
            }
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Watches input for the detach sequence. Bytes that could start it are
/// held back until it is clear whether they do; if they do not, they are
/// passed on, as docker does.
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

pub enum Scan {
    /// Pass these bytes on.
    Forward(Vec<u8>),
    /// The sequence was typed: pass these bytes (typed before it) on, then
    /// detach.
    Detach(Vec<u8>),
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    pub fn scan(&mut self, input: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        Scan::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,d").unwrap(), [1, b'd']);
        assert_eq!(parse_detach_keys("ctrl-@").unwrap(), [0]);
        assert!(parse_detach_keys("").is_err());
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn matcher_holds_prefixes_and_releases_them() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert!(matches!(m.scan(b"ab"), Scan::Forward(v) if v == b"ab"));
        assert!(matches!(m.scan(&[16]), Scan::Forward(v) if v.is_empty()));
        assert!(matches!(m.scan(b"x"), Scan::Forward(v) if v == [16, b'x']));
        assert!(matches!(m.scan(&[b'y', 16, 17, b'z']), Scan::Detach(v) if v == b"y"));
        // Split across reads.
        assert!(matches!(m.scan(&[16]), Scan::Forward(v) if v.is_empty()));
        assert!(matches!(m.scan(&[17]), Scan::Detach(v) if v.is_empty()));
        // A repeated first key keeps the match going.
        assert!(matches!(m.scan(&[16, 16, 17]), Scan::Detach(v) if v == [16]));
    }
}
