//! `mydocker-shim --id ID [--root DIR]`: supervises one container and serves
//! the mydocker.shim.v1 API on `<root>/<id>/shim.sock`.

use std::os::fd::FromRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::{bail, Context};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const USAGE: &str = "\
Supervises one container and serves the mydocker.shim.v1 gRPC API on <root>/<id>/shim.sock

Usage: mydocker-shim --id <ID> [--root <DIR>]

Options:
  --id <ID>       Id of the container this shim serves: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}
  --root <DIR>    State root; the shim uses <root>/<id>/ [env: MYDOCKER_ROOT] [default: /run/mydocker]
  -h, --help      Print help
  -V, --version   Print version

Runs in the foreground. Drive it with mydockerctl, grpcurl, or the mydocker API crate.
Logs go to <root>/<id>/shim.log (RUST_LOG sets the level; default info).
";

#[derive(Debug, PartialEq)]
struct Args {
    id: String,
    root: PathBuf,
    /// Serve on this already-listening socket descriptor instead of binding
    /// <root>/<id>/shim.sock (mydockerctl and the API crate pass it).
    listen_fd: Option<i32>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Cli {
    Run(Args),
    Help,
    Version,
}

/// The shim's few flags, by hand: clap was a tenth of the binary, resident
/// in every shim.
fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    env_root: Option<std::ffi::OsString>,
) -> anyhow::Result<Cli> {
    let mut id = None;
    // An empty MYDOCKER_ROOT is unset, not "the current directory".
    let mut root = env_root.filter(|r| !r.is_empty()).map(PathBuf::from);
    let mut listen_fd = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let arg = arg
            .into_string()
            .map_err(|a| anyhow::anyhow!("argument {a:?} is not UTF-8"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .with_context(|| format!("{flag} needs a value"))?
                    .into_string()
                    .map_err(|v| anyhow::anyhow!("{flag} {v:?}: not UTF-8")),
            }
        };
        if inline.is_some() && matches!(flag.as_str(), "-h" | "--help" | "-V" | "--version") {
            bail!("{flag} takes no value");
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "-V" | "--version" => return Ok(Cli::Version),
            "--id" if id.is_some() => bail!("--id given twice"),
            "--id" => id = Some(value()?),
            "--root" => root = Some(PathBuf::from(value()?)),
            "--listen-fd" => {
                let v = value()?;
                listen_fd = Some(
                    v.parse()
                        .with_context(|| format!("--listen-fd {v:?}: not a descriptor number"))?,
                );
            }
            other => bail!("unexpected argument {other:?} (see --help)"),
        }
    }
    Ok(Cli::Run(Args {
        id: id.context("--id is required (see --help)")?,
        root: root.unwrap_or_else(|| PathBuf::from("/run/mydocker")),
        listen_fd,
    }))
}

fn main() {
    let result = run();
    // After the runtime, whose reaper would have reaped it.
    mydocker_shim::process::ahead::end_ahead();
    // A holder let go as its container exited may still be on its way out
    // (tearing the namespaces down): nothing of ours outlives the shim. Not
    // for ever, though: the container itself was killed and reaped already.
    reap_children(std::time::Duration::from_secs(2));
    if let Err(e) = result {
        eprintln!("mydocker-shim: {e:#}");
        std::process::exit(1);
    }
}

/// Reaps what children are left, until there are none or `limit` has
/// passed.
fn reap_children(limit: std::time::Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = std::time::Instant::now() + limit;
    loop {
        match waitpid(None, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = match parse_args(
        std::env::args_os().skip(1),
        std::env::var_os("MYDOCKER_ROOT"),
    )? {
        Cli::Run(a) => a,
        Cli::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Cli::Version => {
            println!("mydocker-shim {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
    };
    mydocker::validate_id(&args.id)?;
    let ahead = mydocker_shim::process::ahead::make_ahead();
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
    if let Some(e) = ahead {
        tracing::debug!("{e}");
    }
    // One thread: a shim is mostly idle and must stay small, and the init is
    // cloned from this thread, which must outlive it (PR_SET_PDEATHSIG).
    // A few events per wake-up are plenty for one container and its
    // clients; tokio's default (1024) is a 12 KB buffer in every shim.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_io_events_per_tick(64)
        .build()
        .context("build runtime")?;
    // Boxed: the server's future is 11 KB, and each move of it on the stack
    // would touch fresh stack pages (a page fault each at start).
    let result = rt.block_on(Box::pin(mydocker_shim::rpc::serve(
        args.id.clone(),
        dir.clone(),
        listener,
    )));
    if let Err(e) = &result {
        tracing::error!(error = %e, "shim failed");
    }
    tracing::info!("shim exiting");
    // A network record left means its DEL failed (container/network.rs):
    // the state dir stays, for rm to release the network from it.
    if !dir.join(mydocker::cni::RECORD_FILE).exists() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result.map_err(Into::into)
}

fn default_filter() -> Targets {
    Targets::new().with_default(tracing::Level::INFO)
}

fn init_logging(dir: &std::path::Path) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
        .context("open shim.log")?;
    // RUST_LOG's `level` and `target=level` directives, without EnvFilter:
    // its regex engine would be a third of the shim's binary, resident in
    // every shim.
    let (filter, bad) = match std::env::var("RUST_LOG") {
        Ok(spec) => match spec.parse::<Targets>() {
            Ok(t) => (t, None),
            Err(e) => (default_filter(), Some(format!("RUST_LOG={spec:?}: {e}"))),
        },
        Err(_) => (default_filter(), None),
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file)),
        )
        .with(filter)
        .init();
    if let Some(bad) = bad {
        tracing::warn!("ignored: {bad}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: Option<&str>) -> anyhow::Result<Cli> {
        parse_args(args.iter().map(|a| a.into()), env.map(Into::into))
    }

    #[test]
    fn flags_values_and_defaults() {
        let run = |id: &str, root: &str, fd| {
            Cli::Run(Args {
                id: id.into(),
                root: root.into(),
                listen_fd: fd,
            })
        };
        assert_eq!(
            parse(&["--id", "a"], None).unwrap(),
            run("a", "/run/mydocker", None)
        );
        assert_eq!(
            parse(&["--id", "a"], Some("/e")).unwrap(),
            run("a", "/e", None)
        );
        assert_eq!(
            parse(&["--root=/r", "--id=a=b", "--listen-fd", "3"], Some("/e")).unwrap(),
            run("a=b", "/r", Some(3))
        );
        assert_eq!(
            parse(&["--id", "a"], Some("")).unwrap(),
            run("a", "/run/mydocker", None)
        );
        assert_eq!(parse(&["--id", "a", "--help"], None).unwrap(), Cli::Help);
        assert_eq!(parse(&["-V"], None).unwrap(), Cli::Version);
    }

    #[test]
    fn mistakes_are_one_clear_line() {
        let err = |a: &[&str]| parse(a, None).unwrap_err().to_string();
        assert_eq!(err(&[]), "--id is required (see --help)");
        assert_eq!(err(&["--id", "a", "--id", "b"]), "--id given twice");
        assert_eq!(err(&["--help=x"]), "--help takes no value");
        assert_eq!(err(&["--id"]), "--id needs a value");
        assert_eq!(
            err(&["--id", "a", "--bogus"]),
            "unexpected argument \"--bogus\" (see --help)"
        );
        assert_eq!(
            err(&["--id", "a", "--listen-fd", "x"]),
            "--listen-fd \"x\": not a descriptor number"
        );
    }
}
