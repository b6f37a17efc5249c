// SPDX-License-Identifier: GPL-2.0
/* Tiny programs, one per hook type: `netsight doctor` loads and attaches
 * each one alone to learn what this kernel really supports. */
#include "netsight.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ringbuf_map SEC(".maps");

SEC("tracepoint/sched/sched_process_exit")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sched_process_exit")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(probe_tp_btf, struct task_struct *p)
{
	return 0;
}

SEC("kprobe/tcp_v4_connect")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("uprobe")
int probe_uprobe(void *ctx)
{
	return 0;
}

SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int probe_tc(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK */
}

SEC("tracepoint/sched/sched_process_exit")
int probe_ringbuf(void *ctx)
{
	__u64 one = 1;

	bpf_ringbuf_output(&probe_ringbuf_map, &one, sizeof(one), 0);
	return 0;
}

SEC("iter/task")
int probe_iter(struct bpf_iter__task *ctx)
{
	return 0;
}
