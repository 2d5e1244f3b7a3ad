//! The init's report in words, in the shim: the step that failed, and
//! for an exec that failed, why, as docker says it (and the exit code,
//! docker's 125, 126 or 127).

use std::ffi::CStr;

use nix::errno::Errno;

use super::harden;
use super::mounts;
use super::relay::{RelayError, Report};
use super::report::{exit_code, Step, EXIT_SETUP};
use super::rootfs;
use super::terminal;

/// The init's report in words, and the exit code it exited with, for a
/// container of this command. Runs in the shim.
pub fn describe(r: &Report, argv: &[String], env: &[String], cwd: &str) -> (i32, String) {
    describe_with(r, argv, env, cwd, &Names::docker())
}

/// The lists a failure's item indexes: the mounts' destinations, the
/// masked and the read-only paths, each in order.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub mounts: Vec<String>,
    pub masked: Vec<String>,
    pub readonly: Vec<String>,
    pub sysctls: Vec<String>,
    pub devices: Vec<String>,
    pub start_hooks: Vec<String>,
}

impl Names {
    /// No mounts, docker's masked and read-only paths.
    pub fn docker() -> Self {
        let list = |l: &[&CStr]| l.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        Self {
            mounts: Vec::new(),
            masked: list(harden::MASKED_PATHS),
            readonly: list(harden::READONLY_PATHS),
            ..Default::default()
        }
    }
}

/// [`describe`], for a container whose lists are `names`.
pub fn describe_with(
    r: &Report,
    argv: &[String],
    env: &[String],
    cwd: &str,
    names: &Names,
) -> (i32, String) {
    let mounts = &names.mounts;
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
    let named = |list: &[String]| {
        list.get(item)
            .cloned()
            .unwrap_or_else(|| format!("#{item}"))
    };
    let msg = match step {
        Step::Ready => "init: reported ready where it should have failed".into(),
        Step::Unshare => format!("create the namespaces: {}", Errno::from_raw(r.errno)),
        Step::JoinCgroup => format!("join the cgroup: {}", Errno::from_raw(r.errno)),
        Step::PlaceFds => format!("place the descriptors: {}", Errno::from_raw(r.errno)),
        Step::Loopback => format!("bring up lo: {desc}"),
        Step::MakePrivate => format!("make / private: {desc}"),
        Step::MountProc => format!("mount /proc: {desc}"),
        Step::Mask => format!("mask {}: {desc}", named(&names.masked)),
        Step::BindReadOnly => format!("bind {}: {desc}", named(&names.readonly)),
        Step::MakeReadOnly => format!("make read-only {}: {desc}", named(&names.readonly)),
        Step::Hostname => format!("set hostname: {desc}"),
        Step::MountDev => format!("mount {}: {desc}", path(&mounts::DEV_MOUNTS)),
        Step::DevNode => {
            let nodes = mounts::DEVICES.iter().map(|d| d.0);
            let links = mounts::LINKS.iter().map(|l| l.1);
            let all: Vec<&CStr> = nodes.chain(links).collect();
            format!("make {}: {desc}", path(&all))
        }
        Step::Terminal => match terminal::STEPS.get(item) {
            Some(what) => format!("terminal: {what}: {desc}"),
            None => format!("terminal: {desc}"),
        },
        Step::Keyring => format!("join a session keyring of its own: {desc}"),
        Step::CgroupNs => format!("create the cgroup namespace: {desc}"),
        Step::MountSys => format!("mount /sys: {desc}"),
        Step::MountCgroup if item == 0 => format!("mount /sys/fs/cgroup: {desc}"),
        Step::MountCgroup => format!("mount cgroup hierarchy #{item} on /sys/fs/cgroup: {desc}"),
        Step::Cover => format!(
            "hide the host's kernel file system mounted at line {} of its mount table: {desc}",
            item + 1
        ),
        Step::DropCap => format!("drop capability {item} from the bounding set: {desc}"),
        Step::SetCaps => format!("set capabilities: {desc}"),
        Step::NoNewPrivs => format!("set no_new_privs: {desc}"),
        Step::Seccomp => format!("install the seccomp filter: {desc}"),
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
        // pivot_root cannot move the initial ramfs: a machine that runs
        // from its initramfs has to switch_root off it first.
        Step::Root if item == 3 && r.errno == libc::EINVAL => {
            format!("root file system: pivot_root: {desc} (is the host's / the initramfs?)")
        }
        Step::Root => match rootfs::ROOT_STEPS.get(item) {
            Some(what) => format!("root file system: {what}: {desc}"),
            None => format!("root file system: {desc}"),
        },
        Step::Mount | Step::MountPoint => {
            let dest = mounts
                .get(item)
                .cloned()
                .unwrap_or_else(|| format!("#{item}"));
            match step {
                Step::Mount => format!("mount {dest}: {desc}"),
                _ => format!("make the mount point {dest}: {desc}"),
            }
        }
        Step::ReadOnlyRoot => format!("make / read-only: {desc}"),
        Step::User => format!("switch to the user: {desc}"),
        Step::Rlimit => format!("set rlimit #{item}: {desc}"),
        Step::JoinNetns => format!("join the network namespace given: {desc}"),
        Step::Sysctl => format!("set sysctl {}: {desc}", named(&names.sysctls)),
        Step::Device => format!("make device {}: {desc}", named(&names.devices)),
        Step::Hooks => "init: waited for hooks where it should have failed".into(),
        Step::Enter => match item {
            1 => format!("enter the container: make a pipe: {desc}"),
            2 => format!("enter the container: fork: {desc}"),
            _ => format!("enter the container's namespaces: {desc}"),
        },
        Step::Entered => "exec: reported its pid where it should have failed".into(),
        Step::StartHook | Step::StartHookSpawn | Step::StartHookTimeout => {
            let hook = format!(
                "hook startContainer[{item}] {}",
                mydocker::brief(&named(&names.start_hooks))
            );
            match step {
                Step::StartHookSpawn => format!("{hook}: start: {desc}"),
                Step::StartHookTimeout => {
                    format!("{hook}: did not finish within its timeout of {}s", r.errno)
                }
                _ => format!("{hook}: {}", wait_status(r.errno)),
            }
        }
    };
    (exit_code(step, r.errno), msg)
}

/// A wait status in words, as the shim's own hooks say it.
fn wait_status(ws: i32) -> String {
    if libc::WIFEXITED(ws) {
        return format!("exited {}", libc::WEXITSTATUS(ws));
    }
    let sig = libc::WTERMSIG(ws);
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => format!("killed by signal {sig} ({s})"),
        Err(_) => format!("killed by signal {sig}"),
    }
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
}
