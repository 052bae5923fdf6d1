/* SPDX-License-Identifier: MIT */
/*
 * sock_msg.h - what unix-dgram and unix-seqpacket share: an AF_UNIX
 * socketpair of a message-preserving type, one socket per side. A message
 * must fit in the sender's socket buffer; for larger sizes the buffer is
 * raised (SO_SNDBUFFORCE as root, else SO_SNDBUF up to net.core.wmem_max),
 * and a size that still does not fit is reported and skipped.
 */
#ifndef SHMRING_BENCH_SOCK_MSG_H
#define SHMRING_BENCH_SOCK_MSG_H

#include "../bench.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct sockmsg {
	int sv[2];
	int fd;
};

static inline int sockmsg_setup(void **stp, const struct tp_env *env, char *why, int type,
				const char *tname)
{
	struct sockmsg *s = (struct sockmsg *)calloc(1, sizeof(*s));
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

static inline int sockmsg_init(void *st, int side)
{
	struct sockmsg *s = (struct sockmsg *)st;
	close(s->sv[1 - side]);
	s->fd = s->sv[side];
	return 0;
}

static inline int sockmsg_send(void *st, const void *msg, size_t len)
{
	for (;;) {
		ssize_t n = send(((struct sockmsg *)st)->fd, msg, len, 0);
		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EIO; /* a datagram goes whole or not at all */
		if (errno != EINTR)
			return -errno;
	}
}

static inline ssize_t sockmsg_recv(void *st, void *buf, size_t cap)
{
	for (;;) {
		ssize_t n = recv(((struct sockmsg *)st)->fd, buf, cap, 0);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

static inline void sockmsg_fini(void *st, int side)
{
	(void)side;
	close(((struct sockmsg *)st)->fd);
}

#endif /* SHMRING_BENCH_SOCK_MSG_H */
