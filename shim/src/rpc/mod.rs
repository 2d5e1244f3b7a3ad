//! The RPC edge: the only room that knows the wire. [`server`] serves the
//! socket (the callers' credentials, reflection, health, the connections
//! counted); [`service`] and [`attach`] answer mydocker.shim.v1, each call
//! one step into the container room; [`convert`] turns requests, answers
//! and errors between the two. A second front end (containerd's task API
//! over ttrpc) would be a sibling of this room, calling the same
//! [`Shim`](crate::container::shim::Shim) and
//! [`Container`](crate::container::Container).

mod attach;
pub mod convert;
pub mod server;
pub mod service;

pub use server::serve;
