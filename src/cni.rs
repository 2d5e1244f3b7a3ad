//! The Container Network Interface as a runtime drives it (CNI spec 1.0):
//! a network's configuration list, whose plugins run in order for ADD,
//! each given the one before's result, and in reverse for DEL; each an
//! executable named by its `type`, found on the plugin path, told what to
//! do by environment variables, given its configuration on stdin, and
//! answering with a result (or an error) in JSON on stdout.
//!
//! Shared by the shim (ADD when it creates a container, DEL when it
//! removes one) and the CLI (DEL from the recorded result, for a container
//! whose shim died).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Where Debian's `containernetworking-plugins` and the upstream release
/// put the plugins.
pub const DEFAULT_PATH: &str = "/opt/cni/bin:/usr/lib/cni";

/// The interface each container's network gets, as docker's and CRI's.
pub const IFNAME: &str = "eth0";

/// A plugin that has not answered by then is killed, and its step failed.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a plugin may say, at most (a result is a few hundred bytes).
const MAX_OUTPUT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("network config: {0}")]
    Config(String),
    #[error("CNI plugin {plugin:?} not found in {path}")]
    NotFound { plugin: String, path: String },
    #[error("CNI plugin {plugin}: {msg}")]
    Plugin { plugin: String, msg: String },
    #[error("{add} (and DEL, undoing it: {del})")]
    Undo {
        add: Box<CniError>,
        del: Box<CniError>,
    },
    #[error("CNI plugin {plugin}: {what}: {source}")]
    Io {
        plugin: String,
        what: &'static str,
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, CniError>;

/// A network configuration list (`.conflist`), checked.
#[derive(Debug, Clone)]
pub struct NetworkList {
    pub name: String,
    pub cni_version: String,
    plugins: Vec<Map<String, Value>>,
}

impl NetworkList {
    pub fn parse(text: &str) -> Result<Self> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| CniError::Config(format!("not JSON: {e}")))?;
        let field = |k: &str| -> Result<String> {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| CniError::Config(format!("no {k:?}")))
        };
        let name = field("name")?;
        let cni_version = field("cniVersion")?;
        let plugins = v
            .get("plugins")
            .and_then(Value::as_array)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| CniError::Config("no \"plugins\"".into()))?;
        let plugins = plugins
            .iter()
            .map(|p| {
                let p = p
                    .as_object()
                    .ok_or_else(|| CniError::Config("a plugin is not an object".into()))?;
                match p.get("type").and_then(Value::as_str) {
                    // A name on the plugin path: never a path of its own.
                    Some(t) if valid_type(t) => Ok(p.clone()),
                    _ => Err(CniError::Config(
                        "a plugin's \"type\" must be a plain file name".into(),
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            name,
            cni_version,
            plugins,
        })
    }

    /// Whether the list's version is at least `major.minor`.
    fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut v = self
            .cni_version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (major, minor)
    }

    /// The plugins' types, in order.
    pub fn types(&self) -> Vec<&str> {
        self.plugins
            .iter()
            .filter_map(|p| p.get("type").and_then(Value::as_str))
            .collect()
    }

    /// The plugin configuration `i` gets on stdin: its own, with the list's
    /// name and version, the previous result, and the runtime's values of
    /// the capabilities it declares.
    fn plugin_config(&self, i: usize, prev: Option<&Value>, runtime: &Map<String, Value>) -> Value {
        let mut p = self.plugins[i].clone();
        p.insert("name".into(), json!(self.name));
        p.insert("cniVersion".into(), json!(self.cni_version));
        if let Some(prev) = prev {
            p.insert("prevResult".into(), prev.clone());
        }
        let caps = p.get("capabilities").and_then(Value::as_object).cloned();
        let asked: Map<String, Value> = runtime
            .iter()
            .filter(|(k, _)| {
                caps.as_ref()
                    .and_then(|c| c.get(*k))
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !asked.is_empty() {
            p.insert("runtimeConfig".into(), Value::Object(asked));
        }
        Value::Object(p)
    }
}

fn valid_type(t: &str) -> bool {
    !t.is_empty() && !t.contains('/') && t != "." && t != ".." && !t.contains('\0')
}

/// One container's attachment to a network: what every plugin is told.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Attachment {
    pub container_id: String,
    /// The network namespace's path; empty for a DEL after it is gone.
    pub netns: String,
    pub ifname: String,
    /// The plugin path (`:`-separated directories).
    pub path: String,
    /// Values for the capabilities plugins declare (`portMappings`, `ips`).
    #[serde(default)]
    pub runtime_config: Map<String, Value>,
}

/// What a container's state dir keeps of its network, written before ADD
/// (so that a DEL can follow a crash in the middle of it) and again with
/// its result: enough to DEL it without the shim that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub conflist: String,
    pub attachment: Attachment,
    pub result: Option<Value>,
}

/// Its file in the container's state dir.
pub const RECORD_FILE: &str = "network.json";

/// The container's network namespace, pinned by a bind mount in its state
/// dir (as containerd and podman pin theirs): it outlives the container's
/// processes and its shim, so that a DEL always runs inside it. (The bridge
/// plugin finds the masquerade rules to remove from the addresses in it:
/// with the namespace gone, they stay.)
pub const NETNS_FILE: &str = "netns";

/// Pins the namespace at `from` (a `/proc/PID/ns/net`) in `dir`.
pub fn pin_netns(from: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let to = dir.join(NETNS_FILE);
    std::fs::File::create(&to)?;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (src, dst) = (c(from)?, c(&to)?);
    // SAFETY: NUL-terminated paths; a bind mount, no data.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        let _ = std::fs::remove_file(&to);
        return Err(e);
    }
    Ok(to)
}

/// Whether `path` is a namespace (nsfs), as a pin is while it is mounted:
/// an empty file is left where a pin was undone or did not survive.
fn is_namespace(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let Ok(p) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path and a statfs buffer of ours.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(p.as_ptr(), &mut st) } == 0) && st.f_type as i64 == NSFS_MAGIC
}

/// Unpins what [`pin_netns`] pinned in `dir` (nothing there is no error).
pub fn unpin_netns(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let to = dir.join(NETNS_FILE);
    if let Ok(dst) = std::ffi::CString::new(to.as_os_str().as_bytes()) {
        // SAFETY: a NUL-terminated path.
        unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_file(&to);
}

impl Record {
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(".network.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::rename(&tmp, dir.join(RECORD_FILE))
    }

    pub fn read(dir: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(dir.join(RECORD_FILE)).ok()?).ok()
    }

    /// DEL from the record, for a container whose shim is gone, in its
    /// namespace still pinned in `dir` (or, if that is gone too, without
    /// it: the plugins release what they can outside it); then the pin and
    /// the record go.
    pub fn replay_del(dir: &Path) -> Result<()> {
        let Some(r) = Self::read(dir) else {
            unpin_netns(dir);
            return Ok(());
        };
        let list = NetworkList::parse(&r.conflist)?;
        let pinned = dir.join(NETNS_FILE);
        let a = Attachment {
            netns: if is_namespace(&pinned) {
                pinned.to_string_lossy().into_owned()
            } else {
                String::new()
            },
            ..r.attachment
        };
        del(&list, &a, r.result.as_ref())?;
        unpin_netns(dir);
        let _ = std::fs::remove_file(dir.join(RECORD_FILE));
        Ok(())
    }
}

/// ADD: each plugin in order; the last one's result. On a failure, DEL
/// runs for the whole list (as the spec asks of runtimes), and the ADD's
/// error is returned.
pub fn add(list: &NetworkList, a: &Attachment) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for i in 0..list.plugins.len() {
        let config = list.plugin_config(i, prev.as_ref(), &a.runtime_config);
        match invoke(list.types()[i], "ADD", &config, a) {
            Ok(result) => prev = Some(result),
            Err(e) => {
                // Undone: the plugins that ran, this one too unless it was
                // never found (those after it have nothing to undo).
                let ran = if matches!(e, CniError::NotFound { .. }) {
                    i
                } else {
                    i + 1
                };
                return Err(match del_first(list, ran, a, prev.as_ref()) {
                    Ok(()) => e,
                    Err(d) => CniError::Undo {
                        add: Box::new(e),
                        del: Box::new(d),
                    },
                });
            }
        }
    }
    prev.ok_or_else(|| CniError::Config("no plugins".into()))
}

/// DEL: each plugin in reverse order, with the ADD's result where it is
/// known; every plugin is run, and the first failure returned.
pub fn del(list: &NetworkList, a: &Attachment, prev: Option<&Value>) -> Result<()> {
    del_first(list, list.plugins.len(), a, prev)
}

/// DEL of the list's first `n` plugins.
fn del_first(list: &NetworkList, n: usize, a: &Attachment, prev: Option<&Value>) -> Result<()> {
    let mut first = Ok(());
    // DEL is given the ADD's result from 0.4.0 on.
    let prev = prev.filter(|_| list.at_least(0, 4));
    for i in (0..n.min(list.plugins.len())).rev() {
        let config = list.plugin_config(i, prev, &a.runtime_config);
        if let Err(e) = invoke(list.types()[i], "DEL", &config, a) {
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    first
}

/// CHECK: each plugin in order, with the ADD's result.
pub fn check(list: &NetworkList, a: &Attachment, prev: &Value) -> Result<()> {
    for i in 0..list.plugins.len() {
        let config = list.plugin_config(i, Some(prev), &a.runtime_config);
        invoke(list.types()[i], "CHECK", &config, a)?;
    }
    Ok(())
}

/// The addresses (without their prefix length) a result gives.
pub fn addresses(result: &Value) -> Vec<String> {
    result
        .get("ips")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .filter_map(|ip| ip.get("address").and_then(Value::as_str))
                .map(|a| a.split('/').next().unwrap_or(a).to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn find(plugin: &str, path: &str) -> Result<PathBuf> {
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(plugin))
        .find(|p| p.is_file())
        .ok_or_else(|| CniError::NotFound {
            plugin: plugin.to_string(),
            path: path.to_string(),
        })
}

fn invoke(plugin: &str, command: &str, config: &Value, a: &Attachment) -> Result<Value> {
    let exe = find(plugin, &a.path)?;
    let io = |what| {
        let plugin = plugin.to_string();
        move |source| CniError::Io {
            plugin,
            what,
            source,
        }
    };
    let mut child = Command::new(&exe)
        .env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &a.container_id)
        .env("CNI_NETNS", &a.netns)
        .env("CNI_IFNAME", &a.ifname)
        .env("CNI_PATH", &a.path)
        // The plugins run iptables and ip, which they look for here.
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own: what it starts (iptables, ip) is killed
        // with it, and none keeps its output pipes open after it.
        .process_group(0)
        .spawn()
        .map_err(io("run"))?;
    let group = child.id() as libc::pid_t;
    // SAFETY: kill of the process group just made (its leader is our
    // child, not reaped yet, so the id is not anyone else's).
    let kill_group = || unsafe { libc::kill(-group, libc::SIGKILL) };
    let input = serde_json::to_vec(config).unwrap_or_default();
    let mut stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&input);
        }
    });
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let _ = r.take(MAX_OUTPUT).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(child.stdout.take().map(|s| Box::new(s) as _));
    let err = read(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + PLUGIN_TIMEOUT;
    let status = loop {
        let waited = child.try_wait();
        if waited.is_err() || (matches!(waited, Ok(None)) && Instant::now() > deadline) {
            kill_group();
            let _ = child.wait();
        }
        match waited.map_err(io("wait for"))? {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                return Err(CniError::Plugin {
                    plugin: plugin.to_string(),
                    msg: format!("{command} took more than {PLUGIN_TIMEOUT:?}"),
                });
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    // Anything it left behind goes before its pipes are read to the end.
    kill_group();
    let _ = writer.join();
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        // The spec's error: {"code": N, "msg": "...", "details": "..."}.
        let parsed: Option<Value> = serde_json::from_slice(&out).ok();
        let field = |k| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let msg = match (field("msg"), field("details")) {
            (Some(m), Some(d)) => format!("{m}: {d}"),
            (Some(m), None) => m,
            _ => {
                let text = String::from_utf8_lossy(if err.is_empty() { &out } else { &err });
                match text.trim() {
                    "" => format!("{command} failed ({status})"),
                    t => format!("{command} failed ({status}): {}", crate::brief(t)),
                }
            }
        };
        return Err(CniError::Plugin {
            plugin: plugin.to_string(),
            msg: one_line(&msg),
        });
    }
    if command != "ADD" {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&out).map_err(|e| CniError::Plugin {
        plugin: plugin.to_string(),
        msg: format!("ADD's result is not JSON: {e}"),
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A plugin directory of shell scripts (fakes: what is tested here is
    /// the invocation, the chaining and the errors; the real plugins run
    /// in the integration tests).
    struct Plugins(PathBuf);

    impl Plugins {
        fn new(name: &str) -> Self {
            let d =
                std::env::temp_dir().join(format!("mydocker-cni-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Self(d)
        }
        fn script(&self, name: &str, body: &str) {
            let p = self.0.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        fn log(&self) -> String {
            std::fs::read_to_string(self.0.join("log")).unwrap_or_default()
        }
        fn attachment(&self) -> Attachment {
            let mut rc = Map::new();
            rc.insert(
                "portMappings".into(),
                json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
            );
            Attachment {
                container_id: "c1".into(),
                netns: "/proc/1/ns/net".into(),
                ifname: IFNAME.into(),
                path: format!("/nonexistent:{}", self.0.display()),
                runtime_config: rc,
            }
        }
    }

    impl Drop for Plugins {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn list(types: &[&str]) -> NetworkList {
        let plugins: Vec<Value> = types
            .iter()
            .map(|t| json!({"type": t, "capabilities": {"portMappings": *t == "second"}}))
            .collect();
        NetworkList::parse(
            &json!({"cniVersion": "1.0.0", "name": "net1", "plugins": plugins}).to_string(),
        )
        .unwrap()
    }

    #[test]
    fn add_chains_results_and_del_runs_in_reverse() {
        let p = Plugins::new("chain");
        let log = p.0.join("log");
        // Each logs its command, environment and stdin, and answers a
        // result naming itself.
        for name in ["first", "second"] {
            p.script(
                name,
                &format!(
                    "echo \"{name} $CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME\" >> {log}\n\
                     cat >> {log}; echo >> {log}\n\
                     echo '{{\"cniVersion\":\"1.0.0\",\"ips\":[{{\"address\":\"10.1.0.{n}/24\"}}]}}'",
                    log = log.display(),
                    n = if name == "first" { 2 } else { 3 }
                ),
            );
        }
        let l = list(&["first", "second"]);
        let r = add(&l, &p.attachment()).unwrap();
        assert_eq!(addresses(&r), ["10.1.0.3"]);
        let text = p.log();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "first ADD c1 /proc/1/ns/net eth0");
        let first: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(first["name"], "net1");
        assert_eq!(first["cniVersion"], "1.0.0");
        assert!(first.get("prevResult").is_none());
        // Only a plugin that declares the capability gets its value.
        assert!(first.get("runtimeConfig").is_none());
        assert_eq!(lines[2], "second ADD c1 /proc/1/ns/net eth0");
        let second: Value = serde_json::from_str(lines[3]).unwrap();
        assert_eq!(second["prevResult"]["ips"][0]["address"], "10.1.0.2/24");
        assert_eq!(second["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);

        std::fs::remove_file(&log).unwrap();
        del(&l, &p.attachment(), Some(&r)).unwrap();
        let text = p.log();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "second DEL c1 /proc/1/ns/net eth0");
        assert_eq!(lines[2], "first DEL c1 /proc/1/ns/net eth0");
        let second: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["prevResult"]["ips"][0]["address"], "10.1.0.3/24");
    }

    #[test]
    fn a_failed_add_is_undone_and_its_error_is_the_plugins() {
        let p = Plugins::new("fail");
        let log = p.0.join("log");
        p.script(
            "first",
            &format!(
                "echo \"first $CNI_COMMAND\" >> {}\necho '{{\"cniVersion\":\"1.0.0\"}}'",
                log.display()
            ),
        );
        p.script(
            "second",
            &format!(
                "echo \"second $CNI_COMMAND\" >> {}\n[ $CNI_COMMAND = DEL ] && exit 0\n\
                 echo '{{\"code\": 11, \"msg\": \"port 8080 is taken\", \"details\": \"by   someone\"}}'; exit 1",
                log.display()
            ),
        );
        let e = add(&list(&["first", "second"]), &p.attachment()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CNI plugin second: port 8080 is taken: by someone"
        );
        assert_eq!(p.log(), "first ADD\nsecond ADD\nsecond DEL\nfirst DEL\n");
    }

    #[test]
    fn missing_plugins_and_bad_lists_are_clear() {
        let p = Plugins::new("missing");
        let e = add(&list(&["nowhere"]), &p.attachment()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("CNI plugin \"nowhere\" not found in /nonexistent:"),
            "{e}"
        );
        p.script("mute", "exit 3");
        let e = add(&list(&["mute"]), &p.attachment()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CNI plugin mute: ADD failed (exit status: 3) (and DEL, undoing it: CNI plugin mute: DEL failed (exit status: 3))"
        );
        for bad in [
            "",
            "{}",
            r#"{"name": "x", "cniVersion": "1.0.0"}"#,
            r#"{"name": "x", "cniVersion": "1.0.0", "plugins": []}"#,
            r#"{"name": "x", "cniVersion": "1.0.0", "plugins": [{"type": "../../bin/sh"}]}"#,
            r#"{"name": "x", "cniVersion": "1.0.0", "plugins": [{"type": "/bin/sh"}]}"#,
        ] {
            assert!(NetworkList::parse(bad).is_err(), "{bad}");
        }
    }
}
