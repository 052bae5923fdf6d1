/* SPDX-License-Identifier: MIT */
/*
 * sysv-msg - System V message queues (msgget/msgsnd/msgrcv), one private
 * queue per direction, default queue size (kernel.msgmnb). The API wants the
 * message behind a `long mtype`, so each side copies into and out of its
 * own struct msgbuf, as an application that keeps its data elsewhere must.
 * A message above kernel.msgmax is skipped. The queues are removed by the
 * harness after the measurement (IPC_RMID), however it ended.
 */
#define _GNU_SOURCE
#include "../bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/msg.h>

struct msg {
	long mtype;
	char mtext[];
};

struct st {
	int id[2];
	int tx, rx;
	struct msg *sbuf, *rbuf;
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

static int setup(void **stp, const struct tp_env *env, char *why)
{
	long max = read_long("/proc/sys/kernel/msgmax");
	if (max > 0 && (long)env->size > max)
		return tp_fail(why, -EMSGSIZE, "a %zu-byte message is above kernel.msgmax (%ld)",
			       env->size, max);
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	for (int d = 0; d < 2; d++) {
		s->id[d] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
		if (s->id[d] < 0)
			return tp_fail(why, -errno, "msgget: %s", strerror(errno));
		bench_cleanup_sysv_msq(s->id[d]);
		struct msqid_ds ds;
		if (msgctl(s->id[d], IPC_STAT, &ds) == 0 && ds.msg_qbytes < 2 * env->size) {
			ds.msg_qbytes = 2 * env->size; /* root only; else the default stays */
			msgctl(s->id[d], IPC_SET, &ds);
		}
	}
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	s->tx = s->id[side];
	s->rx = s->id[1 - side];
	return 0;
}

static int send_(void *st, const void *m, size_t len)
{
	struct st *s = st;
	if (!s->sbuf && !(s->sbuf = malloc(sizeof(struct msg) + len)))
		return -ENOMEM;
	s->sbuf->mtype = 1;
	memcpy(s->sbuf->mtext, m, len);
	while (msgsnd(s->tx, s->sbuf, len, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct st *s = st;
	if (!s->rbuf && !(s->rbuf = malloc(sizeof(struct msg) + cap)))
		return -ENOMEM;
	for (;;) {
		ssize_t n = msgrcv(s->rx, s->rbuf, cap, 0, 0);
		if (n >= 0) {
			memcpy(buf, s->rbuf->mtext, (size_t)n);
			return n;
		}
		if (errno != EINTR)
			return -errno;
	}
}

const struct transport tp_sysv_msg = {
	.name = "sysv-msg",
	.desc = "System V message queue per direction (msgsnd/msgrcv)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
};
