/* SPDX-License-Identifier: MIT */
/*
 * eventfd - payload in shared memory (the slot queue of slotring.h), an
 * eventfd(2) per direction for the signal: the sender writes 1 after every
 * message, the receiver blocks in read(2) and takes as many messages as the
 * counter says. A full queue puts the sender to sleep on a second eventfd,
 * which the receiver writes only when the sender said it sleeps. The classic
 * "shared memory plus a kernel doorbell" design: a system call per message
 * on the sending side, no copy through the kernel.
 */
#define _GNU_SOURCE
#include "slotring.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct dir {
	struct slotq q;
	int data_efd;    /* sender -> receiver: messages published */
	int room_efd;    /* receiver -> sender: room, when the sender waits */
	uint64_t credit; /* receiver: messages signalled and not yet taken */
};

struct st {
	struct dir d[2];
	struct dir *tx, *rx;
	size_t size;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	for (int i = 0; i < 2; i++) {
		if (slotq_make(&s->d[i].q, env->size) < 0)
			return tp_fail(why, -ENOMEM, "out of shared memory");
		s->d[i].data_efd = eventfd(0, EFD_CLOEXEC);
		s->d[i].room_efd = eventfd(0, EFD_CLOEXEC);
		if (s->d[i].data_efd < 0 || s->d[i].room_efd < 0)
			return tp_fail(why, -errno, "eventfd: %s", strerror(errno));
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

static int efd_read(int fd, uint64_t *v)
{
	while (read(fd, v, 8) != 8)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int efd_write(int fd)
{
	uint64_t one = 1;
	while (write(fd, &one, 8) != 8)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	struct st *s = st;
	struct dir *d = s->tx;
	void *slot;
	int rc;
	while (!(slot = slotq_room(&d->q))) {
		/* Announce, re-check, sleep: the receiver looks at prod_waiting
		 * after it frees a slot (a full fence on both sides). */
		atomic_store(&d->q.r->prod_waiting, 1);
		atomic_thread_fence(memory_order_seq_cst); /* prod_waiting before the slot word */
		if ((slot = slotq_room(&d->q))) {
			atomic_store(&d->q.r->prod_waiting, 0);
			break;
		}
		uint64_t v;
		if ((rc = efd_read(d->room_efd, &v)) < 0)
			return rc;
		atomic_store(&d->q.r->prod_waiting, 0);
	}
	memcpy(slot, msg, len);
	slotq_publish(&d->q);
	return efd_write(d->data_efd);
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct st *s = st;
	struct dir *d = s->rx;
	const void *slot;
	int rc;
	while (d->credit == 0) {
		uint64_t v;
		if ((rc = efd_read(d->data_efd, &v)) < 0)
			return rc;
		d->credit += v;
	}
	while (!(slot = slotq_next(&d->q)))
		bench_relax(); /* cannot happen: the signal follows the publish */
	d->credit--;
	size_t len = s->size < cap ? s->size : cap;
	memcpy(buf, slot, len);
	slotq_consume(&d->q);
	atomic_thread_fence(memory_order_seq_cst); /* the freed slot before prod_waiting */
	if (atomic_load_explicit(&d->q.r->prod_waiting, memory_order_relaxed))
		if ((rc = efd_write(d->room_efd)) < 0)
			return rc;
	return (ssize_t)len;
}

const struct transport tp_eventfd = {
	.name = "eventfd",
	.desc = "payload in a shared-memory slot queue, eventfd doorbell per message",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
};
