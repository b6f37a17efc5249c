/* SPDX-License-Identifier: GPL-2.0 */
/* The fallback before Linux 6.3 (no sock:sock_send_length): at syscall
 * exit the only handle on the socket is the file descriptor in the saved
 * registers, so walk task -> files -> fdtable -> file -> socket -> sock.
 * Every pointer past the task comes from probe reads (untrusted), so the
 * socket's fields are probe-read too. */
#ifndef NETSIGHT_SOCKTRACE_BY_FD_BPF_H
#define NETSIGHT_SOCKTRACE_BY_FD_BPF_H

/* include/uapi/linux/stat.h (macros are not in vmlinux.h). */
#define NS_S_IFMT 00170000
#define NS_S_IFSOCK 0140000

/* The socket open as `fd` in `task`, or NULL when it is not a socket, and
 * its inode number (unique among live sockets, not reused soon). A file
 * whose inode is S_IFSOCK is a sockfs file: its private_data is the struct
 * socket (sockets cannot be open()ed through a path). */
static __always_inline struct sock *sock_of_fd(struct task_struct *task, __u64 fd, __u64 *ino)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	struct socket *so;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & NS_S_IFMT) != NS_S_IFSOCK)
		return NULL;
	*ino = BPF_CORE_READ(f, f_inode, i_ino);
	so = BPF_CORE_READ(f, private_data);
	return so ? BPF_CORE_READ(so, sk) : NULL;
}

/* Which way a syscall moves data: 1 send, 0 receive, -1 not socket I/O we
 * look at. sendfile and splice count as sends (their output is the
 * socket); they are counted, not captured. */
static __always_inline int sys_direction(long nr)
{
	switch (nr) {
	case NR_WRITE:
	case NR_WRITEV:
	case NR_PWRITEV2:
	case NR_SENDTO:
	case NR_SENDMSG:
	case NR_SENDMMSG:
	case NR_SENDFILE:
	case NR_SPLICE:
		return 1;
	case NR_READ:
	case NR_READV:
	case NR_PREADV2:
	case NR_RECVFROM:
	case NR_RECVMSG:
	case NR_RECVMMSG:
		return 0;
	}
	return -1;
}

/* The descriptor the bytes went to or came from: splice's output is its
 * third argument, every other call's socket is the first. */
static __always_inline __u64 sys_fd(struct pt_regs *regs, long nr)
{
	return nr == NR_SPLICE ? regs->dx : regs->di;
}

/* recv flags, for MSG_PEEK: recvfrom's fourth argument, recvmsg's and
 * recvmmsg's third. */
static __always_inline __u64 sys_recv_flags(struct pt_regs *regs, long nr)
{
	if (nr == NR_RECVFROM)
		return regs->r10;
	if (nr == NR_RECVMSG || nr == NR_RECVMMSG)
		return regs->dx;
	return 0;
}

#endif
