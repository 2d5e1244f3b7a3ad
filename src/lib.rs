//! The API crate of mydocker: the generated gRPC code of the shim API
//! (`mydocker.shim.v1`) and small helpers for clients that drive shims.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mydocker::v1::{CreateRequest, StartRequest, WaitRequest};
//! let root = mydocker::default_root();
//! let id = "demo1";
//! let shim_process = mydocker::spawn_shim(&mydocker::ShimCommand::find()?, &root, id)?;
//! let mut shim = mydocker::connect(&shim_process.socket).await?;
//! shim.create(CreateRequest { id: id.into(), argv: vec!["true".into()], ..Default::default() }).await?;
//! shim.start(StartRequest { id: id.into() }).await?;
//! let status = shim.wait(WaitRequest { id: id.into() }).await?.into_inner().status;
//! # Ok(()) }
//! ```

#[cfg(feature = "grpc")]
pub mod cgroupfs;
#[cfg(feature = "grpc")]
pub mod client;
pub mod state;
pub mod units;

/// Generated messages and the client and server of `mydocker.shim.v1.Shim`.
#[cfg(feature = "grpc")]
pub mod v1 {
    tonic::include_proto!("mydocker.shim.v1");
}

/// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
#[cfg(feature = "grpc")]
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/shim_descriptor.bin"));

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

/// `s` quoted for an error message, cut to its first 64 characters: a
/// hostile 10 MB field must still make a one-line error.
pub fn brief(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &s[..cut], s.len()),
    }
}

#[cfg(feature = "grpc")]
pub use client::{
    bind, connect, default_root, shim_dir, short_socket_path, socket_path, spawn_shim, validate_id,
    ClientError, ShimClient, ShimCommand, ShimProcess, SpawnedShim, LISTEN_FD, MAX_MESSAGE_BYTES,
};

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
