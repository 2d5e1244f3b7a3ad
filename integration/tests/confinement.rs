//! What a container sees of the host, tried as a new user would: the
//! cgroup file system, the terminals, /sys, /dev, the network, the
//! keyrings. Each was a way out, or a view of the host, before; each test
//! tries it on the real binaries, on the host-filesystem mode (the only
//! mode there is yet). Most run in the cgroup v2 guest too
//! (integration/vm/run), which has busybox and nothing else.

use std::time::Duration;

use mydocker_integration::*;

/// `mydockerctl run --rm ARGS`, which must exit 0: its output.
fn run(t: &TestRoot, args: &[&str]) -> String {
    ok(&t.ctl_output(&on_host(&["run", "--rm"], args)))
}

/// A detached container's log (stdout, then stderr), once it holds
/// `needle`.
fn logs_with(t: &TestRoot, id: &str, needle: &str) -> String {
    let logs = || {
        let o = t.ctl_output(&["logs", id]);
        format!("{}{}", stdout(&o), stderr(&o))
    };
    eventually(Duration::from_secs(10), || {
        let out = logs();
        out.contains(needle).then_some(out)
    })
    .unwrap_or_else(|| panic!("{needle:?} not in the log of {id}:\n{}", logs()))
}

/// The escape the issue found: moving itself to the root cgroup of its
/// memory hierarchy (v1) or of the one hierarchy (v2), with and without a
/// limit. Refused (the cgroup file system is read-only and shows only its
/// own cgroup), and the host still sees it in its cgroup.
#[test]
fn the_container_cannot_leave_its_cgroup() {
    let t = TestRoot::new("cgesc");
    let procs = if v2() {
        "/sys/fs/cgroup/cgroup.procs"
    } else {
        "/sys/fs/cgroup/memory/cgroup.procs"
    };
    let limit = if v2() {
        "/sys/fs/cgroup/memory.max"
    } else {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    };
    let script = format!(
        "if echo $$ > {procs}; then echo moved; else echo refused; fi; \
         if echo 1073741824 > {limit}; then echo raised; else echo kept; fi; \
         if mkdir $(dirname {procs})/x; then echo made; else echo no-mkdir; fi; \
         if mount -t cgroup -o memory cgroup /mnt 2>/dev/null || mount -t cgroup2 none /mnt; then echo mounted; else echo no-mount; fi; \
         cat /proc/self/cgroup; echo done; exec sleep 100"
    );
    for memory in [None, Some("64m")] {
        let mut args = vec!["run", "--rootfs", "/", "-d"];
        if let Some(m) = memory {
            args.extend(["-m", m]);
        }
        args.extend(["sh", "-c", &script]);
        let id = ok(&t.ctl_output(&args)).trim().to_string();
        let out = logs_with(&t, &id, "done");
        for (want, not) in [
            ("refused", "moved"),
            ("kept", "raised"),
            ("no-mkdir", "made"),
            ("no-mount", "mounted"),
        ] {
            assert!(
                has_line(&out, want) && !has_line(&out, not),
                "{memory:?}: {want}\n{out}"
            );
        }
        assert!(out.contains("Read-only file system"), "{out}");
        // Its own cgroup namespace: its cgroup is its `/`.
        let memory_line = out
            .lines()
            .find(|l| {
                if v2() {
                    l.starts_with("0::")
                } else {
                    l.contains(":memory:")
                }
            })
            .unwrap_or_else(|| panic!("{out}"));
        assert!(memory_line.ends_with(":/"), "{memory_line}\n{out}");
        // And from the host, it has not moved.
        let pid = t.inspect(&id)["State"]["Pid"].as_i64().unwrap();
        let host = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let line = host
            .lines()
            .find(|l| {
                if v2() {
                    l.starts_with("0::")
                } else {
                    l.contains(":memory:")
                }
            })
            .unwrap();
        assert!(
            line.ends_with(&format!("/{}/{id}", t.cgroup_parent())),
            "{line}"
        );
        if memory.is_some() {
            let file = if v2() {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            let dir = cgroup_dirs(&t.cgroup_parent())
                .into_iter()
                .map(|d| d.join(&id))
                .find(|d| d.join(file).exists())
                .unwrap();
            let set = std::fs::read_to_string(dir.join(file)).unwrap();
            assert_eq!(set.trim(), (64u64 << 20).to_string());
        }
        ok(&t.ctl_output(&["rm", "-f", &id]));
    }
    t.finish();
}

/// Its /sys/fs/cgroup is its own cgroup, read-only: on v1 one directory
/// per hierarchy it is in, each the root of its view (co-mounted ones, as
/// `cpu,cpuacct`, also by each name, a link); and /sys is read-only. With
/// the namespaces made ahead, and without (where the init makes its own,
/// and mounts /sys itself).
#[test]
fn sys_fs_cgroup_is_its_own_cgroup_read_only() {
    let t = TestRoot::new("cgview");
    let script =
        "find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d | sort | tr '\\n' ' '; echo; \
                  find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type l | sort | tr '\\n' ' '; echo; \
                  ls /sys/fs/cgroup | tr '\\n' ' '; echo; \
                  grep -E ' /sys( |/fs/cgroup)' /proc/self/mountinfo";
    for no_clone3 in [false, true] {
        let mut c = t.ctl();
        if no_clone3 {
            c.env("MYDOCKER_NO_CLONE3", "1");
        }
        let out = ok(&c
            .args(on_host(&["run"], &["--rm", "sh", "-c", script]))
            .output()
            .unwrap());
        let mut lines = out.lines();
        let name = |p: &str| p.trim_start_matches("/sys/fs/cgroup/").to_string();
        let dirs: Vec<String> = lines.next().unwrap().split_whitespace().map(name).collect();
        let links: Vec<String> = lines.next().unwrap().split_whitespace().map(name).collect();
        let listing: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let mounts: Vec<&str> = lines.collect();
        let mut points = vec!["/sys/fs/cgroup".to_string(), "/sys".to_string()];
        if v2() {
            assert!(listing.contains(&"cgroup.procs"), "{out}");
            assert!(listing.contains(&"memory.max"), "{out}");
        } else {
            // Each controller, as a directory or a link to the directory
            // of the controllers mounted with it.
            for c in [
                "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
            ] {
                let found = dirs.iter().any(|d| d.split(',').any(|x| x == c));
                assert!(found, "{c}: {out}");
            }
            for l in &links {
                assert!(
                    dirs.iter()
                        .any(|d| d.contains(',') && d.split(',').any(|x| x == l)),
                    "{l}: {out}"
                );
            }
            // Nothing of the hierarchies it is not in.
            for c in ["blkio", "systemd", "unified"] {
                assert!(!listing.contains(&c), "{c}: {out}");
            }
            points.extend(dirs.iter().map(|c| format!("/sys/fs/cgroup/{c}")));
        }
        // What is mounted last on each is what the container sees:
        // read-only, and on v1 its own directory as the root (the host's,
        // hidden under the container's /sys, are listed too).
        for point in &points {
            let last = mounts
                .iter()
                .rfind(|m| m.split_whitespace().nth(4) == Some(point.as_str()))
                .unwrap_or_else(|| panic!("{point}: {out}"));
            let fields: Vec<&str> = last.split_whitespace().collect();
            assert!(
                fields[5].split(',').any(|o| o == "ro"),
                "{no_clone3}: {last}"
            );
            assert_eq!(fields[3], "/", "{last}");
        }
    }
    t.finish();
}

/// The container's terminal comes from a devpts of its own: it is
/// /dev/pts/0 and alone there, and the host's terminals are neither seen
/// nor added to.
#[test]
fn the_terminal_is_the_containers_own() {
    let t = TestRoot::new("pts");
    let host_pts = || std::fs::read_dir("/dev/pts").unwrap().count();
    let before = host_pts();
    let id = ok(&t.ctl_output(&on_host(
        &["run"],
        &[
            "-d",
            "-t",
            "sh",
            "-c",
            "tty; ls /dev/pts | tr '\\n' ' '; echo; ls -l /dev/console; echo done; exec sleep 100",
        ],
    )))
    .trim()
    .to_string();
    let out = logs_with(&t, &id, "done");
    assert!(has_line(&out, "/dev/pts/0"), "{out}");
    assert!(has_line(&out, "0 ptmx"), "only its own terminal: {out}");
    assert!(
        // ls -l's "136, 0" (busybox pads it: "136,   0").
        out.replace(' ', "").contains("136,0"),
        "/dev/console is the terminal: {out}"
    );
    // Its terminal is open and held here; the host's count is unchanged.
    assert_eq!(host_pts(), before);
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

/// `lo` is up, /sys shows the container's own network namespace, and a
/// service on 127.0.0.1 answers from inside.
#[test]
fn loopback_is_up_and_sys_is_the_containers_network() {
    let t = TestRoot::new("lo");
    let out = run(
        &t,
        &[
            "sh",
            "-c",
            "ip link show lo | head -1; ls /sys/class/net | tr '\\n' ' '; echo; \
             busybox timeout 10 busybox nc -l -p 5555 -e echo hello-over-lo & \
             for i in $(seq 50); do busybox nc 127.0.0.1 5555 </dev/null 2>/dev/null && break; sleep 0.1; done; \
             wait",
        ],
    );
    let link = out.lines().next().unwrap();
    assert!(link.contains("UP") && link.contains("LOOPBACK"), "{out}");
    assert!(has_line(&out, "lo"), "only lo in /sys/class/net: {out}");
    assert!(has_line(&out, "hello-over-lo"), "{out}");
    // Where there are no namespaces made ahead (no clone3, or a kernel
    // before 5.9), the init makes its own, and brings lo up itself.
    let o = t
        .ctl()
        .env("MYDOCKER_NO_CLONE3", "1")
        .args(on_host(
            &["run"],
            &["--rm", "sh", "-c", "ip link show lo | head -1"],
        ))
        .output()
        .unwrap();
    let link = ok(&o);
    assert!(link.contains("LOOPBACK,UP"), "{link}");
    t.finish();
}

/// /dev is docker's: its few devices, its own shm and mqueue. A device
/// made with mknod (CAP_MKNOD is docker's too) does not open unless it is
/// one of those: a disk made in the container cannot be read.
#[test]
fn dev_is_dockers_and_no_other_device_opens() {
    let t = TestRoot::new("dev");
    let out = run(
        &t,
        &[
            "sh",
            "-c",
            "ls /dev | tr '\\n' ' '; echo; \
             mknod /dev/disk b 8 0 && echo made; \
             if head -c 1 /dev/disk >/dev/null; then echo disk-opened; else echo disk-refused; fi; \
             mknod /dev/loopdev b 7 0 && if head -c 1 /dev/loopdev >/dev/null; then echo loop-opened; fi; \
             echo x > /dev/null && head -c 4 /dev/urandom | wc -c; \
             grep -E ' /dev(/shm|/mqueue)? ' /proc/self/mountinfo",
        ],
    );
    let listing: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    let mut want = vec![
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ];
    if std::path::Path::new("/proc/kcore").exists() {
        want.push("core");
        want.sort();
    }
    assert_eq!(listing, want, "{out}");
    assert!(has_line(&out, "made"), "{out}");
    assert!(has_line(&out, "disk-refused"), "{out}");
    assert!(!out.contains("loop-opened"), "{out}");
    let o = t.ctl_output(&on_host(
        &["run"],
        &["--rm", "sh", "-c", "mknod /dev/d b 8 0; head -c1 /dev/d"],
    ));
    assert!(stderr(&o).contains("Operation not permitted"), "{o:?}");
    assert!(has_line(&out, "4"), "/dev/urandom reads: {out}");
    for fs in [
        " /dev rw,nosuid ",
        " /dev/shm rw,nosuid,nodev,noexec",
        " /dev/mqueue rw,nosuid,nodev,noexec",
    ] {
        assert!(out.contains(fs), "{fs}: {out}");
    }
    t.finish();
}

/// /sys and /proc/sys refuse writes, and the host's firmware stays hidden.
#[test]
fn sys_and_proc_sys_are_read_only() {
    let t = TestRoot::new("sysro");
    let out = run(
        &t,
        &[
            "sh",
            "-c",
            "for f in /sys/kernel/mm/ksm/run /proc/sys/kernel/domainname /proc/sysrq-trigger; do \
               if [ -e $f ]; then if echo 0 > $f; then echo wrote $f; else echo refused $f; fi; fi; done; \
             grep ' /sys ' /proc/self/mountinfo | tail -1; ls /sys/firmware | wc -l",
        ],
    );
    assert!(!out.contains("wrote"), "{out}");
    assert!(out.contains("refused"), "{out}");
    let sys = out.lines().find(|l| l.contains(" /sys ")).unwrap();
    assert!(sys.contains(" ro,nosuid,nodev,noexec"), "{sys}");
    assert!(has_line(&out, "0"), "/sys/firmware is empty: {out}");
    t.finish();
}

/// The kernel's keyrings are not namespaced: the user keyring of uid 0 is
/// every root process's on the host. The container cannot reach them
/// (docker's seccomp profile refuses add_key, request_key and keyctl; so
/// does ours), and a privileged one has a session keyring of its own.
#[test]
fn the_hosts_keyrings_are_out_of_reach() {
    let t = TestRoot::new("keys");
    // A program of our own (the host-filesystem mode runs the host's
    // files): the cgroup v2 guest has no python or keyctl(1).
    let probe = bin_dir().join("keyring-probe");
    let probe = probe.to_str().unwrap();
    let seccomp = "grep Seccomp: /proc/self/status";
    let out = run(&t, &["sh", "-c", &format!("{probe}; {seccomp}")]);
    for what in ["user", "session", "add_key"] {
        assert!(
            has_line(
                &out,
                &format!("{what} Operation not permitted (os error 1)")
            ),
            "{out}"
        );
    }
    assert!(out.contains("Seccomp:\t2"), "a seccomp filter: {out}");
    // Privileged, as docker's: no filter; and its session keyring is a new
    // one, not the one the shim was started in (this process's).
    // SAFETY: keyctl(2) with integer arguments.
    let ours = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3i64, 0) };
    assert!(ours > 0);
    let out = run(
        &t,
        &["--privileged", "sh", "-c", &format!("{probe}; {seccomp}")],
    );
    let session: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("session ")?.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(session > 0 && session != ours, "{session} vs {ours}: {out}");
    assert!(out.contains("Seccomp:\t0"), "no seccomp filter: {out}");
    t.finish();
}

/// `--privileged` lifts it as docker's does: /sys and its cgroup writable,
/// the host's devices there and open, no seccomp filter; still a terminal,
/// a loopback and a cgroup of its own.
#[test]
fn privileged_lifts_the_confinement_as_dockers_does() {
    let t = TestRoot::new("privc");
    // The probe device is made on a tmpfs of the container's own (over
    // /tmp, in its mount namespace only): its /dev is the host's.
    let o = t.ctl_output(&on_host(&["run"], &["--rm",
        "--privileged",
        "sh",
        "-c",
        "grep -E ' /sys( |/fs/cgroup)' /proc/self/mountinfo; \
         mount -t tmpfs probe /tmp && mknod /tmp/loop b 7 0 && echo probed; head -c 1 /tmp/loop >/dev/null; \
         echo devices=$(ls /dev | wc -l); ip link show lo | head -1; \
         grep Seccomp: /proc/self/status; readlink /proc/self/ns/cgroup"]));
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    // The last /sys and cgroup mounts are the container's, and writable.
    let sys = out
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some("/sys"))
        .unwrap();
    assert!(sys.contains(" rw,") && sys.contains("sysfs"), "{out}");
    let cg = out
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some("/sys/fs/cgroup"))
        .unwrap();
    assert!(
        cg.split_whitespace().nth(5).unwrap().starts_with("rw"),
        "{out}"
    );
    // The devices cgroup does not refuse it (ENXIO where the kernel has no
    // such disk is the kernel's answer, not the confinement's).
    assert!(
        !stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let devs: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("devices=")?.parse().ok())
        .unwrap();
    assert!(devs > 14, "the host's devices: {out}");
    assert!(has_line(&out, "probed"), "the device was made: {out}");
    assert!(out.contains("LOOPBACK,UP"), "{out}");
    assert!(out.contains("Seccomp:\t0"), "{out}");
    let host_cgroupns = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
    let cgroupns = out.lines().rfind(|l| l.starts_with("cgroup:[")).unwrap();
    assert_ne!(
        cgroupns,
        host_cgroupns.to_str().unwrap(),
        "own cgroupns: {out}"
    );
    // And confined, the same probe is refused.
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "--rm",
            "sh",
            "-c",
            "mknod /dev/loop b 7 0 && head -c 1 /dev/loop",
        ],
    ));
    assert!(stderr(&o).contains("Operation not permitted"), "{o:?}");
    t.finish();
}

/// `inspect` says which root file system the container has: the host's,
/// writable, in this mode; `run` says nothing about it.
#[test]
fn inspect_shows_the_root_file_system_mode() {
    let t = TestRoot::new("rootfs");
    // Nothing is printed about it (no noise in every run).
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "true"]));
    assert!(o.status.success(), "{o:?}");
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", ""));
    let id = t.run_detached(&["sleep", "100"]);
    let v = t.inspect(&id);
    assert_eq!(v["RootFs"]["Type"], "host", "{v}");
    assert_eq!(v["RootFs"]["Path"], "/", "{v}");
    assert_eq!(v["RootFs"]["ReadOnly"], false, "{v}");
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

/// A mount on the host, removed when dropped.
struct HostMount(std::path::PathBuf);

impl HostMount {
    fn new(fstype: &str, options: &str, at: std::path::PathBuf) -> Self {
        let mut args = vec!["-t", fstype];
        if !options.is_empty() {
            args.extend(["-o", options]);
        }
        args.push("mydocker-probe");
        Self::mount(&args, at)
    }

    fn bind(from: &str, at: std::path::PathBuf) -> Self {
        Self::mount(&["--bind", from], at)
    }

    fn mount(args: &[&str], at: std::path::PathBuf) -> Self {
        std::fs::create_dir_all(&at).unwrap();
        let o = std::process::Command::new("mount")
            .args(args)
            .arg(&at)
            .output()
            .unwrap();
        assert!(o.status.success(), "mount {args:?} {}: {o:?}", at.display());
        Self(at)
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The host-filesystem mode shares the host's mount table: a cgroup
/// hierarchy, a /proc, a sysfs or the host's terminals mounted elsewhere
/// than the container's own would undo all of the above (the host's
/// processes, a cgroup above its own, the host's ptys). Such mounts are
/// covered, empty and read-only, in the container.
#[test]
fn the_hosts_kernel_file_systems_elsewhere_are_hidden() {
    let t = TestRoot::new("cover");
    let cg_dir = t.root.join("host-cgroup");
    let proc_dir = t.root.join("host-proc");
    let cgroups = if v2() {
        HostMount::new("cgroup2", "", cg_dir.clone())
    } else {
        HostMount::new("cgroup", "memory", cg_dir.clone())
    };
    let procs = HostMount::new("proc", "", proc_dir.clone());
    let sys_dir = t.root.join("host-sys");
    let sysfs = HostMount::new("sysfs", "", sys_dir.clone());
    let pts_dir = t.root.join("host-pts");
    let pts = HostMount::bind("/dev/pts", pts_dir.clone());
    // From the host, all are full.
    assert!(cg_dir.join("cgroup.procs").exists());
    assert!(proc_dir.join("sysrq-trigger").exists() || proc_dir.join("1").exists());
    assert!(sys_dir.join("kernel").exists());
    assert!(pts_dir.join("ptmx").exists());
    let script = format!(
        "ls -A {cg} | wc -l; ls -A {pr} | wc -l; ls -A {sy} | wc -l; ls -A {pt} | wc -l; \
         if echo $$ > {cg}/cgroup.procs; then echo moved; else echo refused; fi; \
         grep -c ' {cg} .* - tmpfs ' /proc/self/mountinfo",
        cg = cg_dir.display(),
        pr = proc_dir.display(),
        sy = sys_dir.display(),
        pt = pts_dir.display(),
    );
    let out = run(&t, &["sh", "-c", &script]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..5], ["0", "0", "0", "0", "refused"], "{out}");
    assert_eq!(lines[5], "1", "covered by a tmpfs: {out}");
    // A privileged container sees them, as docker's does.
    let out = run(
        &t,
        &[
            "--privileged",
            "sh",
            "-c",
            &format!("ls -A {} | wc -l", proc_dir.display()),
        ],
    );
    assert_ne!(out.trim(), "0", "{out}");
    drop((cgroups, procs, sysfs, pts));
    t.finish();
}
