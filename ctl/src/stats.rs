//! `stats`: live usage from each container's cgroup, as a table that
//! refreshes every second, like `docker stats`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use mydocker::v1;

use crate::args::StatsArgs;
use crate::containers::{self, Record, Status, Target};

struct Sample {
    target: Target,
    name: String,
    stats: v1::StatsResponse,
}

async fn sample(t: &Target, name: &str) -> anyhow::Result<Sample> {
    let mut c = t.connect().await?;
    let stats = c
        .stats(v1::StatsRequest { id: t.id.clone() })
        .await
        .map_err(|s| t.status_error(s))?
        .into_inner();
    Ok(Sample {
        target: t.clone(),
        name: name.to_string(),
        stats,
    })
}

fn targets(root: &Path, ids: &[String]) -> anyhow::Result<Vec<(Target, String)>> {
    if ids.is_empty() {
        return Ok(Record::all(root)
            .into_iter()
            .filter(|r| r.status() == Status::Running)
            .map(|r| {
                let name = r.config.name.clone();
                (
                    Target {
                        id: r.id.clone(),
                        arg: r.id.clone(),
                        root: root.to_path_buf(),
                    },
                    name,
                )
            })
            .collect());
    }
    ids.iter()
        .map(|a| {
            let t = containers::resolve(root, a)?;
            let name = t.record().map(|r| r.config.name).unwrap_or_default();
            Ok((t, name))
        })
        .collect()
}

async fn take_all(list: &[(Target, String)]) -> Vec<anyhow::Result<Sample>> {
    let mut out = Vec::with_capacity(list.len());
    for (t, n) in list {
        out.push(sample(t, n).await);
    }
    out
}

/// Binary units, as docker stats shows them.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}B")
    } else {
        format!("{v:.2}{}", UNITS[i])
    }
}

/// CPU use between two samples, in percent of one CPU (docker's measure:
/// 200% is two CPUs busy).
pub fn cpu_percent(before: &v1::StatsResponse, after: &v1::StatsResponse) -> f64 {
    let used = after.cpu_usage_nanos.saturating_sub(before.cpu_usage_nanos) as f64;
    let wall = (after.read_at_unix_nanos - before.read_at_unix_nanos).max(1) as f64;
    used / wall * 100.0
}

fn table(before: &[anyhow::Result<Sample>], after: &[anyhow::Result<Sample>]) -> String {
    let mut rows = vec![[
        "CONTAINER ID".to_string(),
        "NAME".into(),
        "CPU %".into(),
        "MEM USAGE / LIMIT".into(),
        "MEM %".into(),
        "PIDS".into(),
        "THROTTLED".into(),
    ]];
    for (b, a) in before.iter().zip(after) {
        let (Ok(b), Ok(a)) = (b, a) else { continue };
        let s = &a.stats;
        let limit = if s.memory_limit_bytes > 0 {
            human_bytes(s.memory_limit_bytes)
        } else {
            "no limit".into()
        };
        let mem_pct = if s.memory_limit_bytes > 0 {
            format!(
                "{:.2}%",
                s.memory_usage_bytes as f64 / s.memory_limit_bytes as f64 * 100.0
            )
        } else {
            "--".into()
        };
        let pids = if s.pids_limit > 0 {
            format!("{} / {}", s.pids_current, s.pids_limit)
        } else {
            s.pids_current.to_string()
        };
        rows.push([
            a.target.id[..12.min(a.target.id.len())].to_string(),
            a.name.clone(),
            format!("{:.2}%", cpu_percent(&b.stats, s)),
            format!("{} / {}", human_bytes(s.memory_usage_bytes), limit),
            mem_pct,
            pids,
            format!("{:.2}s", s.cpu_throttled_nanos as f64 / 1e9),
        ]);
    }
    let mut widths = [0usize; 7];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub async fn stats(root: &Path, args: StatsArgs) -> anyhow::Result<i32> {
    let interval = if args.no_stream {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(1)
    };
    let mut list = targets(root, &args.ids)?;
    let mut before = take_all(&list).await;
    for (r, (t, _)) in before.iter().zip(&list) {
        if let Err(e) = r {
            if !args.ids.is_empty() {
                return Err(crate::error::exit_with(
                    1,
                    format!("{}: {}", t.arg, crate::error::one_line(e)),
                ));
            }
        }
    }
    loop {
        tokio::time::sleep(interval).await;
        let after = take_all(&list).await;
        let t = table(&before, &after);
        let mut out = std::io::stdout().lock();
        if args.no_stream {
            let _ = out.write_all(t.as_bytes());
            return Ok(0);
        }
        // Clear the screen and draw the table again, as docker stats does.
        let _ = write!(out, "\x1b[2J\x1b[H{t}");
        let _ = out.flush();
        if args.ids.is_empty() {
            list = targets(root, &args.ids)?;
            before = take_all(&list).await;
        } else {
            before = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_cpu() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.50KiB");
        assert_eq!(human_bytes(100 << 20), "100.00MiB");
        let a = v1::StatsResponse {
            cpu_usage_nanos: 0,
            read_at_unix_nanos: 0,
            ..Default::default()
        };
        let b = v1::StatsResponse {
            cpu_usage_nanos: 500_000_000,
            read_at_unix_nanos: 1_000_000_000,
            ..Default::default()
        };
        assert!((cpu_percent(&a, &b) - 50.0).abs() < 1e-9);
    }
}
