/* SPDX-License-Identifier: MIT */
/*
 * rel_scribble.c - a hostile peer rewrites the segment under running peers:
 * every call must still return success or a negative errno, never crash and
 * never hang.
 *
 *   rel_scribble <consumer|producer> <spsc|mpsc|spmc|mpmc|stream> [ops]
 *
 * Three processes share a named ring:
 *   - the victim, in the role under test, makes at least a million calls
 *     (CI; SHMRING_LONG=1: 20 million) with timeout 0: recv / recvv /
 *     peek+release, or send / sendv / claim+commit/abort (read / write for
 *     streams), now and then stat and a pollfd; it reads every byte of a
 *     peeked message and writes every byte of a claimed buffer, and checks
 *     that the pointer lies inside its own mapping; when its handle reports
 *     -EBADMSG it closes it and opens the ring again (which validates the
 *     header, scribbled or not);
 *   - the partner, in the other role, keeps messages moving, under the same
 *     rules;
 *   - the scribbler maps /dev/shm/NAME read-write and rewrites, one word at
 *     a time, the header (every config field), the positions, the wait words,
 *     the totals, the endpoint table, and record header words or slot
 *     sequence and length words near the head and the tail, with hostile
 *     values (0, ~0, off by one or by a lap, misaligned, past max_msg, random
 *     bits); most scribbles are undone a moment later, some stay; every few
 *     hundred it heals the ring (restores the config line, makes the
 *     positions agree and clears the data area) so that the peers get deep
 *     into the engines again.
 * The library maps every ring between PROT_NONE guard pages, so a stray
 * access past the mapping faults. A child that dies by a signal (or, in the
 * AddressSanitizer stage, that ASan stops) fails the test, with the victim's
 * last call and the last scribbles; so does a child that makes no progress
 * for 10 s (a hang), after a dump of the header.
 */
#include "rel.h"
#include "internal.h" /* the handle: the victim checks pointers against its mapping */

#include <sys/uio.h>

#define MAXM 200
#define STALL_NS (10 * REL_SEC)
#define LOGN 32

enum { OP_NONE, OP_OPEN, OP_RECV, OP_RECVV, OP_PEEK, OP_RELEASE, OP_SEND, OP_SENDV, OP_CLAIM,
       OP_COMMIT, OP_ABORT, OP_READ, OP_WRITE, OP_STAT, OP_POLL, OP_CLOSE };
static const char *const op_names[] = {"none",  "open",   "recv",  "recvv", "peek", "release",
				       "send",  "sendv",  "claim", "commit", "abort", "read",
				       "write", "stat",   "pollfd", "close"};

struct actor {
	atomic_ullong ops, ok, eagain, ebadmsg, other_err, reopens, open_fail;
	atomic_ullong by_errno[140]; /* negative results by errno */
	atomic_ullong open_ns;       /* time spent opening */
	atomic_int op;     /* the call in progress */
	atomic_int done;
};

struct scrib {
	uint32_t off, width;
	uint64_t old, val;
};

struct shared {
	struct rel_report rep;
	atomic_int stop;
	struct actor a[2]; /* [0] victim, [1] partner */
	atomic_ullong scribbles, heals, restores;
	atomic_uint logi;
	struct scrib log[LOGN];
};

static struct shared *S;
static const char *ring_name;
static enum shmring_mode mode;
static bool stream;
static uint64_t target_ops;

/* ---- the peers ---------------------------------------------------------------------- */

struct peer {
	struct actor *a;
	int role, idx;
	shmring *r;
	uint64_t rs;
	int64_t next_open;
	int pollfd;
	const char *who;
	unsigned fails; /* calls in a row that did not succeed */
};

static void check_rc(struct peer *p, long rc, long max_ok, const char *what)
{
	if (rc > max_ok || rc < -4095)
		rel_child_fail("%s: %s returned %ld (neither success nor a negative errno; at most %ld)",
			       p->who, what, rc, max_ok);
	if (rc >= 0)
		atomic_fetch_add_explicit(&p->a->ok, 1, memory_order_relaxed);
	else if (rc == -EAGAIN)
		atomic_fetch_add_explicit(&p->a->eagain, 1, memory_order_relaxed);
	else if (rc == -EBADMSG)
		atomic_fetch_add_explicit(&p->a->ebadmsg, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&p->a->other_err, 1, memory_order_relaxed);
	if (rc < 0 && -rc < 140)
		atomic_fetch_add_explicit(&p->a->by_errno[-rc], 1, memory_order_relaxed);
}

/* A pointer the library handed out must lie inside this handle's mapping. */
static void check_ptr(struct peer *p, const void *ptr, size_t len, const char *what)
{
	const uint8_t *lo = (const uint8_t *)p->r->h, *hi = lo + p->r->map_len;
	const uint8_t *q = ptr;
	if (q < lo || q > hi || len > (size_t)(hi - q))
		rel_child_fail("%s: %s gave %p + %zu, outside the mapping [%p, %p)", p->who, what, ptr,
			       len, (const void *)lo, (const void *)hi);
}

static void set_op(struct peer *p, int op)
{
	atomic_store_explicit(&p->a->op, op, memory_order_relaxed);
}

static void reopen(struct peer *p)
{
	if (p->r) {
		set_op(p, OP_CLOSE);
		shmring_close(p->r);
		p->r = NULL;
		p->pollfd = -1;
	}
	int64_t now = rel_now();
	if (now < p->next_open)
		return;
	set_op(p, OP_OPEN);
	int rc = shmring_open(ring_name, p->role, &p->r);
	atomic_fetch_add_explicit(&p->a->open_ns, (uint64_t)(rel_now() - now), memory_order_relaxed);
	check_rc(p, rc, 0, "open");
	atomic_fetch_add_explicit(&p->a->ops, 1, memory_order_relaxed);
	if (rc < 0) {
		p->r = NULL;
		atomic_fetch_add_explicit(&p->a->open_fail, 1, memory_order_relaxed);
		p->next_open = now + 20 * 1000; /* 20 us: the scribbler heals */
		return;
	}
	atomic_fetch_add_explicit(&p->a->reopens, 1, memory_order_relaxed);
	p->next_open = 0;
}

/* A pollfd, polled once. An armed pollfd makes every -EAGAIN of its handle
 * re-arm it (system calls), so the handle is opened afresh right after. */
static void poll_once(struct peer *p)
{
	set_op(p, OP_POLL);
	int fd = shmring_pollfd(p->r);
	check_rc(p, fd, INT32_MAX, "pollfd");
	if (fd >= 0) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		poll(&pf, 1, 0);
	}
	reopen(p);
}

static void consume_one(struct peer *p)
{
	static uint8_t b[4][8192];
	uint64_t pick = rel_rand(&p->rs) % 100;
	long rc = 0;
	if (stream) {
		size_t n = 1 + rel_rand(&p->rs) % sizeof(b[0]);
		set_op(p, OP_READ);
		rc = shmring_read(p->r, b[0], n, 0);
		check_rc(p, rc, (long)n, "read");
	} else if (pick < 50) {
		size_t cap = (rel_rand(&p->rs) & 1) ? sizeof(b[0]) : 1 + rel_rand(&p->rs) % MAXM;
		set_op(p, OP_RECV);
		rc = shmring_recv(p->r, b[0], cap, 0);
		check_rc(p, rc, (long)cap, "recv");
	} else if (pick < 70) {
		struct iovec v[4];
		for (int i = 0; i < 4; i++) {
			v[i].iov_base = b[i];
			v[i].iov_len = i == 3 ? 16 : sizeof(b[i]);
		}
		set_op(p, OP_RECVV);
		rc = shmring_recvv(p->r, v, 4, 0);
		check_rc(p, rc, 4, "recvv");
		for (long i = 0; i < rc; i++)
			if (v[i].iov_len > (i == 3 ? 16 : sizeof(b[i])))
				rel_child_fail("%s: recvv set iov_len %zu past its buffer", p->who,
					       v[i].iov_len);
	} else if (pick < 95) {
		const void *m = NULL;
		size_t len = 0;
		set_op(p, OP_PEEK);
		rc = shmring_peek(p->r, &m, &len, 0);
		check_rc(p, rc, 0, "peek");
		if (rc == 0) {
			check_ptr(p, m, len, "peek");
			volatile uint8_t sum = 0;
			for (size_t i = 0; i < len; i++) /* a stray pointer faults here */
				sum = (uint8_t)(sum + ((const volatile uint8_t *)m)[i]);
			(void)sum;
			set_op(p, OP_RELEASE);
			rc = shmring_release(p->r);
			check_rc(p, rc, 0, "release");
		}
	} else if (pick < 99) {
		struct shmring_stat st;
		set_op(p, OP_STAT);
		rc = shmring_stat(p->r, &st);
		check_rc(p, rc, 0, "stat");
	} else if (rel_rand(&p->rs) % 64 == 0) {
		poll_once(p);
		return;
	}
	if (rc == -EBADMSG || rc == -EOPNOTSUPP)
		reopen(p);
}

static void produce_one(struct peer *p, uint32_t *seq)
{
	static uint8_t b[4][MAXM];
	uint64_t pick = rel_rand(&p->rs) % 100;
	long rc = 0;
	uint32_t len = rel_msg_len(0, *seq, REL_MSG_MIN, MAXM);
	if (stream) {
		rel_msg_make(b[0], len, 0, *seq);
		set_op(p, OP_WRITE);
		rc = shmring_write(p->r, b[0], len, 0);
		check_rc(p, rc, len, "write");
	} else if (pick < 50) {
		rel_msg_make(b[0], len, 0, *seq);
		set_op(p, OP_SEND);
		rc = shmring_send(p->r, b[0], len, 0);
		check_rc(p, rc, 0, "send");
	} else if (pick < 70) {
		struct iovec v[4];
		for (int i = 0; i < 4; i++) {
			uint32_t l = rel_msg_len(0, *seq + (uint32_t)i, REL_MSG_MIN, MAXM);
			rel_msg_make(b[i], l, 0, *seq + (uint32_t)i);
			v[i].iov_base = b[i];
			v[i].iov_len = l;
		}
		set_op(p, OP_SENDV);
		rc = shmring_sendv(p->r, v, 4, 0);
		check_rc(p, rc, 4, "sendv");
	} else if (pick < 97) {
		void *buf = NULL;
		size_t want = (rel_rand(&p->rs) & 1) ? MAXM : len;
		set_op(p, OP_CLAIM);
		rc = shmring_claim(p->r, want, &buf, 0);
		check_rc(p, rc, 0, "claim");
		if (rc == 0) {
			check_ptr(p, buf, want, "claim");
			memset(buf, 0x5a, want); /* a stray pointer faults here */
			rel_msg_make(buf, len, 0, *seq);
			if (rel_rand(&p->rs) % 8 == 0) {
				set_op(p, OP_ABORT);
				rc = shmring_abort(p->r);
				check_rc(p, rc, 0, "abort");
			} else {
				set_op(p, OP_COMMIT);
				rc = shmring_commit(p->r, len);
				check_rc(p, rc, 0, "commit");
			}
		}
	} else if (pick < 99) {
		struct shmring_stat st;
		set_op(p, OP_STAT);
		rc = shmring_stat(p->r, &st);
		check_rc(p, rc, 0, "stat");
	} else if (rel_rand(&p->rs) % 64 == 0) {
		poll_once(p);
		return;
	}
	if (rc >= 0)
		(*seq)++;
	if (rc == -EBADMSG || rc == -EOPNOTSUPP) /* broken, or opened as another kind of ring */
		reopen(p);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void run_peer(int idx, int role, const char *who)
{
	int fds0 = count_fds();
	struct peer p = {.a = &S->a[idx], .role = role, .idx = idx, .pollfd = -1, .who = who};
	p.rs = rel_seed((uint64_t)idx + 1);
	uint32_t seq = 0;
	/* the victim stops after its quota, the partner when told */
	while (idx == 0 ? atomic_load_explicit(&p.a->ops, memory_order_relaxed) < target_ops
			: !atomic_load_explicit(&S->stop, memory_order_relaxed)) {
		if (!p.r) {
			reopen(&p);
			if (!p.r) {
				rel_spin_ns(2000);
				continue;
			}
		}
		uint64_t ok0 = atomic_load_explicit(&p.a->ok, memory_order_relaxed);
		if (role == SHMRING_CONSUMER)
			consume_one(&p);
		else
			produce_one(&p, &seq);
		/* A peer that meets only errors (-EPIPE while its partner opens
		 * again, -EAGAIN while it is slow) lets it run: otherwise the
		 * quota fills with calls that never reach the engines. */
		if (atomic_load_explicit(&p.a->ok, memory_order_relaxed) != ok0)
			p.fails = 0;
		else if (++p.fails % 32 == 0 && idx == 0)
			sched_yield();
		else if (p.fails % 32 == 0) /* the partner is not under test: it waits */
			rel_sleep_ns(20 * 1000);
		atomic_fetch_add_explicit(&p.a->ops, 1, memory_order_relaxed);
		/* the partner must not starve the victim on two cores */
		if (idx == 1 && (atomic_load_explicit(&p.a->ops, memory_order_relaxed) & 63) == 0)
			sched_yield();
	}
	if (p.r) {
		set_op(&p, OP_CLOSE);
		shmring_close(p.r);
	}
	/* Every handle is closed: every descriptor the library took is back. */
	int fds1 = count_fds();
	if (fds1 > fds0)
		rel_child_fail("%s: %d descriptors leaked (%d open before, %d after closing every "
			       "handle; %" PRIu64 " opens)",
			       who, fds1 - fds0, fds0, fds1,
			       (uint64_t)(atomic_load(&p.a->reopens) + atomic_load(&p.a->open_fail)));
	set_op(&p, OP_NONE);
	atomic_store(&p.a->done, 1);
	_exit(0);
}

/* ---- the scribbler -------------------------------------------------------------------- */

struct field {
	uint32_t off, width;
};

static uint64_t rd(uint8_t *base, struct field f)
{
	if (f.width == 8)
		return atomic_load_explicit((_Atomic uint64_t *)(base + f.off), memory_order_relaxed);
	return atomic_load_explicit((_Atomic uint32_t *)(base + f.off), memory_order_relaxed);
}

static void wr(uint8_t *base, struct field f, uint64_t v)
{
	if (f.width == 8)
		atomic_store_explicit((_Atomic uint64_t *)(base + f.off), v, memory_order_relaxed);
	else
		atomic_store_explicit((_Atomic uint32_t *)(base + f.off), (uint32_t)v,
				      memory_order_relaxed);
}

static uint64_t hostile(uint64_t old, uint64_t lap, uint64_t *rs)
{
	uint64_t r = rel_rand(rs);
	switch (r % 14) {
	case 0: return 0;
	case 1: return ~(uint64_t)0;
	case 2: return old + 1;
	case 3: return old - 1;
	case 4: return old + 8 * (1 + (r >> 8) % 32);
	case 5: return old - 8 * (1 + (r >> 8) % 32);
	case 6: return old ^ (UINT64_C(1) << ((r >> 8) % 64));
	case 7: return rel_rand(rs);
	case 8: return old + lap;
	case 9: return old - lap;
	case 10: return UINT64_C(1) << 63;
	case 11: return old + (r >> 8) % (2 * lap + 1);
	case 12: return (uint32_t)rel_rand(rs);
	default: return old + 4;
	}
}

static void scribbler(void)
{
	char path[160];
	snprintf(path, sizeof(path), "/%s", ring_name);
	int fd = shm_open(path, O_RDWR, 0);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		rel_child_fail("scribbler: open %s: %s", path, strerror(errno));
	size_t len = (size_t)st.st_size;
	uint8_t *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		rel_child_fail("scribbler: mmap: %s", strerror(errno));
	struct sr_header *h = (struct sr_header *)base;
	struct sr_config_line cfg0;
	memcpy(&cfg0, &h->cfg, sizeof(cfg0));
	uint64_t data_off = cfg0.data_off, cap = cfg0.capacity, nslots = cfg0.nslots,
		 slot_size = cfg0.slot_size;
	uint64_t lap = nslots ? nslots : cap;
	uint8_t *data = base + data_off;
	uint64_t rs = rel_seed(4242);

	static const struct field cfgf[] = {
		{0x00, 8}, {0x08, 4}, {0x0c, 4}, {0x10, 4}, {0x14, 4}, {0x18, 8}, {0x20, 8}, {0x28, 8},
		{0x30, 8}, {0x38, 4}, {0x3c, 4}, {0x40, 4}, {0x44, 4}, {0x48, 8}, {0x50, 4}, {0x54, 4},
	};
	static const struct field misc[] = {
		{0x100, 8}, {0x108, 8}, {0x200, 8}, {0x208, 8},             /* positions */
		{0x300, 4}, {0x304, 4}, {0x308, 4}, {0x400, 4}, {0x404, 4}, {0x408, 4}, /* waits */
		{0x500, 4}, {0x504, 4}, {0x508, 4}, {0x50c, 4}, {0x510, 8}, /* totals */
	};
	static const uint32_t epf[][2] = {{0x00, 4}, {0x04, 4}, {0x08, 4}, {0x0c, 4}, {0x18, 8},
					  {0x28, 8}, {0x30, 8}, {0x38, 8}};
	int64_t last_heal = rel_now();
	while (!atomic_load_explicit(&S->stop, memory_order_relaxed)) {
		/* Keep about one scribble per 8 calls of the victim: a scribbler
		 * ahead of it sleeps (it must not take the processor from the
		 * peers on two cores, nor starve behind them by yielding). */
		uint64_t done = atomic_load_explicit(&S->scribbles, memory_order_relaxed);
		if (done > atomic_load_explicit(&S->a[0].ops, memory_order_relaxed) / 8 + 16) {
			rel_sleep_ns(20 * 1000);
			if (rel_now() - last_heal < 20 * REL_MS)
				continue;
		}
		uint64_t n = atomic_fetch_add_explicit(&S->scribbles, 1, memory_order_relaxed);
		/* Heal every 150 scribbles, and at least every 20 ms. */
		if (n % 150 == 149 || rel_now() - last_heal > 20 * REL_MS) {
			last_heal = rel_now();
			/* Heal: a consistent empty ring, the config line as created. */
			memcpy(&h->cfg, &cfg0, sizeof(cfg0));
			uint64_t pos = atomic_load(&h->prod.pos);
			if (nslots) {
				for (uint64_t q = pos; q != pos + nslots; q++) {
					struct sr_slot *s = (struct sr_slot *)(data + (q & (nslots - 1)) * slot_size);
					atomic_store(&s->seq, q);
				}
			} else {
				pos &= ~(uint64_t)7;
				memset(data, 0, cap);
				atomic_store(&h->prod.pos, pos);
			}
			atomic_store(&h->cons.pos, pos);
			atomic_store(&h->cons.aux, 0);
			/* the live counts as the table says, the resv marks cleared */
			unsigned live[2] = {0, 0};
			for (unsigned i = 0; i < SR_EP_MAX; i++) {
				atomic_store(&h->ep[i].resv_pos, SR_RESV_NONE);
				if (SR_EP_STATE(atomic_load(&h->ep[i].sg)) == SR_EP_LIVE)
					live[i >= SR_EP_CONS_BASE]++;
			}
			atomic_store(&h->totals.nprod, live[0]);
			atomic_store(&h->totals.ncons, live[1]);
			atomic_store(&h->totals.prod_seen, 1);
			atomic_store(&h->totals.cons_seen, 1);
			atomic_fetch_add(&S->heals, 1);
			rel_sleep_ns(200 * 1000);
			continue;
		}
		struct field f;
		uint64_t val = 0;
		bool have_val = false;
		uint64_t what = rel_rand(&rs) % 100;
		uint64_t head = atomic_load(&h->cons.pos), tail = atomic_load(&h->prod.pos);
		if (what < 15) {
			f = cfgf[rel_rand(&rs) % (sizeof(cfgf) / sizeof(cfgf[0]))];
		} else if (what < 35) {
			f = misc[rel_rand(&rs) % (sizeof(misc) / sizeof(misc[0]))];
		} else if (what < 50) {
			unsigned i = (unsigned)(rel_rand(&rs) % 4);
			unsigned idx = (i < 2 ? i : SR_EP_CONS_BASE + i - 2);
			if (rel_rand(&rs) % 4 == 0)
				idx = (unsigned)(rel_rand(&rs) % SR_EP_MAX);
			const uint32_t *e = epf[rel_rand(&rs) % (sizeof(epf) / sizeof(epf[0]))];
			f.off = SR_OFF_EP + idx * 64 + e[0];
			f.width = e[1];
		} else if (what < 95) {
			/* the data area near the head or the tail */
			uint64_t pos = (rel_rand(&rs) & 1) ? head : tail;
			pos += (uint64_t)(rel_rand(&rs) % 5) - 2;
			if (nslots) {
				uint64_t at = (pos & (nslots - 1)) * slot_size;
				bool seqw = rel_rand(&rs) & 1;
				f.off = (uint32_t)(data_off + at + (seqw ? 0 : 8));
				f.width = 8;
				uint64_t r = rel_rand(&rs) % 6;
				if (seqw)
					val = r == 0 ? pos : r == 1 ? pos + 1 : r == 2 ? pos + nslots
					    : r == 3 ? pos + nslots + 1 : r == 4 ? pos - 1 : rel_rand(&rs);
				else
					val = r == 0 ? cfg0.max_msg + 1 : r == 1 ? SR_SLOT_SKIP
					    : r == 2 ? UINT64_C(1) << 40 : r == 3 ? cfg0.max_msg : rel_rand(&rs);
				have_val = true;
			} else {
				uint64_t at = (pos * 8) & (cap - 1) & ~(uint64_t)7;
				if (rel_rand(&rs) & 1)
					at = head & (cap - 1) & ~(uint64_t)7;
				f.off = (uint32_t)(data_off + at);
				f.width = 8;
				uint64_t r = rel_rand(&rs) % 8;
				uint32_t lens[] = {0, 4, 7, 8, (uint32_t)cfg0.max_msg, (uint32_t)cfg0.max_msg + 1,
						   (uint32_t)cap, 0xffffffffu, (uint32_t)cap - 8, 13};
				uint32_t l = lens[rel_rand(&rs) % (sizeof(lens) / sizeof(lens[0]))];
				if (stream)
					val = SR_STR_WORD((uint64_t)(r % 8), l & SR_STR_LEN_MAX,
							  (uint64_t)(rel_rand(&rs) % (cap + 64)) & ~(uint64_t)7,
							  rel_rand(&rs) % 3 ? 0 : rel_rand(&rs) & 0xffffff);
				else
					val = SR_REC_WORD(r < 6 ? 1 + r % 3 : rel_rand(&rs) & 0xff, l,
							  rel_rand(&rs) % 3 ? 0 : rel_rand(&rs) & 0xffffff);
				if (r == 7)
					val = rel_rand(&rs);
				have_val = true;
			}
		} else {
			/* any aligned word of the header page or the data area */
			uint64_t o = (rel_rand(&rs) % (len / 8)) * 8;
			if (o >= SR_OFF_EP + SR_EP_MAX * 64 && o < data_off)
				o = rel_rand(&rs) % 0x600 & ~(uint64_t)7;
			f.off = (uint32_t)o;
			f.width = 8;
		}
		if (f.off + f.width > len)
			continue;
		uint64_t old = rd(base, f);
		if (!have_val)
			val = hostile(old, lap, &rs);
		wr(base, f, val);
		unsigned li = atomic_fetch_add(&S->logi, 1) % LOGN;
		S->log[li] = (struct scrib){f.off, f.width, old, val};
		/* Most scribbles are undone a moment later: the ring runs on. Those
		 * of the config line always are: a header that stays invalid only
		 * makes every open fail until the next heal (and version 0 makes
		 * an open wait 100 ms for a creator). */
		if (rel_rand(&rs) % 4 != 0 || f.off < 0x100) {
			if (rel_rand(&rs) & 1)
				rel_spin_ns((int64_t)(rel_rand(&rs) % 5000));
			else
				sched_yield();
			wr(base, f, old);
			atomic_fetch_add_explicit(&S->restores, 1, memory_order_relaxed);
		}

	}
	_exit(0);
}

/* ---- the checker ---------------------------------------------------------------------- */

static void print_log(void)
{
	unsigned n = atomic_load(&S->logi);
	fprintf(stderr, "last scribbles (offset width old -> new):\n");
	for (unsigned k = n > LOGN ? n - LOGN : 0; k < n; k++) {
		struct scrib *s = &S->log[k % LOGN];
		fprintf(stderr, "  %#06x/%u %#" PRIx64 " -> %#" PRIx64 "\n", s->off, s->width, s->old,
			s->val);
	}
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum shmring_mode mode;
		bool stream;
	} modes[] = {{"spsc", SHMRING_SPSC, false}, {"mpsc", SHMRING_MPSC, false},
		     {"spmc", SHMRING_SPMC, false}, {"mpmc", SHMRING_MPMC, false},
		     {"stream", SHMRING_MPSC, true}};
	int vrole = 0, found = 0;
	if (argc >= 3) {
		vrole = !strcmp(argv[1], "consumer") ? SHMRING_CONSUMER
		      : !strcmp(argv[1], "producer") ? SHMRING_PRODUCER : 0;
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (!strcmp(argv[2], modes[i].name)) {
				mode = modes[i].mode;
				stream = modes[i].stream;
				found = 1;
			}
	}
	if (!vrole || !found) {
		fprintf(stderr, "usage: rel_scribble <consumer|producer> <spsc|mpsc|spmc|mpmc|stream> [ops]\n");
		return 2;
	}
	target_ops = argc > 3 ? strtoull(argv[3], NULL, 10) : rel_long() ? 20000000 : 1000000;
	rel_init(1500);
	S = rel_shared(sizeof(*S));
	rel_rep = &S->rep;
	ring_name = rel_newname("scribble");
	struct shmring_config cfg = {.mode = mode, .capacity = 4096};
	if (stream)
		cfg.flags = SHMRING_STREAM;
	else
		cfg.max_msg = MAXM;
	shmring *obs = NULL;
	int rc = shmring_create(ring_name, &cfg, SHMRING_OBSERVER, &obs);
	if (rc < 0) {
		fprintf(stderr, "FAIL: create: %d (%s)\n", rc, rel_err(rc));
		return 1;
	}
	shmring_close(obs); /* the checker keeps no view: the header is the scribbler's */
	const char *vname = vrole == SHMRING_CONSUMER ? "consumer" : "producer";
	int prole = vrole == SHMRING_CONSUMER ? SHMRING_PRODUCER : SHMRING_CONSUMER;

	pid_t vic = rel_fork();
	if (vic == 0)
		run_peer(0, vrole, vrole == SHMRING_CONSUMER ? "victim consumer" : "victim producer");
	pid_t par = rel_fork();
	if (par == 0)
		run_peer(1, prole, prole == SHMRING_CONSUMER ? "partner consumer" : "partner producer");
	pid_t scr = rel_fork();
	if (scr == 0) {
		if (getenv("REL_NO_SCRIBBLE")) { /* a baseline, for the timing of the peers alone */
			while (!atomic_load(&S->stop))
				rel_sleep_ms(10);
			_exit(0);
		}
		scribbler();
	}

	int64_t t0 = rel_now(), last_change = t0;
	uint64_t last = 0;
	int bad = 0, st;
	pid_t who[3] = {vic, par, scr};
	const char *names[3] = {"victim", "partner", "scribbler"};
	for (;;) {
		rel_sleep_ms(50);
		for (int i = 0; i < 3; i++) {
			if (!who[i])
				continue;
			pid_t w = waitpid(who[i], &st, WNOHANG);
			if (w != who[i])
				continue;
			rel_forget_kid(who[i]);
			who[i] = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || (i != 0 && !atomic_load(&S->stop))) {
				int ai = i < 2 ? i : 0;
				fprintf(stderr, "FAIL scribble %s %s: the %s ended: %s, in %s; %s\n", vname,
					argv[2], names[i], rel_status(st),
					op_names[atomic_load(&S->a[ai].op)],
					atomic_load(&S->rep.failed) ? rel_child_report() : "");
				bad = 1;
			}
		}
		if (bad || !who[0])
			break;
		uint64_t p = atomic_load(&S->a[0].ops) + atomic_load(&S->a[1].ops);
		int64_t now = rel_now();
		if (p != last) {
			last = p;
			last_change = now;
		} else if (now - last_change > STALL_NS) {
			fprintf(stderr, "FAIL scribble %s %s: no call returned for 10 s: victim in %s, "
					"partner in %s\n",
				vname, argv[2], op_names[atomic_load(&S->a[0].op)],
				op_names[atomic_load(&S->a[1].op)]);
			bad = 1;
			break;
		}
	}
	atomic_store(&S->stop, 1);
	if (bad) {
		print_log();
		rel_dump(ring_name);
		rel_kill_all();
	} else {
		for (int i = 1; i < 3; i++) {
			if (!rel_reap(who[i], 10000, &st) || !WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "FAIL scribble %s %s: the %s ended: %s, in %s\n", vname, argv[2],
					names[i], rel_status(st), op_names[atomic_load(&S->a[1].op)]);
				bad = 1;
			}
		}
		if (bad) {
			print_log();
			rel_dump(ring_name);
		}
	}
	rel_unlink(ring_name);
	double secs = (double)(rel_now() - t0) / 1e9;
	struct actor *a = &S->a[0];
	printf("scribble %s %s: %.1f s; victim: %s calls (%s ok, %s -EAGAIN, %s -EBADMSG, %s other "
	       "errno), %s reopens, %s failed opens; partner: %s calls (%s ok); %s scribbles (%s "
	       "undone), %s heals\n",
	       vname, argv[2], secs, rel_commas(a->ops), rel_commas(a->ok), rel_commas(a->eagain),
	       rel_commas(a->ebadmsg), rel_commas(a->other_err), rel_commas(a->reopens),
	       rel_commas(a->open_fail), rel_commas(S->a[1].ops), rel_commas(S->a[1].ok),
	       rel_commas(S->scribbles), rel_commas(S->restores), rel_commas(S->heals));
	for (int k = 0; k < 2; k++) {
		printf("  %s: %.1f s in open;", k ? "partner" : "victim", (double)S->a[k].open_ns / 1e9);
		for (int e = 1; e < 140; e++)
			if (S->a[k].by_errno[e])
				printf(" %s %s", strerrorname_np(e), rel_commas(S->a[k].by_errno[e]));
		printf("\n");
	}
	rel_figure("scribble %s %s: %s scribbles tried under %s calls with timeout 0 (%s "
		   "successful, %s -EBADMSG), %s",
		   vname, argv[2], rel_commas(S->scribbles), rel_commas(a->ops + S->a[1].ops),
		   rel_commas(a->ok + S->a[1].ok), rel_commas(a->ebadmsg + S->a[1].ebadmsg),
		   bad ? "FAILED (see the FAIL line)" : "0 crashes, 0 hangs, 0 stray pointers");
	return bad;
}
