/* SPDX-License-Identifier: MIT */
/*
 * out.c - the OUT loop: ring -> ZeroMQ.
 *
 * Take what the ring holds, up to `batch` messages, with one shmring_recvv
 * (it waits only for the first, so a lone message leaves at once: no timer,
 * no added delay at low rates), then hand each to ZeroMQ as its own message
 * behind the wire header. Each message is received into a slot that leaves
 * room for the header in front of it, so that the header and the payload
 * reach zmq_send in one piece and are copied once more, by ZeroMQ.
 *
 * When the ring runs dry after a batch, OUT yields the CPU once before it
 * goes to sleep on the ring: zmq_send has just woken ZeroMQ's I/O thread,
 * which does the writing, and on the same CPU it would otherwise wait for
 * OUT's way to sleep (the ring's liveness look and the futex, several
 * system calls). One message then reaches the wire a few microseconds
 * sooner; under load the ring is rarely dry and nothing changes.
 *
 * Backpressure: zmq_send blocks while the PUSH queue is at its high-water
 * mark (the far side is slow or gone); meanwhile nothing is taken from the
 * ring, which fills, and its producers wait or get -EAGAIN as they would
 * with a slow local consumer.
 *
 * End of stream: shmring_recvv returns -EPIPE when producers had attached,
 * all have gone, and the ring is drained; OUT then queues an END marker
 * carrying the number of messages it sent, waits until the in side has it
 * (out_end), and returns 0.
 */
#include "bridge_int.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* All slots together stay near this size, whatever max_msg is. */
#define OUT_ARENA ((size_t)1 << 20)

static uint32_t new_session(void)
{
	uint32_t s = 0;
	while (!s) {
		if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			s = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ ((uint32_t)getpid() << 16);
		}
	}
	return s;
}

int br_out_init(struct shmring_bridge *b, const char *state_name)
{
	b->slot = (WIRE_HDR + b->max_msg + 15) & ~(size_t)15;
	size_t n = OUT_ARENA / b->slot;
	if (n < 1)
		n = 1;
	if (n > (size_t)b->batch)
		n = (size_t)b->batch;
	b->nslots = (int)n;
	b->arena = malloc(n * b->slot);
	b->iov = calloc(n, sizeof(*b->iov));
	if (!b->arena || !b->iov)
		return -ENOMEM;
	b->st.session = new_session();
	if (state_name) {
		int rc = br_out_state_open(b, state_name);
		if (rc < 0) {
			br_log(b, SHMRING_BRIDGE_ERROR, "state %s: %s", state_name,
			       rc == -EBUSY ? "held by another bridge (give each its own --state)"
					    : strerror(-rc));
			return rc;
		}
	}
	return 0;
}

void br_out_free(struct shmring_bridge *b)
{
	free(b->arena);
	free(b->iov);
	b->arena = NULL;
	b->iov = NULL;
}

/* Send one ZeroMQ message, blocking while the queue is full. Returns 0, or
 * -EINTR when stopped first, or another negative errno. */
static int out_send(struct shmring_bridge *b, const void *p, size_t len)
{
	for (;;) {
		if (zmq_send(b->sock, p, len, 0) >= 0)
			return 0;
		int e = zmq_errno();
		if (e != EAGAIN && e != EINTR) {
			br_log(b, SHMRING_BRIDGE_ERROR, "zmq_send: %s", zmq_strerror(e));
			return -e;
		}
		if (br_stopping(b))
			return -EINTR;
		br_monitor(b);
	}
}

/* End of stream: queue the END marker, then wait until the in side has it.
 *
 * ZeroMQ's linger cannot tell: it waits until ZeroMQ's queue is empty, not
 * until the bytes have left the process, and a closing socket drops what
 * its connection had taken from the queue but not yet written (a receiver
 * that is slow because its ring is full leaves exactly that behind). So the
 * IN side, once it has the marker, closes its socket, and OUT waits for the
 * connection to close (the monitor's DISCONNECTED): every message before
 * the marker has then been received. At most linger_ms (default: as long
 * as it takes), or until stopped. */
static int out_end(struct shmring_bridge *b)
{
	uint8_t hdr[WIRE_HDR];
	br_monitor(b); /* forget the disconnections that came before */
	wire_put(hdr, WIRE_END, b->st.session, b->st.next_seq);
	int rc = out_send(b, hdr, sizeof(hdr));
	if (rc < 0) {
		if (rc == -EINTR)
			br_log(b, SHMRING_BRIDGE_WARN,
			       "stopped before the end-of-stream marker could be queued");
		return rc;
	}
	b->st.eos = true;
	br_log(b, SHMRING_BRIDGE_INFO,
	       "end of stream: every producer has gone and the ring is drained; session "
	       "%08x ends after %llu messages",
	       b->st.session, (unsigned long long)b->st.next_seq);
	int64_t deadline = b->linger_ms < 0 ? INT64_MAX
					    : shmring__now() + (int64_t)b->linger_ms * 1000000;
	for (;;) {
		if (br_monitor(b) & BR_EV_DOWN)
			return 0;
		if (br_stopping(b)) {
			br_log(b, SHMRING_BRIDGE_WARN,
			       "stopped before the in side confirmed the end of stream");
			return -EINTR;
		}
		int64_t left = deadline - shmring__now();
		if (left <= 0) {
			br_log(b, SHMRING_BRIDGE_WARN,
			       "the in side has not confirmed the end of stream after %d ms: "
			       "giving up (the marker and the last messages may be lost)",
			       b->linger_ms);
			return 0;
		}
		br_monitor_wait(b, left < BR_WAIT_NS ? (long)(left / 1000000) + 1 : BR_WAIT_MS);
	}
}

int br_out_run(struct shmring_bridge *b)
{
	bool yield = false; /* messages went to ZeroMQ since the ring was last empty */
	for (;;) {
		if (br_stopping(b))
			return -EINTR;
		for (int i = 0; i < b->nslots; i++) {
			b->iov[i].iov_base = b->arena + (size_t)i * b->slot + WIRE_HDR;
			b->iov[i].iov_len = b->max_msg;
		}
		int n = shmring_recvv(b->r, b->iov, b->nslots, 0);
		if (n == -EAGAIN && yield) {
			/* The ring is empty and ZeroMQ's I/O thread has just been
			 * handed messages: let it send them now, before this
			 * thread's way to sleep (the ring's liveness probe and the
			 * futex) delays it. */
			yield = false;
			sched_yield();
			n = shmring_recvv(b->r, b->iov, b->nslots, 0);
		}
		if (n == -EAGAIN)
			n = shmring_recvv(b->r, b->iov, b->nslots, BR_WAIT_NS);
		if (n == -ETIMEDOUT || n == -EAGAIN || n == -EINTR) {
			br_monitor(b);
			continue;
		}
		if (n == -EPIPE)
			return out_end(b);
		if (n < 0) {
			br_log(b, SHMRING_BRIDGE_ERROR, "receiving from the ring: %s",
			       strerror(-n));
			return n;
		}
		for (int i = 0; i < n; i++) {
			uint8_t *slot = b->arena + (size_t)i * b->slot;
			size_t len = b->iov[i].iov_len;
			/* Too large for the far side's ZeroMQ (wire.h): its
			 * number crosses, for the far side to count. */
			bool skip = WIRE_HDR + len > WIRE_MAX_FRAME;
			if (skip) {
				b->st.oversize++;
				br_log(b, SHMRING_BRIDGE_WARN,
				       "session %08x sequence %llu: a %zu-byte message is larger "
				       "than a bridge carries (%zu bytes): dropped, and counted "
				       "on both sides",
				       b->st.session, (unsigned long long)b->st.next_seq, len,
				       WIRE_MAX_FRAME - WIRE_HDR);
			}
			wire_put(slot, skip ? WIRE_SKIP : WIRE_DATA, b->st.session, b->st.next_seq);
			int rc = out_send(b, slot, WIRE_HDR + (skip ? 0 : len));
			if (rc < 0) {
				if (rc == -EINTR && n - i)
					br_log(b, SHMRING_BRIDGE_WARN,
					       "stopped with %d messages taken from the ring "
					       "and not sent: they are lost (session %08x, "
					       "from sequence %llu)%s",
					       n - i, b->st.session,
					       (unsigned long long)b->st.next_seq,
					       b->state ? "; a restarted out side counts them"
							: "");
				return rc;
			}
			b->st.next_seq++;
			if (skip)
				continue;
			b->st.messages++;
			b->st.bytes += len;
		}
		b->st.batches++;
		yield = true;
		if (++b->ticks >= 1024)
			br_monitor(b);
	}
}
