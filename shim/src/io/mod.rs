//! A process's standard streams.
//!
//! Output flows one way: one reader per PTY ([`ttyout`]) or pipe
//! ([`pump`]) hands each chunk to the [`hub`], which writes it to the
//! [`log`], keeps the last of it for replay, and queues it for every
//! attacher, pacing each and pausing the readers for one that falls behind.
//! Input goes the other way, through one writer task ([`stdin`]).
//! [`streams`] opens the descriptors a process gets and starts the readers.

pub mod error;
pub mod hub;
pub mod log;
pub mod pump;
pub mod stdin;
pub mod streams;
pub mod ttyout;

pub use error::IoError;
