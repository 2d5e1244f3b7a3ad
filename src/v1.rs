//! The generated messages, client and server of `mydocker.shim.v1.Shim`
//! (build.rs, from proto/).

tonic::include_proto!("mydocker.shim.v1");
