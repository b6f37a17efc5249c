//! `netsight stat`: per-process metrics every interval (SPEC §3), as a table
//! or JSON Lines; `--system` hands over to the host-wide view, `--all` runs
//! both on one clock.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use netsight_events::process::{IntervalInfo, ProcessRecord, SummaryRecord};

use crate::cli::StatArgs;
use crate::cmd::stat_system;
use crate::collect::{Interval, ProcessCollector};
use crate::{signals, table};

pub fn run(args: &StatArgs) -> anyhow::Result<()> {
    if args.system {
        return stat_system::run(args);
    }
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
            info, mut records, ..
        } = collector.interval()?;
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

const HEADER: [&str; 19] = [
    "PID", "COMM", "TX/s", "RX/s", "UDP-TX/s", "UDP-RX/s", "CONN", "OPEN", "CLOSE", "RETR", "FRTX",
    "RTO", "RST", "RTT-P50", "RTT-P99", "CWND", "RWND", "INFLT", "WQ",
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
    let per_s = |v: u64| table::bytes(v as f64 / info.interval_s.max(0.001));
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .take(args.top)
        .map(|r| {
            vec![
                r.pid.to_string(),
                r.comm.clone(),
                per_s(r.tcp_tx_bytes),
                per_s(r.tcp_rx_bytes),
                per_s(r.udp_tx_bytes),
                per_s(r.udp_rx_bytes),
                table::count(r.tcp_conns),
                table::count(r.tcp_active_opens + r.tcp_passive_opens),
                table::count(r.tcp_closes),
                table::count(r.tcp_retrans_segs),
                table::count(r.tcp_fast_recoveries),
                table::count(r.tcp_rto_timeouts),
                table::count(r.tcp_resets_sent + r.tcp_resets_received),
                table::micros(r.tcp_rtt_us_p50),
                table::micros(r.tcp_rtt_us_p99),
                table::count(r.tcp_cwnd_avg),
                table::count(r.tcp_rcv_wnd_avg),
                table::count(r.tcp_mss_avg),
                table::count(r.tcp_in_flight),
                table::count(r.tcp_write_queue_bytes),
                table::millis(r.tcp_conn_duration_ms_max),
            ]
        })
        .collect();
    if !first || !args.common.quiet {
        writeln!(out)?;
    }
    let body = table::render(&HEADER, &rows, 2);
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
