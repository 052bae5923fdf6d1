/* SPDX-License-Identifier: MIT */
/*
 * wait.c - blocking: spin, then sleep on a futex in the segment; the only
 * system calls near the data path.
 *
 * Each direction has an event count (layout.h): a 32-bit epoch, the futex
 * word, and a mask of the endpoints that have a thread asleep (evcount.h).
 *
 *   waiter                              waker
 *   set my bit      (seq_cst RMW)       publish data   (store-release)
 *   e = epoch                           full fence
 *   full fence                          if mask != 0:
 *   re-check the ring; ready? leave        epoch += 1
 *   FUTEX_WAIT(epoch, e)                   FUTEX_WAKE(epoch, all)
 *   clear my bit
 *
 * Either the waker's load of the mask sees the waiter's bit (and it wakes
 * it, or bumps epoch before the waiter sleeps, so FUTEX_WAIT returns at
 * once), or the waiter's re-check, ordered after its fence, sees the data the
 * waker published before its fence. Without the two fences a wakeup is lost.
 * The waker pays one fence and one load of a line nobody writes while nobody
 * sleeps: no system call while both sides keep up.
 *
 * A waiter killed in its sleep leaves its bit set, and every message would
 * then pay a FUTEX_WAKE that wakes nobody. Whoever takes over its endpoint
 * clears the bit (peers.c); until then a waker whose FUTEX_WAKEs keep waking
 * nobody clears the mask and wakes the line (reap_sleepers), which costs
 * live waiters one spurious wakeup and the dead their bit.
 *
 * On SHMRING_FENCE_FREE rings the two fences are asymmetric (evcount.h). A
 * waker, once per message, has only a compiler barrier; a waiter, once per
 * sleep, asks the kernel for a
 * full barrier on every CPU that runs a thread of a process registered for
 * it (membarrier(2), MEMBARRIER_CMD_GLOBAL_EXPEDITED): either the waker's
 * publication is then visible to the waiter's re-check, or the waker's load
 * of the mask comes after the barrier and sees the waiter's bit. Every
 * process registers when it first attaches a role; one that cannot (an old
 * kernel, a seccomp filter, SHMRING_NO_MEMBARRIER=1 in its environment)
 * raises the segment's sticky full_fences flag before it can wait, and from
 * then on every waker of that ring fences fully, as every waiter of this
 * process does.
 *
 * Sleeps are cut into slices of SR_LIVENESS_NS so that a peer that died
 * without closing (no wakeup will come) is noticed within that time.
 *
 * A signal handler that runs during a wait ends it with -EINTR (API.md):
 * FUTEX_WAIT returns EINTR. A spin has no system call for the kernel to
 * interrupt, so a spin that lasts (sigguard_*, below) blocks the signals a
 * handler may catch and looks for pending ones now and then.
 */
#include "internal.h"

#define EVC_WAITER_FENCE(heavy) ((heavy) ? shmring__fence_heavy() : fence_full())
#define EVC_WAKER_FENCE(light) ((light) ? atomic_signal_fence(memory_order_seq_cst) : fence_full())
#define EVC_ARM_FENCE() shmring__fence_heavy()
#include "evcount.h"

#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int64_t shmring__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- asymmetric fences ---- */

int shmring__light; /* 1: registered for the heavy barrier; -1: cannot; 0: not yet asked */
static pthread_once_t light_once = PTHREAD_ONCE_INIT;

static long membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

/* A forked child registers again: the kernel keeps the registration with
 * the memory map it copies, but nothing promises that, and a child that
 * acted as a light waker unregistered would lose wakeups. Idempotent. */
static void light_child(void)
{
	if (__atomic_load_n(&shmring__light, __ATOMIC_RELAXED) > 0 &&
	    membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) != 0)
		__atomic_store_n(&shmring__light, -1, __ATOMIC_RELAXED);
}

static void light_setup(void)
{
	pthread_atfork(NULL, NULL, light_child);
	const char *off = getenv("SHMRING_NO_MEMBARRIER");
	long q = off && *off && strcmp(off, "0") ? -1 : membarrier(MEMBARRIER_CMD_QUERY);
	int need = MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
	if (q >= 0 && (q & need) == need &&
	    membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
		__atomic_store_n(&shmring__light, 1, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&shmring__light, -1, __ATOMIC_RELAXED);
}

/* At attach of any role, before the handle can wait or wake. The
 * registration is inherited across fork (and dropped at exec, where the new
 * image registers again when it attaches). A process that cannot register
 * arms every bit of both lines for good, and raises full_fences. */
void shmring__fence_setup(shmring *r)
{
	pthread_once(&light_once, light_setup);
	if (__atomic_load_n(&shmring__light, __ATOMIC_RELAXED) > 0 ||
	    ld_relaxed(&r->h->totals.full_fences))
		return;
	fetch_or_seqcst(&r->h->totals.full_fences, 1);
	fetch_or_seqcst(&r->h->dwait.armed, ~(uint64_t)0);
	fetch_or_seqcst(&r->h->rwait.armed, ~(uint64_t)0);
}

/* The waiter's half: a full barrier on every CPU of a registered process. */
void shmring__fence_heavy(void)
{
	if (__atomic_load_n(&shmring__light, __ATOMIC_RELAXED) <= 0 ||
	    membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0)
		fence_full();
	/* and ours, for our own loads that follow */
	fence_full();
}

/* The waker's half may be a compiler barrier: every waiter makes the heavy
 * one. pairs with the fetch_or in shmring__fence_setup */
static bool light_waker(const shmring *r)
{
	return (r->flags & SHMRING_FENCE_FREE) && __atomic_load_n(&shmring__light, __ATOMIC_RELAXED) > 0 &&
	       !ld_relaxed(&r->h->totals.full_fences);
}

/* The waiter's half on this ring (poll.c too). */
void shmring__fence_waiter(const shmring *r)
{
	if (r->flags & SHMRING_FENCE_FREE)
		shmring__fence_heavy();
	else
		fence_full();
}

/* Shared (not FUTEX_PRIVATE_FLAG) futexes: the word lives in a shared mapping
 * and the waker may be another process. */
static long futex_wait(sr_a32 *word, uint32_t expect, int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	return syscall(SYS_futex, word, FUTEX_WAIT, expect, &ts, NULL, 0);
}

/* Returns how many it woke. */
static long futex_wake(sr_a32 *word)
{
	return syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static struct sr_wait_line *line_of(shmring *r, enum sr_dir dir)
{
	return dir == SR_DATA ? &r->h->dwait : &r->h->rwait;
}

/* First endpoint index of the side that sleeps on dir's line. */
static unsigned sleeper_base(enum sr_dir dir)
{
	return dir == SR_DATA ? SR_EP_CONS_BASE : 0;
}

static void wake_line(struct sr_wait_line *w)
{
	evc_bump(&w->epoch);
	futex_wake(&w->epoch);
}

/* Many FUTEX_WAKEs in a row woke nobody: a bit is set that no sleeper
 * stands behind (a waiter killed asleep, whose endpoint nobody has taken
 * over yet, or which a forked sharer still holds). Clear the bits, then bump
 * the epoch and wake: a live waiter between its announcement and its sleep,
 * or asleep, re-checks the ring and announces itself again (a spurious
 * wakeup), so no wakeup is lost; a dead one does not come back. */
static void reap_sleepers(shmring *r, enum sr_dir dir)
{
	struct sr_wait_line *w = line_of(r, dir);
	uint64_t m = ld_relaxed(&w->mask);
	if (!m)
		return;
	fetch_and_seqcst(&w->mask, ~m);
	wake_line(w);
}

/* ---- arming ----
 *
 * Most rings have a side that never waits: a busy-polling consumer, a
 * producer that never finds the ring full. Its peer need not pay the waker's
 * fence for it, once per message. So each wait line also has an `armed` mask
 * (layout.h) with the bit of every endpoint of the waiting side that waits
 * there; an endpoint arms after it announces a sleep, before its re-check
 * (evc_arm), and before a pollfd's re-check (shmring__arm, poll.c):
 *
 *   waiter (bit not set yet)             waker (shmring__wake, internal.h)
 *   the announcement (evc_announce)      publish data   (store-release)
 *   armed |= my bit   (seq_cst RMW)      armed == 0 and this process is
 *   membarrier(GLOBAL_EXPEDITED)            registered: done
 *   the re-check, the sleep              else the handshake above
 *
 * The membarrier (folly's asymmetric fences, as for SHMRING_FENCE_FREE)
 * makes every running thread of a registered process pass a full barrier:
 * a waker whose load of `armed` came before its barrier had its publication
 * before it too, visible to the waiter's re-check that follows; one whose
 * load came after sees the bit and runs the handshake. Only registered
 * processes skip. A process that cannot register (shmring__fence_setup)
 * arms every bit at attach, so that registered wakers stop skipping; a
 * waker that had loaded `armed` just before may still skip once, and then
 * the waiter's next liveness slice (SR_LIVENESS_NS) picks the message up:
 * a delay, never a hang. Bits are cleared when an endpoint changes hands
 * (shmring__clear_sleeper), and by a holder that has stayed awake a while
 * (disarm, below). The waiter looks at the bit itself before every sleep,
 * not at a flag of its handle: another holder of the endpoint may have
 * cleared it. */
static uint64_t bit_of(shmring *r, enum sr_dir dir, int *idx)
{
	*idx = dir == SR_DATA ? r->cons.idx : r->prod.idx;
	return *idx < 0 ? 0 : (uint64_t)1 << ((unsigned)*idx - sleeper_base(dir));
}

/* Before the re-check of a sleep (block, after the announcement) or of a
 * pollfd (poll.c, after it published its pid and `want`, and fenced). */
void shmring__arm(shmring *r, enum sr_dir dir)
{
	int idx;
	uint64_t bit = bit_of(r, dir, &idx);
	if (idx < 0)
		return;
	evc_arm(&line_of(r, dir)->armed, bit, r->armed[dir]);
	r->armed[dir] = true;
}

/* ---- disarming ----
 *
 * A consumer that slept once, on a ring whose producer then keeps it busy,
 * would have every send pay the fence for good: a locked instruction, which
 * waits for all of the producer's stores, the one into the line the consumer
 * is reading among them (8-byte messages: 15 M/s against 45 M/s without).
 * So a waiter that has stayed awake for SR_DISARM_NS, and finds what it
 * waited for while spinning, clears its bit again; it is not announced, so
 * no waker that skips can miss it, and before it next sleeps it arms again,
 * with the barrier, exactly as the first time. That costs a membarrier per
 * sleep that follows SR_DISARM_NS awake: at most one per SR_DISARM_NS.
 *
 * After a fork, a single-side endpoint is shared with a copy of the handle
 * (shmring_pipe's ends are, by design), which may be asleep, or about to
 * sleep, counting on the bit: evc_disarm clears it only where nobody of the
 * endpoint is counted asleep or has a pollfd, and a sleeper that arrives
 * just after the clear sees it (evc_arm). (Until this was so, a handle
 * never disarmed after a fork, and a pipe's write end paid the fence for
 * good once its reader had slept: `stream` throughput, medians of 8
 * interleaved runs, 8 B 17.8 M/s before and 24.2 after, 64 B 16.0 and 18.4.)
 * Not while a pollfd of this handle listens, nor where some process cannot
 * make the barrier (full_fences), nor unregistered. */
#define SR_DISARM_NS (2 * 1000 * 1000LL)

static void disarm(shmring *r, enum sr_dir dir, int64_t now)
{
	int idx;
	uint64_t bit = bit_of(r, dir, &idx);
	if (!r->armed[dir] || now - r->awake_since[dir] < SR_DISARM_NS || idx < 0 ||
	    r->poll_fd >= 0 || __atomic_load_n(&shmring__light, __ATOMIC_RELAXED) <= 0 ||
	    ld_relaxed(&r->h->totals.full_fences))
		return;
	struct sr_wait_line *w = line_of(r, dir);
	struct sr_endpoint *ep = dir == SR_DATA ? r->cons.ep : r->prod.ep;
	sr_a32 *nsleep = &r->h->nsleep[idx];
	r->awake_since[dir] = now; /* kept armed: the next try in SR_DISARM_NS */
	if (ld_relaxed(nsleep) || ld_relaxed(&ep->poll_pid))
		return; /* another holder sleeps or polls on the bit */
	if (evc_disarm(&w->armed, bit, nsleep, &ep->poll_pid)) {
		r->armed[dir] = false;
		return;
	}
	/* One came to sleep or poll as we cleared the bit, which is back now;
	 * a waker may have skipped in between: wake the line and the
	 * endpoint's pollers, and they look at the ring again. */
	wake_line(w);
	shmring__poll_signal(r, dir == SR_DATA ? SHMRING_CONSUMER : SHMRING_PRODUCER);
}

/* shmring__wake (internal.h) when the line is armed: the handshake. */
void shmring__wake_slow(shmring *r, enum sr_dir dir)
{
	struct sr_wait_line *w = line_of(r, dir);
	bool sleeping = evc_must_wake(&w->mask, light_waker(r)); /* the fence, then the load */
	if (SR_UNLIKELY(ld_relaxed(&w->want)) &&
	    atomic_exchange_explicit(&w->want, 0, memory_order_seq_cst))
		shmring__poll_signal(r, dir == SR_DATA ? SHMRING_CONSUMER : SHMRING_PRODUCER);
	if (SR_LIKELY(!sleeping))
		return;
	evc_bump(&w->epoch);
	long woken = futex_wake(&w->epoch);
	struct sr_endpoint *e = dir == SR_DATA ? r->prod.ep : r->cons.ep;
	if (e)
		st_relaxed(&e->wakeups, ld_relaxed(&e->wakeups) + 1);
	/* A waiter between its announcement and FUTEX_WAIT is not woken
	 * either, so one empty wake proves nothing; many in a row are worth
	 * a look. */
	if (woken != 0)
		r->empty_wakes[dir] = 0;
	else if (++r->empty_wakes[dir] % SR_EMPTY_WAKES_REAP == 0)
		reap_sleepers(r, dir);
}

int shmring__wake_slow_0(shmring *r, enum sr_dir dir)
{
	shmring__wake_slow(r, dir);
	return 0;
}

ssize_t shmring__wake_slow_n(shmring *r, enum sr_dir dir, ssize_t n)
{
	shmring__wake_slow(r, dir);
	return n;
}

/* Threads asleep on the ring now, dead endpoints not counted (shmring_stat). */
unsigned shmring__sleepers(const shmring *r)
{
	unsigned n = 0;
	for (int d = 0; d < 2; d++) {
		uint64_t m = ld_relaxed(d == SR_DATA ? &r->h->dwait.mask : &r->h->rwait.mask);
		while (m) {
			unsigned i = sleeper_base((enum sr_dir)d) + (unsigned)__builtin_ctzll(m);
			m &= m - 1;
			if (shmring__ep_alive(r, i))
				n += ld_relaxed(&r->h->nsleep[i]);
		}
	}
	return n;
}

/* A new owner takes endpoint idx (peers.c, holding its lock): whatever a dead
 * owner left asleep there is gone. */
void shmring__clear_sleeper(shmring *r, unsigned idx)
{
	enum sr_dir dir = idx >= SR_EP_CONS_BASE ? SR_DATA : SR_ROOM;
	uint64_t bit = (uint64_t)1 << (idx - sleeper_base(dir));
	st_relaxed(&r->h->nsleep[idx], 0);
	fetch_and_seqcst(&line_of(r, dir)->mask, ~bit);
	if (!ld_relaxed(&r->h->totals.full_fences)) /* the new owner arms when it waits */
		fetch_and_seqcst(&line_of(r, dir)->armed, ~bit);
}

void shmring__wake_all(shmring *r)
{
	fetch_add_seqcst(&r->h->totals.closes, 1);
	fence_full();
	fetch_add_seqcst(&r->h->dwait.epoch, 1);
	fetch_add_seqcst(&r->h->rwait.epoch, 1);
	futex_wake(&r->h->dwait.epoch);
	futex_wake(&r->h->rwait.epoch);
	shmring__poll_signal(r, SHMRING_PRODUCER);
	shmring__poll_signal(r, SHMRING_CONSUMER);
}

/* The slow-path look at the other side while fn() keeps saying -EAGAIN:
 * clear a dead peer's claim that blocks the ring, and turn "the other side
 * has gone" into -EPIPE once nothing is left to move. The lock probes run at
 * most every SR_LIVENESS_NS unless forced; the hint check always runs. */
static int settle(shmring *r, enum sr_dir dir, sr_try_fn fn, void *arg, int64_t now, bool force)
{
	int rc;
	bool gone;
	struct sr_totals_line *t = &r->h->totals;
	sr_a32 *seen = dir == SR_DATA ? &t->prod_seen : &t->cons_seen;
	sr_a32 *live = dir == SR_DATA ? &t->nprod : &t->ncons;

	/* A close counts itself (shmring__wake_all): look at the peers again
	 * at once rather than at the next liveness tick. (Not at every move
	 * of the wait epochs: every wakeup bumps those, and the look would put
	 * two lock probes on the way of every message of a sleeping ring.) */
	uint32_t closes = ld_relaxed(&t->closes);
	if (closes != r->seen_closes[dir]) {
		r->seen_closes[dir] = closes;
		force = true;
	}
	bool hint_gone = ld_acquire(seen) && ld_acquire(live) == 0;
	if (!hint_gone && !force && now < r->next_live_check)
		return -EAGAIN;
	r->next_live_check = now + SR_LIVENESS_NS;
	if (r->ops->stuck(r, dir) > 0) {
		rc = fn(r, arg);
		if (rc != -EAGAIN)
			return rc;
	}
	gone = hint_gone || shmring__side_gone(r, dir);
	if (!gone)
		return -EAGAIN;
	/* What was published before the last peer left is still delivered,
	 * past any holes the dead left behind. */
	rc = fn(r, arg);
	for (int i = 0; i < 64 && rc == -EAGAIN && r->ops->stuck(r, dir) > 0; i++)
		rc = fn(r, arg);
	return rc == -EAGAIN ? -EPIPE : rc;
}

/* ---- signals during a spin ----
 *
 * A handler that ran in a spin would return into it, and the wait would go
 * on: a busy-polling consumer would never see the SIGINT its handler
 * flagged. So a spin that has lasted SR_SPIN_GUARD_NS blocks the signals
 * that have a handler (sigguard_tick; not the synchronous ones, whose
 * handlers must run at the fault, and not those left at SIG_DFL or SIG_IGN,
 * which keep their default action or discard: a busy-poller still dies of
 * SIGTERM), then looks at the pending ones every SR_SPIN_SIGCHECK_NS. One
 * that the caller's mask lets through is delivered at once (its handler
 * runs as the mask is restored) and ends the wait with -EINTR, SA_RESTART
 * or not, as the sleep's FUTEX_WAIT with a timeout does (signal(7): the
 * kernel does not restart it). The mask is restored whenever the spin ends:
 * a signal pending then ends a wait that would go on to sleep, and one that
 * came with bytes moved ends shmring_write with the count so far
 * (r->signalled).
 *
 * What this cannot do: in a process with other threads that do not block a
 * signal, the kernel hands a process-directed one to such a thread while
 * ours blocks it, and that handler ends nothing here (as for any blocking
 * call whose thread the kernel did not pick); and a signal that comes
 * between the last look and the sleep runs its handler, and the sleep goes
 * on (a wait with an atomic mask, ppoll on the pollfd, would close it).
 *
 * The guard costs two system calls and one more every SR_SPIN_SIGCHECK_NS,
 * so it waits 10 ms: with 20 us, a busy-polling consumer paced at 5,000
 * messages/s (its waits 200 us) took a message 1.58 us after it came
 * instead of 0.35 us, the mask's restore on its way. A handler that runs in
 * the first 10 ms of a spin (the default spin, 50 us, is all inside) is a
 * signal that came just before the call: the wait goes on, the race every
 * blocking call has, here wider.
 */
#define SR_SPIN_GUARD_NS (10 * 1000 * 1000LL)
#define SR_SPIN_SIGCHECK_NS (1000 * 1000LL)

struct sigguard {
	bool blocked;
	bool nothing_to_block; /* no signal has a handler: nothing to do */
	int64_t next_check;
	sigset_t caught; /* the signals with a handler, blocked by the guard */
	sigset_t old;    /* the caller's mask */
};

/* Is one of the signals the guard blocked pending, and does the caller's
 * mask let it through? */
static bool sig_deliverable(const struct sigguard *g)
{
	sigset_t p;
	if (sigpending(&p) < 0)
		return false;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&p, s) == 1 && sigismember(&g->caught, s) == 1 &&
		    sigismember(&g->old, s) != 1)
			return true;
	return false;
}

/* Restore the caller's mask (pending signals are delivered now); with
 * `look`, true when one of them ends the wait. */
static bool sigguard_end(struct sigguard *g, bool look)
{
	if (!g->blocked)
		return false;
	bool d = look && sig_deliverable(g);
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	g->blocked = false;
	return d;
}

/* A spin's clock tick past the guard: block the signals at the first, look
 * for pending ones at most every SR_SPIN_SIGCHECK_NS. True when a signal
 * was delivered that ends the wait. */
static bool sigguard_tick(struct sigguard *g, int64_t now)
{
	if (!g->blocked) {
		if (g->nothing_to_block)
			return false;
		/* Only signals with a handler: one left at SIG_DFL keeps its
		 * default action (SIGINT, SIGTERM, SIGTSTP end or stop the
		 * process at once), and SIG_IGN its discard. */
		sigemptyset(&g->caught);
		bool any = false;
		for (int sig = 1; sig < NSIG; sig++) {
			struct sigaction sa;
			if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
			    sig == SIGTRAP || sig == SIGSYS)
				continue; /* synchronous: their handlers run at the fault */
			if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
			    sa.sa_handler != SIG_IGN) {
				sigaddset(&g->caught, sig);
				any = true;
			}
		}
		if (!any || pthread_sigmask(SIG_BLOCK, &g->caught, &g->old) != 0) {
			g->nothing_to_block = true;
			return false;
		}
		g->blocked = true;
		g->next_check = now + SR_SPIN_SIGCHECK_NS;
		return false;
	}
	if (now < g->next_check)
		return false;
	g->next_check = now + SR_SPIN_SIGCHECK_NS;
	if (!sig_deliverable(g))
		return false;
	sigguard_end(g, false); /* its handler runs now */
	return true;
}

static int block(shmring *r, enum sr_dir dir, sr_try_fn fn, void *arg, int64_t timeout_ns);

/* Run fn until it moves something, the timeout passes, a signal arrives or
 * the other side is gone. Blocking; wait-free on the fast path. */
int shmring__block(shmring *r, enum sr_dir dir, sr_try_fn fn, void *arg, int64_t timeout_ns)
{
	int rc = fn(r, arg);
	if (SR_LIKELY(rc != -EAGAIN))
		return rc;
	rc = block(r, dir, fn, arg, timeout_ns);
	if ((rc == -EAGAIN || rc == -ETIMEDOUT) && r->poll_fd >= 0)
		shmring__poll_rearm(r);
	return rc;
}

/* The spin of a blocking call: until fn moves something (its result), the
 * deadline (-ETIMEDOUT), spin_end (-EAGAIN: sleep now), settle's verdict,
 * or a signal (-EINTR, sigguard_tick). *nowp: the last clock read. */
static int spin(shmring *r, enum sr_dir dir, sr_try_fn fn, void *arg, int64_t *nowp,
		int64_t deadline, int64_t spin_end, struct sigguard *g)
{
	/* A consumer spins on a look (ops->readable: the one word that a
	 * message changes) and calls fn only when it says yes: a turn of fn
	 * costs more than the look, and that time was the delay between a
	 * message's arrival and its pickup (64 B ping-pong: 1.24x `floor` with
	 * fn every turn, 1.0x with the look). Every 64th turn calls fn whatever
	 * the look says, so that what fn judges and the look cannot (a corrupt
	 * word: -EBADMSG) is still judged within microseconds, not only at the
	 * next liveness tick (settle). */
	int64_t start = *nowp, now = start;
	bool look = dir == SR_DATA;
	int rc;
	for (unsigned i = 1;; i++) {
		bool tick = i % 64 == 0;
		if (!look || tick || r->ops->readable(r)) {
			rc = fn(r, arg);
			if (rc != -EAGAIN) {
				if (SR_UNLIKELY(r->armed[dir]))
					disarm(r, dir, now);
				return rc;
			}
		}
		if (!tick) {
			cpu_relax();
			continue;
		}
		*nowp = now = shmring__now();
		if ((rc = settle(r, dir, fn, arg, now, false)) != -EAGAIN)
			return rc;
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now >= spin_end)
			return -EAGAIN;
		if (SR_UNLIKELY(now - start >= SR_SPIN_GUARD_NS) && sigguard_tick(g, now))
			return -EINTR;
	}
}

static int block(shmring *r, enum sr_dir dir, sr_try_fn fn, void *arg, int64_t timeout_ns)
{
	int rc;
	if (r->broken)
		return r->broken;

	int64_t now = shmring__now();
	if (timeout_ns == 0)
		return settle(r, dir, fn, arg, now, false);
	int64_t deadline = shmring__after(now, timeout_ns);
	if ((rc = settle(r, dir, fn, arg, now, false)) != -EAGAIN)
		return rc;

	if (r->spin_ns != 0) {
		int64_t spin_end = shmring__after(now, r->spin_ns);
		struct sigguard g = { .blocked = false };
		rc = spin(r, dir, fn, arg, &now, deadline, spin_end, &g);
		/* What moved is returned, as read(2) does, and a handler that
		 * ran as the mask came back is noted for shmring_write, which
		 * then returns the count so far; a signal pending when the spin
		 * gives way to the sleep ends the wait. */
		if (SR_UNLIKELY(g.blocked) && sigguard_end(&g, rc == -EAGAIN || rc >= 0)) {
			if (rc < 0)
				return -EINTR;
			r->signalled = true;
		}
		if (rc != -EAGAIN)
			return rc;
	}

	struct sr_wait_line *w = line_of(r, dir);
	int idx;
	uint64_t bit = bit_of(r, dir, &idx);
	if (idx < 0)
		return -EBADF; /* api.c checks the role first */
	sr_a32 *nsleep = &r->h->nsleep[idx];
	shmring__fence_setup(r); /* a forked child that could not register raises the flag */
	/* The peers were looked at within SR_LIVENESS_NS (settle, above): no
	 * lock probe on the way to every sleep, which would put two system
	 * calls on the wake-up path of every message of a sleeping ring. A
	 * peer that died without closing is seen within a slice. */
	bool force = false;
	for (;;) {
		uint32_t e = evc_announce(&w->mask, bit, nsleep, &w->epoch,
					  r->flags & SHMRING_FENCE_FREE);
		shmring__arm(r, dir); /* wakers must not skip us */
		rc = fn(r, arg);
		now = shmring__now();
		r->awake_since[dir] = now; /* awake (again): no clock read of its own */
		if (rc >= 0 && force)
			r->slice_finds[dir]++; /* not woken, yet it was there */
		if (rc == -EAGAIN)
			rc = settle(r, dir, fn, arg, now, force);
		if (rc == -EAGAIN && now >= deadline)
			rc = -ETIMEDOUT;
		if (rc != -EAGAIN) {
			if (evc_retire(&w->mask, bit, nsleep))
				wake_line(w);
			return rc;
		}
		int64_t slice = deadline - now < SR_LIVENESS_NS ? deadline - now : SR_LIVENESS_NS;
		long fr = futex_wait(&w->epoch, e, slice);
		int err = fr < 0 ? errno : 0;
		if (evc_retire(&w->mask, bit, nsleep))
			wake_line(w);
		if (err == EINTR)
			return -EINTR;
		force = err == ETIMEDOUT; /* a quiet slice: look at the peers again */
	}
}
