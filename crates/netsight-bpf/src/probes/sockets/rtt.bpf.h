/* SPDX-License-Identifier: GPL-2.0 */
/* RTT samples into the per-process histogram (layout in sockets.h). */
#ifndef NETSIGHT_RTT_BPF_H
#define NETSIGHT_RTT_BPF_H

/* RTT histogram bucket of a value in us (layout in sockets.h). */
static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, s;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	s = (v > 0xFF) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xF) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3) << 1;
	v >>= s;
	r |= s;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 rtt_bucket(__u32 us)
{
	__u32 e, idx = us;

	if (us >= RTT_LINEAR) {
		e = log2_u32(us); /* >= 4 */
		idx = RTT_LINEAR + ((e - 4) << RTT_SUB_BITS) +
		      ((us >> (e - RTT_SUB_BITS)) & ((1 << RTT_SUB_BITS) - 1));
	}
	/* idx <= 127 for any u32; the opaque mask makes that visible to the
	 * verifier (clang would otherwise fold it away). */
	asm volatile("" : "+r"(idx));
	return idx & (RTT_BUCKETS - 1);
}

/* RTT: the connection's smoothed RTT, sampled when the application sends
 * or receives, at most once every 100 ms per connection, so a busy
 * connection's samples are spread over time and cost little. */
static __always_inline void sample_rtt(struct sock *sk, __u64 *sampled_jiffies, struct proc_stats *s)
{
	struct tcp_sock *tp;
	__u32 srtt, idx;

	*sampled_jiffies = bpf_jiffies64();
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	srtt = tp->srtt_us >> 3;
	if (!srtt)
		return;
	ADD(s->rtt_sum_us, srtt);
	ADD(s->rtt_count, 1);
	if (!s->rtt_min_us || srtt < s->rtt_min_us)
		s->rtt_min_us = srtt;
	if (srtt > s->rtt_max_us)
		s->rtt_max_us = srtt;
	idx = rtt_bucket(srtt);
	ADD(s->rtt_hist[idx], 1);
}

#endif
