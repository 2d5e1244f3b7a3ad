//! The container's terminal, from its own devpts instance (see
//! `mounts.rs`): so its `tty` is `/dev/pts/0`, and the host's terminals
//! are not in its `/dev/pts`. The init makes it, puts the slave on 0, 1
//! and 2 as its controlling terminal and on `/dev/console`, and hands the
//! master to the shim with its ready report. Raw system calls only (see
//! `sys.rs`).

use std::os::fd::RawFd;

use super::cpath::CPath;
use super::report::{Fault, Step};
use super::sys;

/// What a failure of [`Step::Terminal`] names as its item.
pub const STEPS: [&str; 8] = [
    "open /dev/pts/ptmx",
    "unlock the terminal",
    "set the terminal's size",
    "open the terminal",
    "make it stdin, stdout and stderr",
    "make it the controlling terminal",
    "bind it on /dev/console",
    "send it to the shim",
];

/// The item of [`STEPS`] that the init's ready report fails at.
pub const SEND_STEP: usize = 7;

/// Makes the terminal, `rows` by `cols`: its master. (`privileged`: its
/// /dev is the host's, where nothing is made.)
pub fn open(rows: u16, cols: u16, privileged: bool) -> Result<RawFd, Fault> {
    let master = make(rows, cols)?;
    console(privileged).map_err(|e| Fault::new(Step::Terminal, e, 6))?;
    Ok(master)
}

/// [`open`], without `/dev/console` (an exec'd process's terminal: the
/// console stays the init's).
pub fn make(rows: u16, cols: u16) -> Result<RawFd, Fault> {
    let fault = |item: usize| move |e| Fault::new(Step::Terminal, e, item);
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let master = sys::open(c"/dev/pts/ptmx", flags).map_err(fault(0))? as RawFd;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int, which lives across the call.
    unsafe { sys::ioctl(master, libc::TIOCSPTLCK as _, &unlock as *const _ as usize) }
        .map_err(fault(1))?;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize, which lives across the call.
    unsafe { sys::ioctl(master, libc::TIOCSWINSZ as _, &ws as *const _ as usize) }
        .map_err(fault(2))?;
    let slave = peer(master).map_err(fault(3))? as RawFd;
    for to in 0..=2 {
        // SAFETY: 0-2 are the init's to replace (the shim's /dev/null).
        unsafe { sys::dup_to(slave, to) }.map_err(fault(4))?;
    }
    // SAFETY: our own descriptor, a copy of what 0-2 now hold.
    let _ = unsafe { sys::close(slave) };
    // SAFETY: TIOCSCTTY takes an integer.
    unsafe { sys::ioctl(0, libc::TIOCSCTTY as _, 0) }.map_err(fault(5))?;
    Ok(master)
}

/// The slave of `master`: TIOCGPTPEER (Linux 4.13), which needs no path,
/// or its number and `/dev/pts/N`.
fn peer(master: RawFd) -> sys::SysResult {
    let flags = (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as usize;
    // SAFETY: TIOCGPTPEER takes open flags as an integer.
    match unsafe { sys::ioctl(master, libc::TIOCGPTPEER as _, flags) } {
        Err(libc::EINVAL | libc::ENOTTY) => {}
        r => return r,
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int, which lives across the call.
    unsafe { sys::ioctl(master, libc::TIOCGPTN as _, &mut n as *mut _ as usize) }?;
    let mut path = CPath::new(b"/dev/pts/").ok_or(libc::ENAMETOOLONG)?;
    path.push_num(n).ok_or(libc::ENAMETOOLONG)?;
    sys::open(path.as_cstr(), flags as libc::c_int)
}

/// `/dev/console` is the terminal, as docker binds it. Made where there
/// is none (the container's own /dev), over the host's where there is one
/// (a privileged container's: nothing is made on the host's /dev).
fn console(privileged: bool) -> sys::SysResult {
    if privileged && sys::stat(c"/dev/console", false).is_err() {
        return Ok(0);
    }
    match sys::mknod(c"/dev/console", libc::S_IFREG | 0o600, 0) {
        Ok(_) | Err(libc::EEXIST) => {}
        Err(e) => return Err(e),
    }
    sys::mount(
        Some(c"/proc/self/fd/0"),
        c"/dev/console",
        None,
        libc::MS_BIND,
        None,
    )
}
