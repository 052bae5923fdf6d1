/* SPDX-License-Identifier: MIT */
/*
 * pipe - pipe(2), one per direction, default size (64 KiB on Linux): the
 * baseline every other figure is divided by. Messages are written and read
 * whole (read is resumed after a partial read).
 */
#define _GNU_SOURCE
#include "../bench.h"

#include <stdlib.h>
#include <unistd.h>

struct st {
	int p[2][2]; /* [direction][read, write] */
	int r, w;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	(void)env;
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	for (int d = 0; d < 2; d++)
		if (pipe(s->p[d]) < 0)
			return tp_fail(why, -errno, "pipe: %s", strerror(errno));
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	close(s->p[side][0]);
	close(s->p[1 - side][1]);
	s->w = s->p[side][1];
	s->r = s->p[1 - side][0];
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	return bench_write_full(((struct st *)st)->w, msg, len);
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	return bench_read_full(((struct st *)st)->r, buf, cap);
}

static void fini(void *st, int side)
{
	struct st *s = st;
	(void)side;
	close(s->w);
	close(s->r);
}

const struct transport tp_pipe = {
	.name = "pipe",
	.desc = "pipe(2) per direction, default size (the baseline)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
	.fini = fini,
};
