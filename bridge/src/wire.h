/* SPDX-License-Identifier: MIT */
/*
 * wire.h - the bridge's wire format: what one ZeroMQ message carries.
 *
 * One ZeroMQ message per ring message, a 16-byte header in front of the
 * payload, every field little-endian whatever the hosts:
 *
 *   0   u8   magic    0xB7: not one of ours otherwise (rejected, counted)
 *   1   u8   version  1
 *   2   u8   type     1 DATA: a ring message follows (0 .. max_msg bytes,
 *                             and the whole ZeroMQ message at most
 *                             WIRE_MAX_FRAME bytes)
 *                     2 END:  end of stream; nothing follows
 *                     3 SKIP: a ring message too large to cross (over
 *                             WIRE_MAX_FRAME with its header); nothing
 *                             follows; the receiver counts it as dropped
 *   3   u8   flags    0 (receivers ignore bits they do not know)
 *   4   u32  session  random, non-zero, chosen by each OUT side when it starts:
 *                     a restarted OUT side is a new session
 *   8   u64  seq      DATA, SKIP: 0, 1, 2, ... within the session, no holes;
 *                     END:  the number of DATA messages the session sent,
 *                     so that a lost tail is counted too
 *
 * The receiver expects seq == next for its session; a higher seq is a gap
 * of (seq - next) messages lost in transit, counted and logged; a lower one
 * is a repeat and is rejected (ZeroMQ over one connection neither reorders
 * nor duplicates, so that would be a bug or a foreign sender).
 */
#ifndef SHMRING_BRIDGE_WIRE_H
#define SHMRING_BRIDGE_WIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC 0xB7u
#define WIRE_VERSION 1u
#define WIRE_DATA 1u
#define WIRE_END 2u
#define WIRE_SKIP 3u
#define WIRE_HDR 16u
/* The largest ZeroMQ message a receiver takes (ZMQ_MAXMSGSIZE): a larger
 * one makes ZeroMQ drop the connection, and with it whatever that
 * connection carried. A sender sends SKIP in place of a larger message. */
#define WIRE_MAX_FRAME ((size_t)16 << 20)

struct wire_hdr {
	uint8_t type, flags;
	uint32_t session;
	uint64_t seq;
};

static inline void wire_put(uint8_t *p, unsigned type, uint32_t session, uint64_t seq)
{
	p[0] = WIRE_MAGIC;
	p[1] = WIRE_VERSION;
	p[2] = (uint8_t)type;
	p[3] = 0;
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(session >> (8 * i));
	for (int i = 0; i < 8; i++)
		p[8 + i] = (uint8_t)(seq >> (8 * i));
}

/* 0 with *h filled, or -EBADMSG: too short, not our magic or version, an
 * unknown type, a zero session, or an END or SKIP that carries a payload. */
static inline int wire_get(const uint8_t *p, size_t len, struct wire_hdr *h)
{
	if (len < WIRE_HDR || p[0] != WIRE_MAGIC || p[1] != WIRE_VERSION)
		return -EBADMSG;
	h->type = p[2];
	h->flags = p[3];
	h->session = 0;
	h->seq = 0;
	for (int i = 0; i < 4; i++)
		h->session |= (uint32_t)p[4 + i] << (8 * i);
	for (int i = 0; i < 8; i++)
		h->seq |= (uint64_t)p[8 + i] << (8 * i);
	if (!h->session || (h->type != WIRE_DATA && h->type != WIRE_END && h->type != WIRE_SKIP) ||
	    (h->type != WIRE_DATA && len != WIRE_HDR))
		return -EBADMSG;
	return 0;
}

#endif /* SHMRING_BRIDGE_WIRE_H */
