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

/* 1 and the rule slot matching the packet's source, or 0. Every read is
 * bounds-checked against data_end; a short frame simply matches nothing. */
static __always_inline int match_source(void *data, void *data_end, __u32 *slot)
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
		return match_v4(ip->saddr, slot);
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
		*slot = *found;
		return 1;
	}
	return 0;
}

SEC("xdp")
int netsight_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 slot = iface_slot, rule, chunk;
	struct iface_counters *ifc;
	struct hit_chunk *hits;

	ifc = bpf_map_lookup_elem(&iface_stats, &slot);
	if (!match_source(data, data_end, &rule)) {
		if (ifc)
			ifc->passed++;
		return XDP_PASS;
	}
	chunk = rule / HIT_CHUNK;
	hits = bpf_map_lookup_elem(&hit_chunks, &chunk);
	if (hits)
		hits->n[rule % HIT_CHUNK]++;
	if (ifc)
		ifc->dropped++;
	return XDP_DROP;
}
