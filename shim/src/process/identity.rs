//! Who the command runs as, and within what: its user and groups, its
//! capability sets, its resource limits (rlimits) and its umask. Set by
//! the init as the last thing before it reads its command, with raw
//! system calls only (see `sys.rs`).
//!
//! The order is runc's: rlimits first (raising a hard limit needs
//! CAP_SYS_RESOURCE), the bounding set, then the user switch with the
//! permitted set kept (PR_SET_KEEPCAPS), then the capability sets the spec
//! gives, which for a user other than root are usually empty (docker's).
//! A seccomp profile goes in there too when there is no no_new_privs
//! (while the init still has CAP_SYS_ADMIN); with it, right before exec.

use super::harden::{self, CapSets};
use super::report::{Fault, Step};
use super::sys;

/// The most supplementary groups the init sets (the kernel's NGROUPS_MAX is
/// 65536; more than this in a spec is refused by the shim).
pub const MAX_GROUPS: usize = 256;

/// Seccomp programs, loaded in order (the shim compiled them).
#[derive(Clone, Default)]
pub struct Filters(pub Vec<Vec<libc::sock_filter>>);

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} seccomp programs", self.0.len())
    }
}

/// A process's identity and limits, as the shim decided them.
#[derive(Debug, Clone)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: Option<u32>,
    /// (RLIMIT_*, soft, hard)
    pub rlimits: Vec<(u32, u64, u64)>,
    /// None: every capability (privileged).
    pub caps: Option<CapSets>,
    pub no_new_privs: bool,
    /// It has docker's default seccomp (default_filter.rs, in `filters`),
    /// which refuses the kernel's keyrings; without it, a session keyring
    /// of its own (harden.rs), as runc gives.
    pub docker_seccomp: bool,
    /// Its seccomp programs (a spec's profile, or docker's): loaded right
    /// before exec when it has
    /// no_new_privs, which lets a filter in without CAP_SYS_ADMIN (as late
    /// as it can be: the init's own last calls need not be allowed);
    /// without, while the init still has CAP_SYS_ADMIN, as runc does.
    pub filters: Filters,
}

impl Default for Identity {
    /// Root, with docker's default confinement.
    fn default() -> Self {
        Self {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            umask: None,
            rlimits: Vec::new(),
            caps: Some(CapSets::docker()),
            no_new_privs: true,
            docker_seccomp: false,
            filters: Filters::default(),
        }
    }
}

/// Takes on `id`: see the module's order. `last_cap` is the kernel's.
pub fn assume(id: &Identity, last_cap: u32) -> Result<(), Fault> {
    for (i, (resource, soft, hard)) in id.rlimits.iter().enumerate() {
        Fault::check(
            sys::setrlimit(*resource as libc::c_int, *soft, *hard),
            Step::Rlimit,
            i,
        )?;
    }
    if let Some(mask) = id.umask {
        sys::umask(mask as libc::mode_t);
    }
    if let Some(caps) = &id.caps {
        harden::drop_bounding(last_cap, caps)?;
    }
    if !id.no_new_privs {
        load_filters(id)?;
    }
    let keep = id.caps.is_some() && id.uid != 0;
    if id.uid != 0 {
        give_stdio(id)?;
    }
    if keep {
        // SAFETY: prctl with integer arguments.
        Fault::check(
            unsafe { sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0) },
            Step::User,
            0,
        )?;
    }
    Fault::check(sys::setgroups(&id.groups), Step::User, 1)?;
    Fault::check(sys::setgid(id.gid), Step::User, 2)?;
    Fault::check(sys::setuid(id.uid), Step::User, 3)?;
    if keep {
        // SAFETY: prctl with integer arguments.
        Fault::check(
            unsafe { sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0) },
            Step::User,
            4,
        )?;
    }
    match &id.caps {
        Some(caps) => harden::set_caps(caps, id.no_new_privs),
        None if id.no_new_privs => Fault::check(
            // SAFETY: prctl with integer arguments.
            unsafe { sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0) },
            Step::NoNewPrivs,
            0,
        )
        .map(drop),
        None => Ok(()),
    }
}

/// Loads the spec's seccomp programs, in order.
pub fn load_filters(id: &Identity) -> Result<(), Fault> {
    for (i, prog) in id.filters.0.iter().enumerate() {
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        Fault::check(sys::seccomp_filter(&fprog), Step::Seccomp, i)?;
    }
    Ok(())
}

/// The command's stdin, stdout and stderr (its terminal, or the shim's
/// pipes) become the user's, as runc gives them, so that it can reopen
/// them (`/dev/stdout`, `/dev/tty`); /dev/null stays as it is.
fn give_stdio(id: &Identity) -> Result<(), Fault> {
    for fd in 0..3 {
        let Ok(st) = sys::fstat(fd) else {
            continue;
        };
        let null = libc::makedev(1, 3);
        if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == null {
            continue;
        }
        Fault::check(sys::fchown(fd, id.uid, id.gid), Step::User, 5)?;
    }
    Ok(())
}
