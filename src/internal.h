/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the process-local handle and the seams between the library's
 * files: segment.c (objects and mappings), peers.c (endpoints, liveness),
 * wait.c (futex waits), ring_rec.c and ring_slot.c (the two engines), api.c
 * (argument checks and dispatch).
 */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "copy.h"
#include "layout.h"
#include "shmring.h"

#define SR_LIKELY(x) __builtin_expect(!!(x), 1)
#define SR_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define SR_ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)

/* How often a waiting side looks for dead peers: the contract asks 200 ms,
 * DESIGN.md 100 ms for a sleeper; 50 ms leaves margin on a loaded box. */
#define SR_LIVENESS_NS (50 * 1000 * 1000LL)
/* FUTEX_WAKEs in a row that woke nobody before a waker looks for dead
 * sleepers (wait.c): a few are normal (a waiter about to sleep). */
#define SR_EMPTY_WAKES_REAP 64u

enum sr_dir { SR_DATA = 0, SR_ROOM = 1 }; /* what a waiter waits for */

struct shmring;

/* One engine per family; a handle picks its ops once, at open. Each "try"
 * call never blocks: it returns >= 0 on success, -EAGAIN when it would have
 * to wait, or another negative errno. `stuck` asks the engine to look for a
 * dead peer blocking the ring and clear it (slow path, makes system calls);
 * it returns 1 when it cleared something. */
struct sr_ops {
	int (*send)(struct shmring *r, const struct iovec *v, int n);   /* count sent */
	int (*recv)(struct shmring *r, struct iovec *v, int n);         /* count received */
	int (*claim)(struct shmring *r, size_t len, void **buf);
	int (*commit)(struct shmring *r, size_t len);
	int (*abort)(struct shmring *r);
	int (*peek)(struct shmring *r, const void **msg, size_t *len);
	int (*release)(struct shmring *r);
	int (*stuck)(struct shmring *r, enum sr_dir dir);
	size_t (*used)(const struct shmring *r);
	bool (*readable)(const struct shmring *r); /* something to receive, by a look only */
	void (*drop_peek_of_dead)(struct shmring *r, struct sr_endpoint *ep); /* at attach */
	void (*adopt_tail)(struct shmring *r); /* a producer attaches (SP records) */
};

struct sr_role {
	int idx;     /* endpoint index, -1 when the role is not held */
	int lock_fd; /* own open file description holding the OFD lock on byte idx */
	uint32_t gen;
	struct sr_endpoint *ep;
};

struct shmring {
	/* Geometry, copied privately at open after validation: never re-read. */
	struct sr_header *h;
	uint8_t *data;
	size_t map_len;
	size_t guard; /* bytes of PROT_NONE on each side of the mapping */
	uint64_t cap;      /* records: bytes (power of two); slots: nslots */
	uint64_t end;      /* records: the area and its spill (layout.h); streams, slots: cap */
	uint64_t mask;     /* cap - 1 */
	uint64_t max_msg;
	uint64_t slot_size;
	uint32_t mode;
	uint32_t flags;
	int fd; /* the handle's own descriptor of the object (never locked) */
	int role;
	const struct sr_ops *ops;
	bool sp_fast; /* an SPSC record ring: shmring_send/recv may go by rec_fast.h */

	struct sr_role prod, cons;

	/* Producer side. */
	uint64_t cached_head; /* last consumer position seen (rigtorp's cached index) */
	struct sr_copy_tune copy_tune; /* which copy a stalling one takes (copy.h) */
	bool claim_active;
	unsigned claim_forkgen;
	uint64_t claim_pos, claim_size, claim_len;

	/* Consumer side. */
	bool peek_active;
	unsigned peek_forkgen;
	uint64_t peek_pos, peek_size, peek_len;

	unsigned bound_forkgen; /* fork generation the multi-side roles belong to */
	bool signalled;         /* a handler ran as a long spin ended with bytes moved (wait.c) */
	/* Readiness descriptor (poll.c): an epoll set holding one datagram
	 * socket per role and a pidfd per peer process. -1 until asked for. */
	int poll_fd;
	int poll_sock[2];  /* [0] producer role, [1] consumer role */
	uint32_t poll_key[2]; /* the name each is bound to (poll.c), published in poll_pid */
	int send_sock;     /* for signalling other handles' pollfds */
	int poll_tick;     /* timerfd in the pollfd's set: a peer no pidfd can watch (poll.c) */
	bool poll_ticking; /* it is armed */
	uint64_t poll_dev, poll_ino;
	struct sr_pidwatch *watch;
	unsigned nwatch;

	int broken; /* 0, or -EBADMSG once the shared state was found corrupt */
	int64_t spin_ns;
	int64_t next_live_check; /* CLOCK_MONOTONIC ns of the next liveness look */
	uint32_t seen_closes[2]; /* totals.closes at the last look, per direction */
	uint32_t empty_wakes[2]; /* FUTEX_WAKEs in a row that woke nobody, per direction */
	bool armed[2];           /* this handle armed its endpoint's bit, per direction (wait.c);
				  * another holder of the endpoint may have cleared it since */
	int64_t awake_since[2];  /* when it last armed or woke, per direction (wait.c) */
	/* Calls that found what they waited for only when a liveness slice
	 * ran out, not woken: a wakeup lost (or a peer that died mid-message).
	 * For the tests of the wait protocol. */
	uint32_t slice_finds[2];
};

/* ---- crash.c: crash points (SHMRING_CRASHPOINTS builds only) ---- */
#define SR_CRASHPOINTS(X)                                                                    \
	X(ATTACH_LOCKED)   /* open: lock taken, entry not written */                          \
	X(ATTACH_REAPED)   /* open: a dead owner's entry reaped, ours not yet live */         \
	X(ATTACH_LIVE)     /* open: entry live, live count not raised */                      \
	X(DETACH_UNLOCKED) /* close: lock dropped, entry not freed */                         \
	X(DETACH_FREED)    /* close: entry freed, counts not folded */                        \
	X(REC_RESV)        /* claim (MP records): reservation named, tail not moved */        \
	X(REC_CAS)         /* claim: tail moved, nothing written */                           \
	X(REC_CLAIMED)     /* claim: CLAIMED word written */                                  \
	X(REC_PAYLOAD)     /* send: half the payload copied */                                \
	X(REC_PAD)         /* commit: tail padding written, message not published */          \
	X(REC_MSG)         /* commit: message published, reservation not cleared */           \
	X(REC_PEEKED)      /* peek (records): held record named */                            \
	X(REC_COPIED)      /* release/recv (SP records): copied out, head not moved */       \
	X(REC_MARKED)      /* release/recv (MP records): record named in the endpoint, intact */ \
	X(REC_PADDED)      /* release/recv/read: header turned padding, body not zeroed */    \
	X(REC_ZEROED)      /* release/recv (MP records): zeroed, head not moved */            \
	X(SLOT_RESV)       /* claim/peek (slots): position named, CAS not done */             \
	X(SLOT_TAKEN)      /* claim/peek (slots): position taken */                           \
	X(SLOT_PAYLOAD)    /* send (slots): half the payload copied */                        \
	X(SLOT_SEQ)        /* commit/release (slots): seq stored, reservation not cleared */  \
	X(STR_CAS)         /* write (streams): tail moved, nothing written */                 \
	X(STR_BUSY)        /* write: record taken BUSY, bytes not copied */                   \
	X(STR_PAYLOAD)     /* write: half the bytes copied */                                 \
	X(STR_GIVE_BACK)   /* write, close: record taken GIVING, tail not moved back */

enum sr_crashpoint {
#define X(id) SR_CP_##id,
	SR_CRASHPOINTS(X)
#undef X
	SR_CP_COUNT
};

#ifdef SHMRING_CRASHPOINTS
void shmring__crash(unsigned id);
void shmring__crash_arm(unsigned id, unsigned long nth);
const char *shmring__crash_name(unsigned id);
#define SR_CRASH(id) shmring__crash(SR_CP_##id)
#else
#define SR_CRASH(id) ((void)0)
#endif

/* A producer's bytes into the ring. Crash-point builds copy in two halves
 * and stop at crash point cp (an SR_CP_*) in between, so that a test can
 * kill a producer with half its message written. */
static inline void shmring__copy_in(shmring *r, uint8_t *dst, const uint8_t *src, uint64_t len,
				    unsigned cp)
{
#ifdef SHMRING_CRASHPOINTS
	shmring__copy_to_ring(&r->copy_tune, dst, src, len / 2);
	shmring__crash(cp);
	shmring__copy_to_ring(&r->copy_tune, dst + len / 2, src + len / 2, len - len / 2);
#else
	(void)cp;
	shmring__copy_to_ring(&r->copy_tune, dst, src, len);
#endif
}

/* ---- segment.c ---- */
/* Where glibc keeps POSIX shared memory, and how a ring being created is
 * named there until it is complete (then link(2) gives it its name). */
#define SR_SHM_DIR "/dev/shm"
#define SR_TEMP_PREFIX ".shmring-new-"
#define SR_TEMP_FORMAT "/" SR_TEMP_PREFIX "%d-%u" /* pid, sequence */

struct sr_geom {
	uint32_t mode, flags;
	uint64_t cap, mask, max_msg, slot_size, data_off;
	uint64_t end; /* records: where a record may end, the area and its spill; else cap */
};
int shmring__check_header(const struct sr_header *h, uint64_t real_size, uint32_t owner,
			  struct sr_geom *g, const char **why);
int shmring__validate_name(const char *name, char *out, size_t outsz);
int shmring__new(const struct shmring_config *cfg, const char *name, int role, shmring **out);
int shmring__attach_fd(int fd, int role, bool owned, shmring **out);
void shmring__unmap(shmring *r);

/* ---- peers.c ---- */
int shmring__attach_roles(shmring *r, int role);
void shmring__detach_roles(shmring *r);
int shmring__rebind(shmring *r);
bool shmring__ep_alive(const shmring *r, unsigned idx);
bool shmring__tag_alive(const shmring *r, uint32_t tag);
bool shmring__side_gone(shmring *r, enum sr_dir dir);
/* Does a handle of this process hold endpoint idx of r's ring? (peers.c) */
bool shmring__held_here(const shmring *r, unsigned idx);
unsigned shmring__count_live(const shmring *r, int role);
bool shmring__resv_held(const shmring *r, int role, uint64_t pos, uint64_t *size);
extern unsigned shmring__forkgen_v; /* peers.c: +1 in every forked child */
static inline unsigned shmring__forkgen(void)
{
	return __atomic_load_n(&shmring__forkgen_v, __ATOMIC_RELAXED);
}
void shmring__drop(shmring *r, uint64_t n);

/* ---- wait.c ---- */
int64_t shmring__now(void);
/* The time ns after now, saturated; a negative ns (wait as long as it
 * takes) is INT64_MAX too. */
static inline int64_t shmring__after(int64_t now, int64_t ns)
{
	return ns < 0 || ns >= INT64_MAX - now ? INT64_MAX : now + ns;
}
void shmring__wake_slow(shmring *r, enum sr_dir dir);
void shmring__arm(shmring *r, enum sr_dir dir);
extern int shmring__light; /* > 0: this process is registered for membarrier (wait.c) */

/* Called after publishing (data for SR_DATA, room for SR_ROOM). While no
 * endpoint of the other side has ever waited on this line, a waker of a
 * process registered for membarrier has nothing to do: no fence, one load of
 * a line nobody writes (wait.c, "Arming"). Wait-free unless someone sleeps. */
static inline bool shmring__must_wake(const shmring *r, enum sr_dir dir)
{
	const sr_a64 *armed = dir == SR_DATA ? &r->h->dwait.armed : &r->h->rwait.armed;
	return SR_UNLIKELY(ld_relaxed(armed) != 0) ||
	       SR_UNLIKELY(__atomic_load_n(&shmring__light, __ATOMIC_RELAXED) <= 0);
}

static inline void shmring__wake(shmring *r, enum sr_dir dir)
{
	if (shmring__must_wake(r, dir))
		shmring__wake_slow(r, dir);
}

/* shmring__wake_slow for the fast paths of api.c, which end in a tail call to
 * one of these and so need no stack frame (rec_fast.h): they return 0, n. */
int shmring__wake_slow_0(shmring *r, enum sr_dir dir);
ssize_t shmring__wake_slow_n(shmring *r, enum sr_dir dir, ssize_t n);
void shmring__wake_all(shmring *r);
bool shmring__slot_room(const shmring *r); /* ring_slot.c */
unsigned shmring__sleepers(const shmring *r);
void shmring__fence_setup(shmring *r);
void shmring__fence_heavy(void);
void shmring__fence_waiter(const shmring *r);
void shmring__clear_sleeper(shmring *r, unsigned idx);
typedef int (*sr_try_fn)(shmring *r, void *arg);
int shmring__block(shmring *r, enum sr_dir dir, sr_try_fn fn, void *arg, int64_t timeout_ns);

/* ---- poll.c ---- */
void shmring__poll_signal(shmring *r, int role);
void shmring__poll_rearm(shmring *r);
void shmring__poll_free(shmring *r);

/* ---- ring_stream.c ---- */
int shmring__stream_put(shmring *r, const void *buf, size_t n, bool whole);
int shmring__stream_get(shmring *r, void *buf, size_t n);
void shmring__stream_close_writer(shmring *r);

/* ---- engines ---- */
extern const struct sr_ops shmring__rec_ops;
extern const struct sr_ops shmring__slot_ops;
void shmring__rec_init(struct sr_header *h, uint8_t *data);
int shmring__rec_reserve(shmring *r, uint64_t *size, uint64_t min, uint64_t *start,
			 uint64_t *need);
void shmring__rec_consume(shmring *r, uint64_t h, uint64_t size);
uint64_t shmring__rec_hole_end(shmring *r, uint64_t h);
extern const struct sr_ops shmring__stream_ops;
void shmring__slot_init(struct sr_header *h, uint8_t *data);

static inline int sr_corrupt(shmring *r)
{
	r->broken = -EBADMSG;
	return -EBADMSG;
}

#endif /* SHMRING_INTERNAL_H */
