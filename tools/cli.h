/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the seams between the files of the `shmring` command:
 *
 *   main.c     dispatch to a subcommand, the top-level help
 *   util.c     errors and exit codes, option values (sizes, seconds, counts),
 *              human formatting, a small JSON writer
 *   view.c     a read-only look at one object in /dev/shm: its header copied
 *              privately, validated by the library's shmring__check_header(),
 *              and the liveness lock of every endpoint probed
 *   cmd_*.c    one file per concern: ls and stat (inspect), top, create and
 *              rm (admin), put and get (io)
 *
 * The command is single-threaded and short-lived; it never writes to a ring's
 * shared memory except through the public API (create, put, get).
 */
#ifndef SHMRING_CLI_H
#define SHMRING_CLI_H

#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "internal.h" /* layout.h, struct sr_geom, shmring__check_header() */

/* Exit codes of every subcommand. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* Where glibc keeps POSIX shared memory, and the prefix of the private names
 * under which shmring_create() builds a ring before linking it into place. */
#define SHM_DIR SR_SHM_DIR
#define TEMP_PREFIX SR_TEMP_PREFIX

/* ---- main.c ---- */

/* A subcommand: run(argc, argv) with argv[0] the subcommand's name; returns
 * an exit code. */
struct cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary; /* one line for `shmring --help` */
};

int cmd_ls(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);

/* ---- util.c ---- */

/* "shmring: " + message + newline on stderr. */
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "shmring CMD: " + message, then a pointer to `shmring CMD --help`, on
 * stderr. Returns EXIT_USAGE, so that callers can `return usage_error(...)`. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a failed library call on ring `name` as "shmring: CMD NAME: strerror"
 * and, when the ring failed validation (-EBADMSG, -EPROTO, -EAGAIN), the
 * validator's reason. Returns EXIT_FAIL. */
int ring_error(const char *cmd, const char *name, int err);

/* The default case of a getopt_long() loop whose optstring starts with ":":
 * c is what getopt returned (":" for a missing value, "?" for an unknown
 * option). Reports it as a usage error of cmd and returns EXIT_USAGE. */
int bad_option(const char *cmd, char **argv, int c);

/* Parse a byte count with an optional K, M or G suffix (powers of 1024).
 * Returns 0, or -EINVAL on anything else (overflow included). */
int parse_size(const char *s, uint64_t *out);
/* Parse a non-negative decimal integer. Returns 0 or -EINVAL. */
int parse_count(const char *s, uint64_t *out);
/* Parse non-negative seconds, fractions allowed, into nanoseconds.
 * Returns 0 or -EINVAL. */
int parse_seconds(const char *s, int64_t *ns);
/* Parse octal permission bits (at most 0777). Returns 0 or -EINVAL. */
int parse_perm(const char *s, unsigned *out);
/* Check a ring name as the library will ("name" or "/name") and return the
 * object's file name in /dev/shm (without the '/') in out, of size outsz.
 * Returns 0 or -EINVAL. */
int ring_file_name(const char *name, char *out, size_t outsz);

/* "4K", "1M", or the plain number when it is not a whole multiple. */
const char *fmt_size(char buf[32], uint64_t n);
/* "3s", "5m", "2h", "4d": a coarse, human age. */
const char *fmt_age(char buf[32], int64_t seconds);
/* Rates: "12.3k", "4.5M". */
const char *fmt_rate(char buf[32], double per_s);
/* The user name of uid, or its number. */
const char *fmt_user(char buf[64], uid_t uid);
/* name with the bytes that are not printable ASCII (and backslash) written
 * as \xNN: a name in /dev/shm may hold any byte but '/' and NUL. Cut to fit
 * buf, of size sz; ESC_NAME_MAX always fits a file name. */
#define ESC_NAME_MAX (4 * NAME_MAX + 1)
const char *esc_name(char *buf, size_t sz, const char *name);
/* The same, written to f. */
void put_name(FILE *f, const char *name);
/* Seconds from a CLOCK_REALTIME time in ns (a creation or attach time read
 * from a ring, so anything) to now; -1 when it lies in the future. */
int64_t age_s(uint64_t ns);
/* Now on CLOCK_REALTIME / CLOCK_MONOTONIC, in nanoseconds. */
int64_t now_real_ns(void);
int64_t now_mono_ns(void);

/* A small JSON writer: pretty-printed, two-space indents, commas and
 * escaping handled. A `key` is NULL inside arrays, non-NULL inside objects. */
struct json {
	FILE *f;
	int depth;
	bool first; /* nothing written yet at this depth */
};
void json_init(struct json *j, FILE *f);
void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *val); /* NULL: null */
void json_u64(struct json *j, const char *key, uint64_t val);
void json_i64(struct json *j, const char *key, int64_t val);
void json_dbl(struct json *j, const char *key, double val);
void json_bool(struct json *j, const char *key, bool val);
void json_end(struct json *j); /* the final newline */

/* A text table: a header line and rows of cells, columns two spaces apart
 * and as wide as their widest cell. A "span" row has a first cell and one
 * text running over the other columns (a corrupt ring's reason). */
#define TABLE_MAXCOL 16
struct table_row {
	char **cells;
	bool span;
};
struct table {
	int ncol;
	const char *const *head;
	const char *align; /* per column: 'l' or 'r' */
	int indent;        /* spaces before each line; 0 after table_init() */
	struct table_row *rows;
	int nrow, cap;
};
void table_init(struct table *t, int ncol, const char *const *head, const char *align);
/* Add a row of ncol cells (copied). Returns 0 or -ENOMEM. */
int table_add(struct table *t, const char *const *cells);
int table_add_span(struct table *t, const char *first, const char *rest);
/* Print the table to f, each line cut at width columns when width > 0 and
 * ended with eol ("\n", or "\033[K\n" to clear the rest of a screen line). */
void table_print(const struct table *t, FILE *f, int width, const char *eol);
void table_free(struct table *t);

/* ---- view.c ---- */

enum view_kind {
	VIEW_OTHER,   /* not one of ours: not a regular file, or not our magic */
	VIEW_CORRUPT, /* our magic, but the header fails validation */
	VIEW_RING,    /* a ring that validates */
};

/* What one look at an object in /dev/shm found. A view is a snapshot: the
 * header and endpoint table are copied once, word by word, and everything
 * after reads the copy. Liveness is the kernel's answer about the lock bytes
 * at the time of the look. */
struct view {
	char name[NAME_MAX + 1]; /* file name under /dev/shm, without the '/' */
	int fd;                  /* O_RDONLY descriptor, kept for lock probes */
	struct stat st;
	enum view_kind kind;
	int verdict;      /* 0, or shmring__check_header()'s negative errno */
	const char *why;  /* its reason: "ok", or what is wrong */
	struct sr_geom g; /* the validated geometry (VIEW_RING only) */
	struct sr_header h;
	bool locked[SR_EP_MAX]; /* byte i of the object is write-locked by someone */
};

/* What shmring_stat() would say, computed from a view (VIEW_RING only for
 * capacity and used; the counters are read whatever the verdict). */
struct view_stats {
	uint64_t capacity, used; /* bytes */
	uint64_t sent, received, wakeups, dropped;
	uint64_t bytes_sent;           /* payload bytes of the producers alive now */
	unsigned producers, consumers; /* alive: state LIVE and lock held */
	unsigned dead;                 /* state LIVE but nobody holds the lock */
	unsigned holders;              /* lock bytes held, whatever the table says */
	unsigned sleepers;
};

/* Look at object `name` (a file name in /dev/shm). Returns 0 with v filled
 * (v->kind says what it is; v->fd is open: call view_close()), or a negative
 * errno when it cannot be opened or read (-ENOENT, -EACCES, ...). Never
 * blocks (FIFOs are not opened for reading) and never maps the object. */
int view_open(const char *name, struct view *v);
void view_close(struct view *v);
/* Is endpoint i alive: LIVE in the table and its lock byte held? */
bool view_ep_alive(const struct view *v, unsigned i);
void view_stats(const struct view *v, struct view_stats *s);
unsigned view_sleepers(const struct view *v, bool data);
/* A word for the verdict: "ok", "corrupt", "unsupported" (another layout
 * version), "initialising" (creator at work). */
const char *view_status(const struct view *v);

/* The file names in /dev/shm, sorted; free with names_free(). Returns the
 * count, or a negative errno. */
int list_names(char ***names);
void names_free(char **names, int n);

#endif /* SHMRING_CLI_H */
