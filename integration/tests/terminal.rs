//! Terminals and streams, end to end: a real terminal (tmux) around
//! mydockerctl, attach and detach, and bulk data through Attach and stdin.

use std::io::{BufRead, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mydocker::v1::{self, attach_request, attach_response};
use mydocker_integration::*;
use sha2::{Digest, Sha256};

/// The wrapper run in tmux: records the terminal mode before and after
/// mydockerctl, and its exit code, then stays so the screen can be read.
fn wrapped(t: &TestRoot, args: &str) -> String {
    format!(
        "before=$(stty -g); MYDOCKER_ROOT={} MYDOCKER_CGROUP_PARENT={} {} {args}; rc=$?; \
         after=$(stty -g); [ \"$before\" = \"$after\" ] && echo MODE-RESTORED || echo MODE-CHANGED; \
         echo EXIT=$rc; sleep 600",
        t.root.display(),
        t.cgroup_parent(),
        ctl_bin().display()
    )
}

fn state(t: &TestRoot, id: &str) -> String {
    let o = grpcurl(
        &mydocker::socket_path(&t.root, id),
        Some(&format!(r#"{{"id":"{id}"}}"#)),
        &["mydocker.shim.v1.Shim/State"],
    );
    stdout(&o)
}

#[test]
fn interactive_shell_resize_ctrl_c_detach_reattach_and_exit_code() {
    let t = TestRoot::new("tty");
    let term = Tmux::start("tty1", 100, 30, &wrapped(&t, "run --tty --rootfs / sh"));
    term.wait_for("a prompt", |s| s.lines().any(|l| l.starts_with('#')));

    term.type_text("echo pid=$$\n");
    term.wait_for("pid=1", |s| has_line(s, "pid=1"));
    term.type_text("tty\n");
    term.wait_for("a /dev/pts path", |s| {
        s.lines().any(|l| l.starts_with("/dev/pts/"))
    });
    term.type_text("stty size\n");
    term.wait_for("30 100", |s| has_line(s, "30 100"));
    term.resize(120, 40);
    // The resize reaches the container asynchronously (SIGWINCH, then an
    // Attach message): ask until it shows.
    let mut resized = false;
    for _ in 0..100 {
        term.type_text("stty size\n");
        std::thread::sleep(Duration::from_millis(200));
        if has_line(&term.screen(), "40 120") {
            resized = true;
            break;
        }
    }
    assert!(resized, "resize never arrived:\n{}", term.screen());

    // Full-screen programs draw (TERM is set), and job control works.
    term.type_text("top\n");
    term.wait_for("top's screen", |s| {
        s.contains("PID") && s.contains("Tasks:")
    });
    term.type_text("q");
    // Until top has quit, it reads keys as its own commands ('c', 'l',
    // 'e'...): the next line waits for the shell's prompt under its screen.
    term.wait_for("top to quit", Tmux::at_prompt);
    // Each control key is sent once `clear` has run (a blank screen), and
    // again if it came before `sleep` held the terminal. The next line is
    // typed at the prompt: typed while `sleep` ran, the kernel would echo
    // it before the prompt, and the shell's answer would follow the prompt.
    let blank = |s: &str| s.trim().is_empty();
    term.type_text("clear; sleep 200\n");
    term.wait_for("clear before sleep 200", blank);
    term.press_until(&["C-z"], "ctrl-z to stop the job", |s| {
        s.contains("Stopped") && Tmux::at_prompt(s)
    });
    term.type_text("kill -9 %1; clear; sleep 100\n");
    term.wait_for("clear before sleep 100", blank);
    term.press_until(&["C-c"], "ctrl-c to end sleep 100", |s| {
        s.contains("^C") && Tmux::at_prompt(s)
    });
    term.type_text("echo after-$((40+2))\n");
    term.wait_for("the shell to survive ctrl-c", |s| has_line(s, "after-42"));

    term.keys(&["C-p", "C-q"]);
    let screen = term.wait_for("detach", |s| s.contains("EXIT="));
    assert!(has_line(&screen, "EXIT=0"), "{screen}");
    assert!(has_line(&screen, "MODE-RESTORED"), "{screen}");
    let ids = t.ids();
    assert_eq!(ids.len(), 1);
    let id = &ids[0];
    assert!(has_line(&screen, id), "detach prints the id:\n{screen}");
    assert!(state(&t, id).contains("STATUS_RUNNING"));

    let again = Tmux::start(
        "tty2",
        90,
        25,
        &wrapped(&t, &format!("attach {}", &id[..12])),
    );
    again.wait_for("the replayed screen", |s| has_line(s, "after-42"));
    again.type_text("echo attached-$((1+1)); stty size\n");
    again.wait_for("input after re-attach", |s| {
        has_line(s, "attached-2") && has_line(s, "25 90")
    });
    again.type_text("exit 5\n");
    let screen = again.wait_for("exit", |s| s.contains("EXIT="));
    assert!(has_line(&screen, "EXIT=5"), "{screen}");
    assert!(has_line(&screen, "MODE-RESTORED"), "{screen}");
    drop((term, again));
    let o = t.ctl_output(&["rm", id]);
    assert!(o.status.success(), "{o:?}");
    t.finish();
}

#[test]
fn custom_detach_keys() {
    let t = TestRoot::new("dkeys");
    let term = Tmux::start(
        "dk",
        80,
        24,
        &wrapped(&t, "run -it --rootfs / --detach-keys ctrl-a,d sh"),
    );
    term.wait_for("a prompt", |s| s.lines().any(|l| l.starts_with('#')));
    // ctrl-p ctrl-q is ordinary input now (then ctrl-u clears the line).
    term.keys(&["C-p", "C-q", "C-u"]);
    term.type_text("echo still-$((2*3))\n");
    term.wait_for("no detach", |s| has_line(s, "still-6"));
    term.keys(&["C-a", "d"]);
    let screen = term.wait_for("detach", |s| s.contains("EXIT="));
    assert!(has_line(&screen, "EXIT=0"), "{screen}");
    drop(term);
    let id = t.ids().pop().unwrap();
    let o = t.ctl_output(&["rm", "-f", &id]);
    assert!(o.status.success(), "{o:?}");
    let o = t.ctl_output(&on_host(
        &["run"],
        &["--rm", "--detach-keys", "ctrl-", "true"],
    ));
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("invalid detach keys"), "{}", stderr(&o));
    t.finish();
}

async fn attach(
    c: &mut mydocker::ShimClient,
    id: &str,
    replay: bool,
) -> tonic::Streaming<v1::AttachResponse> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(v1::AttachRequest {
        msg: Some(attach_request::Msg::Open(v1::AttachOpen {
            id: id.into(),
            replay,
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    // Keep our side open for the life of the stream.
    std::mem::forget(tx);
    let mut s = c
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    match s.message().await.unwrap().unwrap().msg {
        Some(attach_response::Msg::Attached(_)) => s,
        other => panic!("expected attached, got {other:?}"),
    }
}

/// Output until the exit message: (stdout digest, stdout length, stderr, exit).
async fn drain(
    mut s: tonic::Streaming<v1::AttachResponse>,
) -> (Vec<u8>, u64, Vec<u8>, v1::ExitStatus) {
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut err = Vec::new();
    loop {
        match s
            .message()
            .await
            .unwrap()
            .expect("stream ended before the exit")
            .msg
        {
            Some(attach_response::Msg::Stdout(b)) => {
                n += b.len() as u64;
                h.update(&b);
            }
            Some(attach_response::Msg::Stderr(b)) => err.extend_from_slice(&b),
            Some(attach_response::Msg::Exit(e)) => return (h.finalize().to_vec(), n, err, e),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn random_file(t: &TestRoot, name: &str, bytes: usize) -> (std::path::PathBuf, Vec<u8>) {
    let path = t.root.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let mut rnd = std::fs::File::open("/dev/urandom").unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len());
        std::io::Read::read_exact(&mut rnd, &mut buf[..n]).unwrap();
        f.write_all(&buf[..n]).unwrap();
        h.update(&buf[..n]);
        left -= n;
    }
    (path, h.finalize().to_vec())
}

/// A shim with a container `id` created in it, running `sh -c script`
/// (not started).
async fn shim_with_sh(
    t: &TestRoot,
    id: &str,
    script: String,
    tty: bool,
) -> (mydocker::SpawnedShim, mydocker::ShimClient) {
    let (spawned, mut c) = t.shim(id).await;
    c.create(v1::CreateRequest {
        id: id.into(),
        argv: vec!["sh".into(), "-c".into(), script],
        tty,
        resources: Some(t.resources()),
        ..Default::default()
    })
    .await
    .unwrap();
    (spawned, c)
}

#[tokio::test]
async fn two_attachers_see_the_same_output_and_100mib_arrive_exact_with_and_without_tty() {
    let t = TestRoot::new("bulk");
    let (file, digest) = random_file(&t, "data", 100 << 20);
    let file = file.to_str().unwrap().to_string();

    for tty in [false, true] {
        let id = if tty { "bulk-tty" } else { "bulk-pipe" };
        // With a tty, raw mode keeps the line discipline from rewriting
        // bytes (\n to \r\n), so what arrives must be the file exactly.
        let script = if tty {
            format!("stty raw -echo; cat {file}; echo err >&2")
        } else {
            format!("cat {file}; echo err >&2")
        };
        let (spawned, mut c) = shim_with_sh(&t, id, script, tty).await;
        let a = attach(&mut c, id, false).await;
        let b = attach(&mut c, id, false).await;
        c.start(v1::StartRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let (ra, rb) = tokio::join!(drain(a), drain(b));
        for (d, n, err, exit) in [ra, rb] {
            assert_eq!(exit.exit_code, 0);
            if tty {
                // stdout and stderr are one terminal: the file, then "err\n"
                // (raw mode: no \r added).
                assert_eq!(n, (100 << 20) + 4, "tty={tty}");
                assert!(err.is_empty());
            } else {
                assert_eq!(n, 100 << 20, "tty={tty}");
                assert_eq!(d, digest, "tty={tty}: bytes differ");
                assert_eq!(err, b"err\n", "stderr kept apart");
            }
        }
        delete(&mut c, spawned, id).await;
    }
    // The tty digest, checked on its own stream without the trailing "err".
    let id = "bulk-tty2";
    let script = format!("stty raw -echo; cat {file}");
    let (spawned, mut c) = shim_with_sh(&t, id, script, true).await;
    let a = attach(&mut c, id, false).await;
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let (d, n, _, exit) = drain(a).await;
    assert_eq!((n, exit.exit_code), (100 << 20, 0));
    assert_eq!(d, digest, "tty: bytes differ");
    delete(&mut c, spawned, id).await;
    std::fs::remove_file(&file).unwrap();
    t.finish();
}

/// A terminal's output goes on in large batches while the writer streams
/// (bench/NOTES.md), but a batch is never held for more: megabytes
/// written at full speed, then a pause with the container still running,
/// all arrives at once. Its log is the same bytes, in partial-line records
/// (a batch's line is long enough to be written straight from the output,
/// split into records of 16 KiB).
#[tokio::test]
async fn tty_output_in_batches_is_sent_when_the_writer_pauses_and_logged_whole() {
    let t = TestRoot::new("batch");
    let id = "batch";
    // An attacher's pieces start at 64 KiB and at most double every 20 ms
    // (io.rs, PACE_WINDOW): enough output that whole batches go out well
    // before its end, on a busy machine too.
    let total = 32usize << 20;
    // One writer, as fast as it goes: the terminal stays full.
    let script = format!("stty raw -echo; head -c {total} /dev/zero; exec sleep 60");
    let (spawned, mut c) = shim_with_sh(&t, id, script, true).await;
    let mut a = attach(&mut c, id, false).await;
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut got = 0usize;
    let (mut messages, mut largest) = (0, 0);
    while got < total {
        let m = tokio::time::timeout(Duration::from_secs(5), a.message())
            .await
            .expect("output held back while the container sleeps")
            .unwrap()
            .unwrap();
        match m.msg {
            Some(attach_response::Msg::Stdout(b)) => {
                assert!(b.iter().all(|&x| x == 0), "only the zeros");
                got += b.len();
                messages += 1;
                largest = largest.max(b.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, total);
    // Unbatched, a PTY's 4 KiB reads were gathered to 64 KiB at most (a
    // message was never over 82 KiB). Batched, most go in batches of up to
    // 2 MiB (whole in every run here, under stress too); a busy machine
    // cuts some short, so only one over 512 KiB is asked for.
    assert!(
        largest > 512 << 10,
        "{messages} messages, the largest {largest} bytes"
    );
    let log = t.root.join(id).join("log");
    let longest = std::fs::read(&log)
        .unwrap()
        .split(|&b| b == b'\n')
        .map(|r| r.len())
        .max();
    assert!(
        longest <= Some(100 + (16 << 10)),
        "a record of {longest:?} bytes"
    );
    let (n, d) = read_cri(&log, "stdout");
    assert_eq!(n, total as u64);
    assert_eq!(d, Sha256::digest(vec![0u8; total]).to_vec());
    c.kill(v1::KillRequest {
        id: id.into(),
        signal: 9,
        all: false,
        ..Default::default()
    })
    .await
    .unwrap();
    c.wait(v1::WaitRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    delete(&mut c, spawned, id).await;
    t.finish();
}

#[test]
fn stdin_50mib_through_run_i_hashes_as_on_the_host() {
    let t = TestRoot::new("stdin50");
    let (file, digest) = random_file(&t, "in", 50 << 20);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let o = t
        .ctl()
        .args(on_host(&["run"], &["--rm", "-i", "--", "sha256sum"]))
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o).split_whitespace().next(), Some(hex.as_str()));

    let mut child = t
        .ctl()
        .args(on_host(&["run"], &["--rm", "-i", "--", "cat"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "hi\n"));
    std::fs::remove_file(&file).unwrap();
    t.finish();
}

#[test]
fn output_of_run_through_a_pipe_is_byte_exact() {
    let t = TestRoot::new("pipe100");
    let (file, digest) = random_file(&t, "out", 100 << 20);
    let o = t
        .ctl()
        .args(on_host(&["run"], &["--rm", "cat"]))
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout.len(), 100 << 20);
    assert_eq!(Sha256::digest(&o.stdout).to_vec(), digest);
    std::fs::remove_file(&file).unwrap();
    t.finish();
}

/// Rebuilds a stream from CRI log records.
fn read_cri(path: &std::path::Path, stream: &str) -> (u64, Vec<u8>) {
    let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut h = Sha256::new();
    let mut n = 0u64;
    for line in f.split(b'\n') {
        let line = line.unwrap();
        let mut parts = line.splitn(4, |b| *b == b' ');
        let (_ts, s, tag, content) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap_or(b""),
        );
        if s != stream.as_bytes() {
            continue;
        }
        h.update(content);
        n += content.len() as u64;
        if tag == b"F" {
            h.update(b"\n");
            n += 1;
        }
    }
    (n, h.finalize().to_vec())
}

#[test]
fn output_with_nobody_attached_all_lands_in_the_log() {
    let t = TestRoot::new("log200");
    let line = "the quick brown fox jumps over the lazy dog 0123456789\n";
    let total: usize = 200 << 20;
    let o = t.ctl_output(&on_host(
        &["run"],
        &[
            "-d",
            "sh",
            "-c",
            &format!("yes '{}' | head -c {total}", line.trim_end()),
        ],
    ));
    assert!(o.status.success(), "{o:?}");
    let id = stdout(&o).trim().to_string();
    let w = t.ctl_output(&["wait", &id]);
    assert_eq!(stdout(&w).trim(), "0");
    let mut h = Sha256::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(line.len());
        h.update(&line.as_bytes()[..n]);
        left -= n;
    }
    let (n, d) = read_cri(&t.root.join(&id).join("log"), "stdout");
    assert_eq!(n, total as u64);
    assert_eq!(d, h.finalize().to_vec());
    let o = t.ctl_output(&["rm", &id]);
    assert!(o.status.success(), "{o:?}");
    t.finish();
}

#[test]
fn grpcurl_attach_drives_a_tty_container() {
    let t = TestRoot::new("gattach");
    let o = t.ctl_output(&on_host(&["run"], &["-d", "-t", "sh"]));
    assert!(o.status.success(), "{o:?}");
    let id = stdout(&o).trim().to_string();
    let b64 = |s: &str| {
        let o = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(s.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    let input = format!(
        r#"{{"open": {{"id": "{id}", "replay": true}}}}
{{"stdin": "{}"}}"#,
        b64("echo hi-$((6*7))\nexit 3\n")
    );
    let mut child = std::process::Command::new("grpcurl")
        .args(["-plaintext", "-authority", "localhost", "-d", "@", "-unix"])
        .arg(mydocker::socket_path(&t.root, &id))
        .arg("mydocker.shim.v1.Shim/Attach")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    // Output arrives as base64 in "stdout" fields; decode them all.
    let mut text = Vec::new();
    for l in out.lines() {
        if let Some(v) = l.trim().strip_prefix("\"stdout\": \"") {
            let v = v.trim_end_matches('"');
            let d = std::process::Command::new("base64")
                .arg("-d")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    c.stdin.take().unwrap().write_all(v.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            text.extend_from_slice(&d.stdout);
        }
    }
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("hi-42"), "{text}");
    assert!(out.contains("\"exitCode\": 3"), "{out}");
    let o = t.ctl_output(&["rm", &id]);
    assert!(o.status.success(), "{o:?}");
    t.finish();
}

/// A client slower than the container still gets every byte, however slow,
/// as long as it keeps reading: the shim sends it pieces it drains often
/// (about 0.1 s of its pace), so it is never taken for a client that
/// stopped. Here a client reads 1.5 MiB/s (a terminal's batch is 2 MiB)
/// while the container writes as fast as the terminal takes it.
#[tokio::test]
async fn a_slow_attacher_gets_every_byte_of_a_fast_terminal() {
    let t = TestRoot::new("slow");
    // Past what HTTP/2's windows, the stream and the shim's budget hold.
    let total = 16usize << 20;
    let (file, digest) = random_file(&t, "data", total);
    let id = "slow";
    let script = format!("stty raw -echo; cat {}", file.display());
    let (spawned, mut c) = shim_with_sh(&t, id, script, true).await;
    let mut a = attach(&mut c, id, false).await;
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let rate = 1.5 * (1 << 20) as f64;
    let mut h = Sha256::new();
    let mut got = 0usize;
    // Sizes of the pieces that brought the last 4 MiB.
    let mut last = Vec::new();
    let exit = loop {
        let m = a
            .message()
            .await
            .unwrap()
            .expect("stream ended before the exit");
        match m.msg {
            Some(attach_response::Msg::Stdout(b)) => {
                got += b.len();
                h.update(&b);
                if got > total - (4 << 20) {
                    last.push(b.len());
                }
                // Never faster than the rate, even after a stall of its
                // own (a busy machine): a client catching up on a schedule
                // reads faster for a while, and its pace is rightly
                // measured so, with larger pieces (seen in CI: 1.5 MB).
                tokio::time::sleep(Duration::from_secs_f64(b.len() as f64 / rate)).await;
            }
            Some(attach_response::Msg::Exit(e)) => break e,
            other => panic!("a client that keeps reading is not dropped: {other:?}"),
        }
    };
    assert_eq!((got, exit.exit_code), (total, 0));
    assert_eq!(h.finalize().to_vec(), digest, "bytes differ");
    // Whole 2 MiB batches would each take this client 1.3 s; pieces past
    // the start are cut to its pace, and no whole batch goes. (Mostly they
    // take it at most 0.7 s; on a loaded machine the measured pace swings
    // further, as HTTP/2's windows let bursts through: 0.8 and 1.35 MB
    // pieces were seen in CI, so the bound is the batch, not 1 MiB.)
    let largest = last.iter().max().copied().unwrap_or(0);
    assert!(
        largest < 2 << 20,
        "once the client's pace is known, pieces fit it: {last:?}"
    );
    // And most of them are small: about 0.1 s of its pace.
    let small = last.iter().filter(|n| **n <= 256 << 10).count();
    assert!(small * 2 > last.len(), "pieces fit the pace: {last:?}");
    delete(&mut c, spawned, id).await;
    std::fs::remove_file(&file).unwrap();
    t.finish();
}

/// A client that stops reading holds the container's output back for
/// LAGGARD_TIMEOUT (5 s), then is told it lagged and dropped, and the
/// container goes on to its exit.
#[tokio::test]
async fn an_attacher_that_stops_reading_is_dropped_and_the_container_goes_on() {
    let t = TestRoot::new("stall");
    let id = "stall";
    let script = "stty raw -echo; head -c 33554432 /dev/zero; echo done".to_string();
    let (spawned, mut c) = shim_with_sh(&t, id, script, true).await;
    let mut stalled = attach(&mut c, id, false).await;
    let mut other = mydocker::connect(&spawned.socket).await.unwrap();
    let started = Instant::now();
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let exit = other
        .wait(v1::WaitRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let took = started.elapsed();
    assert_eq!(exit.status.unwrap().exit_code, 0);
    // 32 MiB is past what HTTP/2's windows and the shim's budget hold:
    // the container waited for the client, then went on without it.
    assert!(
        took > Duration::from_secs(4) && took < Duration::from_secs(30),
        "{took:?}"
    );
    let mut got = 0;
    let dropped = loop {
        match stalled.message().await.unwrap().map(|m| m.msg) {
            Some(Some(attach_response::Msg::Stdout(b))) => got += b.len(),
            Some(Some(attach_response::Msg::Lagged(l))) => break l.dropped_bytes,
            other => panic!("expected output then lagged, got {other:?}"),
        }
    };
    assert!(dropped > 4 << 20, "it was over its 4 MiB budget: {dropped}");
    assert!(got < 32 << 20, "{got}");
    assert!(
        stalled.message().await.unwrap().is_none(),
        "dropped: the stream ends"
    );
    drop(other);
    delete(&mut c, spawned, id).await;
    t.finish();
}
