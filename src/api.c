/* SPDX-License-Identifier: MIT */
/*
 * api.c - the public entry points: argument and role checks, then dispatch
 * to the engine the handle picked at open (ring_rec.c or ring_slot.c), with
 * blocking done by wait.c. Also shmring_stat and shmring_mode_name.
 */
#include "internal.h"
#include "rec_fast.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- lifecycle ---- */

SHMRING_API int shmring_create(const char *name, const struct shmring_config *cfg, int role,
			       shmring **out)
{
	if (!name)
		return -EINVAL;
	return shmring__new(cfg, name, role, out);
}

SHMRING_API int shmring_create_anon(const struct shmring_config *cfg, int role, shmring **out)
{
	return shmring__new(cfg, NULL, role, out);
}

SHMRING_API int shmring_open(const char *name, int role, shmring **out)
{
	char path[256];
	int rc;
	if (!out || (role & ~(SHMRING_PRODUCER | SHMRING_CONSUMER)))
		return -EINVAL;
	if ((rc = shmring__validate_name(name, path, sizeof(path))) < 0)
		return rc;
	int fd = shm_open(path, (role ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	return shmring__attach_fd(fd, role, true, out);
}

SHMRING_API int shmring_open_fd(int fd, int role, shmring **out)
{
	if (!out || fd < 0 || (role & ~(SHMRING_PRODUCER | SHMRING_CONSUMER)))
		return -EINVAL;
	return shmring__attach_fd(fd, role, false, out);
}

SHMRING_API int shmring_fd(const shmring *r)
{
	return r ? r->fd : -EINVAL;
}

static bool claim_mine(const shmring *r)
{
	return r->claim_active && r->claim_forkgen == shmring__forkgen();
}

static bool peek_mine(const shmring *r)
{
	return r->peek_active && r->peek_forkgen == shmring__forkgen();
}

SHMRING_API int shmring_close(shmring *r)
{
	if (!r)
		return -EINVAL;
	if (claim_mine(r))
		shmring_abort(r);
	if (peek_mine(r))
		shmring_release(r);
	if ((r->flags & SHMRING_STREAM) && r->prod.idx >= 0)
		shmring__stream_close_writer(r);
	shmring__detach_roles(r); /* may signal pollers through send_sock: free after */
	shmring__poll_free(r);
	shmring__unmap(r);
	free(r);
	return 0;
}

SHMRING_API int shmring_unlink(const char *name)
{
	char path[256];
	int rc = shmring__validate_name(name, path, sizeof(path));
	if (rc < 0)
		return rc;
	return shm_unlink(path) < 0 ? -errno : 0;
}

/* ---- checks shared by the data calls ---- */

static int as_writer(shmring *r);
static int as_reader(shmring *r);

static int as_producer(shmring *r)
{
	if (SR_UNLIKELY(!r))
		return -EINVAL;
	if (SR_UNLIKELY(r->flags & SHMRING_STREAM))
		return -EOPNOTSUPP;
	return as_writer(r);
}

static int as_consumer(shmring *r)
{
	if (SR_UNLIKELY(!r))
		return -EINVAL;
	if (SR_UNLIKELY(r->flags & SHMRING_STREAM))
		return -EOPNOTSUPP;
	return as_reader(r);
}

/* The checks every producer call makes, messages and streams alike. */
static int as_writer(shmring *r)
{
	if (SR_UNLIKELY(r->broken))
		return r->broken;
	if (SR_UNLIKELY(r->prod.idx < 0))
		return -EPERM;
	if (SR_UNLIKELY(claim_mine(r)))
		return -EBUSY;
	if (SR_UNLIKELY(r->bound_forkgen != shmring__forkgen())) {
		int rc = shmring__rebind(r);
		if (rc < 0)
			return rc;
	}
	/* Like a pipe with no reader: refuse before writing. The hint is exact
	 * after normal closes; a crashed consumer is found when the ring fills. */
	struct sr_totals_line *t = &r->h->totals;
	if (SR_UNLIKELY(ld_relaxed(&t->ncons) == 0) && ld_acquire(&t->cons_seen))
		return -EPIPE;
	return 0;
}

static int as_reader(shmring *r)
{
	if (SR_UNLIKELY(r->broken))
		return r->broken;
	if (SR_UNLIKELY(r->cons.idx < 0))
		return -EPERM;
	if (SR_UNLIKELY(peek_mine(r)))
		return -EBUSY;
	if (SR_UNLIKELY(r->bound_forkgen != shmring__forkgen())) {
		int rc = shmring__rebind(r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- messages ---- */

struct vec_arg {
	const struct iovec *v;
	int n;
};

static int try_send(shmring *r, void *arg)
{
	struct vec_arg *a = arg;
	return r->ops->send(r, a->v, a->n);
}

static int try_recv(shmring *r, void *arg)
{
	struct vec_arg *a = arg;
	return r->ops->recv(r, (struct iovec *)a->v, a->n);
}

/* The general paths of shmring_send and shmring_recv: every check, then the
 * engine through wait.c. Out of line, so that the fast paths below stay
 * leaves (rec_fast.h: why that matters). */
static __attribute__((noinline)) int send_slow(shmring *r, const void *msg, size_t len,
					       int64_t timeout_ns)
{
	int rc = as_producer(r);
	if (rc < 0)
		return rc;
	if (len > r->max_msg)
		return -EMSGSIZE;
	if (!msg && len)
		return -EINVAL;
	if (r->sp_fast && SR_LIKELY(sr_sp_send1(r, msg, len, true) == 0)) {
		shmring__wake(r, SR_DATA);
		return 0;
	}
	struct iovec v = {.iov_base = (void *)msg, .iov_len = len};
	struct vec_arg a = {&v, 1};
	rc = shmring__block(r, SR_ROOM, try_send, &a, timeout_ns);
	return rc < 0 ? rc : 0;
}

static __attribute__((noinline)) ssize_t recv_slow(shmring *r, void *buf, size_t cap,
						   int64_t timeout_ns)
{
	int rc = as_consumer(r);
	if (rc < 0)
		return rc;
	if (!buf && cap)
		return -EINVAL;
	if (r->sp_fast) {
		ssize_t n = sr_sp_recv1(r, buf, cap, SIZE_MAX);
		if (SR_LIKELY(n >= 0)) {
			shmring__wake(r, SR_ROOM);
			return n;
		}
	}
	struct iovec v = {.iov_base = buf, .iov_len = cap};
	struct vec_arg a = {&v, 1};
	rc = shmring__block(r, SR_DATA, try_recv, &a, timeout_ns);
	return rc < 0 ? rc : (ssize_t)v.iov_len;
}

/* May this call take the SPSC fast path (rec_fast.h)? Each check here and
 * in the callers below is one the general path makes (as_writer, as_reader),
 * or stricter: whatever fails is judged there, with its errno. A producer
 * takes it only for messages that rec_fast.h copies inline: a call to
 * memcpy would cost the leaf its stack frame. */
static inline bool sp_fast(const shmring *r)
{
	return SR_LIKELY(r && r->sp_fast && !r->broken) &&
	       SR_LIKELY(r->bound_forkgen == shmring__forkgen());
}

SHMRING_API int shmring_send(shmring *r, const void *msg, size_t len, int64_t timeout_ns)
{
	if (sp_fast(r) && SR_LIKELY(len <= SR_COPY_SMALL_MAX) &&
	    SR_LIKELY(r->prod.idx >= 0 && !r->claim_active && msg && len <= r->max_msg &&
		      ld_relaxed(&r->h->totals.ncons) != 0) &&
	    SR_LIKELY(sr_sp_send1(r, msg, len, false) == 0)) {
		if (shmring__must_wake(r, SR_DATA))
			return shmring__wake_slow_0(r, SR_DATA);
		return 0;
	}
	return send_slow(r, msg, len, timeout_ns);
}

SHMRING_API ssize_t shmring_recv(shmring *r, void *buf, size_t cap, int64_t timeout_ns)
{
	if (sp_fast(r) && SR_LIKELY(r->cons.idx >= 0 && !r->peek_active && buf)) {
		ssize_t n = sr_sp_recv1(r, buf, cap, SR_COPY_SMALL_MAX);
		if (SR_LIKELY(n >= 0)) {
			if (shmring__must_wake(r, SR_ROOM))
				return shmring__wake_slow_n(r, SR_ROOM, n);
			return n;
		}
	}
	return recv_slow(r, buf, cap, timeout_ns);
}

/* How many of the n entries come before the first with no buffer for a
 * length (NULL iov_base, iov_len > 0): a batch ends there, and one that
 * starts there is -EINVAL (0). */
static int vec_usable(const struct iovec *v, int n)
{
	for (int i = 0; i < n; i++)
		if (!v[i].iov_base && v[i].iov_len)
			return i;
	return n;
}

SHMRING_API int shmring_sendv(shmring *r, const struct iovec *msgs, int n, int64_t timeout_ns)
{
	int rc = as_producer(r);
	if (rc < 0)
		return rc;
	if (n <= 0 || !msgs || (n = vec_usable(msgs, n)) == 0)
		return -EINVAL;
	if (msgs[0].iov_len > r->max_msg)
		return -EMSGSIZE;
	struct vec_arg a = {msgs, n};
	return shmring__block(r, SR_ROOM, try_send, &a, timeout_ns);
}

SHMRING_API int shmring_recvv(shmring *r, struct iovec *bufs, int n, int64_t timeout_ns)
{
	int rc = as_consumer(r);
	if (rc < 0)
		return rc;
	if (n <= 0 || !bufs || (n = vec_usable(bufs, n)) == 0)
		return -EINVAL;
	struct vec_arg a = {bufs, n};
	return shmring__block(r, SR_DATA, try_recv, &a, timeout_ns);
}

/* ---- zero copy ---- */

struct claim_arg {
	size_t len;
	void **buf;
};

static int try_claim(shmring *r, void *arg)
{
	struct claim_arg *a = arg;
	return r->ops->claim(r, a->len, a->buf);
}

SHMRING_API int shmring_claim(shmring *r, size_t len, void **buf, int64_t timeout_ns)
{
	int rc = as_producer(r);
	if (rc < 0)
		return rc;
	if (len > r->max_msg)
		return -EMSGSIZE;
	if (!buf)
		return -EINVAL;
	void *p = NULL;
	struct claim_arg a = {len, &p};
	rc = shmring__block(r, SR_ROOM, try_claim, &a, timeout_ns);
	if (rc < 0)
		return rc;
	r->claim_active = true;
	r->claim_forkgen = shmring__forkgen();
	*buf = p;
	return 0;
}

SHMRING_API int shmring_commit(shmring *r, size_t len)
{
	if (!r || !claim_mine(r) || len > r->claim_len)
		return -EINVAL;
	r->claim_active = false;
	return r->ops->commit(r, len);
}

SHMRING_API int shmring_abort(shmring *r)
{
	if (!r || !claim_mine(r))
		return -EINVAL;
	r->claim_active = false;
	return r->ops->abort(r);
}

struct peek_arg {
	const void **msg;
	size_t *len;
};

static int try_peek(shmring *r, void *arg)
{
	struct peek_arg *a = arg;
	return r->ops->peek(r, a->msg, a->len);
}

SHMRING_API int shmring_peek(shmring *r, const void **msg, size_t *len, int64_t timeout_ns)
{
	int rc = as_consumer(r);
	if (rc < 0)
		return rc;
	if (!msg || !len)
		return -EINVAL;
	const void *m = NULL;
	size_t l = 0;
	struct peek_arg a = {&m, &l};
	rc = shmring__block(r, SR_DATA, try_peek, &a, timeout_ns);
	if (rc < 0)
		return rc;
	r->peek_active = true;
	r->peek_forkgen = shmring__forkgen();
	*msg = m;
	*len = l;
	return 0;
}

SHMRING_API int shmring_release(shmring *r)
{
	if (!r || !peek_mine(r))
		return -EINVAL;
	r->peek_active = false;
	return r->ops->release(r);
}

/* ---- streams ---- */

SHMRING_API int shmring_pipe(shmring *ends[2], const struct shmring_config *cfg)
{
	struct shmring_config c = {0};
	shmring *rd, *wr;
	int rc;
	if (!ends)
		return -EINVAL;
	if (cfg)
		c = *cfg;
	c.mode = SHMRING_MPSC; /* a pipe's write end takes several writers */
	c.flags |= SHMRING_STREAM;
	if ((rc = shmring__new(&c, NULL, SHMRING_CONSUMER, &rd)) < 0)
		return rc;
	if ((rc = shmring__attach_fd(rd->fd, SHMRING_PRODUCER, false, &wr)) < 0) {
		shmring_close(rd);
		return rc;
	}
	ends[0] = rd;
	ends[1] = wr;
	return 0;
}

struct io_arg {
	void *buf;
	size_t n;
	bool whole;
};

static int try_get(shmring *r, void *arg)
{
	struct io_arg *a = arg;
	return shmring__stream_get(r, a->buf, a->n);
}

static int try_put(shmring *r, void *arg)
{
	struct io_arg *a = arg;
	return shmring__stream_put(r, a->buf, a->n, a->whole);
}

#define SR_IO_MAX ((size_t)1 << 30) /* one call moves at most this much (an int) */

SHMRING_API ssize_t shmring_read(shmring *r, void *buf, size_t n, int64_t timeout_ns)
{
	if (!r)
		return -EINVAL;
	if (!(r->flags & SHMRING_STREAM))
		return -EOPNOTSUPP;
	if (r->cons.idx < 0)
		return -EPERM;
	int rc = as_reader(r);
	if (rc < 0)
		return rc;
	if (!buf && n)
		return -EINVAL;
	if (n == 0)
		return 0;
	struct io_arg a = {buf, n < SR_IO_MAX ? n : SR_IO_MAX, false};
	rc = shmring__block(r, SR_DATA, try_get, &a, timeout_ns);
	return rc == -EPIPE ? 0 : rc; /* every writer gone and drained: end of file */
}

SHMRING_API ssize_t shmring_write(shmring *r, const void *buf, size_t n, int64_t timeout_ns)
{
	if (!r)
		return -EINVAL;
	if (!(r->flags & SHMRING_STREAM))
		return -EOPNOTSUPP;
	if (r->prod.idx < 0)
		return -EPERM;
	int rc = as_writer(r);
	if (rc < 0)
		return rc;
	if (!buf && n)
		return -EINVAL;
	if (n > SR_IO_MAX)
		n = SR_IO_MAX;
	/* At most PIPE_BUF bytes go in one piece; more may be cut and
	 * interleaved, and a blocking write moves them all, as write(2) on a
	 * pipe does. The timeout covers the whole call. */
	if (n == 0)
		return 0;
	/* only a positive timeout reads the clock */
	int64_t deadline = timeout_ns > 0 ? shmring__after(shmring__now(), timeout_ns) : 0;
	size_t done = 0;
	r->signalled = false;
	while (done < n) {
		struct io_arg a = {(uint8_t *)buf + done, n - done, n <= PIPE_BUF};
		int64_t t = timeout_ns;
		if (timeout_ns > 0 && (t = deadline - shmring__now()) <= 0)
			t = 0;
		rc = shmring__block(r, SR_ROOM, try_put, &a, t);
		if (rc < 0) {
			if (done)
				break;
			return rc == -EAGAIN && timeout_ns > 0 ? -ETIMEDOUT : rc;
		}
		done += (size_t)rc;
		if (r->signalled) /* a handler ran in that wait: the count so far */
			break;
	}
	return (ssize_t)done;
}

/* ---- waiting ---- */

SHMRING_API int shmring_set_spin(shmring *r, int64_t spin_ns)
{
	if (!r)
		return -EINVAL;
	r->spin_ns = spin_ns;
	return 0;
}


/* ---- introspection ---- */

SHMRING_API int shmring_stat(const shmring *r, struct shmring_stat *st)
{
	if (!r || !st)
		return -EINVAL;
	const struct sr_header *h = r->h;
	struct shmring_stat s;
	memset(&s, 0, sizeof(s));
	s.mode = (enum shmring_mode)r->mode;
	s.flags = r->flags;
	s.capacity = (size_t)(r->slot_size ? r->cap * r->slot_size : r->cap);
	s.max_msg = (size_t)r->max_msg;
	s.used = r->ops->used(r);
	s.sent = ld_relaxed(&h->totals.sent);
	s.received = ld_relaxed(&h->totals.received);
	s.wakeups = ld_relaxed(&h->totals.wakeups);
	for (unsigned i = 0; i < SR_EP_MAX; i++) {
		const struct sr_endpoint *e = &h->ep[i];
		if (SR_EP_STATE(ld_acquire(&e->sg)) != SR_EP_LIVE)
			continue;
		if (i < SR_EP_CONS_BASE)
			s.sent += ld_relaxed(&e->count);
		else
			s.received += ld_relaxed(&e->count);
		s.wakeups += ld_relaxed(&e->wakeups);
	}
	s.producers = shmring__count_live(r, SHMRING_PRODUCER);
	s.consumers = shmring__count_live(r, SHMRING_CONSUMER);
	s.sleepers = shmring__sleepers(r);
	s.dropped = ld_relaxed(&h->totals.dropped);
	*st = s;
	return 0;
}

SHMRING_API const char *shmring_mode_name(enum shmring_mode mode)
{
	switch (mode) {
	case SHMRING_SPSC:
		return "spsc";
	case SHMRING_MPSC:
		return "mpsc";
	case SHMRING_SPMC:
		return "spmc";
	case SHMRING_MPMC:
		return "mpmc";
	}
	return "invalid";
}
