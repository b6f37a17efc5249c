//! `-n`: the stages inside the network namespaces of this host. Each probe
//! packet (the echo, then the reply) is followed through the namespaces it
//! was seen in, in time order: how long it stayed in each (first to last
//! sighting there) and how long the crossing to the next took (a veth pair,
//! a bridge). All sightings are on this host's one clock, so these are
//! real durations, not excesses.

use netsight_bpf::probes::ping::{Hit, Kind, Point};
use serde_json::{json, Value};

use super::stats::Summary;

/// One packet's stay in one namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub packet: Kind,
    pub netns: u32,
    /// The device it was first seen on there (0: a socket).
    pub ifindex: u32,
    pub first: Point,
    pub last: Point,
    /// First to last sighting in this namespace.
    pub inside_us: f64,
    /// From the last sighting here to the first in the next namespace.
    pub to_next_us: Option<f64>,
}

fn packet_name(k: Kind) -> &'static str {
    match k {
        Kind::Echo => "echo",
        Kind::Reply => "reply",
    }
}

/// The visits of a probe's packets, from its sightings in time order. A
/// namespace's sightings of one packet make one visit even when another
/// namespace's interleave: a veth hands the packet to the peer's backlog,
/// which another CPU may process before the sender's `net_dev_xmit` fires.
/// The crossing runs from the last sighting here before the packet showed
/// up there. The NET_RX softirq raise is left out: it is stamped when the
/// interrupt that later led to the receive was raised (often the one that
/// delivered the other packet), not when this packet was anywhere.
pub fn visits(path: &[Hit]) -> Vec<Visit> {
    let mut out = Vec::new();
    for packet in [Kind::Echo, Kind::Reply] {
        let hits: Vec<&Hit> = path
            .iter()
            .filter(|h| h.kind == packet && h.point != Point::Softirq)
            .collect();
        let mut order: Vec<u32> = Vec::new();
        for h in &hits {
            if !order.contains(&h.netns) {
                order.push(h.netns);
            }
        }
        for (i, &netns) in order.iter().enumerate() {
            let here: Vec<&Hit> = hits.iter().copied().filter(|h| h.netns == netns).collect();
            let (Some(first), Some(last)) = (here.first(), here.last()) else {
                continue;
            };
            let to_next_us = order.get(i + 1).and_then(|next| {
                let arrived = hits.iter().find(|h| h.netns == *next)?.ts_ns;
                let left = here.iter().rev().find(|h| h.ts_ns <= arrived)?.ts_ns;
                Some((arrived - left) as f64 / 1000.0)
            });
            out.push(Visit {
                packet,
                netns,
                ifindex: here
                    .iter()
                    .map(|h| h.ifindex)
                    .find(|&i| i != 0)
                    .unwrap_or(0),
                first: first.point,
                last: last.point,
                inside_us: (last.ts_ns - first.ts_ns) as f64 / 1000.0,
                to_next_us,
            });
        }
    }
    out
}

pub fn visits_json(visits: &[Visit]) -> Value {
    visits
        .iter()
        .map(|v| {
            json!({
                "packet": packet_name(v.packet),
                "netns": v.netns,
                "ifindex": v.ifindex,
                "from": v.first.event(),
                "to": v.last.event(),
                "inside_us": (v.inside_us * 10.0).round() / 10.0,
                "to_next_us": v.to_next_us.map(|u| (u * 10.0).round() / 10.0),
            })
        })
        .collect()
}

/// "echo 4026531840 3.1 +12.0 > 4026532210 0.4 | reply ...": one line.
pub fn visits_text(visits: &[Visit]) -> String {
    let mut s = String::new();
    for (i, v) in visits.iter().enumerate() {
        let new_packet = i == 0 || visits[i - 1].packet != v.packet;
        if new_packet {
            if i > 0 {
                s.push_str(" | ");
            }
            s.push_str(packet_name(v.packet));
        }
        s.push_str(&format!(" ns {} {:.1}", v.netns, v.inside_us));
        if let Some(t) = v.to_next_us {
            s.push_str(&format!(" >{t:.1}>"));
        }
    }
    s
}

/// Per (packet, namespace), over the run: time inside and crossing on.
#[derive(Debug, Clone, Default)]
pub struct HopStats {
    /// In order of first appearance.
    rows: Vec<HopRow>,
}

#[derive(Debug, Clone)]
pub struct HopRow {
    pub packet: Kind,
    pub netns: u32,
    pub inside: Summary,
    pub to_next: Summary,
}

impl HopStats {
    pub fn add(&mut self, visits: &[Visit]) {
        for v in visits {
            let i = match self
                .rows
                .iter()
                .position(|r| r.packet == v.packet && r.netns == v.netns)
            {
                Some(i) => i,
                None => {
                    self.rows.push(HopRow {
                        packet: v.packet,
                        netns: v.netns,
                        inside: Summary::default(),
                        to_next: Summary::default(),
                    });
                    self.rows.len() - 1
                }
            };
            let row = &mut self.rows[i];
            row.inside.add(v.inside_us);
            if let Some(t) = v.to_next_us {
                row.to_next.add(t);
            }
        }
    }

    pub fn rows(&self) -> &[HopRow] {
        &self.rows
    }

    pub fn json(&self) -> Value {
        self.rows
            .iter()
            .map(|r| {
                json!({
                    "packet": packet_name(r.packet),
                    "netns": r.netns,
                    "inside_us": r.inside.json(),
                    "to_next_us": r.to_next.json(),
                })
            })
            .collect()
    }
}

/// The `-n` table of the text summary.
pub fn text_table(out: &mut dyn std::io::Write, hops: &HopStats) -> std::io::Result<()> {
    if hops.rows().is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{:<6} {:>12} {:>10} {:>10} {:>10} {:>10}   {:>10} {:>10}",
        "packet", "netns", "in min", "in avg", "in max", "in p99", "next avg", "next max"
    )?;
    for r in hops.rows() {
        let next = |f: fn(&Summary) -> f64| {
            if r.to_next.count() == 0 {
                "-".to_string()
            } else {
                format!("{:.1}", f(&r.to_next))
            }
        };
        writeln!(
            out,
            "{:<6} {:>12} {:>10.1} {:>10.1} {:>10.1} {:>10.1}   {:>10} {:>10}",
            packet_name(r.packet),
            r.netns,
            r.inside.min(),
            r.inside.avg(),
            r.inside.max(),
            r.inside.quantile(0.99),
            next(Summary::avg),
            next(Summary::max),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(us: u64, kind: Kind, netns: u32, point: Point) -> Hit {
        Hit {
            ts_ns: us * 1000,
            id: 1,
            seq: 1,
            netns,
            ifindex: 3,
            cpu: 0,
            point,
            kind,
        }
    }

    #[test]
    fn a_packet_is_followed_namespace_by_namespace() {
        let path = [
            hit(0, Kind::Echo, 1, Point::Queue),
            hit(5, Kind::Echo, 1, Point::Xmit),
            hit(8, Kind::Echo, 2, Point::Recv),
            hit(10, Kind::Reply, 2, Point::Queue),
            hit(30, Kind::Reply, 2, Point::Xmit),
            hit(31, Kind::Reply, 1, Point::Recv),
            hit(35, Kind::Reply, 1, Point::DataReady),
        ];
        let v = visits(&path);
        let got: Vec<(Kind, u32, f64, Option<f64>)> = v
            .iter()
            .map(|v| (v.packet, v.netns, v.inside_us, v.to_next_us))
            .collect();
        assert_eq!(
            got,
            [
                (Kind::Echo, 1, 5.0, Some(3.0)),
                (Kind::Echo, 2, 0.0, None),
                (Kind::Reply, 2, 20.0, Some(1.0)),
                (Kind::Reply, 1, 4.0, None),
            ]
        );
        assert_eq!(v[2].first, Point::Queue);
        assert_eq!(v[2].last, Point::Xmit);
        let mut stats = HopStats::default();
        stats.add(&v);
        stats.add(&v);
        assert_eq!(stats.rows().len(), 4);
        assert_eq!(stats.rows()[2].inside.count(), 2);
        assert_eq!(
            visits_text(&v),
            "echo ns 1 5.0 >3.0> ns 2 0.0 | reply ns 2 20.0 >1.0> ns 1 4.0"
        );
    }

    #[test]
    fn the_peer_receiving_before_the_sender_s_xmit_is_one_crossing() {
        let path = [
            hit(0, Kind::Echo, 1, Point::Queue),
            hit(2, Kind::Echo, 2, Point::Softirq),
            hit(3, Kind::Echo, 1, Point::StartXmit),
            hit(7, Kind::Echo, 2, Point::Recv),
            hit(8, Kind::Echo, 1, Point::Xmit),
            hit(9, Kind::Echo, 2, Point::DataReady),
        ];
        let v = visits(&path);
        let got: Vec<(u32, f64, Option<f64>)> = v
            .iter()
            .map(|v| (v.netns, v.inside_us, v.to_next_us))
            .collect();
        assert_eq!(got, [(1, 8.0, Some(4.0)), (2, 2.0, None)]);
        assert_eq!(v[0].last, Point::Xmit);
    }
}
