//! The chart table of seeds/000 §2.1.2 (netdata chart ids), each dimension
//! mapped to the kernel counter it is computed from.
//!
//! Units are the seed's, with `/s` added where the seed left the time base
//! out of a rate (`connections` -> `connections/s`), so a reader never
//! mistakes a per-second rate for a count. `ipv4.tcpbytes` has no /proc
//! counter; it comes from sock_diag `tcp_info` (see `tcp_bytes.rs`).

/// Per-second rate of a counter, or the counter's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rate,
    Gauge,
}

/// One dimension: its name, the counter key (see `parse::Counters`) and the
/// factor that turns the counter's unit into the chart's.
#[derive(Debug)]
pub struct Dim {
    pub name: &'static str,
    pub key: &'static str,
    pub scale: Scale,
}

/// Unit conversion applied to a counter value (or delta).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    One,
    /// Bytes to KiB.
    BytesToKiB,
    /// Bytes to bits.
    BytesToBits,
    /// Pages (sockstat `mem`) to KiB; the page size is read at run time.
    PagesToKiB,
}

/// Dimensions that exist only while nonzero (the kernel prints
/// `Icmp6InType135` only once such a message was seen): every key with
/// `key_prefix` becomes `name_prefix` + the rest of the key, and a key
/// absent from a sample counts as zero rather than missing.
#[derive(Debug)]
pub struct DynamicDims {
    pub key_prefix: &'static str,
    pub name_prefix: &'static str,
    /// A counter always present when the source file is readable: without
    /// it, "no types seen" would be a zero we did not observe.
    pub present_if: &'static str,
}

#[derive(Debug)]
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub kind: Kind,
    pub dims: &'static [Dim],
    pub dynamic: &'static [DynamicDims],
}

impl Chart {
    /// `ip`, `ipv4` or `ipv6`: the family the human table groups by.
    pub fn family(&self) -> &'static str {
        self.id.split_once('.').map_or(self.id, |(f, _)| f)
    }
}

const fn d(name: &'static str, key: &'static str) -> Dim {
    Dim {
        name,
        key,
        scale: Scale::One,
    }
}

const fn ds(name: &'static str, key: &'static str, scale: Scale) -> Dim {
    Dim { name, key, scale }
}

const fn rate(
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    dims: &'static [Dim],
) -> Chart {
    Chart {
        id,
        title,
        unit,
        kind: Kind::Rate,
        dims,
        dynamic: &[],
    }
}

const fn gauge(
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    dims: &'static [Dim],
) -> Chart {
    Chart {
        id,
        title,
        unit,
        kind: Kind::Gauge,
        dims,
        dynamic: &[],
    }
}

const HANDSHAKE: &[Dim] = &[
    d("EstabResets", "Tcp.EstabResets"),
    d("OutRsts", "Tcp.OutRsts"),
    d("AttemptFails", "Tcp.AttemptFails"),
    d("SynRetrans", "TcpExt.TCPSynRetrans"),
];

/// Every chart, in the order the seed lists them (extras after their kin).
pub static CHARTS: &[Chart] = &[
    // ---- ip.*: TCP/IP extensions (/proc/net/netstat) ----
    rate(
        "ip.tcpconnaborts",
        "TCP Connection Aborts",
        "connections/s",
        &[
            d("BadData", "TcpExt.TCPAbortOnData"),
            d("UserClosed", "TcpExt.TCPAbortOnClose"),
            d("NoMemory", "TcpExt.TCPAbortOnMemory"),
            d("Timeout", "TcpExt.TCPAbortOnTimeout"),
            d("Linger", "TcpExt.TCPAbortOnLinger"),
            d("Failed", "TcpExt.TCPAbortFailed"),
        ],
    ),
    rate(
        "ip.tcp_accept_queue",
        "TCP Accept Queue Issues",
        "pps",
        &[
            d("Overflows", "TcpExt.ListenOverflows"),
            d("Drops", "TcpExt.ListenDrops"),
        ],
    ),
    rate(
        "ip.tcp_syn_queue",
        "TCP SYN Queue Issues",
        "pps",
        &[
            d("Drops", "TcpExt.TCPReqQFullDrop"),
            d("Cookies", "TcpExt.TCPReqQFullDoCookies"),
        ],
    ),
    rate(
        "ip.tcpreorders",
        "TCP Reordered Packets by Detection Method",
        "pps",
        &[
            d("Timestamp", "TcpExt.TCPTSReorder"),
            d("SACK", "TcpExt.TCPSACKReorder"),
            // Gone since Linux 4.20 (FACK removed); kept so older kernels show it.
            d("FACK", "TcpExt.TCPFACKReorder"),
            d("Reno", "TcpExt.TCPRenoReorder"),
        ],
    ),
    rate(
        "ip.tcpofo",
        "TCP Out-Of-Order Queue",
        "pps",
        &[
            d("InQueue", "TcpExt.TCPOFOQueue"),
            d("Dropped", "TcpExt.TCPOFODrop"),
            d("Merged", "TcpExt.TCPOFOMerge"),
            d("Pruned", "TcpExt.OfoPruned"),
        ],
    ),
    rate(
        "ip.tcpsyncookies",
        "TCP SYN Cookies",
        "pps",
        &[
            d("Received", "TcpExt.SyncookiesRecv"),
            d("Sent", "TcpExt.SyncookiesSent"),
            d("Failed", "TcpExt.SyncookiesFailed"),
        ],
    ),
    rate(
        "ip.tcphandshake",
        "TCP Handshake Issues",
        "events/s",
        HANDSHAKE,
    ),
    rate(
        "ip.mcast",
        "IP Multicast Bandwidth",
        "KiB/s",
        &[
            ds("Received", "IpExt.InMcastOctets", Scale::BytesToKiB),
            ds("Sent", "IpExt.OutMcastOctets", Scale::BytesToKiB),
        ],
    ),
    rate(
        "ip.mcastpkts",
        "IP Multicast Packets",
        "pps",
        &[
            d("Received", "IpExt.InMcastPkts"),
            d("Sent", "IpExt.OutMcastPkts"),
        ],
    ),
    rate(
        "ip.ecnpkts",
        "IP ECN Statistics",
        "pps",
        &[
            d("CEP", "IpExt.InCEPkts"),
            d("NoECTP", "IpExt.InNoECTPkts"),
            d("ECTP0", "IpExt.InECT0Pkts"),
            d("ECTP1", "IpExt.InECT1Pkts"),
        ],
    ),
    // ---- ipv4.* (/proc/net/snmp, sockstat) ----
    gauge(
        "ipv4.sockstat_sockets",
        "IPv4 Sockets Used",
        "sockets",
        &[d("Used", "sockstat.sockets.used")],
    ),
    rate(
        "ipv4.packets",
        "IPv4 Packets",
        "pps",
        &[
            d("Received", "Ip.InReceives"),
            d("Sent", "Ip.OutRequests"),
            d("Forwarded", "Ip.ForwDatagrams"),
            d("Delivered", "Ip.InDelivers"),
        ],
    ),
    rate(
        "ipv4.errors",
        "IPv4 Errors",
        "pps",
        &[
            d("InDiscards", "Ip.InDiscards"),
            d("OutDiscards", "Ip.OutDiscards"),
            d("InHdrErrors", "Ip.InHdrErrors"),
            d("OutNoRoutes", "Ip.OutNoRoutes"),
            d("InAddrErrors", "Ip.InAddrErrors"),
            d("InUnknownProtos", "Ip.InUnknownProtos"),
        ],
    ),
    rate(
        "ipv4.icmp",
        "IPv4 ICMP Packets",
        "pps",
        &[d("Received", "Icmp.InMsgs"), d("Sent", "Icmp.OutMsgs")],
    ),
    rate(
        "ipv4.icmp_errors",
        "IPv4 ICMP Errors",
        "pps",
        &[
            d("InErrors", "Icmp.InErrors"),
            d("OutErrors", "Icmp.OutErrors"),
            d("InCsumErrors", "Icmp.InCsumErrors"),
        ],
    ),
    // Per message type, from the named counters of the `Icmp:` line (always
    // printed, unlike `IcmpMsg:` which lists only types already seen).
    rate(
        "ipv4.icmpmsg",
        "IPv4 ICMP Messages",
        "pps",
        &[
            d("InEchoReps", "Icmp.InEchoReps"),
            d("OutEchoReps", "Icmp.OutEchoReps"),
            d("InDestUnreachs", "Icmp.InDestUnreachs"),
            d("OutDestUnreachs", "Icmp.OutDestUnreachs"),
            d("InRedirects", "Icmp.InRedirects"),
            d("OutRedirects", "Icmp.OutRedirects"),
            d("InEchos", "Icmp.InEchos"),
            d("OutEchos", "Icmp.OutEchos"),
            d("InTimeExcds", "Icmp.InTimeExcds"),
            d("OutTimeExcds", "Icmp.OutTimeExcds"),
            d("InParmProbs", "Icmp.InParmProbs"),
            d("OutParmProbs", "Icmp.OutParmProbs"),
            d("InSrcQuenchs", "Icmp.InSrcQuenchs"),
            d("OutSrcQuenchs", "Icmp.OutSrcQuenchs"),
            d("InTimestamps", "Icmp.InTimestamps"),
            d("OutTimestamps", "Icmp.OutTimestamps"),
            d("InTimestampReps", "Icmp.InTimestampReps"),
            d("OutTimestampReps", "Icmp.OutTimestampReps"),
            d("InAddrMasks", "Icmp.InAddrMasks"),
            d("OutAddrMasks", "Icmp.OutAddrMasks"),
            d("InAddrMaskReps", "Icmp.InAddrMaskReps"),
            d("OutAddrMaskReps", "Icmp.OutAddrMaskReps"),
        ],
    ),
    gauge(
        "ipv4.tcpsock",
        "IPv4 TCP Active Connections",
        "connections",
        &[d("Connections", "Tcp.CurrEstab")],
    ),
    // InUse is per namespace; Alloc, Orphan (and the memory charts) are
    // kernel-wide counters that every namespace's sockstat repeats.
    gauge(
        "ipv4.sockstat_tcp_sockets",
        "IPv4 TCP Sockets",
        "sockets",
        &[
            d("Alloc", "sockstat.TCP.alloc"),
            d("Orphan", "sockstat.TCP.orphan"),
            d("InUse", "sockstat.TCP.inuse"),
            d("TimeWait", "sockstat.TCP.tw"),
        ],
    ),
    rate(
        "ipv4.tcppackets",
        "IPv4 TCP Packets",
        "pps",
        &[d("Received", "Tcp.InSegs"), d("Sent", "Tcp.OutSegs")],
    ),
    rate(
        "ipv4.tcpopens",
        "IPv4 TCP Opens",
        "connections/s",
        &[
            d("Active", "Tcp.ActiveOpens"),
            d("Passive", "Tcp.PassiveOpens"),
        ],
    ),
    rate(
        "ipv4.tcperrors",
        "IPv4 TCP Errors",
        "pps",
        &[
            d("InErrs", "Tcp.InErrs"),
            d("InCsumErrors", "Tcp.InCsumErrors"),
            d("RetransSegs", "Tcp.RetransSegs"),
        ],
    ),
    rate(
        "ipv4.tcphandshake",
        "IPv4 TCP Handshake Issues",
        "events/s",
        HANDSHAKE,
    ),
    // Payload bytes acknowledged / received on TCP sockets, summed from
    // sock_diag over both families (the kernel has no /proc counter for it).
    rate(
        "ipv4.tcpbytes",
        "IPv4 TCP Bytes",
        "KiB/s",
        &[
            ds("Received", "tcpinfo.bytes_received", Scale::BytesToKiB),
            ds("Sent", "tcpinfo.bytes_acked", Scale::BytesToKiB),
        ],
    ),
    gauge(
        "ipv4.sockstat_tcp_mem",
        "IPv4 TCP Sockets Memory",
        "KiB",
        &[ds("Mem", "sockstat.TCP.mem", Scale::PagesToKiB)],
    ),
    gauge(
        "ipv4.sockstat_udp_sockets",
        "IPv4 UDP Sockets",
        "sockets",
        &[d("InUse", "sockstat.UDP.inuse")],
    ),
    rate(
        "ipv4.udppackets",
        "IPv4 UDP Packets",
        "pps",
        &[
            d("Received", "Udp.InDatagrams"),
            d("Sent", "Udp.OutDatagrams"),
        ],
    ),
    rate(
        "ipv4.udperrors",
        "IPv4 UDP Errors",
        "events/s",
        &[
            d("RcvbufErrors", "Udp.RcvbufErrors"),
            d("SndbufErrors", "Udp.SndbufErrors"),
            d("InErrors", "Udp.InErrors"),
            d("NoPorts", "Udp.NoPorts"),
            d("InCsumErrors", "Udp.InCsumErrors"),
            d("IgnoredMulti", "Udp.IgnoredMulti"),
        ],
    ),
    gauge(
        "ipv4.sockstat_udp_mem",
        "IPv4 UDP Sockets Memory",
        "KiB",
        &[ds("Mem", "sockstat.UDP.mem", Scale::PagesToKiB)],
    ),
    gauge(
        "ipv4.sockstat_raw_sockets",
        "IPv4 RAW Sockets",
        "sockets",
        &[d("InUse", "sockstat.RAW.inuse")],
    ),
    // ---- ipv6.* (/proc/net/snmp6, sockstat6) ----
    rate(
        "ipv6.packets",
        "IPv6 Packets",
        "pps",
        &[
            d("Received", "snmp6.Ip6InReceives"),
            d("Sent", "snmp6.Ip6OutRequests"),
            d("Forwarded", "snmp6.Ip6OutForwDatagrams"),
            d("Delivered", "snmp6.Ip6InDelivers"),
        ],
    ),
    rate(
        "ipv6.errors",
        "IPv6 Errors",
        "pps",
        &[
            d("InDiscards", "snmp6.Ip6InDiscards"),
            d("OutDiscards", "snmp6.Ip6OutDiscards"),
            d("InHdrErrors", "snmp6.Ip6InHdrErrors"),
            d("InAddrErrors", "snmp6.Ip6InAddrErrors"),
            d("InUnknownProtos", "snmp6.Ip6InUnknownProtos"),
            d("InTooBigErrors", "snmp6.Ip6InTooBigErrors"),
            d("InTruncatedPkts", "snmp6.Ip6InTruncatedPkts"),
            d("InNoRoutes", "snmp6.Ip6InNoRoutes"),
            d("OutNoRoutes", "snmp6.Ip6OutNoRoutes"),
        ],
    ),
    rate(
        "ipv6.ect",
        "IPv6 ECT Packets",
        "pps",
        &[
            d("CEP", "snmp6.Ip6InCEPkts"),
            d("NoECTP", "snmp6.Ip6InNoECTPkts"),
            d("ECTP0", "snmp6.Ip6InECT0Pkts"),
            d("ECTP1", "snmp6.Ip6InECT1Pkts"),
        ],
    ),
    gauge(
        "ipv6.sockstat6_tcp_sockets",
        "IPv6 TCP Sockets",
        "sockets",
        &[d("InUse", "sockstat6.TCP6.inuse")],
    ),
    gauge(
        "ipv6.sockstat6_udp_sockets",
        "IPv6 UDP Sockets",
        "sockets",
        &[d("InUse", "sockstat6.UDP6.inuse")],
    ),
    gauge(
        "ipv6.sockstat6_raw_sockets",
        "IPv6 RAW Sockets",
        "sockets",
        &[d("InUse", "sockstat6.RAW6.inuse")],
    ),
    rate(
        "ipv6.udppackets",
        "IPv6 UDP Packets",
        "pps",
        &[
            d("Received", "snmp6.Udp6InDatagrams"),
            d("Sent", "snmp6.Udp6OutDatagrams"),
        ],
    ),
    rate(
        "ipv6.udperrors",
        "IPv6 UDP Errors",
        "events/s",
        &[
            d("RcvbufErrors", "snmp6.Udp6RcvbufErrors"),
            d("SndbufErrors", "snmp6.Udp6SndbufErrors"),
            d("InErrors", "snmp6.Udp6InErrors"),
            d("NoPorts", "snmp6.Udp6NoPorts"),
            d("InCsumErrors", "snmp6.Udp6InCsumErrors"),
            d("IgnoredMulti", "snmp6.Udp6IgnoredMulti"),
        ],
    ),
    rate(
        "ipv6.mcast",
        "IPv6 Multicast Bandwidth",
        "bits/s",
        &[
            ds("Received", "snmp6.Ip6InMcastOctets", Scale::BytesToBits),
            ds("Sent", "snmp6.Ip6OutMcastOctets", Scale::BytesToBits),
        ],
    ),
    rate(
        "ipv6.mcastpkts",
        "IPv6 Multicast Packets",
        "packets/s",
        &[
            d("Received", "snmp6.Ip6InMcastPkts"),
            d("Sent", "snmp6.Ip6OutMcastPkts"),
        ],
    ),
    rate(
        "ipv6.icmp",
        "IPv6 ICMP Messages",
        "messages/s",
        &[
            d("Received", "snmp6.Icmp6InMsgs"),
            d("Sent", "snmp6.Icmp6OutMsgs"),
        ],
    ),
    rate(
        "ipv6.icmperrors",
        "IPv6 ICMP Errors",
        "errors/s",
        &[
            d("InErrors", "snmp6.Icmp6InErrors"),
            d("OutErrors", "snmp6.Icmp6OutErrors"),
            d("InCsumErrors", "snmp6.Icmp6InCsumErrors"),
            d("InDestUnreachs", "snmp6.Icmp6InDestUnreachs"),
            d("InPktTooBigs", "snmp6.Icmp6InPktTooBigs"),
            d("InTimeExcds", "snmp6.Icmp6InTimeExcds"),
            d("InParmProblems", "snmp6.Icmp6InParmProblems"),
            d("OutDestUnreachs", "snmp6.Icmp6OutDestUnreachs"),
            d("OutPktTooBigs", "snmp6.Icmp6OutPktTooBigs"),
            d("OutTimeExcds", "snmp6.Icmp6OutTimeExcds"),
            d("OutParmProblems", "snmp6.Icmp6OutParmProblems"),
        ],
    ),
    rate(
        "ipv6.icmprouter",
        "IPv6 Router Messages",
        "messages/s",
        &[
            d("InSolicits", "snmp6.Icmp6InRouterSolicits"),
            d("OutSolicits", "snmp6.Icmp6OutRouterSolicits"),
            d("InAdvertisements", "snmp6.Icmp6InRouterAdvertisements"),
            d("OutAdvertisements", "snmp6.Icmp6OutRouterAdvertisements"),
        ],
    ),
    rate(
        "ipv6.icmpneighbor",
        "IPv6 Neighbor Messages",
        "messages/s",
        &[
            d("InSolicits", "snmp6.Icmp6InNeighborSolicits"),
            d("OutSolicits", "snmp6.Icmp6OutNeighborSolicits"),
            d("InAdvertisements", "snmp6.Icmp6InNeighborAdvertisements"),
            d("OutAdvertisements", "snmp6.Icmp6OutNeighborAdvertisements"),
        ],
    ),
    rate(
        "ipv6.icmpmldv2",
        "IPv6 ICMP MLDv2 Reports",
        "reports/s",
        &[
            d("Received", "snmp6.Icmp6InMLDv2Reports"),
            d("Sent", "snmp6.Icmp6OutMLDv2Reports"),
        ],
    ),
    Chart {
        id: "ipv6.icmptypes",
        title: "IPv6 ICMP Types",
        unit: "messages/s",
        kind: Kind::Rate,
        dims: &[],
        dynamic: &[
            DynamicDims {
                key_prefix: "snmp6.Icmp6InType",
                name_prefix: "InType",
                present_if: "snmp6.Icmp6InMsgs",
            },
            DynamicDims {
                key_prefix: "snmp6.Icmp6OutType",
                name_prefix: "OutType",
                present_if: "snmp6.Icmp6OutMsgs",
            },
        ],
    },
];

/// The chart ids the seed table names (the contract the tests hold us to).
pub const SEED_CHART_IDS: &[&str] = &[
    "ip.tcpconnaborts",
    "ip.tcp_accept_queue",
    "ip.tcpreorders",
    "ip.tcpofo",
    "ip.tcpsyncookies",
    "ip.mcast",
    "ip.mcastpkts",
    "ip.ecnpkts",
    "ipv4.sockstat_sockets",
    "ipv4.packets",
    "ipv4.errors",
    "ipv4.icmp",
    "ipv4.icmp_errors",
    "ipv4.icmpmsg",
    "ipv4.tcpsock",
    "ipv4.sockstat_tcp_sockets",
    "ipv4.tcppackets",
    "ipv4.tcpopens",
    "ipv4.tcperrors",
    "ipv4.tcphandshake",
    "ipv4.tcpbytes",
    "ipv4.sockstat_tcp_mem",
    "ipv4.sockstat_udp_sockets",
    "ipv4.udppackets",
    "ipv4.udperrors",
    "ipv4.sockstat_udp_mem",
    "ipv4.sockstat_raw_sockets",
    "ipv6.packets",
    "ipv6.ect",
    "ipv6.sockstat6_tcp_sockets",
    "ipv6.sockstat6_udp_sockets",
    "ipv6.udppackets",
    "ipv6.mcast",
    "ipv6.mcastpkts",
    "ipv6.icmp",
    "ipv6.icmprouter",
    "ipv6.icmpneighbor",
    "ipv6.icmpmldv2",
    "ipv6.icmptypes",
];

pub fn chart(id: &str) -> Option<&'static Chart> {
    CHARTS.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_chart_is_in_the_table_once() {
        for id in SEED_CHART_IDS {
            assert_eq!(CHARTS.iter().filter(|c| c.id == *id).count(), 1, "{id}");
        }
        let mut ids: Vec<_> = CHARTS.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CHARTS.len(), "duplicate chart id");
    }

    #[test]
    fn seed_dimension_names_are_kept() {
        let names = |id: &str| {
            chart(id)
                .unwrap()
                .dims
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("ip.tcpconnaborts"),
            [
                "BadData",
                "UserClosed",
                "NoMemory",
                "Timeout",
                "Linger",
                "Failed"
            ]
        );
        assert_eq!(
            names("ipv4.tcphandshake"),
            ["EstabResets", "OutRsts", "AttemptFails", "SynRetrans"]
        );
        assert_eq!(
            names("ipv4.sockstat_tcp_sockets"),
            ["Alloc", "Orphan", "InUse", "TimeWait"]
        );
        assert_eq!(names("ip.ecnpkts"), ["CEP", "NoECTP", "ECTP0", "ECTP1"]);
    }
}
