//! A container's cgroup, through cgroups-rs: created with its limits
//! before the command runs, changed by Update, read for Stats, and removed
//! (after killing what is left in it) on every way out.

use std::ffi::CString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use cgroups_rs::fs::cgroup::Cgroup;
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::cpuset::CpuSetController;
use cgroups_rs::fs::devices::DevicesController;
use cgroups_rs::fs::freezer::FreezerController;
use cgroups_rs::fs::hierarchies;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::{Controller, Hierarchy, MaxValue};
use mydocker::units::{self, Limits};

use super::error::{CgroupError, Result};
use super::stats::{self, read_key, Stats};
use super::{devices, freezer, oom, v1, v2};

/// Whether this host has the unified (v2) hierarchy: one statfs, no mount
/// table.
pub fn unified() -> bool {
    hierarchies::is_cgroup2_unified_mode()
}

/// The controllers a container's cgroup is created in.
///
/// On v1, `devices` too, for the container's device rules (see
/// devices.rs), on v2 an eBPF program on the one directory; and `freezer`,
/// for pause, which v2 has in every directory.
const CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
];

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
/// in a fixed buffer (process/init.rs), and no real hierarchy is this deep.
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
    /// process joins it through (one `tasks` file per hierarchy). On failure nothing of
    /// the container's cgroup is left (its parent stays, as always).
    pub fn make(&self, limits: &Limits) -> Result<Vec<(CString, CString)>> {
        // We leave parents in place, but someone else may remove an empty
        // one (a user, an older mydocker) while the child is being made
        // under it: try again, the parent is recreated each time.
        let mut last = None;
        for _ in 0..3 {
            let created = if self.v2 {
                v2::create(&self.root, &self.path)
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
                        .and_then(|_| self.join_dirs());
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
                v1::fill_from_ancestors(&dir, file, &self.path)?;
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
                    fs::write(&f, "1").map_err(|e| CgroupError::Setup {
                        path: self.path.clone(),
                        what: "set memory.oom.group to 1".into(),
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

    /// v2: the directory a process can be born into (clone3's
    /// CLONE_INTO_CGROUP), open, and its path (where one that cannot be
    /// joins, through its `cgroup.procs`); it must exist
    /// ([`ContainerCgroup::make`] first).
    /// `None` on v1, where a process joins through each hierarchy's `tasks`.
    pub fn v2_dir(&self) -> Result<Option<(OwnedFd, CString)>> {
        if !self.v2 {
            return Ok(None);
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
        let path = c_path(dir.to_path_buf()).map_err(join_err)?;
        Ok(Some((f.into(), path)))
    }

    /// v1, once made: each of its directories, which the init joins
    /// (through `tasks`) and mounts in the container, with the name of its
    /// hierarchy (the directory the host mounts it on: `memory`,
    /// `cpu,cpuacct`). Co-mounted controllers share a hierarchy: once. None
    /// on v2.
    fn join_dirs(&self) -> Result<Vec<(CString, CString)>> {
        if self.v2 {
            return Ok(Vec::new());
        }
        let err = |cause: String| CgroupError::Join {
            path: self.path.clone(),
            cause,
        };
        let mut dirs: Vec<(CString, CString)> = Vec::new();
        let depth = self.path.split('/').count();
        for sub in self.cg.subsystems() {
            let c = sub.to_controller();
            // The directory is <mount point>/<parent>/<id>.
            let mut mount = c.path().to_path_buf();
            for _ in 0..depth {
                mount.pop();
            }
            let name = mount
                .file_name()
                .ok_or_else(|| err(format!("{}: no hierarchy name", c.path().display())))?;
            let name = c_path(PathBuf::from(name)).map_err(err)?;
            if dirs.iter().any(|(_, n)| *n == name) {
                continue;
            }
            dirs.push((c_path(c.path().to_path_buf()).map_err(err)?, name));
        }
        Ok(dirs)
    }

    /// The files a process writes "0" to, to join this cgroup: each v1
    /// hierarchy's `tasks`, or v2's `cgroup.procs`.
    pub fn join_files(&self) -> Result<Vec<CString>> {
        let file = |dir: &[u8], name: &[u8]| {
            let mut v = dir.to_vec();
            v.push(b'/');
            v.extend_from_slice(name);
            CString::new(v).map_err(|_| CgroupError::Join {
                path: self.path.clone(),
                cause: "a NUL byte in the path".into(),
            })
        };
        if self.v2 {
            return match self.v2_dir()? {
                Some((_, path)) => Ok(vec![file(path.as_bytes(), b"cgroup.procs")?]),
                None => Ok(Vec::new()),
            };
        }
        self.join_dirs()?
            .iter()
            .map(|(dir, _)| file(dir.as_bytes(), b"tasks"))
            .collect()
    }

    /// Lets the container open only docker's devices (devices.rs): on v1 in
    /// its devices directory, on v2 through `dir` (from
    /// [`ContainerCgroup::v2_dir`]).
    pub fn restrict_devices(&self, dir: Option<&OwnedFd>, extra: &[devices::Rule]) -> Result<()> {
        match dir {
            Some(dir) => devices::restrict_v2(dir, &self.path, extra),
            None => match self.cg.controller_of::<DevicesController>() {
                Some(d) => devices::restrict_v1(d.path(), &self.path, extra),
                None => Err(CgroupError::Controller {
                    controller: "devices".into(),
                    path: self.path.clone(),
                }),
            },
        }
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
        // Every hierarchy is tried: one that will not go leaves the others
        // to remove. The first failure is the one reported.
        let mut first = Ok(());
        for sub in self.cg.subsystems() {
            // Co-mounted controllers (cpu,cpuacct) share a directory: the
            // second finds it gone.
            let dir = sub.to_controller().path();
            if let Err(e) = mydocker::cgroupfs::remove_dir(dir) {
                if first.is_ok() {
                    first = Err(CgroupError::Remove {
                        path: self.path.clone(),
                        cause: format!("{}: {e}", dir.display()),
                    });
                }
            }
        }
        first
    }

    /// Its freezer (pause, resume).
    pub fn freezer(&self) -> Result<freezer::Freezer> {
        let dir = if self.v2 {
            self.root.join(&self.path)
        } else {
            match self.cg.controller_of::<FreezerController>() {
                Some(f) => f.path().to_path_buf(),
                None => {
                    return Err(CgroupError::Controller {
                        controller: "freezer".into(),
                        path: self.path.clone(),
                    })
                }
            }
        };
        Ok(freezer::Freezer {
            dir,
            v2: self.v2,
            cgroup: self.path.clone(),
        })
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
        oom::watch(&dir, self.v2, self.path.clone(), seen, init)
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
        stats::read(&self.cg, self.dir_of("cpu"), self.v2)
    }
}

fn c_path(p: PathBuf) -> std::result::Result<CString, String> {
    CString::new(p.into_os_string().into_vec()).map_err(|_| "a path holds a NUL byte".into())
}

fn describe(e: &cgroups_rs::fs::error::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(s) => format!("{s}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cgroups_rs::fs::Subsystem;
    use std::path::Path;

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

    /// A cgroup v1 layout with cpu and cpuacct co-mounted, as systemd
    /// mounts them (only what join_dirs reads: no files).
    #[derive(Debug)]
    struct FakeV1 {
        root: PathBuf,
    }

    impl Hierarchy for FakeV1 {
        fn subsystems(&self) -> Vec<Subsystem> {
            use cgroups_rs::fs::cpuacct::CpuAcctController;
            let at = |m: &str| self.root.join(m);
            let e = || PathBuf::from("/");
            vec![
                Subsystem::Mem(MemController::new(at("memory"), e(), false)),
                Subsystem::CpuAcct(CpuAcctController::new(at("cpu,cpuacct"), e())),
                Subsystem::Cpu(CpuController::new(at("cpu,cpuacct"), e(), false)),
            ]
        }
        fn root(&self) -> PathBuf {
            self.root.clone()
        }
        fn root_control_group(&self) -> Cgroup {
            Cgroup::load(
                Box::new(FakeV1 {
                    root: self.root.clone(),
                }),
                "",
            )
        }
        fn parent_control_group(&self, path: &str) -> Cgroup {
            let p = Path::new(path).parent().unwrap_or(Path::new(""));
            Cgroup::load(
                Box::new(FakeV1 {
                    root: self.root.clone(),
                }),
                p,
            )
        }
        fn v2(&self) -> bool {
            false
        }
    }

    #[test]
    fn co_mounted_v1_controllers_are_joined_and_named_once() {
        let root = PathBuf::from("/fake/cgroup");
        let fake = || -> Box<dyn Hierarchy> { Box::new(FakeV1 { root: root.clone() }) };
        let cg = ContainerCgroup::load_in(fake, "c1", &Limits::default()).unwrap();
        let dirs: Vec<(String, String)> = cg
            .join_dirs()
            .unwrap()
            .into_iter()
            .map(|(d, n)| (d.into_string().unwrap(), n.into_string().unwrap()))
            .collect();
        let want = [
            ("/fake/cgroup/memory/mydocker/c1", "memory"),
            ("/fake/cgroup/cpu,cpuacct/mydocker/c1", "cpu,cpuacct"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(d, n)| (d.to_string(), n.to_string()))
            .collect();
        assert_eq!(dirs, want);
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
}
