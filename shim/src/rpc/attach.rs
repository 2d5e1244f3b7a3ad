//! One Attach stream: the first message opens it (and may create and start
//! the container, as `run` does); then input flows from the client toward
//! the container, and output and the exit from the container toward the
//! client.

use std::sync::Arc;

use mydocker::v1::{self, attach_request, attach_response};
use nix::unistd::Pid;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};
use tracing::Instrument;

use super::convert::{config_from_proto, exit_to_proto, terminal_size};
use crate::container::exec::Exec;
use crate::container::shim::Shim;
use crate::container::{Container, ContainerError};
use crate::io::hub::Attacher;
use crate::io::hub::Event;
use crate::io::stdin::StdinOp;
use crate::stream::StreamKind;

type Tx = mpsc::Sender<Result<v1::AttachResponse, Status>>;

fn out(msg: attach_response::Msg) -> Result<v1::AttachResponse, Status> {
    Ok(v1::AttachResponse { msg: Some(msg) })
}

/// One Attach stream: input from the client toward the container, output
/// and the exit from the container toward the client.
pub async fn session(shim: Arc<Shim>, mut inbound: Streaming<v1::AttachRequest>, tx: Tx) {
    let mut open = match inbound.message().await {
        Ok(Some(v1::AttachRequest {
            msg: Some(attach_request::Msg::Open(open)),
        })) => open,
        Ok(_) => {
            let _ = tx
                .send(Err(Status::invalid_argument(
                    "the first Attach message must be `open`",
                )))
                .await;
            return;
        }
        // Cut short or not protobuf: the client hears why (unread if it
        // went away).
        Err(status) => {
            let _ = tx.send(Err(status)).await;
            return;
        }
    };
    let mut made = None;
    if open.create.is_some() && !open.exec_id.is_empty() {
        let msg = "attach: `create` and `exec_id` cannot go together";
        let _ = tx.send(Err(Status::invalid_argument(msg))).await;
        return;
    }
    if let Some(create) = open.create.take() {
        if !open.id.is_empty() && open.id != create.id {
            let msg = "attach: `id` and `create.id` differ";
            let _ = tx.send(Err(Status::invalid_argument(msg))).await;
            return;
        }
        open.id.clone_from(&create.id);
        let span = tracing::info_span!("Create", container_id = %create.id);
        let made_now = config_from_proto(*create)
            .and_then(|config| span.in_scope(|| shim.create(config)).map_err(Status::from));
        match made_now {
            Ok(c) => made = Some(c),
            Err(s) => {
                let _ = tx.send(Err(s)).await;
                return;
            }
        }
    }
    // Sent with `attached` (or before the start's refusal): sent now, its
    // write would come before the command's start.
    let created = made.as_ref().map(|c| v1::CreateResponse {
        pid: c.pid().as_raw() as u32,
    });
    // A client gone while this created the container does not have it
    // started for nobody: it stays created, as when a client goes between
    // Create and Start.
    if open.start && created.is_some() && tx.is_closed() {
        return;
    }
    // Starting the container itself: a new run of it, if it has exited.
    let find = || match open.start && open.exec_id.is_empty() {
        true => shim.to_start(&open.id),
        false => shim.lookup(&open.id),
    };
    let container = match made.map_or_else(|| find().map_err(Status::from), Ok) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    let target = match open.exec_id.as_str() {
        "" => Target::Init(container),
        exec_id => match container.exec(exec_id) {
            Ok(e) => Target::Exec(shim.clone(), container, e),
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        },
    };
    let span = tracing::info_span!(
        "attach",
        container_id = %open.id,
        exec_id = tracing::field::Empty
    );
    if !open.exec_id.is_empty() {
        span.record("exec_id", open.exec_id.as_str());
    }
    let container = target;
    async move {
        let mut attacher = match container.attach(open.replay) {
            Ok(a) => a,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        };
        tracing::debug!(attacher = attacher.id, "attached");
        let mut pid = 0;
        if open.start {
            // This session is a task of its own (see `attach`), which a
            // client gone mid-start does not cut short.
            match container.start().await {
                Ok(p) => pid = p.as_raw() as u32,
                Err(e) => {
                    container.detach(attacher.id);
                    if let Some(c) = created {
                        let _ = tx.send(out(attach_response::Msg::Created(c))).await;
                    }
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            }
        }
        let confirmed = match created {
            Some(c) => tx.send(out(attach_response::Msg::Created(c))).await,
            None => Ok(()),
        };
        if confirmed.is_err()
            || tx
                .send(out(attach_response::Msg::Attached(v1::Attached { pid })))
                .await
                .is_err()
        {
            container.detach(attacher.id);
            return;
        }
        // Input in a task of its own: a container that does not read its
        // stdin makes writes wait, and that must not hold up its output
        // (which would get this client dropped as a laggard).
        let (end_tx, mut end_rx) = mpsc::channel::<Option<Status>>(1);
        let input = {
            let container = container.clone();
            tokio::spawn(
                async move {
                    loop {
                        match inbound.message().await {
                            Ok(Some(m)) => {
                                if let Err(end) = handle_input(&container, m).await {
                                    let _ = end_tx.send(end).await;
                                    return;
                                }
                            }
                            // The client closed its side; it still wants
                            // the output.
                            Ok(None) => return,
                            // A message that does not decode (cut short,
                            // not protobuf) ends the stream with tonic's
                            // status for it; a client that went away gets
                            // the same, unread.
                            Err(status) => {
                                let _ = end_tx.send(Some(status)).await;
                                return;
                            }
                        }
                    }
                }
                .in_current_span(),
            )
        };
        let mut input_open = true;
        loop {
            tokio::select! {
                ev = attacher.recv() => {
                    let msg = match ev {
                        Some(Event::Output(StreamKind::Stdout, b)) => attach_response::Msg::Stdout(b),
                        Some(Event::Output(StreamKind::Stderr, b)) => attach_response::Msg::Stderr(b),
                        Some(Event::Lagged(n)) => attach_response::Msg::Lagged(v1::Lagged { dropped_bytes: n }),
                        Some(Event::Exit(s)) => attach_response::Msg::Exit(exit_to_proto(&s)),
                        None => break,
                    };
                    let (last, len) = match &msg {
                        attach_response::Msg::Stdout(b) | attach_response::Msg::Stderr(b) => (false, b.len()),
                        _ => (true, 0),
                    };
                    if tx.send(out(msg)).await.is_err() {
                        break;
                    }
                    attacher.paced(len);
                    if last {
                        break;
                    }
                }
                end = end_rx.recv(), if input_open => match end {
                    Some(Some(s)) => { let _ = tx.send(Err(s)).await; break; }
                    Some(None) => { tracing::debug!("detached"); break; }
                    // Half-closed: output goes on.
                    None => input_open = false,
                },
            }
        }
        input.abort();
        container.detach(attacher.id);
    }
    .instrument(span)
    .await
}

/// What an Attach stream is attached to: the container's command, or one
/// of its execs.
#[derive(Clone)]
enum Target {
    Init(Arc<Container>),
    Exec(Arc<Shim>, Arc<Container>, Arc<Exec>),
}

impl Target {
    fn attach(&self, replay: bool) -> Result<Attacher, ContainerError> {
        match self {
            Target::Init(c) => Ok(c.attach(replay)),
            Target::Exec(_, _, e) => e.attach(replay),
        }
    }

    fn detach(&self, id: u64) {
        match self {
            Target::Init(c) => c.detach(id),
            Target::Exec(_, _, e) => e.detach(id),
        }
    }

    async fn start(&self) -> Result<Pid, ContainerError> {
        match self {
            Target::Init(c) => c.start().await,
            Target::Exec(shim, c, e) => shim.start_exec(c.id(), &e.id).await,
        }
    }

    async fn write_stdin(&self, op: StdinOp) -> Result<(), ContainerError> {
        match self {
            Target::Init(c) => c.write_stdin(op).await,
            Target::Exec(_, _, e) => e.write_stdin(op).await,
        }
    }

    fn resize(&self, rows: u16, cols: u16) -> Result<(), ContainerError> {
        match self {
            Target::Init(c) => c.resize(rows, cols),
            Target::Exec(_, _, e) => e.resize(rows, cols),
        }
    }
}

/// `Err(None)` ends the stream quietly (detach); `Err(Some)` with an error.
async fn handle_input(c: &Target, m: v1::AttachRequest) -> Result<(), Option<Status>> {
    use attach_request::Msg;
    match m.msg {
        Some(Msg::Stdin(b)) => c
            .write_stdin(StdinOp::Data(b))
            .await
            .map_err(|e| Some(e.into())),
        Some(Msg::CloseStdin(_)) => c
            .write_stdin(StdinOp::Close)
            .await
            .map_err(|e| Some(e.into())),
        Some(Msg::Resize(ws)) => {
            let (rows, cols) = terminal_size(&ws).map_err(Some)?;
            c.resize(rows, cols).map_err(|e| Some(e.into()))
        }
        Some(Msg::Detach(_)) => Err(None),
        Some(Msg::Open(_)) => Err(Some(Status::invalid_argument(
            "`open` may be sent only once",
        ))),
        None => Ok(()),
    }
}
