//! `mydocker-shim --id ID [--root DIR]`: supervises one container and serves
//! the mydocker.shim.v1 API on `<root>/<id>/shim.sock`.

use std::os::fd::FromRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "mydocker-shim",
    version,
    about = "Supervises one container and serves the mydocker.shim.v1 gRPC API on <root>/<id>/shim.sock",
    after_help = "Runs in the foreground. Drive it with mydockerctl, grpcurl, or the mydocker API crate.\nLogs go to <root>/<id>/shim.log (RUST_LOG sets the level; default info)."
)]
struct Args {
    /// Id of the container this shim serves: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}.
    #[arg(long)]
    id: String,
    /// State root; the shim uses <root>/<id>/.
    #[arg(long, env = "MYDOCKER_ROOT", default_value = "/run/mydocker")]
    root: PathBuf,
    /// Serve on this already-listening socket descriptor instead of binding
    /// <root>/<id>/shim.sock (used by mydockerctl, which created the dir).
    #[arg(long, hide = true)]
    listen_fd: Option<i32>,
}

fn main() {
    // The container's init is this same binary, re-executed in the new
    // namespaces; it must not start a runtime or parse our flags.
    if std::env::args_os().nth(1).as_deref() == Some("init".as_ref()) && std::process::id() == 1 {
        mydocker_shim::init::main();
    }
    if let Err(e) = run() {
        eprintln!("mydocker-shim: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    mydocker::validate_id(&args.id)?;
    let dir = mydocker::shim_dir(&args.root, &args.id);
    let (listener, created_dir) = match args.listen_fd {
        Some(fd) => {
            if fd < 3 {
                bail!("--listen-fd must be 3 or more");
            }
            // SAFETY: the spawner passed us this listening socket as `fd`,
            // and nothing else in this process owns it.
            let l = unsafe { UnixListener::from_raw_fd(fd) };
            nix::fcntl::fcntl(
                &l,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .context("set close-on-exec on the listening socket")?;
            (l, false)
        }
        None => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(&args.root)
                .with_context(|| format!("create {}", args.root.display()))?;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| {
                    format!(
                        "create {} (is a shim already running for {}?)",
                        dir.display(),
                        args.id
                    )
                })?;
            let sock = mydocker::socket_path(&args.root, &args.id);
            let l = mydocker::bind(&sock).with_context(|| format!("bind {}", sock.display()));
            let l = match l {
                Ok(l) => l,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            };
            std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
                .context("chmod socket")?;
            (l, true)
        }
    };
    let _ = created_dir;
    init_logging(&dir)?;
    // Orphans of the container's namespace (and its init) come back to us,
    // not to the host's init, so their exits are ours to see.
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } != 0 {
        bail!(
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        );
    }
    tracing::info!(id = %args.id, pid = std::process::id(), "shim started");
    // One thread: a shim is mostly idle and must stay small, and the init is
    // cloned from this thread, which must outlive it (PR_SET_PDEATHSIG).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("build runtime")?;
    let result = rt.block_on(mydocker_shim::server::serve(
        args.id.clone(),
        dir.clone(),
        listener,
    ));
    if let Err(e) = &result {
        tracing::error!(error = %e, "shim failed");
    }
    tracing::info!("shim exiting");
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(Into::into)
}

fn init_logging(dir: &std::path::Path) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
        .context("open shim.log")?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}
