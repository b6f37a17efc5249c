//! Questions about the running kernel answered from its BTF: the kernel's
//! own (/sys/kernel/btf/vmlinux), or a file given with `--btf` for kernels
//! that do not expose it. The same file then also serves libbpf's CO-RE
//! relocations (see [`crate::loader::use_custom_btf`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libbpf_rs::btf::types::{Enum, Func, FuncProto, Ptr, Typedef};
use libbpf_rs::btf::Btf;

/// Set once at start-up from `--btf`; a process-wide choice, as libbpf's own
/// search for vmlinux BTF is.
static CUSTOM_PATH: OnceLock<PathBuf> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
#[error("--btf {}: {reason}", path.display())]
pub struct BadBtfFile {
    path: PathBuf,
    reason: String,
}

/// Uses the BTF in `path` instead of the kernel's, after checking that it
/// parses and describes a kernel (has `struct sock`).
pub fn set_custom_path(path: &Path) -> Result<(), BadBtfFile> {
    let bad = |reason: String| BadBtfFile {
        path: path.to_path_buf(),
        reason,
    };
    // Only a regular file: libbpf seeks in it, and a device or a pipe would
    // block or read as garbage.
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad("no such file".into()),
        _ => bad(e.to_string()),
    })?;
    if !meta.is_file() {
        return Err(bad(format!("not a regular file ({})", file_kind(&meta))));
    }
    // libbpf's parse errors go to our log, not raw to stderr.
    crate::loader::init();
    let btf = Btf::from_path(path).map_err(|e| bad(format!("not a BTF file ({e})")))?;
    btf.type_by_name::<libbpf_rs::btf::types::Struct<'_>>("sock")
        .ok_or_else(|| bad("has no `struct sock`: not a kernel's BTF".into()))?;
    let _ = CUSTOM_PATH.set(path.to_path_buf());
    Ok(())
}

/// What a path that is not a regular file is, in `ls -l` words.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// The file given with `--btf`, if any.
pub fn custom_path() -> Option<&'static Path> {
    CUSTOM_PATH.get().map(PathBuf::as_path)
}

/// The kernel's BTF: the `--btf` file if given, else the kernel's own.
pub fn kernel() -> Option<Btf<'static>> {
    match custom_path() {
        Some(path) => Btf::from_path(path).ok(),
        None => Btf::from_vmlinux().ok(),
    }
}

/// How many arguments a tracepoint passes to BPF (not counting the leading
/// `void *` of its `btf_trace_<name>` prototype), or None if unknown.
pub fn tracepoint_arity(name: &str) -> Option<usize> {
    tracepoint_arity_in(&kernel()?, name)
}

pub(crate) fn tracepoint_arity_in(btf: &Btf<'_>, name: &str) -> Option<usize> {
    let typedef: Typedef<'_> = btf.type_by_name(&format!("btf_trace_{name}"))?;
    let ptr = Ptr::try_from(typedef.next_type()?).ok()?;
    let proto = FuncProto::try_from(ptr.next_type()?).ok()?;
    Some(proto.len().saturating_sub(1))
}

/// Whether the kernel has a function fentry/fexit could attach to.
pub(crate) fn has_function_in(btf: &Btf<'_>, name: &str) -> bool {
    btf.type_by_name::<Func<'_>>(name).is_some()
}

/// The members of a C enum of the running kernel, e.g. `skb_drop_reason`:
/// numbers differ between kernels, names do not.
pub fn enum_values(name: &str) -> Vec<(String, i64)> {
    let Some(btf) = kernel() else {
        return Vec::new();
    };
    let Some(e): Option<Enum<'_>> = btf.type_by_name(name) else {
        return Vec::new();
    };
    e.iter()
        .filter_map(|m| Some((m.name?.to_string_lossy().into_owned(), m.value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tracepoint_prototypes_from_the_running_kernel() {
        if Btf::from_vmlinux().is_err() {
            eprintln!("skipped: no kernel BTF");
            return;
        }
        // inet_sock_set_state(sk, oldstate, newstate) on every kernel with BTF.
        assert_eq!(tracepoint_arity("inet_sock_set_state"), Some(3));
        assert!(matches!(
            tracepoint_arity("tcp_retransmit_skb"),
            Some(2 | 3)
        ));
        assert_eq!(tracepoint_arity("no_such_tracepoint"), None);
        let reasons = enum_values("skb_drop_reason");
        assert!(reasons
            .iter()
            .any(|(n, _)| n == "SKB_DROP_REASON_NOT_SPECIFIED"));
        let btf = kernel().expect("kernel BTF");
        assert!(has_function_in(&btf, "inet_sendmsg"));
        assert!(!has_function_in(&btf, "no_such_function"));
    }

    #[test]
    fn a_bad_custom_path_is_refused_with_the_reason() {
        let e = set_custom_path(Path::new("/nonexistent/btf")).unwrap_err();
        assert_eq!(e.to_string(), "--btf /nonexistent/btf: no such file");
        let e = set_custom_path(Path::new("/proc/self/status")).unwrap_err();
        assert!(e.to_string().contains("not a BTF file"), "{e}");
        let e = set_custom_path(Path::new("/dev/null")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--btf /dev/null: not a regular file (a character device)"
        );
        let e = set_custom_path(Path::new("/")).unwrap_err();
        assert_eq!(e.to_string(), "--btf /: not a regular file (a directory)");
        assert_eq!(custom_path(), None);
    }
}
