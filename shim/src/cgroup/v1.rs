//! cgroup v1: what a hierarchy needs before a process may join.

use std::fs;
use std::path::Path;

use super::error::{CgroupError, Result};

/// v1 cpuset: a cgroup whose `file` is empty gets the value of its nearest
/// ancestor that has one, every empty level on the way included, or no
/// process could join it (ENOSPC).
pub(super) fn fill_from_ancestors(dir: &Path, file: &'static str, path: &str) -> Result<()> {
    let read = |d: &Path| {
        fs::read_to_string(d.join(file))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut empty = Vec::new();
    let mut d = dir.to_path_buf();
    let value = loop {
        let v = read(&d);
        if !v.is_empty() {
            break v;
        }
        empty.push(d.clone());
        if !d.pop() || !d.join(file).exists() {
            return Err(CgroupError::Setup {
                path: path.into(),
                what: format!("copy {file}"),
                cause: "no ancestor has a value to copy".into(),
            });
        }
    };
    for d in empty.iter().rev() {
        fs::write(d.join(file), &value).map_err(|e| CgroupError::Setup {
            path: path.into(),
            what: format!("set {file} to {value:?}"),
            cause: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: std::path::PathBuf) -> String {
        fs::read_to_string(p).unwrap().trim().to_string()
    }

    #[test]
    fn v1_cpusets_are_filled_from_the_nearest_ancestor() {
        let root = std::env::temp_dir().join(format!("mydocker-cpuset-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let leaf = root.join("a/b");
        fs::create_dir_all(&leaf).unwrap();
        fs::write(root.join("cpuset.cpus"), "0-1\n").unwrap();
        fs::write(root.join("a/cpuset.cpus"), "\n").unwrap();
        fs::write(leaf.join("cpuset.cpus"), "").unwrap();
        fill_from_ancestors(&leaf, "cpuset.cpus", "a/b").unwrap();
        assert_eq!(read(root.join("a/cpuset.cpus")), "0-1");
        assert_eq!(read(leaf.join("cpuset.cpus")), "0-1");
        fs::remove_dir_all(&root).unwrap();
    }
}
