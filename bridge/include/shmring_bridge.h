/* SPDX-License-Identifier: MIT */
/*
 * shmring_bridge.h - carry a ring's messages to a ring on another host, over
 * ZeroMQ. The library behind `shmring bridge out` and `shmring bridge in`.
 *
 *   host A:  producers -> ring -> [bridge OUT] --PUSH--\
 *                                                       | ZeroMQ (tcp://, ipc://)
 *   host B:  consumers <- ring <- [bridge IN]  <-PULL--/
 *
 * An OUT bridge is the ring's consumer: it takes messages in batches
 * (shmring_recvv) and sends each as one ZeroMQ message, behind a 16-byte
 * header (session, sequence number). An IN bridge is the far ring's producer:
 * it receives, checks each sequence number, and produces batches into the
 * ring (shmring_sendv). Order is kept; backpressure runs end to end (a full
 * far ring stops IN, ZeroMQ's queues fill, OUT blocks, the near ring fills);
 * a sequence gap (a side restarted, a connection broke with messages in
 * flight) is logged with its size and added to the far ring's `dropped`
 * counter.
 * When every producer of the near ring has gone and it is drained, OUT sends
 * an end-of-stream marker; IN then closes its producer, so the far consumers
 * see -EPIPE once they have drained the far ring.
 *
 * A bridge is a single-threaded loop: shmring_bridge_run() blocks until end
 * of stream, shmring_bridge_stop(), or an error. Conventions as in
 * shmring.h: 0 or a count on success, a negative errno on failure; nothing
 * prints (log lines go to the caller's callback); nothing exits.
 *
 * The library links ZeroMQ (libzmq) and the static shmring library; the core
 * library never links ZeroMQ.
 */
#ifndef SHMRING_BRIDGE_H
#define SHMRING_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmring.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmring_bridge shmring_bridge; /* opaque; one thread at a time */

enum shmring_bridge_dir {
	SHMRING_BRIDGE_OUT = 1, /* ring -> ZeroMQ: consumer of its ring, PUSH socket */
	SHMRING_BRIDGE_IN = 2,  /* ZeroMQ -> ring: producer of its ring, PULL socket */
};

/* Log levels passed to the callback. */
enum shmring_bridge_level {
	SHMRING_BRIDGE_ERROR = 0, /* the bridge stops */
	SHMRING_BRIDGE_WARN = 1,  /* a gap, a stream that ended without its marker, ... */
	SHMRING_BRIDGE_INFO = 2,  /* connections, sessions, end of stream */
};

typedef void (*shmring_bridge_log_fn)(void *arg, enum shmring_bridge_level level, const char *line);

#define SHMRING_BRIDGE_DEFAULT_HWM 1000   /* ZeroMQ messages queued per side */
#define SHMRING_BRIDGE_DEFAULT_BATCH 1024 /* messages per shmring_recvv/sendv */
#define SHMRING_BRIDGE_MAX_BATCH 65536    /* more is -EINVAL */
#define SHMRING_BRIDGE_DEFAULT_SPIN_NS 0  /* see spin_ns below */

struct shmring_bridge_config { /* all-zero = defaults */
	/* ZMQ_SNDHWM (OUT) / ZMQ_RCVHWM (IN), in messages; 0 = 1000. Small
	 * queues make backpressure reach the near ring sooner, and bound what
	 * a restarted IN side loses. */
	int hwm;
	/* Most messages moved by one shmring_recvv / shmring_sendv; 0 = 1024,
	 * at most 65536 (fewer ring calls, so fewer wakeups of the peer, under load; a batch
	 * never waits to fill). OUT also keeps it under 1 MiB of max_msg slots;
	 * IN rarely finds more than its ZeroMQ queue (hwm) waiting. */
	int batch;
	/* ZMQ_SNDBUF / ZMQ_RCVBUF (the kernel's socket buffers), bytes; 0 =
	 * the system's default (autotuned). Smaller buffers hold fewer
	 * messages in flight (less to lose, backpressure sooner). */
	int sockbuf;
	/* How long a wait on the ring spins before it sleeps (shmring_set_spin):
	 * 0 = the bridge's default, which is to sleep at once (the bridge shares
	 * the CPUs with ZeroMQ's I/O thread, which must run for anything to
	 * move); > 0 spin that many ns; < 0 busy-poll. */
	int64_t spin_ns;
	/* OUT: how long, after end of stream or stop, closing waits for queued
	 * messages to leave (ZMQ_LINGER), ms: 0 = forever; < 0 = not at all. */
	int linger_ms;
	/* The POSIX shared-memory name ("/name") of a small object where the
	 * bridge keeps where its stream stands (IN: the next sequence number
	 * it expects; OUT: its session and where its numbering started), so
	 * that a side restarted after a crash counts what was lost in
	 * between, as a gap at the IN side. NULL = none: a restarted IN then
	 * counts nothing, a restarted OUT starts a new session (the loss is
	 * logged, not counted). Removed at end of stream. */
	const char *state;
	/* Where log lines go (one line, no newline); NULL = nowhere. */
	shmring_bridge_log_fn log;
	void *log_arg;
	uint64_t reserved[4]; /* must be zero */
};

/* Counters of one bridge, since shmring_bridge_new(). */
struct shmring_bridge_stats {
	uint64_t messages; /* OUT: handed to ZeroMQ; IN: produced into the ring */
	uint64_t bytes;    /* their payload bytes */
	uint64_t batches;  /* ring calls (recvv / sendv) that moved messages */
	uint32_t session;  /* OUT: this bridge's session; IN: the current one (0: none yet) */
	uint64_t next_seq; /* OUT: the next sequence number; IN: the one expected next */
	/* IN only: */
	uint64_t gaps;     /* sequence gaps seen */
	uint64_t lost;     /* messages lost: gaps, and a replaced session's stragglers (all
			      also added to the ring's `dropped`) */
	uint64_t sessions; /* sessions (OUT sides) seen */
	uint64_t unended;  /* sessions replaced by a new one before their end marker */
	uint64_t late;     /* messages older than one already delivered (a restarted OUT's
			      old connection): dropped to keep the order, and counted */
	uint64_t rejected; /* ZeroMQ messages that were not ours (wrong magic, version, ...) */
	uint64_t oversize; /* too large: IN, for the ring's max_msg; both, for the wire
			      (over 16 MiB with the bridge's 16-byte header): dropped,
			      counted (IN: in the ring's `dropped` too) */
	bool eos;          /* the end-of-stream marker was sent (OUT) / received (IN) */
	uint64_t reserved[5];
};

/*
 * Make a bridge between ring `r` and ZeroMQ `endpoint`. The bridge takes the
 * handle over (it closes it in shmring_bridge_close(), or at end of stream
 * for IN): `r` must hold the consumer role for OUT, the producer role for
 * IN, and be a message ring (not a stream).
 *
 * endpoint: ZeroMQ's syntax, tcp://HOST:PORT or ipc://PATH, optionally
 * prefixed with '@' (bind) or '>' (connect). Without a prefix, OUT connects
 * and IN binds, except that an endpoint with the host '*' always binds
 * (tcp://ANY:PORT). A bound endpoint may use the port '*' (tcp://127.0.0.1:*);
 * shmring_bridge_endpoint() then says which port was taken.
 *
 * Returns 0, -EINVAL (bad argument, unknown config bits, wrong role),
 * -EOPNOTSUPP (a stream ring), -ENOMEM, or ZeroMQ's error for the endpoint
 * (-EADDRINUSE, -EPROTONOSUPPORT, ...). On failure `r` is still the caller's.
 */
int shmring_bridge_new(enum shmring_bridge_dir dir, shmring *r, const char *endpoint,
		       const struct shmring_bridge_config *cfg, shmring_bridge **out);

/* The endpoint as ZeroMQ resolved it (ZMQ_LAST_ENDPOINT: the real port of a
 * wildcard bind). Returns its length, or -ENOSPC / -EINVAL. */
int shmring_bridge_endpoint(const shmring_bridge *b, char *buf, size_t len);

/*
 * Move messages until end of stream, shmring_bridge_stop(), or an error.
 * Blocking; never busy-waits unless spin_ns < 0.
 *
 * Returns 0 at end of stream (OUT: the marker was queued after the last
 * message; IN: the marker arrived and the ring's producer role is closed),
 * -EINTR when stopped, or the error that stopped it (-EBADMSG: the ring is
 * corrupt, ...). A signal delivered to the thread without SA_RESTART makes
 * the blocking calls return at once, so a handler that calls
 * shmring_bridge_stop() stops run() promptly; another thread's call takes
 * effect within 100 ms.
 */
int shmring_bridge_run(shmring_bridge *b);

/* Ask run() to return -EINTR. Async-signal-safe; callable from any thread. */
void shmring_bridge_stop(shmring_bridge *b);

int shmring_bridge_stats(const shmring_bridge *b, struct shmring_bridge_stats *st);

/* Close the ZeroMQ socket (OUT: waiting up to linger_ms for queued
 * messages to leave), the context and the ring handle, and free the bridge.
 * The state object is kept unless the stream ended. Returns 0. */
int shmring_bridge_close(shmring_bridge *b);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_BRIDGE_H */
