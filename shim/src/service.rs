//! The gRPC service: the only module that knows the wire types. Each handler
//! checks the id, opens a span with it, calls into the container, and turns
//! errors into a `Status` in one place.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mydocker::v1::{self, attach_request, attach_response, shim_server::Shim as ShimApi};
use tokio::sync::{mpsc, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use crate::container::{
    self, nanos, Container, ContainerConfig, ContainerError, ExitStatus, Limits,
};
use crate::io::{Event, StdinOp, StreamKind};
use crate::reaper::Reaper;
use mydocker::state::{self as disk, StateError};

/// The one conversion from our errors to gRPC codes.
impl From<ContainerError> for Status {
    fn from(e: ContainerError) -> Self {
        use ContainerError as E;
        let msg = e.to_string();
        match e {
            E::InvalidArgument(_) => Status::invalid_argument(msg),
            E::AlreadyStarted(_)
            | E::NotRunning(_)
            | E::StillRunning(_)
            | E::ExitedBeforeStart(_)
            | E::ExecFailed(_) => Status::failed_precondition(msg),
            E::Cgroup(crate::cgroup::CgroupError::Invalid(_)) => Status::invalid_argument(msg),
            E::Cgroup(crate::cgroup::CgroupError::Write { .. }) => Status::invalid_argument(msg),
            E::Cgroup(_) => Status::failed_precondition(msg),
            E::Io(crate::io::IoError::NoStdin | crate::io::IoError::NoTerminal) => {
                Status::failed_precondition(msg)
            }
            E::State(StateError::NameInUse(..)) => Status::already_exists(msg),
            E::State(StateError::InvalidName(_)) => Status::invalid_argument(msg),
            E::Spawn(_) | E::Io(_) | E::Relay(_) | E::Sys { .. } | E::State(_) => {
                tracing::error!(error = %msg, "internal error");
                Status::internal(msg)
            }
        }
    }
}

/// What the shim serves: at most one container, the one of its id.
pub struct Shim {
    id: String,
    dir: PathBuf,
    reaper: Arc<Reaper>,
    container: Mutex<Slot>,
    /// Notified when the shim should stop serving and exit.
    pub exit: Arc<Notify>,
    /// Client connections open (see server.rs): the shim of an
    /// auto-removed container stays until the last one hangs up.
    pub clients: tokio::sync::watch::Sender<usize>,
}

#[derive(Default)]
enum Slot {
    #[default]
    Empty,
    /// Create is in progress: a second Create must not start another init.
    Creating,
    Live(Arc<Container>),
    Deleted,
}

impl Shim {
    pub fn new(id: String, dir: PathBuf, reaper: Arc<Reaper>) -> Arc<Self> {
        Arc::new(Self {
            id,
            dir,
            reaper,
            container: Mutex::new(Slot::Empty),
            exit: Arc::new(Notify::new()),
            clients: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Whether no container was ever created here (nor is being created).
    pub fn never_had_a_container(&self) -> bool {
        matches!(*self.container.lock().unwrap(), Slot::Empty)
    }

    /// The live container, if any.
    pub fn container(&self) -> Option<Arc<Container>> {
        match &*self.container.lock().unwrap() {
            Slot::Live(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// Removes the container, once: its cgroup (killing what is left in
    /// it), its name and its state dir go. For Delete, and for the exit of
    /// an `auto_remove` container; the caller then lets the shim exit.
    fn remove(&self, c: &Container) {
        {
            let mut slot = self.container.lock().unwrap();
            if matches!(*slot, Slot::Deleted) {
                return;
            }
            *slot = Slot::Deleted;
        }
        c.remove_cgroup();
        if let Some(root) = self.dir.parent() {
            disk::release_name(root, &c.config.name, c.id());
        }
        // Gone before the answer: whoever deleted it can rely on it. The
        // shim keeps serving this last response on its open connection.
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(error = %e, "removing the state dir failed");
        }
        tracing::info!("deleted");
    }

    fn lookup(&self, id: &str) -> Result<Arc<Container>, Status> {
        if id != self.id {
            // A malformed id is the caller's mistake, not a missing container.
            mydocker::validate_id(id).map_err(|e| Status::invalid_argument(e.to_string()))?;
            return Err(Status::not_found(format!("no such container: {id}")));
        }
        self.container()
            .ok_or_else(|| Status::not_found(format!("no such container: {id}")))
    }

    fn create(&self, config: ContainerConfig) -> Result<Arc<Container>, Status> {
        if config.id != self.id {
            mydocker::validate_id(&config.id)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            return Err(Status::failed_precondition(format!(
                "this shim serves container {}, not {}",
                self.id, config.id
            )));
        }
        {
            let mut slot = self.container.lock().unwrap();
            match *slot {
                Slot::Empty => *slot = Slot::Creating,
                Slot::Deleted => {
                    return Err(Status::failed_precondition(format!(
                        "container {} was deleted; this shim is exiting",
                        self.id
                    )))
                }
                _ => {
                    return Err(Status::already_exists(format!(
                        "container {} already exists",
                        self.id
                    )))
                }
            }
        }
        let root = self.dir.parent().unwrap_or(&self.dir).to_path_buf();
        let name = config.name.clone();
        if !name.is_empty() {
            if let Err(e) = disk::reserve_name(&root, &name, &self.id) {
                *self.container.lock().unwrap() = Slot::Empty;
                return Err(ContainerError::from(e).into());
            }
        }
        match Container::create(config, &self.dir) {
            Ok(c) => {
                // Registered before any await, so the reaper cannot miss it.
                self.reaper.watch(c.pid(), c.clone());
                *self.container.lock().unwrap() = Slot::Live(c.clone());
                Ok(c)
            }
            Err(e) => {
                disk::release_name(&root, &name, &self.id);
                *self.container.lock().unwrap() = Slot::Empty;
                Err(e.into())
            }
        }
    }
}

pub struct ShimService {
    shim: Arc<Shim>,
}

impl ShimService {
    pub fn new(shim: Arc<Shim>) -> Self {
        Self { shim }
    }
}

fn exit_to_proto(s: &ExitStatus) -> v1::ExitStatus {
    v1::ExitStatus {
        exit_code: s.code,
        signal: s.signal,
        exited_at_unix_nanos: nanos(s.at),
        oom_killed: s.oom_killed,
        error: s.error.clone().unwrap_or_default(),
    }
}

fn config_from_proto(r: v1::CreateRequest) -> Result<ContainerConfig, Status> {
    let size = r.terminal_size.map(|s| (s.rows, s.cols));
    let terminal_size = match size {
        None => None,
        Some((rows, cols)) => Some((
            u16::try_from(rows)
                .map_err(|_| Status::invalid_argument("terminal rows over 65535"))?,
            u16::try_from(cols)
                .map_err(|_| Status::invalid_argument("terminal cols over 65535"))?,
        )),
    };
    let limits: Limits = r.resources.unwrap_or_default().into();
    Ok(ContainerConfig {
        id: r.id,
        name: r.name,
        argv: r.argv,
        env: r.env,
        cwd: r.cwd,
        hostname: r.hostname,
        tty: r.tty,
        stdin: r.stdin,
        terminal_size,
        limits,
        privileged: r.privileged,
        auto_remove: r.auto_remove,
    })
}

/// Create, for the Create call and for an Attach that opens with `create`.
fn create_container(shim: &Arc<Shim>, req: v1::CreateRequest) -> Result<Arc<Container>, Status> {
    let config = config_from_proto(req)?;
    let c = shim.create(config)?;
    if c.config.auto_remove {
        // Its exit wakes the Wait and Attach calls in flight and this
        // alike: the removal does not take their status away.
        let (shim, c) = (shim.clone(), c.clone());
        tokio::spawn(
            async move {
                c.wait().await;
                // A failed Start is answered with the error, and the
                // caller may Wait for the code: it stays for Delete.
                if c.ran() {
                    // The removal blocks this thread for a while (ten
                    // rmdirs, the records): let the connections send
                    // the exit status first, so that clients take it
                    // and hang up meanwhile.
                    tokio::task::yield_now().await;
                    shim.remove(&c);
                    // No client asked for this: each takes the rest of
                    // the output and the exit status at its own pace (a
                    // `run --rm ... | less`), and hangs up; stopping the
                    // server now would cut them off.
                    let _ = shim.clients.subscribe().wait_for(|n| *n == 0).await;
                    shim.exit.notify_one();
                }
            }
            .in_current_span(),
        );
    }
    Ok(c)
}

#[tonic::async_trait]
impl ShimApi for ShimService {
    #[tracing::instrument(name = "Create", skip_all, fields(container_id = %req.get_ref().id))]
    async fn create(
        &self,
        req: Request<v1::CreateRequest>,
    ) -> Result<Response<v1::CreateResponse>, Status> {
        let c = create_container(&self.shim, req.into_inner())?;
        Ok(Response::new(v1::CreateResponse {
            pid: c.pid().as_raw() as u32,
        }))
    }

    #[tracing::instrument(name = "Start", skip_all, fields(container_id = %req.get_ref().id))]
    async fn start(
        &self,
        req: Request<v1::StartRequest>,
    ) -> Result<Response<v1::StartResponse>, Status> {
        let c = self.shim.lookup(&req.get_ref().id)?;
        // In a task of its own: if the client goes away mid-Start, tonic
        // drops this future, and a Start cut between sending the command
        // and recording the result would leave a running container that
        // says Created.
        let pid = tokio::spawn(async move { c.start().await }.in_current_span())
            .await
            .map_err(|e| Status::internal(format!("start: {e}")))??;
        Ok(Response::new(v1::StartResponse {
            pid: pid.as_raw() as u32,
        }))
    }

    #[tracing::instrument(name = "Wait", skip_all, fields(container_id = %req.get_ref().id))]
    async fn wait(
        &self,
        req: Request<v1::WaitRequest>,
    ) -> Result<Response<v1::WaitResponse>, Status> {
        let c = self.shim.lookup(&req.get_ref().id)?;
        let status = c.wait().await;
        Ok(Response::new(v1::WaitResponse {
            status: Some(exit_to_proto(&status)),
        }))
    }

    #[tracing::instrument(name = "Kill", skip_all, fields(container_id = %req.get_ref().id, signal = req.get_ref().signal))]
    async fn kill(
        &self,
        req: Request<v1::KillRequest>,
    ) -> Result<Response<v1::KillResponse>, Status> {
        let r = req.into_inner();
        let c = self.shim.lookup(&r.id)?;
        c.kill(r.signal, r.all)?;
        Ok(Response::new(v1::KillResponse {}))
    }

    type AttachStream = ReceiverStream<Result<v1::AttachResponse, Status>>;

    #[tracing::instrument(name = "Attach", skip_all)]
    async fn attach(
        &self,
        req: Request<Streaming<v1::AttachRequest>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let inbound = req.into_inner();
        // What waits here is past the attacher's byte budget: a terminal's
        // batch is up to 2 MiB, so only a couple.
        let (tx, rx) = mpsc::channel(2);
        // The response stream must be returned before the first inbound
        // message is awaited, or client and server wait on each other.
        tokio::spawn(attach_session(self.shim.clone(), inbound, tx).in_current_span());
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    #[tracing::instrument(name = "State", skip_all, fields(container_id = %req.get_ref().id))]
    async fn state(
        &self,
        req: Request<v1::StateRequest>,
    ) -> Result<Response<v1::StateResponse>, Status> {
        let c = self.shim.lookup(&req.get_ref().id)?;
        let s = c.snapshot();
        Ok(Response::new(v1::StateResponse {
            id: c.id().to_string(),
            status: match s.status {
                container::Status::Created => v1::Status::Created,
                container::Status::Running => v1::Status::Running,
                container::Status::Exited => v1::Status::Exited,
            } as i32,
            pid: s.pid,
            exit: s.exit.as_ref().map(exit_to_proto),
            argv: c.config.argv.clone(),
            tty: c.config.tty,
            stdin: c.config.stdin,
            created_at_unix_nanos: nanos(s.created_at),
            started_at_unix_nanos: s.started_at.map(nanos).unwrap_or(0),
            name: c.config.name.clone(),
            shim_pid: std::process::id(),
        }))
    }

    #[tracing::instrument(name = "Delete", skip_all, fields(container_id = %req.get_ref().id))]
    async fn delete(
        &self,
        req: Request<v1::DeleteRequest>,
    ) -> Result<Response<v1::DeleteResponse>, Status> {
        let c = self.shim.lookup(&req.get_ref().id)?;
        let status = match c.status() {
            container::Status::Running => {
                return Err(ContainerError::StillRunning(c.id().into()).into())
            }
            // Never started: its init is waiting on the pipe and holds
            // nothing of the user's.
            container::Status::Created => c.kill_and_wait().await,
            container::Status::Exited => c.wait().await,
        };
        self.shim.remove(&c);
        self.shim.exit.notify_one();
        Ok(Response::new(v1::DeleteResponse {
            status: Some(exit_to_proto(&status)),
        }))
    }

    #[tracing::instrument(name = "Stats", skip_all, fields(container_id = %req.get_ref().id))]
    async fn stats(
        &self,
        req: Request<v1::StatsRequest>,
    ) -> Result<Response<v1::StatsResponse>, Status> {
        let c = self.shim.lookup(&req.get_ref().id)?;
        let s = c
            .stats()
            .ok_or_else(|| Status::failed_precondition("the container has no cgroup any more"))?;
        Ok(Response::new(v1::StatsResponse {
            memory_usage_bytes: s.memory_usage_bytes,
            memory_limit_bytes: s.memory_limit_bytes,
            cpu_usage_nanos: s.cpu_usage_nanos,
            cpu_throttled_nanos: s.cpu_throttled_nanos,
            cpu_throttled_periods: s.cpu_throttled_periods,
            pids_current: s.pids_current,
            pids_limit: s.pids_limit,
            read_at_unix_nanos: nanos(SystemTime::now()),
            online_cpus: mydocker::units::online("cpu").len() as u32,
            cgroup: c.cgroup_path(),
        }))
    }

    #[tracing::instrument(name = "Update", skip_all, fields(container_id = %req.get_ref().id))]
    async fn update(
        &self,
        req: Request<v1::UpdateRequest>,
    ) -> Result<Response<v1::UpdateResponse>, Status> {
        let r = req.into_inner();
        let c = self.shim.lookup(&r.id)?;
        let res = r.resources.unwrap_or_default();
        if !res.cgroup_parent.is_empty() {
            return Err(Status::invalid_argument(
                "the cgroup parent of a container cannot change",
            ));
        }
        c.update(&res.into())?;
        tracing::info!("limits updated");
        Ok(Response::new(v1::UpdateResponse {}))
    }

    #[tracing::instrument(name = "Shutdown", skip_all)]
    async fn shutdown(
        &self,
        _req: Request<v1::ShutdownRequest>,
    ) -> Result<Response<v1::ShutdownResponse>, Status> {
        if let Some(c) = self.shim.container() {
            return Err(Status::failed_precondition(format!(
                "container {} still exists: delete it first",
                c.id()
            )));
        }
        tracing::info!("shutting down");
        self.shim.exit.notify_one();
        Ok(Response::new(v1::ShutdownResponse {}))
    }
}

type Tx = mpsc::Sender<Result<v1::AttachResponse, Status>>;

fn out(msg: attach_response::Msg) -> Result<v1::AttachResponse, Status> {
    Ok(v1::AttachResponse { msg: Some(msg) })
}

/// One Attach stream: input from the client toward the container, output
/// and the exit from the container toward the client.
async fn attach_session(shim: Arc<Shim>, mut inbound: Streaming<v1::AttachRequest>, tx: Tx) {
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
    if let Some(create) = open.create.take() {
        if !open.id.is_empty() && open.id != create.id {
            let msg = "attach: `id` and `create.id` differ";
            let _ = tx.send(Err(Status::invalid_argument(msg))).await;
            return;
        }
        open.id.clone_from(&create.id);
        let span = tracing::info_span!("Create", container_id = %create.id);
        match span.in_scope(|| create_container(&shim, *create)) {
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
    let container = match made.map_or_else(|| shim.lookup(&open.id), Ok) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    let span = tracing::info_span!("attach", container_id = %open.id);
    async move {
        let mut attacher = container.hub.attach(open.replay);
        tracing::debug!(attacher = attacher.id, "attached");
        let mut pid = 0;
        if open.start {
            // This session is a task of its own (see `attach`), which a
            // client gone mid-start does not cut short.
            match container.start().await {
                Ok(p) => pid = p.as_raw() as u32,
                Err(e) => {
                    container.hub.detach(attacher.id);
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
            container.hub.detach(attacher.id);
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
        container.hub.detach(attacher.id);
    }
    .instrument(span)
    .await
}

/// `Err(None)` ends the stream quietly (detach); `Err(Some)` with an error.
async fn handle_input(c: &Container, m: v1::AttachRequest) -> Result<(), Option<Status>> {
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
            let (Ok(rows), Ok(cols)) = (u16::try_from(ws.rows), u16::try_from(ws.cols)) else {
                return Err(Some(Status::invalid_argument(format!(
                    "invalid terminal size {}x{}: rows and cols must be 1 to 65535",
                    ws.rows, ws.cols
                ))));
            };
            c.resize(rows, cols).map_err(|e| Some(e.into()))
        }
        Some(Msg::Detach(_)) => Err(None),
        Some(Msg::Open(_)) => Err(Some(Status::invalid_argument(
            "`open` may be sent only once",
        ))),
        None => Ok(()),
    }
}
