//! An image's layers as a container's root (Create's `layers`): an overlay
//! the shim mounts inside the container's mount namespace, so the top
//! layer's whiteouts and opaque directories hide what is under them, each
//! container writes to its own upper directory only, and the host's mount
//! table never changes. (The CLI's `run IMAGE` comes with issue 21.)

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use mydocker::v1;
use mydocker_integration::*;
use tonic::Code;

/// Directories of this test's beside its state root, removed at the end.
struct Dirs(PathBuf);

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn opaque(dir: &Path) {
    let p = CString::new(dir.as_os_str().as_bytes()).unwrap();
    let n = CString::new("trusted.overlay.opaque").unwrap();
    // SAFETY: NUL-terminated strings and a one-byte value, all alive.
    let r = unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// Two layers as the store unpacks them: busybox with files, then one
/// that deletes, replaces and makes a directory opaque.
fn layers(base: &Path) -> (PathBuf, PathBuf) {
    let bottom = busybox_rootfs(&base.join("bottom"));
    std::fs::write(bottom.join("etc/motd"), "one\n").unwrap();
    std::fs::write(bottom.join("etc/keep"), "first\n").unwrap();
    std::fs::create_dir_all(bottom.join("srv/old")).unwrap();
    std::fs::write(bottom.join("srv/old/a"), "a\n").unwrap();
    let top = base.join("top");
    std::fs::create_dir_all(top.join("etc")).unwrap();
    std::fs::create_dir_all(top.join("srv/old")).unwrap();
    nix::sys::stat::mknod(
        &top.join("etc/motd"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    std::fs::write(top.join("etc/keep"), "second\n").unwrap();
    std::fs::write(top.join("srv/old/b"), "b\n").unwrap();
    opaque(&top.join("srv/old"));
    (top, bottom)
}

/// Create's `layers`: `lower` topmost first; upper and work not the
/// shim's to remove.
fn overlay<P: AsRef<Path>>(lower: &[P], upper: &Path, work: &Path) -> v1::Layers {
    v1::Layers {
        lower: lower
            .iter()
            .map(|p| p.as_ref().to_string_lossy().into_owned())
            .collect(),
        upper: upper.to_string_lossy().into_owned(),
        work: work.to_string_lossy().into_owned(),
        owned: false,
    }
}

/// The container's stdout, from its log (CRI format), once it exited.
fn stdout_of(t: &TestRoot, id: &str) -> String {
    let log = std::fs::read_to_string(t.root.join(id).join("log")).unwrap();
    log.lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let (_, stream, _, text) = (f.next()?, f.next()?, f.next()?, f.next()?);
            (stream == "stdout").then(|| format!("{text}\n"))
        })
        .collect()
}

async fn run_on_layers(
    t: &TestRoot,
    id: &str,
    lower: &[&Path],
    upper: &Path,
    work: &Path,
    script: &str,
) -> (String, i32) {
    let (spawned, mut c) = t.shim(id).await;
    c.create(v1::CreateRequest {
        id: id.into(),
        argv: vec!["sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into()],
        resources: Some(t.resources()),
        layers: Some(overlay(lower, upper, work)),
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
    let code = c
        .wait(v1::WaitRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap()
        .exit_code;
    let out = stdout_of(t, id);
    delete(&mut c, spawned, id).await;
    (out, code)
}

#[tokio::test]
async fn an_overlay_of_layers_is_the_root_and_writes_stay_in_the_upper() {
    let t = TestRoot::new("layers");
    let dirs = Dirs(PathBuf::from(format!("{}-dirs", t.root.display())));
    let (top, bottom) = layers(&dirs.0);
    let (u1, w1, u2, w2) = (
        dirs.0.join("u1"),
        dirs.0.join("w1"),
        dirs.0.join("u2"),
        dirs.0.join("w2"),
    );
    for d in [&u1, &w1, &u2, &w2] {
        std::fs::create_dir_all(d).unwrap();
    }
    let (out, code) = run_on_layers(
        &t,
        "ov1",
        &[&top, &bottom],
        &u1,
        &w1,
        "cat /etc/keep; cat /etc/motd 2>/dev/null || echo no motd; ls /srv/old; \
         echo written > /etc/new; rm /etc/keep; grep ' / / ' /proc/self/mountinfo | grep -c ' - overlay '",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "second\nno motd\nb\n1\n");
    // The writes: in its upper only (a new file, and a whiteout of its
    // own for what it deleted); the layers untouched.
    assert_eq!(
        std::fs::read_to_string(u1.join("etc/new")).unwrap(),
        "written\n"
    );
    assert!(!top.join("etc/new").exists() && !bottom.join("etc/new").exists());
    assert_eq!(
        std::fs::read_to_string(top.join("etc/keep")).unwrap(),
        "second\n"
    );
    // Another container on the same layers sees none of it.
    let (out, _) = run_on_layers(
        &t,
        "ov2",
        &[&top, &bottom],
        &u2,
        &w2,
        "cat /etc/new 2>/dev/null || echo no new; cat /etc/keep",
    )
    .await;
    assert_eq!(out, "no new\nsecond\n");

    // Refused, with one line and nothing left: a missing layer, a path
    // overlayfs cannot take, layers beside a rootfs.
    let comma = dirs.0.join("a,b");
    std::fs::create_dir_all(&comma).unwrap();
    let cases: [(Vec<PathBuf>, Code, &str); 2] = [
        (
            vec![dirs.0.join("none")],
            Code::FailedPrecondition,
            "No such file",
        ),
        (vec![comma], Code::InvalidArgument, "separators"),
    ];
    for (i, (lower, code, says)) in cases.into_iter().enumerate() {
        let id = format!("ovbad{i}");
        let (spawned, mut c) = t.shim(&id).await;
        let e = c
            .create(v1::CreateRequest {
                id: id.clone(),
                argv: vec!["true".into()],
                resources: Some(t.resources()),
                layers: Some(overlay(&lower, &u2, &w2)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().contains(says), "{:?}", e.message());
        assert!(!e.message().contains('\n'));
        c.shutdown(v1::ShutdownRequest {}).await.unwrap();
        drop(c);
        assert!(wait_child(spawned.process).await.success());
    }
    let (spawned, mut c) = t.shim("ovbad9").await;
    let e = c
        .create(v1::CreateRequest {
            id: "ovbad9".into(),
            argv: vec!["true".into()],
            rootfs: bottom.to_string_lossy().into_owned(),
            resources: Some(t.resources()),
            layers: Some(overlay(&[&top], &u2, &w2)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    c.shutdown(v1::ShutdownRequest {}).await.unwrap();
    drop(c);
    assert!(wait_child(spawned.process).await.success());
    drop(dirs);
    // No overlay (or anything else) on the host's mount table.
    t.finish();
}
