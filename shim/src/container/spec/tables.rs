//! The spec's names of the kernel's numbers: capabilities, rlimits,
//! namespace types.

use oci_spec::runtime::LinuxNamespaceType;

use crate::container::error::{field_err, Result};

/// The capabilities by number, as the spec names them.
pub(super) const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The rlimits by number, as the spec names them.
pub(super) const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// The number of a capability or rlimit named `name` in `table`.
pub(super) fn number(table: &[&str], name: &str) -> Option<u32> {
    table.iter().position(|n| *n == name).map(|i| i as u32)
}

/// An rlimit's number, from its spec name (`RLIMIT_NOFILE`).
pub fn rlimit_number(name: &str) -> Option<u32> {
    number(&RLIMITS, name)
}

/// A set's mask, without what this kernel or this shim does not have (runc
/// drops the kernel's, with a warning): capset would refuse them.
pub(super) fn mask(field: &str, set: &Option<oci_spec::runtime::Capabilities>) -> Result<u64> {
    let known = match crate::process::harden::last_cap() {
        n if n >= 63 => u64::MAX,
        n => (1u64 << (n + 1)) - 1,
    };
    // Nor what the shim itself does not have (a sandboxed root may lack
    // some): no process can give what it has not.
    Ok(mask_all(field, set)? & known & crate::process::harden::own_permitted())
}

fn mask_all(field: &str, set: &Option<oci_spec::runtime::Capabilities>) -> Result<u64> {
    let mut m = 0u64;
    for cap in set.iter().flatten() {
        let name = serde_json::to_value(cap)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let n = number(&CAPS, &name)
            .ok_or_else(|| field_err(field, format!("unknown capability {name}")))?;
        m |= 1 << n;
    }
    Ok(m)
}

/// A namespace type as the spec names it ("network", not "net").
pub(super) fn ns_name(t: LinuxNamespaceType) -> &'static str {
    use LinuxNamespaceType as T;
    match t {
        T::Mount => "mount",
        T::Cgroup => "cgroup",
        T::Uts => "uts",
        T::Ipc => "ipc",
        T::User => "user",
        T::Pid => "pid",
        T::Network => "network",
        T::Time => "time",
    }
}
