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
    hz_in(&kernel_config()?)
}

/// The running kernel's build configuration, if it can be found.
fn kernel_config() -> Option<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    std::fs::read_to_string(format!("/boot/config-{}", release.trim()))
        .ok()
        .or_else(|| {
            let gz = std::fs::File::open("/proc/config.gz").ok()?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).ok()?;
            Some(text)
        })
}

/// Whether the kernel may preempt a running fexit program (full, lazy or
/// realtime preemption): the trampoline only disables migration, so a send
/// and a receive program can then interleave on one CPU. Unknown counts as
/// yes.
pub fn kernel_preempts() -> bool {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    preempts(
        read("/sys/kernel/debug/sched/preempt").as_deref(),
        read("/proc/sys/kernel/version").as_deref().unwrap_or(""),
        read("/proc/cmdline").as_deref().unwrap_or(""),
        kernel_config().as_deref(),
    )
}

fn preempts(debugfs: Option<&str>, version: &str, cmdline: &str, config: Option<&str>) -> bool {
    let preempting = |mode: &str| !matches!(mode, "none" | "voluntary");
    // A PREEMPT_DYNAMIC kernel's debugfs names the current mode: "none (voluntary) full".
    let current = debugfs
        .and_then(|t| t.split_once('('))
        .and_then(|(_, rest)| rest.split_once(')'));
    if let Some((mode, _)) = current {
        return preempting(mode);
    }
    let words: Vec<&str> = version.split_whitespace().collect();
    if !words.contains(&"PREEMPT_DYNAMIC") {
        // Built for one mode, named in the version: PREEMPT, PREEMPT_RT, PREEMPT_LAZY.
        return words.iter().any(|w| w.starts_with("PREEMPT"));
    }
    if let Some(mode) = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("preempt="))
    {
        return preempting(mode);
    }
    // The build's default mode.
    config.is_none_or(|c| {
        !c.lines()
            .any(|l| l == "CONFIG_PREEMPT_NONE=y" || l == "CONFIG_PREEMPT_VOLUNTARY=y")
    })
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

    #[test]
    fn preemption_is_read_from_debugfs_then_the_version_then_the_boot_line_then_the_build() {
        use super::preempts;
        let dynamic = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1";
        let voluntary = Some("CONFIG_PREEMPT_VOLUNTARY=y\nCONFIG_PREEMPT_DYNAMIC=y\n");
        // debugfs decides when it is there.
        assert!(preempts(
            Some("none voluntary (full) lazy\n"),
            dynamic,
            "",
            voluntary
        ));
        assert!(!preempts(
            Some("none (voluntary) full\n"),
            dynamic,
            "preempt=full",
            None
        ));
        // Kernels built for one mode.
        assert!(preempts(None, "#1 SMP PREEMPT Tue Jan 1", "", None));
        assert!(preempts(None, "#1 SMP PREEMPT_RT Tue Jan 1", "", None));
        assert!(!preempts(None, "#1 SMP Debian 5.10.0", "", None));
        // Dynamic: the boot line, then the build's default.
        assert!(preempts(None, dynamic, "quiet preempt=full", voluntary));
        assert!(!preempts(None, dynamic, "preempt=none", None));
        assert!(!preempts(None, dynamic, "quiet", voluntary));
        assert!(preempts(None, dynamic, "quiet", Some("CONFIG_PREEMPT=y\n")));
        assert!(preempts(None, dynamic, "quiet", None));
    }
}
