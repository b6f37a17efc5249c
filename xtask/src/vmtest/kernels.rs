//! Kernels to boot: Debian kernel packages fetched with `apt-get download`,
//! unpacked once, cached under target/vmtest-cache/<package>/vmlinuz.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One kernel to test: a name for the report, its bootable image, and any
/// boot arguments of this run.
pub struct Kernel {
    pub name: String,
    pub image: PathBuf,
    pub args: String,
}

/// The default matrix: the newest 6.1 and 6.12 builds apt knows about
/// (Debian 12's own kernel and its backported/security successor), and the
/// 6.1 one again fully preemptible (its fexit fallback counts without the
/// per-CPU cache there). A spec's boot arguments follow its name after a space.
pub fn default_packages(arch: &str) -> Result<Vec<String>, String> {
    let names = apt_package_names("linux-image-6.1")?;
    let flavour = format!("-{arch}-unsigned");
    let newest = |series: &str| -> Result<String, String> {
        names
            .iter()
            .filter(|n| n.ends_with(&flavour))
            .filter(|n| {
                let version = &n["linux-image-".len()..n.len() - flavour.len()];
                version.starts_with(series)
                    && !version.contains("-rt")
                    && !version.contains("cloud")
            })
            .max_by(|a, b| version_key(a).cmp(&version_key(b)))
            .cloned()
            .ok_or_else(|| format!("apt knows no linux-image-{series}*{flavour} package"))
    };
    let old = newest("6.1.0-")?;
    Ok(vec![
        old.clone(),
        format!("{old} {PREEMPT_FULL}"),
        newest("6.12.")?,
    ])
}

/// The boot argument that makes a PREEMPT_DYNAMIC kernel fully preemptible.
pub const PREEMPT_FULL: &str = "preempt=full";

/// Numeric parts of a package name, so 6.1.0-56 sorts after 6.1.0-9.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn apt_package_names(prefix: &str) -> Result<Vec<String>, String> {
    let out = Command::new("apt-cache")
        .args(["pkgnames", prefix])
        .output()
        .map_err(|e| format!("running apt-cache: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// A kernel from a package name (downloaded and cached) or an image path,
/// then any boot arguments.
pub fn resolve(spec: &str, cache: &Path) -> Result<Kernel, String> {
    let (spec, args) = spec.split_once(' ').unwrap_or((spec, ""));
    let with_args = |name: String| {
        if args.is_empty() {
            name
        } else {
            format!("{name} {args}")
        }
    };
    let path = Path::new(spec);
    if path.is_file() {
        let name = path
            .file_name()
            .map_or(spec.to_string(), |n| n.to_string_lossy().into_owned());
        return Ok(Kernel {
            name: with_args(name),
            image: path.to_path_buf(),
            args: args.to_string(),
        });
    }
    let dir = cache.join(spec);
    let image = dir.join("vmlinuz");
    if !image.exists() {
        fetch(spec, &dir)?;
    }
    let name = spec
        .trim_start_matches("linux-image-")
        .trim_end_matches("-unsigned")
        .to_string();
    Ok(Kernel {
        name: with_args(name),
        image,
        args: args.to_string(),
    })
}

/// Downloads the package and keeps only its boot image.
fn fetch(package: &str, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    eprintln!("vmtest: downloading {package}");
    let status = Command::new("apt-get")
        // Root downloading into a root-owned cache: apt's _apt sandbox user
        // could not write there (and would only warn).
        .args(["download", "-q", "-o", "APT::Sandbox::User=root", package])
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("running apt-get: {e}"))?;
    if !status.success() {
        return Err(format!("apt-get download {package} failed ({status})"));
    }
    let deb = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download {package} left no .deb"))?;
    // dpkg-deb | tar: only ./boot/vmlinuz-* comes out.
    let script = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' --wildcards './boot/vmlinuz-*'",
        deb.display(),
        dir.display()
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .status()
        .map_err(|e| format!("unpacking {}: {e}", deb.display()))?;
    if !status.success() {
        return Err(format!("unpacking {} failed ({status})", deb.display()));
    }
    let boot = dir.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .map_err(|e| format!("reading {}: {e}", boot.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .next()
        .ok_or_else(|| format!("{} holds no vmlinuz", deb.display()))?;
    std::fs::rename(&vmlinuz, dir.join("vmlinuz")).map_err(|e| e.to_string())?;
    // The image is all we need; the package is 70-110 MB.
    let _ = std::fs::remove_dir_all(&boot);
    let _ = std::fs::remove_file(&deb);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        assert!(
            version_key("linux-image-6.1.0-56-amd64") > version_key("linux-image-6.1.0-9-amd64")
        );
        assert!(
            version_key("linux-image-6.12.117+deb12-amd64")
                > version_key("linux-image-6.12.99+deb12-amd64")
        );
    }
}
