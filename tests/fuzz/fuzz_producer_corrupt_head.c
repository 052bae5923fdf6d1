/* SPDX-License-Identifier: MIT */
/*
 * fuzz_producer_corrupt_head.c - libFuzzer target: a producer facing a
 * consumer position (0x200), a tail, record words and slot sequence words
 * that the fuzzer sets, in every mode and for streams.
 *
 * Input (fuzz_script.h): a ring kind, a number of messages to send first
 * (so the ring is partly or wholly full, or wrapped), then a script of
 * producer calls (send, sendv, claim/commit, claim/abort, write, stat, pollfd) mixed
 * with rewrites of the head, the tail and the words at the tail. There is no
 * consumer handle: nobody but the fuzzer moves the head.
 *
 * Allowed results of send, sendv, claim and write: success, -EAGAIN (no room)
 * or -EBADMSG (the shared state is corrupt), besides the answers to bad
 * arguments (-EMSGSIZE, -EOPNOTSUPP, -EBUSY during a claim) that come before
 * any shared read. Every call takes timeout 0: a loop inside the library
 * (spinning on a head that stays wrong) is a hang, which libFuzzer's
 * -timeout reports.
 */
#include "fuzz_common.h"

#define FZ_MAX_STEPS 256

static const unsigned fields[] = { FZ_F_CONS_POS, FZ_F_PROD_POS,     FZ_F_AT_HEAD,
				   FZ_F_AT_TAIL,  FZ_F_AT_TAIL_NEXT, FZ_F_LEN_AT_TAIL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct shmring_config cfg;
	if (size < 1)
		return 0;
	fz_config(fz_u8(&in), &cfg);

	struct fz_ep prod;
	shmring *r = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &r);
	if (rc < 0)
		fz_fail("create_anon(mode %d, flags %u, capacity %zu) returned %d", (int)cfg.mode,
			cfg.flags, cfg.capacity, rc);
	fz_ep_init(&prod, r, SHMRING_PRODUCER);
	prod.strict = true;
	struct fz_seg seg = { .fd = -1 };
	if (fz_seg_init(&seg, prod.r) < 0)
		fz_fail("second mapping: %s", strerror(errno));

	/* Fill some: the corruption bites when the ring looks full. */
	unsigned n = fz_u8(&in);
	uint8_t sel = fz_u8(&in);
	bool stream = fz_is_stream(prod.r);
	for (unsigned i = 0; i < n; i++) {
		uint64_t before = fz_word(&seg, SR_OFF_PROD);
		if (stream)
			fz_write(&prod, sel);
		else
			fz_send(&prod, sel);
		if (fz_word(&seg, SR_OFF_PROD) == before)
			break; /* full (or nothing to send) */
	}

	for (int steps = 0; fz_more(&in) && steps < FZ_MAX_STEPS; steps++) {
		uint8_t op = fz_u8(&in) % FZ_NOPS;
		switch (op) {
		case FZ_SEND:
			fz_send(&prod, fz_u8(&in));
			break;
		case FZ_SENDV: {
			uint8_t k = fz_u8(&in);
			fz_sendv(&prod, k, fz_u8(&in));
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
		case FZ_STAT:
			fz_stat(&prod);
			break;
		case FZ_POLL:
			fz_u8(&in);
			fz_pollfd(&prod);
			break;
		case FZ_SCRIB: {
			unsigned f = fields[fz_u8(&in) % FZ_NELEM(fields)];
			uint8_t how = fz_u8(&in);
			fz_scribble_field(&seg, &prod, NULL, f, how, fz_u64(&in));
			break;
		}
		default: { /* every other op byte moves the head */
			uint8_t how = fz_u8(&in);
			fz_scribble_field(&seg, &prod, NULL, FZ_F_CONS_POS, how, fz_u64(&in));
			break;
		}
		}
	}
	fz_close(&prod);
	fz_seg_fini(&seg);
	fz_fd_check();
	return 0;
}
