//! `ps` and `inspect`: read from the state directories, so they tell the
//! truth about containers whose shim has gone, and cost no RPC.

use std::path::Path;

use mydocker::state;
use serde_json::json;

use crate::containers::{ago, from_nanos, Record, Status, Target};

pub struct PsOptions {
    pub all: bool,
    pub quiet: bool,
    pub json: bool,
    pub filters: Filters,
    /// The N created last, whatever their state.
    pub last: Option<usize>,
    pub no_trunc: bool,
}

/// `--filter`s, as docker reads them: a key given twice matches either
/// value, different keys all must match.
#[derive(Debug, Default)]
pub struct Filters {
    status: Vec<String>,
    name: Vec<String>,
    id: Vec<String>,
}

impl Filters {
    pub fn parse(specs: &[String]) -> Result<Self, String> {
        let mut f = Self::default();
        for spec in specs {
            let Some((k, v)) = spec.split_once('=') else {
                return Err(format!(
                    "bad format of filter (expected name=value): {spec}"
                ));
            };
            match k {
                "status" => match v {
                    "created" | "running" | "paused" | "restarting" | "exited" | "dead" => {
                        f.status.push(v.into())
                    }
                    _ => {
                        return Err(format!(
                            "invalid filter 'status={v}': created, running, paused, restarting, exited or dead"
                        ))
                    }
                },
                "name" => f.name.push(v.into()),
                "id" => f.id.push(v.into()),
                _ => return Err(format!("invalid filter '{k}'")),
            }
        }
        Ok(f)
    }

    fn matches(&self, r: &Record) -> bool {
        let any = |v: &[String], f: &dyn Fn(&str) -> bool| v.is_empty() || v.iter().any(|x| f(x));
        any(&self.status, &|s| s == status_word(r))
            && any(&self.name, &|n| r.config.name.contains(n))
            && any(&self.id, &|i| r.id.starts_with(i))
    }
}

/// The STATUS column, in docker's words.
pub fn status_text(r: &Record) -> String {
    match r.status() {
        Status::Created => "Created".into(),
        Status::Running => {
            let since = if r.state.started_at > 0 {
                r.state.started_at
            } else {
                r.config.created_at
            };
            let up = format!("Up {}", ago(since).trim_end_matches(" ago"));
            if r.paused() {
                format!("{up} (Paused)")
            } else {
                up
            }
        }
        Status::Exited(e) if r.restarting() => {
            format!("Restarting ({}) {}", e.exit_code, ago(e.finished_at))
        }
        Status::Exited(e) => {
            let mut s = format!("Exited ({}) {}", e.exit_code, ago(e.finished_at));
            if e.oom_killed {
                s.push_str(" (OOM killed)");
            }
            s
        }
        Status::Dead => "Dead (its shim died; exit status unknown)".into(),
    }
}

/// docker's State.Status.
fn status_word(r: &Record) -> &'static str {
    match r.status() {
        Status::Created => "created",
        Status::Running if r.paused() => "paused",
        Status::Running => "running",
        Status::Exited(_) if r.restarting() => "restarting",
        Status::Exited(_) => "exited",
        Status::Dead => "dead",
    }
}

/// docker's COMMAND column: the command line, quoted, cut to 20 characters.
fn command_text(argv: &[String]) -> String {
    let line = argv.join(" ");
    let cut: String = line.chars().take(20).collect();
    if cut.len() < line.len() {
        format!("\"{}…\"", cut.chars().take(19).collect::<String>())
    } else {
        format!("\"{line}\"")
    }
}

pub fn ps(root: &Path, opts: PsOptions) -> anyhow::Result<i32> {
    // docker's: a status filter or -n shows what it names, running or
    // not.
    let all = opts.all || opts.last.is_some() || !opts.filters.status.is_empty();
    let mut records: Vec<Record> = Record::all(root)
        .into_iter()
        .filter(|r| all || r.status() == Status::Running || r.restarting())
        .filter(|r| opts.filters.matches(r))
        .collect();
    if let Some(n) = opts.last {
        // Newest first already.
        records.truncate(n);
    }
    let id_of = |r: &Record| {
        if opts.no_trunc {
            r.id.clone()
        } else {
            r.short_id().to_string()
        }
    };
    if opts.quiet {
        for r in &records {
            println!("{}", id_of(r));
        }
        return Ok(0);
    }
    if opts.json {
        for r in &records {
            let st = r.status();
            let line = json!({
                "ID": id_of(r),
                "Names": r.config.name,
                "Command": command_text(&r.config.argv),
                "CreatedAt": rfc3339(r.config.created_at),
                "RunningFor": ago(r.config.created_at),
                "Status": status_text(r),
                "State": status_word(r),
                "Pid": if matches!(st, Status::Running | Status::Created) { r.state.pid } else { 0 },
            });
            println!("{line}");
        }
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            let st = r.status();
            [
                id_of(r),
                r.config.name.clone(),
                if opts.no_trunc {
                    format!("\"{}\"", r.config.argv.join(" "))
                } else {
                    command_text(&r.config.argv)
                },
                ago(r.config.created_at),
                status_text(r),
                if matches!(st, Status::Running | Status::Created) {
                    r.state.pid.to_string()
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    let header = [
        "CONTAINER ID",
        "NAME",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PID",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let print = |cells: &[&str]| {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        println!("{}", line.trim_end());
    };
    print(&header);
    for row in &rows {
        print(&row.each_ref().map(|s| s.as_str()));
    }
    Ok(0)
}

fn rfc3339(n: i64) -> String {
    if n <= 0 {
        return String::new();
    }
    humantime::format_rfc3339_nanos(from_nanos(n)).to_string()
}

pub fn inspect_value(t: &Target) -> anyhow::Result<serde_json::Value> {
    let r = t.record()?;
    let st = r.status();
    let exit = r.exit.clone().unwrap_or_default();
    let c = &r.config;
    let finished = r.exit.as_ref().map(|e| rfc3339(e.finished_at));
    // docker's NetworkSettings, from the CNI record its shim keeps.
    let net = mydocker::cni::Record::read(&r.dir);
    let net_name = net
        .as_ref()
        .and_then(|n| mydocker::cni::NetworkList::parse(&n.conflist).ok())
        .map(|l| l.name);
    let ip = net
        .as_ref()
        .and_then(|n| n.result.as_ref())
        .and_then(|res| mydocker::cni::addresses(res).into_iter().next())
        .unwrap_or_default();
    let mut networks = serde_json::Map::new();
    if let Some(name) = net_name {
        networks.insert(name, json!({"IPAddress": ip}));
    }
    // docker's form: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}.
    let mut ports = serde_json::Map::new();
    let mappings = net
        .as_ref()
        .and_then(|n| n.attachment.runtime_config.get("portMappings").cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    for m in mappings {
        let key = format!(
            "{}/{}",
            m["containerPort"],
            m["protocol"].as_str().unwrap_or("tcp")
        );
        let host = json!({
            "HostIp": m["hostIP"].as_str().unwrap_or("0.0.0.0"),
            "HostPort": m["hostPort"].to_string(),
        });
        if let Some(serde_json::Value::Array(v)) = ports.get_mut(&key) {
            v.push(host);
        } else {
            ports.insert(key, json!([host]));
        }
    }
    Ok(json!({
        "NetworkSettings": {
            "IPAddress": ip,
            "Networks": networks,
            "Ports": ports,
        },
        "Id": r.id,
        "Name": c.name,
        "Created": rfc3339(c.created_at),
        "Path": c.argv.first(),
        // docker's: the image's id here, its name as given in Config.
        "Image": c.image_id,
        "Args": c.argv.get(1..).unwrap_or_default(),
        "Config": {
            "Image": c.image,
            "Cmd": c.argv,
            "Env": c.env,
            "WorkingDir": c.cwd,
            "Hostname": c.hostname,
            "Tty": c.tty,
            "OpenStdin": c.stdin,
            "Privileged": c.privileged,
            "AutoRemove": c.auto_remove,
            "Resources": c.limits,
        },
        // docker's names for the limits (`Config.Resources` has the API's).
        "HostConfig": {
            "Memory": c.limits.memory_limit_bytes,
            "NanoCpus": c.limits.nano_cpus,
            "CpuShares": c.limits.cpu_shares,
            "CpusetCpus": c.limits.cpuset_cpus,
            "CpusetMems": c.limits.cpuset_mems,
            "PidsLimit": c.limits.pids_limit,
            "CgroupParent": c.limits.cgroup_parent,
            "Privileged": c.privileged,
            "AutoRemove": c.auto_remove,
            "RestartPolicy": {
                "Name": if c.restart_policy.is_empty() { "no" } else { c.restart_policy.as_str() },
                "MaximumRetryCount": c.restart_max_retries,
            },
        },
        "RestartCount": r.restarts.count,
        "State": {
            "Status": status_word(&r),
            "Running": st == Status::Running,
            "Paused": r.paused(),
            "Restarting": r.restarting(),
            "Dead": st == Status::Dead,
            "Pid": if matches!(st, Status::Running | Status::Created) { r.state.pid } else { 0 },
            "ShimPid": if r.shim_alive { r.state.shim_pid } else { 0 },
            "ExitCode": r.exit.as_ref().map(|e| e.exit_code),
            "Signal": r.exit.as_ref().map(|e| e.signal),
            "OOMKilled": exit.oom_killed,
            "Error": exit.error,
            "StartedAt": rfc3339(r.state.started_at),
            "FinishedAt": finished,
        },
        // "host": the host's files, writable (with its own /proc, /dev,
        // /sys and cgroup over them); "rootfs" and "bundle": the caller's
        // directory; "overlay": an image's layers, and Path its own upper.
        "RootFs": {
            "Type": if c.root_kind.is_empty() { "host" } else { c.root_kind.as_str() },
            "Path": if c.root_path.is_empty() { "/" } else { c.root_path.as_str() },
            "ReadOnly": c.read_only,
        },
        "Paths": {
            "StateDir": r.dir,
            "Socket": r.dir.join("shim.sock"),
            "Log": r.dir.join(state::LOG_FILE),
            "ShimLog": r.dir.join(state::SHIM_LOG_FILE),
            "Cgroup": c.cgroup,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_and_cut() {
        assert_eq!(command_text(&["true".into()]), "\"true\"");
        assert_eq!(
            command_text(&["sh".into(), "-c".into(), "echo hello world; sleep 1".into()]),
            "\"sh -c echo hello wo…\""
        );
    }
}
