//! The restart policy (docker's `--restart`): whether an exit is followed
//! by another run, and how long the shim waits first.

use std::time::Duration;

use super::error::{invalid, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    No,
    Always,
    /// As `Always` here: what sets it apart in docker is a daemon's
    /// restart, and a shim does not outlive one.
    UnlessStopped,
    OnFailure,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub kind: Kind,
    /// For `OnFailure`: at most this many restarts; 0 is no bound.
    pub max_retries: u32,
}

impl Policy {
    /// From the wire's name and count, with docker's rules.
    pub fn parse(name: &str, max_retries: u32) -> Result<Self> {
        let kind = match name {
            "" | "no" => Kind::No,
            "always" => Kind::Always,
            "unless-stopped" => Kind::UnlessStopped,
            "on-failure" => Kind::OnFailure,
            other => {
                return Err(invalid(format!(
                    "invalid restart policy {}: no, always, unless-stopped or on-failure",
                    mydocker::brief(other)
                )))
            }
        };
        if max_retries > 0 && kind != Kind::OnFailure {
            return Err(invalid(format!(
                "maximum retry count cannot be used with restart policy '{name}'"
            )));
        }
        Ok(Self { kind, max_retries })
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::No => "no",
            Kind::Always => "always",
            Kind::UnlessStopped => "unless-stopped",
            Kind::OnFailure => "on-failure",
        }
    }

    pub fn is_none(&self) -> bool {
        self.kind == Kind::No
    }

    /// Whether a run that ended with `code`, after `restarts` restarts
    /// already, is followed by another.
    pub fn restarts_after(&self, code: i32, restarts: u32) -> bool {
        match self.kind {
            Kind::No => false,
            Kind::Always | Kind::UnlessStopped => true,
            Kind::OnFailure => code != 0 && (self.max_retries == 0 || restarts < self.max_retries),
        }
    }
}

/// docker's delays: 100 ms, doubling with each restart up to a minute, and
/// back to 100 ms after a run of at least 10 s.
#[derive(Debug, Default)]
pub struct Backoff {
    last: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const MOST: Duration = Duration::from_secs(60);
const LONG_RUN: Duration = Duration::from_secs(10);

impl Backoff {
    /// The delay before the next run, after one that lasted `ran`.
    pub fn next(&mut self, ran: Duration) -> Duration {
        self.last = if ran >= LONG_RUN || self.last.is_zero() {
            FIRST
        } else {
            (self.last * 2).min(MOST)
        };
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_and_their_rules() {
        assert_eq!(Policy::parse("", 0).unwrap().kind, Kind::No);
        assert_eq!(Policy::parse("no", 0).unwrap().kind, Kind::No);
        assert_eq!(Policy::parse("always", 0).unwrap().kind, Kind::Always);
        assert_eq!(
            Policy::parse("on-failure", 3).unwrap(),
            Policy {
                kind: Kind::OnFailure,
                max_retries: 3
            }
        );
        assert!(Policy::parse("sometimes", 0).is_err());
        let e = Policy::parse("always", 2).unwrap_err().to_string();
        assert!(e.contains("maximum retry count"), "{e}");
    }

    #[test]
    fn on_failure_counts_and_spares_success() {
        let p = Policy::parse("on-failure", 3).unwrap();
        assert!(p.restarts_after(1, 0));
        assert!(p.restarts_after(1, 2));
        assert!(!p.restarts_after(1, 3));
        assert!(!p.restarts_after(0, 0));
        let unbounded = Policy::parse("on-failure", 0).unwrap();
        assert!(unbounded.restarts_after(2, 1000));
        let always = Policy::parse("always", 0).unwrap();
        assert!(always.restarts_after(0, 1000));
        assert!(!Policy::default().restarts_after(1, 0));
    }

    #[test]
    fn delays_double_cap_and_reset_after_a_long_run() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        assert_eq!(b.next(short), Duration::from_millis(100));
        assert_eq!(b.next(short), Duration::from_millis(200));
        assert_eq!(b.next(short), Duration::from_millis(400));
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), Duration::from_secs(60));
        assert_eq!(b.next(Duration::from_secs(10)), Duration::from_millis(100));
    }
}
