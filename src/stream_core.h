/* SPDX-License-Identifier: MIT */
/*
 * stream_core.h - the orderings of the stream engine (ring_stream.c) on a
 * record's header word and the last-record hint, over the atomics.h names
 * only, so that tests/model/model_stream.cpp checks this very code under
 * Relacy.
 *
 *   writer, append:   sc_look (load-acquire of the word; the tail is read
 *                     after it), sc_take (CAS acq_rel: OPEN -> BUSY), write
 *                     the bytes, sc_publish (store-release: OPEN, longer)
 *   writer, new one:  CAS the tail, BUSY word, sc_raise_last, write the
 *                     bytes, sc_publish (OPEN)
 *   writer, give back: sc_take (OPEN -> GIVING), CAS the tail back,
 *                     sc_publish (CLOSED, at the size the CAS decided)
 *   reader:           sc_look, read the bytes; a drained OPEN record with
 *                     another behind it: sc_close (CAS: OPEN -> CLOSED); a
 *                     CLOSED one: zero it and give the head back
 *
 * sc_publish/sc_look order a writer's bytes before the reader's reading of
 * them, and before the next writer's take (sc_take acquires), so a record
 * that passes from writer to writer carries every earlier writer's bytes to
 * whoever publishes next. One CAS on the word decides every race between
 * takers and the reader's close.
 *
 * SR_MODEL_RELAXED_STR_PUBLISH weakens the publish, SR_MODEL_STR_TAKE_BLIND
 * takes a record without looking (a store in place of the CAS), for the
 * model check to show it then finds the data race. Never define them in a
 * build of the library.
 */
#ifndef SHMRING_STREAM_CORE_H
#define SHMRING_STREAM_CORE_H

#include "atomics.h"

static inline uint64_t sc_look(sr_a64 *word)
{
	return ld_acquire(word); /* pairs with sc_publish */
}

/* Take the record whose word read w: OPEN -> BUSY or GIVING. Fails when a
 * writer or the reader changed the word first: one CAS decides. Acquire
 * pairs with the sc_publish of the writer before us; the model passes with
 * a relaxed CAS too, because the sc_look that read w acquired it already,
 * and the take stays acq_rel (one lock cmpxchg on x86 either way) so that
 * it does not lean on the look before it. */
static inline bool sc_take(sr_a64 *word, uint64_t w, uint64_t taken)
{
#ifndef SR_MODEL_STR_TAKE_BLIND
	return cas_acq_rel(word, &w, taken);
#else
	(void)w;
	st_relaxed(word, taken);
	return true;
#endif
}

/* The word's new value after our bytes: OPEN with the longer length, or
 * CLOSED after a give-back. */
static inline void sc_publish(sr_a64 *word, uint64_t value)
{
#ifndef SR_MODEL_RELAXED_STR_PUBLISH
	st_release(word, value); /* pairs with sc_look and sc_take */
#else
	st_relaxed(word, value);
#endif
}

/* Close an open record (word w): the reader, a drained one with another
 * behind it; a writer, a full one. The writers' next take fails. */
static inline bool sc_close(sr_a64 *word, uint64_t w, uint64_t closed)
{
	return cas_acq_rel(word, &w, closed); /* pairs with sc_take */
}

/* Raise the last-record hint to rec, a record just reserved (a later
 * reservation may have raised it past already). A hint a lap or more ahead
 * of rec is a scribble, and is overwritten. Relaxed: the hint is believed
 * only after its record's word and the tail say so. */
static inline void sc_raise_last(sr_a64 *hint, uint64_t rec, uint64_t cap)
{
	uint64_t cur = ld_relaxed(hint);
	while ((int64_t)(rec - cur) > 0 || cur - rec >= cap)
		if (cas_relaxed(hint, &cur, rec))
			break;
}

#endif /* SHMRING_STREAM_CORE_H */
