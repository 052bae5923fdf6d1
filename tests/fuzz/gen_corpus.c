/* SPDX-License-Identifier: MIT */
/*
 * gen_corpus.c - writes the seed corpus of the fuzz targets:
 *
 *   gen_corpus DIR      (cmake --build BUILD --target fuzz_corpus writes
 *                        tests/fuzz/corpus/ in the source tree)
 *
 *   DIR/fuzz_open/                 segment images of real rings: every mode,
 *                                  small and big, and streams, in the states
 *                                  empty, holding messages, wrapped, closed,
 *                                  with a peek or a claim outstanding
 *   DIR/fuzz_recv_scribble/        step scripts (fuzz_script.h)
 *   DIR/fuzz_producer_corrupt_head/ step scripts for the producer target
 *
 * Images are made with the public API and copied out of the memfd. The
 * fields that differ from run to run (creation time, pids, attach times) are
 * zeroed and creator_uid is stored XOR the euid (fuzz_open.c reads it back
 * the same way), so the corpus is the same whoever regenerates it, and opens
 * for whoever fuzzes it. Endpoints copied while their handles were open are
 * LIVE entries whose locks nobody holds: dead peers, for the opener to reap.
 * Scripts stay clear of the bugs the fuzzers found (crashes/): the corpus is
 * where fuzzing starts, crashes/ is where it has been.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "shmring.h"
#include "fuzz_script.h"

static const char *outdir;
static unsigned nfiles[3];

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("gen_corpus: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void check(int rc, const char *what)
{
	if (rc < 0)
		die("%s: %s", what, strerror(-rc));
}

static void put(int target, const char *name, const void *buf, size_t len)
{
	static const char *const dirs[3] = { "fuzz_open", "fuzz_recv_scribble",
					     "fuzz_producer_corrupt_head" };
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, dirs[target], name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die("cannot write %s", path);
	nfiles[target]++;
}

/* ---- segment images (fuzz_open) ---- */

static const char *const kind_names[FZ_NKINDS] = { "spsc", "mpsc",        "spmc",
						   "mpmc", "stream-spsc", "stream-mpsc" };

/* The same rings as fz_config() in fuzz_common.h. */
static void config(enum fz_kind kind, int big, struct shmring_config *c)
{
	memset(c, 0, sizeof(*c));
	if (kind >= FZ_KIND_STREAM_SPSC) {
		c->mode = kind == FZ_KIND_STREAM_SPSC ? SHMRING_SPSC : SHMRING_MPSC;
		c->flags = SHMRING_STREAM;
		c->capacity = big ? 20000 : 4096;
		return;
	}
	c->mode = (enum shmring_mode)kind;
	c->capacity = big ? 4096 : 256;
	c->max_msg = big ? 200 : 64;
}

static void snapshot(int fd, const char *name)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat: %s", strerror(errno));
	size_t len = (size_t)st.st_size;
	uint8_t *img = malloc(len);
	if (!img || pread(fd, img, len, 0) != (ssize_t)len)
		die("cannot read the ring");
	struct sr_header *h = (struct sr_header *)img;
	h->cfg.ctime_ns = 0;
	h->cfg.creator_pid = 0;
	h->cfg.creator_uid ^= (uint32_t)geteuid(); /* 0: "the fuzzing user" */
	for (unsigned i = 0; i < SR_EP_MAX; i++) {
		h->ep[i].pid = 0;
		h->ep[i].since_ns = 0;
	}
	put(0, name, img, len);
	free(img);
}

static void send_some(shmring *r, int n, size_t max_msg, int stream)
{
	uint8_t buf[256];
	memset(buf, 0x42, sizeof(buf));
	for (int i = 0; i < n; i++) {
		size_t len = (size_t)(i * 37) % (max_msg + 1);
		if (len > sizeof(buf))
			len = sizeof(buf);
		int rc = stream ? (int)shmring_write(r, buf, len ? len : 1, 0)
				: shmring_send(r, buf, len, 0);
		if (rc == -EAGAIN)
			return;
		check(rc, "send");
	}
}

static void drain(shmring *r, int n, int stream)
{
	uint8_t buf[8192];
	for (int i = 0; i < n; i++) {
		ssize_t rc = stream ? shmring_read(r, buf, 100, 0)
				    : shmring_recv(r, buf, sizeof(buf), 0);
		if (rc == -EAGAIN)
			return;
		check((int)rc, "recv");
	}
}

static void images(enum fz_kind kind, int big)
{
	struct shmring_config c;
	shmring *r;
	char name[128];
	int stream = kind >= FZ_KIND_STREAM_SPSC;
	const char *k = kind_names[kind], *sz = big ? "big" : "small";
	config(kind, big, &c);
	size_t max_msg = stream ? 300 : c.max_msg;

	/* empty, with our (soon dead) endpoints live */
	check(shmring_create_anon(&c, SHMRING_PRODUCER | SHMRING_CONSUMER, &r), "create");
	snprintf(name, sizeof(name), "%s-%s-empty", k, sz);
	snapshot(shmring_fd(r), name);

	/* a few messages */
	send_some(r, 3, max_msg, stream);
	snprintf(name, sizeof(name), "%s-%s-messages", k, sz);
	snapshot(shmring_fd(r), name);
	if (big) {
		shmring_close(r);
		return;
	}

	/* positions wrapped several times, two messages in */
	for (int i = 0; i < 40; i++) {
		send_some(r, 2, max_msg, stream);
		drain(r, 2, stream);
	}
	send_some(r, 2, max_msg, stream);
	snprintf(name, sizeof(name), "%s-%s-wrapped", k, sz);
	snapshot(shmring_fd(r), name);

	if (!stream) {
		/* a peek outstanding (the peeker dies holding it) */
		const void *m;
		size_t l;
		check(shmring_peek(r, &m, &l, 0), "peek");
		snprintf(name, sizeof(name), "%s-%s-peeked", k, sz);
		snapshot(shmring_fd(r), name);
		check(shmring_release(r), "release");

		/* a claim outstanding (a CLAIMED record or a taken slot) */
		drain(r, 4, stream);
		void *b;
		check(shmring_claim(r, 10, &b, 0), "claim");
		memset(b, 0x33, 10);
		snprintf(name, sizeof(name), "%s-%s-claimed", k, sz);
		snapshot(shmring_fd(r), name);
		check(shmring_abort(r), "abort");
	}

	/* everyone closed: free entries, a message left */
	send_some(r, 1, max_msg, stream);
	int fd = dup(shmring_fd(r));
	if (fd < 0)
		die("dup: %s", strerror(errno));
	shmring_close(r);
	snprintf(name, sizeof(name), "%s-%s-closed", k, sz);
	snapshot(fd, name);
	close(fd);
}

/* ---- scripts ---- */

struct script {
	uint8_t b[4096];
	size_t n;
};

static void s_byte(struct script *s, unsigned v)
{
	if (s->n >= sizeof(s->b))
		die("script too long");
	s->b[s->n++] = (uint8_t)v;
}

static void s_op(struct script *s, int nargs, ...)
{
	va_list ap;
	va_start(ap, nargs);
	for (int i = 0; i < nargs; i++)
		s_byte(s, va_arg(ap, unsigned));
	va_end(ap);
}

static void s_u64(struct script *s, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		s_byte(s, (unsigned)(v >> (8 * i)) & 0xff);
}

static void s_scrib(struct script *s, unsigned field, unsigned how, uint64_t val)
{
	s_op(s, 3, FZ_SCRIB, field, how);
	s_u64(s, val);
}

/* len selectors (fz_len): 0 -> 0 / 1 byte, 1 -> 1 / 7, 2 -> max_msg / PIPE_BUF,
 * 4 -> max/2 / the chunk, 5 -> 8 / 3 chunks + 5 */
static void scripts_recv(enum fz_kind kind, int big)
{
	struct script s;
	char name[128];
	int stream = kind >= FZ_KIND_STREAM_SPSC;
	const char *k = kind_names[kind], *sz = big ? "big" : "small";

	/* round trips through every call */
	s.n = 0;
	s_byte(&s, fz_config_byte(kind, big));
	if (stream) {
		s_op(&s, 2, FZ_WRITE, 1);
		s_op(&s, 2, FZ_WRITE, 2);
		s_op(&s, 2, FZ_READ, 0);
		s_op(&s, 2, FZ_READ, 4);
		s_op(&s, 2, FZ_WRITE, 5);
		s_op(&s, 2, FZ_READ, 5);
		s_op(&s, 2, FZ_READ, 5);
	} else {
		s_op(&s, 2, FZ_SEND, 1);
		s_op(&s, 2, FZ_SEND, 2);
		s_op(&s, 2, FZ_RECV, 2);
		s_op(&s, 1, FZ_PEEK);
		s_op(&s, 1, FZ_RELEASE);
		s_op(&s, 2, FZ_CLAIM, 2);
		s_op(&s, 2, FZ_COMMIT, 4);
		s_op(&s, 3, FZ_SENDV, 2, 1);
		s_op(&s, 3, FZ_RECVV, 3, 2);
		s_op(&s, 2, FZ_CLAIM, 5);
		s_op(&s, 1, FZ_ABORT);
		s_op(&s, 2, FZ_RECV, 2);
	}
	s_op(&s, 2, FZ_STAT, 0);
	s_op(&s, 2, FZ_STAT, 1);
	snprintf(name, sizeof(name), "%s-%s-roundtrip", k, sz);
	put(1, name, s.b, s.n);

	/* fill, drain, wrap */
	s.n = 0;
	s_byte(&s, fz_config_byte(kind, big));
	for (int i = 0; i < 12; i++)
		s_op(&s, 2, stream ? FZ_WRITE : FZ_SEND, stream ? 4 : 2);
	for (int i = 0; i < 12; i++)
		s_op(&s, 2, stream ? FZ_READ : FZ_RECV, stream ? 4 : 2);
	for (int i = 0; i < 20; i++) {
		s_op(&s, 2, stream ? FZ_WRITE : FZ_SEND, stream ? 2 : 6 + 8 * (unsigned)i);
		s_op(&s, 2, stream ? FZ_READ : FZ_RECV, 2);
	}
	snprintf(name, sizeof(name), "%s-%s-wrap", k, sz);
	put(1, name, s.b, s.n);

	/* rewrites between the library's reads, with both pollfds armed */
	s.n = 0;
	s_byte(&s, fz_config_byte(kind, big));
	s_op(&s, 2, FZ_POLL, 0);
	s_op(&s, 2, FZ_POLL, 1);
	if (stream) {
		s_op(&s, 2, FZ_WRITE, 1);
		s_scrib(&s, FZ_F_HELD, FZ_H_ADD, 16); /* the open record's length */
		s_op(&s, 2, FZ_WRITE, 1);
		s_op(&s, 2, FZ_READ, 0);
		s_scrib(&s, FZ_F_CONS_AUX, FZ_H_ADD, 3);
		s_op(&s, 2, FZ_READ, 4);
		s_op(&s, 2, FZ_WRITE, 2);
		s_scrib(&s, FZ_F_AT_HEAD, FZ_H_XOR_BIT, 37);
		s_op(&s, 2, FZ_READ, 4);
	} else {
		s_op(&s, 2, FZ_SEND, 2);
		s_op(&s, 1, FZ_PEEK);
		s_scrib(&s, FZ_F_HELD, FZ_H_ONES, 0);
		s_op(&s, 1, FZ_RELEASE);
		s_op(&s, 2, FZ_CLAIM, 2);
		s_scrib(&s, FZ_F_HELD, FZ_H_ZERO, 0);
		s_op(&s, 2, FZ_COMMIT, 2);
		s_op(&s, 2, FZ_RECV, 2);
		s_op(&s, 2, FZ_SEND, 1);
		s_scrib(&s, FZ_F_LEN_AT_HEAD, FZ_H_ADD, 64);
		s_op(&s, 2, FZ_RECV, 2);
	}
	s_op(&s, 2, FZ_REOPEN, 1);
	s_op(&s, 2, stream ? FZ_WRITE : FZ_SEND, 1);
	s_scrib(&s, FZ_F_CONS_POS, FZ_H_LAP, 3);
	s_op(&s, 2, stream ? FZ_READ : FZ_RECV, 2);
	s_op(&s, 2, FZ_REOPEN, 0);
	s_op(&s, 2, FZ_STAT, 1);
	snprintf(name, sizeof(name), "%s-%s-scribble", k, sz);
	put(1, name, s.b, s.n);
}

/* Random sequences of calls (no scribbles: those stay the fuzzer's). */
static void scripts_random(unsigned count)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < count; i++) {
		struct script s = { .n = 0 };
		char name[64];
		s_byte(&s, i % (2 * FZ_NKINDS));
		for (int j = 0; j < 48; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* calls only, well formed: the fuzzer adds the scribbles */
			static const int nargs[FZ_STAT + 1] = {
				[FZ_SEND] = 1,   [FZ_SENDV] = 2, [FZ_CLAIM] = 1,
				[FZ_COMMIT] = 1, [FZ_WRITE] = 1, [FZ_RECV] = 1,
				[FZ_RECVV] = 2,  [FZ_READ] = 1,  [FZ_STAT] = 1
			};
			unsigned op = FZ_SEND + (unsigned)(x % (FZ_STAT + 1));
			s_byte(&s, op);
			for (int a = 0; a < nargs[op]; a++)
				s_byte(&s, (unsigned)(x >> (8 + 8 * a)) & 0xff);
		}
		snprintf(name, sizeof(name), "random-%02u", i);
		put(1, name, s.b, s.n);
	}
}

/* Producer scripts: fill, then move the head (never ahead of the tail here:
 * that input is in crashes/), the tail and the words at the tail. */
static void scripts_producer(enum fz_kind kind, int big)
{
	struct script s;
	char name[128];
	int stream = kind >= FZ_KIND_STREAM_SPSC;
	unsigned put_op = stream ? FZ_WRITE : FZ_SEND;
	const char *k = kind_names[kind], *sz = big ? "big" : "small";

	/* full ring, head moved back and forth, a pollfd armed */
	s.n = 0;
	s_byte(&s, fz_config_byte(kind, big));
	s_op(&s, 2, 255, stream ? 4 : 2);
	s_op(&s, 2, FZ_POLL, 0);
	s_op(&s, 2, put_op, 1);
	s_scrib(&s, FZ_F_CONS_POS, FZ_H_COPY_TAIL, 0); /* consumed everything */
	s_op(&s, 2, put_op, 2);
	s_op(&s, 2, put_op, 2);
	s_scrib(&s, FZ_F_CONS_POS, FZ_H_LAP, 1); /* one lap behind */
	s_op(&s, 2, put_op, 2);
	s_scrib(&s, FZ_F_CONS_POS, FZ_H_SET, 0);
	s_op(&s, 2, put_op, 1);
	if (!stream) {
		s_op(&s, 2, FZ_CLAIM, 2);
		s_op(&s, 2, FZ_COMMIT, 1);
		s_op(&s, 2, FZ_CLAIM, 1);
		s_op(&s, 1, FZ_ABORT);
	}
	s_op(&s, 1, FZ_STAT);
	snprintf(name, sizeof(name), "%s-%s-full", k, sz);
	put(2, name, s.b, s.n);

	/* half full, rewrites at the tail */
	s.n = 0;
	s_byte(&s, fz_config_byte(kind, big));
	s_op(&s, 2, 3, 1);
	s_scrib(&s, FZ_F_AT_TAIL, FZ_H_COPY_TAIL, 0);
	s_op(&s, 2, put_op, 1);
	s_scrib(&s, FZ_F_AT_TAIL_NEXT, FZ_H_COPY_TAIL, 2);
	s_op(&s, 2, put_op, 1);
	s_scrib(&s, FZ_F_LEN_AT_TAIL, FZ_H_ONES, 0);
	s_op(&s, 2, put_op, 5);
	s_scrib(&s, FZ_F_PROD_POS, FZ_H_ADD, 8);
	s_op(&s, 2, put_op, 1);
	s_scrib(&s, FZ_F_CONS_POS, FZ_H_COPY_TAIL, (uint8_t)-16);
	s_op(&s, 2, put_op, 2);
	s_op(&s, 1, FZ_STAT);
	snprintf(name, sizeof(name), "%s-%s-tail", k, sz);
	put(2, name, s.b, s.n);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		die("usage: gen_corpus DIR");
	outdir = argv[1];
	static const char *const subs[] = { "", "/fuzz_open", "/fuzz_recv_scribble",
					    "/fuzz_producer_corrupt_head" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s%s", outdir, subs[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die("mkdir %s: %s", path, strerror(errno));
	}
	for (int kind = 0; kind < FZ_NKINDS; kind++) {
		/* images: message rings small (all states) and big (two);
		 * streams small only (their area is at least 32 KiB) */
		images((enum fz_kind)kind, 0);
		if (kind < FZ_KIND_STREAM_SPSC)
			images((enum fz_kind)kind, 1);
		for (int big = 0; big < 2; big++) {
			scripts_recv((enum fz_kind)kind, big);
			scripts_producer((enum fz_kind)kind, big);
		}
	}
	scripts_random(8);
	printf("gen_corpus: %u images, %u scribble scripts, %u producer scripts in %s\n", nfiles[0],
	       nfiles[1], nfiles[2], outdir);
	return 0;
}
