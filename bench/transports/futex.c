/* SPDX-License-Identifier: MIT */
/*
 * futex - the floor of a sleeping handoff, what `ring-block` is measured
 * against as `ring-spin` is against `floor`: per direction, the slot queue
 * of slotring.h in shared memory and one shared futex word beside it. The
 * receiver sleeps at once when the queue is empty (FUTEX_WAIT, no timeout);
 * the sender publishes the message, bumps the word and calls FUTEX_WAKE
 * after every message, whether anyone sleeps or not. No liveness, no sleeper
 * bookkeeping, no spinning: one system call on each side per message, which
 * is what a pipe costs too, so the difference to `pipe` is the kernel's
 * futex against its pipe code. Latency only (a wake per message would make a
 * throughput figure of system calls, not of a design).
 */
#define _GNU_SOURCE
#include "slotring.h"

#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct dir {
	struct slotq q;
	_Atomic uint32_t *word; /* bumped after every message; the receiver sleeps on it */
};

struct st {
	struct dir d[2]; /* direction 0 = A->B */
	struct dir *tx, *rx;
	size_t size;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	for (int i = 0; i < 2; i++) {
		if (slotq_make(&s->d[i].q, env->size) < 0 ||
		    !(s->d[i].word = bench_shared_alloc(128)))
			return tp_fail(why, -ENOMEM, "out of shared memory");
	}
	s->size = env->size;
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	s->tx = &s->d[side];
	s->rx = &s->d[1 - side];
	return 0;
}

/* Shared futexes (no FUTEX_PRIVATE_FLAG): the two sides are processes. */
static int send_(void *st, const void *msg, size_t len)
{
	struct st *s = st;
	void *slot;
	while (!(slot = slotq_room(&s->tx->q)))
		bench_relax(); /* never in a ping-pong: one message in flight */
	memcpy(slot, msg, len);
	slotq_publish(&s->tx->q);
	/* seq_cst, after the publication: pairs with the receiver's load of
	 * the word before its second look at the queue (recv_) */
	atomic_fetch_add(s->tx->word, 1);
	syscall(SYS_futex, s->tx->word, FUTEX_WAKE, 1, NULL, NULL, 0);
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct st *s = st;
	const void *slot;
	while (!(slot = slotq_next(&s->rx->q))) {
		/* pairs with the sender's bump: a message published before
		 * the bump that this load sees is found by the look below;
		 * one published after changes the word, and FUTEX_WAIT
		 * returns at once */
		uint32_t v = atomic_load(s->rx->word);
		if ((slot = slotq_next(&s->rx->q)))
			break;
		if (syscall(SYS_futex, s->rx->word, FUTEX_WAIT, v, NULL, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	size_t n = s->size < cap ? s->size : cap;
	memcpy(buf, slot, n);
	slotq_consume(&s->rx->q);
	return (ssize_t)n;
}

const struct transport tp_futex = {
	.name = "futex",
	.desc = "slot queue in shared memory, receiver sleeps on a shared futex at once, "
		"sender wakes after every message (the floor of ring-block)",
	.caps = TP_LAT,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
};
