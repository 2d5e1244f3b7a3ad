//! Finding containers by id or id prefix, and talking to their shims.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mydocker::v1;
use mydocker::ShimClient;
use tonic::Code;

/// A container named on the command line, resolved to its full id.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    /// What the user typed, for messages.
    pub arg: String,
    pub root: PathBuf,
}

pub fn no_such(arg: &str) -> anyhow::Error {
    anyhow::anyhow!("No such container: {arg}")
}

/// Resolves a full id or an unambiguous prefix of one.
pub fn resolve(root: &Path, arg: &str) -> anyhow::Result<Target> {
    if mydocker::validate_id(arg).is_err() {
        return Err(no_such(arg));
    }
    let target = |id: &str| Target {
        id: id.to_string(),
        arg: arg.to_string(),
        root: root.to_path_buf(),
    };
    if mydocker::shim_dir(root, arg).is_dir() {
        return Ok(target(arg));
    }
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir(root) {
        for e in dir.flatten() {
            if let Some(name) = e.file_name().to_str() {
                if name.starts_with(arg) && e.path().is_dir() {
                    found.push(name.to_string());
                }
            }
        }
    }
    match found.len() {
        0 => Err(no_such(arg)),
        1 => Ok(target(&found[0])),
        n => {
            anyhow::bail!("multiple containers ({n}) match the prefix {arg:?}: give more of the id")
        }
    }
}

impl Target {
    pub fn socket(&self) -> PathBuf {
        mydocker::socket_path(&self.root, &self.id)
    }

    pub async fn connect(&self) -> anyhow::Result<ShimClient> {
        let socket = self.socket();
        if !socket.exists() {
            return Err(no_such(&self.arg));
        }
        mydocker::connect(&socket)
            .await
            .with_context(|| format!("the shim of container {} is not answering", self.arg))
    }

    /// Turns a gRPC error into a one-line message.
    pub fn status_error(&self, s: tonic::Status) -> anyhow::Error {
        status_error(&self.arg, s)
    }
}

pub fn status_error(arg: &str, s: tonic::Status) -> anyhow::Error {
    match s.code() {
        Code::NotFound => no_such(arg),
        _ => anyhow::anyhow!("{}", s.message()),
    }
}

/// `rm [-f]`: deletes the container; with `force`, kills it first.
pub async fn remove(t: &Target, force: bool) -> anyhow::Result<()> {
    let mut c = t.connect().await?;
    let state = c
        .state(v1::StateRequest { id: t.id.clone() })
        .await
        .map_err(|s| t.status_error(s))?
        .into_inner();
    if state.status == v1::Status::Running as i32 {
        if !force {
            anyhow::bail!(
                "cannot remove container {}: container is running: stop the container before removing or force remove (rm -f)",
                t.arg
            );
        }
        match c
            .kill(v1::KillRequest {
                id: t.id.clone(),
                signal: libc::SIGKILL,
                all: true,
            })
            .await
        {
            Ok(_) => {}
            // It exited meanwhile.
            Err(s) if s.code() == Code::FailedPrecondition => {}
            Err(s) => return Err(t.status_error(s)),
        }
        c.wait(v1::WaitRequest { id: t.id.clone() })
            .await
            .map_err(|s| t.status_error(s))?;
    }
    c.delete(v1::DeleteRequest { id: t.id.clone() })
        .await
        .map_err(|s| t.status_error(s))?;
    wait_gone(state.shim_pid).await;
    println!("{}", t.arg);
    Ok(())
}

/// Waits (briefly) for a shim process to be gone after Delete, so that
/// `rm` returning means nothing of the container is left.
pub async fn wait_gone(pid: u32) {
    if pid == 0 {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    for _ in 0..500 {
        // A zombie still answers kill(0) but holds nothing; /proc tells.
        let alive = nix::sys::signal::kill(pid, None).is_ok()
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
