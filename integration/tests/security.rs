//! Container hardening (docker's defaults) and caller authentication.

use std::os::unix::fs::PermissionsExt;

use mydocker_integration::*;

fn status_field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} in {out}"))
        .trim()
        .to_string()
}

/// Paths docker masks that are non-empty on this host (so that reading
/// them empty inside proves the mask).
fn masked_with_content() -> Vec<&'static str> {
    ["/proc/kcore", "/proc/keys", "/proc/timer_list"]
        .into_iter()
        .filter(|p| {
            std::fs::File::open(p)
                .and_then(|mut f| {
                    let mut b = [0u8; 1];
                    std::io::Read::read(&mut f, &mut b)
                })
                .map(|n| n > 0)
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn the_command_runs_with_dockers_default_confinement() {
    let t = TestRoot::new("harden");
    let masked = masked_with_content();
    assert!(
        !masked.is_empty(),
        "no masked path has content here: nothing to prove"
    );
    let mut script = String::from("grep -E '^(Cap|NoNewPrivs)' /proc/self/status; ");
    for p in &masked {
        script.push_str(&format!("echo {p}=$(wc -c < {p}); "));
    }
    script.push_str(
        "if echo x > /proc/sys/kernel/hostname; then echo sysctl=writable; else echo sysctl=denied; fi; \
         echo firmware=$(ls /sys/firmware 2>/dev/null | wc -l)",
    );
    let o = t.ctl_output(&on_host(&["run"], &["--rm", "sh", "-c", &script]));
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    for cap in ["CapEff", "CapPrm", "CapBnd", "CapInh"] {
        assert_eq!(status_field(&out, cap), "00000000a80425fb", "{cap}: {out}");
    }
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
    for p in &masked {
        assert!(
            out.contains(&format!("{p}=0\n")),
            "{p} reads as empty: {out}"
        );
    }
    assert!(out.contains("sysctl=denied"), "{out}");
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(out.contains("firmware=0"), "{out}");
    t.finish();
}

#[test]
fn privileged_turns_the_confinement_off() {
    let t = TestRoot::new("priv");
    let masked = masked_with_content();
    let mut script = String::from("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ");
    for p in &masked {
        script.push_str(&format!("echo {p}=$(head -c 1 {p} | wc -c); "));
    }
    let o = t.ctl_output(&on_host(
        &["run"],
        &["--rm", "--privileged", "sh", "-c", &script],
    ));
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    let eff = u64::from_str_radix(&status_field(&out, "CapEff"), 16).unwrap();
    assert!(eff & (1 << 21) != 0, "CAP_SYS_ADMIN: {out}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
    for p in &masked {
        assert!(out.contains(&format!("{p}=1\n")), "{p} readable: {out}");
    }
    t.finish();
}

#[test]
fn a_caller_that_is_neither_root_nor_the_shims_user_is_refused() {
    let t = TestRoot::new("peer");
    let id = stdout(&t.ctl_output(&on_host(&["run"], &["-d", "sleep", "100"])))
        .trim()
        .to_string();
    let dir = t.root.join(&id);
    let sock = dir.join("shim.sock");
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Open the door the file modes keep shut, to reach the check behind it.
    let set = |p: &std::path::Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    set(&t.root, 0o755);
    set(&dir, 0o755);
    set(&sock, 0o777);
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(ctl_bin())
        .args(["kill", &id])
        .env("MYDOCKER_ROOT", &t.root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).contains("uid 65534 may not use this shim"),
        "{}",
        stderr(&o)
    );
    // The container was not touched.
    let v = stdout(&t.ctl_output(&["inspect", &id]));
    assert!(v.contains("\"Status\": \"running\""), "{v}");
    let o = t.ctl_output(&["rm", "-f", &id]);
    assert!(o.status.success(), "{o:?}");
    t.finish();
}
