//! A descriptor the runtime drives: a pipe end, a PTY master, an eventfd.
//! Shared by the rooms that wait on the kernel (the output readers, stdin,
//! the OOM watch, the init's pipes).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use bytes::BytesMut;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A descriptor could not be made ready for the runtime.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct FdError {
    what: &'static str,
    source: io::Error,
}

pub type Result<T, E = FdError> = std::result::Result<T, E>;

/// A non-blocking descriptor driven by the runtime: a pipe end or a PTY
/// master.
pub struct AsyncIoFd(AsyncFd<OwnedFd>);

impl AsyncIoFd {
    pub fn new(fd: OwnedFd) -> Result<Self> {
        Self::with_interest(fd, Interest::READABLE | Interest::WRITABLE)
    }

    /// Registered for `interest` only: a PTY master whose reads are done
    /// by a thread of its own (`ttyout::spawn_reader`) would otherwise wake
    /// the runtime for every chunk of output, for nothing.
    pub fn with_interest(fd: OwnedFd, interest: Interest) -> Result<Self> {
        set_nonblocking(&fd)?;
        // SAFETY: an OwnedFd is a valid descriptor that stays open, and the
        // same, for as long as the AsyncFd owns it.
        unsafe { AsyncFd::register_with_interest(fd, interest) }
            .map(Self)
            .map_err(|e| FdError {
                what: "register with the runtime",
                source: e.into(),
            })
    }

    /// The descriptor, out of the runtime's hands.
    pub fn into_inner(self) -> OwnedFd {
        self.0.into_inner()
    }

    pub fn raw(&self) -> i32 {
        self.0.get_ref().as_raw_fd()
    }

    /// Waits until it is readable and `f` (a non-blocking read of the
    /// caller's, on the descriptor) gets something other than EAGAIN.
    pub async fn read_with<R>(
        &self,
        mut f: impl FnMut(&OwnedFd) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            let mut guard = self.0.readable().await?;
            match guard.try_io(|fd| f(fd.get_ref())) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads once; `Ok(0)` at end of file. A PTY master reports the slave's
    /// last close as EIO, which is end of file too.
    pub async fn read(&self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            let mut guard = self.0.readable().await?;
            let spare = buf.spare_capacity_mut();
            // SAFETY: read(2) into the spare capacity of our own buffer.
            let n = unsafe {
                libc::read(
                    self.raw(),
                    spare.as_mut_ptr() as *mut libc::c_void,
                    spare.len(),
                )
            };
            if n >= 0 {
                // SAFETY: the kernel initialised n bytes.
                unsafe { buf.set_len(buf.len() + n as usize) };
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => guard.clear_ready(),
                Some(libc::EINTR) => {}
                Some(libc::EIO) => return Ok(0),
                _ => return Err(e),
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.0.writable().await?;
            // SAFETY: write(2) from a live slice.
            let n = unsafe {
                libc::write(self.raw(), data.as_ptr() as *const libc::c_void, data.len())
            };
            if n >= 0 {
                data = &data[n as usize..];
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => guard.clear_ready(),
                Some(libc::EINTR) => {}
                _ => return Err(e),
            }
        }
        Ok(())
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    let ok = unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        flags >= 0 && libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) >= 0
    };
    if ok {
        Ok(())
    } else {
        Err(FdError {
            what: "set O_NONBLOCK",
            source: io::Error::last_os_error(),
        })
    }
}
