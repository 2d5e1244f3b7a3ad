//! A root file system of the container's own: the directory pivot_root'ed
//! into, and the mounts made in it (volumes, tmpfs, the shim's
//! `/etc/hosts`), as runc and youki make them.
//!
//! The shim checks and encodes everything before the clone
//! ([`RootPlan::new`]); the init does the rest with raw system calls (see
//! `sys.rs`), all of it inside its own mount namespace, so that a shim
//! killed half-way leaves nothing on the host:
//! 1. [`enter`]: each bind's source is taken as a detached copy
//!    (open_tree), while the host's paths are still in view; the root is
//!    bound onto itself and pivot_root'ed into. The old root is kept under
//!    /dev until the cgroups are joined and bound, and detached then
//!    ([`leave_host`]), before anything of the container's runs.
//! 2. [`mount_all`], after /proc and /dev: each mount, on its destination
//!    resolved *from the new root*. There is nothing above that root any
//!    more, so no symbolic link or `..` in the image can lead a mount out
//!    of it (runc's CVE-2021-30465 class): the host's mounts are not in
//!    this namespace to be reached. Missing destinations are made.
//! 3. [`seal`], last of the mounts: `/` read-only, when asked.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::path::{Component, Path, PathBuf};

use super::cpath::CPath;
use super::mounts;
use super::report::{Fault, Step};
use super::sys;

/// What went wrong with a root file system or a mount, found by the shim
/// before anything was made.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The request is wrong whatever the host has.
    #[error("{0}")]
    Invalid(String),
    /// The host does not have what the request names.
    #[error("{0}")]
    Missing(String),
}

/// A mount, as asked (the OCI spec's, checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOp {
    /// Absolute, inside the container.
    pub destination: String,
    pub kind: MountKind,
    /// MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, ... as the options say.
    pub flags: libc::c_ulong,
    /// MS_PRIVATE, MS_SLAVE, MS_SHARED or MS_UNBINDABLE, with MS_REC for
    /// the `r` forms; 0: as it comes.
    pub propagation: libc::c_ulong,
    /// The file system's own options (`size=64m,mode=1777`), comma-joined.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host path; `recursive` for rbind (the mounts under it too).
    Bind { source: PathBuf, recursive: bool },
    /// A new file system of this type (tmpfs, proc, sysfs, mqueue, devpts).
    Fs { fstype: String, source: String },
}

/// The root and its mounts, as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootSpec {
    /// An absolute path on the host.
    pub path: PathBuf,
    pub readonly: bool,
    pub mounts: Vec<MountOp>,
    /// /proc's flags, when the spec gives its own (docker's otherwise:
    /// nosuid, nodev, noexec).
    pub proc_flags: Option<libc::c_ulong>,
    /// An overlay mounted on `path` first: lower directories (top first),
    /// upper, work.
    pub overlay: Option<(Vec<PathBuf>, PathBuf, PathBuf)>,
    /// The command's directory, made if the root lacks it (docker and
    /// runc make it).
    pub workdir: Option<String>,
}

/// The file systems [`init`](super::init) makes itself, which a mount may
/// not be put on: the spec's own entries for them are the ones we make.
const OURS: [&str; 3] = ["/proc", "/dev", "/sys"];

/// Checks a destination: absolute, no `..`, not `/` or one of ours, not
/// where the old root waits, not under /sys (whose sysfs is mounted after
/// the spec's mounts, and would hide them).
pub fn check_destination(d: &str) -> Result<(), RootError> {
    let p = Path::new(d);
    if !p.is_absolute() {
        return Err(RootError::Invalid(format!(
            "mount destination {} is not absolute",
            mydocker::brief(d)
        )));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(RootError::Invalid(format!(
            "mount destination {} has a `..` component",
            mydocker::brief(d)
        )));
    }
    if d.as_bytes().contains(&0) {
        return Err(RootError::Invalid(
            "a mount destination contains a NUL byte".into(),
        ));
    }
    if p.components().count() < 2 {
        return Err(RootError::Invalid(
            "a mount's destination cannot be /".into(),
        ));
    }
    if OURS.iter().any(|o| Path::new(o) == p) {
        return Err(RootError::Invalid(format!(
            "mount destination {} is the container's own file system",
            mydocker::brief(d)
        )));
    }
    if p.starts_with("/dev/.host") {
        return Err(RootError::Invalid(format!(
            "mount destination {} is the runtime's",
            mydocker::brief(d)
        )));
    }
    if p.starts_with("/sys") {
        return Err(RootError::Invalid(format!(
            "mount destination {}: mounts under /sys are not supported yet",
            mydocker::brief(d)
        )));
    }
    Ok(())
}

enum What {
    Bind {
        source: CString,
        recursive: bool,
        /// Its source is a file (so its destination is made as one).
        file: bool,
        /// The detached copy, once [`enter`] took it.
        tree: RawFd,
    },
    Fs {
        fstype: CString,
        source: CString,
    },
}

struct Planned {
    dest: CString,
    what: What,
    flags: libc::c_ulong,
    propagation: libc::c_ulong,
    data: Option<CString>,
}

/// The root, encoded for the init (nothing of it is allocated there).
pub struct RootPlan {
    path: CString,
    /// overlayfs's options, when the root is an image's layers.
    overlay: Option<CString>,
    readonly: bool,
    pub(super) proc_flags: Option<libc::c_ulong>,
    mounts: Vec<Planned>,
    workdir: Option<CString>,
}

fn cstring(what: &str, s: &[u8]) -> Result<CString, RootError> {
    CString::new(s).map_err(|_| RootError::Invalid(format!("{what} contains a NUL byte")))
}

impl RootPlan {
    /// Checks `spec` against the host (the root is a directory, each bind's
    /// source exists) and encodes it.
    pub fn new(spec: &RootSpec) -> Result<Self, RootError> {
        use std::os::unix::ffi::OsStrExt;
        let root = &spec.path;
        if !root.is_absolute() {
            return Err(RootError::Invalid(format!(
                "root file system {} is not an absolute path",
                mydocker::brief(&root.to_string_lossy())
            )));
        }
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(RootError::Invalid(format!(
                    "root file system {} is not a directory",
                    mydocker::brief(&root.to_string_lossy())
                )))
            }
            Err(e) => {
                return Err(RootError::Missing(format!(
                    "root file system {}: {e}",
                    mydocker::brief(&root.to_string_lossy())
                )))
            }
        }
        let mut mounts = Vec::with_capacity(spec.mounts.len());
        for m in &spec.mounts {
            check_destination(&m.destination)?;
            let what = match &m.kind {
                MountKind::Bind { source, recursive } => {
                    if !source.is_absolute() {
                        return Err(RootError::Invalid(format!(
                            "bind source {} is not an absolute path",
                            mydocker::brief(&source.to_string_lossy())
                        )));
                    }
                    let meta = std::fs::metadata(source).map_err(|e| {
                        RootError::Missing(format!(
                            "bind source path {} for {}: {e}",
                            mydocker::brief(&source.to_string_lossy()),
                            m.destination
                        ))
                    })?;
                    What::Bind {
                        source: cstring("a bind source", source.as_os_str().as_bytes())?,
                        recursive: *recursive,
                        file: !meta.is_dir(),
                        tree: -1,
                    }
                }
                MountKind::Fs { fstype, source } => What::Fs {
                    fstype: cstring("a mount type", fstype.as_bytes())?,
                    source: cstring("a mount source", source.as_bytes())?,
                },
            };
            mounts.push(Planned {
                dest: cstring("a mount destination", m.destination.as_bytes())?,
                what,
                flags: m.flags,
                propagation: m.propagation,
                data: match m.data.as_str() {
                    "" => None,
                    d => Some(cstring("a mount option", d.as_bytes())?),
                },
            });
        }
        let overlay = match &spec.overlay {
            Some((lower, upper, work)) => Some(overlay_options(lower, upper, work)?),
            None => None,
        };
        let workdir = match spec.workdir.as_deref() {
            None | Some("" | "/") => None,
            Some(w) if !w.starts_with('/') => {
                return Err(RootError::Invalid(format!(
                    "working directory {} is not an absolute path",
                    mydocker::brief(w)
                )))
            }
            Some(w) => Some(cstring("the working directory", w.as_bytes())?),
        };
        Ok(Self {
            overlay,
            workdir,
            path: cstring("the root path", root.as_os_str().as_bytes())?,
            readonly: spec.readonly,
            proc_flags: spec.proc_flags,
            mounts,
        })
    }

    /// The mounts' destinations, in order: what a failure's item names.
    pub fn destinations(&self) -> Vec<String> {
        self.mounts
            .iter()
            .map(|m| m.dest.to_string_lossy().into_owned())
            .collect()
    }
}

/// overlayfs's options for an image's layers, each directory checked on
/// the host: `lowerdir=TOP:...:BOTTOM,upperdir=U,workdir=W`.
fn overlay_options(lower: &[PathBuf], upper: &Path, work: &Path) -> Result<CString, RootError> {
    use std::os::unix::ffi::OsStrExt;
    if lower.is_empty() {
        return Err(RootError::Invalid("layers: no lower directory".into()));
    }
    let check = |what: &str, p: &Path| -> Result<(), RootError> {
        let shown = mydocker::brief(&p.to_string_lossy()).to_string();
        if !p.is_absolute() {
            return Err(RootError::Invalid(format!(
                "layers: {what} {shown} is not an absolute path"
            )));
        }
        if p.as_os_str()
            .as_bytes()
            .iter()
            .any(|b| matches!(b, b',' | b':' | 0))
        {
            return Err(RootError::Invalid(format!(
                "layers: {what} {shown} has a `,` or `:` (overlayfs's separators)"
            )));
        }
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(RootError::Invalid(format!(
                "layers: {what} {shown} is not a directory"
            ))),
            Err(e) => Err(RootError::Missing(format!("layers: {what} {shown}: {e}"))),
        }
    };
    for l in lower {
        check("lower directory", l)?;
    }
    check("upper directory", upper)?;
    check("work directory", work)?;
    let mut o = b"lowerdir=".to_vec();
    for (i, l) in lower.iter().enumerate() {
        if i > 0 {
            o.push(b':');
        }
        o.extend_from_slice(l.as_os_str().as_bytes());
    }
    o.extend_from_slice(b",upperdir=");
    o.extend_from_slice(upper.as_os_str().as_bytes());
    o.extend_from_slice(b",workdir=");
    o.extend_from_slice(work.as_os_str().as_bytes());
    // mount(2) takes one page of options.
    if o.len() >= 4096 {
        return Err(RootError::Invalid(format!(
            "layers: {} layers make options longer than a page (4096 bytes)",
            lower.len()
        )));
    }
    cstring("the layers", &o)
}

/// Items of [`Step::Root`] failures.
pub const ROOT_STEPS: [&str; 10] = [
    "take the bind sources",
    "bind the root onto itself",
    "enter the root",
    "pivot_root",
    "detach the old root",
    "make its mount points (the image's /dev must be a directory)",
    "make /dev",
    "hide the old root",
    "mount the image's layers (overlay)",
    "make the working directory",
];

/// Where the old root waits, in the container's /dev tmpfs, until the
/// init has joined and bound its cgroups through it ([`leave_host`]):
/// detached at once, as runc does, it would take the host's cgroup
/// hierarchies with it, and a detached mount cannot be bound from.
const OLD_ROOT: &CStr = c"/dev/.host";

/// Steps 1: the binds' sources, taken; then into the root. After this, `/`
/// is the container's, and the host's file systems are only under
/// [`OLD_ROOT`], until [`leave_host`].
pub fn enter(plan: &mut RootPlan) -> Result<(), Fault> {
    for (i, m) in plan.mounts.iter_mut().enumerate() {
        if let What::Bind {
            source,
            recursive,
            tree,
            ..
        } = &mut m.what
        {
            let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
            if *recursive {
                flags |= libc::AT_RECURSIVE as libc::c_uint;
            }
            *tree = Fault::check(sys::open_tree(source, flags), Step::Mount, i)? as RawFd;
        }
    }
    match &plan.overlay {
        // In this mount namespace only: the host never has it.
        Some(options) => Fault::check(
            sys::mount(
                Some(c"overlay"),
                &plan.path,
                Some(c"overlay"),
                0,
                Some(options),
            ),
            Step::Root,
            8,
        )
        .map(drop)?,
        None => {
            let bind = libc::MS_BIND | libc::MS_REC;
            Fault::check(
                sys::mount(Some(&plan.path), &plan.path, None, bind, None),
                Step::Root,
                1,
            )
            .map(drop)?
        }
    }
    Fault::check(sys::chdir(&plan.path), Step::Root, 2)?;
    // The container's /dev tmpfs first, which holds the old root: nothing
    // is written in the image but the mount points. The image's `dev`, if
    // any, must be a directory: a link would be followed on the host's side.
    match sys::stat(c"dev", false) {
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => {
            return Err(Fault::new(Step::Root, libc::ENOTDIR, 5))
        }
        _ => {}
    }
    Fault::check(mkdir(c"dev"), Step::Root, 5)?;
    mounts::dev_tmpfs(c"dev").map_err(|f| Fault::new(Step::Root, f.errno, 6))?;
    Fault::check(sys::mkdir(c"dev/.host", 0o700), Step::Root, 6)?;
    Fault::check(sys::pivot_root(c".", c"dev/.host"), Step::Root, 3)?;
    Fault::check(sys::chdir(c"/"), Step::Root, 2)?;
    // Out of reach by path at once: the spec's mounts are made next, and
    // an image's link into /dev/.host would lead them to the host. (The
    // cgroup join and binds go through descriptors, which still reach it.)
    let hide = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    Fault::check(
        sys::mount(
            Some(c"tmpfs"),
            OLD_ROOT,
            Some(c"tmpfs"),
            hide,
            Some(c"mode=000"),
        ),
        Step::Root,
        7,
    )?;
    for d in [c"/proc", c"/sys"] {
        Fault::check(mkdir(d), Step::Root, 5)?;
    }
    Ok(())
}

/// The old root, detached, and its place in /dev gone: last of the set-up
/// that needs the host's view, before the command can run.
pub fn leave_host() -> Result<(), Fault> {
    // The cover, then what it covers.
    Fault::check(sys::umount2(OLD_ROOT, 0), Step::Root, 4)?;
    Fault::check(sys::umount2(OLD_ROOT, libc::MNT_DETACH), Step::Root, 4)?;
    Fault::check(sys::rmdir(OLD_ROOT), Step::Root, 4)?;
    Ok(())
}

fn mkdir(path: &CStr) -> sys::SysResult {
    match sys::mkdir(path, 0o755) {
        Err(libc::EEXIST) => Ok(0),
        r => r,
    }
}

/// Makes `dest`'s parents, and `dest` itself as a directory or a file.
fn make_point(dest: &CStr, file: bool) -> sys::SysResult {
    let bytes = dest.to_bytes();
    for (i, b) in bytes.iter().enumerate().skip(1) {
        if *b == b'/' {
            let parent = CPath::new(&bytes[..i]).ok_or(libc::ENAMETOOLONG)?;
            mkdir(parent.as_cstr())?;
        }
    }
    if !file {
        return mkdir(dest);
    }
    // Anything there, a link too (a dangling one, such as an image's
    // /etc/resolv.conf into /run, is followed: inside the root).
    if sys::stat(dest, true).is_ok() {
        return Ok(0);
    }
    let fd = sys::create(dest, 0o644)? as RawFd;
    // SAFETY: the descriptor just opened.
    let _ = unsafe { sys::close(fd) };
    Ok(0)
}

/// Step 2: each mount on its destination, in order.
pub fn mount_all(plan: &mut RootPlan) -> Result<(), Fault> {
    for (i, m) in plan.mounts.iter_mut().enumerate() {
        let file = matches!(m.what, What::Bind { file: true, .. });
        Fault::check(make_point(&m.dest, file), Step::MountPoint, i)?;
        match &mut m.what {
            What::Bind {
                tree, recursive, ..
            } => {
                let f = m.flags & !libc::MS_BIND & !libc::MS_REC;
                // Set on the copy before it is attached, and on every
                // mount of an rbind, adding to the source's own (nosuid
                // and the rest stay): mount_setattr (Linux 5.12). Else a
                // remount of the top one, below.
                let set = setattr(*tree, f, *recursive);
                let moved = sys::move_mount_fd(*tree, &m.dest);
                // SAFETY: the copy enter() opened, attached or not, used
                // no more.
                let _ = unsafe { sys::close(*tree) };
                *tree = -1;
                Fault::check(moved, Step::Mount, i)?;
                if f != 0 && !set {
                    let remount = libc::MS_BIND | libc::MS_REMOUNT | f;
                    Fault::check(
                        sys::mount(None, &m.dest, None, remount, None),
                        Step::Mount,
                        i,
                    )?;
                }
            }
            What::Fs { fstype, source } => {
                Fault::check(
                    sys::mount(
                        Some(source),
                        &m.dest,
                        Some(fstype),
                        m.flags,
                        m.data.as_deref(),
                    ),
                    Step::Mount,
                    i,
                )?;
            }
        }
        if m.propagation != 0 {
            Fault::check(
                sys::mount(None, &m.dest, None, m.propagation, None),
                Step::Mount,
                i,
            )?;
        }
    }
    Ok(())
}

/// Step 3: the command's directory, where the root lacks it, as root
/// (0755), before the root is sealed: as docker makes it in the
/// container's layer, and runc in a bundle's root.
pub fn make_workdir(plan: &RootPlan) -> Result<(), Fault> {
    match &plan.workdir {
        Some(w) => Fault::check(make_point(w, false), Step::Root, 9).map(drop),
        None => Ok(()),
    }
}

/// mount_setattr's MOUNT_ATTR_* for the flags a bind may ask for: None
/// when one has none.
fn attrs(flags: libc::c_ulong) -> Option<u64> {
    const RDONLY: u64 = 0x1;
    const NOSUID: u64 = 0x2;
    const NODEV: u64 = 0x4;
    const NOEXEC: u64 = 0x8;
    let map = [
        (libc::MS_RDONLY, RDONLY),
        (libc::MS_NOSUID, NOSUID),
        (libc::MS_NODEV, NODEV),
        (libc::MS_NOEXEC, NOEXEC),
    ];
    let mut rest = flags;
    let mut out = 0;
    for (ms, attr) in map {
        if flags & ms != 0 {
            out |= attr;
            rest &= !ms;
        }
    }
    (rest == 0).then_some(out)
}

/// Sets `flags` on the detached copy `tree` (all of it when `recursive`):
/// whether it could (nothing to set counts).
fn setattr(tree: RawFd, flags: libc::c_ulong, recursive: bool) -> bool {
    match attrs(flags) {
        Some(0) => true,
        Some(a) => {
            let mut how = libc::AT_EMPTY_PATH as libc::c_uint;
            if recursive {
                how |= libc::AT_RECURSIVE as libc::c_uint;
            }
            sys::mount_setattr_fd(tree, how, a).is_ok()
        }
        None => false,
    }
}

/// Step 3: `/` read-only, when asked; the mounts on it keep their own.
pub fn seal(plan: &RootPlan) -> Result<(), Fault> {
    if plan.readonly {
        let ro = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        Fault::check(
            sys::mount(None, c"/", None, ro, None),
            Step::ReadOnlyRoot,
            0,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_must_stay_inside() {
        assert!(check_destination("/data").is_ok());
        assert!(check_destination("/a/b/c").is_ok());
        for bad in [
            "data",
            "/",
            "/a/../../etc",
            "/..",
            "/proc",
            "/dev",
            "/sys",
            "/x\0",
        ] {
            assert!(check_destination(bad).is_err(), "{bad:?}");
        }
        let e = check_destination("/a/../b").unwrap_err().to_string();
        assert_eq!(e, "mount destination \"/a/../b\" has a `..` component");
    }

    #[test]
    fn the_shim_checks_the_host_side() {
        let spec = |path: &str, mounts| RootSpec {
            path: path.into(),
            readonly: false,
            mounts,
            proc_flags: None,
            overlay: None,
            workdir: None,
        };
        assert!(matches!(
            RootPlan::new(&spec("/nonexistent-root", vec![])),
            Err(RootError::Missing(_))
        ));
        assert!(matches!(
            RootPlan::new(&spec("relative", vec![])),
            Err(RootError::Invalid(_))
        ));
        assert!(matches!(
            RootPlan::new(&spec("/etc/hostname", vec![])),
            Err(RootError::Invalid(_))
        ));
        let bind = |source: &str| MountOp {
            destination: "/data".into(),
            kind: MountKind::Bind {
                source: source.into(),
                recursive: false,
            },
            flags: 0,
            propagation: 0,
            data: String::new(),
        };
        let e = RootPlan::new(&spec("/", vec![bind("/nonexistent-src")]));
        assert!(
            matches!(&e, Err(RootError::Missing(m)) if m.contains("/nonexistent-src")),
            "{:?}",
            e.err()
        );
        let plan = RootPlan::new(&spec("/", vec![bind("/etc/hostname")])).unwrap();
        assert_eq!(plan.destinations(), ["/data"]);
        assert!(matches!(plan.mounts[0].what, What::Bind { file: true, .. }));
    }

    #[test]
    fn overlay_options_are_checked_and_ordered() {
        let d = std::env::temp_dir().join(format!("mydocker-ovl-{}", std::process::id()));
        for sub in ["top", "bottom", "up", "work", "a,b"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let p = |s: &str| d.join(s);
        let o = overlay_options(&[p("top"), p("bottom")], &p("up"), &p("work")).unwrap();
        assert_eq!(
            o.to_str().unwrap(),
            format!(
                "lowerdir={}:{},upperdir={},workdir={}",
                p("top").display(),
                p("bottom").display(),
                p("up").display(),
                p("work").display()
            )
        );
        let err = |r: Result<CString, RootError>| r.unwrap_err().to_string();
        assert!(err(overlay_options(&[p("a,b")], &p("up"), &p("work"))).contains("separators"));
        assert!(err(overlay_options(&["rel".into()], &p("up"), &p("work"))).contains("absolute"));
        assert!(matches!(
            overlay_options(&[p("none")], &p("up"), &p("work")),
            Err(RootError::Missing(_))
        ));
        assert!(err(overlay_options(&[], &p("up"), &p("work"))).contains("no lower"));
        let many = vec![p("top"); 200];
        assert!(err(overlay_options(&many, &p("up"), &p("work"))).contains("a page"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
