//! What a shim serves: at most one container, the one of its id, from
//! Create to its removal. Both API fronts go through here to reach it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mydocker::state as disk;
use tokio::sync::Notify;
use tracing::Instrument;

use super::error::{invalid, ContainerError, Result};
use super::{Container, ContainerConfig, Status};
use crate::exit::ExitStatus;
use crate::process::reaper::Reaper;

pub struct Shim {
    id: String,
    dir: PathBuf,
    reaper: Arc<Reaper>,
    container: Mutex<Slot>,
    /// Notified when the shim should stop serving and exit.
    pub exit: Arc<Notify>,
    /// Client connections open (see the server): the shim of an
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

    /// The container of this id.
    pub fn lookup(&self, id: &str) -> Result<Arc<Container>> {
        if id != self.id {
            // A malformed id is the caller's mistake, not a missing container.
            mydocker::validate_id(id).map_err(|e| invalid(e.to_string()))?;
            return Err(ContainerError::NotFound(id.into()));
        }
        self.container()
            .ok_or_else(|| ContainerError::NotFound(id.into()))
    }

    /// Creates the container; with `auto_remove`, it also belongs to the
    /// shim from now on, which removes it once its command has exited and
    /// then exits itself.
    pub fn create(self: &Arc<Self>, config: ContainerConfig) -> Result<Arc<Container>> {
        if config.id != self.id {
            mydocker::validate_id(&config.id).map_err(|e| invalid(e.to_string()))?;
            return Err(ContainerError::NotThisShim {
                serves: self.id.clone(),
                asked: config.id,
            });
        }
        {
            let mut slot = self.container.lock().unwrap();
            match *slot {
                Slot::Empty => *slot = Slot::Creating,
                Slot::Deleted => return Err(ContainerError::Deleted(self.id.clone())),
                _ => return Err(ContainerError::AlreadyExists(self.id.clone())),
            }
        }
        let root = self.dir.parent().unwrap_or(&self.dir).to_path_buf();
        let name = config.name.clone();
        if !name.is_empty() {
            if let Err(e) = disk::reserve_name(&root, &name, &self.id) {
                *self.container.lock().unwrap() = Slot::Empty;
                return Err(e.into());
            }
        }
        let c = match Container::create(config, &self.dir) {
            Ok(c) => {
                // Registered before any await, so the reaper cannot miss it.
                self.reaper.watch(c.pid(), c.clone());
                *self.container.lock().unwrap() = Slot::Live(c.clone());
                c
            }
            Err(e) => {
                disk::release_name(&root, &name, &self.id);
                *self.container.lock().unwrap() = Slot::Empty;
                return Err(e);
            }
        };
        if c.config.auto_remove {
            self.remove_after_exit(c.clone());
        }
        Ok(c)
    }

    /// Its exit wakes the Wait and Attach calls in flight and this alike:
    /// the removal does not take their status away.
    fn remove_after_exit(self: &Arc<Self>, c: Arc<Container>) {
        let shim = self.clone();
        tokio::spawn(
            async move {
                c.wait().await;
                // A failed Start is answered with the error, and the caller
                // may Wait for the code: it stays for Delete.
                if c.ran() {
                    // The removal blocks this thread for a while (ten
                    // rmdirs, the records): let the connections send the
                    // exit status first, so that clients take it and hang
                    // up meanwhile.
                    tokio::task::yield_now().await;
                    shim.remove(&c);
                    // No client asked for this: each takes the rest of the
                    // output and the exit status at its own pace (a
                    // `run --rm ... | less`), and hangs up; stopping the
                    // server now would cut them off.
                    let _ = shim.clients.subscribe().wait_for(|n| *n == 0).await;
                    shim.exit.notify_one();
                }
            }
            .in_current_span(),
        );
    }

    /// Deletes the container of `id` (killing one never started) and lets
    /// the shim exit: its exit status.
    pub async fn delete(&self, id: &str) -> Result<ExitStatus> {
        let c = self.lookup(id)?;
        let status = match c.status() {
            Status::Running => return Err(ContainerError::StillRunning(c.id().into())),
            // Never started: its init is waiting on the pipe and holds
            // nothing of the user's.
            Status::Created => c.kill_and_wait().await,
            Status::Exited => c.wait().await,
        };
        self.remove(&c);
        self.exit.notify_one();
        Ok(status)
    }

    /// Starts exec `exec_id` of container `id`: its pid once its command
    /// runs.
    pub async fn start_exec(&self, id: &str, exec_id: &str) -> Result<nix::unistd::Pid> {
        let c = self.lookup(id)?;
        let e = c.exec(exec_id)?;
        // Held until Start knows, so that its exit (which takes it too)
        // carries why it could not run.
        let _guard = e.start_lock().await;
        // Deleted (or replaced) while this waited for the lock?
        if !c.exec(exec_id).is_ok_and(|now| Arc::ptr_eq(&now, &e)) {
            return Err(ContainerError::NoSuchExec(exec_id.into()));
        }
        if !e.is_created() {
            return Err(ContainerError::ExecAlreadyStarted(exec_id.into()));
        }
        let starting = match c.launch(&e).and_then(|l| e.spawn(l, &self.reaper)) {
            Ok(s) => s,
            Err(err) => {
                // It will never run (the container stopped meanwhile, or
                // its pipes could not be made): Wait has its status.
                if e.is_created() {
                    e.never_ran(&err);
                }
                return Err(err);
            }
        };
        e.started(starting).await
    }

    /// Lets the shim exit, if it holds no container.
    pub fn shutdown(&self) -> Result<()> {
        if let Some(c) = self.container() {
            return Err(ContainerError::StillExists(c.id().into()));
        }
        tracing::info!("shutting down");
        self.exit.notify_one();
        Ok(())
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
        c.poststop();
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

    /// As the shim stops serving, however that came about: nothing of the
    /// container may outlive it.
    pub async fn end(&self) {
        if let Some(c) = self.container() {
            tracing::info!("killing the container before exiting");
            c.kill_and_wait().await;
            c.remove_cgroup();
            if let Some(root) = c.dir.parent() {
                disk::release_name(root, &c.config.name, c.id());
            }
        }
    }
}
