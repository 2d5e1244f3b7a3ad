//! The container's init: the shim's clone child, in the new namespaces and
//! the container's cgroup. It does not exec the shim again: a second
//! process start of a 2 MB binary was a third of a container's start-up.
//! Instead it runs here, as a copy of a threaded process (or, opt-in, one
//! that shares its memory: spawn.rs), where only raw system calls
//! (`sys.rs`, which leave the shim's errno alone) are allowed until exec,
//! on memory the shim prepared before the clone ([`InitPlan`]): nothing
//! allocated, nothing locked, no panics.
//!
//! At Create it sets up its namespaces (private mounts, a fresh /proc,
//! docker's masked paths, hostname, its own /dev and, with a terminal, the
//! terminal), waits for the shim's word that its cgroup is made and joins
//! it, and reports ready on the ack socket (with its terminal's master).
//! Then, while the shim answers Create, it enters a cgroup namespace of its
//! own and mounts its cgroup (and, where it was not made ahead, /sys)
//! there, drops its capabilities, and waits. At Start the shim sends it the command over the command
//! pipe; it parses it in place, changes directory, finds the program on the
//! PATH and execs it in its own place, so that the command is PID 1. Any
//! failure is a fixed-size [`Report`] (step, errno, item) that the shim
//! turns into words ([`describe`]); the init itself only exits.

use std::ffi::{c_char, CStr, CString};
use std::os::fd::RawFd;

use super::ahead::{self, MADE_COVER, MADE_DEV, MADE_SYS};
use super::cpath::CPath;
use super::describe::Names;
use super::extras::{self, Extras};
use super::harden;
use super::identity::{self, Identity};
use super::lookup::{lookup, probe_exec, PATH_BUF};
use super::mounts;
use super::relay::{self, RelayError, Report};
use super::report::{fail, send, Fault, Step, EXIT_SETUP};
use super::rootfs::{self, RootPlan};
use super::start_hooks::{self, StartHook};
use super::sys;
use super::terminal;

/// Where the init reads its command.
pub const CMD_FD: RawFd = 3;
/// Where the init reports a failure to run the command; close-on-exec, so a
/// successful exec closes it and the shim reads EOF.
pub const STATUS_FD: RawFd = 4;
/// Where the init reports its Create-time setup: ready (with its
/// terminal's master), or what failed. A SOCK_SEQPACKET socket.
pub const ACK_FD: RawFd = 5;

/// Where the init holds the directory of the host's cgroup hierarchies, as
/// its mount namespace has them (ahead.rs's `CGROUP_ROOT`), when the holder
/// of its namespaces mounted its /sys over them: it joins and binds its
/// own cgroup through it.
pub const CGROUP_FD: RawFd = 6;

/// Where the init reads the holder's second word (ahead.rs's MADE_COVER),
/// when it joined the holder's namespaces.
pub const HOLDER_FD: RawFd = 7;

/// The most cgroup hierarchies the init joins and mounts (v1 has about a
/// dozen controllers; a container is made in five or six).
pub const MAX_HIERARCHIES: usize = 16;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the init needs, made by the shim before the clone. The init
/// only reads it and writes into its buffers, which the shim does not touch
/// again (spawn.rs keeps them until it has exec'd, for an init that shares
/// the shim's memory).
pub struct InitPlan {
    hostname: CString,
    privileged: bool,
    /// A terminal of this size (rows, cols), which it makes itself.
    terminal: Option<(u16, u16)>,
    /// The host's cgroups are v2 (one hierarchy, joined through
    /// `cgroup.procs`), not v1 (each through `tasks`).
    cgroup_v2: bool,
    last_cap: u32,
    /// Receives the command: exactly as long as the one the shim will send.
    buf: Vec<u8>,
    /// Receives argv and envp, pointing into `buf`.
    ptrs: Vec<*const c_char>,
    /// Receives the cgroups to join (see [`relay::encode_join`]): pairs of
    /// a directory and its hierarchy's name.
    join_buf: Vec<u8>,
    /// How much of `join_buf` the message filled.
    join_len: usize,
    /// The directories joined, opened (O_PATH), for their mounts.
    cgroup_dirs: [RawFd; MAX_HIERARCHIES],
    /// Its terminal's master, once made.
    master: RawFd,
    /// What the holder of the namespaces it joined made in them already
    /// (ahead.rs's MADE_*).
    pub(crate) made_ahead: i32,
    /// How long it waited for the holder of the namespaces it joined, in
    /// µs: its ready report says so (in `errno`, with NS_JOINED).
    pub(crate) waited_us: i32,
    /// How its namespaces came to be, for its ready report: an
    /// [`Ahead`](crate::spawn) outcome and an errno.
    pub(crate) namespaces: (u32, i32),
    /// A root file system of its own; None: the host's, as its mount
    /// namespace copied it.
    root: Option<RootPlan>,
    /// Who the command runs as, and its limits.
    identity: Identity,
    /// A network namespace to join (a spec's `path`), instead of its own.
    netns: Option<CString>,
    /// Sysctls and device nodes of the spec's.
    extras: Extras,
    /// It waits, once its namespaces are made and before its root is
    /// entered, for the createRuntime and createContainer hooks.
    hooks_pause: bool,
    /// It joined its cgroup already (for the hooks).
    joined: bool,
    /// The startContainer hooks it runs at Start (start_hooks.rs).
    start_hooks: Vec<StartHook>,
    /// The paths masked and made read-only (docker's, or a spec's: see
    /// [`InitPlan::with_paths`]; none until then).
    masked: Vec<CString>,
    readonly: Vec<CString>,
    /// It holds the host's cgroup root at CGROUP_FD (the holder's view, or,
    /// with a root of its own, its own, taken before the pivot).
    cgroup_fd: bool,
}

/// Room for the cgroup files the init joins: a few paths of a few hundred
/// bytes at most (cgroup parents are capped at 1 KiB, cgroup/group.rs).
pub const JOIN_BUF: usize = 8192;

impl InitPlan {
    /// Whether the container is privileged.
    pub fn privileged(&self) -> bool {
        self.privileged
    }

    /// A plan for running `command` (made by [`encode`]) as `argc`
    /// arguments and `envc` variables.
    pub fn new(
        hostname: &str,
        privileged: bool,
        terminal: Option<(u16, u16)>,
        cgroup_v2: bool,
        command_len: usize,
        argc: usize,
        envc: usize,
    ) -> Result<Self, RelayError> {
        Ok(Self {
            hostname: CString::new(hostname).map_err(|_| RelayError::InnerNul)?,
            privileged,
            terminal,
            cgroup_v2,
            last_cap: harden::last_cap(),
            buf: vec![0; command_len],
            ptrs: vec![std::ptr::null(); relay::pointer_slots(argc, envc)],
            join_buf: vec![0; JOIN_BUF],
            join_len: 0,
            cgroup_dirs: [-1; MAX_HIERARCHIES],
            master: -1,
            made_ahead: 0,
            waited_us: 0,
            namespaces: (0, 0),
            root: None,
            netns: None,
            extras: Extras::default(),
            hooks_pause: false,
            joined: false,
            start_hooks: Vec::new(),
            identity: Identity::default(),
            masked: Vec::new(),
            readonly: Vec::new(),
            cgroup_fd: false,
        })
    }

    /// Whether it has a root file system of its own.
    pub fn has_root(&self) -> bool {
        self.root.is_some()
    }

    /// With a root file system of its own.
    pub fn with_root(mut self, root: Option<RootPlan>) -> Self {
        self.root = root;
        self
    }

    /// Masking `masked` and making `readonly` read-only; a path with a NUL
    /// byte is refused.
    pub fn with_paths(
        mut self,
        masked: &[String],
        readonly: &[String],
    ) -> Result<Self, RelayError> {
        let c = |v: &[String]| -> Result<Vec<CString>, RelayError> {
            v.iter()
                .map(|p| CString::new(p.as_str()).map_err(|_| RelayError::InnerNul))
                .collect()
        };
        self.masked = c(masked)?;
        self.readonly = c(readonly)?;
        Ok(self)
    }

    /// In the network namespace at `path` (an orchestrator's), not one of
    /// its own.
    pub fn with_netns(mut self, path: Option<&str>) -> Result<Self, RelayError> {
        self.netns = path
            .map(|p| CString::new(p).map_err(|_| RelayError::InnerNul))
            .transpose()?;
        Ok(self)
    }

    /// Waiting for hooks before its root is entered (see
    /// [`Setup::pause`](super::spawn::Setup::pause)).
    pub fn with_hooks_pause(mut self, pause: bool) -> Self {
        self.hooks_pause = pause;
        self
    }

    /// Running `hooks` at Start, before the command.
    pub fn with_start_hooks(mut self, hooks: Vec<StartHook>) -> Self {
        self.start_hooks = hooks;
        self
    }

    /// Whether it runs startContainer hooks (and needs their state at
    /// HOOK_STATE_FD).
    pub fn has_start_hooks(&self) -> bool {
        !self.start_hooks.is_empty()
    }

    /// With the spec's sysctls and device nodes.
    pub fn with_extras(mut self, extras: Extras) -> Self {
        self.extras = extras;
        self
    }

    /// Running the command as `identity`.
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// What its failures' items name.
    pub fn names(&self) -> Names {
        let list = |l: &[CString]| l.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        Names {
            mounts: self
                .root
                .as_ref()
                .map(RootPlan::destinations)
                .unwrap_or_default(),
            masked: list(&self.masked),
            readonly: list(&self.readonly),
            sysctls: self.extras.sysctl_names(),
            devices: self.extras.device_names(),
            start_hooks: self.start_hooks.iter().map(StartHook::name).collect(),
        }
    }
}

/// The command the shim sends the init at Start: the arguments, the
/// environment with docker's defaults added (each only when the caller did
/// not set it), the PATH the program is looked up in, and the directory.
pub fn encode(
    argv: &[String],
    env: &[String],
    cwd: &str,
    hostname: &str,
) -> Result<(Vec<u8>, usize), RelayError> {
    encode_with(argv, env, cwd, hostname, true)
}

/// [`encode`]; without `defaults`, the environment exactly as given (an
/// OCI spec's, as runc passes it), PATH or not (the program is then
/// looked up in docker's default PATH).
pub fn encode_with(
    argv: &[String],
    env: &[String],
    cwd: &str,
    hostname: &str,
    defaults: bool,
) -> Result<(Vec<u8>, usize), RelayError> {
    let has = |k: &str| !defaults || env.iter().any(|kv| kv.split('=').next() == Some(k));
    let mut env = env.to_vec();
    if !has("PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has("HOSTNAME") && !hostname.is_empty() {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has("HOME") {
        env.push("HOME=/root".into());
    }
    let path = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    Ok((relay::encode_command(argv, &env, path, cwd)?, env.len()))
}

/// The init, from the moment its descriptors are in place (0-2, CMD_FD,
/// STATUS_FD, ACK_FD) until it execs the command.
///
/// # Safety
/// Call only in the clone child, once, with the plan the shim made for it.
pub unsafe fn run(plan: &mut InitPlan) -> ! {
    let set_up = setup(plan).and_then(|_| match plan.joined {
        true => Ok(()),
        false => join_cgroup(plan),
    });
    if let Err(f) = set_up {
        fail(ACK_FD, f);
    }
    // Ready, and (in `item`, `errno`) how its namespaces came to be.
    let (item, errno) = plan.namespaces;
    let errno = if item == ahead::NS_JOINED {
        plan.waited_us
    } else {
        errno
    };
    let ready = Report {
        step: Step::Ready as u32,
        errno,
        item,
    };
    if plan.master >= 0 {
        if let Err(e) = sys::send_with_fd(ACK_FD, &ready.encode(), plan.master) {
            fail(ACK_FD, Fault::new(Step::Terminal, e, terminal::SEND_STEP));
        }
        // SAFETY: our own descriptor; the shim has its copy.
        let _ = unsafe { sys::close(plan.master) };
    } else {
        send(ACK_FD, &ready);
    }
    // SAFETY: our own descriptor, not used again.
    let _ = unsafe { sys::close(ACK_FD) };
    // The rest of its set-up after the report, while the shim goes on
    // (answers Create, attaches, sends the command): done before the
    // command is read, so before anything of the container's runs. A
    // failure here is Start's to report (on the status pipe, as one of the
    // exec): the command will not run.
    let f = match setup_late(plan)
        // Last, as the mounts and the join needed CAP_SYS_ADMIN.
        .and_then(|_| identity::assume(&plan.identity, plan.last_cap))
        .and_then(|_| receive_and_exec(plan))
    {
        Err(f) => f,
        Ok(never) => match never {},
    };
    fail(STATUS_FD, f)
}

/// Create-time setup in the init's own namespaces, while the shim makes
/// its cgroup: what its ready report depends on (its terminal), and what
/// that needs.
fn setup(plan: &mut InitPlan) -> Result<(), Fault> {
    if let Some(path) = &plan.netns {
        // First, while the host's paths are in view; its own (made ahead
        // or not) goes with the holder.
        let fd = Fault::check(
            sys::open(path, libc::O_RDONLY | libc::O_CLOEXEC),
            Step::JoinNetns,
            0,
        )? as RawFd;
        let joined = sys::setns(fd, libc::CLONE_NEWNET);
        // SAFETY: the descriptor just opened.
        let _ = unsafe { sys::close(fd) };
        Fault::check(joined, Step::JoinNetns, 0)?;
    }
    // Private, recursively: with a shared `/` (systemd hosts) the mounts
    // below would otherwise propagate to the host.
    let private = libc::MS_REC | libc::MS_PRIVATE;
    Fault::check(
        sys::mount(None, c"/", None, private, None),
        Step::MakePrivate,
        0,
    )?;
    plan.cgroup_fd = plan.made_ahead & MADE_SYS != 0;
    if plan.root.is_some() && !plan.cgroup_fd {
        // The host's hierarchies, for the join after the pivot.
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let fd = Fault::check(sys::open(ahead::CGROUP_ROOT, flags), Step::JoinCgroup, 0)?;
        let fd = fd as RawFd;
        if fd != CGROUP_FD {
            // SAFETY: our own descriptor, moved to its fixed place.
            Fault::check(unsafe { sys::dup_to(fd, CGROUP_FD) }, Step::JoinCgroup, 0)?;
            // SAFETY: the original, now at CGROUP_FD.
            let _ = unsafe { sys::close(fd) };
        }
        plan.cgroup_fd = true;
    }
    if plan.hooks_pause {
        // The runtime's hooks run now: its namespaces made (a network
        // namespace given by path joined), in its cgroup (hooks read
        // /proc/PID/cgroup), its root not yet entered, as the spec has
        // it. The shim answers on the same socket.
        join_cgroup(plan)?;
        plan.joined = true;
        send(
            ACK_FD,
            &Report {
                step: Step::Hooks as u32,
                errno: 0,
                item: 0,
            },
        );
        let mut go = [0u8; 1];
        let heard = loop {
            match sys::read(ACK_FD, &mut go) {
                Err(libc::EINTR) => {}
                r => break r,
            }
        };
        if !matches!(heard, Ok(1)) {
            // A hook failed, or the shim went: nothing to set up for.
            sys::exit(EXIT_SETUP)
        }
    }
    if let Some(root) = &mut plan.root {
        // In a mount namespace of its own (spawn.rs), not the holder's.
        rootfs::enter(root)?;
    }
    let docker = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    let flags = plan
        .root
        .as_ref()
        .and_then(|r| r.proc_flags)
        .unwrap_or(docker);
    Fault::check(
        sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, None),
        Step::MountProc,
        0,
    )?;
    // Made ahead unless the init made its own namespaces (a privileged
    // container is never given the holder's, spawn.rs), or has a root of
    // its own (where the holder's is out of reach), which gets the
    // standard nodes, privileged or not.
    match &mut plan.root {
        Some(root) => {
            mounts::dev_contents(false)?;
            rootfs::mount_all(root)?;
            rootfs::make_workdir(root)?;
        }
        None if plan.made_ahead & MADE_DEV == 0 => mounts::dev(plan.privileged)?,
        None => {}
    }
    extras::make_devices(&plan.extras)?;
    if let Some((rows, cols)) = plan.terminal {
        plan.master = terminal::open(rows, cols, plan.privileged)?;
    }
    Ok(())
}

/// Waits for the shim to make the cgroup, and joins it: the command, and
/// everything the init does from here, is accounted to the container. What
/// came before (the namespaces, the mounts) is the runtime's work, and
/// overlapped with the shim's. The message is pairs of a directory and its
/// hierarchy's name; each directory is kept open for its mount (see
/// [`setup_late`]), as the host's hierarchies are out of view once /sys
/// is the container's.
fn join_cgroup(plan: &mut InitPlan) -> Result<(), Fault> {
    let mut header = [0u8; 4];
    if read_full(CMD_FD, &mut header, Step::JoinCgroup)? < header.len() {
        // The shim gave up on this container (or died): nothing to report.
        sys::exit(EXIT_SETUP)
    }
    let len = relay::join_len(header);
    let Some(body) = plan.join_buf.get_mut(..len) else {
        return Err(decode_fault(RelayError::TooLarge));
    };
    if read_full(CMD_FD, body, Step::JoinCgroup)? < body.len() {
        sys::exit(EXIT_SETUP)
    }
    plan.join_len = len;
    let join_file = if plan.cgroup_v2 {
        c"cgroup.procs"
    } else {
        c"tasks"
    };
    let mut entries = relay::decode_join(&plan.join_buf[..len]).map_err(decode_fault)?;
    let mut i = 0;
    while let Some(dir) = entries.next() {
        if entries.next().is_none() || i == MAX_HIERARCHIES {
            return Err(decode_fault(RelayError::Truncated));
        }
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // Relative: under the host's cgroup root, which it holds.
        let opened = match dir.to_bytes().first() {
            Some(b'/') => sys::open(dir, flags),
            _ if plan.cgroup_fd => sys::open_at(CGROUP_FD, dir, flags),
            _ => {
                let mut p = CPath::new(ahead::CGROUP_ROOT.to_bytes()).ok_or(Fault::new(
                    Step::JoinCgroup,
                    libc::ENAMETOOLONG,
                    i,
                ))?;
                p.push(b"/")
                    .and_then(|p| p.push(dir.to_bytes()))
                    .ok_or(Fault::new(Step::JoinCgroup, libc::ENAMETOOLONG, i))?;
                sys::open(p.as_cstr(), flags)
            }
        };
        let held = Fault::check(opened, Step::JoinCgroup, i)? as RawFd;
        plan.cgroup_dirs[i] = held;
        let fd = Fault::check(
            sys::open_at(held, join_file, libc::O_WRONLY | libc::O_CLOEXEC),
            Step::JoinCgroup,
            i,
        )? as RawFd;
        let written = sys::write(fd, b"0");
        // SAFETY: the descriptor opened above.
        let _ = unsafe { sys::close(fd) };
        match written {
            Ok(1) => {}
            Ok(_) => return Err(Fault::new(Step::JoinCgroup, libc::EIO, i)),
            Err(e) => return Err(Fault::new(Step::JoinCgroup, e, i)),
        }
        i += 1;
    }
    Ok(())
}

/// The rest of its set-up, once in its cgroup and after its ready report
/// (see [`run`]): a cgroup namespace, whose root is that cgroup, and the
/// file systems that show the container's own namespaces, /sys (unless
/// made ahead) and /sys/fs/cgroup; docker's masked and read-only paths;
/// its hostname.
fn setup_late(plan: &mut InitPlan) -> Result<(), Fault> {
    Fault::check(sys::unshare(libc::CLONE_NEWCGROUP), Step::CgroupNs, 0)?;
    // /sys shows the network namespace of whoever mounts it.
    if plan.made_ahead & MADE_SYS == 0 || plan.root.is_some() || plan.netns.is_some() {
        // Not made ahead (no holder, a privileged container, or the host's
        // cgroups are not all under /sys/fs/cgroup): now that it has
        // joined them.
        mounts::sys(plan.privileged)?;
    }
    // Before /proc/sys is made read-only.
    extras::write_sysctls(&plan.extras)?;
    if !plan.privileged {
        harden::protect_paths(&plan.masked, &plan.readonly)?;
        // The holder covers them, in the namespaces it made, while this
        // goes on: done by now, most likely. Where it did not (or could
        // not), here.
        // With a root of its own, the host's are not in its namespace.
        if plan.root.is_none() {
            let covered = plan.made_ahead & MADE_COVER != 0 && holder_covered();
            if !covered {
                mounts::cover_kernel_fs()?;
            }
        }
    }
    let host = plan.hostname.as_bytes();
    if !host.is_empty() {
        Fault::check(sys::sethostname(host), Step::Hostname, 0)?;
    }
    // With docker's seccomp, it cannot reach a keyring at all; without, as
    // runc does, a session keyring of its own.
    if !plan.identity.docker_seccomp {
        harden::own_keyring()?;
    }
    let names = relay::decode_join(&plan.join_buf[..plan.join_len])
        .map_err(decode_fault)?
        .skip(1)
        .step_by(2);
    let dirs = plan.cgroup_dirs.iter().copied().take_while(|fd| *fd >= 0);
    let r = mounts::cgroups(plan.cgroup_v2, plan.privileged, dirs.zip(names));
    for fd in plan.cgroup_dirs.iter_mut().filter(|fd| **fd >= 0) {
        // SAFETY: the descriptors join_cgroup opened, used no more.
        let _ = unsafe { sys::close(*fd) };
        *fd = -1;
    }
    if plan.cgroup_fd {
        // SAFETY: the host's cgroup root, used no more (nothing of the
        // host's stays open in the container).
        let _ = unsafe { sys::close(CGROUP_FD) };
    }
    r?;
    match &plan.root {
        Some(root) => rootfs::leave_host().and_then(|_| rootfs::seal(root)),
        None => Ok(()),
    }
}

/// The holder's second word: whether it covered the host's kernel file
/// systems (0). Its descriptor is not needed after.
fn holder_covered() -> bool {
    let mut word = [0u8; 4];
    let got = read_full(HOLDER_FD, &mut word, Step::Cover);
    // SAFETY: our own descriptor, not used again.
    let _ = unsafe { sys::close(HOLDER_FD) };
    matches!(got, Ok(4)) && i32::from_ne_bytes(word) == 0
}

/// Reads from `fd` until `buf` is full or EOF: how much it read. A read
/// error is `step`'s fault.
fn read_full(fd: RawFd, buf: &mut [u8], step: Step) -> Result<usize, Fault> {
    let mut got = 0;
    while got < buf.len() {
        match sys::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Err(libc::EINTR) => {}
            Err(e) => return Err(Fault::new(step, e, 0)),
            Ok(n) => got += n,
        }
    }
    Ok(got)
}

/// Start: the command, then exec. Returns only with why it failed.
fn receive_and_exec(plan: &mut InitPlan) -> Result<std::convert::Infallible, Fault> {
    match read_full(CMD_FD, &mut plan.buf, Step::ReadCommand)? {
        // The shim went away, or deleted a container it never started:
        // nobody to run a command for, or to report to.
        0 => sys::exit(EXIT_SETUP),
        n if n < plan.buf.len() => return Err(decode_fault(RelayError::Truncated)),
        _ => {}
    }
    // SAFETY: our own descriptor, not used again.
    let _ = unsafe { sys::close(CMD_FD) };
    let cmd = relay::decode_command(&plan.buf, &mut plan.ptrs).map_err(decode_fault)?;
    Fault::check(sys::chdir(cmd.cwd), Step::Chdir, 0)?;
    // dup2 cleared close-on-exec on the status pipe: set it again, so that a
    // successful exec closes it and the shim reads EOF (and no hook holds
    // it). (Signals and every other descriptor of the shim's were dealt
    // with in spawn.rs.)
    let _ = sys::set_cloexec(STATUS_FD);
    // In the container's root and namespaces, as its user, before the
    // command's directory and program are looked for (runc's order).
    start_hooks::run_all(&plan.start_hooks, &plan.identity)?;
    // SAFETY: decode_command put a C string pointer in ptrs[0].
    let name = unsafe { CStr::from_ptr(plan.ptrs[0]) };
    let mut path_buf = [0u8; PATH_BUF];
    let program =
        lookup(name, cmd.path.to_bytes(), &mut path_buf, probe_exec).map_err(|e| Fault {
            step: Step::Exec,
            errno: e as i32,
            item: 0,
        })?;
    if plan.identity.no_new_privs {
        identity::load_filters(&plan.identity)?;
    }
    let argv = plan.ptrs.as_ptr();
    // SAFETY: decode_command filled ptrs with argv, NULL, envp, NULL, all C
    // strings in buffers that live until the exec.
    let errno = unsafe { sys::execve(program, argv, argv.add(cmd.argc + 1)) };
    Err(Fault::new(Step::Exec, errno, 0))
}

fn decode_fault(e: RelayError) -> Fault {
    Fault {
        step: Step::DecodeCommand,
        errno: 0,
        item: e as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_gets_dockers_default_environment() {
        let (msg, envc) = encode(&["sh".into()], &["A=1".into()], "", "h").unwrap();
        assert_eq!(envc, 4);
        let mut ptrs = vec![std::ptr::null(); relay::pointer_slots(1, envc)];
        let cmd = relay::decode_command(&msg, &mut ptrs).unwrap();
        assert_eq!(cmd.path.to_str().unwrap(), DEFAULT_PATH);
        assert_eq!(cmd.cwd, c"/");
        let env: Vec<_> = ptrs[2..6]
            .iter()
            // SAFETY: pointers to C strings inside `msg`.
            .map(|p| unsafe { CStr::from_ptr(*p) }.to_str().unwrap())
            .collect();
        assert_eq!(
            env,
            [
                "A=1",
                &format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=h",
                "HOME=/root"
            ]
        );
        // The caller's PATH is both in the environment and searched.
        let (msg, envc) = encode(&["sh".into()], &["PATH=/opt".into()], "/w", "").unwrap();
        assert_eq!(envc, 2);
        let mut ptrs = vec![std::ptr::null(); relay::pointer_slots(1, envc)];
        let cmd = relay::decode_command(&msg, &mut ptrs).unwrap();
        assert_eq!((cmd.path, cmd.cwd), (c"/opt", c"/w"));
    }
}
