//! The client side of an Attach stream: output to our stdout and stderr,
//! stdin and signals toward the container.

use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use mydocker::v1::{self, attach_request, attach_response};
use mydocker::ShimClient;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::terminal::{window_size, DetachMatcher, Scan};

/// An open Attach stream on which the shim has confirmed registration.
pub struct Session {
    pub id: String,
    /// The exec attached to; empty: the container's command.
    pub exec_id: String,
    pub input: mpsc::Sender<v1::AttachRequest>,
    pub output: Streaming<v1::AttachResponse>,
}

/// An open Attach call: our input's sender, and the output.
type Stream = (
    mpsc::Sender<v1::AttachRequest>,
    Streaming<v1::AttachResponse>,
);

fn req(msg: attach_request::Msg) -> v1::AttachRequest {
    v1::AttachRequest { msg: Some(msg) }
}

/// A status that the connection, not the shim, gave.
fn transport_failure(s: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        s.code(),
        Code::Unavailable | Code::Cancelled | Code::Unknown | Code::DeadlineExceeded
    )
}

/// What [`Session::run`] came to.
pub enum RunOpen {
    /// Created, attached and started.
    Started(Box<Session>),
    /// Created, but the start was refused, with this status
    /// (FAILED_PRECONDITION: the command could not be executed).
    Refused(tonic::Status),
    /// Not created: the status Create was answered with.
    NotCreated(tonic::Status),
    /// The call broke off before the shim said whether it created the
    /// container (the connection's status).
    BrokeOff(tonic::Status),
}

impl Session {
    /// Creates the container, attaches and starts it, in one call
    /// (`AttachOpen.create` and `start`): docker's `run`.
    pub async fn run(
        client: &mut ShimClient,
        request: &v1::CreateRequest,
    ) -> anyhow::Result<RunOpen> {
        let id = request.id.clone();
        let open = v1::AttachOpen {
            id: id.clone(),
            replay: false,
            start: true,
            create: Some(Box::new(request.clone())),
            ..Default::default()
        };
        let created = match Self::call(client, open).await? {
            Ok((input, mut output)) => match output.message().await {
                Ok(Some(v1::AttachResponse {
                    msg: Some(attach_response::Msg::Created(_)),
                })) => Ok((input, output)),
                Ok(_) => anyhow::bail!("attach: the shim did not confirm the create"),
                Err(s) => Err(s),
            },
            Err(s) => Err(s),
        };
        let (input, mut output) = match created {
            Ok(opened) => opened,
            // A shim older than `create` ignored it, and found no container
            // of this id: the two calls it knows, then.
            Err(s) if s.code() == tonic::Code::NotFound => {
                if let Err(s) = client.create(request.clone()).await {
                    return Ok(RunOpen::NotCreated(s));
                }
                return Ok(match Self::open_and_start(client, &id, false).await? {
                    Ok(session) => RunOpen::Started(Box::new(session)),
                    Err(s) => RunOpen::Refused(s),
                });
            }
            // The call broke off: whether the container was made is not
            // known here.
            Err(s) if transport_failure(&s) => return Ok(RunOpen::BrokeOff(s)),
            Err(s) => return Ok(RunOpen::NotCreated(s)),
        };
        match output.message().await {
            Ok(Some(v1::AttachResponse {
                msg: Some(attach_response::Msg::Attached(_)),
            })) => Ok(RunOpen::Started(Box::new(Self {
                id,
                exec_id: String::new(),
                input,
                output,
            }))),
            Ok(_) => anyhow::bail!("attach: the shim did not confirm the attach"),
            Err(s) if s.code() == tonic::Code::FailedPrecondition => Ok(RunOpen::Refused(s)),
            Err(s) => Err(crate::containers::status_error(&id, s)),
        }
    }

    pub async fn open(client: &mut ShimClient, id: &str, replay: bool) -> anyhow::Result<Self> {
        Self::begin(client, id, "", replay, false)
            .await?
            .map(|(session, _)| session)
            .map_err(|s| crate::containers::status_error(id, s))
    }

    /// Attaches and starts the container in one call (`AttachOpen.start`):
    /// no round trip between the two, and no output missed. `Ok(Err)` is
    /// the status the start was refused with (FAILED_PRECONDITION).
    pub async fn open_and_start(
        client: &mut ShimClient,
        id: &str,
        replay: bool,
    ) -> anyhow::Result<Result<Self, tonic::Status>> {
        let (session, pid) = match Self::begin(client, id, "", replay, true).await? {
            Ok(opened) => opened,
            Err(s) if s.code() == tonic::Code::FailedPrecondition => return Ok(Err(s)),
            Err(s) => return Err(crate::containers::status_error(id, s)),
        };
        if pid == 0 {
            // A shim from before `start` (a container created before an
            // upgrade) attached without starting: start it the old way; the
            // attach is in place, so nothing is missed either.
            if let Err(s) = client
                .start(v1::StartRequest {
                    id: id.to_string(),
                    ..Default::default()
                })
                .await
            {
                return Ok(Err(s));
            }
        }
        Ok(Ok(session))
    }

    /// Opens an Attach call with `open` as its first message: our input's
    /// sender and the output, or the status the call was refused with.
    async fn call(
        client: &mut ShimClient,
        open: v1::AttachOpen,
    ) -> anyhow::Result<Result<Stream, tonic::Status>> {
        let (input, rx) = mpsc::channel(64);
        input
            .send(req(attach_request::Msg::Open(open)))
            .await
            .context("attach")?;
        Ok(client
            .attach(ReceiverStream::new(rx))
            .await
            .map(|r| (input, r.into_inner())))
    }

    /// Attaches to exec `exec_id` of container `id` and starts it, in one
    /// call: docker's `exec`. `Ok(Err)` is the status the start was
    /// refused with.
    pub async fn exec_and_start(
        client: &mut ShimClient,
        id: &str,
        exec_id: &str,
    ) -> anyhow::Result<Result<Self, tonic::Status>> {
        Ok(Self::begin(client, id, exec_id, false, true)
            .await?
            .map(|(session, _)| session))
    }

    async fn begin(
        client: &mut ShimClient,
        id: &str,
        exec_id: &str,
        replay: bool,
        start: bool,
    ) -> anyhow::Result<Result<(Self, u32), tonic::Status>> {
        let open = v1::AttachOpen {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            replay,
            start,
            create: None,
        };
        let (input, mut output) = match Self::call(client, open).await? {
            Ok(opened) => opened,
            Err(s) if !exec_id.is_empty() => return Ok(Err(s)),
            Err(s) => return Err(crate::containers::status_error(id, s)),
        };
        let pid = match output.message().await {
            Ok(Some(v1::AttachResponse {
                msg: Some(attach_response::Msg::Attached(a)),
            })) => a.pid,
            Ok(_) => anyhow::bail!("attach: the shim did not confirm the attach"),
            Err(s) => return Ok(Err(s)),
        };
        Ok(Ok((
            Self {
                id: id.to_string(),
                exec_id: exec_id.to_string(),
                input,
                output,
            },
            pid,
        )))
    }

    pub async fn resize(&self, rows: u16, cols: u16) {
        let _ = self
            .input
            .send(req(attach_request::Msg::Resize(v1::WindowSize {
                rows: rows.into(),
                cols: cols.into(),
            })))
            .await;
    }

    /// Forwards our stdin to the container until EOF, then closes its stdin.
    /// With detach keys, typing them detaches instead (and sets `detached`).
    /// A thread, not a task: reading a terminal or pipe blocks, and the
    /// thread is simply abandoned when the container exits first.
    pub fn forward_stdin(&self, detach_keys: Option<Vec<u8>>, detached: Arc<AtomicBool>) {
        let tx = self.input.clone();
        std::thread::spawn(move || {
            let mut matcher = detach_keys.map(DetachMatcher::new);
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 64 * 1024];
            let send = |data: &[u8]| {
                data.is_empty()
                    || tx
                        .blocking_send(req(attach_request::Msg::Stdin(Bytes::copy_from_slice(
                            data,
                        ))))
                        .is_ok()
            };
            loop {
                let n = match std::io::Read::read(&mut stdin, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let scan = match matcher.as_mut() {
                    Some(m) => m.scan(&buf[..n]),
                    None => Scan::Forward(buf[..n].to_vec()),
                };
                match scan {
                    Scan::Forward(data) => {
                        if !send(&data) {
                            return;
                        }
                    }
                    Scan::Detach(data) => {
                        send(&data);
                        detached.store(true, Ordering::SeqCst);
                        let _ = tx.blocking_send(req(attach_request::Msg::Detach(v1::Detach {})));
                        return;
                    }
                }
            }
            let _ = tx.blocking_send(req(attach_request::Msg::CloseStdin(v1::CloseStdin {})));
        });
    }

    /// Copies output until the container exits, the client detaches, or a
    /// signal ends the session. In proxy mode (no terminal) SIGINT, SIGTERM,
    /// SIGHUP and SIGQUIT are sent on to the container, as docker's sig-proxy
    /// does; with a terminal they end the session instead (the container
    /// keeps running), and SIGWINCH resizes the container's terminal.
    pub async fn copy_output(
        &mut self,
        client: &ShimClient,
        mut signals: Option<Signals>,
        tty: bool,
        detached: &AtomicBool,
    ) -> anyhow::Result<Outcome> {
        let mut winch = if tty {
            Some(signal(SignalKind::window_change()).context("install SIGWINCH handler")?)
        } else {
            None
        };
        let mut out = RawOut::new(1);
        let mut err = RawOut::new(2);
        loop {
            tokio::select! {
                msg = self.output.message() => {
                    let msg = match msg {
                        Ok(Some(m)) => m.msg,
                        Ok(None) if detached.load(Ordering::SeqCst) => return Ok(Outcome::Detached),
                        Ok(None) => return Ok(Outcome::Ended),
                        Err(s) => {
                            warn(&format!("attach stream ended: {}", s.message()));
                            return Ok(Outcome::Ended);
                        }
                    };
                    match msg {
                        Some(attach_response::Msg::Stdout(b)) => out.write(&b),
                        Some(attach_response::Msg::Stderr(b)) => err.write(&b),
                        Some(attach_response::Msg::Exit(s)) => return Ok(Outcome::Exited(s)),
                        Some(attach_response::Msg::Lagged(l)) => {
                            warn(&format!(
                                "output fell {} bytes behind and was cut off; the container log has all of it",
                                l.dropped_bytes
                            ));
                            return Ok(Outcome::Ended);
                        }
                        Some(attach_response::Msg::Attached(_) | attach_response::Msg::Created(_))
                        | None => {}
                    }
                }
                Some(sig) = async {
                    match signals.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if tty {
                        return Ok(Outcome::Signaled(sig));
                    }
                    let mut c = client.clone();
                    let _ = c.kill(v1::KillRequest { id: self.id.clone(), exec_id: self.exec_id.clone(), signal: sig, all: false }).await;
                }
                Some(()) = async {
                    match winch.as_mut() {
                        Some(w) => w.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some((rows, cols)) = window_size(0).or_else(|| window_size(1)) {
                        let _ = self.input.send(req(attach_request::Msg::Resize(v1::WindowSize {
                            rows: rows.into(),
                            cols: cols.into(),
                        }))).await;
                    }
                }
            }
        }
    }
}

/// How an attached session ended.
pub enum Outcome {
    Exited(v1::ExitStatus),
    Detached,
    /// The stream ended without an exit (the client fell behind, or the
    /// shim went away): ask Wait.
    Ended,
    /// A signal ended the session (terminal mode).
    Signaled(i32),
}

fn warn(msg: &str) {
    eprintln!("mydockerctl: {msg}");
}

/// Unbuffered writes to a standard descriptor: output is passed on as it
/// comes, in the chunks it comes in. A closed reader (EPIPE) stops the copy
/// for that descriptor only.
struct RawOut {
    file: ManuallyDrop<std::fs::File>,
    broken: bool,
}

impl RawOut {
    fn new(fd: i32) -> Self {
        // SAFETY: fds 1 and 2 stay open for the life of the process, and
        // the ManuallyDrop keeps this File from closing them.
        let file = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        Self {
            file,
            broken: false,
        }
    }

    fn write(&mut self, b: &[u8]) {
        if !self.broken && self.file.write_all(b).is_err() {
            self.broken = true;
        }
    }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT, caught to be proxied. Installed
/// before the container starts, so none is lost in between.
pub struct Signals {
    streams: Vec<(i32, tokio::signal::unix::Signal)>,
}

impl Signals {
    pub fn install() -> anyhow::Result<Self> {
        let mut streams = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            streams.push((
                sig,
                signal(SignalKind::from_raw(sig)).context("install signal handler")?,
            ));
        }
        Ok(Self { streams })
    }

    async fn recv(&mut self) -> Option<i32> {
        let futs = self.streams.iter_mut().map(|(n, s)| {
            let n = *n;
            Box::pin(async move { s.recv().await.map(|_| n) })
        });
        futures_select_all(futs).await
    }
}

/// The first of several futures to finish.
async fn futures_select_all<F>(futs: impl Iterator<Item = std::pin::Pin<Box<F>>>) -> Option<i32>
where
    F: std::future::Future<Output = Option<i32>> + ?Sized,
{
    let mut futs: Vec<_> = futs.collect();
    std::future::poll_fn(move |cx| {
        for f in futs.iter_mut() {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}
