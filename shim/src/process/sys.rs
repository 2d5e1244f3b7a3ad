//! System calls for the container's init before it execs, which return
//! their error instead of setting `errno`.
//!
//! On x86_64 the init shares the shim's memory (CLONE_VM, see spawn.rs) and,
//! having no thread pointer of its own, the shim thread's `errno`: a libc
//! wrapper that failed in the init (a masked path that is not there, say)
//! would change that `errno` under the shim, between one of its own calls
//! and its reading of the result. So these make the system call themselves.
//! Elsewhere the init is a copy of the shim, and libc's `syscall` is used.

use std::ffi::CStr;
use std::os::fd::RawFd;

/// A system call's result: its return value, or the errno it failed with.
pub type SysResult = Result<usize, i32>;

/// # Safety
/// As for the system call `n` with these arguments.
#[cfg(target_arch = "x86_64")]
unsafe fn syscall6(n: libc::c_long, a: [usize; 6]) -> SysResult {
    let ret: isize;
    // SAFETY: the caller's; `syscall` clobbers rcx and r11 only.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    // The kernel returns -4095..-1 for errors.
    if (-4095..0).contains(&ret) {
        Err(-ret as i32)
    } else {
        Ok(ret as usize)
    }
}

/// # Safety
/// As for the system call `n` with these arguments.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn syscall6(n: libc::c_long, a: [usize; 6]) -> SysResult {
    // SAFETY: the caller's.
    let r = unsafe { libc::syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r < 0 {
        Err(nix::errno::Errno::last_raw())
    } else {
        Ok(r as usize)
    }
}

fn call(n: libc::c_long, a: [usize; 6]) -> SysResult {
    // SAFETY: every caller below passes integers, descriptors, and pointers
    // to C strings and buffers that live across the call; the ones that can
    // close what others own, or take a pointer as an integer, are unsafe.
    unsafe { syscall6(n, a) }
}

fn p<T>(ptr: *const T) -> usize {
    ptr as usize
}

/// # Safety
/// `fd` is not owned by anything else that will use or close it.
pub unsafe fn close(fd: RawFd) -> SysResult {
    call(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0])
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> SysResult {
    call(
        libc::SYS_read,
        [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
    )
}

pub fn write(fd: RawFd, buf: &[u8]) -> SysResult {
    call(
        libc::SYS_write,
        [fd as usize, p(buf.as_ptr()), buf.len(), 0, 0, 0],
    )
}

pub fn open(path: &CStr, flags: libc::c_int) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_openat,
        [at, p(path.as_ptr()), flags as usize, 0, 0, 0],
    )
}

/// setns(2): `fd` a pidfd (Linux 5.8), `flags` the namespaces to join.
pub fn setns(fd: RawFd, flags: libc::c_int) -> SysResult {
    call(libc::SYS_setns, [fd as usize, flags as usize, 0, 0, 0, 0])
}

/// close_range(2) of `first..=last`.
///
/// # Safety
/// As for `close` of each of them.
pub unsafe fn close_between(first: RawFd, last: RawFd) -> SysResult {
    call(
        libc::SYS_close_range,
        [first as usize, last as u32 as usize, 0, 0, 0, 0],
    )
}

pub fn unshare(flags: libc::c_int) -> SysResult {
    call(libc::SYS_unshare, [flags as usize, 0, 0, 0, 0, 0])
}

/// dup2(2), for `from != to`.
///
/// # Safety
/// As for `close` of `to`.
pub unsafe fn dup_to(from: RawFd, to: RawFd) -> SysResult {
    call(libc::SYS_dup3, [from as usize, to as usize, 0, 0, 0, 0])
}

/// # Safety
/// As for `close` of every descriptor from `first` up.
pub unsafe fn close_range(first: RawFd) -> SysResult {
    // SAFETY: the caller's.
    unsafe { close_between(first, RawFd::MAX) }
}

/// The soft limit on descriptors.
pub fn open_max() -> SysResult {
    let mut r = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let res = libc::RLIMIT_NOFILE as usize;
    call(libc::SYS_prlimit64, [0, res, 0, p(&mut r as *mut _), 0, 0])?;
    Ok(r.rlim_cur as usize)
}

/// # Safety
/// As for prctl(2) with `op`: pointer arguments must be valid.
pub unsafe fn prctl(op: libc::c_int, a2: usize, a3: usize) -> SysResult {
    call(libc::SYS_prctl, [op as usize, a2, a3, 0, 0, 0])
}

pub fn setsid() -> SysResult {
    call(libc::SYS_setsid, [0; 6])
}

/// # Safety
/// As for ioctl(2) with `request`: a pointer argument must be valid.
pub unsafe fn ioctl(fd: RawFd, request: libc::c_ulong, arg: usize) -> SysResult {
    call(
        libc::SYS_ioctl,
        [fd as usize, request as usize, arg, 0, 0, 0],
    )
}

/// The kernel's `struct sigaction` (asm-generic layout, which x86_64 and
/// aarch64 use).
#[repr(C)]
pub struct KernelSigaction {
    pub handler: usize,
    pub flags: libc::c_ulong,
    pub restorer: usize,
    pub mask: u64,
}

/// # Safety
/// A handler in `act` must be safe to run on any thread of this process.
pub unsafe fn rt_sigaction(sig: libc::c_int, act: &KernelSigaction) -> SysResult {
    call(
        libc::SYS_rt_sigaction,
        [sig as usize, p(act as *const _), 0, 8, 0, 0],
    )
}

/// Unblocks every signal.
pub fn unblock_all() -> SysResult {
    let none: u64 = 0;
    call(
        libc::SYS_rt_sigprocmask,
        [libc::SIG_SETMASK as usize, p(&none as *const _), 0, 8, 0, 0],
    )
}

pub fn mount(
    src: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> SysResult {
    let opt = |s: Option<&CStr>| s.map_or(0, |s| p(s.as_ptr()));
    call(
        libc::SYS_mount,
        [
            opt(src),
            p(target.as_ptr()),
            opt(fstype),
            flags as usize,
            opt(data),
            0,
        ],
    )
}

/// pidfd_getfd(2) (Linux 5.6): a copy of `fd` of the process of `pidfd`,
/// close-on-exec.
pub fn pidfd_getfd(pidfd: RawFd, fd: RawFd) -> SysResult {
    call(
        libc::SYS_pidfd_getfd,
        [pidfd as usize, fd as usize, 0, 0, 0, 0],
    )
}

/// mount_setattr(2) (Linux 5.12) of `path`: sets `attr_set`
/// (MOUNT_ATTR_*), with `flags` (AT_RECURSIVE: the mounts under it too).
pub fn mount_setattr(path: &CStr, flags: libc::c_uint, attr_set: u64) -> SysResult {
    // struct mount_attr, version 0.
    let attr: [u64; 4] = [attr_set, 0, 0, 0];
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_mount_setattr,
        [
            at,
            p(path.as_ptr()),
            flags as usize,
            p(attr.as_ptr()),
            std::mem::size_of_val(&attr),
            0,
        ],
    )
}

/// mount_setattr(2) (Linux 5.12) of the mount `fd` (AT_EMPTY_PATH in
/// `flags`): sets `attr_set`.
pub fn mount_setattr_fd(fd: RawFd, flags: libc::c_uint, attr_set: u64) -> SysResult {
    let attr: [u64; 4] = [attr_set, 0, 0, 0];
    call(
        libc::SYS_mount_setattr,
        [
            fd as usize,
            p(c"".as_ptr()),
            flags as usize,
            p(attr.as_ptr()),
            std::mem::size_of_val(&attr),
            0,
        ],
    )
}

/// fstat(2).
pub fn fstat(fd: RawFd) -> Result<libc::stat, i32> {
    // SAFETY: an all-zero `struct stat` is a valid value to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    call(
        libc::SYS_fstat,
        [fd as usize, p(&mut st as *mut _), 0, 0, 0, 0],
    )?;
    Ok(st)
}

/// fchown(2).
pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> SysResult {
    call(
        libc::SYS_fchown,
        [fd as usize, uid as usize, gid as usize, 0, 0, 0],
    )
}

/// stat(2), or lstat(2) with `follow` false.
pub fn stat(path: &CStr, follow: bool) -> Result<libc::stat, i32> {
    // SAFETY: an all-zero `struct stat` is a valid value to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_newfstatat,
        [
            at,
            p(path.as_ptr()),
            p(&mut st as *mut _),
            flags as usize,
            0,
            0,
        ],
    )?;
    Ok(st)
}

/// mkdirat(2) at the current directory.
pub fn mkdir(path: &CStr, mode: libc::mode_t) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_mkdirat,
        [at, p(path.as_ptr()), mode as usize, 0, 0, 0],
    )
}

/// mknodat(2) at the current directory.
pub fn mknod(path: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_mknodat,
        [at, p(path.as_ptr()), mode as usize, dev as usize, 0, 0],
    )
}

/// symlinkat(2): `link` pointing at `target`.
pub fn symlink(target: &CStr, link: &CStr) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_symlinkat,
        [p(target.as_ptr()), at, p(link.as_ptr()), 0, 0, 0],
    )
}

/// umask(2): the previous mask.
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // umask cannot fail.
    call(libc::SYS_umask, [mask as usize, 0, 0, 0, 0, 0]).unwrap_or(0) as libc::mode_t
}

/// pivot_root(2).
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult {
    call(
        libc::SYS_pivot_root,
        [p(new_root.as_ptr()), p(put_old.as_ptr()), 0, 0, 0, 0],
    )
}

/// unlinkat(2) of a directory at the current directory.
pub fn rmdir(path: &CStr) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_unlinkat,
        [at, p(path.as_ptr()), libc::AT_REMOVEDIR as usize, 0, 0, 0],
    )
}

/// statfs(2)'s `f_flags` (ST_*) of the file system `path` is on.
pub fn statfs_flags(path: &CStr) -> Result<u64, i32> {
    // The 64-bit `struct statfs` (120 bytes), whose `f_flags` the libc
    // crate keeps private: the tenth word.
    let mut st = [0u64; 15];
    call(
        libc::SYS_statfs,
        [p(path.as_ptr()), p(st.as_mut_ptr()), 0, 0, 0, 0],
    )?;
    Ok(st[10])
}

/// unlinkat(2) of a file at the current directory.
pub fn unlink(path: &CStr) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    call(libc::SYS_unlinkat, [at, p(path.as_ptr()), 0, 0, 0, 0])
}

/// fchownat(2) at the current directory, not following a last symbolic
/// link.
pub fn chown(path: &CStr, uid: u32, gid: u32) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    let flags = libc::AT_SYMLINK_NOFOLLOW as usize;
    call(
        libc::SYS_fchownat,
        [at, p(path.as_ptr()), uid as usize, gid as usize, flags, 0],
    )
}

/// umount2(2).
pub fn umount2(target: &CStr, flags: libc::c_int) -> SysResult {
    call(
        libc::SYS_umount2,
        [p(target.as_ptr()), flags as usize, 0, 0, 0, 0],
    )
}

/// open_tree(2) (Linux 5.2) at the current directory: with
/// OPEN_TREE_CLONE, a detached copy of the mount at `path` (and, with
/// AT_RECURSIVE, of those under it), to be attached by [`move_mount_fd`].
pub fn open_tree(path: &CStr, flags: libc::c_uint) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    call(
        libc::SYS_open_tree,
        [at, p(path.as_ptr()), flags as usize, 0, 0, 0],
    )
}

/// move_mount(2) (Linux 5.2) of the mount `fd` (from [`open_tree`]) onto
/// `target`, resolved from the current root and directory.
pub fn move_mount_fd(fd: RawFd, target: &CStr) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    const MOVE_MOUNT_F_EMPTY_PATH: usize = 0x4;
    // Onto what a link at `target` points to (inside the root).
    const MOVE_MOUNT_T_SYMLINKS: usize = 0x10;
    call(
        libc::SYS_move_mount,
        [
            fd as usize,
            p(c"".as_ptr()),
            at,
            p(target.as_ptr()),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS,
            0,
        ],
    )
}

/// setgroups(2).
pub fn setgroups(gids: &[libc::gid_t]) -> SysResult {
    call(
        libc::SYS_setgroups,
        [gids.len(), p(gids.as_ptr()), 0, 0, 0, 0],
    )
}

/// setresgid(2) with all three the same. The raw call: the thread's
/// alone, which is all the init has.
pub fn setgid(gid: libc::gid_t) -> SysResult {
    let g = gid as usize;
    call(libc::SYS_setresgid, [g, g, g, 0, 0, 0])
}

/// setresuid(2) with all three the same.
pub fn setuid(uid: libc::uid_t) -> SysResult {
    let u = uid as usize;
    call(libc::SYS_setresuid, [u, u, u, 0, 0, 0])
}

/// prlimit64(2) of this process: sets `resource` to (soft, hard).
pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> SysResult {
    let limit: [u64; 2] = [soft, hard];
    call(
        libc::SYS_prlimit64,
        [0, resource as usize, p(limit.as_ptr()), 0, 0, 0],
    )
}

/// openat(2) with O_CREAT at the current directory, for an empty file.
pub fn create(path: &CStr, mode: libc::mode_t) -> SysResult {
    let at = libc::AT_FDCWD as isize as usize;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC;
    call(
        libc::SYS_openat,
        [at, p(path.as_ptr()), flags as usize, mode as usize, 0, 0],
    )
}

/// openat(2) relative to `dir`.
pub fn open_at(dir: RawFd, path: &CStr, flags: libc::c_int) -> SysResult {
    call(
        libc::SYS_openat,
        [dir as usize, p(path.as_ptr()), flags as usize, 0, 0, 0],
    )
}

pub fn socket(domain: libc::c_int, kind: libc::c_int) -> SysResult {
    call(
        libc::SYS_socket,
        [domain as usize, kind as usize, 0, 0, 0, 0],
    )
}

/// sendmsg(2) of `data` with `fd` attached (SCM_RIGHTS).
pub fn send_with_fd(sock: RawFd, data: &[u8], fd: RawFd) -> SysResult {
    // The control message, built by hand: CMSG_* are not const, and this
    // runs where nothing may allocate. A cmsghdr, then one int, padded.
    #[repr(C)]
    struct Control {
        header: libc::cmsghdr,
        fd: RawFd,
        _pad: u32,
    }
    // SAFETY: all-zero is a valid cmsghdr and msghdr.
    let mut control: Control = unsafe { std::mem::zeroed() };
    control.header.cmsg_len = (std::mem::size_of::<libc::cmsghdr>() + 4) as _;
    control.header.cmsg_level = libc::SOL_SOCKET;
    control.header.cmsg_type = libc::SCM_RIGHTS;
    control.fd = fd;
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = &mut control as *mut Control as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of::<Control>() as _;
    call(
        libc::SYS_sendmsg,
        [sock as usize, p(&msg as *const _), 0, 0, 0, 0],
    )
}

/// keyctl(2) with integer arguments.
pub fn keyctl(op: libc::c_int, a2: usize) -> SysResult {
    call(libc::SYS_keyctl, [op as usize, a2, 0, 0, 0, 0])
}

/// seccomp(2) SECCOMP_SET_MODE_FILTER with `prog`.
pub fn seccomp_filter(prog: &libc::sock_fprog) -> SysResult {
    call(
        libc::SYS_seccomp,
        [
            libc::SECCOMP_SET_MODE_FILTER as usize,
            0,
            p(prog as *const _),
            0,
            0,
            0,
        ],
    )
}

pub fn sethostname(name: &[u8]) -> SysResult {
    call(
        libc::SYS_sethostname,
        [p(name.as_ptr()), name.len(), 0, 0, 0, 0],
    )
}

pub fn chdir(path: &CStr) -> SysResult {
    call(libc::SYS_chdir, [p(path.as_ptr()), 0, 0, 0, 0, 0])
}

pub fn set_cloexec(fd: RawFd) -> SysResult {
    call(
        libc::SYS_fcntl,
        [
            fd as usize,
            libc::F_SETFD as usize,
            libc::FD_CLOEXEC as usize,
            0,
            0,
            0,
        ],
    )
}

/// # Safety
/// `argv` and `envp` are NULL-terminated arrays of C strings.
pub unsafe fn execve(
    path: &CStr,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> i32 {
    match call(
        libc::SYS_execve,
        [p(path.as_ptr()), p(argv), p(envp), 0, 0, 0],
    ) {
        Err(e) => e,
        Ok(_) => 0,
    }
}

/// capset(2) with a version 3 header and its two data blocks.
pub fn capset(header: *const u8, data: *const u8) -> SysResult {
    call(libc::SYS_capset, [p(header), p(data), 0, 0, 0, 0])
}

/// _exit(2) of the whole process.
pub fn exit(code: i32) -> ! {
    let _ = call(libc::SYS_exit_group, [code as usize, 0, 0, 0, 0, 0]);
    // exit_group does not return; in case it did, nothing else may run here.
    loop {
        let _ = call(libc::SYS_exit, [code as usize, 0, 0, 0, 0, 0]);
    }
}

/// CLOCK_MONOTONIC in microseconds (0 if it cannot be read).
pub fn monotonic_us() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let clock = libc::CLOCK_MONOTONIC as usize;
    match call(
        libc::SYS_clock_gettime,
        [clock, p(&mut t as *mut _), 0, 0, 0, 0],
    ) {
        Ok(_) => t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1000,
        Err(_) => 0,
    }
}

/// fork(2), as a bare clone with SIGCHLD: in the child, 0. Only for a
/// process that runs nothing but these calls until it execs (the init).
pub fn fork() -> SysResult {
    // With every other argument 0 their order (which differs by
    // architecture) does not matter.
    call(libc::SYS_clone, [libc::SIGCHLD as usize, 0, 0, 0, 0, 0])
}

/// A fork whose child is its parent's sibling (CLONE_PARENT): in the
/// child, 0.
pub fn clone_parent() -> SysResult {
    call(
        libc::SYS_clone,
        [(libc::CLONE_PARENT | libc::SIGCHLD) as usize, 0, 0, 0, 0, 0],
    )
}

/// wait4(2) for `pid`: its wait status, or None with WNOHANG while it
/// runs.
pub fn wait4(pid: i32, options: libc::c_int) -> Result<Option<i32>, i32> {
    let mut status: libc::c_int = 0;
    let r = call(
        libc::SYS_wait4,
        [
            pid as isize as usize,
            p(&mut status as *mut libc::c_int),
            options as usize,
            0,
            0,
            0,
        ],
    )?;
    Ok((r != 0).then_some(status))
}

/// kill(2); a negative `pid` is a process group.
pub fn kill(pid: i32, sig: libc::c_int) -> SysResult {
    call(
        libc::SYS_kill,
        [pid as isize as usize, sig as usize, 0, 0, 0, 0],
    )
}

/// setpgid(0, 0): a process group of its own.
pub fn own_process_group() -> SysResult {
    call(libc::SYS_setpgid, [0, 0, 0, 0, 0, 0])
}

/// lseek(2) to the start.
pub fn rewind(fd: RawFd) -> SysResult {
    call(
        libc::SYS_lseek,
        [fd as usize, 0, libc::SEEK_SET as usize, 0, 0, 0],
    )
}

/// pipe2(2), close-on-exec: (read end, write end).
pub fn pipe() -> Result<(RawFd, RawFd), i32> {
    let mut fds = [-1 as libc::c_int; 2];
    call(
        libc::SYS_pipe2,
        [p(fds.as_mut_ptr()), libc::O_CLOEXEC as usize, 0, 0, 0, 0],
    )?;
    Ok((fds[0], fds[1]))
}

/// Sleeps `ms` milliseconds (less when a signal comes).
pub fn sleep_ms(ms: u64) {
    let t = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    let clock = libc::CLOCK_MONOTONIC as usize;
    let _ = call(libc::SYS_clock_nanosleep, [clock, 0, p(&t), 0, 0, 0]);
}
