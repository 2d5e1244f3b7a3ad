//! `logs`: the container's output from its CRI-format log file, which the
//! shim writes whether or not anyone is attached.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::containers::{Status, Target};

pub struct LogsOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
    /// Only lines written at or after this time, and before `until`.
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

/// A time as docker's `--since` and `--until` take it: RFC 3339 (`Z` or
/// no zone: UTC), Unix seconds (with a fraction), or a duration back from
/// now (`10m`, `1h30m`, `2s`).
pub fn parse_time(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s.trim_end_matches('Z')) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs >= 0.0 && secs.is_finite() {
            return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    match humantime::parse_duration(s) {
        Ok(d) => now
            .checked_sub(d)
            .ok_or_else(|| format!("{s:?}: too far back")),
        Err(_) => Err(format!(
            "invalid value {s:?} for a time: RFC 3339, Unix seconds, or a duration (10m)"
        )),
    }
}

impl LogsOptions {
    /// Whether `l`, by its time, is wanted.
    fn wanted(&self, l: &Line) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Ok(t) = humantime::parse_rfc3339_weak(l.timestamp.trim_end_matches('Z')) else {
            return true;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// One logical line (or the unfinished end of one) of one stream.
#[derive(Debug, PartialEq)]
struct Line {
    stderr: bool,
    timestamp: String,
    content: Vec<u8>,
    complete: bool,
}

/// Turns CRI records into logical lines: `P` records are joined with the
/// records of the same stream that follow, up to an `F` record.
#[derive(Default)]
struct Parser {
    carry: Vec<u8>,
    partial: [Option<Line>; 2],
}

impl Parser {
    /// Feeds bytes read from the log; returns the lines they complete.
    fn feed(&mut self, data: &[u8], out: &mut Vec<Line>) {
        self.carry.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = self.carry[start..].iter().position(|b| *b == b'\n') {
            let rec = self.carry[start..start + nl].to_vec();
            start += nl + 1;
            self.record(&rec, out);
        }
        self.carry.drain(..start);
    }

    fn record(&mut self, rec: &[u8], out: &mut Vec<Line>) {
        let mut parts = rec.splitn(4, |b| *b == b' ');
        let (Some(ts), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return;
        };
        let content = parts.next().unwrap_or_default();
        let stderr = stream == b"stderr";
        let slot = &mut self.partial[stderr as usize];
        let line = slot.get_or_insert_with(|| Line {
            stderr,
            timestamp: String::from_utf8_lossy(ts).into_owned(),
            content: Vec::new(),
            complete: false,
        });
        line.content.extend_from_slice(content);
        if tag == b"F" {
            let mut l = slot.take().expect("just inserted");
            l.complete = true;
            out.push(l);
        }
    }

    /// What is left unfinished (the container did not end its last line).
    fn flush(&mut self, out: &mut Vec<Line>) {
        for slot in &mut self.partial {
            if let Some(l) = slot.take() {
                out.push(l);
            }
        }
    }
}

fn emit(lines: &[Line], timestamps: bool) {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    for l in lines {
        let w: &mut dyn Write = if l.stderr { &mut stderr } else { &mut stdout };
        if timestamps {
            let _ = write!(w, "{} ", l.timestamp);
        }
        let _ = w.write_all(&l.content);
        if l.complete {
            let _ = w.write_all(b"\n");
        }
    }
    let _ = stdout.flush();
}

pub async fn logs(t: &Target, opts: LogsOptions) -> anyhow::Result<()> {
    let path = t.record()?.dir.join(mydocker::state::LOG_FILE);
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = Vec::new();
    // The backlog: all of it, or its last N lines.
    let mut tail: VecDeque<Line> = VecDeque::new();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 && !opts.follow {
            // An unfinished last line counts as a line too.
            parser.flush(&mut lines);
        }
        parser.feed(&buf[..n], &mut lines);
        let done = n == 0;
        for l in lines.drain(..).filter(|l| opts.wanted(l)) {
            match opts.tail {
                Some(0) => {}
                Some(k) => {
                    if tail.len() == k {
                        tail.pop_front();
                    }
                    tail.push_back(l);
                }
                None => emit(&[l], opts.timestamps),
            }
        }
        if done {
            break;
        }
    }
    emit(tail.make_contiguous(), opts.timestamps);
    if !opts.follow {
        return Ok(());
    }
    loop {
        // Read what is there, then decide: the exit is recorded only after
        // the last output was written, so nothing is missed.
        let running = matches!(
            t.record().map(|r| r.status()),
            Ok(Status::Running | Status::Created)
        );
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            parser.feed(&buf[..n], &mut lines);
            lines.retain(|l| opts.wanted(l));
            emit(&lines, opts.timestamps);
            lines.clear();
        }
        if !running {
            parser.flush(&mut lines);
            lines.retain(|l| opts.wanted(l));
            emit(&lines, opts.timestamps);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_docker_takes_them() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: &str| parse_time(s, now).unwrap();
        assert_eq!(at("10m"), now - Duration::from_secs(600));
        assert_eq!(at("1h30m"), now - Duration::from_secs(5400));
        assert_eq!(at("999"), SystemTime::UNIX_EPOCH + Duration::from_secs(999));
        assert_eq!(
            at("1970-01-01T00:16:40Z"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1000)
        );
        assert_eq!(
            at("1970-01-01T00:16:40.5Z"),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_500)
        );
        assert!(parse_time("yesterday", now).is_err());
    }

    #[test]
    fn partial_records_join_per_stream() {
        let mut p = Parser::default();
        let mut out = Vec::new();
        p.feed(b"t1 stdout P hel", &mut out);
        assert!(out.is_empty());
        p.feed(
            b"lo\nt2 stderr F oops\nt3 stdout F  world\nt4 stdout F \n",
            &mut out,
        );
        assert_eq!(out.len(), 3);
        assert_eq!(
            (out[0].stderr, out[0].content.as_slice()),
            (true, &b"oops"[..])
        );
        assert_eq!(out[1].content, b"hello world");
        assert_eq!(out[1].timestamp, "t1");
        assert!(out[1].complete);
        assert_eq!(out[2].content, b"");
        p.feed(b"t5 stdout P end", &mut out);
        p.feed(b"\n", &mut out);
        let mut rest = Vec::new();
        p.flush(&mut rest);
        assert_eq!(rest.len(), 1);
        assert!(!rest[0].complete);
        assert_eq!(rest[0].content, b"end");
    }
}
