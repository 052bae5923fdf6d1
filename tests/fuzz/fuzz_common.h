/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h - what the libFuzzer targets share: a model of each handle
 * (roles, outstanding claim or peek, broken or not) against which every call's
 * result is checked, the step interpreter of fuzz_script.h, and the scribbler
 * that rewrites the segment through a second mapping of the same object.
 *
 * White-box: the targets include src/internal.h, so that a pointer the library
 * hands out (claim, peek) can be checked against the handle's private mapping,
 * not merely dereferenced (a guard page catches a stray access just past the
 * mapping, not one that lands in some other mapping further away).
 *
 * Any broken invariant calls fz_fail(), which prints what was expected and
 * aborts: libFuzzer reports that as a crash and saves the input. The rules
 * checked, all from API.md and DESIGN.md:
 *  - every call returns success (a count within its bound) or a negative
 *    errno from the set the contract documents for that call;
 *  - an out-parameter is written only on success;
 *  - send/claim during a claim and recv/peek during a peek fail; commit,
 *    abort and release with nothing outstanding are -EINVAL;
 *  - a pointer from claim or peek lies inside the data area, in one record
 *    or one slot, and so does every byte of the message;
 *  - lengths never exceed max_msg, the caller's buffer, or the request;
 *  - once a data call said -EBADMSG, the handle never again says success or
 *    -EAGAIN on a data call ("permanently broken for this handle");
 *  - pollfd gives the handle's one descriptor, which poll(2) accepts;
 *  - no file descriptor outlives the input (shmring_close releases all);
 *  - fuzz_recv_scribble, until its first scribble: the content model below
 *    (exactly once, in order, intact; no spurious -EAGAIN/-EMSGSIZE/-EBADMSG).
 *
 * FZ_TRACE=1 prints every step and its result, to read a crash input by.
 */
#ifndef SHMRING_FUZZ_COMMON_H
#define SHMRING_FUZZ_COMMON_H

#include "internal.h" /* first: it defines _GNU_SOURCE */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_script.h"

/* Not every target uses every helper. */
#define FZ_FN static __attribute__((unused))

static void fz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
FZ_FN void fz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("==fuzz== invariant broken: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* FZ_TRACE=1 in the environment: every step and its result on stderr. */
FZ_FN bool fz_tracing(void)
{
	static int on = -1;
	if (on < 0)
		on = getenv("FZ_TRACE") != NULL;
	return on;
}

#define fz_trace(...)                                        \
	do {                                                 \
		if (fz_tracing())                            \
			fprintf(stderr, "fz: " __VA_ARGS__); \
	} while (0)

/* ---- reading the input ---- */

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline int fz_more(const struct fz_in *in)
{
	return in->n > 0;
}

static inline uint8_t fz_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint64_t fz_u64(struct fz_in *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)fz_u8(in) << (8 * i);
	return v;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	uint16_t lo = fz_u8(in);
	return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

/* ---- the handle model ---- */

#define FZ_SENTINEL ((void *)(uintptr_t)0x5e5e5e5e5e5e5e50ull)
#define FZ_SENTINEL_LEN ((size_t)0x5e5e5e5e5e5e5e5eull)

struct fz_ep {
	shmring *r;
	int role;
	bool claim;
	size_t claim_len;
	uint8_t *claim_buf;
	bool peek;
	size_t peek_len;
	const uint8_t *peek_msg;
	bool broken;
	int pollfd; /* from shmring_pollfd, -1 before */
	/* fuzz_producer_corrupt_head: producer calls may say only success,
	 * -EAGAIN or -EBADMSG (plus the argument and role checks). */
	bool strict;
};

FZ_FN void fz_ep_init(struct fz_ep *e, shmring *r, int role)
{
	memset(e, 0, sizeof(*e));
	e->r = r;
	e->role = role;
	e->pollfd = -1;
}

static volatile uint64_t fz_sink;

FZ_FN void fz_read(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = s * 31 + p[i];
	fz_sink += s;
}

FZ_FN size_t fz_data_len(const shmring *r)
{
	return (size_t)(r->slot_size ? r->cap * r->slot_size : r->cap);
}

/* A message pointer from claim or peek: inside the data area (a record's
 * with its spill, layout.h), in one record (after its 8-byte header) or one
 * slot (after its 16-byte header). */
FZ_FN void fz_check_span(const shmring *r, const char *what, const void *ptr, size_t len)
{
	const uint8_t *p = ptr, *d = r->data, *map = (const uint8_t *)r->h;
	size_t dl = r->slot_size ? fz_data_len(r) : (size_t)r->end;
	if (p < d || (size_t)(p - d) > dl || len > dl - (size_t)(p - d))
		fz_fail("%s: [%p, +%zu) outside the data area [%p, +%zu)", what, ptr, len,
			(const void *)d, dl);
	if (d + dl > map + r->map_len)
		fz_fail("%s: data area past the mapping", what);
	size_t off = (size_t)(p - d);
	if (r->slot_size) {
		if (off % r->slot_size != SR_SLOT_HDR || len > r->slot_size - SR_SLOT_HDR)
			fz_fail("%s: offset %zu len %zu is not a slot's payload (slot %llu)", what,
				off, len, (unsigned long long)r->slot_size);
	} else if (off < SR_REC_HDR || off % 8) {
		fz_fail("%s: offset %zu is not a record's payload", what, off);
	}
}

FZ_FN bool fz_is_stream(const shmring *r)
{
	return (r->flags & SHMRING_STREAM) != 0;
}

/* Errno sets of API.md, per call family (EINVAL for bad arguments). */
static const int fz_errs_send[] = { EAGAIN, ETIMEDOUT,  EMSGSIZE, EPIPE,  EPERM,
				    EBUSY,  EOPNOTSUPP, EBADMSG,  EINVAL, EINTR };
static const int fz_errs_recv[] = { EAGAIN, ETIMEDOUT,  EMSGSIZE, EPIPE,  EPERM,
				    EBUSY,  EOPNOTSUPP, EBADMSG,  EINVAL, EINTR };
static const int fz_errs_io[] = { EAGAIN,  ETIMEDOUT, EPIPE, EPERM, EOPNOTSUPP,
				  EBADMSG, EINVAL,    EINTR, EBUSY };
static const int fz_errs_done[] = { EINVAL, EBADMSG, EPIPE };
/* The producer facing a corrupt head: nothing but "no room" or "corrupt",
 * besides the argument/role answers that come before any shared read. */
static const int fz_errs_strict[] = { EAGAIN, EBADMSG, EBUSY, EMSGSIZE, EOPNOTSUPP, EPERM };

#define FZ_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum {
	FZ_DATA = 1,      /* a data call: -EBADMSG sticks */
	FZ_NEED_PROD = 2, /* success needs the producer role */
	FZ_NEED_CONS = 4, /* success needs the consumer role */
	FZ_NO_CLAIM = 8,  /* must fail while a claim is outstanding */
	FZ_NO_PEEK = 16,  /* must fail while a peek is outstanding */
};

FZ_FN void fz_check(struct fz_ep *e, const char *what, long long rc, long long hi, const int *errs,
		    size_t nerrs, unsigned flags)
{
	fz_trace("%-8s -> %lld%s%s\n", what, rc, rc < 0 ? " " : "",
		 rc < 0 && rc > -4096 ? strerror((int)-rc) : "");
	if (rc >= 0) {
		if (rc > hi)
			fz_fail("%s returned %lld, more than %lld", what, rc, hi);
		if ((flags & FZ_NEED_PROD) && !(e->role & SHMRING_PRODUCER))
			fz_fail("%s succeeded (%lld) on a handle without the producer role", what,
				rc);
		if ((flags & FZ_NEED_CONS) && !(e->role & SHMRING_CONSUMER))
			fz_fail("%s succeeded (%lld) on a handle without the consumer role", what,
				rc);
		if ((flags & FZ_NO_CLAIM) && e->claim)
			fz_fail("%s succeeded (%lld) during a claim", what, rc);
		if ((flags & FZ_NO_PEEK) && e->peek)
			fz_fail("%s succeeded (%lld) during a peek", what, rc);
	} else {
		bool ok = false;
		for (size_t i = 0; i < nerrs && !ok; i++)
			ok = rc == -errs[i];
		if (!ok)
			fz_fail("%s returned %lld (%s), not in its documented errno set", what, rc,
				rc > -4096 ? strerror((int)-rc) : "not an errno");
	}
	if ((flags & FZ_DATA) && e->broken && (rc >= 0 || rc == -EAGAIN))
		fz_fail("%s returned %lld after the handle said -EBADMSG", what, rc);
	if ((flags & FZ_DATA) && rc == -EBADMSG)
		e->broken = true;
}

/* The length a selector byte stands for (see fuzz_script.h). */
FZ_FN size_t fz_len(const shmring *r, uint8_t sel)
{
	size_t max = (size_t)r->max_msg;
	if (fz_is_stream(r)) {
		/* for streams max_msg is the record chunk less its header */
		switch (sel % 8) {
		case 0:
			return 1;
		case 1:
			return 7;
		case 2:
			return PIPE_BUF;
		case 3:
			return PIPE_BUF + 1;
		case 4:
			return max;
		case 5:
			return 3 * max + 5;
		case 6:
			return 0;
		default:
			return ((size_t)sel * 2654435761u >> 4) % 20000 + 1;
		}
	}
	switch (sel % 8) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return max;
	case 3:
		return max + 1;
	case 4:
		return max / 2;
	case 5:
		return 8;
	default:
		return ((size_t)sel * 2654435761u >> 4) % (max + 1);
	}
}

static uint8_t *fz_alloc(size_t n, uint8_t fill)
{
	/* exactly n bytes, so that AddressSanitizer catches an overrun */
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		abort();
	memset(b, fill, n ? n : 1);
	return b;
}

/* ---- the content model (fuzz_recv_scribble, until the first scribble) ----
 *
 * While nobody has scribbled on the ring, the contract fixes every result:
 * one producer handle and one consumer handle, so messages arrive whole,
 * exactly once and in order, with the bytes that were sent; a sent message
 * is there for the next recv (not -EAGAIN); an empty ring takes a message;
 * -EMSGSIZE exactly when the next message is longer than the buffer; never
 * -EBADMSG. Streams: the bytes come out in the order they went in, a write of
 * at most PIPE_BUF bytes into an empty stream goes in whole. The first
 * scribble turns the model off for the rest of the input. */

#define FZ_QMAX 4096

struct fz_model {
	bool on;
	uint32_t len[FZ_QMAX], seq[FZ_QMAX];
	unsigned head, n;
	uint32_t next_seq;
	uint64_t wrote, read; /* streams: bytes */
	/* An aborted claim of a multi-producer or slot ring stays in the ring
	 * (padding, a skip slot) until the consumer passes it: till then an
	 * "empty" ring may have no room. Cleared when a receive says -EAGAIN
	 * on an empty model (the consumer has passed everything). */
	bool aborted;
};

static struct fz_model fz_m; /* off unless a target turns it on */

FZ_FN void fz_model_start(void)
{
	memset(&fz_m, 0, sizeof(fz_m));
	fz_m.on = true;
}

FZ_FN void fz_model_stop(void)
{
	fz_m.on = false;
}

static inline uint8_t fz_msg_byte(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + (uint32_t)i * 7u + 1u);
}

static inline uint8_t fz_stream_byte(uint64_t k)
{
	return (uint8_t)(k * 13u + (k >> 8) + 5u);
}

FZ_FN void fz_fill_msg(uint8_t *p, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = fz_msg_byte(seq, i);
}

FZ_FN void fz_model_push(size_t len, uint32_t seq)
{
	if (!fz_m.on)
		return;
	if (fz_m.n == FZ_QMAX) { /* more than any test ring holds: give up */
		fz_m.on = false;
		return;
	}
	unsigned at = (fz_m.head + fz_m.n) % FZ_QMAX;
	fz_m.len[at] = (uint32_t)len;
	fz_m.seq[at] = seq;
	fz_m.n++;
}

/* A message came out (recv, recvv, peek): is it the next one sent? */
FZ_FN void fz_model_check(const char *what, const uint8_t *p, size_t len)
{
	if (!fz_m.on)
		return;
	if (!fz_m.n)
		fz_fail("%s delivered a message of %zu bytes that was never sent", what, len);
	uint32_t want = fz_m.len[fz_m.head], seq = fz_m.seq[fz_m.head];
	if (len != want)
		fz_fail("%s delivered %zu bytes, the next message sent (#%u) has %u", what, len,
			seq, want);
	for (size_t i = 0; i < len; i++)
		if (p[i] != fz_msg_byte(seq, i))
			fz_fail("%s: byte %zu of message #%u is %#x, was sent as %#x", what, i, seq,
				p[i], fz_msg_byte(seq, i));
}

FZ_FN void fz_model_pop(void)
{
	if (!fz_m.on || !fz_m.n)
		return;
	fz_m.head = (fz_m.head + 1) % FZ_QMAX;
	fz_m.n--;
}

/* A data call's failure that an unscribbled ring cannot give. */
FZ_FN void fz_model_rc(const char *what, long long rc)
{
	if (fz_m.on && rc == -EBADMSG)
		fz_fail("%s said -EBADMSG, but nobody scribbled on the ring", what);
}

/* ---- one step on a handle ---- */

FZ_FN void fz_send(struct fz_ep *e, uint8_t sel)
{
	if (!e->r)
		return;
	size_t len = fz_len(e->r, sel);
	fz_trace("send %zu (model: %u queued)\n", len, fz_m.n);
	uint8_t *b = fz_alloc(len, 0xa5);
	uint32_t seq = fz_m.next_seq;
	fz_fill_msg(b, len, seq);
	int rc = shmring_send(e->r, b, len, 0);
	free(b);
	fz_check(e, "send", rc, 0, e->strict ? fz_errs_strict : fz_errs_send,
		 e->strict ? FZ_NELEM(fz_errs_strict) : FZ_NELEM(fz_errs_send),
		 FZ_DATA | FZ_NEED_PROD | FZ_NO_CLAIM);
	fz_model_rc("send", rc);
	if (rc == 0 && (len > e->r->max_msg || fz_is_stream(e->r)))
		fz_fail("send of %zu bytes succeeded (max_msg %llu, stream %d)", len,
			(unsigned long long)e->r->max_msg, fz_is_stream(e->r));
	if (rc == -EAGAIN && fz_m.on && !fz_m.n && !fz_m.aborted && !e->claim &&
	    len <= e->r->max_msg)
		fz_fail("send of %zu bytes into an empty ring said -EAGAIN", len);
	if (rc == 0) {
		fz_m.next_seq++;
		fz_model_push(len, seq);
	}
}

FZ_FN void fz_sendv(struct fz_ep *e, uint8_t n, uint8_t sel)
{
	if (!e->r)
		return;
	int cnt = 1 + n % 4;
	struct iovec v[4];
	for (int i = 0; i < cnt; i++) {
		/* a later message may be too long: sendv stops before it */
		size_t len = fz_len(e->r, (uint8_t)(sel + 3 * i));
		v[i].iov_base = fz_alloc(len, 0);
		v[i].iov_len = len;
		fz_fill_msg(v[i].iov_base, len, fz_m.next_seq + (uint32_t)i);
	}
	int rc = shmring_sendv(e->r, v, cnt, 0);
	fz_check(e, "sendv", rc, cnt, e->strict ? fz_errs_strict : fz_errs_send,
		 e->strict ? FZ_NELEM(fz_errs_strict) : FZ_NELEM(fz_errs_send),
		 FZ_DATA | FZ_NEED_PROD | FZ_NO_CLAIM);
	fz_model_rc("sendv", rc);
	if (rc == 0)
		fz_fail("sendv returned 0: it waits for the first message or fails");
	for (int i = 0; i < rc; i++) {
		if (v[i].iov_len > e->r->max_msg)
			fz_fail("sendv sent message %d of %zu bytes > max_msg", i, v[i].iov_len);
		fz_model_push(v[i].iov_len, fz_m.next_seq + (uint32_t)i);
	}
	if (rc > 0)
		fz_m.next_seq += (uint32_t)rc;
	for (int i = 0; i < cnt; i++)
		free(v[i].iov_base);
}

FZ_FN void fz_claim(struct fz_ep *e, uint8_t sel)
{
	if (!e->r)
		return;
	size_t len = fz_len(e->r, sel);
	fz_trace("claim %zu (model: %u queued)\n", len, fz_m.n);
	void *buf = FZ_SENTINEL;
	int rc = shmring_claim(e->r, len, &buf, 0);
	fz_check(e, "claim", rc, 0, e->strict ? fz_errs_strict : fz_errs_send,
		 e->strict ? FZ_NELEM(fz_errs_strict) : FZ_NELEM(fz_errs_send),
		 FZ_DATA | FZ_NEED_PROD | FZ_NO_CLAIM);
	fz_model_rc("claim", rc);
	if (rc == -EAGAIN && fz_m.on && !fz_m.n && !fz_m.aborted && !e->claim &&
	    len <= e->r->max_msg)
		fz_fail("claim of %zu bytes in an empty ring said -EAGAIN", len);
	if (rc < 0) {
		if (buf != FZ_SENTINEL)
			fz_fail("claim failed (%d) but wrote *buf", rc);
		return;
	}
	if (len > e->r->max_msg)
		fz_fail("claim of %zu > max_msg succeeded", len);
	fz_check_span(e->r, "claim", buf, len);
	/* the caller may write every claimed byte */
	fz_fill_msg(buf, len, fz_m.next_seq);
	e->claim = true;
	e->claim_len = len;
	e->claim_buf = buf;
}

FZ_FN void fz_commit(struct fz_ep *e, uint8_t sel)
{
	if (!e->r)
		return;
	size_t len;
	if (!e->claim)
		len = sel;
	else if (sel % 8 == 7)
		len = e->claim_len + 1; /* too long: -EINVAL, the claim stays */
	else
		len = e->claim_len ? (size_t)sel * 977 % (e->claim_len + 1) : 0;
	if (e->claim) /* still ours, scribbles or not */
		fz_fill_msg(e->claim_buf, e->claim_len, fz_m.next_seq);
	int rc = shmring_commit(e->r, len);
	fz_check(e, "commit", rc, 0, fz_errs_done, FZ_NELEM(fz_errs_done), 0);
	fz_model_rc("commit", rc);
	if (!e->claim || len > e->claim_len) {
		if (rc != -EINVAL)
			fz_fail("commit(%zu) with %s returned %d, not -EINVAL", len,
				e->claim ? "a longer length than claimed" : "no claim", rc);
		return;
	}
	if (rc == -EINVAL)
		fz_fail("commit(%zu) of a claim of %zu returned -EINVAL", len, e->claim_len);
	e->claim = false;
	if (rc == 0)
		fz_model_push(len, fz_m.next_seq++);
}

FZ_FN void fz_abort(struct fz_ep *e)
{
	if (!e->r)
		return;
	int rc = shmring_abort(e->r);
	fz_check(e, "abort", rc, 0, fz_errs_done, FZ_NELEM(fz_errs_done), 0);
	if (!e->claim) {
		if (rc != -EINVAL)
			fz_fail("abort with no claim returned %d, not -EINVAL", rc);
		return;
	}
	if (rc == -EINVAL)
		fz_fail("abort of an outstanding claim returned -EINVAL");
	e->claim = false;
	fz_m.aborted = true;
}

/* A receive failed: could it have, by the model? */
FZ_FN void fz_model_recv_rc(const char *what, long long rc, size_t cap, bool peeking)
{
	if (!fz_m.on)
		return;
	fz_model_rc(what, rc);
	if (peeking)
		return; /* -EBUSY (checked by fz_check) */
	if (rc == -EAGAIN && fz_m.n)
		fz_fail("%s said -EAGAIN with %u message(s) sent and not received", what, fz_m.n);
	if (rc == -EAGAIN)
		fz_m.aborted = false;
	if (rc == -EMSGSIZE && (!fz_m.n || fz_m.len[fz_m.head] <= cap))
		fz_fail("%s said -EMSGSIZE for a buffer of %zu, next message %u bytes", what, cap,
			fz_m.n ? fz_m.len[fz_m.head] : 0);
	if (rc >= 0 && fz_m.n == 0)
		fz_fail("%s returned %lld from an empty ring", what, rc);
}

FZ_FN void fz_recv(struct fz_ep *e, uint8_t sel)
{
	if (!e->r)
		return;
	size_t cap = fz_len(e->r, sel);
	fz_trace("recv into %zu (model: %u queued)\n", cap, fz_m.n);
	uint8_t *b = fz_alloc(cap, 0);
	ssize_t rc = shmring_recv(e->r, b, cap, 0);
	fz_check(e, "recv", rc, (long long)(cap < e->r->max_msg ? cap : e->r->max_msg),
		 fz_errs_recv, FZ_NELEM(fz_errs_recv), FZ_DATA | FZ_NEED_CONS | FZ_NO_PEEK);
	if (e->role & SHMRING_CONSUMER && !fz_is_stream(e->r))
		fz_model_recv_rc("recv", rc, cap, e->peek);
	if (rc >= 0) {
		fz_model_check("recv", b, (size_t)rc);
		fz_model_pop();
	}
	free(b);
}

FZ_FN void fz_recvv(struct fz_ep *e, uint8_t n, uint8_t sel)
{
	if (!e->r)
		return;
	int cnt = 1 + n % 4;
	struct iovec v[4];
	size_t caps[4];
	for (int i = 0; i < cnt; i++) {
		caps[i] = fz_len(e->r, (uint8_t)(sel + 5 * i));
		v[i].iov_base = fz_alloc(caps[i], 0);
		v[i].iov_len = caps[i];
	}
	int rc = shmring_recvv(e->r, v, cnt, 0);
	fz_check(e, "recvv", rc, cnt, fz_errs_recv, FZ_NELEM(fz_errs_recv),
		 FZ_DATA | FZ_NEED_CONS | FZ_NO_PEEK);
	if (e->role & SHMRING_CONSUMER && !fz_is_stream(e->r))
		fz_model_recv_rc("recvv", rc, caps[0], e->peek);
	if (rc == 0)
		fz_fail("recvv returned 0: it waits for the first message or fails");
	for (int i = 0; i < cnt; i++) {
		if (i < rc && (v[i].iov_len > caps[i] || v[i].iov_len > e->r->max_msg))
			fz_fail("recvv: message %d of %zu bytes in a buffer of %zu (max_msg %llu)",
				i, v[i].iov_len, caps[i], (unsigned long long)e->r->max_msg);
		if ((rc < 0 || i >= rc) && v[i].iov_len != caps[i])
			fz_fail("recvv changed iov_len of unfilled buffer %d (rc %d)", i, rc);
		if (i < rc) {
			fz_model_check("recvv", v[i].iov_base, v[i].iov_len);
			fz_model_pop();
		}
		free(v[i].iov_base);
	}
	/* It stops early only when the next message does not fit or is not there. */
	if (fz_m.on && rc > 0 && rc < cnt && fz_m.n && fz_m.len[fz_m.head] <= caps[rc])
		fz_fail("recvv stopped after %d of %d with message of %u bytes ready for a "
			"buffer of %zu",
			rc, cnt, fz_m.len[fz_m.head], caps[rc]);
}

FZ_FN void fz_peek(struct fz_ep *e)
{
	if (!e->r)
		return;
	const void *msg = FZ_SENTINEL;
	size_t len = FZ_SENTINEL_LEN;
	int rc = shmring_peek(e->r, &msg, &len, 0);
	fz_check(e, "peek", rc, 0, fz_errs_recv, FZ_NELEM(fz_errs_recv),
		 FZ_DATA | FZ_NEED_CONS | FZ_NO_PEEK);
	if (e->role & SHMRING_CONSUMER && !fz_is_stream(e->r))
		fz_model_recv_rc("peek", rc, SIZE_MAX, e->peek);
	if (rc < 0) {
		if (msg != FZ_SENTINEL || len != FZ_SENTINEL_LEN)
			fz_fail("peek failed (%d) but wrote *msg or *len", rc);
		return;
	}
	if (len > e->r->max_msg)
		fz_fail("peek: message of %zu bytes > max_msg %llu", len,
			(unsigned long long)e->r->max_msg);
	fz_check_span(e->r, "peek", msg, len);
	fz_read(msg, len);
	fz_model_check("peek", msg, len);
	e->peek = true;
	e->peek_msg = msg;
	e->peek_len = len;
}

FZ_FN void fz_release(struct fz_ep *e)
{
	if (!e->r)
		return;
	if (e->peek) { /* still readable, scribbles or not; unchanged if none */
		fz_read(e->peek_msg, e->peek_len);
		fz_model_check("peek (at release)", e->peek_msg, e->peek_len);
	}
	int rc = shmring_release(e->r);
	fz_check(e, "release", rc, 0, fz_errs_done, FZ_NELEM(fz_errs_done), 0);
	fz_model_rc("release", rc);
	if (!e->peek) {
		if (rc != -EINVAL)
			fz_fail("release with no peek returned %d, not -EINVAL", rc);
		return;
	}
	if (rc == -EINVAL)
		fz_fail("release of an outstanding peek returned -EINVAL");
	e->peek = false;
	fz_model_pop();
}

FZ_FN void fz_write(struct fz_ep *e, uint8_t sel)
{
	if (!e->r)
		return;
	size_t n = fz_len(e->r, sel);
	fz_trace("write %zu (model: %llu unread)\n", n,
		 (unsigned long long)(fz_m.wrote - fz_m.read));
	uint8_t *b = fz_alloc(n, 0x77);
	for (size_t i = 0; i < n; i++)
		b[i] = fz_stream_byte(fz_m.wrote + i);
	ssize_t rc = shmring_write(e->r, b, n, 0);
	free(b);
	fz_check(e, "write", rc, (long long)n, e->strict ? fz_errs_strict : fz_errs_io,
		 e->strict ? FZ_NELEM(fz_errs_strict) : FZ_NELEM(fz_errs_io),
		 FZ_DATA | FZ_NEED_PROD);
	if (!fz_is_stream(e->r) && rc != -EOPNOTSUPP && rc != -EINVAL)
		fz_fail("write on a message ring returned %zd, not -EOPNOTSUPP", rc);
	if (rc == 0 && n)
		fz_fail("write of %zu bytes returned 0", n);
	if (rc > 0 && n <= PIPE_BUF && (size_t)rc != n)
		fz_fail("write of %zu <= PIPE_BUF bytes was cut to %zd", n, rc);
	if (fz_is_stream(e->r)) {
		fz_model_rc("write", rc);
		if (fz_m.on && rc == -EAGAIN && n && n <= PIPE_BUF && fz_m.wrote == fz_m.read)
			fz_fail("write of %zu <= PIPE_BUF bytes into an empty stream said -EAGAIN",
				n);
	}
	if (rc > 0)
		fz_m.wrote += (uint64_t)rc;
}

FZ_FN void fz_readop(struct fz_ep *e, uint8_t sel)
{
	if (!e->r)
		return;
	size_t n = fz_len(e->r, sel);
	fz_trace("read %zu\n", n);
	uint8_t *b = fz_alloc(n, 0);
	ssize_t rc = shmring_read(e->r, b, n, 0);
	fz_check(e, "read", rc, (long long)n, fz_errs_io, FZ_NELEM(fz_errs_io),
		 FZ_DATA | FZ_NEED_CONS);
	if (!fz_is_stream(e->r) && rc != -EOPNOTSUPP && rc != -EINVAL)
		fz_fail("read on a message ring returned %zd, not -EOPNOTSUPP", rc);
	if (fz_m.on && fz_is_stream(e->r) && (e->role & SHMRING_CONSUMER)) {
		uint64_t have = fz_m.wrote - fz_m.read;
		fz_model_rc("read", rc);
		if (rc == -EAGAIN && have && n)
			fz_fail("read of %zu said -EAGAIN with %llu bytes written and not read", n,
				(unsigned long long)have);
		if (rc > 0 && (uint64_t)rc > have)
			fz_fail("read returned %zd bytes, only %llu were written and not read", rc,
				(unsigned long long)have);
		for (ssize_t i = 0; i < rc; i++)
			if (b[i] != fz_stream_byte(fz_m.read + (uint64_t)i))
				fz_fail("read: stream byte %llu is %#x, was written as %#x",
					(unsigned long long)(fz_m.read + (uint64_t)i), b[i],
					fz_stream_byte(fz_m.read + (uint64_t)i));
	}
	if (rc > 0)
		fz_m.read += (uint64_t)rc;
	free(b);
}

FZ_FN void fz_stat(struct fz_ep *e)
{
	if (!e->r)
		return;
	struct shmring_stat st;
	memset(&st, 0x5e, sizeof(st));
	int rc = shmring_stat(e->r, &st);
	if (rc != 0)
		fz_fail("stat returned %d", rc);
	size_t cap = fz_data_len(e->r);
	if ((unsigned)st.mode > SHMRING_MPMC || st.capacity != cap || st.used > st.capacity ||
	    st.max_msg != e->r->max_msg || st.producers > SR_EP_PER_SIDE ||
	    st.consumers > SR_EP_PER_SIDE)
		fz_fail("stat: mode %u capacity %zu (data area %zu) used %zu max_msg %zu "
			"producers %u consumers %u",
			(unsigned)st.mode, st.capacity, cap, st.used, st.max_msg, st.producers,
			st.consumers);
	for (size_t i = 0; i < FZ_NELEM(st.reserved); i++)
		if (st.reserved[i])
			fz_fail("stat: reserved[%zu] = %llu", i,
				(unsigned long long)st.reserved[i]);
}

FZ_FN void fz_close(struct fz_ep *e)
{
	if (!e->r)
		return;
	bool held = e->peek; /* close releases it: consumed */
	if (e->claim)
		fz_m.aborted = true; /* close aborts it */
	fz_trace("close (roles %d)\n", e->role);
	int rc = shmring_close(e->r);
	if (rc != 0)
		fz_fail("close returned %d", rc);
	if (held)
		fz_model_pop();
	fz_ep_init(e, NULL, e->role);
}

/* Attach through the descriptor; a failure leaves the handle NULL (the
 * steps on it are then skipped). */
FZ_FN void fz_open(struct fz_ep *e, int fd, int role)
{
	shmring *r = FZ_SENTINEL;
	int rc = shmring_open_fd(fd, role, &r);
	fz_trace("open_fd(role %d) -> %d\n", role, rc);
	if (rc > 0 || rc <= -4096)
		fz_fail("open_fd(role %d) returned %d", role, rc);
	if (rc < 0) {
		if (r != FZ_SENTINEL)
			fz_fail("open_fd failed (%d) but wrote *out", rc);
		r = NULL;
	}
	fz_ep_init(e, r, role);
}

/* The readiness descriptor: the handle's own, the same one every time,
 * and poll(2) takes it. Arming it makes every later -EAGAIN re-arm the
 * handle (poll.c), which reads the ring and the endpoint table. */
FZ_FN void fz_pollfd(struct fz_ep *e)
{
	if (!e->r)
		return;
	int fd = shmring_pollfd(e->r);
	fz_trace("pollfd (roles %d) -> %d\n", e->role, fd);
	if (fd < 0) {
		if (fd <= -4096)
			fz_fail("pollfd returned %d", fd);
		if (e->role && fd == -EPERM)
			fz_fail("pollfd: -EPERM on a handle with roles %d", e->role);
		return;
	}
	if (!e->role)
		fz_fail("pollfd succeeded (%d) on an observer", fd);
	if (e->pollfd >= 0 && fd != e->pollfd)
		fz_fail("pollfd returned %d, then %d", e->pollfd, fd);
	e->pollfd = fd;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;
	do /* libFuzzer's timers signal the process: a poll may return EINTR */
		n = poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (p.revents & (POLLERR | POLLNVAL)))
		fz_fail("poll of the pollfd: %d (errno %d), revents %#x", n, n < 0 ? errno : 0,
			p.revents);
}

/* ---- the scribbler: a second mapping of the object ---- */

struct fz_seg {
	int fd;       /* our own descriptor of the object */
	uint8_t *map; /* a second mapping, read-write */
	size_t size;
	uint64_t data_off, cap, mask, slot_size; /* geometry, from the first handle */
};

FZ_FN int fz_seg_init(struct fz_seg *s, const shmring *r)
{
	struct stat st;
	s->fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
	if (s->fd < 0 || fstat(s->fd, &st) < 0)
		return -1;
	s->size = (size_t)st.st_size;
	s->map = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (s->map == MAP_FAILED)
		return -1;
	s->data_off = (uint64_t)(r->data - (uint8_t *)r->h);
	s->cap = r->cap;
	s->mask = r->mask;
	s->slot_size = r->slot_size;
	return 0;
}

FZ_FN void fz_seg_fini(struct fz_seg *s)
{
	if (s->map && s->map != MAP_FAILED)
		munmap(s->map, s->size);
	if (s->fd >= 0)
		close(s->fd);
}

FZ_FN uint64_t fz_word(const struct fz_seg *s, uint64_t off)
{
	return __atomic_load_n((const uint64_t *)(s->map + off), __ATOMIC_RELAXED);
}

FZ_FN void fz_set_word(struct fz_seg *s, uint64_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(s->map + off), v, __ATOMIC_RELAXED);
}

/* Where a position's record word (records) or slot (slots) is. */
FZ_FN uint64_t fz_pos_off(const struct fz_seg *s, uint64_t pos)
{
	if (s->slot_size)
		return s->data_off + (pos & s->mask) * s->slot_size;
	return s->data_off + ((pos & s->mask) & ~(uint64_t)7);
}

FZ_FN uint64_t fz_ep_off(const struct fz_ep *e, int side)
{
	int idx = -1;
	if (e && e->r)
		idx = side == SHMRING_PRODUCER ? e->r->prod.idx : e->r->cons.idx;
	if (idx < 0)
		idx = side == SHMRING_PRODUCER ? 0 : SR_EP_CONS_BASE;
	return SR_OFF_EP + 64u * (unsigned)idx;
}

/* The offset of a field (FZ_F_*), 8-byte aligned and inside the object. */
FZ_FN uint64_t fz_field_off(const struct fz_seg *s, const struct fz_ep *prod,
			    const struct fz_ep *cons, unsigned field, uint64_t val)
{
	uint64_t tail = fz_word(s, SR_OFF_PROD), head = fz_word(s, SR_OFF_CONS);
	uint64_t step = s->slot_size ? 1 : 8;
	switch (field % FZ_NFIELDS) {
	case FZ_F_PROD_POS:
		return SR_OFF_PROD;
	case FZ_F_PROD_AUX:
		return SR_OFF_PROD + 8;
	case FZ_F_CONS_POS:
		return SR_OFF_CONS;
	case FZ_F_CONS_AUX:
		return SR_OFF_CONS + 8;
	case FZ_F_DWAIT:
		return SR_OFF_DWAIT;
	case FZ_F_DWAIT_WANT:
		return SR_OFF_DWAIT + 8;
	case FZ_F_RWAIT:
		return SR_OFF_RWAIT;
	case FZ_F_RWAIT_WANT:
		return SR_OFF_RWAIT + 8;
	case FZ_F_LIVE:
		return SR_OFF_TOTALS;
	case FZ_F_SEEN:
		return SR_OFF_TOTALS + 8;
	case FZ_F_EP_PROD_SG:
		return fz_ep_off(prod, SHMRING_PRODUCER);
	case FZ_F_EP_PROD_RESV:
		return fz_ep_off(prod, SHMRING_PRODUCER) + 0x30;
	case FZ_F_EP_CONS_SG:
		return fz_ep_off(cons, SHMRING_CONSUMER);
	case FZ_F_EP_CONS_RESV:
		return fz_ep_off(cons, SHMRING_CONSUMER) + 0x30;
	case FZ_F_AT_HEAD:
		return fz_pos_off(s, head);
	case FZ_F_AT_TAIL:
		return fz_pos_off(s, tail);
	case FZ_F_LEN_AT_HEAD:
		return s->slot_size ? fz_pos_off(s, head) + 8 : fz_pos_off(s, head + 8);
	case FZ_F_LEN_AT_TAIL:
		return s->slot_size ? fz_pos_off(s, tail) + 8 : fz_pos_off(s, tail + 8);
	case FZ_F_AT_TAIL_NEXT:
		return fz_pos_off(s, tail + step);
	case FZ_F_HELD:
		if (prod && prod->r && prod->claim) {
			uint64_t rec = prod->r->claim_pos;
			if (!s->slot_size) /* the record itself, past any padding */
				rec += prod->r->claim_size -
				       SR_ALIGN8(SR_REC_HDR + prod->r->claim_len);
			return fz_pos_off(s, rec);
		}
		if (cons && cons->r && cons->peek)
			return fz_pos_off(s, cons->r->peek_pos);
		if (prod && prod->r && (prod->r->flags & SHMRING_STREAM)) /* the last record */
			return fz_pos_off(s, fz_word(s, SR_OFF_PROD + 8));
		return fz_pos_off(s, head);
	case FZ_F_CONFIG:
	default:
		return (val % 32) * 8;
	}
}

FZ_FN void fz_scribble_field(struct fz_seg *s, const struct fz_ep *prod, const struct fz_ep *cons,
			     unsigned field, unsigned how, uint64_t val)
{
	uint64_t off = fz_field_off(s, prod, cons, field, val);
	uint64_t old = fz_word(s, off), v;
	fz_trace("scribble field %u how %u: word at %#llx was %#llx\n", field % FZ_NFIELDS,
		 how % FZ_NHOWS, (unsigned long long)off, (unsigned long long)old);
	switch (how % FZ_NHOWS) {
	case FZ_H_SET:
		v = val;
		break;
	case FZ_H_ADD:
		v = old + (uint64_t)(int64_t)(int8_t)val;
		break;
	case FZ_H_XOR_BIT:
		v = old ^ ((uint64_t)1 << (val % 64));
		break;
	case FZ_H_LAP:
		v = old + (uint64_t)((int64_t)(val % 5) - 2) * s->cap;
		break;
	case FZ_H_ZERO:
		v = 0;
		break;
	case FZ_H_ONES:
		v = ~(uint64_t)0;
		break;
	case FZ_H_COPY_TAIL:
		v = fz_word(s, SR_OFF_PROD) + (uint64_t)(int64_t)(int8_t)val;
		break;
	case FZ_H_COPY_HEAD:
	default:
		v = fz_word(s, SR_OFF_CONS) + (uint64_t)(int64_t)(int8_t)val;
		break;
	}
	fz_set_word(s, off, v);
}

FZ_FN void fz_scribble_raw(struct fz_seg *s, uint16_t off16, uint64_t val)
{
	if (s->size < 8)
		return;
	size_t off = (size_t)(((uint64_t)off16 * (s->size - 7)) >> 16);
	fz_trace("scribble raw at %#zx := %#llx\n", off, (unsigned long long)val);
	memcpy(s->map + off, &val, 8); /* any alignment: a peer may write anything */
}

/* ---- making rings ---- */

/* The ring of a config byte (fuzz_script.h). */
FZ_FN void fz_config(uint8_t b, struct shmring_config *c)
{
	unsigned kind = b % FZ_NKINDS, big = (b / FZ_NKINDS) & 1;
	memset(c, 0, sizeof(*c));
	if (kind >= FZ_KIND_STREAM_SPSC) {
		c->mode = kind == FZ_KIND_STREAM_SPSC ? SHMRING_SPSC : SHMRING_MPSC;
		c->flags = SHMRING_STREAM;
		c->capacity = big ? 20000 : 4096; /* data areas of 64 and 32 KiB */
		return;
	}
	c->mode = (enum shmring_mode)kind;
	/* small: 256 bytes (2 slots of 64-byte messages); big: 4 KiB */
	c->capacity = big ? 4096 : 256;
	c->max_msg = big ? 200 : 64;
}

/* ---- descriptor leaks ---- */

/* After every input no descriptor of the kinds the library makes may be
 * open: memfds (the object, its lock descriptors reopened through /proc),
 * sockets and anonymous inodes (pollfd). Others come and go with libFuzzer
 * and the sanitizers' symbolizer, so the lowest free number proves nothing. */
FZ_FN void fz_fd_check(void)
{
	if (getenv("FZ_NO_FDCHECK"))
		return;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[300], what[256];
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, what, sizeof(what) - 1);
		if (n <= 0)
			continue;
		what[n] = '\0';
		if (!strncmp(what, "/memfd:", 7) || !strncmp(what, "socket:", 7) ||
		    !strncmp(what, "anon_inode:", 11)) {
			int fd = atoi(de->d_name);
			closedir(d);
			fz_fail("descriptor leak: fd %d (%s) is still open after the input", fd,
				what);
		}
	}
	closedir(d);
}

#endif /* SHMRING_FUZZ_COMMON_H */
