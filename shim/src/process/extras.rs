//! What a spec adds to the container's own file systems: sysctls (files
//! under its `/proc/sys`, written before that is made read-only) and
//! device nodes in its `/dev`. Checked and encoded by the shim; written by
//! the init with raw system calls only (see `sys.rs`).

use std::ffi::CString;
use std::os::fd::RawFd;

use super::cpath::CPath;
use super::report::{Fault, Step};
use super::sys;

/// A device node, as a spec's `linux.devices` entry gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute, under /dev.
    pub path: String,
    /// b'c', b'b' or b'p'.
    pub kind: u8,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The sysctls and device nodes, encoded.
#[derive(Default)]
pub struct Extras {
    /// (`/proc/sys/...`, value)
    sysctls: Vec<(CString, Vec<u8>)>,
    devices: Vec<(CString, libc::mode_t, libc::dev_t, u32, u32)>,
}

impl Extras {
    /// `sysctls` as (key with dots, value): checked by the caller
    /// (spec.rs) for which may be set; `devices`: checked here.
    pub fn new(
        sysctls: &[(String, String)],
        devices: &[DeviceNode],
        oom_score_adj: Option<i32>,
    ) -> Result<Self, String> {
        let mut out = Self::default();
        if let Some(adj) = oom_score_adj {
            // Its own, which its command keeps across exec.
            out.sysctls.push((
                c"/proc/self/oom_score_adj".into(),
                adj.to_string().into_bytes(),
            ));
        }
        for (k, v) in sysctls {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            let path = CString::new(path).map_err(|_| format!("sysctl {k}: a NUL byte"))?;
            out.sysctls.push((path, v.as_bytes().to_vec()));
        }
        for d in devices {
            if !d.path.starts_with("/dev/") || d.path.contains("/../") || d.path.ends_with("/..") {
                return Err(format!("device {}: must be a path under /dev", d.path));
            }
            let kind = match d.kind {
                b'c' | b'u' => libc::S_IFCHR,
                b'b' => libc::S_IFBLK,
                b'p' => libc::S_IFIFO,
                _ => return Err(format!("device {}: type must be c, b, u or p", d.path)),
            };
            let path = CString::new(d.path.as_str())
                .map_err(|_| format!("device {}: a NUL byte", d.path))?;
            let dev = libc::makedev(d.major, d.minor);
            out.devices
                .push((path, kind | (d.mode & 0o7777), dev, d.uid, d.gid));
        }
        Ok(out)
    }

    pub fn sysctl_names(&self) -> Vec<String> {
        self.sysctls
            .iter()
            .map(|(p, _)| {
                let p = p.to_string_lossy();
                match p.strip_prefix("/proc/sys/") {
                    Some(k) => k.replace('/', "."),
                    None => p.into_owned(),
                }
            })
            .collect()
    }

    pub fn device_names(&self) -> Vec<String> {
        self.devices
            .iter()
            .map(|d| d.0.to_string_lossy().into_owned())
            .collect()
    }
}

/// Writes each sysctl: /proc is the container's, /proc/sys still
/// writable.
pub fn write_sysctls(x: &Extras) -> Result<(), Fault> {
    for (i, (path, value)) in x.sysctls.iter().enumerate() {
        let fd = Fault::check(
            sys::open(path, libc::O_WRONLY | libc::O_CLOEXEC),
            Step::Sysctl,
            i,
        )? as RawFd;
        let written = sys::write(fd, value);
        // SAFETY: the descriptor just opened.
        let _ = unsafe { sys::close(fd) };
        match written {
            Ok(n) if n == value.len() => {}
            Ok(_) => return Err(Fault::new(Step::Sysctl, libc::EIO, i)),
            Err(e) => return Err(Fault::new(Step::Sysctl, e, i)),
        }
    }
    Ok(())
}

/// Makes each device node (and the directories it is in), with its mode
/// exactly and its owner.
pub fn make_devices(x: &Extras) -> Result<(), Fault> {
    if x.devices.is_empty() {
        return Ok(());
    }
    let old = sys::umask(0);
    let r = x
        .devices
        .iter()
        .enumerate()
        .try_for_each(|(i, (path, mode, dev, uid, gid))| {
            let bytes = path.to_bytes();
            for (j, b) in bytes.iter().enumerate().skip(1) {
                if *b == b'/' {
                    let parent = CPath::new(&bytes[..j]).ok_or(Fault::new(
                        Step::Device,
                        libc::ENAMETOOLONG,
                        i,
                    ))?;
                    match sys::mkdir(parent.as_cstr(), 0o755) {
                        Ok(_) | Err(libc::EEXIST) => {}
                        Err(e) => return Err(Fault::new(Step::Device, e, i)),
                    }
                }
            }
            match sys::mknod(path, *mode, *dev) {
                // One of docker's, already there: replaced.
                Err(libc::EEXIST) => {
                    Fault::check(sys::unlink(path), Step::Device, i)?;
                    Fault::check(sys::mknod(path, *mode, *dev), Step::Device, i)?;
                }
                r => {
                    Fault::check(r, Step::Device, i)?;
                }
            }
            Fault::check(sys::chown(path, *uid, *gid), Step::Device, i).map(drop)
        });
    sys::umask(old);
    r
}
