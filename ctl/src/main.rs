//! `mydockerctl`: runs containers through per-container mydocker shims.

mod args;
mod attach;
mod cli;
mod containers;
mod early;
mod error;
mod exec;
mod format;
mod images;
mod info;
mod logs;
mod names;
mod network;
mod ps;
mod run;
mod specargs;
mod stats;
mod terminal;
mod top;

use std::process::ExitCode;

use error::{one_line, Exit};

fn main() -> ExitCode {
    // First, so that the shim starts while we parse and build the runtime.
    let early = early::spawn_early();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(early) = early {
                early.abandon();
            }
            early::release_signals();
            unknown_flag(&e);
            usage_error(&e)
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

/// The command line. `create` shares `run`'s flags but for the three that
/// are about a client attached to a running container: not in its help,
/// and refused as docker refuses them (flags its `create` does not have).
fn parse() -> Result<args::Cli, clap::Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::parser::ValueSource;
    use clap::{CommandFactory, FromArgMatches};
    const RUN_ONLY: [(&str, &str); 3] = [
        ("detach", "-d"),
        ("detach_keys", "--detach-keys"),
        ("sig_proxy", "--sig-proxy"),
    ];
    let cmd = args::Cli::command().mut_subcommand("create", |mut c| {
        for (id, _) in RUN_ONLY {
            c = c.mut_arg(id, |a| a.hide(true));
        }
        c
    });
    let matches = cmd.try_get_matches()?;
    if let Some(("create", m)) = matches.subcommand() {
        for (id, flag) in RUN_ONLY {
            if m.value_source(id) == Some(ValueSource::CommandLine) {
                let mut e = clap::Error::new(ErrorKind::UnknownArgument);
                e.insert(ContextKind::InvalidArg, ContextValue::String(flag.into()));
                return Err(e);
            }
        }
    }
    args::Cli::from_arg_matches(&matches)
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
        see_help(subcommand_named());
        std::process::exit(125);
    }
}

/// A usage error, as docker says one: a line, and where the help is; exit
/// 125 for `run` and `create` (the container could not be made), 1
/// elsewhere. Help and version asked for, and a bare `mydockerctl`, print
/// to stdout and exit 0.
fn usage_error(e: &clap::Error) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // A closed stdout (`| head`) is not an error of ours.
            let _ =
                std::io::Write::write_fmt(&mut std::io::stdout(), format_args!("{}", e.render()));
            std::process::exit(0)
        }
        _ => {}
    }
    let sub = subcommand_named();
    if sub.is_none() && e.kind() == ErrorKind::MissingSubcommand {
        // Bare `mydockerctl`: its help, as docker's.
        let _ = <args::Cli as clap::CommandFactory>::command().print_help();
        std::process::exit(0)
    }
    let code = match sub.as_deref() {
        Some("run" | "create") => 125,
        _ => 1,
    };
    // clap's text: "error: WHAT", then details and a usage block; one
    // line of it, with the details of a list joined.
    let text = e.render().to_string();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("usage error");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let mut line = first.trim_end_matches(':').to_string();
    if first.ends_with(':') {
        let items: Vec<&str> = lines
            .take_while(|l| l.starts_with("  "))
            .map(str::trim)
            .collect();
        line = format!("{line}: {}", items.join(" "));
    }
    let stop = if line.ends_with('.') { "" } else { "." };
    eprintln!("mydockerctl: {line}{stop}");
    see_help(sub);
    std::process::exit(code)
}

fn see_help(sub: Option<String>) {
    match sub {
        Some(sub) => eprintln!("See 'mydockerctl {sub} --help'."),
        None => eprintln!("See 'mydockerctl --help'."),
    }
}

/// The subcommand the command line names: its first word that is not a
/// flag or the value of --root.
fn subcommand_named() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--root" {
            args.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        return Some(a);
    }
    None
}
