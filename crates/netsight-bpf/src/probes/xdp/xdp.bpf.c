// SPDX-License-Identifier: GPL-2.0
/* Source-address blacklist at the driver hook: drop a packet whose IPv4 or
 * IPv6 source falls in a blacklisted prefix, count it on its rule and on the
 * interface, pass everything else (including frames too short to parse,
 * which the stack will discard on its own). */
#include "netsight.bpf.h"
#include "xdp.h"
#include "prefix_match.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
/* QinQ: an outer 802.1ad tag and an inner 802.1Q tag. */
#define VLAN_MAX_DEPTH 2

/* Which iface_counters slot this instance counts on: one program instance
 * is loaded per attachment, all sharing the pinned maps. */
const volatile __u32 iface_slot = 0;

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

/* Per-CPU so that counting is exact without atomics or cache-line bouncing
 * (xdp.h: why in chunks). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIT_CHUNKS);
	__type(key, __u32);
	__type(value, struct hit_chunk);
} hit_chunks SEC(".maps");

/* Per slot, the count its rule started from (user space only, through mmap:
 * it shares the pinned state's life). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, XDP_MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} hit_base SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct iface_counters);
} iface_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDP_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct iface_entry);
} iface_table SEC(".maps");

/* 1 and the rule matching the packet's source, or 0. Every read is
 * bounds-checked against data_end; a short frame simply matches nothing. */
static __always_inline int match_source(void *data, void *data_end, struct v4_match *m)
{
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	__u16 proto;

	if (l3 > data_end)
		return 0;
	proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < VLAN_MAX_DEPTH; i++) {
		struct vlan_tag *tag = l3;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(tag + 1) > data_end)
			return 0;
		proto = tag->proto;
		l3 = tag + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end || ip->version != 4)
			return 0;
		return match_v4(ip->saddr, m);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		__be32 saddr[4];
		__u32 *found;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return 0;
		__builtin_memcpy(saddr, &ip6->saddr, sizeof(saddr));
		found = match_v6(saddr);
		if (!found)
			return 0;
		m->entry = NULL;
		m->slot = *found;
		return 1;
	}
	return 0;
}

static __always_inline void count_in_chunk(__u32 rule, __u64 n)
{
	__u32 chunk = rule / HIT_CHUNK;
	struct hit_chunk *hits = bpf_map_lookup_elem(&hit_chunks, &chunk);

	if (hits)
		hits->n[rule % HIT_CHUNK] += n;
}

/* Adds n to the rule in the shared table at index `at`, if it still holds
 * `key` (a rule deleted meanwhile has no count to keep). */
static __always_inline void carry(__u32 at, __u64 key, __u64 n)
{
	__u32 bucket = at / PFX4_WAYS;
	struct pfx4_bucket *b = bpf_map_lookup_elem(&pfx4_table, &bucket);
	__u64 e;

	if (!b)
		return;
	e = *(volatile __u64 *)&b->e[at % PFX4_WAYS];
	if ((e & PFX4_KEY_MASK) == key)
		count_in_chunk((e >> PFX4_SLOT_SHIFT) & (XDP_MAX_RULES - 1), n);
}

/* One hit on a compact-table rule, in this CPU's copy (xdp.h: pfx4_cpu).
 * The compare-and-swap fails when user space deleted the entry meanwhile
 * (nothing to count) or when another run on this CPU counted first (a
 * nested or, on PREEMPT_RT, preempted run): then this hit goes to the
 * rule's slot instead. */
static __always_inline void count_in_copy(const struct v4_match *m)
{
	__u64 old = m->seen;
	__u64 n = (old >> PFX4_COUNT_SHIFT) & PFX4_COUNT_MAX;
	__u64 seen;

	if (n == PFX4_COUNT_MAX) {
		/* Another run is mid-carry on this CPU. */
		carry(m->at, m->key, 1);
		return;
	}
	seen = __sync_val_compare_and_swap(m->entry, old, old + PFX4_COUNT_ONE);
	if (seen != old) {
		if ((seen & PFX4_KEY_MASK) == m->key)
			carry(m->at, m->key, 1);
		return;
	}
	if (n + 1 < PFX4_COUNT_MAX)
		return;
	/* The count reached the marker: move it to the slot, then restart it. */
	carry(m->at, m->key, PFX4_COUNT_MAX);
	__sync_val_compare_and_swap(m->entry, old + PFX4_COUNT_ONE,
				    old & ~(PFX4_COUNT_MAX << PFX4_COUNT_SHIFT));
}

SEC("xdp")
int netsight_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 slot = iface_slot;
	struct iface_counters *ifc;
	struct v4_match m = {};

	ifc = bpf_map_lookup_elem(&iface_stats, &slot);
	if (!match_source(data, data_end, &m)) {
		if (ifc)
			ifc->passed++;
		return XDP_PASS;
	}
	if (m.entry)
		count_in_copy(&m);
	else
		count_in_chunk(m.slot, 1);
	if (ifc)
		ifc->dropped++;
	return XDP_DROP;
}
