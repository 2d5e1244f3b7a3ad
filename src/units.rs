//! Parsing of limits as docker's CLI takes them, and the checks the shim
//! makes again (a grpcurl caller never went through a CLI).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid size {0}: use a number with an optional b, k, m or g suffix (e.g. 100m)")]
    Size(String),
    #[error("invalid number of CPUs {0}: use a decimal number greater than 0 (e.g. 0.5)")]
    Cpus(String),
    #[error("invalid CPU list {0}: use numbers and ranges such as 0-2,5")]
    CpuList(String),
    #[error("{0}")]
    Range(String),
}

pub type Result<T, E = UnitError> = std::result::Result<T, E>;

/// docker's minimum memory limit.
pub const MIN_MEMORY_BYTES: i64 = 6 << 20;
/// CFS period used for `--cpus`, as docker's.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Parses a size as docker's `-m` does: `1024`, `512k`, `100m`, `1.5g`,
/// `2gb`; suffixes are binary (k = 1024) and case-insensitive.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let err = || UnitError::Size(crate::id::brief(s));
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, suffix) = lower.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(err());
    }
    let mult: f64 = match suffix {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    let value: f64 = num.parse().map_err(|_| err())?;
    let bytes = value * mult;
    // i64::MAX is not an f64: `as f64` rounds it up to 2^63, which must
    // itself be refused (found by fuzzing).
    if !bytes.is_finite() || bytes < 0.0 || bytes >= i64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as i64)
}

/// Parses `--cpus` (a decimal number of CPUs) into billionths of a CPU.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let err = || UnitError::Cpus(crate::id::brief(s));
    let t = s.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(err());
    }
    let v: f64 = t.parse().map_err(|_| err())?;
    let nano = (v * 1e9).round();
    if nano.is_nan() || nano <= 0.0 || nano >= i64::MAX as f64 {
        return Err(err());
    }
    Ok(nano as i64)
}

/// The CFS quota, in microseconds per [`CPU_PERIOD_US`], for `nano_cpus`.
pub fn cfs_quota_us(nano_cpus: i64) -> i64 {
    ((nano_cpus as i128 * CPU_PERIOD_US as i128) / 1_000_000_000) as i64
}

/// Parses a cpuset list (`0-2,5`) into its CPUs, ascending and unique.
pub fn parse_cpu_list(s: &str) -> Result<Vec<u32>> {
    let err = || UnitError::CpuList(crate::id::brief(s));
    let t = s.trim();
    // No real list is longer; a hostile one must not cost memory.
    if t.is_empty() || t.len() > 16 * 1024 {
        return Err(err());
    }
    let mut set = vec![false; 4096];
    for part in t.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: u32 = a.trim().parse().map_err(|_| err())?;
        let b: u32 = b.trim().parse().map_err(|_| err())?;
        if a > b || b > 4095 {
            return Err(err());
        }
        set[a as usize..=b as usize].fill(true);
    }
    Ok((0..4096u32).filter(|c| set[*c as usize]).collect())
}

/// The CPUs or memory nodes this machine has online, from sysfs
/// (`/sys/devices/system/{cpu,node}/online`).
pub fn online(kind: &str) -> Vec<u32> {
    std::fs::read_to_string(format!("/sys/devices/system/{kind}/online"))
        .ok()
        .and_then(|s| parse_cpu_list(&s).ok())
        .unwrap_or_else(|| if kind == "node" { vec![0] } else { Vec::new() })
}

/// Resource limits: the API's `Resources` as the shim and the CLI use them,
/// and as `config.json` records them (the same field names).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Limits {
    pub memory_limit_bytes: i64,
    pub nano_cpus: i64,
    pub cpu_shares: u64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub pids_limit: i64,
    pub cgroup_parent: String,
}

impl Limits {
    /// Takes the fields an Update set (non-zero, non-empty); the cgroup
    /// parent never changes.
    pub fn merge(&mut self, l: &Limits) {
        if l.memory_limit_bytes > 0 {
            self.memory_limit_bytes = l.memory_limit_bytes;
        }
        if l.nano_cpus > 0 {
            self.nano_cpus = l.nano_cpus;
        }
        if l.cpu_shares > 0 {
            self.cpu_shares = l.cpu_shares;
        }
        if !l.cpuset_cpus.is_empty() {
            self.cpuset_cpus.clone_from(&l.cpuset_cpus);
        }
        if !l.cpuset_mems.is_empty() {
            self.cpuset_mems.clone_from(&l.cpuset_mems);
        }
        if l.pids_limit != 0 {
            self.pids_limit = l.pids_limit;
        }
    }
}

#[cfg(feature = "grpc")]
impl From<crate::v1::Resources> for Limits {
    fn from(r: crate::v1::Resources) -> Self {
        Self {
            memory_limit_bytes: r.memory_limit_bytes,
            nano_cpus: r.nano_cpus,
            cpu_shares: r.cpu_shares,
            cpuset_cpus: r.cpuset_cpus,
            cpuset_mems: r.cpuset_mems,
            pids_limit: r.pids_limit,
            cgroup_parent: r.cgroup_parent,
        }
    }
}

#[cfg(feature = "grpc")]
impl From<Limits> for crate::v1::Resources {
    fn from(l: Limits) -> Self {
        Self {
            memory_limit_bytes: l.memory_limit_bytes,
            nano_cpus: l.nano_cpus,
            cpu_shares: l.cpu_shares,
            cpuset_cpus: l.cpuset_cpus,
            cpuset_mems: l.cpuset_mems,
            pids_limit: l.pids_limit,
            cgroup_parent: l.cgroup_parent,
        }
    }
}

/// Checks a set of limits the way docker does, before anything is created.
/// `online_cpus` and `online_mems` are what the machine has.
pub fn check_limits(r: &Limits, online_cpus: &[u32], online_mems: &[u32]) -> Result<()> {
    let Limits {
        memory_limit_bytes: memory_bytes,
        nano_cpus,
        cpu_shares,
        cpuset_cpus,
        cpuset_mems,
        pids_limit,
        cgroup_parent: _,
    } = r;
    let (memory_bytes, nano_cpus, cpu_shares, pids_limit) =
        (*memory_bytes, *nano_cpus, *cpu_shares, *pids_limit);
    let (cpuset_cpus, cpuset_mems) = (cpuset_cpus.as_str(), cpuset_mems.as_str());
    let range = |m: String| Err(UnitError::Range(m));
    if memory_bytes < 0 {
        return range(format!(
            "invalid memory limit {memory_bytes}: it cannot be negative"
        ));
    }
    if memory_bytes > 0 && memory_bytes < MIN_MEMORY_BYTES {
        return range("minimum memory limit allowed is 6MB".into());
    }
    if nano_cpus < 0 {
        return range(format!(
            "invalid number of CPUs {}: it cannot be negative",
            nano_cpus as f64 / 1e9
        ));
    }
    if nano_cpus > 0 {
        let max = online_cpus.len().max(1) as i64 * 1_000_000_000;
        if nano_cpus > max || cfs_quota_us(nano_cpus) < 1000 {
            return range(format!(
                "range of CPUs is from 0.01 to {}.00, as there are only {} CPUs available",
                online_cpus.len().max(1),
                online_cpus.len().max(1)
            ));
        }
    }
    if cpu_shares != 0 && !(2..=262_144).contains(&cpu_shares) {
        return range(format!("invalid CPU shares {cpu_shares}: use 2 to 262144"));
    }
    for (list, have, what) in [
        (cpuset_cpus, online_cpus, "CPU"),
        (cpuset_mems, online_mems, "memory node"),
    ] {
        if list.is_empty() {
            continue;
        }
        let want = parse_cpu_list(list)?;
        if let Some(missing) = want.iter().find(|c| !have.contains(c)) {
            return range(format!(
                "requested {what} {missing} in {list:?} is not available (online: {})",
                format_list(have)
            ));
        }
    }
    if pids_limit < -1 {
        return range(format!(
            "invalid pids limit {pids_limit}: use a positive number, or 0 or -1 for none"
        ));
    }
    Ok(())
}

/// Formats CPUs as a compact list: 0-3,6.
pub fn format_list(cpus: &[u32]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        // checked: u32::MAX followed by anything is not a run (fuzzing).
        while i + 1 < cpus.len() && end.checked_add(1) == Some(cpus[i + 1]) {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// cgroup v2 has no `cpu.shares`; its `cpu.weight` ranges 1..=10000 where
/// v1's shares range 2..=262144. The map is linear between the two ranges'
/// ends (the formula runc and crun use), so the default 1024 shares become
/// weight 39 and the extremes map to the extremes:
/// `weight = 1 + (shares - 2) * 9999 / 262142`.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the fuzz targets found (fuzz/README.md), kept as plain tests.
    #[test]
    fn fuzz_findings_stay_fixed() {
        assert_eq!(format_list(&[u32::MAX, 0]), "4294967295,0");
        assert_eq!(
            format_list(&[u32::MAX - 1, u32::MAX]),
            "4294967294-4294967295"
        );
        for s in ["9223372036854775808", "9223372036854776000", "8388608t"] {
            assert!(parse_bytes(s).is_err(), "{s}");
        }
        assert_eq!(parse_bytes("9223372036854774784"), Ok(9223372036854774784));
        assert!(parse_cpus("9223372036.854775808").is_err());
        let e = parse_bytes(&"9".repeat(10 << 20)).unwrap_err().to_string();
        assert!(e.len() < 200 && e.contains("(10485760 bytes)"), "{e}");
    }

    #[test]
    fn sizes_parse_as_docker_takes_them() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("10b").unwrap(), 10);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("32m").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("32M").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("100mb").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        for bad in [
            "10xb",
            "-5",
            "",
            "m",
            "1.2.3m",
            ".5m",
            "5.m",
            "1e3",
            "12 m",
            "9999999999999999t",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus_parse_to_nano_and_quota() {
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(parse_cpus("1.25").unwrap(), 1_250_000_000);
        for bad in ["0", "-1", "", "x", "0.0", "1e3", "-0.5"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(cfs_quota_us(500_000_000), 50_000);
        assert_eq!(cfs_quota_us(1_500_000_000), 150_000);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0").unwrap(), [0]);
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), [0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("1,0,1").unwrap(), [0, 1]);
        assert_eq!(parse_cpu_list("0-1\n").unwrap(), [0, 1]);
        for bad in ["3-1", "", "a", "1-", ",", "-1", "0-99999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
        assert_eq!(format_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        // Hostile: a huge list costs no memory, it is refused.
        assert!(parse_cpu_list(&"0-4095,".repeat(100_000)).is_err());
        assert_eq!(
            parse_cpu_list("0-4095,".repeat(100).trim_end_matches(','))
                .unwrap()
                .len(),
            4096
        );
    }

    #[test]
    fn limits_are_checked_like_docker() {
        let cpus = [0, 1];
        let mems = [0];
        let res = |m, n, s, c: &str, p| Limits {
            memory_limit_bytes: m,
            nano_cpus: n,
            cpu_shares: s,
            cpuset_cpus: c.into(),
            pids_limit: p,
            ..Default::default()
        };
        let ok = |m, n, s, c: &str, p| check_limits(&res(m, n, s, c, p), &cpus, &mems);
        assert!(ok(32 << 20, 500_000_000, 512, "0", 64).is_ok());
        assert!(ok(0, 0, 0, "", 0).is_ok());
        assert!(ok(0, 0, 0, "", -1).is_ok());
        assert!(ok(-5, 0, 0, "", 0).is_err());
        assert!(ok(1 << 20, 0, 0, "", 0).is_err());
        assert!(ok(0, -1, 0, "", 0).is_err());
        assert!(ok(0, 3_000_000_000, 0, "", 0).is_err());
        assert!(ok(0, 1_000_000, 0, "", 0).is_err());
        assert!(ok(0, 0, 1, "", 0).is_err());
        assert!(ok(0, 0, 0, "99", 0).is_err());
        assert!(ok(0, 0, 0, "3-1", 0).is_err());
        assert!(ok(0, 0, 0, "", -2).is_err());
        let mems_bad = Limits {
            cpuset_mems: "1".into(),
            ..Default::default()
        };
        assert!(check_limits(&mems_bad, &cpus, &mems).is_err());
        let e = ok(0, 0, 0, "99", 0).unwrap_err().to_string();
        assert!(e.contains("99") && e.contains("0-1"), "{e}");
    }

    #[test]
    fn shares_map_onto_weights_end_to_end() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(0), 0);
    }
}
