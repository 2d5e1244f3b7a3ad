//! The gRPC service, mydocker.shim.v1: each handler opens a span with the
//! container's id, converts the request, makes one call into the container
//! (through [`Shim`]), and converts the answer or the error
//! ([`super::convert`]). Nothing else happens here.

use std::sync::Arc;

use mydocker::v1::{self, shim_server::Shim as ShimApi};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::attach::session;
use super::convert::{
    config_from_proto, exec_from_proto, exit_to_proto, state_to_proto, stats_to_proto,
};
use crate::container::shim::Shim;

pub struct ShimService {
    shim: Arc<Shim>,
}

impl ShimService {
    pub fn new(shim: Arc<Shim>) -> Self {
        Self { shim }
    }
}

#[tonic::async_trait]
impl ShimApi for ShimService {
    #[tracing::instrument(name = "Create", skip_all, fields(container_id = %req.get_ref().id))]
    async fn create(
        &self,
        req: Request<v1::CreateRequest>,
    ) -> Result<Response<v1::CreateResponse>, Status> {
        let c = self.shim.create(config_from_proto(req.into_inner())?)?;
        Ok(Response::new(v1::CreateResponse {
            pid: c.pid().as_raw() as u32,
        }))
    }

    #[tracing::instrument(name = "Start", skip_all, fields(container_id = %req.get_ref().id, exec_id = tracing::field::Empty))]
    async fn start(
        &self,
        req: Request<v1::StartRequest>,
    ) -> Result<Response<v1::StartResponse>, Status> {
        let r = req.into_inner();
        exec_field(&r.exec_id);
        let c = match r.exec_id.as_str() {
            "" => self.shim.to_start(&r.id)?,
            _ => self.shim.lookup(&r.id)?,
        };
        // In a task of its own: if the client goes away mid-Start, tonic
        // drops this future, and a Start cut between sending the command
        // and recording the result would leave a running container that
        // says Created.
        let shim = self.shim.clone();
        let started = async move {
            match r.exec_id.as_str() {
                "" => c.start().await,
                exec_id => shim.start_exec(&r.id, exec_id).await,
            }
        };
        let pid = tokio::spawn(started.in_current_span())
            .await
            .map_err(|e| Status::internal(format!("start: {e}")))??;
        Ok(Response::new(v1::StartResponse {
            pid: pid.as_raw() as u32,
        }))
    }

    #[tracing::instrument(name = "Wait", skip_all, fields(container_id = %req.get_ref().id, exec_id = tracing::field::Empty))]
    async fn wait(
        &self,
        req: Request<v1::WaitRequest>,
    ) -> Result<Response<v1::WaitResponse>, Status> {
        let r = req.into_inner();
        exec_field(&r.exec_id);
        let c = self.shim.lookup(&r.id)?;
        let status = match r.exec_id.as_str() {
            "" => c.wait().await,
            exec_id => c.exec(exec_id)?.wait().await,
        };
        Ok(Response::new(v1::WaitResponse {
            status: Some(exit_to_proto(&status)),
        }))
    }

    #[tracing::instrument(name = "Kill", skip_all, fields(container_id = %req.get_ref().id, exec_id = tracing::field::Empty, signal = req.get_ref().signal))]
    async fn kill(
        &self,
        req: Request<v1::KillRequest>,
    ) -> Result<Response<v1::KillResponse>, Status> {
        let r = req.into_inner();
        exec_field(&r.exec_id);
        match r.exec_id.as_str() {
            "" => self.shim.kill(&r.id, r.signal, r.all)?,
            _ if r.all => {
                return Err(Status::invalid_argument(
                    "kill: `all` is for the container, not one of its execs",
                ))
            }
            exec_id => self.shim.lookup(&r.id)?.exec(exec_id)?.kill(r.signal)?,
        }
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
        tokio::spawn(session(self.shim.clone(), inbound, tx).in_current_span());
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    #[tracing::instrument(name = "State", skip_all, fields(container_id = %req.get_ref().id))]
    async fn state(
        &self,
        req: Request<v1::StateRequest>,
    ) -> Result<Response<v1::StateResponse>, Status> {
        let c = self.shim.lookup(&req.get_ref().id)?;
        Ok(Response::new(state_to_proto(&self.shim, &c)))
    }

    #[tracing::instrument(name = "Delete", skip_all, fields(container_id = %req.get_ref().id, exec_id = tracing::field::Empty))]
    async fn delete(
        &self,
        req: Request<v1::DeleteRequest>,
    ) -> Result<Response<v1::DeleteResponse>, Status> {
        let r = req.into_inner();
        exec_field(&r.exec_id);
        if !r.exec_id.is_empty() {
            let status = self.shim.lookup(&r.id)?.delete_exec(&r.exec_id)?;
            tracing::debug!("exec deleted");
            return Ok(Response::new(v1::DeleteResponse {
                status: status.as_ref().map(exit_to_proto),
            }));
        }
        let status = self.shim.delete(&r.id).await?;
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
        let s = c.stats()?;
        Ok(Response::new(stats_to_proto(&c, &s)))
    }

    #[tracing::instrument(name = "Update", skip_all, fields(container_id = %req.get_ref().id))]
    async fn update(
        &self,
        req: Request<v1::UpdateRequest>,
    ) -> Result<Response<v1::UpdateResponse>, Status> {
        let r = req.into_inner();
        self.shim
            .update(&r.id, &r.resources.unwrap_or_default().into())?;
        tracing::info!("limits updated");
        Ok(Response::new(v1::UpdateResponse {}))
    }

    #[tracing::instrument(name = "Exec", skip_all, fields(container_id = %req.get_ref().id, exec_id = tracing::field::Empty))]
    async fn exec(
        &self,
        req: Request<v1::ExecRequest>,
    ) -> Result<Response<v1::ExecResponse>, Status> {
        let (id, exec_id, config) = exec_from_proto(req.into_inner())?;
        let e = self.shim.lookup(&id)?.add_exec(exec_id, config)?;
        exec_field(&e.id);
        tracing::info!("exec added");
        Ok(Response::new(v1::ExecResponse {
            exec_id: e.id.clone(),
        }))
    }

    #[tracing::instrument(name = "Pause", skip_all, fields(container_id = %req.get_ref().id))]
    async fn pause(
        &self,
        req: Request<v1::PauseRequest>,
    ) -> Result<Response<v1::PauseResponse>, Status> {
        self.shim.pause(&req.get_ref().id, true).await?;
        Ok(Response::new(v1::PauseResponse {}))
    }

    #[tracing::instrument(name = "Resume", skip_all, fields(container_id = %req.get_ref().id))]
    async fn resume(
        &self,
        req: Request<v1::ResumeRequest>,
    ) -> Result<Response<v1::ResumeResponse>, Status> {
        self.shim.pause(&req.get_ref().id, false).await?;
        Ok(Response::new(v1::ResumeResponse {}))
    }

    #[tracing::instrument(name = "Rename", skip_all, fields(container_id = %req.get_ref().id))]
    async fn rename(
        &self,
        req: Request<v1::RenameRequest>,
    ) -> Result<Response<v1::RenameResponse>, Status> {
        let r = req.get_ref();
        self.shim.rename(&r.id, &r.name)?;
        Ok(Response::new(v1::RenameResponse {}))
    }

    #[tracing::instrument(name = "Shutdown", skip_all)]
    async fn shutdown(
        &self,
        _req: Request<v1::ShutdownRequest>,
    ) -> Result<Response<v1::ShutdownResponse>, Status> {
        self.shim.shutdown()?;
        Ok(Response::new(v1::ShutdownResponse {}))
    }
}

/// Puts an exec's id in the call's span (a call about the container itself
/// has none, and shows none).
fn exec_field(exec_id: &str) {
    if !exec_id.is_empty() {
        tracing::Span::current().record("exec_id", exec_id);
    }
}
