//! The init's word on its ack socket, read by the shim: ready (with its
//! terminal's master), paused for hooks, or the step that failed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ahead::{NS_GETFD_FAILED, NS_HOLDER_FAILED, NS_JOINED, NS_SETNS_FAILED};
use super::describe::{describe_with, Names};
use super::error::{sys, Result, SpawnError};
use super::relay::Report;
use super::report::Step;

/// Waits for the init's report: ready (with its terminal's master, and
/// whether it joined the namespaces made ahead), or the step that failed.
/// EOF means it died before saying.
pub(super) fn read_ack(ack: OwnedFd, names: &Names) -> Result<(Option<OwnedFd>, bool)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; Report::SIZE];
    let mut space = nix::cmsg_space!(RawFd);
    // One record (SOCK_SEQPACKET): the report, and with a terminal's, its
    // master.
    let (len, master) = loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(
            ack.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => {
                let mut master = None;
                for c in m.cmsgs().map_err(sys("read the init's ack"))? {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for fd in fds {
                            // SAFETY: SCM_RIGHTS gave us this descriptor.
                            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                            master.get_or_insert(fd);
                        }
                    }
                }
                break (m.bytes, master);
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(sys("read the init's ack")(e)),
        }
    };
    if len < buf.len() {
        return Err(SpawnError::ChildDied);
    }
    let report = Report::decode(&buf).map_err(|_| SpawnError::ChildDied)?;
    if report.step == Step::Ready as u32 {
        let errno = nix::errno::Errno::from_raw(report.errno);
        match report.item {
            NS_JOINED => {
                tracing::debug!(waited_us = report.errno, "joined the namespaces made ahead")
            }
            NS_HOLDER_FAILED => {
                tracing::info!(%errno, "the namespaces made ahead failed: made its own")
            }
            NS_SETNS_FAILED => {
                tracing::info!(%errno, "could not join the namespaces made ahead: made its own")
            }
            NS_GETFD_FAILED => tracing::info!(
                %errno,
                "could not take the holder's view of the cgroups: made its own namespaces"
            ),
            _ => tracing::debug!("made its own namespaces"),
        }
        return Ok((master, report.item == NS_JOINED));
    }
    Err(SpawnError::Setup(
        describe_with(&report, &[], &[], "", names).1,
    ))
}

/// Waits for an init that pauses for hooks to say so; what it said
/// instead, in words.
pub(super) fn read_pause(ack: &OwnedFd, names: &Names) -> Result<()> {
    let mut buf = [0u8; Report::SIZE];
    let got = loop {
        match nix::unistd::read(ack, &mut buf) {
            Err(nix::errno::Errno::EINTR) => {}
            r => break r,
        }
    };
    if got.map_err(sys("read the init's ack"))? < buf.len() {
        return Err(SpawnError::ChildDied);
    }
    let report = Report::decode(&buf).map_err(|_| SpawnError::ChildDied)?;
    if report.step == Step::Hooks as u32 {
        return Ok(());
    }
    Err(SpawnError::Setup(
        describe_with(&report, &[], &[], "", names).1,
    ))
}
