//! `leak-check`: lists everything of mydocker's left on this host, the same
//! check every test ends with. Exit status 1 when anything is left.
//!
//! With no option it looks host-wide: any `mydocker-shim` and what runs
//! under it, any cgroup named `mydocker*` in any hierarchy, anything in
//! /run/mydocker or /run/mydocker-bench, any test root (/tmp/md-*), and
//! mounts, sockets and open fds under those. Run it when nothing of ours
//! should be running.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use mydocker_integration::leaks::{self, Scope};

#[derive(Parser)]
#[command(about = "List what mydocker left on this host (exit 1 if anything)")]
struct Args {
    /// Look only at this state root (repeatable) instead of host-wide.
    #[arg(long)]
    root: Vec<PathBuf>,
    /// Look only for this cgroup, relative to each hierarchy's root
    /// (repeatable) instead of host-wide.
    #[arg(long)]
    cgroup: Vec<String>,
    /// Compare the host with the state saved by --save-baseline: its mount
    /// table, and (host-wide) the `mydocker*` cgroups there were, so that a
    /// new one is found even empty.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Save the host's mount table and `mydocker*` cgroups to FILE and exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["baseline", "clean"])]
    save_baseline: Option<PathBuf>,
    /// Keep looking for up to this many seconds until nothing is left.
    #[arg(long, default_value_t = 0.0)]
    wait: f64,
    /// Remove what is found (kill, unmount, rmdir, rm), then check again.
    #[arg(long)]
    clean: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(f) = &args.save_baseline {
        std::fs::write(f, leaks::Baseline::take().to_text())
            .with_context(|| format!("write {}", f.display()))?;
        return Ok(());
    }
    if let Some(bad) = args.cgroup.iter().find(|c| !leaks::is_cgroup_name(c)) {
        anyhow::bail!("--cgroup {bad:?}: must name a cgroup below a hierarchy's root");
    }
    let mut scope = if args.root.is_empty() && args.cgroup.is_empty() {
        Scope::host()
    } else {
        Scope {
            roots: args.root,
            cgroups: args.cgroup,
            ..Default::default()
        }
    };
    if let Some(f) = &args.baseline {
        let text = std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
        scope.baseline = Some(leaks::Baseline::parse(&text));
    }
    let wait = Duration::try_from_secs_f64(args.wait).context("--wait: a number of seconds")?;
    let mut left = leaks::wait_clean(&scope, wait);
    if args.clean && !left.is_empty() {
        for l in &left {
            println!("removing {l}");
        }
        leaks::clean(&scope);
        left = leaks::wait_clean(&scope, Duration::from_secs(2));
    }
    if left.is_empty() {
        eprintln!("leak-check: nothing left behind");
        return Ok(());
    }
    for l in &left {
        println!("{l}");
    }
    eprintln!("leak-check: {} thing(s) left behind", left.len());
    std::process::exit(1);
}
