//! `netsight stat`: per-process metrics every interval (SPEC §3), as a table
//! or JSON Lines; `--system` hands over to the host-wide view, `--all` runs
//! both on one clock.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use netsight_events::process::{IntervalInfo, ProcessRecord, SocketSnapshot, SummaryRecord};

use crate::cli::StatArgs;
use crate::cmd::{netns_inode, stat_system};
use crate::collect::{Interval, ProcessCollector};
use crate::{signals, table};

pub fn run(args: &StatArgs) -> anyhow::Result<()> {
    if args.system {
        return stat_system::run(args);
    }
    // Before the probes load: a bad namespace is a usage error, root or not.
    let netns = args.netns.as_deref().map(netns_inode).transpose()?;
    let mut collector = ProcessCollector::start()?;
    let mut system = if args.all {
        Some(stat_system::SystemReporter::new(args)?)
    } else {
        None
    };
    signals::install();

    let period = Duration::from_secs_f64(args.common.interval);
    let start = Instant::now();
    let stdout = std::io::stdout();
    for n in 1u32.. {
        let completed = signals::sleep_until(start + period * n);
        let Interval {
            info,
            mut records,
            sockets,
        } = collector.interval()?;
        if let Some(ns) = netns {
            keep_in_netns(&mut records, &sockets, ns);
        }
        records.retain(|r| selected(args, r));
        let mut out = stdout.lock();
        if args.common.json {
            write_json(&mut out, &records, &info)?;
        } else {
            write_table(&mut out, args, &records, &info, n == 1)?;
        }
        if let Some(sys) = system.as_mut() {
            sys.tick(&info.ts, &mut out)?;
        }
        out.flush().context("writing to stdout")?;
        if !completed || args.common.count.is_some_and(|c| u64::from(n) >= c) {
            break;
        }
    }
    Ok(())
}

/// Keeps the processes that own a socket in network namespace `ns` at the
/// end of the interval. Their counters still cover all their sockets: the
/// kernel side counts per process, not per namespace.
fn keep_in_netns(records: &mut Vec<ProcessRecord>, sockets: &[SocketSnapshot], ns: u32) {
    let pids: HashSet<u32> = sockets
        .iter()
        .filter(|s| s.netns == ns)
        .filter_map(|s| s.owner.as_ref())
        .map(|o| o.key.pid)
        .collect();
    records.retain(|r| pids.contains(&r.pid));
}

fn selected(args: &StatArgs, r: &ProcessRecord) -> bool {
    args.common.procs.matches(r.pid, &r.comm)
}

fn write_json(
    out: &mut dyn Write,
    records: &[ProcessRecord],
    info: &IntervalInfo,
) -> anyhow::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    let summary = SummaryRecord {
        kind: "summary",
        ts: info.ts.clone(),
        lost_events: info.lost_events,
        processes: records.len() as u64,
    };
    serde_json::to_writer(&mut *out, &summary)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn traffic(r: &ProcessRecord) -> u64 {
    r.tcp_tx_bytes + r.tcp_rx_bytes + r.udp_tx_bytes + r.udp_rx_bytes
}

/// Per second over the record's own interval.
fn per_s(v: u64, r: &ProcessRecord) -> String {
    table::bytes(v as f64 / r.interval_s.max(0.001))
}

/// The table: each header with its cell, in display order.
const COLUMNS: [table::Column<ProcessRecord>; 21] = [
    ("PID", |r| r.pid.to_string()),
    ("COMM", |r| r.comm.clone()),
    ("TX/s", |r| per_s(r.tcp_tx_bytes, r)),
    ("RX/s", |r| per_s(r.tcp_rx_bytes, r)),
    ("UDP-TX/s", |r| per_s(r.udp_tx_bytes, r)),
    ("UDP-RX/s", |r| per_s(r.udp_rx_bytes, r)),
    ("CONN", |r| table::count(r.tcp_conns)),
    ("OPEN", |r| {
        table::count(r.tcp_active_opens + r.tcp_passive_opens)
    }),
    ("CLOSE", |r| table::count(r.tcp_closes)),
    ("RETR", |r| table::count(r.tcp_retrans_segs)),
    ("FRTX", |r| table::count(r.tcp_fast_recoveries)),
    ("RTO", |r| table::count(r.tcp_rto_timeouts)),
    ("RST", |r| {
        table::count(r.tcp_resets_sent + r.tcp_resets_received)
    }),
    ("RTT-P50", |r| table::micros(r.tcp_rtt_us_p50)),
    ("RTT-P99", |r| table::micros(r.tcp_rtt_us_p99)),
    ("CWND", |r| table::count(r.tcp_cwnd_avg)),
    ("RWND", |r| table::count(r.tcp_rcv_wnd_avg)),
    ("MSS", |r| table::count(r.tcp_mss_avg)),
    ("INFLT", |r| table::count(r.tcp_in_flight)),
    ("WQ", |r| table::count(r.tcp_write_queue_bytes)),
    ("DUR", |r| table::millis(r.tcp_conn_duration_ms_max)),
];

fn write_table(
    out: &mut dyn Write,
    args: &StatArgs,
    records: &[ProcessRecord],
    info: &IntervalInfo,
    first: bool,
) -> anyhow::Result<()> {
    let mut sorted: Vec<&ProcessRecord> = records.iter().collect();
    sorted.sort_by(|a, b| traffic(b).cmp(&traffic(a)).then(a.pid.cmp(&b.pid)));
    if !first || !args.common.quiet {
        writeln!(out)?;
    }
    let body = table::render_columns(&COLUMNS, sorted.iter().take(args.top).copied(), 2);
    let body = if args.common.quiet {
        body.split_once('\n').map_or("", |(_, rest)| rest)
    } else {
        body.as_str()
    };
    write!(out, "{body}")?;
    let hidden = sorted.len().saturating_sub(args.top);
    writeln!(
        out,
        "-- {}  {} processes{}  interval {:.2}s  lost events {}",
        &info.ts[11..19],
        records.len(),
        if hidden > 0 {
            format!(" ({hidden} not shown)")
        } else {
            String::new()
        },
        info.interval_s,
        info.lost_events
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field distinct, so a cell under the wrong header shows.
    fn record() -> ProcessRecord {
        ProcessRecord {
            kind: "process",
            ts: "2026-11-22T10:00:01.000Z".into(),
            interval_s: 2.0,
            pid: 4242,
            comm: "curl".into(),
            cgroup: "/x.service".into(),
            tcp_tx_bytes: 4096,
            tcp_rx_bytes: 3072,
            tcp_tx_calls: 101,
            tcp_rx_calls: 102,
            tcp_active_opens: 4,
            tcp_passive_opens: 5,
            tcp_closes: 6,
            tcp_connect_failures: 103,
            tcp_resets_sent: 10,
            tcp_resets_received: 11,
            tcp_retrans_segs: 7,
            tcp_synack_retrans: 104,
            tcp_fast_recoveries: 8,
            tcp_rto_timeouts: 9,
            tcp_conns: 3,
            tcp_conn_duration_ms_max: 90_000,
            tcp_rtt_us_avg: 105,
            tcp_rtt_us_min: 106,
            tcp_rtt_us_max: 107,
            tcp_rtt_us_p50: 850,
            tcp_rtt_us_p99: 12_345,
            tcp_cwnd_avg: 13,
            tcp_snd_wnd_avg: 108,
            tcp_rcv_wnd_avg: 14,
            tcp_mss_avg: 1448,
            tcp_in_flight: 16,
            tcp_write_queue_bytes: 17_000,
            udp_tx_bytes: 200,
            udp_rx_bytes: 600,
            udp_tx_packets: 109,
            udp_rx_packets: 110,
            udp_rcvbuf_errors: 111,
            sockets: 112,
            lost_events: 113,
        }
    }

    /// The words of a line with the column each starts at.
    fn words(line: &str) -> Vec<(usize, &str)> {
        let mut pos = 0;
        let mut out = Vec::new();
        for w in line.split(' ') {
            if !w.is_empty() {
                out.push((pos, w));
            }
            pos += w.len() + 1;
        }
        out
    }

    /// The cell under `header`: the same right edge (numbers) or left edge
    /// (PID and COMM, left-aligned).
    fn cell_under<'a>(head: &str, row: &'a str, header: &str) -> &'a str {
        let (start, _) = *words(head)
            .iter()
            .find(|(_, w)| *w == header)
            .unwrap_or_else(|| panic!("no header {header} in {head:?}"));
        let end = start + header.len();
        let left_aligned = ["PID", "COMM"].contains(&header);
        words(row)
            .into_iter()
            .find(|&(at, w)| {
                if left_aligned {
                    at == start
                } else {
                    at + w.len() == end
                }
            })
            .map(|(_, w)| w)
            .unwrap_or_else(|| panic!("nothing under {header}:\n{head}\n{row}"))
    }

    fn socket(pid: u32, netns: u32) -> SocketSnapshot {
        use netsight_events::process::{ProcIdentity, ProcKey, Protocol, TcpState};
        let lo = std::net::IpAddr::from([127, 0, 0, 1]);
        SocketSnapshot {
            owner: (pid != 0).then(|| ProcIdentity {
                key: ProcKey { pid, start_ns: 1 },
                comm: "x".into(),
                cgroup_id: 0,
            }),
            protocol: Protocol::Tcp,
            state: TcpState::Established,
            local: (lo, 1),
            remote: (lo, 2),
            netns,
            established_ns: 1,
            tcp: Default::default(),
            io: Default::default(),
        }
    }

    #[test]
    fn netns_keeps_the_processes_with_a_socket_there() {
        let with_pid = |pid| ProcessRecord { pid, ..record() };
        let mut records = vec![with_pid(10), with_pid(20), with_pid(30), with_pid(40)];
        let sockets = [
            socket(10, 111),
            socket(20, 222),
            // A process with sockets in both namespaces belongs to both.
            socket(30, 111),
            socket(30, 222),
            // No owner: nothing to keep.
            socket(0, 111),
        ];
        keep_in_netns(&mut records, &sockets, 111);
        let pids: Vec<u32> = records.iter().map(|r| r.pid).collect();
        assert_eq!(pids, [10, 30]);
        keep_in_netns(&mut records, &sockets, 333);
        assert!(records.is_empty());
    }

    #[test]
    fn every_column_shows_its_own_field() {
        let r = record();
        let text = table::render_columns(&COLUMNS, [&r, &r], 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let expected = [
            ("PID", "4242"),
            ("COMM", "curl"),
            ("TX/s", "2.0K"),
            ("RX/s", "1.5K"),
            ("UDP-TX/s", "100"),
            ("UDP-RX/s", "300"),
            ("CONN", "3"),
            ("OPEN", "9"),
            ("CLOSE", "6"),
            ("RETR", "7"),
            ("FRTX", "8"),
            ("RTO", "9"),
            ("RST", "21"),
            ("RTT-P50", "850us"),
            ("RTT-P99", "12.3ms"),
            ("CWND", "13"),
            ("RWND", "14"),
            ("MSS", "1448"),
            ("INFLT", "16"),
            ("WQ", "17000"),
            ("DUR", "90s"),
        ];
        assert_eq!(expected.len(), COLUMNS.len(), "a column has no expectation");
        for row in &lines[1..] {
            assert_eq!(
                row.split_whitespace().count(),
                COLUMNS.len(),
                "cells vs headers:\n{text}"
            );
            for (header, value) in expected {
                assert_eq!(
                    cell_under(lines[0], row, header),
                    value,
                    "{header}:\n{text}"
                );
            }
        }
    }
}
