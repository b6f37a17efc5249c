//! Which programs of the sockets probe load on this kernel, decided before
//! load: a missing tracepoint turns off the programs that need it (and says
//! so), instead of failing the whole probe. One object, every kernel.

use netsight_events::event::EventKind;

use super::Options;

/// What a program needs from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Needs {
    /// A BTF tracepoint: `btf_trace_<name>` in the kernel's BTF.
    TpBtf(&'static str),
    /// A classic tracepoint, "category/name" under tracefs.
    Tracepoint(&'static str),
    /// fexit on a kernel function: the function in BTF and fentry working.
    Fexit(&'static str),
}

use Needs::{Fexit, TpBtf, Tracepoint};

/// Every program but the socket iterators (iterators and socket storage are
/// older than any kernel with the tracepoints below; which iterator loads is
/// found by trial, see gauges.rs).
pub(super) const PROGRAMS: &[(&str, Needs)] = &[
    ("on_send", TpBtf("sock_send_length")),
    ("on_recv", TpBtf("sock_recv_length")),
    ("on_inet_sendmsg", Fexit("inet_sendmsg")),
    ("on_inet6_sendmsg", Fexit("inet6_sendmsg")),
    ("on_inet_recvmsg", Fexit("inet_recvmsg")),
    ("on_inet6_recvmsg", Fexit("inet6_recvmsg")),
    ("on_state", TpBtf("inet_sock_set_state")),
    ("on_destroy", TpBtf("tcp_destroy_sock")),
    ("on_retransmit", TpBtf("tcp_retransmit_skb")),
    ("on_retransmit_synack", TpBtf("tcp_retransmit_synack")),
    ("on_send_reset", TpBtf("tcp_send_reset")),
    ("on_receive_reset", TpBtf("tcp_receive_reset")),
    ("on_cong_state", TpBtf("tcp_cong_state_set")),
    ("on_udp_fail", TpBtf("udp_fail_queue_rcv_skb")),
    ("on_kfree_skb", TpBtf("kfree_skb")),
    ("on_consume_skb", TpBtf("consume_skb")),
    ("on_task_exit", TpBtf("sched_process_exit")),
    ("on_accept4_exit", Tracepoint("syscalls/sys_exit_accept4")),
    (
        "on_accept_exit_plain",
        Tracepoint("syscalls/sys_exit_accept"),
    ),
];

const IO_TRACEPOINTS: [&str; 2] = ["on_send", "on_recv"];
const IO_FEXIT: [&str; 4] = [
    "on_inet_sendmsg",
    "on_inet6_sendmsg",
    "on_inet_recvmsg",
    "on_inet6_recvmsg",
];

/// Where send/recv bytes are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IoHooks {
    /// The tracepoints where the kernel has them (6.3+), else fexit.
    #[default]
    Auto,
    /// sock_send_length / sock_recv_length only.
    Tracepoints,
    /// fexit on inet{,6}_{send,recv}msg only (selftest proves the fallback).
    Fexit,
}

/// The kernel facts a plan is made from (a trait so tests can fake them).
pub trait KernelFacts {
    fn has_btf_tracepoint(&self, name: &str) -> bool;
    fn has_tracepoint(&self, path: &str) -> bool;
    fn has_function(&self, name: &str) -> bool;
    fn fentry_works(&self) -> bool;
    fn tracepoint_arity(&self, name: &str) -> Option<usize>;
}

/// A program that is not loaded although the options wanted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub program: &'static str,
    pub reason: String,
    /// Programs that do its work instead, if any.
    pub replaced_by: Option<String>,
    /// The kernel (or `--refuse`) refused it, as opposed to its hook not
    /// existing here.
    pub refused: bool,
}

/// Autoload decision for every program, and what is missing and why.
#[derive(Debug)]
pub struct Plan {
    pub load: Vec<(&'static str, bool)>,
    pub missing: Vec<Missing>,
    /// Where I/O is counted (`None` if nowhere).
    pub io: Option<IoHooks>,
}

/// The programs `opts` asks for: everything for metrics, plus what the
/// event kinds and accept tracing need.
fn wanted(opts: &Options, program: &str, syn_consumer: bool) -> bool {
    let wants = |k: EventKind| opts.events.contains(&k);
    match program {
        "on_accept4_exit" | "on_accept_exit_plain" => opts.accept_syscalls,
        "on_kfree_skb" => wants(EventKind::Drop) || wants(EventKind::Overflow),
        "on_consume_skb" => wants(EventKind::Overflow) && syn_consumer,
        "on_destroy" => wants(EventKind::Close),
        _ => true,
    }
}

/// The first kernel with a tracepoint, where it is younger than the rest.
fn since(tracepoint: &str) -> &'static str {
    match tracepoint {
        "sock_send_length" | "sock_recv_length" => " (kernel 6.3+)",
        _ => "",
    }
}

/// Why a program cannot run here, or None if it can.
fn unavailable(facts: &dyn KernelFacts, needs: Needs, fentry: bool) -> Option<String> {
    match needs {
        TpBtf(name) if !facts.has_btf_tracepoint(name) => {
            Some(format!("no tracepoint {name}{}", since(name)))
        }
        // consume_skb passes the freeing location since 6.3, which the
        // program needs.
        TpBtf("consume_skb") if facts.tracepoint_arity("consume_skb") < Some(2) => {
            Some("consume_skb has no location argument (kernel 6.3+)".into())
        }
        Tracepoint(path) if !facts.has_tracepoint(path) => {
            Some(format!("no tracepoint {path} in tracefs"))
        }
        Fexit(_) if !fentry => Some("fentry/fexit not supported by this kernel".into()),
        Fexit(func) if !facts.has_function(func) => {
            Some(format!("no kernel function {func} in BTF"))
        }
        _ => None,
    }
}

/// What does a refused program's work instead, given everything refused.
pub fn replacement(program: &str, refused: &[crate::loader::Refused]) -> Option<&'static str> {
    let gone = |p: &str| refused.iter().any(|r| r.program == p);
    let netns_pair = !gone("dump_tcp") || !gone("dump_udp");
    match program {
        "dump_sockets" if !gone("dump_files") => Some("iter/task_file"),
        "dump_sockets" | "dump_files" if netns_pair => {
            Some("iter/tcp + iter/udp in each network namespace")
        }
        "dump_sockets" | "dump_files" | "dump_tcp" | "dump_udp"
            if gone("dump_sockets") && gone("dump_files") && !netns_pair =>
        {
            Some("bytes charged per call (no gauges)")
        }
        // The I/O cache then asks the kernel who calls on every hit: the
        // same counts, a helper call dearer (BENCHMARKS.md).
        "on_task_exit" => {
            Some("the caller looked up on every cached send/receive (same counts, slower)")
        }
        _ => None,
    }
}

pub fn plan(facts: &dyn KernelFacts, opts: &Options, syn_consumer: bool) -> Plan {
    let needs_of = |p: &str| {
        PROGRAMS
            .iter()
            .find(|(n, _)| *n == p)
            .map(|(_, needs)| *needs)
            .expect("a program of PROGRAMS")
    };
    let tracepoints_ok = IO_TRACEPOINTS
        .iter()
        .all(|p| unavailable(facts, needs_of(p), false).is_none());
    // fentry is only probed (a test load) when the plan may use it.
    let fentry = match (opts.io, tracepoints_ok) {
        (IoHooks::Tracepoints, _) | (IoHooks::Auto, true) => false,
        _ => facts.fentry_works(),
    };
    let fexit_ok = fentry
        && IO_FEXIT
            .iter()
            .any(|p| unavailable(facts, needs_of(p), true).is_none());
    let io = match opts.io {
        IoHooks::Auto if tracepoints_ok => Some(IoHooks::Tracepoints),
        IoHooks::Auto if fexit_ok => Some(IoHooks::Fexit),
        IoHooks::Tracepoints if tracepoints_ok => Some(IoHooks::Tracepoints),
        IoHooks::Fexit if fexit_ok => Some(IoHooks::Fexit),
        _ => None,
    };
    let mut load = Vec::new();
    let mut missing = Vec::new();
    for &(program, needs) in PROGRAMS {
        let want = if IO_TRACEPOINTS.contains(&program) {
            opts.io != IoHooks::Fexit
        } else if IO_FEXIT.contains(&program) {
            io == Some(IoHooks::Fexit)
        } else {
            wanted(opts, program, syn_consumer)
        };
        let why = want.then(|| unavailable(facts, needs, fentry)).flatten();
        load.push((program, want && why.is_none()));
        if let Some(reason) = why {
            let replaced = IO_TRACEPOINTS.contains(&program) && io == Some(IoHooks::Fexit);
            missing.push(Missing {
                program,
                reason,
                replaced_by: replaced.then(|| "fexit on inet{,6}_{send,recv}msg".into()),
                refused: false,
            });
        }
    }
    Plan { load, missing, io }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel described by what it lacks.
    struct Fake {
        no_tracepoints: &'static [&'static str],
        fentry: bool,
        consume_skb_arity: usize,
    }

    impl KernelFacts for Fake {
        fn has_btf_tracepoint(&self, name: &str) -> bool {
            !self.no_tracepoints.contains(&name)
        }
        fn has_tracepoint(&self, path: &str) -> bool {
            !self.no_tracepoints.contains(&path)
        }
        fn has_function(&self, _: &str) -> bool {
            true
        }
        fn fentry_works(&self) -> bool {
            self.fentry
        }
        fn tracepoint_arity(&self, name: &str) -> Option<usize> {
            Some(if name == "consume_skb" {
                self.consume_skb_arity
            } else {
                3
            })
        }
    }

    const NEW: Fake = Fake {
        no_tracepoints: &[],
        fentry: false,
        consume_skb_arity: 2,
    };
    const LINUX_6_1: Fake = Fake {
        no_tracepoints: &["sock_send_length", "sock_recv_length"],
        fentry: true,
        consume_skb_arity: 1,
    };

    fn loaded(p: &Plan) -> Vec<&'static str> {
        p.load
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }

    fn all() -> Options {
        Options {
            accept_syscalls: true,
            events: EventKind::ALL.to_vec(),
            ..Options::default()
        }
    }

    #[test]
    fn a_new_kernel_loads_the_tracepoints_and_no_fexit() {
        let p = plan(&NEW, &all(), true);
        assert!(p.missing.is_empty(), "{:?}", p.missing);
        assert_eq!(p.io, Some(IoHooks::Tracepoints));
        let on = loaded(&p);
        assert!(on.contains(&"on_send") && on.contains(&"on_consume_skb"));
        assert!(!on.iter().any(|n| IO_FEXIT.contains(n)));
    }

    #[test]
    fn linux_6_1_counts_io_with_fexit_and_says_what_is_missing() {
        let p = plan(&LINUX_6_1, &all(), true);
        assert_eq!(p.io, Some(IoHooks::Fexit));
        let on = loaded(&p);
        assert!(IO_FEXIT.iter().all(|n| on.contains(n)));
        assert!(!on.contains(&"on_send") && !on.contains(&"on_consume_skb"));
        let names: Vec<_> = p.missing.iter().map(|m| m.program).collect();
        assert_eq!(names, ["on_send", "on_recv", "on_consume_skb"]);
        assert!(p.missing[0].replaced_by.is_some());
        assert!(p.missing[2].replaced_by.is_none());
    }

    #[test]
    fn without_tracepoints_or_fentry_io_is_off_not_failed() {
        let old = Fake {
            fentry: false,
            ..LINUX_6_1
        };
        let p = plan(&old, &Options::default(), false);
        assert_eq!(p.io, None);
        assert!(p.missing.iter().all(|m| m.replaced_by.is_none()));
        assert!(loaded(&p).contains(&"on_state"));
    }

    #[test]
    fn forcing_fexit_never_loads_both() {
        let fentry_kernel = Fake {
            fentry: true,
            ..NEW
        };
        let opts = Options {
            io: IoHooks::Fexit,
            ..Options::default()
        };
        let p = plan(&fentry_kernel, &opts, false);
        assert_eq!(p.io, Some(IoHooks::Fexit));
        let on = loaded(&p);
        assert!(!on.contains(&"on_send") && on.contains(&"on_inet_sendmsg"));
        // Metrics only: event-only programs are simply not wanted.
        assert!(!on.contains(&"on_destroy") && p.missing.is_empty());
    }
}
