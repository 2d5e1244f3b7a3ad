//! `mydockerctl exec`: a command in a running container (docker's exec),
//! attached to our terminal or streams, exiting with its code.

use std::path::{Path, PathBuf};

use mydocker::v1;

use crate::args::ExecArgs;
use crate::attach::{Outcome, Session, Signals};
use crate::error::exit_with;
use crate::run::{expand_env, interact, Interaction};
use crate::specargs::user_and_home;
use crate::terminal::{parse_detach_keys, window_size};

/// docker's exit code when the exec could not be made (no such container,
/// not running): its CLI's for a daemon's error.
const EXIT_EXEC_REFUSED: i32 = 1;

/// docker's exit code for an exec whose command could not be started (not
/// found too: `docker run` says 127 there, `docker exec` 126), its user
/// not found, or its directory not there.
const EXIT_CANNOT_START: i32 = 126;

pub async fn exec(root: &Path, args: ExecArgs) -> anyhow::Result<i32> {
    let refused = |msg: String| exit_with(EXIT_EXEC_REFUSED, msg);
    let detach_keys = parse_detach_keys(&args.detach_keys).map_err(|e| refused(e.to_string()))?;
    if args.tty && args.interactive && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(refused("the input device is not a TTY".into()));
    }
    let t = crate::containers::resolve(root, &args.id)?;
    let mut client = t.connect().await?;
    let state = client
        .state(v1::StateRequest { id: t.id.clone() })
        .await
        .map_err(|s| t.status_error(s))?
        .into_inner();
    if state.status == v1::Status::Paused as i32 {
        return Err(exit_with(
            1,
            format!("Container {} is paused, unpause the container first", t.id),
        ));
    }
    if state.status != v1::Status::Running as i32 {
        return Err(refused(format!("Container {} is not running", t.id)));
    }
    // Names are the container's: its /etc/passwd, read through its root;
    // HOME is the user's, as docker sets it.
    let mut env = expand_env(&args.env);
    let user = match &args.user {
        Some(u) => {
            let root = PathBuf::from(format!("/proc/{}/root", state.pid));
            let (user, home) = user_and_home(u, Some(&root))
                .map_err(|e| exit_with(EXIT_CANNOT_START, e.to_string()))?;
            if !env.iter().any(|kv| kv.starts_with("HOME=")) {
                env.push(format!("HOME={home}"));
            }
            Some(user)
        }
        None => None,
    };
    let tty = args.tty;
    let terminal_size = tty
        .then(|| window_size(0).or_else(|| window_size(1)))
        .flatten()
        .map(|(rows, cols)| v1::WindowSize {
            rows: rows.into(),
            cols: cols.into(),
        });
    let request = v1::ExecRequest {
        id: t.id.clone(),
        exec_id: String::new(),
        argv: args.command.clone(),
        env,
        cwd: args.workdir.clone().unwrap_or_default(),
        user,
        tty,
        stdin: args.interactive,
        terminal_size,
    };
    let exec_id = client
        .exec(request)
        .await
        .map_err(|s| refused(s.message().to_string()))?
        .into_inner()
        .exec_id;
    if args.detach {
        return match client
            .start(v1::StartRequest {
                id: t.id.clone(),
                exec_id,
            })
            .await
        {
            Ok(_) => Ok(0),
            Err(s) => Err(refused(s.message().to_string())),
        };
    }
    let signals = Some(Signals::install()?);
    let mut session = match Session::exec_and_start(&mut client, &t.id, &exec_id).await? {
        Ok(s) => s,
        Err(s) => {
            // Could not be executed (its status has 126 or 127, as a
            // shell's; docker's exec says 126 for both), or the container
            // stopped meanwhile. Its status is published by then, or soon
            // (its process reaped): taken, then forgotten.
            let waited = wait(client.clone(), t.id.clone(), exec_id.clone());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), waited).await;
            forget(&mut client, &t.id, &exec_id).await;
            // The container stopped meanwhile: docker's words and code.
            let running = client
                .state(v1::StateRequest { id: t.id.clone() })
                .await
                .is_ok_and(|r| r.into_inner().status == v1::Status::Running as i32);
            if !running {
                return Err(refused(format!("Container {} is not running", t.id)));
            }
            let code = match s.code() {
                tonic::Code::FailedPrecondition => EXIT_CANNOT_START,
                _ => EXIT_EXEC_REFUSED,
            };
            return Err(exit_with(code, s.message()));
        }
    };
    let outcome = interact(
        &client,
        &mut session,
        Interaction {
            tty,
            stdin: args.interactive,
            detach_keys,
            signals,
        },
    )
    .await?;
    let code = match outcome {
        Outcome::Exited(s) => s.exit_code,
        Outcome::Ended => {
            wait(client.clone(), t.id.clone(), exec_id.clone())
                .await?
                .exit_code
        }
        // Still running: its record stays, for State and Wait.
        Outcome::Detached => return Ok(0),
        Outcome::Signaled(sig) => return Ok(128 + sig),
    };
    forget(&mut client, &t.id, &exec_id).await;
    Ok(code)
}

async fn wait(
    mut client: mydocker::ShimClient,
    id: String,
    exec_id: String,
) -> anyhow::Result<v1::ExitStatus> {
    client
        .wait(v1::WaitRequest { id, exec_id })
        .await
        .map_err(|s| exit_with(1, s.message().to_string()))?
        .into_inner()
        .status
        .ok_or_else(|| exit_with(1, "Wait answered no status"))
}

/// Deletes the record of an exec whose status we have, as docker forgets
/// its execs: a container probed by `exec` every few seconds does not pile
/// them up. (`-d`'s stay, for State.)
async fn forget(client: &mut mydocker::ShimClient, id: &str, exec_id: &str) {
    let _ = client
        .delete(v1::DeleteRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
        })
        .await;
}
