//! Images (issue 21, under way): `load` of OCI image layouts (as `umoci`
//! and `skopeo` write them) and of `docker save` archives into the store,
//! `images`, `rmi`, the store's refusals of tampered and hostile input,
//! and containers run from images (an overlay root, the image's config).
//! Images are built here from busybox-static; nothing is pulled.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mydocker_integration::*;
use sha2::{Digest, Sha256};

/// A scratch directory and a data root for one test, both removed at the
/// end.
struct Images {
    dir: PathBuf,
}

impl Images {
    fn new(name: &str) -> Self {
        require_root();
        let dir = PathBuf::from(format!("/tmp/md-img-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        Self { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(ctl_bin())
            .env("MYDOCKER_DATA_ROOT", self.data())
            .env("MYDOCKER_ROOT", self.dir.join("run"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Every file under the data root, relative.
    fn files(&self, sub: &str) -> Vec<String> {
        let base = self.data().join(sub);
        let mut out = Vec::new();
        if let Ok(d) = std::fs::read_dir(&base) {
            for e in d.flatten() {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        out
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `tar -C dir -cf tar .`
fn tar_dir(dir: &Path, tar: &Path) {
    run(
        "tar",
        &[
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
}

fn run(cmd: &str, args: &[&str]) {
    let o = Command::new(cmd).args(args).output().unwrap();
    assert!(o.status.success(), "{cmd} {args:?}: {o:?}");
}

/// An OCI layout at `dir/layout`, image `bb`: busybox with `/etc/motd`
/// and `/etc/keep` and `/srv/old/a`, then a second layer that deletes
/// `/etc/motd`, changes `/etc/keep` and replaces `/srv/old` (umoci
/// writes whiteouts for what went).
fn two_layer_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    let bundle = dir.join("bundle");
    run("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    let img = format!("{}:bb", layout.display());
    run("umoci", &["new", "--image", &img]);
    run(
        "umoci",
        &["unpack", "--image", &img, bundle.to_str().unwrap()],
    );
    let root = bundle.join("rootfs");
    busybox_rootfs(&root);
    std::fs::write(root.join("etc/motd"), "one\n").unwrap();
    std::fs::write(root.join("etc/keep"), "first\n").unwrap();
    std::fs::create_dir_all(root.join("srv/old")).unwrap();
    std::fs::write(root.join("srv/old/a"), "a\n").unwrap();
    run(
        "umoci",
        &["repack", "--image", &img, bundle.to_str().unwrap()],
    );
    // A layer on top: unpacked again, so that umoci diffs against the
    // first (a repack diffs against what was unpacked).
    let bundle = dir.join("bundle2");
    run(
        "umoci",
        &["unpack", "--image", &img, bundle.to_str().unwrap()],
    );
    let root = bundle.join("rootfs");
    std::fs::remove_file(root.join("etc/motd")).unwrap();
    std::fs::write(root.join("etc/keep"), "second\n").unwrap();
    // A group added on top: the container's /etc/group is this layer's,
    // its /etc/passwd the first's.
    let mut group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    group.push_str("staff:x:50:bob\n");
    std::fs::write(root.join("etc/group"), group).unwrap();
    std::fs::remove_dir_all(root.join("srv/old")).unwrap();
    run(
        "umoci",
        &["repack", "--image", &img, bundle.to_str().unwrap()],
    );
    layout
}

/// A field of each layer of the image whose id starts with `id_prefix`
/// (`diff_id`, `blob`), lowest first, from its record.
fn layer_field(im: &Images, id_prefix: &str, field: &str) -> Vec<String> {
    let rec = im
        .files("images")
        .into_iter()
        .find(|f| f.starts_with(id_prefix))
        .expect("image record");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(im.data().join("images").join(rec)).unwrap())
            .unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l[field].as_str().unwrap().to_string())
        .collect()
}

/// The layers' directories of the image whose id starts with `id_prefix`,
/// lowest first.
fn layers_of(im: &Images, id_prefix: &str) -> Vec<PathBuf> {
    layer_field(im, id_prefix, "diff_id")
        .iter()
        .map(|d| {
            im.data()
                .join("layers/sha256")
                .join(d.strip_prefix("sha256:").unwrap())
        })
        .collect()
}

#[test]
fn an_oci_layout_loads_with_its_whiteouts_and_rmi_removes_it() {
    let im = Images::new("oci");
    let layout = two_layer_layout(&im.dir);
    // skopeo names it, as a registry's image would be.
    let named = im.dir.join("named");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:bb", layout.display()),
            &format!("oci:{}:127.0.0.1:5000/test/bb:v1", named.display()),
        ],
    );
    let o = im.ctl(&["load", "-i", named.to_str().unwrap()]);
    assert_eq!(ok(&o), "Loaded image: 127.0.0.1:5000/test/bb:v1\n");
    let table = ok(&im.ctl(&["images"]));
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["127.0.0.1:5000/test/bb", "v1"]);
    let id = row[2].to_string();
    assert_eq!(id.len(), 12);
    assert!(row.last().unwrap().ends_with("MB"), "{table}");

    // The top layer as overlayfs takes it: a 0/0 device where a file went,
    // the new content where one changed.
    let layers = layers_of(&im, &id);
    assert_eq!(layers.len(), 2);
    assert_eq!(
        std::fs::read_to_string(layers[0].join("etc/motd")).unwrap(),
        "one\n"
    );
    let wh = std::fs::symlink_metadata(layers[1].join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "{wh:?}");
    assert_eq!(
        std::fs::read_to_string(layers[1].join("etc/keep")).unwrap(),
        "second\n"
    );
    let old = std::fs::symlink_metadata(layers[1].join("srv/old")).unwrap();
    assert!(old.file_type().is_char_device(), "{old:?}");
    let busybox = std::fs::metadata(layers[0].join("bin/busybox")).unwrap();
    assert_eq!(busybox.mode() & 0o777, 0o755);

    // Loaded again, and as a tar of the layout: nothing is unpacked twice.
    let inode = std::fs::metadata(&layers[0]).unwrap().ino();
    let tar = im.dir.join("named.tar");
    tar_dir(&named, &tar);
    let o = im.ctl(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(ok(&o), "Loaded image: 127.0.0.1:5000/test/bb:v1\n");
    assert_eq!(std::fs::metadata(&layers[0]).unwrap().ino(), inode);
    assert_eq!(ok(&im.ctl(&["images", "-q"])), format!("{id}\n"));
    // The same image without a name (skopeo kept its config): by id.
    let o = im.ctl(&["load", "-i", layout.to_str().unwrap()]);
    let full = ok(&im.ctl(&["images", "-q", "--no-trunc"]));
    assert_eq!(ok(&o), format!("Loaded image ID: {full}"));

    // rmi: by name, the tag, and the image with its last tag; then nothing
    // is left of it.
    let o = im.ctl(&["rmi", "127.0.0.1:5000/test/bb:v1"]);
    assert_eq!(
        ok(&o),
        format!("Untagged: 127.0.0.1:5000/test/bb:v1\nDeleted: {full}")
    );
    let o = im.ctl(&["rmi", "127.0.0.1:5000/test/bb:v1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        stderr(&o),
        "Error: No such image: 127.0.0.1:5000/test/bb:v1\n"
    );
    assert_eq!(ok(&im.ctl(&["images", "-q"])), "");
    for sub in ["images", "blobs/sha256", "layers/sha256", "tmp"] {
        assert!(im.files(sub).is_empty(), "{sub}: {:?}", im.files(sub));
    }
}

/// A `docker save` archive, made here as docker 20.10 writes one: a
/// config named by its digest, uncompressed layer tars, manifest.json.
fn docker_archive(dir: &Path, tags: &[&str], layer_paths: &[&str]) -> PathBuf {
    let root = dir.join("save");
    std::fs::create_dir_all(&root).unwrap();
    let rootfs = busybox_rootfs(&dir.join("rootfs"));
    std::fs::write(rootfs.join("etc/hello"), "from docker save\n").unwrap();
    std::fs::create_dir_all(root.join("l1")).unwrap();
    tar_dir(&rootfs, &root.join("l1/layer.tar"));
    let diff = format!(
        "sha256:{:x}",
        Sha256::digest(std::fs::read(root.join("l1/layer.tar")).unwrap())
    );
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    });
    let bytes = serde_json::to_vec(&config).unwrap();
    let hex = format!("{:x}", Sha256::digest(&bytes));
    std::fs::write(root.join(format!("{hex}.json")), &bytes).unwrap();
    let manifest = serde_json::json!([{
        "Config": format!("{hex}.json"),
        "RepoTags": tags,
        "Layers": layer_paths,
    }]);
    std::fs::write(root.join("manifest.json"), manifest.to_string()).unwrap();
    let tar = dir.join("save.tar");
    tar_dir(&root, &tar);
    tar
}

#[test]
fn a_docker_save_archive_loads_and_tags_move_as_docker_moves_them() {
    let im = Images::new("save");
    let tar = docker_archive(&im.dir, &["mine:v1", "mine:latest"], &["l1/layer.tar"]);
    let o = im.ctl(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(ok(&o), "Loaded image: mine:v1\nLoaded image: mine:latest\n");
    let json = ok(&im.ctl(&["images", "--format", "json"]));
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{json}");
    assert_eq!(rows[0]["Repository"], "mine");
    let id = rows[0]["ID"].as_str().unwrap().to_string();
    let layer = &layers_of(&im, &id)[0];
    assert_eq!(
        std::fs::read_to_string(layer.join("etc/hello")).unwrap(),
        "from docker save\n"
    );
    // By id, with two tags: docker's refusal, then -f.
    let o = im.ctl(&["rmi", &id]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).contains("must be forced) - image is referenced in multiple repositories"),
        "{o:?}"
    );
    ok(&im.ctl(&["rmi", "mine:latest"]));
    assert!(layer.is_dir(), "a tag left: the image stays");
    let out = ok(&im.ctl(&["rmi", "-f", &id]));
    assert!(
        out.starts_with("Untagged: mine:v1\nDeleted: sha256:"),
        "{out}"
    );
    assert!(!layer.exists());
}

#[test]
fn tampered_and_hostile_input_is_refused_and_nothing_is_kept() {
    let im = Images::new("hostile");
    let layout = two_layer_layout(&im.dir);
    // A layer blob changed in place: its digest no longer matches.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.strip_prefix("sha256:").unwrap())
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(mdigest)).unwrap()).unwrap();
    let top = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bytes = std::fs::read(blob(&top)).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(blob(&top), &bytes).unwrap();
    let o = im.ctl(&["load", "-i", layout.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(&o);
    assert!(
        err.contains("digest mismatch") && err.contains(&top),
        "{err}"
    );
    assert!(!im.files("blobs/sha256").contains(&top[7..].to_string()));
    assert!(im.files("images").is_empty());
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));

    // An archive whose manifest names files outside it.
    let dir = im.dir.join("escape");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = docker_archive(&dir, &["bad:v1"], &["../../../../etc/passwd"]);
    let o = im.ctl(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("leaves the archive"), "{o:?}");
    // A layer whose tar climbs out: refused by name, nothing written.
    let dir = im.dir.join("climb");
    let evil = dir.join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::write(evil.join("x"), "out").unwrap();
    let tar = docker_archive(&dir, &["evil:v1"], &["l1/layer.tar"]);
    // Rewrite its one layer with a `../` entry, and the config to match.
    let save = dir.join("save");
    let layer = save.join("l1/layer.tar");
    run(
        "tar",
        &[
            "-C",
            evil.to_str().unwrap(),
            "--transform",
            "s,^x,../../escaped-by-layer,",
            "-cf",
            layer.to_str().unwrap(),
            "x",
        ],
    );
    let diff = format!(
        "sha256:{:x}",
        Sha256::digest(std::fs::read(&layer).unwrap())
    );
    let cfg_name = std::fs::read_dir(&save)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".json") && n != "manifest.json")
        .unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(save.join(&cfg_name)).unwrap()).unwrap();
    cfg["rootfs"]["diff_ids"] = serde_json::json!([diff]);
    let bytes = serde_json::to_vec(&cfg).unwrap();
    let hex = format!("{:x}", Sha256::digest(&bytes));
    std::fs::remove_file(save.join(&cfg_name)).unwrap();
    std::fs::write(save.join(format!("{hex}.json")), &bytes).unwrap();
    let manifest = serde_json::json!([{
        "Config": format!("{hex}.json"), "RepoTags": ["evil:v1"], "Layers": ["l1/layer.tar"],
    }]);
    std::fs::write(save.join("manifest.json"), manifest.to_string()).unwrap();
    tar_dir(&save, &tar);
    let o = im.ctl(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("refused: a path with `..`"), "{o:?}");
    for at in [im.data().join("tmp"), im.data(), im.dir.clone()] {
        assert!(!at.join("escaped-by-layer").exists(), "{}", at.display());
    }
    assert!(
        !im.files("layers/sha256").contains(&diff[7..].to_string()),
        "{:?}",
        im.files("layers/sha256")
    );
    assert!(im.files("images").is_empty());
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));

    // A FIFO where a layer should be: refused, not read forever.
    let dir = im.dir.join("fifo");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = docker_archive(&dir, &["fifo:v1"], &["l1/layer.tar"]);
    let save = dir.join("save");
    std::fs::remove_file(save.join("l1/layer.tar")).unwrap();
    run("mkfifo", &[save.join("l1/layer.tar").to_str().unwrap()]);
    tar_dir(&save, &tar);
    let o = im.ctl(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("not a file or a directory"), "{o:?}");
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));

    // Not an image at all.
    let o = im.ctl(&["load", "-i", "/etc/hostname"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr(&o).lines().count(), 1, "{o:?}");
}

/// Two loads of one image at once both succeed, and each layer is
/// unpacked once; what a killed load left in `tmp/` goes with the next.
#[test]
fn parallel_loads_share_the_work_and_leftovers_go() {
    let im = Images::new("par");
    let layout = two_layer_layout(&im.dir);
    // A killed load's scratch (its pid is gone).
    let dead = im.data().join("tmp/999999999-0123456789abcdef");
    std::fs::create_dir_all(dead.join("layer/etc")).unwrap();
    let spawned: Vec<_> = (0..3)
        .map(|_| {
            Command::new(ctl_bin())
                .env("MYDOCKER_DATA_ROOT", im.data())
                .args(["load", "-q", "-i", layout.to_str().unwrap()])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in spawned {
        assert!(c.wait().unwrap().success());
    }
    assert!(!dead.exists(), "a dead load's leftovers stay");
    assert_eq!(im.files("images").len(), 1);
    // Two layers: two directories and their sizes, nothing else.
    assert_eq!(
        im.files("layers/sha256").len(),
        4,
        "{:?}",
        im.files("layers/sha256")
    );
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));
}

/// `save` writes docker's archive form, which loads back to the same
/// images (the same ids, the same layers), from a file or from stdin,
/// plain or gzip-compressed.
#[test]
fn save_and_load_round_trip() {
    let im = Images::new("round");
    let layout = two_layer_layout(&im.dir);
    let tar = docker_archive(&im.dir, &["mine:v1"], &["l1/layer.tar"]);
    ok(&im.ctl(&["load", "-i", tar.to_str().unwrap()]));
    let o = im.ctl(&["load", "-i", layout.to_str().unwrap()]);
    let oci_id = ok(&o)
        .trim()
        .strip_prefix("Loaded image ID: ")
        .unwrap()
        .to_string();
    let before = ok(&im.ctl(&["images", "--no-trunc", "-q"]));
    let out = im.dir.join("out.tar");
    let o = im.ctl(&["save", "-o", out.to_str().unwrap(), "mine:v1", &oci_id]);
    assert_eq!(ok(&o), "");
    // Gone, then back from the archive.
    ok(&im.ctl(&["rmi", "mine:v1"]));
    ok(&im.ctl(&["rmi", &oci_id]));
    assert!(im.files("layers/sha256").is_empty());
    let o = im.ctl(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(
        ok(&o),
        format!("Loaded image: mine:v1\nLoaded image ID: {oci_id}\n")
    );
    assert_eq!(ok(&im.ctl(&["images", "--no-trunc", "-q"])), before);
    let top = layers_of(&im, &oci_id[7..])[1].clone();
    let wh = std::fs::symlink_metadata(top.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device(), "{wh:?}");
    // From stdin, gzip-compressed, as `docker load < x.tar.gz`.
    run("gzip", &["-k", out.to_str().unwrap()]);
    let gz = std::fs::File::open(im.dir.join("out.tar.gz")).unwrap();
    let o = Command::new(ctl_bin())
        .env("MYDOCKER_DATA_ROOT", im.data())
        .arg("load")
        .stdin(gz)
        .output()
        .unwrap();
    assert!(ok(&o).starts_with("Loaded image: mine:v1\n"), "{o:?}");
    // Nothing on stdin: one line, 1.
    let o = im.ctl(&["load"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr(&o).lines().count(), 1, "{o:?}");
    let o = im.ctl(&["save", "-o", out.to_str().unwrap(), "nothing:here"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr(&o), "Error: No such image: nothing:here\n");
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));
}

/// `run IMAGE`: the image's layers under a writable layer of the
/// container's own (an overlay the shim mounts in the container's mount
/// namespace), with docker's rules for the image's Cmd, Env and
/// WorkingDir; `rm` takes the container's layer away.
#[test]
fn run_an_image_sees_its_top_layer_and_keeps_its_writes_its_own() {
    let t = TestRoot::new("runimg");
    let im = Images::new("runimg");
    let layout = two_layer_layout(&im.dir);
    let img = format!("{}:bb", layout.display());
    run(
        "umoci",
        &[
            "config",
            "--image",
            &img,
            "--config.env",
            "GREETING=from-image",
            "--config.env",
            "PATH=/bin",
            "--config.workingdir",
            "/srv",
            "--config.cmd",
            "sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            "echo default $GREETING in $(pwd)",
        ],
    );
    // A second image of the same layers: an Entrypoint, and a User.
    run(
        "umoci",
        &[
            "config",
            "--image",
            &img,
            "--tag",
            "ent",
            "--config.entrypoint",
            "echo",
            "--config.cmd",
            "from-cmd",
            "--config.user",
            "bob",
        ],
    );
    let named = im.dir.join("named");
    for (from, to) in [("bb", "mine:v1"), ("ent", "ent:v1")] {
        run(
            "skopeo",
            &[
                "copy",
                "-q",
                &format!("oci:{}:{from}", layout.display()),
                &format!("oci:{}:{to}", named.display()),
            ],
        );
    }
    let named_mine = im.dir.join("named-mine");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}", img),
            &format!("oci:{}:mine:v1", named_mine.display()),
        ],
    );
    ok(&im.ctl(&["load", "-i", named_mine.to_str().unwrap()]));
    let full = ok(&im.ctl(&["images", "-q", "--no-trunc"]))
        .trim()
        .to_string();
    let ctl = |args: &[&str]| {
        t.ctl()
            .env("MYDOCKER_DATA_ROOT", im.data())
            .env_remove("GREETING")
            .args(args)
            .output()
            .unwrap()
    };

    // The image's Cmd, Env and WorkingDir; -e and a command given win.
    assert_eq!(
        ok(&ctl(&["run", "--rm", "mine:v1"])),
        "default from-image in /srv\n"
    );
    let o = ctl(&[
        "run",
        "--rm",
        "-e",
        "GREETING=given",
        "-w",
        "/",
        "mine:v1",
        "sh",
        "-c",
        "echo $GREETING in $(pwd)",
    ]);
    assert_eq!(ok(&o), "given in /\n");
    // --entrypoint replaces the image's and drops its Cmd.
    let o = ctl(&["run", "--rm", "--entrypoint", "echo", "mine:v1", "a", "b"]);
    assert_eq!(ok(&o), "a b\n");
    // A bare -e KEY unset here takes the image's KEY away (docker's).
    let o = ctl(&[
        "run",
        "--rm",
        "-e",
        "GREETING",
        "mine:v1",
        "sh",
        "-c",
        "echo ${GREETING-unset}",
    ]);
    assert_eq!(ok(&o), "unset\n");
    // A working directory the image lacks is made (docker's, runc's), as
    // root, in the container's layer; one that cannot be is refused.
    let o = ctl(&[
        "run",
        "--rm",
        "-u",
        "1000",
        "-w",
        "/made/here",
        "mine:v1",
        "sh",
        "-c",
        "pwd; stat -c %u:%a .",
    ]);
    assert_eq!(ok(&o), "/made/here\n0:755\n");
    let o = ctl(&["run", "--rm", "-w", "/etc/keep/x", "mine:v1", "true"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert_eq!(
        stderr(&o),
        "Error: root file system: make the working directory: Not a directory\n"
    );
    // A volume on an image's root.
    let vol = im.dir.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("f"), "in the volume\n").unwrap();
    let v = format!("{}:/data:ro", vol.display());
    let o = ctl(&["run", "--rm", "-v", &v, "mine:v1", "cat", "/data/f"]);
    assert_eq!(ok(&o), "in the volume\n");

    // The image's Entrypoint with its Cmd, or with the command given; its
    // User, by name: passwd from the bottom layer, groups (and a
    // supplementary one) from the top layer's /etc/group; HOME from it.
    ok(&im.ctl(&["load", "-i", named.to_str().unwrap()]));
    assert_eq!(ok(&ctl(&["run", "--rm", "ent:v1"])), "from-cmd\n");
    assert_eq!(ok(&ctl(&["run", "--rm", "ent:v1", "given"])), "given\n");
    let o = ctl(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "ent:v1",
        "-c",
        "id -u; id -g; id -G; echo $HOME",
    ]);
    let out = ok(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["1000", "1000"], "{out}");
    let mut groups: Vec<&str> = lines[2].split(' ').collect();
    groups.sort();
    assert_eq!(groups, ["10", "1000", "50"], "{out}");
    assert_eq!(lines[3], "/home/bob", "{out}");
    // No container uses it now: it goes, and the layers it shares stay.
    let o = ok(&ctl(&["rmi", "ent:v1"]));
    assert!(o.starts_with("Untagged: ent:v1\nDeleted: sha256:"), "{o}");

    // The top layer's view: a deleted file and directory are gone, a
    // changed file has its new content.
    let o = ctl(&[
        "run", "--rm", "mine:v1", "sh", "-c",
        "cat /etc/keep; cat /etc/motd 2>/dev/null || echo no motd; ls /srv/old 2>/dev/null || echo no old",
    ]);
    assert_eq!(ok(&o), "second\nno motd\nno old\n");

    // A container's writes are its own: in its layer, not in the image's
    // nor in another container's.
    let o = ctl(&[
        "run",
        "--name",
        "w1",
        "mine:v1",
        "sh",
        "-c",
        "echo mine > /etc/new && rm /etc/keep",
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&ok(&ctl(&["inspect", "w1"]))).unwrap();
    let v = &v[0];
    assert_eq!(v["Image"], full.as_str(), "{v}");
    assert_eq!(v["Config"]["Image"], "mine:v1", "{v}");
    assert_eq!(v["RootFs"]["Type"], "overlay", "{v}");
    let id = v["Id"].as_str().unwrap().to_string();
    let layer = im.data().join("containers").join(&id);
    assert_eq!(v["RootFs"]["Path"], layer.join("upper").to_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(layer.join("upper/etc/new")).unwrap(),
        "mine\n"
    );
    // Its layer holds its writes and nothing else: the mount points the
    // image lacks are in a layer of the image's (docker's init layer).
    let mut upper_etc: Vec<String> = std::fs::read_dir(layer.join("upper/etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    upper_etc.sort();
    assert_eq!(
        upper_etc,
        ["keep", "new"],
        "the upper has more than its writes"
    );
    let o = ctl(&[
        "run",
        "--name",
        "quiet",
        "mine:v1",
        "sh",
        "-c",
        "cat /etc/hostname",
    ]);
    let quiet_id = ok(&ctl(&["inspect", "-f", "{{.Id}}", "quiet"]))
        .trim()
        .to_string();
    assert_eq!(ok(&o), format!("{}\n", &quiet_id[..12]));
    let quiet_upper = im.data().join("containers").join(&quiet_id).join("upper");
    assert_eq!(
        std::fs::read_dir(&quiet_upper).unwrap().count(),
        0,
        "a container that wrote nothing"
    );
    ok(&ctl(&["rm", "quiet"]));
    let o = ctl(&[
        "run",
        "--rm",
        "mine:v1",
        "sh",
        "-c",
        "cat /etc/new 2>/dev/null || echo no new; cat /etc/keep",
    ]);
    assert_eq!(ok(&o), "no new\nsecond\n");
    let layers = layers_of(&im, &full["sha256:".len()..][..12]);
    for l in &layers {
        assert!(!l.join("etc/new").exists(), "{}", l.display());
    }
    assert_eq!(
        std::fs::read_to_string(layers[1].join("etc/keep")).unwrap(),
        "second\n"
    );
    // Started again, it runs on the same layer: what it deleted is gone.
    let o = ctl(&["start", "-a", "w1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("/etc/keep"), "{o:?}");
    // rmi of an image a container uses: docker's refusals; -f untags it
    // and keeps it for the container, until that goes.
    let short = &full["sha256:".len()..][..12];
    let o = ctl(&["rmi", "mine:v1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        stderr(&o),
        format!(
            "Error: conflict: unable to remove repository reference \"mine:v1\" (must force) - container {} is using its referenced image {short}\n",
            &id[..12]
        )
    );
    let o = ctl(&["rmi", short]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        stderr(&o),
        format!(
            "Error: conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}\n",
            &id[..12]
        )
    );
    let running = ok(&ctl(&["run", "-d", "mine:v1", "sleep", "100"]))
        .trim()
        .to_string();
    let o = ctl(&["rmi", "-f", short]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        stderr(&o),
        format!(
            "Error: conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}\n",
            &running[..12]
        )
    );
    ok(&ctl(&["rm", "-f", &running]));
    assert_eq!(ok(&ctl(&["rmi", "-f", "mine:v1"])), "Untagged: mine:v1\n");
    assert_eq!(ok(&ctl(&["images", "-q"])), format!("{short}\n"));
    // rm takes its layer; the --rm containers took theirs.
    ok(&ctl(&["rm", "w1"]));
    assert!(!layer.exists());
    assert!(
        im.files("containers").is_empty(),
        "{:?}",
        im.files("containers")
    );
    // Then the image goes, with its layers.
    assert_eq!(ok(&ctl(&["rmi", short])), format!("Deleted: {full}\n"));
    assert!(im.files("layers/sha256").is_empty());
    assert!(im.files("init").is_empty(), "{:?}", im.files("init"));
    ok(&im.ctl(&["load", "-i", named.to_str().unwrap()]));

    // A container whose shim was killed: rm removes its layer too.
    let id = ok(&ctl(&["run", "-d", "mine:v1", "sleep", "100"]))
        .trim()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&ok(&ctl(&["inspect", &id]))).unwrap();
    let shim = v[0]["State"]["ShimPid"].as_i64().unwrap();
    // SAFETY: kill with a pid and a signal.
    assert_eq!(unsafe { libc::kill(shim as i32, libc::SIGKILL) }, 0);
    let layer = im.data().join("containers").join(&id);
    assert!(layer.join("upper").is_dir());
    let gone = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{shim}")).exists() {
        assert!(gone.elapsed().as_secs() < 10, "the shim lives on");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ok(&ctl(&["rm", "-f", &id]));
    assert!(!layer.exists());

    // Refused before anything is made: an image not in the store, an
    // image with nothing to run, a name taken (the layer made for it
    // goes).
    let o = ctl(&["run", "--rm", "--pull", "never", "nope"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert_eq!(stderr(&o), "Error: No such image: nope:latest\n");
    let o = ctl(&["run", "--rm", "--entrypoint", "", "mine:v1"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert_eq!(stderr(&o), "Error: No command specified\n");
    ok(&ctl(&["create", "--name", "taken", "mine:v1"]));
    let o = ctl(&["run", "--rm", "--name", "taken", "mine:v1"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert_eq!(
        im.files("containers").len(),
        1,
        "{:?}",
        im.files("containers")
    );
    ok(&ctl(&["rm", "taken"]));
    assert!(
        im.files("containers").is_empty(),
        "{:?}",
        im.files("containers")
    );
    assert!(t.ids().is_empty(), "{:?}", t.ids());
    t.finish();
}

/// Debian's docker-registry (distribution 2.8) on a free loopback port,
/// its storage in `dir`; killed when dropped.
struct Registry {
    child: std::process::Child,
    addr: String,
    storage: PathBuf,
}

impl Registry {
    fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.join("storage");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", config.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("docker-registry (installed by .ci/run)");
        let r = Self {
            child,
            addr,
            storage,
        };
        let up = std::time::Instant::now();
        while std::net::TcpStream::connect(&r.addr).is_err() {
            assert!(up.elapsed().as_secs() < 20, "the registry did not listen");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        r
    }

    /// A blob as the registry keeps it.
    fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pull` from a real registry: the image as skopeo pushed it, run with
/// the top layer's view; two pulls at once both succeed; a blob tampered
/// with in the registry's storage fails the pull, naming the layer, and
/// the store keeps nothing of it.
#[test]
fn pull_from_a_registry_checks_every_blob() {
    let t = TestRoot::new("pull");
    let im = Images::new("pull");
    let reg = Registry::start(&im.dir.join("registry"));
    let layout = two_layer_layout(&im.dir);
    let name = format!("{}/test/bb:v1", reg.addr);
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("oci:{}:bb", layout.display()),
            &format!("docker://{name}"),
        ],
    );
    let out = ok(&im.ctl(&["pull", &name]));
    assert!(
        out.starts_with(&format!("v1: Pulling from {}/test/bb\n", reg.addr)),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {name}\n{name}\n"
        )),
        "{out}"
    );
    let out = ok(&im.ctl(&["pull", &name]));
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}\n")),
        "{out}"
    );
    let row = ok(&im.ctl(&["images"]));
    let row: Vec<&str> = row.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], [format!("{}/test/bb", reg.addr).as_str(), "v1"]);
    let o = t
        .ctl()
        .env("MYDOCKER_DATA_ROOT", im.data())
        .args([
            "run",
            "--rm",
            &name,
            "sh",
            "-c",
            "cat /etc/keep; cat /etc/motd 2>/dev/null || echo no motd",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&o), "second\nno motd\n");
    let blobs = layer_field(&im, "", "blob");
    assert_eq!(blobs.len(), 2);

    // run and create pull what is missing (docker's --pull missing), and
    // say so on stderr: stdout is the container's, or the new id.
    let ctl = |args: &[&str]| {
        t.ctl()
            .env("MYDOCKER_DATA_ROOT", im.data())
            .args(args)
            .output()
            .unwrap()
    };
    ok(&ctl(&["rmi", &name]));
    let o = ctl(&["run", "--rm", &name, "cat", "/etc/keep"]);
    assert_eq!(ok(&o), "second\n");
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "Unable to find image '{name}' locally\nv1: Pulling from {}/test/bb\n",
            reg.addr
        )),
        "{err}"
    );
    assert!(
        err.ends_with(&format!("Status: Downloaded newer image for {name}\n")),
        "{err}"
    );
    let o = ctl(&["run", "--rm", "--pull", "always", &name, "true"]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("Status: Image is up to date for {name}\n")),
        "{o:?}"
    );
    assert!(!stderr(&o).contains("Unable to find"), "{o:?}");
    let o = ctl(&["run", "--rm", "-q", "--pull", "always", &name, "true"]);
    assert_eq!(stderr(&o), "", "{o:?}");
    ok(&ctl(&["rmi", &name]));
    let o = ctl(&["create", "--name", "pulled", &name, "true"]);
    let id = ok(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{o:?}");
    assert!(
        stderr(&o).contains("Status: Downloaded newer image"),
        "{o:?}"
    );
    ok(&ctl(&["rm", "pulled"]));
    // Not in the store, not pulled: docker's words; not in the registry:
    // the registry's. Nothing is made either way.
    let none = format!("{}/test/none:v1", reg.addr);
    let o = ctl(&["run", "--rm", "--pull", "never", &none, "true"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert_eq!(stderr(&o), format!("Error: No such image: {none}\n"));
    let o = ctl(&["run", "--rm", &none, "true"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!("Unable to find image '{none}' locally"),
        "{err}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("Error: {none}: ")),
        "{err}"
    );
    assert!(im.files("containers").is_empty());
    assert!(t.ids().is_empty(), "{:?}", t.ids());

    // By the digest it was pulled by (the manifest's, as no index led to
    // it), as docker's repo digests.
    let out = ok(&im.ctl(&["pull", &name]));
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_string();
    let by_digest = format!("{}/test/bb@{digest}", reg.addr);
    let out = ok(&im.ctl(&["pull", &by_digest]));
    assert!(
        out.contains(&format!("Status: Image is up to date for {by_digest}\n")),
        "{out}"
    );
    let o = t
        .ctl()
        .env("MYDOCKER_DATA_ROOT", im.data())
        .args(["run", "--rm", &by_digest, "cat", "/etc/keep"])
        .output()
        .unwrap();
    assert_eq!(ok(&o), "second\n");

    // A pull killed mid-layer (a 48 MiB layer of random bytes) leaves no
    // image, and no blob that is not whole and checked; run again, it
    // succeeds.
    let big = im.dir.join("big");
    let img = format!("{}:big", big.display());
    run("umoci", &["init", "--layout", big.to_str().unwrap()]);
    run("umoci", &["new", "--image", &img]);
    let bundle = im.dir.join("big-bundle");
    run(
        "umoci",
        &["unpack", "--image", &img, bundle.to_str().unwrap()],
    );
    let mut noise = vec![0u8; 48 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut noise))
        .unwrap();
    std::fs::write(bundle.join("rootfs/noise"), &noise).unwrap();
    run(
        "umoci",
        &["repack", "--image", &img, bundle.to_str().unwrap()],
    );
    let big_name = format!("{}/test/big:v1", reg.addr);
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("oci:{img}"),
            &format!("docker://{big_name}"),
        ],
    );
    let mut child = Command::new(ctl_bin())
        .env("MYDOCKER_DATA_ROOT", im.data())
        .args(["pull", "-q", &big_name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once part of the blob is in the store's scratch space.
    let partial = |dir: &Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::metadata(e.path().join("blob"))
                    .is_ok_and(|m| m.len() > 0 && m.len() < 48 << 20)
            })
    };
    let since = std::time::Instant::now();
    while !partial(&im.data().join("tmp")) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        assert!(since.elapsed().as_secs() < 30, "no download seen");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = ok(&im.ctl(&["images", "-q"]));
    assert_eq!(out.lines().count(), 1, "{out}");
    // Every blob the store holds is whole: it hashes to its name.
    for b in im.files("blobs/sha256") {
        let bytes = std::fs::read(im.data().join("blobs/sha256").join(&b)).unwrap();
        assert_eq!(format!("{:x}", Sha256::digest(&bytes)), b);
    }
    let o = im.ctl(&["pull", "-q", &big_name]);
    assert_eq!(ok(&o), format!("{big_name}\n"));
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));
    let o = t
        .ctl()
        .env("MYDOCKER_DATA_ROOT", im.data())
        .args(["run", "--rm", &big_name, "/noise"])
        .output()
        .unwrap();
    // No shell in it: the file is there, and not a program.
    assert_eq!(o.status.code(), Some(126), "{o:?}");
    ok(&im.ctl(&["rmi", &big_name]));

    // Two pulls at once of an image the store does not have (seen at work
    // together): both succeed, and the store holds it once.
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(ctl_bin())
                .env("MYDOCKER_DATA_ROOT", im.data())
                .args(["pull", "-q", &big_name])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let busy = |pid: u32| {
        im.files("tmp")
            .iter()
            .any(|f| f.starts_with(&format!("{pid}-")))
    };
    let since = std::time::Instant::now();
    while !children.iter().all(|c| busy(c.id())) {
        assert!(
            since.elapsed().as_secs() < 30,
            "the two pulls never ran together"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(ok(&o), format!("{big_name}\n"));
    }
    assert_eq!(ok(&im.ctl(&["images", "-q"])).lines().count(), 2);
    // bb's two layers and big's one, each with its size file.
    assert_eq!(
        im.files("layers/sha256").len(),
        6,
        "{:?}",
        im.files("layers/sha256")
    );
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));
    ok(&im.ctl(&["rmi", &big_name]));

    // A layer tampered with in the registry: the pull fails naming it, and
    // neither the blob nor an image is kept.
    ok(&im.ctl(&["rmi", &name]));
    let top = &blobs[1];
    let data = reg.blob(top);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let o = im.ctl(&["pull", &name]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("Error: layer {top}: ")) && err.contains("digest"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let hex = top.strip_prefix("sha256:").unwrap();
    assert!(!im.files("blobs/sha256").iter().any(|b| b == hex));
    assert!(im.files("images").is_empty());
    assert!(im.files("tmp").is_empty(), "{:?}", im.files("tmp"));
    drop(reg);
    t.finish();
}
