//! Malformed and hostile requests to a live shim. Each gets the right gRPC
//! code and a one-line message, and the shim keeps serving its container:
//! after the barrage the container still echoes its input, the shim's fd
//! count is back where it was, and the leak check is clean.

use std::path::Path;
use std::time::Duration;

use mydocker::v1::{self, attach_request, attach_response};
use mydocker_integration::*;
use tokio::sync::mpsc;
use tonic::Code;

type Client = mydocker::ShimClient;

/// Asserts the code, that the message says what it must, and that it is
/// one short line whatever the size of the request was.
fn expect<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, says: &str) {
    let e = match r {
        Ok(v) => panic!("expected {code:?} ({says}), got Ok({v:?})"),
        Err(e) => e,
    };
    assert_eq!(e.code(), code, "{e:?}");
    let msg = e.message();
    assert!(msg.contains(says), "{code:?}: {msg:?} should say {says:?}");
    assert!(!msg.contains('\n'), "not one line: {msg:?}");
    assert!(
        msg.len() < 300,
        "{} bytes of message: {msg:.300}",
        msg.len()
    );
}

fn attach_msg(m: attach_request::Msg) -> v1::AttachRequest {
    v1::AttachRequest { msg: Some(m) }
}

fn open(id: &str) -> v1::AttachRequest {
    open_with(v1::AttachOpen {
        id: id.into(),
        ..Default::default()
    })
}

fn open_with(o: v1::AttachOpen) -> v1::AttachRequest {
    attach_msg(attach_request::Msg::Open(o))
}

/// One Attach stream driven by hand.
struct Attach {
    tx: mpsc::Sender<v1::AttachRequest>,
    rx: tonic::Streaming<v1::AttachResponse>,
}

impl Attach {
    /// Opens a stream whose first message is `first`.
    async fn new(c: &mut Client, first: v1::AttachRequest) -> Result<Self, tonic::Status> {
        let (tx, rx) = mpsc::channel(8);
        tx.send(first).await.unwrap();
        let rx = c
            .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok(Self { tx, rx })
    }

    /// Sends, unless the stream has already ended (then `next` says how).
    async fn send(&self, m: attach_request::Msg) {
        let _ = self.tx.send(attach_msg(m)).await;
    }

    async fn next(&mut self) -> Result<Option<attach_response::Msg>, tonic::Status> {
        tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("no answer on the Attach stream in 10 s")
            .map(|m| m.and_then(|m| m.msg))
    }

    /// Reads stdout until the exit: what it said, and the status.
    async fn until_exit(&mut self) -> (String, v1::ExitStatus) {
        let mut out = String::new();
        loop {
            match self.next().await.unwrap() {
                Some(attach_response::Msg::Stdout(b)) => out.push_str(&String::from_utf8_lossy(&b)),
                Some(attach_response::Msg::Exit(e)) => return (out, e),
                other => panic!("after {out:?}: {other:?}"),
            }
        }
    }

    /// Reads output until it contains `needle`.
    async fn read_until(&mut self, needle: &str) -> String {
        let mut seen = String::new();
        while !seen.contains(needle) {
            match self.next().await {
                Ok(Some(attach_response::Msg::Stdout(b) | attach_response::Msg::Stderr(b))) => {
                    seen.push_str(&String::from_utf8_lossy(&b))
                }
                Ok(Some(attach_response::Msg::Attached(_))) => {}
                other => panic!("waiting for {needle:?} after {seen:?}, got {other:?}"),
            }
        }
        seen
    }
}

fn create_req(t: &TestRoot, id: &str, argv: &[&str]) -> v1::CreateRequest {
    v1::CreateRequest {
        id: id.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        resources: Some(t.resources()),
        ..Default::default()
    }
}

async fn state(c: &mut Client, id: &str) -> v1::StateResponse {
    c.state(v1::StateRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

async fn wait_exit(c: &mut Client, id: &str) -> v1::ExitStatus {
    c.wait(v1::WaitRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .status
    .unwrap()
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Ids that are not ids, against every RPC that takes one: InvalidArgument,
/// never NotFound (the caller's mistake is not a missing container), never
/// a path outside the root.
async fn bad_ids(c: &mut Client, t: &TestRoot) {
    let long = "a".repeat(10 * 1024);
    let escape = format!("../md-escape-{}", std::process::id());
    for bad in [
        "",
        long.as_str(),
        escape.as_str(),
        "a/b",
        "..",
        ".",
        "-x",
        "a\0b",
        "x y",
    ] {
        let id = bad.to_string();
        let says = "invalid container id";
        expect(
            c.create(create_req(t, bad, &["true"])).await,
            Code::InvalidArgument,
            says,
        );
        expect(
            c.start(v1::StartRequest {
                id: id.clone(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            says,
        );
        expect(
            c.wait(v1::WaitRequest {
                id: id.clone(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            says,
        );
        let kill = v1::KillRequest {
            id: id.clone(),
            signal: 15,
            all: false,
            ..Default::default()
        };
        expect(c.kill(kill).await, Code::InvalidArgument, says);
        expect(
            c.state(v1::StateRequest { id: id.clone() }).await,
            Code::InvalidArgument,
            says,
        );
        expect(
            c.stats(v1::StatsRequest { id: id.clone() }).await,
            Code::InvalidArgument,
            says,
        );
        let update = v1::UpdateRequest {
            id: id.clone(),
            resources: None,
        };
        expect(c.update(update).await, Code::InvalidArgument, says);
        expect(
            c.delete(v1::DeleteRequest {
                id: id.clone(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            says,
        );
        let mut a = Attach::new(c, open(bad)).await.unwrap();
        expect(a.next().await, Code::InvalidArgument, says);
    }
    // Nothing was made for any of them, inside the root or next to it.
    assert_eq!(t.ids(), vec!["hostile".to_string()]);
    assert!(!t.root.join(&escape).exists());
}

#[tokio::test]
async fn hostile_requests_get_the_right_codes_and_the_shim_keeps_serving() {
    let t = TestRoot::new("hostil");
    let id = "hostile";
    let (spawned, mut c) = t.shim(id).await;
    let shim_pid = spawned.process.id();

    // Bad Creates leave the shim empty, so a good one still works after.
    let mut nul = create_req(&t, id, &["echo", "a\0b"]);
    expect(
        c.create(nul.clone()).await,
        Code::InvalidArgument,
        "NUL byte",
    );
    nul.argv = vec![];
    expect(
        c.create(nul).await,
        Code::InvalidArgument,
        "argv must name a command",
    );
    let mut bad_env = create_req(&t, id, &["true"]);
    bad_env.env = vec!["x".repeat(10 << 20)];
    expect(
        c.create(bad_env).await,
        Code::InvalidArgument,
        "is not KEY=VALUE",
    );
    let mut bad_cwd = create_req(&t, id, &["true"]);
    bad_cwd.cwd = "relative/".repeat(1000);
    expect(
        c.create(bad_cwd).await,
        Code::InvalidArgument,
        "is not absolute",
    );
    let mut bad_host = create_req(&t, id, &["true"]);
    bad_host.hostname = "h".repeat(10 * 1024);
    expect(c.create(bad_host).await, Code::InvalidArgument, "hostname");
    let mut bad_size = create_req(&t, id, &["true"]);
    bad_size.terminal_size = Some(v1::WindowSize {
        rows: 70_000,
        cols: 80,
    });
    expect(
        c.create(bad_size).await,
        Code::InvalidArgument,
        "rows and cols must be 1 to 65535",
    );
    let mut bad_mem = create_req(&t, id, &["true"]);
    bad_mem.resources.as_mut().unwrap().memory_limit_bytes = -5;
    expect(c.create(bad_mem).await, Code::InvalidArgument, "memory");
    let other = create_req(&t, "other", &["true"]);
    expect(
        c.create(other).await,
        Code::FailedPrecondition,
        "serves container hostile",
    );
    assert_eq!(t.ids(), vec![id.to_string()]);
    assert_eq!(
        cgroup_dirs(&t.cgroup_parent())
            .iter()
            .filter(|d| d.join(id).exists())
            .count(),
        0,
        "a refused Create made a cgroup"
    );

    // The container the shim must keep serving: it echoes its stdin.
    let mut req = create_req(&t, id, &["cat"]);
    req.stdin = true;
    c.create(req.clone()).await.unwrap();
    expect(c.create(req).await, Code::AlreadyExists, "already exists");
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    expect(
        c.start(v1::StartRequest {
            id: id.into(),
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        "already",
    );
    let fds_before = fd_count(shim_pid);

    bad_ids(&mut c, &t).await;

    // Well-formed ids of no container here.
    expect(
        c.wait(v1::WaitRequest {
            id: "nope".into(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        "no such container: nope",
    );
    expect(
        c.state(v1::StateRequest { id: "nope".into() }).await,
        Code::NotFound,
        "no such container",
    );
    let mut a = Attach::new(&mut c, open("nope")).await.unwrap();
    expect(a.next().await, Code::NotFound, "no such container");

    // Signals out of range; 0 is kept for last (it means SIGKILL).
    for sig in [999, -1, 65, i32::MAX, i32::MIN] {
        let kill = v1::KillRequest {
            id: id.into(),
            signal: sig,
            all: sig % 2 == 0,
            ..Default::default()
        };
        expect(
            c.kill(kill).await,
            Code::InvalidArgument,
            &format!("invalid signal {sig}"),
        );
    }
    expect(
        c.delete(v1::DeleteRequest {
            id: id.into(),
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        "running",
    );
    let update = v1::UpdateRequest {
        id: id.into(),
        resources: Some(v1::Resources {
            cgroup_parent: "elsewhere".into(),
            ..Default::default()
        }),
    };
    expect(
        c.update(update).await,
        Code::InvalidArgument,
        "cgroup parent",
    );

    // Attach streams that break the protocol end with InvalidArgument.
    let stdin = attach_request::Msg::Stdin(b"x\n".to_vec().into());
    let mut a = Attach::new(&mut c, attach_msg(stdin.clone()))
        .await
        .unwrap();
    expect(
        a.next().await,
        Code::InvalidArgument,
        "first Attach message must be `open`",
    );
    let mut a = Attach::new(&mut c, v1::AttachRequest { msg: None })
        .await
        .unwrap();
    expect(a.next().await, Code::InvalidArgument, "must be `open`");
    let mut a = Attach::new(&mut c, open(id)).await.unwrap();
    assert!(matches!(
        a.next().await,
        Ok(Some(attach_response::Msg::Attached(_)))
    ));
    a.send(attach_request::Msg::Open(v1::AttachOpen::default()))
        .await;
    expect(a.next().await, Code::InvalidArgument, "only once");
    let mut a = Attach::new(&mut c, open(id)).await.unwrap();
    a.next().await.unwrap();
    let resize = |rows, cols| attach_request::Msg::Resize(v1::WindowSize { rows, cols });
    a.send(resize(24, 80)).await;
    expect(a.next().await, Code::FailedPrecondition, "terminal");

    // Requests cut off in the middle, and bytes that are not HTTP/2.
    cut_requests(&spawned.socket, id).await;
    let idle = garbage_connections(&spawned.socket).await;

    // A message over the 64 MiB limit is refused, not buffered.
    let huge = v1::CreateRequest {
        env: vec![format!("A={}", "x".repeat(65 << 20))],
        ..create_req(&t, id, &["true"])
    };
    let mut big = mydocker::connect(&spawned.socket)
        .await
        .unwrap()
        .max_encoding_message_size(usize::MAX);
    let e = big.create(huge).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert!(e.message().contains("too large"), "{e:?}");
    drop((big, idle));

    // Still serving its container, which lost nothing and got nothing it
    // should not have: with replay, everything `cat` ever echoed comes
    // back, so a refused stream's "x\n" would show up first.
    let st = state(&mut c, id).await;
    assert_eq!(st.status, v1::Status::Running as i32);
    let replay = attach_msg(attach_request::Msg::Open(v1::AttachOpen {
        id: id.into(),
        replay: true,
        ..Default::default()
    }));
    let mut a = Attach::new(&mut c, replay).await.unwrap();
    a.send(stdin).await;
    a.send(attach_request::Msg::Stdin(b"still here\n".to_vec().into()))
        .await;
    let seen = a.read_until("still here\n").await;
    assert_eq!(
        seen, "x\nstill here\n",
        "the container's stdin got exactly what was sent"
    );
    a.send(attach_request::Msg::Detach(v1::Detach {})).await;
    assert!(matches!(a.next().await, Ok(None)));
    drop(a);
    let fds_after = eventually(Duration::from_secs(5), || {
        let n = fd_count(shim_pid);
        (n <= fds_before).then_some(n)
    });
    assert!(
        fds_after.is_some(),
        "the shim holds {} fds, {fds_before} before the barrage",
        fd_count(shim_pid)
    );

    // Signal 0 is the documented default: SIGKILL.
    c.kill(v1::KillRequest {
        id: id.into(),
        signal: 0,
        all: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let s = wait_exit(&mut c, id).await;
    assert_eq!((s.exit_code, s.signal), (137, 9));
    expect(
        c.kill(v1::KillRequest {
            id: id.into(),
            signal: 15,
            all: false,
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        "not running",
    );
    let mut a = Attach::new(&mut c, open(id)).await.unwrap();
    a.send(attach_request::Msg::Stdin(b"late\n".to_vec().into()))
        .await;
    loop {
        match a.next().await {
            Ok(Some(attach_response::Msg::Attached(_))) => {}
            Ok(Some(attach_response::Msg::Exit(e))) => {
                assert_eq!(e.exit_code, 137);
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
                break;
            }
            other => panic!("attach to an exited container: {other:?}"),
        }
    }
    drop(a);
    let s = delete(&mut c, spawned, id).await;
    assert_eq!(s.exit_code, 137);

    // Deleted: the socket is gone, and the CLI says so in one line.
    let sock = mydocker::socket_path(&t.root, id);
    assert!(!sock.exists());
    let o = t.ctl_output(&["attach", id]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(&o);
    assert!(
        err.contains("No such container") || err.contains("no such container"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    t.finish();
}

/// HTTP/2 requests whose gRPC message stops part-way: once with the stream
/// ended (the shim must answer, not wait), once with the connection dropped.
async fn cut_requests(sock: &Path, id: &str) {
    use http::Request;
    // A length prefix promising 1000 bytes, then 10 of them.
    let mut partial = vec![0u8];
    partial.extend_from_slice(&1000u32.to_be_bytes());
    partial.extend_from_slice(&[0x0a; 10]);

    // (method, a whole `open` before the cut message, end the stream)
    for (method, open_first, end_stream) in [
        ("Create", false, true),
        ("Attach", true, true),
        ("Attach", false, true),
        ("Create", false, false),
        ("Attach", true, false),
    ] {
        let io = tokio::net::UnixStream::connect(sock).await.unwrap();
        let (client, conn) = h2::client::handshake(io).await.unwrap();
        let conn = tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let req = Request::post(format!("http://localhost/mydocker.shim.v1.Shim/{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (resp, mut body) = client.send_request(req, false).unwrap();
        if open_first {
            // A whole `open` first, then the cut one.
            let m = prost::Message::encode_to_vec(&open(id));
            let mut frame = vec![0u8];
            frame.extend_from_slice(&(m.len() as u32).to_be_bytes());
            frame.extend_from_slice(&m);
            body.send_data(frame.into(), false).unwrap();
        }
        body.send_data(partial.clone().into(), end_stream).unwrap();
        if !end_stream {
            // Give the shim the bytes, then vanish.
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop((client, body, resp));
            conn.abort();
            continue;
        }
        let resp = tokio::time::timeout(Duration::from_secs(10), resp)
            .await
            .expect("the shim answered a cut request")
            .unwrap();
        let (code, msg) = grpc_status(resp).await;
        assert_eq!(code, Code::Internal as i32, "{method}: {msg}");
        assert!(
            msg.contains("EOF") || msg.contains("decod"),
            "{method}: {msg}"
        );
        conn.abort();
    }
}

/// grpc-status and grpc-message of a response, from its headers (a
/// trailers-only answer) or its trailers.
async fn grpc_status(resp: http::Response<h2::RecvStream>) -> (i32, String) {
    let read = |h: &http::HeaderMap| {
        h.get("grpc-status").map(|s| {
            let code = s.to_str().unwrap().parse().unwrap();
            let msg = h
                .get("grpc-message")
                .map(|m| m.to_str().unwrap().to_string())
                .unwrap_or_default();
            (code, msg)
        })
    };
    if let Some(s) = read(resp.headers()) {
        return s;
    }
    let mut body = resp.into_body();
    while let Some(d) = body.data().await {
        // An Attach answers `attached` before it fails.
        let d = d.unwrap();
        let _ = body.flow_control().release_capacity(d.len());
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    read(&trailers).expect("grpc-status in the trailers")
}

/// Connections that never speak HTTP/2: the shim drops them and goes on.
/// Returns one that connected and said nothing, to be held open while the
/// shim serves others.
async fn garbage_connections(sock: &Path) -> tokio::net::UnixStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let junk: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        &[0u8; 4096],
        b"",
    ];
    for j in junk {
        let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
        s.write_all(j).await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
            .await
            .expect("the shim closed a junk connection")
            .ok();
    }
    tokio::net::UnixStream::connect(sock).await.unwrap()
}

/// Linux's limit on arguments and environment together: a quarter of the
/// stack limit, at most 6 MiB (fs/exec.c).
fn arg_max_kib() -> u64 {
    let (soft, _) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK).unwrap();
    (soft / 4).min(6 << 20) >> 10
}

/// 10 MB of environment passes the API (it is under the message limit) but
/// not the kernel: Start fails with the kernel's reason, exit 126, and the
/// shim serves on; 100k arguments all arrive.
#[tokio::test]
async fn huge_env_fails_at_exec_and_100k_args_arrive() {
    let t = TestRoot::new("huge");
    let id = "bigenv";
    let (spawned, mut c) = t.shim(id).await;
    let mut req = create_req(&t, id, &["true"]);
    req.env = (0..100_000)
        .map(|i| format!("V{i}={}", "x".repeat(96)))
        .collect();
    c.create(req).await.unwrap();
    expect(
        c.start(v1::StartRequest {
            id: id.into(),
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        &format!(
            "KiB of arguments and environment, and the limit is {} KiB in all",
            arg_max_kib()
        ),
    );
    let s = wait_exit(&mut c, id).await;
    assert_eq!(s.exit_code, 126, "{s:?}");
    assert_eq!(state(&mut c, id).await.status, v1::Status::Exited as i32);
    delete(&mut c, spawned, id).await;

    let id = "bigargs";
    let (spawned, mut c) = t.shim(id).await;
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        r#"echo "$# ${1} ${100000}""#.into(),
        "sh".into(),
    ];
    argv.extend((1..=100_000).map(|i| format!("a{i}")));
    let req = v1::CreateRequest {
        argv,
        ..create_req(&t, id, &[])
    };
    c.create(req).await.unwrap();
    let mut a = Attach::new(&mut c, open(id)).await.unwrap();
    assert!(matches!(
        a.next().await,
        Ok(Some(attach_response::Msg::Attached(_)))
    ));
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let seen = a.read_until("\n").await;
    assert_eq!(seen, "100000 a1 a100000\n");
    drop(a);
    let s = wait_exit(&mut c, id).await;
    assert_eq!(s.exit_code, 0);
    delete(&mut c, spawned, id).await;
    t.finish();
}

/// Terminal sizes at the edges: 65535x65535 is a size the kernel takes and
/// the container sees; 0x0 and anything over 65535 end that Attach stream
/// with InvalidArgument, and the container goes on.
#[tokio::test]
async fn resize_at_the_edges() {
    let t = TestRoot::new("resize");
    let id = "tty1";
    let (spawned, mut c) = t.shim(id).await;
    let mut req = create_req(&t, id, &["sh"]);
    req.tty = true;
    req.stdin = true;
    req.terminal_size = Some(v1::WindowSize { rows: 0, cols: 0 });
    c.create(req).await.unwrap();
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let resize = |rows, cols| attach_request::Msg::Resize(v1::WindowSize { rows, cols });
    let stdin = |s: &str| attach_request::Msg::Stdin(s.as_bytes().to_vec().into());

    let mut a = Attach::new(&mut c, open(id)).await.unwrap();
    // Create's 0x0 means the default size.
    a.send(stdin("echo size=$(stty size)\n")).await;
    a.read_until("size=24 80").await;
    a.send(resize(65535, 65535)).await;
    a.send(stdin("echo size=$(stty size)\n")).await;
    a.read_until("size=65535 65535").await;

    for (rows, cols, says) in [
        (0, 0, "invalid terminal size 0x0"),
        (0, 80, "invalid terminal size 0x80"),
        (65536, 80, "invalid terminal size 65536x80"),
        (24, u32::MAX, "rows and cols must be 1 to 65535"),
    ] {
        let mut a = Attach::new(&mut c, open(id)).await.unwrap();
        a.next().await.unwrap();
        a.send(resize(rows, cols)).await;
        let e = loop {
            match a.next().await {
                Ok(Some(attach_response::Msg::Stdout(_))) => {}
                other => break other,
            }
        };
        expect(e, Code::InvalidArgument, says);
    }
    // The first stream, and the terminal, are unharmed.
    a.send(stdin("echo size=$(stty size)\n")).await;
    a.read_until("size=65535 65535").await;
    a.send(stdin("exit 3\n")).await;
    loop {
        match a.next().await.unwrap() {
            Some(attach_response::Msg::Exit(e)) => {
                assert_eq!(e.exit_code, 3);
                break;
            }
            Some(_) => {}
            None => panic!("stream ended without the exit"),
        }
    }
    drop(a);
    delete(&mut c, spawned, id).await;
    t.finish();
}

fn open_and_start(id: &str) -> v1::AttachRequest {
    open_with(v1::AttachOpen {
        id: id.into(),
        start: true,
        ..Default::default()
    })
}

/// Attach with `start`: the client is registered before the command runs,
/// so the first thing the command prints arrives (every time, not by a
/// race won), `attached` carries its pid, and a start that is refused ends
/// the stream with Start's own status, with no `attached`.
#[tokio::test]
async fn attach_and_start_in_one_call_misses_nothing_and_refusals_end_the_stream() {
    let t = TestRoot::new("atstrt");
    for i in 0..5 {
        let id = format!("as{i}");
        let (spawned, mut c) = t.shim(&id).await;
        // Until its stdin closes: running while its pid is checked.
        c.create(v1::CreateRequest {
            stdin: true,
            ..create_req(&t, &id, &["sh", "-c", "echo first; read x; exit 5"])
        })
        .await
        .unwrap();
        let mut a = Attach::new(&mut c, open_and_start(&id)).await.unwrap();
        let pid = match a.next().await {
            Ok(Some(attach_response::Msg::Attached(v1::Attached { pid }))) => pid,
            other => panic!("expected attached, got {other:?}"),
        };
        assert!(pid > 1, "pid {pid}");
        assert_eq!(state(&mut c, &id).await.pid, pid);
        a.send(attach_request::Msg::CloseStdin(v1::CloseStdin {}))
            .await;
        let (out, exit) = a.until_exit().await;
        assert_eq!((out.as_str(), exit.exit_code), ("first\n", 5));

        // Exited: a new run of it, as Start makes one, seen whole too.
        let mut again = Attach::new(&mut c, open_and_start(&id)).await.unwrap();
        let pid2 = match again.next().await {
            Ok(Some(attach_response::Msg::Attached(v1::Attached { pid }))) => pid,
            other => panic!("expected attached, got {other:?}"),
        };
        assert!(pid2 > 1 && pid2 != pid, "pid {pid2}");
        // Running: refused as Start refuses it.
        let mut third = Attach::new(&mut c, open_and_start(&id)).await.unwrap();
        expect(
            third.next().await,
            Code::FailedPrecondition,
            &format!("container {id} is already started"),
        );
        again
            .send(attach_request::Msg::CloseStdin(v1::CloseStdin {}))
            .await;
        let (out, exit) = again.until_exit().await;
        assert_eq!((out.as_str(), exit.exit_code), ("first\n", 5));
        assert_eq!(delete(&mut c, spawned, &id).await.exit_code, 5);
    }

    // A command that cannot be executed: the stream ends with Start's
    // error, and the exit status is 127, as with Start.
    let id = "asmissing";
    let (spawned, mut c) = t.shim(id).await;
    c.create(create_req(&t, id, &["/no/such/program"]))
        .await
        .unwrap();
    let mut a = Attach::new(&mut c, open_and_start(id)).await.unwrap();
    expect(a.next().await, Code::FailedPrecondition, "/no/such/program");
    let s = wait_exit(&mut c, id).await;
    assert_eq!(s.exit_code, 127, "{s:?}");
    delete(&mut c, spawned, id).await;
    t.finish();
}

fn create_attach_start(id: &str, create: v1::CreateRequest) -> v1::AttachRequest {
    open_with(v1::AttachOpen {
        id: id.into(),
        start: true,
        create: Some(Box::new(create)),
        ..Default::default()
    })
}

/// Attach with `create` and `start`: docker's `run` in one call. `created`
/// comes first, then `attached` with the same pid, then all the output; a
/// Create that fails ends the stream with Create's own status and leaves no
/// container; a start that is refused ends it with Start's, after
/// `created`, and the container stays for Wait and Delete.
#[tokio::test]
async fn create_attach_and_start_in_one_call() {
    let t = TestRoot::new("crtatt");
    let id = "ca0";
    let (spawned, mut c) = t.shim(id).await;
    let req = create_req(&t, id, &["sh", "-c", "echo first; exit 4"]);
    // `id` may be left empty: it is the Create's.
    let mut a = Attach::new(&mut c, create_attach_start("", req))
        .await
        .unwrap();
    let created = match a.next().await {
        Ok(Some(attach_response::Msg::Created(v1::CreateResponse { pid }))) => pid,
        other => panic!("expected created, got {other:?}"),
    };
    match a.next().await {
        Ok(Some(attach_response::Msg::Attached(v1::Attached { pid }))) => {
            assert_eq!(pid, created)
        }
        other => panic!("expected attached, got {other:?}"),
    }
    let (out, exit) = a.until_exit().await;
    assert_eq!((out.as_str(), exit.exit_code), ("first\n", 4));
    assert_eq!(delete(&mut c, spawned, id).await.exit_code, 4);

    // Create refused: its status, and nothing of the container.
    let id = "ca1";
    let (spawned, mut c) = t.shim(id).await;
    let mut a = Attach::new(&mut c, create_attach_start(id, create_req(&t, id, &[])))
        .await
        .unwrap();
    expect(a.next().await, Code::InvalidArgument, "argv");
    expect(
        c.state(v1::StateRequest { id: id.into() }).await,
        Code::NotFound,
        id,
    );
    // Two ids that disagree.
    let mut a = Attach::new(
        &mut c,
        create_attach_start("other", create_req(&t, id, &["true"])),
    )
    .await
    .unwrap();
    expect(a.next().await, Code::InvalidArgument, "differ");
    c.shutdown(v1::ShutdownRequest {}).await.unwrap();
    assert!(wait_child(spawned.process).await.success());

    // Created, but the command cannot be executed: Start's status after
    // `created`, and 127 through Wait.
    let id = "ca2";
    let (spawned, mut c) = t.shim(id).await;
    let req = create_req(&t, id, &["/no/such/program"]);
    let mut a = Attach::new(&mut c, create_attach_start(id, req))
        .await
        .unwrap();
    assert!(
        matches!(a.next().await, Ok(Some(attach_response::Msg::Created(_)))),
        "created first"
    );
    expect(a.next().await, Code::FailedPrecondition, "/no/such/program");
    assert_eq!(wait_exit(&mut c, id).await.exit_code, 127);
    delete(&mut c, spawned, id).await;
    t.finish();
}

/// The children of `pid` named `comm`.
fn children_named(pid: u32, comm: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, not ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        if ppid == Some(pid) && head.ends_with(&format!("({comm}")) {
            found.push(p);
        }
    }
    found
}

fn ns(pid: u32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The namespaces are made ahead, as the shim starts, by a child that keeps
/// nothing of the shim's but its two pipes (and, for the init, its own
/// view of the host's cgroup hierarchies), sits in `/`, and has made its
/// mounts private; the init joins exactly those namespaces at Create. The
/// holder keeps them until the container has exited (so that their
/// teardown is not the exit's), and is gone then. A shim that ends with no
/// container reaps it.
#[tokio::test]
async fn namespaces_are_made_ahead_and_the_init_joins_them() {
    const KINDS: [&str; 4] = ["net", "uts", "ipc", "mnt"];
    let release = nix::sys::utsname::uname().unwrap();
    let release = release.release().to_string_lossy().into_owned();
    let mut v = release.split(|c: char| !c.is_ascii_digit());
    let (major, minor): (u32, u32) = (
        v.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        v.next().and_then(|p| p.parse().ok()).unwrap_or(0),
    );
    if (major, minor) < (5, 9) {
        eprintln!("skipped: Linux {release} has no close_range or setns through a pidfd");
        return;
    }
    let t = TestRoot::new("nsahead");
    let id = "na0";
    let (spawned, mut c) = t.shim(id).await;
    let shim_pid = spawned.process.id();
    let holder = eventually(Duration::from_secs(2), || {
        children_named(shim_pid, "mydocker-ns").pop()
    })
    .expect("a holder under the shim");
    // Made: its namespaces are no longer the shim's (and it is alive).
    let made = eventually(Duration::from_secs(2), || {
        KINDS
            .iter()
            .all(|k| !ns(holder, k).is_empty() && ns(holder, k) != ns(shim_pid, k))
            .then_some(())
    });
    assert!(made.is_some(), "the holder's namespaces are the shim's");
    // Once it is done (it covers the host's kernel file systems after
    // saying it made the namespaces, with its mount table open), what it
    // holds.
    let fds_now = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{holder}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                std::fs::read_link(e.path())
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect()
    };
    // Done is blocked in read(2) on a pipe (its `hold` end): not merely
    // "no mount table open", which is also true before it opens one, with
    // the netlink socket that brings lo up still open.
    let waiting_on_pipe = || -> bool {
        let Ok(call) = std::fs::read_to_string(format!("/proc/{holder}/syscall")) else {
            return false;
        };
        let mut f = call.split_whitespace();
        let (Some("0"), Some(fd)) = (f.next(), f.next()) else {
            return false;
        };
        let Ok(fd) = i64::from_str_radix(fd.trim_start_matches("0x"), 16) else {
            return false;
        };
        std::fs::read_link(format!("/proc/{holder}/fd/{fd}"))
            .is_ok_and(|l| l.to_string_lossy().starts_with("pipe:"))
    };
    let fds = eventually(Duration::from_secs(5), || waiting_on_pipe().then(fds_now))
        .unwrap_or_else(|| panic!("the holder never settled: {:?}", fds_now()));
    let pipes = fds.iter().filter(|f| f.starts_with("pipe:")).count();
    assert_eq!(pipes, 2, "{fds:?}");
    // Where the host's cgroups are under /sys/fs/cgroup (every host we
    // know), its view of them, which its own /sys then hides: the init
    // joins its cgroup through it.
    let rest: Vec<&String> = fds.iter().filter(|f| !f.starts_with("pipe:")).collect();
    assert!(rest.len() <= 1, "{fds:?}");
    assert!(rest.iter().all(|f| *f == "/sys/fs/cgroup"), "{fds:?}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{holder}/cwd")).unwrap(),
        Path::new("/")
    );
    // Not peers of the host's mounts: this says something where `/` is
    // shared (systemd hosts, and the cgroup v2 guest of integration/vm/run,
    // which runs this test); on a host where nothing is, it cannot fail.
    let mounts = std::fs::read_to_string(format!("/proc/{holder}/mountinfo")).unwrap();
    assert!(!mounts.contains(" shared:"), "{mounts}");
    let held: Vec<String> = KINDS.iter().map(|k| ns(holder, k)).collect();

    let pid = c
        .create(create_req(&t, id, &["true"]))
        .await
        .unwrap()
        .into_inner()
        .pid;
    let joined: Vec<String> = KINDS.iter().map(|k| ns(pid, k)).collect();
    assert_eq!(joined, held);
    assert!(
        Path::new(&format!("/proc/{holder}")).exists(),
        "the holder let go of the namespaces of a container that has not exited"
    );
    c.start(v1::StartRequest {
        id: id.into(),
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
    let gone = eventually(Duration::from_secs(2), || {
        (!Path::new(&format!("/proc/{holder}")).exists()).then_some(())
    });
    assert!(gone.is_some(), "the holder outlived the container");
    delete(&mut c, spawned, id).await;

    // No container: the shim lets its holder go and reaps it as it ends.
    let id = "na1";
    let (spawned, mut c) = t.shim(id).await;
    let shim_pid = spawned.process.id();
    let holder = eventually(Duration::from_secs(2), || {
        children_named(shim_pid, "mydocker-ns").pop()
    })
    .expect("a holder under the shim");
    c.shutdown(v1::ShutdownRequest {}).await.unwrap();
    assert!(wait_child(spawned.process).await.success());
    assert!(
        !Path::new(&format!("/proc/{holder}")).exists(),
        "the holder outlived its shim"
    );
    t.finish();
}
