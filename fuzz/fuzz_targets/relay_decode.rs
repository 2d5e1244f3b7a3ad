//! The decoder of the messages between the shim and the container's init
//! (`mydocker_shim::relay`): frames read from a pipe (`read_frame`), frames
//! from a buffer (`split_frame`), and the two message bodies
//! (`InitMessage::decode`, `InitFailure::decode`).
//!
//! Checked on every input:
//! - nothing panics, and no input makes the decoders reserve memory it does
//!   not hold (libFuzzer's -malloc_limit_mb catches that);
//! - `read_frame` and `split_frame` return exactly the frame the length
//!   prefix describes, or the error the format says; both agree, and a reader
//!   that hands out one byte at a time, interrupted, reads the same;
//! - whatever decodes re-encodes to the same bytes (the only non-canonical
//!   field is `privileged`, any non-zero word meaning true) and decodes back
//!   to an equal value; a cut or an extended body does not decode;
//! - messages built from the input (`arbitrary`) encode and decode back to
//!   themselves, through both frame readers.
#![no_main]

use std::io::{self, Read};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
// The module itself, not the shim crate: it needs nothing but std and
// thiserror, and the shim's dependencies would all be built instrumented.
#[path = "../../shim/src/relay.rs"]
#[allow(dead_code)]
mod relay;

use relay::{read_frame, split_frame, InitFailure, InitMessage, RelayError, MAX_FRAME};

const INIT_MAGIC: &[u8] = b"MDI1";
const FAIL_MAGIC: &[u8] = b"MDF1";

fuzz_target!(|data: &[u8]| {
    check_frame_readers(data);
    // The input as a body already split from its frame.
    check_body(data);
    check_encode_decode(data);
});

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A short name for an error, to compare two results.
fn kind(e: &RelayError) -> String {
    match e {
        RelayError::Io(e) => panic!("I/O error from an in-memory reader: {e}"),
        RelayError::Trailing(n) => format!("Trailing({n})"),
        RelayError::TooLarge(n) => format!("TooLarge({n})"),
        other => format!("{other:?}"),
    }
}

/// A pipe at its worst: one byte per read, and an `Interrupted` error before
/// every other read.
struct Trickle<'a> {
    data: &'a [u8],
    interrupt: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::ErrorKind::Interrupted.into());
        }
        match (self.data.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.data = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

fn check_frame_readers(data: &[u8]) {
    // What the format says the outcome is.
    let expected: Result<Option<&[u8]>, String> = if data.is_empty() {
        Ok(None)
    } else if data.len() < 4 {
        Err("Truncated".into())
    } else {
        let len = le32(data) as usize;
        if len > MAX_FRAME {
            Err(format!("TooLarge({len})"))
        } else if data.len() - 4 < len {
            Err("Truncated".into())
        } else {
            Ok(Some(&data[4..4 + len]))
        }
    };

    // read_frame allocates the declared length before it reads (up to
    // MAX_FRAME, 256 MiB), which under ASan costs ~20 ms a call: a fifth of
    // all random prefixes would cut the speed tenfold. An input cannot hold
    // a megabyte (-max_len), so such a frame is Truncated, as the unit tests
    // and the shorter lengths here check; skip it.
    if data.len() >= 4 && (1 << 20..=MAX_FRAME).contains(&(le32(data) as usize)) {
        assert!(matches!(split_frame(data), Err(RelayError::Truncated)));
        return;
    }

    let mut rest = data;
    let got = read_frame(&mut rest);
    match (&got, &expected) {
        (Ok(None), Ok(None)) => assert!(rest.is_empty()),
        (Ok(Some(body)), Ok(Some(want))) => {
            assert_eq!(&body[..], *want);
            // It reads one frame and not a byte more.
            assert_eq!(rest, &data[4 + body.len()..]);
        }
        (Err(e), Err(want)) => assert_eq!(&kind(e), want),
        _ => panic!("read_frame: got {got:?}, the format says {expected:?}"),
    }

    let mut trickle = Trickle {
        data,
        interrupt: false,
    };
    let slow = read_frame(&mut trickle);
    match (&got, &slow) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(kind(a), kind(b)),
        _ => panic!("read_frame: {got:?} from a slice, {slow:?} byte by byte"),
    }

    // split_frame takes the whole buffer: a frame and nothing after it.
    let split = split_frame(data);
    let want_split: Result<&[u8], String> = if data.len() < 4 {
        Err("Truncated".into())
    } else {
        let (len, n) = (le32(data) as usize, data.len() - 4);
        if n < len {
            Err("Truncated".into())
        } else if n > len {
            Err(format!("Trailing({})", n - len))
        } else {
            Ok(&data[4..])
        }
    };
    match (&split, &want_split) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(e), Err(want)) => assert_eq!(&kind(e), want),
        _ => panic!("split_frame: got {split:?}, the format says {want_split:?}"),
    }
    // Where split_frame takes a buffer, read_frame takes the same frame.
    if let Ok(body) = split {
        assert_eq!(got.as_ref().ok(), Some(&Some(body.to_vec())));
    }

    if let Ok(Some(body)) = got {
        check_body(&body);
    }
}

fn check_body(body: &[u8]) {
    let msg = InitMessage::decode(body);
    let fail = InitFailure::decode(body);

    // The magic comes first, and tells the two messages apart.
    for (res_magic, name, ok) in [
        (INIT_MAGIC, "InitMessage", msg.is_ok()),
        (FAIL_MAGIC, "InitFailure", fail.is_ok()),
    ] {
        if ok {
            assert!(
                body.starts_with(res_magic),
                "{name} decoded without its magic"
            );
        }
    }
    if body.len() < 4 {
        assert!(matches!(msg, Err(RelayError::Truncated)), "{msg:?}");
        assert!(matches!(fail, Err(RelayError::Truncated)), "{fail:?}");
    } else {
        if !body.starts_with(INIT_MAGIC) {
            assert!(matches!(msg, Err(RelayError::BadMagic)), "{msg:?}");
        }
        if !body.starts_with(FAIL_MAGIC) {
            assert!(matches!(fail, Err(RelayError::BadMagic)), "{fail:?}");
        }
    }
    for e in [msg.as_ref().err(), fail.as_ref().err()]
        .into_iter()
        .flatten()
    {
        kind(e);
    }

    if let Ok(m) = msg {
        let frame = m.encode().expect("a decoded message re-encodes");
        // Byte-exact, but for the flag: any non-zero word decodes as true
        // and encodes as 1.
        let mut canonical = body.to_vec();
        let flag = canonical.len() - 4;
        let word = (le32(&canonical[flag..]) != 0) as u32;
        canonical[flag..].copy_from_slice(&word.to_le_bytes());
        assert_eq!(&frame[4..], &canonical[..], "re-encoding of {m:?}");
        assert_round_trip(&frame, &m, InitMessage::decode);
        assert_cuts_fail(body, InitMessage::decode);
    }
    if let Ok(f) = fail {
        let frame = f.encode().expect("a decoded failure re-encodes");
        assert_eq!(&frame[4..], body, "re-encoding of {f:?}");
        assert_round_trip(&frame, &f, InitFailure::decode);
        assert_cuts_fail(body, InitFailure::decode);
    }
}

/// `frame` (from `encode`) has a correct length prefix, and reads and
/// decodes back to `value` through both frame readers.
fn assert_round_trip<T, F>(frame: &[u8], value: &T, decode: F)
where
    T: PartialEq + std::fmt::Debug,
    F: Fn(&[u8]) -> Result<T, RelayError>,
{
    assert!(frame.len() >= 4 && frame.len() - 4 <= MAX_FRAME);
    assert_eq!(le32(frame) as usize, frame.len() - 4, "length prefix");
    let body = split_frame(frame).expect("split_frame of an encoding");
    assert_eq!(&decode(body).expect("decode of an encoding"), value);
    let mut r = frame;
    let read = read_frame(&mut r)
        .expect("read_frame of an encoding")
        .expect("read_frame of an encoding is a frame");
    assert!(r.is_empty());
    assert_eq!(&read[..], body);
}

/// A body that decodes does not decode once cut or extended.
fn assert_cuts_fail<T: std::fmt::Debug>(
    body: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, RelayError>,
) {
    for cut in [0, 4, body.len() / 2, body.len() - 1] {
        let r = decode(&body[..cut]);
        assert!(
            matches!(r, Err(RelayError::Truncated)),
            "cut at {cut}: {r:?}"
        );
    }
    let mut long = body.to_vec();
    long.push(0);
    let r = decode(&long);
    assert!(
        matches!(r, Err(RelayError::Trailing(1))),
        "one byte more: {r:?}"
    );
}

fn check_encode_decode(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(m) = arbitrary_message(&mut u) else {
        return;
    };
    let frame = m.encode().expect("encode");
    assert_round_trip(&frame, &m, InitMessage::decode);
    let Ok(f) = arbitrary_failure(&mut u) else {
        return;
    };
    let frame = f.encode().expect("encode");
    assert_round_trip(&frame, &f, InitFailure::decode);
}

fn arbitrary_message(u: &mut Unstructured) -> arbitrary::Result<InitMessage> {
    Ok(InitMessage {
        argv: Vec::arbitrary(u)?,
        env: Vec::arbitrary(u)?,
        cwd: String::arbitrary(u)?,
        hostname: String::arbitrary(u)?,
        privileged: bool::arbitrary(u)?,
    })
}

fn arbitrary_failure(u: &mut Unstructured) -> arbitrary::Result<InitFailure> {
    Ok(InitFailure {
        exit_code: i32::arbitrary(u)?,
        message: String::arbitrary(u)?,
    })
}
