//! Load: many containers at once, many in a row, many attachers, and a
//! long-lived shim that must not grow. CI runs the smaller counts; set
//! MYDOCKER_LOAD_FULL=1 for the full ones (200 parallel, 1000 cycles).

use std::time::Duration;

use mydocker::v1::{self, attach_request, attach_response};
use mydocker_integration::*;

fn full() -> bool {
    std::env::var_os("MYDOCKER_LOAD_FULL").is_some()
}

#[test]
fn parallel_run_rm() {
    let t = TestRoot::new("par");
    let n = if full() { 200 } else { 40 };
    let children: Vec<_> = (0..n)
        .map(|i| {
            t.ctl()
                .args(on_host(
                    &["run"],
                    &["--rm", "sh", "-c", &format!("echo out-{i}; exit {}", i % 7)],
                ))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some((i % 7) as i32), "{i}: {o:?}");
        assert_eq!(stdout(&o), format!("out-{i}\n"));
    }
    t.finish();
}

#[test]
fn sequential_run_rm_cycles() {
    let t = TestRoot::new("seq");
    let n = if full() { 1000 } else { 100 };
    for i in 0..n {
        let o = t.ctl_output(&on_host(&["run"], &["--rm", "true"]));
        assert!(o.status.success(), "cycle {i}: {o:?}");
    }
    t.finish();
}

async fn attach(c: &mut mydocker::ShimClient, id: &str) -> tonic::Streaming<v1::AttachResponse> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(v1::AttachRequest {
        msg: Some(attach_request::Msg::Open(v1::AttachOpen {
            id: id.into(),
            replay: false,
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut s = c
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        s.message().await.unwrap().unwrap().msg,
        Some(attach_response::Msg::Attached(_))
    ));
    s
}

async fn collect(mut s: tonic::Streaming<v1::AttachResponse>) -> (Vec<u8>, i32) {
    let mut out = Vec::new();
    loop {
        match s.message().await.unwrap().expect("exit before end").msg {
            Some(attach_response::Msg::Stdout(b)) => out.extend_from_slice(&b),
            Some(attach_response::Msg::Exit(e)) => return (out, e.exit_code),
            other => panic!("{other:?}"),
        }
    }
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn fifty_attachers_each_get_everything_and_the_shim_does_not_grow() {
    let t = TestRoot::new("att50");
    let id = "many";
    let (spawned, mut c) = t.shim(id).await;
    let pid = spawned.process.id();
    // Waits for a line on stdin, so the warm-up below can use the shim
    // before the output starts.
    c.create(v1::CreateRequest {
        id: id.into(),
        argv: vec![
            "sh".into(),
            "-c".into(),
            "read go; seq 1 50000; exit 3".into(),
        ],
        stdin: true,
        resources: Some(t.resources()),
        ..Default::default()
    })
    .await
    .unwrap();
    c.start(v1::StartRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // A long-lived shim: many requests and attach/detach cycles must leave
    // its descriptors and memory where they were.
    let burst = |c: &mut mydocker::ShimClient| {
        let mut c = c.clone();
        async move {
            for _ in 0..100 {
                c.state(v1::StateRequest { id: id.into() }).await.unwrap();
                c.stats(v1::StatsRequest { id: id.into() }).await.unwrap();
            }
            for _ in 0..30 {
                let (tx, rx) = tokio::sync::mpsc::channel(2);
                tx.send(v1::AttachRequest {
                    msg: Some(attach_request::Msg::Open(v1::AttachOpen {
                        id: id.into(),
                        replay: true,
                        ..Default::default()
                    })),
                })
                .await
                .unwrap();
                tx.send(v1::AttachRequest {
                    msg: Some(attach_request::Msg::Detach(v1::Detach {})),
                })
                .await
                .unwrap();
                let mut s = c
                    .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
                    .unwrap()
                    .into_inner();
                while s.message().await.unwrap().is_some() {}
            }
        }
    };
    burst(&mut c).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (fds0, rss0) = (fd_count(pid), rss_kib(pid));
    for _ in 0..3 {
        burst(&mut c).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (fds1, rss1) = (fd_count(pid), rss_kib(pid));
    assert_eq!(fds1, fds0, "the shim's descriptors grew");
    assert!(
        rss1 < rss0 + 1024,
        "the shim grew from {rss0} to {rss1} KiB"
    );

    let mut streams = Vec::new();
    for _ in 0..50 {
        streams.push(attach(&mut c, id).await);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tx.send(v1::AttachRequest {
        msg: Some(attach_request::Msg::Open(v1::AttachOpen {
            id: id.into(),
            replay: false,
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    tx.send(v1::AttachRequest {
        msg: Some(attach_request::Msg::Stdin(bytes::Bytes::from_static(
            b"go\n",
        ))),
    })
    .await
    .unwrap();
    let _writer = c
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap();
    let want: Vec<u8> = (1..=50000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let results = futures_join_all(streams.into_iter().map(collect)).await;
    for (i, (out, code)) in results.into_iter().enumerate() {
        assert_eq!(code, 3, "attacher {i}");
        assert!(
            out == want,
            "attacher {i} got {} bytes of {}",
            out.len(),
            want.len()
        );
    }
    drop(_writer);
    c.delete(v1::DeleteRequest {
        id: id.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    drop(c);
    wait_child(spawned.process).await;
    t.finish();
}

/// All of them, concurrently, in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
