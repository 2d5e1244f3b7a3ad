//! What each command does: the dispatch from parsed arguments to the
//! modules that carry it out.

use mydocker::v1;

use crate::args::{parse_signal, Cli, Command, NetworkCommand};
use crate::containers::{self, Target};
use crate::error::{exit_with, one_line};
use crate::{early, logs, ps, run, stats};

/// Runs the command. `early` is the shim [`early::spawn_early`] made for a
/// `run` or `create`.
pub async fn dispatch(cli: Cli, early: Option<early::EarlyShim>) -> anyhow::Result<i32> {
    let root = cli.root;
    let data_root = cli.data_root;
    let early = match (&cli.command, early) {
        (Command::Run(_) | Command::Create(_), e) => e,
        (_, e) => {
            if let Some(e) = e {
                e.abandon();
            }
            None
        }
    };
    if !matches!(&cli.command, Command::Run(_) | Command::Create(_)) {
        // No shim of ours exists: nothing to hold signals back for.
        early::release_signals();
    }
    match cli.command {
        Command::Run(args) => run::run(&root, &data_root, args, early).await,
        Command::Create(args) => {
            let early = early::unless_interrupted(early);
            let early = match run::pull_first(&data_root, &args, early).await {
                Ok(e) => e,
                Err(e) => {
                    early::release_signals();
                    return Err(e);
                }
            };
            // Held back until the container is made or nothing is left.
            let created = run::create(&root, &data_root, &args, early, run::How::Create).await;
            early::release_signals();
            let created = created?;
            println!("{}", created.id);
            Ok(0)
        }
        Command::Start(args) => run::start_cmd(&root, args).await,
        Command::Ps(args) => ps::ps(
            &root,
            ps::PsOptions {
                all: args.all,
                quiet: args.quiet,
                json: args.format == "json",
                filters: ps::Filters::parse(&args.filters).map_err(|e| exit_with(1, e))?,
                last: if args.latest { Some(1) } else { args.last },
                no_trunc: args.no_trunc,
            },
        ),
        Command::Inspect(args) => {
            let mut values = Vec::new();
            let mut failed = false;
            for arg in &args.ids {
                match containers::resolve(&root, arg).and_then(|t| ps::inspect_value(&t)) {
                    Ok(v) => values.push(v),
                    Err(e) => {
                        eprintln!("Error: {}", one_line(&e));
                        failed = true;
                    }
                }
            }
            match &args.format {
                // One line a container, as docker's.
                Some(f) => {
                    for v in &values {
                        let line =
                            crate::format::render(f, v).map_err(|e| exit_with(1, one_line(&e)))?;
                        println!("{line}");
                    }
                }
                None => println!("{}", serde_json::to_string_pretty(&values)?),
            }
            if failed {
                Err(exit_with(1, ""))
            } else {
                Ok(0)
            }
        }
        Command::Logs(args) => {
            let now = std::time::SystemTime::now();
            let time = |v: &Option<String>| {
                v.as_deref()
                    .map(|s| logs::parse_time(s, now))
                    .transpose()
                    .map_err(|e| exit_with(1, e))
            };
            let tail = match args.tail.as_str() {
                "all" => None,
                n => Some(n.parse::<usize>().map_err(|_| {
                    exit_with(1, format!("invalid --tail {n:?}: a number or \"all\""))
                })?),
            };
            let t = containers::resolve(&root, &args.id)?;
            logs::logs(
                &t,
                logs::LogsOptions {
                    follow: args.follow,
                    tail,
                    timestamps: args.timestamps,
                    since: time(&args.since)?,
                    until: time(&args.until)?,
                },
            )
            .await?;
            Ok(0)
        }
        Command::Stop(args) => {
            let grace = std::time::Duration::from_secs(args.time);
            for_each(&root, &args.ids, |t| async move {
                containers::stop(&t, grace).await?;
                println!("{}", t.arg);
                Ok(())
            })
            .await
        }
        Command::Kill(args) => {
            let signal = parse_signal(&args.signal)?;
            for_each(&root, &args.ids, |t| async move {
                // Restarting, the Kill ends its policy, as docker's does.
                let rec = t.record()?;
                if rec.status() != containers::Status::Running && !rec.restarting() {
                    anyhow::bail!("cannot kill container {}: container is not running", t.arg);
                }
                let mut c = t.connect().await?;
                c.kill(v1::KillRequest {
                    id: t.id.clone(),
                    signal,
                    all: false,
                    ..Default::default()
                })
                .await
                .map(drop)
                .or_else(|s| match s.code() {
                    tonic::Code::FailedPrecondition if rec.restarting() => Ok(()),
                    _ => Err(t.status_error(s)),
                })?;
                println!("{}", t.arg);
                Ok(())
            })
            .await
        }
        Command::Wait(args) => {
            for_each(&root, &args.ids, |t| async move {
                let code = containers::wait_exit(&t).await?;
                println!("{code}");
                Ok(())
            })
            .await
        }
        Command::Rm(args) => {
            let force = args.force;
            for_each(&root, &args.ids, |t| async move {
                containers::remove(&t, force).await?;
                println!("{}", t.arg);
                Ok(())
            })
            .await
        }
        Command::Attach(args) => run::attach(&root, args).await,
        Command::Exec(args) => crate::exec::exec(&root, args).await,
        Command::Top(args) => crate::top::top(&root, args),
        Command::Version => crate::info::version(),
        Command::Info => crate::info::info(&root),
        Command::Stats(args) => stats::stats(&root, args).await,
        Command::Load(args) => {
            crate::images::load_cmd(&data_root, args.input.as_deref(), args.quiet)
        }
        Command::Save(args) => {
            crate::images::save_cmd(&data_root, &args.images, args.output.as_deref())
        }
        Command::Images(args) => {
            crate::images::images_cmd(&data_root, args.quiet, args.format == "json", args.no_trunc)
        }
        Command::Pull(args) => {
            crate::images::pull::pull_cmd(&data_root, &args.name, &args.insecure, args.quiet)
                .await
                .map_err(|e| exit_with(1, one_line(&e)))
        }
        Command::Rmi(args) => crate::images::rmi_cmd(&data_root, &args.images, args.force),
        Command::Network(n) => match n {
            NetworkCommand::Create(a) => crate::network::create_cmd(&data_root, &a),
            NetworkCommand::Ls(a) => crate::network::ls_cmd(&data_root, a.quiet),
            NetworkCommand::Rm(a) => crate::network::rm_cmd(&root, &data_root, &a.names),
            NetworkCommand::Inspect(a) => crate::network::inspect_cmd(&data_root, &a.names),
        },
        Command::Pause(args) => pause_all(&root, &args.ids, true).await,
        Command::Unpause(args) => pause_all(&root, &args.ids, false).await,
        Command::Rename(args) => {
            let t = containers::resolve(&root, &args.id)?;
            if t.record()?.status() == containers::Status::Dead {
                anyhow::bail!("cannot rename container {}: its shim is gone", t.arg);
            }
            let mut c = t.connect().await?;
            c.rename(v1::RenameRequest {
                id: t.id.clone(),
                name: args.name,
            })
            .await
            .map_err(|s| t.status_error(s))?;
            Ok(0)
        }
        Command::Update(args) => {
            let res = args.limits.to_resources("")?;
            if res == (v1::Resources::default()) {
                return Err(exit_with(1, "update needs at least one limit to change"));
            }
            for_each(&root, &args.ids, |t| {
                let res = res.clone();
                async move {
                    let mut c = t.connect().await?;
                    c.update(v1::UpdateRequest {
                        id: t.id.clone(),
                        resources: Some(res),
                    })
                    .await
                    .map_err(|s| t.status_error(s))?;
                    println!("{}", t.arg);
                    Ok(())
                }
            })
            .await
        }
    }
}

/// `pause` (`on`) or `unpause` of each named container.
async fn pause_all(root: &std::path::Path, ids: &[String], on: bool) -> anyhow::Result<i32> {
    for_each(root, ids, |t| async move {
        if t.record()?.status() != containers::Status::Running {
            anyhow::bail!("Container {} is not running", t.arg);
        }
        let mut c = t.connect().await?;
        let done = match on {
            true => c
                .pause(v1::PauseRequest { id: t.id.clone() })
                .await
                .map(drop),
            false => c
                .resume(v1::ResumeRequest { id: t.id.clone() })
                .await
                .map(drop),
        };
        done.map_err(|s| t.status_error(s))?;
        println!("{}", t.arg);
        Ok(())
    })
    .await
}

/// Runs `f` for each named container, reporting failures one per line as
/// docker does and carrying on with the rest; exits 1 if any failed.
async fn for_each<F, Fut>(root: &std::path::Path, ids: &[String], f: F) -> anyhow::Result<i32>
where
    F: Fn(Target) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut failed = false;
    for arg in ids {
        let r = match containers::resolve(root, arg) {
            Ok(t) => f(t).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => {}
            Err(e) => {
                failed = true;
                eprintln!("Error: {}", one_line(&e));
            }
        }
    }
    if failed {
        Err(exit_with(1, ""))
    } else {
        Ok(0)
    }
}
