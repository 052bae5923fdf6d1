/* SPDX-License-Identifier: MIT */
/*
 * bridge.c - the bridge handle: checks its arguments, sets up ZeroMQ (one
 * context with one I/O thread, one PUSH or PULL socket, a monitor of its
 * connections), logs, counts, and tears it all down. The loops live in
 * out.c and in.c.
 *
 * Socket choices, and why:
 *  - PUSH (OUT) / PULL (IN): one-way, ordered per connection, and a PUSH
 *    whose queue is full blocks its sender: exactly a full ring.
 *  - ZMQ_SNDHWM / ZMQ_RCVHWM small (config.hwm, 1000 messages): backpressure
 *    reaches the near ring soon, and a restarted IN loses little.
 *  - No ZMTP heartbeats: a receiver whose ring is full stops reading its
 *    socket, so it would not answer a PING, and the sender would drop a
 *    healthy but backpressured connection (and what was in flight). TCP
 *    keepalive finds dead peers instead, and TCP's zero-window probes keep
 *    a stalled connection alive as long as the peer's kernel answers.
 *  - ZMQ_SNDTIMEO / ZMQ_RCVTIMEO of BR_WAIT_MS, so that the loops look at
 *    the stop flag and the monitor while they wait.
 */
#include "bridge_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void br_log(struct shmring_bridge *b, enum shmring_bridge_level lvl, const char *fmt, ...)
{
	if (!b->log)
		return;
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->log(b->log_arg, lvl, line);
}

/* ---- the connection monitor ---- */

static int monitor_open(struct shmring_bridge *b)
{
	static atomic_uint seq;
	snprintf(b->mon_addr, sizeof(b->mon_addr), "inproc://shmring-bridge-monitor-%u",
		 atomic_fetch_add(&seq, 1));
	int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED;
#ifdef ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
	events |= ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
#endif
	if (zmq_socket_monitor(b->sock, b->mon_addr, events) < 0)
		return -zmq_errno();
	if (!(b->mon = zmq_socket(b->ctx, ZMQ_PAIR)))
		return -zmq_errno();
	int zero = 0;
	zmq_setsockopt(b->mon, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_connect(b->mon, b->mon_addr) < 0)
		return -zmq_errno();
	return 0;
}

unsigned br_monitor(struct shmring_bridge *b)
{
	unsigned seen = 0;
	b->ticks = 0;
	if (!b->mon)
		return 0;
	for (;;) {
		zmq_msg_t ev, addr;
		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, b->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			return seen;
		}
		uint16_t event = 0;
		if (zmq_msg_size(&ev) >= 2)
			memcpy(&event, zmq_msg_data(&ev), 2);
		bool more = zmq_msg_more(&ev);
		zmq_msg_close(&ev);
		char where[256] = "";
		if (more) {
			zmq_msg_init(&addr);
			if (zmq_msg_recv(&addr, b->mon, 0) >= 0) {
				size_t n = zmq_msg_size(&addr);
				if (n >= sizeof(where))
					n = sizeof(where) - 1;
				memcpy(where, zmq_msg_data(&addr), n);
				where[n] = 0;
			}
			zmq_msg_close(&addr);
		}
		switch (event) {
		case ZMQ_EVENT_CONNECTED:
			seen |= BR_EV_UP;
			br_log(b, SHMRING_BRIDGE_INFO, "connected to %s", where);
			break;
		case ZMQ_EVENT_ACCEPTED:
			seen |= BR_EV_UP;
			br_log(b, SHMRING_BRIDGE_INFO, "accepted a connection on %s", where);
			break;
		case ZMQ_EVENT_DISCONNECTED:
			seen |= BR_EV_DOWN;
			if (b->dir == SHMRING_BRIDGE_OUT && b->st.eos)
				br_log(b, SHMRING_BRIDGE_INFO,
				       "the in side closed the connection on %s: it has the "
				       "end-of-stream marker",
				       where);
			else if (b->dir == SHMRING_BRIDGE_OUT || !b->st.eos)
				br_log(b, SHMRING_BRIDGE_WARN, "connection on %s lost%s", where,
				       b->bound ? "" : "; reconnecting");
			break;
		default:
			br_log(b, SHMRING_BRIDGE_WARN,
			       "handshake failed on %s (not a bridge of this version?)", where);
			break;
		}
	}
}

void br_monitor_wait(struct shmring_bridge *b, long ms)
{
	zmq_pollitem_t it = { .socket = b->mon, .events = ZMQ_POLLIN };
	if (b->mon)
		zmq_poll(&it, 1, ms);
}

/* ---- endpoints ---- */

/* '@' binds, '>' connects; otherwise host '*' binds, and else IN binds and
 * OUT connects. Returns the endpoint without its prefix. */
static const char *endpoint_mode(enum shmring_bridge_dir dir, const char *ep, bool *bind)
{
	if (*ep == '@' || *ep == '>') {
		*bind = *ep == '@';
		return ep + 1;
	}
	if (!strncmp(ep, "tcp://*", 7)) {
		*bind = true;
		return ep;
	}
	*bind = dir == SHMRING_BRIDGE_IN;
	return ep;
}

/* A TCP port past 65535 is refused: ZeroMQ would take it modulo 2^16 and
 * listen on, or connect to, a port nobody asked for. */
static bool port_valid(const char *ep)
{
	if (strncmp(ep, "tcp://", 6))
		return true;
	const char *colon = strrchr(ep + 6, ':');
	if (!colon || colon[1] < '0' || colon[1] > '9')
		return true; /* '*', or ZeroMQ judges it */
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	return *end || (errno == 0 && port <= 65535);
}

/* IPv6 too (a host name may resolve to it, '*' then listens on both),
 * unless the host is an IPv4 address: then it stays IPv4, and the endpoint
 * ZeroMQ reports reads tcp://127.0.0.1:PORT, not tcp://[::ffff:127.0.0.1]:PORT. */
static bool wants_ipv6(const char *ep)
{
	if (strncmp(ep, "tcp://", 6))
		return false;
	const char *host = ep + 6, *colon = strrchr(host, ':');
	if (!colon || colon == host)
		return true;
	for (const char *p = host; p < colon; p++)
		if (!(*p == '.' || (*p >= '0' && *p <= '9')))
			return true;
	return false;
}

static int setopt_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof(v)) < 0 ? -zmq_errno() : 0;
}

static int socket_open(struct shmring_bridge *b, const char *endpoint,
		       const struct shmring_bridge_config *c)
{
	bool bind;
	const char *ep = endpoint_mode(b->dir, endpoint, &bind);
	int hwm = c->hwm > 0 ? c->hwm : SHMRING_BRIDGE_DEFAULT_HWM;
	int rc;
	if (!port_valid(ep))
		return -EINVAL;

	if (!(b->ctx = zmq_ctx_new()))
		return -zmq_errno();
	/* No limit of our own on sockets; a blocked zmq_ctx_term must stay
	 * interruptible by a signal (the default), nothing else to set. */
	if (!(b->sock = zmq_socket(b->ctx, b->dir == SHMRING_BRIDGE_OUT ? ZMQ_PUSH : ZMQ_PULL)))
		return -zmq_errno();
	/* Senders never send more (wire.h); a message larger than the ring's
	 * max_msg is dropped and counted; this keeps a foreign or broken peer
	 * from making us allocate without bound. */
	int64_t maxmsg = (int64_t)WIRE_MAX_FRAME;
	if ((rc = setopt_int(b->sock, b->dir == SHMRING_BRIDGE_OUT ? ZMQ_SNDHWM : ZMQ_RCVHWM,
			     hwm)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_SNDTIMEO, BR_WAIT_MS)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_RCVTIMEO, BR_WAIT_MS)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_LINGER, 0)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_IPV6, wants_ipv6(ep))) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_RECONNECT_IVL, 100)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_RECONNECT_IVL_MAX, 2000)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_TCP_KEEPALIVE, 1)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_TCP_KEEPALIVE_IDLE, 30)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_TCP_KEEPALIVE_INTVL, 10)) < 0 ||
	    (rc = setopt_int(b->sock, ZMQ_TCP_KEEPALIVE_CNT, 3)) < 0)
		return rc;
	if (b->dir == SHMRING_BRIDGE_IN &&
	    zmq_setsockopt(b->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0)
		return -zmq_errno();
	if (c->sockbuf > 0 && ((rc = setopt_int(b->sock, ZMQ_SNDBUF, c->sockbuf)) < 0 ||
			       (rc = setopt_int(b->sock, ZMQ_RCVBUF, c->sockbuf)) < 0))
		return rc;
	if ((rc = monitor_open(b)) < 0)
		return rc;
	b->bound = bind;
	if ((bind ? zmq_bind(b->sock, ep) : zmq_connect(b->sock, ep)) < 0)
		return -zmq_errno();
	size_t n = sizeof(b->endpoint);
	if (zmq_getsockopt(b->sock, ZMQ_LAST_ENDPOINT, b->endpoint, &n) < 0 || !b->endpoint[0])
		snprintf(b->endpoint, sizeof(b->endpoint), "%s", ep);
	/* ZeroMQ leaves a bound ipc:// socket file behind: note which file
	 * is ours, to remove it at close unless someone has bound it since. */
	struct stat sb;
	if (bind && !strncmp(b->endpoint, "ipc://", 6) && b->endpoint[6] == '/' &&
	    strlen(b->endpoint + 6) < sizeof(b->ipc_path) && stat(b->endpoint + 6, &sb) == 0 &&
	    S_ISSOCK(sb.st_mode)) {
		strcpy(b->ipc_path, b->endpoint + 6);
		b->ipc_dev = sb.st_dev;
		b->ipc_ino = sb.st_ino;
	}
	br_log(b, SHMRING_BRIDGE_INFO, "%s %s", bind ? "listening on" : "connecting to",
	       b->endpoint);
	return 0;
}

/* ---- the handle ---- */

void br_zmq_close(struct shmring_bridge *b)
{
	/* The monitor first, while our end of it is still open: ZeroMQ's I/O
	 * thread sends an event while holding the monitor's lock, and blocks
	 * if nobody is there to take it, so closing our end first (or the
	 * socket, which makes events) could leave zmq_socket_monitor(NULL)
	 * waiting for that lock forever. */
	if (b->sock && b->mon) {
		br_monitor(b);
		zmq_socket_monitor(b->sock, NULL, 0);
	}
	if (b->mon) {
		zmq_close(b->mon);
		b->mon = NULL;
	}
	if (b->sock) {
		zmq_close(b->sock);
		b->sock = NULL;
	}
	if (b->ctx) {
		/* Waits out the socket's linger. A signal that also stopped
		 * the bridge gives up: the context is then left to the
		 * process's exit (ZeroMQ cannot abandon a linger otherwise). */
		while (zmq_ctx_term(b->ctx) < 0 && zmq_errno() == EINTR && !br_stopping(b))
			;
		b->ctx = NULL;
	}
	struct stat sb;
	if (b->ipc_path[0] && stat(b->ipc_path, &sb) == 0 && sb.st_dev == b->ipc_dev &&
	    sb.st_ino == b->ipc_ino)
		unlink(b->ipc_path);
	b->ipc_path[0] = 0;
}

static void teardown(struct shmring_bridge *b)
{
	br_zmq_close(b);
	if (b->dir == SHMRING_BRIDGE_OUT)
		br_out_free(b);
	else
		br_in_free(b);
}

int shmring_bridge_new(enum shmring_bridge_dir dir, shmring *r, const char *endpoint,
		       const struct shmring_bridge_config *cfg, shmring_bridge **out)
{
	struct shmring_bridge_config c = { 0 };
	struct shmring_stat st;
	int rc;

	if (cfg)
		c = *cfg;
	if (!r || !endpoint || !*endpoint || !out ||
	    (dir != SHMRING_BRIDGE_OUT && dir != SHMRING_BRIDGE_IN) || c.hwm < 0 || c.batch < 0 ||
	    c.batch > SHMRING_BRIDGE_MAX_BATCH || c.sockbuf < 0)
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if (c.reserved[i])
			return -EINVAL;
	if ((rc = shmring_stat(r, &st)) < 0)
		return rc;
	if (st.flags & SHMRING_STREAM)
		return -EOPNOTSUPP;
	if (!(r->role & (dir == SHMRING_BRIDGE_OUT ? SHMRING_CONSUMER : SHMRING_PRODUCER)))
		return -EINVAL;

	struct shmring_bridge *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->dir = dir;
	b->r = r;
	b->max_msg = st.max_msg;
	b->batch = c.batch > 0 ? c.batch : SHMRING_BRIDGE_DEFAULT_BATCH;
	b->linger_ms = c.linger_ms == 0 ? -1 : c.linger_ms < 0 ? 0 : c.linger_ms; /* -1: forever */
	b->log = c.log;
	b->log_arg = c.log_arg;
	b->cur = -1;
	b->state_fd = -1;

	int64_t spin = c.spin_ns ? c.spin_ns : SHMRING_BRIDGE_DEFAULT_SPIN_NS;
	if ((rc = shmring_set_spin(r, spin)) < 0)
		goto fail;
	rc = dir == SHMRING_BRIDGE_OUT ? br_out_init(b, c.state) : br_in_init(b, c.state);
	if (rc < 0)
		goto fail;
	if ((rc = socket_open(b, endpoint, &c)) < 0) {
		br_log(b, SHMRING_BRIDGE_ERROR, "%s: %s", endpoint, zmq_strerror(-rc));
		goto fail;
	}
	*out = b;
	return 0;
fail:
	b->linger_ms = 0;
	if (b->sock)
		zmq_setsockopt(b->sock, ZMQ_LINGER, &b->linger_ms, sizeof(b->linger_ms));
	b->r = NULL; /* still the caller's */
	br_state_close(b, b->state_created); /* a state it made for nothing goes */
	teardown(b);
	free(b);
	return rc;
}

int shmring_bridge_endpoint(const shmring_bridge *b, char *buf, size_t len)
{
	if (!b || !buf)
		return -EINVAL;
	size_t n = strlen(b->endpoint);
	if (n >= len)
		return -ENOSPC;
	memcpy(buf, b->endpoint, n + 1);
	return (int)n;
}

int shmring_bridge_run(shmring_bridge *b)
{
	if (!b)
		return -EINVAL;
	if (b->st.eos)
		return 0;
	return b->dir == SHMRING_BRIDGE_OUT ? br_out_run(b) : br_in_run(b);
}

void shmring_bridge_stop(shmring_bridge *b)
{
	if (b)
		atomic_store_explicit(&b->stop, 1, memory_order_relaxed);
}

int shmring_bridge_stats(const shmring_bridge *b, struct shmring_bridge_stats *st)
{
	if (!b || !st)
		return -EINVAL;
	*st = b->st;
	return 0;
}

int shmring_bridge_close(shmring_bridge *b)
{
	if (!b)
		return -EINVAL;
	if (b->sock) {
		/* OUT after its end of stream has nothing queued (the in side
		 * confirmed it, or the linger ran out); stopped, what is queued
		 * is not waited for; IN never waits. */
		int linger = b->dir == SHMRING_BRIDGE_OUT && !br_stopping(b) && !b->st.eos
				     ? b->linger_ms
				     : 0;
		zmq_setsockopt(b->sock, ZMQ_LINGER, &linger, sizeof(linger));
	}
	teardown(b);
	br_state_close(b, b->st.eos);
	if (b->r)
		shmring_close(b->r);
	free(b);
	return 0;
}
