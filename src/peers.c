/* SPDX-License-Identifier: MIT */
/*
 * peers.c - the endpoint table: attaching and detaching roles, liveness,
 * and the end-of-stream rules (-EPIPE).
 *
 * Liveness is an OFD lock (F_OFD_SETLK), not a pid. Each role a handle holds
 * owns a private open file description of the object (reopened through
 * /proc/self/fd) with a write lock on byte `index` of it. The kernel drops the
 * lock when the last descriptor of that description closes: at close, at
 * exit, at SIGKILL, and (the descriptor being close-on-exec) at exec. fork()
 * shares the description, so a child holds its parent's roles from the
 * instant of the fork, as it would hold inherited pipe ends, and pid reuse
 * cannot fool a lock. A peer asks "alive?" with F_OFD_GETLK through its own,
 * never-locked descriptor.
 *
 * The same lock makes attaching race-free: whoever takes the lock on byte i
 * owns entry i; if the entry still says LIVE, its owner died without closing
 * and the new owner reaps it first.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- fork generations: a claim or peek outstanding at fork stays the parent's */

unsigned shmring__forkgen_v; /* __atomic: read on every call (internal.h) */
static pthread_once_t forkgen_once = PTHREAD_ONCE_INIT;

/* ---- the endpoints this process holds, by ring and index: a pollfd asks
 * whether an endpoint that names this process is held here or only by a
 * forked child (poll.c). Inherited by a child, which holds the same. */

struct held {
	uint64_t dev, ino;
	unsigned idx, n;
};
static struct held *held;
static size_t nheld, capheld;
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

static void held_add(const shmring *r, unsigned idx, int d)
{
	pthread_mutex_lock(&held_lock);
	size_t i;
	for (i = 0; i < nheld; i++)
		if (held[i].dev == r->poll_dev && held[i].ino == r->poll_ino && held[i].idx == idx)
			break;
	if (i == nheld && d > 0) {
		if (nheld == capheld) {
			size_t cap = capheld ? 2 * capheld : 16;
			struct held *h = realloc(held, cap * sizeof(*h));
			if (!h)
				goto out; /* the pollfd may then tick for nothing */
			held = h;
			capheld = cap;
		}
		held[nheld++] = (struct held){ r->poll_dev, r->poll_ino, idx, 0 };
	}
	if (i < nheld) {
		held[i].n += (unsigned)d;
		if (held[i].n == 0)
			held[i] = held[--nheld];
	}
out:
	pthread_mutex_unlock(&held_lock);
}

bool shmring__held_here(const shmring *r, unsigned idx)
{
	bool yes = false;
	pthread_mutex_lock(&held_lock);
	for (size_t i = 0; i < nheld && !yes; i++)
		yes = held[i].dev == r->poll_dev && held[i].ino == r->poll_ino &&
		      held[i].idx == idx;
	pthread_mutex_unlock(&held_lock);
	return yes;
}

static void forkgen_child(void)
{
	__atomic_fetch_add(&shmring__forkgen_v, 1, __ATOMIC_RELAXED);
	/* another thread of the parent may have held it at the fork */
	pthread_mutex_init(&held_lock, NULL);
}

static void forkgen_setup(void)
{
	pthread_atfork(NULL, NULL, forkgen_child);
}

/* ---- locks */

static int lock_byte(int fd, unsigned idx)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = idx, .l_len = 1};
	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Is byte idx write-locked by any open file description other than r->fd's? */
static bool byte_locked(const shmring *r, unsigned idx)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = idx, .l_len = 1};
	if (fcntl(r->fd, F_OFD_GETLK, &fl) < 0)
		return true; /* cannot tell: never declare a peer dead on a failed probe */
	return fl.l_type != F_UNLCK;
}

bool shmring__ep_alive(const shmring *r, unsigned idx)
{
	if (idx >= SR_EP_MAX)
		return false;
	uint32_t sg = ld_acquire(&r->h->ep[idx].sg); /* pairs with st_release in claim_entry */
	return SR_EP_STATE(sg) == SR_EP_LIVE && byte_locked(r, idx);
}

bool shmring__tag_alive(const shmring *r, uint32_t tag)
{
	unsigned idx = SR_TAG_IDX(tag);
	if (idx >= SR_EP_MAX)
		return false;
	uint32_t sg = ld_acquire(&r->h->ep[idx].sg);
	if (SR_EP_STATE(sg) != SR_EP_LIVE || (SR_EP_GEN(sg) & 0xffffu) != SR_TAG_GEN(tag))
		return false;
	return byte_locked(r, idx);
}

static void side_range(int role, unsigned *lo, unsigned *hi)
{
	*lo = role == SHMRING_PRODUCER ? 0 : SR_EP_CONS_BASE;
	*hi = *lo + SR_EP_PER_SIDE;
}

unsigned shmring__count_live(const shmring *r, int role)
{
	unsigned lo, hi, n = 0;
	side_range(role, &lo, &hi);
	for (unsigned i = lo; i < hi; i++)
		n += shmring__ep_alive(r, i);
	return n;
}

/* Does a live endpoint of `role` hold a reservation at (or, for records,
 * around) pos? (ring_*.c) The
 * owner stores resv_pos before the compare-and-swap that makes pos visible,
 * and clears it with a store-release after it published; the load-acquire
 * here pairs with that clear. */
bool shmring__resv_held(const shmring *r, int role, uint64_t pos, uint64_t *size)
{
	unsigned lo, hi;
	side_range(role, &lo, &hi);
	for (unsigned i = lo; i < hi; i++) {
		const struct sr_endpoint *e = &r->h->ep[i];
		/* pos is held if it starts a reservation, or lies inside a
		 * record reservation (one that begins with wrap padding) */
		uint64_t at = ld_acquire(&e->resv_pos);
		if (at != pos && (at == SR_RESV_NONE || pos - at >= ld_relaxed(&e->resv_size)))
			continue;
		if (shmring__ep_alive(r, i)) {
			if (size)
				*size = ld_relaxed(&e->resv_size);
			return true;
		}
	}
	return false;
}

/* Has the other side of a waiter attached once and gone since? A waiter for
 * data asks about producers, a waiter for room about consumers. The live
 * counts are hints kept exact by normal closes; a crash leaves them high,
 * which the lock probe then corrects. */
bool shmring__side_gone(shmring *r, enum sr_dir dir)
{
	struct sr_totals_line *t = &r->h->totals;
	int role = dir == SR_DATA ? SHMRING_PRODUCER : SHMRING_CONSUMER;
	sr_a32 *seen = dir == SR_DATA ? &t->prod_seen : &t->cons_seen;
	sr_a32 *live = dir == SR_DATA ? &t->nprod : &t->ncons;
	/* pairs with the st_release of seen / fetch_sub of live in attach/detach */
	if (!ld_acquire(seen))
		return false;
	uint32_t hint = ld_acquire(live);
	if (hint == 0)
		return true;
	if (shmring__count_live(r, role) != 0)
		return false;
	/* Only dead endpoints: correct the hint, so that the next call knows
	 * without probing. An endpoint attaching meanwhile raised the count
	 * after it became visible to the probe, or makes this CAS fail. */
	atomic_compare_exchange_strong(live, &hint, 0);
	return true;
}

void shmring__drop(shmring *r, uint64_t n)
{
	fetch_add_relaxed(&r->h->totals.dropped, n);
}

/* Fold an endpoint's counters into the totals (the endpoint is being freed). */
static void fold(shmring *r, struct sr_endpoint *e)
{
	struct sr_totals_line *t = &r->h->totals;
	uint64_t c = ld_relaxed(&e->count);
	if (e->role == SHMRING_PRODUCER)
		fetch_add_relaxed(&t->sent, c);
	else
		fetch_add_relaxed(&t->received, c);
	fetch_add_relaxed(&t->wakeups, ld_relaxed(&e->wakeups));
	st_relaxed(&e->count, 0);
	st_relaxed(&e->bytes, 0);
	st_relaxed(&e->wakeups, 0);
}

static sr_a32 *live_count(shmring *r, int role)
{
	return role == SHMRING_PRODUCER ? &r->h->totals.nprod : &r->h->totals.ncons;
}

static void dec_live(shmring *r, int role)
{
	sr_a32 *n = live_count(r, role);
	uint32_t v = ld_relaxed(n);
	while (v && !atomic_compare_exchange_weak(n, &v, v - 1))
		;
}

/* We hold the lock on entry idx: make it ours, reaping a dead owner first. */
static void claim_entry(shmring *r, int role, unsigned idx, struct sr_role *out)
{
	struct sr_endpoint *e = &r->h->ep[idx];
	uint32_t sg = ld_acquire(&e->sg);
	if (SR_EP_STATE(sg) == SR_EP_LIVE) { /* died without closing */
		if (role == SHMRING_CONSUMER && r->ops->drop_peek_of_dead)
			r->ops->drop_peek_of_dead(r, e);
		/* Free it first: if we die before it is ours, the next owner
		 * must not reap (and uncount) it a second time. */
		uint32_t expect = sg;
		if (atomic_compare_exchange_strong(&e->sg, &expect,
						   (sg & ~3u) | SR_EP_FREE)) {
			fold(r, e);
			dec_live(r, role);
		}
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint32_t gen = SR_EP_GEN(sg) + 1;
	e->role = (uint32_t)role;
	e->pid = (uint32_t)getpid();
	e->since_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	st_relaxed(&e->count, 0);
	st_relaxed(&e->bytes, 0);
	st_relaxed(&e->wakeups, 0);
	st_relaxed(&e->resv_pos, SR_RESV_NONE);
	st_relaxed(&e->resv_size, 0);
	st_relaxed(&e->poll_pid, 0); /* a dead owner's pollfd is not ours */
	shmring__clear_sleeper(r, idx); /* nor its sleep: it will not wake */
	SR_CRASH(ATTACH_REAPED);
	/* Count first: an entry is never LIVE without its count, so a reaper
	 * of a half-attached endpoint never uncounts what was not counted. */
	fetch_add_seqcst(live_count(r, role), 1);
	/* pairs with the load-acquire in ep_alive / tag_alive */
	st_release(&e->sg, gen << 2 | SR_EP_LIVE);
	SR_CRASH(ATTACH_LIVE);
	st_release(role == SHMRING_PRODUCER ? &r->h->totals.prod_seen : &r->h->totals.cons_seen,
		   1);
	/* Pollers of the other side watch this process from now on. */
	shmring__poll_signal(r, role == SHMRING_PRODUCER ? SHMRING_CONSUMER : SHMRING_PRODUCER);
	out->idx = (int)idx;
	out->gen = gen;
	out->ep = e;
	held_add(r, idx, 1);
	if (role == SHMRING_PRODUCER && r->ops->adopt_tail)
		r->ops->adopt_tail(r);
}

static bool multi_side(const shmring *r, int role)
{
	return role == SHMRING_PRODUCER ? (r->mode == SHMRING_MPSC || r->mode == SHMRING_MPMC)
					: (r->mode == SHMRING_SPMC || r->mode == SHMRING_MPMC);
}

static int attach_one(shmring *r, int role, struct sr_role *out)
{
	bool multi = multi_side(r, role);
	unsigned lo, hi;
	side_range(role, &lo, &hi);
	if (!multi)
		hi = lo + 1;

	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
	int lfd = open(path, O_RDWR | O_CLOEXEC);
	if (lfd < 0)
		return -errno;
	for (unsigned i = lo; i < hi; i++) {
		int rc = lock_byte(lfd, i);
		if (rc == 0) {
			SR_CRASH(ATTACH_LOCKED);
			out->lock_fd = lfd;
			claim_entry(r, role, i, out);
			return 0;
		}
		if (rc != -EAGAIN && rc != -EACCES) {
			close(lfd);
			return rc;
		}
	}
	close(lfd);
	return multi ? -EUSERS : -EBUSY;
}

int shmring__attach_roles(shmring *r, int role)
{
	int rc;
	pthread_once(&forkgen_once, forkgen_setup);
	if (role)
		shmring__fence_setup(r);
	if ((role & SHMRING_PRODUCER) && (rc = attach_one(r, SHMRING_PRODUCER, &r->prod)) < 0)
		return rc;
	if ((role & SHMRING_CONSUMER) && (rc = attach_one(r, SHMRING_CONSUMER, &r->cons)) < 0) {
		shmring__detach_roles(r);
		return rc;
	}
	r->role = role;
	r->bound_forkgen = shmring__forkgen();
	if (role & SHMRING_PRODUCER)
		r->cached_head = ld_acquire(&r->h->cons.pos);
	return 0;
}

static void detach_one(shmring *r, struct sr_role *ro)
{
	if (ro->idx < 0)
		return;
	unsigned idx = (unsigned)ro->idx;
	struct sr_endpoint *e = ro->ep;
	int role = (int)e->role;
	held_add(r, idx, -1);
	close(ro->lock_fd); /* our hold; a forked sibling may still hold it */
	ro->lock_fd = -1;
	ro->idx = -1;
	SR_CRASH(DETACH_UNLOCKED);
	if (byte_locked(r, idx))
		return; /* still held by a process that shares it (or already reused) */
	uint32_t expect = ro->gen << 2 | SR_EP_LIVE;
	if (!atomic_compare_exchange_strong(&e->sg, &expect, ro->gen << 2 | SR_EP_FREE))
		return; /* a new owner reaped it already */
	SR_CRASH(DETACH_FREED);
	fold(r, e);
	dec_live(r, role);
	shmring__wake_all(r);
}

void shmring__detach_roles(shmring *r)
{
	detach_one(r, &r->prod);
	detach_one(r, &r->cons);
	r->role = 0;
}

/* First data call in a forked child. The child holds its parent's roles
 * through the inherited lock, which is what end of file needs; but on a multi
 * side, parent and child may send (or receive) at the same time, and a claim
 * must name the one process that can die holding it. So the child takes an
 * endpoint of its own and lets go of the inherited one (which stays alive as
 * long as the parent holds it). Single sides are used by one process at a
 * time (the contract) and keep the inherited endpoint. */
int shmring__rebind(shmring *r)
{
	static const int roles[2] = {SHMRING_PRODUCER, SHMRING_CONSUMER};
	for (int i = 0; i < 2; i++) {
		struct sr_role *ro = roles[i] == SHMRING_PRODUCER ? &r->prod : &r->cons;
		if (ro->idx < 0 || !multi_side(r, roles[i]))
			continue;
		struct sr_role fresh = {.idx = -1, .lock_fd = -1};
		int rc = attach_one(r, roles[i], &fresh);
		if (rc < 0)
			return rc;
		detach_one(r, ro);
		*ro = fresh;
		/* a fresh endpoint: its bit is clear (clear_sleeper), whatever
		 * the parent's handle had armed */
		r->armed[roles[i] == SHMRING_PRODUCER ? SR_ROOM : SR_DATA] = false;
	}
	r->bound_forkgen = shmring__forkgen();
	return 0;
}
