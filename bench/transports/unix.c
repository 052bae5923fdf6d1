/* SPDX-License-Identifier: MIT */
/*
 * unix - a SOCK_STREAM socketpair(2) (AF_UNIX), one socket per side, default
 * buffer sizes. A byte stream: messages are written and read whole.
 */
#define _GNU_SOURCE
#include "../bench.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct st {
	int sv[2];
	int fd;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	(void)env;
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sv) < 0)
		return tp_fail(why, -errno, "socketpair: %s", strerror(errno));
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	close(s->sv[1 - side]);
	s->fd = s->sv[side];
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	return bench_write_full(((struct st *)st)->fd, msg, len);
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	return bench_read_full(((struct st *)st)->fd, buf, cap);
}

static void fini(void *st, int side)
{
	(void)side;
	close(((struct st *)st)->fd);
}

const struct transport tp_unix = {
	.name = "unix",
	.desc = "AF_UNIX SOCK_STREAM socketpair, default buffers",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
	.fini = fini,
};
