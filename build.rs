//! Generates the gRPC code from `proto/` without `protoc`: `protox` compiles
//! the .proto in pure Rust, and the same descriptor set is written out for the
//! shim's reflection service.
use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/mydocker/shim/v1/shim.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("shim_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        // The server only with the `server` feature (the shim's): a client
        // builds none of tonic's server side.
        .build_server(std::env::var_os("CARGO_FEATURE_SERVER").is_some())
        // Output chunks are fanned out to every attacher: `Bytes` makes each
        // copy a reference count instead of a memcpy.
        .bytes(".mydocker.shim.v1.AttachResponse")
        .bytes(".mydocker.shim.v1.AttachRequest")
        // Boxed: a Create inline would make every AttachRequest (each
        // keystroke and chunk of stdin) ten times its size.
        .boxed(".mydocker.shim.v1.AttachOpen.create")
        .compile_fds(fds)?;
    Ok(())
}
