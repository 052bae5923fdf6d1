/* SPDX-License-Identifier: MIT */
/*
 * stream - shmring_pipe(): the library's drop-in pipe replacement, one per
 * direction, used exactly as `pipe` uses pipe(2): unused ends closed after
 * fork, messages written and read whole with shmring_write / shmring_read
 * (partial reads are resumed). Default wait.
 *
 * Until stream rings land, shmring_pipe() returns -EOPNOTSUPP and this
 * transport reports itself unavailable.
 */
#define _GNU_SOURCE
#include "../bench.h"
#include <shmring.h>

#include <stdlib.h>

struct st {
	shmring *ends[2][2]; /* [direction][0 = read end, 1 = write end] */
	shmring *w, *r;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	struct shmring_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity = (size_t)1 << 20;
	while (cfg.capacity < 4 * env->size)
		cfg.capacity <<= 1;
	for (int d = 0; d < 2; d++) {
		int rc = shmring_pipe(s->ends[d], &cfg);
		if (rc == -EOPNOTSUPP)
			return tp_fail(why, rc,
				       "unavailable: shmring_pipe() returns EOPNOTSUPP "
				       "(stream rings are not implemented yet)");
		if (rc < 0)
			return tp_fail(why, rc, "unavailable: shmring_pipe(): %s", strerror(-rc));
	}
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	/* Like inherited pipe ends: keep the write end of our direction and
	 * the read end of the other, close the rest. */
	shmring_close(s->ends[side][0]);
	shmring_close(s->ends[1 - side][1]);
	s->w = s->ends[side][1];
	s->r = s->ends[1 - side][0];
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	struct st *s = st;
	const char *p = msg;
	while (len) {
		ssize_t n = shmring_write(s->w, p, len, -1);
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct st *s = st;
	size_t got = 0;
	while (got < cap) {
		ssize_t n = shmring_read(s->r, (char *)buf + got, cap - got, -1);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int wakeups(void *st, uint64_t *out)
{
	struct shmring_stat sst;
	int rc = shmring_stat(((struct st *)st)->r, &sst);
	if (rc < 0)
		return rc;
	*out = sst.wakeups;
	return 0;
}

static void fini(void *st, int side)
{
	struct st *s = st;
	(void)side;
	shmring_close(s->w);
	shmring_close(s->r);
}

const struct transport tp_stream = {
	.name = "stream",
	.desc = "shmring_pipe() per direction, shmring_write/shmring_read (pipe semantics)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
	.wakeups = wakeups,
	.fini = fini,
};
