/* SPDX-License-Identifier: MIT */
/*
 * rel_soak.c - producers and consumers SIGKILLed at random times and
 * respawned, while every message stays accounted for.
 *
 *   rel_soak <mpmc|mpsc> [seconds]
 *
 * 4 producers x 4 consumers on an MPMC ring (mpmc), or 4 producers x 1
 * consumer on an MPSC ring (mpsc). The parent is the killer: every 5-60 ms it
 * SIGKILLs a random child, sometimes two, and starts a new one in its place.
 * Each producer incarnation is a producer of its own (its id is the
 * incarnation number, its sequence starts at 0); before a call it records the
 * sequences it is about to send, after the call those it committed. Each
 * consumer checks every message whole and in per-producer order, and sets its
 * bit in a shared bitmap (a bit set twice is a duplicate); it receives into
 * buffers in shared memory, so that when it is killed the killer can see a
 * message it had copied but not yet recorded.
 *
 * At the end the producers stop and close, the consumers drain to -EPIPE,
 * and the checker accounts for every message:
 *   - every committed message is delivered once, or was copied by a consumer
 *     that was killed before it recorded it, or is counted in
 *     shmring_stat.dropped, or was held by a consumer killed inside a
 *     receive call (at most one such message per such kill);
 *   - a message delivered is never one its producer did not send, and a
 *     message its producer was sending when it was killed is delivered at
 *     most once;
 *   - dropped counts no more messages than went missing;
 *   - the ring ends empty, with no live endpoint.
 * CI runs 30 s per ring (7 s under a sanitizer); SHMRING_LONG=1 runs 300 s.
 */
#include "rel.h"

#include <sys/uio.h>

#define MAXM 240
#define MAX_INC 16384          /* producer incarnations */
#define SEQ_BITS 18            /* messages per incarnation: 2^18 */
#define SEQ_MAX (1u << SEQ_BITS)
#define MAX_CONS 4
#define NPROD 4
#define STALL_NS (10 * REL_SEC)

enum { PH_IDLE = 0, PH_RECV, PH_HELD };

struct pinc {
	atomic_uint committed; /* seqs [0, committed) returned 0 */
	atomic_uint hi;        /* seqs [committed, hi) are being sent */
	atomic_int started;
};

struct cslot {
	atomic_int phase;
	atomic_int held_valid;
	struct rel_msg held;
	uint8_t rbuf[4][MAXM];
};

struct shared {
	struct rel_report rep;
	atomic_int stop;            /* producers: close and exit */
	atomic_int drain;           /* consumers: exit at -EPIPE */
	atomic_ullong delivered;    /* all consumers, all incarnations */
	atomic_ullong eagain_pipe;  /* producer calls that met -EPIPE (no consumer alive) */
	struct cslot cs[MAX_CONS];
	struct pinc pi[MAX_INC];
};

static struct shared *S;
static atomic_ullong *bitmap;    /* MAX_INC * SEQ_MAX bits, shared */
static const char *ring_name;
static enum shmring_mode mode;
static int ncons;

static uint32_t mlen(uint32_t prod, uint32_t seq)
{
	return rel_msg_len(prod, seq, REL_MSG_MIN, MAXM);
}

/* ---- producer incarnation ----------------------------------------------------------- */

static void producer(uint32_t id)
{
	struct pinc *p = &S->pi[id];
	shmring *r = NULL;
	int rc;
	for (int tries = 0; (rc = shmring_open(ring_name, SHMRING_PRODUCER, &r)) < 0; tries++) {
		if (tries > 200)
			rel_child_fail("producer %u: open: %d (%s)", id, rc, rel_err(rc));
		rel_sleep_ms(5);
	}
	atomic_store(&p->started, 1);
	uint64_t rs = rel_seed(id);
	static uint8_t b[4][MAXM];
	uint32_t seq = 0;
	while (!atomic_load_explicit(&S->stop, memory_order_relaxed) && seq + 4 < SEQ_MAX) {
		uint64_t pick = rel_rand(&rs) % 100;
		int k = pick < 60 ? 1 : pick < 80 ? 2 + (int)(rel_rand(&rs) % 3) : 1;
		atomic_store_explicit(&p->hi, seq + (uint32_t)k, memory_order_release);
		if (pick < 60) {
			uint32_t len = mlen(id, seq);
			rel_msg_make(b[0], len, id, seq);
			rc = shmring_send(r, b[0], len, 200 * REL_MS);
			rc = rc == 0 ? 1 : rc;
		} else if (pick < 80) {
			struct iovec v[4];
			for (int i = 0; i < k; i++) {
				uint32_t len = mlen(id, seq + (uint32_t)i);
				rel_msg_make(b[i], len, id, seq + (uint32_t)i);
				v[i].iov_base = b[i];
				v[i].iov_len = len;
			}
			rc = shmring_sendv(r, v, k, 200 * REL_MS);
		} else {
			void *buf;
			uint32_t len = mlen(id, seq);
			rc = shmring_claim(r, (rel_rand(&rs) & 1) ? MAXM : len, &buf, 200 * REL_MS);
			if (rc == 0) {
				rel_msg_make(buf, len, id, seq);
				if ((rc = shmring_commit(r, len)) == 0)
					rc = 1;
			}
		}
		if (rc > 0) {
			seq += (uint32_t)rc;
			atomic_store_explicit(&p->committed, seq, memory_order_release);
		} else if (rc == -EPIPE) {
			/* every consumer killed at once: wait for a new one */
			atomic_fetch_add(&S->eagain_pipe, 1);
			rel_sleep_ms(2);
		} else if (rc != -ETIMEDOUT && rc != -EAGAIN) {
			rel_child_fail("producer %u: seq %u: %d (%s)", id, seq, rc, rel_err(rc));
		}
		atomic_store_explicit(&p->hi, seq, memory_order_release);
	}
	shmring_close(r);
	_exit(0);
}

/* ---- consumer incarnation ----------------------------------------------------------- */

static int32_t *last; /* per producer incarnation, this consumer incarnation */

static void take(int slot, const void *m, size_t len, const char *how)
{
	struct rel_msg h;
	if (len > MAXM || rel_msg_check(m, len, &h) < 0) {
		struct rel_msg g = {0};
		memcpy(&g, m, len < sizeof(g) ? len : sizeof(g));
		rel_child_fail("consumer %d: torn message from %s: %zu bytes (header prod %u seq %u "
			       "len %u)",
			       slot, how, len, g.prod, g.seq, g.len);
	}
	if (h.prod >= MAX_INC || h.seq >= SEQ_MAX)
		rel_child_fail("consumer %d: unknown producer %u seq %u", slot, h.prod, h.seq);
	if ((int32_t)h.seq <= last[h.prod])
		rel_child_fail("consumer %d: producer %u out of order: seq %u after %d (%s)", slot,
			       h.prod, h.seq, last[h.prod], how);
	last[h.prod] = (int32_t)h.seq;
	if (rel_bit_set(bitmap, (uint64_t)h.prod * SEQ_MAX + h.seq))
		rel_child_fail("consumer %d: duplicate: producer %u seq %u (%s)", slot, h.prod, h.seq,
			       how);
	atomic_fetch_add_explicit(&S->delivered, 1, memory_order_relaxed);
}

static void consumer(int slot)
{
	struct cslot *c = &S->cs[slot];
	last = malloc(sizeof(*last) * MAX_INC);
	if (!last)
		rel_child_fail("consumer %d: no memory", slot);
	for (int i = 0; i < MAX_INC; i++)
		last[i] = -1;
	shmring *r = NULL;
	int rc;
	for (int tries = 0; (rc = shmring_open(ring_name, SHMRING_CONSUMER, &r)) < 0; tries++) {
		/* a single consumer side may still be held by the one just
		 * killed for a moment: its lock goes with its last descriptor */
		if (tries > 400)
			rel_child_fail("consumer %d: open: %d (%s)", slot, rc, rel_err(rc));
		rel_sleep_ms(5);
	}
	uint64_t rs = rel_seed((uint64_t)slot * 31 + 7);
	for (;;) {
		uint64_t pick = rel_rand(&rs) % 100;
		atomic_store_explicit(&c->phase, PH_RECV, memory_order_release);
		if (pick < 55) {
			ssize_t n = shmring_recv(r, c->rbuf[0], MAXM, 200 * REL_MS);
			rc = n < 0 ? (int)n : 1;
			if (n >= 0)
				take(slot, c->rbuf[0], (size_t)n, "recv");
		} else if (pick < 80) {
			struct iovec v[4];
			for (int i = 0; i < 4; i++) {
				v[i].iov_base = c->rbuf[i];
				v[i].iov_len = MAXM;
			}
			rc = shmring_recvv(r, v, 4, 200 * REL_MS);
			for (int i = 0; i < rc; i++)
				take(slot, v[i].iov_base, v[i].iov_len, "recvv");
		} else {
			const void *m;
			size_t len;
			rc = shmring_peek(r, &m, &len, 200 * REL_MS);
			if (rc == 0) {
				if (len > MAXM || rel_msg_check(m, len, &c->held) < 0)
					rel_child_fail("consumer %d: torn peek (%zu bytes)", slot, len);
				atomic_store_explicit(&c->held_valid, 1, memory_order_release);
				atomic_store_explicit(&c->phase, PH_HELD, memory_order_release);
				take(slot, m, len, "peek");
				atomic_store_explicit(&c->held_valid, 0, memory_order_release);
				if ((rc = shmring_release(r)) < 0)
					rel_child_fail("consumer %d: release: %d (%s)", slot, rc, rel_err(rc));
				rc = 1;
			}
		}
		atomic_store_explicit(&c->phase, PH_IDLE, memory_order_release);
		if (rc == -EPIPE && atomic_load(&S->drain))
			break;
		if (rc < 0 && rc != -EPIPE && rc != -ETIMEDOUT && rc != -EAGAIN)
			rel_child_fail("consumer %d: %d (%s)", slot, rc, rel_err(rc));
		if (rc == -EPIPE)
			rel_sleep_ms(2); /* every producer killed at once */
	}
	shmring_close(r);
	_exit(0);
}

/* ---- the killer and checker --------------------------------------------------------- */

struct child {
	pid_t pid;
	bool consumer;
	int slot;     /* consumer slot */
	uint32_t inc; /* producer incarnation */
};

static struct child kids[NPROD + MAX_CONS];
static uint32_t ninc;
static uint64_t *vanished; /* bitmap, parent-private: copied by a killed consumer */
static uint64_t n_vanished, n_unknown, n_held, kills_p, kills_c, kills_in_op_p, retired;

static void spawn(int i)
{
	struct child *k = &kids[i];
	if (k->consumer) {
		struct cslot *c = &S->cs[k->slot];
		atomic_store(&c->phase, PH_IDLE);
		atomic_store(&c->held_valid, 0);
		memset(c->rbuf, 0, sizeof(c->rbuf));
	} else {
		if (ninc >= MAX_INC) {
			fprintf(stderr, "FAIL: out of producer incarnations\n");
			exit(1);
		}
		k->inc = ninc++;
	}
	pid_t pid = rel_fork();
	if (pid == 0) {
		if (k->consumer)
			consumer(k->slot);
		producer(k->inc);
	}
	k->pid = pid;
}

/* After a consumer's death: a message it copied and did not record. */
static void post_mortem(struct child *k)
{
	struct cslot *c = &S->cs[k->slot];
	int phase = atomic_load(&c->phase);
	bool found = false;
	if (phase == PH_IDLE)
		return;
	for (int i = 0; i < 4; i++) {
		struct rel_msg h;
		memcpy(&h, c->rbuf[i], sizeof(h));
		if (h.len < REL_MSG_MIN || h.len > MAXM || rel_msg_check(c->rbuf[i], h.len, &h) < 0 ||
		    h.prod >= MAX_INC || h.seq >= SEQ_MAX)
			continue;
		uint64_t b = (uint64_t)h.prod * SEQ_MAX + h.seq;
		if (!rel_bit_get(bitmap, b) && !(vanished[b / 64] >> (b % 64) & 1)) {
			vanished[b / 64] |= 1ull << (b % 64);
			n_vanished++;
			found = true;
		}
	}
	if (phase == PH_HELD) {
		/* Killed holding a peek: the message was seen (recorded or not),
		 * and the contract counts it in dropped. */
		uint64_t b = (uint64_t)c->held.prod * SEQ_MAX + c->held.seq;
		if (c->held.prod < MAX_INC && c->held.seq < SEQ_MAX && !rel_bit_get(bitmap, b) &&
		    !(vanished[b / 64] >> (b % 64) & 1)) {
			vanished[b / 64] |= 1ull << (b % 64);
			n_vanished++;
		} else {
			n_held++;
		}
		return;
	}
	if (!found)
		n_unknown++; /* killed in a receive: it may have taken one message with it */
}

static int fail_now(const char *why)
{
	fprintf(stderr, "FAIL soak %s: %s\n", shmring_mode_name(mode), why);
	rel_dump(ring_name);
	rel_kill_all();
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "mpmc") && strcmp(argv[1], "mpsc"))) {
		fprintf(stderr, "usage: rel_soak <mpmc|mpsc> [seconds]\n");
		return 2;
	}
	mode = !strcmp(argv[1], "mpmc") ? SHMRING_MPMC : SHMRING_MPSC;
	ncons = mode == SHMRING_MPMC ? 4 : 1;
	int secs = argc > 2 ? atoi(argv[2]) : rel_long() ? 300 : REL_SANITIZED ? 7 : 30;
	rel_init((unsigned)secs + 600);
	S = rel_shared(sizeof(*S));
	rel_rep = &S->rep;
	size_t bm_bytes = (size_t)MAX_INC * SEQ_MAX / 8;
	bitmap = rel_shared(bm_bytes);
	vanished = calloc(bm_bytes / 8, 8);
	if (!vanished) {
		fprintf(stderr, "no memory\n");
		return 1;
	}
	ring_name = rel_newname("soak");
	struct shmring_config cfg = {.mode = mode, .capacity = 16384, .max_msg = MAXM};
	shmring *obs = NULL;
	int rc = shmring_create(ring_name, &cfg, SHMRING_OBSERVER, &obs);
	if (rc < 0) {
		fprintf(stderr, "FAIL: create: %d (%s)\n", rc, rel_err(rc));
		return 1;
	}
	int nk = NPROD + ncons;
	for (int i = 0; i < nk; i++) {
		kids[i].consumer = i >= NPROD;
		kids[i].slot = i - NPROD;
		spawn(i);
	}
	uint64_t rs = rel_seed(99);
	int64_t t0 = rel_now(), end = t0 + (int64_t)secs * REL_SEC, last_change = t0;
	uint64_t last = 0;
	while (rel_now() < end) {
		rel_sleep_ns((int64_t)(5 + rel_rand(&rs) % 56) * REL_MS);
		/* A producer that used up its sequence numbers retires (exit 0):
		 * a new incarnation takes its place. Any other end is a failure. */
		for (int i = 0; i < nk; i++) {
			int st;
			if (waitpid(kids[i].pid, &st, WNOHANG) != kids[i].pid)
				continue;
			rel_forget_kid(kids[i].pid);
			if (kids[i].consumer || !WIFEXITED(st) || WEXITSTATUS(st))
				return fail_now(rel_child_report());
			retired++;
			spawn(i);
		}
		int victims = rel_rand(&rs) % 8 == 0 ? 2 : 1;
		for (int v = 0; v < victims; v++) {
			int i = (int)(rel_rand(&rs) % (uint64_t)nk);
			struct child *k = &kids[i];
			kill(k->pid, SIGKILL);
			int st;
			rel_reap(k->pid, 10000, &st);
			if (WIFEXITED(st) && (k->consumer || WEXITSTATUS(st)))
				return fail_now(rel_child_report()); /* ended by itself: a failure */
			if (k->consumer) {
				kills_c++;
				post_mortem(k);
			} else {
				kills_p++;
				struct pinc *p = &S->pi[k->inc];
				if (atomic_load(&p->hi) > atomic_load(&p->committed))
					kills_in_op_p++;
			}
			spawn(i);
		}
		if (atomic_load(&S->rep.failed))
			return fail_now(rel_child_report());
		uint64_t d = atomic_load(&S->delivered);
		int64_t now = rel_now();
		if (d != last) {
			last = d;
			last_change = now;
		} else if (now - last_change > STALL_NS) {
			return fail_now("no message delivered for 10 s");
		}
	}

	/* Stop: producers close, then consumers drain to -EPIPE. */
	atomic_store(&S->stop, 1);
	for (int i = 0; i < NPROD; i++) {
		int st;
		if (!rel_reap(kids[i].pid, 15000, &st) || !WIFEXITED(st) || WEXITSTATUS(st))
			return fail_now(rel_child_report());
	}
	atomic_store(&S->drain, 1);
	for (int i = NPROD; i < nk; i++) {
		int st;
		if (!rel_reap(kids[i].pid, 20000, &st)) {
			char why[200];
			snprintf(why, sizeof(why),
				 "consumer %d did not reach -EPIPE within 20 s after the producers left",
				 kids[i].slot);
			return fail_now(why);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			return fail_now(rel_child_report());
	}
	double took = (double)(rel_now() - t0) / 1e9;

	/* The accounting. */
	struct shmring_stat st;
	shmring_stat(obs, &st);
	uint64_t committed = 0, delivered = 0, missing = 0, inflight_sent = 0, inflight_lost = 0,
		 never_sent = 0;
	for (uint32_t i = 0; i < ninc; i++) {
		uint32_t c = atomic_load(&S->pi[i].committed), hi = atomic_load(&S->pi[i].hi);
		if (hi < c)
			hi = c;
		committed += c;
		for (uint32_t s = 0; s < SEQ_MAX; s++) {
			uint64_t b = (uint64_t)i * SEQ_MAX + s;
			bool got = rel_bit_get(bitmap, b), van = vanished[b / 64] >> (b % 64) & 1;
			if (got)
				delivered++;
			if (s < c) {
				if (!got && !van && missing++ < 10)
					fprintf(stderr, "  missing: producer %u seq %u (committed %u)\n", i, s, c);
			} else if (s < hi) {
				if (got)
					inflight_sent++;
				else if (!van)
					inflight_lost++;
			} else if (got) {
				if (never_sent++ < 10)
					fprintf(stderr, "  delivered, never sent: producer %u seq %u (hi %u)\n",
						i, s, hi);
			}
			if (s >= hi && !got && s > c + 8)
				break; /* the rest of this incarnation's range is untouched */
		}
	}
	int bad = 0;
	/* A consumer sets a message's bit, then counts it: a kill between the
	 * two leaves one bit more than the count, never fewer. */
	uint64_t counted = atomic_load(&S->delivered);
	if (delivered < counted || delivered - counted > kills_c) {
		fprintf(stderr, "FAIL: %" PRIu64 " bits set, %" PRIu64 " deliveries counted\n", delivered,
			counted);
		bad = 1;
	}
	if (never_sent) {
		fprintf(stderr, "FAIL: %" PRIu64 " messages delivered that were never sent\n", never_sent);
		bad = 1;
	}
	if (missing > st.dropped + n_unknown) {
		fprintf(stderr,
			"FAIL: %" PRIu64 " committed messages lost: more than dropped (%" PRIu64
			") + consumers killed inside a receive with nothing identifiable in their "
			"buffers (%" PRIu64 ")\n",
			missing, (uint64_t)st.dropped, n_unknown);
		bad = 1;
	}
	if (st.dropped > missing + n_vanished + n_held + inflight_lost) {
		fprintf(stderr,
			"FAIL: dropped counts %" PRIu64 ", but only %" PRIu64 " messages went missing (%" PRIu64
			" committed, %" PRIu64 " copied by killed consumers, %" PRIu64
			" held in a peek by killed consumers, %" PRIu64 " in flight)\n",
			(uint64_t)st.dropped, missing + n_vanished + n_held + inflight_lost, missing,
			n_vanished, n_held, inflight_lost);
		bad = 1;
	}
	if (st.producers || st.consumers || st.used) {
		fprintf(stderr, "FAIL: at the end %u producers, %u consumers, %zu bytes in use\n",
			st.producers, st.consumers, st.used);
		bad = 1;
	}
	if (bad)
		rel_dump(ring_name);
	shmring_close(obs);
	rel_unlink(ring_name);
	printf("soak %s: %.1f s, %u producer incarnations; %" PRIu64 " committed, %" PRIu64
	       " delivered; kills: %" PRIu64 " producers (%" PRIu64 " inside a send), %" PRIu64
	       " consumers (%" PRIu64 " messages found copied in their buffers, %" PRIu64
	       " kills inside a receive with none); %" PRIu64 " dropped; in flight: %" PRIu64
	       " delivered, %" PRIu64 " not; %" PRIu64 " committed missing; %" PRIu64
	       " producer waits for a consumer; %u sleepers left behind by the killed; %" PRIu64
	       " producers retired at their quota\n",
	       shmring_mode_name(mode), took, ninc, committed, delivered, kills_p, kills_in_op_p,
	       kills_c, n_vanished, n_unknown, (uint64_t)st.dropped, inflight_sent, inflight_lost,
	       missing, (uint64_t)atomic_load(&S->eagain_pipe), st.sleepers, retired);
	rel_figure("soak %s (%d producers x %d consumers, %d s): %s kills survived, %s messages "
		   "checked, %s lost, 0 duplicated (%s dropped-counted, %s copied by a consumer as it "
		   "was killed)",
		   shmring_mode_name(mode), NPROD, ncons, secs, rel_commas(kills_p + kills_c),
		   rel_commas(delivered), rel_commas(missing > st.dropped + n_unknown ? missing : 0),
		   rel_commas(st.dropped), rel_commas(n_vanished));
	return bad;
}
