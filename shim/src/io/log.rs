//! The container's log, in the CRI format that `crictl logs` and the
//! kubelet read: every byte of output is appended here, attached or not.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::path::Path;
use std::time::SystemTime;

use crate::stream::StreamKind;

/// Lines at least this long are written straight from the output (their
/// records' headers beside them in one `writev`); shorter ones are
/// gathered into writes of about this size.
const LOG_GATHER: usize = 64 * 1024;
/// The longest log record: longer lines are split into partial records,
/// as containerd (and docker's json-file) do.
const LOG_RECORD: usize = 16 * 1024;

/// The log file, in the CRI format read by `crictl logs` and kubelet:
/// `<RFC 3339 nano timestamp> <stdout|stderr> <F|P> <content>`, one record
/// per line; `P` marks a partial line, continued by the next record of the
/// same stream. Content is written as the container produced it.
pub struct LogWriter {
    file: File,
    buf: Vec<u8>,
    failed: bool,
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file,
            buf: Vec::new(),
            failed: false,
        })
    }

    /// Appends `data` as CRI records, a line longer than [`LOG_RECORD`]
    /// split into partial ones as containerd does (log shippers read lines
    /// into fixed buffers). A long line (a terminal's output has few
    /// newlines) is written from the output's own buffer, its records'
    /// headers beside it in one `writev`: a batch of megabytes costs the
    /// kernel's one copy, and the record buffer stays small.
    pub fn write(&mut self, kind: StreamKind, data: &[u8]) {
        self.write_at(SystemTime::now(), kind, data);
    }

    fn write_at(&mut self, at: SystemTime, kind: StreamKind, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let headers = CriHeaders::new(at, kind);
        let mut result = Ok(());
        self.buf.clear();
        for (line, tag) in cri_lines(data) {
            let records = cri_records(line, tag);
            if line.len() >= LOG_GATHER {
                if !self.buf.is_empty() {
                    result = result.and_then(|()| self.file.write_all(&self.buf));
                    self.buf.clear();
                }
                result = result.and_then(|()| write_records(&mut self.file, &headers, records));
                continue;
            }
            for (record, tag) in records {
                self.buf.extend_from_slice(headers.get(tag));
                self.buf.extend_from_slice(record);
                self.buf.push(b'\n');
            }
            if self.buf.len() >= LOG_GATHER {
                result = result.and_then(|()| self.file.write_all(&self.buf));
                self.buf.clear();
            }
        }
        if !self.buf.is_empty() {
            result = result.and_then(|()| self.file.write_all(&self.buf));
        }
        if let Err(e) = result {
            if !self.failed {
                tracing::warn!(error = %e, "writing the container log failed");
                self.failed = true;
            }
        }
    }
}

impl LogWriter {
    /// Hands what was written to the kernel (at the exit: nothing is
    /// buffered here between writes, this is for the file's own sake).
    pub fn flush(&mut self) {
        let _ = self.file.flush();
    }
}

/// Writes records from their own memory, beside their headers: 64
/// records (1 MiB) a `writev`.
fn write_records<'a>(
    file: &mut File,
    headers: &CriHeaders,
    records: impl Iterator<Item = (&'a [u8], u8)>,
) -> io::Result<()> {
    const PER_CALL: usize = 64;
    let mut iov = Vec::with_capacity(3 * PER_CALL);
    for (record, tag) in records {
        iov.push(IoSlice::new(headers.get(tag)));
        iov.push(IoSlice::new(record));
        iov.push(IoSlice::new(b"\n"));
        if iov.len() == 3 * PER_CALL {
            write_all_vectored(file, &mut iov)?;
            iov.clear();
        }
    }
    write_all_vectored(file, &mut iov)
}

fn write_all_vectored(file: &mut File, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The lines of one chunk, without their newlines, tagged `F`; a last
/// partial line tagged `P`.
fn cri_lines(data: &[u8]) -> impl Iterator<Item = (&[u8], u8)> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => ((&rest[..i], b'F'), &rest[i + 1..]),
            None => ((rest, b'P'), &rest[rest.len()..]),
        };
        rest = next;
        Some(line)
    })
}

/// One line's records: pieces of at most [`LOG_RECORD`], all but the last
/// partial (`P`), the last tagged as the line is. An empty line is one
/// empty record.
fn cri_records(line: &[u8], tag: u8) -> impl Iterator<Item = (&[u8], u8)> {
    let records = line.len().div_ceil(LOG_RECORD).max(1);
    (0..records).map(move |i| {
        let record = &line[i * LOG_RECORD..line.len().min((i + 1) * LOG_RECORD)];
        (record, if i + 1 == records { tag } else { b'P' })
    })
}

/// The two headers of one chunk's records, `<time> <stream> <F|P> `: its
/// records share the time.
struct CriHeaders {
    full: Vec<u8>,
    partial: Vec<u8>,
}

impl CriHeaders {
    fn new(at: SystemTime, kind: StreamKind) -> Self {
        let ts = humantime::format_rfc3339_nanos(at);
        Self {
            full: format!("{ts} {} F ", kind.name()).into_bytes(),
            partial: format!("{ts} {} P ", kind.name()).into_bytes(),
        }
    }

    fn get(&self, tag: u8) -> &[u8] {
        if tag == b'F' {
            &self.full
        } else {
            &self.partial
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn cri_lines_split_and_mark_partials() {
        let path = std::env::temp_dir().join(format!("mydocker-cri-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut log = LogWriter::open(&path).unwrap();
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123);
        log.write_at(at, StreamKind::Stdout, b"one\ntwo\nthr");
        log.write_at(at, StreamKind::Stderr, b"\n");
        // Between short lines, one long enough to be written from the
        // output itself and one to be gathered, both split into records
        // of LOG_RECORD; the first ends the chunk unfinished.
        let long = "x".repeat(LOG_GATHER + 5);
        let medium = "y".repeat(LOG_RECORD + 7);
        log.write_at(
            at,
            StreamKind::Stdout,
            format!("a\n{medium}\nb\n{long}").as_bytes(),
        );
        // Enough short lines to need more than one gathered write.
        let many = "0123456789abcdef\n".repeat(2 * LOG_GATHER / 17);
        log.write_at(at, StreamKind::Stdout, many.as_bytes());
        drop(log);
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        let ts = "2023-11-14T22:13:20.000000123Z";
        let mut want = format!(
            "{ts} stdout F one\n{ts} stdout F two\n{ts} stdout P thr\n{ts} stderr F \n\
             {ts} stdout F a\n"
        );
        let r = LOG_RECORD;
        want.push_str(&format!("{ts} stdout P {}\n", &medium[..r]));
        want.push_str(&format!(
            "{ts} stdout F {}\n{ts} stdout F b\n",
            &medium[r..]
        ));
        for i in 0..4 {
            want.push_str(&format!("{ts} stdout P {}\n", &long[i * r..(i + 1) * r]));
        }
        want.push_str(&format!("{ts} stdout P {}\n", &long[4 * r..]));
        for _ in 0..2 * LOG_GATHER / 17 {
            want.push_str(&format!("{ts} stdout F 0123456789abcdef\n"));
        }
        assert_eq!(text, want);

        // A line of more than one `writev` of records.
        let mut log = LogWriter::open(&path).unwrap();
        let huge = vec![b'z'; 64 * LOG_RECORD + 3];
        log.write_at(at, StreamKind::Stdout, &huge);
        drop(log);
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        let records: Vec<&str> = text.lines().collect();
        assert_eq!(records.len(), 65);
        let content: usize = records
            .iter()
            .map(|r| r.strip_prefix(&format!("{ts} stdout P ")).unwrap().len())
            .sum();
        assert_eq!(content, huge.len());
        assert!(records
            .iter()
            .all(|r| r.len() <= ts.len() + 10 + LOG_RECORD));
    }
}
