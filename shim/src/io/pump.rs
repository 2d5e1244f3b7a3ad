//! The reader of a pipe (a process's stdout or stderr without a
//! terminal): reads to EOF and hands each chunk to the hub, pausing while
//! an attacher is over its budget.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;

use super::hub::{OutputHub, COALESCE, READ_CHUNK};
use crate::fd::AsyncIoFd;
use crate::stream::StreamKind;

/// Reads `src` to its end, publishing every chunk to `hub`.
pub fn spawn_pump(hub: Arc<OutputHub>, src: Arc<AsyncIoFd>, kind: StreamKind) {
    hub.stream_opened();
    tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            hub.wait_for_room().await;
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            match src.read(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {
                    // Take what else is there already (a PTY hands out at
                    // most 4 KiB a read): fewer, larger messages for the
                    // log and the attachers, and no wait for more.
                    let eof = read_ready(src.raw(), &mut buf, COALESCE);
                    hub.publish(kind, buf.split().freeze());
                    if eof {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, stream = kind.name(), "reading container output failed");
                    break;
                }
            }
        }
        hub.stream_closed();
    });
}

/// Reads what `fd` has now into `buf`, without waiting, up to `limit`
/// bytes. Returns true when reading is over: end of file, EIO (a PTY master
/// whose slave is gone), or an error (logged).
fn read_ready(fd: i32, buf: &mut BytesMut, limit: usize) -> bool {
    while buf.len() < limit {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_CHUNK);
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: read(2) into the spare capacity of our own buffer.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr() as *mut libc::c_void, spare.len()) };
        match n {
            0 => return true,
            n if n > 0 => {
                // SAFETY: the kernel initialised n bytes.
                unsafe { buf.set_len(buf.len() + n as usize) };
            }
            _ => {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => false,
                    Some(libc::EIO) => true,
                    _ => {
                        tracing::warn!(error = %e, "reading container output failed");
                        true
                    }
                };
            }
        }
    }
    false
}
