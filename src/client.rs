//! Helpers for clients: where a shim lives, how to start one, how to reach it.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

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
    if crate::id::is_valid_id(id) {
        Ok(())
    } else {
        Err(ClientError::InvalidId(crate::id::brief(id)))
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
        // The shim sends a terminal's output in batches of up to 2 MiB: at
        // HTTP/2's default 16 KiB a frame, each costs it and us a hundred
        // and more socket calls.
        .max_frame_size(1 << 20)
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
    pub process: ShimProcess,
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
    let fd = LISTEN_FD.to_string();
    let args: [&OsStr; 6] = [
        "--id".as_ref(),
        id.as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--listen-fd".as_ref(),
        fd.as_ref(),
    ];
    let process =
        spawn_detached(&shim.program, &args, &listener).map_err(|source| ClientError::Io {
            what: "spawn",
            path: shim.program.clone(),
            source,
        })?;
    drop(listener);
    Ok(SpawnedShim { socket, process })
}

/// Starts `program` with `args` in a session of its own, with /dev/null as
/// stdio, `listener` as LISTEN_FD, default signal handling and our
/// environment.
///
/// With posix_spawn (vfork-style: the child shares our memory until it
/// execs) rather than fork: a fork copies this process's page tables and
/// leaves every page copy-on-write, so the caller takes a page fault for
/// each page it writes afterwards; and a fork of a threaded caller (an
/// embedder's runtime) may run nothing but async-signal-safe code.
fn spawn_detached(
    program: &Path,
    args: &[&OsStr],
    listener: &impl AsRawFd,
) -> io::Result<ShimProcess> {
    let cstr = |s: &OsStr| {
        CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let prog = cstr(program.as_os_str())?;
    let args = args
        .iter()
        .map(|a| cstr(a))
        .collect::<io::Result<Vec<_>>>()?;
    let env = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstr(&kv)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let argv: Vec<*mut libc::c_char> = std::iter::once(&prog)
        .chain(&args)
        .map(|c| c.as_ptr().cast_mut())
        .chain([std::ptr::null_mut()])
        .collect();
    let envp: Vec<*mut libc::c_char> = env
        .iter()
        .map(|c| c.as_ptr().cast_mut())
        .chain([std::ptr::null_mut()])
        .collect();
    // A copy above 0-2 and LISTEN_FD, whatever number the listener has: the
    // spawn's own dup2s must not clobber it before it is moved.
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor the caller owns.
    let high = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if high < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let high = unsafe { OwnedFd::from_raw_fd(high) };
    let check = |rc: libc::c_int| match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    };
    let mut pid: libc::pid_t = 0;
    // SAFETY: the posix_spawn calls get initialized attribute and action
    // objects (destroyed below), and C strings and NULL-terminated arrays
    // that live until posix_spawnp returns.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        if let Err(e) = check(libc::posix_spawnattr_init(&mut attr)) {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(e);
        }
        let result = (|| {
            for (fd, flags) in [
                (0, libc::O_RDONLY),
                (1, libc::O_WRONLY),
                (2, libc::O_WRONLY),
            ] {
                check(libc::posix_spawn_file_actions_addopen(
                    &mut actions,
                    fd,
                    c"/dev/null".as_ptr(),
                    flags,
                    0,
                ))?;
            }
            // dup2 clears close-on-exec on the copy: the one descriptor the
            // shim inherits.
            check(libc::posix_spawn_file_actions_adddup2(
                &mut actions,
                high.as_raw_fd(),
                LISTEN_FD,
            ))?;
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &none))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &all))?;
            // Its own session: the shim must outlive the caller and take no
            // signal meant for the caller's terminal or process group.
            let flags = libc::POSIX_SPAWN_SETSID as libc::c_int
                | libc::POSIX_SPAWN_SETSIGMASK as libc::c_int
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_int;
            check(libc::posix_spawnattr_setflags(&mut attr, flags as _))?;
            check(libc::posix_spawnp(
                &mut pid,
                prog.as_ptr(),
                &actions,
                &attr,
                argv.as_ptr(),
                envp.as_ptr(),
            ))
        })();
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        result?;
    }
    Ok(ShimProcess { pid, status: None })
}

/// A shim process started by [`spawn_shim`], with the calls of
/// `std::process::Child` that a caller needs.
#[derive(Debug)]
pub struct ShimProcess {
    pid: libc::pid_t,
    /// Once reaped: the pid may be reused, so it is not signalled again.
    status: Option<ExitStatus>,
}

impl ShimProcess {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    fn reap(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        loop {
            let mut raw = 0;
            // SAFETY: waitpid(2) on our own child, into a local.
            match unsafe { libc::waitpid(self.pid, &mut raw, flags) } {
                0 => return Ok(None),
                n if n > 0 => {
                    let st = ExitStatus::from_raw(raw);
                    self.status = Some(st);
                    return Ok(Some(st));
                }
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Its exit status, if it has exited (reaping it).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reap(libc::WNOHANG)
    }

    /// Blocks until it exits.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.reap(0)?
            .ok_or_else(|| io::Error::other("waitpid returned no status"))
    }

    /// SIGKILL, unless it was reaped already.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // SAFETY: kill(2) on our own, unreaped child.
        if unsafe { libc::kill(self.pid, libc::SIGKILL) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
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
