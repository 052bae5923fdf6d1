/* SPDX-License-Identifier: MIT */
/*
 * crash.c - crash points for the crash tests (built only with
 * SHMRING_CRASHPOINTS: the library the tests link as shmring_crashpoints).
 *
 * Every step of claim, commit, peek, release, open and close calls
 * SR_CRASH(point). A victim process arms one point and a count, with
 * shmring__crash_arm() or the environment (SHMRING_CRASH_AT=NAME:N), and
 * SIGKILLs itself on the N-th time it passes that point: no handler, no
 * atexit, no close - exactly what a crash leaves behind.
 */
#include "internal.h"

#ifdef SHMRING_CRASHPOINTS

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const names[SR_CP_COUNT] = {
#define X(id) [SR_CP_##id] = #id,
	SR_CRASHPOINTS(X)
#undef X
};

static int armed = -1; /* -1: environment not read yet */
static unsigned target;
static unsigned long remaining;

const char *shmring__crash_name(unsigned id)
{
	return id < SR_CP_COUNT ? names[id] : NULL;
}

void shmring__crash_arm(unsigned id, unsigned long nth)
{
	armed = id < SR_CP_COUNT && nth > 0;
	target = id;
	remaining = nth;
}

static void from_env(void)
{
	const char *s = getenv("SHMRING_CRASH_AT");
	armed = 0;
	if (!s)
		return;
	const char *colon = strchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	for (unsigned i = 0; i < SR_CP_COUNT; i++)
		if (strlen(names[i]) == len && !strncmp(names[i], s, len))
			shmring__crash_arm(i, colon ? strtoul(colon + 1, NULL, 10) : 1);
}

void shmring__crash(unsigned id)
{
	if (armed < 0)
		from_env();
	if (!armed || id != target)
		return;
	if (--remaining == 0)
		kill(getpid(), SIGKILL);
}

#endif /* SHMRING_CRASHPOINTS */
