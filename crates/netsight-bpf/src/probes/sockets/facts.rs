//! The running kernel as the sockets plan sees it: its BTF (or the `--btf`
//! file), tracefs, and whether fentry really loads and attaches.

use std::cell::OnceCell;

use libbpf_rs::btf::Btf;

use super::plan::KernelFacts;

pub struct RunningKernel {
    btf: Option<Btf<'static>>,
    fentry: OnceCell<bool>,
}

impl RunningKernel {
    /// Reads the BTF once; fentry is probed only if asked.
    pub fn new() -> Self {
        RunningKernel {
            btf: crate::btf::kernel(),
            fentry: OnceCell::new(),
        }
    }

    pub fn arity(&self, tracepoint: &str) -> Option<usize> {
        crate::btf::tracepoint_arity_in(self.btf.as_ref()?, tracepoint)
    }
}

impl KernelFacts for RunningKernel {
    fn has_btf_tracepoint(&self, name: &str) -> bool {
        self.arity(name).is_some()
    }

    fn has_tracepoint(&self, path: &str) -> bool {
        [
            "/sys/kernel/tracing/events",
            "/sys/kernel/debug/tracing/events",
        ]
        .iter()
        .any(|root| std::path::Path::new(root).join(path).exists())
    }

    fn has_function(&self, name: &str) -> bool {
        self.btf
            .as_ref()
            .is_some_and(|b| crate::btf::has_function_in(b, name))
    }

    fn fentry_works(&self) -> bool {
        *self
            .fentry
            .get_or_init(|| crate::probes::doctor::hook_works("fentry"))
    }

    fn tracepoint_arity(&self, name: &str) -> Option<usize> {
        self.arity(name)
    }
}

/// The kernel's CONFIG_HZ, from /boot/config-RELEASE or /proc/config.gz,
/// if either is there.
pub fn config_hz() -> Option<u64> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let text = std::fs::read_to_string(format!("/boot/config-{}", release.trim()))
        .ok()
        .or_else(|| {
            let gz = std::fs::File::open("/proc/config.gz").ok()?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).ok()?;
            Some(text)
        })?;
    hz_in(&text)
}

fn hz_in(config: &str) -> Option<u64> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ="))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hz_is_read_from_a_config() {
        assert_eq!(
            super::hz_in("# x\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n"),
            Some(250)
        );
        assert_eq!(super::hz_in("CONFIG_HZ_1000=y\n"), None);
    }
}
