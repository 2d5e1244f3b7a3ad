//! The unit and limit parsers of the CLI and the shim (`mydocker::units`).
//!
//! The input is read twice: as text for the three parsers (`parse_bytes`,
//! `parse_cpus`, `parse_cpu_list`), and as raw material (`arbitrary`) for
//! the functions that take numbers and lists (`format_list`, `check_limits`,
//! `shares_to_weight`, `cfs_quota_us`). Each result is checked against an
//! independent reading of what the function promises (exact integer
//! arithmetic where the code uses floats), not against a copy of the code.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mydocker::units::{
    cfs_quota_us, check_limits, format_list, parse_bytes, parse_cpu_list, parse_cpus,
    shares_to_weight, Limits, UnitError, CPU_PERIOD_US, MIN_MEMORY_BYTES,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_parse_bytes(&text);
    check_parse_cpus(&text);
    check_parse_cpu_list(&text);

    let mut u = Unstructured::new(data);
    let _ = check_numbers(&mut u);
});

/// Every error is one line: they end up in one-line logs and CLI output.
fn check_err(e: &UnitError) {
    let s = e.to_string();
    assert!(!s.contains('\n'), "multi-line error: {s:?}");
    // Bounded whatever the input: 64 quoted characters, each escaped at most
    // to 10 (`\u{10ffff}`), and the text around them.
    assert!(s.len() < 1000, "{} bytes of error: {s:.1000}", s.len());
}

/// A decimal `digits[.digits]` as an exact fraction `num / 10^scale`, or
/// `None` when it is not one (or is too long for u128 arithmetic).
fn decimal(s: &str) -> Option<(u128, u32)> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || (s.contains('.') && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Leading zeros carry no value; dropping them keeps long inputs exact.
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    // 25 digits: below 2^84, room for a 2^40 or 10^9 factor in a u128.
    if digits.len() > 25 || frac.len() > 25 {
        return None;
    }
    let num = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some((num, frac.len() as u32))
}

fn check_parse_bytes(s: &str) {
    let got = parse_bytes(s);
    if let Err(e) = &got {
        check_err(e);
    }
    if let Ok(n) = got {
        assert!(n >= 0, "parse_bytes({s:?}) = {n}");
    }
    // Suffixes are case-insensitive.
    let upper = parse_bytes(&s.to_ascii_uppercase());
    assert_eq!(got.is_ok(), upper.is_ok(), "{s:?}: case changes validity");
    if let (Ok(a), Ok(b)) = (&got, &upper) {
        assert_eq!(a, b, "{s:?}: case changes the value");
    }

    // An independent reading of the documented syntax: a decimal number
    // (no sign, no exponent, no bare dot) and an optional binary suffix.
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let shift = match suffix {
        "" | "b" => Some(0),
        "k" | "kb" | "kib" => Some(10),
        "m" | "mb" | "mib" => Some(20),
        "g" | "gb" | "gib" => Some(30),
        "t" | "tb" | "tib" => Some(40),
        _ => None,
    };
    let well_formed = shift.is_some()
        && !num.is_empty()
        && !num.starts_with('.')
        && !num.ends_with('.')
        && num.matches('.').count() <= 1;
    if !well_formed {
        assert!(got.is_err(), "parse_bytes({s:?}) = {got:?}, not a size");
        return;
    }
    let shift = shift.unwrap();
    let Some((frac_num, scale)) = decimal(num) else {
        // Well-formed, but too long for the exact check below.
        return;
    };
    // The exact value is frac_num * 2^shift / 10^scale bytes.
    let pow10 = 10u128.pow(scale);
    let exact_floor = (frac_num << shift) / pow10;
    let exact_is_int = (frac_num << shift) % pow10 == 0;
    const MAX: u128 = i64::MAX as u128;
    const F64_EXACT: u128 = 1 << 53;

    if scale == 0 && frac_num <= F64_EXACT && exact_floor <= MAX {
        // A whole number of units is exact (2^53 and below are exact f64s,
        // and the multipliers are powers of two).
        assert_eq!(got, Ok(exact_floor as i64), "parse_bytes({s:?})");
        return;
    }
    if exact_floor < (1 << 52) {
        // Small: the float result is within one byte of the truth.
        let n = got.unwrap_or_else(|e| panic!("parse_bytes({s:?}): {e}")) as u128;
        // Whole below 2^52: the number of units is an exact f64, so the
        // result is exact; otherwise it is the floor or one more.
        let ok = n == exact_floor || (!exact_is_int && n == exact_floor + 1);
        assert!(ok, "parse_bytes({s:?}) = {n}, exact {exact_floor}");
        return;
    }
    // Large: within f64 precision of the truth, and refused when it does
    // not fit an i64 (a value within f64 rounding of 2^63 may be refused).
    let tol = 1 + (exact_floor >> 50);
    match got {
        Ok(n) => {
            let n = n as u128;
            assert!(
                n.abs_diff(exact_floor) <= tol,
                "parse_bytes({s:?}) = {n}, exact {exact_floor}"
            );
            assert!(
                exact_floor <= MAX,
                "parse_bytes({s:?}) = {n}: over i64::MAX"
            );
        }
        Err(_) => assert!(
            exact_floor + tol > MAX,
            "parse_bytes({s:?}) refused {exact_floor}"
        ),
    }
}

fn check_parse_cpus(s: &str) {
    let got = parse_cpus(s);
    match &got {
        Err(e) => check_err(e),
        Ok(n) => {
            assert!(*n > 0, "parse_cpus({s:?}) = {n}");
            // Its quota is what cgroups get: never negative.
            assert!(cfs_quota_us(*n) >= 0);
        }
    }
    let t = s.trim();
    if t.is_empty()
        || !t.chars().all(|c| c.is_ascii_digit() || c == '.')
        || t.matches('.').count() > 1
    {
        assert!(got.is_err(), "parse_cpus({s:?}) = {got:?}");
        return;
    }
    // A decimal with digits on at least one side of the dot ("1.", ".5").
    let padded = match (t.starts_with('.'), t.ends_with('.')) {
        (true, true) => {
            assert!(got.is_err(), "parse_cpus({s:?}) = {got:?}");
            return;
        }
        (true, false) => format!("0{t}"),
        (false, true) => format!("{t}0"),
        (false, false) => t.to_string(),
    };
    let Some((num, scale)) = decimal(&padded) else {
        return;
    };
    // Exact billionths: num * 10^9 / 10^scale.
    let (nano_floor, exact) = if scale <= 9 {
        (num * 10u128.pow(9 - scale), true)
    } else {
        let d = 10u128.pow(scale - 9);
        (num / d, num % d == 0)
    };
    if nano_floor <= 1_000_000_000_000_000 {
        if exact && scale <= 9 {
            // Up to nine decimals, the value is exact (far below 2^53).
            let want = if nano_floor == 0 {
                None
            } else {
                Some(nano_floor as i64)
            };
            assert_eq!(got.as_ref().ok(), want.as_ref(), "parse_cpus({s:?})");
        } else {
            // Rounded to the nearest billionth, give or take one.
            match got {
                Ok(n) => assert!(
                    (n as u128).abs_diff(nano_floor) <= 1,
                    "parse_cpus({s:?}) = {n}, exact {nano_floor}+"
                ),
                Err(_) => assert!(nano_floor == 0, "parse_cpus({s:?}) refused"),
            }
        }
    } else {
        // Within f64 precision; refused when over i64::MAX (or within f64
        // rounding of it).
        // Rounding to the nearest billionth, plus f64's relative error.
        let tol = 1 + (nano_floor >> 50);
        match got {
            Ok(n) => {
                assert!(
                    (n as u128).abs_diff(nano_floor) <= tol,
                    "parse_cpus({s:?}) = {n}, exact {nano_floor}"
                );
                assert!(
                    nano_floor <= i64::MAX as u128,
                    "parse_cpus({s:?}) = {n}: over i64::MAX"
                );
            }
            Err(_) => assert!(
                nano_floor + tol > i64::MAX as u128,
                "parse_cpus({s:?}) refused {nano_floor}"
            ),
        }
    }
}

/// The documented syntax of a cpuset list, read independently: comma
/// separated CPUs and `a-b` ranges (a <= b), each CPU below 4096, blanks
/// around numbers allowed, at most 16 KiB.
fn cpu_list_oracle(s: &str) -> Option<BTreeSet<u32>> {
    let t = s.trim();
    if t.is_empty() || t.len() > 16 * 1024 {
        return None;
    }
    let num = |x: &str| -> Option<u32> {
        let x = x.trim();
        // Like Go's strconv and Rust's parse, an explicit '+' is taken.
        let x = x.strip_prefix('+').unwrap_or(x);
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v = x.trim_start_matches('0');
        if v.len() > 4 {
            return None;
        }
        let v: u32 = if v.is_empty() { 0 } else { v.parse().ok()? };
        (v < 4096).then_some(v)
    };
    let mut set = BTreeSet::new();
    for part in t.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if a > b {
            return None;
        }
        set.extend(a..=b);
    }
    Some(set)
}

fn check_parse_cpu_list(s: &str) {
    let got = parse_cpu_list(s);
    if let Err(e) = &got {
        check_err(e);
        // Errors quote the list cut short (`brief`), whatever its size.
        if let UnitError::CpuList(q) = e {
            assert_eq!(q, &mydocker::brief(s));
        } else {
            panic!("parse_cpu_list({s:?}): {e:?}");
        }
    }
    let want = cpu_list_oracle(s);
    assert_eq!(
        got.as_ref().ok(),
        want.map(|w| w.into_iter().collect::<Vec<_>>()).as_ref(),
        "parse_cpu_list({s:?})"
    );
    if let Ok(v) = got {
        // Ascending, unique, not empty, within the 4096 CPUs.
        assert!(!v.is_empty() && v.windows(2).all(|w| w[0] < w[1]) && v[v.len() - 1] < 4096);
        // format_list writes a list that parses back to the same CPUs.
        let text = format_list(&v);
        assert_eq!(parse_cpu_list(&text).as_ref(), Ok(&v), "{s:?} -> {text:?}");
        assert_eq!(format_list(&parse_cpu_list(&text).unwrap()), text);
    }
}

/// Expands what `format_list` wrote, in order, without its parser.
fn expand(list: &str) -> Vec<u32> {
    if list.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut prev_end: Option<u32> = None;
    for part in list.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                // A range has at least two CPUs, and is written a-b.
                assert!(a < b, "{list:?}: range {part:?}");
                (a, b)
            }
            None => {
                let a = part.parse().unwrap();
                (a, a)
            }
        };
        // Runs are maximal: no item continues the one before it.
        if let Some(e) = prev_end {
            assert!(
                e.checked_add(1) != Some(a),
                "{list:?}: {part:?} continues a run"
            );
        }
        prev_end = Some(b);
        out.extend(a..=b);
    }
    out
}

fn check_numbers(u: &mut Unstructured) -> arbitrary::Result<()> {
    // format_list of any list: it writes every CPU, in order, as maximal
    // runs of consecutive numbers.
    let cpus = Vec::<u32>::arbitrary(u)?;
    let text = format_list(&cpus);
    assert_eq!(expand(&text), cpus, "format_list({cpus:?}) = {text:?}");

    // shares_to_weight: v1 shares 2..=262144 onto v2 weights 1..=10000,
    // never decreasing, ends onto ends; 0 (unset) stays 0.
    let shares = u64::arbitrary(u)?;
    let w = shares_to_weight(shares);
    if shares == 0 {
        assert_eq!(w, 0);
    } else {
        assert!(
            (1..=10_000).contains(&w),
            "shares_to_weight({shares}) = {w}"
        );
        assert!(w <= shares_to_weight(shares.saturating_add(1)), "{shares}");
        if shares > 2 {
            assert!(w >= shares_to_weight(shares - 1), "{shares}");
        }
        // Within one of the straight line through (2, 1) and (262144, 10000).
        let s = shares.clamp(2, 262_144) as f64;
        let line = 1.0 + (s - 2.0) * 9999.0 / 262_142.0;
        assert!(
            (w as f64 - line).abs() < 1.0,
            "shares_to_weight({shares}) = {w}"
        );
    }
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(262_144), 10_000);

    // cfs_quota_us: microseconds per CPU_PERIOD_US for n billionths of a
    // CPU, truncated toward zero, for any i64.
    let nano = i64::arbitrary(u)?;
    let q = cfs_quota_us(nano) as i128;
    let exact = nano as i128 * CPU_PERIOD_US as i128; // in 1e-9 us
    let b = 1_000_000_000i128;
    if nano >= 0 {
        assert!(
            q * b <= exact && exact < (q + 1) * b,
            "cfs_quota_us({nano}) = {q}"
        );
    } else {
        assert!(
            q * b >= exact && exact > (q - 1) * b,
            "cfs_quota_us({nano}) = {q}"
        );
    }

    check_limits_case(u)
}

/// A cpuset list for check_limits: well-formed (from CPUs) or any text.
fn cpuset(u: &mut Unstructured) -> arbitrary::Result<String> {
    Ok(match u8::arbitrary(u)? % 3 {
        0 => String::new(),
        1 => format_list(
            &Vec::<u8>::arbitrary(u)?
                .into_iter()
                .map(u32::from)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>(),
        ),
        _ => String::arbitrary(u)?,
    })
}

fn check_limits_case(u: &mut Unstructured) -> arbitrary::Result<()> {
    // Values near the edges are picked often; others anywhere.
    let memory = *u.choose(&[0, MIN_MEMORY_BYTES - 1, MIN_MEMORY_BYTES, -1, i64::MAX])?;
    let memory = if bool::arbitrary(u)? {
        memory
    } else {
        i64::arbitrary(u)?
    };
    let nano = if bool::arbitrary(u)? {
        i64::from(u.int_in_range(-1i16..=5000)?) * 1_000_000
    } else {
        i64::arbitrary(u)?
    };
    let shares = if bool::arbitrary(u)? {
        u64::from(u.int_in_range(0..=300u16)?) * 1000 + u64::from(u.int_in_range(0..=3u8)?)
    } else {
        u64::arbitrary(u)?
    };
    let pids = i64::from(i8::arbitrary(u)?);
    let pids = if bool::arbitrary(u)? {
        pids
    } else {
        i64::arbitrary(u)?
    };
    let limits = Limits {
        memory_limit_bytes: memory,
        nano_cpus: nano,
        cpu_shares: shares,
        cpuset_cpus: cpuset(u)?,
        cpuset_mems: cpuset(u)?,
        pids_limit: pids,
        cgroup_parent: String::arbitrary(u)?,
    };
    let online_cpus: Vec<u32> = Vec::<u8>::arbitrary(u)?
        .into_iter()
        .map(u32::from)
        .collect();
    let online_mems: Vec<u32> = Vec::<u8>::arbitrary(u)?
        .into_iter()
        .map(u32::from)
        .collect();

    let before = limits.clone();
    let got = check_limits(&limits, &online_cpus, &online_mems);
    assert_eq!(limits, before);
    if let Err(e) = &got {
        check_err(e);
    }

    // docker's rules, read independently.
    let n_cpus = online_cpus.len().max(1) as i128;
    let subset = |list: &str, have: &[u32]| {
        list.is_empty()
            || cpu_list_oracle(list).is_some_and(|want| want.iter().all(|c| have.contains(c)))
    };
    let want_ok = (memory == 0 || memory >= 6 << 20)
        // From 0.01 CPU (a 1 ms quota) to all the online CPUs.
        && (nano == 0 || (10_000_000..=n_cpus * 1_000_000_000).contains(&(nano as i128)))
        && (shares == 0 || (2..=262_144).contains(&shares))
        && subset(&limits.cpuset_cpus, &online_cpus)
        && subset(&limits.cpuset_mems, &online_mems)
        && pids >= -1;
    assert_eq!(
        got.is_ok(),
        want_ok,
        "check_limits({limits:?}, {online_cpus:?}, {online_mems:?}) = {got:?}"
    );
    if got.is_ok() && nano > 0 {
        let q = cfs_quota_us(nano) as u64;
        assert!(q >= 1000 && q <= n_cpus as u64 * CPU_PERIOD_US);
    }
    Ok(())
}
