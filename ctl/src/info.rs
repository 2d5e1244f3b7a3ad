//! `version` and `info`: what is installed and where, in docker's layout
//! (a client part, a server part), read from the machine and the state
//! root, with no shim running.

use std::path::Path;

use crate::containers::{Record, Status};

/// The shim this mydockerctl starts, and its own `--version`.
fn shim() -> (String, String) {
    match mydocker::ShimCommand::find() {
        Ok(c) => {
            let v = std::process::Command::new(&c.program)
                .arg("--version")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            (c.program.display().to_string(), v)
        }
        Err(e) => (format!("not found ({e})"), String::new()),
    }
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

pub fn version() -> anyhow::Result<i32> {
    let (path, v) = shim();
    println!("Client:");
    println!(" Version:      {}", env!("CARGO_PKG_VERSION"));
    println!(" API:          mydocker.shim.v1");
    println!();
    println!("Server (a shim per container):");
    println!(" Shim:         {path}");
    println!(
        " Version:      {}",
        v.strip_prefix("mydocker-shim ").unwrap_or(&v)
    );
    println!(" Kernel:       {}", kernel());
    Ok(0)
}

pub fn info(root: &Path) -> anyhow::Result<i32> {
    let records = Record::all(root);
    let count = |f: &dyn Fn(&Status) -> bool| records.iter().filter(|r| f(&r.status())).count();
    let (path, _) = shim();
    println!("Containers: {}", records.len());
    println!(" Running: {}", count(&|s| *s == Status::Running));
    println!(" Created: {}", count(&|s| *s == Status::Created));
    println!(
        " Stopped: {}",
        count(&|s| matches!(s, Status::Exited(_) | Status::Dead))
    );
    println!("Cgroup Driver: cgroupfs");
    println!("Cgroup Version: {}", cgroup_version());
    println!("Kernel Version: {}", kernel());
    println!("Root Dir: {}", root.display());
    println!("Shim: {path}");
    Ok(0)
}
