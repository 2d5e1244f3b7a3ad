//! The container's cgroup, through cgroups-rs: created with its limits
//! before the command runs, watched for OOM kills, read for Stats, and
//! removed (after killing what is left in it) on every way out.
//!
//! cgroup v1 and v2 differ in the files: v1 has `memory.limit_in_bytes`,
//! `cpu.shares`, `cpu.cfs_quota_us` and needs `cpuset.cpus`/`cpuset.mems`
//! filled before a process may join; v2 has `memory.max`, `cpu.weight`
//! (converted from shares, see [`mydocker::units::shares_to_weight`]),
//! `cpu.max`, and needs the controllers enabled in the parent's
//! `cgroup.subtree_control`. Every write is checked: an error names the file
//! and the value.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cgroups_rs::fs::cgroup::Cgroup;
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::cpuacct::CpuAcctController;
use cgroups_rs::fs::cpuset::CpuSetController;
use cgroups_rs::fs::hierarchies;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::{Controller, Hierarchy, MaxValue};
use mydocker::units;

use crate::container::Limits;
use crate::io::AsyncIoFd;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{0}")]
    Invalid(String),
    #[error("cgroup {path}: set {file} to {value:?}: {cause}")]
    Write {
        path: String,
        file: &'static str,
        value: String,
        cause: String,
    },
    #[error("create cgroup {path}: {cause}")]
    Create { path: String, cause: String },
    #[error("cgroup v2: the {controller} controller is not available under {path} (check cgroup.subtree_control of its parent)")]
    Controller { controller: String, path: String },
    #[error("put the init into cgroup {path}: {cause}")]
    Join { path: String, cause: String },
    #[error("remove cgroup {path}: {cause}")]
    Remove { path: String, cause: String },
}

pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// How the init enters its cgroup, before it runs anything of the
/// container's.
///
/// Not by writing its pid to `cgroup.procs` from the shim: moving a whole
/// thread group takes the kernel's cgroup_threadgroup_rwsem for writing,
/// which waits for an RCU grace period, 5-15 ms of every container start.
pub enum JoinAt {
    /// cgroup v2: clone3 with CLONE_INTO_CGROUP and this directory. Where
    /// clone3 cannot (see spawn.rs), the child writes "0" to `procs`.
    Dir { dir: OwnedFd, procs: CString },
    /// cgroup v1: the clone child, still single-threaded, writes "0" (its
    /// own thread) to each hierarchy's `tasks` file
    /// ([`ContainerCgroup::make`] names them); moving one thread of its own
    /// needs no thread-group lock. The shim makes the cgroup, and sends it
    /// those files, while the child creates its namespaces.
    Later,
}

/// Whether this host has the unified (v2) hierarchy: one statfs, no mount
/// table.
pub fn unified() -> bool {
    hierarchies::is_cgroup2_unified_mode()
}

/// The controllers a container's cgroup is created in.
const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "cpuset", "memory", "pids"];

/// Checks limits that came over the API (the CLI checked them already,
/// but grpcurl callers and embedders did not).
pub fn check(limits: &Limits) -> Result<()> {
    // Only these limits are checked against what is online: no sysfs reads
    // for the rest, on every container's start.
    let online = |kind| {
        let needed = limits.nano_cpus > 0
            || !limits.cpuset_cpus.is_empty()
            || !limits.cpuset_mems.is_empty();
        if needed {
            units::online(kind)
        } else {
            Vec::new()
        }
    };
    units::check_limits(limits, &online("cpu"), &online("node"))
        .map_err(|e| CgroupError::Invalid(e.to_string()))?;
    parent_path(&limits.cgroup_parent)?;
    Ok(())
}

/// The longest cgroup parent taken: the init receives its cgroup's paths
/// in a fixed buffer (spawn.rs), and no real hierarchy is this deep.
const MAX_PARENT: usize = 1024;

/// The parent cgroup path: relative, without `..`, default `mydocker`.
pub fn parent_path(parent: &str) -> Result<String> {
    let p = parent.trim_matches('/');
    if p.is_empty() {
        return Ok("mydocker".into());
    }
    if p.len() > MAX_PARENT {
        return Err(CgroupError::Invalid(format!(
            "cgroup parent longer than {MAX_PARENT} bytes"
        )));
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") || p.contains('\0') {
        return Err(CgroupError::Invalid(format!(
            "invalid cgroup parent {parent:?}"
        )));
    }
    Ok(p.to_string())
}

/// A container's cgroup.
pub struct ContainerCgroup {
    cg: Cgroup,
    /// Relative to each hierarchy's root: `<parent>/<id>`.
    pub path: String,
    v2: bool,
    /// The hierarchy's mount point (what v2's directory is created under).
    root: PathBuf,
}

impl ContainerCgroup {
    /// Creates `<parent>/<id>` with `limits`, on this host's hierarchy.
    pub fn create(id: &str, limits: &Limits) -> Result<Self> {
        Self::create_in(hierarchies::auto, id, limits)
    }

    /// As [`ContainerCgroup::create`], on the hierarchy `hier` makes.
    pub fn create_in(
        hier: impl FnOnce() -> Box<dyn Hierarchy>,
        id: &str,
        limits: &Limits,
    ) -> Result<Self> {
        check(limits)?;
        let me = Self::load_in(hier, id, limits)?;
        me.make(limits)?;
        Ok(me)
    }

    /// Where `<parent>/<id>` is, on this host's hierarchy, for limits that
    /// passed [`check`]: nothing is created yet (see
    /// [`ContainerCgroup::make`]).
    pub fn load(id: &str, limits: &Limits) -> Result<Self> {
        Self::load_in(hierarchies::auto, id, limits)
    }

    fn load_in(
        hier: impl FnOnce() -> Box<dyn Hierarchy>,
        id: &str,
        limits: &Limits,
    ) -> Result<Self> {
        let parent = parent_path(&limits.cgroup_parent)?;
        let path = format!("{parent}/{id}");
        // One parse of the mount table per container.
        let h = hier();
        let v2 = h.v2();
        let root = h.root();
        let cg = if v2 {
            Cgroup::load(h, &path)
        } else {
            let wanted = CONTROLLERS.iter().map(|c| c.to_string()).collect();
            Cgroup::load_with_specified_controllers(h, &path, wanted)
        };
        Ok(Self { cg, path, v2, root })
    }

    /// Creates the cgroup and writes `limits`; on v1, names the files a
    /// process joins it through ([`JoinAt::Later`]). On failure nothing of
    /// the container's cgroup is left (its parent stays, as always).
    pub fn make(&self, limits: &Limits) -> Result<Vec<CString>> {
        // We leave parents in place, but someone else may remove an empty
        // one (a user, an older mydocker) while the child is being made
        // under it: try again, the parent is recreated each time.
        let mut last = None;
        for _ in 0..3 {
            let created = if self.v2 {
                create_v2(&self.root, &self.path)
            } else {
                self.cg.create().map_err(|e| CgroupError::Create {
                    path: self.path.clone(),
                    cause: describe(&e),
                })
            };
            match created {
                Ok(()) => {
                    let r = self
                        .prepare()
                        .and_then(|_| self.apply(limits))
                        .and_then(|_| self.tasks_files());
                    if r.is_err() {
                        let _ = self.remove();
                    }
                    return r;
                }
                Err(e @ CgroupError::Controller { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(CgroupError::Create {
            path: self.path.clone(),
            cause: "gave up".into(),
        }))
    }

    /// v1 cpusets must be filled in before a process may join: from the
    /// nearest ancestor that has them (cgroups-rs tries, but only logs a
    /// failure). v2 needs nothing more: create_v2 delegated the controllers.
    fn prepare(&self) -> Result<()> {
        if self.v2 {
            return Ok(());
        }
        if let Some(dir) = self.dir_of("cpuset") {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                fill_from_ancestors(&dir, file, &self.path)?;
            }
        }
        Ok(())
    }

    /// The directory of this cgroup in `controller`'s hierarchy (all one
    /// directory on v2).
    fn dir_of(&self, controller: &str) -> Option<PathBuf> {
        let p = match controller {
            "memory" => self.cg.controller_of::<MemController>()?.path(),
            "cpu" => self.cg.controller_of::<CpuController>()?.path(),
            "cpuset" => self.cg.controller_of::<CpuSetController>()?.path(),
            "pids" => self.cg.controller_of::<PidController>()?.path(),
            _ => return None,
        };
        Some(p.to_path_buf())
    }

    fn write_err(
        &self,
        file: &'static str,
        value: impl ToString,
    ) -> impl FnOnce(cgroups_rs::fs::error::Error) -> CgroupError + '_ {
        let value = value.to_string();
        move |e| CgroupError::Write {
            path: self.path.clone(),
            file,
            value,
            cause: describe(&e),
        }
    }

    /// Writes the limits that are set (non-zero, non-empty).
    pub fn apply(&self, l: &Limits) -> Result<()> {
        if l.memory_limit_bytes > 0 {
            let mem: &MemController = self.controller("memory")?;
            let file = if self.v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            // v1 refuses a memory limit above memsw: raise memsw first.
            if !self.v2 && self.has_file("memory", "memory.memsw.limit_in_bytes") {
                let _ = mem.set_memswap_limit(-1);
            }
            mem.set_limit(l.memory_limit_bytes)
                .map_err(self.write_err(file, l.memory_limit_bytes))?;
            // No swap beyond the limit: -m means memory, as a user reads it.
            if self.v2 {
                if self.has_file("memory", "memory.oom.group") {
                    let f = self
                        .dir_of("memory")
                        .unwrap_or_default()
                        .join("memory.oom.group");
                    fs::write(&f, "1").map_err(|e| CgroupError::Write {
                        path: self.path.clone(),
                        file: "memory.oom.group",
                        value: "1".into(),
                        cause: e.to_string(),
                    })?;
                }
                if self.has_file("memory", "memory.swap.max") {
                    mem.set_memswap_limit(0)
                        .map_err(self.write_err("memory.swap.max", 0))?;
                }
            } else if self.has_file("memory", "memory.memsw.limit_in_bytes") {
                mem.set_memswap_limit(l.memory_limit_bytes)
                    .map_err(self.write_err("memory.memsw.limit_in_bytes", l.memory_limit_bytes))?;
            }
        }
        if l.nano_cpus > 0 {
            let cpu: &CpuController = self.controller("cpu")?;
            let quota = units::cfs_quota_us(l.nano_cpus);
            let file = if self.v2 {
                "cpu.max"
            } else {
                "cpu.cfs_quota_us"
            };
            cpu.set_cfs_quota_and_period(Some(quota), Some(units::CPU_PERIOD_US))
                .map_err(self.write_err(file, format!("{quota} {}", units::CPU_PERIOD_US)))?;
        }
        if l.cpu_shares > 0 {
            let cpu: &CpuController = self.controller("cpu")?;
            let (file, value) = if self.v2 {
                ("cpu.weight", units::shares_to_weight(l.cpu_shares))
            } else {
                ("cpu.shares", l.cpu_shares)
            };
            cpu.set_shares(value).map_err(self.write_err(file, value))?;
        }
        if !l.cpuset_cpus.is_empty() {
            let cs: &CpuSetController = self.controller("cpuset")?;
            cs.set_cpus(&l.cpuset_cpus)
                .map_err(self.write_err("cpuset.cpus", &l.cpuset_cpus))?;
        }
        if !l.cpuset_mems.is_empty() {
            let cs: &CpuSetController = self.controller("cpuset")?;
            cs.set_mems(&l.cpuset_mems)
                .map_err(self.write_err("cpuset.mems", &l.cpuset_mems))?;
        }
        if l.pids_limit != 0 {
            let p: &PidController = self.controller("pids")?;
            let v = if l.pids_limit < 0 {
                MaxValue::Max
            } else {
                MaxValue::Value(l.pids_limit)
            };
            p.set_pid_max(v)
                .map_err(self.write_err("pids.max", l.pids_limit))?;
        }
        Ok(())
    }

    fn has_file(&self, controller: &str, file: &str) -> bool {
        self.dir_of(controller)
            .map(|d| d.join(file).exists())
            .unwrap_or(false)
    }

    fn controller<'a, T>(&'a self, name: &str) -> Result<&'a T>
    where
        &'a T: From<&'a cgroups_rs::fs::Subsystem>,
        T: Controller + cgroups_rs::fs::ControllIdentifier,
    {
        self.cg
            .controller_of::<T>()
            .ok_or_else(|| CgroupError::Controller {
                controller: name.into(),
                path: self.path.clone(),
            })
    }

    /// How the init will join this cgroup (see [`JoinAt`]). On v2 the
    /// directory must exist ([`ContainerCgroup::make`] first).
    pub fn join_at(&self) -> Result<JoinAt> {
        if !self.v2 {
            return Ok(JoinAt::Later);
        }
        let join_err = |cause: String| CgroupError::Join {
            path: self.path.clone(),
            cause,
        };
        let subs = self.cg.subsystems();
        let dir = subs
            .first()
            .map(|s| s.to_controller().path())
            .ok_or_else(|| join_err("no cgroup directory".into()))?;
        let f = fs::File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)
            .map_err(|e| join_err(format!("open {}: {e}", dir.display())))?;
        Ok(JoinAt::Dir {
            dir: f.into(),
            procs: c_path(dir.join("cgroup.procs")).map_err(join_err)?,
        })
    }

    /// v1, once made: the `tasks` file of each of its directories, which the
    /// init writes "0" to (none on v2). Co-mounted controllers (cpu,cpuacct)
    /// share a directory, reached through different links: the same inode,
    /// once.
    fn tasks_files(&self) -> Result<Vec<CString>> {
        if self.v2 {
            return Ok(Vec::new());
        }
        let mut seen = Vec::new();
        let mut files = Vec::new();
        for sub in self.cg.subsystems() {
            let dir = sub.to_controller().path();
            let err = |cause: String| CgroupError::Join {
                path: self.path.clone(),
                cause,
            };
            let m = fs::metadata(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
            if !seen.contains(&(m.dev(), m.ino())) {
                seen.push((m.dev(), m.ino()));
                files.push(c_path(dir.join("tasks")).map_err(err)?);
            }
        }
        Ok(files)
    }

    pub fn procs(&self) -> Vec<i32> {
        self.cg.procs().into_iter().map(|p| p.pid as i32).collect()
    }

    /// Removes the cgroup, killing what is still in it (see
    /// [`mydocker::cgroupfs::remove_dir`]). (cgroups-rs's delete neither
    /// kills nor retries without sleeping 10 to 80 ms a time on this thread.)
    ///
    /// The parent stays, as runc leaves docker's: it may be the user's own,
    /// with limits for all its containers, and it is where the next
    /// container goes (made and removed each time, it cost 0.3 ms a run).
    pub fn remove(&self) -> Result<()> {
        for sub in self.cg.subsystems() {
            // Co-mounted controllers (cpu,cpuacct) share a directory: the
            // second finds it gone.
            let dir = sub.to_controller().path();
            mydocker::cgroupfs::remove_dir(dir).map_err(|e| CgroupError::Remove {
                path: self.path.clone(),
                cause: format!("{}: {e}", dir.display()),
            })?;
        }
        Ok(())
    }

    /// Whether the kernel OOM-killed a process of this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = if self.v2 {
            ("memory.events", "oom_kill")
        } else {
            ("memory.oom_control", "oom_kill")
        };
        self.dir_of("memory")
            .and_then(|d| fs::read_to_string(d.join(file)).ok())
            .and_then(|s| read_key(&s, key))
            .unwrap_or(0)
    }

    /// Watches for OOM kills from now on: an eventfd registered on
    /// `memory.oom_control` (v1), or inotify on `memory.events` (v2). Each
    /// one is logged, sets `seen`, and kills the container's init: a
    /// container is OOM-killed as a whole, as with v2's `memory.oom.group`
    /// (which is also set there), rather than left running with a process
    /// missing. `None` when the kernel offers neither.
    pub fn watch_oom(
        &self,
        seen: Arc<AtomicBool>,
        init: i32,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let dir = self.dir_of("memory")?;
        let registered = if self.v2 {
            inotify_on(&dir.join("memory.events")).map(|fd| (fd, None))
        } else {
            eventfd_on(&dir).map(|(efd, ctl)| (efd, Some(ctl)))
        };
        let (fd, keep) = match registered {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot watch for OOM kills");
                return None;
            }
        };
        let fd = AsyncIoFd::new(fd).ok()?;
        let v2 = self.v2;
        let counter = dir.join(if v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        });
        let path = self.path.clone();
        Some(tokio::spawn(async move {
            let _keep = keep;
            let mut buf = bytes::BytesMut::with_capacity(4096);
            let mut kills = 0;
            loop {
                buf.clear();
                match fd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                // v2 notifies every change of memory.events: only a larger
                // oom_kill count is a kill. v1 signals each OOM of the
                // cgroup; with the kernel's killer disabled (see
                // disable_oom_killer) the task waits under_oom for us.
                let text = fs::read_to_string(&counter).unwrap_or_default();
                if v2 {
                    match read_key(&text, "oom_kill") {
                        Some(n) if n > kills => kills = n,
                        _ => continue,
                    }
                } else if read_key(&text, "under_oom") != Some(1)
                    && read_key(&text, "oom_kill").unwrap_or(0) <= kills
                {
                    continue;
                } else {
                    kills = read_key(&text, "oom_kill").unwrap_or(0);
                }
                seen.store(true, Ordering::SeqCst);
                tracing::warn!(cgroup = %path, "the kernel OOM-killed a process of the container; killing the container");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(init),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }))
    }

    /// v1 only, and only once a watcher runs: lets the OOM-ing task wait
    /// (under_oom) instead of having the kernel kill one process, so that
    /// the watcher kills the whole container before any of it can see a
    /// process vanish. Without this, a parent (stress, a shell) notices its
    /// child's death and exits with its own code first: the container was
    /// OOM-killed but would not say 137.
    pub fn disable_oom_killer(&self) -> Result<()> {
        if self.v2 {
            return Ok(());
        }
        let mem: &MemController = self.controller("memory")?;
        mem.disable_oom_killer()
            .map_err(self.write_err("memory.oom_control", 1))
    }

    pub fn is_v2(&self) -> bool {
        self.v2
    }

    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        if let Some(m) = self.cg.controller_of::<MemController>() {
            let st = m.memory_stat();
            s.memory_usage_bytes = st.usage_in_bytes;
            let limit = st.limit_in_bytes;
            // v1 reports "no limit" as a huge page-aligned number.
            s.memory_limit_bytes = if limit <= 0 || limit >= (1i64 << 62) {
                0
            } else {
                limit as u64
            };
        }
        let cpu_stat = self
            .dir_of("cpu")
            .and_then(|d| fs::read_to_string(d.join("cpu.stat")).ok())
            .unwrap_or_default();
        if self.v2 {
            s.cpu_usage_nanos = read_key(&cpu_stat, "usage_usec").unwrap_or(0) * 1000;
            s.cpu_throttled_nanos = read_key(&cpu_stat, "throttled_usec").unwrap_or(0) * 1000;
        } else {
            if let Some(a) = self.cg.controller_of::<CpuAcctController>() {
                s.cpu_usage_nanos = a.cpuacct().usage;
            }
            s.cpu_throttled_nanos = read_key(&cpu_stat, "throttled_time").unwrap_or(0);
        }
        s.cpu_throttled_periods = read_key(&cpu_stat, "nr_throttled").unwrap_or(0);
        if let Some(p) = self.cg.controller_of::<PidController>() {
            s.pids_current = p.get_pid_current().unwrap_or(0);
            s.pids_limit = match p.get_pid_max() {
                Ok(MaxValue::Value(v)) if v > 0 => v as u64,
                _ => 0,
            };
        }
        s
    }
}

fn c_path(p: PathBuf) -> std::result::Result<CString, String> {
    CString::new(p.into_os_string().into_vec()).map_err(|_| "a path holds a NUL byte".into())
}

/// v2: creates `path` under `root`, enabling our controllers in the
/// `cgroup.subtree_control` of every level above it, so the container's
/// cgroup is a leaf whose parent holds no process and delegates the
/// controllers to it. cgroups-rs would check the host's own controller list
/// and ignore a failure to enable one; this checks each write.
fn create_v2(root: &Path, path: &str) -> Result<()> {
    let mut level = root.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let available = fs::read_to_string(level.join("cgroup.controllers")).unwrap_or_default();
        for c in V2_CONTROLLERS {
            let have = available.split_whitespace().any(|a| a == *c);
            if !have {
                if *c == "cpuset" {
                    continue;
                }
                return Err(CgroupError::Controller {
                    controller: c.to_string(),
                    path: level.display().to_string(),
                });
            }
            let file = level.join("cgroup.subtree_control");
            let enabled = fs::read_to_string(&file).unwrap_or_default();
            if enabled.split_whitespace().any(|e| e == *c) {
                continue;
            }
            // create(true) is a no-op on cgroupfs, where the file exists; it
            // lets the unit tests' plain directories stand in for one.
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&file)
                .and_then(|mut f| std::io::Write::write_all(&mut f, format!("+{c}").as_bytes()))
                .map_err(|e| CgroupError::Write {
                    path: path.into(),
                    file: "cgroup.subtree_control",
                    value: format!("+{c} in {}", level.display()),
                    cause: e.to_string(),
                })?;
        }
        level.push(part);
        match fs::create_dir(&level) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && i + 1 < parts.len() => {}
            // Left by a shim that was killed: reusable once nothing is in it.
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && fs::read_to_string(level.join("cgroup.procs"))
                        .map(|p| p.trim().is_empty())
                        .unwrap_or(true) => {}
            Err(e) => {
                return Err(CgroupError::Create {
                    path: path.into(),
                    cause: e.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// The v2 controllers a container uses (cpuset where the host offers it).
const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "pids", "cpuset"];

/// v1: an eventfd that the kernel signals on each OOM of the cgroup, and the
/// open `memory.oom_control` that must stay open for it.
fn eventfd_on(dir: &Path) -> std::io::Result<(OwnedFd, fs::File)> {
    // SAFETY: eventfd(2) with flags; the result is checked.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: efd is a fresh descriptor that nothing else owns.
    let efd = unsafe { OwnedFd::from_raw_fd(efd) };
    let ctl = fs::File::open(dir.join("memory.oom_control"))?;
    fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd()),
    )?;
    Ok((efd, ctl))
}

/// v2: an inotify descriptor that becomes readable when `file` changes.
fn inotify_on(file: &Path) -> std::io::Result<OwnedFd> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    ino.add_watch(file, AddWatchFlags::IN_MODIFY)?;
    Ok(OwnedFd::from(ino))
}

/// What Stats reports.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub memory_usage_bytes: u64,
    pub memory_limit_bytes: u64,
    pub cpu_usage_nanos: u64,
    pub cpu_throttled_nanos: u64,
    pub cpu_throttled_periods: u64,
    pub pids_current: u64,
    pub pids_limit: u64,
}

/// `key value` lines, as in memory.events, memory.oom_control, cpu.stat.
fn read_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

fn describe(e: &cgroups_rs::fs::error::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(s) => format!("{s}"),
        None => e.to_string(),
    }
}

/// v1 cpuset: a cgroup whose `file` is empty gets the value of its nearest
/// ancestor that has one, every empty level on the way included, or no
/// process could join it (ENOSPC).
fn fill_from_ancestors(dir: &Path, file: &'static str, path: &str) -> Result<()> {
    let read = |d: &Path| {
        fs::read_to_string(d.join(file))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut empty = Vec::new();
    let mut d = dir.to_path_buf();
    let value = loop {
        let v = read(&d);
        if !v.is_empty() {
            break v;
        }
        empty.push(d.clone());
        if !d.pop() || !d.join(file).exists() {
            return Err(CgroupError::Write {
                path: path.into(),
                file,
                value: String::new(),
                cause: "no ancestor has a value to copy".into(),
            });
        }
    };
    for d in empty.iter().rev() {
        fs::write(d.join(file), &value).map_err(|e| CgroupError::Write {
            path: path.into(),
            file,
            value: value.clone(),
            cause: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cgroups_rs::fs::Subsystem;

    /// A cgroup v2 tree in a temporary directory: the files the real one
    /// would have are plain files, so what we write can be read back.
    #[derive(Debug)]
    pub struct FakeV2 {
        pub root: PathBuf,
    }

    impl Hierarchy for FakeV2 {
        fn subsystems(&self) -> Vec<Subsystem> {
            let r = || self.root.clone();
            let e = || PathBuf::from("");
            vec![
                Subsystem::Cpu(CpuController::new(r(), e(), true)),
                Subsystem::CpuSet(CpuSetController::new(r(), e(), true)),
                Subsystem::Mem(MemController::new(r(), e(), true)),
                Subsystem::Pid(PidController::new(r(), e(), true)),
            ]
        }
        fn root(&self) -> PathBuf {
            self.root.clone()
        }
        fn root_control_group(&self) -> Cgroup {
            Cgroup::load(
                Box::new(FakeV2 {
                    root: self.root.clone(),
                }),
                "",
            )
        }
        fn parent_control_group(&self, path: &str) -> Cgroup {
            let p = Path::new(path).parent().unwrap_or(Path::new(""));
            Cgroup::load(
                Box::new(FakeV2 {
                    root: self.root.clone(),
                }),
                p,
            )
        }
        fn v2(&self) -> bool {
            true
        }
    }

    fn fake_tree(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("mydocker-cgv2-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        root
    }

    fn read(p: PathBuf) -> String {
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }

    #[test]
    fn v2_files_get_the_converted_values() {
        let root = fake_tree("limits");
        // The child's own controllers file, as the kernel would show it
        // once the parent enabled them.
        // What the kernel would show once each level delegated them.
        fs::create_dir_all(root.join("mydocker")).unwrap();
        fs::write(
            root.join("mydocker/cgroup.controllers"),
            "cpuset cpu memory pids\n",
        )
        .unwrap();
        let dir = root.join("mydocker/c1");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("cpu.max"), "max 100000\n").unwrap();
        fs::write(dir.join("memory.swap.max"), "max\n").unwrap();
        fs::write(dir.join("memory.oom.group"), "0\n").unwrap();
        let limits = Limits {
            memory_limit_bytes: 64 << 20,
            nano_cpus: 500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            cpuset_mems: String::new(),
            pids_limit: 20,
            cgroup_parent: String::new(),
        };
        let fake = || -> Box<dyn Hierarchy> { Box::new(FakeV2 { root: root.clone() }) };
        let cg = ContainerCgroup::create_in(fake, "c1", &limits).unwrap();
        assert!(cg.is_v2());
        assert_eq!(cg.path, "mydocker/c1");
        assert_eq!(read(dir.join("memory.max")), (64u64 << 20).to_string());
        assert_eq!(read(dir.join("memory.swap.max")), "0");
        assert_eq!(read(dir.join("memory.oom.group")), "1");
        assert_eq!(read(dir.join("cpu.max")), "50000 100000");
        assert_eq!(read(dir.join("cpu.weight")), "20");
        assert_eq!(read(dir.join("cpuset.cpus")), "0");
        assert_eq!(read(dir.join("pids.max")), "20");
        // Controllers were enabled along the way for the child.
        let parent_ctl = read(root.join("mydocker/cgroup.subtree_control"));
        for c in ["cpu", "memory", "pids"] {
            assert!(parent_ctl.contains(c), "{parent_ctl}");
        }
        // OOM is read from memory.events.
        fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kills(), 1);
        fs::write(
            dir.join("cpu.stat"),
            "usage_usec 2500\nnr_throttled 4\nthrottled_usec 70\n",
        )
        .unwrap();
        fs::write(dir.join("pids.current"), "3\n").unwrap();
        let s = cg.stats();
        assert_eq!(
            (
                s.cpu_usage_nanos,
                s.cpu_throttled_periods,
                s.cpu_throttled_nanos
            ),
            (2_500_000, 4, 70_000)
        );
        assert_eq!((s.pids_current, s.pids_limit), (3, 20));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn v2_without_controllers_is_a_clear_error() {
        let root = fake_tree("noctl");
        fs::create_dir_all(root.join("mydocker")).unwrap();
        fs::write(root.join("mydocker/cgroup.controllers"), "cpu\n").unwrap();
        let fake = || -> Box<dyn Hierarchy> { Box::new(FakeV2 { root: root.clone() }) };
        let err = ContainerCgroup::create_in(fake, "c2", &Limits::default())
            .err()
            .expect("memory is missing");
        assert!(err.to_string().contains("memory controller"), "{err}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn parents_are_checked() {
        assert_eq!(parent_path("").unwrap(), "mydocker");
        assert_eq!(parent_path("/a/b/").unwrap(), "a/b");
        for bad in ["..", "a/../b", "a//b", "./a"] {
            assert!(parent_path(bad).is_err(), "{bad}");
        }
        assert!(parent_path(&"a".repeat(MAX_PARENT)).is_ok());
        assert!(parent_path(&"a".repeat(MAX_PARENT + 1)).is_err());
    }

    #[test]
    fn v1_cpusets_are_filled_from_the_nearest_ancestor() {
        let root = std::env::temp_dir().join(format!("mydocker-cpuset-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let leaf = root.join("a/b");
        fs::create_dir_all(&leaf).unwrap();
        fs::write(root.join("cpuset.cpus"), "0-1\n").unwrap();
        fs::write(root.join("a/cpuset.cpus"), "\n").unwrap();
        fs::write(leaf.join("cpuset.cpus"), "").unwrap();
        fill_from_ancestors(&leaf, "cpuset.cpus", "a/b").unwrap();
        assert_eq!(read(root.join("a/cpuset.cpus")), "0-1");
        assert_eq!(read(leaf.join("cpuset.cpus")), "0-1");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn keys_are_read_from_stat_files() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(read_key(t, "oom_kill"), Some(2));
        assert_eq!(read_key(t, "nope"), None);
    }
}
