//! `mydockerctl run`: spawn a shim, create, attach, start, wait, exit with
//! the container's code.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use mydocker::v1;
use mydocker::ShimClient;
use tonic::Code;

use crate::attach::{Session, Signals};
use crate::cli::RunArgs;
use crate::containers::wait_gone;
use crate::exit_with;

/// Docker's code for "the container could not be created or run".
const EXIT_RUN_FAILED: i32 = 125;

/// A new container id: 64 random hex digits, as docker's.
pub fn new_id() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("read /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// `-e KEY` takes KEY's value from our own environment, or is left out, as
/// docker does.
fn expand_env(env: &[String]) -> Vec<String> {
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

pub async fn run(root: &Path, args: RunArgs) -> anyhow::Result<i32> {
    let signals = if args.detach {
        None
    } else {
        Some(Signals::install()?)
    };
    let id = new_id()?;
    let shim = mydocker::ShimCommand::find()?;
    let spawned = mydocker::spawn_shim(&shim, root, &id)?;
    let mut process = spawned.process;
    let mut client = match mydocker::connect(&spawned.socket).await {
        Ok(c) => c,
        Err(e) => {
            let _ = process.kill();
            let _ = process.wait();
            let _ = std::fs::remove_dir_all(mydocker::shim_dir(root, &id));
            return Err(e.into());
        }
    };
    let create = v1::CreateRequest {
        id: id.clone(),
        argv: args.command.clone(),
        env: expand_env(&args.env),
        cwd: args.workdir.clone().unwrap_or_default(),
        hostname: args.hostname.clone().unwrap_or_default(),
        tty: false,
        stdin: args.interactive,
        terminal_size: None,
        resources: None,
        name: args.name.clone().unwrap_or_default(),
    };
    if let Err(s) = client.create(create).await {
        // Nothing was created: let the shim go, and take its directory with it.
        let _ = client.shutdown(v1::ShutdownRequest {}).await;
        let _ = process.wait();
        return Err(exit_with(EXIT_RUN_FAILED, s.message()));
    }

    if args.detach {
        let code = start(&mut client, &id).await?;
        return match code {
            None => {
                println!("{id}");
                Ok(0)
            }
            Some((code, msg)) => {
                if args.rm {
                    delete(&mut client, &id, &mut process).await;
                }
                Err(exit_with(code, msg))
            }
        };
    }

    let mut session = Session::open(&mut client, &id, false).await?;
    if let Some((code, msg)) = start(&mut client, &id).await? {
        if args.rm {
            delete(&mut client, &id, &mut process).await;
        }
        return Err(exit_with(code, msg));
    }
    if args.interactive {
        session.forward_stdin();
    }
    let status = match session.copy_output(&client, signals).await? {
        Some(s) => s,
        None => wait(&mut client, &id).await?,
    };
    if args.rm {
        delete(&mut client, &id, &mut process).await;
    }
    Ok(status.exit_code)
}

/// Starts the container. `Some((code, message))` when its command could not
/// be executed: the code is the one the container exited with (126, 127).
async fn start(client: &mut ShimClient, id: &str) -> anyhow::Result<Option<(i32, String)>> {
    match client.start(v1::StartRequest { id: id.to_string() }).await {
        Ok(_) => Ok(None),
        Err(s) if s.code() == Code::FailedPrecondition => {
            let status = wait(client, id).await?;
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
            Ok(Some((code, msg)))
        }
        Err(s) => Err(exit_with(EXIT_RUN_FAILED, s.message())),
    }
}

async fn wait(client: &mut ShimClient, id: &str) -> anyhow::Result<v1::ExitStatus> {
    client
        .wait(v1::WaitRequest { id: id.to_string() })
        .await
        .map_err(|s| exit_with(EXIT_RUN_FAILED, s.message()))?
        .into_inner()
        .status
        .context("Wait answered no status")
}

/// `--rm`: deletes the container and waits for its shim to be gone.
async fn delete(client: &mut ShimClient, id: &str, process: &mut std::process::Child) {
    if let Err(s) = client
        .delete(v1::DeleteRequest { id: id.to_string() })
        .await
    {
        eprintln!("Error: removing container {id}: {}", s.message());
        return;
    }
    // Polled, not a blocking wait(): the runtime must stay free to answer
    // the shim's GOAWAY, or the shim waits for us while we wait for it.
    wait_gone(process.id()).await;
    let _ = process.wait();
}
