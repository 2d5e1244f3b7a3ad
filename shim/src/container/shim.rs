//! What a shim serves: at most one container, the one of its id, from
//! Create to its removal, over every run of it (docker's `start` of an
//! exited container, its restart policy). Both API fronts go through here
//! to reach it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use mydocker::state as disk;
use mydocker::units::Limits;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use super::error::{invalid, ContainerError, Result};
use super::network::{add_hosts, peers, Attached};
use super::restart::Backoff;
use super::{records, Container, ContainerConfig, Status};
use crate::exit::ExitStatus;
use crate::process::reaper::Reaper;
use crate::process::signal;

pub struct Shim {
    id: String,
    dir: PathBuf,
    reaper: Arc<Reaper>,
    container: Mutex<Slot>,
    /// The container as Create asked for it, with the limits as last
    /// updated: what each new run is made from.
    asked: Mutex<Option<ContainerConfig>>,
    /// Its name now (Rename changes it).
    name: Mutex<String>,
    /// Runs made by the restart policy since Create or the last Start of
    /// an exited container.
    restarts: AtomicU32,
    /// The policy waits to run it again.
    restarting: AtomicBool,
    /// The policy's delays (a Start begins them again).
    backoff: Mutex<Backoff>,
    /// A Kill ended the restart policy, until the next Start.
    stopped: watch::Sender<bool>,
    /// Counts the runs: a new run wakes the policy's wait.
    runs: watch::Sender<u64>,
    /// Its CNI network, attached at Create, detached at removal.
    network: Mutex<Option<Attached>>,
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
            asked: Mutex::new(None),
            network: Mutex::new(None),
            name: Mutex::new(String::new()),
            restarts: AtomicU32::new(0),
            restarting: AtomicBool::new(false),
            backoff: Mutex::new(Backoff::default()),
            stopped: watch::Sender::new(false),
            runs: watch::Sender::new(0),
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
        let mut asked = config.clone();
        let made = Container::create(config, &self.dir, None)
            .and_then(|c| self.attach(&c, &mut asked).map(|()| c));
        let c = match made {
            Ok(c) => {
                // Registered before any await, so the reaper cannot miss it.
                self.reaper.watch(c.pid(), c.clone());
                *self.container.lock().unwrap() = Slot::Live(c.clone());
                *self.name.lock().unwrap() = name;
                *self.asked.lock().unwrap() = Some(asked);
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
        if !c.config.restart.is_none() {
            self.supervise();
        }
        Ok(c)
    }

    /// Its CNI network's ADD, before Create returns: its address goes in
    /// its /etc/hosts, and each later run's init joins the namespace held.
    /// On failure the container is undone (its init killed, its cgroup
    /// and records removed).
    fn attach(&self, c: &Arc<Container>, asked: &mut ContainerConfig) -> Result<()> {
        if c.config.network.joined {
            let ns = format!("/proc/{}/ns/net", c.pid().as_raw());
            return match mydocker::cni::pin_netns(std::path::Path::new(&ns), &self.dir) {
                Ok(pin) => {
                    asked.netns = Some(pin.to_string_lossy().into_owned());
                    Ok(())
                }
                Err(e) => {
                    let _ = signal::send(c.pid(), libc::SIGKILL);
                    c.remove_cgroup();
                    records::forget(&self.dir);
                    Err(ContainerError::Sys {
                        what: "pin the network namespace joined",
                        source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                    })
                }
            };
        }
        let Some(net) = &c.config.network.cni else {
            return Ok(());
        };
        match Attached::add(net, &self.id, c.pid(), &self.dir) {
            Ok(a) => {
                if let Err(e) = add_hosts(&self.dir, &c.config.hostname, &a.addresses()) {
                    tracing::warn!(error = %e, "adding the address to /etc/hosts failed");
                }
                peers::link(
                    self.root(),
                    &self.dir,
                    a.network(),
                    &c.config.name,
                    &a.addresses(),
                    true,
                );
                asked.netns = Some(a.netns_path());
                *self.network.lock().unwrap() = Some(a);
                Ok(())
            }
            Err(e) => {
                let _ = signal::send(c.pid(), libc::SIGKILL);
                c.remove_cgroup();
                records::forget(&self.dir);
                Err(e)
            }
        }
    }

    /// The state root: the other containers' state dirs are beside ours.
    fn root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    /// DEL of its CNI network, if it has one (in the namespace still held).
    /// False if it failed: the state dir, the pin and the record then
    /// stay (see `Attached::del`).
    fn detach(&self) -> bool {
        match self.network.lock().unwrap().take() {
            Some(a) => {
                peers::unlink(
                    self.root(),
                    &self.dir,
                    a.network(),
                    &self.name(),
                    &a.addresses(),
                );
                a.del(&self.dir)
            }
            // Another's namespace joined, pinned (or nothing there).
            None => {
                mydocker::cni::unpin_netns(&self.dir);
                true
            }
        }
    }

    /// The container that Start (of the container itself) starts: a new
    /// run of it if it ran and has exited, as docker's `start` does. A
    /// Start re-arms a restart policy that a Kill ended, and counts its
    /// restarts from 0 again.
    pub fn to_start(&self, id: &str) -> Result<Arc<Container>> {
        let c = self.lookup(id)?;
        // Never asked to start, it is started as it is; an auto_remove
        // one is gone once it exits (its Start is refused).
        if c.status() != Status::Exited || !c.start_attempted() || c.config.auto_remove {
            return Ok(c);
        }
        let new = self.run_again(&c)?;
        *self.backoff.lock().unwrap() = Backoff::default();
        if !new.config.restart.is_none() {
            self.record_restarts(Some(0), false);
        }
        self.stopped.send_replace(false);
        Ok(new)
    }

    /// A new run of `old`, which has exited: a fresh init from the config
    /// Create was given (its limits as updated since), in a new cgroup,
    /// with the same id, name, creation time, state dir and log. If it
    /// cannot be made, `old` stays as it was.
    fn run_again(&self, old: &Arc<Container>) -> Result<Arc<Container>> {
        {
            let mut slot = self.container.lock().unwrap();
            match &*slot {
                Slot::Live(c) if Arc::ptr_eq(c, old) => *slot = Slot::Creating,
                _ => return Err(ContainerError::NotFound(self.id.clone())),
            }
        }
        let mut config = self
            .asked
            .lock()
            .unwrap()
            .clone()
            .expect("a live container was asked for");
        config.name = self.name.lock().unwrap().clone();
        let record = config.clone();
        // What is left of the last run (its own children) goes with its
        // cgroup, whose path the new run takes.
        old.remove_cgroup();
        match Container::create(config, &self.dir, Some(old.created_at)) {
            Ok(c) => {
                self.reaper.watch(c.pid(), c.clone());
                *self.container.lock().unwrap() = Slot::Live(c.clone());
                // Its /etc/hosts was written anew: its address again.
                if let Some(a) = self.network.lock().unwrap().as_ref() {
                    if let Err(e) = add_hosts(&self.dir, &c.config.hostname, &a.addresses()) {
                        tracing::warn!(error = %e, "adding the address to /etc/hosts failed");
                    }
                    let name = self.name();
                    peers::link(
                        self.root(),
                        &self.dir,
                        a.network(),
                        &name,
                        &a.addresses(),
                        false,
                    );
                }
                let _ = std::fs::remove_file(self.dir.join(disk::EXIT_FILE));
                self.runs.send_modify(|n| *n += 1);
                tracing::info!(pid = c.pid().as_raw(), "a new run of the container");
                Ok(c)
            }
            Err(e) => {
                *self.container.lock().unwrap() = Slot::Live(old.clone());
                let snap = old.snapshot();
                // As it was: exited, without a cgroup now.
                let _ = records::write_config(&self.dir, &record, String::new(), old.created_at)
                    .and_then(|_| {
                        records::write_state(
                            &self.dir,
                            disk::Phase::Running,
                            old.pid(),
                            snap.started_at,
                        )
                    });
                Err(e)
            }
        }
    }

    /// Carries out the restart policy, for as long as the shim holds the
    /// container: after each exit, unless a Kill ended it, waits its delay
    /// and runs it again.
    fn supervise(self: &Arc<Self>) {
        let shim = self.clone();
        tokio::spawn(
            async move {
                let mut runs = shim.runs.subscribe();
                let mut stopped = shim.stopped.subscribe();
                loop {
                    let Some(c) = shim.container() else { return };
                    runs.mark_unchanged();
                    let status = c.wait().await;
                    let policy = c.config.restart;
                    let restarts = shim.restarts.load(Ordering::SeqCst);
                    let again = c.start_attempted()
                        && !*stopped.borrow()
                        && policy.restarts_after(status.code, restarts);
                    if !again {
                        // Until a Start makes a new run (or never).
                        let _ = runs.changed().await;
                        continue;
                    }
                    let started = c.snapshot().started_at.unwrap_or(status.at);
                    let ran = status.at.duration_since(started).unwrap_or_default();
                    let delay = shim.backoff.lock().unwrap().next(ran);
                    shim.record_restarts(None, true);
                    tracing::info!(code = status.code, delay_ms = delay.as_millis() as u64, "restarting");
                    let go = tokio::select! {
                        _ = tokio::time::sleep(delay) => true,
                        _ = runs.changed() => false,
                        _ = stopped.wait_for(|s| *s) => false,
                    };
                    shim.record_restarts(None, false);
                    if !go || shim.container().is_none_or(|now| !Arc::ptr_eq(&now, &c)) {
                        continue;
                    }
                    let started = shim.run_again(&c).inspect(|_| {
                        let n = shim.restarts.load(Ordering::SeqCst) + 1;
                        shim.record_restarts(Some(n), false);
                    });
                    match started {
                        Ok(new) => {
                            if let Err(e) = new.start().await {
                                tracing::warn!(error = %e, "the restarted command did not run");
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "restarting failed; the policy waits for a Start");
                            let _ = runs.changed().await;
                        }
                    }
                }
            }
            .in_current_span(),
        );
    }

    /// Signals the container's command: which, from a client, also ends
    /// its restart policy (docker's, whose `stop` and `kill` both do),
    /// even when it has exited and waits to run again.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let c = self.lookup(id)?;
        let killed = c.kill(signal, all);
        // A bad signal changes nothing; a container that has exited may
        // still be about to run again.
        if matches!(killed, Ok(()) | Err(ContainerError::NotRunning(_))) {
            self.stopped.send_replace(true);
        }
        killed
    }

    /// Pauses (`on`) or resumes the container.
    pub async fn pause(&self, id: &str, on: bool) -> Result<()> {
        let c = self.lookup(id)?;
        match on {
            true => c.pause().await,
            false => c.resume(),
        }
    }

    /// Changes the limits, for this run and the next ones; of an exited
    /// container, for its next run (docker's).
    pub fn update(&self, id: &str, limits: &Limits) -> Result<()> {
        let c = self.lookup(id)?;
        if c.status() == Status::Exited && c.start_attempted() && !c.config.auto_remove {
            if !limits.cgroup_parent.is_empty() {
                return Err(invalid("the cgroup parent of a container cannot change"));
            }
            crate::cgroup::check(limits)?;
            records::update_limits(&self.dir, limits)?;
        } else {
            c.update(limits)?;
        }
        if let Some(asked) = self.asked.lock().unwrap().as_mut() {
            asked.limits.merge(limits);
        }
        Ok(())
    }

    /// Gives the container another name: the new one reserved first, so
    /// that a failure leaves the old one.
    pub fn rename(&self, id: &str, new: &str) -> Result<()> {
        self.lookup(id)?;
        let root = self.dir.parent().unwrap_or(&self.dir);
        let mut name = self.name.lock().unwrap();
        if new.is_empty() {
            return Err(invalid("a container cannot be renamed to no name"));
        }
        if *name == new {
            return Err(invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        disk::reserve_name(root, new, id)?;
        disk::release_name(root, &name, id);
        let old = std::mem::replace(&mut *name, new.to_string());
        drop(name);
        if let Err(e) = records::rename(&self.dir, new) {
            tracing::warn!(error = %e, "recording the new name failed");
        }
        tracing::info!(old = %old, new = %new, "renamed");
        Ok(())
    }

    /// Sets (and records, for `ps`) the restart count, if given, and
    /// whether the policy waits to run the container again.
    fn record_restarts(&self, count: Option<u32>, restarting: bool) {
        if let Some(n) = count {
            self.restarts.store(n, Ordering::SeqCst);
        }
        self.restarting.store(restarting, Ordering::SeqCst);
        let n = self.restarts.load(Ordering::SeqCst);
        if let Err(e) = records::write_restarts(&self.dir, n, restarting) {
            tracing::warn!(error = %e, "recording the restarts failed");
        }
    }

    /// What the restart policy has done: restarts so far, and whether it
    /// waits to run the container again.
    pub fn restart_state(&self) -> (u32, bool) {
        (
            self.restarts.load(Ordering::SeqCst),
            self.restarting.load(Ordering::SeqCst),
        )
    }

    /// The container's name now.
    pub fn name(&self) -> String {
        self.name.lock().unwrap().clone()
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
            Status::Running | Status::Paused => {
                return Err(ContainerError::StillRunning(c.id().into()))
            }
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
        let released = self.detach();
        super::setup::remove_owned_layers(&c.config);
        c.poststop();
        if !released {
            // Listed as dead, with its name, until an rm releases it.
            return;
        }
        if let Some(root) = self.dir.parent() {
            disk::release_name(root, &self.name(), c.id());
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
            let released = self.detach();
            super::setup::remove_owned_layers(&c.config);
            if let Some(root) = c.dir.parent().filter(|_| released) {
                disk::release_name(root, &self.name(), c.id());
            }
        }
    }
}
