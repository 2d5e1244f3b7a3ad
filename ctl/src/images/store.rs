//! The image store, under the data root (default `/var/lib/mydocker`):
//!
//! - `blobs/sha256/<hex>`: manifests, configs and layers as they came,
//!   each verified against its digest before it is kept;
//! - `layers/sha256/<diff id hex>/`: each layer unpacked once (overlayfs
//!   lower directories), checked against the image config's diff id;
//! - `images/<id hex>.json`: an image (its id is its config's digest),
//!   its layers and its tags.
//!
//! Work is done in `tmp/` and renamed into place, so that nothing is ever
//! half-visible: an interrupted load leaves only `tmp/` leftovers, which
//! the next one clears. Two loads of one layer both succeed; the second
//! rename finds the first's done and drops its own. Records change under
//! an exclusive lock on `lock`.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::unpack::{self, Bounds, Capped, UnpackError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: digest mismatch: expected {expected}, got {got}")]
    Digest {
        what: String,
        expected: String,
        got: String,
    },
    #[error("invalid digest {0:?}: only sha256:<64 lowercase hex digits> is taken")]
    BadDigest(String),
    #[error("{0}")]
    Invalid(String),
    #[error("layer {layer}: {source}")]
    Unpack { layer: String, source: UnpackError },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The hex of a `sha256:` digest, checked: it becomes a file name.
pub fn hex_of(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(h)
        }
        _ => Err(StoreError::BadDigest(mydocker::brief(digest).to_string())),
    }
}

/// One layer of an image: its blob as it came, and what it unpacked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub blob: String,
    pub diff_id: String,
    /// Bytes of its files' content, unpacked.
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:` of its config.
    pub id: String,
    /// `sha256:` of its manifest, when it came with one.
    #[serde(default)]
    pub manifest: Option<String>,
    pub layers: Vec<LayerRecord>,
    /// `name:tag`, docker's familiar form.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The config's `created` (RFC 3339), when it has one.
    #[serde(default)]
    pub created: Option<String>,
}

impl ImageRecord {
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

pub struct Store {
    root: PathBuf,
}

/// An exclusive hold on the store's records.
pub struct Lock(#[allow(dead_code)] fs::File);

impl Store {
    /// The store at `root`, made if missing. What a killed load left in
    /// `tmp/` goes: each piece of work there is named after the pid that
    /// does it, and one whose process is gone is no one's.
    pub fn open(root: &Path) -> Result<Self> {
        let s = Self {
            root: root.to_path_buf(),
        };
        fs::create_dir_all(root).map_err(io_err("create", root))?;
        // Root's alone: layers keep their set-id files, devices and owners,
        // which no other user of the host may reach.
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))
            .map_err(io_err("chmod", root))?;
        for d in ["blobs/sha256", "layers/sha256", "images", "init", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        if let Ok(entries) = fs::read_dir(root.join("tmp")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().unwrap_or("");
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let p = e.path();
                    let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
                }
            }
        }
        Ok(s)
    }

    /// Records change under this (exclusive).
    pub fn lock(&self) -> Result<Lock> {
        self.flock("lock", libc::LOCK_EX)
    }

    /// A load holds this shared for its whole run, and a collection
    /// exclusive: what a load has stored but not yet recorded is not
    /// collected under it. Taken before [`Store::lock`], never after.
    pub fn gc_lock(&self, exclusive: bool) -> Result<Lock> {
        let how = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        self.flock("gc.lock", how)
    }

    fn flock(&self, name: &str, how: libc::c_int) -> Result<Lock> {
        let p = self.root.join(name);
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open", &p))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), how) } != 0 {
            return Err(io_err("lock", &p)(io::Error::last_os_error()));
        }
        Ok(Lock(f))
    }

    /// A private directory for one piece of work, in `tmp/`.
    pub fn scratch(&self) -> Result<PathBuf> {
        let random =
            mydocker::random_id().map_err(|e| StoreError::Invalid(format!("random name: {e}")))?;
        let random = &random[..16];
        let p = self
            .root
            .join("tmp")
            .join(format!("{}-{random}", std::process::id()));
        fs::create_dir(&p).map_err(io_err("create", &p))?;
        Ok(p)
    }

    /// Removes this process's scratch directories: work it gave up.
    pub fn clear_own_scratch(&self) {
        let prefix = format!("{}-", std::process::id());
        if let Ok(entries) = fs::read_dir(self.root.join("tmp")) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(hex_of(digest)?))
    }

    /// An image's mount-point layer (initlayer.rs), by its id.
    pub fn init_dir(&self, image_id: &str) -> Result<PathBuf> {
        Ok(self.root.join("init").join(hex_of(image_id)?))
    }

    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.root.join("layers/sha256").join(hex_of(diff_id)?))
    }

    /// Keeps `content` as the blob `expected`, once its digest is checked;
    /// a mismatch keeps nothing. `what` names it in errors.
    pub fn put_blob(&self, mut content: impl Read, expected: &str, what: &str) -> Result<PathBuf> {
        let dest = self.blob_path(expected)?;
        if dest.exists() {
            return Ok(dest);
        }
        let tmp = self.root.join("tmp").join(format!(
            "{}-blob-{}",
            std::process::id(),
            hex_of(expected)?
        ));
        let got = (|| -> io::Result<String> {
            let mut f = fs::File::create(&tmp)?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = match content.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                h.update(&buf[..n]);
                f.write_all(&buf[..n])?;
            }
            Ok(format!("sha256:{:x}", h.finalize()))
        })();
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(io_err("write", &tmp)(e));
            }
        };
        if got != expected {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Digest {
                what: what.to_string(),
                expected: expected.to_string(),
                got,
            });
        }
        fs::rename(&tmp, &dest).map_err(io_err("rename", &dest))?;
        Ok(dest)
    }

    /// Unpacks the blob `blob` (a tar, plain or gzip- or zstd-compressed,
    /// as its first bytes say) as the layer `diff_id`, unless it is
    /// already: its size. The unpacked tar must hash to `diff_id`.
    pub fn unpack_layer(&self, blob: &str, diff_id: &str) -> Result<u64> {
        let dest = self.layer_dir(diff_id)?;
        let size_file = |d: &Path| d.with_extension("size");
        if dest.is_dir() {
            return Ok(fs::read_to_string(size_file(&dest))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0));
        }
        let path = self.blob_path(blob)?;
        let f = fs::File::open(&path).map_err(io_err("open", &path))?;
        // One unpacker of a blob at a time: a second load waits here, then
        // finds the layer done.
        // SAFETY: flock on a descriptor we own (released when it closes).
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io_err("lock", &path)(io::Error::last_os_error()));
        }
        if dest.is_dir() {
            return Ok(fs::read_to_string(size_file(&dest))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0));
        }
        let compressed = f.metadata().map(|m| m.len()).unwrap_or(0);
        let plain = self.decompressed(io::BufReader::new(f), blob)?;
        // A bomb is what expands far beyond any real layer.
        let bounds = Bounds {
            bytes: (compressed.saturating_mul(200)).clamp(1 << 30, 64 << 30),
            ..Bounds::default()
        };
        let mut hashed = Hashing {
            inner: Capped {
                inner: plain,
                left: bounds.stream(),
            },
            hash: Sha256::new(),
        };
        let work = self.scratch()?;
        let into = work.join("layer");
        fs::create_dir(&into).map_err(io_err("create", &into))?;
        let done = unpack::unpack(&mut hashed, &into, bounds)
            .map_err(|source| StoreError::Unpack {
                layer: blob.to_string(),
                source,
            })
            .and_then(|sum| {
                // The tar's end may leave padding unread: it is hashed too.
                io::copy(&mut hashed, &mut io::sink()).map_err(io_err("read", &path))?;
                let got = format!("sha256:{:x}", hashed.hash.clone().finalize());
                if got != diff_id {
                    return Err(StoreError::Digest {
                        what: format!("layer {blob} unpacked"),
                        expected: diff_id.to_string(),
                        got,
                    });
                }
                Ok(sum.bytes)
            });
        let size = match done {
            Ok(size) => size,
            Err(e) => {
                let _ = fs::remove_dir_all(&work);
                return Err(e);
            }
        };
        let _ = fs::write(size_file(&dest), size.to_string());
        match fs::rename(&into, &dest) {
            Ok(()) => {}
            // Another load unpacked it meanwhile: the same content.
            Err(_) if dest.is_dir() => {}
            Err(e) => {
                let _ = fs::remove_dir_all(&work);
                return Err(io_err("rename", &dest)(e));
            }
        }
        let _ = fs::remove_dir_all(&work);
        Ok(size)
    }

    /// A tar stream, plain or gzip- or zstd-compressed, as its first bytes
    /// say (docker's way: media types are not always right), as a plain
    /// one. `what` names it in errors.
    pub fn decompressed<'a, R: io::BufRead + 'a>(
        &self,
        mut r: R,
        what: &str,
    ) -> Result<Box<dyn Read + 'a>> {
        let magic = {
            let b = r
                .fill_buf()
                .map_err(|e| StoreError::Invalid(format!("{what}: {e}")))?;
            b.get(..4).map(<[u8]>::to_vec).unwrap_or_default()
        };
        Ok(if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(r))
        } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            Box::new(
                ruzstd::decoding::StreamingDecoder::new(r)
                    .map_err(|e| StoreError::Invalid(format!("{what}: zstd: {e}")))?,
            )
        } else {
            Box::new(r)
        })
    }

    pub fn images(&self) -> Vec<ImageRecord> {
        let dir = self.root.join("images");
        let mut v: Vec<ImageRecord> = fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .filter_map(|e| fs::read(e.path()).ok())
                    .filter_map(|b| serde_json::from_slice(&b).ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        v
    }

    fn record_path(&self, id: &str) -> Result<PathBuf> {
        Ok(self
            .root
            .join("images")
            .join(format!("{}.json", hex_of(id)?)))
    }

    /// Writes an image's record (under the lock), with `tags` taken from
    /// whichever image had them.
    pub fn save(&self, _lock: &Lock, mut image: ImageRecord) -> Result<()> {
        for mut other in self.images() {
            if other.id == image.id {
                for t in other.tags {
                    if !image.tags.contains(&t) {
                        image.tags.push(t);
                    }
                }
                continue;
            }
            let before = other.tags.len();
            other.tags.retain(|t| !image.tags.contains(t));
            if other.tags.len() != before {
                self.write_record(&other)?;
            }
        }
        self.write_record(&image)
    }

    pub fn write_record(&self, image: &ImageRecord) -> Result<()> {
        let p = self.record_path(&image.id)?;
        let tmp = p.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(image)
            .map_err(|e| StoreError::Invalid(format!("image record: {e}")))?;
        fs::write(&tmp, bytes).map_err(io_err("write", &tmp))?;
        fs::rename(&tmp, &p).map_err(io_err("rename", &p))
    }

    /// Removes an image's record, then every blob and layer no image
    /// uses any more: under [`Store::gc_lock`] (exclusive), then
    /// [`Store::lock`].
    pub fn delete(&self, _gc: &Lock, _lock: &Lock, id: &str) -> Result<()> {
        let p = self.record_path(id)?;
        fs::remove_file(&p).map_err(io_err("remove", &p))?;
        let images = self.images();
        let used = |d: &str| {
            images.iter().any(|i| {
                i.id == d
                    || i.manifest.as_deref() == Some(d)
                    || i.layers.iter().any(|l| l.blob == d || l.diff_id == d)
            })
        };
        for (dir, is_layer) in [
            ("blobs/sha256", false),
            ("layers/sha256", true),
            ("init", true),
        ] {
            let d = self.root.join(dir);
            for e in fs::read_dir(&d).map_err(io_err("read", &d))?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let hex = name.trim_end_matches(".size");
                if used(&format!("sha256:{hex}")) {
                    continue;
                }
                let path = e.path();
                let _ = if is_layer && path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
            }
        }
        Ok(())
    }
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked_before_they_name_files() {
        let ok = format!("sha256:{}", "0".repeat(64));
        assert!(hex_of(&ok).is_ok());
        for bad in [
            "sha256:../../etc/passwd".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "0".repeat(64)),
            format!("sha256:{}", "0".repeat(63)),
        ] {
            assert!(hex_of(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_blob_is_kept_only_when_its_digest_matches() {
        let root = std::env::temp_dir().join(format!("mydocker-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let s = Store::open(&root).unwrap();
        let data = b"hello";
        let right = format!("sha256:{:x}", Sha256::digest(data));
        let wrong = format!("sha256:{}", "1".repeat(64));
        let e = s.put_blob(&data[..], &wrong, "test blob").unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        assert!(!s.blob_path(&wrong).unwrap().exists());
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        let p = s.put_blob(&data[..], &right, "test blob").unwrap();
        assert_eq!(fs::read(p).unwrap(), data);
        fs::remove_dir_all(&root).unwrap();
    }
}
