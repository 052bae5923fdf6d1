/* SPDX-License-Identifier: MIT */
/*
 * sockpair.h - what the socket transports share: two connected sockets made
 * before the fork, of which each side keeps one (init) and closes it at the
 * end (fini).
 *
 *  - Byte streams (unix, tcp): a message is written and read whole, resumed
 *    after partial transfers (sockpair_send_stream, sockpair_recv_stream).
 *  - Message-preserving AF_UNIX socketpairs (unix-dgram, unix-seqpacket):
 *    one send(2) per message (sockpair_setup_msg, sockpair_send_msg,
 *    sockpair_recv_msg). A message must fit in the sender's socket buffer;
 *    for larger sizes the buffer is raised (SO_SNDBUFFORCE as root, else
 *    SO_SNDBUF up to net.core.wmem_max), and a size that still does not fit
 *    is reported and skipped.
 */
#ifndef SHMRING_BENCH_SOCKPAIR_H
#define SHMRING_BENCH_SOCKPAIR_H

#include "../bench.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct sockpair {
	int sv[2]; /* side A's socket, side B's, until init */
	int fd;    /* this side's, after init */
};

static inline int sockpair_init(void *st, int side)
{
	struct sockpair *s = (struct sockpair *)st;
	close(s->sv[1 - side]);
	s->fd = s->sv[side];
	return 0;
}

static inline void sockpair_fini(void *st, int side)
{
	(void)side;
	close(((struct sockpair *)st)->fd);
}

/* ---- byte streams ---- */

static inline int sockpair_send_stream(void *st, const void *msg, size_t len)
{
	return bench_write_full(((struct sockpair *)st)->fd, msg, len);
}

static inline ssize_t sockpair_recv_stream(void *st, void *buf, size_t cap)
{
	return bench_read_full(((struct sockpair *)st)->fd, buf, cap);
}

/* ---- message-preserving socketpairs ---- */

static inline int sockpair_setup_msg(void **stp, const struct tp_env *env, char *why, int type,
				     const char *tname)
{
	struct sockpair *s = (struct sockpair *)calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, s->sv) < 0)
		return tp_fail(why, -errno, "socketpair(%s): %s", tname, strerror(errno));
	int want = (int)(env->size + 4096), have = 0;
	socklen_t sl = sizeof(have);
	getsockopt(s->sv[0], SOL_SOCKET, SO_SNDBUF, &have, &sl);
	if (env->size + 512 > (size_t)have) {
		for (int i = 0; i < 2; i++)
			if (setsockopt(s->sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) <
			    0)
				setsockopt(s->sv[i], SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
		getsockopt(s->sv[0], SOL_SOCKET, SO_SNDBUF, &have, &sl);
	}
	/* Probe: one message each way, without waiting. */
	char *probe = (char *)calloc(1, env->size);
	if (!probe)
		return tp_fail(why, -ENOMEM, "out of memory");
	for (int i = 0; i < 2; i++) {
		ssize_t n = send(s->sv[i], probe, env->size, MSG_DONTWAIT);
		if (n < 0) {
			int e = errno;
			free(probe);
			if (e == EMSGSIZE || e == ENOBUFS || e == EAGAIN)
				return tp_fail(
					why, -EMSGSIZE,
					"a %zu-byte message does not fit the socket buffer "
					"(SO_SNDBUF %d; raise net.core.wmem_max or run as root)",
					env->size, have);
			return tp_fail(why, -e, "%s probe: %s", tname, strerror(e));
		}
		if (recv(s->sv[1 - i], probe, env->size, MSG_DONTWAIT) != (ssize_t)env->size) {
			free(probe);
			return tp_fail(why, -EIO, "%s probe: message did not come through", tname);
		}
	}
	free(probe);
	*stp = s;
	return 0;
}

static inline int sockpair_send_msg(void *st, const void *msg, size_t len)
{
	for (;;) {
		ssize_t n = send(((struct sockpair *)st)->fd, msg, len, 0);
		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EIO; /* a datagram goes whole or not at all */
		if (errno != EINTR)
			return -errno;
	}
}

static inline ssize_t sockpair_recv_msg(void *st, void *buf, size_t cap)
{
	for (;;) {
		ssize_t n = recv(((struct sockpair *)st)->fd, buf, cap, 0);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

#endif /* SHMRING_BENCH_SOCKPAIR_H */
