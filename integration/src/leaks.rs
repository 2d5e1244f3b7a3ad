//! The leak check: everything of ours a run can leave on a host. One
//! implementation, used by every test (`TestRoot::finish`), by the
//! `leak-check` command that developers and CI run, and inside the cgroup
//! v2 guest.
//!
//! It looks for processes (shims and whatever runs under them), cgroups in
//! every mounted hierarchy, mounts (under a state root, and any change to
//! the host's mount table when given a baseline), Unix sockets bound under
//! a state root, state directories, and open file descriptors of any
//! process that point into a state root.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// State roots. With `host_wide`, existing test roots are leaks too.
    pub roots: Vec<PathBuf>,
    /// Cgroup parents, relative to each hierarchy's root: any cgroup below
    /// one (a container's) is a leak, and so is a process in one. The parent
    /// itself, empty, is not: the shim leaves it, as runc leaves docker's
    /// (`clean` removes it).
    pub cgroups: Vec<String>,
    /// Also: any `mydocker-shim` process, any cgroup parent named
    /// `mydocker*` up to three levels deep (as above), and any test root
    /// (`/tmp/md-*`) still there.
    pub host_wide: bool,
    /// The host as it was before (`Baseline::take`): any change to its mount
    /// table is a leak, and so, host-wide, is a `mydocker*` cgroup parent
    /// that was not there, even empty (a test that used the default parent
    /// instead of its own).
    pub baseline: Option<Baseline>,
}

/// What a leak check compares with: the host before anything of ours ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// `mount_table()`.
    pub mounts: String,
    /// The `mydocker*` cgroups found host-wide.
    pub parents: BTreeSet<PathBuf>,
}

/// Separates the two parts of a saved baseline: no mount table line is
/// empty.
const BASELINE_SEPARATOR: &str = "\n\n";

impl Baseline {
    pub fn take() -> Self {
        let host = Scope {
            host_wide: true,
            ..Default::default()
        };
        Self {
            mounts: mount_table(),
            parents: cgroup_dirs_of(&host).into_iter().collect(),
        }
    }

    /// The form `leak-check --save-baseline` writes.
    pub fn to_text(&self) -> String {
        let parents: Vec<String> = self
            .parents
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        format!("{}{BASELINE_SEPARATOR}{}", self.mounts, parents.join("\n"))
    }

    pub fn parse(text: &str) -> Self {
        let (mounts, parents) = text.split_once(BASELINE_SEPARATOR).unwrap_or((text, ""));
        Self {
            mounts: mounts.to_string(),
            parents: parents
                .lines()
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// The default root of `mydockerctl`, and the benchmark's (its tmpfs, and
/// the root it measures on /run itself where /run is not a tmpfs).
pub const HOST_ROOTS: [&str; 3] = [
    "/run/mydocker",
    "/run/mydocker-bench",
    "/run/mydocker-bench-disk",
];
/// Test roots are `/tmp/md-<name>-<pid>-<n>` (see `TestRoot::new`).
const TEST_ROOT_PREFIX: &str = "/tmp/md-";

impl Scope {
    /// Everything of ours on this host: for CI's last check, and for
    /// developers when nothing of ours should be running.
    pub fn host() -> Self {
        let mut roots: Vec<PathBuf> = HOST_ROOTS.iter().map(PathBuf::from).collect();
        roots.extend(test_roots());
        Self {
            roots,
            cgroups: Vec::new(),
            host_wide: true,
            baseline: None,
        }
    }

    /// One state root and one cgroup parent: what a single test owns.
    pub fn test(root: &Path, cgroup: &str) -> Self {
        Self {
            roots: vec![root.to_path_buf()],
            cgroups: vec![cgroup.to_string()],
            host_wide: false,
            baseline: None,
        }
    }
}

/// One thing left behind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Leak {
    Process {
        pid: i32,
        cmdline: String,
    },
    Cgroup {
        path: PathBuf,
        procs: usize,
    },
    Mount(String),
    MountTableChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    Socket(String),
    State(PathBuf),
    Fd {
        pid: i32,
        comm: String,
        fd: String,
        target: PathBuf,
    },
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leak::Process { pid, cmdline } => write!(f, "process {pid}: {cmdline}"),
            Leak::Cgroup { path, procs } => {
                write!(f, "cgroup {} ({procs} processes)", path.display())
            }
            Leak::Mount(m) => write!(f, "mount {m}"),
            Leak::MountTableChanged { added, removed } => {
                write!(f, "the host's mount table changed:")?;
                for a in added {
                    write!(f, "\n    + {a}")?;
                }
                for r in removed {
                    write!(f, "\n    - {r}")?;
                }
                Ok(())
            }
            Leak::Socket(s) => write!(f, "socket {s}"),
            Leak::State(p) => write!(f, "state {}", p.display()),
            Leak::Fd {
                pid,
                comm,
                fd,
                target,
            } => write!(
                f,
                "fd {fd} of process {pid} ({comm}) -> {}",
                target.display()
            ),
        }
    }
}

/// Everything `scope` finds now.
pub fn find(scope: &Scope) -> Vec<Leak> {
    let mut leaks = Vec::new();
    leaks.extend(processes(scope));
    leaks.extend(cgroups(scope));
    leaks.extend(mounts(scope));
    leaks.extend(sockets(scope));
    leaks.extend(state(scope));
    leaks.extend(fds(scope));
    leaks.sort();
    leaks
}

/// `find` until it is empty or `timeout` passes: processes take a moment to
/// be reaped and cgroups to be removed after the last request returns.
pub fn wait_clean(scope: &Scope, timeout: Duration) -> Vec<Leak> {
    let deadline = Instant::now() + timeout;
    loop {
        let leaks = find(scope);
        if leaks.is_empty() || Instant::now() >= deadline {
            return leaks;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes what `scope` covers: kills the processes, unmounts mounts under
/// the roots, removes the cgroups, and the roots' contents (a test root
/// itself too). What cannot be removed is left for `find` to report.
pub fn clean(scope: &Scope) {
    let kill = |pid: i32| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    };
    for l in processes(scope) {
        if let Leak::Process { pid, .. } = l {
            kill(pid);
        }
    }
    let spared = self_and_ancestors();
    for dir in cgroup_dirs_of(scope) {
        for d in subtree(&dir).iter().rev() {
            for pid in cgroup_procs(d) {
                if pid > 1 && !spared.contains(&pid) {
                    kill(pid);
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes(scope).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for m in mount_points_under(&scope.roots).iter().rev() {
        let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
    }
    for dir in cgroup_dirs_of(scope) {
        // Deepest first; a cgroup whose last process is still exiting is
        // busy for a moment.
        for d in subtree(&dir).iter().rev() {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    for root in &scope.roots {
        let own_root = !scope.host_wide || is_test_root(root);
        if own_root {
            let _ = std::fs::remove_dir_all(root);
        } else if let Ok(rd) = std::fs::read_dir(root) {
            for e in rd.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The host's mount table (PID 1's), without the mount ids that the kernel
/// reuses, sorted: equal tables compare equal.
pub fn mount_table() -> String {
    let mut lines: Vec<String> = std::fs::read_to_string("/proc/1/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').skip(3).collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines.join("\n")
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

fn test_roots() -> Vec<PathBuf> {
    let dir = Path::new(TEST_ROOT_PREFIX).parent().unwrap();
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| is_test_root(p))
                .collect()
        })
        .unwrap_or_default()
}

/// `/tmp/md-<name>-<pid>-<n>` exactly: another tool's `/tmp/md-...` is
/// not ours to report or remove.
fn is_test_root(p: &Path) -> bool {
    let p = p.to_string_lossy();
    let Some(rest) = p.strip_prefix(TEST_ROOT_PREFIX) else {
        return false;
    };
    let mut parts = rest.rsplitn(3, '-');
    let (n, pid, name) = (parts.next(), parts.next(), parts.next());
    let digits =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    digits(n) && digits(pid) && name.is_some_and(|n| !n.is_empty() && !n.contains('/'))
}

/// This process and its ancestors: never reported, never killed (a
/// `sudo leak-check --root R` has R in its wrapper's command line too).
fn self_and_ancestors() -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    let mut pid = std::process::id() as i32;
    while pid > 0 && out.insert(pid) {
        pid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
    }
    out
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

fn is_live(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Shims of the scope (their command line names a root, or, host-wide, any
/// `mydocker-shim`), and every live process under them.
pub fn processes(scope: &Scope) -> Vec<Leak> {
    let spared = self_and_ancestors();
    let roots: Vec<String> = scope
        .roots
        .iter()
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
    let mut found = BTreeSet::new();
    let mut stack = Vec::new();
    for pid in pids() {
        if spared.contains(&pid) {
            continue;
        }
        let Some(argv) = cmdline(pid) else { continue };
        let is_shim = argv
            .first()
            .is_some_and(|a0| a0.rsplit('/').next() == Some("mydocker-shim"));
        // `--root <root>` or `--root=<root>`, as shims are started.
        let names_root = is_shim
            && argv.iter().enumerate().any(|(i, a)| {
                roots.iter().any(|r| {
                    (a == r && i > 0 && argv[i - 1] == "--root")
                        || a.strip_prefix("--root=") == Some(r.as_str())
                })
            });
        if (names_root || (scope.host_wide && is_shim)) && is_live(pid) {
            stack.push(pid);
        }
    }
    while let Some(pid) = stack.pop() {
        if !spared.contains(&pid) && found.insert(pid) {
            stack.extend(children(pid).into_iter().filter(|c| is_live(*c)));
        }
    }
    found
        .into_iter()
        .map(|pid| Leak::Process {
            pid,
            cmdline: cmdline(pid).unwrap_or_default().join(" "),
        })
        .collect()
}

fn cgroup_dirs_of(scope: &Scope) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for m in cgroup_mounts() {
        for c in scope.cgroups.iter().filter(|c| is_cgroup_name(c)) {
            let d = m.join(c.trim_start_matches('/'));
            if d.is_dir() {
                dirs.push(d);
            }
        }
        if scope.host_wide {
            named_like(&m, "mydocker", 3, &mut dirs);
        }
    }
    dirs.sort();
    dirs.dedup();
    // A cgroup inside another found one is reported with it.
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|o| o != d && d.starts_with(o)));
    dirs
}

/// A cgroup below a hierarchy's root: no empty, `.` or `..` component, so
/// that no scope can name a root (and `clean` kill the whole host).
pub fn is_cgroup_name(c: &str) -> bool {
    let c = c.trim_matches('/');
    !c.is_empty() && c.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
}

fn named_like(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name().to_string_lossy().starts_with(prefix) {
            out.push(e.path());
        } else {
            named_like(&e.path(), prefix, depth - 1, out);
        }
    }
}

/// `dir` and every cgroup below it, parents before children.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = std::fs::read_dir(&out[i]) {
            let mut kids: Vec<PathBuf> = rd
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            kids.sort();
            out.extend(kids);
        }
        i += 1;
    }
    out
}

fn cgroup_procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The cgroups below the parents, and a parent that holds processes itself.
fn cgroups(scope: &Scope) -> Vec<Leak> {
    let procs_in = |d: &Path| subtree(d).iter().map(|d| cgroup_procs(d).len()).sum();
    let mut leaks = Vec::new();
    for parent in cgroup_dirs_of(scope) {
        let own = cgroup_procs(&parent).len();
        let new = scope.host_wide
            && scope
                .baseline
                .as_ref()
                .is_some_and(|b| !b.parents.contains(&parent));
        if own > 0 || new {
            leaks.push(Leak::Cgroup {
                path: parent.clone(),
                procs: own,
            });
        }
        // Each child with its own subtree: a container's cgroup.
        for child in subtree(&parent).into_iter().skip(1) {
            if child.parent() == Some(parent.as_path()) {
                let procs = procs_in(&child);
                leaks.push(Leak::Cgroup { path: child, procs });
            }
        }
    }
    leaks
}

/// Mount points under any root, in our mount namespace and the host's.
fn mount_points_under(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    for table in ["/proc/self/mountinfo", "/proc/1/mountinfo"] {
        for l in std::fs::read_to_string(table).unwrap_or_default().lines() {
            let Some(mp) = l.split(' ').nth(4) else {
                continue;
            };
            let mp = PathBuf::from(mp);
            if roots.iter().any(|r| mp.starts_with(r)) {
                out.insert(mp);
            }
        }
    }
    out.into_iter().collect()
}

fn mounts(scope: &Scope) -> Vec<Leak> {
    let mut leaks: Vec<Leak> = mount_points_under(&scope.roots)
        .into_iter()
        .map(|m| Leak::Mount(m.display().to_string()))
        .collect();
    if let Some(before) = scope.baseline.as_ref().map(|b| &b.mounts) {
        let now = mount_table();
        if &now != before {
            let b: BTreeSet<&str> = before.lines().collect();
            let n: BTreeSet<&str> = now.lines().collect();
            leaks.push(Leak::MountTableChanged {
                added: n.difference(&b).map(|s| s.to_string()).collect(),
                removed: b.difference(&n).map(|s| s.to_string()).collect(),
            });
        }
    }
    leaks
}

/// Unix sockets still bound to a path under a root (a socket outlives its
/// file; /proc/net/unix still names it).
fn sockets(scope: &Scope) -> Vec<Leak> {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let mut out = BTreeSet::new();
    for l in table.lines().skip(1) {
        // Num RefCount Protocol Flags Type St Inode [Path]
        let Some(path) = l.split_whitespace().nth(7) else {
            continue;
        };
        if scope.roots.iter().any(|r| Path::new(path).starts_with(r)) {
            out.insert(path.to_string());
        }
    }
    out.into_iter().map(Leak::Socket).collect()
}

/// Anything inside a root; host-wide, a test root that still exists.
fn state(scope: &Scope) -> Vec<Leak> {
    let mut out = Vec::new();
    for root in &scope.roots {
        if scope.host_wide && is_test_root(root) {
            if root.exists() {
                out.push(Leak::State(root.clone()));
            }
            continue;
        }
        if let Ok(rd) = std::fs::read_dir(root) {
            let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            out.extend(entries.into_iter().map(Leak::State));
        }
    }
    out
}

/// Open descriptors of any process (this one included) that point into a
/// root: a log or socket someone forgot to close.
fn fds(scope: &Scope) -> Vec<Leak> {
    let mut out = Vec::new();
    for pid in pids() {
        let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(target) = std::fs::read_link(e.path()) else {
                continue;
            };
            // A deleted file reads as "<path> (deleted)": still ours.
            let path = target.to_string_lossy();
            let path = Path::new(path.trim_end_matches(" (deleted)"));
            if scope.roots.iter().any(|r| path.starts_with(r)) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                out.push(Leak::Fd {
                    pid,
                    comm,
                    fd: e.file_name().to_string_lossy().into_owned(),
                    target: target.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check finds what it must: a process, a container's cgroup, a
    /// state dir, a bound socket and an open fd, all made here on purpose;
    /// then `clean` removes them and the check is empty. An empty cgroup
    /// parent is not a leak, and `clean` removes it too.
    #[test]
    fn finds_each_kind_and_cleans_it() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root for cgroups");
            return;
        }
        let root = PathBuf::from(format!("/tmp/md-leaks-{}", std::process::id()));
        let cg = format!("mydocker-it-leaks-{}", std::process::id());
        std::fs::create_dir_all(root.join("abc")).unwrap();
        let scope = Scope::test(&root, &cg);
        let file = std::fs::File::create(root.join("abc/log")).unwrap();
        let sock = std::os::unix::net::UnixListener::bind(root.join("abc/s.sock")).unwrap();
        // A process named as a shim, with the root on its command line.
        let mut child = std::process::Command::new("bash")
            .args([
                "-c",
                "exec -a mydocker-shim bash -c 'sleep 100; :' x --root \"$0\"",
                root.to_str().unwrap(),
            ])
            .spawn()
            .unwrap();
        let cgdir: PathBuf = cgroup_mounts()
            .into_iter()
            .find(|m| m.join("cgroup.procs").exists())
            .unwrap()
            .join(&cg);
        std::fs::create_dir(&cgdir).unwrap();
        std::fs::create_dir(cgdir.join("c1")).unwrap();
        let found = wait_until(&scope, |l| {
            l.iter().any(|l| matches!(l, Leak::Process { .. }))
        });
        let kinds = |l: &Leak| match l {
            Leak::Process { .. } => "process",
            Leak::Cgroup { .. } => "cgroup",
            Leak::Socket(_) => "socket",
            Leak::State(_) => "state",
            Leak::Fd { .. } => "fd",
            _ => "other",
        };
        let got: BTreeSet<&str> = found.iter().map(kinds).collect();
        assert_eq!(
            got,
            ["cgroup", "fd", "process", "socket", "state"].into(),
            "{found:#?}"
        );
        drop((file, sock));
        clean(&scope);
        let _ = child.wait();
        assert_eq!(find(&scope), vec![], "after clean");
        assert!(!root.exists() && !cgdir.exists());
        std::fs::create_dir(&cgdir).unwrap();
        assert_eq!(find(&scope), vec![], "an empty parent");
        clean(&scope);
        assert!(!cgdir.exists());
    }

    fn wait_until(scope: &Scope, f: impl Fn(&[Leak]) -> bool) -> Vec<Leak> {
        for _ in 0..250 {
            let l = find(scope);
            if f(&l) {
                return l;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        find(scope)
    }

    #[test]
    fn scopes_cannot_name_a_hierarchy_root_or_other_tools_dirs() {
        for bad in ["", "/", ".", "..", "a/../..", "a//b", "./a"] {
            assert!(!is_cgroup_name(bad), "{bad:?}");
        }
        assert!(is_cgroup_name("mydocker-it-x") && is_cgroup_name("a/b"));
        assert!(is_test_root(Path::new("/tmp/md-hostil-123-0")));
        assert!(is_test_root(Path::new("/tmp/md-a-b-1-2")));
        for other in [
            "/tmp/md-",
            "/tmp/md-x",
            "/tmp/md-x-1",
            "/tmp/md-x-1-y",
            "/tmp/mdx-1-2",
        ] {
            assert!(!is_test_root(Path::new(other)), "{other}");
        }
        assert!(self_and_ancestors().contains(&(std::process::id() as i32)));
    }

    #[test]
    fn a_changed_mount_table_is_reported_with_the_difference() {
        let scope = Scope {
            baseline: Some(Baseline {
                mounts: "x / y\n".to_string() + &mount_table(),
                ..Baseline::take()
            }),
            ..Default::default()
        };
        let l = mounts(&scope);
        assert!(
            matches!(&l[..], [Leak::MountTableChanged { added, removed }] if added.is_empty() && removed == &["x / y".to_string()]),
            "{l:?}"
        );
    }

    #[test]
    fn a_saved_baseline_reads_back_the_same() {
        let b = Baseline {
            mounts: "a / b\nc / d".into(),
            parents: [
                "/sys/fs/cgroup/pids/mydocker",
                "/sys/fs/cgroup/x/mydocker-y",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
        };
        assert_eq!(Baseline::parse(&b.to_text()), b);
        let none = Baseline {
            mounts: "a / b".into(),
            parents: BTreeSet::new(),
        };
        assert_eq!(Baseline::parse(&none.to_text()), none);
    }

    #[test]
    fn a_parent_that_was_not_there_before_is_a_leak_host_wide() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root for cgroups");
            return;
        }
        let Some(hierarchy) = cgroup_mounts()
            .into_iter()
            .find(|m| m.join("cgroup.procs").exists())
        else {
            return;
        };
        let parent = hierarchy.join(format!("mydocker-it-baseline-{}", std::process::id()));
        let before = Baseline::take();
        std::fs::create_dir(&parent).unwrap();
        let host = Scope {
            host_wide: true,
            baseline: Some(before.clone()),
            ..Default::default()
        };
        let found = cgroups(&host);
        let without = cgroups(&Scope {
            baseline: None,
            ..host.clone()
        });
        std::fs::remove_dir(&parent).unwrap();
        assert!(
            found.contains(&Leak::Cgroup {
                path: parent.clone(),
                procs: 0
            }),
            "{found:?}"
        );
        assert!(!without
            .iter()
            .any(|l| matches!(l, Leak::Cgroup { path, .. } if path == &parent)));
    }
}
