/* SPDX-License-Identifier: MIT */
/*
 * main.c - the `shmring` command: what ipcs and ipcrm are for System V IPC,
 * for shmring rings. Dispatches to one subcommand per verb (ls, stat, top,
 * create, rm, put, get, bridge) and prints the top-level help.
 *
 * Exit codes, for every subcommand: 0 ok, 1 failure, 2 usage error.
 */
#include "cli.h"

#include <string.h>

#include "shmring.h"

#ifdef SHMRING_HAVE_BRIDGE
int cmd_bridge(int argc, char **argv); /* cmd_bridge.c, linked with shmring_bridge */
#else
/* Built without ZeroMQ: the verb exists, and says why it cannot run. */
static int cmd_bridge(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	errorf("bridge: not built: ZeroMQ (libzmq3-dev) was not found when this command was "
	       "built");
	return EXIT_FAIL;
}
#endif

static const struct cmd cmds[] = {
	{ "ls", cmd_ls, "list the rings in /dev/shm" },
	{ "stat", cmd_stat, "show one ring's header, endpoints and validation verdict" },
	{ "top", cmd_top, "watch message rates, fill and sleepers, live" },
	{ "create", cmd_create, "make a new ring, with no endpoints" },
	{ "rm", cmd_rm, "remove rings that nobody uses, or every stale one" },
	{ "put", cmd_put, "send standard input to a ring, as messages" },
	{ "get", cmd_get, "receive messages from a ring to standard output" },
	{ "bridge", cmd_bridge, "carry a ring to a ring on another host, over ZeroMQ" },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: shmring COMMAND [ARGS...]\n"
		   "       shmring COMMAND --help\n\n"
		   "Inspect, watch, create, remove and use shmring rings (/dev/shm).\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\nExit status: 0 ok, 1 failure, 2 usage error. See shmring(1).\n");
}

static const struct cmd *find(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    (!strcmp(argv[1], "help") && argc == 2)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("shmring %d.%d.%d\n", SHMRING_VERSION_MAJOR, SHMRING_VERSION_MINOR,
		       SHMRING_VERSION_PATCH);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc > 3 || !(c = find(argv[2]))) {
			errorf("help: no such command '%s'", argv[2]);
			return EXIT_USAGE;
		}
		char *args[] = { (char *)c->name, "--help", NULL };
		return c->run(2, args);
	}
	if (!(c = find(argv[1]))) {
		errorf("unknown command '%s'\nTry 'shmring --help' for the list of commands.",
		       argv[1]);
		return EXIT_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
