/* SPDX-License-Identifier: MIT */
/*
 * cmd_inspect.c - `shmring ls` (every ring under /dev/shm, one line each) and
 * `shmring stat` (one ring in full: header, positions, wait words, totals,
 * endpoints, and the validator's verdict). Both read views (view.c) and
 * never write to a ring.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- ls ---- */

static const char ls_help[] =
	"Usage: shmring ls [--json]\n"
	"\n"
	"List every ring under /dev/shm. An object is a ring when its header passes\n"
	"the library's validation; one that carries the ring magic but fails it is\n"
	"listed as corrupt, with the reason. Other files are skipped, and so are\n"
	"the " TEMP_PREFIX "* objects of rings being created.\n"
	"\n"
	"Columns: NAME, MODE, CAPACITY and MAXMSG (bytes, K/M/G = 1024^n), FILL (storage\n"
	"in use), PROD and CONS (live producers and consumers), DEAD (endpoints whose\n"
	"process died without closing), SLEEP (threads asleep on the ring), SENT and\n"
	"RECV (messages since creation; bytes for a stream, whose MODE ends in\n"
	"+stream), DROP (messages lost to dead peers), OWNER, AGE.\n"
	"\n"
	"  --json       one JSON array of objects instead of the table\n"
	"  -h, --help   this help\n";

static double fill_pct(const struct view_stats *s)
{
	return s->capacity ? 100.0 * (double)s->used / (double)s->capacity : 0.0;
}

static void ls_json_one(struct json *j, const struct view *v)
{
	struct view_stats s;
	char user[64];

	view_stats(v, &s);
	json_open(j, NULL, '{');
	json_str(j, "name", v->name);
	json_str(j, "status", view_status(v));
	if (v->kind == VIEW_RING) {
		json_str(j, "mode", shmring_mode_name((enum shmring_mode)v->g.mode));
		json_bool(j, "stream", v->g.flags & SHMRING_STREAM);
		json_u64(j, "capacity", s.capacity);
		if (v->g.flags & SHMRING_STREAM)
			json_str(j, "max_msg", NULL);
		else
			json_u64(j, "max_msg", v->g.max_msg);
		json_u64(j, "used", s.used);
		json_dbl(j, "fill_pct", fill_pct(&s));
		json_u64(j, "producers", s.producers);
		json_u64(j, "consumers", s.consumers);
		json_u64(j, "dead", s.dead);
		json_u64(j, "sleepers", s.sleepers);
		json_u64(j, "sent", s.sent);
		json_u64(j, "received", s.received);
		json_u64(j, "dropped", s.dropped);
		json_u64(j, "wakeups", s.wakeups);
		json_u64(j, "ctime_ns", v->h.cfg.ctime_ns);
		json_i64(j, "age_s", age_s(v->h.cfg.ctime_ns));
	} else {
		json_str(j, "error", strerror(-v->verdict));
		json_str(j, "reason", v->why);
		json_u64(j, "holders", s.holders);
	}
	json_str(j, "owner", fmt_user(user, v->st.st_uid));
	json_u64(j, "uid", v->st.st_uid);
	json_close(j, '}');
}

static const char *const ls_head[] = { "NAME", "MODE", "CAPACITY", "MAXMSG", "FILL",
				       "PROD", "CONS", "DEAD",     "SLEEP",  "SENT",
				       "RECV", "DROP", "OWNER",    "AGE" };
#define LS_NCOL ((int)(sizeof(ls_head) / sizeof(ls_head[0])))

static int ls_row(struct table *t, const struct view *v)
{
	char name[ESC_NAME_MAX], user[64], c[LS_NCOL][32], rest[256];
	struct view_stats s;

	esc_name(name, sizeof(name), v->name);
	fmt_user(user, v->st.st_uid);
	if (v->kind != VIEW_RING) {
		snprintf(rest, sizeof(rest), "%s: %s (owner %s)", view_status(v), v->why, user);
		return table_add_span(t, name, rest);
	}
	view_stats(v, &s);
	const char *mode = shmring_mode_name((enum shmring_mode)v->g.mode);
	snprintf(c[1], 32, "%s%s", mode, v->g.flags & SHMRING_STREAM ? "+stream" : "");
	fmt_size(c[2], s.capacity);
	if (v->g.flags & SHMRING_STREAM)
		strcpy(c[3], "-"); /* streams have no largest message */
	else
		fmt_size(c[3], v->g.max_msg);
	snprintf(c[4], 32, "%.1f%%", fill_pct(&s));
	snprintf(c[5], 32, "%u", s.producers);
	snprintf(c[6], 32, "%u", s.consumers);
	snprintf(c[7], 32, "%u", s.dead);
	snprintf(c[8], 32, "%u", s.sleepers);
	snprintf(c[9], 32, "%llu", (unsigned long long)s.sent);
	snprintf(c[10], 32, "%llu", (unsigned long long)s.received);
	snprintf(c[11], 32, "%llu", (unsigned long long)s.dropped);
	fmt_age(c[13], age_s(v->h.cfg.ctime_ns));
	const char *cells[LS_NCOL] = { name, c[1], c[2], c[3],  c[4],  c[5], c[6],
				       c[7], c[8], c[9], c[10], c[11], user, c[13] };
	return table_add(t, cells);
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	int c, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(ls_help, stdout);
			return EXIT_OK;
		default:
			return bad_option("ls", argv, c);
		}
	}
	if (optind < argc)
		return usage_error("ls", "unexpected argument '%s'", argv[optind]);

	char **names;
	int n = list_names(&names);
	if (n < 0) {
		errorf("ls: cannot read " SHM_DIR ": %s", strerror(-n));
		return EXIT_FAIL;
	}

	struct json j;
	struct table t;
	if (json) {
		json_init(&j, stdout);
		json_open(&j, NULL, '[');
	} else {
		table_init(&t, LS_NCOL, ls_head, "llrrrrrrrrrrlr");
	}
	for (int i = 0; i < n; i++) {
		struct view v;
		if (!strncmp(names[i], TEMP_PREFIX, strlen(TEMP_PREFIX)))
			continue;
		/* Gone since readdir, or not ours to read: not listed. */
		if (view_open(names[i], &v) < 0)
			continue;
		if (v.kind != VIEW_OTHER) {
			if (json)
				ls_json_one(&j, &v);
			else if (ls_row(&t, &v) < 0)
				rc = EXIT_FAIL;
		}
		view_close(&v);
	}
	names_free(names, n);
	if (json) {
		json_close(&j, ']');
		json_end(&j);
	} else {
		if (rc == EXIT_OK)
			table_print(&t, stdout, 0, "\n");
		else
			errorf("ls: %s", strerror(ENOMEM));
		table_free(&t);
	}
	if (fflush(stdout) == EOF) {
		errorf("ls: standard output: %s", strerror(errno));
		rc = EXIT_FAIL;
	}
	return rc;
}

/* ---- stat ---- */

static const char stat_help[] =
	"Usage: shmring stat NAME [--json]\n"
	"\n"
	"Show one ring in full: the object (size, permissions, owner), every field of\n"
	"its header, the producer and consumer positions and the fill level, the\n"
	"wait words, the totals, every endpoint that is not free (index, side, role,\n"
	"generation, pid, alive or dead, messages, bytes, reservation), and the\n"
	"validation verdict, with the reason when it fails. A ring that fails\n"
	"validation is shown all the same, as stored, and the exit status is 1.\n"
	"\n"
	"  --json       one JSON object instead of the text\n"
	"  -h, --help   this help\n";

static const char *flag_names(char buf[64], uint32_t flags)
{
	snprintf(buf, 64, "%s%s%s", flags & SHMRING_STREAM ? "stream " : "",
		 flags & SHMRING_HUGEPAGES ? "hugepages " : "",
		 flags & ~(uint32_t)(SHMRING_STREAM | SHMRING_HUGEPAGES) ? "unknown " : "");
	size_t n = strlen(buf);
	if (n)
		buf[n - 1] = '\0';
	else
		snprintf(buf, 64, "none");
	return buf;
}

/* "1048576 (1M)", or "100" when the short form says nothing more. */
static const char *size_words(char buf[64], uint64_t n)
{
	char s[32];
	int len = snprintf(buf, 64, "%llu", (unsigned long long)n);
	if (strcmp(fmt_size(s, n), buf))
		snprintf(buf + len, (size_t)(64 - len), " (%s)", s);
	return buf;
}

static const char *role_name(uint32_t role)
{
	switch (role) {
	case SHMRING_PRODUCER:
		return "producer";
	case SHMRING_CONSUMER:
		return "consumer";
	default:
		return "invalid";
	}
}

static const char *ep_state(const struct view *v, unsigned i)
{
	switch (SR_EP_STATE(ld_relaxed(&v->h.ep[i].sg))) {
	case SR_EP_FREE:
		return "free";
	case SR_EP_LIVE:
		return v->locked[i] ? "alive" : "dead";
	default:
		return "invalid";
	}
}

static const char *fmt_time(char buf[64], uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(buf, 64, "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(buf, 64, "?");
	return buf;
}

/* How many of the config line's reserved words are not zero (they must be),
 * and the offset of the first one in *first. */
static unsigned reserved_set(const struct sr_config_line *c, unsigned *first)
{
	unsigned n = 0, nwords = sizeof(c->reserved) / sizeof(c->reserved[0]);
	for (unsigned i = nwords; i-- > 0;)
		if (c->reserved[i]) {
			n++;
			*first = (unsigned)(offsetof(struct sr_config_line, reserved) + 8 * i);
		}
	return n;
}

#define EP_NCOL 11

/* The row of endpoint i in stat's endpoint table. */
static void ep_row(struct table *t, const struct view *v, unsigned i)
{
	const struct sr_endpoint *e = &v->h.ep[i];
	uint32_t sg = ld_relaxed(&e->sg);
	uint64_t resv = ld_relaxed(&e->resv_pos);
	const char *cells[EP_NCOL];
	char c[EP_NCOL][32];

	for (int k = 0; k < EP_NCOL; k++)
		cells[k] = c[k];
	snprintf(c[0], 32, "%u", i);
	cells[1] = i < SR_EP_CONS_BASE ? "producer" : "consumer";
	cells[2] = role_name(e->role);
	cells[3] = ep_state(v, i);
	snprintf(c[4], 32, "%u", SR_EP_GEN(sg));
	snprintf(c[5], 32, "%u", e->pid);
	fmt_age(c[6], age_s(e->since_ns));
	snprintf(c[7], 32, "%llu", (unsigned long long)ld_relaxed(&e->count));
	snprintf(c[8], 32, "%llu", (unsigned long long)ld_relaxed(&e->bytes));
	snprintf(c[9], 32, "%llu", (unsigned long long)ld_relaxed(&e->wakeups));
	if (resv == SR_RESV_NONE)
		snprintf(c[10], 32, "-");
	else
		snprintf(c[10], 32, "%llu+%llu", (unsigned long long)resv,
			 (unsigned long long)ld_relaxed(&e->resv_size));
	table_add(t, cells);
}

static void stat_text(const struct view *v)
{
	const struct sr_config_line *c = &v->h.cfg;
	const struct sr_header *h = &v->h;
	char b1[64], b2[64], name[ESC_NAME_MAX];
	struct view_stats s;

	view_stats(v, &s);
	esc_name(name, sizeof(name), v->name);
	printf("name          %s\n", name);
	printf("object        " SHM_DIR "/%s: %llu bytes, mode %04o, owner %s (uid %u)\n", name,
	       (unsigned long long)v->st.st_size, (unsigned)(v->st.st_mode & 07777),
	       fmt_user(b1, v->st.st_uid), (unsigned)v->st.st_uid);
	if (v->verdict)
		printf("verdict       %s: %s (%s)\n", view_status(v), v->why,
		       strerror(-v->verdict));
	else
		printf("verdict       ok\n");

	printf("\nheader (0x000)\n");
	printf("  magic         0x%016llx%s\n", (unsigned long long)c->magic,
	       c->magic == SR_MAGIC ? " (SHMRING1)" : "");
	printf("  version       %u\n", (unsigned)ld_relaxed(&c->version));
	printf("  header_size   %u\n", c->header_size);
	printf("  mode          %u (%s)\n", c->mode, shmring_mode_name((enum shmring_mode)c->mode));
	printf("  flags         0x%x (%s)\n", c->flags, flag_names(b1, c->flags));
	printf("  capacity      %s\n", size_words(b1, c->capacity));
	printf("  max_msg       %s%s\n", size_words(b1, c->max_msg),
	       c->flags & SHMRING_STREAM ? ", the largest stream record" : "");
	printf("  data_off      %llu\n", (unsigned long long)c->data_off);
	printf("  total_size    %llu\n", (unsigned long long)c->total_size);
	printf("  slot_size     %u\n", c->slot_size);
	printf("  nslots        %u\n", c->nslots);
	printf("  ep_off        0x%x\n", c->ep_off);
	printf("  ep_count      %u\n", c->ep_count);
	printf("  ctime_ns      %llu (%s, %s ago)\n", (unsigned long long)c->ctime_ns,
	       fmt_time(b1, c->ctime_ns), fmt_age(b2, age_s(c->ctime_ns)));
	printf("  creator_uid   %u (%s)\n", c->creator_uid, fmt_user(b1, c->creator_uid));
	printf("  creator_pid   %u\n", c->creator_pid);
	unsigned first = 0, nres = reserved_set(c, &first);
	if (nres)
		printf("  reserved      %u word%s not zero, the first at 0x%03x\n", nres,
		       nres == 1 ? "" : "s", first);
	else
		printf("  reserved      zero\n");

	const char *unit = c->slot_size ? "slots" : "bytes";
	printf("\npositions\n");
	printf("  tail          %llu (0x100, enqueue position, %s)\n",
	       (unsigned long long)ld_relaxed(&h->prod.pos), unit);
	printf("  head          %llu (0x200, dequeue position, %s)\n",
	       (unsigned long long)ld_relaxed(&h->cons.pos), unit);
	if (c->flags & SHMRING_STREAM) {
		printf("  last record   %llu (0x108, where writers append)\n",
		       (unsigned long long)ld_relaxed(&h->prod.aux));
		printf("  read offset   %llu (0x208, bytes read of the record at head)\n",
		       (unsigned long long)ld_relaxed(&h->cons.aux));
	}
	if (v->kind == VIEW_RING)
		printf("  used          %llu of %llu bytes (%.1f%%)\n", (unsigned long long)s.used,
		       (unsigned long long)s.capacity, fill_pct(&s));

	printf("\nwait\n");
	printf("  data (0x300)  epoch %u, sleepers %u (mask %#llx), pollfd wanted %u (consumers wait)\n",
	       (unsigned)ld_relaxed(&h->dwait.epoch), view_sleepers(v, true),
	       (unsigned long long)ld_relaxed(&h->dwait.mask), (unsigned)ld_relaxed(&h->dwait.want));
	printf("  room (0x400)  epoch %u, sleepers %u (mask %#llx), pollfd wanted %u (producers wait)\n",
	       (unsigned)ld_relaxed(&h->rwait.epoch), view_sleepers(v, false),
	       (unsigned long long)ld_relaxed(&h->rwait.mask), (unsigned)ld_relaxed(&h->rwait.want));

	printf("\ntotals (0x500)\n");
	printf("  nprod         %u (live producers, hint)\n",
	       (unsigned)ld_relaxed(&h->totals.nprod));
	printf("  ncons         %u (live consumers, hint)\n",
	       (unsigned)ld_relaxed(&h->totals.ncons));
	printf("  prod_seen     %u\n", (unsigned)ld_relaxed(&h->totals.prod_seen));
	printf("  cons_seen     %u\n", (unsigned)ld_relaxed(&h->totals.cons_seen));
	printf("  sent          %llu (folded from freed endpoints)\n",
	       (unsigned long long)ld_relaxed(&h->totals.sent));
	printf("  received      %llu (folded)\n",
	       (unsigned long long)ld_relaxed(&h->totals.received));
	printf("  wakeups       %llu (folded)\n",
	       (unsigned long long)ld_relaxed(&h->totals.wakeups));
	printf("  dropped       %llu\n", (unsigned long long)ld_relaxed(&h->totals.dropped));

	printf("\nsummary (as shmring_stat)\n");
	printf("  producers     %u alive\n", s.producers);
	printf("  consumers     %u alive\n", s.consumers);
	printf("  dead          %u (owner died without closing; reaped at the next attach)\n",
	       s.dead);
	printf("  sleepers      %u\n", s.sleepers);
	printf("  sent          %llu\n", (unsigned long long)s.sent);
	printf("  received      %llu\n", (unsigned long long)s.received);
	printf("  wakeups       %llu\n", (unsigned long long)s.wakeups);
	printf("  dropped       %llu\n", (unsigned long long)s.dropped);

	static const char *const head[] = { "IDX", "SIDE",  "ROLE",  "STATE",   "GEN", "PID",
					    "AGE", "COUNT", "BYTES", "WAKEUPS", "RESV" };
	struct table t;
	table_init(&t, EP_NCOL, head, "rlllrrrrrrl");
	t.indent = 2;
	for (unsigned i = 0; i < SR_EP_MAX; i++)
		if (SR_EP_STATE(ld_relaxed(&h->ep[i].sg)) != SR_EP_FREE)
			ep_row(&t, v, i);
	printf("\nendpoints (0x1000)\n");
	if (t.nrow)
		table_print(&t, stdout, 0, "\n");
	else
		printf("  none attached\n");
	table_free(&t);
}

static void stat_json(const struct view *v)
{
	const struct sr_config_line *c = &v->h.cfg;
	const struct sr_header *h = &v->h;
	struct view_stats s;
	unsigned first = 0;
	struct json j;
	char b[64];

	view_stats(v, &s);
	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_str(&j, "name", v->name);
	json_str(&j, "status", view_status(v));
	json_str(&j, "reason", v->why);
	json_str(&j, "error", v->verdict ? strerror(-v->verdict) : NULL);

	json_open(&j, "object", '{');
	json_u64(&j, "size", (uint64_t)v->st.st_size);
	json_u64(&j, "perm", v->st.st_mode & 07777);
	json_u64(&j, "uid", v->st.st_uid);
	json_str(&j, "owner", fmt_user(b, v->st.st_uid));
	json_close(&j, '}');

	json_open(&j, "header", '{');
	snprintf(b, sizeof(b), "0x%016llx", (unsigned long long)c->magic);
	json_str(&j, "magic", b); /* a string: JSON readers keep 53 bits of a number */
	json_u64(&j, "version", ld_relaxed(&c->version));
	json_u64(&j, "header_size", c->header_size);
	json_u64(&j, "mode", c->mode);
	json_str(&j, "mode_name", shmring_mode_name((enum shmring_mode)c->mode));
	json_u64(&j, "flags", c->flags);
	json_u64(&j, "capacity", c->capacity);
	json_u64(&j, "max_msg", c->max_msg);
	json_u64(&j, "data_off", c->data_off);
	json_u64(&j, "total_size", c->total_size);
	json_u64(&j, "slot_size", c->slot_size);
	json_u64(&j, "nslots", c->nslots);
	json_u64(&j, "ep_off", c->ep_off);
	json_u64(&j, "ep_count", c->ep_count);
	json_u64(&j, "ctime_ns", c->ctime_ns);
	json_u64(&j, "creator_uid", c->creator_uid);
	json_u64(&j, "creator_pid", c->creator_pid);
	json_u64(&j, "reserved_nonzero", reserved_set(c, &first));
	json_close(&j, '}');

	json_open(&j, "positions", '{');
	json_u64(&j, "tail", ld_relaxed(&h->prod.pos));
	json_u64(&j, "head", ld_relaxed(&h->cons.pos));
	if (c->flags & SHMRING_STREAM) {
		json_u64(&j, "last_record", ld_relaxed(&h->prod.aux));
		json_u64(&j, "read_offset", ld_relaxed(&h->cons.aux));
	}
	if (v->kind == VIEW_RING) {
		json_u64(&j, "used", s.used);
		json_u64(&j, "capacity", s.capacity);
		json_dbl(&j, "fill_pct", fill_pct(&s));
	}
	json_close(&j, '}');

	json_open(&j, "wait", '{');
	json_u64(&j, "data_epoch", ld_relaxed(&h->dwait.epoch));
	json_u64(&j, "data_sleepers", view_sleepers(v, true));
	json_u64(&j, "data_sleeper_mask", ld_relaxed(&h->dwait.mask));
	json_u64(&j, "room_epoch", ld_relaxed(&h->rwait.epoch));
	json_u64(&j, "room_sleepers", view_sleepers(v, false));
	json_u64(&j, "room_sleeper_mask", ld_relaxed(&h->rwait.mask));
	json_u64(&j, "data_want", ld_relaxed(&h->dwait.want));
	json_u64(&j, "room_want", ld_relaxed(&h->rwait.want));
	json_close(&j, '}');

	json_open(&j, "totals", '{');
	json_u64(&j, "nprod", ld_relaxed(&h->totals.nprod));
	json_u64(&j, "ncons", ld_relaxed(&h->totals.ncons));
	json_u64(&j, "prod_seen", ld_relaxed(&h->totals.prod_seen));
	json_u64(&j, "cons_seen", ld_relaxed(&h->totals.cons_seen));
	json_u64(&j, "sent", ld_relaxed(&h->totals.sent));
	json_u64(&j, "received", ld_relaxed(&h->totals.received));
	json_u64(&j, "wakeups", ld_relaxed(&h->totals.wakeups));
	json_u64(&j, "dropped", ld_relaxed(&h->totals.dropped));
	json_close(&j, '}');

	json_open(&j, "stats", '{');
	json_u64(&j, "producers", s.producers);
	json_u64(&j, "consumers", s.consumers);
	json_u64(&j, "dead", s.dead);
	json_u64(&j, "sleepers", s.sleepers);
	json_u64(&j, "sent", s.sent);
	json_u64(&j, "received", s.received);
	json_u64(&j, "wakeups", s.wakeups);
	json_u64(&j, "dropped", s.dropped);
	json_close(&j, '}');

	json_open(&j, "endpoints", '[');
	for (unsigned i = 0; i < SR_EP_MAX; i++) {
		const struct sr_endpoint *e = &h->ep[i];
		uint32_t sg = ld_relaxed(&e->sg);
		if (SR_EP_STATE(sg) == SR_EP_FREE)
			continue;
		uint64_t resv = ld_relaxed(&e->resv_pos);
		json_open(&j, NULL, '{');
		json_u64(&j, "index", i);
		json_str(&j, "side", i < SR_EP_CONS_BASE ? "producer" : "consumer");
		json_str(&j, "role", role_name(e->role));
		json_str(&j, "state", ep_state(v, i));
		json_bool(&j, "alive", view_ep_alive(v, i));
		json_u64(&j, "gen", SR_EP_GEN(sg));
		json_u64(&j, "pid", e->pid);
		json_u64(&j, "since_ns", e->since_ns);
		json_u64(&j, "poll_pid", SR_POLL_KEY_PID(ld_relaxed(&e->poll_pid)));
		json_u64(&j, "count", ld_relaxed(&e->count));
		json_u64(&j, "bytes", ld_relaxed(&e->bytes));
		json_u64(&j, "wakeups", ld_relaxed(&e->wakeups));
		if (resv == SR_RESV_NONE)
			json_str(&j, "resv_pos", NULL);
		else
			json_u64(&j, "resv_pos", resv);
		json_u64(&j, "resv_size", ld_relaxed(&e->resv_size));
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
	json_end(&j);
}

int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char file[NAME_MAX + 1];
	bool json = false;
	struct view v;
	int c, rc;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(stat_help, stdout);
			return EXIT_OK;
		default:
			return bad_option("stat", argv, c);
		}
	}
	if (argc - optind != 1)
		return usage_error("stat", argc == optind ? "a ring NAME is needed"
							  : "one ring NAME at a time");
	const char *name = argv[optind];
	if (ring_file_name(name, file, sizeof(file)) < 0)
		return usage_error("stat", "invalid ring name '%s'", name);

	if ((rc = view_open(file, &v)) < 0)
		return ring_error("stat", name, rc);
	if (v.kind == VIEW_OTHER) {
		fprintf(stderr, "shmring: stat ");
		put_name(stderr, name);
		fprintf(stderr, ": not a ring: %s\n", v.why);
		view_close(&v);
		return EXIT_FAIL;
	}
	if (json)
		stat_json(&v);
	else
		stat_text(&v);
	rc = EXIT_OK;
	if (fflush(stdout) == EOF) {
		errorf("stat: standard output: %s", strerror(errno));
		rc = EXIT_FAIL;
	}
	if (v.verdict) {
		fprintf(stderr, "shmring: stat ");
		put_name(stderr, name);
		fprintf(stderr, ": %s ring: %s (%s)\n", view_status(&v), v.why,
			strerror(-v.verdict));
		rc = EXIT_FAIL;
	}
	view_close(&v);
	return rc;
}
