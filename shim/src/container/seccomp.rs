//! A spec's seccomp profile, compiled by the shim into BPF programs the
//! init loads (harden.rs) as the last thing before it execs.
//!
//! Compiled with `seccompiler` (rust-vmm's, Firecracker's): pure Rust, so
//! the static binaries need no C library beside them, where libseccomp
//! would need its static archive built for a static PIE. A seccompiler
//! filter has one action on a match and one otherwise, so a profile of
//! several actions becomes a stack of filters, which the kernel runs all
//! of, taking the most severe answer: the first answers the profile's
//! default action for every system call no rule names, and lets through
//! those that a rule names (with that rule's conditions); then one filter
//! per other action answers it for its rules' calls and lets everything
//! else through. The names are this kernel ABI's (build.rs reads them from
//! its headers); names it does not have are skipped, as runc skips those
//! libseccomp does not know.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompOperator as Op};
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use crate::process::{default_filter, syscalls};

/// What a profile cannot be compiled for.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("linux.seccomp: {0}")]
    Invalid(String),
    /// The host cannot do what the profile asks.
    #[error("linux.seccomp: {0}")]
    Unsupported(String),
}

fn target() -> Result<TargetArch, SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else {
        Err(SeccompError::Unsupported(
            "no seccomp support on this architecture".into(),
        ))
    }
}

fn action(a: A, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    // runc's default errno for an action that returns one.
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match a {
        A::ScmpActAllow => SeccompAction::Allow,
        A::ScmpActErrno => SeccompAction::Errno(errno),
        A::ScmpActKill | A::ScmpActKillThread => SeccompAction::KillThread,
        A::ScmpActKillProcess => SeccompAction::KillProcess,
        A::ScmpActTrap => SeccompAction::Trap,
        A::ScmpActTrace => SeccompAction::Trace(errno),
        A::ScmpActLog => SeccompAction::Log,
        A::ScmpActNotify => {
            return Err(SeccompError::Invalid(
                "SCMP_ACT_NOTIFY is not supported yet".into(),
            ))
        }
    })
}

fn condition(a: &oci_spec::runtime::LinuxSeccompArg) -> Result<SeccompCondition, SeccompError> {
    let op = match a.op() {
        Op::ScmpCmpNe => SeccompCmpOp::Ne,
        Op::ScmpCmpLt => SeccompCmpOp::Lt,
        Op::ScmpCmpLe => SeccompCmpOp::Le,
        Op::ScmpCmpEq => SeccompCmpOp::Eq,
        Op::ScmpCmpGe => SeccompCmpOp::Ge,
        Op::ScmpCmpGt => SeccompCmpOp::Gt,
        // The OCI form: value is the mask, valueTwo what the masked
        // argument must equal.
        Op::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
    };
    let value = match a.op() {
        Op::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
        _ => a.value(),
    };
    let index = u8::try_from(a.index())
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| SeccompError::Invalid(format!("argument index {} is not 0-5", a.index())))?;
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| SeccompError::Invalid(e.to_string()))
}

/// The rules of one action: each system call's alternatives (an empty
/// list: unconditionally).
type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// The programs for `profile`, to be loaded in order; empty when it lets
/// everything through.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<Vec<libc::sock_filter>>, SeccompError> {
    if profile.listener_path().is_some() {
        return Err(SeccompError::Invalid(
            "listenerPath is not supported yet".into(),
        ));
    }
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(SeccompError::Invalid("flags are not supported yet".into()));
    }
    let arch = target()?;
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    // Per action, its rules; and every named call, for the first filter.
    let mut by_action: Vec<(SeccompAction, Rules, Vec<i64>)> = Vec::new();
    let mut named = Rules::new();
    let mut named_always: Vec<i64> = Vec::new();
    for sc in profile.syscalls().iter().flatten() {
        let act = action(sc.action(), sc.errno_ret())?;
        let conds = sc
            .args()
            .iter()
            .flatten()
            .map(condition)
            .collect::<Result<Vec<_>, _>>()?;
        // A rule of the default's action says nothing the default does
        // not: left out (in the first filter it would let the call through).
        if act == default {
            continue;
        }
        // Conditions on distinct arguments all hold at once; several on the
        // same argument are alternatives, as runc reads them (one rule each).
        let mut indices: Vec<usize> = sc.args().iter().flatten().map(|a| a.index()).collect();
        indices.sort_unstable();
        let repeated = indices.windows(2).any(|w| w[0] == w[1]);
        let rules: Vec<SeccompRule> = if conds.is_empty() {
            Vec::new()
        } else if repeated {
            conds
                .into_iter()
                .map(|c| SeccompRule::new(vec![c]))
                .collect::<Result<_, _>>()
                .map_err(|e| SeccompError::Invalid(e.to_string()))?
        } else {
            vec![SeccompRule::new(conds).map_err(|e| SeccompError::Invalid(e.to_string()))?]
        };
        let slot = match by_action.iter().position(|(a, ..)| *a == act) {
            Some(i) => i,
            None => {
                by_action.push((act.clone(), Rules::new(), Vec::new()));
                by_action.len() - 1
            }
        };
        for name in sc.names() {
            let Some(nr) = syscalls::number(name) else {
                continue;
            };
            let (_, by_nr, always) = &mut by_action[slot];
            if rules.is_empty() {
                always.push(nr);
                by_nr.insert(nr, Vec::new());
                named_always.push(nr);
                named.insert(nr, Vec::new());
                continue;
            }
            // A call already matched unconditionally stays so.
            if !always.contains(&nr) {
                by_nr.entry(nr).or_default().extend(rules.iter().cloned());
            }
            if !named_always.contains(&nr) {
                named.entry(nr).or_default().extend(rules.iter().cloned());
            }
        }
    }
    let mut filters: Vec<(Rules, SeccompAction, SeccompAction)> = Vec::new();
    if default != SeccompAction::Allow {
        filters.push((named, default.clone(), SeccompAction::Allow));
    }
    for (act, rules, _) in by_action {
        if act == SeccompAction::Allow || act == default || rules.is_empty() {
            continue;
        }
        filters.push((rules, SeccompAction::Allow, act));
    }
    let mut progs = Vec::new();
    if cfg!(target_arch = "x86_64") && !filters.is_empty() {
        progs.push(default_filter::x32_guard());
    }
    let compiled: Vec<Vec<libc::sock_filter>> = filters
        .into_iter()
        .map(|(rules, mismatch, matched)| {
            let f = SeccompFilter::new(rules, mismatch, matched, arch)
                .map_err(|e| SeccompError::Invalid(e.to_string()))?;
            let prog: seccompiler::BpfProgram = f
                .try_into()
                .map_err(|e: seccompiler::BackendError| SeccompError::Invalid(e.to_string()))?;
            if prog.len() > u16::MAX as usize {
                return Err(SeccompError::Invalid("the filter is too long".into()));
            }
            Ok(prog
                .iter()
                .map(|i| libc::sock_filter {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect())
        })
        .collect::<Result<_, _>>()?;
    progs.extend(compiled);
    Ok(progs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    use crate::process::bpf_test::{self, native_arch, run};

    /// The stack's answer on this machine's architecture.
    fn verdict(progs: &[Vec<libc::sock_filter>], nr: i64, args: [u64; 6]) -> u32 {
        bpf_test::verdict(progs, nr, native_arch(), args)
    }

    #[test]
    fn the_stack_answers_as_the_profile_says() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mkdirat"], "action": "SCMP_ACT_LOG"},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 1, "value": 255, "valueTwo": 9, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        }));
        let progs = compile(&p).unwrap();
        let allow = libc::SECCOMP_RET_ALLOW;
        let errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
        let n = |name| syscalls::number(name).unwrap();
        assert_eq!(verdict(&progs, n("read"), [0; 6]), allow);
        assert_eq!(verdict(&progs, n("clone3"), [0; 6]), errno(libc::ENOSYS));
        assert_eq!(verdict(&progs, n("openat"), [0; 6]), errno(libc::EPERM));
        assert_eq!(verdict(&progs, n("personality"), [8, 0, 0, 0, 0, 0]), allow);
        assert_eq!(
            verdict(&progs, n("personality"), [9, 0, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
        // A 64-bit argument: its high word counts.
        assert_eq!(
            verdict(&progs, n("personality"), [8 | 1 << 32, 0, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(verdict(&progs, n("mkdirat"), [0; 6]), libc::SECCOMP_RET_LOG);
        assert_eq!(verdict(&progs, n("socket"), [2, 0, 0, 0, 0, 0]), allow);
        assert_eq!(
            verdict(&progs, n("socket"), [40, 0, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(verdict(&progs, n("kill"), [1, 0x109, 0, 0, 0, 0]), allow);
        assert_eq!(
            verdict(&progs, n("kill"), [1, 15, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
        // Another architecture's calls: the process is killed.
        assert_eq!(
            run(progs.last().unwrap(), 0, 0x4000_0003, [0; 6]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        // A deny-list: everything else goes through.
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let progs = compile(&p).unwrap();
        assert_eq!(progs.len(), usize::from(cfg!(target_arch = "x86_64")) + 1);
        assert_eq!(verdict(&progs, n("mkdirat"), [0; 6]), errno(libc::EPERM));
        assert_eq!(verdict(&progs, n("openat"), [0; 6]), allow);
        // A rule that says what the default says denies, not allows.
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO"}
            ]
        }));
        let progs = compile(&p).unwrap();
        assert_eq!(verdict(&progs, n("mount"), [0; 6]), errno(libc::EPERM));
        assert_eq!(verdict(&progs, n("read"), [0; 6]), allow);
        // Two conditions on one argument are alternatives (runc's).
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 40, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}
            ]}]
        }));
        let progs = compile(&p).unwrap();
        assert_eq!(
            verdict(&progs, n("socket"), [40, 0, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(
            verdict(&progs, n("socket"), [16, 0, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(verdict(&progs, n("socket"), [2, 0, 0, 0, 0, 0]), allow);
        // x32's numbers end the process, where the deny-list would let
        // them through.
        if cfg!(target_arch = "x86_64") {
            let x32_mkdirat = 0x4000_0000 | n("mkdirat");
            assert_eq!(
                verdict(&progs, x32_mkdirat, [0; 6]),
                libc::SECCOMP_RET_KILL_PROCESS
            );
        }
    }

    #[test]
    fn a_profile_of_several_actions_is_a_stack() {
        // An allow-list with a default errno, one call answered ENOSYS,
        // one with an argument condition.
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        let progs = compile(&p).unwrap();
        // (x86_64's x32 guard,) the default's filter, and ENOSYS's.
        let x32 = usize::from(cfg!(target_arch = "x86_64"));
        assert_eq!(progs.len(), x32 + 2);
        // Allow-all: nothing to load.
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert!(compile(&p).unwrap().is_empty());
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(compile(&p).is_err());
    }
}
