//! The measurements behind `bench/run` that need a client of our own: each
//! subcommand prints one JSON object on stdout.

use mydocker::ShimProcess as Child;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use mydocker::v1::{self, attach_request, attach_response};
use mydocker::ShimClient;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Parser)]
#[command(about = "mydocker benchmark client (run by bench/run)")]
struct Cli {
    /// State root for the benchmark's containers
    #[arg(long, default_value = "/run/mydocker-bench")]
    root: PathBuf,
    /// The mydocker-shim binary
    #[arg(long)]
    shim: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create+Start+Wait+Delete of /bin/true through the API, one client
    Latency {
        #[arg(long, default_value_t = 30)]
        runs: usize,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
    },
    /// RSS and PSS of idle shims (running `sleep`), for N containers
    Memory {
        #[arg(long, default_value_t = 100)]
        n: usize,
    },
    /// Bytes of container output through Attach to a client that drops them
    Throughput {
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        #[arg(long)]
        tty: bool,
    },
    /// The same bytes through a bare PTY, no shim: the baseline
    RawPty {
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
    },
    /// One byte in through Attach, its echo back from the PTY
    Rtt {
        #[arg(long, default_value_t = 200)]
        n: usize,
    },
    /// Start N `sleep` containers, measure, remove them all, check nothing is left
    Scale {
        #[arg(long)]
        n: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let b = Bench {
        root: cli.root,
        shim: mydocker::ShimCommand { program: cli.shim },
        n: 0,
    };
    let out = rt.block_on(async move {
        let mut b = b;
        match cli.cmd {
            Cmd::Latency { runs, warmup } => b.latency(runs, warmup).await,
            Cmd::Memory { n } => b.memory(n).await,
            Cmd::Throughput { bytes, tty } => b.throughput(bytes, tty).await,
            Cmd::RawPty { bytes } => raw_pty(bytes),
            Cmd::Rtt { n } => b.rtt(n).await,
            Cmd::Scale { n } => b.scale(n).await,
        }
    })?;
    println!("{out}");
    Ok(())
}

struct Bench {
    root: PathBuf,
    shim: mydocker::ShimCommand,
    n: usize,
}

struct Running {
    id: String,
    client: ShimClient,
    process: Child,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn req(argv: &[&str], id: &str, tty: bool) -> v1::CreateRequest {
    v1::CreateRequest {
        id: id.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        tty,
        stdin: tty,
        resources: Some(v1::Resources {
            cgroup_parent: "mydocker-bench".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Bench {
    fn next_id(&mut self) -> String {
        self.n += 1;
        format!("b{}-{}", std::process::id(), self.n)
    }

    async fn create(&mut self, argv: &[&str], tty: bool) -> anyhow::Result<Running> {
        let id = self.next_id();
        let spawned = mydocker::spawn_shim(&self.shim, &self.root, &id)?;
        let mut client = mydocker::connect(&spawned.socket).await?;
        client.create(req(argv, &id, tty)).await?;
        Ok(Running {
            id,
            client,
            process: spawned.process,
        })
    }

    async fn remove(mut r: Running) -> anyhow::Result<()> {
        let st = r
            .client
            .state(v1::StateRequest { id: r.id.clone() })
            .await?
            .into_inner();
        if st.status == v1::Status::Running as i32 {
            r.client
                .kill(v1::KillRequest {
                    id: r.id.clone(),
                    signal: 9,
                    all: false,
                    ..Default::default()
                })
                .await?;
            r.client
                .wait(v1::WaitRequest {
                    id: r.id.clone(),
                    ..Default::default()
                })
                .await?;
        }
        r.client
            .delete(v1::DeleteRequest {
                id: r.id.clone(),
                ..Default::default()
            })
            .await?;
        drop(r.client);
        reap(r.process).await;
        Ok(())
    }

    /// Create+Start+Wait+Delete of `/bin/true`, timed whole and by phase:
    /// the phases say where the time goes.
    async fn latency(&mut self, runs: usize, warmup: usize) -> anyhow::Result<serde_json::Value> {
        const PHASES: [&str; 6] = [
            "spawn+connect",
            "create",
            "start",
            "wait",
            "delete",
            "shim exit",
        ];
        let mut times = Vec::with_capacity(runs);
        let mut phases: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); PHASES.len()];
        for i in 0..runs + warmup {
            let t0 = Instant::now();
            let mut marks = Vec::with_capacity(PHASES.len());
            let id = self.next_id();
            let spawned = mydocker::spawn_shim(&self.shim, &self.root, &id)?;
            let mut client = mydocker::connect(&spawned.socket).await?;
            marks.push(Instant::now());
            client.create(req(&["/bin/true"], &id, false)).await?;
            marks.push(Instant::now());
            client
                .start(v1::StartRequest {
                    id: id.clone(),
                    ..Default::default()
                })
                .await?;
            marks.push(Instant::now());
            let st = client
                .wait(v1::WaitRequest {
                    id: id.clone(),
                    ..Default::default()
                })
                .await?;
            if st.into_inner().status.map(|s| s.exit_code) != Some(0) {
                bail!("/bin/true did not exit 0");
            }
            marks.push(Instant::now());
            client
                .delete(v1::DeleteRequest {
                    id: id.clone(),
                    ..Default::default()
                })
                .await?;
            marks.push(Instant::now());
            drop(client);
            reap(spawned.process).await;
            marks.push(Instant::now());
            if i >= warmup {
                times.push(t0.elapsed().as_secs_f64() * 1000.0);
                let mut prev = t0;
                for (p, m) in phases.iter_mut().zip(&marks) {
                    p.push((*m - prev).as_secs_f64() * 1000.0);
                    prev = *m;
                }
            }
        }
        let raw_times = times.clone();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut by_phase = serde_json::Map::new();
        let mut raw_phases = serde_json::Map::new();
        for (name, mut p) in PHASES.iter().zip(phases) {
            raw_phases.insert(name.to_string(), json!(p.clone()));
            p.sort_by(|a, b| a.partial_cmp(b).unwrap());
            by_phase.insert(name.to_string(), json!(percentile(&p, 0.5)));
        }
        Ok(json!({
            "runs": runs,
            "median_ms": percentile(&times, 0.5),
            "p90_ms": percentile(&times, 0.9),
            "phases_median_ms": by_phase,
            // Every run, for callers that pool several invocations.
            "times_ms": raw_times,
            "phases_ms": raw_phases,
        }))
    }

    async fn start_sleepers(&mut self, n: usize) -> anyhow::Result<Vec<Running>> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let mut r = self.create(&["sleep", "100000"], false).await?;
            r.client
                .start(v1::StartRequest {
                    id: r.id.clone(),
                    ..Default::default()
                })
                .await?;
            v.push(r);
        }
        Ok(v)
    }

    async fn memory(&mut self, n: usize) -> anyhow::Result<serde_json::Value> {
        let all = self.start_sleepers(n).await?;
        // Let start-up allocations settle, as for an idle container.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut pss_total = 0u64;
        let mut first = None;
        for r in &all {
            let (rss, pss) = smaps_rollup(r.process.id())?;
            pss_total += pss;
            first.get_or_insert((rss, pss));
        }
        let (rss1, pss1) = first.unwrap_or_default();
        for r in all {
            Self::remove(r).await?;
        }
        Ok(json!({
            "n": n,
            "shim_rss_kib": rss1,
            "shim_pss_kib": pss1,
            "pss_per_container_kib": pss_total as f64 / n.max(1) as f64,
        }))
    }

    async fn throughput(&mut self, bytes: u64, tty: bool) -> anyhow::Result<serde_json::Value> {
        let script = if tty {
            format!("stty raw -echo; head -c {bytes} /dev/zero")
        } else {
            format!("head -c {bytes} /dev/zero")
        };
        let mut r = self.create(&["sh", "-c", &script], tty).await?;
        let (mut out, _tx) = attach(&mut r.client, &r.id).await?;
        let t0 = Instant::now();
        r.client
            .start(v1::StartRequest {
                id: r.id.clone(),
                ..Default::default()
            })
            .await?;
        let mut got = 0u64;
        loop {
            match out.message().await?.context("stream ended early")?.msg {
                Some(attach_response::Msg::Stdout(b)) => got += b.len() as u64,
                Some(attach_response::Msg::Exit(_)) => break,
                Some(attach_response::Msg::Lagged(_)) => {
                    bail!("the client was dropped as a laggard")
                }
                _ => {}
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        Self::remove(r).await?;
        if got != bytes {
            bail!("got {got} bytes of {bytes}");
        }
        Ok(json!({ "bytes": bytes, "tty": tty, "mb_per_s": bytes as f64 / secs / 1e6 }))
    }

    async fn rtt(&mut self, n: usize) -> anyhow::Result<serde_json::Value> {
        // cat in raw mode echoes nothing itself: the echo is the line
        // discipline's, as when typing at a shell prompt.
        let mut r = self
            .create(&["sh", "-c", "stty -icanon; cat >/dev/null"], true)
            .await?;
        let (mut out, tx) = attach(&mut r.client, &r.id).await?;
        r.client
            .start(v1::StartRequest {
                id: r.id.clone(),
                ..Default::default()
            })
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut times = Vec::with_capacity(n);
        for i in 0..n + 20 {
            let key = b'a' + (i % 26) as u8;
            let t0 = Instant::now();
            tx.send(v1::AttachRequest {
                msg: Some(attach_request::Msg::Stdin(bytes::Bytes::copy_from_slice(
                    &[key],
                ))),
            })
            .await?;
            loop {
                match out.message().await?.context("stream ended")?.msg {
                    Some(attach_response::Msg::Stdout(b)) if b.contains(&key) => break,
                    Some(attach_response::Msg::Exit(_)) => bail!("exited"),
                    _ => {}
                }
            }
            if i >= 20 {
                times.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        drop(tx);
        Self::remove(r).await?;
        Ok(json!({
            "n": n,
            "median_ms": percentile(&times, 0.5),
            "p99_ms": percentile(&times, 0.99),
        }))
    }

    async fn scale(&mut self, n: usize) -> anyhow::Result<serde_json::Value> {
        let t0 = Instant::now();
        let all = self.start_sleepers(n).await?;
        let start_s = t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut pss_total = 0u64;
        for r in &all {
            pss_total += smaps_rollup(r.process.id())?.1;
        }
        let t1 = Instant::now();
        for r in all {
            Self::remove(r).await?;
        }
        let remove_s = t1.elapsed().as_secs_f64();
        let left = leftovers(&self.root);
        Ok(json!({
            "n": n,
            "start_s": start_s,
            "per_container_ms": start_s * 1000.0 / n as f64,
            "total_shim_pss_mib": pss_total as f64 / 1024.0,
            "remove_s": remove_s,
            "left": left,
        }))
    }
}

async fn attach(
    c: &mut ShimClient,
    id: &str,
) -> anyhow::Result<(
    tonic::Streaming<v1::AttachResponse>,
    tokio::sync::mpsc::Sender<v1::AttachRequest>,
)> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tx.send(v1::AttachRequest {
        msg: Some(attach_request::Msg::Open(v1::AttachOpen {
            id: id.into(),
            replay: false,
            ..Default::default()
        })),
    })
    .await?;
    let mut s = c.attach(ReceiverStream::new(rx)).await?.into_inner();
    match s.message().await?.and_then(|m| m.msg) {
        Some(attach_response::Msg::Attached(_)) => Ok((s, tx)),
        other => bail!("expected attached, got {other:?}"),
    }
}

/// Waits for a shim to exit, the moment it does: a pidfd is readable then
/// (polling /proc would add its period to every measured latency).
async fn reap(mut p: Child) {
    // SAFETY: pidfd_open(2) with integer arguments; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p.id() as libc::c_int, 0) };
    if fd >= 0 {
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: an OwnedFd stays open, and the same, while the AsyncFd owns it.
        if let Ok(afd) = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        } {
            let _ = afd.readable().await;
        }
    }
    let _ = p.wait();
}

/// (Rss, Pss) in KiB.
fn smaps_rollup(pid: u32) -> anyhow::Result<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("Rss:"), field("Pss:")))
}

/// What the scale run left: shim processes, state dirs, containers' cgroups
/// (below the parent, which stays as runc leaves docker's; bench/run
/// removes it at the end).
fn leftovers(root: &Path) -> Vec<String> {
    let mut left = Vec::new();
    if let Ok(d) = std::fs::read_dir(root) {
        left.extend(d.flatten().map(|e| format!("state {}", e.path().display())));
    }
    let me = std::process::id().to_string();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("mydocker-shim") && cmd.contains(&format!("--root {} ", root.display())) {
            left.push(format!("process {cmd}"));
        }
    }
    let hierarchies = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .chain([PathBuf::from("/sys/fs/cgroup")]);
    for h in hierarchies {
        let parent = h.join("mydocker-bench");
        let procs = std::fs::read_to_string(parent.join("cgroup.procs")).unwrap_or_default();
        if !procs.trim().is_empty() {
            left.push(format!("processes in cgroup {}", parent.display()));
        }
        let children = std::fs::read_dir(&parent).into_iter().flatten();
        for c in children.flatten().filter(|c| c.path().is_dir()) {
            left.push(format!("cgroup {}", c.path().display()));
        }
    }
    left
}

/// The baseline: the same bytes from the same command through a PTY that
/// this process reads directly, with no shim in between.
fn raw_pty(bytes: u64) -> anyhow::Result<serde_json::Value> {
    use std::os::unix::process::CommandExt;
    let pty = nix::pty::openpty(None, None)?;
    let slave = pty.slave;
    let master: OwnedFd = pty.master;
    let fd = slave.as_raw_fd();
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &format!("stty raw -echo; head -c {bytes} /dev/zero")]);
    // SAFETY: async-signal-safe calls only between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(fd, libc::TIOCSCTTY, 0);
            for t in 0..3 {
                libc::dup2(fd, t);
            }
            Ok(())
        });
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn()?;
    drop(slave);
    // SAFETY: we own the master and hand it to a File.
    let mut f = unsafe { std::fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    let mut buf = vec![0u8; 128 * 1024];
    let mut got = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    child.wait()?;
    if got != bytes {
        bail!("raw pty: got {got} of {bytes}");
    }
    Ok(json!({ "bytes": bytes, "mb_per_s": bytes as f64 / secs / 1e6 }))
}
