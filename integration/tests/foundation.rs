//! The foundation, end to end on the real binaries: namespaces, the pipe
//! relay, exit codes, the CLI, grpcurl and the API crate.

use std::process::{Command, Stdio};
use std::time::Duration;

use mydocker::v1;
use mydocker_integration::*;

#[test]
fn command_is_pid_1_and_sees_only_its_own_namespaces() {
    let t = TestRoot::new("ns");
    let host_name = nix::unistd::gethostname().unwrap();
    let script = r#"
        echo "pid=$$"
        for p in /proc/[0-9]*; do echo "proc=${p#/proc/}"; done
        echo "host=$(hostname)"
        hostname changed-inside && echo "host2=$(hostname)"
        tail -n +3 /proc/net/dev | while IFS=: read -r name rest; do echo "if=$(echo $name)"; done
    "#;
    // Privileged: only CAP_SYS_ADMIN may set a hostname (as in docker), and
    // the point is that even a container that may cannot touch the host's.
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "--rm",
            "--privileged",
            "--hostname",
            "box1",
            "--",
            "sh",
            "-c",
            script,
        ],
    ));
    let out = stdout(&o);
    assert!(o.status.success(), "{o:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"pid=1"), "{out}");
    // The shell loop forks nothing: PID 1 is the only process in /proc.
    let procs: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("proc="))
        .collect();
    assert_eq!(procs, ["proc=1"], "{out}");
    assert!(lines.contains(&"host=box1"), "{out}");
    assert!(lines.contains(&"host2=changed-inside"), "{out}");
    let ifs: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("if="))
        .collect();
    assert_eq!(ifs, ["if=lo"], "only lo in the network namespace: {out}");
    assert_eq!(nix::unistd::gethostname().unwrap(), host_name);
    t.finish();
}

#[test]
fn default_hostname_is_the_short_id_and_only_fds_0_1_2_are_open() {
    let t = TestRoot::new("fds");
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "-d",
            "sh",
            "-c",
            // ls (PID 2) lists the descriptors of the shell (PID 1), which has
            // exactly what the container's command was given.
            "hostname; ls /proc/1/fd; true",
        ],
    ));
    assert!(o.status.success(), "{o:?}");
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let w = t.ctl_output(&["wait", &id]);
    assert_eq!(stdout(&w).trim(), "0", "{w:?}");
    let log = std::fs::read_to_string(t.root.join(&id).join("log")).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap())
        .collect();
    // docker's default hostname: the id as `ps` shows it, 12 digits.
    assert_eq!(lines, [&id[..12], "0", "1", "2"], "{log}");
    let rm = t.ctl_output(&["rm", &id]);
    assert!(rm.status.success(), "{rm:?}");
    t.finish();
}

/// Between Create and Start the init is a clone of the shim that has not
/// exec'd: it must hold nothing of the shim's (a socket held there would
/// outlive the shim's own close), and the command must not inherit the
/// shim's runtime's signal handling.
#[test]
fn a_created_init_holds_nothing_of_the_shim_and_the_command_gets_default_signals() {
    let t = TestRoot::new("created");
    let o = t.ctl_output(&on_host(&["create"], &["--", "cat", "/proc/self/status"]));
    let id = ok(&o).trim().to_string();
    let pid = t.inspect(&id)["State"]["Pid"].as_i64().expect("a pid") as i32;
    assert!(pid > 0, "{pid}");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "mydocker-init");
    // The end of its set-up follows its ready report (and Create's
    // answer): once done, it waits in read(2) on the command pipe, fd 3.
    let waiting = eventually(Duration::from_secs(5), || {
        let s = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
        s.starts_with(&format!("{} 0x3 ", libc::SYS_read))
            .then_some(())
    });
    assert!(waiting.is_some(), "the init does not wait for its command");
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let n = e.file_name().to_str().unwrap().parse().unwrap();
            let target = std::fs::read_link(e.path()).unwrap();
            (n, target.display().to_string())
        })
        .collect();
    fds.sort();
    let numbers: Vec<i32> = fds.iter().map(|f| f.0).collect();
    // 0-2, the command pipe, the status pipe; not the ack socket (closed
    // once it reported ready), nor what it joined its cgroup through.
    assert_eq!(numbers, [0, 1, 2, 3, 4], "{fds:?}");
    assert!(
        fds.iter()
            .all(|(_, t)| t.starts_with("pipe:") || t == "/dev/null"),
        "{fds:?}"
    );
    let o = t.ctl_output(&["start", "-a", &id]);
    let out = ok(&o);
    for field in ["SigBlk", "SigIgn", "SigCgt"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("no {field} in {out}"));
        assert_eq!(
            line.split_whitespace().nth(1),
            Some("0000000000000000"),
            "{line}"
        );
    }
    assert!(t.ctl_output(&["rm", &id]).status.success());
    t.finish();
}

#[test]
fn arguments_arrive_byte_exact() {
    let t = TestRoot::new("args");
    // Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN), so
    // 1 MiB of arguments travels as eight of 128 KiB - 1.
    let big: Vec<String> = (0..8u8)
        .map(|i| {
            let unit = format!("{i}ü 'q' \"dq\"\n\t$HOME `x` \\ ");
            unit.repeat(131_071 / unit.len())
        })
        .collect();
    let mut args: Vec<String> = vec![
        "with space".into(),
        "'single'".into(),
        "\"double\"".into(),
        "new\nline".into(),
        "ünïcødé 😀 中文".into(),
        String::new(),
        "-e".into(),
        "--rm".into(),
    ];
    args.extend(big);
    let total: usize = args.iter().map(|a| a.len()).sum();
    assert!(total >= 1 << 20, "{total}");
    let mut cmd = t.ctl();
    cmd.args(on_host(
        &["run"],
        &[
            "--rm",
            "sh",
            "-c",
            r#"for a in "$@"; do printf '%s\0' "$a"; done"#,
            "sh",
        ],
    ));
    cmd.args(&args);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<&[u8]> = o.stdout.split(|b| *b == 0).collect();
    assert_eq!(got.len(), args.len() + 1);
    for (g, want) in got.iter().zip(&args) {
        assert_eq!(*g, want.as_bytes());
    }
    t.finish();
}

/// A single 1 MiB argument crosses the gRPC call and the pipe relay whole;
/// only the kernel's exec refuses it (MAX_ARG_STRLEN is 128 KiB), and that
/// is reported as such. (mydockerctl cannot even be given such an argument:
/// its own exec would fail the same way.)
#[tokio::test]
async fn a_1mib_argument_reaches_the_init_and_the_kernel_limit_is_a_clear_error() {
    let t = TestRoot::new("e2big");
    let (spawned, mut c) = t.shim("big").await;
    c.create(v1::CreateRequest {
        id: "big".into(),
        argv: vec!["echo".into(), "x".repeat(1 << 20)],
        resources: Some(t.resources()),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = c
        .start(v1::StartRequest {
            id: "big".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(
        e.message().contains(
            "argument list too long: a string of 1024 KiB, and Linux takes at most 128 KiB"
        ),
        "{e:?}"
    );
    let s = c
        .wait(v1::WaitRequest {
            id: "big".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(s.exit_code, 126);
    assert!(s.error.contains("argument list too long"), "{s:?}");
    c.delete(v1::DeleteRequest {
        id: "big".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    wait_child(spawned.process).await;
    t.finish();
}

#[test]
fn exit_codes_follow_docker() {
    let t = TestRoot::new("codes");
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "sh", "-c", "exit 3"]));
    assert_eq!(o.status.code(), Some(3), "{o:?}");

    let o = t.ctl_output(&on_host(&["run"], &["--rm", "no-such-command-xyz"]));
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        stderr(&o).trim(),
        "Error: exec: \"no-such-command-xyz\": executable file not found in $PATH"
    );

    let o = t.ctl_output(&on_host(&["run"], &["--rm", "/no/such/file"]));
    assert_eq!(o.status.code(), Some(127), "{o:?}");

    let plain = t.root.join("plain-file");
    std::fs::write(&plain, "not a program").unwrap();
    let o = t.ctl_output(&on_host(&["run"], &["--rm", plain.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(126), "{o:?}");
    assert!(stderr(&o).contains("ermission denied"), "{}", stderr(&o));

    let o = t.ctl_output(&on_host(&["run"], &["--rm", "-w", "/no/such/dir", "true"]));
    assert_eq!(o.status.code(), Some(126), "{o:?}");
    assert!(stderr(&o).contains("/no/such/dir"), "{}", stderr(&o));

    let o = t.ctl_output(&on_host(&["run"], &["-d", "sleep", "100"]));
    let id = stdout(&o).trim().to_string();
    let k = t.ctl_output(&["kill", &id[..12]]);
    assert!(k.status.success(), "{k:?}");
    let w = t.ctl_output(&["wait", &id]);
    assert_eq!(stdout(&w).trim(), "137");
    let o = t.ctl_output(&["rm", &id]);
    assert!(o.status.success(), "{o:?}");
    std::fs::remove_file(&plain).unwrap();
    t.finish();
}

#[test]
fn a_signal_ending_an_attached_run_gives_128_plus_n() {
    let t = TestRoot::new("sig");
    let child = t
        .ctl()
        .args(on_host(&["run"], &["--rm", "sleep", "100"]))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let id = eventually(Duration::from_secs(5), || t.ids().pop()).expect("container appears");
    wait_running(&t, &id);
    let k = t.ctl_output(&["kill", "-s", "KILL", &id]);
    assert!(k.status.success(), "{k:?}");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(137));
    t.finish();
}

#[test]
fn sigterm_to_an_attached_run_is_proxied_to_the_container() {
    let t = TestRoot::new("proxy");
    // PID 1 ignores signals it has no handler for, so the script traps one.
    let child = t
        .ctl()
        .args(on_host(
            &["run"],
            &[
                "--rm",
                "sh",
                "-c",
                "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done",
            ],
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let id = eventually(Duration::from_secs(5), || t.ids().pop()).expect("container appears");
    wait_log_contains(&t, &id, "ready");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(42), "{o:?}");
    assert!(stdout(&o).contains("got-term"));
    t.finish();
}

#[test]
fn env_and_path_lookup() {
    let t = TestRoot::new("env");
    let o = t
        .ctl()
        .env("FROM_HOST", "hosty")
        .args(on_host(
            &["run"],
            &[
                "--rm",
                "-e",
                "A=x y",
                "-e",
                "B==eq",
                "-e",
                "FROM_HOST",
                "-e",
                "UNSET_XYZ",
                "printenv",
                "A",
                "B",
                "FROM_HOST",
            ],
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "x y\n=eq\nhosty\n");
    // docker's defaults.
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "--rm",
            "--hostname",
            "hh",
            "sh",
            "-c",
            "echo $HOME $HOSTNAME; echo ${TERM:-none}",
        ],
    ));
    assert_eq!(stdout(&o), "/root hh\nnone\n");
    // A custom PATH is the one searched.
    let o = t.ctl_output(&on_host(
        &["run"],
        &["--rm", "-e", "PATH=/nonexistent", "true"],
    ));
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "-w", "/tmp", "pwd"]));
    assert_eq!(stdout(&o), "/tmp\n");
    t.finish();
}

#[test]
fn stdin_is_forwarded_with_i() {
    let t = TestRoot::new("stdin");
    let mut child = t
        .ctl()
        .args(on_host(
            &["run"],
            &["--rm", "-i", "sh", "-c", "cat; echo done"],
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "hi\ndone\n");
    t.finish();
}

#[test]
fn ctl_killed_during_run_leaves_the_container_running_and_waitable() {
    let t = TestRoot::new("ctlkill");
    let mut child = t
        .ctl()
        .args(on_host(&["run"], &["sh", "-c", "echo up; sleep 1; exit 7"]))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let id = eventually(Duration::from_secs(5), || t.ids().pop()).expect("container appears");
    wait_log_contains(&t, &id, "up");
    child.kill().unwrap();
    child.wait().unwrap();
    let shim_alive = !processes_of(&t.root).is_empty();
    assert!(shim_alive, "the shim must outlive mydockerctl");
    let w = t.ctl_output(&["wait", &id]);
    assert_eq!(stdout(&w).trim(), "7", "{w:?}");
    let o = t.ctl_output(&["rm", &id]);
    assert!(o.status.success(), "{o:?}");
    t.finish();
}

#[test]
fn unknown_containers_are_one_clear_line() {
    let t = TestRoot::new("unknown");
    for cmd in [["wait", "nope"], ["rm", "nope"], ["kill", "nope"]] {
        let o = t.ctl_output(&cmd);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stderr(&o), "Error: No such container: nope\n");
    }
    let o = t.ctl_output(&["kill", "-s", "BOGUS", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "-e", "=x", "true"]));
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    t.finish();
}

#[test]
fn rm_refuses_a_running_container_without_force() {
    let t = TestRoot::new("rmrun");
    let o = t.ctl_output(&on_host(&["run"], &["-d", "sleep", "100"]));
    let id = stdout(&o).trim().to_string();
    let o = t.ctl_output(&["rm", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("rm -f"), "{}", stderr(&o));
    let o = t.ctl_output(&["rm", "-f", &id]);
    assert!(o.status.success(), "{o:?}");
    t.finish();
}

/// A shim started by hand and driven by grpcurl alone.
#[test]
fn grpcurl_drives_a_shim_started_by_hand() {
    let t = TestRoot::new("grpcurl");
    let id = "byhand";
    let mut shim = Command::new(shim_bin())
        .args(["--id", id, "--root"])
        .arg(&t.root)
        .spawn()
        .unwrap();
    let sock = mydocker::socket_path(&t.root, id);
    eventually(Duration::from_secs(5), || sock.exists().then_some(())).expect("socket");

    let o = grpcurl(&sock, None, &["list"]);
    assert!(o.status.success(), "{o:?}");
    let services = stdout(&o);
    for s in [
        "mydocker.shim.v1.Shim",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(services.lines().any(|l| l == s), "{s} in {services}");
    }
    let o = grpcurl(
        &sock,
        Some(&format!(
            r#"{{"id":"byhand","argv":["sh","-c","echo from grpcurl; exit 9"],"resources":{{"cgroupParent":"{}","pidsLimit":"50"}}}}"#,
            t.cgroup_parent()
        )),
        &["mydocker.shim.v1.Shim/Create"],
    );
    assert!(o.status.success(), "{o:?}");
    let o = grpcurl(
        &sock,
        Some(r#"{"id":"byhand"}"#),
        &["mydocker.shim.v1.Shim/Start"],
    );
    assert!(o.status.success(), "{o:?}");
    let o = grpcurl(
        &sock,
        Some(r#"{"id":"byhand"}"#),
        &["mydocker.shim.v1.Shim/Wait"],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains(r#""exitCode": 9"#), "{}", stdout(&o));
    let log = std::fs::read_to_string(t.root.join(id).join("log")).unwrap();
    assert!(log.contains(" stdout F from grpcurl\n"), "{log}");

    // Errors carry the right codes.
    let o = grpcurl(
        &sock,
        Some(r#"{"id":"other"}"#),
        &["mydocker.shim.v1.Shim/Wait"],
    );
    assert!(stderr(&o).contains("Code: NotFound"), "{}", stderr(&o));
    let o = grpcurl(
        &sock,
        Some(r#"{"id":"byhand"}"#),
        &["mydocker.shim.v1.Shim/Pause"],
    );
    assert!(
        stderr(&o).contains("Code: FailedPrecondition"),
        "{}",
        stderr(&o)
    );

    let o = grpcurl(
        &sock,
        Some(r#"{"id":"byhand"}"#),
        &["mydocker.shim.v1.Shim/Delete"],
    );
    assert!(o.status.success(), "{o:?}");
    let status = shim.wait().unwrap();
    assert!(status.success(), "{status:?}");
    t.finish();
}

/// `auto_remove` through the API: a Wait in flight gets the exit status,
/// then the shim removes everything and exits by itself. A command that
/// cannot be executed is not removed: the caller gets Start's error, may
/// Wait for the code, and deletes it.
#[tokio::test]
async fn api_auto_remove_answers_the_wait_in_flight_then_leaves_nothing() {
    let t = TestRoot::new("apiauto");
    let create = |id: &str, argv: &[&str]| v1::CreateRequest {
        id: id.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        resources: Some(t.resources()),
        auto_remove: true,
        ..Default::default()
    };

    let (spawned, mut c) = t.shim("auto").await;
    let go = t.root.join(".go-auto");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; exit 5",
        go.display()
    );
    c.create(create("auto", &["sh", "-c", &script]))
        .await
        .unwrap();
    c.start(v1::StartRequest {
        id: "auto".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut w = c.clone();
    let waiting = tokio::spawn(async move {
        w.wait(v1::WaitRequest {
            id: "auto".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
    });
    // The Wait is in flight (sent on an open connection) well before the
    // command is let go.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&go, "").unwrap();
    let w = waiting.await.unwrap().unwrap();
    assert_eq!(w.status.unwrap().exit_code, 5);
    std::fs::remove_file(&go).unwrap();
    drop(c);
    let status = tokio::time::timeout(Duration::from_secs(10), wait_child(spawned.process))
        .await
        .expect("the shim exits by itself");
    assert!(status.success(), "{status:?}");
    assert!(!t.root.join("auto").exists(), "its state is gone");

    let (spawned, mut c) = t.shim("noexec").await;
    c.create(create("noexec", &["no-such-command-xyz"]))
        .await
        .unwrap();
    let e = c
        .start(v1::StartRequest {
            id: "noexec".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    let w = c
        .wait(v1::WaitRequest {
            id: "noexec".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.status.unwrap().exit_code, 127);
    assert!(t.root.join("noexec").exists(), "kept for Delete");
    c.delete(v1::DeleteRequest {
        id: "noexec".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    drop(c);
    assert!(wait_child(spawned.process).await.success());
    t.finish();
}

/// An embedder's view: the API crate spawns a shim and drives it.
#[tokio::test]
async fn api_crate_drives_a_shim_with_the_right_error_codes() {
    let t = TestRoot::new("api");
    let shim = mydocker::ShimCommand {
        program: shim_bin(),
    };
    let id = "api1";
    let spawned = mydocker::spawn_shim(&shim, &t.root, id).unwrap();
    let meta = std::fs::metadata(&spawned.socket).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dmeta = std::fs::metadata(t.root.join(id)).unwrap();
    assert_eq!(dmeta.permissions().mode() & 0o777, 0o700);
    assert!(matches!(
        mydocker::spawn_shim(&shim, &t.root, id),
        Err(mydocker::ClientError::AlreadyExists(_))
    ));
    assert!(matches!(
        mydocker::spawn_shim(&shim, &t.root, "../escape"),
        Err(mydocker::ClientError::InvalidId(_))
    ));

    let mut c = mydocker::connect(&spawned.socket).await.unwrap();
    let create = |argv: &[&str]| v1::CreateRequest {
        id: id.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        resources: Some(t.resources()),
        ..Default::default()
    };
    let bad = c
        .create(v1::CreateRequest {
            id: "../x".into(),
            ..create(&["true"])
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    let bad = c.create(create(&[])).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let bad = c.shutdown(v1::ShutdownRequest {}).await;
    assert!(
        bad.is_ok(),
        "Shutdown with no container is allowed: {bad:?}"
    );
    let status = wait_child(spawned.process).await;
    assert!(status.success());
    assert!(!t.root.join(id).exists(), "the shim removed its dir");

    // A second shim, for the lifecycle.
    let (spawned, mut c) = t.shim(id).await;
    c.create(create(&["sleep", "100"])).await.unwrap();
    let dup = c.create(create(&["true"])).await.unwrap_err();
    assert_eq!(dup.code(), tonic::Code::AlreadyExists);
    let st = c
        .state(v1::StateRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.status, v1::Status::Created as i32);
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let again = c
        .start(v1::StartRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    let del = c
        .delete(v1::DeleteRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(del.code(), tonic::Code::FailedPrecondition, "{del:?}");
    let bad_sig = c
        .kill(v1::KillRequest {
            id: id.into(),
            signal: 999,
            all: false,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_sig.code(), tonic::Code::InvalidArgument);
    let nf = c
        .wait(v1::WaitRequest {
            id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(nf.code(), tonic::Code::NotFound);
    c.kill(v1::KillRequest {
        id: id.into(),
        signal: 9,
        all: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let w = c
        .wait(v1::WaitRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let s = w.status.unwrap();
    assert_eq!((s.exit_code, s.signal), (137, 9));
    assert!(s.exited_at_unix_nanos > 0);
    c.delete(v1::DeleteRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    wait_child(spawned.process).await;
    t.finish();
}

#[test]
fn an_exit_before_start_returns_is_not_lost() {
    let t = TestRoot::new("fast");
    for _ in 0..5 {
        let o = t.ctl_output(&on_host(&["run"], &["--rm", "true"]));
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let o = t.ctl_output(&on_host(&["run"], &["--rm", "sh", "-c", "exit 5"]));
        assert_eq!(o.status.code(), Some(5), "{o:?}");
    }
    t.finish();
}

fn wait_running(t: &TestRoot, id: &str) {
    let sock = mydocker::socket_path(&t.root, id);
    let ok = eventually(Duration::from_secs(5), || {
        let o = grpcurl(
            &sock,
            Some(&format!(r#"{{"id":"{id}"}}"#)),
            &["mydocker.shim.v1.Shim/State"],
        );
        stdout(&o).contains("STATUS_RUNNING").then_some(())
    });
    assert!(ok.is_some(), "container {id} never ran");
}

fn wait_log_contains(t: &TestRoot, id: &str, needle: &str) {
    let path = t.root.join(id).join("log");
    let ok = eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|l| l.contains(needle))
            .map(|_| ())
    });
    assert!(
        ok.is_some(),
        "{needle:?} never appeared in {}",
        path.display()
    );
}

/// A shim that dies before serving (here: not a shim at all) is one clear
/// line and exit 125, and leaves no state dir behind.
#[test]
fn a_shim_that_dies_at_once_is_a_clear_error_and_leaves_nothing() {
    let t = TestRoot::new("deadshim");
    let o = t
        .ctl()
        .env("MYDOCKER_SHIM", "/bin/false")
        .args(on_host(&["run"], &["--rm", "true"]))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    let err = stderr(&o);
    assert!(
        err.contains("mydocker-shim (/bin/false) exited before serving"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    t.finish();
}

/// A shim that never gets a container (its spawner died before Create)
/// exits once it has had no client for MYDOCKER_SHIM_IDLE_SECS (30 s by
/// default), and takes its directory with it. A connected client keeps it,
/// and so does a container, whether or not anyone is connected.
#[test]
fn a_shim_without_a_container_or_a_client_goes_away() {
    let t = TestRoot::new("idle");
    let spawn = |id: &str| {
        Command::new(shim_bin())
            .args(["--id", id, "--root"])
            .arg(&t.root)
            .env("MYDOCKER_SHIM_IDLE_SECS", "1")
            .spawn()
            .unwrap()
    };
    let gone_within = |child: &mut std::process::Child, secs: u64| {
        eventually(Duration::from_secs(secs), || child.try_wait().unwrap())
    };
    // Nobody ever connects.
    let mut lonely = spawn("lonely");
    let status = gone_within(&mut lonely, 5).expect("an unused shim stays");
    assert!(status.success(), "{status:?}");
    assert!(!t.root.join("lonely").exists());
    // A client holds it; once it hangs up, the shim goes.
    let mut held = spawn("held");
    let sock = mydocker::socket_path(&t.root, "held");
    let conn = eventually(Duration::from_secs(5), || {
        std::os::unix::net::UnixStream::connect(&sock).ok()
    })
    .expect("connect");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        held.try_wait().unwrap().is_none(),
        "left while a client was on"
    );
    drop(conn);
    let status = gone_within(&mut held, 5).expect("stayed after its client left");
    assert!(status.success(), "{status:?}");
    assert!(!t.root.join("held").exists());
    // A container keeps its shim, with no client connected.
    let o = t
        .ctl()
        .env("MYDOCKER_SHIM_IDLE_SECS", "1")
        .args(on_host(&["run"], &["-d", "--name", "kept", "sleep", "100"]))
        .output()
        .unwrap();
    let id = ok(&o).trim().to_string();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(t.inspect(&id)["State"]["Running"], true);
    ok(&t.ctl_output(&["rm", "-f", "kept"]));
    t.finish();
}
