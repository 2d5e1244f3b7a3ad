//! The output hub: what the readers read is handed, under one lock, to the
//! log, a bounded replay buffer and every attacher.
//!
//! Flow control: each attacher has a byte budget. While one is over it, the
//! readers pause (so a client that reads slower than the container writes
//! still gets every byte, as with docker), but only for as long as that
//! attacher keeps draining: one over budget that takes nothing for
//! [`LAGGARD_TIMEOUT`] is told so and dropped, and the container goes on.
//! Each attacher is sent output in pieces sized to its pace (about
//! [`PIECE_TIME`] of what it drains), so a slow one shows progress often
//! while a fast one gets a terminal's whole batch in one message once the
//! output has streamed for a few windows (the pace is bytes over time, so
//! after a pause it starts low again).
//! With nobody attached nothing waits: the log is written inline, so nothing
//! is lost, and the container is slowed only by the disk.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, Notify};

use super::log::LogWriter;
use crate::exit::ExitStatus;
use crate::stream::StreamKind;

/// How much recent output a late attacher is sent first.
pub const REPLAY_BYTES: usize = 64 * 1024;
/// How far an attacher may fall behind before the readers wait for it.
pub const ATTACHER_BUDGET: usize = 4 << 20;
/// How long the readers wait for an attacher over budget that takes
/// nothing before dropping it: a client that stopped reading (suspended,
/// gone quiet) must not stop the container for long. Not much shorter:
/// a client takes output as HTTP/2 lets the shim send it, in bursts each
/// time it opens its window (half its window at a time, 1 MiB for the API
/// crate's client), so one reading 256 KiB/s takes something only every
/// four seconds.
pub const LAGGARD_TIMEOUT: Duration = Duration::from_secs(5);
/// The smallest piece of output an attacher is sent (unless less is
/// waiting): an attacher that drains less than this per
/// [`LAGGARD_TIMEOUT`] cannot keep up with a container that outpaces it.
const PIECE_MIN: usize = COALESCE;
/// The largest: a terminal's whole batch (see ttyout).
const PIECE_MAX: usize = 2 << 20;
/// An attacher's pieces hold about this long of what it drains. Much
/// shorter than [`LAGGARD_TIMEOUT`]: with a few pieces in flight (the
/// stream's channel, HTTP/2's buffer), one must still leave well within it.
pub const PIECE_TIME: Duration = Duration::from_millis(100);
/// An attacher's pace is measured over windows of at least this long, and
/// its pieces at most double per window. Until its buffers (HTTP/2's
/// windows, the stream's channel) are full, a slow client takes messages
/// as fast as a quick one: growth by time, not by message, keeps what
/// fills them small, so it is not sent pieces it would take seconds to
/// drain before its pace shows.
const PACE_WINDOW: Duration = Duration::from_millis(20);
/// Hard cap: an attacher this far behind is dropped at once.
const ATTACHER_HARD_CAP: usize = 4 * ATTACHER_BUDGET;
/// Size of one read from a PTY or pipe.
pub(crate) const READ_CHUNK: usize = 128 * 1024;
/// Output already waiting is gathered up to this much per message.
pub(crate) const COALESCE: usize = 64 * 1024;

/// What an attacher receives.
#[derive(Debug, Clone)]
pub enum Event {
    Output(StreamKind, Bytes),
    /// The attacher fell behind and was dropped; this many bytes it missed.
    Lagged(u64),
    /// The container exited and all its output has been sent.
    Exit(ExitStatus),
}

/// The most recent output, at most [`REPLAY_BYTES`].
#[derive(Default)]
struct Replay {
    chunks: VecDeque<(StreamKind, Bytes)>,
    bytes: usize,
}

impl Replay {
    fn push(&mut self, kind: StreamKind, data: &Bytes) {
        let data = if data.len() > REPLAY_BYTES {
            // A copy, not a slice: a slice would keep a terminal's whole
            // batch (megabytes, see ttyout) alive for as long as it is
            // replayed.
            Bytes::copy_from_slice(&data[data.len() - REPLAY_BYTES..])
        } else {
            data.clone()
        };
        self.bytes += data.len();
        self.chunks.push_back((kind, data));
        while self.bytes > REPLAY_BYTES {
            let excess = self.bytes - REPLAY_BYTES;
            let front = self.chunks.front_mut().expect("bytes > 0 means a chunk");
            if front.1.len() <= excess {
                self.bytes -= front.1.len();
                self.chunks.pop_front();
            } else {
                front.1 = front.1.slice(excess..);
                self.bytes -= excess;
            }
        }
    }
}

/// When an attacher last took output (nanoseconds from [`Taken::epoch`];
/// at first, when it attached).
struct Taken {
    epoch: tokio::time::Instant,
    at: AtomicU64,
}

impl Taken {
    fn new(epoch: tokio::time::Instant) -> Self {
        let t = Self {
            epoch,
            at: AtomicU64::new(0),
        };
        t.touch();
        t
    }

    fn touch(&self) {
        let since = tokio::time::Instant::now().duration_since(self.epoch);
        self.at.store(since.as_nanos() as u64, Ordering::Release);
    }

    fn last(&self) -> tokio::time::Instant {
        self.epoch + Duration::from_nanos(self.at.load(Ordering::Acquire))
    }
}

struct AttacherTx {
    id: u64,
    tx: mpsc::UnboundedSender<Event>,
    queued: Arc<AtomicUsize>,
    taken: Arc<Taken>,
}

/// The receiving side of one attacher.
pub struct Attacher {
    pub id: u64,
    rx: mpsc::UnboundedReceiver<Event>,
    queued: Arc<AtomicUsize>,
    taken: Arc<Taken>,
    room: Arc<Notify>,
    /// An event taken while gathering output, or the rest of one cut into
    /// pieces, to be returned next.
    held: Option<Event>,
    /// The largest piece of output to return: see [`Attacher::paced`].
    piece: usize,
    /// The current pace window: when it began, and what was sent in it.
    window: (tokio::time::Instant, usize),
}

impl Attacher {
    /// The next event. Output of one stream already queued behind it is
    /// gathered into one chunk of up to [`COALESCE`] bytes: an attacher that
    /// has fallen behind catches up in fewer, larger messages (a PTY hands
    /// out 4 KiB at a time, and each message costs far more than its copy).
    /// Output larger than the attacher's piece size is cut (no copy) and
    /// the rest returned next.
    pub async fn recv(&mut self) -> Option<Event> {
        let ev = match self.held.take() {
            Some(ev) => ev,
            None => self.rx.recv().await?,
        };
        let Event::Output(kind, mut first) = ev else {
            return Some(ev);
        };
        if first.len() > self.piece {
            let rest = first.split_off(self.piece);
            self.held = Some(Event::Output(kind, rest));
            self.taken(first.len());
            return Some(Event::Output(kind, first));
        }
        self.taken(first.len());
        let mut gathered: Option<BytesMut> = None;
        let mut len = first.len();
        while len < COALESCE {
            match self.rx.try_recv() {
                Ok(Event::Output(k, b)) if k == kind && len + b.len() <= COALESCE => {
                    self.taken(b.len());
                    len += b.len();
                    gathered
                        .get_or_insert_with(|| {
                            let mut g = BytesMut::with_capacity(COALESCE);
                            g.extend_from_slice(&first);
                            g
                        })
                        .extend_from_slice(&b);
                }
                Ok(other) => {
                    self.held = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        Some(Event::Output(
            kind,
            gathered.map(BytesMut::freeze).unwrap_or(first),
        ))
    }

    /// Accounts for `n` bytes leaving the queue, and wakes the readers when
    /// that brings this attacher back under its budget.
    fn taken(&self, n: usize) {
        self.taken.touch();
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before > ATTACHER_BUDGET && before - n <= ATTACHER_BUDGET {
            self.room.notify_waiters();
        }
    }

    /// Tells how much the last message held, once the client's stream
    /// took it: the pace at which it does sizes the next pieces. Like TCP's
    /// slow start: a new attacher starts at [`PIECE_MIN`], and its pieces
    /// hold about [`PIECE_TIME`] of what it took in the last window (bytes
    /// over time), growing at most twofold per [`PACE_WINDOW`]. So a fast
    /// client gets whole batches within 0.1 s, and a slow one takes
    /// something well within [`LAGGARD_TIMEOUT`] however slow it is.
    ///
    /// Bytes over time, not a message's wait for room: HTTP/2 lets the
    /// shim send as the client opens its window, in bursts, so one wait
    /// says little. Nor a doubling whenever the client kept up: when the
    /// container is the slower one, that says nothing of what the client
    /// can take, and pieces grown meanwhile would go to it in the next
    /// burst.
    pub fn paced(&mut self, len: usize) {
        let now = tokio::time::Instant::now();
        let (start, bytes) = &mut self.window;
        *bytes += len;
        let elapsed = now.duration_since(*start);
        if elapsed < PACE_WINDOW {
            return;
        }
        let pace = *bytes as u128 * PIECE_TIME.as_nanos() / elapsed.as_nanos();
        let grown = self.piece.saturating_mul(2).min(PIECE_MAX);
        self.piece = (pace as usize).clamp(PIECE_MIN, grown);
        self.window = (now, 0);
    }
}

#[derive(Default)]
struct HubInner {
    log: Option<LogWriter>,
    replay: Replay,
    attachers: Vec<AttacherTx>,
    next_id: u64,
    exit: Option<ExitStatus>,
}

/// Fans output out to the log, the replay buffer and the attachers.
pub struct OutputHub {
    // A std mutex: it is held for a few memcpys and never across an await.
    inner: Mutex<HubInner>,
    open_streams: AtomicUsize,
    drained: Notify,
    /// Notified when an attacher gets back under its budget, or is removed.
    room: Arc<Notify>,
    epoch: tokio::time::Instant,
}

impl OutputHub {
    pub fn new(log: Option<LogWriter>) -> Self {
        Self {
            inner: Mutex::new(HubInner {
                log,
                ..Default::default()
            }),
            open_streams: AtomicUsize::new(0),
            drained: Notify::new(),
            room: Arc::new(Notify::new()),
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Removes the attachers `drop` picks, and wakes readers waiting for
    /// them.
    fn remove_attachers(&self, g: &mut HubInner, mut drop: impl FnMut(&AttacherTx) -> bool) {
        let before = g.attachers.len();
        g.attachers.retain(|a| !drop(a));
        if g.attachers.len() < before {
            self.room.notify_waiters();
        }
    }

    pub fn publish(&self, kind: StreamKind, data: Bytes) {
        let mut g = self.inner.lock().unwrap();
        if let Some(log) = g.log.as_mut() {
            log.write(kind, &data);
        }
        g.replay.push(kind, &data);
        self.remove_attachers(&mut g, |a| {
            let queued = a.queued.load(Ordering::Acquire);
            if queued + data.len() > ATTACHER_HARD_CAP {
                drop_laggard(a, queued);
                return true;
            }
            a.queued.fetch_add(data.len(), Ordering::AcqRel);
            a.tx.send(Event::Output(kind, data.clone())).is_err()
        });
    }

    /// When the attacher over budget that has gone longest without taking
    /// anything last took something, if any is over budget.
    fn stalest_over_budget(&self) -> Option<tokio::time::Instant> {
        let g = self.inner.lock().unwrap();
        g.attachers
            .iter()
            .filter(|a| a.queued.load(Ordering::Acquire) > ATTACHER_BUDGET)
            .map(|a| a.taken.last())
            .min()
    }

    /// Called by a reader before it reads more: waits while an attacher is
    /// over budget and still draining; drops one when it has taken nothing
    /// for [`LAGGARD_TIMEOUT`].
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some(last) = self.stalest_over_budget() else {
                return;
            };
            if tokio::time::timeout_at(last + LAGGARD_TIMEOUT, notified)
                .await
                .is_ok()
            {
                continue;
            }
            let now = tokio::time::Instant::now();
            let mut g = self.inner.lock().unwrap();
            self.remove_attachers(&mut g, |a| {
                let queued = a.queued.load(Ordering::Acquire);
                let stalled = now.duration_since(a.taken.last()) >= LAGGARD_TIMEOUT;
                if queued > ATTACHER_BUDGET && stalled {
                    drop_laggard(a, queued);
                    return true;
                }
                false
            });
        }
    }

    /// Registers an attacher. With `replay`, it first gets the recent
    /// output; either way it then gets every later byte, with no gap and no
    /// duplicate, since both happen under one lock.
    pub fn attach(&self, replay: bool) -> Attacher {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(Taken::new(self.epoch));
        let mut g = self.inner.lock().unwrap();
        let id = g.next_id;
        g.next_id += 1;
        if replay {
            for (kind, data) in &g.replay.chunks {
                queued.fetch_add(data.len(), Ordering::Relaxed);
                let _ = tx.send(Event::Output(*kind, data.clone()));
            }
        }
        if let Some(exit) = &g.exit {
            let _ = tx.send(Event::Exit(exit.clone()));
        } else {
            g.attachers.push(AttacherTx {
                id,
                tx,
                queued: queued.clone(),
                taken: taken.clone(),
            });
        }
        Attacher {
            id,
            rx,
            queued,
            taken,
            room: self.room.clone(),
            held: None,
            piece: PIECE_MIN,
            window: (tokio::time::Instant::now(), 0),
        }
    }

    pub fn detach(&self, id: u64) {
        let mut g = self.inner.lock().unwrap();
        self.remove_attachers(&mut g, |a| a.id == id);
    }

    /// Waits, once the container has exited, for every output stream to
    /// reach EOF; false if it gave up. The namespace's processes all die
    /// with its init, so the streams reach EOF once the readers have read
    /// what is left, but they may be waiting for an attacher that is
    /// behind: it gets every byte for as long as it keeps taking them (one
    /// that stops is dropped after [`LAGGARD_TIMEOUT`]). So this gives up
    /// only when no attacher has taken anything (or attached) for twice
    /// that: against the unforeseen.
    pub async fn drained_after_exit(&self) -> bool {
        let start = tokio::time::Instant::now();
        while tokio::time::timeout(LAGGARD_TIMEOUT, self.drained())
            .await
            .is_err()
        {
            let last = self.latest_take().map_or(start, |t| t.max(start));
            if last.elapsed() >= 2 * LAGGARD_TIMEOUT {
                return false;
            }
        }
        true
    }

    /// When an attacher last took something (or attached).
    fn latest_take(&self) -> Option<tokio::time::Instant> {
        let g = self.inner.lock().unwrap();
        g.attachers.iter().map(|a| a.taken.last()).max()
    }

    pub fn attacher_count(&self) -> usize {
        self.inner.lock().unwrap().attachers.len()
    }

    /// Sends the exit to every attacher and ends their streams.
    pub fn finish(&self, exit: &ExitStatus) {
        let mut g = self.inner.lock().unwrap();
        g.exit = Some(exit.clone());
        for a in g.attachers.drain(..) {
            let _ = a.tx.send(Event::Exit(exit.clone()));
        }
        if let Some(log) = g.log.as_mut() {
            log.flush();
        }
    }

    /// Waits until every output stream has reached end of file.
    pub async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.open_streams.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn stream_opened(&self) {
        self.open_streams.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn stream_closed(&self) {
        if self.open_streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }
}

fn drop_laggard(a: &AttacherTx, queued: usize) {
    tracing::warn!(attacher = a.id, queued, "attacher fell behind; dropping it");
    let _ = a.tx.send(Event::Lagged(queued as u64));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn replay_keeps_the_newest_bytes() {
        let mut r = Replay::default();
        r.push(
            StreamKind::Stdout,
            &Bytes::from(vec![b'a'; REPLAY_BYTES - 10]),
        );
        r.push(StreamKind::Stderr, &Bytes::from(vec![b'b'; 20]));
        assert_eq!(r.bytes, REPLAY_BYTES);
        let all: Vec<u8> = r.chunks.iter().flat_map(|c| c.1.to_vec()).collect();
        assert_eq!(all.len(), REPLAY_BYTES);
        assert!(all.ends_with(&[b'b'; 20]));
        r.push(
            StreamKind::Stdout,
            &Bytes::from(vec![b'c'; REPLAY_BYTES * 2]),
        );
        assert_eq!(r.bytes, REPLAY_BYTES);
        assert_eq!(r.chunks.len(), 1);
    }

    #[tokio::test]
    async fn queued_output_is_gathered_per_stream_in_order() {
        let hub = OutputHub::new(None);
        let mut a = hub.attach(false);
        let out = |d: &'static [u8]| hub.publish(StreamKind::Stdout, Bytes::from_static(d));
        out(b"a");
        out(b"b");
        hub.publish(StreamKind::Stderr, Bytes::from_static(b"c"));
        out(b"d");
        let big = Bytes::from(vec![7u8; COALESCE]);
        hub.publish(StreamKind::Stdout, big.clone());
        out(b"e");
        let got = |ev: Option<Event>| match ev {
            Some(Event::Output(k, d)) => (k, d.to_vec()),
            other => panic!("{other:?}"),
        };
        assert_eq!(got(a.recv().await), (StreamKind::Stdout, b"ab".to_vec()));
        assert_eq!(got(a.recv().await), (StreamKind::Stderr, b"c".to_vec()));
        // Never more than COALESCE in one message: the big chunk waits.
        assert_eq!(got(a.recv().await), (StreamKind::Stdout, b"d".to_vec()));
        assert_eq!(got(a.recv().await), (StreamKind::Stdout, big.to_vec()));
        assert_eq!(got(a.recv().await), (StreamKind::Stdout, b"e".to_vec()));
        assert_eq!(a.queued.load(Ordering::Acquire), 0, "every byte accounted");
        hub.finish(&ExitStatus {
            code: 0,
            signal: 0,
            at: UNIX_EPOCH,
            oom_killed: false,
            error: None,
        });
        assert!(matches!(a.recv().await, Some(Event::Exit(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn attachers_get_replay_then_live_and_laggards_are_dropped() {
        let hub = OutputHub::new(None);
        hub.publish(StreamKind::Stdout, Bytes::from_static(b"early"));
        let mut a = hub.attach(true);
        let mut b = hub.attach(false);
        hub.publish(StreamKind::Stderr, Bytes::from_static(b"late"));
        match a.recv().await {
            Some(Event::Output(StreamKind::Stdout, d)) => assert_eq!(&d[..], b"early"),
            other => panic!("{other:?}"),
        }
        for x in [&mut a, &mut b] {
            match x.recv().await {
                Some(Event::Output(StreamKind::Stderr, d)) => assert_eq!(&d[..], b"late"),
                other => panic!("{other:?}"),
            }
        }
        // b never reads again: once it is over budget, the reader waits for
        // it at most LAGGARD_TIMEOUT, then drops it, while a (reading) keeps
        // going.
        let chunk = Bytes::from(vec![0u8; 1 << 20]);
        let mut lagged = false;
        for _ in 0..(ATTACHER_BUDGET >> 20) + 2 {
            hub.wait_for_room().await;
            hub.publish(StreamKind::Stdout, chunk.clone());
            let mut got = 0;
            while got < chunk.len() {
                match a.recv().await {
                    Some(Event::Output(_, d)) => got += d.len(),
                    other => panic!("{other:?}"),
                }
            }
        }
        while let Some(ev) = b.recv().await {
            if let Event::Lagged(_) = ev {
                lagged = true;
            }
        }
        assert!(lagged, "the laggard was told");
        assert_eq!(hub.attacher_count(), 1);
    }

    fn output_len(ev: Option<Event>) -> usize {
        match ev {
            Some(Event::Output(_, d)) => d.len(),
            other => panic!("{other:?}"),
        }
    }

    /// Takes the next piece (one is queued) into `got` and tells the
    /// attacher it was sent: (the piece's size, bytes still queued).
    async fn take(a: &mut Attacher, got: &mut Vec<u8>) -> (usize, usize) {
        let piece = a.piece;
        let ev = tokio::time::timeout(Duration::from_secs(5), a.recv()).await;
        let Ok(Some(Event::Output(_, d))) = ev else {
            panic!("no output: {ev:?}")
        };
        assert!(d.len() <= piece, "{} > {piece}", d.len());
        got.extend_from_slice(&d);
        a.paced(d.len());
        (d.len(), a.queued.load(Ordering::Acquire))
    }

    #[tokio::test(start_paused = true)]
    async fn output_is_cut_into_pieces_sized_to_the_attachers_pace() {
        let hub = OutputHub::new(None);
        let mut a = hub.attach(false);
        let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        for batch in data.chunks(PIECE_MAX) {
            hub.publish(StreamKind::Stdout, Bytes::copy_from_slice(batch));
        }
        let mut got = Vec::new();
        // A new attacher starts small, and however fast the client takes
        // them, pieces grow only with time: at most once per PACE_WINDOW.
        for _ in 0..3 {
            take(&mut a, &mut got).await;
        }
        assert_eq!(a.piece, PIECE_MIN);
        // Then, while the client takes far more than a piece per
        // PIECE_TIME, they double every PACE_WINDOW.
        let mut sizes = Vec::new();
        for _ in 0..5 {
            tokio::time::advance(PACE_WINDOW).await;
            sizes.push(a.piece);
            take(&mut a, &mut got).await;
        }
        assert_eq!(sizes, [1, 2, 4, 8, 16].map(|k| k * PIECE_MIN));
        assert_eq!(a.piece, PIECE_MAX);
        // A piece ends where its batch does (the fifth was its rest), and
        // the next batch goes whole.
        assert_eq!(got.len(), PIECE_MAX);
        assert_eq!(take(&mut a, &mut got).await.0, PIECE_MAX);
        // A client that took a second for this window's two batches gets
        // pieces of PIECE_TIME of its pace: a tenth of them.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(take(&mut a, &mut got).await.0, PIECE_MAX);
        assert_eq!(a.piece, 2 * PIECE_MAX / 10);
        // However slow, never below PIECE_MIN.
        tokio::time::advance(Duration::from_secs(60)).await;
        take(&mut a, &mut got).await;
        assert_eq!(a.piece, PIECE_MIN);
        // Nor does a window with a burst after a long wait (or a quiet
        // container) make them grow past the pace: bytes over its time.
        tokio::time::advance(Duration::from_secs(1)).await;
        take(&mut a, &mut got).await;
        assert_eq!(a.piece, PIECE_MIN);
        while take(&mut a, &mut got).await.1 > 0 {}
        // Cut without loss, in order, and every byte accounted as taken
        // (the loop ran until none was queued).
        assert_eq!(got, data);
    }

    // Time is paused: the runtime skips ahead whenever every task waits.
    #[tokio::test(start_paused = true)]
    async fn an_attacher_over_budget_is_kept_while_it_drains_and_dropped_when_it_stops() {
        let hub = Arc::new(OutputHub::new(None));
        let mut slow = hub.attach(false);
        let batch = Bytes::from(vec![1u8; PIECE_MAX]);
        let total = 5 * ATTACHER_BUDGET;
        // The container writes batches as fast as the readers let it.
        let reader = {
            let hub = hub.clone();
            let batch = batch.clone();
            tokio::spawn(async move {
                let mut sent = 0;
                while sent < total {
                    hub.wait_for_room().await;
                    hub.publish(StreamKind::Stdout, batch.clone());
                    sent += batch.len();
                }
            })
        };
        // The client takes 64 KiB per 400 ms (160 KB/s): over budget it
        // needs 13 s to drain one batch, longer than LAGGARD_TIMEOUT, but
        // it takes something every 400 ms, so it is kept.
        let start = tokio::time::Instant::now();
        let mut got = 0;
        let mut last_take = start;
        while got < total {
            got += output_len(slow.recv().await);
            last_take = tokio::time::Instant::now();
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        reader.await.unwrap();
        assert_eq!(hub.attacher_count(), 1, "kept: it never stopped taking");
        assert!(
            start.elapsed() > 10 * LAGGARD_TIMEOUT,
            "it was slow: {:?}",
            start.elapsed()
        );
        // Then it stops taking: once it is over budget again, the readers
        // drop it LAGGARD_TIMEOUT after its last take, and the container
        // goes on.
        for _ in 0..(ATTACHER_BUDGET / PIECE_MAX) + 2 {
            hub.wait_for_room().await;
            hub.publish(StreamKind::Stdout, batch.clone());
        }
        hub.wait_for_room().await;
        assert_eq!(last_take.elapsed(), LAGGARD_TIMEOUT);
        assert_eq!(hub.attacher_count(), 0);
        let mut lagged = false;
        while let Some(ev) = slow.recv().await {
            lagged |= matches!(ev, Event::Lagged(_));
        }
        assert!(lagged, "the laggard was told");
    }

    // Paused time, as above.
    #[tokio::test(start_paused = true)]
    async fn the_exit_waits_for_output_while_an_attacher_takes_it() {
        let hub = Arc::new(OutputHub::new(None));
        let mut slow = hub.attach(false);
        hub.stream_opened();
        for _ in 0..10 {
            hub.publish(StreamKind::Stdout, Bytes::from(vec![0u8; PIECE_MIN]));
        }
        // The reader ends (EOF) once the attacher has taken everything,
        // a piece every 4 s: 40 s, far past 2 * LAGGARD_TIMEOUT.
        let reader = {
            let hub = hub.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_secs(4)).await;
                    output_len(slow.recv().await);
                }
                hub.stream_closed();
            })
        };
        let start = tokio::time::Instant::now();
        assert!(hub.drained_after_exit().await, "waited while output moved");
        assert!(start.elapsed() >= Duration::from_secs(40));
        reader.await.unwrap();
        // A stream that never ends, with nothing moving: given up.
        hub.stream_opened();
        let start = tokio::time::Instant::now();
        assert!(!hub.drained_after_exit().await);
        assert_eq!(start.elapsed(), 2 * LAGGARD_TIMEOUT);
    }

    // Paused time, as above.
    #[tokio::test(start_paused = true)]
    async fn readers_waiting_for_an_attacher_go_on_as_soon_as_it_detaches() {
        let hub = Arc::new(OutputHub::new(None));
        let a = hub.attach(false);
        for _ in 0..3 {
            hub.publish(StreamKind::Stdout, Bytes::from(vec![0u8; PIECE_MAX]));
        }
        let start = tokio::time::Instant::now();
        let detach = {
            let hub = hub.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                hub.detach(a.id);
            })
        };
        // Two readers (a pipe container's stdout and stderr) wait for it.
        tokio::join!(hub.wait_for_room(), hub.wait_for_room());
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        detach.await.unwrap();
        assert_eq!(hub.attacher_count(), 0);
    }
}
