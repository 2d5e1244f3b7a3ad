//! Container ids, and values quoted in error messages.

/// A container id: `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}`, so that it is a safe
/// single path component and fits a hostname.
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A new id: 64 random hex digits, as docker's container and exec ids.
pub fn random_id() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// `s` quoted for an error message, cut to its first 64 characters: a
/// hostile 10 MB field must still make a one-line error.
pub fn brief(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &s[..cut], s.len()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn brief_cuts_long_strings_on_a_char_boundary() {
        assert_eq!(super::brief("a/b"), "\"a/b\"");
        let long = "é".repeat(10_000);
        let b = super::brief(&long);
        assert!(b.starts_with(&format!("\"{}\"...", "é".repeat(64))), "{b}");
        assert!(b.ends_with("(20000 bytes)"), "{b}");
    }
}
