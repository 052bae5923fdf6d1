/* SPDX-License-Identifier: MIT */
/*
 * poll.c - readiness descriptors for poll, select and epoll (shmring_pollfd).
 *
 * Linux has no pollable futex, so a handle that asks for a pollfd gets an
 * epoll set that holds:
 *  - one datagram socket per role it holds, bound in the abstract namespace
 *    to a name made of the object's device and inode and a key, the pid of
 *    the process that bound it and the endpoint it was bound for; the
 *    endpoint's poll_pid word holds the key, and so tells peers the name. A
 *    forked child shares the socket and the epoll set, and publishes the
 *    same key, also for an endpoint of its own: the name stays the one that
 *    is bound;
 *  - a pidfd for each process on the other side, which turns readable when
 *    that process exits: a peer that dies without closing cannot signal;
 *  - while an endpoint of the other side is held by a process no pidfd can
 *    stand for - it names this process, which holds it no more (a forked
 *    child does), or a process that has exited while it lives on - a
 *    timerfd that turns readable every SR_LIVENESS_NS, so that the next
 *    call looks at the locks: such a holder's death is seen within a tick,
 *    at the cost of a spurious wakeup per tick while it lives.
 *
 * The handshake is the event count of wait.c with a one-shot `want` flag in
 * place of the sleeper count. A handle whose call is about to return -EAGAIN
 * drains its sockets, sets `want` (seq_cst), re-checks the ring, and signals
 * itself if it could move after all. A peer, after it published and issued
 * the full fence of shmring__wake, sees `want`, clears it with an exchange
 * and sends one datagram to each armed endpoint of the other side: one system
 * call per empty->non-empty (or full->not-full) transition while someone
 * polls, nothing while nobody does.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct sr_pidwatch {
	pid_t pid;
	int fd; /* -1: the process has exited, its endpoint not yet reaped */
};

static socklen_t poll_addr(const shmring *r, uint32_t key, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "shmring.%llx.%llx.%x",
			 (unsigned long long)r->poll_dev, (unsigned long long)r->poll_ino, key);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static void send_to(shmring *r, uint32_t key)
{
	struct sockaddr_un a;
	socklen_t len = poll_addr(r, key, &a);
	if (r->send_sock < 0) {
		r->send_sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (r->send_sock < 0)
			return;
	}
	/* A full socket buffer means the poller is readable already. */
	sendto(r->send_sock, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, len);
}

/* Tell the armed pollers of endpoints with `role` (the side that waits). */
void shmring__poll_signal(shmring *r, int role)
{
	unsigned lo = role == SHMRING_PRODUCER ? 0 : SR_EP_CONS_BASE;
	for (unsigned i = lo; i < lo + SR_EP_PER_SIDE; i++) {
		uint32_t key = ld_acquire(&r->h->ep[i].poll_pid);
		if (key && SR_EP_STATE(ld_relaxed(&r->h->ep[i].sg)) == SR_EP_LIVE)
			send_to(r, key);
	}
}

static void drain(int fd)
{
	char buf[64];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Is pid the owner of a live entry among endpoints [lo, hi)? */
static bool names_live(const shmring *r, unsigned lo, unsigned hi, pid_t pid)
{
	for (unsigned i = lo; i < hi; i++) {
		const struct sr_endpoint *e = &r->h->ep[i];
		if (SR_EP_STATE(ld_acquire(&e->sg)) == SR_EP_LIVE && (pid_t)e->pid == pid)
			return true;
	}
	return false;
}

/* Arm or disarm the liveness tick (the top of the file). */
static void set_tick(shmring *r, bool on)
{
	if (on == r->poll_ticking)
		return;
	if (on && r->poll_tick < 0) {
		int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (fd < 0)
			return;
		if (epoll_ctl(r->poll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			return;
		}
		r->poll_tick = fd;
	}
	if (r->poll_tick < 0)
		return;
	struct itimerspec it = { { 0, 0 }, { 0, 0 } };
	if (on) {
		it.it_interval.tv_sec = SR_LIVENESS_NS / 1000000000;
		it.it_interval.tv_nsec = SR_LIVENESS_NS % 1000000000;
		it.it_value = it.it_interval;
	}
	if (timerfd_settime(r->poll_tick, 0, &it, NULL) == 0)
		r->poll_ticking = on;
}

/* Keep one pidfd per live process on the other side in the epoll set. A
 * pidfd turns readable, and stays so, when its process exits: then it leaves
 * the set, once, and the next call looks at the peers at once (a dead peer's
 * claim is cleared there, and ready() sees it). Its pid is remembered while
 * an entry still names it, dead and not reaped, so that it is not watched
 * again: that would keep the pollfd readable, and an event loop spinning on
 * -EAGAIN, until somebody reaps the entry. */
static void refresh_watch(shmring *r)
{
	bool tick = false; /* a holder on the other side that no pidfd watches */
	unsigned lo = 0, hi = SR_EP_MAX;
	if (r->prod.idx < 0)
		hi = SR_EP_CONS_BASE; /* a consumer watches producers */
	if (r->cons.idx < 0)
		lo = SR_EP_CONS_BASE; /* a producer watches consumers */
	if (r->prod.idx >= 0 && r->cons.idx >= 0)
		lo = 0, hi = SR_EP_MAX;

	for (unsigned k = 0; k < r->nwatch;) {
		struct sr_pidwatch *w = &r->watch[k];
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		if (w->fd >= 0 && poll(&p, 1, 0) == 1) { /* exited */
			epoll_ctl(r->poll_fd, EPOLL_CTL_DEL, w->fd, NULL);
			close(w->fd);
			w->fd = -1;
			r->next_live_check = 0;
		}
		if (w->fd < 0 && !names_live(r, lo, hi, w->pid))
			r->watch[k] = r->watch[--r->nwatch]; /* reaped (or its pid reused) */
		else
			k++;
	}
	pid_t self = getpid();
	for (unsigned i = lo; i < hi; i++) {
		const struct sr_endpoint *e = &r->h->ep[i];
		if (SR_EP_STATE(ld_acquire(&e->sg)) != SR_EP_LIVE)
			continue;
		pid_t pid = (pid_t)e->pid;
		if (pid == self && !shmring__held_here(r, i))
			tick = true; /* ours, held here no more: a forked child holds it */
		if (pid <= 0 || pid == self)
			continue;
		bool known = false, exited = false;
		for (unsigned k = 0; k < r->nwatch && !known; k++)
			if (r->watch[k].pid == pid) {
				known = true;
				exited = r->watch[k].fd < 0;
			}
		/* exited, and its endpoint still held: by a forked child of it */
		if (exited && shmring__ep_alive(r, i))
			tick = true;
		if (known || r->nwatch >= SR_EP_MAX)
			continue;
		int fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd < 0 && errno == ESRCH) { /* gone already: remember it, as above */
			r->watch[r->nwatch].pid = pid;
			r->watch[r->nwatch].fd = -1;
			r->nwatch++;
			r->next_live_check = 0;
			continue;
		}
		if (fd < 0)
			continue;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		if (epoll_ctl(r->poll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		r->watch[r->nwatch].pid = pid;
		r->watch[r->nwatch].fd = fd;
		r->nwatch++;
	}
	set_tick(r, tick);
}

/* Room for the producer: a slot ring's next slot is free (the positions move
 * before a consumer frees its slot); a record ring has room for two largest
 * records, a stream for 64 bytes. */
static bool has_room(shmring *r)
{
	if (r->slot_size)
		return shmring__slot_room(r);
	uint64_t need = r->flags & SHMRING_STREAM ? 64 : 2 * SR_ALIGN8(SR_REC_HDR + r->max_msg);
	return r->cap - r->ops->used(r) >= need;
}

/* Could this handle move now? A consumer: a message, bytes or end of file.
 * A producer: room for a message of max_msg, or -EPIPE. Either: a dead
 * peer's claim that blocked it, cleared now (the ring's slow path, which
 * probes locks only when the ring looks blocked). */
static bool ready(shmring *r)
{
	if (r->broken)
		return true;
	if (r->cons.idx >= 0 && (r->ops->readable(r) || shmring__side_gone(r, SR_DATA) ||
				 r->ops->stuck(r, SR_DATA) > 0))
		return true;
	if (r->prod.idx >= 0 && (has_room(r) || shmring__side_gone(r, SR_ROOM) ||
				 r->ops->stuck(r, SR_ROOM) > 0))
		return true;
	return false;
}

/* Before a call returns -EAGAIN to a handle with a pollfd: arm. */
void shmring__poll_rearm(shmring *r)
{
	struct sr_role *ro[2] = {&r->prod, &r->cons};
	struct sr_wait_line *line[2] = {&r->h->rwait, &r->h->dwait};
	if (r->poll_ticking) {
		uint64_t ticks;
		(void)!read(r->poll_tick, &ticks, sizeof(ticks));
	}
	for (int i = 0; i < 2; i++) {
		if (ro[i]->idx < 0 || r->poll_sock[i] < 0)
			continue;
		drain(r->poll_sock[i]);
		/* pairs with the loads in evc_disarm: a holder of the
		 * endpoint that disarms sees the pid, or we see its clear
		 * below (shmring__arm) */
		st_release(&ro[i]->ep->poll_pid, r->poll_key[i]);
		atomic_store_explicit(&line[i]->want, 1, memory_order_seq_cst);
	}
	shmring__fence_waiter(r); /* pairs with the fence in shmring__wake (wait.c) */
	for (int i = 0; i < 2; i++)
		if (ro[i]->idx >= 0 && r->poll_sock[i] >= 0)
			shmring__arm(r, i == 0 ? SR_ROOM : SR_DATA); /* wakers look at `want` */
	refresh_watch(r);
	if (ready(r)) {
		for (int i = 0; i < 2; i++)
			if (ro[i]->idx >= 0 && r->poll_sock[i] >= 0)
				send_to(r, r->poll_key[i]);
	}
}

SHMRING_API int shmring_pollfd(shmring *r)
{
	if (!r)
		return -EINVAL;
	if (r->poll_fd >= 0)
		return r->poll_fd;
	if (r->prod.idx < 0 && r->cons.idx < 0)
		return -EPERM;
	r->watch = calloc(SR_EP_MAX, sizeof(*r->watch));
	if (!r->watch)
		return -ENOMEM;
	r->poll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (r->poll_fd < 0) {
		int rc = -errno;
		shmring__poll_free(r);
		return rc;
	}
	struct sr_role *ro[2] = {&r->prod, &r->cons};
	for (int i = 0; i < 2; i++) {
		if (ro[i]->idx < 0)
			continue;
		int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct sockaddr_un a;
		r->poll_key[i] = SR_POLL_KEY((unsigned)ro[i]->idx, (uint32_t)getpid());
		socklen_t len = poll_addr(r, r->poll_key[i], &a);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
		if (s < 0 || bind(s, (struct sockaddr *)&a, len) < 0 ||
		    epoll_ctl(r->poll_fd, EPOLL_CTL_ADD, s, &ev) < 0) {
			int rc = -errno;
			if (s >= 0)
				close(s);
			shmring__poll_free(r);
			return rc;
		}
		r->poll_sock[i] = s;
	}
	shmring__poll_rearm(r);
	return r->poll_fd;
}

void shmring__poll_free(shmring *r)
{
	struct sr_role *ro[2] = {&r->prod, &r->cons};
	for (int i = 0; i < 2; i++) {
		if (r->poll_sock[i] >= 0) {
			close(r->poll_sock[i]);
			r->poll_sock[i] = -1;
			/* disarm only where we are the binder: a forked child
			 * closing its copy of the handle must not silence its
			 * parent's pollfd (the key names the parent) */
			uint32_t key = r->poll_key[i];
			if (ro[i]->idx >= 0 && SR_POLL_KEY_PID(key) == (uint32_t)getpid())
				atomic_compare_exchange_strong(&ro[i]->ep->poll_pid, &key, 0);
		}
	}
	for (unsigned k = 0; k < r->nwatch; k++)
		if (r->watch[k].fd >= 0)
			close(r->watch[k].fd);
	if (r->poll_tick >= 0)
		close(r->poll_tick);
	r->poll_tick = -1;
	r->poll_ticking = false;
	free(r->watch);
	r->watch = NULL;
	r->nwatch = 0;
	if (r->poll_fd >= 0)
		close(r->poll_fd);
	r->poll_fd = -1;
	if (r->send_sock >= 0)
		close(r->send_sock);
	r->send_sock = -1;
}
