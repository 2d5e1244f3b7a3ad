//! The container's network, as Create asks for it (docker's `--network`):
//! a namespace of its own with only `lo` (none asked), the host's, another
//! one's by path, or one of its own that a CNI network's plugins attach.
//!
//! A CNI attachment is the container's, not a run's: its namespace is
//! pinned by a bind mount in the state dir from Create to removal, each
//! run's init joins it, and DEL runs once, inside it, as the container is
//! removed. Its record in the state dir is written before ADD, so that a
//! DEL can follow a shim that died at any point (`rm` replays it).

use std::path::Path;

use mydocker::cni::{self, Attachment, NetworkList, Record};
use nix::unistd::Pid;
use serde_json::{json, Map, Value};

use super::error::{invalid, ContainerError, Result};

/// What Create asked for.
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    /// The shim's own namespace: its /etc/hosts and resolv.conf too.
    pub host: bool,
    /// Another's namespace, by path: pinned once joined, so that a later
    /// run joins the same one even if the path means another by then.
    pub joined: bool,
    pub cni: Option<CniNet>,
}

#[derive(Debug, Clone)]
pub struct CniNet {
    pub conflist: String,
    pub list: NetworkList,
    pub path: String,
    /// The capabilities' values (`portMappings`, `ips`).
    pub runtime: Map<String, Value>,
}

/// A port to publish, checked.
pub struct Port {
    pub host_port: u32,
    pub container_port: u32,
    pub protocol: String,
    pub host_ip: String,
}

impl CniNet {
    pub fn new(conflist: String, path: String, ports: &[Port], ip: &str) -> Result<Self> {
        let list = NetworkList::parse(&conflist)?;
        let mut runtime = Map::new();
        let mut mappings = Vec::new();
        for p in ports {
            for (what, n) in [("host", p.host_port), ("container", p.container_port)] {
                if !(1..=65535).contains(&n) {
                    return Err(invalid(format!(
                        "network: {what} port {n} is not 1 to 65535"
                    )));
                }
            }
            let protocol = match p.protocol.as_str() {
                "" | "tcp" => "tcp",
                "udp" => "udp",
                other => {
                    return Err(invalid(format!(
                        "network: protocol {} is not tcp or udp",
                        mydocker::brief(other)
                    )))
                }
            };
            if !p.host_ip.is_empty() && p.host_ip.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(format!(
                    "network: host address {} is not an IP address",
                    mydocker::brief(&p.host_ip)
                )));
            }
            let mut m = json!({
                "hostPort": p.host_port,
                "containerPort": p.container_port,
                "protocol": protocol,
            });
            if !p.host_ip.is_empty() {
                m["hostIP"] = json!(p.host_ip);
            }
            mappings.push(m);
        }
        if !mappings.is_empty() {
            runtime.insert("portMappings".into(), Value::Array(mappings));
        }
        if !ip.is_empty() {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(format!(
                    "network: {} is not an IP address",
                    mydocker::brief(ip)
                )));
            }
            runtime.insert("ips".into(), json!([ip]));
        }
        let path = if path.is_empty() {
            cni::DEFAULT_PATH.to_string()
        } else {
            path
        };
        Ok(Self {
            conflist,
            list,
            path,
            runtime,
        })
    }
}

/// A CNI network attached to the container's namespace, pinned in its
/// state dir.
pub struct Attached {
    list: NetworkList,
    attachment: Attachment,
    result: Value,
}

impl Attached {
    /// Pins the namespace the init `pid` is in and ADDs it, recorded in
    /// `dir`. On failure the plugins' DEL has run, and neither the pin nor
    /// the record is left.
    pub fn add(net: &CniNet, id: &str, pid: Pid, dir: &Path) -> Result<Self> {
        let ns = format!("/proc/{}/ns/net", pid.as_raw());
        let pinned =
            cni::pin_netns(Path::new(&ns), dir).map_err(sys("pin the network namespace"))?;
        let attachment = Attachment {
            container_id: id.to_string(),
            netns: pinned.to_string_lossy().into_owned(),
            ifname: cni::IFNAME.to_string(),
            path: net.path.clone(),
            runtime_config: net.runtime.clone(),
        };
        let mut record = Record {
            conflist: net.conflist.clone(),
            attachment: attachment.clone(),
            result: None,
        };
        if let Err(e) = record.write(dir) {
            cni::unpin_netns(dir);
            return Err(sys("record the network")(e));
        }
        let result = match cni::add(&net.list, &attachment) {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(dir.join(cni::RECORD_FILE));
                cni::unpin_netns(dir);
                return Err(e.into());
            }
        };
        record.result = Some(result.clone());
        if let Err(e) = record.write(dir) {
            // Kept as written before ADD: a DEL from it still releases all.
            tracing::warn!(error = %e, "recording the network's result failed");
        }
        tracing::info!(network = %net.list.name, addresses = ?cni::addresses(&result), "network attached");
        Ok(Self {
            list: net.list.clone(),
            attachment,
            result,
        })
    }

    /// The network's name.
    pub fn network(&self) -> &str {
        &self.list.name
    }

    /// The namespace, as a path each run's init joins.
    pub fn netns_path(&self) -> String {
        self.attachment.netns.clone()
    }

    pub fn addresses(&self) -> Vec<String> {
        cni::addresses(&self.result)
    }

    /// DEL, in the namespace still pinned; then the pin and the record go.
    /// A DEL that failed keeps both (false): a port rule left behind
    /// would send the next holder of the address someone else's traffic,
    /// so the container stays, for `rm` to run DEL again from its record.
    pub fn del(self, dir: &Path) -> bool {
        if let Err(e) = cni::del(&self.list, &self.attachment, Some(&self.result)) {
            tracing::error!(error = %e, "network DEL failed: the container stays for rm to try again");
            return false;
        }
        cni::unpin_netns(dir);
        let _ = std::fs::remove_file(dir.join(cni::RECORD_FILE));
        true
    }
}

fn sys(what: &'static str) -> impl Fn(std::io::Error) -> ContainerError {
    move |e| ContainerError::Sys {
        what,
        source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// Adds the container's addresses to its /etc/hosts (docker's line: the
/// address, then the hostname), in place: the file is bind-mounted.
pub fn add_hosts(dir: &Path, hostname: &str, addresses: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join("hosts");
    if !path.exists() {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    for a in addresses {
        writeln!(f, "{a}\t{hostname}")?;
    }
    Ok(())
}

/// Containers on one CNI network find each other by name through their
/// /etc/hosts, kept up to date by their shims (as docker's links were;
/// docker's own networks answer names from a DNS server of the daemon's,
/// and there is no daemon here). Under an flock of the state root, so
/// that two containers made at once each see the other.
pub mod peers {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::path::{Path, PathBuf};

    use mydocker::cni::{NetworkList, Record};
    use mydocker::state::{self, ConfigRecord};

    struct Peer {
        dir: PathBuf,
        name: String,
        addresses: Vec<String>,
    }

    /// The other containers of `root` on `network`, with a name and an
    /// address.
    fn on(root: &Path, me: &Path, network: &str) -> Vec<Peer> {
        let Ok(entries) = std::fs::read_dir(root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|d| d != me && d.join(mydocker::cni::RECORD_FILE).is_file())
            .filter_map(|dir| {
                let r = Record::read(&dir)?;
                let list = NetworkList::parse(&r.conflist).ok()?;
                if list.name != network {
                    return None;
                }
                let addresses = mydocker::cni::addresses(r.result.as_ref()?);
                let config: ConfigRecord =
                    state::read_json(&dir.join(state::CONFIG_FILE)).ok()??;
                (!config.name.is_empty() && !addresses.is_empty()).then_some(Peer {
                    dir,
                    name: config.name,
                    addresses,
                })
            })
            .collect()
    }

    /// Runs `f` under an exclusive flock of the state root (a directory:
    /// no file of ours is left for it).
    fn locked<T>(root: &Path, f: impl FnOnce() -> T) -> T {
        let dir = std::fs::File::open(root);
        if let Ok(d) = &dir {
            // SAFETY: flock on a descriptor we own; released as it closes.
            unsafe { libc::flock(d.as_raw_fd(), libc::LOCK_EX) };
        }
        f()
    }

    fn append(hosts: &Path, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() || !hosts.exists() {
            return Ok(());
        }
        let mut f = std::fs::OpenOptions::new().append(true).open(hosts)?;
        f.write_all(lines.concat().as_bytes())
    }

    fn lines(addresses: &[String], name: &str) -> Vec<String> {
        addresses.iter().map(|a| format!("{a}\t{name}\n")).collect()
    }

    /// The peers' names in this container's /etc/hosts, and (with
    /// `announce`, once per container) its own in theirs.
    pub fn link(
        root: &Path,
        dir: &Path,
        network: &str,
        name: &str,
        addresses: &[String],
        announce: bool,
    ) {
        locked(root, || {
            let peers = on(root, dir, network);
            let mine: Vec<String> = peers
                .iter()
                .flat_map(|p| lines(&p.addresses, &p.name))
                .collect();
            if let Err(e) = append(&dir.join("hosts"), &mine) {
                tracing::warn!(error = %e, "adding the network's names to /etc/hosts failed");
            }
            if !announce || name.is_empty() {
                return;
            }
            for p in &peers {
                if let Err(e) = append(&p.dir.join("hosts"), &lines(addresses, name)) {
                    tracing::warn!(error = %e, peer = %p.name, "adding our name to a peer's /etc/hosts failed");
                }
            }
        })
    }

    /// Its lines out of the peers' /etc/hosts, as it is removed. Each file
    /// is rewritten in place: it is bound into a running container.
    pub fn unlink(root: &Path, dir: &Path, network: &str, name: &str, addresses: &[String]) {
        if name.is_empty() {
            return;
        }
        let gone = lines(addresses, name);
        locked(root, || {
            for p in on(root, dir, network) {
                let hosts = p.dir.join("hosts");
                let Ok(text) = std::fs::read_to_string(&hosts) else {
                    continue;
                };
                let kept: String = text
                    .split_inclusive('\n')
                    .filter(|l| !gone.iter().any(|g| g == l))
                    .collect();
                if kept.len() != text.len() {
                    if let Err(e) = std::fs::write(&hosts, kept) {
                        tracing::warn!(error = %e, peer = %p.name, "removing our name from a peer's /etc/hosts failed");
                    }
                }
            }
        })
    }
}
