//! `netsight ping -s`: the far host. Its kernel answers each probe as
//! usual; this then sends a second reply (flag DONTADD) carrying this
//! host's timestamps of that probe: the echo's receive and raw-socket
//! delivery, the kernel reply's queue, driver and transmit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use netsight_bpf::probes::ping::{Kind, Options, PingProbe, Point};

use std::net::IpAddr;

use super::packet::{self, Entry, Family};
use super::socket::{own_netns, RawIcmp};
use super::stages::HostView;
use crate::signals;

/// How long to wait for the kernel's reply to leave before answering.
const REPLY_WAIT: Duration = Duration::from_millis(20);
/// Sightings kept for probes not yet answered (bounded memory).
const MAX_TRACKED: usize = 4096;
const FORGET_AFTER: Duration = Duration::from_secs(5);

/// The points the server reports, in order.
const REPORTED: [(Kind, Point); 5] = [
    (Kind::Echo, Point::Recv),
    (Kind::Echo, Point::DataReady),
    (Kind::Reply, Point::Queue),
    (Kind::Reply, Point::StartXmit),
    (Kind::Reply, Point::Xmit),
];

struct Seen {
    view: HostView,
    ifindex: u32,
    at: Instant,
}

pub fn run(userid: u16, count: Option<u64>) -> anyhow::Result<()> {
    let v4 = RawIcmp::open(Family::V4, Family::V4.echo_type())
        .context("opening a raw ICMP socket (needs root or CAP_NET_RAW)")?;
    // A host without IPv6 is served over IPv4 alone.
    let v6 = RawIcmp::open(Family::V6, Family::V6.echo_type()).ok();
    let netns = own_netns();
    // Probes may come at any time: ungated. The softirq raise serves only
    // the client's rx_softirq.
    let opts = Options {
        no_softirq: true,
        ..Options::default()
    };
    let mut probe = PingProbe::load(&opts).context("loading the ping probe")?;
    for r in probe.refused() {
        eprintln!(
            "netsight: {} {}: the stages it bounds are not reported",
            r.program, r.reason
        );
    }
    eprintln!(
        "netsight: ping server ready (answering netsight probes with this host's timestamps)"
    );
    let mut seen: HashMap<(u32, u32), Seen> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut answered = 0u64;
    let sockets: Vec<(&RawIcmp, Family)> = std::iter::once((&v4, Family::V4))
        .chain(v6.as_ref().map(|s| (s, Family::V6)))
        .collect();
    while !signals::stop_requested() && count.is_none_or(|c| answered < c) {
        for (sock, family) in &sockets {
            let got = sock.recv(&mut buf, Duration::from_millis(25))?;
            absorb(&mut probe, &mut seen, netns)?;
            if let Some((n, src)) = got {
                if answer(
                    sock,
                    *family,
                    &buf[..n],
                    src,
                    userid,
                    &mut probe,
                    &mut seen,
                    netns,
                )? {
                    answered += 1;
                }
            }
        }
    }
    Ok(())
}

/// Sends the second reply to one probe; false if `bytes` was not a probe.
#[allow(clippy::too_many_arguments)]
fn answer(
    sock: &RawIcmp,
    family: Family,
    bytes: &[u8],
    src: IpAddr,
    userid: u16,
    probe: &mut PingProbe,
    seen: &mut HashMap<(u32, u32), Seen>,
    netns: u32,
) -> anyhow::Result<bool> {
    let Some(p) = packet::parse_datagram(bytes, family) else {
        return Ok(false);
    };
    if p.reply || p.compact {
        return Ok(false);
    }
    let key = (p.id, p.seq);
    let deadline = Instant::now() + REPLY_WAIT;
    while Instant::now() < deadline
        && seen
            .get(&key)
            .is_none_or(|s| s.view.reply.get(Point::Xmit).is_none())
    {
        std::thread::sleep(Duration::from_micros(500));
        absorb(probe, seen, netns)?;
    }
    let entries: Vec<Entry> = seen.remove(&key).map_or(Vec::new(), |s| {
        REPORTED
            .iter()
            .filter_map(|(kind, point)| {
                let view = match kind {
                    Kind::Echo => &s.view.echo,
                    Kind::Reply => &s.view.reply,
                };
                Some(Entry {
                    point: *point,
                    kind: *kind,
                    ifindex: s.ifindex,
                    ts_ns: view.get(*point)?,
                })
            })
            .collect()
    });
    let Some(msg) = packet::icmp_message(bytes, family) else {
        return Ok(false);
    };
    let Some(reply) = packet::compact_reply(msg, userid, &entries, family) else {
        return Ok(false);
    };
    // A send error (no route back) costs this answer only.
    let _ = sock.send_to(&reply, src);
    Ok(true)
}

/// Takes this namespace's sightings from the ring into `seen`.
fn absorb(
    probe: &mut PingProbe,
    seen: &mut HashMap<(u32, u32), Seen>,
    netns: u32,
) -> anyhow::Result<()> {
    let now = Instant::now();
    for h in probe.poll(Duration::ZERO)? {
        if h.netns != netns {
            continue;
        }
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, s| now - s.at < FORGET_AFTER);
            if seen.len() >= MAX_TRACKED {
                continue;
            }
        }
        let s = seen.entry((h.id, h.seq)).or_insert(Seen {
            view: HostView::default(),
            ifindex: h.ifindex,
            at: now,
        });
        s.view.of(h.kind).first(h.point, h.ts_ns);
    }
    Ok(())
}
