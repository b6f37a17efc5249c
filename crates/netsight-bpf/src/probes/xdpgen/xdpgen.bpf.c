// SPDX-License-Identifier: GPL-2.0
/* Flood generator for `netsight xdp bench` (Rust side: ../xdp/flood_gen.rs).
 * Run with BPF_PROG_TEST_RUN in live-frames mode, it gives each copy of the
 * template frame a new IPv4 source inside the blacklisted prefixes and
 * redirects it out of the generator's veth, which hands it to the peer as an
 * xdp_frame: the receiver sees pages, as from a NIC, not sender skbs. */
#include "netsight.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 out_ifindex = 0;
const volatile __u32 src_base = 0;    /* first source, host order */
const volatile __u32 src_blocks = 1;  /* sources span this many /26 blocks */
/* Pacing (gap_ns == 0: unpaced). Frames leave in bursts of `burst`, back to
 * back, one burst every burst * gap_ns: what a NIC with interrupt moderation
 * hands its driver, and the receiver wakes once per burst instead of once
 * per frame. A run that comes too early returns XDP_DROP, which only
 * recycles the page. Late by more than max_debt_ns, the schedule restarts:
 * no catch-up burst that would overflow the receiver's 256-slot ring. */
const volatile __u64 gap_ns = 0;
const volatile __u64 max_debt_ns = 0;
const volatile __u32 burst = 1;

/* One generator thread runs the program at a time: no atomics needed. */
__u32 seq = 0;
__u32 burst_left = 0;
__u64 next_ns = 0;

/* Frames sent, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_sent SEC(".maps");

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int netsight_xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u32 zero = 0, n, block, old_src, new_src, sum;
	__u64 *sent;

	if ((void *)(ip + 1) > data_end)
		return XDP_ABORTED;
	if (gap_ns && !burst_left) {
		__u64 now = bpf_ktime_get_ns();
		__u64 period = gap_ns * burst;

		if (now < next_ns)
			return XDP_DROP;
		next_ns = now - next_ns > max_debt_ns ? now + period : next_ns + period;
		burst_left = burst;
	}
	if (burst_left)
		burst_left--;
	sent = bpf_map_lookup_elem(&gen_sent, &zero);
	if (sent)
		(*sent)++;
	n = seq++;
	/* Multiplicative hashing spreads consecutive frames over all blocks. */
	block = (__u32)(((__u64)(n * 2654435761u) * src_blocks) >> 32);
	old_src = ip->saddr;
	new_src = bpf_htonl(src_base + block * 64 + (n & 63));
	ip->saddr = new_src;
	/* RFC 1624 incremental update: the stack checks IP header checksums. */
	sum = (__u16)~ip->check;
	sum += (__u16)~(old_src & 0xffff) + (__u16)~(old_src >> 16);
	sum += (new_src & 0xffff) + (new_src >> 16);
	ip->check = csum_fold(sum);
	return bpf_redirect(out_ifindex, 0);
}
