//! The spec's mounts: their options (mount(8)'s names) into flags, and
//! what of them the init makes (process/rootfs.rs).

use std::path::Path;

use oci_spec::runtime::Mount;

use crate::container::error::{field_err, invalid, Result};
use crate::process::rootfs::{check_destination, MountKind, MountOp};

/// The mounts the init makes itself (see process/rootfs.rs): a spec's
/// entries for them, as `runc spec` writes, are those.
pub(super) const STANDARD: [(&str, &str); 7] = [
    ("/proc", "proc"),
    ("/dev", "tmpfs"),
    ("/dev/pts", "devpts"),
    ("/dev/shm", "tmpfs"),
    ("/dev/mqueue", "mqueue"),
    ("/sys", "sysfs"),
    ("/sys/fs/cgroup", "cgroup"),
];

/// Mount options: flags, propagation, and the rest as the file system's
/// data (mount(8)'s names).
pub(super) fn options(opts: &[String]) -> Result<(libc::c_ulong, libc::c_ulong, bool, String)> {
    let (mut flags, mut prop, mut bind) = (0, 0, None);
    let mut data = Vec::new();
    for o in opts {
        let o = o.as_str();
        match o {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" => flags &= !libc::MS_RDONLY,
            "nosuid" => flags |= libc::MS_NOSUID,
            "suid" => flags &= !libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "dev" => flags &= !libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "exec" => flags &= !libc::MS_NOEXEC,
            "noatime" => flags |= libc::MS_NOATIME,
            "nodiratime" => flags |= libc::MS_NODIRATIME,
            "relatime" => flags |= libc::MS_RELATIME,
            "norelatime" => flags &= !libc::MS_RELATIME,
            "strictatime" => flags |= libc::MS_STRICTATIME,
            "nostrictatime" => flags &= !libc::MS_STRICTATIME,
            "atime" => flags &= !libc::MS_NOATIME,
            "diratime" => flags &= !libc::MS_NODIRATIME,
            "sync" => flags |= libc::MS_SYNCHRONOUS,
            "dirsync" => flags |= libc::MS_DIRSYNC,
            "mand" | "nomand" | "async" | "defaults" => {}
            "bind" => bind = Some(false),
            "rbind" => bind = Some(true),
            "private" => prop = libc::MS_PRIVATE,
            "rprivate" => prop = libc::MS_PRIVATE | libc::MS_REC,
            "slave" => prop = libc::MS_SLAVE,
            "rslave" => prop = libc::MS_SLAVE | libc::MS_REC,
            "shared" => prop = libc::MS_SHARED,
            "rshared" => prop = libc::MS_SHARED | libc::MS_REC,
            "unbindable" => prop = libc::MS_UNBINDABLE,
            "runbindable" => prop = libc::MS_UNBINDABLE | libc::MS_REC,
            o if o.contains('=') || o.starts_with("mode") => data.push(o),
            o => {
                return Err(invalid(format!(
                    "mount option {} is not known",
                    mydocker::brief(o)
                )))
            }
        }
    }
    // MS_REC marks rbind here; mounts() takes it off again.
    if bind == Some(true) {
        flags |= libc::MS_REC;
    }
    Ok((flags, prop, bind.is_some(), data.join(",")))
}

/// The flags of the spec's own /proc, where it has one.
pub(super) fn proc_flags(list: &[Mount]) -> Result<Option<libc::c_ulong>> {
    match list.iter().find(|m| m.destination() == Path::new("/proc")) {
        Some(m) => {
            let (flags, ..) = options(m.options().as_deref().unwrap_or_default())
                .map_err(|e| field_err("mounts /proc", e))?;
            Ok(Some(flags))
        }
        None => Ok(None),
    }
}

/// The spec's mounts, but for the standard ones (made by the init: a
/// bundle's entry for one is skipped when it is of that type, refused
/// otherwise); relative bind sources are the bundle's.
pub(super) fn mounts(list: &[Mount], bundle: Option<&Path>) -> Result<Vec<MountOp>> {
    let mut out = Vec::new();
    for m in list {
        let dest = m.destination().to_string_lossy().into_owned();
        let typ = m.typ().clone().unwrap_or_default();
        let field = || format!("mounts {}", mydocker::brief(&dest));
        if let Some((_, std_type)) = STANDARD
            .iter()
            .find(|(d, _)| Path::new(d) == Path::new(&dest))
        {
            if bundle.is_some() && typ == *std_type {
                continue;
            }
            return Err(field_err(
                &field(),
                "replacing the container's own file system there is not supported yet",
            ));
        }
        check_destination(&dest).map_err(|e| field_err("mounts", e))?;
        let (flags, propagation, bind, data) = options(m.options().as_deref().unwrap_or_default())
            .map_err(|e| field_err(&field(), e))?;
        if propagation & !(libc::MS_PRIVATE | libc::MS_REC) != 0 {
            // The container's mounts are private copies: nothing would
            // propagate either way.
            return Err(field_err(
                &field(),
                "propagation other than private is not supported yet",
            ));
        }
        let source = m.source().clone().unwrap_or_default();
        let kind = if typ == "bind" || bind {
            let source = match bundle {
                Some(b) if source.is_relative() => b.join(source),
                _ => source,
            };
            MountKind::Bind {
                source,
                recursive: flags & libc::MS_REC != 0,
            }
        } else {
            match typ.as_str() {
                "tmpfs" | "mqueue" | "devpts" => MountKind::Fs {
                    fstype: typ.clone(),
                    source: if source.as_os_str().is_empty() {
                        typ.clone()
                    } else {
                        source.to_string_lossy().into_owned()
                    },
                },
                // Another view of the kernel's files, without the masks
                // and read-only paths of /proc and /sys.
                "proc" | "sysfs" => {
                    return Err(field_err(
                        &field(),
                        format!("a second {typ} is not supported yet"),
                    ))
                }
                "" => return Err(field_err(&field(), "no type")),
                t => {
                    return Err(field_err(
                        &field(),
                        format!("type {} is not supported yet", mydocker::brief(t)),
                    ))
                }
            }
        };
        out.push(MountOp {
            destination: dest,
            kind,
            flags: flags & !libc::MS_REC,
            propagation,
            data,
        });
    }
    Ok(out)
}
