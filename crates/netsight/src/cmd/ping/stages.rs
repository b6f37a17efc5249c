//! SPEC §9's stages: which two events bound each, and their values for one
//! probe. A stage with an endpoint unseen (or out of order) is `None`,
//! never a guess.

use netsight_bpf::probes::ping::{Kind, Point};

/// Where each point of one packet was seen (monotonic ns, one host).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Points {
    ts: [Option<u64>; Point::ALL.len()],
}

fn slot(p: Point) -> usize {
    Point::ALL.iter().position(|q| *q == p).unwrap_or(0)
}

impl Points {
    pub fn get(&self, p: Point) -> Option<u64> {
        self.ts[slot(p)]
    }

    /// Keeps the first sighting of a point (a packet crossing several
    /// devices of one namespace is timed where it first appears).
    pub fn first(&mut self, p: Point, ts: u64) {
        self.ts[slot(p)].get_or_insert(ts);
    }

    #[cfg(test)]
    pub fn set(&mut self, p: Point, ts: u64) {
        self.ts[slot(p)] = Some(ts);
    }
}

/// One host's view of the two packets of a probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostView {
    pub echo: Points,
    pub reply: Points,
}

impl HostView {
    pub fn of(&mut self, kind: Kind) -> &mut Points {
        match kind {
            Kind::Echo => &mut self.echo,
            Kind::Reply => &mut self.reply,
        }
    }
}

/// Everything measured about one probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// User-space clock right before sendto.
    pub user_tx: u64,
    /// User-space clock right after the kernel's reply was read.
    pub user_rx: Option<u64>,
    pub local: HostView,
    /// The far host's view (its own clock), from the server's reply.
    pub remote: Option<HostView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Total,
    TxUser,
    TxQdisc,
    TxDriver,
    Outlink,
    RemoteRx,
    RemoteTx,
    Inlink,
    RxSoftirq,
    RxStack,
    RxWakeup,
    RxQueue,
}

impl Stage {
    /// In path order, as every output lists them.
    pub const ALL: [Stage; 12] = [
        Stage::Total,
        Stage::TxUser,
        Stage::TxQdisc,
        Stage::TxDriver,
        Stage::Outlink,
        Stage::RemoteRx,
        Stage::RemoteTx,
        Stage::Inlink,
        Stage::RxSoftirq,
        Stage::RxStack,
        Stage::RxWakeup,
        Stage::RxQueue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Total => "total",
            Stage::TxUser => "tx_user",
            Stage::TxQdisc => "tx_qdisc",
            Stage::TxDriver => "tx_driver",
            Stage::Outlink => "outlink",
            Stage::RemoteRx => "remote_rx",
            Stage::RemoteTx => "remote_tx",
            Stage::Inlink => "inlink",
            Stage::RxSoftirq => "rx_softirq",
            Stage::RxStack => "rx_stack",
            Stage::RxWakeup => "rx_wakeup",
            Stage::RxQueue => "rx_queue",
        }
    }

    /// The events that start and end the stage.
    pub fn bounds(self) -> (&'static str, &'static str) {
        match self {
            Stage::Total => (
                "clock before sendto",
                "clock after recv of the kernel's reply",
            ),
            Stage::TxUser => ("clock before sendto", "echo net:net_dev_queue"),
            Stage::TxQdisc => ("echo net:net_dev_queue", "echo net:net_dev_start_xmit"),
            Stage::TxDriver => ("echo net:net_dev_start_xmit", "echo net:net_dev_xmit"),
            Stage::Outlink => (
                "echo net:net_dev_xmit (local)",
                "echo net:netif_receive_skb (remote); excess over the smallest seen",
            ),
            Stage::RemoteRx => (
                "echo net:netif_receive_skb (remote)",
                "echo sock:sk_data_ready of the server's raw socket (stands in for icmp_rcv)",
            ),
            Stage::RemoteTx => (
                "echo sock:sk_data_ready of the server's raw socket (stands in for icmp_rcv)",
                "reply net:net_dev_xmit (remote)",
            ),
            Stage::Inlink => (
                "reply net:net_dev_xmit (remote)",
                "reply net:netif_receive_skb (local); excess over the smallest seen",
            ),
            Stage::RxSoftirq => (
                "last irq:softirq_raise(NET_RX) on the CPU",
                "reply net:netif_receive_skb",
            ),
            Stage::RxStack => ("reply net:netif_receive_skb", "reply sock:sk_data_ready"),
            Stage::RxWakeup => (
                "reply sock:sk_data_ready",
                "sched:sched_wakeup of the receiver",
            ),
            Stage::RxQueue => (
                "sched:sched_wakeup (sk_data_ready if the receiver was awake)",
                "clock after recv",
            ),
        }
    }

    /// Bounded by a stand-in: no tracepoint marks the ICMP handler.
    pub fn proxy(self) -> bool {
        matches!(self, Stage::RemoteRx | Stage::RemoteTx)
    }

    /// Relative to the best value seen (the two hosts' clocks differ).
    pub fn baseline_relative(self) -> bool {
        matches!(self, Stage::Outlink | Stage::Inlink)
    }

    /// The BPF points the stage needs on the local host (for doctor).
    pub fn local_points(self) -> &'static [Point] {
        match self {
            Stage::Total => &[],
            Stage::TxUser => &[Point::Queue],
            Stage::TxQdisc => &[Point::Queue, Point::StartXmit],
            Stage::TxDriver => &[Point::StartXmit, Point::Xmit],
            Stage::Outlink => &[Point::Xmit, Point::Recv],
            Stage::RemoteRx => &[Point::Recv, Point::DataReady],
            Stage::RemoteTx => &[Point::DataReady, Point::Xmit],
            Stage::Inlink => &[Point::Xmit, Point::Recv],
            Stage::RxSoftirq => &[Point::Softirq, Point::Recv],
            Stage::RxStack => &[Point::Recv, Point::DataReady],
            Stage::RxWakeup => &[Point::DataReady, Point::Wakeup],
            Stage::RxQueue => &[Point::DataReady, Point::Wakeup],
        }
    }
}

/// end - start in microseconds, if both were seen and in order.
fn span(start: Option<u64>, end: Option<u64>) -> Option<f64> {
    let (s, e) = (start?, end?);
    (e >= s).then(|| (e - s) as f64 / 1000.0)
}

/// A cross-host difference (clocks differ: may be negative; only its
/// excess over the minimum is shown).
fn cross(start: Option<u64>, end: Option<u64>) -> Option<f64> {
    Some((end? as i128 - start? as i128) as f64 / 1000.0)
}

/// Every stage's value for one probe; outlink/inlink are raw cross-clock
/// differences here (see [`Baselines`]).
pub fn compute(s: &Sample) -> [Option<f64>; 12] {
    let l = &s.local;
    let rx = &l.reply;
    let data_ready = rx.get(Point::DataReady);
    // A wake-up counts only between the data being ready and the read.
    let wakeup = rx
        .get(Point::Wakeup)
        .filter(|w| data_ready.is_some_and(|d| *w >= d) && s.user_rx.is_none_or(|u| *w <= u));
    let r = s.remote.as_ref();
    let r_echo = |p| r.and_then(|v| v.echo.get(p));
    let r_reply = |p| r.and_then(|v| v.reply.get(p));
    Stage::ALL.map(|stage| match stage {
        Stage::Total => span(Some(s.user_tx), s.user_rx),
        Stage::TxUser => span(Some(s.user_tx), l.echo.get(Point::Queue)),
        Stage::TxQdisc => span(l.echo.get(Point::Queue), l.echo.get(Point::StartXmit)),
        Stage::TxDriver => span(l.echo.get(Point::StartXmit), l.echo.get(Point::Xmit)),
        Stage::Outlink => cross(l.echo.get(Point::Xmit), r_echo(Point::Recv)),
        Stage::RemoteRx => span(r_echo(Point::Recv), r_echo(Point::DataReady)),
        Stage::RemoteTx => span(r_echo(Point::DataReady), r_reply(Point::Xmit)),
        Stage::Inlink => cross(r_reply(Point::Xmit), rx.get(Point::Recv)),
        Stage::RxSoftirq => span(rx.get(Point::Softirq), rx.get(Point::Recv)),
        Stage::RxStack => span(rx.get(Point::Recv), data_ready),
        Stage::RxWakeup => span(data_ready, wakeup),
        Stage::RxQueue => span(wakeup.or(data_ready), s.user_rx),
    })
}

/// The smallest outlink and inlink seen so far: the baselines their
/// excess is measured from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Baselines {
    outlink: Option<f64>,
    inlink: Option<f64>,
}

impl Baselines {
    /// Takes a probe's raw values into the baselines and turns its
    /// outlink/inlink into excess over them.
    pub fn apply(&mut self, v: &mut [Option<f64>; 12]) {
        for (stage, min) in [
            (Stage::Outlink, &mut self.outlink),
            (Stage::Inlink, &mut self.inlink),
        ] {
            let i = stage as usize;
            if let Some(x) = v[i] {
                let m = min.map_or(x, |m: f64| m.min(x));
                *min = Some(m);
                v[i] = Some(x - m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_come_from_their_bounding_points_and_unseen_ones_are_none() {
        let mut s = Sample {
            user_tx: 1_000,
            user_rx: Some(100_000),
            ..Sample::default()
        };
        s.local.echo.set(Point::Queue, 3_000);
        s.local.echo.set(Point::StartXmit, 13_000);
        s.local.reply.set(Point::Recv, 50_000);
        s.local.reply.set(Point::DataReady, 52_000);
        s.local.reply.set(Point::Wakeup, 200_000); // after the read: ignored
        let v = compute(&s);
        assert_eq!(v[Stage::Total as usize], Some(99.0));
        assert_eq!(v[Stage::TxUser as usize], Some(2.0));
        assert_eq!(v[Stage::TxQdisc as usize], Some(10.0));
        assert_eq!(v[Stage::TxDriver as usize], None);
        assert_eq!(v[Stage::RxWakeup as usize], None);
        assert_eq!(v[Stage::RxQueue as usize], Some(48.0));
        assert_eq!(v[Stage::RemoteRx as usize], None);
        assert_eq!(v[Stage::Outlink as usize], None);
    }

    #[test]
    fn links_are_excess_over_the_smallest_seen() {
        let mut b = Baselines::default();
        let mut first = [None; 12];
        first[Stage::Outlink as usize] = Some(-500.0);
        b.apply(&mut first);
        assert_eq!(first[Stage::Outlink as usize], Some(0.0));
        let mut second = [None; 12];
        second[Stage::Outlink as usize] = Some(-480.0);
        b.apply(&mut second);
        assert_eq!(second[Stage::Outlink as usize], Some(20.0));
    }
}
