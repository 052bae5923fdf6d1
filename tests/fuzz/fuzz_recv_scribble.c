/* SPDX-License-Identifier: MIT */
/*
 * fuzz_recv_scribble.c - libFuzzer target: a live ring, a producer handle and
 * a consumer handle in this process, and a script of steps (fuzz_script.h)
 * that mixes their calls with scribbles over the segment.
 *
 * The scribbles go through a second mapping of the same memfd, so they land
 * between the library's reads of the shared state: between a peek and its
 * release, a claim and its commit, a write and the next append to the same
 * stream record, and against the positions, record words, slot sequences and
 * endpoint table that the next call reads again (double fetch: the library
 * must use what it checked, not fetch it anew). Every call takes timeout 0, so
 * nothing may wait; libFuzzer's -timeout turns a loop inside the library into
 * a reported hang. Every result is checked by the model of fuzz_common.h, and
 * a message or pointer from outside the data area is a crash (the mapping's
 * guard pages, or fz_check_span). Until the first scribble the ring is
 * pristine and the content model applies too: every message arrives once, in
 * order, with its bytes; no spurious -EAGAIN, -EMSGSIZE or -EBADMSG.
 *
 * Ring kinds (byte 0): SPSC, MPSC, SPMC, MPMC, SPSC stream, MPSC stream; each
 * small (a 256-byte ring, or 2 slots) or big (4 KiB, 16 slots; streams 32 or
 * 64 KiB).
 */
#include "fuzz_common.h"

#define FZ_MAX_STEPS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct shmring_config cfg;
	if (size < 1)
		return 0;
	fz_config(fz_u8(&in), &cfg);

	struct fz_ep prod, cons;
	shmring *r = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_CONSUMER, &r);
	if (rc < 0)
		fz_fail("create_anon(mode %d, flags %u, capacity %zu) returned %d", (int)cfg.mode,
			cfg.flags, cfg.capacity, rc);
	fz_ep_init(&cons, r, SHMRING_CONSUMER);
	struct fz_seg seg = { .fd = -1 };
	if (fz_seg_init(&seg, cons.r) < 0)
		fz_fail("second mapping: %s", strerror(errno));
	fz_open(&prod, seg.fd, SHMRING_PRODUCER);
	if (!prod.r)
		fz_fail("the producer could not attach to a fresh ring");
	fz_model_start(); /* exact results until the first scribble */

	for (int steps = 0; fz_more(&in) && steps < FZ_MAX_STEPS; steps++) {
		uint8_t op = fz_u8(&in) % FZ_NOPS;
		switch (op) {
		case FZ_SEND:
			fz_send(&prod, fz_u8(&in));
			break;
		case FZ_SENDV: {
			uint8_t n = fz_u8(&in);
			fz_sendv(&prod, n, fz_u8(&in));
			break;
		}
		case FZ_CLAIM:
			fz_claim(&prod, fz_u8(&in));
			break;
		case FZ_COMMIT:
			fz_commit(&prod, fz_u8(&in));
			break;
		case FZ_ABORT:
			fz_abort(&prod);
			break;
		case FZ_WRITE:
			fz_write(&prod, fz_u8(&in));
			break;
		case FZ_RECV:
			fz_recv(&cons, fz_u8(&in));
			break;
		case FZ_RECVV: {
			uint8_t n = fz_u8(&in);
			fz_recvv(&cons, n, fz_u8(&in));
			break;
		}
		case FZ_PEEK:
			fz_peek(&cons);
			break;
		case FZ_RELEASE:
			fz_release(&cons);
			break;
		case FZ_READ:
			fz_readop(&cons, fz_u8(&in));
			break;
		case FZ_STAT:
			fz_stat(fz_u8(&in) % 2 ? &cons : &prod);
			break;
		case FZ_SCRIB_RAW: {
			fz_model_stop();
			uint16_t off = fz_u16(&in);
			fz_scribble_raw(&seg, off, fz_u64(&in));
			break;
		}
		case FZ_SCRIB: {
			fz_model_stop();
			uint8_t field = fz_u8(&in), how = fz_u8(&in);
			fz_scribble_field(&seg, &prod, &cons, field, how, fz_u64(&in));
			break;
		}
		case FZ_POLL:
			fz_pollfd(fz_u8(&in) % 2 ? &cons : &prod);
			break;
		case FZ_REOPEN:
		default: {
			bool c = fz_u8(&in) % 2;
			struct fz_ep *e = c ? &cons : &prod;
			fz_close(e);
			fz_open(e, seg.fd, c ? SHMRING_CONSUMER : SHMRING_PRODUCER);
			if (!e->r && fz_m.on)
				fz_fail("re-attaching to an unscribbled ring failed");
			break;
		}
		}
	}
	fz_close(&prod);
	fz_close(&cons);
	fz_seg_fini(&seg);
	fz_fd_check();
	return 0;
}
