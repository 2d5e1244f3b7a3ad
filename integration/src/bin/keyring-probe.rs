//! `keyring-probe`: run inside a container by the confinement tests, where
//! no python or keyctl(1) is (the cgroup v2 guest has busybox alone). It
//! asks the kernel for the user and session keyrings' ids and adds a key
//! to the user keyring, and prints, one line each, what came back: the
//! number, or the error.

fn say(what: &str, r: libc::c_long) {
    if r >= 0 {
        println!("{what} {r}");
    } else {
        println!("{what} {}", std::io::Error::last_os_error());
    }
}

fn main() {
    const GET_KEYRING_ID: libc::c_long = 0;
    const USER: libc::c_long = -4;
    const SESSION: libc::c_long = -3;
    // SAFETY: keyctl(2) and add_key(2) with integers and C strings that
    // live across the calls.
    unsafe {
        say(
            "user",
            libc::syscall(libc::SYS_keyctl, GET_KEYRING_ID, USER, 0),
        );
        say(
            "session",
            libc::syscall(libc::SYS_keyctl, GET_KEYRING_ID, SESSION, 0),
        );
        let r = libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            c"mydocker-probe".as_ptr(),
            c"x".as_ptr(),
            1usize,
            USER,
        );
        say("add_key", r);
    }
}
