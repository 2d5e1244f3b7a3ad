//! Faults: processes killed at awkward moments, and containers that behave
//! badly. After each, the exit status is right and nothing leaks.

use std::process::Stdio;
use std::time::Duration;

use mydocker_integration::*;

fn field(t: &TestRoot, id: &str, path: &[&str]) -> serde_json::Value {
    path.iter().fold(t.inspect(id), |v, k| v[*k].clone())
}

fn sigkill(pid: i64) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

fn gone(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s.rsplit(')').next().unwrap_or("").trim_start();
            st.starts_with('Z') || st.starts_with('X')
        })
        .unwrap_or(true)
}

#[test]
fn shim_killed_after_create_leaves_no_waiting_init() {
    let t = TestRoot::new("killcr");
    let id = ok(&t.ctl_output(&on_host(&["create"], &["-m", "64m", "sleep", "100"])))
        .trim()
        .to_string();
    let init = field(&t, &id, &["State", "Pid"]).as_i64().unwrap();
    let shim = field(&t, &id, &["State", "ShimPid"]).as_i64().unwrap();
    assert!(!gone(init));
    sigkill(shim);
    eventually(Duration::from_secs(5), || gone(init).then_some(()))
        .expect("init dies with its shim");
    assert_eq!(field(&t, &id, &["State", "Status"]), "dead");
    ok(&t.ctl_output(&["rm", "-f", &id]));
    t.finish();
}

#[test]
fn ctl_killed_during_attach_leaves_the_container_and_a_new_attach_works() {
    let t = TestRoot::new("killat");
    let id = t.run_detached(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 100 ]; do echo tick$i; i=$((i+1)); sleep 0.05; done; exit 9",
    ]);
    let mut a = t
        .ctl()
        .args(["attach", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    a.kill().unwrap();
    a.wait().unwrap();
    assert_eq!(field(&t, &id, &["State", "Status"]), "running");
    // A new attacher gets the rest and the exit code.
    let o = t.ctl_output(&["attach", &id]);
    assert_eq!(o.status.code(), Some(9), "{o:?}");
    assert!(stdout(&o).contains("tick99"), "{}", stdout(&o));
    ok(&t.ctl_output(&["rm", &id]));
    t.finish();
}

#[test]
fn a_pid_1_that_leaves_zombies_still_exits_cleanly() {
    let t = TestRoot::new("zombie");
    // The children exit at once and become zombies of PID 1, which (being
    // `sleep` by then) never reaps them.
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "--rm",
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do true & done; exec sleep 0.5",
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    t.finish();
}

#[test]
fn a_container_ignoring_sigterm_is_stopped_anyway() {
    let t = TestRoot::new("ignterm");
    let id = t.run_detached(&["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]);
    ok(&t.ctl_output(&["stop", "-t", "1", &id]));
    assert_eq!(ok(&t.ctl_output(&["wait", &id])).trim(), "137");
    ok(&t.ctl_output(&["rm", &id]));
    t.finish();
}

#[test]
fn a_flood_of_output_with_nobody_attached_never_blocks_and_is_all_logged() {
    let t = TestRoot::new("flood");
    // As fast as it can: 2 s in the default run (over 1 GB of log here),
    // the 10 s (several GB) with MYDOCKER_LOAD_FULL=1. dd in the
    // pipe counts every byte that went to stdout and says so on stderr.
    let secs = if std::env::var_os("MYDOCKER_LOAD_FULL").is_some() {
        10
    } else {
        2
    };
    let script = format!("timeout {secs} yes 0123456789abcdef | dd bs=64k; echo end-of-flood");
    let started = std::time::Instant::now();
    let id = t.run_detached(&["sh", "-c", &script]);
    let w = t.ctl().args(["wait", &id]).output().unwrap();
    assert_eq!(stdout(&w).trim(), "0", "{w:?}");
    // Rebuild the streams from the CRI records, streaming: the log is big.
    let f = std::io::BufReader::new(std::fs::File::open(t.root.join(&id).join("log")).unwrap());
    let (mut lines, mut line, mut last) = (0u64, Vec::new(), Vec::new());
    let mut stderr_text = String::new();
    for rec in std::io::BufRead::split(f, b'\n') {
        let rec = rec.unwrap();
        let mut parts = rec.splitn(4, |b| *b == b' ');
        let (_, stream, tag) = (parts.next(), parts.next(), parts.next());
        let content = parts.next().unwrap_or_default();
        if stream == Some(b"stderr") {
            stderr_text.push_str(&String::from_utf8_lossy(content));
            if tag == Some(b"F") {
                stderr_text.push('\n');
            }
            continue;
        }
        line.extend_from_slice(content);
        if tag == Some(b"F") {
            if line != b"0123456789abcdef" {
                assert!(
                    last.is_empty(),
                    "a damaged line: {:?}",
                    String::from_utf8_lossy(&line)
                );
                last = std::mem::take(&mut line);
            } else {
                lines += 1;
                line.clear();
            }
        }
    }
    assert_eq!(last, b"end-of-flood", "the log ends with the last line");
    // "N bytes (...) copied": every one of them is in the log.
    let copied: u64 = stderr_text
        .lines()
        .find_map(|l| l.split_once(" bytes").and_then(|(n, _)| n.parse().ok()))
        .unwrap_or_else(|| panic!("no byte count from dd: {stderr_text}"));
    assert_eq!(lines * 17, copied, "the log lost bytes: {stderr_text}");
    assert!(
        lines > 100_000,
        "only {lines} lines in {secs} s: the container was held back"
    );
    // The flood ran its time and no longer: nothing made it wait.
    assert!(started.elapsed() < Duration::from_secs(secs + 20));
    ok(&t.ctl_output(&["rm", &id]));
    t.finish();
}
