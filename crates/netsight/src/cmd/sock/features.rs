//! The tracer's rows in `netsight doctor`: its kernel side really loaded
//! (capturing nothing: a pid filter no process has), and what it cannot see.

use netsight_bpf::probes::socktrace::{Settings, SockTraceProbe};

use crate::features::Feature;

/// No process has this pid: the probe loads and attaches but records nothing.
const NOBODY: u32 = u32::MAX;

/// Settings that load and attach every program but capture nothing.
pub(crate) fn idle_settings(refuse: &[&str]) -> Settings {
    Settings {
        payload_bytes: 64,
        ring_bytes: 4096,
        max_sockets: 16,
        max_traces: 16,
        pids: vec![NOBODY],
        comm: None,
        port: None,
        netns: None,
        refuse: refuse.iter().map(|p| p.to_string()).collect(),
        mute_unparsed: false,
    }
}

fn row(name: &'static str, status: &'static str, reason: impl Into<String>) -> Feature {
    Feature {
        name,
        status,
        reason: reason.into(),
    }
}

pub fn doctor_features() -> Vec<Feature> {
    let capture = "socket data tracer: capture (sock --raw)";
    let probe = match SockTraceProbe::load(&idle_settings(&[])) {
        Ok(p) => p,
        Err(e) => {
            let why = format!(
                "{e}; needs tp_btf on sock:sock_send_length/sock_recv_length (Linux 6.3+), \
                 or on raw_syscalls:sys_exit, and bpf_task_pt_regs"
            );
            return vec![
                row(capture, "off", why.clone()),
                row("socket data tracer: L7 records (sock)", "off", why),
            ];
        }
    };
    let close = probe
        .hooks()
        .iter()
        .find(|h| h.tracepoint == "sock:inet_sock_set_state");
    let (close_status, close_reason) = match close {
        Some(h) if h.on => ("on", String::new()),
        Some(h) => ("degraded", h.reason.clone()),
        None => ("degraded", "no close hook".to_string()),
    };
    let syscalls = "read write readv writev preadv2 pwritev2 recvfrom sendto recvmsg sendmsg \
                    recvmmsg sendmmsg, 16 iovecs per call; reads on unconnected UDP sockets \
                    name no peer";
    let fallback = probe
        .hooks()
        .iter()
        .find(|h| h.tracepoint == "raw_syscalls:sys_exit" && h.on);
    let (capture_status, capture_reason) = match fallback {
        None => (
            "on",
            format!("tp_btf sock_send_length/sock_recv_length: {syscalls}"),
        ),
        Some(h) => (
            "degraded",
            format!("syscall-exit fallback ({}): {syscalls}", h.reason),
        ),
    };
    vec![
        row(capture, capture_status, capture_reason),
        row(
            "socket data tracer: sendfile, splice and io_uring payloads",
            "off",
            "no user buffer in the syscall: sendfile/splice bytes and io_uring calls are \
             counted (sock status), not captured",
        ),
        row(
            "socket data tracer: close tracking",
            close_status,
            close_reason,
        ),
        row(
            "socket data tracer: L7 records http1 dns redis (sock)",
            "on",
            "",
        ),
        row(
            "socket data tracer: status (sock status)",
            "on",
            netsight_tracer::TRACERS_DIR,
        ),
    ]
}
