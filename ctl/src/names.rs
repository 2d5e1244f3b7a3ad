//! Generated container names, docker-style: `adjective_noun`.

use std::io::Read;

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "clever", "eager", "fair", "gentle", "happy", "jolly", "keen", "kind",
    "lucid", "merry", "nimble", "proud", "quiet", "quick", "sharp", "steady", "swift", "witty",
];

const NOUNS: &[&str] = &[
    "babbage", "curie", "dijkstra", "euler", "fermat", "gauss", "hopper", "kepler", "knuth",
    "lamport", "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing",
    "wirth", "yonath", "zuse",
];

/// A random name; with 400 pairs and a number, collisions are rare, and the
/// shim refuses a taken one anyway.
pub fn generate() -> String {
    let mut b = [0u8; 4];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let n = u32::from_le_bytes(b) as usize;
    format!(
        "{}_{}{}",
        ADJECTIVES[n % ADJECTIVES.len()],
        NOUNS[(n / ADJECTIVES.len()) % NOUNS.len()],
        (n >> 16) % 100
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_are_valid() {
        for _ in 0..100 {
            let n = super::generate();
            mydocker::state::validate_name(&n).unwrap();
        }
    }
}
