//! The decoders of the messages between the shim and the container's init
//! (`mydocker_shim::process::relay`): the command the init parses in place, without
//! allocating, into argv and envp for execve, and the fixed-size report it
//! sends back.
//!
//! Checked on every input:
//! - nothing panics, with pointer arrays of every size up to what is needed;
//! - a command that decodes is canonical: its pointers are NUL-terminated
//!   strings inside the input, the lists end in NULL, and encoding what was
//!   decoded gives back exactly the input; any cut of it does not decode;
//! - commands built from the input (`arbitrary`) encode and decode back to
//!   themselves, and a string with a NUL inside is refused by the encoder;
//! - a report decodes exactly when it has the size and magic, and encodes
//!   back to the same bytes;
//! - a join body decodes exactly when it is empty or ends in NUL, into the
//!   non-empty paths it holds, which encode back to it (empty strings
//!   dropped).
#![no_main]

use std::ffi::{c_char, CStr, CString};

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
// The module itself, not the shim crate: it needs nothing but std and
// thiserror, and the shim's dependencies would all be built instrumented.
#[path = "../../shim/src/process/relay.rs"]
#[allow(dead_code)]
mod relay;

use relay::{
    decode_command, decode_join, encode_command, encode_join, pointer_slots, RelayError, Report,
};

fuzz_target!(|data: &[u8]| {
    check_command(data);
    check_report(data);
    check_encode_decode(data);
    check_join(data);
});

fn check_join(data: &[u8]) {
    let Ok(paths) = decode_join(data) else {
        assert!(data.last().is_some_and(|b| *b != 0));
        return;
    };
    let paths: Vec<CString> = paths.map(CStr::to_owned).collect();
    let msg = encode_join(&paths, data.len()).expect("no longer than the input");
    let canonical: Vec<u8> = data
        .split_inclusive(|b| *b == 0)
        .filter(|s| s.len() > 1)
        .flatten()
        .copied()
        .collect();
    assert_eq!(&msg[4..], &canonical[..]);
}

/// The bytes a pointer from the decoder points at, up to its NUL.
fn bytes_at(msg: &[u8], p: *const c_char) -> &[u8] {
    let start = (p as usize)
        .checked_sub(msg.as_ptr() as usize)
        .filter(|off| *off < msg.len())
        .expect("a pointer outside the message");
    let s = CStr::from_bytes_until_nul(&msg[start..]).expect("a string without its NUL");
    s.to_bytes()
}

fn check_command(data: &[u8]) {
    let mut ptrs = vec![std::ptr::null(); 64];
    let Ok(cmd) = decode_command(data, &mut ptrs) else {
        // Too few slots must be an error too, never a panic.
        for n in 0..4 {
            let _ = decode_command(data, &mut ptrs[..n]);
        }
        return;
    };
    let need = pointer_slots(cmd.argc, cmd.envc);
    assert!(need <= ptrs.len());
    assert!(ptrs[cmd.argc].is_null() && ptrs[need - 1].is_null());
    let argv: Vec<&[u8]> = ptrs[..cmd.argc]
        .iter()
        .map(|p| bytes_at(data, *p))
        .collect();
    let env: Vec<&[u8]> = ptrs[cmd.argc + 1..need - 1]
        .iter()
        .map(|p| bytes_at(data, *p))
        .collect();
    assert!(env.len() == cmd.envc && !argv.is_empty());
    // The canonical encoding of what was decoded is the input itself.
    let mut again = b"MDC2".to_vec();
    let strings: Vec<&[u8]> = argv
        .iter()
        .chain(&env)
        .copied()
        .chain([cmd.path.to_bytes(), cmd.cwd.to_bytes()])
        .collect();
    let body = 8 + strings.iter().map(|s| s.len() + 1).sum::<usize>();
    again.extend_from_slice(&(body as u32).to_le_bytes());
    again.extend_from_slice(&(cmd.argc as u32).to_le_bytes());
    again.extend_from_slice(&(cmd.envc as u32).to_le_bytes());
    for s in &strings {
        again.extend_from_slice(s);
        again.push(0);
    }
    assert_eq!(again, data, "decoded, but not canonical");
    // Exactly enough slots work; one fewer is refused.
    let mut exact = vec![std::ptr::null(); need];
    assert!(decode_command(data, &mut exact).is_ok());
    assert_eq!(
        decode_command(data, &mut exact[..need - 1]),
        Err(RelayError::TooLarge)
    );
    for cut in 0..data.len() {
        assert!(
            decode_command(&data[..cut], &mut ptrs).is_err(),
            "cut at {cut}"
        );
    }
}

fn check_report(data: &[u8]) {
    match Report::decode(data) {
        Ok(r) => {
            assert_eq!(data.len(), Report::SIZE);
            assert_eq!(&r.encode()[..], data);
        }
        Err(e) => assert!(
            data.len() != Report::SIZE || &data[..4] != b"MDR2",
            "a well-sized report with its magic refused: {e}"
        ),
    }
}

#[derive(Debug)]
struct Cmd {
    argv: Vec<String>,
    env: Vec<String>,
    path: String,
    cwd: String,
}

fn check_encode_decode(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let c = (|| -> arbitrary::Result<Cmd> {
        Ok(Cmd {
            argv: u.arbitrary()?,
            env: u.arbitrary()?,
            path: u.arbitrary()?,
            cwd: u.arbitrary()?,
        })
    })();
    let Ok(c) = c else {
        return;
    };
    let has_nul = c
        .argv
        .iter()
        .chain(&c.env)
        .chain([&c.path, &c.cwd])
        .any(|s| s.contains('\0'));
    let msg = match encode_command(&c.argv, &c.env, &c.path, &c.cwd) {
        Ok(m) => m,
        Err(RelayError::InnerNul) => return assert!(has_nul),
        Err(RelayError::NoCommand) => return assert!(c.argv.is_empty()),
        Err(e) => panic!("encode failed: {e}"),
    };
    assert!(!has_nul && !c.argv.is_empty());
    let mut ptrs = vec![std::ptr::null(); pointer_slots(c.argv.len(), c.env.len())];
    let cmd = decode_command(&msg, &mut ptrs).expect("its own encoding must decode");
    assert_eq!((cmd.argc, cmd.envc), (c.argv.len(), c.env.len()));
    assert_eq!(cmd.path.to_bytes(), c.path.as_bytes());
    assert_eq!(cmd.cwd.to_bytes(), c.cwd.as_bytes());
    for (p, s) in ptrs[..cmd.argc].iter().zip(&c.argv) {
        assert_eq!(bytes_at(&msg, *p), s.as_bytes());
    }
    for (p, s) in ptrs[cmd.argc + 1..].iter().zip(&c.env) {
        assert_eq!(bytes_at(&msg, *p), s.as_bytes());
    }
}
