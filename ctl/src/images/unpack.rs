//! One image layer (a tar stream, already decompressed) unpacked into a
//! fresh directory, in the form overlayfs takes as a lower layer: a
//! `.wh.NAME` whiteout becomes a 0/0 character device `NAME`, and a
//! `.wh..wh..opq` marker the `trusted.overlay.opaque` attribute of its
//! directory. Owners, modes, times, extended attributes, hard links,
//! device nodes and FIFOs are kept.
//!
//! A layer is untrusted input. Nothing it says may write outside the
//! directory: a path that is absolute or has `..` is refused, and so is
//! one that goes through a symbolic link (the layer's own: the directory
//! starts empty, and no link is ever followed while unpacking). A hard
//! link must name a file of the same layer. What it may write is bounded
//! (bytes and entries), which stops a decompression bomb or a sparse file
//! claiming terabytes.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};

/// What a layer may make.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Bytes of file content, in all.
    pub bytes: u64,
    /// Entries of the tar.
    pub entries: u64,
    /// Only regular files and directories (an archive of images, whose
    /// files are read back: a device, FIFO or link there is refused).
    pub plain_only: bool,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            bytes: 64 << 30,
            entries: 4 << 20,
            plain_only: false,
        }
    }
}

impl Bounds {
    /// The most the tar stream itself may be: the content, and headers
    /// (pax ones included, which the tar crate reads whole) beside it.
    pub fn stream(&self) -> u64 {
        self.bytes
            .saturating_add(self.entries.saturating_mul(4096))
            .saturating_add(1 << 20)
    }
}

/// A reader that fails past `left` bytes (where `Read::take` would end
/// quietly, and a bomb would look like a short tar).
pub struct Capped<R> {
    pub inner: R,
    pub left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "the layer's stream is past its bound",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {path}: refused: {why}")]
    Refused { path: String, why: &'static str },
    #[error("layer: more than {0} bytes of content: refused (a decompression bomb or a sparse file's claim?)")]
    TooBig(u64),
    #[error("layer: more than {0} entries: refused")]
    TooManyEntries(u64),
    #[error("layer: not a readable tar: {0}")]
    Read(io::Error),
    #[error("layer entry {path}: {what}: {source}")]
    Write {
        path: String,
        what: &'static str,
        source: io::Error,
    },
}

/// What was unpacked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub bytes: u64,
    pub whiteouts: u64,
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Unpacks `layer` into `dest`, an empty directory that nothing else
/// writes to meanwhile. On error `dest` holds part of the layer: the
/// caller removes it.
pub fn unpack(layer: impl Read, dest: &Path, bounds: Bounds) -> Result<Summary, UnpackError> {
    let mut archive = tar::Archive::new(Capped {
        inner: layer,
        left: bounds.stream(),
    });
    let mut sum = Summary::default();
    // Directories' times are set last: what is made in them changes them.
    let mut dir_times: Vec<(PathBuf, TimeSpec)> = Vec::new();
    let too_big = |e: io::Error| match e.kind() {
        io::ErrorKind::FileTooLarge => UnpackError::TooBig(bounds.bytes),
        _ => UnpackError::Read(e),
    };
    for entry in archive.entries().map_err(too_big)? {
        let mut entry = entry.map_err(too_big)?;
        sum.entries += 1;
        if sum.entries > bounds.entries {
            return Err(UnpackError::TooManyEntries(bounds.entries));
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let refused = |why| UnpackError::Refused {
            path: mydocker::brief(&shown).to_string(),
            why,
        };
        let Some(rel) = relative(&raw).map_err(refused)? else {
            continue; // the layer's root itself
        };
        let name = rel.file_name().unwrap_or_default().to_os_string();
        let parent = rel.parent().unwrap_or(Path::new(""));
        let parent_dir = make_parents(dest, parent).map_err(|e| e.at(&shown))?;
        let kind = entry.header().entry_type();
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE {
            set_xattr(&parent_dir, "trusted.overlay.opaque", b"y")
                .map_err(|source| write_err(&shown, "mark the directory opaque", source))?;
            sum.whiteouts += 1;
            continue;
        }
        // aufs's own metadata (`.wh..wh.plnk`, ...), which docker skips.
        if name_str.starts_with(".wh..wh.") {
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(refused("a whiteout of no file"));
            }
            let target = parent_dir.join(hidden);
            clear(&target).map_err(|source| write_err(&shown, "replace", source))?;
            mknod(&target, SFlag::S_IFCHR, Mode::empty(), 0)
                .map_err(|e| write_err(&shown, "make the whiteout", e.into()))?;
            sum.whiteouts += 1;
            continue;
        }
        let path = parent_dir.join(&name);
        let header = entry.header().clone();
        if bounds.plain_only && !matches!(kind, tar::EntryType::Directory | tar::EntryType::Regular)
        {
            return Err(refused(
                "not a file or a directory (in an archive of images)",
            ));
        }
        let mode = header.mode().map_err(UnpackError::Read)? & 0o7777;
        let made = match kind {
            tar::EntryType::Directory => match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => clear(&path).and_then(|_| mkdir(&path)),
                Err(_) => mkdir(&path),
            },
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                clear(&path).and_then(|_| {
                    let mut f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&path)?;
                    let budget = bounds.bytes - sum.bytes;
                    let n = copy_bounded(&mut entry, &mut f, budget)?;
                    sum.bytes += n;
                    Ok(())
                })
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refused("a symbolic link to nothing"))?;
                clear(&path)
                    .and_then(|_| std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path))
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refused("a hard link to nothing"))?;
                let Some(t) = relative(&target).map_err(refused)? else {
                    return Err(refused("a hard link to the layer's root"));
                };
                let from = dest.join(&t);
                // Its directories must be real ones of this layer too.
                let real = inside(dest, t.parent().unwrap_or(Path::new("")));
                match fs::symlink_metadata(&from) {
                    // A link to a link would be a second name for it, which
                    // a chmod below would follow.
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(refused("a hard link to a symbolic link"))
                    }
                    Ok(m) if real && !m.is_dir() => {}
                    _ => return Err(refused("a hard link to a file not in this layer")),
                }
                clear(&path).and_then(|_| fs::hard_link(&from, &path))
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (flag, dev) = match kind {
                    tar::EntryType::Char => (SFlag::S_IFCHR, device(&header)?),
                    tar::EntryType::Block => (SFlag::S_IFBLK, device(&header)?),
                    _ => (SFlag::S_IFIFO, 0),
                };
                clear(&path).and_then(|_| {
                    mknod(&path, flag, Mode::from_bits_truncate(0o600), dev)
                        .map_err(io::Error::from)
                })
            }
            // pax and GNU long-name headers are read by the tar crate;
            // what is left (global headers, volume labels) makes nothing.
            _ => continue,
        };
        made.map_err(|source| match source.kind() {
            io::ErrorKind::FileTooLarge => UnpackError::TooBig(bounds.bytes),
            _ => write_err(&shown, "make", source),
        })?;
        // Metadata: the owner first (a chown clears set-id bits), then the
        // mode (never through a link), attributes and times.
        let id = |v: io::Result<u64>| {
            v.map_err(UnpackError::Read)
                .and_then(|v| u32::try_from(v).map_err(|_| refused("an owner past 2^32")))
        };
        let uid = id(header.uid())?;
        let gid = id(header.gid())?;
        fchownat(
            nix::fcntl::AT_FDCWD,
            &path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| write_err(&shown, "chown", e.into()))?;
        // Never through a link (a chmod follows one).
        let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|source| write_err(&shown, "chmod", source))?;
        }
        if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Read)? {
            for ext in exts {
                let ext = ext.map_err(UnpackError::Read)?;
                if let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    let attr = String::from_utf8_lossy(attr).into_owned();
                    // overlayfs's own (opaque, redirect, metacopy) are made
                    // here, never taken from a layer.
                    if attr.starts_with("trusted.overlay.") {
                        continue;
                    }
                    set_xattr(&path, &attr, ext.value_bytes())
                        .map_err(|source| write_err(&shown, "set an attribute", source))?;
                }
            }
        }
        let mtime = TimeSpec::new(header.mtime().unwrap_or(0) as i64, 0);
        if kind == tar::EntryType::Directory {
            dir_times.push((path, mtime));
        } else {
            set_times(&path, mtime).map_err(|source| write_err(&shown, "set times", source))?;
        }
    }
    for (dir, t) in dir_times.iter().rev() {
        let _ = set_times(dir, *t);
    }
    Ok(sum)
}

/// A tar path as a relative path of only normal components (`./` and a
/// trailing `/` dropped); `None` for the root. Absolute paths and `..` are
/// refused: a layer names its files from its own root.
fn relative(raw: &[u8]) -> Result<Option<PathBuf>, &'static str> {
    if raw.contains(&0) {
        return Err("a NUL byte in the path");
    }
    let p = Path::new(OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("an absolute path"),
            Component::ParentDir => return Err("a path with `..` (it would leave the layer)"),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Where a parent directory failed.
struct ParentError {
    why: &'static str,
    source: Option<io::Error>,
}

impl ParentError {
    fn at(self, shown: &str) -> UnpackError {
        match self.source {
            Some(source) => write_err(shown, self.why, source),
            None => UnpackError::Refused {
                path: mydocker::brief(shown).to_string(),
                why: self.why,
            },
        }
    }
}

/// `dest/parent`, with each missing directory made (0755, root's, as
/// docker makes them); refused if any is a symbolic link or not a
/// directory.
fn make_parents(dest: &Path, parent: &Path) -> Result<PathBuf, ParentError> {
    let mut p = dest.to_path_buf();
    for c in parent.components() {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ParentError {
                    why: "a path through a symbolic link",
                    source: None,
                })
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ParentError {
                    why: "a path through a file that is not a directory",
                    source: None,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&p)
                    .map_err(|source| ParentError {
                        why: "make a directory",
                        source: Some(source),
                    })?;
            }
            Err(source) => {
                return Err(ParentError {
                    why: "look at a directory",
                    source: Some(source),
                })
            }
        }
    }
    Ok(p)
}

/// Whether `dest/dir` is made of real directories only.
fn inside(dest: &Path, dir: &Path) -> bool {
    let mut p = dest.to_path_buf();
    dir.components().all(|c| {
        p.push(c);
        fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir())
    })
}

fn mkdir(p: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(p)
}

/// Makes room for a new entry at `p`: a later entry of a tar replaces an
/// earlier one of the same name.
fn clear(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn device(h: &tar::Header) -> Result<libc::dev_t, UnpackError> {
    let major = h.device_major().map_err(UnpackError::Read)?.unwrap_or(0);
    let minor = h.device_minor().map_err(UnpackError::Read)?.unwrap_or(0);
    Ok(libc::makedev(major, minor))
}

/// Copies at most `budget` bytes; more is an error of kind FileTooLarge.
fn copy_bounded(from: &mut impl Read, to: &mut impl Write, budget: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let got = match from.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        n += got as u64;
        if n > budget {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "over the layer's bound",
            ));
        }
        to.write_all(&buf[..got])?;
    }
}

fn set_times(p: &Path, t: TimeSpec) -> io::Result<()> {
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let path = CString::new(p.as_os_str().as_bytes())?;
    let name = CString::new(name)?;
    // SAFETY: both strings are NUL-terminated and live across the call;
    // the value is a valid slice of its length.
    let r = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn write_err(shown: &str, what: &'static str, source: io::Error) -> UnpackError {
    UnpackError::Write {
        path: mydocker::brief(shown).to_string(),
        what,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// A tar built entry by entry.
    struct Layer(tar::Builder<Vec<u8>>);

    impl Layer {
        fn new() -> Self {
            Self(tar::Builder::new(Vec::new()))
        }

        fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mtime(1_000_000);
            h
        }

        /// Raw path bytes, as a hostile tar would have them (the builder's
        /// own path setters refuse `..` and absolute paths).
        fn raw_name(h: &mut tar::Header, path: &str) {
            let name = &mut h.as_old_mut().name;
            name.fill(0);
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
        }

        fn file(mut self, path: &str, data: &[u8]) -> Self {
            let mut h = Self::header(tar::EntryType::Regular, 0o640, data.len() as u64);
            Self::raw_name(&mut h, path);
            self.0.append(&h, data).unwrap();
            self
        }

        fn dir(mut self, path: &str) -> Self {
            let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
            Self::raw_name(&mut h, path);
            self.0.append(&h, io::empty()).unwrap();
            self
        }

        fn link(mut self, kind: tar::EntryType, path: &str, target: &str) -> Self {
            let mut h = Self::header(kind, 0o777, 0);
            let link = &mut h.as_old_mut().linkname;
            link.fill(0);
            link[..target.len()].copy_from_slice(target.as_bytes());
            Self::raw_name(&mut h, path);
            self.0.append(&h, io::empty()).unwrap();
            self
        }

        fn device(mut self, path: &str, major: u32, minor: u32) -> Self {
            let mut h = Self::header(tar::EntryType::Char, 0o666, 0);
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
            Self::raw_name(&mut h, path);
            self.0.append(&h, io::empty()).unwrap();
            self
        }

        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("mydocker-unpack-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(p.join("layer")).unwrap();
            Self(p)
        }

        fn layer(&self) -> PathBuf {
            self.0.join("layer")
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn files_dirs_links_devices_and_their_metadata() {
        if !root() {
            return;
        }
        let d = Dir::new("kept");
        let tar = Layer::new()
            .dir("./etc/")
            .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
            .file("usr/bin/tool", b"#!/bin/sh\n")
            .link(tar::EntryType::Symlink, "bin", "usr/bin")
            .link(tar::EntryType::Link, "usr/bin/same", "usr/bin/tool")
            .device("dev/null", 1, 3)
            .bytes();
        let sum = unpack(&tar[..], &d.layer(), Bounds::default()).unwrap();
        assert_eq!(sum.entries, 6);
        let l = d.layer();
        assert_eq!(
            fs::read_to_string(l.join("etc/passwd")).unwrap(),
            "root:x:0:0::/root:/bin/sh\n"
        );
        let m = fs::metadata(l.join("etc/passwd")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 1000, 1000));
        assert_eq!(m.mtime(), 1_000_000);
        // Parents not in the tar: made 0755.
        assert_eq!(fs::metadata(l.join("usr")).unwrap().mode() & 0o7777, 0o755);
        assert_eq!(fs::read_link(l.join("bin")).unwrap(), Path::new("usr/bin"));
        let a = fs::metadata(l.join("usr/bin/tool")).unwrap();
        let b = fs::metadata(l.join("usr/bin/same")).unwrap();
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
        let dev = fs::metadata(l.join("dev/null")).unwrap();
        assert!(dev.file_type().is_char_device());
        assert_eq!(dev.rdev(), libc::makedev(1, 3));
    }

    #[test]
    fn whiteouts_become_what_overlayfs_takes() {
        if !root() {
            return;
        }
        let d = Dir::new("wh");
        let tar = Layer::new()
            .file("etc/.wh.motd", b"")
            .file("var/cache/.wh..wh..opq", b"")
            .bytes();
        let sum = unpack(&tar[..], &d.layer(), Bounds::default()).unwrap();
        assert_eq!(sum.whiteouts, 2);
        let w = fs::symlink_metadata(d.layer().join("etc/motd")).unwrap();
        assert!(w.file_type().is_char_device());
        assert_eq!(w.rdev(), 0);
        let mut v = [0u8; 4];
        let path = CString::new(d.layer().join("var/cache").as_os_str().as_bytes()).unwrap();
        let name = CString::new("trusted.overlay.opaque").unwrap();
        // SAFETY: NUL-terminated strings and a buffer of its length.
        let n = unsafe {
            libc::lgetxattr(path.as_ptr(), name.as_ptr(), v.as_mut_ptr().cast(), v.len())
        };
        assert_eq!(&v[..n.max(0) as usize], b"y");
    }

    #[test]
    fn paths_that_leave_the_layer_are_refused() {
        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("dotdot", Layer::new().file("../x", b"out").bytes(), "`..`"),
            (
                "abs",
                Layer::new().file("/etc/x", b"out").bytes(),
                "absolute",
            ),
            (
                "deep",
                Layer::new().file("a/../../x", b"out").bytes(),
                "`..`",
            ),
            (
                "through",
                Layer::new()
                    .link(tar::EntryType::Symlink, "etc", "/etc")
                    .file("etc/x", b"out")
                    .bytes(),
                "symbolic link",
            ),
            (
                "hardout",
                Layer::new()
                    .link(tar::EntryType::Link, "x", "../../etc/passwd")
                    .bytes(),
                "`..`",
            ),
        ];
        for (name, tar, why) in cases {
            let d = Dir::new(name);
            let e = unpack(&tar[..], &d.layer(), Bounds::default()).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("refused") && msg.contains(why),
                "{name}: {msg}"
            );
            assert!(!d.0.join("x").exists(), "{name}: written outside");
            assert!(!Path::new("/etc/x").exists(), "{name}: written to the host");
        }
        // A hard link to a file of another layer (or of the host).
        let d = Dir::new("hardother");
        let tar = Layer::new()
            .link(tar::EntryType::Link, "x", "etc/passwd")
            .bytes();
        let e = unpack(&tar[..], &d.layer(), Bounds::default()).unwrap_err();
        assert!(e.to_string().contains("not in this layer"), "{e}");
    }

    #[test]
    fn a_hard_link_to_a_link_is_refused_and_no_chmod_follows_one() {
        let victim = std::env::temp_dir().join(format!("mydocker-victim-{}", std::process::id()));
        fs::write(&victim, "host file").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let d = Dir::new("linklink");
        let tar = Layer::new()
            .link(tar::EntryType::Symlink, "s", victim.to_str().unwrap())
            .link(tar::EntryType::Link, "h", "s")
            .bytes();
        let e = unpack(&tar[..], &d.layer(), Bounds::default()).unwrap_err();
        assert!(
            e.to_string().contains("a hard link to a symbolic link"),
            "{e}"
        );
        let mode = fs::metadata(&victim).unwrap().mode() & 0o7777;
        fs::remove_file(&victim).unwrap();
        assert_eq!(mode, 0o600, "the host file's mode changed");
    }

    #[test]
    fn an_archive_of_images_holds_files_and_directories_only() {
        let plain = Bounds {
            plain_only: true,
            ..Bounds::default()
        };
        for (name, tar) in [
            ("fifo", {
                let mut l = Layer::new();
                let mut h = Layer::header(tar::EntryType::Fifo, 0o644, 0);
                Layer::raw_name(&mut h, "blobs/sha256/x");
                l.0.append(&h, io::empty()).unwrap();
                l.bytes()
            }),
            ("dev", Layer::new().device("manifest.json", 1, 5).bytes()),
            (
                "link",
                Layer::new()
                    .link(tar::EntryType::Symlink, "manifest.json", "/etc/shadow")
                    .bytes(),
            ),
        ] {
            let d = Dir::new(name);
            let e = unpack(&tar[..], &d.layer(), plain).unwrap_err();
            assert!(
                e.to_string().contains("not a file or a directory"),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn bounds_stop_bombs() {
        let d = Dir::new("bomb");
        let big = vec![0u8; 3 << 20];
        let tar = Layer::new().file("zeros", &big).bytes();
        let bounds = Bounds {
            bytes: 1 << 20,
            entries: 100,
            ..Bounds::default()
        };
        let e = unpack(&tar[..], &d.layer(), bounds).unwrap_err();
        assert!(matches!(e, UnpackError::TooBig(_)), "{e}");
        let mut many = Layer::new();
        for i in 0..5 {
            many = many.file(&format!("f{i}"), b"");
        }
        let d = Dir::new("many");
        let bounds = Bounds {
            bytes: 1 << 20,
            entries: 3,
            ..Bounds::default()
        };
        let e = unpack(&many.bytes()[..], &d.layer(), bounds).unwrap_err();
        assert!(matches!(e, UnpackError::TooManyEntries(3)), "{e}");
        let e = unpack(
            &b"not a tar at all, not at all"[..],
            &d.layer(),
            Bounds::default(),
        );
        assert!(e.is_err());
        // A pax header the size of the bound: the stream stops there, read
        // no further into memory.
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        let huge = vec![b'a'; 3 << 20];
        h.set_size(huge.len() as u64);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &huge[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let d = Dir::new("pax");
        let bounds = Bounds {
            bytes: 1 << 20,
            entries: 1,
            ..Bounds::default()
        };
        let e = unpack(&tar[..], &d.layer(), bounds).unwrap_err();
        assert!(matches!(e, UnpackError::TooBig(_)), "{e}");
    }

    #[test]
    fn a_later_entry_replaces_an_earlier_one() {
        if !root() {
            return;
        }
        let d = Dir::new("later");
        let tar = Layer::new()
            .file("a", b"first")
            .file("a", b"second")
            .link(tar::EntryType::Symlink, "b", "a")
            .file("b", b"file now")
            .bytes();
        unpack(&tar[..], &d.layer(), Bounds::default()).unwrap();
        assert_eq!(fs::read_to_string(d.layer().join("a")).unwrap(), "second");
        let b = fs::symlink_metadata(d.layer().join("b")).unwrap();
        assert!(b.is_file());
    }
}
