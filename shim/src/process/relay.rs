//! The two messages between the shim and the container's init, over
//! anonymous pipes. One encoder and one decoder each, used by both ends, so
//! the two can never disagree on the format.
//!
//! The init is a clone of the shim that has not exec'd, and the shim is a
//! threaded process: until the init execs, it may not allocate. So both
//! decoders work in place, in memory the shim set aside before the clone,
//! and every message has a size known in advance.
//!
//! Shim -> init (the command pipe): first, at Create, the cgroup files to
//! join ([`encode_join`]); then, at Start, the [command](encode_command).
//! Their strings are NUL-terminated, so the init hands pointers into its
//! buffer straight to open(2) and execve.
//!
//! Init -> shim (the ack pipe at Create, the status pipe at Start): one
//! fixed-size [`Report`]: "ready", or the step that failed and its errno.
//! After a successful exec the status pipe (close-on-exec) just closes.

use std::ffi::{c_char, CStr, CString};

const COMMAND_MAGIC: &[u8; 4] = b"MDC2";
const REPORT_MAGIC: &[u8; 4] = b"MDR2";
/// Magic and body length.
const HEADER: usize = 8;
/// argc and envc.
const COUNTS: usize = 8;

/// Why a message did not decode. Plain data, so that the init can report it
/// without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[repr(u32)]
pub enum RelayError {
    #[error("relay message truncated")]
    Truncated = 1,
    #[error("relay message longer than its header says")]
    Trailing = 2,
    #[error("relay message has a bad magic")]
    BadMagic = 3,
    #[error("relay message has more strings than its counts say, or fewer")]
    BadCount = 4,
    #[error("relay message has no command")]
    NoCommand = 5,
    #[error("relay message does not fit the init's buffers")]
    TooLarge = 6,
    #[error("relay message has a string with a NUL byte inside")]
    InnerNul = 7,
}

impl RelayError {
    pub fn from_code(code: u32) -> Option<Self> {
        use RelayError::*;
        [
            Truncated, Trailing, BadMagic, BadCount, NoCommand, TooLarge, InnerNul,
        ]
        .into_iter()
        .find(|e| *e as u32 == code)
    }
}

pub type Result<T, E = RelayError> = std::result::Result<T, E>;

/// Encodes the command: `MDC2`, the body's length (u32 LE), argc and envc
/// (u32 LE), then argc + envc + 2 NUL-terminated strings: the arguments,
/// the environment, the PATH to search, and the working directory.
pub fn encode_command(argv: &[String], env: &[String], path: &str, cwd: &str) -> Result<Vec<u8>> {
    if argv.is_empty() {
        return Err(RelayError::NoCommand);
    }
    let strings = || {
        argv.iter()
            .chain(env)
            .map(String::as_str)
            .chain([path, cwd])
    };
    if strings().any(|s| s.as_bytes().contains(&0)) {
        return Err(RelayError::InnerNul);
    }
    let body = COUNTS + strings().map(|s| s.len() + 1).sum::<usize>();
    let len = u32::try_from(body).map_err(|_| RelayError::TooLarge)?;
    let argc = u32::try_from(argv.len()).map_err(|_| RelayError::TooLarge)?;
    let envc = u32::try_from(env.len()).map_err(|_| RelayError::TooLarge)?;
    let mut out = Vec::with_capacity(HEADER + body);
    out.extend_from_slice(COMMAND_MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&argc.to_le_bytes());
    out.extend_from_slice(&envc.to_le_bytes());
    for s in strings() {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// Encodes the cgroup files the init joins: the body's length (u32 LE),
/// then each path NUL-terminated. TooLarge if the body is over `room`, the
/// init's buffer.
pub fn encode_join(files: &[CString], room: usize) -> Result<Vec<u8>> {
    let body: usize = files.iter().map(|f| f.as_bytes_with_nul().len()).sum();
    if body > room {
        return Err(RelayError::TooLarge);
    }
    let mut out = Vec::with_capacity(4 + body);
    out.extend_from_slice(&(body as u32).to_le_bytes());
    for f in files {
        out.extend_from_slice(f.as_bytes_with_nul());
    }
    Ok(out)
}

/// The body length a join message's first four bytes give.
pub fn join_len(header: [u8; 4]) -> usize {
    u32::from_le_bytes(header) as usize
}

/// The paths of a join message's body, in place, without allocating.
pub fn decode_join(body: &[u8]) -> Result<impl Iterator<Item = &CStr>> {
    if body.last().is_some_and(|b| *b != 0) {
        return Err(RelayError::Truncated);
    }
    Ok(body
        .split_inclusive(|b| *b == 0)
        .filter_map(|s| CStr::from_bytes_with_nul(s).ok())
        .filter(|s| !s.is_empty()))
}

/// How many pointer slots [`decode_command`] needs for a message with these
/// counts: both lists and their NULL terminators.
pub fn pointer_slots(argc: usize, envc: usize) -> usize {
    argc + envc + 2
}

/// A decoded command. Its lists are in the pointer array given to
/// [`decode_command`]: `ptrs[..=argc]` is argv with its NULL, and
/// `ptrs[argc + 1..]` the environment with its NULL.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<'a> {
    pub argc: usize,
    pub envc: usize,
    pub path: &'a CStr,
    pub cwd: &'a CStr,
}

fn le32(b: &[u8]) -> usize {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// Decodes a whole command message in place, without allocating: checks
/// every length and count, and fills `ptrs` with argv and envp as execve
/// takes them (pointers into `msg`).
pub fn decode_command<'a>(msg: &'a [u8], ptrs: &mut [*const c_char]) -> Result<Command<'a>> {
    let (header, rest) = msg.split_at_checked(HEADER).ok_or(RelayError::Truncated)?;
    if &header[..4] != COMMAND_MAGIC {
        return Err(RelayError::BadMagic);
    }
    match le32(&header[4..]) {
        n if n > rest.len() => return Err(RelayError::Truncated),
        n if n < rest.len() => return Err(RelayError::Trailing),
        _ => {}
    }
    let (counts, mut strings) = rest.split_at_checked(COUNTS).ok_or(RelayError::Truncated)?;
    let (argc, envc) = (le32(counts), le32(&counts[4..]));
    if argc == 0 {
        return Err(RelayError::NoCommand);
    }
    // Each string takes at least its NUL: counts beyond that are lies.
    let total = argc
        .checked_add(envc)
        .and_then(|n| n.checked_add(2))
        .filter(|n| *n <= strings.len())
        .ok_or(RelayError::BadCount)?;
    if ptrs.len() < pointer_slots(argc, envc) {
        return Err(RelayError::TooLarge);
    }
    let mut path = c"";
    let mut cwd = c"";
    for i in 0..total {
        let end = strings
            .iter()
            .position(|b| *b == 0)
            .ok_or(RelayError::BadCount)?;
        let (s, rest) = strings.split_at(end + 1);
        strings = rest;
        // The string with its NUL: a C string by construction.
        let s = CStr::from_bytes_with_nul(s).map_err(|_| RelayError::BadCount)?;
        match i {
            i if i < argc => ptrs[i] = s.as_ptr(),
            i if i < argc + envc => ptrs[i + 1] = s.as_ptr(),
            i if i == argc + envc => path = s,
            _ => cwd = s,
        }
    }
    if !strings.is_empty() {
        return Err(RelayError::BadCount);
    }
    ptrs[argc] = std::ptr::null();
    ptrs[argc + envc + 1] = std::ptr::null();
    Ok(Command {
        argc,
        envc,
        path,
        cwd,
    })
}

/// What the init reports: the step it reached (0: ready), the errno that
/// step failed with, and which item of that step (a path's or a
/// capability's index), where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    pub step: u32,
    pub errno: i32,
    pub item: u32,
}

impl Report {
    pub const SIZE: usize = 16;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[..4].copy_from_slice(REPORT_MAGIC);
        b[4..8].copy_from_slice(&self.step.to_le_bytes());
        b[8..12].copy_from_slice(&self.errno.to_le_bytes());
        b[12..].copy_from_slice(&self.item.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self> {
        let b: &[u8; Self::SIZE] = match b.len() {
            n if n < Self::SIZE => return Err(RelayError::Truncated),
            n if n > Self::SIZE => return Err(RelayError::Trailing),
            _ => b.try_into().map_err(|_| RelayError::Truncated)?,
        };
        if &b[..4] != REPORT_MAGIC {
            return Err(RelayError::BadMagic);
        }
        Ok(Self {
            step: le32(&b[4..]) as u32,
            errno: le32(&b[8..]) as i32,
            item: le32(&b[12..]) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(ptrs: &[*const c_char]) -> Vec<String> {
        ptrs.iter()
            .take_while(|p| !p.is_null())
            // SAFETY: decode_command filled these with pointers to C strings
            // inside the message, which outlives this call.
            .map(|p| unsafe { CStr::from_ptr(*p) }.to_str().unwrap().to_string())
            .collect()
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn round_trip_is_byte_exact() {
        let argv = owned(&[
            "sh",
            "-c",
            "a b  'c' \"d\"\nnewline ünïcödé 😀",
            "",
            &"x".repeat(1 << 20),
        ]);
        let env = owned(&["A=1", "B= spaced ="]);
        let msg = encode_command(&argv, &env, "/bin:/usr/bin", "/tmp").unwrap();
        let mut ptrs = vec![std::ptr::null(); pointer_slots(argv.len(), env.len())];
        let cmd = decode_command(&msg, &mut ptrs).unwrap();
        assert_eq!((cmd.argc, cmd.envc), (5, 2));
        assert_eq!(cmd.path, c"/bin:/usr/bin");
        assert_eq!(cmd.cwd, c"/tmp");
        assert_eq!(strings(&ptrs), argv);
        assert!(ptrs[5].is_null());
        assert_eq!(strings(&ptrs[6..]), env);
        assert!(ptrs[8].is_null());
    }

    #[test]
    fn every_cut_and_every_extension_is_an_error_not_a_panic() {
        let msg = encode_command(&owned(&["echo", "hi"]), &owned(&["A=1"]), "/bin", "/").unwrap();
        let mut ptrs = vec![std::ptr::null(); 16];
        for cut in 0..msg.len() {
            assert!(
                decode_command(&msg[..cut], &mut ptrs).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = msg.clone();
        long.push(0);
        assert_eq!(decode_command(&long, &mut ptrs), Err(RelayError::Trailing));
        assert_eq!(
            decode_command(&msg, &mut ptrs[..4]),
            Err(RelayError::TooLarge)
        );
    }

    #[test]
    fn lying_counts_and_bad_input_are_rejected() {
        let mut ptrs = vec![std::ptr::null(); 16];
        let msg = encode_command(&owned(&["a"]), &[], "", "").unwrap();
        // argc = 2 with three strings: the last one is taken as argv.
        let mut lie = msg.clone();
        lie[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(decode_command(&lie, &mut ptrs), Err(RelayError::BadCount));
        lie[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_command(&lie, &mut ptrs), Err(RelayError::BadCount));
        lie[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode_command(&lie, &mut ptrs), Err(RelayError::NoCommand));
        let mut magic = msg.clone();
        magic[0] = b'X';
        assert_eq!(decode_command(&magic, &mut ptrs), Err(RelayError::BadMagic));
        assert_eq!(
            encode_command(&owned(&["a\0b"]), &[], "", ""),
            Err(RelayError::InnerNul)
        );
        assert_eq!(encode_command(&[], &[], "", ""), Err(RelayError::NoCommand));
    }

    #[test]
    fn reports_round_trip() {
        let r = Report {
            step: 15,
            errno: 2,
            item: 7,
        };
        assert_eq!(Report::decode(&r.encode()).unwrap(), r);
        assert_eq!(
            Report::decode(&r.encode()[..15]),
            Err(RelayError::Truncated)
        );
        assert_eq!(Report::decode(&[0; 17]), Err(RelayError::Trailing));
        assert_eq!(Report::decode(&[0; 16]), Err(RelayError::BadMagic));
        for code in 1..=7 {
            assert_eq!(RelayError::from_code(code).unwrap() as u32, code);
        }
        assert_eq!(RelayError::from_code(0), None);
    }

    #[test]
    fn join_messages_round_trip_and_are_bounded() {
        let files: Vec<CString> = vec![c"/sys/fs/cgroup/pids/a/tasks".into(), c"/x".into()];
        let msg = encode_join(&files, 64).unwrap();
        let body = &msg[4..];
        assert_eq!(join_len(msg[..4].try_into().unwrap()), body.len());
        let got: Vec<&CStr> = decode_join(body).unwrap().collect();
        assert_eq!(got, [files[0].as_c_str(), files[1].as_c_str()]);
        assert_eq!(decode_join(&[]).unwrap().count(), 0);
        assert_eq!(encode_join(&[], 0).unwrap(), [0, 0, 0, 0]);
        assert_eq!(encode_join(&files, 10), Err(RelayError::TooLarge));
        // A last path without its NUL would be read past the body.
        assert!(decode_join(b"/a\0/b").is_err());
    }
}
