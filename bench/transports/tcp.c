/* SPDX-License-Identifier: MIT */
/*
 * tcp - a TCP connection over loopback (127.0.0.1, an ephemeral port),
 * TCP_NODELAY on both ends, default buffers. Connected before fork; side A
 * keeps the connecting socket, side B the accepted one.
 */
#define _GNU_SOURCE
#include "../bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct st {
	int fd[2];
	int me;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	(void)env;
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	int one = 1, l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return tp_fail(why, -errno, "socket: %s", strerror(errno));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0) {
		int e = errno;
		close(l);
		return tp_fail(why, -e, "loopback listener: %s", strerror(e));
	}
	s->fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd[0] < 0 || connect(s->fd[0], (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (s->fd[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		int e = errno;
		close(l);
		return tp_fail(why, -e, "loopback connect: %s", strerror(e));
	}
	close(l);
	for (int i = 0; i < 2; i++)
		if (setsockopt(s->fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			return tp_fail(why, -errno, "TCP_NODELAY: %s", strerror(errno));
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	close(s->fd[1 - side]);
	s->me = s->fd[side];
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	return bench_write_full(((struct st *)st)->me, msg, len);
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	return bench_read_full(((struct st *)st)->me, buf, cap);
}

static void fini(void *st, int side)
{
	(void)side;
	close(((struct st *)st)->me);
}

const struct transport tp_tcp = {
	.name = "tcp",
	.desc = "TCP over loopback, TCP_NODELAY",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
	.fini = fini,
};
