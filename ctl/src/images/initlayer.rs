//! The layer of mount points an image's containers get on top of the
//! image's own layers (docker's "init layer", made here once per image
//! rather than once per container): the directories and files the shim
//! mounts on (`/proc`, `/dev`, `/sys`, `/etc/hostname`, `/etc/hosts`,
//! `/etc/resolv.conf`) where the image lacks them.
//!
//! Without it, each container made them in its own layer as it started
//! (through overlayfs, a directory and three files in its upper), so a
//! container that wrote nothing had a layer that was not empty; with it, a
//! container's layer holds what its processes wrote and nothing else, as
//! docker's does. (It is not faster: measured here, the writes it saves
//! were lost in the noise of a 16 ms `run --rm IMAGE true`.)

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::store::{Store, StoreError};

/// Top-level directories the shim mounts file systems on.
const DIRS: [&str; 3] = ["proc", "dev", "sys"];
/// Files in `/etc` the shim binds its own copies onto.
const ETC_FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// The image's mount-point layer, made if it is not there yet. The caller
/// holds the store's collection lock (shared), so no `rmi` removes it
/// meanwhile; two makers at once each build their own and the first to
/// rename it into place wins.
pub fn init_layer(store: &Store, image_id: &str, lower: &[PathBuf]) -> Result<PathBuf, StoreError> {
    let dir = store.init_dir(image_id)?;
    if dir.is_dir() {
        return Ok(dir);
    }
    let scratch = store.scratch()?;
    let built = scratch.join("layer");
    let result = build(&built, lower).and_then(|()| match fs::rename(&built, &dir) {
        Ok(()) => Ok(()),
        // Another run made it first: theirs is the same.
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    });
    let _ = fs::remove_dir_all(&scratch);
    result.map_err(|source| StoreError::Io {
        what: "make the mount-point layer",
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

fn build(layer: &Path, lower: &[PathBuf]) -> std::io::Result<()> {
    let mkdir = |p: &Path| fs::DirBuilder::new().mode(0o755).create(p);
    mkdir(layer)?;
    for d in DIRS {
        if entry_in(lower, d).is_none() {
            mkdir(&layer.join(d))?;
        }
    }
    let etc = layer.join("etc");
    let missing: Vec<&str> = match entry_in(lower, "etc") {
        None => ETC_FILES.to_vec(),
        Some((_, m)) if m.is_dir() => ETC_FILES
            .into_iter()
            .filter(|f| entry_in(lower, &format!("etc/{f}")).is_none())
            .collect(),
        // A link or a file: the shim resolves it in the root, as before.
        Some(_) => Vec::new(),
    };
    if missing.is_empty() {
        return Ok(());
    }
    mkdir(&etc)?;
    // The topmost layer's directory gives the merged one its owner and
    // mode: the image's, where it has one.
    if let Some((_, m)) = entry_in(lower, "etc") {
        std::os::unix::fs::chown(&etc, Some(m.uid()), Some(m.gid()))?;
        fs::set_permissions(&etc, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    for f in missing {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(etc.join(f))?;
    }
    Ok(())
}

/// `rel` as a container on these layers (the topmost first) sees it: the
/// layer it comes from and its metadata there, unless a layer above
/// deleted it (a whiteout of it or of a directory on its way) or hid what
/// is below (an opaque directory on its way).
pub fn entry_in<'a>(lower: &'a [PathBuf], rel: &str) -> Option<(&'a Path, fs::Metadata)> {
    use std::os::unix::fs::FileTypeExt;
    let whiteout = |m: &fs::Metadata| m.file_type().is_char_device() && m.rdev() == 0;
    for layer in lower {
        if let Ok(m) = fs::symlink_metadata(layer.join(rel)) {
            return (!whiteout(&m)).then_some((layer.as_path(), m));
        }
        let mut dir = layer.clone();
        for c in Path::new(rel)
            .parent()
            .into_iter()
            .flat_map(Path::components)
        {
            dir.push(c);
            let hides = fs::symlink_metadata(&dir).is_ok_and(|m| whiteout(&m)) || opaque(&dir);
            if hides {
                return None;
            }
        }
    }
    None
}

/// An opaque directory of a layer (`trusted.overlay.opaque` is "y").
fn opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(p) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut v = [0u8; 1];
    // SAFETY: NUL-terminated strings and a buffer of the length given.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            v.as_mut_ptr().cast(),
            v.len(),
        )
    };
    n == 1 && v[0] == b'y'
}
