/* SPDX-License-Identifier: MIT */
/*
 * test_poll.c - shmring_pollfd on message rings of every mode: readiness with
 * poll, select and epoll; consumers (a message, end of file) and producers
 * (room, -EPIPE); rings shared by fork, by descriptor and by name; a peer
 * that dies without closing makes the poller readable.
 *
 * The contract allows a spurious readiness right after a change of state,
 * cleared by a call that finds nothing; a handle that cannot move does not
 * stay readable. The checks below follow an event loop: wait, try with
 * timeout 0, wait again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "common.h" /* MODE_TEST; t_extra_flags: SHMRING_TEST_FENCE_FREE=1 (ctest's
		     * *-fence-free variants) makes every ring here SHMRING_FENCE_FREE */

enum waiter { W_POLL, W_SELECT, W_EPOLL };

static int wait_readable(int fd, enum waiter how, int ms)
{
	switch (how) {
	case W_POLL: {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
	}
	case W_SELECT: {
		fd_set s;
		FD_ZERO(&s);
		FD_SET(fd, &s);
		struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
		return select(fd + 1, &s, NULL, NULL, &tv) == 1;
	}
	case W_EPOLL: {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN }, out;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		int n = epoll_wait(ep, &out, 1, ms);
		close(ep);
		return n == 1;
	}
	}
	return 0;
}

struct param {
	enum shmring_mode mode;
	enum waiter how;
};

ParameterizedTestParameters(poll, consumer_and_producer_readiness)
{
	static struct param ps[12];
	for (int m = 0; m < 4; m++)
		for (int w = 0; w < 3; w++)
			ps[m * 3 + w] = (struct param){ (enum shmring_mode)m, (enum waiter)w };
	return cr_make_param_array(struct param, ps, 12);
}

static pid_t child(void)
{
	pid_t pid = fork();
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

static int reap(pid_t pid)
{
	int st = -1;
	for (int i = 0; i < 2000 && waitpid(pid, &st, WNOHANG) != pid; i++)
		usleep(10000);
	return st;
}

ParameterizedTest(struct param *p, poll, consumer_and_producer_readiness, .timeout = 60)
{
	const char *M = shmring_mode_name(p->mode);
	struct shmring_config c = { .mode = p->mode, .capacity = 4096, .max_msg = 64,
				     .flags = t_extra_flags() };
	shmring *prod, *cons;
	cr_assert_eq(shmring_create_anon(&c, SHMRING_PRODUCER, &prod), 0, "%s", M);
	cr_assert_eq(shmring_open_fd(shmring_fd(prod), SHMRING_CONSUMER, &cons), 0, "%s", M);
	int cfd = shmring_pollfd(cons), pfd = shmring_pollfd(prod);
	cr_assert_geq(cfd, 0, "%s: %d", M, cfd);
	cr_assert_geq(pfd, 0, "%s: %d", M, pfd);
	cr_assert_eq(shmring_pollfd(cons), cfd, "%s: the same descriptor each time", M);
	char buf[64];

	/* empty: consumer not readable, producer readable (room) */
	cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), -EAGAIN);
	cr_assert_eq(wait_readable(cfd, p->how, 50), 0, "%s: empty ring readable", M);
	cr_assert_eq(wait_readable(pfd, p->how, 1000), 1, "%s: producer with room", M);

	/* a message from another process wakes the consumer */
	pid_t pid = child();
	if (pid == 0) {
		usleep(50000);
		_exit(shmring_send(prod, "m", 1, 0) == 0 ? 0 : 1);
	}
	ssize_t k = -EAGAIN;
	for (int i = 0; i < 10 && k == -EAGAIN; i++) {
		cr_assert_eq(wait_readable(cfd, p->how, 5000), 1, "%s: not woken by a message", M);
		k = shmring_recv(cons, buf, sizeof(buf), 0);
	}
	cr_assert_eq(k, 1, "%s: %zd", M, k);
	cr_assert_eq(reap(pid), 0);
	cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), -EAGAIN);
	cr_assert_eq(wait_readable(cfd, p->how, 50), 0, "%s: drained ring stays readable", M);

	/* full: the producer is not readable; a receive elsewhere wakes it */
	int sent = 0;
	while (shmring_send(prod, "x", 1, 0) == 0)
		sent++;
	cr_assert_gt(sent, 0);
	cr_assert_eq(wait_readable(pfd, p->how, 50), 0, "%s: full ring writable", M);
	pid = child();
	if (pid == 0) {
		usleep(50000);
		_exit(shmring_recv(cons, buf, sizeof(buf), 0) == 1 ? 0 : 1);
	}
	int rc = -EAGAIN;
	for (int i = 0; i < 10 && rc == -EAGAIN; i++) {
		cr_assert_eq(wait_readable(pfd, p->how, 5000), 1, "%s: producer not woken", M);
		rc = shmring_send(prod, "y", 1, 0);
	}
	cr_assert_eq(rc, 0, "%s: %d", M, rc);
	cr_assert_eq(reap(pid), 0);

	/* the consumer closes: the producer is readable (-EPIPE) */
	while (shmring_send(prod, "x", 1, 0) == 0)
		;
	shmring_close(cons);
	cr_assert_eq(wait_readable(pfd, p->how, 2000), 1, "%s: no readiness for EPIPE", M);
	cr_assert_eq(shmring_send(prod, "z", 1, 0), -EPIPE, "%s", M);
	shmring_close(prod);
}

/* A producer process killed without closing: the poller sees end of file. */
/* Kill the peer pid, reap it, then receive on cons after each readiness of
 * its pollfd, up to 10 times, while that says -EAGAIN: the death must wake
 * the poller. Returns the last receive. */
static ssize_t recv_after_death(pid_t pid, shmring *cons, int fd, char *buf, size_t cap,
				const char *M)
{
	kill(pid, SIGKILL);
	reap(pid);
	ssize_t k = -EAGAIN;
	for (int i = 0; i < 10 && k == -EAGAIN; i++) {
		cr_assert_eq(wait_readable(fd, W_POLL, 5000), 1, "%s: death not seen (try %d)", M,
			     i);
		k = shmring_recv(cons, buf, cap, 0);
	}
	return k;
}

MODE_TEST(poll, dead_producer_is_end_of_file, .timeout = 60)
{
	T_MODE;
	char name[64];
	snprintf(name, sizeof(name), "shmring-test-poll-%d-%d", (int)getpid(), (int)mode);
	struct shmring_config c = { .mode = mode,
				    .capacity = 4096,
				    .max_msg = 64,
				    .flags = t_extra_flags() };
	shmring *cons;
	cr_assert_eq(shmring_create(name, &c, SHMRING_CONSUMER, &cons), 0, "%s", M);
	int sync[2];
	cr_assert_eq(pipe(sync), 0);
	pid_t pid = child();
	if (pid == 0) { /* attaches by name, sends one message, then hangs */
		shmring *prod;
		if (shmring_open(name, SHMRING_PRODUCER, &prod) < 0)
			_exit(1);
		shmring_send(prod, "hi", 2, 0);
		if (write(sync[1], "s", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	char ch;
	cr_assert_eq(read(sync[0], &ch, 1), 1);
	shmring_unlink(name);
	int fd = shmring_pollfd(cons);
	cr_assert_geq(fd, 0);
	char buf[64];
	cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), 2, "%s", M);
	cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), -EAGAIN, "%s", M);
	cr_assert_eq(wait_readable(fd, W_POLL, 50), 0, "%s", M);
	ssize_t k = recv_after_death(pid, cons, fd, buf, sizeof(buf), M);
	cr_assert_eq(k, -EPIPE, "%s: %zd", M, k);
	shmring_close(cons);
}

/*
 * A producer dies holding a claim on an MPSC ring whose other producer (this
 * process) lives on, and nobody reaps its entry. The consumer's pollfd must
 * turn readable for the death, the next receive must clear the dead claim
 * and deliver what was sent behind it, and from then on the pollfd must be
 * quiet again while the ring is empty: the dead process's pidfd, readable
 * for good, must not be watched again (an event loop would spin on -EAGAIN
 * until some attach reaped the entry).
 */
Test(poll, a_dead_peer_wakes_the_poller_once_and_its_claim_is_cleared, .timeout = 60)
{
	struct shmring_config c = { .mode = SHMRING_MPSC, .capacity = 4096, .max_msg = 64,
				     .flags = t_extra_flags() };
	shmring *prod, *cons;
	cr_assert_eq(shmring_create_anon(&c, SHMRING_PRODUCER, &prod), 0);
	cr_assert_eq(shmring_open_fd(shmring_fd(prod), SHMRING_CONSUMER, &cons), 0);
	int fd = shmring_pollfd(cons);
	cr_assert_geq(fd, 0);
	int sync[2];
	cr_assert_eq(pipe(sync), 0);
	pid_t pid = child();
	if (pid == 0) { /* a producer endpoint of its own: claims, never commits */
		void *b;
		if (shmring_claim(prod, 16, &b, 0) < 0)
			_exit(1);
		memset(b, 'c', 16);
		if (write(sync[1], "s", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	char ch, buf[64];
	cr_assert_eq(read(sync[0], &ch, 1), 1);
	cr_assert_eq(shmring_send(prod, "behind", 6, 0), 0);
	cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), -EAGAIN, "the claim blocks the head");
	ssize_t k = recv_after_death(pid, cons, fd, buf, sizeof(buf), "MPSC");
	cr_assert_eq(k, 6, "the message behind the dead claim: %zd", k);
	cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), -EAGAIN);
	for (int i = 0; i < 3; i++) {
		int rd = wait_readable(fd, W_POLL, 100);
		if (rd == 1) /* at most a stale wakeup, then quiet */
			cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), -EAGAIN);
		cr_assert(i == 0 || rd == 0, "an empty ring keeps the pollfd readable (%d)", i);
	}
	struct shmring_stat st;
	cr_assert_eq(shmring_stat(cons, &st), 0);
	cr_assert_eq(st.dropped, 1, "the dead claim counts one message: %llu",
		     (unsigned long long)st.dropped);
	/* and the live producer still wakes it */
	cr_assert_eq(shmring_send(prod, "again", 5, 0), 0);
	cr_assert_eq(wait_readable(fd, W_POLL, 5000), 1);
	cr_assert_eq(shmring_recv(cons, buf, sizeof(buf), 0), 5);
	close(sync[0]);
	close(sync[1]);
	shmring_close(cons);
	shmring_close(prod);
}

/* A handle with a pollfd, inherited by fork: the child holds the parent's
 * roles (API.md), polls the inherited descriptor, and must wake when a
 * message comes, whether or not the parent keeps its copy. The socket was
 * bound to a name with the parent's pid, and the child published its own:
 * wakers sent to a name nobody had bound. */
MODE_TEST(poll, an_inherited_pollfd_wakes_the_child, .timeout = 60)
{
	T_MODE;
	for (int parent_closes = 0; parent_closes < 2; parent_closes++) {
		struct shmring_config cfg = { .mode = mode,
					      .capacity = 4096,
					      .max_msg = 64,
					      .flags = t_extra_flags() };
		shmring *p, *c;
		cr_assert_eq(shmring_create_anon(&cfg, SHMRING_PRODUCER, &p), 0, "%s", M);
		cr_assert_eq(shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c), 0, "%s", M);
		int pfd = shmring_pollfd(c);
		cr_assert_geq(pfd, 0, "%s: pollfd: %d", M, pfd);
		char buf[64];
		cr_assert_eq(shmring_recv(c, buf, sizeof(buf), 0), -EAGAIN);
		int go[2], back[2];
		cr_assert_eq(pipe(go), 0);
		cr_assert_eq(pipe(back), 0);
		pid_t pid = child();
		if (pid == 0) {
			ssize_t n = shmring_recv(c, buf, sizeof(buf), 0); /* arms, as a loop does */
			(void)!write(go[1], "x", 1);
			for (int i = 0; i < 10 && n == -EAGAIN; i++) {
				if (!wait_readable(pfd, W_POLL, 5000))
					break;
				n = shmring_recv(c, buf, sizeof(buf), 0);
			}
			char r = n == 1 ? 'k' : n == -EAGAIN ? 'H' : 'E';
			(void)!write(back[1], &r, 1);
			_exit(0);
		}
		char ch = 0;
		cr_assert_eq(read(go[0], &ch, 1), 1);
		if (parent_closes)
			shmring_close(c);
		usleep(20000);
		cr_assert_eq(shmring_send(p, "m", 1, 0), 0);
		cr_assert_eq(read(back[0], &ch, 1), 1);
		int st;
		waitpid(pid, &st, 0);
		cr_assert_eq(ch, 'k', "%s (the parent %s its copy): %s", M,
			     parent_closes ? "closed" : "kept",
			     ch == 'H' ? "the child's pollfd never turned readable"
				       : "the child's receive failed");
		if (!parent_closes)
			shmring_close(c);
		shmring_close(p);
		close(go[0]);
		close(go[1]);
		close(back[0]);
		close(back[1]);
	}
}

/* The other side's endpoint is held only by a forked child, under this
 * process's pid (the child inherited it): no pidfd stands for the child.
 * When the child is killed, the pollfd must still turn readable, at the
 * liveness tick, and the read see end of file (it stayed quiet for ever). */
Test(poll, the_death_of_a_forked_holder_of_the_other_side_wakes_the_poller, .timeout = 60)
{
	shmring *e[2];
	cr_assert_eq(shmring_pipe(e, NULL), 0);
	int pfd = shmring_pollfd(e[0]);
	cr_assert_geq(pfd, 0, "pollfd: %d", pfd);
	char buf[8];
	cr_assert_eq(shmring_read(e[0], buf, sizeof(buf), 0), -EAGAIN);
	pid_t pid = child();
	if (pid == 0) { /* keeps the write end, writes nothing */
		shmring_close(e[0]);
		for (;;)
			pause();
	}
	shmring_close(e[1]);
	usleep(50000);
	cr_assert_eq(shmring_read(e[0], buf, sizeof(buf), 0), -EAGAIN, "the writer lives");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ssize_t n = -EAGAIN;
	for (int i = 0; i < 10 && n == -EAGAIN; i++) {
		cr_assert(wait_readable(pfd, W_POLL, 5000),
			  "the pollfd stayed quiet after the only writer died");
		n = shmring_read(e[0], buf, sizeof(buf), 0);
	}
	cr_assert_eq(n, 0, "end of file after the only writer died: %zd", n);
	shmring_close(e[0]);
}

/* While both ends are held here, nothing ticks: a pollfd with nothing to
 * say stays quiet, in a process that has forked. */
Test(poll, no_tick_while_this_process_holds_the_other_side, .timeout = 60)
{
	shmring *e[2];
	cr_assert_eq(shmring_pipe(e, NULL), 0);
	pid_t pid = child();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	int pfd = shmring_pollfd(e[0]);
	char buf[8];
	cr_assert_eq(shmring_read(e[0], buf, sizeof(buf), 0), -EAGAIN);
	cr_assert(!wait_readable(pfd, W_POLL, 300), "the pollfd woke with nothing to say");
	shmring_close(e[0]);
	shmring_close(e[1]);
}
