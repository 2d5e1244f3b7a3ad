//! The everyday commands, and state that tells the truth after the shim is
//! gone.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mydocker_integration::*;

fn ps_line(t: &TestRoot, name: &str) -> String {
    let o = t.ctl_output(&["ps", "-a"]);
    ok(&o)
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_default()
        .to_string()
}

fn pid_state(pid: i64) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit(')').next()?.trim_start().chars().next()
}

#[test]
fn create_start_ps_inspect_logs_stop_kill_wait_rm() {
    let t = TestRoot::new("life");
    // created
    let id = ok(&t.ctl_output(&on_host(
        &["create"],
        &[
            "--name",
            "c1",
            "sh",
            "-c",
            "echo out; echo err >&2; sleep 100",
        ],
    )))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64);
    let line = ps_line(&t, "c1");
    assert!(line.starts_with(&id[..12]), "{line}");
    assert!(line.contains("Created"), "{line}");
    assert!(
        !ok(&t.ctl_output(&["ps"])).contains("c1"),
        "ps without -a lists running only"
    );
    let v = t.inspect("c1");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["State"]["Status"], "created");
    assert_eq!(v["Config"]["Cmd"][0], "sh");
    assert!(v["Paths"]["Socket"]
        .as_str()
        .unwrap()
        .ends_with("shim.sock"));

    // running
    assert_eq!(ok(&t.ctl_output(&["start", "c1"])).trim(), "c1");
    let line = eventually(Duration::from_secs(5), || {
        let l = ps_line(&t, "c1");
        l.contains("Up ").then_some(l)
    })
    .expect("running");
    assert!(ok(&t.ctl_output(&["ps"])).contains("c1"));
    let pid = t.inspect(&id[..8])["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 1, "{line}");
    assert!(line.trim_end().ends_with(&pid.to_string()), "{line}");
    let q = ok(&t.ctl_output(&["ps", "-q"]));
    assert_eq!(q.trim(), &id[..12]);
    let j = ok(&t.ctl_output(&["ps", "--format", "json"]));
    let row: serde_json::Value = serde_json::from_str(j.trim()).unwrap();
    assert_eq!(row["State"], "running");
    eventually(Duration::from_secs(5), || {
        let o = t.ctl_output(&["logs", "c1"]);
        (stdout(&o) == "out\n" && stderr(&o) == "err\n").then_some(())
    })
    .expect("logs split stdout and stderr");
    let o = t.ctl_output(&["logs", "-t", "c1"]);
    assert!(
        stdout(&o).ends_with("Z out\n") && stdout(&o).starts_with("20"),
        "{o:?}"
    );
    // kill with a signal the shell's PID 1 ignores (no handler): still up.
    assert_eq!(
        ok(&t.ctl_output(&["kill", "-s", "TERM", "c1"])).trim(),
        "c1"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(t.inspect("c1")["State"]["Status"], "running");
    // stop: SIGTERM is ignored, so SIGKILL after the grace period.
    let started = Instant::now();
    assert_eq!(ok(&t.ctl_output(&["stop", "-t", "1", "c1"])).trim(), "c1");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(ok(&t.ctl_output(&["wait", "c1"])).trim(), "137");

    // exited
    let line = ps_line(&t, "c1");
    assert!(line.contains("Exited (137) "), "{line}");
    let v = t.inspect("c1");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 137);
    assert_eq!(v["State"]["Signal"], 9);
    assert!(v["State"]["FinishedAt"].as_str().unwrap().starts_with("20"));
    let o = t.ctl_output(&["kill", "c1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not running"), "{o:?}");
    // stop of an exited container is a no-op, as docker's.
    ok(&t.ctl_output(&["stop", "c1"]));
    assert_eq!(t.inspect("c1")["State"]["ExitCode"], 137);
    // start runs it again (runs.rs has the rest of that).
    assert_eq!(ok(&t.ctl_output(&["start", "c1"])), "c1\n");
    assert_eq!(t.inspect("c1")["State"]["Status"], "running");
    ok(&t.ctl_output(&["kill", "c1"]));
    assert_eq!(ok(&t.ctl_output(&["wait", "c1"])), "137\n");
    assert_eq!(ok(&t.ctl_output(&["rm", "c1"])).trim(), "c1");
    let o = t.ctl_output(&["inspect", "c1"]);
    assert_eq!(stderr(&o), "Error: No such container: c1\n");
    t.finish();
}

#[test]
fn stop_lets_a_container_that_handles_sigterm_exit_by_itself() {
    let t = TestRoot::new("stop");
    let id = t.run_detached(&[
        "sh",
        "-c",
        "trap 'exit 4' TERM; while :; do sleep 0.1; done",
    ]);
    let started = Instant::now();
    ok(&t.ctl_output(&["stop", &id]));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(ok(&t.ctl_output(&["wait", &id])).trim(), "4");
    ok(&t.ctl_output(&["rm", &id]));
    t.finish();
}

#[test]
fn start_a_attaches_and_exits_with_the_code() {
    let t = TestRoot::new("starta");
    let id = ok(&t.ctl_output(&on_host(
        &["create"],
        &["sh", "-c", "echo attached-out; exit 6"],
    )))
    .trim()
    .to_string();
    let o = t.ctl_output(&["start", "-a", &id[..10]]);
    assert_eq!(o.status.code(), Some(6), "{o:?}");
    assert_eq!(stdout(&o), "attached-out\n");
    let id2 = ok(&t.ctl_output(&on_host(&["create"], &["no-such-cmd-qq"])))
        .trim()
        .to_string();
    let o = t.ctl_output(&["start", "-a", &id2]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    assert!(stderr(&o).contains("executable file not found"), "{o:?}");
    ok(&t.ctl_output(&["rm", &id, &id2]));
    t.finish();
}

/// The shim's log has a span per call with the container's id, around what
/// the call did, whichever way the container was started.
#[test]
fn the_shim_logs_each_call_in_a_span_with_the_container_id() {
    let t = TestRoot::new("spans");
    let created = ok(&t.ctl_output(&on_host(&["create"], &["true"])))
        .trim()
        .to_string();
    ok(&t.ctl_output(&["start", &created]));
    // `run` attaches and starts in one call.
    ok(&t.ctl_output(&on_host(&["run"], &["--name", "spans-run", "true"])));
    let run = t.inspect("spans-run")["Id"].as_str().unwrap().to_string();
    let log = |id: &str| std::fs::read_to_string(t.root.join(id).join("shim.log")).unwrap();
    let has = |log: &str, span: &str, what: &str| {
        log.lines().any(|l| l.contains(span) && l.contains(what))
    };
    for (id, start_span) in [(&created, "Start"), (&run, "attach")] {
        let l = log(id);
        assert!(
            has(&l, &format!("Create{{container_id={id}}}"), "init created"),
            "{l}"
        );
        assert!(
            has(
                &l,
                &format!("{start_span}{{container_id={id}}}"),
                "started pid="
            ),
            "{l}"
        );
    }
    ok(&t.ctl_output(&["rm", &created, &run]));
    t.finish();
}

#[test]
fn the_exit_status_outlives_the_shim() {
    let t = TestRoot::new("outlive");
    let o = t.ctl_output(&on_host(
        &["run"],
        &["--name", "gone", "sh", "-c", "exit 3"],
    ));
    assert_eq!(o.status.code(), Some(3));
    let shim = t.inspect("gone")["State"]["ShimPid"].as_i64().unwrap();
    assert!(shim > 0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually(Duration::from_secs(5), || {
        (!matches!(pid_state(shim), Some(c) if c != 'Z')).then_some(())
    })
    .expect("shim gone");
    let line = ps_line(&t, "gone");
    assert!(line.contains("Exited (3) "), "{line}");
    let v = t.inspect("gone");
    assert_eq!(v["State"]["ExitCode"], 3);
    assert_eq!(v["State"]["ShimPid"], 0);
    assert_eq!(ok(&t.ctl_output(&["wait", "gone"])).trim(), "3");
    ok(&t.ctl_output(&["rm", "gone"]));
    // The name is free again.
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "--name", "gone", "true"]));
    assert!(o.status.success(), "{o:?}");
    t.finish();
}

#[test]
fn a_shim_killed_while_running_takes_its_container_with_it() {
    let t = TestRoot::new("shimkill");
    let id = t.run_detached(&["--name", "orphan", "sh", "-c", "sleep 1000 & sleep 1000"]);
    let v = t.inspect(&id);
    let (pid, shim) = (
        v["State"]["Pid"].as_i64().unwrap(),
        v["State"]["ShimPid"].as_i64().unwrap(),
    );
    // Both sleeps run, in the container's PID namespace.
    let members = eventually(Duration::from_secs(5), || {
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        let c: Vec<i64> = children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        (c.len() == 2).then_some(c)
    })
    .expect("two children");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Nothing of the container runs unsupervised: the init and its children
    // are dead (zombies at most, until the host's init reaps them).
    for p in std::iter::once(pid).chain(members) {
        eventually(Duration::from_secs(5), || {
            matches!(pid_state(p), None | Some('Z') | Some('X')).then_some(())
        })
        .unwrap_or_else(|| panic!("process {p} still runs"));
    }
    let line = ps_line(&t, "orphan");
    assert!(line.contains("Dead"), "{line}");
    let o = t.ctl_output(&["wait", "orphan"]);
    assert_eq!(o.status.code(), Some(1), "no made-up exit code: {o:?}");
    assert_eq!(
        t.inspect("orphan")["State"]["ExitCode"],
        serde_json::Value::Null
    );
    ok(&t.ctl_output(&["rm", "-f", "orphan"]));
    assert!(state_names(&t).is_empty());
    t.finish();
}

fn state_names(t: &TestRoot) -> Vec<String> {
    std::fs::read_dir(t.root.join(".names"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn names_prefixes_and_bad_input() {
    let t = TestRoot::new("names");
    let a = t.run_detached(&["--name", "alpha", "sleep", "100"]);
    // A duplicate name: refused, and nothing new is left.
    let o = t.ctl_output(&on_host(&["run"], &["-d", "--name", "alpha", "true"]));
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o).lines().count(), 1, "{o:?}");
    assert!(stderr(&o).contains("already in use"), "{o:?}");
    assert_eq!(t.ids(), vec![a.clone()]);
    // An invalid name: refused before anything starts.
    for bad in ["-x", "a/b", "x"] {
        let o = t.ctl_output(&on_host(&["create"], &["--name", bad, "true"]));
        assert_eq!(o.status.code(), Some(125), "{bad}: {o:?}");
        assert!(stderr(&o).contains("invalid name"), "{o:?}");
    }
    assert_eq!(t.ids().len(), 1);
    // Generated names are unique and usable.
    let b = ok(&t.ctl_output(&on_host(&["create"], &["true"])))
        .trim()
        .to_string();
    let name = t.inspect(&b)["Name"].as_str().unwrap().to_string();
    assert!(name.contains('_'), "{name}");
    assert_eq!(t.inspect(&name)["Id"], b.as_str());
    // Prefixes: unique resolves, shared is an error naming the problem.
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    if common > 0 {
        let o = t.ctl_output(&["inspect", &a[..common]]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("containers match"), "{o:?}");
    }
    assert_eq!(t.inspect(&a[..common + 1])["Id"], a.as_str());
    // rm of a running container needs -f, and says so.
    let o = t.ctl_output(&["rm", "alpha"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("rm -f"), "{o:?}");
    let o = t.ctl_output(&["rm", "-f", "alpha", &b, "nope"]);
    assert_eq!(o.status.code(), Some(1), "one failed: {o:?}");
    assert_eq!(stdout(&o), format!("alpha\n{b}\n"));
    assert_eq!(stderr(&o), "Error: No such container: nope\n");
    assert!(state_names(&t).is_empty(), "{:?}", state_names(&t));
    t.finish();
}

#[test]
fn run_rm_leaves_nothing_even_when_the_command_is_missing() {
    let t = TestRoot::new("rmrm");
    let o = t.ctl_output(&on_host(
        &["run"],
        &["--rm", "--name", "tmp1", "sh", "-c", "echo x"],
    ));
    assert_eq!(ok(&o), "x\n");
    let o = t.ctl_output(&on_host(
        &["run"],
        &["--rm", "--name", "tmp2", "no-such-cmd-zz"],
    ));
    assert_eq!(o.status.code(), Some(127));
    let left: Vec<String> = t.ids().into_iter().filter(|i| i != ".names").collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(state_names(&t).is_empty());
    t.finish();
}

/// `run` and `create` spawn their shim before the command line is parsed
/// (it starts while mydockerctl parses): a command line that is then
/// refused, by clap or by our own checks, takes that shim down with it.
#[test]
fn a_refused_command_line_leaves_no_shim_behind() {
    let t = TestRoot::new("early");
    for args in [
        &on_host(&["run"], &["-m"])[..],
        &on_host(&["run"], &["--rm"]),
        &on_host(&["run"], &["--cpus", "x", "true"]),
        &on_host(&["create"], &["-m", "bogus", "true"]),
        &on_host(&["create"], &["-d", "true"]),
        &on_host(&["run"], &["--detach-keys", "", "true"]),
        &on_host(&["run"], &["--name", "a/b", "true"]),
        // An image the store does not have (nor is there a store).
        &["run", "--rm", "no-such-image-here"],
        &["create", "no-such-image-here", "true"],
    ] {
        let o = t.ctl_output(args);
        assert!(!o.status.success(), "{args:?}: {o:?}");
        assert!(!stderr(&o).is_empty(), "{args:?}: {o:?}");
        assert!(t.entries().is_empty(), "{args:?} left {:?}", t.entries());
    }
    // Help takes the ordinary path (the shim is not spawned at all).
    let o = t.ctl_output(&["run", "--help"]);
    assert!(ok(&o).contains("Usage"), "{o:?}");
    t.finish();
}

#[test]
fn logs_follow_streams_until_exit_and_tail_counts_lines() {
    let t = TestRoot::new("logs");
    let id = t.run_detached(&[
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done; printf 'no newline'",
    ]);
    let mut f = t
        .ctl()
        .args(["logs", "-f", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // It is live: the first line shows before the container is done.
    let mut out = f.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    assert_eq!(&first, b"line1\n");
    assert_ne!(t.inspect(&id)["State"]["Status"], "exited");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = f.wait().unwrap();
    assert!(status.success());
    assert_eq!(rest, "line2\nline3\nline4\nline5\nno newline");
    let o = t.ctl_output(&["logs", "--tail", "3", &id]);
    assert_eq!(ok(&o), "line4\nline5\nno newline");
    let o = t.ctl_output(&["logs", "--tail", "x", &id]);
    assert_eq!(o.status.code(), Some(1));
    ok(&t.ctl_output(&["rm", &id]));
    t.finish();
}

#[test]
fn every_command_has_complete_help() {
    let t = TestRoot::new("help");
    for (cmd, must) in [
        (
            "run",
            &[
                "--rm",
                "--detach",
                "--interactive",
                "--tty",
                "--name",
                "--env",
                "--workdir",
                "--hostname",
                "--detach-keys",
            ][..],
        ),
        ("create", &["--name", "--tty"][..]),
        ("start", &["--attach", "--interactive"][..]),
        ("ps", &["--all", "--quiet", "--format"][..]),
        ("inspect", &["CONTAINER"][..]),
        ("logs", &["--follow", "--tail", "--timestamps"][..]),
        ("stop", &["--time"][..]),
        ("kill", &["--signal"][..]),
        ("wait", &["CONTAINER"][..]),
        ("rm", &["--force"][..]),
        ("attach", &["--detach-keys", "--no-stdin"][..]),
    ] {
        let o = t.ctl_output(&[cmd, "--help"]);
        let help = ok(&o);
        for m in must {
            assert!(help.contains(m), "{cmd} --help lacks {m}:\n{help}");
        }
    }
    t.finish();
}

/// A command that waits until the test creates `file`, then runs `then`:
/// no timing assumptions on a loaded machine.
fn after(file: &std::path::Path, then: &str) -> String {
    format!(
        "while [ ! -e {} ]; do sleep 0.02; done; {then}",
        file.display()
    )
}

/// `mydockerctl run --rm --name NAME sh -c SCRIPT`, once its container runs.
fn run_rm_running(t: &TestRoot, name: &str, script: &str, stdout: Stdio) -> std::process::Child {
    let ctl = t
        .ctl()
        .args(on_host(
            &["run"],
            &["--rm", "--name", name, "sh", "-c", script],
        ))
        .stdout(stdout)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(10), || {
        ps_line(t, name).contains("Up").then_some(())
    })
    .expect("running");
    ctl
}

fn signal(child: &std::process::Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// `run -d --rm`: the shim removes the container when its command exits,
/// with no client connected.
#[test]
fn run_d_rm_removes_the_container_when_it_exits() {
    let t = TestRoot::new("drm");
    let go = t.root.join(".go-drm");
    let id = t.run_detached(&["--rm", "--name", "auto1", "sh", "-c", &after(&go, "exit 4")]);
    let v = t.inspect(&id);
    assert_eq!(v["Config"]["AutoRemove"], true, "{v}");
    assert_eq!(v["State"]["Status"], "running", "{v}");
    let shim = v["State"]["ShimPid"].as_i64().unwrap();
    std::fs::write(&go, "").unwrap();
    eventually(Duration::from_secs(10), || t.ids().is_empty().then_some(()))
        .unwrap_or_else(|| panic!("still there: {:?}", t.ids()));
    assert!(state_names(&t).is_empty(), "the name is released");
    eventually(Duration::from_secs(5), || {
        matches!(pid_state(shim), None | Some('Z') | Some('X')).then_some(())
    })
    .expect("the shim exits after removing its container");
    let o = t.ctl_output(&["inspect", "auto1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    std::fs::remove_file(&go).unwrap();
    t.finish();
}

/// As docker's: `--rm` belongs to the container, not to the client. A
/// `run --rm` whose client is killed still removes the container when the
/// command exits.
#[test]
fn run_rm_removes_the_container_even_when_its_client_is_killed() {
    let t = TestRoot::new("rmkill");
    let go = t.root.join(".go-kill");
    let mut ctl = run_rm_running(&t, "auto2", &after(&go, "exit 0"), Stdio::null());
    signal(&ctl, nix::sys::signal::Signal::SIGKILL);
    ctl.wait().unwrap();
    assert!(ps_line(&t, "auto2").contains("Up"), "it keeps running");
    std::fs::write(&go, "").unwrap();
    eventually(Duration::from_secs(10), || t.ids().is_empty().then_some(()))
        .unwrap_or_else(|| panic!("still there: {:?}", t.ids()));
    assert!(state_names(&t).is_empty());
    std::fs::remove_file(&go).unwrap();
    t.finish();
}

/// `rm -f` of a running `--rm` container: its shim removes it as it dies,
/// and `rm` says so without an error.
#[test]
fn rm_f_of_a_running_rm_container_succeeds() {
    let t = TestRoot::new("rmfrm");
    let id = t.run_detached(&["--rm", "--name", "auto3", "sleep", "100"]);
    let o = t.ctl_output(&["rm", "-f", "auto3"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o).trim(), "auto3");
    assert!(!t.root.join(&id).exists());
    assert!(state_names(&t).is_empty());
    t.finish();
}

/// A reader slower than the shim's exit: `run --rm` still delivers every
/// byte and the exit code, as the shim of an auto-removed container stays
/// until its clients hang up. The client is stopped (SIGSTOP) while the
/// command writes 3 MiB and exits (within what an attacher may fall behind
/// before it is dropped, io.rs's ATTACHER_BUDGET), and resumed well after
/// the 2 s a shim otherwise gives its clients at exit.
#[test]
fn run_rm_output_reaches_a_stalled_reader_whole() {
    let t = TestRoot::new("slowrd");
    let go = t.root.join(".go-slow");
    let script = after(&go, "head -c 3145728 /dev/zero | tr '\\0' x; exit 7");
    let mut ctl = run_rm_running(&t, "slow1", &script, Stdio::piped());
    signal(&ctl, nix::sys::signal::Signal::SIGSTOP);
    std::fs::write(&go, "").unwrap();
    eventually(Duration::from_secs(10), || t.ids().is_empty().then_some(()))
        .expect("removed at its exit");
    std::thread::sleep(Duration::from_secs(3));
    signal(&ctl, nix::sys::signal::Signal::SIGCONT);
    let mut out = Vec::new();
    std::io::Read::read_to_end(ctl.stdout.as_mut().unwrap(), &mut out).unwrap();
    let status = ctl.wait().unwrap();
    assert_eq!(out.len(), 3 << 20);
    assert!(out.iter().all(|&b| b == b'x'));
    assert_eq!(status.code(), Some(7));
    std::fs::remove_file(&go).unwrap();
    t.finish();
}

/// Usage errors as docker says them: one line and where the help is, exit
/// 125 for `run` and `create`, 1 elsewhere (125 for an unknown flag
/// anywhere); help, version and a bare `mydockerctl` on stdout, exit 0.
/// Short flags with their values attached (`-m64m`, `-m=64m`) work.
#[test]
fn usage_errors_are_one_line_with_dockers_codes() {
    let t = TestRoot::new("usage");
    for (args, code, first, see) in [
        (
            &on_host(&["run"], &["--pids-limit", "abc", "true"])[..],
            125,
            "mydockerctl: invalid value 'abc' for '--pids-limit <N>'",
            "run",
        ),
        (
            &["run"][..],
            125,
            "mydockerctl: the following required arguments were not provided: <IMAGE>...",
            "run",
        ),
        (
            &on_host(&["run"], &["--rm", "--rm", "true"])[..],
            125,
            "mydockerctl: the argument '--rm' cannot be used multiple times.",
            "run",
        ),
        (
            &["exec"][..],
            1,
            "mydockerctl: the following required arguments were not provided: <CONTAINER> <CMD>...",
            "exec",
        ),
        (&["ps", "--bogus"][..], 125, "unknown flag: --bogus", "ps"),
    ] {
        let o = t.ctl_output(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {o:?}");
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {err}");
        assert!(lines[0].starts_with(first), "{args:?}: {err}");
        assert_eq!(lines[1], format!("See 'mydockerctl {see} --help'."));
    }
    for args in [
        &[][..],
        &["--help"][..],
        &["run", "--help"][..],
        &["--version"][..],
    ] {
        let o = t.ctl_output(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {o:?}");
        assert!(
            !stdout(&o).is_empty() && stderr(&o).is_empty(),
            "{args:?}: {o:?}"
        );
    }
    // The memory limit, in whichever hierarchy the host has.
    let limit = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
    for m in [
        &["-m64m"][..],
        &["-m=64m"][..],
        &["--memory=64m"][..],
        &["-m", "64m"][..],
    ] {
        let mut args = vec!["run", "--rootfs", "/", "--rm"];
        args.extend_from_slice(m);
        args.extend_from_slice(&["--", "sh", "-c", limit]);
        assert_eq!(ok(&t.ctl_output(&args)), "67108864\n", "{m:?}");
    }
    t.finish();
}

/// `ps --filter`, `-n`/`-l`, `--no-trunc`, `inspect -f` with the template
/// subset scripts use, `info`, `version`, and `logs --since/--until`, as
/// docker answers them.
#[test]
fn ps_filters_and_inspect_format() {
    let t = TestRoot::new("psf");
    ok(&t.ctl_output(&on_host(&["run"], &["--name", "pa", "--", "true"])));
    let b = t.run_detached(&["--name", "pb", "--", "sleep", "100"]);
    let c = ok(&t.ctl_output(&on_host(&["create"], &["--name", "pc", "--", "true"])))
        .trim()
        .to_string();
    let a = t.inspect("pa")["Id"].as_str().unwrap().to_string();
    let short = |id: &str| id[..12].to_string();
    let ps = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "-q"];
        a.extend_from_slice(args);
        ok(&t.ctl_output(&a)).lines().map(String::from).collect()
    };
    assert_eq!(ps(&[]), [short(&b)]);
    assert_eq!(ps(&["--filter", "status=exited"]), [short(&a)]);
    assert_eq!(ps(&["-a", "--filter", "name=pb"]), [short(&b)]);
    assert_eq!(
        ps(&["-f", "status=exited", "-f", "status=created"]),
        [short(&c), short(&a)]
    );
    assert!(ps(&["-a", "-f", "status=running", "-f", "name=pa"]).is_empty());
    assert_eq!(ps(&["-n", "2"]), [short(&c), short(&b)]);
    assert_eq!(ps(&["-l", "--no-trunc"]), [c]);
    let o = t.ctl_output(&["ps", "--filter", "bogus=1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr(&o), "Error: invalid filter 'bogus'\n");

    let f = |args: &[&str]| {
        let mut a = vec!["inspect", "-f"];
        a.extend_from_slice(args);
        t.ctl_output(&a)
    };
    assert_eq!(
        ok(&f(&["{{.State.Status}} {{.State.ExitCode}}", "pa"])),
        "exited 0\n"
    );
    assert_eq!(
        ok(&f(&["{{json .Config.Cmd}}", "pb"])),
        "[\"sleep\",\"100\"]\n"
    );
    assert_eq!(ok(&f(&["{{.Id}}", "pa", "pb"])), format!("{a}\n{b}\n"));
    let o = f(&["{{printf \"%s\" .Id}}", "pa"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // info counts them; version names both sides.
    let info = ok(&t.ctl_output(&["info"]));
    for line in ["Containers: 3", " Running: 1", " Created: 1", " Stopped: 1"] {
        assert!(has_line(&info, line), "{line}: {info}");
    }
    let version = ok(&t.ctl_output(&["version"]));
    assert!(
        version.starts_with("Client:\n Version:") && version.contains("\nServer"),
        "{version}"
    );
    // logs --since and --until: by the time each line was written.
    ok(&t.ctl_output(&on_host(
        &["run"],
        &[
            "--name",
            "pd",
            "--",
            "sh",
            "-c",
            "echo early; sleep 4; echo late",
        ],
    )));
    assert_eq!(
        ok(&t.ctl_output(&["logs", "--since", "2s", "pd"])),
        "late\n"
    );
    assert_eq!(
        ok(&t.ctl_output(&["logs", "--until", "2s", "pd"])),
        "early\n"
    );
    assert_eq!(
        ok(&t.ctl_output(&["logs", "--since", "0", "pd"])),
        "early\nlate\n"
    );
    let o = t.ctl_output(&["logs", "--since", "yesterday", "pd"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    ok(&t.ctl_output(&["rm", "-f", "pa", "pb", "pc", "pd"]));
    t.finish();
}
