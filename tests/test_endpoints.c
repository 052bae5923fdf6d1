/* SPDX-License-Identifier: MIT */
/*
 * test_endpoints.c - who may attach, and what happens when they leave:
 * single sides refuse a second endpoint (-EBUSY) until the first is gone,
 * multi sides take 64 endpoints (-EUSERS past the table), end of file and
 * broken pipe (-EPIPE) after the last peer closes or dies, rings no peer has
 * attached to yet, roles inherited by fork, and how fast a sleeper notices.
 */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "internal.h"
#include "layout.h"

#define TMO .timeout = 30

static int try_open(shmring *any, int role, shmring **out)
{
	*out = (shmring *)0x1;
	return shmring_open_fd(shmring_fd(any), role, out);
}

/* ---- Single and multi sides ---------------------------------------------------- */

MODE_TEST(endpoints, single_sides_refuse_a_second_endpoint, TMO, .fini = t_unlink_all)
{
	T_MODE;
	for (int named = 0; named < 2; named++) {
		struct shmring_config cfg = t_cfg(mode, 16384, 256);
		const char *name = named ? t_newname("endpoints") : NULL;
		shmring *p1 = NULL, *c1 = NULL, *x;
		int rc = named ? shmring_create(name, &cfg, SHMRING_PRODUCER, &p1)
			       : shmring_create_anon(&cfg, SHMRING_PRODUCER, &p1);
		cr_assert_eq(rc, 0, "%s: create: %d (%s)", M, rc, t_err(rc));
		rc = named ? shmring_open(name, SHMRING_CONSUMER, &c1)
			   : shmring_open_fd(shmring_fd(p1), SHMRING_CONSUMER, &c1);
		cr_assert_eq(rc, 0, "%s: first consumer: %d (%s)", M, rc, t_err(rc));

		rc = named ? shmring_open(name, SHMRING_PRODUCER, &x)
			   : try_open(p1, SHMRING_PRODUCER, &x);
		if (t_multi_prod(mode)) {
			cr_assert_eq(rc, 0, "%s: second producer: %d (%s)", M, rc, t_err(rc));
			shmring_close(x);
		} else {
			cr_assert_eq(rc, -EBUSY, "%s: second producer: %d (%s)", M, rc, t_err(rc));
		}
		rc = named ? shmring_open(name, SHMRING_CONSUMER, &x)
			   : try_open(p1, SHMRING_CONSUMER, &x);
		if (t_multi_cons(mode)) {
			cr_assert_eq(rc, 0, "%s: second consumer: %d (%s)", M, rc, t_err(rc));
			shmring_close(x);
		} else {
			cr_assert_eq(rc, -EBUSY, "%s: second consumer: %d (%s)", M, rc, t_err(rc));
		}

		/* A refused open takes nothing: the free role stays free. */
		if (mode != SHMRING_MPMC) {
			shmring *obs = NULL;
			cr_assert_eq(try_open(p1, SHMRING_OBSERVER, &obs), 0);
			struct shmring_stat before = t_stat(obs);
			rc = try_open(p1, SHMRING_PRODUCER | SHMRING_CONSUMER, &x);
			cr_assert_eq(rc, -EBUSY, "%s: open producer|consumer: %d (%s)", M, rc,
				     t_err(rc));
			cr_assert_eq(x, (shmring *)0x1);
			struct shmring_stat after = t_stat(obs);
			cr_assert(after.producers == before.producers &&
					  after.consumers == before.consumers,
				  "%s: a refused open changed the endpoints: %u/%u -> %u/%u", M,
				  before.producers, before.consumers, after.producers,
				  after.consumers);
			shmring_close(obs);
		}

		/* When the first goes, a new one can attach. */
		cr_assert_eq(shmring_send(p1, "one", 3, 0), 0);
		shmring_close(p1);
		shmring *p2 = NULL;
		rc = named ? shmring_open(name, SHMRING_PRODUCER, &p2)
			   : shmring_open_fd(shmring_fd(c1), SHMRING_PRODUCER, &p2);
		cr_assert_eq(rc, 0, "%s: producer after the first closed: %d (%s)", M, rc,
			     t_err(rc));
		cr_assert_eq(shmring_send(p2, "two", 3, 0), 0);
		shmring_close(c1);
		shmring *c2 = NULL;
		rc = named ? shmring_open(name, SHMRING_CONSUMER, &c2)
			   : shmring_open_fd(shmring_fd(p2), SHMRING_CONSUMER, &c2);
		cr_assert_eq(rc, 0, "%s: consumer after the first closed: %d (%s)", M, rc,
			     t_err(rc));
		char b[16];
		ssize_t n = shmring_recv(c2, b, sizeof(b), 0);
		cr_assert(n == 3 && !memcmp(b, "one", 3), "%s: first message: %zd (%s)", M, n,
			  t_err(n));
		n = shmring_recv(c2, b, sizeof(b), 0);
		cr_assert(n == 3 && !memcmp(b, "two", 3), "%s: second message: %zd (%s)", M, n,
			  t_err(n));
		shmring_close(c2);
		shmring_close(p2);
		if (named)
			shmring_unlink(name);
	}
}

MODE_TEST(endpoints, a_dead_single_endpoint_frees_its_side, TMO)
{
	T_MODE;
	for (int side = 0; side < 2; side++) {
		int role = side ? SHMRING_CONSUMER : SHMRING_PRODUCER;
		struct shmring_config cfg = t_cfg(mode, 16384, 256);
		shmring *o = NULL;
		int rc = shmring_create_anon(&cfg, SHMRING_OBSERVER, &o);
		cr_assert_eq(rc, 0, "%s: create_anon(observer): %d (%s)", M, rc, t_err(rc));
		int ready[2];
		t_pipe(ready);
		pid_t pid = t_fork();
		if (pid == 0) {
			shmring *mine = NULL;
			int r2 = shmring_open_fd(shmring_fd(o), role, &mine);
			CHILD_CHECK(r2 == 0, r2, role);
			t_put(ready[1], 'r');
			for (;;)
				pause();
		}
		cr_assert_eq(t_get(ready[0], 5000), 'r', "%s: child did not attach", M);
		shmring *x;
		rc = try_open(o, role, &x);
		if ((side ? t_multi_cons(mode) : t_multi_prod(mode)))
			cr_assert_eq(rc, 0, "%s: role %d beside a live one: %d (%s)", M, role, rc,
				     t_err(rc));
		else
			cr_assert_eq(rc, -EBUSY, "%s: role %d while the child holds it: %d (%s)", M,
				     role, rc, t_err(rc));
		if (rc == 0)
			shmring_close(x);
		t_kill(pid);
		int64_t t0 = t_now();
		do {
			rc = try_open(o, role, &x);
			if (rc == -EBUSY)
				t_sleep_ms(5);
		} while (rc == -EBUSY && t_now() - t0 < 1 * SEC);
		cr_assert_eq(rc, 0, "%s: role %d after its holder was killed: %d (%s)", M, role, rc,
			     t_err(rc));
		struct shmring_stat st = t_stat(o);
		cr_assert_eq(side ? st.consumers : st.producers, 1, "%s: %s %u after a death", M,
			     side ? "consumers" : "producers", side ? st.consumers : st.producers);
		shmring_close(x);
		shmring_close(o);
		close(ready[0]);
		close(ready[1]);
	}
}

MODE_TEST(endpoints, multi_sides_take_64_endpoints, .timeout = 60)
{
	T_MODE;
	enum { N = SHMRING_MAX_ENDPOINTS };
	cr_assert_geq(N, 64, "SHMRING_MAX_ENDPOINTS %d < 64", N);
	struct shmring_config cfg = t_cfg(mode, 65536, 64);
	shmring *o = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_OBSERVER, &o);
	cr_assert_eq(rc, 0, "%s: create_anon(observer): %d (%s)", M, rc, t_err(rc));
	static shmring *prod[N + 1], *cons[N + 1];
	int np = t_multi_prod(mode) ? N : 1, nc = t_multi_cons(mode) ? N : 1;

	for (int i = 0; i < np; i++) {
		rc = shmring_open_fd(shmring_fd(o), SHMRING_PRODUCER, &prod[i]);
		cr_assert_eq(rc, 0, "%s: producer %d: %d (%s)", M, i, rc, t_err(rc));
	}
	for (int i = 0; i < nc; i++) {
		rc = shmring_open_fd(shmring_fd(o), SHMRING_CONSUMER, &cons[i]);
		cr_assert_eq(rc, 0, "%s: consumer %d: %d (%s)", M, i, rc, t_err(rc));
	}
	shmring *x;
	rc = try_open(o, SHMRING_PRODUCER, &x);
	cr_assert_eq(rc, t_multi_prod(mode) ? -EUSERS : -EBUSY, "%s: producer %d: %d (%s)", M,
		     np + 1, rc, t_err(rc));
	rc = try_open(o, SHMRING_CONSUMER, &x);
	cr_assert_eq(rc, t_multi_cons(mode) ? -EUSERS : -EBUSY, "%s: consumer %d: %d (%s)", M,
		     nc + 1, rc, t_err(rc));
	struct shmring_stat st = t_stat(o);
	cr_assert_eq(st.producers, (unsigned)np, "%s: producers %u vs %d", M, st.producers, np);
	cr_assert_eq(st.consumers, (unsigned)nc, "%s: consumers %u vs %d", M, st.consumers, nc);

	/* Every producer sends its number; the consumers, in turn, get each once. */
	for (int i = 0; i < np; i++) {
		unsigned char id = (unsigned char)i;
		rc = shmring_send(prod[i], &id, 1, 0);
		cr_assert_eq(rc, 0, "%s: producer %d send: %d (%s)", M, i, rc, t_err(rc));
	}
	int seen[N] = { 0 }, got = 0;
	for (int round = 0; got < np && round < 4 * N; round++)
		for (int i = 0; i < nc && got < np; i++) {
			unsigned char id;
			ssize_t n = shmring_recv(cons[i], &id, 1, 0);
			if (n == -EAGAIN)
				continue;
			cr_assert_eq(n, 1, "%s: consumer %d recv: %zd (%s)", M, i, n, t_err(n));
			cr_assert_lt(id, np);
			seen[id]++;
			got++;
		}
	cr_assert_eq(got, np, "%s: %d of %d messages", M, got, np);
	for (int i = 0; i < np; i++)
		cr_assert_eq(seen[i], 1, "%s: producer %d's message seen %d times", M, i, seen[i]);

	/* One leaves, another takes its place. */
	if (t_multi_prod(mode)) {
		shmring_close(prod[N / 2]);
		rc = shmring_open_fd(shmring_fd(o), SHMRING_PRODUCER, &prod[N / 2]);
		cr_assert_eq(rc, 0, "%s: producer after one left: %d (%s)", M, rc, t_err(rc));
	}
	if (t_multi_cons(mode)) {
		shmring_close(cons[N / 2]);
		rc = shmring_open_fd(shmring_fd(o), SHMRING_CONSUMER, &cons[N / 2]);
		cr_assert_eq(rc, 0, "%s: consumer after one left: %d (%s)", M, rc, t_err(rc));
	}
	for (int i = 0; i < np; i++)
		cr_assert_eq(shmring_close(prod[i]), 0);
	for (int i = 0; i < nc; i++)
		cr_assert_eq(shmring_close(cons[i]), 0);
	st = t_stat(o);
	cr_assert(st.producers == 0 && st.consumers == 0, "%s: %u producers, %u consumers left", M,
		  st.producers, st.consumers);
	shmring_close(o);
}

/* ---- End of file and broken pipe ----------------------------------------------- */

MODE_TEST(endpoints, consumer_gets_epipe_after_the_last_producer_closes, TMO)
{
	T_MODE;
	shmring *p, *c, *p2 = NULL;
	t_pair(mode, 16384, 256, &p, &c);
	if (t_multi_prod(mode))
		cr_assert_eq(shmring_open_fd(shmring_fd(p), SHMRING_PRODUCER, &p2), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(shmring_send(p, &i, sizeof(i), 0), 0);
	shmring_close(p);
	char b[256];
	/* Messages sent before the close still arrive. */
	for (int i = 0; i < 3; i++) {
		ssize_t n = shmring_recv(c, b, sizeof(b), 0);
		cr_assert_eq(n, (ssize_t)sizeof(int), "%s: message %d after close: %zd (%s)", M, i,
			     n, t_err(n));
		cr_assert_eq(*(int *)b, i);
	}
	if (p2) {
		/* One producer is left: no end of file yet. */
		ssize_t n = shmring_recv(c, b, sizeof(b), 0);
		cr_assert_eq(n, -EAGAIN, "%s: recv with one producer left: %zd (%s)", M, n,
			     t_err(n));
		cr_assert_eq(shmring_send(p2, "x", 1, 0), 0);
		shmring_close(p2);
		n = shmring_recv(c, b, sizeof(b), 0);
		cr_assert_eq(n, 1, "%s: the last producer's message: %zd (%s)", M, n, t_err(n));
	}
	ssize_t n = shmring_recv(c, b, sizeof(b), 0);
	cr_assert_eq(n, -EPIPE, "%s: recv(0) after the drain: %zd (%s)", M, n, t_err(n));
	int64_t t0 = t_now();
	n = shmring_recv(c, b, sizeof(b), -1);
	cr_assert_eq(n, -EPIPE, "%s: recv(-1) at end of file: %zd (%s)", M, n, t_err(n));
	n = shmring_recv(c, b, sizeof(b), 5 * SEC);
	cr_assert_eq(n, -EPIPE, "%s: recv(5 s) at end of file: %zd (%s)", M, n, t_err(n));
	cr_assert_lt(t_now() - t0, SEC, "%s: end of file was not reported at once", M);
	const void *m;
	size_t len;
	int rc = shmring_peek(c, &m, &len, -1);
	cr_assert_eq(rc, -EPIPE, "%s: peek at end of file: %d (%s)", M, rc, t_err(rc));
	struct iovec v = { b, sizeof(b) };
	rc = shmring_recvv(c, &v, 1, -1);
	cr_assert_eq(rc, -EPIPE, "%s: recvv at end of file: %d (%s)", M, rc, t_err(rc));
	struct shmring_stat st = t_stat(c);
	cr_assert_eq(st.producers, 0, "%s: producers %u", M, st.producers);

	/* A new producer ends the end of file. */
	rc = shmring_open_fd(shmring_fd(c), SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "%s: producer after end of file: %d (%s)", M, rc, t_err(rc));
	n = shmring_recv(c, b, sizeof(b), 0);
	cr_assert_eq(n, -EAGAIN, "%s: recv with a new producer attached: %zd (%s)", M, n, t_err(n));
	cr_assert_eq(shmring_send(p, "again", 5, 0), 0);
	n = shmring_recv(c, b, sizeof(b), 0);
	cr_assert_eq(n, 5, "%s: message from the new producer: %zd (%s)", M, n, t_err(n));
	shmring_close(p);
	shmring_close(c);
}

MODE_TEST(endpoints, producer_gets_epipe_after_the_last_consumer_closes, TMO)
{
	T_MODE;
	shmring *p, *c, *c2 = NULL;
	t_pair(mode, 4096, 256, &p, &c);
	if (t_multi_cons(mode))
		cr_assert_eq(shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c2), 0);
	shmring_close(c);
	int rc;
	if (c2) {
		rc = shmring_send(p, "x", 1, 0);
		cr_assert_eq(rc, 0, "%s: send with one consumer left: %d (%s)", M, rc, t_err(rc));
		shmring_close(c2);
	}
	char b[256] = { 0 };
	rc = shmring_send(p, b, 10, 0);
	cr_assert_eq(rc, -EPIPE, "%s: send(0) with no consumer: %d (%s)", M, rc, t_err(rc));
	int64_t t0 = t_now();
	rc = shmring_send(p, b, 10, -1);
	cr_assert_eq(rc, -EPIPE, "%s: send(-1) with no consumer: %d (%s)", M, rc, t_err(rc));
	void *buf = (void *)0x1;
	rc = shmring_claim(p, 10, &buf, -1);
	cr_assert_eq(rc, -EPIPE, "%s: claim with no consumer: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(buf, (void *)0x1);
	struct iovec v = { b, 10 };
	rc = shmring_sendv(p, &v, 1, -1);
	cr_assert_eq(rc, -EPIPE, "%s: sendv with no consumer: %d (%s)", M, rc, t_err(rc));
	cr_assert_lt(t_now() - t0, SEC, "%s: broken pipe not reported at once", M);

	/* A full ring whose consumer leaves: a blocked send ends too (same process,
	 * so only the non-blocking view is checked here; see the wake tests). */
	shmring_close(p);
	t_pair(mode, 4096, 256, &p, &c);
	while (shmring_send(p, b, 256, 0) == 0) {
	}
	shmring_close(c);
	rc = shmring_send(p, b, 256, 0);
	cr_assert_eq(rc, -EPIPE, "%s: send on a full ring with no consumer: %d (%s)", M, rc,
		     t_err(rc));
	shmring_close(p);
}

MODE_TEST(endpoints, a_ring_nobody_attached_to_yet_is_just_empty_or_full, TMO)
{
	T_MODE;
	struct shmring_config cfg = t_cfg(mode, 4096, 256);
	shmring *c = NULL, *p = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0);
	char b[256] = { 0 };
	ssize_t n = shmring_recv(c, b, sizeof(b), 0);
	cr_assert_eq(n, -EAGAIN, "%s: recv before any producer attached: %zd (%s)", M, n, t_err(n));
	n = shmring_recv(c, b, sizeof(b), 100 * MS);
	cr_assert_eq(n, -ETIMEDOUT, "%s: recv(100 ms) before any producer: %zd (%s)", M, n,
		     t_err(n));
	rc = shmring_open_fd(shmring_fd(c), SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0);
	cr_assert_eq(shmring_send(p, "late", 4, 0), 0);
	n = shmring_recv(c, b, sizeof(b), 0);
	cr_assert_eq(n, 4, "%s: %zd (%s)", M, n, t_err(n));
	shmring_close(p);
	shmring_close(c);

	rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0);
	int k = 0;
	while ((rc = shmring_send(p, b, 256, 0)) == 0)
		k++;
	cr_assert_eq(rc, -EAGAIN, "%s: send on a full ring no consumer attached to: %d (%s)", M, rc,
		     t_err(rc));
	rc = shmring_send(p, b, 256, 100 * MS);
	cr_assert_eq(rc, -ETIMEDOUT, "%s: send(100 ms) with no consumer yet: %d (%s)", M, rc,
		     t_err(rc));
	rc = shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0);
	for (int i = 0; i < k; i++)
		cr_assert_eq(shmring_recv(c, b, sizeof(b), 0), 256);
	shmring_close(c);
	shmring_close(p);
}

/* ---- Fork inheritance -------------------------------------------------------------- */

/* The child keeps the producer role it inherited; the parent gives up its share
 * right after fork(). The consumer sees no end of file until the child lets go,
 * by close, by exit, or by death. */
MODE_TEST(endpoints, a_forked_child_holds_the_inherited_producer_role, TMO)
{
	T_MODE;
	static const char *how[] = { "close", "exit", "SIGKILL" };
	for (int variant = 0; variant < 3; variant++) {
		shmring *p, *c;
		t_pair(mode, 16384, 256, &p, &c);
		int go[2], sent[2];
		t_pipe(go);
		t_pipe(sent);
		pid_t pid = t_fork();
		if (pid == 0) {
			shmring_close(c);
			if (t_get(go[0], 10000) != 'g')
				_exit(2);
			int r2 = shmring_send(p, "from the child", 14, 0);
			CHILD_CHECK(r2 == 0, r2, 0);
			if (variant == 0) {
				shmring_close(p);
				t_put(sent[1], 's');
				t_sleep_ms(5000); /* alive: the close must be what counts */
				_exit(0);
			}
			t_put(sent[1], 's');
			if (variant == 1)
				_exit(0); /* no close: exit gives the role up */
			for (;;)
				pause();
		}
		shmring_close(p); /* at once: the child must already hold the role */
		char b[64];
		ssize_t n = shmring_recv(c, b, sizeof(b), 0);
		cr_assert_eq(n, -EAGAIN, "%s/%s: recv while the child holds the producer: %zd (%s)",
			     M, how[variant], n, t_err(n));
		n = shmring_recv(c, b, sizeof(b), 300 * MS);
		cr_assert_eq(n, -ETIMEDOUT,
			     "%s/%s: recv(300 ms) while the child holds it: %zd (%s)", M,
			     how[variant], n, t_err(n));
		struct shmring_stat st = t_stat(c);
		cr_assert_eq(st.producers, 1, "%s/%s: producers %u while the child holds the role",
			     M, how[variant], st.producers);
		t_put(go[1], 'g');
		n = shmring_recv(c, b, sizeof(b), 5 * SEC);
		cr_assert_eq(n, 14, "%s/%s: the child's message: %zd (%s)", M, how[variant], n,
			     t_err(n));
		cr_assert_eq(t_get(sent[0], 5000), 's');
		int64_t t0 = t_now();
		if (variant == 2)
			kill(pid, SIGKILL);
		n = shmring_recv(c, b, sizeof(b), 5 * SEC);
		int64_t dt = t_now() - t0;
		cr_assert_eq(n, -EPIPE, "%s/%s: recv after the child let go: %zd (%s)", M,
			     how[variant], n, t_err(n));
		cr_assert_lt(dt, variant == 0 ? SEC / 2 : SEC, "%s/%s: end of file after %.3f s", M,
			     how[variant], dt / 1e9);
		t_kill(pid);
		shmring_close(c);
		close(go[0]);
		close(go[1]);
		close(sent[0]);
		close(sent[1]);
	}
}

MODE_TEST(endpoints, a_forked_child_holds_the_inherited_consumer_role, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 4096, 256, &p, &c);
	int go[2];
	t_pipe(go);
	pid_t pid = t_fork();
	if (pid == 0) {
		shmring_close(p);
		if (t_get(go[0], 10000) != 'g')
			_exit(2);
		shmring_close(c);
		t_sleep_ms(5000);
		_exit(0);
	}
	shmring_close(c);
	char b[256] = { 0 };
	int rc;
	while ((rc = shmring_send(p, b, 256, 0)) == 0) {
	}
	cr_assert_eq(rc, -EAGAIN, "%s: send while the child holds the consumer: %d (%s)", M, rc,
		     t_err(rc));
	rc = shmring_send(p, b, 256, 300 * MS);
	cr_assert_eq(rc, -ETIMEDOUT, "%s: send(300 ms) while the child holds it: %d (%s)", M, rc,
		     t_err(rc));
	t_put(go[1], 'g');
	rc = shmring_send(p, b, 256, 5 * SEC);
	cr_assert_eq(rc, -EPIPE, "%s: send after the child closed: %d (%s)", M, rc, t_err(rc));
	t_kill(pid);
	shmring_close(p);
}

/* ---- Sleepers wake when the other side goes --------------------------------------- */

struct wake {
	int64_t t_event, t_end;
	long rc;
};

/*
 * A sleeper child blocks (timeout -1, spin `spin`) on one side of the ring: a
 * consumer on an empty ring, or a producer on a full one. A peer child holds
 * the other side; the parent holds nothing. Then the peer closes (the sleeper
 * must wake within `bound` (generous: the contract says 100 ms, a shared 2-core box can be slow to schedule)) or the parent SIGKILLs it.
 */
static void wake_case(enum shmring_mode mode, int sleeper_consumes, int kill_peer, int64_t spin,
		      int64_t bound)
{
	const char *M = t_mode(mode);
	const char *what = sleeper_consumes ? "consumer on an empty ring"
					    : "producer on a full ring";
	shmring *p, *c;
	t_pair(mode, 4096, 512, &p, &c);
	char b[512] = { 0 };
	if (!sleeper_consumes)
		while (shmring_send(p, b, 512, 0) == 0) {
		}
	struct wake *w = t_shared(4096);
	w->rc = 1;
	int ready[2], go[2];
	t_pipe(ready);
	t_pipe(go);

	pid_t sleeper = t_fork();
	if (sleeper == 0) {
		shmring *mine = sleeper_consumes ? c : p;
		shmring_close(sleeper_consumes ? p : c);
		int r2 = shmring_set_spin(mine, spin);
		CHILD_CHECK(r2 == 0, r2, spin);
		t_put(ready[1], 'r');
		long rc = sleeper_consumes ? (long)shmring_recv(mine, b, sizeof(b), -1)
					   : (long)shmring_send(mine, b, sizeof(b), -1);
		w->t_end = t_now();
		w->rc = rc;
		_exit(0);
	}
	pid_t peer = t_fork();
	if (peer == 0) {
		shmring *mine = sleeper_consumes ? p : c;
		shmring_close(sleeper_consumes ? c : p);
		t_put(ready[1], 'q');
		if (kill_peer)
			for (;;)
				pause();
		if (t_get(go[0], 10000) != 'g')
			_exit(2);
		w->t_event = t_now();
		shmring_close(mine);
		t_sleep_ms(5000); /* alive: the close, not the exit, must wake the sleeper */
		_exit(0);
	}
	shmring_close(p);
	shmring_close(c);
	int r1 = t_get(ready[0], 5000), r2 = t_get(ready[0], 5000);
	cr_assert(r1 >= 0 && r2 >= 0, "%s: children did not start", M);
	t_sleep_ms(200); /* let the sleeper go to sleep (or spin) */
	cr_assert_eq(w->rc, 1, "%s: %s did not block: %ld (%s)", M, what, w->rc, t_err(w->rc));
	if (kill_peer) {
		w->t_event = t_now();
		kill(peer, SIGKILL);
	} else {
		t_put(go[1], 'g');
	}
	int st = 0;
	int done = t_reap(sleeper, 5, &st);
	t_kill(peer);
	cr_assert(done, "%s: %s (spin %lld) never woke after its peer %s", M, what, (long long)spin,
		  kill_peer ? "was killed" : "closed");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: sleeper failed: status %#x", M, st);
	cr_assert_eq(w->rc, -EPIPE, "%s: %s (spin %lld) woke with %ld (%s)", M, what,
		     (long long)spin, w->rc, t_err(w->rc));
	int64_t dt = w->t_end - w->t_event;
	cr_assert_lt(dt, bound, "%s: %s (spin %lld) woke %.3f s after its peer %s (bound %.3f s)",
		     M, what, (long long)spin, dt / 1e9, kill_peer ? "was killed" : "closed",
		     bound / 1e9);
	munmap(w, 4096);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static const int64_t spins[] = { SHMRING_DEFAULT_SPIN_NS, 0, -1 };

MODE_TEST(endpoints, a_sleeping_consumer_wakes_when_the_last_producer_closes, TMO)
{
	T_MODE;
	for (int i = 0; i < 3; i++)
		wake_case(mode, 1, 0, spins[i], 3 * SEC);
}

MODE_TEST(endpoints, a_sleeping_consumer_wakes_when_the_last_producer_is_killed, TMO)
{
	T_MODE;
	for (int i = 0; i < 3; i++)
		wake_case(mode, 1, 1, spins[i], 5 * SEC);
}

MODE_TEST(endpoints, a_blocked_producer_wakes_when_the_last_consumer_closes, TMO)
{
	T_MODE;
	for (int i = 0; i < 3; i++)
		wake_case(mode, 0, 0, spins[i], 3 * SEC);
}

MODE_TEST(endpoints, a_blocked_producer_wakes_when_the_last_consumer_is_killed, TMO)
{
	T_MODE;
	for (int i = 0; i < 3; i++)
		wake_case(mode, 0, 1, spins[i], 5 * SEC);
}

/*
 * A waiter killed in its sleep must not leave every later message paying a
 * FUTEX_WAKE that wakes nobody (the contract: no system call while both
 * sides keep up). The child sleeps as a consumer through the handle it
 * inherited: on a multi-consumer side it takes an endpoint of its own, which
 * dies with it; on a single side it shares the parent's endpoint, which
 * stays alive (the parent holds it), so only the wakers' own look at empty
 * wakeups can clear its announcement. Either way, a thousand messages that
 * the parent sends and receives itself cost at most a bounded number of
 * wakeups (SR_EMPTY_WAKES_REAP in src/internal.h: 64), not one each.
 */
MODE_TEST(endpoints, a_waiter_killed_asleep_leaves_no_futex_wakes_behind, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 4096, 64, &p, &c);
	pid_t kid = t_fork();
	if (kid == 0) {
		char b[64];
		shmring_set_spin(c, 0);
		long rc = shmring_recv(c, b, sizeof(b), -1);
		CHILD_CHECKF(0, rc, 0, "recv returned instead of sleeping");
	}
	struct shmring_stat st;
	int64_t until = t_now() + 5 * SEC;
	do {
		t_sleep_ms(2);
		st = t_stat(p);
	} while (st.sleepers == 0 && t_now() < until);
	cr_assert_eq(st.sleepers, 1, "%s: the child never slept", M);
	kill(kid, SIGKILL);
	int status;
	cr_assert(t_reap(kid, 5, &status), "%s: child not reaped", M);
	if (t_multi_cons(mode))
		cr_assert_eq(t_stat(p).sleepers, 0, "%s: a dead endpoint's sleeper still counted", M);

	uint64_t w0 = t_stat(p).wakeups;
	char b[64] = { 0 }, in[64];
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(shmring_send(p, b, sizeof(b), 0), 0, "%s: send %d", M, i);
		cr_assert_eq(shmring_recv(c, in, sizeof(in), 0), (ssize_t)sizeof(b), "%s: recv %d", M, i);
	}
	st = t_stat(p);
	cr_assert_leq(st.wakeups - w0, 65, "%s: %llu futex wakes for 1000 messages with nobody asleep",
		      M, (unsigned long long)(st.wakeups - w0));
	cr_assert_eq(st.sleepers, 0, "%s: %u sleepers counted after the wakers' look", M, st.sleepers);

	/* and waiting still works: a fresh sleeper is woken by the next message */
	kid = t_fork();
	if (kid == 0) {
		shmring_set_spin(c, 0);
		ssize_t n = shmring_recv(c, in, sizeof(in), 2 * SEC);
		CHILD_CHECK(n == (ssize_t)sizeof(b), n, 0);
		_exit(0);
	}
	until = t_now() + 5 * SEC;
	do
		t_sleep_ms(2);
	while (t_stat(p).sleepers == 0 && t_now() < until);
	cr_assert_eq(shmring_send(p, b, sizeof(b), 0), 0, "%s: send", M);
	t_reap_ok(kid, 5, "the fresh sleeper");
	shmring_close(p);
	shmring_close(c);
}

/*
 * Arming (src/wait.c): while no endpoint of a side has ever waited on its
 * line, the other side's wakers skip the handshake (no fence). The line's
 * `armed` mask must read zero while nobody waits, get the waiter's bit
 * before its first sleep (and the sleeper is still woken), and lose it when
 * the endpoint changes hands. A process without membarrier arms every bit at
 * attach (the *-no-membarrier ctest variants), and then only the wakeup is
 * checked.
 */
MODE_TEST(endpoints, a_side_that_never_waits_leaves_the_line_unarmed, TMO)
{
	T_MODE;
	const char *nomb = getenv("SHMRING_NO_MEMBARRIER");
	bool registered = !(nomb && *nomb && strcmp(nomb, "0"));
	shmring *p, *c;
	t_pair(mode, 4096, 64, &p, &c);
	struct stat sb;
	cr_assert_eq(fstat(shmring_fd(p), &sb), 0);
	struct sr_header *h =
		mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, shmring_fd(p), 0);
	cr_assert_neq(h, MAP_FAILED);
	shmring_set_spin(c, -1);
	char b[64] = { 0 }, in[64];
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(shmring_send(p, b, sizeof(b), 0), 0, "%s: send %d", M, i);
		cr_assert_eq(shmring_recv(c, in, sizeof(in), SEC), (ssize_t)sizeof(b),
			     "%s: recv %d", M, i);
	}
	if (registered) {
		cr_assert_eq(atomic_load(&h->dwait.armed), 0, "%s: data line armed, nobody waited",
			     M);
		cr_assert_eq(atomic_load(&h->rwait.armed), 0, "%s: room line armed, nobody waited",
			     M);
	}
	/* A forked sharer of the consumer sleeps: armed first, then woken. */
	pid_t kid = t_fork();
	if (kid == 0) {
		shmring_set_spin(c, 0);
		ssize_t n = shmring_recv(c, in, sizeof(in), 5 * SEC);
		CHILD_CHECK(n == (ssize_t)sizeof(b), n, 0);
		_exit(0);
	}
	int64_t until = t_now() + 5 * SEC;
	while (t_stat(p).sleepers == 0 && t_now() < until)
		t_sleep_ms(1);
	cr_assert_eq(t_stat(p).sleepers, 1, "%s: the child never slept", M);
	uint64_t armed = atomic_load(&h->dwait.armed);
	cr_assert_neq(armed, 0, "%s: a consumer sleeps, yet the data line is not armed", M);
	cr_assert_eq(shmring_send(p, b, sizeof(b), 0), 0, "%s: send to the sleeper", M);
	t_reap_ok(kid, 5, "the sleeper");
	/* The endpoint changes hands: its bit goes. (On a multi-consumer
	 * ring the child slept as an endpoint of its own: another bit.) */
	shmring_close(c);
	cr_assert_eq(shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c), 0);
	if (registered && !t_multi_cons(mode))
		cr_assert_eq(atomic_load(&h->dwait.armed), 0,
			     "%s: armed %#llx after the endpoint changed hands (was %#llx)", M,
			     (unsigned long long)atomic_load(&h->dwait.armed),
			     (unsigned long long)armed);
	munmap(h, (size_t)sb.st_size);
	shmring_close(p);
	shmring_close(c);
}

struct disarm_arg {
	shmring *c;
	int n;
	int err;
	int disarmed; /* receives after which the handle had cleared its bit */
};

static void *disarm_consumer(void *p)
{
	struct disarm_arg *a = p;
	shmring_set_spin(a->c, 3 * 1000 * 1000); /* 3 ms, then sleep */
	for (int i = 0; i < a->n && !a->err; i++) {
		int v = -1;
		ssize_t n = shmring_recv(a->c, &v, sizeof(v), 5 * SEC);
		if (n != (ssize_t)sizeof(v) || v != i)
			a->err = n < 0 ? (int)n : -EPROTO;
		a->disarmed += !a->c->armed[SR_DATA];
	}
	return NULL;
}

/* A waiter that stays awake for a while clears its bit again (wait.c,
 * "disarming"), so that the other side's sends stop paying the fence, and
 * arms again before it next sleeps. Bursts (a message every 0.2 ms, the
 * consumer spinning and, past 2 ms awake, disarmed) alternate with pauses of
 * 6 ms (it spins 3 ms, arms, sleeps): every message after a pause must wake
 * it, none be found only when a liveness slice runs out. */
MODE_TEST(endpoints, a_waiter_awake_for_a_while_disarms_and_is_still_woken, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 4096, 64, &p, &c);
	struct disarm_arg a = { .c = c, .n = 120 };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, disarm_consumer, &a), 0);
	for (int i = 0; i < a.n; i++) {
		struct timespec gap = { 0, i % 20 == 0 ? 6 * 1000 * 1000 : 200 * 1000 };
		nanosleep(&gap, NULL);
		cr_assert_eq(shmring_send(p, &i, sizeof(i), 5 * SEC), 0, "%s: send %d", M, i);
	}
	pthread_join(th, NULL);
	cr_assert_eq(a.err, 0, "%s: consumer: %d (%s)", M, a.err, t_err(a.err));
	cr_assert_eq(c->slice_finds[SR_DATA], 0,
		     "%s: %u messages found when a slice ran out: a wakeup was lost", M,
		     c->slice_finds[SR_DATA]);
	if (__atomic_load_n(&shmring__light, __ATOMIC_RELAXED) > 0 &&
	    !atomic_load(&c->h->totals.full_fences))
		cr_assert_gt(a.disarmed, 0, "%s: the consumer never disarmed", M);
	shmring_close(c);
	shmring_close(p);
}

struct late_send {
	shmring *p;
	int v;
	int rc;
};

static void *send_in_3ms(void *arg)
{
	struct late_send *a = arg;
	t_sleep_ms(3);
	a->rc = shmring_send(a->p, &a->v, sizeof(a->v), 5 * SEC);
	return NULL;
}

/* Consumer c sleeps once (it arms), then catches message v, which p sends
 * 3 ms later, while spinning: awake past SR_DISARM_NS, it tries to disarm. */
static void sleep_then_catch(shmring *p, shmring *c, int v)
{
	int got = -1;
	shmring_set_spin(c, 0);
	cr_assert_eq(shmring_recv(c, &got, sizeof(got), MS), -ETIMEDOUT, "%d: the sleep", v);
	shmring_set_spin(c, -1);
	struct late_send ls = { .p = p, .v = v };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, send_in_3ms, &ls), 0);
	ssize_t n = shmring_recv(c, &got, sizeof(got), 5 * SEC);
	pthread_join(th, NULL);
	cr_assert_eq(ls.rc, 0, "%d: send: %d", v, ls.rc);
	cr_assert_eq(n, (ssize_t)sizeof(got), "%d: recv: %zd", v, n);
	cr_assert_eq(got, v);
}

/*
 * After a fork the parent and the child hold the same consumer endpoint, as
 * the ends of shmring_pipe are held. The parent's copy, awake for a while,
 * gives the armed bit back (wait.c, disarm), so that sends stop fencing;
 * the child's copy, which believes itself armed since before the fork, must
 * still be woken when it sleeps: it looks at the bit itself and arms again
 * (evc_arm). Each round: the parent sleeps once (arms), catches a message
 * while spinning 3 ms later (disarms: the test reads the bit in the
 * segment), then the child sleeps and the parent sends to it. A lost wakeup
 * shows as a message the child found only when a liveness slice ran out
 * (slice_finds), whatever the load on the machine.
 */
Test(endpoints, a_forked_holder_that_disarms_leaves_its_twin_wakeable, TMO)
{
	enum { ROUNDS = 20 };
	shmring *p, *c;
	t_pair(SHMRING_SPSC, 4096, 64, &p, &c);
	struct sr_header *h = p->h; /* the segment, as every process sees it */
	int v = -1, go[2], back[2];
	shmring_set_spin(c, 0);
	cr_assert_eq(shmring_recv(c, &v, sizeof(v), MS), -ETIMEDOUT, "the first sleep");
	cr_assert(c->armed[SR_DATA], "the consumer slept, yet its handle is not armed");
	bool can_disarm = __atomic_load_n(&shmring__light, __ATOMIC_RELAXED) > 0 &&
			  !atomic_load(&h->totals.full_fences);
	t_pipe(go);
	t_pipe(back);
	pid_t kid = t_fork();
	if (kid == 0) {
		shmring_set_spin(c, 0);
		for (int i = 0; i < ROUNDS; i++) {
			CHILD_CHECK(t_get(go[0], 10000) == 's', i, 0);
			ssize_t n = shmring_recv(c, &v, sizeof(v), 5 * SEC);
			CHILD_CHECK(n == (ssize_t)sizeof(v) && v == 1000 + i, n, v);
			t_put(back[1], c->slice_finds[SR_DATA] ? 'L' : 'k');
		}
		_exit(0);
	}
	int disarmed = 0;
	for (int i = 0; i < ROUNDS; i++) {
		/* On a loaded machine the message may be there before the
		 * receive starts (no spin, no disarm): then again. */
		for (int k = 0; k < 20; k++) {
			sleep_then_catch(p, c, i);
			if (!can_disarm || !atomic_load(&h->dwait.armed))
				break;
		}
		disarmed += atomic_load(&h->dwait.armed) == 0;
		t_put(go[1], 's');
		int64_t until = t_now() + 5 * SEC;
		while (t_stat(p).sleepers == 0 && t_now() < until)
			usleep(20);
		cr_assert_eq(t_stat(p).sleepers, 1, "round %d: the child never slept", i);
		cr_assert_eq(shmring_send(p, &(int){ 1000 + i }, sizeof(int), 5 * SEC), 0);
		int r = t_get(back[0], 10000);
		if (r != 'k' && r != 'L')
			t_reap_ok(kid, 10, "the twin"); /* with its report */
		cr_assert_eq(r, 'k', "round %d: %s", i,
			     r == 'L' ? "the child was not woken: it found the message when "
					"a liveness slice ran out" :
					"the child did not answer");
	}
	t_reap_ok(kid, 10, "the twin");
	if (can_disarm)
		cr_assert_eq(disarmed, ROUNDS,
			     "the parent's copy gave the bit back in %d of %d rounds", disarmed,
			     ROUNDS);
	for (int k = 0; k < 2; k++) {
		close(go[k]);
		close(back[k]);
	}
	shmring_close(p);
	shmring_close(c);
}

/*
 * The same twins, the child's copy now waiting in poll(2) on its pollfd (it
 * announces no sleep then: it has published its pid on the endpoint). The
 * parent's copy, awake for a while, must keep the bit: without it the
 * parent's sends would skip the handshake and never signal the pollfd.
 */
Test(endpoints, a_forked_holder_keeps_the_bit_while_its_twin_polls, TMO)
{
	enum { ROUNDS = 10 };
	shmring *p, *c;
	t_pair(SHMRING_SPSC, 4096, 64, &p, &c);
	int v = -1, go[2], back[2];
	t_pipe(go);
	t_pipe(back);
	pid_t kid = t_fork();
	if (kid == 0) {
		int fd = shmring_pollfd(c);
		CHILD_CHECK(fd >= 0, fd, 0);
		t_put(back[1], 'p');
		for (int i = 0; i < ROUNDS; i++) {
			CHILD_CHECK(t_get(go[0], 10000) == 's', i, 0);
			/* The parent's sends to itself signal us too (one
			 * endpoint): a readable pollfd may find nothing. */
			ssize_t n = -EAGAIN;
			for (int64_t until = t_now() + 5 * SEC; n == -EAGAIN && t_now() < until;) {
				struct pollfd pf = { .fd = fd, .events = POLLIN };
				if (poll(&pf, 1, 100) == 1)
					n = shmring_recv(c, &v, sizeof(v), 0);
			}
			CHILD_CHECKF(n != -EAGAIN, i, 0,
				     "round %lld: the pollfd was not signalled in 5 s", (long long)i);
			CHILD_CHECK(n == (ssize_t)sizeof(v) && v == 1000 + i, n, v);
			n = shmring_recv(c, &v, sizeof(v), 0); /* -EAGAIN: armed again */
			CHILD_CHECK(n == -EAGAIN, n, i);
			t_put(back[1], 'k');
		}
		_exit(0);
	}
	cr_assert_eq(t_get(back[0], 10000), 'p', "the child made no pollfd");
	for (int i = 0; i < ROUNDS; i++) {
		sleep_then_catch(p, c, i);
		cr_assert_neq(atomic_load(&c->h->dwait.armed), 0,
			      "round %d: the bit was given back while the twin polls", i);
		t_put(go[1], 's');
		cr_assert_eq(shmring_send(p, &(int){ 1000 + i }, sizeof(int), 5 * SEC), 0);
		if (t_get(back[0], 10000) != 'k') {
			t_reap_ok(kid, 10, "the polling twin"); /* with its report */
			cr_assert_fail("round %d: the twin did not answer", i);
		}
	}
	t_reap_ok(kid, 10, "the polling twin");
	for (int k = 0; k < 2; k++) {
		close(go[k]);
		close(back[k]);
	}
	shmring_close(p);
	shmring_close(c);
}

/*
 * Twins at work at once: four forked writers share the write end of one
 * stream, as they would a pipe's, and spin 0.5 ms before they sleep for
 * room, while the reader alternates stretches of 5 ms with pauses of 1-4
 * ms. Copies of the handle disarm while others sleep, or arrive to sleep,
 * on the same bit (evc_disarm, evc_arm): every write must arrive whole, and
 * no writer may find its room only when a liveness slice ran out.
 */
Test(endpoints, twin_writers_disarm_and_sleep_on_one_stream_end, .timeout = 180)
{
	enum { W = 4, WRITES = 30000 };
	shmring *ends[2];
	struct shmring_config cfg = { .capacity = 4096 };
	cr_assert_eq(shmring_pipe(ends, &cfg), 0);
	struct twins {
		int disarms[W], slice_finds[W];
	} *sh = t_shared(sizeof(*sh));
	bool can_disarm = __atomic_load_n(&shmring__light, __ATOMIC_RELAXED) > 0 &&
			  !atomic_load(&ends[1]->h->totals.full_fences);
	shmring_set_spin(ends[1], 500 * 1000);
	pid_t kid[W];
	for (int w = 0; w < W; w++) {
		kid[w] = t_fork();
		if (kid[w] != 0)
			continue;
		shmring_close(ends[0]);
		shmring *e = ends[1];
		static char blk[512];
		bool was = e->armed[SR_ROOM];
		for (int i = 0; i < WRITES; i++) {
			size_t n = 8 + (size_t)((i * 977 + w * 131) % 500);
			blk[0] = (char)(n & 0xff);
			blk[1] = (char)(n >> 8);
			memset(blk + 2, 'A' + w, n - 2);
			ssize_t k = shmring_write(e, blk, n, 10 * SEC);
			CHILD_CHECK(k == (ssize_t)n, k, i);
			sh->disarms[w] += was && !e->armed[SR_ROOM];
			was = e->armed[SR_ROOM];
		}
		sh->slice_finds[w] = (int)e->slice_finds[SR_ROOM];
		shmring_close(e);
		_exit(0);
	}
	shmring_close(ends[1]);
	static uint8_t buf[1 << 16];
	size_t have = 0, records = 0, per[W] = { 0 };
	uint64_t rs = 12345;
	int64_t stretch = t_now();
	for (;;) {
		if (t_now() - stretch > 5 * MS) {
			rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
			t_sleep_ms(1 + (int)(rs >> 33) % 4);
			stretch = t_now();
		}
		ssize_t k = shmring_read(ends[0], buf + have, 1000, 10 * SEC);
		cr_assert_geq(k, 0, "read: %zd (%s)", k, t_err((int)k));
		if (k == 0)
			break;
		have += (size_t)k;
		size_t at = 0;
		while (have - at >= 2) {
			size_t n = buf[at] | (size_t)buf[at + 1] << 8;
			cr_assert(n >= 8 && n < 512, "record %zu: bad length %zu", records, n);
			if (have - at < n)
				break;
			int w = buf[at + 2] - 'A';
			cr_assert(w >= 0 && w < W, "record %zu: writer %d", records, w);
			for (size_t i = 3; i < n; i++)
				cr_assert_eq(buf[at + i], buf[at + 2], "record %zu cut or interleaved",
					     records);
			per[w]++;
			at += n;
			records++;
		}
		memmove(buf, buf + at, have - at);
		have -= at;
	}
	cr_assert_eq(have, 0, "%zu stray bytes", have);
	int disarms = 0;
	for (int w = 0; w < W; w++) {
		t_reap_ok(kid[w], 10, "a writer");
		cr_assert_eq(per[w], WRITES, "writer %d: %zu writes arrived", w, per[w]);
		cr_assert_eq(sh->slice_finds[w], 0,
			     "writer %d found room %d times only when a liveness slice ran out: "
			     "wakeups were lost",
			     w, sh->slice_finds[w]);
		disarms += sh->disarms[w];
	}
	if (can_disarm)
		cr_assert_gt(disarms, 0, "no writer ever disarmed: the test did not test");
	cr_log_info("%zu writes, %d disarms", records, disarms);
	shmring_close(ends[0]);
}

/* Every fcntl(2) of this test process, the library's lock probes among
 * them, counted on the way to the system call. */
static atomic_long t_fcntl_calls;

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	atomic_fetch_add(&t_fcntl_calls, 1);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

struct echo_arg {
	shmring *in, *out;
	int n;
	int err;
};

static void *echo_main(void *p)
{
	struct echo_arg *a = p;
	char b[64];
	for (int i = 0; i < a->n && !a->err; i++) {
		ssize_t n = shmring_recv(a->in, b, sizeof(b), 5 * SEC);
		if (n != (ssize_t)sizeof(b) || shmring_send(a->out, b, sizeof(b), 5 * SEC) < 0)
			a->err = n < 0 ? (int)n : -EPROTO;
	}
	return NULL;
}

/* Both sides sleep (spin 0) for every message of a ping-pong: the peers are
 * looked at (two lock probes) once per liveness slice and after a close, not
 * at every wakeup, which bumps the wait epoch (it cost two system calls per
 * message before). */
MODE_TEST(endpoints, a_sleeping_ring_probes_its_peers_per_slice_not_per_message, TMO)
{
	T_MODE;
	enum { ROUNDS = 2000 };
	shmring *p[2], *c[2];
	t_pair(mode, 4096, 64, &p[0], &c[0]);
	t_pair(mode, 4096, 64, &p[1], &c[1]);
	for (int i = 0; i < 2; i++) {
		shmring_set_spin(p[i], 0);
		shmring_set_spin(c[i], 0);
	}
	struct echo_arg ea = { c[0], p[1], ROUNDS, 0 };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, echo_main, &ea), 0);
	char b[64] = { 0 };
	long before = atomic_load(&t_fcntl_calls);
	int64_t t0 = t_now();
	int i;
	for (i = 0; i < ROUNDS; i++) {
		if (shmring_send(p[0], b, sizeof(b), 5 * SEC) < 0 ||
		    shmring_recv(c[1], b, sizeof(b), 5 * SEC) != (ssize_t)sizeof(b))
			break;
	}
	long probes = atomic_load(&t_fcntl_calls) - before;
	int64_t elapsed = t_now() - t0;
	pthread_join(th, NULL);
	cr_assert_eq(i, ROUNDS, "%s: the ping-pong stopped at round %d (echo: %d)", M, i, ea.err);
	struct shmring_stat st = t_stat(c[0]);
	/* four waiters, two probes each per 50 ms slice, and a margin */
	long allowed = 8 * (elapsed / (50 * MS) + 1) + 16;
	cr_assert_leq(probes, allowed,
		      "%s: %ld fcntl calls in %d round trips (%lld ms, %llu wakeups): "
		      "a lock probe per message",
		      M, probes, ROUNDS, (long long)(elapsed / MS), (unsigned long long)st.wakeups);
	for (int k = 0; k < 2; k++) {
		shmring_close(p[k]);
		shmring_close(c[k]);
	}
}

/*
 * On a SHMRING_FENCE_FREE ring the waker's fence is a compiler barrier only
 * while every waiter can make the heavy barrier (membarrier(2), src/wait.c). A process that cannot (here:
 * SHMRING_NO_MEMBARRIER=1, as for a kernel or seccomp filter without it)
 * raises the ring's full_fences flag when it attaches, before it can wait,
 * and then wakers in every process fence fully. A child without membarrier
 * sleeps for each of 300 messages (spin 0) from a parent with it: every
 * message must arrive promptly (a lost wakeup would cost a 50 ms slice).
 */
Test(endpoints, a_waiter_without_membarrier_makes_every_waker_fence_fully, TMO,
     .fini = t_unlink_all)
{
	const char *name = t_newname("fences"), *back_name = t_newname("fences-back");
	int go[2];
	t_pipe(go);
	enum { N = 300 };
	/* Forked before this process attaches anything: the child decides for
	 * itself, at its first attach, that it cannot use membarrier. */
	pid_t kid = t_fork();
	if (kid == 0) {
		setenv("SHMRING_NO_MEMBARRIER", "1", 1);
		CHILD_CHECK(t_get(go[0], 5000) == 'g', 0, 0);
		shmring *c, *ack;
		CHILD_CHECK(shmring_open(name, SHMRING_CONSUMER, &c) == 0, 0, 0);
		CHILD_CHECK(shmring_open(back_name, SHMRING_PRODUCER, &ack) == 0, 0, 0);
		shmring_set_spin(c, 0);
		for (int i = 0; i < N; i++) {
			uint32_t v;
			ssize_t n = shmring_recv(c, &v, sizeof(v), 5 * SEC);
			CHILD_CHECK(n == (ssize_t)sizeof(v) && v == (uint32_t)i, n, v);
			CHILD_CHECK(shmring_send(ack, &v, sizeof(v), 5 * SEC) == 0, i, 0);
		}
		_exit(0);
	}
	struct shmring_config cfg = t_cfg(SHMRING_SPSC, 4096, 64);
	cfg.flags |= SHMRING_FENCE_FREE;
	shmring *p, *back;
	int rc = shmring_create(name, &cfg, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "create: %d (%s)", rc, t_err(rc));
	rc = shmring_create(back_name, &cfg, SHMRING_CONSUMER, &back);
	cr_assert_eq(rc, 0, "create: %d (%s)", rc, t_err(rc));
	t_put(go[1], 'g');
	int64_t t0 = t_now();
	for (int i = 0; i < N; i++) {
		uint32_t v = (uint32_t)i, got;
		/* let the child go to sleep first, most of the time */
		for (int k = 0; k < 200 && t_stat(p).sleepers == 0; k++)
			usleep(10);
		cr_assert_eq(shmring_send(p, &v, sizeof(v), 5 * SEC), 0, "send %d", i);
		ssize_t n = shmring_recv(back, &got, sizeof(got), 5 * SEC);
		cr_assert_eq(n, (ssize_t)sizeof(got), "ack %d: %zd (%s)", i, n, t_err(n));
	}
	int64_t dt = t_now() - t0;
	t_reap_ok(kid, 10, "the child without membarrier");
	size_t len;
	struct sr_header *h = t_map_named(name, &len, NULL);
	cr_assert_eq(atomic_load(&h->totals.full_fences), 1,
		     "the child could not make the heavy barrier, yet full_fences is not raised");
	munmap(h, len);
	/* 300 lost wakeups would take 15 s; a few are slices on a loaded box */
	cr_assert_lt(dt, 8 * SEC, "300 wakeups took %.2f s: wakeups were lost", dt / 1e9);
	shmring_close(p);
	shmring_close(back);
	close(go[0]);
	close(go[1]);
}

/* ---- Room freed by passing ---- */

struct room_arg {
	shmring *r;
	bool peek;
	long rc;
};

static void *take_one(void *arg)
{
	struct room_arg *a = arg;
	static char buf[4096];
	const void *msg;
	size_t len;
	a->rc = a->peek ? shmring_peek(a->r, &msg, &len, 5 * SEC)
			: shmring_recv(a->r, buf, sizeof(buf), 5 * SEC);
	if (a->peek && a->rc == 0)
		shmring_release(a->r);
	return NULL;
}

static void *send_2040(void *arg)
{
	struct room_arg *a = arg;
	static char msg[2040];
	a->rc = shmring_send(a->r, msg, sizeof(msg), 5 * SEC);
	return NULL;
}

/* An aborted claim leaves padding (MPSC) or a skip slot (MPMC) that the
 * consumer passes: the room is free, though no message came with it. A
 * receive or peek that passed some and found nothing after them returned
 * -EAGAIN before it woke the producers, and a producer asleep for room
 * found it only when its liveness slice ran out (slice_finds), 50 ms on. */
static void room_freed_by_passing(enum shmring_mode mode, bool peek)
{
	const char *M = t_mode(mode), *how = peek ? "peek" : "recv";
	struct shmring_config cfg = t_cfg(mode, 4096, 2040);
	shmring *c, *p1, *p1b, *p2;
	int rc = shmring_create_anon(&cfg, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0, "%s: create: %s", M, t_err(rc));
	cr_assert_eq(shmring_open_fd(shmring_fd(c), SHMRING_PRODUCER, &p1), 0);
	cr_assert_eq(shmring_open_fd(shmring_fd(c), SHMRING_PRODUCER, &p1b), 0);
	cr_assert_eq(shmring_open_fd(shmring_fd(c), SHMRING_PRODUCER, &p2), 0);
	shmring_set_spin(c, 0);
	shmring_set_spin(p2, 0);
	void *b1, *b2;
	cr_assert_eq(shmring_claim(p1, 2040, &b1, 0), 0, "%s: claim 1", M);
	cr_assert_eq(shmring_claim(p1b, 2040, &b2, 0), 0, "%s: claim 2", M);
	static char probe[2040];
	cr_assert_eq(shmring_send(p2, probe, sizeof(probe), 0), -EAGAIN, "%s: not full", M);

	struct room_arg ca = { .r = c, .peek = peek }, pa = { .r = p2 };
	pthread_t tc, tp;
	cr_assert_eq(pthread_create(&tc, NULL, take_one, &ca), 0);
	cr_assert_eq(pthread_create(&tp, NULL, send_2040, &pa), 0);
	/* Both asleep: the consumer on data, p2 on room. */
	for (int i = 0; t_stat(c).sleepers < 2; i++) {
		cr_assert_lt(i, 5000, "%s: the two never slept", M);
		t_sleep_ms(1);
	}
	cr_assert_eq(shmring_abort(p1), 0, "%s: abort", M);
	pthread_join(tp, NULL);
	cr_assert_eq(pa.rc, 0, "%s %s: the blocked send: %ld (%s)", M, how, pa.rc,
		     t_err((int)pa.rc));
	cr_assert_eq(p2->slice_finds[SR_ROOM], 0,
		     "%s %s: the room of the aborted claim was found when a slice ran out, "
		     "not woken",
		     M, how);
	cr_assert_eq(shmring_commit(p1b, 8), 0);
	pthread_join(tc, NULL);
	cr_assert_eq(ca.rc, peek ? 0 : 8, "%s %s: %ld (%s)", M, how, ca.rc, t_err((int)ca.rc));
	shmring_close(p1);
	shmring_close(p1b);
	shmring_close(p2);
	shmring_close(c);
}

Test(endpoints, passing_an_aborted_claim_wakes_a_producer_waiting_for_room, TMO)
{
	for (int peek = 0; peek < 2; peek++) {
		room_freed_by_passing(SHMRING_MPSC, peek);
		room_freed_by_passing(SHMRING_MPMC, peek);
	}
}
