//! cgroup v2 id -> path. The kernel gives ids (the cgroup directory's inode
//! number); users want paths. Resolved by walking cgroupfs, cached.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const MAX_DEPTH: usize = 16;

#[derive(Default)]
pub struct CgroupNames {
    cache: HashMap<u64, String>,
    root: Option<PathBuf>,
}

/// Where cgroup2 is mounted: /sys/fs/cgroup on unified hosts,
/// /sys/fs/cgroup/unified on hybrid ones.
fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map_or_else(|| PathBuf::from("/sys/fs/cgroup"), |f| PathBuf::from(f[1]))
}

impl CgroupNames {
    /// The path relative to the cgroup2 root ("/system.slice/x.service"),
    /// or "" when unknown (e.g. the cgroup is already gone).
    pub fn path(&mut self, id: u64) -> String {
        if id == 0 {
            return String::new();
        }
        if let Some(p) = self.cache.get(&id) {
            return p.clone();
        }
        self.rescan();
        self.cache.entry(id).or_default().clone()
    }

    fn rescan(&mut self) {
        let root = self.root.get_or_insert_with(cgroup2_root).clone();
        let mut stack = vec![(root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let Ok(meta) = std::fs::metadata(&dir) else {
                continue;
            };
            self.cache.insert(meta.ino(), relative(&root, &dir));
            if depth >= MAX_DEPTH {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
    }
}

fn relative(root: &Path, dir: &Path) -> String {
    match dir.strip_prefix(root) {
        Ok(rest) if rest.as_os_str().is_empty() => "/".to_string(),
        Ok(rest) => format!("/{}", rest.display()),
        Err(_) => dir.display().to_string(),
    }
}
