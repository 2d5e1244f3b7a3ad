//! The container's init: the shim binary re-executed inside the new
//! namespaces (`mydocker-shim init`). It is single-threaded and is PID 1 of
//! its PID namespace. It waits for its command on fd 3, prepares the
//! namespaces, and execs the command in its own place, so that the command
//! is PID 1. Any failure is reported on fd 4 and ends the init.

use std::convert::Infallible;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use crate::harden;
use crate::relay::{self, InitFailure, InitMessage};

/// Where the init finds the command pipe.
pub const CMD_FD: RawFd = 3;
/// Where the init reports a failure; close-on-exec, so a successful exec
/// closes it and the shim reads EOF.
pub const STATUS_FD: RawFd = 4;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit code when the container could not be set up.
const EXIT_SETUP: i32 = 125;
/// Exit code when the command was found but cannot be invoked.
const EXIT_CANNOT_INVOKE: i32 = 126;
/// Exit code when the command was not found.
const EXIT_NOT_FOUND: i32 = 127;

/// Runs the init; returns only by exiting.
pub fn main() -> ! {
    // SAFETY: CMD_FD was placed by the shim for this process alone and is
    // owned by nothing else here.
    let mut cmd = unsafe { File::from_raw_fd(CMD_FD) };
    let failure = match relay::read_frame(&mut cmd) {
        // The shim went away (or deleted a never-started container): there is
        // nobody to report to.
        Ok(None) => std::process::exit(EXIT_SETUP),
        Ok(Some(body)) => {
            drop(cmd);
            match InitMessage::decode(&body) {
                Ok(msg) => match run(&msg) {
                    Err(f) => f,
                    Ok(never) => match never {},
                },
                Err(e) => failure(EXIT_SETUP, format!("init: {e}")),
            }
        }
        Err(e) => failure(EXIT_SETUP, format!("init: {e}")),
    };
    report(&failure);
    std::process::exit(failure.exit_code)
}

fn failure(exit_code: i32, message: String) -> InitFailure {
    InitFailure { exit_code, message }
}

fn report(f: &InitFailure) {
    // SAFETY: STATUS_FD was placed by the shim for this process alone.
    let mut status = unsafe { File::from_raw_fd(STATUS_FD) };
    if let Ok(frame) = f.encode() {
        let _ = relay::write_frame(&mut status, &frame);
    }
}

fn setup_err(what: &str) -> impl FnOnce(Errno) -> InitFailure + '_ {
    move |e| failure(EXIT_SETUP, format!("{what}: {}", e.desc()))
}

fn run(msg: &InitMessage) -> Result<Infallible, InitFailure> {
    if msg.argv.is_empty() {
        return Err(failure(EXIT_SETUP, "init: empty argv".into()));
    }
    // Private, recursively: with a shared `/` (systemd hosts) the /proc
    // mount below would otherwise propagate to the host and hide its /proc.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(setup_err("make / private"))?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(setup_err("mount /proc"))?;
    if !msg.privileged {
        harden::protect_paths().map_err(|m| failure(EXIT_SETUP, m))?;
    }
    if !msg.hostname.is_empty() {
        nix::unistd::sethostname(&msg.hostname).map_err(setup_err("set hostname"))?;
    }
    let cwd = if msg.cwd.is_empty() { "/" } else { &msg.cwd };
    nix::unistd::chdir(cwd).map_err(|e| {
        failure(
            EXIT_CANNOT_INVOKE,
            format!("chdir to {cwd:?}: {}", e.desc()),
        )
    })?;

    let path_var = msg
        .env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let program = lookup(&msg.argv[0], path_var).map_err(|e| exec_failure(msg, e))?;

    let c = |s: &str, what: &str| {
        CString::new(s).map_err(|_| failure(EXIT_SETUP, format!("{what} contains a NUL byte")))
    };
    let argv = msg
        .argv
        .iter()
        .map(|a| c(a, "an argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env = msg
        .env
        .iter()
        .map(|a| c(a, "an environment variable"))
        .collect::<Result<Vec<_>, _>>()?;
    // docker's defaults, each only when the caller did not set it.
    let has = |k: &str| msg.env.iter().any(|kv| kv.split('=').next() == Some(k));
    if !has("PATH") {
        env.push(c(&format!("PATH={DEFAULT_PATH}"), "PATH")?);
    }
    if !has("HOSTNAME") && !msg.hostname.is_empty() {
        env.push(c(&format!("HOSTNAME={}", msg.hostname), "HOSTNAME")?);
    }
    if !has("HOME") {
        env.push(c("HOME=/root", "HOME")?);
    }
    let program_c = CString::new(program.as_os_str().as_bytes())
        .map_err(|_| failure(EXIT_SETUP, "path contains a NUL byte".into()))?;

    prepare_exec();
    // Last, as everything before needed CAP_SYS_ADMIN.
    if !msg.privileged {
        harden::drop_privileges().map_err(|m| failure(EXIT_SETUP, m))?;
    }
    let err = nix::unistd::execve(&program_c, &argv, &env).unwrap_err();
    Err(exec_failure(msg, err))
}

/// Leaves the command nothing of ours: default signal dispositions (the Rust
/// runtime ignores SIGPIPE, and an ignored signal stays ignored across exec),
/// an empty signal mask, and no descriptor but 0, 1, 2 and the close-on-exec
/// status pipe.
fn prepare_exec() {
    // SAFETY: plain syscalls on a single-threaded process about to exec.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::fcntl(STATUS_FD, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::close(CMD_FD);
        libc::syscall(
            libc::SYS_close_range,
            (STATUS_FD + 1) as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        );
    }
}

/// Longest single argument or environment string execve takes, with its NUL
/// (the kernel's MAX_ARG_STRLEN: 32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;

fn exec_failure(msg: &InitMessage, e: Errno) -> InitFailure {
    let cmd = msg.argv[0].as_str();
    match e {
        Errno::ENOENT if !cmd.contains('/') => failure(
            EXIT_NOT_FOUND,
            format!("exec: {cmd:?}: executable file not found in $PATH"),
        ),
        Errno::ENOENT => failure(
            EXIT_NOT_FOUND,
            format!("exec: {cmd:?}: no such file or directory"),
        ),
        Errno::E2BIG => {
            // Say which of the kernel's two limits was crossed: the user
            // can shorten one string, or needs to send less in all.
            let strings = || msg.argv.iter().chain(&msg.env);
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
            failure(
                EXIT_CANNOT_INVOKE,
                format!("exec: {cmd:?}: argument list too long: {why}"),
            )
        }
        e => failure(EXIT_CANNOT_INVOKE, format!("exec: {cmd:?}: {}", e.desc())),
    }
}

/// Finds `cmd` as execvp(3) would: a name with a `/` is taken as it is;
/// otherwise the first executable regular file of that name on `path`. A
/// match that is not executable is remembered, so that "permission denied"
/// wins over "not found" when nothing better turns up.
pub fn lookup(cmd: &str, path: &str) -> Result<PathBuf, Errno> {
    if cmd.is_empty() {
        return Err(Errno::ENOENT);
    }
    if cmd.contains('/') {
        return Ok(PathBuf::from(cmd));
    }
    let mut denied = false;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(OsStr::new(cmd));
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(candidate),
            Ok(_) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied { Errno::EACCES } else { Errno::ENOENT })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lookup_follows_path_order_and_permissions() {
        let dir = std::env::temp_dir().join(format!("mydocker-lookup-{}", std::process::id()));
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), "").unwrap();
        std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(b.join("tool"), "").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        assert_eq!(lookup("tool", &path).unwrap(), b.join("tool"));
        assert_eq!(lookup("tool", a.to_str().unwrap()), Err(Errno::EACCES));
        assert_eq!(lookup("nope", &path), Err(Errno::ENOENT));
        assert_eq!(lookup("", &path), Err(Errno::ENOENT));
        assert_eq!(lookup("./x/y", &path).unwrap(), PathBuf::from("./x/y"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failures_follow_docker_exit_codes() {
        let cmd = cmd_of;
        assert_eq!(exec_failure(&cmd(&["nope"]), Errno::ENOENT).exit_code, 127);
        assert_eq!(
            exec_failure(&cmd(&["/bin/nope"]), Errno::ENOENT).exit_code,
            127
        );
        assert_eq!(
            exec_failure(&cmd(&["/etc/passwd"]), Errno::EACCES).exit_code,
            126
        );
        assert!(exec_failure(&cmd(&["nope"]), Errno::ENOENT)
            .message
            .contains("not found in $PATH"));
    }

    #[test]
    fn too_long_says_which_limit() {
        let long = "x".repeat(200 << 10);
        let one = exec_failure(&cmd_of(&["echo", &long]), Errno::E2BIG);
        assert_eq!(one.exit_code, 126);
        assert!(
            one.message.contains("a string of 200 KiB"),
            "{}",
            one.message
        );
        let many: Vec<String> = (0..40).map(|_| "y".repeat(100 << 10)).collect();
        let mut m = cmd_of(&["echo"]);
        m.env = many;
        let all = exec_failure(&m, Errno::E2BIG);
        assert!(
            all.message
                .contains("4000 KiB of arguments and environment"),
            "{}",
            all.message
        );
    }

    fn cmd_of(argv: &[&str]) -> InitMessage {
        InitMessage {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
}
