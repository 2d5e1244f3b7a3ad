//! The generated messages, client and (with the `server` feature) server
//! of `mydocker.shim.v1.Shim` (build.rs, from proto/).

tonic::include_proto!("mydocker.shim.v1");
