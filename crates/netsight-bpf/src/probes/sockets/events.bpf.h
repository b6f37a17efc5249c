/* SPDX-License-Identifier: GPL-2.0 */
/* Event records for `netsight trace`, sent through one ring buffer. Only
 * kinds enabled in event_mask (set before load) cost anything. Included by
 * sockets.bpf.c, whose hooks raise most events. */
#ifndef NETSIGHT_EVENTS_BPF_H
#define NETSIGHT_EVENTS_BPF_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* Set by user space before load. */
const volatile __u32 event_mask = 0;
/* skb_drop_reason numbers differ between kernels: resolved from BTF. */
const volatile __u32 drop_reason_consumed = 1;
const volatile __u32 drop_reason_listen_overflow = 0xffffffff;
/* Address range of tcp_rcv_state_process(), from kallsyms: a SYN that a
 * listener consumes is freed there. */
const volatile __u64 syn_consumer_lo = 0;
const volatile __u64 syn_consumer_hi = 0;

struct sock_event event_type;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

static __always_inline bool event_on(__u8 kind)
{
	return event_mask & (1u << kind);
}

/* A zeroed event of `kind` with time and owner, or NULL (counted) when the
 * ring buffer is full. */
static __always_inline struct sock_event *event_new(__u8 kind, const struct owner *o)
{
	struct sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&losses.ringbuf_full, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	if (o)
		e->owner = *o;
	return e;
}

/* Addresses, ports, state and namespace of a socket: local end first. */
static __always_inline void event_fill_sock(struct sock_event *e, const struct sock *sk)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (e->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr);
	}
}

/* Addresses and ports of a packet, as the packet has them (source first).
 * Every read is a checked probe read: a malformed header costs nothing. */
static __always_inline void event_fill_skb(struct sock_event *e, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	__u16 ports[2] = {};
	__u8 l4 = 0;

	if (dev)
		e->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		e->family = AF_INET;
		l4 = ip.protocol;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		if (th == (__u16)~0U || th == nh)
			th = nh + ip.ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->family = AF_INET6;
		l4 = ip6.nexthdr;
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		if (th == (__u16)~0U || th == nh)
			th = nh + sizeof(ip6);
	} else {
		return;
	}
	e->protocol = l4;
	if (l4 == NS_IPPROTO_TCP || l4 == NS_IPPROTO_UDP) {
		if (!bpf_probe_read_kernel(ports, sizeof(ports), head + th)) {
			e->sport = bpf_ntohs(ports[0]);
			e->dport = bpf_ntohs(ports[1]);
		}
	}
}

#endif
