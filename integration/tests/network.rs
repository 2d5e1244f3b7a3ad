//! Networking with the CNI plugins Debian ships (bridge, host-local,
//! portmap, firewall), all of it inside a network namespace the test
//! makes: the shims run there (nsenter), their bridge is made there, and
//! traffic goes only to addresses in it. Nothing is configured in the
//! machine's own network namespace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mydocker_integration::{busybox_rootfs, ctl_bin, ok, stderr, TestRoot};

/// A network namespace held by a `sleep` of its own: no mount of it
/// anywhere, and it goes (with its bridge and iptables rules) when that
/// process does.
struct NetNs {
    holder: Child,
    path: String,
}

impl NetNs {
    fn new() -> Self {
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "3600"])
            .spawn()
            .unwrap();
        let path = format!("/proc/{}/ns/net", holder.id());
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let t = Instant::now();
        while std::fs::read_link(&path).map_or(true, |l| l == ours) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "unshare --net did not start"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let n = Self { holder, path };
        ok(&n.cmd("ip", &["link", "set", "lo", "up"]).output().unwrap());
        n
    }

    /// `program args` in the namespace.
    fn cmd(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path))
            .arg("--")
            .arg(program)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn links(&self) -> Vec<String> {
        let o = ok(&self.cmd("ip", &["-o", "link"]).output().unwrap());
        o.lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .collect()
    }

    /// Its iptables rules and chains, without counters.
    fn iptables(&self) -> String {
        let o = ok(&self.cmd("iptables-save", &[]).output().unwrap());
        o.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| match l.find(" [") {
                Some(i) if l.starts_with(':') => &l[..i],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `wget -O - URL` from the namespace (busybox's), retried for a while.
    fn fetch(&self, url: &str) -> String {
        let t = Instant::now();
        loop {
            let o = self
                .cmd("/bin/busybox", &["wget", "-q", "-O", "-", url])
                .output()
                .unwrap();
            if o.status.success() {
                return String::from_utf8_lossy(&o.stdout).into_owned();
            }
            assert!(t.elapsed() < Duration::from_secs(10), "{url}: {o:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

struct Net<'a> {
    t: &'a TestRoot,
    ns: &'a NetNs,
    data: PathBuf,
    rootfs: PathBuf,
}

impl Net<'_> {
    fn ctl_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let bin = ctl_bin();
        let mut c = self.ns.cmd(bin.to_str().unwrap(), args);
        c.env("MYDOCKER_ROOT", &self.t.root)
            .env("MYDOCKER_CGROUP_PARENT", self.t.cgroup_parent())
            .env("MYDOCKER_DATA_ROOT", &self.data)
            .env_remove("MYDOCKER_SHIM")
            .env_remove("MYDOCKER_CNI_PATH");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_env(&[], args)
    }

    /// `run ARGS... --rootfs ROOT CMD...`: a busybox root of the test's.
    fn run(&self, flags: &[&str], cmd: &[&str]) -> Output {
        let mut a = vec!["run"];
        a.extend_from_slice(flags);
        a.extend(["--rootfs", self.rootfs.to_str().unwrap()]);
        a.extend_from_slice(cmd);
        self.ctl(&a)
    }

    fn inspect(&self, id: &str, f: &str) -> String {
        ok(&self.ctl(&["inspect", "-f", f, id])).trim().to_string()
    }
}

struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The addresses host-local holds for `network` (its lease files, under
/// the data root).
fn leases(data: &Path, network: &str) -> Vec<String> {
    let dir = data.join("ipam").join(network);
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn bridge_networks_publish_ports_and_clean_up_on_every_path() {
    let t = TestRoot::new("net");
    let ns = NetNs::new();
    let dir = PathBuf::from(format!("/tmp/md-net-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rootfs = busybox_rootfs(&dir.join("rootfs"));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from httpd\n").unwrap();
    let name = format!("mdt{}", std::process::id() % 100_000);
    // Gone however the test ends: its files (host-local's leases among
    // them, which it checks are released before that).
    let _cleanup = Cleanup(vec![dir.clone()]);
    let n = Net {
        t: &t,
        ns: &ns,
        data: dir.join("data"),
        rootfs,
    };
    let before = ns.iptables();

    // A network of its own: a list under the data root, listed, inspected.
    let id = ok(&n.ctl(&["network", "create", &name])).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let o = n.ctl(&["network", "create", &name]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains(&format!("network with name {name} already exists")));
    assert_eq!(ok(&n.ctl(&["network", "ls", "-q"])), format!("{name}\n"));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&n.ctl(&["network", "inspect", &name]))).unwrap();
    let bridge = v[0]["plugins"][0]["bridge"].as_str().unwrap().to_string();
    let gateway = v[0]["plugins"][0]["ipam"]["ranges"][0][0]["gateway"]
        .as_str()
        .unwrap()
        .to_string();

    // httpd on the network, its port published: at the namespace's
    // 127.0.0.1 and at its address on the bridge.
    let www_vol = format!("{}:/www:ro", www.display());
    let o = n.run(
        &[
            "-d",
            "--name",
            "web",
            "--network",
            &name,
            "-p",
            "18080:80",
            "-v",
            &www_vol,
        ],
        &["httpd", "-f", "-p", "80", "-h", "/www"],
    );
    let web = ok(&o).trim().to_string();
    let web_ip = n.inspect(&web, "{{.NetworkSettings.IPAddress}}");
    let v: serde_json::Value = serde_json::from_str(&ok(&n.ctl(&["inspect", &web]))).unwrap();
    assert_eq!(
        v[0]["NetworkSettings"]["Ports"],
        serde_json::json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}]})
    );
    assert_eq!(
        v[0]["NetworkSettings"]["Networks"][&name]["IPAddress"],
        web_ip.as_str()
    );
    assert!(web_ip.starts_with("10."), "{web_ip}");
    assert_eq!(ns.fetch("http://127.0.0.1:18080/"), "hello from httpd\n");
    assert_eq!(
        ns.fetch(&format!("http://{gateway}:18080/")),
        "hello from httpd\n"
    );
    // Another container reaches it by its address; its own address and
    // name are in its /etc/hosts.
    // --dns and --add-host: its name servers, and a line of its hosts.
    let o = n.run(
        &[
            "--rm", "--network", &name, "--hostname", "second", "--dns", "10.9.9.9",
            "--add-host", "db:10.1.2.3",
        ],
        &[
            "sh",
            "-c",
            &format!(
                "wget -q -O - http://{web_ip}/ && wget -q -O - http://web/ && grep 'second$' /etc/hosts \
                 && grep -c nameserver /etc/resolv.conf && grep nameserver /etc/resolv.conf \
                 && grep db /etc/hosts && grep 'web$' /etc/hosts"
            ),
        ],
    );
    let out = ok(&o);
    let lines: Vec<&str> = out.lines().collect();
    // By its address, and by its name (the network's names are in each
    // one's /etc/hosts).
    assert_eq!(&lines[..2], ["hello from httpd"; 2], "{out}");
    let lines = &lines[1..];
    assert!(
        lines[1].ends_with("\tsecond") && lines[1].starts_with("10."),
        "{out}"
    );
    let web_line = format!("{web_ip}\tweb");
    assert_eq!(
        &lines[2..],
        [
            "1",
            "nameserver 10.9.9.9",
            "10.1.2.3\tdb",
            web_line.as_str()
        ],
        "{out}"
    );
    // A peer made later is added to the first one's /etc/hosts, and taken
    // out as it goes.
    ok(&n.run(
        &["-d", "--name", "peer", "--network", &name],
        &["sleep", "100"],
    ));
    let hosts = ok(&n.ctl(&["exec", "web", "cat", "/etc/hosts"]));
    assert!(hosts.lines().any(|l| l.ends_with("\tpeer")), "{hosts}");
    let o = ok(&n.ctl(&["exec", "peer", "grep", "web$", "/etc/hosts"]));
    assert_eq!(o, format!("{web_line}\n"));
    ok(&n.ctl(&["rm", "-f", "peer"]));
    let hosts = ok(&n.ctl(&["exec", "web", "cat", "/etc/hosts"]));
    assert!(!hosts.contains("peer"), "{hosts}");
    // The port is taken: docker's words, and nothing is made.
    let o = n.run(&["--rm", "--network", &name, "-p", "18080:80"], &["true"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert_eq!(
        stderr(&o),
        "Error: Bind for 0.0.0.0:18080 failed: port is already allocated\n"
    );

    // Run again (a restart policy, then start): the same namespace and
    // address, its pin in the state dir.
    let o = n.run(
        &["-d", "--network", &name, "--restart", "on-failure:1"],
        &[
            "sh",
            "-c",
            "echo $(ip -4 -o addr show eth0 | grep -o 'inet [0-9.]*') $(grep \"$(hostname)$\" /etc/hosts | cut -f1); exit 3",
        ],
    );
    let again = ok(&o).trim().to_string();
    let t0 = Instant::now();
    let logs = loop {
        let l = ok(&n.ctl(&["logs", &again]));
        if l.lines().count() >= 2 && n.inspect(&again, "{{.State.Status}}") == "exited" {
            break l;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{l}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let o = n.ctl(&["start", "-a", &again]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let logs_after = ok(&n.ctl(&["logs", &again]));
    let lines: Vec<&str> = logs_after.lines().collect();
    // (start re-arms the policy, which may have run it once more.)
    assert!(lines.len() >= 3, "{logs} / {logs_after}");
    // Its address, on eth0 and in /etc/hosts, each run.
    let words: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(words.len(), 3, "{logs_after}");
    assert!(
        words[1].starts_with("10.") && words[1] == words[2],
        "{logs_after}"
    );
    assert!(lines.iter().all(|l| *l == lines[0]), "{logs_after}");
    ok(&n.ctl(&["rm", "-f", &again]));

    // none: lo alone; host: the namespace's own links; container:ID: the
    // other's interfaces.
    let o = n.run(&["--rm"], &["ip", "-o", "link"]);
    let out = ok(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(": lo:"), "{out}");
    let o = n.run(&["--rm", "--network", "host"], &["ip", "-o", "link"]);
    assert!(ok(&o).contains(&format!(": {bridge}:")), "{o:?}");
    let o = n.run(
        &["--rm", "--network", &format!("container:{web}")],
        &["ip", "-o", "-4", "addr", "show", "eth0"],
    );
    assert!(ok(&o).contains(&format!("inet {web_ip}/")), "{o:?}");

    // Refused, one line each, exit 125, nothing made.
    let fake = dir.join("cni-failing");
    std::fs::create_dir_all(&fake).unwrap();
    for p in ["bridge", "host-local", "portmap"] {
        std::os::unix::fs::symlink(Path::new("/usr/lib/cni").join(p), fake.join(p)).unwrap();
    }
    std::fs::write(
        fake.join("firewall"),
        "#!/bin/sh\n[ \"$CNI_COMMAND\" = DEL ] && exit 0\necho '{\"code\":100,\"msg\":\"no firewall today\"}'\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(
        fake.join("firewall"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let links_before = ns.links();
    for (env, flags, msg) in [
        (None, vec!["--network", "nope"], "Error: network nope not found"),
        (None, vec!["--network", &name, "-p", "80"], "Error: invalid publish spec \"80\": give the host's port too (HOST:CONTAINER)"),
        (None, vec!["-p", "8080:80"], "Error: conflicting options: port publishing and --ip need a network (--network NAME), not none"),
        (None, vec!["--network", "container:nope"], "Error: No such container: nope"),
        (None, vec!["--dns", "x"], "Error: IP address is not correctly formatted: x"),
        (None, vec!["--add-host", "nocolon"], "Error: bad format for add-host: \"nocolon\""),
        (Some("/nonexistent"), vec!["--network", &name], "Error: CNI plugin \"bridge\" not found in /nonexistent"),
        (Some(fake.to_str().unwrap()), vec!["--network", &name], "Error: CNI plugin firewall: no firewall today"),
    ] {
        let env: Vec<(&str, &str)> = env.map(|p| ("MYDOCKER_CNI_PATH", p)).into_iter().collect();
        let mut a = vec!["run", "--rm"];
        a.extend(flags.iter().copied());
        a.extend(["--rootfs", n.rootfs.to_str().unwrap(), "true"]);
        let o = n.ctl_env(&env, &a);
        assert_eq!(o.status.code(), Some(125), "{flags:?}: {o:?}");
        assert_eq!(stderr(&o).trim_end(), msg, "{flags:?}");
    }
    assert_eq!(ns.links(), links_before, "a failed create left a link");
    assert_eq!(t.ids().as_slice(), std::slice::from_ref(&web));

    // An address asked for; a network in use is not removed.
    let asked = format!("{}.200", gateway.rsplit_once('.').unwrap().0);
    let o = n.run(
        &["--rm", "--network", &name, "--ip", &asked],
        &["ip", "-o", "-4", "addr", "show", "eth0"],
    );
    assert!(ok(&o).contains(&format!("inet {asked}/")), "{o:?}");
    let o = n.ctl(&["network", "rm", &name]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).contains(&format!(
            "network {name} has active endpoints ({})",
            &web[..12]
        )),
        "{o:?}"
    );

    // rm -f: its veth, its address and its port rules go.
    assert_eq!(leases(&n.data, &name).len(), 1);
    ok(&n.ctl(&["rm", "-f", &web]));
    assert_eq!(ns.links(), ["lo", bridge.as_str()]);
    assert!(
        leases(&n.data, &name).is_empty(),
        "{:?}",
        leases(&n.data, &name)
    );
    let after_first = ns.iptables();
    assert!(!after_first.contains("CNI-DN-"), "{after_first}");

    // A shim killed: rm -f releases what its record names.
    let id = ok(&n.run(
        &["-d", "--network", &name, "-p", "18081:80"],
        &["sleep", "100"],
    ))
    .trim()
    .to_string();
    assert_ne!(ns.iptables(), after_first);
    let shim: i32 = n.inspect(&id, "{{.State.ShimPid}}").parse().unwrap();
    // SAFETY: kill with a pid and a signal.
    assert_eq!(unsafe { libc::kill(shim, libc::SIGKILL) }, 0);
    let t0 = Instant::now();
    while Path::new(&format!("/proc/{shim}")).exists() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the shim lives on");
        std::thread::sleep(Duration::from_millis(20));
    }
    ok(&n.ctl(&["rm", "-f", &id]));
    assert_eq!(ns.links(), ["lo", bridge.as_str()]);
    assert!(
        leases(&n.data, &name).is_empty(),
        "{:?}",
        leases(&n.data, &name)
    );
    assert_eq!(ns.iptables(), after_first);

    // Many made and removed: nothing piles up.
    let cycles: usize = if std::env::var_os("MYDOCKER_LOAD_FULL").is_some() {
        200
    } else {
        40
    };
    for i in 0..cycles {
        let port = format!("{}:80", 20000 + i);
        let o = n.ctl(&[
            "create",
            "--network",
            &name,
            "-p",
            &port,
            "--rootfs",
            n.rootfs.to_str().unwrap(),
            "true",
        ]);
        let id = ok(&o).trim().to_string();
        ok(&n.ctl(&["rm", "-f", &id]));
    }
    assert_eq!(ns.links(), ["lo", bridge.as_str()]);
    assert!(
        leases(&n.data, &name).is_empty(),
        "{:?}",
        leases(&n.data, &name)
    );
    assert_eq!(ns.iptables(), after_first);
    // The plugins' own chains stay once made (as under containerd and
    // podman), with no container's rules in them.
    assert_ne!(after_first, before);

    ok(&n.ctl(&["network", "rm", &name]));
    let o = n.ctl(&["network", "rm", &name]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr(&o), format!("Error: network {name} not found\n"));
    drop(ns);
    t.finish();
}
