// SPDX-License-Identifier: GPL-2.0
/* ping: where a netsight probe packet is on its path, from tracepoints only.
 *
 * A probe is recognised by its content (ICMP echo, code PING_CODE_MAGIC, a
 * netsight header with PING_HDR_MAGIC), and named by the id/seq it carries,
 * never by skb pointer: pointers are recycled within microseconds. The only
 * pointer joins are the ones the kernel makes safe: net_dev_start_xmit ->
 * net_dev_xmit of the same skb on the same CPU (the skb may be freed by
 * then, so net_dev_xmit never reads it). Events without an skb (socket
 * data ready, wake-up) are joined through per-CPU "probe in hand"
 * slots. Every other packet leaves after one field test or one read. */
#include "netsight.bpf.h"
#include "ping.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define NS_IPPROTO_ICMP 1
#define NS_IPPROTO_ICMPV6 58
#define ICMPV6_ECHO 128
#define ICMPV6_ECHOREPLY 129
#define NS_SOCK_RAW 3
#define NET_RX_SOFTIRQ 3
#define ICMP_ECHO 8
#define ICMP_ECHOREPLY 0
/* start_xmit and xmit of one skb are back to back; a slot older than this
 * is stale (its xmit was missed) and must not match a recycled pointer. */
#define XMIT_SLOT_NS 10000000ULL

/* The client's receiving thread (0: none, e.g. on the server), and its
 * network namespace: wake-ups are looked for only after a reply was made
 * ready on a socket there. */
const volatile __u32 client_tid = 0;
const volatile __u32 client_netns = 0;
/* On the client, probes are only on the wire while one is in flight: user
 * space sets `armed` then, and every program returns at once otherwise
 * (the server cannot know when probes come, so it runs ungated). */
const volatile bool gated = false;
volatile __u32 armed;

#define IDLE() (gated && !armed)

struct ping_losses losses;
/* Makes the skeleton generate the type for Rust. */
struct ping_hit hit_type;
enum ping_point point_type;
enum ping_kind kind_type;
enum ping_wire wire_type;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} hits SEC(".maps");

struct probe_id {
	__u32 id;
	__u32 seq;
	__u8 kind;
};

struct icmp_probe {
	__u8 type;
	__u8 code;
	__u16 csum;
	__u16 id16;
	__u16 seq16;
	__u8 version;
	__u8 num;
	__be16 flags;
	__be16 magic;
	__u16 reserve;
	__be32 id;
	__be32 seq;
};

/* A probe seen at net_dev_start_xmit, until its net_dev_xmit. */
struct xmit_slot {
	__u64 skb;
	__u64 ts;
	struct probe_id probe;
};

/* The ICMP packet this CPU's receive path holds (valid == 0: none or not
 * a probe), for sk_data_ready, which has only the socket. */
struct rx_slot {
	struct probe_id probe;
	__u8 valid;
	__u32 netns;
	__u32 ifindex;
};

/* The reply last made ready on the client's socket, for its wake-up. */
struct pending_wakeup {
	struct probe_id probe;
	__u8 valid;
};

#define PERCPU_SLOT(name, vtype)                         \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, vtype);                    \
	} name SEC(".maps")

PERCPU_SLOT(net_rx_raised, __u64);
PERCPU_SLOT(xmit_slots, struct xmit_slot);
PERCPU_SLOT(rx_slots, struct rx_slot);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending_wakeup);
} pending SEC(".maps");

static __always_inline void emit(const struct probe_id *p, __u8 point, __u64 ts, __u32 netns,
				 __u32 ifindex)
{
	struct ping_hit *h = bpf_ringbuf_reserve(&hits, sizeof(*h), 0);

	if (!h) {
		__sync_fetch_and_add(&losses.ringbuf_full, 1);
		return;
	}
	h->ts_ns = ts;
	h->id = p->id;
	h->seq = p->seq;
	h->netns = netns;
	h->ifindex = ifindex;
	h->cpu = bpf_get_smp_processor_id();
	h->point = point;
	h->kind = p->kind;
	h->_pad[0] = 0;
	h->_pad[1] = 0;
	/* No wake-up: both sides drain the ring when their socket says a probe
	 * came (a wake-up is an irq_work, microseconds on a VM). */
	bpf_ringbuf_submit(h, BPF_RB_NO_WAKEUP);
}

/* 0 if the IPv4 or IPv6 packet at l3 (linear bytes up to end) is a probe.
 * Returns 1 for other ICMP, -1 for anything else. IPv6 extension headers
 * are not followed: a probe is sent without them. */
static __always_inline int parse(const unsigned char *l3, const unsigned char *end,
				 struct probe_id *out)
{
	__u8 ip[10]; /* enough for the v4 protocol (9) and the v6 next header (6) */
	struct icmp_probe icmp;
	__u8 echo, reply;
	__u32 off;

	if (bpf_probe_read_kernel(ip, sizeof(ip), l3))
		return -1;
	if (ip[0] >> 4 == 4) {
		if (ip[9] != NS_IPPROTO_ICMP)
			return -1;
		off = (ip[0] & 0xf) * 4;
		if (off < 20)
			return 1;
		echo = ICMP_ECHO;
		reply = ICMP_ECHOREPLY;
	} else if (ip[0] >> 4 == 6) {
		if (ip[6] != NS_IPPROTO_ICMPV6)
			return -1;
		off = 40;
		echo = ICMPV6_ECHO;
		reply = ICMPV6_ECHOREPLY;
	} else {
		return -1;
	}
	if (l3 + off + sizeof(icmp) > end)
		return 1;
	if (bpf_probe_read_kernel(&icmp, sizeof(icmp), l3 + off))
		return 1;
	if (icmp.code != PING_CODE_MAGIC || icmp.magic != bpf_htons(PING_HDR_MAGIC))
		return 1;
	if (icmp.type != echo && icmp.type != reply)
		return 1;
	/* The server's timestamp-carrying reply is not itself measured. */
	if (icmp.flags & bpf_htons(PING_F_DONTADD))
		return 1;
	out->id = bpf_ntohl(icmp.id);
	out->seq = bpf_ntohl(icmp.seq);
	out->kind = icmp.type == echo ? KIND_ECHO : KIND_REPLY;
	return 0;
}

static __always_inline bool is_ip(const struct sk_buff *skb)
{
	return skb->protocol == bpf_htons(ETH_P_IP) || skb->protocol == bpf_htons(ETH_P_IPV6);
}

static __always_inline bool is_icmp(__u16 protocol)
{
	return protocol == NS_IPPROTO_ICMP || protocol == NS_IPPROTO_ICMPV6;
}

/* Most packets leave here, on fields of the skb alone: not IPv4, too
 * short to be a probe, or sent by a socket that is not ICMP (a probe is
 * sent by a raw ICMP socket, a kernel reply by the ICMP control socket;
 * forwarded packets have no socket and are parsed). */
static __always_inline int parse_tx(const struct sk_buff *skb, struct probe_id *out)
{
	struct sock *sk = skb->sk;

	if (!is_ip(skb) || skb->len < PING_MIN_IP_LEN)
		return -1;
	if (sk && !is_icmp(sk->sk_protocol))
		return -1;
	return parse(skb->head + skb->network_header, skb->data + (skb->len - skb->data_len), out);
}

static __always_inline __u32 dev_netns(const struct net_device *dev)
{
	return BPF_CORE_READ(dev, nd_net.net, ns.inum);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(on_dev_queue, struct sk_buff *skb)
{
	struct probe_id p;

	if (IDLE())
		return 0;
	if (parse_tx(skb, &p))
		return 0;
	emit(&p, PT_QUEUE, bpf_ktime_get_ns(), dev_netns(skb->dev), skb->dev->ifindex);
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(on_start_xmit, const struct sk_buff *skb, const struct net_device *dev)
{
	struct probe_id p;
	struct xmit_slot *slot;
	__u32 zero = 0;
	__u64 now;

	if (IDLE())
		return 0;
	if (parse_tx(skb, &p))
		return 0;
	now = bpf_ktime_get_ns();
	emit(&p, PT_START_XMIT, now, dev_netns(dev), dev->ifindex);
	slot = bpf_map_lookup_elem(&xmit_slots, &zero);
	if (slot) {
		slot->skb = (__u64)skb;
		slot->ts = now;
		slot->probe = p;
	}
	return 0;
}

/* The skb may already be freed here: it is compared, never read. */
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(on_dev_xmit, struct sk_buff *skb, int rc, struct net_device *dev, unsigned int len)
{
	struct xmit_slot *slot;
	__u32 zero = 0;
	__u64 now;

	if (IDLE())
		return 0;
	slot = bpf_map_lookup_elem(&xmit_slots, &zero);
	if (!slot || slot->skb != (__u64)skb)
		return 0;
	slot->skb = 0;
	now = bpf_ktime_get_ns();
	if (rc != 0 || now - slot->ts > XMIT_SLOT_NS)
		return 0;
	emit(&slot->probe, PT_XMIT, now, dev_netns(dev), dev->ifindex);
	return 0;
}

SEC("tp_btf/softirq_raise")
int BPF_PROG(on_softirq_raise, unsigned int vec)
{
	__u32 zero = 0;
	__u64 *ts;

	if (IDLE())
		return 0;
	if (vec != NET_RX_SOFTIRQ)
		return 0;
	ts = bpf_map_lookup_elem(&net_rx_raised, &zero);
	if (ts)
		*ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(on_receive, struct sk_buff *skb)
{
	struct probe_id p;
	struct rx_slot *slot;
	__u32 zero = 0, netns, ifindex;
	__u64 now, *raised;
	int r;

	if (IDLE())
		return 0;
	if (!is_ip(skb))
		return 0;
	/* Too short to be a probe: not read, but whatever socket wakes next
	 * on this CPU is not given a probe's name. */
	if (skb->len < PING_MIN_IP_LEN) {
		slot = bpf_map_lookup_elem(&rx_slots, &zero);
		if (slot)
			slot->valid = 0;
		return 0;
	}
	/* Past eth_type_trans, data is the network header. */
	r = parse(skb->data, skb->data + (skb->len - skb->data_len), &p);
	if (r < 0)
		return 0;
	slot = bpf_map_lookup_elem(&rx_slots, &zero);
	if (!slot)
		return 0;
	if (r > 0) {
		/* Another ICMP packet: whatever socket wakes next is not ours. */
		slot->valid = 0;
		return 0;
	}
	now = bpf_ktime_get_ns();
	netns = dev_netns(skb->dev);
	ifindex = skb->dev->ifindex;
	slot->probe = p;
	slot->valid = 1;
	slot->netns = netns;
	slot->ifindex = ifindex;
	raised = bpf_map_lookup_elem(&net_rx_raised, &zero);
	if (raised && *raised && *raised < now)
		emit(&p, PT_SOFTIRQ, *raised, netns, ifindex);
	emit(&p, PT_RECV, now, netns, ifindex);
	return 0;
}

/* A raw ICMP socket was given the packet this CPU is receiving: on the
 * far host that is right before the ICMP handler runs (raw delivery comes
 * first), on the client it is the reply reaching netsight's socket. */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(on_data_ready, const struct sock *sk)
{
	struct rx_slot *slot;
	struct pending_wakeup *w;
	__u32 zero = 0, netns;

	if (IDLE())
		return 0;
	/* The CPU's own slot first: it is hot, the socket's fields may not be. */
	slot = bpf_map_lookup_elem(&rx_slots, &zero);
	if (!slot || !slot->valid)
		return 0;
	if (!is_icmp(sk->sk_protocol) || sk->sk_type != NS_SOCK_RAW)
		return 0;
	/* One sighting per packet, however many raw sockets take a copy. */
	slot->valid = 0;
	netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	emit(&slot->probe, PT_DATA_READY, bpf_ktime_get_ns(), netns, slot->ifindex);
	if (client_tid && slot->probe.kind == KIND_REPLY && netns == client_netns) {
		w = bpf_map_lookup_elem(&pending, &zero);
		if (w) {
			w->probe = slot->probe;
			w->valid = 1;
		}
	}
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	struct pending_wakeup *w;
	__u32 zero = 0;

	if (IDLE())
		return 0;
	if (!client_tid || p->pid != client_tid)
		return 0;
	w = bpf_map_lookup_elem(&pending, &zero);
	/* The first wake-up after the reply was made ready ends the wait. */
	if (!w || !w->valid)
		return 0;
	w->valid = 0;
	emit(&w->probe, PT_WAKEUP, bpf_ktime_get_ns(), client_netns, 0);
	return 0;
}

/* Benchmark only (bench/ping_cost.sh, NETSIGHT_PING_CALIBRATE=1): an empty
 * program on each tracepoint used, the floor any program costs there under
 * kernel.bpf_stats_enabled on this machine (its clock reads, the call). */
#define CALIBRATE(tp, ...)                              \
	SEC("tp_btf/" #tp)                              \
	int BPF_PROG(calibrate_##tp, ##__VA_ARGS__) \
	{                                               \
		return 0;                               \
	}
CALIBRATE(net_dev_queue, struct sk_buff *skb)
CALIBRATE(net_dev_start_xmit, const struct sk_buff *skb)
CALIBRATE(net_dev_xmit, struct sk_buff *skb)
CALIBRATE(netif_receive_skb, struct sk_buff *skb)
CALIBRATE(softirq_raise, unsigned int vec)
CALIBRATE(sk_data_ready, const struct sock *sk)
CALIBRATE(sched_wakeup, struct task_struct *p)
