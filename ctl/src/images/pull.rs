//! `mydockerctl pull`: an image from a registry, over the OCI distribution
//! API (oci-client: bearer-token and basic auth, manifest lists and OCI
//! indexes resolved for this machine's platform), into the store. Every
//! blob is checked against its digest twice (as it streams, and as the
//! store takes it); nothing of a failed pull is kept, and what a killed
//! one left in the store's `tmp/` goes at the next use of the store.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
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
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

/// Registries spoken to over plain HTTP: those given, and loopback ones
/// (docker's default: 127.0.0.0/8 and localhost are insecure registries).
fn plain_http(registry: &str, insecure: &[String]) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    insecure.iter().any(|r| r == registry || r == host)
        || host == "localhost"
        || host == "[::1]"
        || host.starts_with("127.")
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

/// What one pull says on a terminal: a line per layer as it is done.
struct Progress {
    on: bool,
}

impl Progress {
    fn layer(&self, digest: &str, what: &str) {
        if self.on {
            let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
            println!("{}: {what}", &hex[..hex.len().min(12)]);
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
        on: !quiet && std::io::stdout().is_terminal(),
    };
    if !quiet {
        if r.tag.is_none() && r.digest.is_none() {
            println!("Using default tag: latest");
        }
        println!(
            "{}: Pulling from {}",
            r.tag.as_deref().or(r.digest.as_deref()).unwrap_or("latest"),
            r.familiar_name()
        );
    }
    let plain: Vec<String> = if plain_http(&r.registry, insecure) {
        vec![r.registry.clone()]
    } else {
        Vec::new()
    };
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain),
        connect_timeout: Some(std::time::Duration::from_secs(15)),
        ..Default::default()
    });
    let auth = credentials(&r.registry);
    let (manifest, manifest_digest, config_json) = client
        .pull_manifest_and_config(&oci_ref, &auth)
        .await
        .map_err(|e| anyhow!("{shown}: {e}"))?;

    let store = Store::open(data_root)?;
    let id = manifest.config.digest.clone();
    // The image, whole, already here: nothing to fetch.
    let known =
        load::find(&store, &id).is_some_and(|i| tag.as_ref().is_none_or(|t| i.tags.contains(t)));
    if !known {
        // Loads and pulls share the store; rmi waits for them.
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
        for l in &manifest.layers {
            if !is_layer(&l.media_type) {
                anyhow::bail!(
                    "layer {}: media type {} is not a layer's",
                    l.digest,
                    mydocker::brief(&l.media_type)
                );
            }
        }
        // All layers at once, each into a file of its own, checked.
        let fetched = futures_util::future::join_all(
            manifest
                .layers
                .iter()
                .map(|l| fetch(&client, &oci_ref, &store, l, &progress)),
        )
        .await;
        let mut failed = None;
        for (l, f) in manifest.layers.iter().zip(fetched) {
            match f {
                Ok(Some(tmp)) => {
                    let kept = std::fs::File::open(&tmp)
                        .map_err(anyhow::Error::from)
                        .and_then(|f| {
                            store
                                .put_blob(
                                    std::io::BufReader::new(f),
                                    &l.digest,
                                    &format!("layer {}", l.digest),
                                )
                                .map_err(Into::into)
                        });
                    let _ = std::fs::remove_dir_all(tmp.parent().unwrap_or(&tmp));
                    if let Err(e) = kept {
                        failed.get_or_insert(e);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
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
            Some(manifest_digest.clone()),
            layers,
            tag.clone().into_iter().collect(),
            &config,
            &mut loaded,
        )?;
    }
    if !quiet {
        println!("Digest: {manifest_digest}");
        if known {
            println!("Status: Image is up to date for {shown}");
        } else {
            println!("Status: Downloaded newer image for {shown}");
        }
    }
    println!("{r}");
    Ok(0)
}

/// One layer's blob, into a file of the store's scratch space, its digest
/// checked as it comes; `None` when the store has it already.
async fn fetch(
    client: &Client,
    image: &oci_client::Reference,
    store: &Store,
    layer: &OciDescriptor,
    progress: &Progress,
) -> anyhow::Result<Option<PathBuf>> {
    if store.blob_path(&layer.digest)?.exists() {
        progress.layer(&layer.digest, "Already exists");
        return Ok(None);
    }
    let tmp = store.scratch()?.join("blob");
    let file = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("{}", tmp.display()))?;
    let got = client
        .pull_blob(image, layer, tokio::io::BufWriter::new(file))
        .await;
    if let Err(e) = got {
        let _ = std::fs::remove_dir_all(tmp.parent().unwrap_or(&tmp));
        return Err(anyhow!("layer {}: {e}", layer.digest));
    }
    progress.layer(&layer.digest, "Download complete");
    Ok(Some(tmp))
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
        assert!(plain_http("reg.example:5000", &["reg.example".into()]));
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
    }
}
