//! Image references, by docker's rules: `busybox` is
//! `docker.io/library/busybox:latest`; a first part with a `.` or a `:`,
//! or `localhost`, is a registry (`127.0.0.1:5000/name:tag`); a tag
//! follows the last `:` after the last `/`; `@sha256:` names a digest.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, or `host[:port]`.
    pub registry: String,
    /// `library/busybox`, `team/app`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid reference format: {0}")]
pub struct ReferenceError(String);

pub const DOCKER_HUB: &str = "docker.io";

impl Reference {
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let bad = || ReferenceError(mydocker::brief(s).to_string());
        if s.is_empty() || s.len() > 4096 || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d.strip_prefix("sha256:").ok_or_else(bad)?;
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                {
                    return Err(bad());
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.as_bytes()[0] != b'.'
                && t.as_bytes()[0] != b'-'
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(bad());
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        // Lowercase path components of [a-z0-9] joined by `.`, `_`, `__`
        // or dashes, as the distribution spec has them.
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        };
        let port_ok = match registry.split_once(':') {
            Some((host, port)) => {
                !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
            }
            None => true,
        };
        if !repository.split('/').all(component_ok) || registry.is_empty() || !port_ok {
            return Err(bad());
        }
        Ok(Self {
            registry,
            repository,
            tag: if tag.is_none() && digest.is_none() {
                Some("latest".into())
            } else {
                tag
            },
            digest,
        })
    }

    /// The repository as `docker images` shows it: `busybox` for the
    /// hub's library, `team/app` for the hub, `host:port/name` elsewhere.
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// `name:tag` as a tag is recorded (`busybox:latest`), if it has a tag.
    pub fn familiar_tag(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.familiar_name()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn dockers_normal_forms() {
        assert_eq!(p("busybox").to_string(), "docker.io/library/busybox:latest");
        assert_eq!(
            p("busybox:1.36").to_string(),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(p("team/app").to_string(), "docker.io/team/app:latest");
        assert_eq!(
            p("127.0.0.1:5000/bb:v1").to_string(),
            "127.0.0.1:5000/bb:v1"
        );
        assert_eq!(p("localhost/x").to_string(), "localhost/x:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("busybox@{d}"));
        assert_eq!(
            (r.tag.as_deref(), r.digest.as_deref()),
            (None, Some(d.as_str()))
        );
        assert_eq!(p("busybox").familiar_tag().unwrap(), "busybox:latest");
        assert_eq!(
            p("127.0.0.1:5000/a/b:c").familiar_tag().unwrap(),
            "127.0.0.1:5000/a/b:c"
        );
    }

    #[test]
    fn what_docker_refuses() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a b",
            "busybox@sha256:abc",
            "busybox@md5:0000",
            "x//y",
            "-x",
            "x:tag/y",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
