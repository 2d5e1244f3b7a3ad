//! The on-disk state of a container, under `<root>/<id>/`. The shim writes
//! it; anyone may read it, even after the shim has gone. Every file is
//! written whole or not at all (temp file, rename).
//!
//! | file | written | holds |
//! | --- | --- | --- |
//! | `config.json` | at Create | [`ConfigRecord`]: what was asked for |
//! | `state.json` | at Create and Start | [`StateRecord`]: pids, start time |
//! | `exit.json` | at the exit, before Wait answers | [`ExitRecord`] |
//! | `log` | as output comes | the CRI-format output log |
//!
//! Names are reserved as symlinks `<root>/.names/<name>` -> `<id>`, created
//! atomically, so two containers can never share one.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("name {0:?} is already in use by container {1}")]
    NameInUse(String, String),
    #[error("invalid name {0:?}: must match [a-zA-Z0-9][a-zA-Z0-9_.-]+")]
    InvalidName(String),
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

pub const CONFIG_FILE: &str = "config.json";
/// The OCI runtime spec the container ran (a bundle's, or the one made of
/// Create's fields).
pub const SPEC_FILE: &str = "spec.json";
pub const STATE_FILE: &str = "state.json";
pub const EXIT_FILE: &str = "exit.json";
/// What its restart policy has done (absent: nothing yet).
pub const RESTARTS_FILE: &str = "restarts.json";
pub const LOG_FILE: &str = "log";
pub const SHIM_LOG_FILE: &str = "shim.log";
const NAMES_DIR: &str = ".names";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigRecord {
    pub id: String,
    pub name: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    pub tty: bool,
    pub stdin: bool,
    pub limits: crate::units::Limits,
    /// Path of the container's cgroup, relative to each hierarchy's root;
    /// empty when it has none.
    pub cgroup: String,
    /// Nanoseconds since the Unix epoch.
    pub created_at: i64,
    pub privileged: bool,
    /// Removed when its command exits (`run --rm`).
    pub auto_remove: bool,
    /// Its restart policy: docker's name ("no", "always", "on-failure",
    /// "unless-stopped") and, for on-failure, the most restarts (0: any).
    pub restart_policy: String,
    pub restart_max_retries: u32,
    /// The image as it was named, and its id (`sha256:` of its config);
    /// empty for a container on the host's or a given root.
    pub image: String,
    pub image_id: String,
    /// Its root: "host", "rootfs" (a directory of the caller's), "bundle"
    /// or "overlay" (an image's layers); and that directory, or the upper.
    pub root_kind: String,
    pub root_path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartRecord {
    /// Restarts by the policy since it was created or last started.
    pub count: u32,
    /// Exited, and the policy will run it again after a delay.
    pub restarting: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    #[default]
    Created,
    Running,
    /// Running, frozen.
    Paused,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateRecord {
    pub phase: Phase,
    /// The init (then the command) in the host's PID namespace.
    pub pid: i32,
    pub shim_pid: i32,
    /// Nanoseconds since the Unix epoch; 0 until started.
    pub started_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub signal: i32,
    pub oom_killed: bool,
    pub error: String,
    /// Nanoseconds since the Unix epoch.
    pub finished_at: i64,
}

/// Writes `data` to `path` so that readers see the old file or the new one,
/// never a part: a temporary file beside it, then rename.
///
/// No fsync: these files describe processes, and what would survive a
/// power loss is a record of processes the power loss ended (the usual
/// /run is a tmpfs, where fsync does nothing). A shim that is killed loses
/// nothing: the page cache outlives it. fsync cost 0.3-0.5 ms a file, three
/// files per container, where /run is on disk.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let io_err = |what| {
        let path = path.to_path_buf();
        move |source| StateError::Io { what, path, source }
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err("create"))?;
    f.write_all(data).map_err(io_err("write"))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err("rename"))?;
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|source| StateError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &data)
}

/// Reads a JSON record; `Ok(None)` when the file does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|source| StateError::Json {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io {
            what: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// docker's rule for names.
pub fn validate_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidName(name.to_string()))
    }
}

fn name_link(root: &Path, name: &str) -> PathBuf {
    root.join(NAMES_DIR).join(name)
}

/// Reserves `name` for `id`; fails if another container has it.
pub fn reserve_name(root: &Path, name: &str, id: &str) -> Result<()> {
    validate_name(name)?;
    let dir = root.join(NAMES_DIR);
    match std::fs::create_dir_all(&dir) {
        // AlreadyExists with no directory there: the last container out is
        // removing it (release_name) as this makes it. The link below then
        // finds no directory and this tries again.
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(StateError::Io {
                what: "create",
                path: dir,
                source: e,
            })
        }
        _ => {}
    }
    let link = name_link(root, name);
    match std::os::unix::fs::symlink(id, &link) {
        Ok(()) => Ok(()),
        // release_name removed the directory as it became empty.
        Err(e) if e.kind() == io::ErrorKind::NotFound => reserve_name(root, name, id),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let owner = lookup_name(root, name).unwrap_or_default();
            if owner == id {
                return Ok(());
            }
            // A name left by a container whose state is gone is free again.
            if !owner.is_empty() && !root.join(&owner).is_dir() {
                let _ = std::fs::remove_file(&link);
                return reserve_name(root, name, id);
            }
            Err(StateError::NameInUse(name.to_string(), owner))
        }
        Err(source) => Err(StateError::Io {
            what: "reserve name",
            path: link,
            source,
        }),
    }
}

/// The id holding `name`, if any.
pub fn lookup_name(root: &Path, name: &str) -> Option<String> {
    if validate_name(name).is_err() {
        return None;
    }
    std::fs::read_link(name_link(root, name))
        .ok()
        .and_then(|p| p.to_str().map(String::from))
}

/// Releases `name` if `id` holds it.
pub fn release_name(root: &Path, name: &str, id: &str) {
    if !name.is_empty() && lookup_name(root, name).as_deref() == Some(id) {
        let _ = std::fs::remove_file(name_link(root, name));
        // Leave no empty directory behind; fails harmlessly if not empty.
        let _ = std::fs::remove_dir(root.join(NAMES_DIR));
    }
}

/// Ids of the containers under `root`.
pub fn list_ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|n| crate::id::is_valid_id(n))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mydocker-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn records_round_trip_and_missing_is_none() {
        let d = tmp("rt");
        let e = ExitRecord {
            exit_code: 137,
            signal: 9,
            oom_killed: true,
            error: String::new(),
            finished_at: 5,
        };
        write_json(&d.join(EXIT_FILE), &e).unwrap();
        assert_eq!(
            read_json::<ExitRecord>(&d.join(EXIT_FILE)).unwrap(),
            Some(e)
        );
        assert_eq!(read_json::<ExitRecord>(&d.join("nope")).unwrap(), None);
        assert!(!d.join("exit.tmp").exists());
        std::fs::write(d.join("bad"), "{").unwrap();
        assert!(read_json::<ExitRecord>(&d.join("bad")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn names_are_unique_and_released() {
        let d = tmp("names");
        std::fs::create_dir(d.join("aaa")).unwrap();
        std::fs::create_dir(d.join("bbb")).unwrap();
        reserve_name(&d, "web", "aaa").unwrap();
        reserve_name(&d, "web", "aaa").unwrap();
        assert!(matches!(
            reserve_name(&d, "web", "bbb"),
            Err(StateError::NameInUse(_, owner)) if owner == "aaa"
        ));
        assert_eq!(lookup_name(&d, "web").as_deref(), Some("aaa"));
        release_name(&d, "web", "bbb");
        assert_eq!(lookup_name(&d, "web").as_deref(), Some("aaa"));
        release_name(&d, "web", "aaa");
        reserve_name(&d, "web", "bbb").unwrap();
        // Stale: its owner's state dir is gone.
        std::fs::remove_dir(d.join("bbb")).unwrap();
        reserve_name(&d, "web", "aaa").unwrap();
        for bad in ["", "a", "-a", "a/b", "../x", "a b"] {
            assert!(reserve_name(&d, bad, "aaa").is_err(), "{bad}");
        }
        assert_eq!(list_ids(&d), ["aaa"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Containers come and go at once (`run --rm` in parallel): one
    /// reserving a name while the last one out removes the empty names
    /// directory must still get it.
    #[test]
    fn names_are_reserved_while_others_are_released() {
        let d = tmp("names-race");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let d = d.clone();
                std::thread::spawn(move || {
                    for i in 0..3000 {
                        let (name, id) = (format!("n{t}-{i}"), format!("id{t}-{i}"));
                        reserve_name(&d, &name, &id).unwrap();
                        assert_eq!(lookup_name(&d, &name).as_deref(), Some(id.as_str()));
                        release_name(&d, &name, &id);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!d.join(NAMES_DIR).exists(), "the last one out removes it");
        std::fs::remove_dir(&d).unwrap();
    }
}
