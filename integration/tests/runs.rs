//! A container over more than one run, and what docker's users do to a
//! running one: `start` of an exited container, `--restart` policies,
//! `pause`/`unpause`, `rename`, `--sig-proxy=false`. Each checks docker's
//! behaviour (its exit code and the first line of its message).

use std::process::Stdio;
use std::time::{Duration, Instant};

use mydocker_integration::*;

fn field(t: &TestRoot, template: &str, id: &str) -> String {
    ok(&t.ctl_output(&["inspect", "-f", template, id]))
        .trim()
        .to_string()
}

/// The times of the log's lines (`logs -t`), in seconds.
fn line_times(t: &TestRoot, id: &str) -> Vec<f64> {
    ok(&t.ctl_output(&["logs", "-t", id]))
        .lines()
        .map(|l| {
            let ts = l.split_whitespace().next().unwrap();
            let at = humantime::parse_rfc3339(ts).unwrap();
            at.duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        })
        .collect()
}

/// The memory limit as the container sees it (v1 or v2).
const SHOW_LIMIT: &str = "echo run; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
    || cat /sys/fs/cgroup/memory.max";

/// docker's `start` of an exited container: the same id, name and
/// creation time, a fresh init with the limits as updated, the log
/// appended to, and Wait and `start -a` following the new run.
#[test]
fn start_of_an_exited_container_runs_it_again() {
    let t = TestRoot::new("again");
    let id = t.run_detached(&["--name", "s1", "-m", "64m", "--", "sh", "-c", SHOW_LIMIT]);
    assert_eq!(ok(&t.ctl_output(&["wait", "s1"])), "0\n");
    let first = t.inspect("s1");
    assert_eq!(first["State"]["Status"], "exited");
    // Again, by name: docker prints what it was given.
    assert_eq!(ok(&t.ctl_output(&["start", "s1"])), "s1\n");
    assert_eq!(ok(&t.ctl_output(&["wait", "s1"])), "0\n");
    let second = t.inspect("s1");
    assert_eq!(second["Id"], id.as_str());
    assert_eq!(second["Name"], "s1");
    assert_eq!(second["Created"], first["Created"]);
    assert_ne!(second["State"]["StartedAt"], first["State"]["StartedAt"]);
    assert_eq!(second["HostConfig"]["Memory"], 64 << 20);
    let limit = (64u64 << 20).to_string();
    let both = format!("run\n{limit}\nrun\n{limit}\n");
    assert_eq!(ok(&t.ctl_output(&["logs", "s1"])), both);
    // Attached: this run's output, and its exit code.
    let o = t.ctl_output(&["start", "-a", "s1"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(stdout(&o), format!("run\n{limit}\n"));
    assert_eq!(ok(&t.ctl_output(&["logs", "s1"])).lines().count(), 6);
    // Exit codes and errors of the new run are its own.
    t.run_detached(&["--name", "s2", "--", "sh", "-c", "exit 3"]);
    assert_eq!(ok(&t.ctl_output(&["wait", "s2"])), "3\n");
    let o = t.ctl_output(&["start", "-a", "s2"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    // A running one is left alone, as docker's start does.
    t.run_detached(&["--name", "s3", "--", "sleep", "100"]);
    let pid = field(&t, "{{.State.Pid}}", "s3");
    assert_eq!(ok(&t.ctl_output(&["start", "s3"])), "s3\n");
    assert_eq!(field(&t, "{{.State.Pid}}", "s3"), pid);
    ok(&t.ctl_output(&["rm", "-f", "s1", "s2", "s3"]));
    t.finish();
}

/// `--restart on-failure:3` of a command that fails: three restarts, with
/// docker's doubling delays, then exited with its code for good.
#[test]
fn restart_on_failure_restarts_three_times_then_stays_exited() {
    let t = TestRoot::new("onfail");
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "--restart",
            "on-failure:3",
            "--name",
            "r1",
            "--",
            "sh",
            "-c",
            "echo ran; exit 1",
        ],
    ));
    // An attached run ends with the first exit, as docker's.
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let done = eventually(Duration::from_secs(20), || {
        (field(&t, "{{.RestartCount}} {{.State.Status}}", "r1") == "3 exited").then_some(())
    });
    assert!(
        done.is_some(),
        "{}",
        field(&t, "{{.RestartCount}} {{.State.Status}}", "r1")
    );
    // No fourth: it stays exited with 1.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        field(
            &t,
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
            "r1"
        ),
        "3 exited 1"
    );
    assert_eq!(ok(&t.ctl_output(&["logs", "r1"])), "ran\n".repeat(4));
    let policy = t.inspect("r1")["HostConfig"]["RestartPolicy"].clone();
    assert_eq!(policy["Name"], "on-failure");
    assert_eq!(policy["MaximumRetryCount"], 3);
    // The delays: at least 100, 200, 400 ms (plus each run's own time,
    // which a slow machine makes long).
    let times = line_times(&t, "r1");
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= 0.1 && gaps[1] >= 0.2 && gaps[2] >= 0.4,
        "{gaps:?}"
    );
    // A success is not a failure: no restart.
    t.run_detached(&["--restart", "on-failure", "--name", "r2", "--", "true"]);
    assert_eq!(ok(&t.ctl_output(&["wait", "r2"])), "0\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(field(&t, "{{.RestartCount}}", "r2"), "0");
    ok(&t.ctl_output(&["rm", "-f", "r1", "r2"]));
    t.finish();
}

/// `--restart always` runs it again whatever the code, shows
/// `Restarting` between runs, and `stop` ends the policy until the next
/// `start`.
#[test]
fn restart_always_is_ended_by_stop_and_rearmed_by_start() {
    let t = TestRoot::new("always");
    t.run_detached(&[
        "--restart",
        "always",
        "--name",
        "a1",
        "--",
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    let restarted = eventually(Duration::from_secs(20), || {
        let n: u32 = field(&t, "{{.RestartCount}}", "a1").parse().unwrap();
        (n >= 2).then_some(n)
    });
    assert!(restarted.is_some());
    // Seen between two runs, in ps and inspect.
    let seen = eventually(Duration::from_secs(10), || {
        let o = ok(&t.ctl_output(&["ps", "--filter", "status=restarting", "--format", "json"]));
        o.contains("\"Restarting (0) ").then_some(())
    });
    assert!(seen.is_some(), "never seen restarting");
    assert_eq!(ok(&t.ctl_output(&["stop", "-t", "1", "a1"])), "a1\n");
    let count = field(&t, "{{.RestartCount}}", "a1");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        field(&t, "{{.RestartCount}} {{.State.Status}}", "a1"),
        format!("{count} exited")
    );
    // A start arms it again, counting from 0.
    assert_eq!(ok(&t.ctl_output(&["start", "a1"])), "a1\n");
    let again = eventually(Duration::from_secs(10), || {
        (field(&t, "{{.RestartCount}}", "a1") == "1").then_some(())
    });
    assert!(again.is_some());
    ok(&t.ctl_output(&["rm", "-f", "a1"]));
    // docker's refusals, before anything is made.
    for (args, msg) in [
        (
            &["--rm", "--restart", "always"][..],
            "Error: Conflicting options: --restart and --rm",
        ),
        (
            &["--restart", "always:2"][..],
            "Error: maximum retry count cannot be used with restart policy 'always'",
        ),
        (
            &["--restart", "sometimes"][..],
            "Error: invalid restart policy 'sometimes'",
        ),
        (
            &["--restart", "on-failure:x"][..],
            "Error: maximum retry count must be an integer",
        ),
    ] {
        let mut a = on_host(&["run"], args);
        a.extend_from_slice(&["--", "true"]);
        let o = t.ctl_output(&a);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {o:?}");
        assert_eq!(stderr(&o).lines().next(), Some(msg), "{args:?}");
    }
    assert!(t.ids().is_empty(), "{:?}", t.ids());
    t.finish();
}

/// `pause` freezes every process (a counter makes no progress for a
/// second), `unpause` thaws them, with docker's refusals in between; a
/// paused container still stops and goes with `rm -f`.
#[test]
fn pause_freezes_a_counter_and_unpause_resumes_it() {
    let t = TestRoot::new("pause");
    let file = t.root.join("count");
    // Written whole (a rename), so that a read never sees it half-done.
    let script = format!(
        "trap 'exit 143' TERM; i=0; while true; do i=$((i+1)); echo $i > {f}.new; mv {f}.new {f}; sleep 0.02; done",
        f = file.display()
    );
    let id = t.run_detached(&["--name", "p1", "--", "sh", "-c", &script]);
    let count = || -> u64 {
        std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(eventually(Duration::from_secs(10), || (count() > 2).then_some(())).is_some());
    assert_eq!(ok(&t.ctl_output(&["pause", "p1"])), "p1\n");
    let frozen = count();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(), frozen, "it counted while paused");
    let ps = ok(&t.ctl_output(&["ps"]));
    assert!(ps.contains("(Paused)"), "{ps}");
    assert_eq!(
        field(&t, "{{.State.Status}} {{.State.Paused}}", "p1"),
        "paused true"
    );
    let o = t.ctl_output(&["ps", "-q", "--filter", "status=paused"]);
    assert_eq!(ok(&o), format!("{}\n", &id[..12]));
    // docker's refusals.
    let refused = |args: &[&str], msg: &str| {
        let o = t.ctl_output(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
    };
    refused(&["pause", "p1"], "is already paused");
    refused(
        &["exec", "p1", "true"],
        "is paused, unpause the container first",
    );
    refused(
        &["rm", "p1"],
        "stop the container before removing or force remove",
    );
    assert_eq!(ok(&t.ctl_output(&["unpause", "p1"])), "p1\n");
    let thawed = eventually(Duration::from_secs(5), || {
        (count() > frozen + 3).then_some(())
    });
    assert!(thawed.is_some(), "it did not count again");
    assert_eq!(field(&t, "{{.State.Status}}", "p1"), "running");
    refused(&["unpause", "p1"], "is not paused");
    // A paused container stops: SIGTERM, then thawed so that it acts on it
    // (its trap: PID 1 has no default action for it).
    ok(&t.ctl_output(&["pause", "p1"]));
    let t0 = Instant::now();
    assert_eq!(ok(&t.ctl_output(&["stop", "-t", "5", "p1"])), "p1\n");
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(field(&t, "{{.State.ExitCode}}", "p1"), "143");
    refused(&["pause", "p1"], "is not running");
    // And goes with rm -f, frozen.
    t.run_detached(&["--name", "p2", "--", "sleep", "100"]);
    ok(&t.ctl_output(&["pause", "p2"]));
    assert_eq!(ok(&t.ctl_output(&["rm", "-f", "p2"])), "p2\n");
    ok(&t.ctl_output(&["rm", "p1"]));
    std::fs::remove_file(&file).unwrap();
    let _ = std::fs::remove_file(file.with_extension("new"));
    t.finish();
}

/// `rename`: the new name everywhere, the old one free, docker's refusals.
#[test]
fn rename_moves_the_name() {
    let t = TestRoot::new("rename");
    let id = t.run_detached(&["--name", "n1", "--", "sleep", "100"]);
    t.run_detached(&["--name", "n2", "--", "sleep", "100"]);
    let o = t.ctl_output(&["rename", "n1", "n2"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    let o = t.ctl_output(&["rename", "n1", "n1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        stderr(&o),
        "Error: Renaming a container with the same name as its current name\n"
    );
    let o = t.ctl_output(&["rename", "n1", "bad!"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("bad!"), "{}", stderr(&o));
    assert_eq!(ok(&t.ctl_output(&["rename", "n1", "n3"])), "");
    assert_eq!(field(&t, "{{.Id}} {{.Name}}", "n3"), format!("{id} n3"));
    let o = t.ctl_output(&["inspect", "n1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // The old name is free again.
    t.run_detached(&["--name", "n1", "--", "true"]);
    let o = t.ctl_output(&["rename", "nobody", "n9"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).starts_with("Error: No such container: nobody"),
        "{}",
        stderr(&o)
    );
    ok(&t.ctl_output(&["rm", "-f", "n1", "n2", "n3"]));
    t.finish();
}

/// `--sig-proxy=false`: a signal to mydockerctl is its own (SIGTERM ends
/// it) and the container runs on, as docker's; by default it is passed on.
#[test]
fn sig_proxy_false_leaves_the_container_alone() {
    let t = TestRoot::new("sigpx");
    let script = "trap 'echo got TERM; exit 7' TERM; i=0; \
                  while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; echo done";
    for (proxy, name) in [("--sig-proxy=false", "q1"), ("--sig-proxy", "q2")] {
        let child = t
            .ctl()
            .args(on_host(
                &["run"],
                &[proxy, "--name", name, "--", "sh", "-c", script],
            ))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let up = eventually(Duration::from_secs(10), || {
            let o = t.ctl_output(&["inspect", "-f", "{{.State.Status}}", name]);
            (stdout(&o) == "running\n").then_some(())
        });
        assert!(up.is_some());
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        ok(&t.ctl_output(&["wait", name]));
        let logs = ok(&t.ctl_output(&["logs", name]));
        if proxy == "--sig-proxy=false" {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{out:?}");
            assert_eq!(logs, "done\n");
            assert_eq!(field(&t, "{{.State.ExitCode}}", name), "0");
        } else {
            assert_eq!(out.status.code(), Some(7), "{out:?}");
            assert_eq!(logs, "got TERM\n");
        }
    }
    ok(&t.ctl_output(&["rm", "q1", "q2"]));
    t.finish();
}

/// `create` has none of `run`'s client flags (docker's has none); a
/// terminal for input needs one, as docker checks before anything is
/// made; `-t` alone does not.
#[test]
fn create_takes_no_client_flags_and_input_needs_a_terminal() {
    let t = TestRoot::new("cflags");
    let help = ok(&t.ctl_output(&["create", "--help"]));
    for flag in ["--detach", "--detach-keys", "--sig-proxy"] {
        assert!(!help.contains(flag), "create --help shows {flag}:\n{help}");
    }
    assert!(help.contains("--restart"), "{help}");
    for flag in ["-d", "--detach-keys=ctrl-a", "--sig-proxy=false"] {
        let o = t.ctl_output(&on_host(&["create"], &[flag, "--", "true"]));
        assert_eq!(o.status.code(), Some(125), "{flag}: {o:?}");
        let name = flag.split('=').next().unwrap();
        assert_eq!(
            stderr(&o),
            format!("unknown flag: {name}\nSee 'mydockerctl create --help'.\n")
        );
    }
    for cmd in ["pause", "unpause", "rename"] {
        let o = t.ctl_output(&[cmd, "--help"]);
        assert!(ok(&o).contains("Usage: mydockerctl"), "{cmd}: {o:?}");
    }
    // stdin is /dev/null here: -it is refused with docker's line and code.
    let o = t.ctl_output(&on_host(&["run"], &["-it", "--name", "tty1", "--", "true"]));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr(&o), "Error: the input device is not a TTY\n");
    let o = t.ctl_output(&on_host(&["run"], &["-t", "--rm", "--", "tty"]));
    assert_eq!(ok(&o), "/dev/pts/0\r\n");
    // Detached, nothing reads the terminal here: no check.
    t.run_detached(&["-it", "--name", "tty2", "--", "true"]);
    let o = t.ctl_output(&["start", "-ai", "tty2"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr(&o), "Error: the input device is not a TTY\n");
    ok(&t.ctl_output(&["rm", "-f", "tty2"]));
    assert!(t.ids().is_empty(), "{:?}", t.ids());
    t.finish();
}

/// The edges of a second run, as docker has them: `stop` of a created
/// container is a no-op even with a policy; a container whose command
/// could not run can be started again (and fails again the same way);
/// `update` of an exited one is for its next run; `kill` of a restarting
/// one ends its policy, which `rm` without -f refuses to cut short;
/// `start` of a paused one is refused.
#[test]
fn second_runs_at_the_edges() {
    let t = TestRoot::new("edges");
    ok(&t.ctl_output(&on_host(
        &["create"],
        &["--restart", "always", "--name", "e1", "--", "sleep", "100"],
    )));
    let t0 = Instant::now();
    assert_eq!(ok(&t.ctl_output(&["stop", "e1"])), "e1\n");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(field(&t, "{{.State.Status}}", "e1"), "created");
    assert_eq!(ok(&t.ctl_output(&["start", "e1"])), "e1\n");
    assert_eq!(field(&t, "{{.State.Status}}", "e1"), "running");
    ok(&t.ctl_output(&["pause", "e1"]));
    let o = t.ctl_output(&["start", "e1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        stderr(&o),
        "Error: cannot start a paused container, try unpause instead\n"
    );
    ok(&t.ctl_output(&["rm", "-f", "e1"]));

    let o = t.ctl_output(&on_host(
        &["run"],
        &["--name", "e2", "--", "/no/such/program"],
    ));
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    for _ in 0..2 {
        let o = t.ctl_output(&["start", "e2"]);
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(stderr(&o).contains("/no/such/program"), "{}", stderr(&o));
        assert_eq!(field(&t, "{{.State.ExitCode}}", "e2"), "127");
    }

    t.run_detached(&["--name", "e3", "-m", "64m", "--", "sh", "-c", SHOW_LIMIT]);
    assert_eq!(ok(&t.ctl_output(&["wait", "e3"])), "0\n");
    assert_eq!(ok(&t.ctl_output(&["update", "-m", "100m", "e3"])), "e3\n");
    assert_eq!(t.inspect("e3")["HostConfig"]["Memory"], 100 << 20);
    let o = t.ctl_output(&["start", "-a", "e3"]);
    assert_eq!(stdout(&o), format!("run\n{}\n", 100u64 << 20), "{o:?}");

    // Restarting: between runs, with delays grown past a second.
    t.run_detached(&[
        "--restart",
        "always",
        "--name",
        "e4",
        "--",
        "sh",
        "-c",
        "exit 2",
    ]);
    let grown = eventually(Duration::from_secs(30), || {
        let n: u32 = field(&t, "{{.RestartCount}}", "e4").parse().unwrap();
        (n >= 4 && field(&t, "{{.State.Status}}", "e4") == "restarting").then_some(())
    });
    assert!(
        grown.is_some(),
        "{}",
        field(&t, "{{.RestartCount}} {{.State.Status}}", "e4")
    );
    let o = t.ctl_output(&["rm", "e4"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).contains("You cannot remove a restarting container e4"),
        "{o:?}"
    );
    assert_eq!(ok(&t.ctl_output(&["kill", "e4"])), "e4\n");
    let count = field(&t, "{{.RestartCount}}", "e4");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        field(
            &t,
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
            "e4"
        ),
        format!("{count} exited 2")
    );
    ok(&t.ctl_output(&["rm", "e2", "e3", "e4"]));
    t.finish();
}
