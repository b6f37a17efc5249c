//! Judges one VM's console output (the tagged lines of init.sh) and sums
//! it up in one line.

use std::collections::BTreeMap;

use serde_json::Value;

/// What init.sh printed, by check name.
#[derive(Default)]
pub struct Console {
    lines: BTreeMap<String, Vec<String>>,
    status: BTreeMap<String, i32>,
    pub done: bool,
}

impl Console {
    pub fn parse(text: &str) -> Self {
        let mut c = Console::default();
        for line in text.lines() {
            // Kernel messages can share a line with ours: find the tag.
            if line.contains("@@vm-done") {
                c.done = true;
            } else if let Some(rest) = line.find("@@vm-rc ").map(|i| &line[i + 8..]) {
                if let Some((name, rc)) = rest.split_once(' ') {
                    c.status
                        .insert(name.to_string(), rc.trim().parse().unwrap_or(-1));
                }
            } else if let Some(rest) = line.find("@@vm ").map(|i| &line[i + 5..]) {
                let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
                c.lines
                    .entry(name.to_string())
                    .or_default()
                    .push(text.to_string());
            }
        }
        c
    }

    pub fn lines(&self, name: &str) -> &[String] {
        self.lines.get(name).map_or(&[], Vec::as_slice)
    }

    fn status(&self, name: &str) -> Option<i32> {
        self.status.get(name).copied()
    }

    fn json(&self, name: &str) -> Vec<Value> {
        self.lines(name)
            .iter()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// One check's result: passed, and what to say about it.
pub struct Check {
    pub ok: bool,
    pub text: String,
}

fn check(ok: bool, text: String) -> Check {
    Check { ok, text }
}

/// `doctor --json` ran and names the optional hooks this kernel has; bytes
/// counted by fexit go through the cache unless the kernel `preempts`.
pub fn doctor(c: &Console, preempts: bool) -> Check {
    let Some(report) = c.json("doctor").into_iter().next() else {
        return check(
            false,
            format!("doctor FAILED (status {:?})", c.status("doctor")),
        );
    };
    let hooks = ["kprobe", "fentry"]
        .iter()
        .map(|h| {
            let yes = report["hooks"][h].as_bool().unwrap_or(false);
            format!("{h} {}", if yes { "yes" } else { "no" })
        })
        .collect::<Vec<_>>()
        .join(", ");
    let not_on: Vec<String> = report["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["status"] != "on")
        .map(|f| {
            let name = f["name"].as_str().unwrap_or("?");
            // "trace overflow (accept/SYN queue...)" -> "trace overflow"
            let short = name.split(" (").next().unwrap_or(name);
            format!("{short} {}", f["status"].as_str().unwrap_or("?"))
        })
        .collect();
    let io = report["io_hooks"].as_str().unwrap_or("?");
    let cached = report["io_cache"].as_bool();
    // fexit bytes go through the cache exactly where the kernel does not preempt.
    let cache_right = cached.is_some() && (io != "fexit" || cached == Some(!preempts));
    let ok = c.status("doctor") == Some(0) && cache_right;
    let word = if ok { "ok" } else { "FAILED" };
    let io = match cached {
        Some(true) => format!("{io} + per-CPU cache"),
        Some(false) => format!("{io}, no cache"),
        None => format!("{io}, cache unknown"),
    };
    check(
        ok,
        format!(
            "doctor {word} ({hooks}; bytes via {io}; {})",
            not_on.join(", ")
        ),
    )
}

/// `selftest --json`: every probe variant loaded and attached.
pub fn selftest(c: &Console) -> Check {
    let Some(report) = c.json("selftest").into_iter().next() else {
        return check(
            false,
            format!("selftest FAILED (status {:?})", c.status("selftest")),
        );
    };
    let probes = report["probes"].as_array().cloned().unwrap_or_default();
    let each: Vec<String> = probes
        .iter()
        .map(|p| {
            let name = p["probe"].as_str().unwrap_or("?");
            let io = p["io"].as_str().unwrap_or("?");
            if p["ok"] == true {
                format!("{name} ok [io {io}]")
            } else {
                format!("{name} FAILED: {}", p["error"].as_str().unwrap_or(""))
            }
        })
        .collect();
    let (mut replaced, mut off, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for d in probes
        .iter()
        .flat_map(|p| p["degraded"].as_array().cloned().unwrap_or_default())
    {
        let name = d["program"].as_str().unwrap_or("?").to_string();
        // These stock kernels run no BPF LSM: a refusal is our program
        // failing their verifier, hidden by load-by-trial unless caught here.
        let by_kernel = d["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("refused at"));
        let list = if d["refused"] == true && by_kernel {
            &mut refused
        } else if d["replaced_by"].is_string() {
            &mut replaced
        } else {
            &mut off
        };
        if !list.contains(&name) {
            list.push(name);
        }
    }
    let ok = c.status("selftest") == Some(0)
        && probes.iter().all(|p| p["ok"] == true)
        && refused.is_empty();
    let word = if ok { "ok" } else { "FAILED" };
    let mut text = format!("selftest {word} ({}", each.join(", "));
    if !replaced.is_empty() {
        text.push_str(&format!("; replaced: {}", replaced.join(" ")));
    }
    if !off.is_empty() {
        text.push_str(&format!("; not loaded: {}", off.join(" ")));
    }
    if !refused.is_empty() {
        text.push_str(&format!("; REFUSED: {}", refused.join(" ")));
    }
    text.push(')');
    check(ok, text)
}

/// What `stat` counted for `pid` in `field`, over every interval.
fn counted(stat: &[Value], pid: &Value, field: &str) -> u64 {
    stat.iter()
        .filter(|r| r["type"] == "process" && &r["pid"] == pid)
        .filter_map(|r| r[field].as_u64())
        .sum()
}

/// Per-process bytes that `stat` reported equal what the traffic tool moved.
pub fn bytes(c: &Console) -> Check {
    let stat = c.json("stat");
    let one = |name: &str| c.json(name).into_iter().find(|v| v.get("pid").is_some());
    let cases = [
        ("tcp-send", "tx_bytes", "tcp_tx_bytes"),
        ("tcp-serve", "rx_bytes", "tcp_rx_bytes"),
        ("udp-send", "tx_bytes", "udp_tx_bytes"),
        ("udp-serve", "rx_bytes", "udp_rx_bytes"),
    ];
    let mut wrong = Vec::new();
    let mut sizes = Vec::new();
    for (tool, truth_field, stat_field) in cases {
        let Some(report) = one(tool) else {
            wrong.push(format!("{tool} reported nothing"));
            continue;
        };
        let truth = report[truth_field].as_u64().unwrap_or(0);
        let seen = counted(&stat, &report["pid"], stat_field);
        if truth == 0 || seen != truth {
            wrong.push(format!("{stat_field} {seen} != {truth}"));
        } else if tool.ends_with("send") {
            sizes.push(format!("{}={truth}", &tool[..3]));
        }
    }
    if c.status("bytes") != Some(0) {
        wrong.push(format!("stat exited with {:?}", c.status("bytes")));
    }
    if wrong.is_empty() {
        check(true, format!("bytes exact ({})", sizes.join(", ")))
    } else {
        check(false, format!("bytes WRONG ({})", wrong.join("; ")))
    }
}

/// `netsight sock --raw`: the captured syscalls of the sender and the
/// receiver add up to the bytes the traffic tool moved.
pub fn sock(c: &Console) -> Check {
    let records = c.json("sock");
    let one = |name: &str| c.json(name).into_iter().find(|v| v.get("pid").is_some());
    let moved = |pid: &Value, direction: &str| -> u64 {
        records
            .iter()
            .filter(|r| r["type"] == "data" && &r["pid"] == pid && r["direction"] == direction)
            .filter_map(|r| r["syscall_len"].as_u64())
            .sum()
    };
    let mut wrong = Vec::new();
    let mut seen = Vec::new();
    for (tool, truth_field, direction) in [
        ("sock-send", "tx_bytes", "egress"),
        ("sock-serve", "rx_bytes", "ingress"),
    ] {
        let Some(report) = one(tool) else {
            wrong.push(format!("{tool} reported nothing"));
            continue;
        };
        let truth = report[truth_field].as_u64().unwrap_or(0);
        let got = moved(&report["pid"], direction);
        if truth == 0 || got != truth {
            wrong.push(format!("{direction} {got} != {truth}"));
        } else {
            seen.push(format!("{direction} {got}"));
        }
    }
    let summary = records.iter().find(|r| r["type"] == "summary");
    if summary.is_none_or(|s| s["kernel_lost"] != 0 || s["user_lost"] != 0) {
        wrong.push(format!("losses or no summary: {summary:?}"));
    }
    if c.status("sock") != Some(0) {
        wrong.push(format!("sock exited with {:?}", c.status("sock")));
    }
    if wrong.is_empty() {
        check(true, format!("sock exact ({})", seen.join(", ")))
    } else {
        check(false, format!("sock WRONG ({})", wrong.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[    0.1] boot noise
@@vm kernel 6.1.0-56-amd64
@@vm tcp-send {\"pid\":7,\"tx_bytes\":100,\"conns\":1}
@@vm tcp-serve {\"pid\":6,\"rx_bytes\":100,\"conns\":1,\"resets\":0}
@@vm udp-send {\"pid\":9,\"tx_packets\":2,\"tx_bytes\":20}
@@vm udp-serve {\"ready\":true}
@@vm udp-serve {\"pid\":8,\"rx_packets\":2,\"rx_bytes\":20}
@@vm stat {\"type\":\"process\",\"pid\":7,\"tcp_tx_bytes\":60}
@@vm stat {\"type\":\"process\",\"pid\":7,\"tcp_tx_bytes\":40}
@@vm stat {\"type\":\"process\",\"pid\":6,\"tcp_rx_bytes\":100}
@@vm stat {\"type\":\"process\",\"pid\":9,\"udp_tx_bytes\":20}
@@vm stat {\"type\":\"process\",\"pid\":8,\"udp_rx_bytes\":20}
@@vm-rc bytes 0
@@vm-done
";

    #[test]
    fn sock_passes_on_exact_syscall_bytes_only() {
        let console = "\
@@vm sock-send {\"pid\":7,\"tx_bytes\":30,\"conns\":1}
@@vm sock-serve {\"pid\":6,\"rx_bytes\":30,\"conns\":1,\"resets\":0}
@@vm sock {\"type\":\"data\",\"pid\":7,\"direction\":\"egress\",\"syscall_len\":20}
@@vm sock {\"type\":\"data\",\"pid\":7,\"direction\":\"egress\",\"syscall_len\":10}
@@vm sock {\"type\":\"data\",\"pid\":6,\"direction\":\"ingress\",\"syscall_len\":30}
@@vm sock {\"type\":\"summary\",\"kernel_lost\":0,\"user_lost\":0}
@@vm-rc sock 0
";
        let ok = sock(&Console::parse(console));
        assert!(ok.ok, "{}", ok.text);
        assert_eq!(ok.text, "sock exact (egress 30, ingress 30)");
        let short = console.replace("\"syscall_len\":10", "\"syscall_len\":9");
        assert!(!sock(&Console::parse(&short)).ok);
    }

    #[test]
    fn exact_bytes_pass_and_a_missing_byte_fails() {
        let c = Console::parse(CONSOLE);
        assert!(c.done);
        assert_eq!(c.lines("kernel"), ["6.1.0-56-amd64"]);
        let b = bytes(&c);
        assert!(b.ok, "{}", b.text);
        assert_eq!(b.text, "bytes exact (tcp=100, udp=20)");
        let short = CONSOLE.replace("\"tcp_tx_bytes\":40", "\"tcp_tx_bytes\":39");
        assert!(!bytes(&Console::parse(&short)).ok);
    }

    #[test]
    fn a_program_the_kernel_refused_fails_selftest_one_we_set_aside_does_not() {
        let run = |reason: &str| {
            let line = format!(
                "@@vm selftest {{\"probes\":[{{\"probe\":\"sockets\",\"ok\":true,\"io\":\"tracepoints\",\
                 \"degraded\":[{{\"program\":\"dump_sockets\",\"reason\":\"{reason}\",\
                 \"replaced_by\":\"iter/task_file\",\"refused\":true}}]}}]}}\n@@vm-rc selftest 0\n"
            );
            selftest(&Console::parse(&line))
        };
        let kernel = run("refused at load (EACCES: R1 invalid mem access)");
        assert!(
            !kernel.ok && kernel.text.contains("REFUSED: dump_sockets"),
            "{}",
            kernel.text
        );
        let ours = run("refused by the caller");
        assert!(ours.ok, "{}", ours.text);
    }

    #[test]
    fn a_missing_report_fails() {
        let c = Console::parse("@@vm-rc selftest 1\n");
        assert!(!selftest(&c).ok);
        assert!(!doctor(&c, false).ok);
    }

    #[test]
    fn fexit_bytes_use_the_cache_exactly_where_the_kernel_does_not_preempt() {
        let run = |io: &str, cache: bool, preempts: bool| {
            let report = serde_json::json!({"io_hooks": io, "io_cache": cache, "hooks": {}});
            let line = format!("@@vm doctor {report}\n@@vm-rc doctor 0\n");
            doctor(&Console::parse(&line), preempts)
        };
        assert!(!run("fexit", true, true).ok);
        let off = run("fexit", false, true);
        assert!(
            off.ok && off.text.contains("fexit, no cache"),
            "{}",
            off.text
        );
        assert!(run("fexit", true, false).ok);
        assert!(!run("fexit", false, false).ok);
        assert!(run("tracepoints", true, true).ok);
    }
}
