//! `-o image`: a live picture of the path. The local host on the left,
//! the far host on the right, each stage on its lane with the last probe's
//! latency and the run's p99; a stage far above its p99 is a spike (red).

use std::io;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::record::Record;
use super::stages::Stage;
use super::stats::RunStats;
use crate::cmd::top::terminal::{restore, TerminalGuard};

pub struct Screen {
    guard: TerminalGuard,
    target: String,
    last: Option<Record>,
    lost: u64,
}

/// Gives the terminal back (also done on drop and on panic).
pub fn leave() {
    restore();
}

/// A value this many times the stage's median (and 200 us above it) is a
/// spike: the median, not p99, since spikes themselves lift the p99.
const SPIKE_FACTOR: f64 = 3.0;
const SPIKE_MIN_US: f64 = 200.0;

pub fn is_spike(v: f64, median: f64) -> bool {
    v > median * SPIKE_FACTOR && v - median > SPIKE_MIN_US
}

impl Screen {
    pub fn enter(target: &str) -> anyhow::Result<Screen> {
        use std::io::IsTerminal;
        if !io::stdout().is_terminal() {
            anyhow::bail!("-o image needs a terminal on stdout; use -o text or -o json for a pipe");
        }
        Ok(Screen {
            guard: TerminalGuard::enter()?,
            target: target.to_string(),
            last: None,
            lost: 0,
        })
    }

    pub fn probe(&mut self, r: &Record) -> io::Result<()> {
        self.last = Some(r.clone());
        Ok(())
    }

    pub fn lost(&mut self) -> io::Result<()> {
        self.lost += 1;
        Ok(())
    }

    pub fn draw(&mut self, stats: &RunStats) -> io::Result<()> {
        let lines = picture(&self.target, self.last.as_ref(), stats, self.lost);
        self.guard.terminal.draw(|f| {
            let block = Block::bordered().title(" netsight ping (Ctrl-C quits) ");
            f.render_widget(Paragraph::new(lines).block(block), f.area());
        })?;
        Ok(())
    }
}

/// Where each stage sits: on which host, in which direction.
fn lane(s: Stage) -> &'static str {
    match s {
        Stage::Total => "round trip",
        Stage::TxUser => "local  user->kernel",
        Stage::TxQdisc => "local  qdisc",
        Stage::TxDriver => "local  driver",
        Stage::Outlink => "wire   -->",
        Stage::RemoteRx => "remote dev->icmp",
        Stage::RemoteTx => "remote icmp->dev",
        Stage::Inlink => "wire   <--",
        Stage::RxSoftirq => "local  softirq",
        Stage::RxStack => "local  stack",
        Stage::RxWakeup => "local  wake-up",
        Stage::RxQueue => "local  run queue",
    }
}

/// The picture as text lines (kept apart from the terminal for tests).
pub fn picture(
    target: &str,
    last: Option<&Record>,
    stats: &RunStats,
    lost: u64,
) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(format!(
            " [ this host ] ==== veth/wire ==== [ {target} ]    sent {}  replied {}  lost {}",
            stats.sent,
            stats.replied,
            stats.lost().max(lost)
        )),
        Line::from(format!(
            " seq {}   us: last / p99 (~ stand-in bound; links: excess over the smallest seen)",
            last.map_or("-".into(), |r| r.seq.to_string())
        )),
        Line::from(""),
    ];
    for s in Stage::ALL {
        let sum = stats.stage(s);
        let seen = sum.count() > 0;
        let p99v = seen.then(|| sum.quantile(0.99));
        let median = seen.then(|| sum.quantile(0.5));
        let now = last.and_then(|r| r.values[s as usize]);
        let spike = matches!((now, median), (Some(n), Some(m)) if is_spike(n, m));
        let bar_len = now
            .map_or(0, |v| ((v.max(1.0)).log10() * 8.0) as usize)
            .min(48);
        let style = if spike {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(Color::Green)
        };
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        lines.push(Line::from(vec![
            Span::raw(format!(" {:<20} {:<11}", lane(s), s.name())),
            Span::raw(format!(
                "{:>10}{} / {:>10} ",
                fmt(now),
                if s.proxy() { "~" } else { " " },
                fmt(p99v)
            )),
            Span::styled("#".repeat(bar_len), style),
            Span::styled(if spike { " SPIKE" } else { "" }, style),
        ]));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn record(seq: u32, total: f64, stack: f64) -> Record {
        let mut values = [None; 12];
        values[Stage::Total as usize] = Some(total);
        values[Stage::RxStack as usize] = Some(stack);
        values[Stage::RemoteRx as usize] = Some(9.0);
        Record {
            seq,
            wall: SystemTime::UNIX_EPOCH,
            values,
            path: None,
            remote_userid: None,
        }
    }

    fn text(lines: &[Line]) -> String {
        lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_picture_names_every_stage_and_marks_a_spike() {
        let mut stats = RunStats::default();
        for i in 0..50 {
            let r = record(i, 100.0, 3.0);
            stats.add(&r.values);
        }
        let spike = record(51, 20_100.0, 20_000.0);
        stats.add(&spike.values);
        let t = text(&picture("10.77.0.2", Some(&spike), &stats, 0));
        for s in Stage::ALL {
            assert!(t.contains(s.name()), "{} missing:\n{t}", s.name());
        }
        let stack = t.lines().find(|l| l.contains("rx_stack")).unwrap();
        assert!(stack.contains("SPIKE"), "{stack}");
        let remote = t.lines().find(|l| l.contains("remote_rx")).unwrap();
        assert!(
            remote.contains("9.0~") && !remote.contains("SPIKE"),
            "{remote}"
        );
        assert!(t.contains("sent 0"), "{t}");
    }
}
