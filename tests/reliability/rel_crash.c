/* SPDX-License-Identifier: MIT */
/*
 * rel_crash.c - a victim SIGKILLs itself at every crash point, and the ring
 * must not care.
 *
 *   rel_crash <spsc|mpsc|spmc|mpmc|stream> [POINT]
 *
 * Linked with the shmring_crashpoints library (src/crash.c). For every
 * crash point of SR_CRASHPOINTS, both roles, n = 1, 2, 3 and each way of
 * moving messages (producer: send, sendv, claim/commit; consumer: recv,
 * recvv, peek/release; streams: write, read), a victim process arms the point
 * with shmring__crash_arm(point, n) and works until it kills itself there.
 * Every trial's ring holds, besides the victim:
 *   - a ghost: an endpoint of the victim's role that died without closing,
 *     so that the victim's first attach reaps a dead entry;
 *   - on a multi side, a companion of the victim's role attached first, that
 *     closes normally after the fresh endpoints attach (a live count left
 *     wrong by the victim then shows as a false -EPIPE);
 *   - a consumer victim reads messages the parent sent before it started.
 * After the death, a fresh producer P1 and a fresh consumer C1 attach at
 * once (no retry), P1 moves more than two laps of messages through the ring,
 * closes, and C1 reads until -EPIPE (end of file for streams). The checker
 * proves:
 *   - nothing torn, nothing twice, each producer's order kept;
 *   - every message whose send returned is delivered; the victim's own
 *     in-flight message (producer) arrives at most once; the message a
 *     consumer victim was reading is delivered once to C1, or was copied by
 *     the victim before it died (found whole in its receive buffer), or is
 *     counted in shmring_stat.dropped; and dropped counts no more than the
 *     messages that did go missing;
 *   - the ring keeps working, new endpoints attach, the counts of live
 *     endpoints end at zero, nothing is left in use;
 *   - nothing new is left in /dev/shm but the ring itself, which the trial
 *     then unlinks.
 * A point that a (role, mode, style) never passes is "not reached"; the
 * table expected() says which must be reached, and a point that should be
 * and is not fails the run, so that the matrix cannot silently shrink.
 */
#include "rel.h"
#include "internal.h" /* SR_CRASHPOINTS, shmring__crash_arm */

#define CAP 8192
#define MAXM 200
#define M_PARENT 16   /* messages the parent sends for a consumer victim */
#define K_LATE 10     /* messages P1 sends and closes before C1 starts reading */
#define K_FRESH 200   /* messages P2 sends: more than two laps of every message ring */
#define N_COMPANION 4 /* messages a producer companion sends */
#define OP_TMO (2 * REL_SEC)
#define STEP_TMO (5 * REL_SEC)

enum { ID_PARENT = 0, ID_VICTIM = 1, ID_LATE = 2, ID_COMPANION = 3, ID_FRESH = 4, NIDS = 5 };
enum { ST_SEND = 0, ST_SENDV, ST_CLAIM, NSTYLES };           /* producer styles */
enum { ST_RECV = 0, ST_RECVV, ST_PEEK };                     /* consumer styles */
enum { PH_IDLE, PH_OPEN, PH_OP, PH_RELEASE, PH_CLOSE, PH_DONE }; /* victim phases */
#define EXIT_NOT_REACHED 3

struct group {
	const char *name;
	enum shmring_mode mode;
	bool stream;
};
static const struct group groups[] = {
	{"spsc", SHMRING_SPSC, false}, {"mpsc", SHMRING_MPSC, false},
	{"spmc", SHMRING_SPMC, false}, {"mpmc", SHMRING_MPMC, false},
	{"stream", SHMRING_MPSC, true},
};

struct vstate {
	atomic_int phase;
	atomic_uint ops;
	/* producer */
	atomic_uint committed;   /* seqs [0, committed) returned 0 */
	atomic_uint lo, hi;      /* seqs [lo, hi) being sent */
	/* consumer */
	atomic_uint nrec;        /* seqs the victim received, in order */
	uint32_t rec[64];
	uint8_t rbuf[2][256];    /* its receive buffers: a copy made before death stays here */
	struct rel_msg held;     /* the peeked message it was releasing */
	atomic_int held_valid;
	atomic_uint reading;     /* stream reader: seq of the message being read */
	atomic_uint reading_valid;
};

struct shared {
	struct rel_report rep;
	struct vstate v;
	atomic_uint ndel; /* what C1 delivered, in order */
	struct {
		uint32_t prod, seq;
	} del[4096];
	atomic_uint skipped;   /* stream: bytes C1 had to skip to find a message */
	atomic_uint c1_eof_at; /* C1's delivery count at its first -EPIPE / end of file */
};

static struct shared *S;
static const struct group *G;
static const char *ring_name;
static bool verbose;

/* ---- the table of where each point is passed ----------------------------------------- */

static bool is_point(unsigned p, const char *n)
{
	return !strcmp(shmring__crash_name(p), n);
}

static bool expected(unsigned p, int role, int style)
{
	bool records = !G->stream && (G->mode == SHMRING_SPSC || G->mode == SHMRING_MPSC);
	bool slots = !G->stream && !records;
	bool mp = G->mode == SHMRING_MPSC || G->mode == SHMRING_MPMC;
	const char *n = shmring__crash_name(p);
	if (!strncmp(n, "ATTACH_", 7) || !strncmp(n, "DETACH_", 7))
		return true;
	if (role == SHMRING_PRODUCER) {
		if (is_point(p, "REC_RESV"))
			return (records && mp) || G->stream;
		if (is_point(p, "REC_CAS") || is_point(p, "REC_PAD") || is_point(p, "REC_MSG"))
			return records;
		if (is_point(p, "REC_CLAIMED"))
			return records && mp;
		if (is_point(p, "REC_PAYLOAD"))
			return records && style != ST_CLAIM;
		if (is_point(p, "SLOT_RESV") || is_point(p, "SLOT_TAKEN") || is_point(p, "SLOT_SEQ"))
			return slots;
		if (is_point(p, "SLOT_PAYLOAD"))
			return slots && style != ST_CLAIM;
		if (!strncmp(n, "STR_", 4))
			return G->stream;
		return false;
	}
	if (is_point(p, "REC_PEEKED"))
		return records && style == ST_PEEK;
	if (is_point(p, "REC_COPIED")) /* SP consumers write nothing into the area */
		return records && !mp;
	if (is_point(p, "REC_MARKED"))
		return records && mp;
	if (is_point(p, "REC_PADDED") || is_point(p, "REC_ZEROED"))
		return (records && mp) || G->stream;
	if (is_point(p, "SLOT_RESV") || is_point(p, "SLOT_TAKEN") || is_point(p, "SLOT_SEQ"))
		return slots;
	return false;
}

/* ---- small helpers ---------------------------------------------------------------------- */

static void put(int fd, char c)
{
	ssize_t w;
	do
		w = write(fd, &c, 1);
	while (w < 0 && errno == EINTR);
}

static int get(int fd, int timeout_ms)
{
	int64_t end = rel_now() + (int64_t)timeout_ms * REL_MS;
	for (;;) {
		int left = (int)((end - rel_now()) / REL_MS);
		if (left < 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int k = poll(&p, 1, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		unsigned char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		return n == 1 ? c : -1;
	}
}

static struct shmring_config ring_cfg(void)
{
	struct shmring_config c = {.mode = G->mode, .capacity = CAP};
	if (G->stream) {
		/* Each writer session reserves a whole chunk (8 KiB) for its
		 * record: room for the parent's four sessions, the victim's,
		 * the companion's and P1's at once. */
		c.capacity = 8 * CAP;
		c.flags = SHMRING_STREAM;
	}
	else
		c.max_msg = MAXM;
	return c;
}

static uint32_t mlen(uint32_t prod, uint32_t seq)
{
	return rel_msg_len(prod, seq, REL_MSG_MIN, MAXM);
}

static int xopen(int role, shmring **r)
{
	return shmring_open(ring_name, role, r);
}

/* Send messages [seq, seq + k) of producer id in one call of the given style;
 * returns how many went, or a negative errno. */
static int send_some(shmring *r, uint32_t id, uint32_t seq, int k, int style)
{
	static uint8_t b[2][MAXM + 8];
	if (G->stream) {
		uint32_t len = mlen(id, seq);
		rel_msg_make(b[0], len, id, seq);
		ssize_t n = shmring_write(r, b[0], len, OP_TMO);
		if (n < 0)
			return (int)n;
		return n == (ssize_t)len ? 1 : -EIO;
	}
	if (style == ST_SENDV && k >= 2) {
		struct iovec v[2];
		for (int i = 0; i < 2; i++) {
			uint32_t len = mlen(id, seq + (uint32_t)i);
			rel_msg_make(b[i], len, id, seq + (uint32_t)i);
			v[i].iov_base = b[i];
			v[i].iov_len = len;
		}
		return shmring_sendv(r, v, 2, OP_TMO);
	}
	uint32_t len = mlen(id, seq);
	if (style == ST_CLAIM) {
		void *buf = NULL;
		int rc = shmring_claim(r, MAXM, &buf, OP_TMO);
		if (rc < 0)
			return rc;
		rel_msg_make(buf, len, id, seq);
		rc = shmring_commit(r, len);
		return rc < 0 ? rc : 1;
	}
	rel_msg_make(b[0], len, id, seq);
	int rc = shmring_send(r, b[0], len, OP_TMO);
	return rc < 0 ? rc : 1;
}

/* Read exactly n stream bytes (a blocking reader); 0 at end of file before
 * the first byte, n, or a negative errno. */
static ssize_t read_full(shmring *r, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = shmring_read(r, buf + got, n - got, OP_TMO);
		if (k == 0)
			return got ? -EIO : 0;
		if (k < 0)
			return k;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* ---- the processes ----------------------------------------------------------------------- */

/* Attach a role and die without closing. */
static void ghost(int role)
{
	shmring *r = NULL;
	int rc = xopen(role, &r);
	if (rc < 0)
		rel_child_fail("ghost: open: %d (%s)", rc, rel_err(rc));
	kill(getpid(), SIGKILL);
	_exit(1);
}

/* Attach first, send a few messages (producer), wait for the word, close. */
static void companion(int role, int ready, int cmd)
{
	shmring *r = NULL;
	int rc = xopen(role, &r);
	if (rc < 0)
		rel_child_fail("companion: open: %d (%s)", rc, rel_err(rc));
	if (role == SHMRING_PRODUCER)
		for (uint32_t s = 0; s < N_COMPANION; s++)
			if ((rc = send_some(r, ID_COMPANION, s, 1, ST_SEND)) != 1)
				rel_child_fail("companion: send %u: %d (%s)", s, rc, rel_err(rc));
	put(ready, 'r');
	if (get(cmd, 60000) != 'c')
		rel_child_fail("companion: no word to close");
	shmring_close(r);
	_exit(0);
}

static void victim_producer(unsigned point, unsigned long n, int style)
{
	struct vstate *v = &S->v;
	shmring *r = NULL;
	const char *pn = shmring__crash_name(point);
	bool cycle = !strncmp(pn, "ATTACH_", 7) || !strncmp(pn, "DETACH_", 7);
	/* A stream writer reserves (REC_RESV, STR_CAS) only to start a record;
	 * later writes append to it. Reopen after each write to start one. It
	 * gives back room (STR_GIVE_BACK) as it closes its record: close after
	 * each write. */
	if (G->stream && (!strcmp(pn, "REC_RESV") || !strcmp(pn, "STR_CAS") ||
			  !strcmp(pn, "STR_GIVE_BACK")))
		cycle = true;
	uint32_t seq = 0;
	shmring__crash_arm(point, n);
	for (unsigned op = 0; op < n + 4; op++) {
		if (!r) {
			atomic_store(&v->phase, PH_OPEN);
			int rc = xopen(SHMRING_PRODUCER, &r);
			if (rc < 0)
				rel_child_fail("victim producer: open (op %u): %d (%s)", op, rc, rel_err(rc));
		}
		int k = style == ST_SENDV ? 2 : 1;
		atomic_store(&v->lo, seq);
		atomic_store(&v->hi, seq + (uint32_t)k);
		atomic_store(&v->phase, PH_OP);
		int rc = send_some(r, ID_VICTIM, seq, k, style);
		if (rc < 1)
			rel_child_fail("victim producer: op %u (seq %u): %d (%s)", op, seq, rc, rel_err(rc));
		seq += (uint32_t)rc;
		atomic_store(&v->committed, seq);
		atomic_store(&v->lo, seq);
		atomic_store(&v->hi, seq);
		atomic_store(&v->phase, PH_IDLE);
		atomic_store(&v->ops, op + 1);
		if (cycle) {
			atomic_store(&v->phase, PH_CLOSE);
			shmring_close(r);
			r = NULL;
			atomic_store(&v->phase, PH_IDLE);
		}
	}
	if (r)
		shmring_close(r);
	atomic_store(&v->phase, PH_DONE);
	_exit(EXIT_NOT_REACHED);
}

static void record_seq(struct vstate *v, uint32_t seq)
{
	unsigned i = atomic_load(&v->nrec);
	if (i < 64)
		v->rec[i] = seq;
	atomic_store(&v->nrec, i + 1);
}

static void record(struct vstate *v, const void *m, size_t len, const char *how)
{
	struct rel_msg h;
	if (rel_msg_check(m, len, &h) < 0 || h.prod != ID_PARENT)
		rel_child_fail("victim consumer: torn or foreign message from %s (%zu bytes)", how, len);
	record_seq(v, h.seq);
}

static void victim_consumer(unsigned point, unsigned long n, int style)
{
	struct vstate *v = &S->v;
	shmring *r = NULL;
	const char *pn = shmring__crash_name(point);
	bool cycle = !strncmp(pn, "ATTACH_", 7) || !strncmp(pn, "DETACH_", 7);
	unsigned ops = G->stream ? M_PARENT : (unsigned)n + 4;
	shmring__crash_arm(point, n);
	for (unsigned op = 0; op < ops; op++) {
		if (!r) {
			atomic_store(&v->phase, PH_OPEN);
			int rc = xopen(SHMRING_CONSUMER, &r);
			if (rc < 0)
				rel_child_fail("victim consumer: open (op %u): %d (%s)", op, rc, rel_err(rc));
		}
		atomic_store(&v->phase, PH_OP);
		if (G->stream) {
			/* One message per op: its header, then the rest. */
			uint32_t k = atomic_load(&v->nrec);
			atomic_store(&v->reading, k);
			atomic_store(&v->reading_valid, 1);
			ssize_t got = read_full(r, v->rbuf[0], REL_MSG_MIN);
			if (got == 0)
				break;
			if (got < 0)
				rel_child_fail("victim reader: read header: %zd (%s)", got, rel_err(got));
			struct rel_msg h;
			memcpy(&h, v->rbuf[0], sizeof(h));
			if (h.len < REL_MSG_MIN || h.len > MAXM)
				rel_child_fail("victim reader: bad header (len %u)", h.len);
			got = read_full(r, v->rbuf[0] + REL_MSG_MIN, h.len - REL_MSG_MIN);
			if (got < 0 || (got == 0 && h.len > REL_MSG_MIN))
				rel_child_fail("victim reader: read body: %zd (%s)", got, rel_err(got));
			record(v, v->rbuf[0], h.len, "read");
			atomic_store(&v->reading_valid, 0);
		} else if (style == ST_PEEK) {
			const void *m;
			size_t len;
			int rc = shmring_peek(r, &m, &len, OP_TMO);
			if (rc == -EPIPE)
				break;
			if (rc < 0)
				rel_child_fail("victim consumer: peek: %d (%s)", rc, rel_err(rc));
			if (len > MAXM || rel_msg_check(m, len, &v->held) < 0)
				rel_child_fail("victim consumer: torn peek (%zu bytes)", len);
			atomic_store(&v->held_valid, 1);
			atomic_store(&v->phase, PH_RELEASE);
			rc = shmring_release(r);
			if (rc < 0)
				rel_child_fail("victim consumer: release: %d (%s)", rc, rel_err(rc));
			atomic_store(&v->held_valid, 0);
			record_seq(v, v->held.seq);
		} else {
			struct iovec io[2] = {{v->rbuf[0], sizeof(v->rbuf[0])},
					      {v->rbuf[1], sizeof(v->rbuf[1])}};
			int k = style == ST_RECVV ? 2 : 1;
			int rc = k == 2 ? shmring_recvv(r, io, 2, OP_TMO)
					: (int)shmring_recv(r, v->rbuf[0], sizeof(v->rbuf[0]), OP_TMO);
			if (rc == -EPIPE)
				break;
			if (rc < 0)
				rel_child_fail("victim consumer: recv: %d (%s)", rc, rel_err(rc));
			if (k == 1)
				record(v, v->rbuf[0], (size_t)rc, "recv");
			else
				for (int i = 0; i < rc; i++)
					record(v, io[i].iov_base, io[i].iov_len, "recvv");
		}
		atomic_store(&v->phase, PH_IDLE);
		atomic_store(&v->ops, op + 1);
		if (cycle) {
			atomic_store(&v->phase, PH_CLOSE);
			shmring_close(r);
			r = NULL;
			atomic_store(&v->phase, PH_IDLE);
		}
	}
	if (r)
		shmring_close(r);
	atomic_store(&v->phase, PH_DONE);
	_exit(EXIT_NOT_REACHED);
}

/* A fresh producer (P1, P2): attach at once, wait for the word, send
 * `count` messages as producer `id`, close. */
static void fresh_producer(int ready, int go, uint32_t id, uint32_t count)
{
	const char *who = id == ID_LATE ? "P1" : "P2";
	shmring *r = NULL;
	int rc = xopen(SHMRING_PRODUCER, &r);
	if (rc < 0)
		rel_child_fail("%s (fresh producer): open right after the death: %d (%s)", who, rc,
			       rel_err(rc));
	put(ready, 'r');
	if (get(go, 60000) != 'g')
		rel_child_fail("%s: no word to go", who);
	for (uint32_t s = 0; s < count;) {
		rc = send_some(r, id, s, 1, (int)(s % NSTYLES));
		if (rc < 1)
			rel_child_fail("%s: send seq %u: %d (%s)", who, s, rc, rel_err(rc));
		s += (uint32_t)rc;
	}
	shmring_close(r);
	_exit(0);
}

static void deliver(uint32_t prod, uint32_t seq)
{
	unsigned i = atomic_load(&S->ndel);
	if (i >= sizeof(S->del) / sizeof(S->del[0]))
		rel_child_fail("C1: too many messages");
	S->del[i].prod = prod;
	S->del[i].seq = seq;
	atomic_store(&S->ndel, i + 1);
}

/* C1 reads until -EPIPE (end of file), or with `until_quiet` only until
 * nothing comes for 150 ms (the liveness look runs every 50 ms). */
static void drain(shmring *r, bool may_skip, bool until_quiet)
{
	int64_t tmo = until_quiet ? 150 * REL_MS : STEP_TMO;
	if (G->stream) {
		static uint8_t all[1 << 20];
		size_t n = 0;
		for (;;) {
			ssize_t k = shmring_read(r, all + n, sizeof(all) - n, tmo);
			if (k == 0 && until_quiet)
				rel_child_fail("C1: end of file while P1 is attached (after %zu bytes)", n);
			if (k == 0 || (until_quiet && k == -ETIMEDOUT))
				break;
			if (k < 0)
				rel_child_fail("C1: read after %zu bytes: %zd (%s)", n, k, rel_err(k));
			n += (size_t)k;
		}
		/* Parse: whole messages back to back. Only a reader that took
		 * over from a dead reader may start in the middle of one. */
		size_t at = 0, skipped = 0;
		while (at < n) {
			struct rel_msg h;
			if (n - at >= REL_MSG_MIN) {
				memcpy(&h, all + at, sizeof(h));
				if (h.len >= REL_MSG_MIN && h.len <= MAXM && h.len <= n - at &&
				    rel_msg_check(all + at, h.len, &h) == 0) {
					deliver(h.prod, h.seq);
					at += h.len;
					continue;
				}
			}
			if (!may_skip || atomic_load(&S->ndel) > 0)
				rel_child_fail("C1: stream garbled at byte %zu of %zu (after %u messages)",
					       at, n, atomic_load(&S->ndel));
			at++;
			skipped++;
		}
		atomic_store(&S->skipped, (unsigned)skipped);
	} else {
		static uint8_t b[2][256];
		for (unsigned i = 0;; i++) {
			int style = (int)(i % 3);
			int got;
			struct iovec io[2] = {{b[0], sizeof(b[0])}, {b[1], sizeof(b[1])}};
			const void *m = NULL;
			size_t len = 0;
			if (style == ST_PEEK) {
				got = shmring_peek(r, &m, &len, tmo);
				if (got == 0) {
					io[0].iov_len = len;
					memcpy(b[0], m, len < sizeof(b[0]) ? len : sizeof(b[0]));
					got = 1;
				}
			} else if (style == ST_RECVV) {
				got = shmring_recvv(r, io, 2, tmo);
			} else {
				ssize_t k = shmring_recv(r, b[0], sizeof(b[0]), tmo);
				got = k < 0 ? (int)k : 1;
				io[0].iov_len = k < 0 ? 0 : (size_t)k;
			}
			if (got == -EPIPE && until_quiet)
				rel_child_fail("C1: -EPIPE while P1 is attached (after %u messages)",
					       atomic_load(&S->ndel));
			if (got == -EPIPE || (until_quiet && got == -ETIMEDOUT))
				break;
			if (got < 0)
				rel_child_fail("C1: receive after %u messages: %d (%s)",
					       atomic_load(&S->ndel), got, rel_err(got));
			for (int j = 0; j < got; j++) {
				struct rel_msg h;
				if (io[j].iov_len > MAXM || rel_msg_check(b[j], io[j].iov_len, &h) < 0)
					rel_child_fail("C1: torn message (%zu bytes) after %u messages",
						       io[j].iov_len, atomic_load(&S->ndel));
				deliver(h.prod, h.seq);
			}
			if (style == ST_PEEK && (got = shmring_release(r)) < 0)
				rel_child_fail("C1: release: %d (%s)", got, rel_err(got));
		}
	}
}

/* C1: attach at once, then obey: 'q' read until quiet, answer 'd';
 * 'g' read until -EPIPE (end of file), answer 'e'; 'x' close and exit. */
static void fresh_consumer(int ready, int go, bool may_skip)
{
	shmring *r = NULL;
	int rc = xopen(SHMRING_CONSUMER, &r);
	if (rc < 0)
		rel_child_fail("C1 (fresh consumer): open right after the death: %d (%s)", rc,
			       rel_err(rc));
	put(ready, 'r');
	for (int round = 0;; round++) {
		int c = get(go, 60000);
		if (c == 'x')
			break;
		if (c != 'q' && c != 'g')
			rel_child_fail("C1: no word from the parent");
		drain(r, may_skip && round == 0, c == 'q');
		if (c == 'g' && !atomic_load(&S->c1_eof_at))
			atomic_store(&S->c1_eof_at, atomic_load(&S->ndel) + 1);
		put(ready, c == 'q' ? 'd' : 'e');
	}
	shmring_close(r);
	_exit(0);
}

/* ---- one trial ----------------------------------------------------------------------------- */

struct tally {
	unsigned trials, kills, not_reached, failures;
	unsigned reached_by_point[SR_CP_COUNT];
	uint64_t messages, dropped, vanished_into_victim, inflight_delivered;
};

#define TFAIL(...)                                                                         \
	do {                                                                               \
		fprintf(stderr, "FAIL %s %s %s n=%lu %s: ", G->name, pn, role_name, n, sname);     \
		fprintf(stderr, __VA_ARGS__);                                              \
		fprintf(stderr, "\n");                                                     \
		bad = 1;                                                                   \
	} while (0)

static const char *style_name(int role, int style)
{
	static const char *const p[] = {"send", "sendv", "claim"}, *const c[] = {"recv", "recvv", "peek"};
	if (G->stream)
		return role == SHMRING_PRODUCER ? "write" : "read";
	return role == SHMRING_PRODUCER ? p[style] : c[style];
}

/* Two pipes between the parent and one child: up (child -> parent) and
 * down (parent -> child). After the fork the parent closes the child's
 * ends, so that a child's death reads as end of file at once. */
struct chan {
	int up[2], down[2];
};

static void chan_open(struct chan *c)
{
	if (pipe2(c->up, O_CLOEXEC) < 0 || pipe2(c->down, O_CLOEXEC) < 0) {
		perror("pipe2");
		exit(1);
	}
}

static void chan_parent(struct chan *c)
{
	close(c->up[1]);
	close(c->down[0]);
	c->up[1] = c->down[0] = -1;
}

static void chan_close(struct chan *c)
{
	int *fds[4] = {&c->up[0], &c->up[1], &c->down[0], &c->down[1]};
	for (int i = 0; i < 4; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

static int trial(unsigned point, int role, unsigned long n, int style, struct tally *t)
{
	const char *pn = shmring__crash_name(point);
	const char *role_name = role == SHMRING_PRODUCER ? "producer" : "consumer";
	const char *sname = style_name(role, style);
	bool multi = role == SHMRING_PRODUCER ? (G->mode == SHMRING_MPSC || G->mode == SHMRING_MPMC)
					      : (G->mode == SHMRING_SPMC || G->mode == SHMRING_MPMC);
	int bad = 0, st;
	memset(S, 0, sizeof(*S));
	rel_rep = &S->rep;
	t->trials++;

	char temp_before[128];
	int temps0 = rel_shm_count(SR_TEMP_PREFIX, temp_before, sizeof(temp_before));
	ring_name = rel_newname("crash");
	struct shmring_config cfg = ring_cfg();
	shmring *obs = NULL;
	int rc = shmring_create(ring_name, &cfg, SHMRING_OBSERVER, &obs);
	if (rc < 0) {
		fprintf(stderr, "FAIL %s: create: %d (%s)\n", G->name, rc, rel_err(rc));
		return 1;
	}

	/* The companion first (it takes the first entry of a multi side),
	 * then the ghost (the next entry: the victim reaps it). */
	struct chan cc = {{-1, -1}, {-1, -1}}, p1c = cc, c1c = cc, p2c = cc;
	pid_t comp = 0;
	if (multi) {
		chan_open(&cc);
		comp = rel_fork();
		if (comp == 0)
			companion(role, cc.up[1], cc.down[0]);
		chan_parent(&cc);
		if (get(cc.up[0], 10000) != 'r') {
			fprintf(stderr, "FAIL %s: companion did not attach: %s\n", G->name,
				rel_child_report());
			bad = 1;
			goto out;
		}
	}
	pid_t gh = rel_fork();
	if (gh == 0)
		ghost(role);
	rel_reap(gh, 10000, &st);
	if (!WIFSIGNALED(st)) {
		fprintf(stderr, "FAIL %s: ghost: %s: %s\n", G->name, rel_status(st), rel_child_report());
		bad = 1;
		goto out;
	}

	/* A consumer victim reads what the parent sends first (streams: in
	 * eight writer sessions, each closing its record, so that the reader
	 * passes seven records: REC_PADDED and REC_ZEROED up to n = 5). */
	if (role == SHMRING_CONSUMER) {
		for (uint32_t s = 0; s < M_PARENT;) {
			shmring *p = NULL;
			rc = xopen(SHMRING_PRODUCER, &p);
			if (rc < 0) {
				fprintf(stderr, "FAIL %s: parent producer: open: %d (%s)\n", G->name, rc,
					rel_err(rc));
				bad = 1;
				goto out;
			}
			uint32_t end = G->stream ? s + 2 : M_PARENT;
			for (; s < end; s++)
				if ((rc = send_some(p, ID_PARENT, s, 1, ST_SEND)) != 1) {
					fprintf(stderr, "FAIL %s: parent send %u: %d (%s)\n", G->name, s, rc,
						rel_err(rc));
					bad = 1;
					shmring_close(p);
					goto out;
				}
			shmring_close(p);
		}
	}
	struct shmring_stat st0;
	shmring_stat(obs, &st0);

	/* The victim. */
	pid_t vic = rel_fork();
	if (vic == 0) {
		if (role == SHMRING_PRODUCER)
			victim_producer(point, n, style);
		victim_consumer(point, n, style);
	}
	if (!rel_reap(vic, 30000, &st)) {
		TFAIL("victim hung (killed after 30 s, phase %d, %u ops)", atomic_load(&S->v.phase),
		      atomic_load(&S->v.ops));
		rel_dump(ring_name);
		goto out;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_NOT_REACHED) {
		t->not_reached++;
		if (expected(point, role, style)) {
			TFAIL("the victim never passed the point (%u ops)", atomic_load(&S->v.ops));
		} else if (verbose) {
			printf("  %-16s %-8s n=%lu %-6s not passed (as expected)\n", pn, role_name, n,
			       sname);
		}
		goto out;
	}
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		TFAIL("victim: %s: %s", rel_status(st), rel_child_report());
		goto out;
	}
	t->kills++;
	t->reached_by_point[point]++;
	if (!expected(point, role, style))
		printf("  note: %s %s %s passes %s (not in the table)\n", G->name, role_name, sname, pn);

	/* Fresh endpoints: C1 and P1 attach at once; then the companion
	 * leaves. P1 sends a few messages and closes before C1 reads, so that
	 * C1 meets whatever the victim left at the head with every producer
	 * gone: it must deliver all of them before it reports the end. Then a
	 * second fresh producer P2 moves laps of messages through the ring
	 * that C1 has seen end once. */
	chan_open(&c1c);
	pid_t c1 = rel_fork();
	if (c1 == 0)
		fresh_consumer(c1c.up[1], c1c.down[0], G->stream && role == SHMRING_CONSUMER);
	chan_parent(&c1c);
	chan_open(&p1c);
	pid_t p1 = rel_fork();
	if (p1 == 0)
		fresh_producer(p1c.up[1], p1c.down[0], ID_LATE, K_LATE);
	chan_parent(&p1c);
	int a = get(c1c.up[0], 10000), b = get(p1c.up[0], 10000);
	if (a != 'r' || b != 'r') {
		TFAIL("fresh endpoints did not attach: %s", rel_child_report());
		rel_kill_all();
		goto closep;
	}
	if (comp) {
		put(cc.down[1], 'c');
		if (!rel_reap(comp, 10000, &st) || !WIFEXITED(st) || WEXITSTATUS(st)) {
			TFAIL("companion: %s: %s", rel_status(st), rel_child_report());
			rel_kill_all();
			goto closep;
		}
		comp = 0;
	}
	/* C1 reads what is there while P1 is attached but idle, before P1
	 * writes: after a death in the endpoint table (attach, detach), when
	 * the companion's normal close has left the live counts, C1 must not
	 * see the end; and a single producer publishes its tail after its
	 * record, so a new producer must not write at a stale tail once C1 has
	 * taken the victim's last record. (Data-path deaths skip this step:
	 * C1 must meet their leftovers only after every producer is gone.) */
	if (!strncmp(pn, "ATTACH_", 7) || !strncmp(pn, "DETACH_", 7) ||
	    (G->mode == SHMRING_SPSC && !G->stream && role == SHMRING_PRODUCER)) {
		put(c1c.down[1], 'q');
		if (get(c1c.up[0], 30000) != 'd') {
			TFAIL("C1 did not finish reading: %s", rel_child_report());
			rel_kill_all();
			goto closep;
		}
	}
	put(p1c.down[1], 'g');
	if (!rel_reap(p1, 30000, &st) || !WIFEXITED(st) || WEXITSTATUS(st)) {
		TFAIL("P1: %s; first failure: %s", rel_status(st), rel_child_report());
		rel_dump(ring_name);
		rel_kill_all();
		goto closep;
	}
	put(c1c.down[1], 'g');
	if (get(c1c.up[0], 30000) != 'e') {
		TFAIL("C1 did not reach the end after P1 left: %s", rel_child_report());
		rel_dump(ring_name);
		rel_kill_all();
		goto closep;
	}
	chan_open(&p2c);
	pid_t p2 = rel_fork();
	if (p2 == 0)
		fresh_producer(p2c.up[1], p2c.down[0], ID_FRESH, K_FRESH);
	chan_parent(&p2c);
	if (get(p2c.up[0], 10000) != 'r') {
		TFAIL("P2 did not attach: %s", rel_child_report());
		rel_kill_all();
		goto closep;
	}
	put(p2c.down[1], 'g');
	put(c1c.down[1], 'g');
	put(c1c.down[1], 'x');
	bool p2ok = rel_reap(p2, 60000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!p2ok) {
		TFAIL("P2: %s; first failure: %s", rel_status(st), rel_child_report());
		rel_dump(ring_name);
	}
	bool c1ok = rel_reap(c1, 60000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!c1ok) {
		TFAIL("C1: %s; first failure: %s", rel_status(st), rel_child_report());
		if (p2ok)
			rel_dump(ring_name);
	}
closep:
	chan_close(&p1c);
	chan_close(&c1c);
	chan_close(&p2c);
	if (bad)
		goto out;

	/* ---- the accounting ---- */
	{
		struct vstate *v = &S->v;
		struct shmring_stat st1;
		shmring_stat(obs, &st1);
		uint64_t dropped = st1.dropped - st0.dropped;
		unsigned nd = atomic_load(&S->ndel);
		/* times[id][seq]: deliveries to live consumers (C1 and the victim's recorded ones) */
		static uint8_t times[NIDS][K_FRESH + 64];
		static int64_t last[NIDS];
		memset(times, 0, sizeof(times));
		for (int i = 0; i < NIDS; i++)
			last[i] = -1;
		for (unsigned i = 0; i < nd; i++) {
			uint32_t p = S->del[i].prod, s = S->del[i].seq;
			if (p >= NIDS || s >= K_FRESH + 64) {
				TFAIL("C1 delivered a message nobody sent: producer %u seq %u", p, s);
				continue;
			}
			if ((int64_t)s <= last[p])
				TFAIL("C1: producer %u out of order: seq %u after %" PRId64, p, s, last[p]);
			last[p] = s;
			times[p][s]++;
		}
		unsigned nrec = atomic_load(&v->nrec);
		for (unsigned i = 0; i < nrec && i < 64; i++)
			times[ID_PARENT][v->rec[i]]++;
		for (int p = 0; p < NIDS; p++)
			for (unsigned s = 0; s < K_FRESH + 64; s++)
				if (times[p][s] > 1)
					TFAIL("producer %d seq %u delivered %u times", p, s, times[p][s]);
		for (uint32_t s = 0; s < K_FRESH; s++)
			if (times[ID_FRESH][s] != 1)
				TFAIL("P2's seq %u delivered %u times", s, times[ID_FRESH][s]);
		/* Every message P1 sent arrived before C1 reported the end. */
		unsigned eof_at = atomic_load(&S->c1_eof_at) - 1, late = 0;
		for (unsigned i = 0; i < eof_at && i < nd; i++)
			late += S->del[i].prod == ID_LATE;
		if (late != K_LATE)
			TFAIL("C1 reported the end (-EPIPE / end of file) with %u of P1's %u messages "
			      "delivered: the rest were still in the ring",
			      late, K_LATE);
		for (uint32_t s = 0; s < K_LATE; s++)
			if (times[ID_LATE][s] != 1)
				TFAIL("P1's seq %u delivered %u times", s, times[ID_LATE][s]);
		if (multi && role == SHMRING_PRODUCER)
			for (uint32_t s = 0; s < N_COMPANION; s++)
				if (times[ID_COMPANION][s] != 1)
					TFAIL("the companion's seq %u delivered %u times", s,
					      times[ID_COMPANION][s]);
		unsigned missing = 0, seen = 0, allowed_missing = 0;
		if (role == SHMRING_PRODUCER) {
			uint32_t c = atomic_load(&v->committed), hi = atomic_load(&v->hi);
			for (uint32_t s = 0; s < c; s++)
				if (times[ID_VICTIM][s] != 1)
					TFAIL("the victim's committed seq %u delivered %u times (it had "
					      "committed %u)",
					      s, times[ID_VICTIM][s], c);
			for (uint32_t s = c; s < K_FRESH + 64; s++) {
				if (times[ID_VICTIM][s] && s >= hi)
					TFAIL("the victim's seq %u delivered, but it never sent it", s);
				if (s < hi) {
					allowed_missing++;
					if (times[ID_VICTIM][s])
						t->inflight_delivered++;
					else
						missing++;
				}
			}
			if (dropped > missing)
				TFAIL("dropped counts %" PRIu64 " but only %u of the victim's in-flight "
				      "messages went missing",
				      dropped, missing);
			t->messages += c + (allowed_missing - missing);
		} else {
			/* The parent's messages: each delivered once, or copied by the
			 * victim before it died, or dropped. */
			bool in_buf[M_PARENT] = {0};
			for (int i = 0; i < 2; i++) {
				struct rel_msg h;
				memcpy(&h, v->rbuf[i], sizeof(h));
				if (h.len >= REL_MSG_MIN && h.len <= MAXM &&
				    rel_msg_check(v->rbuf[i], h.len, &h) == 0 && h.prod == ID_PARENT &&
				    h.seq < M_PARENT)
					in_buf[h.seq] = true;
			}
			if (atomic_load(&v->held_valid) && v->held.seq < M_PARENT)
				in_buf[v->held.seq] = true;
			if (G->stream && atomic_load(&v->reading_valid) &&
			    atomic_load(&v->reading) < M_PARENT)
				in_buf[atomic_load(&v->reading)] = true; /* partly read by the victim */
			for (uint32_t s = 0; s < M_PARENT; s++) {
				if (times[ID_PARENT][s] == 1)
					continue;
				missing++;
				if (in_buf[s])
					seen++;
			}
			if (missing - seen > dropped)
				TFAIL("%u of the parent's messages lost (%u of them copied by the victim "
				      "before it died), dropped counts only %" PRIu64,
				      missing, seen, dropped);
			if (dropped > missing)
				TFAIL("dropped counts %" PRIu64 " but only %u messages went missing",
				      dropped, missing);
			if (seen > 2 || missing > 2)
				TFAIL("%u messages missing, %u in the victim's buffers", missing, seen);
			t->vanished_into_victim += seen;
			t->messages += M_PARENT;
		}
		t->dropped += dropped;
		t->messages += K_LATE + K_FRESH + (multi && role == SHMRING_PRODUCER ? N_COMPANION : 0);
		if (st1.producers || st1.consumers || st1.used)
			TFAIL("after everyone left: %u producers, %u consumers, %zu bytes in use",
			      st1.producers, st1.consumers, st1.used);
		if (bad) {
			fprintf(stderr, "  victim: phase %d, %u ops, committed %u, in flight [%u, %u), "
					"received %u; C1: %u messages; dropped %" PRIu64 "\n",
				atomic_load(&v->phase), atomic_load(&v->ops), atomic_load(&v->committed),
				atomic_load(&v->lo), atomic_load(&v->hi), nrec, nd, dropped);
			rel_dump(ring_name);
		}
	}
out:
	if (comp) {
		kill(comp, SIGKILL);
		rel_reap(comp, 1000, &st);
	}
	chan_close(&cc);
	chan_close(&p1c);
	chan_close(&c1c);
	chan_close(&p2c);
	rel_kill_all();
	shmring_close(obs);
	/* Nothing new in /dev/shm but the ring: no temp object of a create. */
	char temp_after[128];
	int temps1 = rel_shm_count(SR_TEMP_PREFIX, temp_after, sizeof(temp_after));
	if (temps1 > temps0 && strcmp(temp_after, temp_before)) {
		/* Another engineer's run may be creating rings right now: only
		 * a temp object of one of our processes counts. */
		char mine[64];
		snprintf(mine, sizeof(mine), "%s%d-", SR_TEMP_PREFIX, (int)getpid());
		if (rel_shm_count(mine, NULL, 0)) {
			fprintf(stderr, "FAIL %s: a temp object was left in /dev/shm: %s\n", G->name, mine);
			bad = 1;
		}
	}
	char nm[128];
	snprintf(nm, sizeof(nm), "%s", ring_name);
	rel_unlink(ring_name);
	if (rel_shm_count(nm, NULL, 0)) {
		fprintf(stderr, "FAIL %s: %s still in /dev/shm after unlink\n", G->name, nm);
		bad = 1;
	}
	if (bad)
		t->failures++;
	else if (verbose && t->reached_by_point[point])
		printf("  %-16s %-8s n=%lu %-6s ok\n", pn, role_name, n, sname);
	return bad;
}

/* ---- a waiter killed in its sleep -------------------------------------------------------- */

/* A victim sleeps in a blocking call (spin 0): a consumer on an empty ring, a
 * producer on a full one. It is killed while asleep. Then nobody sleeps on
 * the ring any more, so shmring_stat must say so, and messages that move
 * while both sides keep up must cost no futex wake (API.md: no system calls
 * while the other side keeps up). */
static int sleeper_trial(const struct group *g, int role, uint64_t *left_out, uint64_t *wakes_out)
{
	G = g;
	const char *rn = role == SHMRING_PRODUCER ? "producer" : "consumer";
	struct shmring_config cfg = {.mode = g->mode, .capacity = 4096};
	if (g->stream)
		cfg.flags = SHMRING_STREAM;
	else
		cfg.max_msg = 64;
	ring_name = rel_newname("crash");
	shmring *obs = NULL;
	int rc = shmring_create(ring_name, &cfg, SHMRING_OBSERVER, &obs), bad = 0, st;
	if (rc < 0) {
		fprintf(stderr, "FAIL sleepers %s: create: %d\n", g->name, rc);
		return 1;
	}
	pid_t v = rel_fork();
	if (v == 0) {
		shmring *r = NULL;
		char b[64] = {0};
		if (shmring_open(ring_name, role, &r) < 0)
			_exit(2);
		shmring_set_spin(r, 0);
		if (role == SHMRING_PRODUCER) {
			if (g->stream)
				while (shmring_write(r, b, sizeof(b), 0) > 0) {
				}
			else
				while (shmring_send(r, b, sizeof(b), 0) == 0) {
				}
			if (g->stream)
				shmring_write(r, b, sizeof(b), -1);
			else
				shmring_send(r, b, sizeof(b), -1);
		} else if (g->stream) {
			shmring_read(r, b, sizeof(b), -1);
		} else {
			shmring_recv(r, b, sizeof(b), -1);
		}
		_exit(3);
	}
	struct shmring_stat s;
	int64_t until = rel_now() + 5 * REL_SEC;
	do {
		rel_sleep_ms(2);
		shmring_stat(obs, &s);
	} while (s.sleepers == 0 && rel_now() < until);
	if (s.sleepers == 0) {
		fprintf(stderr, "FAIL sleepers %s %s: the victim never slept\n", g->name, rn);
		bad = 1;
	}
	rel_sleep_ms(20);
	kill(v, SIGKILL);
	rel_reap(v, 5000, &st);
	until = rel_now() + REL_SEC;
	do {
		rel_sleep_ms(5);
		shmring_stat(obs, &s);
	} while (s.sleepers && rel_now() < until);
	*left_out += s.sleepers;
	if (s.sleepers) {
		fprintf(stderr, "FAIL sleepers %s %s: %u sleeper(s) still counted 1 s after the only "
				"waiter was killed\n",
			g->name, rn, s.sleepers);
		bad = 1;
	}
	/* A fresh pair that keeps up with itself: no futex wake. */
	shmring *p = NULL, *c = NULL;
	rc = shmring_open(ring_name, SHMRING_CONSUMER, &c);
	if (rc == 0)
		rc = shmring_open(ring_name, SHMRING_PRODUCER, &p);
	if (rc < 0) {
		fprintf(stderr, "FAIL sleepers %s %s: fresh endpoints: %d (%s)\n", g->name, rn, rc,
			rel_err(rc));
		bad = 1;
	} else {
		char b[64] = {0}, in[256];
		if (g->stream)
			while (shmring_read(c, in, sizeof(in), 0) > 0) {
			}
		else
			while (shmring_recv(c, in, sizeof(in), 0) >= 0) {
			}
		shmring_stat(obs, &s);
		uint64_t w0 = s.wakeups;
		for (int i = 0; i < 100; i++) {
			long a = g->stream ? shmring_write(p, b, sizeof(b), 0) : shmring_send(p, b, sizeof(b), 0);
			long z = g->stream ? shmring_read(c, in, sizeof(in), 0)
					   : shmring_recv(c, in, sizeof(in), 0);
			if (a < 0 || z < 0) {
				fprintf(stderr, "FAIL sleepers %s %s: message %d: %ld / %ld\n", g->name, rn,
					i, a, z);
				bad = 1;
				break;
			}
		}
		shmring_stat(obs, &s);
		*wakes_out += s.wakeups - w0;
		if (s.wakeups != w0) {
			fprintf(stderr, "FAIL sleepers %s %s: %" PRIu64 " futex wakes for 100 messages "
					"with nobody asleep\n",
				g->name, rn, (uint64_t)(s.wakeups - w0));
			bad = 1;
		}
	}
	if (p)
		shmring_close(p);
	if (c)
		shmring_close(c);
	shmring_close(obs);
	rel_unlink(ring_name);
	return bad;
}

static int sleepers(void)
{
	int bad = 0, n = 0;
	uint64_t left = 0, wakes = 0;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		for (int role = SHMRING_PRODUCER; role <= SHMRING_CONSUMER; role++, n++)
			bad |= sleeper_trial(&groups[i], role, &left, &wakes);
	rel_figure("crash sleepers: %d waiters killed asleep (all modes, streams, both roles): %s "
		   "sleepers left counted, %s futex wakes in 100-message exchanges after%s",
		   n, rel_commas(left), rel_commas(wakes), bad ? " [FAILURES]" : "");
	return bad;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "sleepers")) {
		unsetenv("SHMRING_CRASH_AT");
		rel_init(600);
		return sleepers();
	}
	if (argc < 2) {
		fprintf(stderr, "usage: rel_crash <spsc|mpsc|spmc|mpmc|stream> [POINT] [-v]\n"
				"       rel_crash sleepers\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(argv[1], groups[i].name))
			G = &groups[i];
	if (!G) {
		fprintf(stderr, "rel_crash: unknown group '%s'\n", argv[1]);
		return 2;
	}
	const char *only = NULL;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else
			only = argv[i];
	}
	unsetenv("SHMRING_CRASH_AT");
	rel_init(1500);
	S = rel_shared(sizeof(*S));
	struct tally t = {0};
	int64_t t0 = rel_now();
	unsigned long nmax = rel_long() ? 5 : 3;
	int nstyles = G->stream ? 1 : NSTYLES;
	for (unsigned p = 0; p < SR_CP_COUNT; p++) {
		const char *pn = shmring__crash_name(p);
		bool table = !strncmp(pn, "ATTACH_", 7) || !strncmp(pn, "DETACH_", 7);
		if (only && strcmp(only, pn))
			continue;
		for (int role = SHMRING_PRODUCER; role <= SHMRING_CONSUMER; role++)
			for (unsigned long n = 1; n <= nmax; n++)
				for (int s = 0; s < nstyles; s++) {
					/* A point a (role, style) does not pass at n = 1 it
					 * does not pass later either: the workload is the
					 * same, only longer. Deaths in the endpoint table do
					 * not depend on the style: one per n (all when long). */
					if (!expected(p, role, s) && n > 1)
						continue;
					if (table && !rel_long() && s != (int)((n - 1) % (unsigned)nstyles))
						continue;
					trial(p, role, n, s, &t);
				}
	}
	double secs = (double)(rel_now() - t0) / 1e9;
	printf("%s: %.1f s, %u trials: %u kills, %u not reached (by design), %u failed\n", G->name,
	       secs, t.trials, t.kills, t.not_reached, t.failures);
	printf("%s: points passed:", G->name);
	for (unsigned p = 0; p < SR_CP_COUNT; p++)
		if (t.reached_by_point[p])
			printf(" %s(%u)", shmring__crash_name(p), t.reached_by_point[p]);
	printf("\n");
	unsigned points = 0;
	for (unsigned p = 0; p < SR_CP_COUNT; p++)
		points += t.reached_by_point[p] != 0;
	char verdict[64];
	if (t.failures)
		snprintf(verdict, sizeof(verdict), "%u trials FAILED", t.failures);
	else
		snprintf(verdict, sizeof(verdict), "0 lost, 0 duplicated");
	rel_figure("crash %s: %s kills survived at %u crash points, %s messages checked, %s (%s "
		   "dropped-counted, %s copied by a dying consumer, %s in-flight messages of a dying "
		   "producer delivered)%s",
		   G->name, rel_commas(t.kills), points, rel_commas(t.messages), verdict,
		   rel_commas(t.dropped), rel_commas(t.vanished_into_victim),
		   rel_commas(t.inflight_delivered), t.failures ? " [FAILURES]" : "");
	return t.failures ? 1 : 0;
}
