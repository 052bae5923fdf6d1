/* SPDX-License-Identifier: MIT */
/*
 * tcp - a TCP connection over loopback (127.0.0.1, an ephemeral port),
 * TCP_NODELAY on both ends, default buffers. Connected before fork; side A
 * keeps the connecting socket, side B the accepted one.
 */
#define _GNU_SOURCE
#include "sockpair.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

static int setup(void **stp, const struct tp_env *env, char *why)
{
	(void)env;
	struct sockpair *s = calloc(1, sizeof(*s));
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
	s->sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->sv[0] < 0 || connect(s->sv[0], (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (s->sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		int e = errno;
		close(l);
		return tp_fail(why, -e, "loopback connect: %s", strerror(e));
	}
	close(l);
	for (int i = 0; i < 2; i++)
		if (setsockopt(s->sv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			return tp_fail(why, -errno, "TCP_NODELAY: %s", strerror(errno));
	*stp = s;
	return 0;
}

const struct transport tp_tcp = {
	.name = "tcp",
	.desc = "TCP over loopback, TCP_NODELAY",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = sockpair_init,
	.send = sockpair_send_stream,
	.recv = sockpair_recv_stream,
	.fini = sockpair_fini,
};
