//! Finding the command on the PATH, as execvp(3) does, in the init before
//! it execs: nothing allocated.

use std::ffi::CStr;

use nix::errno::Errno;

use super::sys;

/// Room for a PATH candidate: the kernel's PATH_MAX.
pub const PATH_BUF: usize = libc::PATH_MAX as usize;

/// What is at a candidate path, for [`lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Missing,
    /// A regular file with an execute bit.
    Executable,
    /// Something that is there but cannot be run (a directory, no x bit).
    NotExecutable,
}

pub(super) fn probe_exec(path: &CStr) -> Probe {
    let Ok(st) = sys::stat(path, true) else {
        return Probe::Missing;
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0 {
        Probe::Executable
    } else {
        Probe::NotExecutable
    }
}

/// Finds `cmd` as execvp(3) would, in `buf`, allocating nothing: a name with
/// a `/` is taken as it is; otherwise the first executable regular file of
/// that name on `path` (an empty entry is the current directory). A match
/// that cannot be run is remembered, so that "permission denied" wins over
/// "not found" when nothing better turns up. Candidates longer than
/// PATH_MAX are skipped, as execvp does.
pub fn lookup<'a>(
    cmd: &'a CStr,
    path: &[u8],
    buf: &'a mut [u8; PATH_BUF],
    probe: impl Fn(&CStr) -> Probe,
) -> Result<&'a CStr, Errno> {
    let name = cmd.to_bytes();
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name.contains(&b'/') {
        return Ok(cmd);
    }
    let mut denied = false;
    let mut found = None;
    for dir in path.split(|b| *b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let len = dir.len() + 1 + name.len();
        if len >= buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(name);
        buf[len] = 0;
        let Ok(candidate) = CStr::from_bytes_with_nul(&buf[..=len]) else {
            continue; // A NUL inside PATH: that entry cannot be a path.
        };
        match probe(candidate) {
            Probe::Executable => {
                found = Some(len);
                break;
            }
            Probe::NotExecutable => denied = true,
            Probe::Missing => {}
        }
    }
    let buf: &'a [u8] = buf;
    match found {
        Some(len) => CStr::from_bytes_with_nul(&buf[..=len]).map_err(|_| Errno::ENOENT),
        None if denied => Err(Errno::EACCES),
        None => Err(Errno::ENOENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn find(cmd: &CStr, path: &str) -> Result<String, Errno> {
        let mut buf = [0u8; PATH_BUF];
        lookup(cmd, path.as_bytes(), &mut buf, probe_exec).map(|p| p.to_str().unwrap().to_string())
    }

    #[test]
    fn lookup_follows_path_order_and_permissions() {
        let dir = std::env::temp_dir().join(format!("mydocker-lookup-{}", std::process::id()));
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(b.join("sub")).unwrap();
        std::fs::write(a.join("tool"), "").unwrap();
        std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(b.join("tool"), "").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        let want = b.join("tool").display().to_string();
        assert_eq!(find(c"tool", &path).unwrap(), want);
        assert_eq!(find(c"tool", a.to_str().unwrap()), Err(Errno::EACCES));
        // A directory of that name is found, and cannot be run.
        assert_eq!(find(c"sub", b.to_str().unwrap()), Err(Errno::EACCES));
        assert_eq!(find(c"nope", &path), Err(Errno::ENOENT));
        assert_eq!(find(c"", &path), Err(Errno::ENOENT));
        assert_eq!(find(c"./x/y", &path).unwrap(), "./x/y");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lookup_takes_empty_entries_as_here_and_skips_overlong_ones() {
        let seen = std::cell::RefCell::new(Vec::new());
        let probe = |p: &CStr| {
            seen.borrow_mut().push(p.to_str().unwrap().to_string());
            Probe::Missing
        };
        let long = "d".repeat(PATH_BUF);
        let path = format!("/x::{long}:/y");
        let mut buf = [0u8; PATH_BUF];
        assert_eq!(
            lookup(c"sh", path.as_bytes(), &mut buf, probe),
            Err(Errno::ENOENT)
        );
        assert_eq!(*seen.borrow(), ["/x/sh", "./sh", "/y/sh"]);
    }
}
