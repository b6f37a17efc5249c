/* SPDX-License-Identifier: GPL-2.0 */
/* Which syscall is in progress and where its user buffer is, from the
 * task's saved user registers (bpf_task_pt_regs). The socket tracepoints
 * fire after the data moved, inside the syscall, so the registers still
 * hold its number and arguments. */
#ifndef NETSIGHT_SOCKTRACE_SYSCALL_BPF_H
#define NETSIGHT_SOCKTRACE_SYSCALL_BPF_H

#ifndef __TARGET_ARCH_x86
#error "socktrace decodes x86-64 syscall numbers and registers only"
#endif

/* x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#define NR_READ 0
#define NR_WRITE 1
#define NR_READV 19
#define NR_WRITEV 20
#define NR_SENDFILE 40
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#define NR_SPLICE 275
#define NR_RECVMMSG 299
#define NR_SENDMMSG 307
#define NR_PREADV2 327
#define NR_PWRITEV2 328
#define NR_IO_URING_ENTER 426

/* thread_info.status bit of a 32-bit (ia32) syscall, whose numbers differ. */
#define TS_COMPAT 0x0002

/* User-space ABI layouts (stable; not taken from the kernel's BTF). */
struct ns_iovec {
	__u64 base;
	__u64 len;
};

struct ns_msghdr {
	__u64 name;
	__s32 namelen;
	__s32 _pad;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
	__u32 _pad2;
};

struct ns_mmsghdr {
	struct ns_msghdr hdr;
	__u32 len;
	__u32 _pad;
};

struct ns_sockaddr {
	__u16 family;
	__u16 port; /* network order */
	union {
		__u32 v4;
		struct {
			__u32 flowinfo;
			__u8 v6[16];
		};
	};
};

/* Where a syscall's bytes are. */
struct user_io {
	__u8 kind;      /* enum sys_kind */
	__u64 buf;      /* one buffer (read/write/sendto/recvfrom), or 0 */
	__u64 iov;      /* or an iovec array */
	__u64 iovcnt;
	__u64 sockaddr; /* sendto/sendmsg destination, or 0 */
	__u64 mmsg_vec; /* sendmmsg/recvmmsg vector, to locate the message */
	__u32 mmsg_vlen;
};

/* Not captured, counted: how the bytes moved when no user buffer exists. */
enum uncaptured { UNC_NONE = 0, UNC_SENDFILE, UNC_SPLICE, UNC_IO_URING, UNC_OTHER };

static __always_inline enum uncaptured uncaptured_kind(long nr)
{
	if (nr == NR_SENDFILE)
		return UNC_SENDFILE;
	if (nr == NR_SPLICE)
		return UNC_SPLICE;
	if (nr == NR_IO_URING_ENTER)
		return UNC_IO_URING;
	return UNC_OTHER;
}

static __always_inline int read_msghdr(__u64 user, struct user_io *io)
{
	struct ns_msghdr m;

	if (bpf_probe_read_user(&m, sizeof(m), (void *)user))
		return -1;
	io->iov = m.iov;
	io->iovcnt = m.iovlen;
	io->sockaddr = m.name;
	return 0;
}

/* Decodes the syscall in progress. Returns UNC_NONE when `io` says where
 * the bytes are, or why they cannot be captured. */
static __always_inline enum uncaptured decode_syscall(struct pt_regs *regs, bool send,
						      struct user_io *io)
{
	long nr = regs->orig_ax;
	__u64 a1 = regs->si, a2 = regs->dx;

	switch (nr) {
	case NR_READ:
	case NR_WRITE:
		if ((nr == NR_WRITE) != send)
			return UNC_OTHER;
		io->kind = send ? SYS_WRITE : SYS_READ;
		io->buf = a1;
		return UNC_NONE;
	case NR_RECVFROM:
	case NR_SENDTO:
		if ((nr == NR_SENDTO) != send)
			return UNC_OTHER;
		io->kind = send ? SYS_SENDTO : SYS_RECVFROM;
		io->buf = a1;
		if (send)
			io->sockaddr = regs->r8;
		return UNC_NONE;
	case NR_READV:
	case NR_WRITEV:
	case NR_PREADV2:
	case NR_PWRITEV2:
		if ((nr == NR_WRITEV || nr == NR_PWRITEV2) != send)
			return UNC_OTHER;
		if (nr == NR_READV || nr == NR_WRITEV)
			io->kind = send ? SYS_WRITEV : SYS_READV;
		else
			io->kind = send ? SYS_PWRITEV2 : SYS_PREADV2;
		io->iov = a1;
		io->iovcnt = a2;
		return UNC_NONE;
	case NR_RECVMSG:
	case NR_SENDMSG:
		if ((nr == NR_SENDMSG) != send)
			return UNC_OTHER;
		io->kind = send ? SYS_SENDMSG : SYS_RECVMSG;
		if (read_msghdr(a1, io))
			return UNC_OTHER;
		if (!send)
			io->sockaddr = 0; /* filled in only after the tracepoint */
		return UNC_NONE;
	case NR_RECVMMSG:
	case NR_SENDMMSG:
		if ((nr == NR_SENDMMSG) != send)
			return UNC_OTHER;
		io->kind = send ? SYS_SENDMMSG : SYS_RECVMMSG;
		io->mmsg_vec = a1;
		io->mmsg_vlen = a2;
		return UNC_NONE;
	}
	return uncaptured_kind(nr);
}

#endif
