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
//! shim.start(StartRequest { id: id.into(), ..Default::default() }).await?;
//! let status = shim.wait(WaitRequest { id: id.into(), ..Default::default() }).await?.into_inner().status;
//! # Ok(()) }
//! ```

#[cfg(feature = "grpc")]
pub mod cgroupfs;
#[cfg(feature = "grpc")]
pub mod client;
#[cfg(feature = "grpc")]
pub mod cni;
pub mod id;
pub mod state;
pub mod units;

/// Generated messages and the client and server of `mydocker.shim.v1.Shim`.
#[cfg(feature = "grpc")]
pub mod v1;

/// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
#[cfg(feature = "grpc")]
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/shim_descriptor.bin"));

pub use id::{brief, is_valid_id, random_id};

#[cfg(feature = "grpc")]
pub use client::{
    bind, connect, default_root, shim_dir, short_socket_path, socket_path, spawn_shim, validate_id,
    ClientError, ShimClient, ShimCommand, ShimProcess, SpawnedShim, LISTEN_FD, MAX_MESSAGE_BYTES,
};
