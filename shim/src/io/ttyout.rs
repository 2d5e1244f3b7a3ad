//! A terminal's output: read on a thread of its own, handed to the runtime
//! in batches.
//!
//! A PTY hands out 4 KiB per read, through the kernel's line discipline,
//! and reading it is most of the work. On the runtime's thread, every
//! chunk's log write and gRPC send stalled the container's output for as
//! long as they took; a thread of its own took a terminal's attach
//! throughput from 74-88% of a bare PTY's to 92-107%. Pipes do not need
//! one (see [`super::pump::spawn_pump`]).
//!
//! While the writer keeps the line discipline full, the thread holds what
//! it read for more, up to [`TTY_BATCH`], waiting up to [`HOLD_MS`] for the
//! next 4 KiB: each batch costs the runtime and every attacher a wake-up, a
//! log write and a message, and on a small machine those, taken 64 KiB at a
//! time, cost the terminal a tenth or more of its speed (bench/NOTES.md). A
//! short read means the writer has paused: what was read goes at once, so
//! typing and prompts are not delayed.
//!
//! Batches live in mappings of their own, reused while the output streams
//! and unmapped once it has been quiet for [`RELEASE_AFTER`]. Malloc'd, they
//! stayed in the reader thread's arena: an idle shim that had once streamed
//! a terminal's output kept 2-4 MiB more, and how much was down to chance.

use std::io;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::hub::{OutputHub, READ_CHUNK};
use crate::fd::AsyncIoFd;
use crate::stream::StreamKind;

/// The largest batch.
const TTY_BATCH: usize = 2 << 20;
/// N_TTY's buffer holds 4095 bytes: a read that returns that much or more
/// emptied a full buffer, so the writer is streaming and more follows.
const LDISC_FULL: usize = 4095;
/// How long a batch that ended on a full read waits for more output before
/// it is sent anyway, in milliseconds.
const HOLD_MS: i32 = 1;
/// The longest a batch is held in all, however fast its writer: at most
/// this much of a terminal's output is ever late.
const BATCH_DEADLINE: Duration = Duration::from_millis(20);
/// Room kept for one more read: a PTY read returns up to about 18 KiB.
const READ_ROOM: usize = 32 * 1024;
/// How long the output must be quiet before the batches' memory goes back
/// to the kernel: long enough for the attachers to have sent them.
const RELEASE_AFTER: Duration = Duration::from_millis(200);
/// Mappings kept for reuse: one being filled, one waiting in the channel,
/// one being logged and sent, one still queued for an attacher (which may
/// hold more, within its budget; those are unmapped when they come back).
const POOL_MAX: usize = 4;

/// Reads the PTY master `src` to its end on a thread of its own, and
/// publishes its output to `hub` from a task. A bounded channel carries the
/// backpressure: when an attacher is over budget the task stops taking
/// batches, the thread stops reading, and the container blocks on its full
/// terminal. It holds one batch: three at most are on their way to the hub.
pub fn spawn_reader(hub: Arc<OutputHub>, src: Arc<AsyncIoFd>, kind: StreamKind) {
    hub.stream_opened();
    let (tx, mut rx) = mpsc::channel::<Bytes>(1);
    let pool = Pool::default();
    let mut out = Pending::new(pool.clone());
    let fd = src.raw();
    let spawned = std::thread::Builder::new()
        .name(format!("{}-reader", kind.name()))
        .stack_size(64 * 1024)
        .spawn(move || {
            // Keeps the descriptor open for as long as the thread reads it.
            let _src = src;
            let mut holding = false;
            // When the batch being held began.
            let mut since = Instant::now();
            loop {
                let burst = match wait_readable(fd, if holding { HOLD_MS } else { -1 }) {
                    Ok(true) => out.read_burst(fd),
                    // Held long enough: send it.
                    Ok(false) => Burst::default(),
                    Err(e) => {
                        tracing::warn!(error = %e, "waiting for container output failed");
                        Burst {
                            over: true,
                            ..Burst::default()
                        }
                    }
                };
                if !holding {
                    since = Instant::now();
                }
                holding = burst.streaming
                    && !burst.over
                    && out.len() + READ_ROOM <= TTY_BATCH
                    && since.elapsed() < BATCH_DEADLINE;
                if holding {
                    continue;
                }
                if let Some(chunk) = out.take() {
                    if tx.blocking_send(chunk).is_err() {
                        break;
                    }
                }
                if burst.over {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, stream = kind.name(), "cannot start the output reader");
        hub.stream_closed();
        return;
    }
    tokio::spawn(async move {
        let mut release_due = false;
        loop {
            let next = if release_due {
                tokio::time::timeout(RELEASE_AFTER, rx.recv()).await
            } else {
                Ok(rx.recv().await)
            };
            match next {
                Ok(Some(chunk)) => {
                    // A batch, or a mapping used for one that ended early.
                    release_due |= chunk.len() > READ_CHUNK || pool.holds_any();
                    hub.wait_for_room().await;
                    hub.publish(kind, chunk);
                }
                Ok(None) => break,
                Err(_) => {
                    pool.release();
                    release_due = false;
                }
            }
        }
        pool.release();
        hub.stream_closed();
    });
}

/// Waits until `fd` is readable, or for `timeout_ms` (-1: for ever).
/// Returns false on the timeout.
fn wait_readable(fd: i32, timeout_ms: i32) -> io::Result<bool> {
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one live pollfd.
        match unsafe { libc::poll(&mut pfd, 1, timeout_ms) } {
            n if n > 0 => return Ok(true),
            0 => return Ok(false),
            _ => {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINTR) {
                    return Err(e);
                }
            }
        }
    }
}

/// How a [`Pending::read_burst`] ended.
#[derive(Default)]
struct Burst {
    /// Reading is over: end of file, EIO (the slave is gone), or an error.
    over: bool,
    /// Its last read emptied a full line discipline, so more is coming.
    streaming: bool,
}

/// Output read and not yet sent: in a buffer of [`READ_CHUNK`], or, once
/// that has filled while the writer streams, in a mapping of [`TTY_BATCH`].
struct Pending {
    small: BytesMut,
    batch: Option<Filling>,
    pool: Pool,
}

/// A batch being read into its mapping.
struct Filling {
    map: Mapping,
    generation: u64,
    len: usize,
}

impl Pending {
    fn new(pool: Pool) -> Self {
        Self {
            small: BytesMut::new(),
            batch: None,
            pool,
        }
    }

    fn len(&self) -> usize {
        match &self.batch {
            Some(b) => b.len,
            None => self.small.len(),
        }
    }

    /// Reads what the PTY master `fd` has now, without waiting, until it
    /// has nothing more or a whole batch is read.
    fn read_burst(&mut self, fd: i32) -> Burst {
        let mut last = 0;
        loop {
            let Some((at, room)) = self.room() else {
                return Burst::default();
            };
            // SAFETY: read(2) into `room` writable bytes at `at`, which
            // `room()` reserved in memory we own.
            let n = unsafe { libc::read(fd, at.cast(), room) };
            if n > 0 {
                self.filled(n as usize);
                last = n as usize;
                continue;
            }
            let over = Burst {
                over: true,
                streaming: false,
            };
            if n == 0 {
                return over;
            }
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Burst {
                    over: false,
                    streaming: last >= LDISC_FULL,
                },
                Some(libc::EINTR) => continue,
                Some(libc::EIO) => over,
                _ => {
                    tracing::warn!(error = %e, "reading container output failed");
                    over
                }
            };
        }
    }

    /// Where the next read goes and how much it may read: at least
    /// [`READ_ROOM`], or None when a whole batch is read.
    fn room(&mut self) -> Option<(*mut u8, usize)> {
        if let Some(b) = &self.batch {
            let room = TTY_BATCH - b.len;
            // SAFETY: `len` < TTY_BATCH, within the mapping.
            return (room >= READ_ROOM).then(|| (unsafe { b.map.0.as_ptr().add(b.len) }, room));
        }
        if self.small.capacity() - self.small.len() < READ_ROOM {
            if self.small.len() < READ_CHUNK / 4 {
                // Little read yet: a fresh buffer (the old one's memory is
                // shared with the chunks already sent from it).
                let mut fresh = BytesMut::with_capacity(READ_CHUNK);
                fresh.extend_from_slice(&self.small);
                self.small = fresh;
            } else {
                match self.pool.take() {
                    Ok((map, generation)) => {
                        let len = self.small.len();
                        // SAFETY: `len` <= READ_CHUNK < TTY_BATCH bytes into a
                        // mapping of TTY_BATCH that only we hold, from a
                        // buffer that does not overlap it.
                        unsafe {
                            std::ptr::copy_nonoverlapping(self.small.as_ptr(), map.0.as_ptr(), len)
                        };
                        self.small.clear();
                        self.batch = Some(Filling {
                            map,
                            generation,
                            len,
                        });
                        return self.room();
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no batch mapping; sending smaller chunks");
                        return None;
                    }
                }
            }
        }
        let spare = self.small.spare_capacity_mut();
        Some((spare.as_mut_ptr().cast(), spare.len()))
    }

    fn filled(&mut self, n: usize) {
        match &mut self.batch {
            Some(b) => b.len += n,
            // SAFETY: the kernel initialised `n` bytes of the spare capacity
            // that `room()` handed out.
            None => unsafe { self.small.set_len(self.small.len() + n) },
        }
    }

    /// What was read, as one chunk. A small buffer's spare room is kept
    /// for the next reads. A batch that ended early is copied out, and its
    /// mapping reused at once: the replay buffer may keep a short chunk for
    /// long, and should not keep megabytes alive with it.
    fn take(&mut self) -> Option<Bytes> {
        match self.batch.take() {
            Some(b) if b.len < TTY_BATCH / 4 => {
                // SAFETY: the first `len` bytes of the mapping were read into.
                let chunk = Bytes::copy_from_slice(unsafe {
                    std::slice::from_raw_parts(b.map.0.as_ptr(), b.len)
                });
                self.pool.give(b.map, b.generation);
                Some(chunk)
            }
            Some(b) => Some(Bytes::from_owner(Batch {
                map: Some(b.map),
                len: b.len,
                generation: b.generation,
                pool: self.pool.clone(),
            })),
            None if self.small.is_empty() => None,
            None => Some(self.small.split().freeze()),
        }
    }
}

/// An anonymous private mapping of [`TTY_BATCH`] bytes, unmapped on drop.
struct Mapping(NonNull<u8>);

// SAFETY: the mapping is plain memory that only its owner uses.
unsafe impl Send for Mapping {}

impl Mapping {
    fn new() -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                TTY_BATCH,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast())
            .map(Self)
            .ok_or_else(|| io::Error::other("mmap returned null"))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps what `new` mapped, which nothing refers to any more.
        unsafe { libc::munmap(self.0.as_ptr().cast(), TTY_BATCH) };
    }
}

/// Mappings kept for reuse, so that streaming output does not fault in a
/// fresh 2 MiB per batch.
#[derive(Clone, Default)]
struct Pool(Arc<Mutex<PoolInner>>);

#[derive(Default)]
struct PoolInner {
    kept: Vec<Mapping>,
    /// Counts releases: a mapping lent before the last one is unmapped when
    /// it comes back, not kept.
    generation: u64,
}

impl Pool {
    /// A mapping, and the generation it comes back to.
    fn take(&self) -> io::Result<(Mapping, u64)> {
        let mut p = self.0.lock().unwrap();
        let generation = p.generation;
        match p.kept.pop() {
            Some(map) => Ok((map, generation)),
            None => Mapping::new().map(|map| (map, generation)),
        }
    }

    fn give(&self, map: Mapping, generation: u64) {
        let mut p = self.0.lock().unwrap();
        if generation == p.generation && p.kept.len() < POOL_MAX {
            p.kept.push(map);
        }
    }

    fn holds_any(&self) -> bool {
        !self.0.lock().unwrap().kept.is_empty()
    }

    /// Unmaps every mapping kept, and those lent out as they come back.
    fn release(&self) {
        let kept = {
            let mut p = self.0.lock().unwrap();
            p.generation += 1;
            std::mem::take(&mut p.kept)
        };
        drop(kept);
    }
}

/// A sent batch. Its mapping goes back to the pool when the last reference
/// to its bytes is dropped.
struct Batch {
    map: Option<Mapping>,
    len: usize,
    generation: u64,
    pool: Pool,
}

impl AsRef<[u8]> for Batch {
    fn as_ref(&self) -> &[u8] {
        match &self.map {
            // SAFETY: the first `len` bytes of the mapping were read into,
            // and nothing writes to it while this batch holds it.
            Some(map) => unsafe { std::slice::from_raw_parts(map.0.as_ptr(), self.len) },
            None => &[],
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            self.pool.give(map, self.generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::hub::Event;
    use tokio::io::Interest;

    /// The case that holds a batch: a read that empties a full line
    /// discipline, then nothing more. What was read must still go out
    /// soon, not wait for output that never comes.
    #[tokio::test]
    async fn a_full_terminal_read_is_held_only_briefly() {
        let pty = nix::pty::openpty(None, None).unwrap();
        // Written before the reader starts, so that its first read finds
        // the line discipline full.
        nix::unistd::write(&pty.slave, &[b'x'; LDISC_FULL]).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let hub = Arc::new(OutputHub::new(None));
        let mut a = hub.attach(false);
        let master = AsyncIoFd::with_interest(pty.master, Interest::WRITABLE).unwrap();
        let t0 = std::time::Instant::now();
        spawn_reader(hub.clone(), Arc::new(master), StreamKind::Stdout);
        let ev = tokio::time::timeout(Duration::from_secs(2), a.recv())
            .await
            .expect("a full read held back");
        match ev {
            Some(Event::Output(StreamKind::Stdout, b)) => assert_eq!(b.len(), LDISC_FULL),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        // The slave's close ends the reader.
        drop(pty.slave);
        tokio::time::timeout(Duration::from_secs(2), hub.drained())
            .await
            .expect("the reader did not end");
    }

    /// A batch's mapping comes back to the pool once no one holds its
    /// bytes; a release unmaps what the pool keeps, and what is lent out
    /// when it comes back.
    #[test]
    fn batches_come_back_to_the_pool_and_are_released() {
        let pool = Pool::default();
        let kept = |pool: &Pool| pool.0.lock().unwrap().kept.len();
        let mut out = Pending::new(pool.clone());
        let filled = |out: &mut Pending, n: usize| {
            while out.len() < n {
                let (at, room) = out.room().expect("room");
                let k = room.min(n - out.len());
                // SAFETY: `room` writable bytes at `at`.
                unsafe { std::ptr::write_bytes(at, b'y', k) };
                out.filled(k);
            }
        };
        filled(&mut out, TTY_BATCH - READ_ROOM + 1);
        assert!(out.room().is_none(), "a whole batch is read");
        let big = out.take().unwrap();
        assert_eq!(big.len(), TTY_BATCH - READ_ROOM + 1);
        assert!(big.iter().all(|&b| b == b'y'));
        assert_eq!(kept(&pool), 0, "in use while sent");
        let replayed = big.slice(big.len() - 10..);
        drop(big);
        assert_eq!(kept(&pool), 0, "a slice keeps it");
        drop(replayed);
        assert_eq!(kept(&pool), 1, "back once unused");

        // A batch that ends early is copied out; its mapping goes back now.
        filled(&mut out, 200 << 10);
        assert!(out.batch.is_some(), "200 KiB outgrow the small buffer");
        let short = out.take().unwrap();
        assert_eq!(short.len(), 200 << 10);
        assert_eq!(kept(&pool), 1);

        // Released while one is lent out: that one is unmapped on return.
        filled(&mut out, TTY_BATCH - READ_ROOM + 1);
        let lent = out.take().unwrap();
        assert_eq!(kept(&pool), 0);
        pool.release();
        drop(lent);
        assert_eq!(kept(&pool), 0, "lent before the release, not kept");

        // Small output stays in small buffers.
        filled(&mut out, 100);
        assert!(out.batch.is_none());
        assert_eq!(out.take().unwrap().len(), 100);
        assert!(out.take().is_none());
    }
}
