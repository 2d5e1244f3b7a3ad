//! Resource limits on this machine's real cgroups (v1 here; the v2 files
//! are unit-tested in the shim, and proven in a v2 guest by its own suite).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mydocker::v1;
use mydocker_integration::*;

/// The container's directory in `controller`'s hierarchy (or the v2 one).
fn cgroup_dir(t: &TestRoot, id: &str, controller: &str) -> PathBuf {
    let rel = t.inspect(id)["Paths"]["Cgroup"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rel.ends_with(id), "{rel}");
    let v1 = PathBuf::from("/sys/fs/cgroup").join(controller).join(&rel);
    if v1.is_dir() {
        v1
    } else {
        PathBuf::from("/sys/fs/cgroup").join(&rel)
    }
}

fn memory_limit_file(t: &TestRoot, id: &str) -> PathBuf {
    cgroup_dir(t, id, "memory").join(if v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    })
}

/// CPU time used by the container, from its cgroup's own accounting.
fn cpu_usage_nanos(t: &TestRoot, id: &str) -> u64 {
    if v2() {
        let stat = read(cgroup_dir(t, id, "cpu").join("cpu.stat"));
        let usec: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .unwrap()
            .parse()
            .unwrap();
        usec * 1000
    } else {
        read(cgroup_dir(t, id, "cpuacct").join("cpuacct.usage"))
            .parse()
            .unwrap()
    }
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    let t = TestRoot::new("oom");
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "--name",
            "hog",
            "-m",
            "32m",
            "--",
            "stress",
            "--vm",
            "1",
            "--vm-bytes",
            "64M",
            "--vm-keep",
        ],
    ));
    assert_eq!(o.status.code(), Some(137), "{o:?}");
    assert!(stderr(&o).contains("OOM-killed"), "{}", stderr(&o));
    let v = t.inspect("hog");
    assert_eq!(v["State"]["OOMKilled"], true);
    assert_eq!(v["State"]["ExitCode"], 137);
    let ps = ok(&t.ctl_output(&["ps", "-a"]));
    assert!(
        ps.contains("Exited (137)") && ps.contains("(OOM killed)"),
        "{ps}"
    );
    ok(&t.ctl_output(&["rm", "hog"]));

    // The same under a limit it fits in keeps running.
    let id = t.run_detached(&[
        "-m",
        "256m",
        "--",
        "stress",
        "--vm",
        "1",
        "--vm-bytes",
        "64M",
        "--vm-keep",
    ]);
    std::thread::sleep(Duration::from_secs(3));
    let v = t.inspect(&id);
    assert_eq!(v["State"]["Status"], "running", "{v}");
    assert_eq!(read(memory_limit_file(&t, &id)), (256u64 << 20).to_string());
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

#[test]
fn pids_limit_holds_a_fork_bomb() {
    let t = TestRoot::new("pids");
    let id = t.run_detached(&[
        "--pids-limit",
        "20",
        // bash, not dash: dash exits when a fork fails, bash retries.
        "bash",
        "-c",
        // Forks for ever, each child staying: without the limit this
        // would take the host's whole pid space.
        "while :; do sleep 1000 & done 2>/dev/null",
    ]);
    let dir = cgroup_dir(&t, &id, "pids");
    assert_eq!(read(dir.join("pids.max")), "20");
    let mut max_seen = 0u64;
    let mut hit_limit = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let n: u64 = read(dir.join("pids.current")).parse().unwrap();
        max_seen = max_seen.max(n);
        hit_limit |= n == 20;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(max_seen <= 20, "pids.current reached {max_seen}");
    assert!(
        hit_limit,
        "the bomb never got near the limit ({max_seen}): not a real test"
    );
    // The host is still usable.
    let s = Instant::now();
    let o = std::process::Command::new("true").output().unwrap();
    assert!(o.status.success() && s.elapsed() < Duration::from_secs(2));
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

#[test]
fn cpuset_pins_the_container() {
    let t = TestRoot::new("cpuset");
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "--rm",
            "--cpuset-cpus",
            "0",
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ],
    ));
    let out = ok(&o);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["Cpus_allowed_list:", "0"]
    );
    t.finish();
}

#[test]
fn cpus_half_a_cpu_is_fifty_percent() {
    let t = TestRoot::new("cpus");
    let id = t.run_detached(&["--cpus", "0.5", "sh", "-c", "while :; do :; done"]);
    let dir = cgroup_dir(&t, &id, "cpu");
    if v2() {
        assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    } else {
        assert_eq!(read(dir.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(dir.join("cpu.cfs_period_us")), "100000");
    }
    let usage = || cpu_usage_nanos(&t, &id);
    // Let it settle into its quota, then measure two seconds of the cgroup's
    // own accounting.
    std::thread::sleep(Duration::from_millis(300));
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (u1, t1) = (usage(), Instant::now());
    let pct = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64 * 100.0;
    assert!(
        (35.0..=65.0).contains(&pct),
        "CPU use {pct:.1}% of one CPU, want 50 ± 15"
    );
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

#[test]
fn cpu_shares_land_in_cpu_shares() {
    let t = TestRoot::new("shares");
    let id = t.run_detached(&["--cpu-shares", "512", "sleep", "100"]);
    let dir = cgroup_dir(&t, &id, "cpu");
    if v2() {
        // 1 + (512 - 2) * 9999 / 262142
        assert_eq!(read(dir.join("cpu.weight")), "20");
    } else {
        assert_eq!(read(dir.join("cpu.shares")), "512");
    }
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

#[test]
fn stats_are_live_and_update_changes_limits() {
    let t = TestRoot::new("stats");
    let id = t.run_detached(&[
        "--name",
        "busy",
        "-m",
        "64m",
        "--pids-limit",
        "30",
        "sh",
        "-c",
        "while :; do :; done & sleep 1000",
    ]);
    let sock = mydocker::socket_path(&t.root, &id);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = mydocker::connect(&sock).await.unwrap();
        let s0 = c
            .stats(v1::StatsRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s1 = c
            .stats(v1::StatsRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s1.memory_limit_bytes, 64 << 20);
        assert!(
            s1.memory_usage_bytes > 0 && s1.memory_usage_bytes < 64 << 20,
            "{s1:?}"
        );
        // Every process of the container, as the cgroup lists them (dash
        // forks for the last command; busybox sh execs it).
        let procs = std::fs::read_to_string(
            std::path::Path::new("/sys/fs/cgroup")
                .join(if v2() { "" } else { "pids" })
                .join(&s1.cgroup)
                .join("cgroup.procs"),
        )
        .unwrap();
        assert!(s1.pids_current >= 2, "{s1:?}");
        assert_eq!(s1.pids_current as usize, procs.lines().count(), "{s1:?}");
        assert_eq!(s1.pids_limit, 30);
        // The busy loop is using (most of) a CPU.
        let busy = (s1.cpu_usage_nanos - s0.cpu_usage_nanos) as f64
            / (s1.read_at_unix_nanos - s0.read_at_unix_nanos) as f64;
        assert!(busy > 0.5, "cpu {busy}");
        assert!(s1.cgroup.ends_with(&id));

        c.update(v1::UpdateRequest {
            id: id.clone(),
            resources: Some(v1::Resources {
                memory_limit_bytes: 128 << 20,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
        let s2 = c
            .stats(v1::StatsRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s2.memory_limit_bytes, 128 << 20);
        let bad = c
            .update(v1::UpdateRequest {
                id: id.clone(),
                resources: Some(v1::Resources {
                    cpuset_cpus: "99".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    });
    assert_eq!(
        ok(&t.ctl_output(&["update", "-m", "96m", "--pids-limit", "40", "busy"])).trim(),
        "busy"
    );
    assert_eq!(read(memory_limit_file(&t, &id)), (96u64 << 20).to_string());
    assert_eq!(read(cgroup_dir(&t, &id, "pids").join("pids.max")), "40");
    // inspect shows what the cgroup holds now, the rest as it was.
    let limits = &t.inspect("busy")["Config"]["Resources"];
    assert_eq!(limits["memory_limit_bytes"], 96i64 << 20, "{limits}");
    assert_eq!(limits["pids_limit"], 40, "{limits}");
    let host = ok(&t.ctl_output(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
        "busy",
    ]));
    assert_eq!(host, format!("{} 40\n", 96u64 << 20));

    let table = ok(&t.ctl_output(&["stats", "--no-stream", "busy"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID") && lines[0].contains("MEM USAGE / LIMIT"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&id[..12])
            && lines[1].contains("96.00MiB")
            && lines[1].contains("/ 40"),
        "{table}"
    );
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

#[test]
fn bad_limits_are_one_line_exit_125_and_leave_nothing() {
    let t = TestRoot::new("badlim");
    for args in [
        &["-m", "10xb"][..],
        &["-m", "-5"],
        &["-m", "1m"],
        &["--cpus", "0"],
        &["--cpus", "-1"],
        &["--cpus", "64"],
        &["--cpuset-cpus", "99"],
        &["--cpuset-cpus", "3-1"],
        &["--pids-limit", "-2"],
        &["--cpu-shares", "1"],
        &["--cgroup-parent", "../escape"],
    ] {
        let mut cmd = vec!["run", "--rootfs", "/", "--rm"];
        cmd.extend_from_slice(args);
        cmd.push("true");
        let o = t.ctl_output(&cmd);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {o:?}");
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("Error: "), "{}", stderr(&o));
        assert!(t.entries().is_empty(), "{args:?} left {:?}", t.entries());
    }
    t.finish();
}

/// On v1 the cgroup is made after the init is cloned (while it creates its
/// namespaces). A cgroup that cannot be made then still fails Create with
/// one line and exit 125, and leaves no process, record or cgroup. Here the
/// parent's cpuset holds only the last CPU, and the container asks for CPU
/// 0. (An init the shim failed to kill would die with the shim anyway, by
/// PR_SET_PDEATHSIG: this proves the error and the clean-up, not the kill.)
#[test]
fn a_cgroup_that_cannot_be_made_after_the_clone_leaves_nothing() {
    if v2() {
        eprintln!("skipped: on v2 the cgroup is made before the clone");
        return;
    }
    let t = TestRoot::new("lateg");
    let cpuset = PathBuf::from("/sys/fs/cgroup/cpuset");
    let last = read(cpuset.join("cpuset.effective_cpus"))
        .rsplit(['-', ','])
        .next()
        .unwrap()
        .to_string();
    if last == "0" {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let parent = cpuset.join(t.cgroup_parent());
    std::fs::create_dir(&parent).unwrap();
    std::fs::write(parent.join("cpuset.mems"), read(cpuset.join("cpuset.mems"))).unwrap();
    std::fs::write(parent.join("cpuset.cpus"), &last).unwrap();
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "--cpuset-cpus", "0", "true"]));
    let _ = std::fs::remove_dir(&parent);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cpuset.cpus"), "{err}");
    assert!(t.entries().is_empty(), "left {:?}", t.entries());
    t.finish();
}

/// The shim checks limits itself: a grpcurl caller or embedder gets
/// InvalidArgument, and nothing is created.
#[tokio::test]
async fn the_shim_rejects_bad_limits_itself() {
    let t = TestRoot::new("shimlim");
    let (spawned, mut c) = t.shim("lim").await;
    for res in [
        v1::Resources {
            memory_limit_bytes: -5,
            ..t.resources()
        },
        v1::Resources {
            cpuset_cpus: "99".into(),
            ..t.resources()
        },
        v1::Resources {
            nano_cpus: -1,
            ..t.resources()
        },
        v1::Resources {
            pids_limit: -2,
            ..t.resources()
        },
        v1::Resources {
            cgroup_parent: "a/../../b".into(),
            ..t.resources()
        },
    ] {
        let e = c
            .create(v1::CreateRequest {
                id: "lim".into(),
                argv: vec!["true".into()],
                resources: Some(res.clone()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{res:?}: {e:?}");
        assert!(cgroup_dirs(&t.cgroup_parent()).is_empty());
    }
    c.shutdown(v1::ShutdownRequest {}).await.unwrap();
    drop(c);
    wait_child(spawned.process).await;
    t.finish();
}

#[test]
fn rm_f_of_a_dead_shim_removes_its_cgroup() {
    let t = TestRoot::new("deadcg");
    let id = t.run_detached(&["-m", "64m", "sleep", "1000"]);
    let dir = cgroup_dir(&t, &id, "memory");
    assert!(dir.is_dir());
    if v2() {
        // A leaf under a parent that holds no process and delegates to it.
        let parent = dir.parent().unwrap();
        assert_eq!(read(parent.join("cgroup.procs")), "");
        let ctl = read(parent.join("cgroup.subtree_control"));
        for c in ["cpu", "memory", "pids"] {
            assert!(ctl.split_whitespace().any(|x| x == c), "{ctl}");
        }
        assert_eq!(read(dir.join("memory.oom.group")), "1");
    }
    let shim = t.inspect(&id)["State"]["ShimPid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually(Duration::from_secs(5), || {
        t.inspect(&id)["State"]["Dead"]
            .as_bool()
            .filter(|d| *d)
            .map(|_| ())
    })
    .expect("dead");
    assert!(dir.is_dir(), "the dead shim could not remove it");
    ok(&t.ctl_output(&["rm", "-f", &id]));
    assert!(!dir.exists());
    t.finish();
}

/// A cgroup parent outlives its containers, as runc leaves docker's: the
/// user's own, with a limit for all its containers, keeps it. Only the
/// containers' cgroups go (the leak check in `finish` proves that too).
#[test]
fn a_users_cgroup_parent_and_its_limit_outlive_the_containers() {
    let t = TestRoot::new("parent");
    let hierarchy = if v2() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup/pids")
    };
    let parent = hierarchy.join(t.cgroup_parent());
    std::fs::create_dir(&parent).unwrap();
    // On v2 the parent's pids.max exists once its own parent delegates pids.
    let limited = parent.join("pids.max").exists();
    if limited {
        std::fs::write(parent.join("pids.max"), "321").unwrap();
    }
    let id = t.run_detached(&["sleep", "1000"]);
    let dir = cgroup_dir(&t, &id, "pids");
    assert_eq!(dir.parent(), Some(parent.as_path()));
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "true"]));
    ok(&o);
    ok(&t.ctl_output(&["rm", "-f", &id]));
    assert!(!dir.exists(), "the container's cgroup stays");
    assert!(parent.is_dir(), "the parent went with its last container");
    if limited {
        assert_eq!(read(parent.join("pids.max")), "321");
    }
    t.finish();
    assert!(!parent.exists(), "the test's own parent is cleaned up");
}

/// A process moved into a container's cgroup from outside does not die with
/// the container's PID namespace: removing the container kills it, and the
/// cgroup still goes.
#[test]
fn rm_kills_what_was_moved_into_the_cgroup_from_outside() {
    let t = TestRoot::new("outsider");
    let id = t.run_detached(&["sleep", "1000"]);
    let dir = cgroup_dir(&t, &id, "memory");
    let mut outsider = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    std::fs::write(dir.join("cgroup.procs"), outsider.id().to_string()).unwrap();
    ok(&t.ctl_output(&["rm", "-f", &id]));
    let status = eventually(Duration::from_secs(5), || outsider.try_wait().unwrap())
        .expect("the outsider is still alive");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert!(!dir.exists());
    t.finish();
}

/// Where clone3 is missing (old kernels, docker's default seccomp profile)
/// the init is cloned with clone(2) and joins its cgroup itself: the same
/// cgroup in every hierarchy, from before its first instruction.
/// MYDOCKER_NO_CLONE3 takes that path here.
#[test]
fn without_clone3_the_init_still_starts_in_its_cgroup() {
    let t = TestRoot::new("noclone3");
    let o = t
        .ctl()
        .env("MYDOCKER_NO_CLONE3", "1")
        .args(on_host(
            &["run"],
            &["-d", "--pids-limit", "7", "sleep", "100"],
        ))
        .output()
        .unwrap();
    let id = ok(&o).trim().to_string();
    let pid = t.inspect(&id)["State"]["Pid"].as_i64().unwrap();
    // From the host: the container sees only its own cgroup namespace,
    // whose root is its cgroup (confinement.rs).
    let out = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let parent = t.cgroup_parent();
    // v1: one line per hierarchy; v2: the one "0::" line.
    let ours: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(':'))
        .filter(|l| {
            let ctrl = l.split(':').nth(1).unwrap_or("");
            v2() || ["memory", "pids", "cpuset"]
                .iter()
                .any(|c| ctrl.split(',').any(|x| x == *c))
        })
        .collect();
    assert!(!ours.is_empty(), "{out}");
    for l in &ours {
        assert!(
            l.ends_with(&format!("/{parent}/{id}")),
            "not in its cgroup: {l}\n{out}"
        );
    }
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}
