//! `mydockerctl run`: spawn a shim, create, attach, start, wait, exit with
//! the container's code.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use mydocker::v1;
use mydocker::ShimClient;
use tonic::Code;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::args::{AttachArgs, PullPolicy, RunArgs, StartArgs};
use crate::attach::{Outcome, RunOpen, Session, Signals};
use crate::containers::{wait_gone, Target};
use crate::early::{new_id, release_signals, unless_interrupted, EarlyShim};
use crate::error::{exit_with, one_line, Exit};
use crate::images::pull::Out;
use crate::images::root::ImageRoot;
use crate::terminal::{parse_detach_keys, window_size, RawMode};

/// Docker's code for "the container could not be created or run".
const EXIT_RUN_FAILED: i32 = 125;

/// `-e KEY` takes KEY's value from our own environment, or is left out, as
/// docker does.
pub fn expand_env(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|kv| {
            if kv.contains('=') {
                Some(kv.clone())
            } else {
                std::env::var(kv).ok().map(|v| format!("{kv}={v}"))
            }
        })
        .collect()
}

/// What `run` and `create` check before a shim is used: the name, the
/// detach keys, the limits and the image; the keys and the limits, parsed,
/// the request's fields that the flags and the image make, and the image
/// (which holds it in the store until the container is made).
fn check_run_args(
    root: &Path,
    data_root: &Path,
    args: &RunArgs,
) -> anyhow::Result<(Vec<u8>, v1::Resources, v1::CreateRequest, Option<ImageRoot>)> {
    if let Some(name) = &args.name {
        mydocker::state::validate_name(name)
            .map_err(|e| exit_with(EXIT_RUN_FAILED, e.to_string()))?;
    }
    let keys = parse_detach_keys(&args.detach_keys).map_err(|e| exit_with(EXIT_RUN_FAILED, e))?;
    let resources = args
        .limits
        .to_resources(&args.cgroup_parent)
        .map_err(|e| exit_with(EXIT_RUN_FAILED, e.to_string()))?;
    // The flags' own errors first, as docker's client gives them before
    // it looks for the image.
    crate::specargs::restart_policy(&args.restart, args.rm)
        .map_err(|e| exit_with(EXIT_RUN_FAILED, one_line(&e)))?;
    let network = crate::network::request(root, data_root, args)
        .map_err(|e| exit_with(EXIT_RUN_FAILED, one_line(&e)))?;
    // Without --rootfs or --bundle, the first argument is the image.
    let image = match (&args.rootfs, &args.bundle, args.command.first()) {
        (None, None, Some(name)) => Some(
            ImageRoot::find(data_root, name)
                .map_err(|e| exit_with(EXIT_RUN_FAILED, e.to_string()))?,
        ),
        _ => None,
    };
    let mut fs = crate::specargs::request_fields(args, image.as_ref())
        .map_err(|e| exit_with(EXIT_RUN_FAILED, one_line(&e)))?;
    fs.network = network;
    Ok((keys, resources, fs, image))
}

/// A container created through a shim this process spawned.
pub struct Created {
    pub id: String,
    pub client: ShimClient,
    pub process: mydocker::ShimProcess,
    pub detach_keys: Vec<u8>,
    /// With [`How::Run`]: the session, or why it is not there (the start
    /// was refused: `Ok(Err)`).
    pub session: Option<anyhow::Result<Result<Session, tonic::Status>>>,
}

/// What [`create`] does once the shim is up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Create only.
    Create,
    /// Create, attach and start, in one call (`AttachOpen.create`).
    Run,
}

/// docker's `--pull` for `run IMAGE` and `create IMAGE`: the image is
/// pulled (when missing, by default) before anything else is made, its
/// report on stderr. Any early shim goes first, and signals take their
/// default action: a ^C ends the pull (the store clears what a dead
/// process left in its scratch space) and nothing is left of the run.
pub async fn pull_first(
    data_root: &Path,
    args: &RunArgs,
    early: Option<EarlyShim>,
) -> anyhow::Result<Option<EarlyShim>> {
    let name = match (&args.rootfs, &args.bundle, args.command.first()) {
        (None, None, Some(name)) => name,
        _ => return Ok(early),
    };
    let missing = match args.pull {
        PullPolicy::Never => return Ok(early),
        PullPolicy::Missing if crate::images::root::present(data_root, name) => return Ok(early),
        PullPolicy::Missing => true,
        PullPolicy::Always => false,
    };
    if let Some(e) = early {
        e.abandon();
    }
    release_signals();
    if missing {
        eprintln!(
            "Unable to find image '{}' locally",
            crate::images::root::shown_name(name)
        );
    }
    crate::images::pull::pull(data_root, name, &[], args.quiet, Out::Stderr)
        .await
        .map_err(|e| exit_with(EXIT_RUN_FAILED, one_line(&e)))?;
    crate::early::hold_signals();
    Ok(None)
}

/// Spawns a shim (or takes the one [`spawn_early`] made) and creates the
/// container (run's and create's first half). On failure nothing is left:
/// the shim is told to go and takes its directory with it.
pub async fn create(
    root: &Path,
    data_root: &Path,
    args: &RunArgs,
    early: Option<EarlyShim>,
    how: How,
) -> anyhow::Result<Created> {
    let checked = check_run_args(root, data_root, args);
    let early = match early {
        Some(e) if e.root == root && checked.is_ok() => Some(e),
        Some(e) => {
            e.abandon();
            None
        }
        None => None,
    };
    // Held until Create has answered: an rmi meanwhile waits for it, and
    // then finds the container's record naming the image.
    let (detach_keys, resources, fs, _image) = checked?;
    // A terminal is for typing into: -t implies -i here (the book's -ti).
    let interactive = args.interactive || args.tty;
    let terminal_size = if args.tty {
        window_size(0).or_else(|| window_size(1))
    } else {
        None
    };
    let (id, shim, spawned) = match early {
        Some(e) => (e.id, e.shim, e.spawned),
        None => {
            let id = new_id()?;
            let shim = mydocker::ShimCommand::find()?;
            let spawned = mydocker::spawn_shim(&shim, root, &id)?;
            (id, shim, spawned)
        }
    };
    let mut process = spawned.process;
    let mut client = match mydocker::connect(&spawned.socket).await {
        Ok(c) => c,
        Err(e) => {
            let exited = process.try_wait().ok().flatten();
            let _ = process.kill();
            let _ = process.wait();
            let _ = std::fs::remove_dir_all(mydocker::shim_dir(root, &id));
            return Err(match exited {
                Some(st) => exit_with(
                    EXIT_RUN_FAILED,
                    format!(
                        "mydocker-shim ({}) exited before serving: {st}",
                        shim.program.display()
                    ),
                ),
                None => e.into(),
            });
        }
    };
    let mut env = expand_env(&args.env);
    // The image's and the flags' (HOME for -u), under what -e gives; a bare
    // `-e KEY` that is unset here takes KEY away, as docker's does.
    let unset = |key: &str| args.env.iter().any(|kv| kv == key);
    for kv in &fs.env {
        let key = kv.split('=').next().unwrap_or("");
        if !unset(key) && !env.iter().any(|e| e.split('=').next() == Some(key)) {
            env.push(kv.clone());
        }
    }
    // What docker gives a terminal, so that top, vi and less draw.
    if args.tty && !env.iter().any(|kv| kv.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let bundle = !fs.bundle.is_empty();
    let cwd = args.workdir.clone().unwrap_or_else(|| fs.cwd.clone());
    let mut request = v1::CreateRequest {
        id: id.clone(),
        env,
        cwd,
        // docker's default: the short id, as `ps` shows it.
        hostname: args
            .hostname
            .clone()
            .unwrap_or_else(|| id[..id.len().min(12)].to_string()),
        tty: args.tty,
        stdin: interactive,
        terminal_size: terminal_size.map(|(rows, cols)| v1::WindowSize {
            rows: rows.into(),
            cols: cols.into(),
        }),
        resources: Some(resources),
        name: String::new(),
        privileged: args.privileged,
        auto_remove: args.rm,
        ..fs
    };
    // An image's root: a writable layer of the container's own, which its
    // shim removes with it.
    if let Some(layers) = &mut request.layers {
        match crate::images::root::container_layer(data_root, root, &id, &request.image_id) {
            Ok((upper, work)) => {
                layers.upper = upper.to_string_lossy().into_owned();
                layers.work = work.to_string_lossy().into_owned();
                layers.owned = true;
            }
            Err(e) => {
                let _ = client.shutdown(v1::ShutdownRequest {}).await;
                drop(client);
                reap(process).await;
                let _ = std::fs::remove_dir_all(mydocker::shim_dir(root, &id));
                crate::images::root::remove_container_layer(data_root, &id);
                return Err(exit_with(
                    EXIT_RUN_FAILED,
                    format!("the container's layer in {}: {e}", data_root.display()),
                ));
            }
        }
    }
    if bundle {
        // The spec says these.
        request.env.clear();
        request.hostname.clear();
        request.tty = false;
        request.terminal_size = None;
        request.resources = Some(v1::Resources {
            cgroup_parent: args.cgroup_parent.clone(),
            ..Default::default()
        });
    }
    let mut attempts = 0;
    let result = loop {
        request.name = match &args.name {
            Some(n) => n.clone(),
            None => crate::names::generate(),
        };
        let r = match how {
            How::Create => client.create(request.clone()).await.map(|_| None),
            How::Run => match Session::run(&mut client, &request).await {
                Ok(RunOpen::NotCreated(s)) => Err(s),
                // A shim that is gone made nothing that stays (its init dies
                // with it): as a refused Create. One still there may have.
                // (Its connection breaks as it exits, a moment before it has.)
                Ok(RunOpen::BrokeOff(s)) => {
                    let pid = process.id();
                    let _ = tokio::time::timeout(Duration::from_millis(200), wait_gone(pid)).await;
                    match process.try_wait() {
                        Ok(Some(_)) => Err(s),
                        _ => Ok(Some(Err(crate::containers::status_error(&id, s)))),
                    }
                }
                Ok(RunOpen::Started(session)) => Ok(Some(Ok(Ok(*session)))),
                Ok(RunOpen::Refused(s)) => Ok(Some(Ok(Err(s)))),
                Err(e) => Ok(Some(Err(e))),
            },
        };
        match r {
            // A generated name that is taken: draw another.
            Err(s) if s.code() == Code::AlreadyExists && args.name.is_none() && attempts < 10 => {
                attempts += 1;
            }
            r => break r,
        }
    };
    if let Err(s) = result {
        let _ = client.shutdown(v1::ShutdownRequest {}).await;
        drop(client);
        let status = reap(process).await;
        // A shim that died (wrong binary, crash) never removed its state
        // dir: nothing of a container that was never made may stay.
        let _ = std::fs::remove_dir_all(mydocker::shim_dir(root, &id));
        crate::images::root::remove_container_layer(data_root, &id);
        let message = match status {
            Some(st) if !st.success() => {
                format!(
                    "mydocker-shim ({}) exited before serving: {st}",
                    shim.program.display()
                )
            }
            _ => s.message().to_string(),
        };
        return Err(exit_with(EXIT_RUN_FAILED, message));
    }
    Ok(Created {
        id,
        client,
        process,
        detach_keys,
        session: result.ok().flatten(),
    })
}

/// Waits for a shim we spawned to exit, without blocking the runtime (which
/// must stay free to finish the connection the shim is closing).
async fn reap(mut process: mydocker::ShimProcess) -> Option<std::process::ExitStatus> {
    wait_gone(process.id()).await;
    process.wait().ok()
}

pub async fn run(
    root: &Path,
    data_root: &Path,
    args: RunArgs,
    early: Option<EarlyShim>,
) -> anyhow::Result<i32> {
    let early = unless_interrupted(early);
    // docker's check, before anything is made: -i asks for input a
    // terminal is to carry.
    if !args.detach && args.interactive && args.tty && !std::io::stdin().is_terminal() {
        if let Some(e) = early {
            e.abandon();
        }
        release_signals();
        return Err(exit_with(1, "the input device is not a TTY"));
    }
    let early = pull_first(data_root, &args, early).await?;
    // Without proxying, a signal does to mydockerctl what it would do to
    // any program (SIGINT ends it), and the container runs on. A terminal's
    // session handles its signals either way.
    let signals = if args.detach || (!args.sig_proxy && !args.tty) {
        None
    } else {
        match Signals::install() {
            Ok(s) => Some(s),
            Err(e) => {
                if let Some(e) = early {
                    e.abandon();
                }
                release_signals();
                return Err(e);
            }
        }
    };
    if signals.is_some() {
        // Held back since the early spawn: to the proxy's handlers now.
        release_signals();
    }
    let interactive = args.interactive || args.tty;
    // Attached, it is created, attached and started in one call: no output
    // is missed, and no round trip is spent between the steps.
    let how = if args.detach { How::Create } else { How::Run };
    let created = create(root, data_root, &args, early, how).await;
    // Detached: held back until the container is made or nothing is left.
    release_signals();
    let Created {
        id,
        mut client,
        mut process,
        detach_keys,
        session,
    } = created?;

    // A --rm container that never ran is not its shim's to remove.
    if args.detach {
        let started = start(&mut client, &id).await;
        let err = match started {
            Ok(None) => {
                println!("{id}");
                return Ok(0);
            }
            Ok(Some((code, msg))) => exit_with(code, msg),
            Err(e) => e,
        };
        if args.rm {
            delete(client, &id, &mut process).await;
        }
        return Err(err);
    }

    let opened = match session.context("no session from an attached run")? {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(refused)) => Err(match start_refused(&mut client, &id, refused).await {
            Ok((code, msg)) => exit_with(code, msg),
            Err(e) => e,
        }),
        Err(e) => Err(e),
    };
    let mut session = match opened {
        Ok(s) => s,
        Err(e) => {
            if args.rm {
                delete(client, &id, &mut process).await;
            }
            return Err(e);
        }
    };
    let outcome = interact(
        &client,
        &mut session,
        Interaction {
            tty: args.tty,
            stdin: interactive,
            detach_keys: detach_keys.clone(),
            signals,
        },
    )
    .await?;
    let status = match outcome {
        Outcome::Exited(s) => s,
        Outcome::Ended => wait(&mut client, &id).await?,
        Outcome::Detached => {
            // The cursor is wherever the container left it.
            // With --rm its shim removes it when it exits.
            println!("\n{id}");
            return Ok(0);
        }
        Outcome::Signaled(sig) => return Ok(128 + sig),
    };
    if status.oom_killed {
        eprintln!(
            "mydockerctl: container {} was OOM-killed (it reached its memory limit)",
            &id[..12]
        );
    }
    let code = status.exit_code;
    if args.rm {
        // The shim removes it (auto_remove), and exits when done: nothing of
        // the container is left once it is gone.
        drop(session);
        drop(client);
        reap(process).await;
    }
    Ok(code)
}

/// How to run an attached session.
pub struct Interaction {
    pub tty: bool,
    /// Forward our stdin.
    pub stdin: bool,
    /// With `tty`: the sequence that detaches.
    pub detach_keys: Vec<u8>,
    pub signals: Option<Signals>,
}

/// Runs an attached session: raw mode on our terminal while a container
/// terminal is attached (restored before this returns, whatever happens),
/// stdin forwarded, output copied.
pub async fn interact(
    client: &ShimClient,
    session: &mut Session,
    how: Interaction,
) -> anyhow::Result<Outcome> {
    let raw = if how.tty && how.stdin {
        RawMode::enter(0)
    } else {
        None
    };
    let detached = Arc::new(AtomicBool::new(false));
    if how.stdin {
        let keys = how.tty.then(|| how.detach_keys.clone());
        session.forward_stdin(keys, detached.clone());
    }
    let outcome = session
        .copy_output(client, how.signals, how.tty, &detached)
        .await;
    drop(raw);
    outcome
}

/// Starts the container. `Some((code, message))` when its command could not
/// be executed: the code is the one the container exited with (126, 127).
pub async fn start(client: &mut ShimClient, id: &str) -> anyhow::Result<Option<(i32, String)>> {
    match client
        .start(v1::StartRequest {
            id: id.to_string(),
            ..Default::default()
        })
        .await
    {
        Ok(_) => Ok(None),
        Err(s) => start_refused(client, id, s).await.map(Some),
    }
}

/// The exit code and message of a refused Start (or attach-and-start).
async fn start_refused(
    client: &mut ShimClient,
    id: &str,
    s: tonic::Status,
) -> anyhow::Result<(i32, String)> {
    if s.code() != Code::FailedPrecondition {
        return Err(exit_with(EXIT_RUN_FAILED, s.message()));
    }
    // A command that could not be executed has its init exit at once;
    // anything else refused (already started, say) does not, and is
    // reported as it is rather than waited on.
    let status = match tokio::time::timeout(Duration::from_secs(2), wait(client, id)).await {
        Ok(r) => r?,
        Err(_) => return Err(exit_with(EXIT_RUN_FAILED, s.message())),
    };
    let code = if status.exit_code == 0 {
        EXIT_RUN_FAILED
    } else {
        status.exit_code
    };
    let msg = if status.error.is_empty() {
        s.message().to_string()
    } else {
        status.error
    };
    Ok((code, msg))
}

pub async fn wait(client: &mut ShimClient, id: &str) -> anyhow::Result<v1::ExitStatus> {
    client
        .wait(v1::WaitRequest {
            id: id.to_string(),
            ..Default::default()
        })
        .await
        .map_err(|s| exit_with(EXIT_RUN_FAILED, s.message()))?
        .into_inner()
        .status
        .context("Wait answered no status")
}

/// `--rm`: deletes the container and waits for its shim to be gone.
async fn delete(mut client: ShimClient, id: &str, process: &mut mydocker::ShimProcess) {
    if let Err(s) = client
        .delete(v1::DeleteRequest {
            id: id.to_string(),
            ..Default::default()
        })
        .await
    {
        eprintln!("Error: removing container {id}: {}", s.message());
        return;
    }
    // Close our connection now: the shim exits once its clients are gone.
    drop(client);
    // Polled, not a blocking wait(): the runtime must stay free to answer
    // the shim's GOAWAY, or the shim waits for us while we wait for it.
    wait_gone(process.id()).await;
    let _ = process.wait();
}

/// `mydockerctl attach`.
pub async fn attach(root: &Path, args: AttachArgs) -> anyhow::Result<i32> {
    let detach_keys = parse_detach_keys(&args.detach_keys).map_err(|e| exit_with(1, e))?;
    let t = crate::containers::resolve(root, &args.id)?;
    let mut client = t.connect().await?;
    let state = client
        .state(v1::StateRequest { id: t.id.clone() })
        .await
        .map_err(|s| t.status_error(s))?
        .into_inner();
    if state.status == v1::Status::Exited as i32 {
        return Err(exit_with(
            1,
            format!("You cannot attach to a stopped container {}", t.arg),
        ));
    }
    if state.tty && state.stdin && !args.no_stdin && !std::io::stdin().is_terminal() {
        return Err(exit_with(1, "the input device is not a TTY"));
    }
    let signals = match args.sig_proxy || state.tty {
        true => Some(Signals::install()?),
        false => None,
    };
    let mut session = Session::open(&mut client, &t.id, true).await?;
    if state.tty {
        // The screen may have another size than the one the container has.
        if let Some((rows, cols)) = window_size(0).or_else(|| window_size(1)) {
            session.resize(rows, cols).await;
        }
    }
    let outcome = interact(
        &client,
        &mut session,
        Interaction {
            tty: state.tty,
            stdin: state.stdin && !args.no_stdin,
            detach_keys,
            signals,
        },
    )
    .await?;
    match outcome {
        Outcome::Exited(s) => Ok(s.exit_code),
        Outcome::Ended => Ok(wait(&mut client, &t.id).await?.exit_code),
        Outcome::Detached => {
            println!("\n{}", t.id);
            Ok(0)
        }
        Outcome::Signaled(sig) => Ok(128 + sig),
    }
}

/// `mydockerctl start [-a] [-i] ID...`.
pub async fn start_cmd(root: &Path, args: StartArgs) -> anyhow::Result<i32> {
    if (args.attach || args.interactive) && args.ids.len() > 1 {
        return Err(exit_with(
            1,
            "you cannot start and attach multiple containers at once",
        ));
    }
    let mut failed = false;
    for arg in &args.ids {
        match start_one(root, arg, &args).await {
            Ok(Some(code)) => return Ok(code),
            Ok(None) => println!("{arg}"),
            Err(e) => {
                // An attached start that could not exec has its own code.
                if let Some(x) = e.downcast_ref::<Exit>() {
                    if args.attach || args.interactive {
                        return Err(exit_with(x.code, x.message.clone()));
                    }
                }
                eprintln!("Error: {}", one_line(&e));
                failed = true;
            }
        }
    }
    if failed {
        Err(exit_with(1, ""))
    } else {
        Ok(0)
    }
}

/// Starts one container; `Some(code)` when attached until it exited.
async fn start_one(root: &Path, arg: &str, args: &StartArgs) -> anyhow::Result<Option<i32>> {
    let t: Target = crate::containers::resolve(root, arg)?;
    let rec = t.record()?;
    if rec.paused() {
        anyhow::bail!("cannot start a paused container, try unpause instead");
    }
    match rec.status() {
        crate::containers::Status::Running => return Ok(None),
        // Its shim runs it again, in a fresh init (docker's start).
        crate::containers::Status::Created => {}
        crate::containers::Status::Exited(_) if rec.shim_alive => {}
        _ => anyhow::bail!(
            "container {arg} cannot be started again: its shim is gone (remove it with rm)"
        ),
    }
    let mut client = t.connect().await?;
    let attach = args.attach || args.interactive;
    if !attach {
        if let Some((code, msg)) = start(&mut client, &t.id).await? {
            return Err(exit_with(code, msg));
        }
        return Ok(None);
    }
    if args.interactive && rec.config.tty && rec.config.stdin && !std::io::stdin().is_terminal() {
        return Err(exit_with(1, "the input device is not a TTY"));
    }
    let signals = Some(Signals::install()?);
    let detach_keys = parse_detach_keys(&args.detach_keys).map_err(|e| exit_with(1, e))?;
    let mut session = match Session::open_and_start(&mut client, &t.id, true).await? {
        Ok(s) => s,
        Err(refused) => {
            let (code, msg) = start_refused(&mut client, &t.id, refused).await?;
            return Err(exit_with(code, msg));
        }
    };
    let outcome = interact(
        &client,
        &mut session,
        Interaction {
            tty: rec.config.tty,
            stdin: rec.config.stdin && (args.interactive || rec.config.tty),
            detach_keys,
            signals,
        },
    )
    .await?;
    Ok(Some(match outcome {
        Outcome::Exited(s) => s.exit_code,
        Outcome::Ended => wait(&mut client, &t.id).await?.exit_code,
        Outcome::Detached => {
            println!("\n{}", t.id);
            0
        }
        Outcome::Signaled(sig) => 128 + sig,
    }))
}
