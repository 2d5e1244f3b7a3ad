//! docker's `/etc` files of a container with a root of its own: written
//! by the shim in the state dir, bound over the image's.

use std::path::Path;

use super::config::ContainerConfig;
use super::error::{ContainerError, Result};
use crate::process::rootfs::{MountKind, MountOp};

/// docker's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`: files of
/// the shim's, in the state dir, bound over the image's (unless a mount of
/// the request's is there): loopback names and `extra_hosts` (a CNI
/// network adds the container's address once it has one, network.rs), and
/// the host's name servers other than its own loopback ones, or `dns`.
pub fn files(config: &ContainerConfig, dir: &Path) -> Result<Vec<MountOp>> {
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    // On the host's network, the host's files as they are (its loopback
    // resolver answers there), as docker's --network host.
    let (hosts, resolv) = if config.network.host {
        (
            std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            host_resolv,
        )
    } else {
        let hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
                     fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n\
                     ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
        let resolv: String = host_resolv
            .lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                !(w.next() == Some("nameserver")
                    && w.next()
                        .is_some_and(|a| a.starts_with("127.") || a == "::1"))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        (hosts.to_string(), resolv)
    };
    // docker's --add-host lines, after the rest.
    let mut hosts = hosts;
    for (name, ip) in &config.extra_hosts {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    // docker's --dns: its name servers instead of the host's; the search
    // domains and options stay.
    let resolv = if config.dns.is_empty() {
        resolv
    } else {
        let mut r: String = resolv
            .lines()
            .filter(|l| l.split_whitespace().next() != Some("nameserver"))
            .map(|l| format!("{l}\n"))
            .collect();
        for d in &config.dns {
            r.push_str(&format!("nameserver {d}\n"));
        }
        r
    };
    let files = [
        ("hostname", format!("{}\n", config.hostname)),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ];
    let taken = |dest: &str| {
        config
            .root
            .as_ref()
            .is_some_and(|r| r.mounts.iter().any(|m| m.destination == dest))
    };
    let mut out = Vec::new();
    for (name, text) in files {
        let dest = format!("/etc/{name}");
        if taken(&dest) {
            continue;
        }
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| ContainerError::Sys {
            what: "write the container's /etc files",
            source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        out.push(MountOp {
            destination: dest,
            kind: MountKind::Bind {
                source: path,
                recursive: false,
            },
            flags: 0,
            propagation: libc::MS_PRIVATE,
            data: String::new(),
        });
    }
    Ok(out)
}
