//! `save`: images as a `docker save` archive (docker 20.10's form:
//! `manifest.json`, each config as `<id hex>.json`, each layer as an
//! uncompressed `<diff id hex>/layer.tar`), which `docker load` and our
//! `load` both read.

use std::fs;
use std::io::{self, Read, Write};

use serde_json::json;

use super::store::{hex_of, ImageRecord, Store, StoreError};

/// Writes `images` to `out` as one archive.
pub fn save(store: &Store, images: &[ImageRecord], out: impl Write) -> Result<(), StoreError> {
    let mut tar = tar::Builder::new(out);
    let mut manifest = Vec::new();
    let mut written: Vec<String> = Vec::new();
    let tar_err = |e: io::Error| StoreError::Invalid(format!("write the archive: {e}"));
    for image in images {
        let config_name = format!("{}.json", hex_of(&image.id)?);
        if !written.contains(&config_name) {
            let bytes = read_blob(store, &image.id)?;
            append(&mut tar, &config_name, bytes.len() as u64, &bytes[..]).map_err(tar_err)?;
            written.push(config_name.clone());
        }
        let mut layers = Vec::new();
        for l in &image.layers {
            let name = format!("{}/layer.tar", hex_of(&l.diff_id)?);
            if !written.contains(&name) {
                // The layer as its diff id names it: uncompressed.
                let path = store.blob_path(&l.blob)?;
                let size = plain_size(store, &l.blob)?;
                let f = fs::File::open(&path).map_err(|source| StoreError::Io {
                    what: "open",
                    path: path.clone(),
                    source,
                })?;
                let plain = store.decompressed(io::BufReader::new(f), &l.blob)?;
                append(&mut tar, &name, size, plain).map_err(tar_err)?;
                written.push(name.clone());
            }
            layers.push(name);
        }
        manifest.push(json!({
            "Config": config_name,
            "RepoTags": if image.tags.is_empty() { serde_json::Value::Null } else { json!(image.tags) },
            "Layers": layers,
        }));
    }
    let m = serde_json::to_vec(&manifest).map_err(|e| StoreError::Invalid(e.to_string()))?;
    append(&mut tar, "manifest.json", m.len() as u64, &m[..]).map_err(tar_err)?;
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(tar_err)
}

fn read_blob(store: &Store, digest: &str) -> Result<Vec<u8>, StoreError> {
    let path = store.blob_path(digest)?;
    fs::read(&path).map_err(|source| StoreError::Io {
        what: "read",
        path,
        source,
    })
}

/// A layer's uncompressed size: counted by reading it once (a tar entry's
/// size comes before its content).
fn plain_size(store: &Store, blob: &str) -> Result<u64, StoreError> {
    let path = store.blob_path(blob)?;
    let f = fs::File::open(&path).map_err(|source| StoreError::Io {
        what: "open",
        path: path.clone(),
        source,
    })?;
    let mut plain = store.decompressed(io::BufReader::new(f), blob)?;
    io::copy(&mut plain, &mut io::sink()).map_err(|source| StoreError::Io {
        what: "read",
        path,
        source,
    })
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    tar.append_data(&mut h, name, data)
}
