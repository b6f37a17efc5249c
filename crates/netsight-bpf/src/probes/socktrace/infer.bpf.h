/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel side's protocol guess: one small function per protocol on the
 * first captured bytes, each returning the message type or -1 for "not
 * this protocol". User space parses for real and decides; this only hints
 * (and the guess is cached per socket, so most records run one function). */
#ifndef NETSIGHT_SOCKTRACE_INFER_BPF_H
#define NETSIGHT_SOCKTRACE_INFER_BPF_H

#define DNS_PORT 53
#define REDIS_PORT 6379

struct infer_in {
	const __u8 *p; /* captured bytes */
	__u32 len;
	bool tcp;
	__u16 lport;
	__u16 rport;
};

static __always_inline bool starts4(const __u8 *p, char a, char b, char c, char d)
{
	return p[0] == a && p[1] == b && p[2] == c && p[3] == d;
}

static __always_inline int infer_http1(const struct infer_in *in)
{
	const __u8 *p = in->p;

	if (!in->tcp || in->len < 8)
		return -1;
	if (starts4(p, 'H', 'T', 'T', 'P') && p[4] == '/' && p[5] == '1' && p[6] == '.')
		return MSG_RESPONSE;
	if (starts4(p, 'G', 'E', 'T', ' ') || starts4(p, 'P', 'O', 'S', 'T') ||
	    starts4(p, 'P', 'U', 'T', ' ') || starts4(p, 'H', 'E', 'A', 'D') ||
	    starts4(p, 'D', 'E', 'L', 'E') || starts4(p, 'O', 'P', 'T', 'I') ||
	    starts4(p, 'P', 'A', 'T', 'C') || starts4(p, 'C', 'O', 'N', 'N') ||
	    starts4(p, 'T', 'R', 'A', 'C'))
		return MSG_REQUEST;
	return -1;
}

/* RESP: clients send arrays of bulk strings ("*2\r\n$3\r\nGET..."); every
 * reply starts with a type byte. Only on the Redis port, or on a socket
 * already cached as Redis, since one type byte alone proves little. */
static __always_inline int infer_redis(const struct infer_in *in, bool cached)
{
	const __u8 *p = in->p;
	__u8 c;

	if (!in->tcp || in->len < 3)
		return -1;
	if (!cached && in->lport != REDIS_PORT && in->rport != REDIS_PORT)
		return -1;
	c = p[0];
	if (c == '*' && p[1] >= '0' && p[1] <= '9') {
		if (in->len >= 6 && (p[3] == '$' || p[4] == '$' || p[5] == '$'))
			return MSG_REQUEST;
		return MSG_RESPONSE;
	}
	if (c == '+' || c == '-' || c == ':' || c == '$' || c == '_' || c == ',' || c == '#' ||
	    c == '%' || c == '~' || c == '>' || c == '(' || c == '!' || c == '=' || c == '|')
		return MSG_RESPONSE;
	return -1;
}

/* DNS over UDP, or over TCP after the 2-byte length: port 53, opcode
 * QUERY, exactly one question. */
static __always_inline int infer_dns(const struct infer_in *in)
{
	const __u8 *h = in->p;

	if (in->lport != DNS_PORT && in->rport != DNS_PORT)
		return -1;
	if (in->tcp)
		h += 2;
	if (in->len < (in->tcp ? 14 : 12))
		return -1;
	if ((h[2] & 0x78) != 0 || h[4] != 0 || h[5] != 1)
		return -1;
	return (h[2] & 0x80) ? MSG_RESPONSE : MSG_REQUEST;
}

/* Runs the cached protocol's function, or each in turn on a new socket. */
static __always_inline int infer(const struct infer_in *in, __u8 cached, __u8 *hint)
{
	int t;

	switch (cached) {
	case L7_HTTP1:
		t = infer_http1(in);
		break;
	case L7_REDIS:
		t = infer_redis(in, true);
		break;
	case L7_DNS:
		t = infer_dns(in);
		break;
	default:
		t = -1;
	}
	if (cached != L7_UNKNOWN) {
		*hint = cached;
		return t;
	}
	if ((t = infer_dns(in)) >= 0)
		*hint = L7_DNS;
	else if ((t = infer_http1(in)) >= 0)
		*hint = L7_HTTP1;
	else if ((t = infer_redis(in, false)) >= 0)
		*hint = L7_REDIS;
	else
		*hint = L7_UNKNOWN;
	return t;
}

#endif
