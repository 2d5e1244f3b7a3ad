//! `load -i`: images from a `docker save` archive, or from an OCI image
//! layout (a directory, as `skopeo copy ... oci:DIR:NAME` or `umoci`
//! write it, or a tar of one). Every blob is checked against its digest
//! as it goes into the store, and every layer against the config's diff
//! id as it is unpacked.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::reference::Reference;
use super::store::{hex_of, ImageRecord, LayerRecord, Store, StoreError};
use super::unpack::{self, Bounds};

/// What was loaded: the tags, or the id of an image that has none.
pub fn load(store: &Store, input: &Path) -> Result<Vec<String>, StoreError> {
    let _loading = store.gc_lock(false)?;
    let meta = fs::metadata(input).map_err(|source| StoreError::Io {
        what: "open",
        path: input.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return load_dir(store, input);
    }
    // An archive: unpacked (as untrusted as any layer) into a scratch
    // directory first, and read from there.
    let work = store.scratch()?;
    let result = (|| {
        let f = fs::File::open(input).map_err(|source| StoreError::Io {
            what: "open",
            path: input.to_path_buf(),
            source,
        })?;
        let plain = store.decompressed(io::BufReader::new(f), &input.display().to_string())?;
        // A plain archive is bounded by its size; a compressed one as a
        // layer is.
        let bounds = Bounds {
            bytes: meta.len().saturating_mul(200).clamp(1 << 30, 64 << 30),
            plain_only: true,
            ..Bounds::default()
        };
        unpack::unpack(plain, &work, bounds).map_err(|source| {
            StoreError::Invalid(format!(
                "{}: not an image archive: {source}",
                input.display()
            ))
        })?;
        load_dir(store, &work)
    })();
    let _ = fs::remove_dir_all(&work);
    result
}

fn load_dir(store: &Store, dir: &Path) -> Result<Vec<String>, StoreError> {
    if dir.join("manifest.json").is_file() {
        load_docker(store, dir)
    } else if dir.join("oci-layout").is_file() {
        load_oci(store, dir)
    } else {
        Err(StoreError::Invalid(format!(
            "{}: neither a docker save archive (manifest.json) nor an OCI image layout (oci-layout)",
            dir.display()
        )))
    }
}

/// A regular file of the archive, by a path it names: inside it,
/// through no symbolic link (never a device or a FIFO, whose reads would
/// not end).
fn open_inside(dir: &Path, rel: &str) -> Result<fs::File, StoreError> {
    let shown = mydocker::brief(rel);
    let bad = || StoreError::Invalid(format!("a path that leaves the archive: {shown:?}"));
    let mut p = dir.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => {
                p.push(n);
                if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(bad());
                }
            }
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&p)
        .map_err(|source| StoreError::Io {
            what: "open",
            path: p.clone(),
            source,
        })?;
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Err(StoreError::Invalid(format!(
            "{shown:?} in the archive is not a regular file"
        )));
    }
    Ok(f)
}

fn blob_in(dir: &Path, digest: &str) -> Result<fs::File, StoreError> {
    open_inside(dir, &format!("blobs/sha256/{}", hex_of(digest)?))
}

/// The most of an archive's JSON (manifest.json, a config) read.
const JSON_BOUND: u64 = 64 << 20;

fn read_json<T: for<'a> Deserialize<'a>>(f: impl Read, what: &str) -> Result<T, StoreError> {
    let mut b = Vec::new();
    f.take(JSON_BOUND)
        .read_to_end(&mut b)
        .map_err(|e| StoreError::Invalid(format!("{what}: {e}")))?;
    serde_json::from_slice(&b).map_err(|e| StoreError::Invalid(format!("{what}: {e}")))
}

/// The config, from the store, and its layers' diff ids.
pub fn config_of(store: &Store, id: &str) -> Result<(ImageConfiguration, Vec<String>), StoreError> {
    let p = store.blob_path(id)?;
    let config = ImageConfiguration::from_file(&p)
        .map_err(|e| StoreError::Invalid(format!("image config {id}: {e}")))?;
    let diff_ids = config.rootfs().diff_ids().clone();
    Ok((config, diff_ids))
}

/// docker's `manifest.json`: the config and uncompressed layer tars by
/// path, and the tags.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn load_docker(store: &Store, dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries: Vec<DockerEntry> = read_json(open_inside(dir, "manifest.json")?, "manifest.json")?;
    let mut loaded = Vec::new();
    for e in entries {
        // The config's digest is the image's id; its file name says it.
        let shown = mydocker::brief(&e.config).to_string();
        let mut bytes = Vec::new();
        open_inside(dir, &e.config)?
            .take(JSON_BOUND)
            .read_to_end(&mut bytes)
            .map_err(|err| StoreError::Invalid(format!("{shown}: {err}")))?;
        let id = format!("sha256:{:x}", Sha256::digest(&bytes));
        let named = e
            .config
            .trim_end_matches(".json")
            .rsplit('/')
            .next()
            .unwrap_or("");
        if named.len() == 64 && format!("sha256:{named}") != id {
            return Err(StoreError::Digest {
                what: format!("config {shown}"),
                expected: format!("sha256:{named}"),
                got: id,
            });
        }
        store.put_blob(&bytes[..], &id, "image config")?;
        let (config, diff_ids) = config_of(store, &id)?;
        if diff_ids.len() != e.layers.len() {
            return Err(StoreError::Invalid(format!(
                "image {id}: {} layers, {} diff ids in its config",
                e.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in e.layers.iter().zip(&diff_ids) {
            // Uncompressed: the blob's digest is the diff id.
            let f = open_inside(dir, path)?;
            let what = format!("layer {}", mydocker::brief(path));
            store.put_blob(io::BufReader::new(f), diff_id, &what)?;
            let size = store.unpack_layer(diff_id, diff_id)?;
            layers.push(LayerRecord {
                blob: diff_id.clone(),
                diff_id: diff_id.clone(),
                size,
            });
        }
        let tags = tags_of(e.repo_tags.unwrap_or_default())?;
        save(store, id, None, layers, tags, &config, &mut loaded)?;
    }
    Ok(loaded)
}

fn load_oci(store: &Store, dir: &Path) -> Result<Vec<String>, StoreError> {
    let index = ImageIndex::from_reader(open_inside(dir, "index.json")?)
        .map_err(|e| StoreError::Invalid(format!("index.json: {e}")))?;
    let mut loaded = Vec::new();
    for desc in index.manifests() {
        let ref_name = desc
            .annotations()
            .as_ref()
            .and_then(|a| {
                a.get("io.containerd.image.name")
                    .or_else(|| a.get("org.opencontainers.image.ref.name"))
            })
            .cloned();
        let mut manifest_digest = desc.digest().to_string();
        if *desc.media_type() == MediaType::ImageIndex {
            manifest_digest = for_this_platform(dir, &manifest_digest)?;
        }
        let f = blob_in(dir, &manifest_digest)?;
        let path = store.put_blob(io::BufReader::new(f), &manifest_digest, "image manifest")?;
        let manifest = ImageManifest::from_file(&path)
            .map_err(|e| StoreError::Invalid(format!("manifest {manifest_digest}: {e}")))?;
        let id = manifest.config().digest().to_string();
        store.put_blob(io::BufReader::new(blob_in(dir, &id)?), &id, "image config")?;
        let (config, diff_ids) = config_of(store, &id)?;
        if diff_ids.len() != manifest.layers().len() {
            return Err(StoreError::Invalid(format!(
                "image {id}: {} layers, {} diff ids in its config",
                manifest.layers().len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (l, diff_id) in manifest.layers().iter().zip(&diff_ids) {
            let blob = l.digest().to_string();
            let f = blob_in(dir, &blob)?;
            store.put_blob(io::BufReader::new(f), &blob, &format!("layer {blob}"))?;
            let size = store.unpack_layer(&blob, diff_id)?;
            layers.push(LayerRecord {
                blob,
                diff_id: diff_id.clone(),
                size,
            });
        }
        // A bare tag (skopeo's `oci:DIR:latest`) names no repository.
        let tags = match ref_name {
            Some(r) if r.contains(':') || r.contains('/') => tags_of(vec![r])?,
            _ => Vec::new(),
        };
        save(
            store,
            id,
            Some(manifest_digest),
            layers,
            tags,
            &config,
            &mut loaded,
        )?;
    }
    Ok(loaded)
}

/// Of a multi-platform index, the manifest for this machine.
fn for_this_platform(dir: &Path, index: &str) -> Result<String, StoreError> {
    let idx = ImageIndex::from_reader(blob_in(dir, index)?)
        .map_err(|e| StoreError::Invalid(format!("index {index}: {e}")))?;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    idx.manifests()
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .map(|m| m.digest().to_string())
        .ok_or_else(|| StoreError::Invalid(format!("index {index}: no image for linux/{arch}")))
}

fn tags_of(given: Vec<String>) -> Result<Vec<String>, StoreError> {
    given
        .iter()
        .map(|t| {
            Reference::parse(t)
                .ok()
                .and_then(|r| r.familiar_tag())
                .ok_or_else(|| StoreError::Invalid(format!("invalid tag {:?}", mydocker::brief(t))))
        })
        .collect()
}

pub fn save(
    store: &Store,
    id: String,
    manifest: Option<String>,
    layers: Vec<LayerRecord>,
    tags: Vec<String>,
    config: &ImageConfiguration,
    loaded: &mut Vec<String>,
) -> Result<(), StoreError> {
    let lock = store.lock()?;
    let record = ImageRecord {
        id: id.clone(),
        manifest,
        layers,
        tags: tags.clone(),
        created: config.created().clone(),
    };
    store.save(&lock, record)?;
    if tags.is_empty() {
        loaded.push(id);
    } else {
        loaded.extend(tags);
    }
    Ok(())
}

/// The image `name` names: a tag (`busybox`, `busybox:1.36`), an id or a
/// unique prefix of one (`sha256:` optional).
pub fn find(store: &Store, name: &str) -> Option<ImageRecord> {
    let images = store.images();
    let r = Reference::parse(name).ok();
    if let Some(tag) = r.as_ref().and_then(|r| r.familiar_tag()) {
        if let Some(i) = images.iter().find(|i| i.tags.contains(&tag)) {
            return Some(i.clone());
        }
    }
    // NAME@sha256:...: the manifest (or index) it was pulled by.
    if let Some(d) = r.as_ref().and_then(|r| r.digest.as_ref()) {
        if let Some(i) = images.iter().find(|i| i.manifest.as_ref() == Some(d)) {
            return Some(i.clone());
        }
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut found = images.iter().filter(|i| {
        i.id.strip_prefix("sha256:")
            .is_some_and(|h| h.starts_with(hex))
    });
    match (found.next(), found.next()) {
        (Some(i), None) => Some(i.clone()),
        _ => None,
    }
}

/// Docker's short id.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
