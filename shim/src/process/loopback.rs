//! The container's loopback interface, brought up before its command runs,
//! as docker does even with `--network none`: a service and its health
//! check on 127.0.0.1 need it. A new network namespace has `lo` with
//! 127.0.0.1/8 and ::1, down. Raw system calls only: it runs in the holder
//! and the init (see `sys.rs`).

use std::os::fd::RawFd;

use super::sys::{self, SysResult};

/// `struct ifreq` with its flags member: the name, then a union of which
/// the flags (a short) are the first field; 40 bytes on 64-bit targets.
#[repr(C)]
struct IfFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _rest: [u8; 22],
}

/// Sets `lo` up in the caller's network namespace.
pub fn up() -> SysResult {
    let s = sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC)? as RawFd;
    let mut ifr = IfFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _rest: [0; 22],
    };
    ifr.name[..2].copy_from_slice(b"lo");
    let at = &mut ifr as *mut IfFlags as usize;
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write an ifreq, which
    // `ifr` is (name, then flags), and live across both calls.
    let r = unsafe { sys::ioctl(s, libc::SIOCGIFFLAGS as libc::c_ulong, at) }.and_then(|_| {
        ifr.flags |= libc::IFF_UP as libc::c_short;
        // SAFETY: as above.
        unsafe { sys::ioctl(s, libc::SIOCSIFFLAGS as libc::c_ulong, at) }
    });
    // SAFETY: the socket opened above, used by nothing else.
    let _ = unsafe { sys::close(s) };
    r
}
