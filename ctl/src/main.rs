//! `mydockerctl`: runs containers through per-container mydocker shims.

mod args;
mod attach;
mod cli;
mod containers;
mod error;
mod exec;
mod logs;
mod names;
mod ps;
mod run;
mod specargs;
mod stats;
mod terminal;
mod top;

use std::process::ExitCode;

use clap::Parser;

use error::{one_line, Exit};

fn main() -> ExitCode {
    // First, so that the shim starts while we parse and build the runtime.
    let early = run::spawn_early();
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(early) = early {
                early.abandon();
            }
            run::release_signals();
            unknown_flag(&e);
            e.exit()
        }
    };
    let default_code = cli.command.failure_code();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            if let Some(early) = early {
                early.abandon();
            }
            eprintln!("Error: start runtime: {e}");
            return ExitCode::from(default_code as u8);
        }
    };
    let result = rt.block_on(cli::dispatch(cli, early));
    // Do not wait for the blocking stdin reader: it may be parked in read(2).
    rt.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let (code, message) = match e.downcast_ref::<Exit>() {
                Some(x) => (x.code, x.message.clone()),
                None => (default_code, one_line(&e)),
            };
            if !message.is_empty() {
                eprintln!("Error: {message}");
            }
            ExitCode::from(code.clamp(0, 255) as u8)
        }
    }
}

/// An unknown flag, as docker says it (and its exit code, 125): never
/// taken for the command's name.
fn unknown_flag(e: &clap::Error) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return;
    }
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        let flag = arg.split('=').next().unwrap_or(arg);
        eprintln!("unknown flag: {flag}");
        eprintln!("See 'mydockerctl --help'.");
        std::process::exit(125);
    }
}
