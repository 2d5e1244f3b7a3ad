//! Images: `pull`, `load`, `save`, `images` and `rmi` over a
//! content-addressed store of verified blobs and layers unpacked once, and
//! the overlay roots of containers made from them (root.rs, with the
//! mount points of initlayer.rs on top).

pub mod initlayer;
pub mod load;
pub mod pull;
pub mod reference;
pub mod root;
pub mod save;
pub mod store;
pub mod unpack;

use std::path::Path;

use serde_json::json;

use crate::containers::{ago, Status};
use crate::error::exit_with;
use store::Store;

/// `mydockerctl load [-i FILE|DIR]`: without `-i`, the archive on stdin
/// (plain, gzip or zstd).
pub fn load_cmd(data_root: &Path, input: Option<&Path>, quiet: bool) -> anyhow::Result<i32> {
    let store = Store::open(data_root)?;
    let loaded = match input {
        Some(input) => load::load(&store, input),
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return Err(exit_with(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            // Kept in the store's scratch while it loads, then dropped.
            let work = store.scratch()?;
            let file = work.join("stdin.tar");
            let copied = std::fs::File::create(&file)
                .and_then(|mut f| std::io::copy(&mut std::io::stdin().lock(), &mut f));
            let loaded = match copied {
                Ok(_) => load::load(&store, &file),
                Err(e) => Err(store::StoreError::Invalid(format!("read stdin: {e}"))),
            };
            let _ = std::fs::remove_dir_all(&work);
            loaded
        }
    }
    .map_err(|e| exit_with(1, e.to_string()))?;
    if !quiet {
        for l in loaded {
            if l.starts_with("sha256:") {
                println!("Loaded image ID: {l}");
            } else {
                println!("Loaded image: {l}");
            }
        }
    }
    Ok(0)
}

/// `mydockerctl save [-o FILE] IMAGE...`: to stdout unless it is a
/// terminal, as docker's.
pub fn save_cmd(data_root: &Path, names: &[String], output: Option<&Path>) -> anyhow::Result<i32> {
    let store = Store::open(data_root)?;
    let mut images = Vec::new();
    for n in names {
        match load::find(&store, n) {
            Some(i) => images.push(i),
            None => return Err(exit_with(1, format!("No such image: {n}"))),
        }
    }
    let saved = match output {
        Some(path) => {
            // Beside the target, then renamed: never half a file there.
            let tmp = path.with_extension("tmp-mydocker");
            let r = std::fs::File::create(&tmp)
                .map_err(|e| store::StoreError::Invalid(format!("{}: {e}", tmp.display())))
                .and_then(|f| save::save(&store, &images, std::io::BufWriter::new(f)))
                .and_then(|_| {
                    std::fs::rename(&tmp, path)
                        .map_err(|e| store::StoreError::Invalid(format!("{}: {e}", path.display())))
                });
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                return Err(exit_with(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            save::save(
                &store,
                &images,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )
        }
    };
    saved.map_err(|e| exit_with(1, e.to_string()))?;
    Ok(0)
}

/// docker's sizes: SI units, three significant digits.
fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[u])
}

/// `mydockerctl images`.
pub fn images_cmd(
    data_root: &Path,
    quiet: bool,
    json_lines: bool,
    no_trunc: bool,
) -> anyhow::Result<i32> {
    let store = Store::open(data_root)?;
    let mut rows = Vec::new();
    for i in store.images() {
        let id = if no_trunc {
            i.id.clone()
        } else {
            load::short_id(&i.id).to_string()
        };
        let created = i
            .created
            .as_deref()
            .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| ago(d.as_nanos() as i64))
            .unwrap_or_else(|| "N/A".into());
        let tags: Vec<(String, String)> = if i.tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.tags
                .iter()
                .map(|t| match t.rsplit_once(':') {
                    Some((r, tag)) => (r.to_string(), tag.to_string()),
                    None => (t.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in tags {
            rows.push([repo, tag, id.clone(), created.clone(), human_size(i.size())]);
        }
    }
    if quiet {
        let mut seen = Vec::new();
        for r in &rows {
            if !seen.contains(&r[2]) {
                println!("{}", r[2]);
                seen.push(r[2].clone());
            }
        }
        return Ok(0);
    }
    if json_lines {
        for r in &rows {
            let line = json!({
                "Repository": r[0], "Tag": r[1], "ID": r[2], "CreatedSince": r[3], "Size": r[4],
            });
            println!("{line}");
        }
        return Ok(0);
    }
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
    let mut widths = header.map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header);
    for r in &rows {
        line(r.each_ref().map(|s| s.as_str()));
    }
    Ok(0)
}

/// `mydockerctl rmi [-f] IMAGE...`: a tag is untagged, and an image with
/// no tag left is deleted with every layer no other image has, unless a
/// container uses it (docker's refusals).
pub fn rmi_cmd(data_root: &Path, names: &[String], force: bool) -> anyhow::Result<i32> {
    let store = Store::open(data_root)?;
    let mut failed = false;
    for name in names {
        match rmi_one(&store, data_root, name, force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(exit_with(1, ""))
    } else {
        Ok(0)
    }
}

/// The containers made from image `id`, whatever their state root: short
/// id, and whether it runs (a paused or restarting one does, as docker
/// counts them). Their layers in the data root say which they are.
fn users_of(data_root: &Path, id: &str) -> Vec<(String, bool)> {
    root::sweep(data_root);
    let mut v: Vec<(String, bool)> = root::layers(data_root)
        .into_iter()
        .filter(|(_, owner)| owner.image_id == id)
        .map(|(c, owner)| {
            let running = crate::containers::Record::read(&owner.state_root, &c)
                .is_ok_and(|r| r.status() == Status::Running || r.restarting());
            (c[..c.len().min(12)].to_string(), running)
        })
        .collect();
    // A running one first: its refusal is the one -f cannot pass.
    v.sort_by_key(|(_, running)| !running);
    v
}

fn rmi_one(
    store: &Store,
    data_root: &Path,
    name: &str,
    force: bool,
) -> anyhow::Result<Vec<String>> {
    // Exclusive: a run that has found the image holds this shared until
    // its container (whose record names the image) is made.
    let gc = store.gc_lock(true)?;
    let lock = store.lock()?;
    let Some(mut image) = load::find(store, name) else {
        anyhow::bail!("No such image: {name}");
    };
    let users = users_of(data_root, &image.id);
    let tag = reference::Reference::parse(name)
        .ok()
        .and_then(|r| r.familiar_tag())
        .filter(|t| image.tags.contains(t));
    let mut out = Vec::new();
    match tag {
        // By tag: that tag goes; the image with its last one.
        Some(t) => {
            if let (Some((c, _)), false, 1) = (users.first(), force, image.tags.len()) {
                anyhow::bail!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {c} is using its referenced image {}",
                    load::short_id(&image.id)
                );
            }
            image.tags.retain(|x| *x != t);
            out.push(format!("Untagged: {t}"));
            if !image.tags.is_empty() {
                store.write_record(&image)?;
                return Ok(out);
            }
        }
        // By id: all its tags, if it has one or -f says so.
        None => {
            if let Some((c, running)) = users.first() {
                let (how, state) = match (running, force) {
                    (true, _) => ("cannot be forced", "running"),
                    (false, false) => ("must be forced", "stopped"),
                    (false, true) => ("", ""),
                };
                if !how.is_empty() {
                    anyhow::bail!(
                        "conflict: unable to delete {} ({how}) - image is being used by {state} container {c}",
                        load::short_id(&image.id)
                    );
                }
            }
            if image.tags.len() > 1 && !force {
                anyhow::bail!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    load::short_id(&image.id)
                );
            }
            out.extend(image.tags.iter().map(|t| format!("Untagged: {t}")));
        }
    }
    // Forced past a container that uses it: untagged, and kept (with its
    // layers, which the container's root is made of) until it goes.
    if !users.is_empty() {
        image.tags.clear();
        store.write_record(&image)?;
        return Ok(out);
    }
    store.delete(&gc, &lock, &image.id)?;
    out.push(format!("Deleted: {}", image.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(super::human_size(0), "0B");
        assert_eq!(super::human_size(999), "999B");
        assert_eq!(super::human_size(1_240), "1.24kB");
        assert_eq!(super::human_size(4_261_000), "4.26MB");
        assert_eq!(super::human_size(12_000_000), "12MB");
        assert_eq!(super::human_size(123_456_789), "123MB");
    }
}
