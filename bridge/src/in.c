/* SPDX-License-Identifier: MIT */
/*
 * in.c - the IN loop: ZeroMQ -> ring, with the sequence checks.
 *
 * Receive one message (waiting for it), then whatever else is already
 * queued, up to `batch`, without waiting; check each header; put runs of
 * consecutive messages of one session into the ring with shmring_sendv
 * straight from ZeroMQ's buffers (one copy, into the ring). After a cycle
 * that moved a single message (a low rate), the next first message goes to
 * the ring at once, and IN only looks for more every IN_PROBE_EVERY such
 * cycles, so that looking (a system call when nothing is queued) neither
 * delays a message nor competes with the consumer it just woke; under load
 * every cycle is a batch. When that single message woke a consumer asleep
 * on the ring, IN yields the CPU before it goes back to ZeroMQ: the
 * consumer, likely on this CPU, takes the message now, not after IN has
 * re-armed its wait (on a busy machine the scheduler lets a waker run on
 * until it blocks).
 *
 * Backpressure: shmring_sendv waits while the ring is full, and meanwhile
 * IN reads nothing; ZeroMQ's queue (ZMQ_RCVHWM) and then the kernel's socket
 * buffers fill, and the OUT side's sends block.
 *
 * Sequence numbers, per session (an OUT side's run, see wire.h):
 *   seq == next   delivered
 *   seq >  next   a gap: seq - next messages lost in transit (a side
 *                 restarted, or a connection broke). Logged with its
 *                 size, counted in the stats, and added to the ring's
 *                 `dropped` counter (shmring__drop), so `shmring stat` and
 *                 `shmring ls` on this ring show it.
 *   seq <  next   late: older than a message already delivered. Over one
 *                 connection ZeroMQ never reorders; this is a restarted OUT
 *                 side's old connection still delivering after its new one
 *                 did. Dropped, so that the far consumers never see an
 *                 older message after a newer one; the gap counted when the
 *                 newer one came includes it.
 * A message from a session not seen before starts a new stream: the session
 * it replaces (an OUT side restarted without its state) is logged as ended
 * without its marker, and its messages that still arrive are dropped for the
 * same reason, and counted. So are those of a replaced session that has
 * since been forgotten from the table of BR_SESSIONS (the last BR_GONE such
 * ids are kept): a straggler must not take over from the live session.
 *
 * End of stream: the END marker of the current session (after its tail gap,
 * if any, is counted) closes the ring's producer handle, so its consumers
 * see -EPIPE once they have drained it, and run() returns 0.
 */
#include "bridge_int.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int br_in_init(struct shmring_bridge *b, const char *state_name)
{
	struct shmring_stat st;
	int rc;
	b->msgs = calloc((size_t)b->batch + 1, sizeof(*b->msgs));
	b->out = calloc((size_t)b->batch, sizeof(*b->out));
	if (!b->msgs || !b->out)
		return -ENOMEM;
	for (int i = 0; i <= b->batch; i++)
		zmq_msg_init(&b->msgs[i]);
	if ((rc = shmring_stat(b->r, &st)) < 0)
		return rc;
	b->sent = st.sent;
	if (state_name && (rc = br_state_open(b, state_name)) < 0) {
		br_log(b, SHMRING_BRIDGE_ERROR, "state %s: %s", state_name,
		       rc == -EBUSY ? "held by another bridge (give each its own --state)"
				    : strerror(-rc));
		return rc;
	}
	return 0;
}

void br_in_free(struct shmring_bridge *b)
{
	if (b->msgs)
		for (int i = 0; i <= b->batch; i++)
			zmq_msg_close(&b->msgs[i]);
	free(b->msgs);
	free(b->out);
	b->msgs = NULL;
	b->out = NULL;
}

/* The scratch message that zmq_msg_recv fills, past the batch. */
static zmq_msg_t *rx(struct shmring_bridge *b)
{
	return &b->msgs[b->batch];
}

static int find_session(struct shmring_bridge *b, uint32_t id)
{
	for (int i = 0; i < BR_SESSIONS; i++)
		if (b->sess[i].id == id)
			return i;
	return -1;
}

/* A session forgotten from the table (add_session)? */
static bool gone_session(const struct shmring_bridge *b, uint32_t id)
{
	for (unsigned i = 0; i < BR_GONE && i < b->ngone; i++)
		if (b->gone[i] == id)
			return true;
	return false;
}

/* A new session entry: a free one, else the least recently used that is
 * not the current one, whose id goes to the gone list. */
static int add_session(struct shmring_bridge *b, uint32_t id, uint64_t next)
{
	int v = -1;
	for (int i = 0; i < BR_SESSIONS; i++) {
		if (!b->sess[i].id) {
			v = i;
			break;
		}
		if (i != b->cur && (v < 0 || b->sess[i].used < b->sess[v].used))
			v = i;
	}
	if (b->sess[v].id)
		b->gone[b->ngone++ % BR_GONE] = b->sess[v].id;
	b->sess[v] = (struct br_session){ .id = id, .next = next, .used = ++b->tick };
	return v;
}

static void count_gap(struct shmring_bridge *b, struct br_session *s, uint64_t seq,
		      const char *what)
{
	uint64_t d = seq - s->next;
	b->st.gaps++;
	b->st.lost += d;
	shmring__drop(b->r, d);
	br_log(b, SHMRING_BRIDGE_WARN,
	       "gap in session %08x: expected sequence %llu, got %s%llu: %llu message%s lost "
	       "in transit (a side restarted, or a connection broke); counted in the "
	       "ring's dropped",
	       s->id, (unsigned long long)s->next, what, (unsigned long long)seq,
	       (unsigned long long)d, d == 1 ? "" : "s");
	s->next = seq;
	if (s == &b->sess[b->cur])
		br_state_end(b, s->id, seq);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL); /* a signal cuts it short: the caller looks at stop */
}

/* Put the batch into the ring, waiting for room. Returns 0, -EINTR when
 * stopped first (what was not put is lost, and the state says so), or
 * another negative errno. */
static int flush(struct shmring_bridge *b)
{
	int nb = b->nb, done = 0, rc = 0;
	if (!nb)
		return 0;
	struct br_session *s = &b->sess[b->bsess];
	bool cur = b->bsess == b->cur;
	if (cur)
		br_state_begin(b, s->id, b->bseq, (uint64_t)nb);
	while (done < nb) {
		int k = shmring_sendv(b->r, b->out + done, nb - done, BR_WAIT_NS);
		if (k > 0) {
			for (int i = done; i < done + k; i++)
				b->st.bytes += b->out[i].iov_len;
			done += k;
			b->sent += (uint64_t)k;
			b->st.messages += (uint64_t)k;
			if (b->no_consumer) {
				br_log(b, SHMRING_BRIDGE_INFO, "the ring has a consumer again");
				b->no_consumer = false;
			}
			continue;
		}
		if (k == -EPIPE) {
			/* Consumers had attached and all have gone. Hold the
			 * messages (backpressure) until one attaches again. */
			if (!b->no_consumer)
				br_log(b, SHMRING_BRIDGE_WARN,
				       "the ring's consumers have all gone: holding %d messages "
				       "until one attaches (the out side waits meanwhile)",
				       nb - done);
			b->no_consumer = true;
			sleep_ms(BR_WAIT_MS);
			k = -EAGAIN;
		}
		if (k == -ETIMEDOUT || k == -EAGAIN || k == -EINTR) {
			if (br_stopping(b)) {
				br_log(b, SHMRING_BRIDGE_WARN,
				       "stopped with %d received messages not yet in the ring "
				       "(session %08x, from sequence %llu): they are lost%s",
				       nb - done, s->id,
				       (unsigned long long)(b->bseq + (uint64_t)done),
				       cur && b->state ? ", and a restarted in side counts them"
						       : "");
				rc = -EINTR;
				break;
			}
			br_monitor(b);
			continue;
		}
		br_log(b, SHMRING_BRIDGE_ERROR, "producing into the ring: %s", strerror(-k));
		rc = k;
		break;
	}
	if (cur)
		br_state_end(b, s->id, b->bseq + (uint64_t)done);
	for (int i = 0; i < nb; i++) {
		zmq_msg_close(&b->msgs[i]);
		zmq_msg_init(&b->msgs[i]);
	}
	b->nb = 0;
	b->st.batches++;
	return rc;
}

static void reject(struct shmring_bridge *b, const char *why)
{
	b->st.rejected++;
	if (b->st.rejected <= 5 || !(b->st.rejected & (b->st.rejected - 1)))
		br_log(b, SHMRING_BRIDGE_WARN, "rejected a message (%s); %llu so far", why,
		       (unsigned long long)b->st.rejected);
}

/* A session not seen before. Returns its entry. */
static int start_session(struct shmring_bridge *b, const struct wire_hdr *h)
{
	if (b->cur >= 0 && !b->sess[b->cur].ended) {
		struct br_session *o = &b->sess[b->cur];
		b->st.unended++;
		br_log(b, SHMRING_BRIDGE_WARN,
		       "session %08x replaces %08x, which ended without its end marker after "
		       "sequence %llu: an out side restarted, and what it had taken from its "
		       "ring and not sent is lost (it cannot be counted from here)",
		       h->session, o->id, (unsigned long long)o->next);
	}
	/* Joining a stream halfway: its messages before this one went to an
	 * earlier in side, or were lost, and this one cannot tell. So does an
	 * end marker that is the first thing a fresh in side (no state) hears:
	 * its predecessor took the session's messages. One that ends a new
	 * session while this in side runs counts them as lost (a gap). */
	uint64_t next = 0;
	if (h->seq && (h->type != WIRE_END || b->cur < 0)) {
		br_log(b, SHMRING_BRIDGE_WARN,
		       "joined session %08x at sequence %llu: the messages before it were not "
		       "seen by this in side (delivered by an earlier one whose state is gone, "
		       "or lost) and are not counted",
		       h->session, (unsigned long long)h->seq);
		next = h->seq;
	} else {
		br_log(b, SHMRING_BRIDGE_INFO, "session %08x starts", h->session);
	}
	int i = add_session(b, h->session, next);
	b->cur = i;
	b->st.sessions++;
	b->st.session = h->session;
	br_state_end(b, h->session, next);
	return i;
}

/* Take the message in rx(b). Returns 0 (queued, delivered or discarded),
 * 1 when it is the current session's END, or a negative errno from flush. */
static int take(struct shmring_bridge *b)
{
	zmq_msg_t *m = rx(b);
	const uint8_t *p = zmq_msg_data(m);
	size_t len = zmq_msg_size(m);
	struct wire_hdr h;
	int rc;

	if (zmq_msg_more(m) || wire_get(p, len, &h) < 0) {
		reject(b, "not a bridge message of this version");
		return 0;
	}
	int i = find_session(b, h.session);
	if (i < 0 && gone_session(b, h.session)) {
		/* A replaced session forgotten since: late, as below. */
		if (h.type != WIRE_END) {
			b->st.late++;
			b->st.lost++;
			shmring__drop(b->r, 1);
		}
		return 0;
	}
	if (i < 0) {
		if ((rc = flush(b)) < 0)
			return rc;
		i = start_session(b, &h);
	}
	struct br_session *s = &b->sess[i];
	s->used = ++b->tick;

	if (i != b->cur) {
		/* A replaced session (an out side restarted without its state):
		 * what its old connection still delivers is older than what the
		 * new one already did, and would break the order. */
		if (h.type == WIRE_END) {
			s->ended = true;
			return 0;
		}
		b->st.late++;
		b->st.lost++;
		shmring__drop(b->r, 1);
		if (h.seq >= s->next)
			s->next = h.seq + 1;
		if (!s->warned) {
			s->warned = true;
			br_log(b, SHMRING_BRIDGE_WARN,
			       "messages of replaced session %08x still arrive (from its old "
			       "connection) after those of %08x: dropped to keep the order, and "
			       "counted in the ring's dropped",
			       s->id, b->sess[b->cur].id);
		}
		return 0;
	}

	if (h.type == WIRE_END) {
		if ((rc = flush(b)) < 0)
			return rc;
		if (h.seq > s->next)
			count_gap(b, s, h.seq, "the end marker after ");
		s->ended = true;
		b->st.next_seq = s->next;
		return 1;
	}

	if (h.seq < s->next) {
		/* Older than one already delivered: it came over an old
		 * connection of a restarted out side, after the new one's
		 * first message, and the gap counted then includes it. */
		b->st.late++;
		if (b->st.late <= 5 || !(b->st.late & (b->st.late - 1)))
			br_log(b, SHMRING_BRIDGE_WARN,
			       "late message of session %08x (sequence %llu, expected %llu): "
			       "already counted in a gap, dropped to keep the order; %llu so far",
			       s->id, (unsigned long long)h.seq, (unsigned long long)s->next,
			       (unsigned long long)b->st.late);
		return 0;
	}
	if (b->nb && (i != b->bsess || h.seq != b->bseq + (uint64_t)b->nb || h.seq != s->next))
		if ((rc = flush(b)) < 0)
			return rc;
	if (h.seq > s->next)
		count_gap(b, s, h.seq, "");
	if (h.type == WIRE_SKIP || len - WIRE_HDR > b->max_msg) {
		if ((rc = flush(b)) < 0)
			return rc;
		b->st.oversize++;
		shmring__drop(b->r, 1);
		if (h.type == WIRE_SKIP)
			br_log(b, SHMRING_BRIDGE_WARN,
			       "session %08x sequence %llu: a message larger than a bridge "
			       "carries was dropped by the out side; counted in the ring's "
			       "dropped",
			       s->id, (unsigned long long)h.seq);
		else
			br_log(b, SHMRING_BRIDGE_WARN,
			       "session %08x sequence %llu: a %zu-byte message does not fit the "
			       "ring (max_msg %zu): dropped, and counted in the ring's dropped",
			       s->id, (unsigned long long)h.seq, len - WIRE_HDR, b->max_msg);
		s->next = h.seq + 1;
		if (i == b->cur)
			br_state_end(b, s->id, s->next);
		return 0;
	}
	if (!b->nb) {
		b->bsess = i;
		b->bseq = h.seq;
	}
	zmq_msg_move(&b->msgs[b->nb], m);
	b->out[b->nb].iov_base = (uint8_t *)zmq_msg_data(&b->msgs[b->nb]) + WIRE_HDR;
	b->out[b->nb].iov_len = len - WIRE_HDR;
	b->nb++;
	s->next = h.seq + 1;
	if (i == b->cur)
		b->st.next_seq = s->next;
	if (b->nb == b->batch)
		return flush(b);
	return 0;
}

static int finish(struct shmring_bridge *b)
{
	b->st.eos = true;
	br_log(b, SHMRING_BRIDGE_INFO,
	       "end of stream: session %08x ended after %llu messages; closing the ring's "
	       "producer, so its consumers see end of file once they have drained it",
	       b->sess[b->cur].id, (unsigned long long)b->sess[b->cur].next);
	shmring_close(b->r);
	b->r = NULL;
	/* Closing the connection tells the out side that the marker, and so
	 * everything before it, arrived (out.c, out_end). */
	br_zmq_close(b);
	return 0;
}

/* After how many single-message cycles IN looks once whether more is
 * queued (a system call when nothing is): how soon a rising rate turns
 * into batches. */
#define IN_PROBE_EVERY 16

/* The futex wakes this side has issued on the ring (its consumers asleep). */
static uint64_t ring_wakeups(const struct shmring_bridge *b)
{
	return ld_relaxed(&b->r->prod.ep->wakeups);
}

int br_in_run(struct shmring_bridge *b)
{
	unsigned last = 0;    /* messages the previous cycle took */
	unsigned singles = 0; /* single-message cycles in a row */
	for (;;) {
		if (br_stopping(b))
			return -EINTR;
		if (zmq_msg_recv(rx(b), b->sock, 0) < 0) {
			int e = zmq_errno();
			if (e == EAGAIN || e == EINTR) {
				br_monitor(b);
				continue;
			}
			br_log(b, SHMRING_BRIDGE_ERROR, "zmq_msg_recv: %s", zmq_strerror(e));
			return -e;
		}
		int rc = take(b);
		unsigned got = 1;
		bool probe = true;
		if (rc == 0 && last <= 1) {
			/* A low rate: this one goes at once, and IN waits for the
			 * next without first asking whether one is queued (the
			 * waiting receive takes a queued one at once anyway; the
			 * asking costs a system call when none is). Now and then
			 * it asks, to find out that the rate has risen. */
			uint64_t woke = ring_wakeups(b);
			rc = flush(b);
			if (rc == 0 && ring_wakeups(b) != woke)
				sched_yield();
			probe = ++singles % IN_PROBE_EVERY == 0;
		}
		while (probe && rc == 0 && got < (unsigned)b->batch &&
		       zmq_msg_recv(rx(b), b->sock, ZMQ_DONTWAIT) >= 0) {
			rc = take(b);
			got++;
		}
		if (rc == 0)
			rc = flush(b);
		if (rc == 1)
			return finish(b);
		if (rc < 0)
			return rc;
		if (got > 1)
			singles = 0;
		last = got;
		if (++b->ticks >= 1024)
			br_monitor(b);
	}
}
