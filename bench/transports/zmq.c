/* SPDX-License-Identifier: MIT */
/*
 * zmq - raw ZeroMQ over loopback TCP, the baseline of the `bridge` transport:
 * a PAIR socket per side for latency (ping-pong), PUSH (side A) -> PULL
 * (side B) for throughput, as an application would use ZeroMQ directly.
 * Default options (ZeroMQ sets TCP_NODELAY itself), except the high-water
 * marks, which hold about a ring's worth of bytes at large sizes, and a heap
 * that malloc does not give back per message (zmq_common.h).
 *
 * ZeroMQ contexts do not survive fork(), so each side makes its own in
 * init(), after the harness pinned it: the context's I/O thread inherits the
 * side's CPU. Side B binds tcp://127.0.0.1:* and publishes the port it got
 * in shared memory; side A waits for it and connects.
 */
#define _GNU_SOURCE
#include "../bench.h"
#include "zmq_common.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <zmq.h>

/* Shared by both sides (MAP_SHARED): only what they tell each other. */
struct zst {
	_Atomic int port; /* side B's, once bound; -1: B failed */
	enum bench_kind kind;
	int hwm; /* both queues, in messages */
};

/* Each process's own (globals are private after fork). */
static void *zctx, *zsock;

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct zst *s = bench_shared_alloc(sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	s->kind = env->kind;
	s->hwm = bench_zmq_hwm(env->size);
	*stp = s;
	return 0;
}

static int zerr(void)
{
	return -zmq_errno();
}

static int init(void *st, int side)
{
	struct zst *s = st;
	int type = s->kind == BENCH_LAT ? ZMQ_PAIR : side == SIDE_A ? ZMQ_PUSH : ZMQ_PULL;
	bench_zmq_keep_heap();
	if (!(zctx = zmq_ctx_new()) || !(zsock = zmq_socket(zctx, type)))
		goto fail;
	/* A delivers everything before its close returns (its last message
	 * is the end marker); B drops what is left. */
	int linger = side == SIDE_A ? -1 : 0;
	zmq_setsockopt(zsock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(zsock, ZMQ_SNDHWM, &s->hwm, sizeof(s->hwm));
	zmq_setsockopt(zsock, ZMQ_RCVHWM, &s->hwm, sizeof(s->hwm));
	if (side == SIDE_B) {
		char ep[64];
		size_t n = sizeof(ep);
		if (zmq_bind(zsock, "tcp://127.0.0.1:*") < 0 ||
		    zmq_getsockopt(zsock, ZMQ_LAST_ENDPOINT, ep, &n) < 0)
			goto fail;
		const char *colon = strrchr(ep, ':');
		atomic_store(&s->port, colon ? atoi(colon + 1) : -1);
		return 0;
	}
	int port;
	for (int i = 0; !(port = atomic_load(&s->port)); i++) {
		if (i > 10000)
			return -ETIMEDOUT; /* B never bound: 10 s */
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (port < 0)
		return -EIO;
	char ep[64];
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", port);
	if (zmq_connect(zsock, ep) < 0)
		goto fail;
	return 0;
fail:;
	int e = zerr();
	if (side == SIDE_B)
		atomic_store(&s->port, -1);
	return e;
}

static int send_(void *st, const void *msg, size_t len)
{
	(void)st;
	while (zmq_send(zsock, msg, len, 0) < 0)
		if (zmq_errno() != EINTR)
			return zerr();
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	(void)st;
	int n;
	while ((n = zmq_recv(zsock, buf, cap, 0)) < 0)
		if (zmq_errno() != EINTR)
			return zerr();
	return (size_t)n > cap ? -EMSGSIZE : n;
}

static void fini(void *st, int side)
{
	(void)st;
	(void)side;
	if (zsock)
		zmq_close(zsock);
	if (zctx)
		zmq_ctx_term(zctx);
	zsock = zctx = NULL;
}

const struct transport tp_zmq = {
	.name = "zmq",
	.desc = "raw ZeroMQ over loopback TCP: PAIR (latency), PUSH/PULL (throughput)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
	.fini = fini,
};
