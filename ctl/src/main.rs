//! `mydockerctl`: runs containers through per-container mydocker shims.

mod attach;
mod cli;
mod containers;
mod logs;
mod names;
mod ps;
mod run;
mod stats;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

/// An error that ends the program with a given exit code. Everything else
/// is reported as exit code 1 (or 125 for `run`).
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    /// Printed as `Error: <message>` when not empty.
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// An error as one line: its context chain joined by ": ", leaving out a
/// cause whose text the line already holds (our error types print their
/// source themselves).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

pub fn exit_with(code: i32, message: impl Into<String>) -> anyhow::Error {
    Exit {
        code,
        message: message.into(),
    }
    .into()
}

fn main() -> ExitCode {
    // First, so that the shim starts while we parse and build the runtime.
    let early = run::spawn_early();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(early) = early {
                early.abandon();
            }
            run::release_signals();
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
