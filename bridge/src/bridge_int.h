/* SPDX-License-Identifier: MIT */
/*
 * bridge_int.h - the seams between the bridge's files:
 *
 *   bridge.c  the handle: arguments, the ZeroMQ context and socket, the
 *             connection monitor, logging, stats, close
 *   out.c     ring -> ZeroMQ (the OUT loop)
 *   in.c      ZeroMQ -> ring (the IN loop: sequence checks, gaps, end of stream)
 *   state.c   IN's small state object, which outlives a crash of IN
 *   wire.h    the 16-byte header of every ZeroMQ message
 */
#ifndef SHMRING_BRIDGE_INT_H
#define SHMRING_BRIDGE_INT_H

#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <zmq.h>

#include "internal.h" /* struct shmring (ring identity), shmring__drop() */
#include "shmring_bridge.h"
#include "wire.h"

/* How long one blocking call may wait before the loop looks at the stop
 * flag and the connection monitor again. A signal ends the wait sooner. */
#define BR_WAIT_MS 100
#define BR_WAIT_NS ((int64_t)BR_WAIT_MS * 1000 * 1000)

/* Sessions IN keeps apart at once: the current one and a few replaced ones
 * whose last messages may still be queued on another connection. */
#define BR_SESSIONS 8

/* Sessions IN remembers as gone (replaced and then forgotten from the table
 * above): a late message of one is dropped and counted, and does not start
 * a new session that would replace the live one. */
#define BR_GONE 64

struct br_session {
	uint32_t id;   /* 0 = free entry */
	uint64_t next; /* sequence number expected next */
	uint64_t used; /* LRU tick */
	bool ended;    /* its END arrived */
	bool warned;   /* "replaced session's messages dropped" logged once */
};

/* IN's state object (state.c). */
struct br_state;

struct shmring_bridge {
	enum shmring_bridge_dir dir;
	shmring *r;
	size_t max_msg;
	void *ctx, *sock, *mon;
	char endpoint[512]; /* as ZeroMQ resolved it */
	char mon_addr[64];
	bool bound;
	char ipc_path[256]; /* a bound ipc:// endpoint's file, removed at close */
	uint64_t ipc_dev, ipc_ino;
	int batch;
	int linger_ms;
	shmring_bridge_log_fn log;
	void *log_arg;
	atomic_int stop;
	unsigned ticks; /* loop turns since the monitor was last read */
	struct shmring_bridge_stats st;

	/* OUT */
	uint8_t *arena; /* nslots slots of WIRE_HDR + max_msg bytes */
	size_t slot;
	struct iovec *iov;
	int nslots;

	/* IN */
	struct br_session sess[BR_SESSIONS];
	int cur; /* index of the current session, -1: none yet */
	uint32_t gone[BR_GONE]; /* ids of sessions forgotten from sess[] */
	unsigned ngone;
	uint64_t tick;
	zmq_msg_t *msgs; /* the batch being built: received, not yet in the ring */
	struct iovec *out;
	int nb;           /* messages in it */
	int bsess;        /* their session index */
	uint64_t bseq;    /* sequence number of the first */
	uint64_t sent;    /* the ring's `sent` count as we believe it (state.c) */
	bool no_consumer; /* "no consumer, holding" logged */
	struct br_state *state;
	char *state_name;
	int state_fd; /* holds the object's lock; -1 none */
	bool state_created; /* by this bridge: removed if it fails to start */
};

/* bridge.c */
void br_log(struct shmring_bridge *b, enum shmring_bridge_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Read and log what the connection monitor has to say, without waiting.
 * Returns the events seen (BR_EV_*). */
#define BR_EV_UP 0x1   /* a connection was made (connected or accepted) */
#define BR_EV_DOWN 0x2 /* a connection was lost or closed by the peer */
unsigned br_monitor(struct shmring_bridge *b);
/* Wait at most ms for the monitor to have something (zmq_poll). */
void br_monitor_wait(struct shmring_bridge *b, long ms);
/* Close the socket, the monitor and the context (with the socket's linger). */
void br_zmq_close(struct shmring_bridge *b);
static inline bool br_stopping(struct shmring_bridge *b)
{
	return atomic_load_explicit(&b->stop, memory_order_relaxed) != 0;
}

/* out.c, in.c */
int br_out_init(struct shmring_bridge *b, const char *state_name);
int br_out_run(struct shmring_bridge *b);
void br_out_free(struct shmring_bridge *b);
int br_in_init(struct shmring_bridge *b, const char *state_name);
int br_in_run(struct shmring_bridge *b);
void br_in_free(struct shmring_bridge *b);

/* state.c: each side's record of where its stream stands, in a POSIX
 * shared-memory object, so that a restarted side counts what was lost.
 * See state.c for the protocol. */
int br_state_open(struct shmring_bridge *b, const char *name);     /* IN */
int br_out_state_open(struct shmring_bridge *b, const char *name); /* OUT */
void br_state_close(struct shmring_bridge *b, bool remove);
/* Before a batch of n consecutive messages (session, first seq) goes to the ring. */
void br_state_begin(struct shmring_bridge *b, uint32_t session, uint64_t seq, uint64_t n);
/* After it: `done` of them are in the ring (or dropped as oversize). */
void br_state_end(struct shmring_bridge *b, uint32_t session, uint64_t next);

#endif /* SHMRING_BRIDGE_INT_H */
