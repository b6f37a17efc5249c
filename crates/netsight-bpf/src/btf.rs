//! Questions about the running kernel answered from its BTF.

use libbpf_rs::btf::types::{Enum, FuncProto, Ptr, Typedef};
use libbpf_rs::btf::Btf;

/// How many arguments a tracepoint passes to BPF (not counting the leading
/// `void *` of its `btf_trace_<name>` prototype), or None if unknown.
pub fn tracepoint_arity(name: &str) -> Option<usize> {
    let btf = Btf::from_vmlinux().ok()?;
    let typedef: Typedef<'_> = btf.type_by_name(&format!("btf_trace_{name}"))?;
    let ptr = Ptr::try_from(typedef.next_type()?).ok()?;
    let proto = FuncProto::try_from(ptr.next_type()?).ok()?;
    Some(proto.len().saturating_sub(1))
}

/// The members of a C enum of the running kernel, e.g. `skb_drop_reason`:
/// numbers differ between kernels, names do not.
pub fn enum_values(name: &str) -> Vec<(String, i64)> {
    let Ok(btf) = Btf::from_vmlinux() else {
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
    }
}
