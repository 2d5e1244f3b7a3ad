//! Networks (docker's `network` and `--network`): CNI configuration lists
//! under the data root, `networks/<name>.conflist`, each a bridge with
//! host-local addresses, published ports (portmap) and the firewall
//! plugin's rules; `bridge` is made on its first use. The shim runs the
//! plugins (mydocker::cni); this makes the lists and the request.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use mydocker::v1;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::args::{NetworkCreateArgs, RunArgs};
use crate::containers::{resolve, Record, Status};

/// docker's default network's name, and where it and its bridge are.
const DEFAULT: &str = "bridge";
const DEFAULT_BRIDGE: &str = "mydocker0";
const DEFAULT_SUBNET: &str = "10.77.0.0/16";

fn dir(data_root: &Path) -> PathBuf {
    data_root.join("networks")
}

fn file(data_root: &Path, name: &str) -> PathBuf {
    dir(data_root).join(format!("{name}.conflist"))
}

/// host-local's leases, a directory per network.
fn ipam_dir(data_root: &Path) -> PathBuf {
    data_root.join("ipam")
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!(
            "invalid network name {}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 64",
            mydocker::brief(name)
        );
    }
    if matches!(name, "none" | "host") || name.starts_with("container:") {
        bail!("network name {name} is reserved");
    }
    Ok(())
}

/// `a.b.c.d/len`, the address being the network's own.
fn parse_subnet(s: &str) -> anyhow::Result<(Ipv4Addr, u8)> {
    let bad = || {
        anyhow!(
            "invalid subnet {}: give an IPv4 network as A.B.C.D/LEN (LEN 8 to 30)",
            mydocker::brief(s)
        )
    };
    let (a, l) = s.split_once('/').ok_or_else(bad)?;
    let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let l: u8 = l.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&l) {
        return Err(bad());
    }
    let mask = u32::MAX << (32 - l);
    if u32::from(a) & !mask != 0 {
        bail!("invalid subnet {s}: {a} is not its network's address");
    }
    Ok((a, l))
}

/// Whether two subnets share an address.
fn overlap(a: &str, b: &str) -> bool {
    match (parse_subnet(a), parse_subnet(b)) {
        (Ok((x, lx)), Ok((y, ly))) => {
            let mask = u32::MAX << (32 - lx.min(ly));
            u32::from(x) & mask == u32::from(y) & mask
        }
        _ => a == b,
    }
}

/// The subnets of the networks there are.
fn subnets(data_root: &Path) -> Vec<String> {
    lists(data_root)
        .iter()
        .filter_map(|(_, v)| {
            v["plugins"].as_array()?.iter().find_map(|p| {
                p["ipam"]["ranges"][0][0]["subnet"]
                    .as_str()
                    .map(str::to_string)
            })
        })
        .collect()
}

fn lists(data_root: &Path) -> Vec<(String, Value)> {
    let Ok(entries) = std::fs::read_dir(dir(data_root)) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Value)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_str()?
                .strip_suffix(".conflist")?
                .to_string();
            let text = std::fs::read(e.path()).ok()?;
            Some((name, serde_json::from_slice(&text).ok()?))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Writes a new bridge network's list: its name taken, its subnet free.
fn make(
    data_root: &Path,
    name: &str,
    subnet: Option<&str>,
    gateway: Option<&str>,
) -> anyhow::Result<String> {
    check_name(name)?;
    let taken = subnets(data_root);
    let subnet = match subnet {
        Some(s) => {
            parse_subnet(s)?;
            if let Some(t) = taken.iter().find(|t| overlap(t, s)) {
                bail!("subnet {s} overlaps another network's ({t})");
            }
            s.to_string()
        }
        None if name == DEFAULT && !taken.iter().any(|t| overlap(t, DEFAULT_SUBNET)) => {
            DEFAULT_SUBNET.to_string()
        }
        None => (78..=254)
            .map(|n| format!("10.{n}.0.0/16"))
            .find(|s| !taken.iter().any(|t| overlap(t, s)))
            .ok_or_else(|| anyhow!("no free 10.N.0.0/16 subnet left: give --subnet"))?,
    };
    let (base, len) = parse_subnet(&subnet)?;
    let gateway = match gateway {
        Some(g) => {
            let ip: Ipv4Addr = g
                .parse()
                .map_err(|_| anyhow!("invalid gateway {}", mydocker::brief(g)))?;
            let mask = u32::MAX << (32 - len);
            if u32::from(ip) & mask != u32::from(base) {
                bail!("gateway {ip} is not in subnet {subnet}");
            }
            ip
        }
        None => Ipv4Addr::from(u32::from(base) + 1),
    };
    let bridge = if name == DEFAULT {
        DEFAULT_BRIDGE.to_string()
    } else {
        // An interface name has at most 15 bytes: named after a hash.
        let h = Sha256::digest(name.as_bytes());
        format!("md-{}", hex(&h[..4]))
    };
    let id = hex(&Sha256::digest(
        format!("{name}\0{}", mydocker::random_id()?).as_bytes(),
    ));
    let list = json!({
        "cniVersion": "1.0.0",
        "name": name,
        "mydockerId": id,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "capabilities": {"ips": true},
                "ipam": {
                    "type": "host-local",
                    // Its leases with the network, not in the host's
                    // /var/lib/cni shared with other runtimes.
                    "dataDir": std::path::absolute(ipam_dir(data_root))?,
                    "ranges": [[{"subnet": subnet, "gateway": gateway.to_string()}]],
                    "routes": [{"dst": "0.0.0.0/0"}]
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "firewall"}
        ]
    });
    let text = serde_json::to_string_pretty(&list)?;
    let d = dir(data_root);
    std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
    // Exclusive: two creates of one name, one wins.
    let path = file(data_root, name);
    let tmp = d.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &text).with_context(|| format!("write {}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("network with name {name} already exists")
        }
        Err(e) => Err(e).with_context(|| format!("write {}", path.display())),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The list of network `name`; `bridge` is made if it is not there.
pub fn conflist(data_root: &Path, name: &str) -> anyhow::Result<String> {
    match std::fs::read_to_string(file(data_root, name)) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == DEFAULT => {
            match make(data_root, DEFAULT, None, None) {
                Ok(_) => {}
                // Made by another run meanwhile.
                Err(_) if file(data_root, name).is_file() => {}
                Err(e) => return Err(e),
            }
            Ok(std::fs::read_to_string(file(data_root, name))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("network {name} not found")
        }
        Err(e) => Err(e).with_context(|| format!("read network {name}")),
    }
}

/// `-p [IP:]HOST:CONTAINER[/tcp|udp]`.
fn parse_port(spec: &str) -> anyhow::Result<v1::PortMapping> {
    let bad = |why: &str| anyhow!("invalid publish spec {}: {why}", mydocker::brief(spec));
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p @ ("tcp" | "udp"))) => (r, p),
        Some(_) => return Err(bad("the protocol is tcp or udp")),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, host, ctr) = match parts.as_slice() {
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        [_] => return Err(bad("give the host's port too (HOST:CONTAINER)")),
        _ => return Err(bad("expected [IP:]HOST:CONTAINER[/PROTOCOL]")),
    };
    if !host_ip.is_empty() && host_ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad("the host address is not an IP address"));
    }
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let (Some(host_port), Some(container_port)) = (port(host), port(ctr)) else {
        return Err(bad("ports are 1 to 65535"));
    };
    Ok(v1::PortMapping {
        host_port: host_port.into(),
        container_port: container_port.into(),
        protocol: protocol.into(),
        host_ip: host_ip.into(),
    })
}

/// Create's network for `run`/`create`'s flags: none (`--network none`,
/// the default until every path is proven), the host's, another
/// container's namespace, or a network's list.
pub fn request(
    root: &Path,
    data_root: &Path,
    args: &RunArgs,
) -> anyhow::Result<Option<v1::Network>> {
    let ports = args
        .publish
        .iter()
        .map(|p| parse_port(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mode = args.network.as_str();
    let cni = !matches!(mode, "none" | "host") && !mode.starts_with("container:");
    if !cni && (!ports.is_empty() || args.ip.is_some()) {
        bail!("conflicting options: port publishing and --ip need a network (--network NAME), not {mode}");
    }
    if let Some(ip) = &args.ip {
        ip.parse::<std::net::IpAddr>()
            .map_err(|_| anyhow!("invalid IP address {}", mydocker::brief(ip)))?;
    }
    Ok(match mode {
        "none" => None,
        "host" => Some(v1::Network {
            host: true,
            ..Default::default()
        }),
        m if m.starts_with("container:") => {
            let other = &m["container:".len()..];
            let t = resolve(root, other)?;
            let r = Record::read(root, &t.id)?;
            if r.status() != Status::Running {
                bail!("cannot join network of a non running container: {other}");
            }
            // Its pinned namespace if it has one (a CNI network's): that
            // path is its namespace for as long as it exists, where its
            // init's pid could be another process's after a restart.
            let pinned = r.dir.join(mydocker::cni::NETNS_FILE);
            let netns_path = if pinned.exists() {
                pinned.to_string_lossy().into_owned()
            } else {
                format!("/proc/{}/ns/net", r.state.pid)
            };
            Some(v1::Network {
                netns_path,
                ..Default::default()
            })
        }
        name => {
            if name != DEFAULT {
                check_name(name)?;
            }
            for p in &ports {
                port_free(root, p)?;
            }
            Some(v1::Network {
                conflist: conflist(data_root, name)?,
                cni_path: std::env::var("MYDOCKER_CNI_PATH").unwrap_or_default(),
                ports,
                ip: args.ip.clone().unwrap_or_default(),
                ..Default::default()
            })
        }
    })
}

/// docker's check that a published port is free: no other container of
/// this state root publishes it, and nothing here listens on it (the
/// portmap plugin would take it over silently).
fn port_free(root: &Path, p: &v1::PortMapping) -> anyhow::Result<()> {
    let shown = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        p.host_ip.as_str()
    };
    let taken = || {
        anyhow!(
            "Bind for {shown}:{} failed: port is already allocated",
            p.host_port
        )
    };
    let overlaps = |ip: &str| ip.is_empty() || p.host_ip.is_empty() || ip == p.host_ip;
    for r in Record::all(root) {
        let Some(n) = mydocker::cni::Record::read(&r.dir) else {
            continue;
        };
        let Some(Value::Array(maps)) = n.attachment.runtime_config.get("portMappings") else {
            continue;
        };
        if maps.iter().any(|m| {
            m["hostPort"].as_u64() == Some(p.host_port.into())
                && m["protocol"].as_str().unwrap_or("tcp") == p.protocol
                && overlaps(m["hostIP"].as_str().unwrap_or(""))
        }) {
            return Err(taken());
        }
    }
    let ip: std::net::IpAddr = if p.host_ip.is_empty() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        p.host_ip.parse()?
    };
    let port = p.host_port as u16;
    let bound = match p.protocol.as_str() {
        "udp" => std::net::UdpSocket::bind((ip, port)).map(drop),
        _ => std::net::TcpListener::bind((ip, port)).map(drop),
    };
    match bound {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(taken()),
        _ => Ok(()),
    }
}

/// `network create [--subnet CIDR] [--gateway IP] NAME`: its id.
pub fn create_cmd(data_root: &Path, a: &NetworkCreateArgs) -> anyhow::Result<i32> {
    let id = make(
        data_root,
        &a.name,
        a.subnet.as_deref(),
        a.gateway.as_deref(),
    )?;
    println!("{id}");
    Ok(0)
}

/// `network ls [-q]`.
pub fn ls_cmd(data_root: &Path, quiet: bool) -> anyhow::Result<i32> {
    let lists = lists(data_root);
    if quiet {
        for (name, _) in &lists {
            println!("{name}");
        }
        return Ok(0);
    }
    println!("{:<14} {:<20} {:<8} SUBNET", "NETWORK ID", "NAME", "DRIVER");
    for (name, v) in &lists {
        let id = v["mydockerId"].as_str().unwrap_or("");
        let subnet = v["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
            .as_str()
            .unwrap_or("");
        let driver = v["plugins"][0]["type"].as_str().unwrap_or("");
        println!(
            "{:<14} {:<20} {:<8} {}",
            id.chars().take(12).collect::<String>(),
            name,
            driver,
            subnet
        );
    }
    Ok(0)
}

/// `network rm NAME...`: refused while a container of this state root is
/// on it (docker's "has active endpoints").
pub fn rm_cmd(root: &Path, data_root: &Path, names: &[String]) -> anyhow::Result<i32> {
    let mut failed = false;
    for name in names {
        let removed = (|| {
            check_name(name)?;
            let path = file(data_root, name);
            if !path.is_file() {
                bail!("network {name} not found");
            }
            let users: Vec<String> = Record::all(root)
                .into_iter()
                .filter(|r| {
                    mydocker::cni::Record::read(&r.dir)
                        .and_then(|n| mydocker::cni::NetworkList::parse(&n.conflist).ok())
                        .is_some_and(|l| l.name == *name)
                })
                .map(|r| r.short_id().to_string())
                .collect();
            if !users.is_empty() {
                bail!(
                    "error while removing network: network {name} has active endpoints ({})",
                    users.join(", ")
                );
            }
            let bridge = std::fs::read(&path)
                .ok()
                .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
                .and_then(|v| v["plugins"][0]["bridge"].as_str().map(str::to_string));
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
            let _ = std::fs::remove_dir_all(ipam_dir(data_root).join(name));
            // Its bridge, in this network namespace, if the plugin made it:
            // made again with the name, it would keep the old gateway.
            if let Some(b) = bridge.filter(|b| Path::new("/sys/class/net").join(b).exists()) {
                let _ = std::process::Command::new("ip")
                    .args(["link", "delete", &b])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
            Ok(())
        })();
        match removed {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `network inspect NAME...`: the lists, as a JSON array.
pub fn inspect_cmd(data_root: &Path, names: &[String]) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    for name in names {
        check_name(name)?;
        let text = std::fs::read_to_string(file(data_root, name))
            .map_err(|_| anyhow!("network {} not found", mydocker::brief(name)))?;
        out.push(serde_json::from_str::<Value>(&text)?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs_as_docker_writes_them() {
        let p = parse_port("8080:80").unwrap();
        assert_eq!(
            (
                p.host_port,
                p.container_port,
                p.protocol.as_str(),
                p.host_ip.as_str()
            ),
            (8080, 80, "tcp", "")
        );
        let p = parse_port("127.0.0.1:53:5353/udp").unwrap();
        assert_eq!(
            (
                p.host_port,
                p.container_port,
                p.protocol.as_str(),
                p.host_ip.as_str()
            ),
            (53, 5353, "udp", "127.0.0.1")
        );
        for bad in [
            "80",
            "0:80",
            "8080:70000",
            "a:80",
            "8080:80/sctp",
            "x.y:1:2",
            "1:2:3:4",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subnets_and_names_are_checked() {
        assert!(parse_subnet("10.1.0.0/16").is_ok());
        for bad in [
            "10.1.0.1/16",
            "10.1.0.0",
            "10.1.0.0/4",
            "10.1.0.0/31",
            "x/16",
        ] {
            assert!(parse_subnet(bad).is_err(), "{bad}");
        }
        for bad in ["", "-a", "a/b", "none", "host", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("my_net-1.2").is_ok());
    }
}
