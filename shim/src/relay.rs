//! The messages between the shim and the container's init, over anonymous
//! pipes. One encoder and one decoder, used by both ends, so the two can
//! never disagree on the format.
//!
//! Shim -> init (the command pipe, fd 3 in the init): one [`InitMessage`].
//! Init -> shim (the status pipe, fd 4 in the init): nothing at all when the
//! command was executed (the pipe is close-on-exec, so the shim reads EOF),
//! or one [`InitFailure`] when it could not be.
//!
//! Frame: `u32` little-endian body length, then the body. Inside a body every
//! string is a `u32` length and its bytes; lists are a `u32` count first.
//! Strings are passed byte-exact: no quoting, no splitting, no length limit
//! but the frame's.

use std::io::{self, Read, Write};

/// Largest frame either side accepts. Linux itself refuses an exec whose
/// arguments and environment exceed a quarter of the stack limit, far below.
pub const MAX_FRAME: usize = 256 << 20;

const INIT_MAGIC: &[u8; 4] = b"MDI1";
const FAIL_MAGIC: &[u8; 4] = b"MDF1";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("relay pipe: {0}")]
    Io(#[from] io::Error),
    #[error("relay message truncated")]
    Truncated,
    #[error("relay message has {0} trailing bytes")]
    Trailing(usize),
    #[error("relay message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("relay message has a bad magic")]
    BadMagic,
    #[error("relay message has a string that is not UTF-8")]
    NotUtf8,
    #[error("relay pipe closed before a message")]
    Closed,
}

pub type Result<T, E = RelayError> = std::result::Result<T, E>;

/// What the init needs to become the container's command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitMessage {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    /// Skip docker's default confinement (capabilities, masked paths).
    pub privileged: bool,
}

/// Why the init could not execute the command, and the exit code it then
/// exits with (docker's conventions: 127 not found, 126 not invocable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitFailure {
    pub exit_code: i32,
    pub message: String,
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn new(magic: &[u8; 4]) -> Self {
        let mut v = Vec::with_capacity(256);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(magic);
        Self(v)
    }
    fn u32(&mut self, n: u32) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn list(&mut self, l: &[String]) {
        self.u32(l.len() as u32);
        for s in l {
            self.str(s);
        }
    }
    fn finish(mut self) -> Result<Vec<u8>> {
        let body = self.0.len() - 4;
        if body > MAX_FRAME {
            return Err(RelayError::TooLarge(body));
        }
        self.0[..4].copy_from_slice(&(body as u32).to_le_bytes());
        Ok(self.0)
    }
}

struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn new(body: &'a [u8], magic: &[u8; 4]) -> Result<Self> {
        let mut d = Self(body);
        if d.take(4)? != magic {
            return Err(RelayError::BadMagic);
        }
        Ok(d)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(RelayError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }
    fn str(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| RelayError::NotUtf8)
    }
    fn list(&mut self) -> Result<Vec<String>> {
        let n = self.u32()? as usize;
        // Each entry takes at least its 4-byte length: a count larger than
        // that is a lie, and must not make us reserve memory for it.
        if n > self.0.len() / 4 {
            return Err(RelayError::Truncated);
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.str()?);
        }
        Ok(v)
    }
    fn end(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(RelayError::Trailing(n)),
        }
    }
}

impl InitMessage {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut e = Encoder::new(INIT_MAGIC);
        e.list(&self.argv);
        e.list(&self.env);
        e.str(&self.cwd);
        e.str(&self.hostname);
        e.u32(self.privileged as u32);
        e.finish()
    }

    /// Decodes a frame body (without its length prefix).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut d = Decoder::new(body, INIT_MAGIC)?;
        let m = Self {
            argv: d.list()?,
            env: d.list()?,
            cwd: d.str()?,
            hostname: d.str()?,
            privileged: d.u32()? != 0,
        };
        d.end()?;
        Ok(m)
    }
}

impl InitFailure {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut e = Encoder::new(FAIL_MAGIC);
        e.u32(self.exit_code as u32);
        e.str(&self.message);
        e.finish()
    }

    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut d = Decoder::new(body, FAIL_MAGIC)?;
        let m = Self {
            exit_code: d.i32()?,
            message: d.str()?,
        };
        d.end()?;
        Ok(m)
    }
}

/// Reads one frame body. `Ok(None)` when the pipe is closed before the first
/// byte; a frame cut short is an error.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(RelayError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(RelayError::TooLarge(len));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => RelayError::Truncated,
        _ => RelayError::Io(e),
    })?;
    Ok(Some(body))
}

/// Parses a whole frame (length prefix included) as read by an async reader.
pub fn split_frame(frame: &[u8]) -> Result<&[u8]> {
    if frame.len() < 4 {
        return Err(RelayError::Truncated);
    }
    let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    match frame.len() - 4 {
        n if n < len => Err(RelayError::Truncated),
        n if n > len => Err(RelayError::Trailing(n - len)),
        _ => Ok(&frame[4..]),
    }
}

pub fn write_frame(w: &mut impl Write, frame: &[u8]) -> Result<()> {
    w.write_all(frame)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> InitMessage {
        InitMessage {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "a b  'c' \"d\"\nnewline ünïcödé 😀".into(),
                String::new(),
                "x".repeat(1 << 20),
            ],
            env: vec!["A=1".into(), "B= spaced =".into()],
            cwd: "/tmp".into(),
            hostname: "host".into(),
            privileged: true,
        }
    }

    #[test]
    fn round_trip_is_byte_exact() {
        let m = sample();
        let frame = m.encode().unwrap();
        let body = read_frame(&mut &frame[..]).unwrap().unwrap();
        assert_eq!(InitMessage::decode(&body).unwrap(), m);
        assert_eq!(split_frame(&frame).unwrap(), &body[..]);
    }

    #[test]
    fn failure_round_trip() {
        let f = InitFailure {
            exit_code: 127,
            message: "exec: \"nope\": executable file not found in $PATH".into(),
        };
        let frame = f.encode().unwrap();
        let body = read_frame(&mut &frame[..]).unwrap().unwrap();
        assert_eq!(InitFailure::decode(&body).unwrap(), f);
        assert!(matches!(
            InitMessage::decode(&body),
            Err(RelayError::BadMagic)
        ));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let frame = InitMessage {
            argv: vec!["echo".into(), "hi".into()],
            env: vec!["A=1".into()],
            cwd: "/".into(),
            hostname: "h".into(),
            privileged: false,
        }
        .encode()
        .unwrap();
        let body = &frame[4..];
        for cut in 0..body.len() {
            assert!(InitMessage::decode(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = body.to_vec();
        long.push(0);
        assert!(matches!(
            InitMessage::decode(&long),
            Err(RelayError::Trailing(1))
        ));
        for cut in 1..frame.len() {
            assert!(
                read_frame(&mut &frame[..cut]).is_err(),
                "frame cut at {cut}"
            );
        }
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
    }

    #[test]
    fn lying_counts_and_lengths_are_rejected() {
        let mut body = INIT_MAGIC.to_vec();
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(InitMessage::decode(&body).is_err());
        let mut body = INIT_MAGIC.to_vec();
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(InitMessage::decode(&body).is_err());
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]),
            Err(RelayError::TooLarge(_))
        ));
        let mut bad_utf8 = INIT_MAGIC.to_vec();
        bad_utf8.extend_from_slice(&1u32.to_le_bytes());
        bad_utf8.extend_from_slice(&1u32.to_le_bytes());
        bad_utf8.push(0xff);
        assert!(matches!(
            InitMessage::decode(&bad_utf8),
            Err(RelayError::NotUtf8)
        ));
    }
}
