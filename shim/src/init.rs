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
//! docker's masked paths, hostname), waits for the shim's word that its
//! cgroup is made and joins it, drops its capabilities, reports ready on the
//! ack pipe, and waits. At Start the shim sends it the command over the command
//! pipe; it parses it in place, changes directory, finds the program on the
//! PATH and execs it in its own place, so that the command is PID 1. Any
//! failure is a fixed-size [`Report`] (step, errno, item) that the shim
//! turns into words ([`describe`]); the init itself only exits.

use std::ffi::{c_char, CStr, CString};
use std::os::fd::RawFd;

use nix::errno::Errno;

use crate::harden;
use crate::relay::{self, RelayError, Report};
use crate::sys;

/// Where the init reads its command.
pub const CMD_FD: RawFd = 3;
/// Where the init reports a failure to run the command; close-on-exec, so a
/// successful exec closes it and the shim reads EOF.
pub const STATUS_FD: RawFd = 4;
/// Where the init reports its Create-time setup: ready, or what failed.
pub const ACK_FD: RawFd = 5;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit code when the container could not be set up.
const EXIT_SETUP: i32 = 125;
/// Exit code when the command was found but cannot be invoked.
const EXIT_CANNOT_INVOKE: i32 = 126;
/// Exit code when the command was not found.
const EXIT_NOT_FOUND: i32 = 127;

/// The init's steps, in order. A [`Report`] names the one that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Ready = 0,
    Unshare,
    JoinCgroup,
    PlaceFds,
    ControllingTty,
    MakePrivate,
    MountProc,
    Mask,
    BindReadOnly,
    MakeReadOnly,
    Hostname,
    DropCap,
    SetCaps,
    NoNewPrivs,
    ReadCommand,
    DecodeCommand,
    Chdir,
    Exec,
}

impl Step {
    const ALL: [Step; 18] = [
        Step::Ready,
        Step::Unshare,
        Step::JoinCgroup,
        Step::PlaceFds,
        Step::ControllingTty,
        Step::MakePrivate,
        Step::MountProc,
        Step::Mask,
        Step::BindReadOnly,
        Step::MakeReadOnly,
        Step::Hostname,
        Step::DropCap,
        Step::SetCaps,
        Step::NoNewPrivs,
        Step::ReadCommand,
        Step::DecodeCommand,
        Step::Chdir,
        Step::Exec,
    ];

    fn from_u32(n: u32) -> Option<Self> {
        Self::ALL.get(n as usize).copied()
    }
}

/// A failed step: what the init reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub step: Step,
    pub errno: i32,
    pub item: u32,
}

impl Fault {
    /// The step failed with `errno`.
    pub fn new(step: Step, errno: i32, item: usize) -> Self {
        Self {
            step,
            errno,
            item: item as u32,
        }
    }

    /// A step's system call, its error as this step's fault.
    pub fn check(r: sys::SysResult, step: Step, item: usize) -> Result<usize, Self> {
        r.map_err(|e| Self::new(step, e, item))
    }

    fn report(&self) -> Report {
        Report {
            step: self.step as u32,
            errno: self.errno,
            item: self.item,
        }
    }
}

/// The exit code of an init that failed at `step` (docker's conventions).
pub fn exit_code(step: Step, errno: i32) -> i32 {
    match step {
        Step::Chdir => EXIT_CANNOT_INVOKE,
        Step::Exec if errno == libc::ENOENT => EXIT_NOT_FOUND,
        Step::Exec => EXIT_CANNOT_INVOKE,
        _ => EXIT_SETUP,
    }
}

/// Everything the init needs, made by the shim before the clone. The init
/// only reads it and writes into its buffers, which the shim does not touch
/// again (spawn.rs keeps them until it has exec'd, for an init that shares
/// the shim's memory).
pub struct InitPlan {
    hostname: CString,
    privileged: bool,
    last_cap: u32,
    /// Receives the command: exactly as long as the one the shim will send.
    buf: Vec<u8>,
    /// Receives argv and envp, pointing into `buf`.
    ptrs: Vec<*const c_char>,
    /// Receives the cgroup files to join (see [`relay::encode_join`]).
    join_buf: Vec<u8>,
    /// How its namespaces came to be, for its ready report: an
    /// [`Ahead`](crate::spawn) outcome and an errno.
    pub(crate) namespaces: (u32, i32),
}

/// Room for the cgroup files the init joins: a few paths of a few hundred
/// bytes at most (cgroup parents are capped at 1 KiB, cgroup.rs).
pub const JOIN_BUF: usize = 8192;

impl InitPlan {
    /// A plan for running `command` (made by [`encode`]) as `argc`
    /// arguments and `envc` variables.
    pub fn new(
        hostname: &str,
        privileged: bool,
        command_len: usize,
        argc: usize,
        envc: usize,
    ) -> Result<Self, RelayError> {
        Ok(Self {
            hostname: CString::new(hostname).map_err(|_| RelayError::InnerNul)?,
            privileged,
            last_cap: harden::last_cap(),
            buf: vec![0; command_len],
            ptrs: vec![std::ptr::null(); relay::pointer_slots(argc, envc)],
            join_buf: vec![0; JOIN_BUF],
            namespaces: (0, 0),
        })
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
    let has = |k: &str| env.iter().any(|kv| kv.split('=').next() == Some(k));
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

/// Writes a report. Async-signal-safe.
fn send(fd: RawFd, r: &Report) {
    // A short or failed write leaves the shim with a truncated report or
    // EOF, which it handles.
    let _ = sys::write(fd, &r.encode());
}

/// Reports `fault` on `fd` and exits with its code (without running
/// anything of the shim's: atexit handlers, buffered I/O).
pub fn fail(fd: RawFd, fault: Fault) -> ! {
    send(fd, &fault.report());
    sys::exit(exit_code(fault.step, fault.errno))
}

/// The init, from the moment its descriptors are in place (0-2, CMD_FD,
/// STATUS_FD, ACK_FD) until it execs the command.
///
/// # Safety
/// Call only in the clone child, once, with the plan the shim made for it.
pub unsafe fn run(plan: &mut InitPlan) -> ! {
    if let Err(f) = setup(plan)
        .and_then(|_| join_cgroup(&mut plan.join_buf))
        .and_then(|_| {
            // Last, as the mounts and the join needed CAP_SYS_ADMIN.
            if plan.privileged {
                Ok(())
            } else {
                harden::drop_privileges(plan.last_cap)
            }
        })
    {
        fail(ACK_FD, f);
    }
    // Ready, and (in `item`, `errno`) how its namespaces came to be.
    let (item, errno) = plan.namespaces;
    send(
        ACK_FD,
        &Report {
            step: Step::Ready as u32,
            errno,
            item,
        },
    );
    // SAFETY: our own descriptor, not used again.
    let _ = unsafe { sys::close(ACK_FD) };
    let f = match receive_and_exec(plan) {
        Err(f) => f,
        Ok(never) => match never {},
    };
    fail(STATUS_FD, f)
}

/// Create-time setup, in the init's own namespaces.
fn setup(plan: &InitPlan) -> Result<(), Fault> {
    // Private, recursively: with a shared `/` (systemd hosts) the /proc
    // mount below would otherwise propagate to the host and hide its /proc.
    let private = libc::MS_REC | libc::MS_PRIVATE;
    Fault::check(
        sys::mount(None, c"/", None, private, None),
        Step::MakePrivate,
        0,
    )?;
    let flags = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    Fault::check(
        sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, None),
        Step::MountProc,
        0,
    )?;
    if !plan.privileged {
        harden::protect_paths()?;
    }
    let host = plan.hostname.as_bytes();
    if !host.is_empty() {
        Fault::check(sys::sethostname(host), Step::Hostname, 0)?;
    }
    Ok(())
}

/// Waits for the shim to make the cgroup, and joins it: the command, and
/// everything the init does from here, is accounted to the container. What
/// came before (the namespaces, the mounts) is the runtime's work, and
/// overlapped with the shim's.
fn join_cgroup(buf: &mut [u8]) -> Result<(), Fault> {
    let mut header = [0u8; 4];
    if read_full(CMD_FD, &mut header, Step::JoinCgroup)? < header.len() {
        // The shim gave up on this container (or died): nothing to report.
        sys::exit(EXIT_SETUP)
    }
    let Some(body) = buf.get_mut(..relay::join_len(header)) else {
        return Err(decode_fault(RelayError::TooLarge));
    };
    if read_full(CMD_FD, body, Step::JoinCgroup)? < body.len() {
        sys::exit(EXIT_SETUP)
    }
    for (i, path) in relay::decode_join(body).map_err(decode_fault)?.enumerate() {
        let fd = Fault::check(
            sys::open(path, libc::O_WRONLY | libc::O_CLOEXEC),
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
    }
    Ok(())
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
    // SAFETY: decode_command put a C string pointer in ptrs[0].
    let name = unsafe { CStr::from_ptr(plan.ptrs[0]) };
    let mut path_buf = [0u8; PATH_BUF];
    let program =
        lookup(name, cmd.path.to_bytes(), &mut path_buf, probe_exec).map_err(|e| Fault {
            step: Step::Exec,
            errno: e as i32,
            item: 0,
        })?;
    // dup2 cleared close-on-exec on the status pipe: set it again, so that a
    // successful exec closes it and the shim reads EOF. (Signals and every
    // other descriptor of the shim's were dealt with in spawn.rs.)
    let _ = sys::set_cloexec(STATUS_FD);
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

/// Room for a PATH candidate: the kernel's PATH_MAX.
pub const PATH_BUF: usize = libc::PATH_MAX as usize;

/// What is at a candidate path, for [`lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Missing,
    /// A regular file with an execute bit.
    Executable,
    /// Something that is there but cannot be run (a directory, no x bit).
    NotExecutable,
}

fn probe_exec(path: &CStr) -> Probe {
    let Ok(st) = sys::stat(path, true) else {
        return Probe::Missing;
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0 {
        Probe::Executable
    } else {
        Probe::NotExecutable
    }
}

/// Finds `cmd` as execvp(3) would, in `buf`, allocating nothing: a name with
/// a `/` is taken as it is; otherwise the first executable regular file of
/// that name on `path` (an empty entry is the current directory). A match
/// that cannot be run is remembered, so that "permission denied" wins over
/// "not found" when nothing better turns up. Candidates longer than
/// PATH_MAX are skipped, as execvp does.
pub fn lookup<'a>(
    cmd: &'a CStr,
    path: &[u8],
    buf: &'a mut [u8; PATH_BUF],
    probe: impl Fn(&CStr) -> Probe,
) -> Result<&'a CStr, Errno> {
    let name = cmd.to_bytes();
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name.contains(&b'/') {
        return Ok(cmd);
    }
    let mut denied = false;
    let mut found = None;
    for dir in path.split(|b| *b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let len = dir.len() + 1 + name.len();
        if len >= buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(name);
        buf[len] = 0;
        let Ok(candidate) = CStr::from_bytes_with_nul(&buf[..=len]) else {
            continue; // A NUL inside PATH: that entry cannot be a path.
        };
        match probe(candidate) {
            Probe::Executable => {
                found = Some(len);
                break;
            }
            Probe::NotExecutable => denied = true,
            Probe::Missing => {}
        }
    }
    let buf: &'a [u8] = buf;
    match found {
        Some(len) => CStr::from_bytes_with_nul(&buf[..=len]).map_err(|_| Errno::ENOENT),
        None if denied => Err(Errno::EACCES),
        None => Err(Errno::ENOENT),
    }
}

/// The init's report in words, and the exit code it exited with, for a
/// container of this command. Runs in the shim.
pub fn describe(r: &Report, argv: &[String], env: &[String], cwd: &str) -> (i32, String) {
    let Some(step) = Step::from_u32(r.step) else {
        return (EXIT_SETUP, format!("init: unknown step {} failed", r.step));
    };
    let desc = Errno::from_raw(r.errno).desc();
    let item = r.item as usize;
    let path = |list: &[&CStr]| {
        list.get(item)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("#{item}"))
    };
    let msg = match step {
        Step::Ready => "init: reported ready where it should have failed".into(),
        Step::Unshare => format!("create the namespaces: {}", Errno::from_raw(r.errno)),
        Step::JoinCgroup => format!("join the cgroup: {}", Errno::from_raw(r.errno)),
        Step::PlaceFds => format!("place the descriptors: {}", Errno::from_raw(r.errno)),
        Step::ControllingTty => format!(
            "take the controlling terminal: {}",
            Errno::from_raw(r.errno)
        ),
        Step::MakePrivate => format!("make / private: {desc}"),
        Step::MountProc => format!("mount /proc: {desc}"),
        Step::Mask => format!("mask {}: {desc}", path(harden::MASKED_PATHS)),
        Step::BindReadOnly => format!("bind {}: {desc}", path(harden::READONLY_PATHS)),
        Step::MakeReadOnly => format!("make read-only {}: {desc}", path(harden::READONLY_PATHS)),
        Step::Hostname => format!("set hostname: {desc}"),
        Step::DropCap => format!("drop capability {item} from the bounding set: {desc}"),
        Step::SetCaps => format!("set capabilities: {desc}"),
        Step::NoNewPrivs => format!("set no_new_privs: {desc}"),
        Step::ReadCommand => format!("init: read the command: {desc}"),
        Step::DecodeCommand => match RelayError::from_code(r.item) {
            Some(e) => format!("init: {e}"),
            None => format!("init: bad command (code {})", r.item),
        },
        Step::Chdir => {
            let cwd = if cwd.is_empty() { "/" } else { cwd };
            format!("chdir to {cwd:?}: {desc}")
        }
        Step::Exec => return exec_failure(argv, env, Errno::from_raw(r.errno)),
    };
    (exit_code(step, r.errno), msg)
}

/// Longest single argument or environment string execve takes, with its NUL
/// (the kernel's MAX_ARG_STRLEN: 32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;

fn exec_failure(argv: &[String], env: &[String], e: Errno) -> (i32, String) {
    let cmd = argv.first().map(String::as_str).unwrap_or("");
    let code = exit_code(Step::Exec, e as i32);
    let msg = match e {
        Errno::ENOENT if !cmd.contains('/') => {
            format!("exec: {cmd:?}: executable file not found in $PATH")
        }
        Errno::ENOENT => format!("exec: {cmd:?}: no such file or directory"),
        Errno::E2BIG => {
            // Say which of the kernel's two limits was crossed: the user
            // can shorten one string, or needs to send less in all.
            let strings = || argv.iter().chain(env);
            let longest = strings().map(|s| s.len() + 1).max().unwrap_or(0);
            let total: usize = strings().map(|s| s.len() + 1 + size_of::<usize>()).sum();
            // The kernel's limit: a quarter of the stack limit, at most
            // three quarters of 8 MiB (fs/exec.c); sysconf reports only the
            // first.
            // SAFETY: sysconf has no memory effects.
            let arg_max =
                (unsafe { libc::sysconf(libc::_SC_ARG_MAX) }.max(0) as usize).min(6 << 20);
            let why = if longest > MAX_ARG_STRLEN {
                format!(
                    "a string of {} KiB, and Linux takes at most 128 KiB per argument or variable",
                    longest >> 10
                )
            } else {
                format!(
                    "{} KiB of arguments and environment, and the limit is {} KiB in all",
                    total >> 10,
                    arg_max >> 10
                )
            };
            format!("exec: {cmd:?}: argument list too long: {why}")
        }
        e => format!("exec: {cmd:?}: {}", e.desc()),
    };
    (code, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn find(cmd: &CStr, path: &str) -> Result<String, Errno> {
        let mut buf = [0u8; PATH_BUF];
        lookup(cmd, path.as_bytes(), &mut buf, probe_exec).map(|p| p.to_str().unwrap().to_string())
    }

    #[test]
    fn lookup_follows_path_order_and_permissions() {
        let dir = std::env::temp_dir().join(format!("mydocker-lookup-{}", std::process::id()));
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(b.join("sub")).unwrap();
        std::fs::write(a.join("tool"), "").unwrap();
        std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(b.join("tool"), "").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        let want = b.join("tool").display().to_string();
        assert_eq!(find(c"tool", &path).unwrap(), want);
        assert_eq!(find(c"tool", a.to_str().unwrap()), Err(Errno::EACCES));
        // A directory of that name is found, and cannot be run.
        assert_eq!(find(c"sub", b.to_str().unwrap()), Err(Errno::EACCES));
        assert_eq!(find(c"nope", &path), Err(Errno::ENOENT));
        assert_eq!(find(c"", &path), Err(Errno::ENOENT));
        assert_eq!(find(c"./x/y", &path).unwrap(), "./x/y");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lookup_takes_empty_entries_as_here_and_skips_overlong_ones() {
        let seen = std::cell::RefCell::new(Vec::new());
        let probe = |p: &CStr| {
            seen.borrow_mut().push(p.to_str().unwrap().to_string());
            Probe::Missing
        };
        let long = "d".repeat(PATH_BUF);
        let path = format!("/x::{long}:/y");
        let mut buf = [0u8; PATH_BUF];
        assert_eq!(
            lookup(c"sh", path.as_bytes(), &mut buf, probe),
            Err(Errno::ENOENT)
        );
        assert_eq!(*seen.borrow(), ["/x/sh", "./sh", "/y/sh"]);
    }

    #[test]
    fn failures_follow_docker_exit_codes() {
        let argv = |a: &str| vec![a.to_string()];
        assert_eq!(exec_failure(&argv("nope"), &[], Errno::ENOENT).0, 127);
        assert_eq!(exec_failure(&argv("/bin/nope"), &[], Errno::ENOENT).0, 127);
        assert_eq!(
            exec_failure(&argv("/etc/passwd"), &[], Errno::EACCES).0,
            126
        );
        assert!(exec_failure(&argv("nope"), &[], Errno::ENOENT)
            .1
            .contains("not found in $PATH"));
        let report = |step, errno, item| Report { step, errno, item };
        assert_eq!(
            describe(
                &report(Step::Chdir as u32, libc::ENOENT, 0),
                &argv("sh"),
                &[],
                "/nope"
            ),
            (126, "chdir to \"/nope\": No such file or directory".into())
        );
        assert_eq!(
            describe(
                &report(Step::Mask as u32, libc::EPERM, 3),
                &argv("sh"),
                &[],
                ""
            ),
            (125, "mask /proc/kcore: Operation not permitted".into())
        );
        assert_eq!(describe(&report(99, 0, 0), &[], &[], "").0, 125);
    }

    #[test]
    fn too_long_says_which_limit() {
        let long = "x".repeat(200 << 10);
        let one = exec_failure(&["echo".into(), long], &[], Errno::E2BIG);
        assert_eq!(one.0, 126);
        assert!(one.1.contains("a string of 200 KiB"), "{}", one.1);
        let many: Vec<String> = (0..40).map(|_| "y".repeat(100 << 10)).collect();
        let all = exec_failure(&["echo".into()], &many, Errno::E2BIG);
        assert!(
            all.1.contains("4000 KiB of arguments and environment"),
            "{}",
            all.1
        );
    }

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
