/* SPDX-License-Identifier: MIT */
/*
 * mq - POSIX message queues (mq_open(3)), one per direction, 10 messages deep
 * (Linux's default), mq_msgsize = the message size. The names are unlinked
 * as soon as both queues are open; the descriptors are inherited by fork.
 *
 * Limits: a message above /proc/sys/fs/mqueue/msgsize_max is refused unless
 * the process has CAP_SYS_RESOURCE; as root the limit is raised for the
 * moment of mq_open() and put back at once. The queues' bytes count against
 * RLIMIT_MSGQUEUE, which is raised for this process (it is per process, not
 * system-wide) as far as the hard limit allows. A size that still does not
 * fit is skipped, and says why.
 */
#define _GNU_SOURCE
#include "../bench.h"

#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#define MQ_DEPTH 10
#define MSGSIZE_MAX "/proc/sys/fs/mqueue/msgsize_max"

struct st {
	mqd_t q[2];
	mqd_t tx, rx;
};

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	int rc = fprintf(f, "%ld\n", v) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && !rc)
		rc = -errno;
	return rc;
}

static void raise_rlimit(size_t size)
{
	struct rlimit rl;
	rlim_t need = 2 * MQ_DEPTH * (rlim_t)(size + 256) + 65536;
	if (getrlimit(RLIMIT_MSGQUEUE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	struct rlimit want = { need, rl.rlim_max >= need ? rl.rlim_max : need };
	if (setrlimit(RLIMIT_MSGQUEUE, &want) < 0) {
		want.rlim_max = rl.rlim_max;
		want.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MSGQUEUE, &want);
	}
}

static mqd_t open_queue(const char *name, size_t size, long depth)
{
	struct mq_attr a = { .mq_maxmsg = depth, .mq_msgsize = (long)size };
	return mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &a);
}

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	raise_rlimit(env->size);
	for (int d = 0; d < 2; d++) {
		/* A throughput run never sends from B to A: that queue is kept
		 * small, so that the big one fits RLIMIT_MSGQUEUE. */
		size_t size = d == 1 && env->kind == BENCH_THR ? 8 : env->size;
		long depth = d == 1 && env->kind == BENCH_THR ? 1 : MQ_DEPTH;
		char name[96];
		bench_unique_name(name, sizeof(name), d ? "mq1" : "mq0");
		bench_cleanup_mq(name);
		s->q[d] = open_queue(name, size, depth);
		long max = read_long(MSGSIZE_MAX);
		if (s->q[d] == (mqd_t)-1 && errno == EINVAL && max > 0 && (long)size > max &&
		    geteuid() == 0 && write_long(MSGSIZE_MAX, (long)size) == 0) {
			s->q[d] = open_queue(name, size, depth);
			int e = errno;
			write_long(MSGSIZE_MAX, max); /* put it back at once */
			errno = e;
		}
		if (s->q[d] == (mqd_t)-1) {
			int e = errno;
			if (e == EINVAL && max > 0 && (long)size > max)
				return tp_fail(
					why, -EMSGSIZE,
					"a %zu-byte message is above fs.mqueue.msgsize_max (%ld); "
					"raise it, or run as root",
					env->size, max);
			struct rlimit rl = { 0, 0 };
			getrlimit(RLIMIT_MSGQUEUE, &rl);
			if (e == EMFILE)
				return tp_fail(why, -e,
					       "queues of %d x %zu bytes exceed RLIMIT_MSGQUEUE "
					       "(%llu bytes; raising it needs CAP_SYS_RESOURCE)",
					       MQ_DEPTH, env->size,
					       (unsigned long long)rl.rlim_cur);
			if (e == ENOMEM)
				return tp_fail(why, -e, "mq_open(%d x %zu bytes): %s", MQ_DEPTH,
					       env->size, strerror(e));
			return tp_fail(why, -e, "mq_open: %s", strerror(e));
		}
		mq_unlink(name);
	}
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	s->tx = s->q[side];
	s->rx = s->q[1 - side];
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	while (mq_send(((struct st *)st)->tx, msg, len, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	for (;;) {
		ssize_t n = mq_receive(((struct st *)st)->rx, buf, cap, NULL);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

static void fini(void *st, int side)
{
	struct st *s = st;
	(void)side;
	mq_close(s->tx);
	mq_close(s->rx);
}

const struct transport tp_mq = {
	.name = "mq",
	.desc = "POSIX message queue per direction (mq_send/mq_receive), 10 deep",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
	.fini = fini,
};
