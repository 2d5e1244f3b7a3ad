//! A container from an image (`run IMAGE`): the image's layers as the
//! lower directories of its overlay root, a writable layer of its own
//! under the data root, and docker's rules for what the image's config
//! supplies (Entrypoint, Cmd, Env, WorkingDir, User).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use super::load;
use super::store::{Lock, Store, StoreError};

/// Where each container's writable layer lives, under the data root.
const CONTAINERS_DIR: &str = "containers";

/// An image, found in the store, ready to be a container's root.
pub struct ImageRoot {
    /// As the command line named it.
    pub name: String,
    /// `sha256:` of its config.
    pub id: String,
    /// Its layers' directories, the topmost first (overlayfs's order).
    pub lower: Vec<PathBuf>,
    /// Its mount points where it lacks them (initlayer.rs), to go on top
    /// of `lower`.
    pub init: PathBuf,
    pub config: ImageConfiguration,
    /// The store's collection lock, shared: no rmi deletes the layers
    /// while this is held.
    _hold: Lock,
}

impl ImageRoot {
    /// The image `name` (a reference or an id) from the store at
    /// `data_root`, with each of its layers unpacked.
    pub fn find(data_root: &Path, name: &str) -> Result<Self, StoreError> {
        // docker's words for `run --pull never` of an image not there.
        let missing = || StoreError::Invalid(format!("No such image: {}", shown_name(name)));
        // No store, no image: nothing is made for a name that is not there.
        if !data_root.join("images").is_dir() {
            return Err(missing());
        }
        // Absolute: the shim is given these paths, from another directory.
        let data_root = std::path::absolute(data_root)
            .map_err(|e| StoreError::Invalid(format!("{}: {e}", data_root.display())))?;
        let store = Store::open(&data_root)?;
        let hold = store.gc_lock(false)?;
        let Some(image) = load::find(&store, name) else {
            return Err(missing());
        };
        let (config, _) = load::config_of(&store, &image.id)?;
        let mut lower = Vec::with_capacity(image.layers.len());
        for l in image.layers.iter().rev() {
            let dir = store.layer_dir(&l.diff_id)?;
            if !dir.is_dir() {
                return Err(StoreError::Invalid(format!(
                    "image {}: layer {} is missing from the store",
                    load::short_id(&image.id),
                    l.diff_id
                )));
            }
            lower.push(dir);
        }
        if lower.is_empty() {
            return Err(StoreError::Invalid(format!(
                "image {} has no layers",
                load::short_id(&image.id)
            )));
        }
        let init = super::initlayer::init_layer(&store, &image.id, &lower)?;
        Ok(Self {
            name: name.to_string(),
            id: image.id,
            lower,
            init,
            config,
            _hold: hold,
        })
    }

    /// docker's command: `--entrypoint` (empty: none) replaces the image's
    /// Entrypoint and then drops its Cmd; a command given replaces Cmd.
    pub fn argv(&self, entrypoint: Option<&str>, command: &[String]) -> Vec<String> {
        let c = self.config.config().as_ref();
        let (entry, cmd): (Vec<String>, Vec<String>) = match entrypoint {
            Some("") => (Vec::new(), Vec::new()),
            Some(e) => (vec![e.to_string()], Vec::new()),
            None => (
                c.and_then(|c| c.entrypoint().clone()).unwrap_or_default(),
                c.and_then(|c| c.cmd().clone()).unwrap_or_default(),
            ),
        };
        let cmd = if command.is_empty() {
            cmd
        } else {
            command.to_vec()
        };
        entry.into_iter().chain(cmd).collect()
    }

    /// The image's environment: the command line's (`given`) wins, key by
    /// key, as docker's.
    pub fn env(&self, given: Vec<String>) -> Vec<String> {
        let key = |kv: &str| kv.split('=').next().unwrap_or("").to_string();
        let mut env: Vec<String> = self
            .config
            .config()
            .as_ref()
            .and_then(|c| c.env().clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|kv| !given.iter().any(|g| key(g) == key(kv)))
            .collect();
        env.extend(given);
        env
    }

    pub fn working_dir(&self) -> Option<String> {
        self.config
            .config()
            .as_ref()
            .and_then(|c| c.working_dir().clone())
            .filter(|w| !w.is_empty())
    }

    pub fn user(&self) -> Option<String> {
        self.config
            .config()
            .as_ref()
            .and_then(|c| c.user().clone())
            .filter(|u| !u.is_empty())
    }
}

/// Whether the store at `data_root` has the image `name` (a reference or
/// an id); nothing is made where there is no store.
pub fn present(data_root: &Path, name: &str) -> bool {
    data_root.join("images").is_dir()
        && Store::open(data_root).is_ok_and(|s| load::find(&s, name).is_some())
}

/// Whose a container's layer is, in `<data root>/containers/<id>/`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LayerOwner {
    pub image_id: String,
    /// The container's state root (`--root`): it is gone when its state
    /// directory there is.
    pub state_root: PathBuf,
}

const OWNER_FILE: &str = "owner.json";

/// The container's writable layer: `upper` and `work` in a directory of
/// its own under the data root, which the shim removes with it. Its
/// shim's state directory must exist already: the layers whose state
/// directory is gone are swept first.
pub fn container_layer(
    data_root: &Path,
    state_root: &Path,
    id: &str,
    image_id: &str,
) -> std::io::Result<(PathBuf, PathBuf)> {
    sweep(data_root);
    let data_root = std::path::absolute(data_root)?;
    let dir = data_root.join(CONTAINERS_DIR).join(id);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let owner = LayerOwner {
        image_id: image_id.to_string(),
        state_root: std::path::absolute(state_root)?,
    };
    std::fs::write(dir.join(OWNER_FILE), serde_json::to_vec(&owner)?)?;
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for d in [&upper, &work] {
        std::fs::DirBuilder::new().mode(0o755).create(d)?;
    }
    Ok((upper, work))
}

/// The containers' layers in the data root, and whose each is.
pub fn layers(data_root: &Path) -> Vec<(String, LayerOwner)> {
    let Ok(entries) = std::fs::read_dir(data_root.join(CONTAINERS_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.to_string();
            let text = std::fs::read(e.path().join(OWNER_FILE)).ok()?;
            Some((id, serde_json::from_slice(&text).ok()?))
        })
        .collect()
}

/// Removes the layers of containers that are gone without their shim
/// removing them (a shim killed, a host rebooted: state is on a tmpfs,
/// layers are not).
pub fn sweep(data_root: &Path) {
    for (id, owner) in layers(data_root) {
        if !mydocker::shim_dir(&owner.state_root, &id).exists() {
            remove_container_layer(data_root, &id);
        }
    }
}

/// Removes what [`container_layer`] made, for a container that was never
/// created or whose shim is gone.
pub fn remove_container_layer(data_root: &Path, id: &str) {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return;
    }
    let _ = std::fs::remove_dir_all(data_root.join(CONTAINERS_DIR).join(id));
}

/// A name as docker shows it in "Unable to find image": with its tag.
pub fn shown_name(name: &str) -> String {
    match super::reference::Reference::parse(name) {
        Ok(r) => match (r.familiar_tag(), &r.digest) {
            (Some(t), _) => t,
            (None, Some(d)) => format!("{}@{d}", r.familiar_name()),
            (None, None) => r.familiar_name(),
        },
        Err(_) => mydocker::brief(name).to_string(),
    }
}
