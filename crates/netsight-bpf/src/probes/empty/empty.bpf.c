// SPDX-License-Identifier: GPL-2.0
/* Empty programs on the tracepoints netsight's hot path uses: the floor its
 * own programs are measured against (bench/hotpath.sh), attached the same
 * way (tp_btf), so the difference is netsight's work alone. */
#include "netsight.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sock_send_length")
int BPF_PROG(empty_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(empty_recv, struct sock *sk, int ret, int flags)
{
	return 0;
}
