//! Serving the API on the shim's socket until the container is deleted, the
//! shim is told to shut down, or it gets SIGTERM/SIGINT.

use std::convert::Infallible;
use std::future::Future;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use mydocker::v1::shim_server::ShimServer;
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::UdsConnectInfo;

use super::service::ShimService;
use crate::container::shim::Shim;
use crate::process::reaper::Reaper;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("serve: {0}")]
    Transport(#[from] tonic::transport::Error),
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> ServerError {
    move |source| ServerError::Io { what, source }
}

/// Lets in only root and the shim's own user, whatever the socket's mode
/// says: the kernel's account of the caller (SO_PEERCRED) is checked on
/// every request.
#[allow(clippy::result_large_err)]
fn check_peer(req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    let cred = req
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|i| i.peer_cred);
    let me = nix::unistd::geteuid().as_raw();
    match cred {
        Some(c) if c.uid() == 0 || c.uid() == me => Ok(req),
        Some(c) => {
            tracing::warn!(uid = c.uid(), pid = ?c.pid(), "refused a caller");
            Err(tonic::Status::permission_denied(format!(
                "uid {} may not use this shim (only root and uid {me})",
                c.uid()
            )))
        }
        None => Err(tonic::Status::permission_denied(
            "the caller's credentials are unknown",
        )),
    }
}

/// The incoming connections, each counted in `Shim::clients` while open.
fn counted(
    listener: tokio::net::UnixListener,
    shim: Arc<Shim>,
) -> impl tokio_stream::Stream<Item = std::io::Result<Counted>> {
    use tokio_stream::StreamExt;
    UnixListenerStream::new(listener).map(move |r| {
        r.map(|io| {
            shim.clients.send_modify(|n| *n += 1);
            Counted {
                io,
                shim: shim.clone(),
            }
        })
    })
}

/// A client's connection.
struct Counted {
    io: tokio::net::UnixStream,
    shim: Arc<Shim>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.shim.clients.send_modify(|n| *n -= 1);
    }
}

impl tonic::transport::server::Connected for Counted {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Every service we serve is described, so `grpcurl list` shows them all.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(mydocker::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
}

type HttpRequest = tonic::codegen::http::Request<tonic::body::Body>;
type HttpResponse = tonic::codegen::http::Response<tonic::body::Body>;

/// A service built on its first request. Building reflection (both protocol
/// versions, three descriptor sets decoded and indexed) took longer than the
/// rest of the shim's start-up, on the path of every container's Create,
/// and most shims never answer a reflection request.
struct Lazy<S> {
    cell: Arc<OnceLock<Result<S, String>>>,
    build: fn() -> std::result::Result<S, tonic_reflection::server::Error>,
}

impl<S> Lazy<S> {
    fn new(build: fn() -> std::result::Result<S, tonic_reflection::server::Error>) -> Self {
        Self {
            cell: Arc::new(OnceLock::new()),
            build,
        }
    }
}

impl<S> Clone for Lazy<S> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            build: self.build,
        }
    }
}

impl<S: NamedService> NamedService for Lazy<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tonic::codegen::Service<HttpRequest> for Lazy<S>
where
    S: tonic::codegen::Service<HttpRequest, Response = HttpResponse, Error = Infallible> + Clone,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let built = self
            .cell
            .get_or_init(|| (self.build)().map_err(|e| e.to_string()));
        match built {
            // Generated gRPC services are always ready.
            Ok(svc) => Box::pin(svc.clone().call(req)),
            Err(e) => {
                let status = tonic::Status::internal(format!("reflection: {e}"));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// How long a shim without a container waits for a client.
pub const IDLE_ENV: &str = "MYDOCKER_SHIM_IDLE_SECS";
const IDLE_DEFAULT: Duration = Duration::from_secs(30);

fn idle_limit() -> Duration {
    std::env::var(IDLE_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(IDLE_DEFAULT, Duration::from_secs)
}

/// Resolves once the shim has had no container and no client for `limit`:
/// a shim whose spawner died before Create (a killed mydockerctl, an
/// embedder gone) would otherwise serve nobody for good. Never, once a
/// container has been created here.
async fn unused_for(shim: Arc<Shim>, limit: Duration) -> Duration {
    let mut clients = shim.clients.subscribe();
    loop {
        let _ = clients.wait_for(|n| *n == 0).await;
        if !shim.never_had_a_container() {
            return std::future::pending().await;
        }
        let came = tokio::select! {
            _ = tokio::time::sleep(limit) => false,
            _ = clients.wait_for(|n| *n > 0) => true,
        };
        if !came && *clients.borrow() == 0 && shim.never_had_a_container() {
            return limit;
        }
    }
}

/// Serves until told to stop, then makes sure no process of the container is
/// left behind.
pub async fn serve(id: String, dir: PathBuf, listener: StdUnixListener) -> Result<()> {
    listener
        .set_nonblocking(true)
        .map_err(io("set listener non-blocking"))?;
    let listener = tokio::net::UnixListener::from_std(listener).map_err(io("register listener"))?;
    let reaper = Reaper::start().map_err(io("install SIGCHLD handler"))?;
    let shim = Shim::new(id, dir, reaper);

    // grpcurl up to 1.8.x speaks only the v1alpha reflection protocol.
    let reflection_v1 = Lazy::new(|| reflection().build_v1());
    let reflection_v1alpha = Lazy::new(|| reflection().build_v1alpha());
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ShimServer<ShimService>>().await;

    let mut sigterm = signal(SignalKind::terminate()).map_err(io("install SIGTERM handler"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io("install SIGINT handler"))?;
    let exit = shim.exit.clone();
    let unused = unused_for(shim.clone(), idle_limit());
    let stop = async move {
        tokio::select! {
            _ = exit.notified() => {}
            _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = sigint.recv() => tracing::info!("SIGINT: shutting down"),
            limit = unused => tracing::info!(
                seconds = limit.as_secs(),
                "no container and no client: shutting down"
            ),
        }
    };
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .add_service(InterceptedService::new(
            ShimServer::new(ShimService::new(shim.clone()))
                .max_decoding_message_size(mydocker::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(mydocker::MAX_MESSAGE_BYTES),
            check_peer,
        ))
        .add_service(InterceptedService::new(reflection_v1, check_peer))
        .add_service(InterceptedService::new(reflection_v1alpha, check_peer))
        .add_service(InterceptedService::new(health_service, check_peer))
        .serve_with_incoming_shutdown(counted(listener, shim.clone()), async move {
            stop.await;
            let _ = stopped_tx.send(());
        });
    tokio::pin!(server);
    let served = tokio::select! {
        r = &mut server => r,
        _ = stopped_rx => {
            // Let in-flight answers (the Delete that asked for this) go out,
            // but do not wait on clients that keep connections open.
            if tokio::time::timeout(Duration::from_secs(2), &mut server).await.is_err() {
                tracing::debug!("clients still connected at exit");
            }
            Ok(())
        }
    };
    // Whatever ended the serving, nothing of the container may outlive us.
    shim.end().await;
    Ok(served?)
}

#[cfg(test)]
mod tests {
    /// Reflection is built on first use; its inputs are compiled in, so
    /// this proves the build cannot fail in a shim.
    #[test]
    fn reflection_builds_from_the_embedded_descriptors() {
        super::reflection().build_v1().unwrap();
        super::reflection().build_v1alpha().unwrap();
    }
}
