/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared by xdp.bpf.c and Rust (through the skeleton's types). */
#ifndef NETSIGHT_XDP_H
#define NETSIGHT_XDP_H

/* Rule slots index the per-CPU hit counters; the hit array is preallocated,
 * so its memory is 8 bytes * XDP_MAX_RULES * possible CPUs. */
#define XDP_MAX_RULES (1 << 18)
/* Attachments (interface slots) across every network namespace. */
#define XDP_MAX_IFACES 64

/* LPM trie keys: prefix length in bits, then the address in network order. */
struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Per interface, per CPU: every packet the program saw, by verdict. */
struct iface_counters {
	__u64 passed;
	__u64 dropped;
};

enum xdp_attach_mode {
	XDP_ATTACH_NONE = 0,
	XDP_ATTACH_NATIVE = 1,
	XDP_ATTACH_GENERIC = 2,
};

/* What user space remembers about one attachment (never read by BPF). */
struct iface_entry {
	__u64 netns_ino;
	__u32 ifindex;
	__u32 mode; /* enum xdp_attach_mode, XDP_ATTACH_NONE = free slot */
	char ifname[16];
};

#endif
