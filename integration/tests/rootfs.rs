//! Containers with a root file system of their own: `run --rootfs`, OCI
//! bundles (`run --bundle`, Create's `bundle`), volumes, users, rlimits;
//! the same bundle run by runc gives the same answers; bad bundles and
//! escaping mounts are refused and leave nothing. Each test builds its
//! root file systems from busybox-static.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mydocker::v1;
use mydocker_integration::*;
use tonic::Code;

/// `mydockerctl run --rm ARGS`, which must exit 0: its output.
fn run(t: &TestRoot, args: &[&str]) -> String {
    ok(&t.ctl_output(&on_host(&["run", "--rm"], args)))
}

/// A directory of this test's beside its state root (which must hold
/// nothing but the containers' state), removed when it goes.
struct Scratch(PathBuf);

impl Scratch {
    fn new(t: &TestRoot, name: &str) -> Self {
        let dir = PathBuf::from(format!("{}-{name}", t.root.display()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A busybox root file system of this test's.
fn rootfs(t: &TestRoot, name: &str) -> (Scratch, PathBuf) {
    let dir = Scratch::new(t, name);
    let root = busybox_rootfs(&dir.0.join("rootfs"));
    (dir, root)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The mount points in the container's mount table, without the masks
/// and read-only binds under /proc and /sys and the cgroup hierarchies,
/// which the confinement tests look at.
fn mount_points(mountinfo: &str) -> Vec<String> {
    let mut v: Vec<String> = mountinfo
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" - "))
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|p| {
            !(p.starts_with("/proc/")
                || p.starts_with("/sys/fs/cgroup/")
                || p.starts_with("/sys/firmware")
                || p.starts_with("/sys/devices/"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_container_has_a_root_of_its_own() {
    let t = TestRoot::new("rootfs");
    let (_scratch, root) = rootfs(&t, "bb");
    // A file of the host's, not in the root file system.
    let marker = root.parent().unwrap().join("host-marker");
    std::fs::write(&marker, "host").unwrap();
    let script = format!(
        "if [ -e {m} ]; then echo host-visible; else echo host-hidden; fi; \
         echo cmdline=$(tr '\\0' ' ' < /proc/1/cmdline); \
         echo dev=$(ls /dev | tr '\\n' ' '); \
         echo hostname=$(cat /etc/hostname) $(hostname); \
         grep -c localhost /etc/hosts; \
         ls -a /dev | grep -c host; \
         cat /proc/self/mountinfo",
        m = marker.display()
    );
    let out = run(
        &t,
        &[
            "--rootfs",
            s(&root),
            "--hostname",
            "box",
            "sh",
            "-c",
            &script,
        ],
    );
    assert!(has_line(&out, "host-hidden"), "{out}");
    assert!(out.contains("cmdline=sh -c if [ -e "), "{out}");
    let dev = out.lines().find_map(|l| l.strip_prefix("dev=")).unwrap();
    let dev: Vec<&str> = dev.split_whitespace().filter(|d| *d != "core").collect();
    assert_eq!(
        dev,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
            "stdout", "tty", "urandom", "zero"
        ],
        "{out}"
    );
    assert!(has_line(&out, "hostname=box box"), "{out}");
    // /etc/hosts names localhost; the old root's place in /dev is gone.
    let counts: Vec<&str> = out.lines().filter(|l| l.len() == 1).collect();
    assert_eq!(counts, ["2", "0"], "{out}");
    let mut expected = vec![
        "/",
        "/dev",
        "/dev/mqueue",
        "/dev/pts",
        "/dev/shm",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
        "/sys/fs/cgroup",
    ];
    expected.sort();
    let info: String = out
        .lines()
        .filter(|l| l.split(' ').count() > 8)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(mount_points(&info), expected, "{info}");
    // The root is this directory, and the image is as it was, but for the
    // mount points (as runc and docker make them).
    // (Its path in its own file system: the whole of it on a disk, the
    // part below /tmp where that is a tmpfs, as in the v2 guest.)
    let root_field = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .and_then(|l| l.split(' ').nth(3))
        .unwrap();
    assert!(s(&root).ends_with(root_field), "{root_field}: {info}");
    t.finish();
}

#[test]
fn read_only_roots_volumes_and_tmpfs() {
    let t = TestRoot::new("rovol");
    let (scratch, root) = rootfs(&t, "bb");
    let vol = scratch.0.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("f"), "from the host\n").unwrap();
    let ro = format!("{}:/data:ro", vol.display());
    let rw = format!("{}:/rw", vol.display());
    let out = run(
        &t,
        &[
            "--rootfs",
            s(&root),
            "--read-only",
            "-v",
            &ro,
            "-v",
            &rw,
            "--tmpfs",
            "/scratch:size=1m",
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo root-written || echo root-refused; \
             cat /data/f; touch /data/n 2>/dev/null && echo ro-written || echo ro-refused; \
             echo made > /rw/made && echo rw-written; \
             touch /scratch/t && echo tmpfs-written; grep ' /scratch ' /proc/mounts",
        ],
    );
    for line in [
        "root-refused",
        "from the host",
        "ro-refused",
        "rw-written",
        "tmpfs-written",
    ] {
        assert!(has_line(&out, line), "{line}: {out}");
    }
    assert!(
        out.contains("/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(vol.join("made")).unwrap(), "made\n");
    assert!(!vol.join("n").exists());
    // -v without a root of its own is refused before anything runs.
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "-v", &rw, "true"]));
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(
        stderr(&o).contains("need a root of the container's own"),
        "{}",
        stderr(&o)
    );
    t.finish();
}

#[test]
fn users_groups_and_rlimits() {
    let t = TestRoot::new("users");
    let (scratch, root) = rootfs(&t, "bb");
    let r = s(&root);
    let out = run(&t, &["--rootfs", r, "-u", "1000:1000", "sh", "-c", "id"]);
    assert!(
        has_line(&out, "uid=1000(bob) gid=1000(bob) groups=10(wheel)"),
        "{out}"
    );
    // A user other than root keeps the bounding set and nothing else.
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "-u",
            "bob",
            "grep",
            "Cap",
            "/proc/self/status",
        ],
    );
    assert!(has_line(&out, "CapEff:\t0000000000000000"), "{out}");
    assert!(has_line(&out, "CapBnd:\t00000000a80425fb"), "{out}");
    // docker's HOME for the user, and its own stdout, which it may
    // reopen (runc hands the command's stdio to its user).
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "-u",
            "bob",
            "sh",
            "-c",
            "echo $HOME; echo reopened > /dev/stdout",
        ],
    );
    assert_eq!(out, "/home/bob\nreopened\n");
    let out = run(&t, &["--rootfs", r, "-u", "2000", "sh", "-c", "echo $HOME"]);
    assert_eq!(out, "/\n");
    let out = run(&t, &["--rootfs", r, "-u", "2000:3000", "id"]);
    // No passwd entry: no supplementary groups (runc's and docker's).
    assert_eq!(out, "uid=2000 gid=3000\n");
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "--ulimit",
            "nofile=64:64",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ],
    );
    assert_eq!(out, "64\n64\n");
    // A name the root does not have.
    let o = t.ctl_output(&["run", "--rm", "--rootfs", r, "-u", "nobody", "true"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(
        stderr(&o).contains("unable to find user nobody"),
        "{}",
        stderr(&o)
    );

    // A bundle's user, with its additional groups and umask.
    let mut spec = runc_spec(&["sh", "-c", "id; umask"]);
    spec["process"]["user"] = serde_json::json!({
        "uid": 1000, "gid": 1000, "additionalGids": [10, 2000], "umask": 63
    });
    let b = bundle(&scratch.0.join("bun"), &spec);
    let out = run(&t, &["--bundle", s(&b)]);
    assert!(
        has_line(&out, "uid=1000(bob) gid=1000(bob) groups=10(wheel),2000"),
        "{out}"
    );
    assert!(has_line(&out, "0077"), "{out}");
    t.finish();
}

/// The same bundle, run by runc and by mydocker: the same answers, but
/// for what is listed (and why) below.
#[test]
fn a_bundle_runs_as_runc_runs_it() {
    if which("runc").is_none() {
        panic!("runc is not installed (.ci/run installs Debian's)");
    }
    let t = TestRoot::new("vsrunc");
    let script = "id; ulimit -a; grep -E '^Cap|Seccomp|NoNewPrivs' /proc/self/status; \
                  hostname; ls -ln /dev | sed -E 's/ [A-Z][a-z]{2} +[0-9]+ +[0-9:]+ / /'; \
                  cut -d' ' -f5,6,9- /proc/self/mountinfo | sed 's/ - / /' | sort";
    let dir = Scratch::new(&t, "bun");
    let b = bundle(&dir.0.join("bun"), &runc_spec(&["sh", "-c", script]));
    let state = dir.0.join("runc");
    let runc = std::process::Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle", s(&b), "vsrunc-test"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let theirs = ok(&runc);
    let ours = run(&t, &["--bundle", s(&b)]);
    // The cgroup hierarchies: runc makes the container's cgroup in every
    // one, and this shim in those it limits (wave 1's choice); and runc
    // leaves the tmpfs over them writable where docker's is read-only
    // (ours).
    let norm = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !l.starts_with("/sys/fs/cgroup"))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        norm(&ours),
        norm(&theirs),
        "ours:\n{ours}\nrunc's:\n{theirs}"
    );
    for answer in [
        "uid=0(root)",
        "CapEff:\t0000000020000420",
        "NoNewPrivs:\t1",
        "runc",
    ] {
        assert!(ours.contains(answer), "{answer}: {ours}");
    }
    let _ = std::fs::remove_dir_all(&state);
    t.finish();
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(prog))
            .find(|p| p.is_file())
    })
}

/// Create with `bundle`, through the API: the status, and what is left.
async fn create_bundle(t: &TestRoot, id: &str, bundle: &Path) -> Result<u32, tonic::Status> {
    let (spawned, mut c) = t.shim(id).await;
    let r = c
        .create(v1::CreateRequest {
            id: id.into(),
            bundle: s(bundle).into(),
            resources: Some(t.resources()),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().pid);
    if r.is_ok() {
        c.start(v1::StartRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        c.wait(v1::WaitRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        delete(&mut c, spawned, id).await;
    } else {
        c.shutdown(v1::ShutdownRequest {}).await.unwrap();
        assert!(wait_child(spawned.process).await.success());
    }
    r
}

#[tokio::test]
async fn bad_bundles_get_one_line_and_leave_nothing() {
    let t = TestRoot::new("badbun");
    let base = runc_spec(&["true"]);
    // The good one first: the tests below fail for their own reason.
    let dir = Scratch::new(&t, "good");
    let good = bundle(&dir.0.join("bun"), &base);
    create_bundle(&t, "bb0", &good).await.unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut s = base.clone();
        f(&mut s);
        std::fs::write(good.join("config.json"), serde_json::to_vec(&s).unwrap()).unwrap();
    };
    type Case<'a> = (
        &'a str,
        Box<dyn Fn(&mut serde_json::Value) + 'a>,
        Code,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "ociVersion",
            Box::new(|s| s["ociVersion"] = "9.9.9".into()),
            Code::InvalidArgument,
            "9.9.9\" is not supported (1.0 to 1.2)",
        ),
        (
            "no rootfs",
            Box::new(|s| s["root"]["path"] = "nowhere".into()),
            Code::FailedPrecondition,
            "nowhere\": No such file or directory",
        ),
        (
            "no args",
            Box::new(|s| s["process"]["args"] = serde_json::json!([])),
            Code::InvalidArgument,
            "process.args: must name a command",
        ),
        (
            "missing source",
            Box::new(|s| {
                s["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                    "destination": "/data", "type": "bind",
                    "source": "/nonexistent-mydocker", "options": ["rbind"]
                }))
            }),
            Code::FailedPrecondition,
            "bind source path \"/nonexistent-mydocker\" for /data",
        ),
        (
            "dotdot",
            Box::new(|s| {
                s["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                    "destination": "/a/../../etc", "type": "tmpfs", "source": "tmpfs"
                }))
            }),
            Code::InvalidArgument,
            "/a/../../etc\" has a `..` component",
        ),
        (
            "unknown option",
            Box::new(|s| {
                s["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                    "destination": "/t", "type": "tmpfs", "source": "tmpfs",
                    "options": ["bogus"]
                }))
            }),
            Code::InvalidArgument,
            "mounts \"/t\": mount option \"bogus\" is not known",
        ),
        (
            "bad tmpfs data",
            Box::new(|s| {
                s["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                    "destination": "/t", "type": "tmpfs", "source": "tmpfs",
                    "options": ["size=lots"]
                }))
            }),
            Code::FailedPrecondition,
            "mount /t: Invalid argument",
        ),
        (
            "hook path",
            Box::new(|s| s["hooks"] = serde_json::json!({"poststart": [{"path": "true"}]})),
            Code::InvalidArgument,
            "hooks.poststart[0]: path must be absolute",
        ),
        (
            "docker's seccomp format",
            Box::new(|s| {
                s["linux"]["seccomp"] = serde_json::json!({
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ALLOW",
                                  "includes": {"caps": ["CAP_SYS_ADMIN"]}}]
                })
            }),
            Code::InvalidArgument,
            "docker's profile format (archMap, includes, excludes) is not supported",
        ),
        (
            "hook timeout",
            Box::new(|s| {
                s["hooks"] =
                    serde_json::json!({"startContainer": [{"path": "/bin/true", "timeout": 0}]})
            }),
            Code::InvalidArgument,
            "hooks.startContainer[0]: timeout must be 1 or more seconds",
        ),
        (
            "seccomp notify",
            Box::new(|s| {
                s["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"})
            }),
            Code::InvalidArgument,
            "linux.seccomp: SCMP_ACT_NOTIFY is not supported yet",
        ),
        (
            "netns missing",
            Box::new(|s| {
                s["linux"]["namespaces"][1] =
                    serde_json::json!({"type": "network", "path": "/run/netns/mydocker-none"})
            }),
            Code::FailedPrecondition,
            "linux.namespaces: network namespace \"/run/netns/mydocker-none\": No such file",
        ),
        (
            "netns not one",
            Box::new(|s| {
                s["linux"]["namespaces"][1] =
                    serde_json::json!({"type": "network", "path": "/proc/self/status"})
            }),
            Code::FailedPrecondition,
            "join the network namespace given: Invalid argument",
        ),
        (
            "uts path",
            Box::new(|s| {
                s["linux"]["namespaces"][3] =
                    serde_json::json!({"type": "uts", "path": "/proc/1/ns/uts"})
            }),
            Code::InvalidArgument,
            "joining the uts namespace by path is not supported yet",
        ),
        (
            "host network",
            Box::new(|s| {
                s["linux"]["namespaces"].as_array_mut().unwrap().remove(1);
            }),
            Code::InvalidArgument,
            "sharing the host's network namespace is not supported yet",
        ),
        (
            "unknown capability",
            Box::new(|s| {
                s["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_NOPE"])
            }),
            Code::InvalidArgument,
            "config.json",
        ),
    ];
    for (i, (name, f, code, msg)) in cases.iter().enumerate() {
        with(f.as_ref());
        let id = format!("bb{}", i + 1);
        let e = create_bundle(&t, &id, &good).await.unwrap_err();
        assert_eq!(e.code(), *code, "{name}: {e:?}");
        assert!(e.message().contains(msg), "{name}: {:?}", e.message());
        assert_eq!(e.message().lines().count(), 1, "{name}: {:?}", e.message());
    }
    // No config.json at all, and JSON that is not.
    std::fs::remove_file(good.join("config.json")).unwrap();
    let e = create_bundle(&t, "bbx", &good).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("config.json: No such file"), "{e:?}");
    std::fs::write(good.join("config.json"), "{\"ociVersion\": ").unwrap();
    let e = create_bundle(&t, "bby", &good).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("EOF while parsing"), "{e:?}");
    // Beside a bundle, the fields it says are refused.
    let (spawned, mut c) = t.shim("bbz").await;
    let e = c
        .create(v1::CreateRequest {
            id: "bbz".into(),
            bundle: s(&good).into(),
            argv: vec!["true".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("argv cannot be set with a bundle"),
        "{e:?}"
    );
    c.shutdown(v1::ShutdownRequest {}).await.unwrap();
    assert!(wait_child(spawned.process).await.success());
    t.finish();
}

/// A destination through a symbolic link is resolved inside the root
/// (there is nothing above it when mounts are made): a link climbing out
/// with `..` stops at the root's `/`, and one to a host path means that
/// path inside the root, which is refused when it is not there. The host
/// is never touched.
#[test]
fn mounts_cannot_leave_the_root() {
    let t = TestRoot::new("escape");
    let (scratch, root) = rootfs(&t, "bb");
    let host = scratch.0.join("target");
    std::fs::create_dir_all(&host).unwrap();
    std::os::unix::fs::symlink(&host, root.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", root.join("up")).unwrap();
    let out = run(
        &t,
        &[
            "--rootfs",
            s(&root),
            "--tmpfs",
            "/up/y",
            "sh",
            "-c",
            "touch /up/y/in && echo wrote; grep -c ' /y tmpfs' /proc/mounts",
        ],
    );
    assert_eq!(out, "wrote\n1\n");
    assert!(root.join("y").is_dir(), "the mount point is the root's /y");
    // A link into where the old root waits while the mounts are made:
    // an empty read-only cover there, so nothing is made on the host.
    std::os::unix::fs::symlink(format!("/dev/.host{}", host.display()), root.join("old")).unwrap();
    let o = t.ctl_output(&[
        "run",
        "--rm",
        "--rootfs",
        s(&root),
        "--tmpfs",
        "/old/z",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(
        stderr(&o).starts_with("Error: make the mount point /old/z: "),
        "{}",
        stderr(&o)
    );
    assert!(
        !host.join("z").exists(),
        "a mount point was made on the host"
    );
    let o = t.ctl_output(&[
        "run",
        "--rm",
        "--rootfs",
        s(&root),
        "--tmpfs",
        "/abs/x",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert_eq!(
        stderr(&o),
        "Error: make the mount point /abs/x: No such file or directory\n"
    );
    assert!(
        !host.join("x").exists(),
        "a mount point was made on the host"
    );
    // A `..` is refused before anything runs.
    let o = t.ctl_output(&[
        "run",
        "--rm",
        "--rootfs",
        s(&root),
        "--tmpfs",
        "/a/../../b",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(
        stderr(&o).contains("has a `..` component"),
        "{}",
        stderr(&o)
    );
    // finish() checks the host's mount table is as it was.
    t.finish();
}

/// The children of `parent` named `name` (their comm).
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // pid (comm) state ppid ...
            let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") "))
            else {
                return false;
            };
            comm == name && rest.split(' ').nth(1) == Some(&parent.to_string())
        })
        .collect()
}

/// Everything of the root's set-up is in the container's own mount
/// namespace: a shim SIGKILLed while its init is seen making the spec's
/// mounts (2000 of them) leaves none on the host, and no process.
#[tokio::test]
async fn a_shim_killed_during_root_setup_leaves_no_mount() {
    let t = TestRoot::new("killrt");
    let (_scratch, root) = rootfs(&t, "bb");
    let mounts: Vec<v1::Mount> = (0..2000)
        .map(|i| v1::Mount {
            destination: format!("/m/{i}"),
            r#type: "tmpfs".into(),
            source: "tmpfs".into(),
            options: vec![],
        })
        .collect();
    let id = "kr0";
    let (spawned, mut c) = t.shim(id).await;
    let req = v1::CreateRequest {
        id: id.into(),
        argv: vec!["true".into()],
        rootfs: s(&root).into(),
        mounts,
        resources: Some(t.resources()),
        ..Default::default()
    };
    let create = tokio::spawn(async move { c.create(req).await });
    let shim = spawned.process.id();
    // Its init, part-way through the mounts.
    let look = || {
        let init = children_named(shim, "mydocker-init").pop()?;
        let table = std::fs::read_to_string(format!("/proc/{init}/mountinfo")).ok()?;
        let made = table.lines().filter(|l| l.contains(" /m/")).count();
        (made > 0 && made < 2000).then_some(made)
    };
    let mut caught = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while caught.is_none() && !create.is_finished() && std::time::Instant::now() < deadline {
        caught = look();
        // Awaited, so that the Create call itself goes on meanwhile.
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let created = create.await;
    assert!(
        caught.is_some(),
        "the init was not seen making its mounts: {created:?}"
    );
    wait_child(spawned.process).await;
    let gone = eventually(Duration::from_secs(5), || {
        processes_of(&t.root).is_empty().then_some(())
    });
    assert!(gone.is_some(), "left running: {:?}", processes_of(&t.root));
    // A killed shim leaves its state dir, and on v1 the cgroup it made,
    // for whoever cleans up (mydockerctl rm does); here, by hand. The
    // host's mount table is finish()'s to check.
    let _ = std::fs::remove_dir_all(mydocker::shim_dir(&t.root, id));
    for dir in cgroup_dirs(&t.cgroup_parent()) {
        let _ = std::fs::remove_dir(dir.join(id));
    }
    t.finish();
}

#[test]
fn unknown_flags_are_errors_not_commands() {
    let t = TestRoot::new("flags");
    for (args, says) in [
        (
            &on_host(&["run"], &["--foo", "true"])[..],
            "unknown flag: --foo",
        ),
        (
            &on_host(&["run"], &["-Y", "80:80", "true"]),
            "unknown flag: -Y",
        ),
        (
            &on_host(&["create"], &["--bogus=1", "true"]),
            "unknown flag: --bogus",
        ),
    ] {
        let o = t.ctl_output(args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {o:?}");
        assert!(stderr(&o).starts_with(says), "{args:?}: {}", stderr(&o));
        assert!(t.ids().is_empty());
    }
    // After the command, flags are the command's.
    let out = run(&t, &["echo", "-n", "--foo"]);
    assert_eq!(out, "--foo");
    t.finish();
}

/// The spec a container ran is kept in its state dir: a bundle's as it
/// was, and the one made of Create's fields.
#[test]
fn the_spec_that_ran_is_kept() {
    let t = TestRoot::new("spec");
    let (_scratch, root) = rootfs(&t, "bb");
    let id = t.run_detached(&["--rootfs", s(&root), "-u", "1000:10", "sleep", "100"]);
    let spec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(mydocker::shim_dir(&t.root, &id).join("spec.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["root"]["path"], s(&root));
    assert_eq!(spec["process"]["user"]["uid"], 1000);
    assert_eq!(spec["process"]["user"]["gid"], 10);
    assert_eq!(spec["process"]["args"], serde_json::json!(["sleep", "100"]));
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

/// How an orchestrator hands a container its network: a namespace path
/// in the spec, made by `ip netns add` as CNI tooling makes them, is
/// joined. All of it in a mount namespace of the test's own (the shim is
/// started there too): `ip netns add` mounts /run/netns and the namespace
/// file, and the host's mount table, which the other tests check as they
/// end, must not see them.
#[test]
fn a_network_namespace_path_is_joined() {
    let t = TestRoot::new("netns");
    let name = format!("mydocker-test-{}", std::process::id());
    let dir = Scratch::new(&t, "bun");
    let path = format!("/run/netns/{name}");
    let mut spec = runc_spec(&["readlink", "/proc/self/ns/net"]);
    spec["linux"]["namespaces"][1] = serde_json::json!({"type": "network", "path": path});
    let b = bundle(&dir.0.join("bun"), &spec);
    let made_run_netns = !Path::new("/run/netns").exists();
    // By its path: a busybox sh runs its own `ip` applet (which has no
    // netns) before the PATH's.
    let ip = which("ip").expect("ip (iproute2)");
    let ip = ip.display();
    let script = format!(
        "{ip} netns add {name} || exit 99; stat -L -c %i {path}; {} run --rm --bundle {}; rc=$?; \
         {ip} netns delete {name}; exit $rc",
        ctl_bin().display(),
        s(&b)
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("MYDOCKER_ROOT", &t.root)
        .env("MYDOCKER_CGROUP_PARENT", t.cgroup_parent())
        .env_remove("MYDOCKER_SHIM")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    if made_run_netns {
        // The directory `ip` made (its mounts went with the namespace).
        let _ = std::fs::remove_dir("/run/netns");
    }
    let text = ok(&out);
    let mut lines = text.lines();
    let ino = lines.next().unwrap_or_default().to_string();
    assert!(!ino.is_empty(), "{out:?}");
    assert_eq!(
        lines.next(),
        Some(format!("net:[{ino}]").as_str()),
        "{out:?}"
    );
    t.finish();
}

/// A bundle's seccomp profile is compiled and loaded: mode 2, and the
/// calls it denies fail with its errors; with and without no_new_privs
/// (without it, the filter goes in while the init can still load one).
#[test]
fn a_bundles_seccomp_profile_is_enforced() {
    let t = TestRoot::new("seccmp");
    let dir = Scratch::new(&t, "bun");
    let script = "grep '^Seccomp:' /proc/self/status; \
                  mkdir /tmp/x 2>&1 || true; chmod 600 /etc/passwd 2>&1 || true; echo end";
    for nnp in [true, false] {
        let mut spec = runc_spec(&["sh", "-c", script]);
        spec["process"]["noNewPrivileges"] = nnp.into();
        spec["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO",
                 "errnoRet": 38}
            ]
        });
        let b = bundle(&dir.0.join(format!("bun-{nnp}")), &spec);
        std::fs::create_dir_all(b.join("rootfs/tmp")).unwrap();
        let out = run(&t, &["--bundle", s(&b)]);
        assert!(has_line(&out, "Seccomp:\t2"), "{nnp}: {out}");
        assert!(out.contains("Operation not permitted"), "{nnp}: {out}");
        assert!(out.contains("Function not implemented"), "{nnp}: {out}");
        assert!(has_line(&out, "end"), "{nnp}: {out}");
        assert!(!b.join("rootfs/tmp/x").exists());
    }
    t.finish();
}

/// A bundle's device nodes are made (mode, owner) and may be opened (its
/// devices are allowed in the cgroup, as runc allows them), while one the
/// container makes itself may not; its sysctls of its own namespaces are
/// set, others refused; its oomScoreAdj is the command's.
#[tokio::test]
async fn devices_sysctls_and_oom_score_of_a_bundle() {
    let t = TestRoot::new("devsys");
    let dir = Scratch::new(&t, "bun");
    let script = "ls -ln /dev/fuse | cut -c1-10; stat -c '%u %g %t:%T' /dev/fuse; \
                  (exec 3<>/dev/fuse) 2>/dev/null && echo fuse-opened || echo fuse-refused; \
                  mknod /dev/mine c 1 11 && { (exec 3<>/dev/mine) 2>/dev/null && echo mine-opened || echo mine-refused; }; \
                  cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj";
    let mut spec = runc_spec(&["sh", "-c", script]);
    // MKNOD, for the container's own attempt.
    for set in ["bounding", "effective", "permitted"] {
        spec["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push("CAP_MKNOD".into());
    }
    spec["linux"]["devices"] = serde_json::json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
         "fileMode": 438, "uid": 1000, "gid": 10}
    ]);
    spec["linux"]["sysctl"] = serde_json::json!({
        "kernel.shmmax": "65536", "net.ipv4.ip_forward": "1"
    });
    spec["process"]["oomScoreAdj"] = 500.into();
    let b = bundle(&dir.0.join("bun"), &spec);
    let out = run(&t, &["--bundle", s(&b)]);
    assert_eq!(
        out, "crw-rw-rw-\n1000 10 a:e5\nfuse-opened\nmine-refused\n65536\n1\n500\n",
        "{out}"
    );
    // A sysctl of the host's, and one of a namespace given by path.
    let mut spec = runc_spec(&["true"]);
    spec["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "10"});
    let bad = bundle(&dir.0.join("bad"), &spec);
    let e = create_bundle(&t, "ds1", &bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("linux.sysctl \"vm.swappiness\": not of the container's own namespaces"),
        "{e:?}"
    );
    t.finish();
}

/// What Create's fields may not ask for, each refused before anything is
/// made: a mount over the container's own /dev/shm, a second proc, shared
/// propagation, a mount under /sys or where the old root waits, the id -1.
#[tokio::test]
async fn flat_requests_that_are_refused() {
    let t = TestRoot::new("flatno");
    let (_scratch, root) = rootfs(&t, "bb");
    let tmpfs = |dest: &str, options: &[&str]| v1::Mount {
        destination: dest.into(),
        r#type: "tmpfs".into(),
        source: "tmpfs".into(),
        options: options.iter().map(|o| o.to_string()).collect(),
    };
    let proc = v1::Mount {
        destination: "/p".into(),
        r#type: "proc".into(),
        source: "proc".into(),
        options: vec![],
    };
    let cases: Vec<(Vec<v1::Mount>, Option<v1::User>, &str)> = vec![
        (
            vec![tmpfs("/dev/shm", &[])],
            None,
            "replacing the container's own file system",
        ),
        (vec![proc], None, "a second proc is not supported yet"),
        (
            vec![tmpfs("/t", &["rshared"])],
            None,
            "propagation other than private",
        ),
        (
            vec![tmpfs("/sys/x", &[])],
            None,
            "mounts under /sys are not supported yet",
        ),
        (vec![tmpfs("/dev/.host/x", &[])], None, "is the runtime's"),
        (
            vec![],
            Some(v1::User {
                uid: u32::MAX,
                gid: 0,
                additional_gids: vec![],
            }),
            "user: 4294967295 (-1) is not an id",
        ),
    ];
    for (i, (mounts, user, says)) in cases.into_iter().enumerate() {
        let id = format!("fn{i}");
        let (spawned, mut c) = t.shim(&id).await;
        let e = c
            .create(v1::CreateRequest {
                id: id.clone(),
                argv: vec!["true".into()],
                rootfs: s(&root).into(),
                mounts,
                user,
                resources: Some(t.resources()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{says}: {e:?}");
        assert!(e.message().contains(says), "{says}: {:?}", e.message());
        c.shutdown(v1::ShutdownRequest {}).await.unwrap();
        assert!(wait_child(spawned.process).await.success());
    }
    t.finish();
}

/// docker's flags for the same: --cap-add/--cap-drop, --sysctl, --device,
/// --entrypoint, --security-opt seccomp=FILE|unconfined.
#[test]
fn dockers_flags_for_capabilities_sysctls_devices_and_seccomp() {
    let t = TestRoot::new("dflags");
    let (scratch, root) = rootfs(&t, "bb");
    let r = s(&root);
    // ALL dropped, one added: CAP_NET_ADMIN (12) alone.
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "--cap-drop",
            "ALL",
            "--cap-add",
            "net_admin",
            "grep",
            "CapEff",
            "/proc/self/status",
        ],
    );
    assert_eq!(out, "CapEff:\t0000000000001000\n");
    let o = t.ctl_output(&[
        "run",
        "--rm",
        "--rootfs",
        r,
        "--cap-add",
        "CAP_NOPE",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(
        stderr(&o).contains("unknown capability \"CAP_NOPE\""),
        "{}",
        stderr(&o)
    );
    // A device outside docker's list (fuse, 10:229): allowed by --device,
    // as asked (read and write); the same numbers made by hand without
    // it are not.
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "--sysctl",
            "kernel.shmmax=4096",
            "--device",
            "/dev/fuse:/dev/f2:rw",
            "sh",
            "-c",
            "cat /proc/sys/kernel/shmmax; stat -c '%t:%T' /dev/f2; \
             (exec 3<>/dev/f2) 2>/dev/null && echo opened || echo refused",
        ],
    );
    assert_eq!(out, "4096\na:e5\nopened\n");
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "sh",
            "-c",
            "mknod /dev/f3 c 10 229; (exec 3<>/dev/f3) 2>/dev/null && echo opened || echo refused",
        ],
    );
    assert_eq!(out, "refused\n");
    // docker's ALL: every capability but those dropped.
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "--cap-add",
            "ALL",
            "--cap-drop",
            "SYS_ADMIN",
            "grep",
            "CapBnd",
            "/proc/self/status",
        ],
    );
    let bnd = u64::from_str_radix(out.trim().trim_start_matches("CapBnd:\t"), 16).unwrap();
    assert_eq!(bnd & (1 << 21), 0, "{out}");
    assert_ne!(bnd & (1 << 12), 0, "{out}");
    let o = t.ctl_output(&[
        "run",
        "--rm",
        "--rootfs",
        r,
        "--sysctl",
        "kernel.hostname=x",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(
        stderr(&o).contains("not of the container's own namespaces"),
        "{}",
        stderr(&o)
    );
    let out = run(
        &t,
        &["--rootfs", r, "--entrypoint", "/bin/echo", "hi", "there"],
    );
    assert_eq!(out, "hi there\n");
    // A profile file in the OCI form, and none at all.
    let profile = scratch.0.join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = run(
        &t,
        &[
            "--rootfs",
            r,
            "--security-opt",
            &opt,
            "sh",
            "-c",
            "mkdir /x 2>&1; grep '^Seccomp:' /proc/self/status",
        ],
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(has_line(&out, "Seccomp:\t2"), "{out}");
    let out = run(
        &t,
        &[
            "--security-opt",
            "seccomp=unconfined",
            "grep",
            "^Seccomp:",
            "/proc/self/status",
        ],
    );
    assert_eq!(out, "Seccomp:\t0\n");
    t.finish();
}

/// A bundle's hooks run at their points, in order, each with the state on
/// its stdin; createContainer in the container's namespaces, both at
/// Create with the init in its cgroup. A createRuntime hook that
/// fails, or outlives its timeout, fails Create with one line, and
/// nothing is left.
#[tokio::test]
async fn hooks_run_in_order_with_the_state() {
    let t = TestRoot::new("hooks");
    let dir = Scratch::new(&t, "bun");
    let out = dir.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = s(&out).to_string();
    // Each writes its state, its network namespace and its name.
    let hook = |name: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "cat > {o}/{name}.json; readlink /proc/self/ns/net > {o}/{name}.net; echo {name} >> {o}/order; \
                 pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p' {o}/{name}.json); \
                 [ -z \"$pid\" ] || cat /proc/$pid/cgroup > {o}/{name}.cgroup"
            )],
        })
    };
    let mut spec = runc_spec(&["sh", "-c", "readlink /proc/self/ns/net"]);
    spec["root"]["readonly"] = false.into();
    spec["annotations"] = serde_json::json!({"org.example/key": "value"});
    spec["hooks"] = serde_json::json!({
        "createRuntime": [hook("createRuntime")],
        "createContainer": [hook("createContainer")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    let b = bundle(&dir.0.join("bun"), &spec);
    let container_net = run(&t, &["--bundle", s(&b)]);
    let order = std::fs::read_to_string(out.join("order")).unwrap();
    assert_eq!(
        order,
        "createRuntime\ncreateContainer\npoststart\npoststop\n"
    );
    let state = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(format!("{name}.json"))).unwrap()).unwrap()
    };
    let net = |name: &str| std::fs::read_to_string(out.join(format!("{name}.net"))).unwrap();
    let mine = format!(
        "{}\n",
        std::fs::read_link("/proc/self/ns/net").unwrap().display()
    );
    for (name, status) in [
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let st = state(name);
        assert_eq!(st["status"], status, "{name}: {st}");
        assert_eq!(st["bundle"], s(&b), "{name}: {st}");
        assert_eq!(
            st["annotations"]["org.example/key"], "value",
            "{name}: {st}"
        );
        assert_eq!(st["ociVersion"], "1.2.0");
        assert!(
            st["id"].as_str().is_some_and(|i| i.len() == 64),
            "{name}: {st}"
        );
        assert_eq!(st["pid"].is_u64(), status != "stopped", "{name}: {st}");
    }
    // Where each ran: the runtime's hooks in the host's network
    // namespace, createContainer in the container's.
    assert_eq!(net("createRuntime"), mine);
    assert_eq!(net("poststart"), mine);
    assert_eq!(net("createContainer"), container_net);
    assert_ne!(container_net, mine);
    // The init is in its cgroup when they run (hooks read it there).
    let cgroups = std::fs::read_to_string(out.join("createRuntime.cgroup")).unwrap();
    assert!(cgroups.contains(&t.cgroup_parent()), "{cgroups}");

    // Failures.
    for (hook, says) in [
        (
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}),
            "hook createRuntime[0] \"/bin/sh\": exited 3: \"nope\"",
        ),
        (
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1}),
            "hook createRuntime[0] \"/bin/sh\": did not finish within its timeout of 1s",
        ),
    ] {
        let mut spec = runc_spec(&["true"]);
        spec["hooks"] = serde_json::json!({"createRuntime": [hook]});
        let bad = bundle(&dir.0.join("bad"), &spec);
        let e = create_bundle(&t, "hk1", &bad).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert_eq!(e.message(), says);
    }
    t.finish();
}

/// startContainer hooks run in the container, at Start, before its
/// command: in its root and PID namespace, as its user with its
/// capabilities, in order, each with the state on its stdin. One that
/// fails, is missing or outlives its timeout fails the start with one
/// line naming it; the command never runs, and nothing is left.
#[test]
fn start_container_hooks_run_in_the_container_before_the_command() {
    let t = TestRoot::new("shooks");
    let dir = Scratch::new(&t, "bun");
    // /dev/shm is the container's own tmpfs: what a hook writes there,
    // only a process in the container's root can read.
    let first = "cat > /dev/shm/state; id -u > /dev/shm/uid; echo one >> /dev/shm/order; \
                 readlink /proc/self/ns/pid > /dev/shm/pidns; \
                 grep CapEff /proc/self/status > /dev/shm/cap; \
                 grep '^Seccomp:' /proc/self/status > /dev/shm/seccomp";
    let mut spec = runc_spec(&[
        "sh",
        "-c",
        "cat /dev/shm/state; echo; cat /dev/shm/uid /dev/shm/order; \
         readlink /proc/self/ns/pid; cat /dev/shm/pidns; \
         grep CapEff /proc/self/status; cat /dev/shm/cap; cat /dev/shm/seccomp",
    ]);
    spec["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    // With no_new_privs (the spec's), the filter goes in right before the
    // command's exec: the hooks, programs of the image's, get it too.
    spec["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
    });
    spec["hooks"] = serde_json::json!({"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", first], "timeout": 5},
        {"path": "/bin/sh", "args": ["sh", "-c", "echo two >> /dev/shm/order"]},
    ]});
    let b = bundle(&dir.0.join("bun"), &spec);
    let out = run(&t, &["--bundle", s(&b)]);
    let mut lines = out.lines();
    let state: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["bundle"], s(&b), "{state}");
    assert!(state["pid"].as_u64().is_some_and(|p| p > 1), "{state}");
    assert!(
        state["id"].as_str().is_some_and(|i| i.len() == 64),
        "{state}"
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest[..3], ["1000", "one", "two"], "{out}");
    assert_eq!(rest[3], rest[4], "the hook's PID namespace: {out}");
    assert_eq!(rest[5], rest[6], "the hook's capabilities: {out}");
    assert_eq!(rest[7], "Seccomp:\t2", "the hook's seccomp: {out}");
    assert!(!Path::new("/dev/shm/state").exists());

    // Failures: the command (which would leave a mark) never runs.
    let mark = dir.0.join("mark");
    for (hook, says) in [
        (
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}),
            "hook startContainer[0] \"/bin/sh\": exited 3",
        ),
        (
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $$"]}),
            "hook startContainer[0] \"/bin/sh\": killed by signal 9 (SIGKILL)",
        ),
        (
            serde_json::json!({"path": "/nope"}),
            "hook startContainer[0] \"/nope\": start: No such file or directory",
        ),
        (
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1}),
            "hook startContainer[0] \"/bin/sh\": did not finish within its timeout of 1s",
        ),
    ] {
        let mut spec = runc_spec(&["sh", "-c", "echo ran > /mark/it"]);
        spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"destination": "/mark", "type": "bind",
                                     "source": s(&mark), "options": ["rbind"]}));
        std::fs::create_dir_all(&mark).unwrap();
        spec["hooks"] = serde_json::json!({"startContainer": [hook]});
        let bad = bundle(&dir.0.join("bad"), &spec);
        let began = std::time::Instant::now();
        let out = t.ctl_output(&["run", "--rm", "--bundle", s(&bad)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(err.contains(says), "{says}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(began.elapsed() < Duration::from_secs(10));
        assert!(!mark.join("it").exists(), "{says}: the command ran");
    }
    t.finish();
}

/// docker's default seccomp confinement for a container of Create's
/// fields: a user namespace (which needs no capability) is refused, as
/// docker refuses it, unless CAP_SYS_ADMIN is added or seccomp is
/// unconfined.
#[test]
fn dockers_default_seccomp_refuses_what_docker_refuses() {
    let t = TestRoot::new("dseccp");
    let try_userns = "unshare -U true 2>/dev/null && echo userns || echo refused; \
                      grep '^Seccomp:' /proc/self/status";
    for (flags, expect) in [
        (&[][..], "refused\nSeccomp:\t2\n"),
        (&["--cap-add", "SYS_ADMIN"][..], "userns\nSeccomp:\t2\n"),
        (
            &["--security-opt", "seccomp=unconfined"][..],
            "userns\nSeccomp:\t0\n",
        ),
    ] {
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["sh", "-c", try_userns]);
        assert_eq!(run(&t, &args), expect, "{flags:?}");
    }
    t.finish();
}
