//! Helpers for clients: where a shim lives, how to start one, how to reach it.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// The generated client, over a Unix-socket channel.
pub type ShimClient = crate::v1::shim_client::ShimClient<Channel>;

/// Largest gRPC message either side accepts: big enough for a 1 MiB argument
/// list many times over, small enough to bound a hostile request.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// The file descriptor on which a spawned shim finds its listening socket.
pub const LISTEN_FD: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid container id {0}: must match [a-zA-Z0-9][a-zA-Z0-9_.-]{{0,63}}")]
    InvalidId(String),
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("cannot find the mydocker-shim binary (set MYDOCKER_SHIM or put it next to this program or on PATH)")]
    ShimNotFound,
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("connect to {path}: {source}")]
    Connect {
        path: PathBuf,
        source: tonic::transport::Error,
    },
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The state root: `$MYDOCKER_ROOT`, else `/run/mydocker`.
pub fn default_root() -> PathBuf {
    std::env::var_os("MYDOCKER_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/mydocker"))
}

/// Checks an id against `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}`, which keeps it a
/// single, harmless path component.
pub fn validate_id(id: &str) -> Result<()> {
    if crate::is_valid_id(id) {
        Ok(())
    } else {
        Err(ClientError::InvalidId(crate::brief(id)))
    }
}

/// `<root>/<id>`: the container's state directory.
pub fn shim_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// `<root>/<id>/shim.sock`.
pub fn socket_path(root: &Path, id: &str) -> PathBuf {
    shim_dir(root, id).join("shim.sock")
}

/// Longest socket path that fits `sockaddr_un` with its NUL.
const SUN_PATH_MAX: usize = 107;

/// A path to `socket` that fits in `sockaddr_un`: the path itself, or for a
/// deep state root, the same file reached through `/proc/self/fd/N` of its
/// directory (valid while the returned descriptor is open).
pub fn short_socket_path(socket: &Path) -> io::Result<(Option<std::fs::File>, PathBuf)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    if socket.as_os_str().as_bytes().len() <= SUN_PATH_MAX {
        return Ok((None, socket.to_path_buf()));
    }
    let (Some(parent), Some(name)) = (socket.parent(), socket.file_name()) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(parent)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    Ok((Some(dir), short))
}

/// Binds a Unix socket at `path`, however deep it is.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    let (_dir, short) = short_socket_path(path)?;
    UnixListener::bind(short)
}

/// Connects to a shim's socket.
pub async fn connect(socket: &Path) -> Result<ShimClient> {
    let path = socket.to_path_buf();
    // The URI is never dialled: the connector below ignores it. "localhost"
    // keeps the :authority header valid.
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let (_dir, short) = short_socket_path(&path)?;
                Ok::<_, io::Error>(TokioIo::new(tokio::net::UnixStream::connect(short).await?))
            }
        }))
        .await
        .map_err(|source| ClientError::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
    Ok(ShimClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// How to run the shim binary.
#[derive(Debug, Clone)]
pub struct ShimCommand {
    pub program: PathBuf,
}

impl ShimCommand {
    /// `$MYDOCKER_SHIM`, else `mydocker-shim` next to the running program,
    /// else on PATH.
    pub fn find() -> Result<Self> {
        if let Some(p) = std::env::var_os("MYDOCKER_SHIM").filter(|v| !v.is_empty()) {
            return Ok(Self { program: p.into() });
        }
        if let Ok(exe) = std::env::current_exe() {
            let sibling = exe.with_file_name("mydocker-shim");
            if sibling.is_file() {
                return Ok(Self { program: sibling });
            }
        }
        let path = std::env::var_os("PATH").ok_or(ClientError::ShimNotFound)?;
        std::env::split_paths(&path)
            .map(|d| d.join("mydocker-shim"))
            .find(|p| p.is_file())
            .map(|program| Self { program })
            .ok_or(ClientError::ShimNotFound)
    }
}

/// A shim started by [`spawn_shim`].
#[derive(Debug)]
pub struct SpawnedShim {
    /// Its socket, already accepting connections.
    pub socket: PathBuf,
    /// The shim process. It runs in its own session and outlives the caller;
    /// a long-lived caller should `wait` on it (or ignore SIGCHLD) so that it
    /// is reaped when it exits.
    pub process: Child,
}

/// Starts a shim for `id` under `root`, ready to be connected to on return.
///
/// The socket is bound here and handed to the shim as an inherited listening
/// descriptor, so the caller can connect at once instead of polling for the
/// shim to come up. The state directory is created 0700, the socket 0600.
pub fn spawn_shim(shim: &ShimCommand, root: &Path, id: &str) -> Result<SpawnedShim> {
    validate_id(id)?;
    let io_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClientError::Io { what, path, source }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(root)
        .map_err(io_err("create state root", root))?;
    let dir = shim_dir(root, id);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ClientError::AlreadyExists(id.to_string()))
        }
        Err(e) => return Err(io_err("create state dir", &dir)(e)),
    }
    let result = bind_and_spawn(shim, root, id, &dir);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn bind_and_spawn(shim: &ShimCommand, root: &Path, id: &str, dir: &Path) -> Result<SpawnedShim> {
    let socket = dir.join("shim.sock");
    let listener = bind(&socket).map_err(|source| ClientError::Io {
        what: "bind",
        path: socket.clone(),
        source,
    })?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).map_err(
        |source| ClientError::Io {
            what: "chmod",
            path: socket.clone(),
            source,
        },
    )?;
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new(&shim.program);
    cmd.arg("--id")
        .arg(id)
        .arg("--root")
        .arg(root)
        .arg("--listen-fd")
        .arg(LISTEN_FD.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the closure makes only async-signal-safe
    // syscalls (dup2, setsid) and touches no memory that another thread could
    // hold a lock on.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto a fixed number also clears close-on-exec there, so
            // only this one descriptor is inherited.
            if fd == LISTEN_FD {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, LISTEN_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            // Its own session: the shim must outlive the caller and take no
            // signal meant for the caller's terminal or process group.
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let process = cmd.spawn().map_err(|source| ClientError::Io {
        what: "spawn",
        path: shim.program.clone(),
        source,
    })?;
    drop(listener);
    Ok(SpawnedShim { socket, process })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_3", &"x".repeat(64), "0"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a/b", "..", "a b", &"x".repeat(65), "é"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
