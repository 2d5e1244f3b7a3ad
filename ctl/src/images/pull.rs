//! `mydockerctl pull`: an image from a registry, over the OCI distribution
//! API (oci-client: bearer-token and basic auth, manifest lists and OCI
//! indexes resolved for this machine's platform), into the store. Every
//! blob is checked against its digest twice (as it streams, and as the
//! store takes it): no unchecked blob and no image without all of its
//! layers is ever in the store. The checked blobs of a failed pull stay,
//! for the next; what a killed one left in the store's `tmp/` goes at the
//! next use of the store.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{anyhow, Context};
use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

use super::load;
use super::reference::Reference;
use super::store::{LayerRecord, Store};

/// Docker's media types of compressed and plain layers, and the OCI
/// ones: the store sniffs the compression, these are what is accepted.
fn is_layer(media_type: &str) -> bool {
    let layer = media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.");
    // Fetched from URLs of the image's choosing: docker refuses them too.
    layer && !media_type.contains("foreign") && !media_type.contains("nondistributable")
}

/// Registries spoken to over plain HTTP (only: docker tries HTTPS first
/// with any certificate, this does not): those given as HOST[:PORT],
/// exactly, and loopback ones (127.0.0.0/8 and localhost are insecure by
/// docker's default too).
fn plain_http(registry: &str, insecure: &[String]) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    insecure.iter().any(|r| r == registry)
        || host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Credentials for `registry` from `~/.docker/config.json` (`auths`, the
/// base64 `user:password` form), else anonymous.
fn credentials(registry: &str) -> RegistryAuth {
    let Some(home) = std::env::var_os("HOME") else {
        return RegistryAuth::Anonymous;
    };
    let path = Path::new(&home).join(".docker/config.json");
    match std::fs::read(&path) {
        Ok(text) => credentials_in(&text, registry),
        Err(_) => RegistryAuth::Anonymous,
    }
}

/// [`credentials`] from a config.json's text.
fn credentials_in(text: &[u8], registry: &str) -> RegistryAuth {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(text) else {
        return RegistryAuth::Anonymous;
    };
    let keys = [
        registry.to_string(),
        format!("https://{registry}"),
        // Docker Hub's entry, by its historical name.
        if registry == super::reference::DOCKER_HUB {
            "https://index.docker.io/v1/".to_string()
        } else {
            String::new()
        },
    ];
    let auth = keys
        .iter()
        .filter(|k| !k.is_empty())
        .find_map(|k| v["auths"][k]["auth"].as_str());
    let decoded = auth.and_then(|a| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(a).ok()
    });
    match decoded
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        }) {
        Some((user, password)) => RegistryAuth::Basic(user, password),
        None => RegistryAuth::Anonymous,
    }
}

/// Where a pull reports: stdout for `pull`, stderr for the pull of a
/// `run` (its stdout is the container's), as docker's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Stdout,
    Stderr,
}

impl Out {
    fn say(self, line: std::fmt::Arguments) {
        match self {
            Out::Stdout => println!("{line}"),
            Out::Stderr => eprintln!("{line}"),
        }
    }

    fn is_terminal(self) -> bool {
        match self {
            Out::Stdout => std::io::stdout().is_terminal(),
            Out::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// What one pull says on a terminal: a line per layer as it is done.
struct Progress {
    on: bool,
    out: Out,
}

impl Progress {
    fn layer(&self, digest: &str, what: &str) {
        if self.on {
            let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
            self.out
                .say(format_args!("{}: {what}", &hex[..hex.len().min(12)]));
        }
    }
}

/// `mydockerctl pull [-q] [--insecure-registry HOST[:PORT]]... NAME`.
pub async fn pull_cmd(
    data_root: &Path,
    name: &str,
    insecure: &[String],
    quiet: bool,
) -> anyhow::Result<i32> {
    let r = pull(data_root, name, insecure, quiet, Out::Stdout).await?;
    println!("{r}");
    Ok(0)
}

/// Pulls `name` into the store, saying what it does on `out` (nothing
/// when `quiet`); the full reference it pulled.
pub async fn pull(
    data_root: &Path,
    name: &str,
    insecure: &[String],
    quiet: bool,
    out: Out,
) -> anyhow::Result<Reference> {
    let r = Reference::parse(name).map_err(|e| anyhow!("{e}"))?;
    let tag = r.familiar_tag();
    let shown = tag.clone().unwrap_or_else(|| name.to_string());
    let oci_ref = match (&r.digest, &r.tag) {
        (Some(d), _) => {
            oci_client::Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone())
        }
        (None, t) => oci_client::Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            t.clone().unwrap_or_else(|| "latest".into()),
        ),
    };
    let progress = Progress {
        on: !quiet && out.is_terminal(),
        out,
    };
    if !quiet {
        if r.tag.is_none() && r.digest.is_none() {
            out.say(format_args!("Using default tag: latest"));
        }
        out.say(format_args!(
            "{}: Pulling from {}",
            r.tag.as_deref().or(r.digest.as_deref()).unwrap_or("latest"),
            r.familiar_name()
        ));
    }
    let plain: Vec<String> = if plain_http(&r.registry, insecure) {
        vec![r.registry.clone()]
    } else {
        Vec::new()
    };
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain),
        connect_timeout: Some(Duration::from_secs(15)),
        // A registry that stops sending fails the pull, not hangs it.
        read_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    });
    let auth = credentials(&r.registry);
    let (manifest, manifest_digest, config_json, list_digest) = client
        .pull_manifest_and_config_and_list_digest(&oci_ref, &auth)
        .await
        .map_err(|e| anyhow!("{shown}: {}", remote(&e)))?;
    // docker's repo digest: the index's, when the name led to one.
    let digest = list_digest.unwrap_or(manifest_digest);

    let store = Store::open(data_root)?;
    let id = manifest.config.digest.clone();
    // The image, whole, already here under this name: nothing to fetch.
    let known = store.images().into_iter().any(|i| {
        i.id == id
            && match &tag {
                Some(t) => i.tags.contains(t),
                None => i.manifest.as_deref() == Some(digest.as_str()),
            }
    });
    if !known {
        for l in &manifest.layers {
            if !is_layer(&l.media_type) || l.urls.as_ref().is_some_and(|u| !u.is_empty()) {
                anyhow::bail!(
                    "layer {}: media type {} is not a layer this pulls (foreign and non-distributable ones are refused)",
                    l.digest,
                    mydocker::brief(&l.media_type)
                );
            }
        }
        // Three at a time, as docker's, each into a file of the store's
        // scratch space, checked as it comes; the first failure stops the
        // rest, and what they had is cleared.
        let fetched: anyhow::Result<Vec<(String, Option<PathBuf>)>> = futures_util::stream::iter(
            manifest
                .layers
                .iter()
                .map(|l| fetch(&client, &oci_ref, &store, l, &progress)),
        )
        .buffer_unordered(3)
        .try_collect()
        .await;
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                store.clear_own_scratch();
                return Err(e);
            }
        };
        // Into the store under the collection lock (shared: loads and
        // pulls at once, an rmi waits), each checked again as it goes in.
        let _gc = store.gc_lock(false)?;
        store.put_blob(config_json.as_bytes(), &id, "image config")?;
        let (config, diff_ids) = load::config_of(&store, &id)?;
        if diff_ids.len() != manifest.layers.len() {
            anyhow::bail!(
                "image {id}: {} layers, {} diff ids in its config",
                manifest.layers.len(),
                diff_ids.len()
            );
        }
        let mut failed = None;
        for (blob, tmp) in fetched {
            let Some(tmp) = tmp else { continue };
            let what = format!("layer {blob}");
            let kept = std::fs::File::open(&tmp)
                .with_context(|| what.clone())
                .and_then(|f| {
                    store
                        .put_blob(std::io::BufReader::new(f), &blob, &what)
                        .map_err(Into::into)
                });
            if let Err(e) = kept {
                failed.get_or_insert(e);
            }
        }
        store.clear_own_scratch();
        if let Some(e) = failed {
            return Err(e);
        }
        let mut layers = Vec::new();
        for (l, diff_id) in manifest.layers.iter().zip(&diff_ids) {
            let size = store.unpack_layer(&l.digest, diff_id)?;
            progress.layer(&l.digest, "Pull complete");
            layers.push(LayerRecord {
                blob: l.digest.clone(),
                diff_id: diff_id.clone(),
                size,
            });
        }
        let mut loaded = Vec::new();
        load::save(
            &store,
            id.clone(),
            Some(digest.clone()),
            layers,
            tag.clone().into_iter().collect(),
            &config,
            &mut loaded,
        )?;
    }
    if !quiet {
        out.say(format_args!("Digest: {digest}"));
        if known {
            out.say(format_args!("Status: Image is up to date for {shown}"));
        } else {
            out.say(format_args!("Status: Downloaded newer image for {shown}"));
        }
    }
    Ok(r)
}

/// A registry's error, with its causes, as one bounded line: its text is
/// the registry's (a proxy's HTML page, a list of errors), not ours.
fn remote(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    let line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(400)
        .collect();
    line
}

/// Passes at most `left` bytes on: a registry that sends more than the
/// manifest says a blob has fails, before it fills the disk.
struct Capped<W> {
    inner: W,
    left: u64,
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Capped<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if buf.len() as u64 > self.left {
            return std::task::Poll::Ready(Err(std::io::Error::other(
                "the registry sent more than the blob's size",
            )));
        }
        let this = &mut *self;
        let r = std::pin::Pin::new(&mut this.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            this.left -= *n as u64;
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One layer's blob, into a file of the store's scratch space, its digest
/// checked as it comes: its digest, and the file (`None` when the store
/// has the blob already).
async fn fetch(
    client: &Client,
    image: &oci_client::Reference,
    store: &Store,
    layer: &OciDescriptor,
    progress: &Progress,
) -> anyhow::Result<(String, Option<PathBuf>)> {
    let digest = layer.digest.clone();
    if store.blob_path(&digest)?.exists() {
        progress.layer(&digest, "Already exists");
        return Ok((digest, None));
    }
    let what = || format!("layer {digest}");
    let size = u64::try_from(layer.size).map_err(|_| anyhow!("{}: a negative size", what()))?;
    let tmp = store.scratch().with_context(what)?.join("blob");
    let file = tokio::fs::File::create(&tmp).await.with_context(what)?;
    let mut out = Capped {
        inner: tokio::io::BufWriter::new(file),
        left: size,
    };
    client
        .pull_blob(image, layer, &mut out)
        .await
        .map_err(|e| anyhow!("{}: {}", what(), remote(&e)))?;
    if out.left != 0 {
        anyhow::bail!("{}: the registry sent less than the blob's size", what());
    }
    progress.layer(&digest, "Download complete");
    Ok((digest, Some(tmp)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_named_registries_are_plain_http() {
        assert!(plain_http("127.0.0.1:5000", &[]));
        assert!(plain_http("localhost:5000", &[]));
        assert!(plain_http("localhost", &[]));
        assert!(!plain_http("docker.io", &[]));
        assert!(!plain_http("reg.example:5000", &[]));
        assert!(!plain_http("reg.example:5000", &["reg.example".into()]));
        assert!(!plain_http("127.0.0.1.nip.io", &[]));
        assert!(!plain_http("127.corp.example:5000", &[]));
        assert!(plain_http("127.1.2.3:80", &[]));
        assert!(plain_http("reg.example:5000", &["reg.example:5000".into()]));
        assert!(!plain_http("reg.example:5000", &["other:5000".into()]));
    }

    #[test]
    fn credentials_come_from_auths() {
        // "user:pa:ss", base64: a password may hold a colon.
        let text = br#"{"auths": {"reg.example:5000": {"auth": "dXNlcjpwYTpzcw=="},
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="}}}"#;
        let basic = |a: RegistryAuth| match a {
            RegistryAuth::Basic(u, p) => Some((u, p)),
            _ => None,
        };
        assert_eq!(
            basic(credentials_in(text, "reg.example:5000")),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(
            basic(credentials_in(text, "docker.io")),
            Some(("hub".into(), "secret".into()))
        );
        assert_eq!(basic(credentials_in(text, "other")), None);
        assert_eq!(basic(credentials_in(b"not json", "reg.example:5000")), None);
    }

    #[test]
    fn layers_by_media_type() {
        assert!(is_layer("application/vnd.oci.image.layer.v1.tar+gzip"));
        assert!(is_layer("application/vnd.oci.image.layer.v1.tar+zstd"));
        assert!(is_layer(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
        assert!(!is_layer("application/vnd.oci.image.config.v1+json"));
        assert!(!is_layer(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(!is_layer(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        ));
    }
}
