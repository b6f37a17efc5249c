//! `--svg FILE`: the whole run as one chart. One stacked bar per probe
//! (each stage its colour, bottom to top in path order), spikes marked
//! with a red tick above their bar, lost probes as grey ticks below.

use std::fmt::Write as _;

use super::image::is_spike;
use super::record::Record;
use super::stages::Stage;

/// Probes kept for the chart; past this, neighbours are merged (the one
/// with the larger total stays), so memory stays bounded on long runs.
const MAX_BARS: usize = 4096;

const COLORS: [&str; 11] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#6a3d9a",
];

#[derive(Default)]
pub struct Chart {
    bars: Vec<(u32, [f64; 11], bool)>,
    lost: Vec<u32>,
    /// `-m`: a probe above it is a spike, whatever its stages' p99.
    threshold_us: Option<f64>,
}

/// The stages that add up along the path (all but total).
fn parts() -> impl Iterator<Item = Stage> {
    Stage::ALL.into_iter().skip(1)
}

impl Chart {
    pub fn new(threshold_us: Option<f64>) -> Chart {
        Chart {
            threshold_us,
            ..Chart::default()
        }
    }

    pub fn add(&mut self, r: &Record) {
        let mut v = [0.0; 11];
        for (i, s) in parts().enumerate() {
            v[i] = r.values[s as usize].unwrap_or(0.0);
        }
        self.bars.push((r.seq, v, false));
        if self.bars.len() > MAX_BARS {
            let merged = self
                .bars
                .chunks(2)
                .map(|c| {
                    let sum = |b: &(u32, [f64; 11], bool)| b.1.iter().sum::<f64>();
                    *c.iter()
                        .max_by(|a, b| sum(a).total_cmp(&sum(b)))
                        .unwrap_or(&c[0])
                })
                .collect();
            self.bars = merged;
        }
    }

    pub fn lost(&mut self, seq: u32) {
        if self.lost.len() < MAX_BARS {
            self.lost.push(seq);
        }
    }

    pub fn render(&mut self) -> String {
        let (w, h, left, top, bottom) = (1000.0, 480.0, 70.0, 40.0, 60.0);
        let plot_w = w - left - 180.0;
        let plot_h = h - top - bottom;
        let totals: Vec<f64> = self.bars.iter().map(|b| b.1.iter().sum()).collect();
        let mut sorted = totals.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(1.0);
        let ymax = sorted.last().copied().unwrap_or(1.0).max(1.0) * 1.1;
        for (b, t) in self.bars.iter_mut().zip(&totals) {
            b.2 = is_spike(*t, median) || self.threshold_us.is_some_and(|m| *t > m);
        }
        let first = self.bars.first().map_or(0, |b| b.0);
        let last = self.bars.last().map_or(1, |b| b.0).max(first + 1);
        let bw = (plot_w / self.bars.len().max(1) as f64).clamp(1.0, 20.0);
        let span = plot_w - bw;
        let x = |seq: u32| left + span * f64::from(seq - first.min(seq)) / f64::from(last - first);
        let y = |v: f64| top + plot_h - plot_h * (v / ymax);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="22" font-size="15">netsight ping: latency per stage (us), stacked, per probe; red ticks: spikes</text>"#
        );
        for i in 0..=5 {
            let v = ymax * f64::from(i) / 5.0;
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
                left + plot_w,
                left - 6.0,
                yy + 4.0
            );
        }
        for (seq, v, spike) in &self.bars {
            let mut base = 0.0;
            let xx = x(*seq);
            for (i, part) in v.iter().enumerate() {
                if *part <= 0.0 {
                    continue;
                }
                let (y0, y1) = (y(base), y(base + part));
                let _ = writeln!(
                    s,
                    r#"<rect x="{xx:.1}" y="{y1:.1}" width="{bw:.1}" height="{:.1}" fill="{}"/>"#,
                    (y0 - y1).max(0.1),
                    COLORS[i]
                );
                base += part;
            }
            if *spike {
                let _ = writeln!(
                    s,
                    r#"<path d="M{:.1},{:.1} l-5,-10 h10 z" fill="red"><title>seq {seq}: {base:.0} us</title></path>"#,
                    xx + bw / 2.0,
                    y(base) - 2.0
                );
            }
        }
        for seq in &self.lost {
            let xx = x(*seq);
            let _ = writeln!(
                s,
                r#"<rect x="{xx:.1}" y="{:.1}" width="2" height="8" fill="grey"><title>seq {seq} lost</title></rect>"#,
                top + plot_h + 4.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">probe seq {first} .. {last}; spikes: total over 3x the median ({median:.0} us){}</text>"#,
            left + plot_w / 2.0,
            h - 20.0,
            self.threshold_us
                .map_or(String::new(), |m| format!(" or over -m {m:.0} us"))
        );
        let _ = writeln!(
            s,
            r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">us</text>"#,
            top + plot_h / 2.0,
            top + plot_h / 2.0
        );
        for i in 0..=4u32 {
            let seq = first + (last - first) * i / 4;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{seq}</text>"#,
                x(seq),
                top + plot_h + 26.0
            );
        }
        for (i, st) in parts().enumerate() {
            let ly = top + 18.0 * i as f64;
            let lx = left + plot_w + 20.0;
            let mark = if st.proxy() {
                " (stand-in)"
            } else if st.baseline_relative() {
                " (excess)"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}{mark}</text>"#,
                COLORS[i],
                lx + 18.0,
                ly + 11.0,
                st.name()
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn the_chart_stacks_every_probe_and_marks_only_the_spike() {
        let mut chart = Chart::new(None);
        for seq in 1..=40u32 {
            let mut values = [None; 12];
            let stack = if seq == 20 { 5_000.0 } else { 3.0 };
            values[Stage::TxUser as usize] = Some(40.0);
            values[Stage::RxStack as usize] = Some(stack);
            chart.add(&Record {
                seq,
                wall: SystemTime::UNIX_EPOCH,
                values,
                path: None,
                remote_userid: None,
            });
        }
        chart.lost(41);
        let svg = chart.render();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("fill=\"red\"").count(), 1, "one spike");
        assert!(svg.contains("seq 20:"));
        assert!(svg.contains("seq 41 lost"));
    }
}
