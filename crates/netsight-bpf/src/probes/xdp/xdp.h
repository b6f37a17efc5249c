/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared by xdp.bpf.c and Rust (through the skeleton's types). */
#ifndef NETSIGHT_XDP_H
#define NETSIGHT_XDP_H

/* Rule slots index the per-CPU hit counters; the hit array is preallocated,
 * so its memory is 8 bytes * XDP_MAX_RULES * possible CPUs. */
#define XDP_MAX_RULES (1 << 18)
/* Attachments (interface slots) across every network namespace. */
#define XDP_MAX_IFACES 64

/* Keys of the prefix hashes pfx_v4 / pfx_v6: the prefix length in bits
 * (host order), then the address with its host bits zeroed (network order).
 * A source matches a /L rule when (L, source masked to L bits) is a key. */
struct pfx_v4_key {
	__u32 prefixlen;
	__be32 addr;
};

struct pfx_v6_key {
	__u32 prefixlen;
	__be32 addr[4];
};

/* Which prefix lengths have at least one rule, so a lookup only tries those,
 * longest first. IPv4 /L is bit L of v4; IPv6 /L is bit L % 64 of v6[L / 64].
 * User space sets a bit before inserting the first rule of that length and
 * clears it after deleting the last one: a reader that sees a half-written
 * value sees a superset of the lengths in use, never less. */
struct prefix_lens {
	__u64 v4;
	__u64 v6[3];
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
