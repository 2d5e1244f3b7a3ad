//! The container's own file systems, mounted over the host's in its mount
//! namespace, as docker gives them: `/dev` (a tmpfs with docker's few
//! device nodes, and its own devpts, `/dev/shm` and `/dev/mqueue`), `/sys`
//! (a fresh sysfs, for its own network namespace, read-only) and
//! `/sys/fs/cgroup` (its own cgroup and nothing above it, read-only, seen
//! from its cgroup namespace). `--privileged` keeps the host's device
//! nodes and leaves `/sys` and the cgroups writable, as docker's does.
//! Raw system calls only (see `sys.rs`).

use std::ffi::CStr;
use std::os::fd::RawFd;

use super::cpath::CPath;
use super::report::{Fault, Step};
use super::sys;

const NOSUID: libc::c_ulong = libc::MS_NOSUID;
const HARD: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// docker's device nodes (runc's defaults): character devices, mode 0666.
pub const DEVICES: [(&CStr, u32, u32); 6] = [
    (c"/dev/null", 1, 3),
    (c"/dev/zero", 1, 5),
    (c"/dev/full", 1, 7),
    (c"/dev/random", 1, 8),
    (c"/dev/urandom", 1, 9),
    (c"/dev/tty", 5, 0),
];

/// docker's symbolic links in `/dev`: (target, link).
pub const LINKS: [(&CStr, &CStr); 6] = [
    (c"/proc/self/fd", c"/dev/fd"),
    (c"/proc/self/fd/0", c"/dev/stdin"),
    (c"/proc/self/fd/1", c"/dev/stdout"),
    (c"/proc/self/fd/2", c"/dev/stderr"),
    (c"pts/ptmx", c"/dev/ptmx"),
    (c"/proc/kcore", c"/dev/core"),
];

/// The mounts' items, as a failure of [`Step::MountDev`] names them.
pub const DEV_MOUNTS: [&CStr; 4] = [c"/dev", c"/dev/pts", c"/dev/shm", c"/dev/mqueue"];

fn mkdir(path: &CStr, mode: libc::mode_t) -> sys::SysResult {
    match sys::mkdir(path, mode) {
        Err(libc::EEXIST) => Ok(0),
        r => r,
    }
}

/// `/dev`. Without `privileged`, a tmpfs (mode 755, 64 MiB, nosuid: device
/// nodes must work in it) with [`DEVICES`] and [`LINKS`] (`/dev/core` only
/// where there is a `/proc/kcore`); with it, the host's nodes stay, as
/// docker's privileged containers get copies of them all. Either way the
/// container's own devpts (see `terminal.rs`), shm and mqueue.
pub fn dev(privileged: bool) -> Result<(), Fault> {
    // Over the host's mounts there, not in place of them: a detach costs
    // an RCU grace period (0.1-0.4 ms here), on the path to the command.
    // They stay in its mount table, out of reach.
    if !privileged {
        dev_tmpfs(c"/dev")?;
    }
    dev_contents(privileged)
}

/// The tmpfs of `/dev`, at `at`: rootfs.rs mounts it before the pivot.
pub fn dev_tmpfs(at: &CStr) -> Result<(), Fault> {
    Fault::check(
        sys::mount(
            Some(c"tmpfs"),
            at,
            Some(c"tmpfs"),
            NOSUID | libc::MS_STRICTATIME,
            Some(c"mode=755,size=65536k"),
        ),
        Step::MountDev,
        0,
    )
    .map(drop)
}

/// What goes in `/dev`, once its tmpfs is there (see [`dev`]).
pub fn dev_contents(privileged: bool) -> Result<(), Fault> {
    if !privileged {
        // The nodes' modes as given, whatever the shim's umask.
        let old = sys::umask(0);
        let made = DEVICES
            .iter()
            .enumerate()
            .try_for_each(|(i, (path, major, minor))| {
                let dev = libc::makedev(*major, *minor);
                Fault::check(
                    sys::mknod(path, libc::S_IFCHR | 0o666, dev),
                    Step::DevNode,
                    i,
                )
                .map(drop)
            });
        sys::umask(old);
        made?;
        for (i, (target, link)) in LINKS.iter().enumerate() {
            if *link == c"/dev/core" && sys::stat(c"/proc/kcore", false).is_err() {
                continue;
            }
            Fault::check(sys::symlink(target, link), Step::DevNode, DEVICES.len() + i)?;
        }
    }
    // (source, file system, ...): /dev/shm's source is "shm", as docker's
    // and runc's are.
    let mounts: [(&CStr, &CStr, &CStr, libc::c_ulong, &CStr); 3] = [
        (
            c"devpts",
            c"devpts",
            DEV_MOUNTS[1],
            NOSUID | libc::MS_NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620,gid=5",
        ),
        (
            c"shm",
            c"tmpfs",
            DEV_MOUNTS[2],
            HARD,
            c"mode=1777,size=65536k",
        ),
        (c"mqueue", c"mqueue", DEV_MOUNTS[3], HARD, c""),
    ];
    for (i, (source, fs, at, flags, data)) in mounts.iter().enumerate() {
        if privileged {
            // The host's /dev: over what is there, and nothing made on it.
            if sys::stat(at, true).is_err() {
                continue;
            }
        } else {
            Fault::check(mkdir(at, 0o755), Step::MountDev, i + 1)?;
        }
        let data = if data.is_empty() { None } else { Some(*data) };
        Fault::check(
            sys::mount(Some(source), at, Some(fs), *flags, data),
            Step::MountDev,
            i + 1,
        )?;
    }
    Ok(())
}

/// A fresh sysfs on `/sys`, which shows the container's network namespace
/// (it must be mounted from inside it): read-only unless `privileged`.
pub fn sys(privileged: bool) -> Result<(), Fault> {
    let ro = if privileged { 0 } else { libc::MS_RDONLY };
    // Over the host's, not in place of it: its cgroup mounts are where the
    // container's own cgroup directories are bound from (see `cgroups`),
    // and a mount detached from the namespace cannot be bound from.
    Fault::check(
        sys::mount(Some(c"sysfs"), c"/sys", Some(c"sysfs"), HARD | ro, None),
        Step::MountSys,
        0,
    )?;
    Ok(())
}

/// `/sys/fs/cgroup`, from inside the container's cgroup namespace: on v2
/// the cgroup2 file system, whose root is then the container's cgroup; on
/// v1 a tmpfs with, for each hierarchy, a bind of the container's own
/// directory (`dirs`: a descriptor of it, opened while the host's
/// hierarchies were still in view, and the hierarchy's name: `memory`,
/// `cpu,cpuacct` with a link for each of the two). Read-only unless
/// `privileged`. A failure names the hierarchy by its place in `dirs`
/// (after 0, the file system itself).
pub fn cgroups<'a>(
    v2: bool,
    privileged: bool,
    dirs: impl Iterator<Item = (RawFd, &'a CStr)>,
) -> Result<(), Fault> {
    let ro = if privileged { 0 } else { libc::MS_RDONLY };
    let root = c"/sys/fs/cgroup";
    if v2 {
        Fault::check(
            sys::mount(Some(c"cgroup2"), root, Some(c"cgroup2"), HARD | ro, None),
            Step::MountCgroup,
            0,
        )?;
        return Ok(());
    }
    Fault::check(
        sys::mount(
            Some(c"tmpfs"),
            root,
            Some(c"tmpfs"),
            HARD,
            Some(c"mode=755"),
        ),
        Step::MountCgroup,
        0,
    )?;
    // Read-only at the end, all in one call (Linux 5.12), where the kernel
    // can: a bind is made writable whatever its flags, and each remount
    // would be another system call on the path to the command.
    let at_once = !privileged && sys::mount_setattr(root, 0, MOUNT_ATTR_HARD).is_ok();
    for (i, (fd, name)) in dirs.enumerate() {
        let fault = |e| Fault::new(Step::MountCgroup, e, i + 1);
        let too_long = || fault(libc::ENAMETOOLONG);
        let mut at = CPath::new(b"/sys/fs/cgroup/").ok_or_else(too_long)?;
        at.push(name.to_bytes()).ok_or_else(too_long)?;
        mkdir(at.as_cstr(), 0o555).map_err(fault)?;
        let mut from = CPath::new(b"/proc/self/fd/").ok_or_else(too_long)?;
        from.push_num(fd as u32).ok_or_else(too_long)?;
        sys::mount(
            Some(from.as_cstr()),
            at.as_cstr(),
            None,
            libc::MS_BIND,
            None,
        )
        .map_err(fault)?;
        if !privileged && !at_once {
            let flags = libc::MS_BIND | libc::MS_REMOUNT | HARD | ro;
            sys::mount(None, at.as_cstr(), None, flags, None).map_err(fault)?;
        }
        // Co-mounted controllers: a link by each name, as the host has.
        if name.to_bytes().contains(&b',') {
            for part in name.to_bytes().split(|b| *b == b',') {
                let mut link = CPath::new(b"/sys/fs/cgroup/").ok_or_else(too_long)?;
                link.push(part).ok_or_else(too_long)?;
                match sys::symlink(name, link.as_cstr()) {
                    Ok(_) | Err(libc::EEXIST) => {}
                    Err(e) => return Err(fault(e)),
                }
            }
        }
    }
    if at_once {
        let recursive = libc::AT_RECURSIVE as libc::c_uint;
        let attrs = MOUNT_ATTR_HARD | MOUNT_ATTR_RDONLY;
        Fault::check(
            sys::mount_setattr(root, recursive, attrs),
            Step::MountCgroup,
            0,
        )?;
    } else if !privileged {
        let flags = libc::MS_BIND | libc::MS_REMOUNT | HARD | ro;
        Fault::check(
            sys::mount(None, root, None, flags, None),
            Step::MountCgroup,
            0,
        )?;
    }
    Ok(())
}

// linux/mount.h
const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// nosuid, nodev, noexec.
const MOUNT_ATTR_HARD: u64 = 0x2 | 0x4 | 0x8;

/// The kernel's interfaces as file systems: mounted anywhere but the
/// container's own /proc, /sys and /dev (a chroot's /proc, a second mount
/// of a cgroup hierarchy, a bind of the host's devpts), one would give the
/// container what those hide (the host's /proc/sysrq-trigger, a cgroup's
/// `tasks` above its own, the host's terminals).
const KERNEL_FS: [&[u8]; 15] = [
    b"proc",
    b"sysfs",
    b"cgroup",
    b"cgroup2",
    b"devpts",
    b"mqueue",
    b"debugfs",
    b"tracefs",
    b"securityfs",
    b"bpf",
    b"configfs",
    b"efivarfs",
    b"pstore",
    b"binfmt_misc",
    b"fusectl",
];

/// Where the container's own are, and the host's are hidden already.
const OWN: [&[u8]; 3] = [b"/proc", b"/sys", b"/dev"];

/// Covers every mount of [`KERNEL_FS`] outside [`OWN`] that the container
/// inherited from the host (the host-filesystem mode shares the host's
/// mount table) with an empty read-only tmpfs (a file: /dev/null). Reads
/// its own mount table, a line at a time, allocating nothing. Not for a
/// privileged container, which sees all, as docker's does.
pub fn cover_kernel_fs() -> Result<(), Fault> {
    cover_kernel_fs_from(open_mount_table().map_err(|e| Fault::new(Step::Cover, e, 0))?)
}

/// The caller's mount table, open (read it later: it is made afresh at
/// each read).
pub fn open_mount_table() -> Result<RawFd, i32> {
    sys::open(c"/proc/self/mountinfo", libc::O_RDONLY | libc::O_CLOEXEC).map(|fd| fd as RawFd)
}

/// [`cover_kernel_fs`] with the mount table opened ahead (the holder's:
/// once the init has mounted the container's /proc, which has no `self`
/// for the holder, it could not open it), which this closes.
pub fn cover_kernel_fs_from(fd: RawFd) -> Result<(), Fault> {
    let fault = |e| Fault::new(Step::Cover, e, 0);
    let mut chunk = [0u8; 4096];
    let mut line = [0u8; LINE];
    let mut len = 0;
    let mut covered = 0usize;
    let r = loop {
        let n = match sys::read(fd, &mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(libc::EINTR) => continue,
            Err(e) => break Err(fault(e)),
        };
        let mut failed = None;
        for &b in &chunk[..n] {
            if b != b'\n' {
                // What of a longer line is past this is never needed: the
                // mount point and the type come first.
                if len < line.len() {
                    line[len] = b;
                    len += 1;
                }
                continue;
            }
            if let Err(e) = cover_line(&line[..len]) {
                failed = Some(Fault::new(Step::Cover, e, covered));
                break;
            }
            covered += 1;
            len = 0;
        }
        if let Some(f) = failed {
            break Err(f);
        }
    };
    // SAFETY: the descriptor opened above.
    let _ = unsafe { sys::close(fd) };
    r
}

/// The longest mountinfo line read whole.
const LINE: usize = 2 * super::lookup::PATH_BUF;

/// The mount point and type of one line of mountinfo: `id parent dev root
/// MOUNTPOINT opts [tags] - TYPE source superopts`.
fn mount_of(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut fields = line.split(|b| *b == b' ');
    let point = fields.nth(4)?;
    let fstype = fields.skip_while(|f| *f != b"-").nth(1)?;
    Some((point, fstype))
}

/// Whether a mount of `fstype` at `path` (unescaped) is one to cover.
fn to_cover(path: &[u8], fstype: &[u8]) -> bool {
    let own = OWN
        .iter()
        .any(|o| path.starts_with(o) && (path.len() == o.len() || path[o.len()] == b'/'));
    KERNEL_FS.contains(&fstype) && !own && path != b"/"
}

/// Covers the mount of one line of mountinfo, if it is one to.
fn cover_line(line: &[u8]) -> sys::SysResult {
    let Some((point, fstype)) = mount_of(line) else {
        return Ok(0);
    };
    let mut path = CPath::new(b"").ok_or(libc::ENAMETOOLONG)?;
    unescape(point, &mut path).ok_or(libc::ENAMETOOLONG)?;
    if !to_cover(path.as_cstr().to_bytes(), fstype) {
        return Ok(0);
    }
    let ro = libc::MS_RDONLY | HARD;
    match sys::mount(
        Some(c"tmpfs"),
        path.as_cstr(),
        Some(c"tmpfs"),
        ro,
        Some(c"size=0"),
    ) {
        Ok(n) => Ok(n),
        // A file: /dev/null over it.
        Err(libc::ENOTDIR) => sys::mount(
            Some(c"/dev/null"),
            path.as_cstr(),
            None,
            libc::MS_BIND,
            None,
        ),
        // Under one covered already (mountinfo lists parents first).
        Err(libc::ENOENT) => Ok(0),
        Err(e) => Err(e),
    }
}

/// A mount point as mountinfo writes it (space, tab, newline and backslash
/// as `\ooo`), into `out`.
fn unescape(field: &[u8], out: &mut CPath) -> Option<()> {
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        let octal = |c: u8| (b'0'..=b'7').contains(&c);
        if b == b'\\' && i + 3 < field.len() && field[i + 1..i + 4].iter().all(|c| octal(*c)) {
            let v = field[i + 1..i + 4]
                .iter()
                .fold(0u32, |v, c| v * 8 + (c - b'0') as u32);
            out.push(&[v as u8])?;
            i += 4;
        } else {
            out.push(&[b])?;
            i += 1;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_kernel_file_systems_are_found_where_they_are_not_the_containers() {
        let line = b"51 50 0:29 /../.. /srv/chroot/proc rw,relatime shared:4 - proc proc rw";
        assert_eq!(
            mount_of(line),
            Some((&b"/srv/chroot/proc"[..], &b"proc"[..]))
        );
        let plain = b"61 46 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,mode=755";
        assert_eq!(mount_of(plain), Some((&b"/dev"[..], &b"devtmpfs"[..])));
        assert_eq!(mount_of(b"short line"), None);
        for (path, fstype, cover) in [
            (&b"/srv/chroot/proc"[..], &b"proc"[..], true),
            (b"/cgroup/memory", b"cgroup", true),
            (b"/mnt/pts", b"devpts", true),
            (b"/sys/fs/cgroup/memory", b"cgroup", false),
            (b"/proc/sys/fs/binfmt_misc", b"binfmt_misc", false),
            (b"/dev/pts", b"devpts", false),
            (b"/devices", b"sysfs", true),
            (b"/home", b"ext4", false),
            (b"/", b"proc", false),
        ] {
            assert_eq!(
                to_cover(path, fstype),
                cover,
                "{}",
                String::from_utf8_lossy(path)
            );
        }
        let mut p = CPath::new(b"").unwrap();
        unescape(br"/mnt/a\040b\134c\011", &mut p).unwrap();
        assert_eq!(p.as_cstr(), c"/mnt/a b\\c\t");
        let mut p = CPath::new(b"").unwrap();
        unescape(br"/x\04", &mut p).unwrap();
        assert_eq!(p.as_cstr(), c"/x\\04");
    }
}
