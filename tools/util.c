/* SPDX-License-Identifier: MIT */
/*
 * util.c - what every subcommand shares: error messages and exit codes, the
 * parsing of option values, human formatting, and a small JSON writer.
 */
#include "cli.h"

#include <ctype.h>
#include <getopt.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- errors ---- */

void errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("shmring: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "shmring %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'shmring %s --help' for more information.\n", cmd);
	va_end(ap);
	return EXIT_USAGE;
}

int ring_error(const char *cmd, const char *name, int err)
{
	const char *why = NULL;
	struct view v;
	char file[NAME_MAX + 1];

	/* The library says only -EBADMSG; its validator, run again here on a
	 * private copy of the header, says what is wrong. */
	if ((err == -EBADMSG || err == -EPROTO || err == -EAGAIN) &&
	    ring_file_name(name, file, sizeof(file)) == 0 && view_open(file, &v) == 0) {
		if (v.verdict)
			why = v.why; /* a string literal: outlives the view */
		view_close(&v);
	}
	/* A header that validates with state that does not (found at run time). */
	if (err == -EBADMSG && !why)
		why = "the ring's shared state is corrupt";
	fprintf(stderr, "shmring: %s ", cmd);
	put_name(stderr, name);
	fprintf(stderr, ": %s", strerror(-err));
	if (why)
		fprintf(stderr, " (%s)", why);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int bad_option(const char *cmd, char **argv, int c)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error(cmd, "option '%s' needs a value", arg);
	if (optopt && strncmp(arg, "--", 2) != 0)
		return usage_error(cmd, "unknown option -- '%c'", optopt);
	return usage_error(cmd, "unknown option '%s'", arg);
}

/* ---- option values ---- */

int parse_count(const char *s, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (shift && end[1])
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int parse_seconds(const char *s, int64_t *ns)
{
	char *end;
	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 1e9)
		return -EINVAL;
	*ns = (int64_t)(v * 1e9);
	return 0;
}

int parse_perm(const char *s, unsigned *out)
{
	char *end;
	if (!s[0] || strspn(s, "01234567") != strlen(s))
		return -EINVAL;
	unsigned long v = strtoul(s, &end, 8);
	if (v > 0777)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int ring_file_name(const char *name, char *out, size_t outsz)
{
	char path[NAME_MAX + 2];
	int rc = shmring__validate_name(name, path, sizeof(path));
	if (rc < 0)
		return rc;
	if ((size_t)snprintf(out, outsz, "%s", path + 1) >= outsz)
		return -EINVAL;
	return 0;
}

/* ---- formatting ---- */

const char *fmt_size(char buf[32], uint64_t n)
{
	static const char units[] = "KMGT";
	unsigned u = 0;
	if (n == 0) {
		snprintf(buf, 32, "0");
		return buf;
	}
	while (u < 4 && n % 1024 == 0 && n >= 1024) {
		n /= 1024;
		u++;
	}
	if (u)
		snprintf(buf, 32, "%llu%c", (unsigned long long)n, units[u - 1]);
	else
		snprintf(buf, 32, "%llu", (unsigned long long)n);
	return buf;
}

const char *fmt_age(char buf[32], int64_t s)
{
	if (s < 0)
		snprintf(buf, 32, "-");
	else if (s < 120)
		snprintf(buf, 32, "%llds", (long long)s);
	else if (s < 120 * 60)
		snprintf(buf, 32, "%lldm", (long long)(s / 60));
	else if (s < 48 * 3600)
		snprintf(buf, 32, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, 32, "%lldd", (long long)(s / 86400));
	return buf;
}

const char *fmt_rate(char buf[32], double v)
{
	if (v < 0 || !isfinite(v))
		snprintf(buf, 32, "-");
	else if (v < 1000)
		snprintf(buf, 32, "%.0f", v);
	else if (v < 1e6)
		snprintf(buf, 32, "%.1fk", v / 1e3);
	else if (v < 1e9)
		snprintf(buf, 32, "%.1fM", v / 1e6);
	else
		snprintf(buf, 32, "%.1fG", v / 1e9);
	return buf;
}

const char *fmt_user(char buf[64], uid_t uid)
{
	struct passwd *pw = getpwuid(uid);
	if (pw && pw->pw_name)
		snprintf(buf, 64, "%s", pw->pw_name);
	else
		snprintf(buf, 64, "%u", (unsigned)uid);
	return buf;
}

static bool plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '\\';
}

const char *esc_name(char *buf, size_t sz, const char *name)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p && n + 5 <= sz; p++) {
		if (plain(*p))
			buf[n++] = (char)*p;
		else
			n += (size_t)snprintf(buf + n, sz - n, "\\x%02x", *p);
	}
	buf[n < sz ? n : sz - 1] = '\0';
	return buf;
}

void put_name(FILE *f, const char *name)
{
	char buf[ESC_NAME_MAX];
	fputs(esc_name(buf, sizeof(buf), name), f);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t age_s(uint64_t ns)
{
	uint64_t now = (uint64_t)now_real_ns();
	return ns > now ? -1 : (int64_t)((now - ns) / 1000000000u);
}

int64_t now_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int64_t now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* ---- JSON ---- */

void json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first = true;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static int utf8_len(const unsigned char *p)
{
	int n;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	for (int i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0) ||
	    (*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

/* A JSON string. A name in /dev/shm is any bytes: valid UTF-8 passes
 * through, and any other byte b is written as the code point U+00b. */
static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int n;
		if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p, f);
		} else if (*p >= 0x20 && *p < 0x7f) {
			fputc(*p, f);
		} else if (*p >= 0x80 && (n = utf8_len(p)) > 0) {
			fwrite(p, 1, (size_t)n, f);
			p += n - 1;
		} else {
			fprintf(f, "\\u%04x", *p);
		}
	}
	fputc('"', f);
}

/* The separator, indent and key before a value. */
static void json_key(struct json *j, const char *key)
{
	if (!j->first)
		fputc(',', j->f);
	if (j->depth)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	j->first = false;
	if (key) {
		json_string(j->f, key);
		fputs(": ", j->f);
	}
}

void json_open(struct json *j, const char *key, char bracket)
{
	json_key(j, key);
	fputc(bracket, j->f);
	j->depth++;
	j->first = true;
}

void json_close(struct json *j, char bracket)
{
	j->depth--;
	if (!j->first)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(bracket, j->f);
	j->first = false;
}

void json_str(struct json *j, const char *key, const char *val)
{
	json_key(j, key);
	if (val)
		json_string(j->f, val);
	else
		fputs("null", j->f);
}

void json_u64(struct json *j, const char *key, uint64_t val)
{
	json_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void json_i64(struct json *j, const char *key, int64_t val)
{
	json_key(j, key);
	fprintf(j->f, "%lld", (long long)val);
}

void json_dbl(struct json *j, const char *key, double val)
{
	json_key(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.3f", val);
	else
		fputs("null", j->f);
}

void json_bool(struct json *j, const char *key, bool val)
{
	json_key(j, key);
	fputs(val ? "true" : "false", j->f);
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
}

/* ---- tables ---- */

void table_init(struct table *t, int ncol, const char *const *head, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncol = ncol;
	t->head = head;
	t->align = align;
}

static char **table_row(struct table *t)
{
	if (t->nrow == t->cap) {
		int cap = t->cap ? 2 * t->cap : 16;
		struct table_row *rows = realloc(t->rows, (size_t)cap * sizeof(*rows));
		if (!rows)
			return NULL;
		t->rows = rows;
		t->cap = cap;
	}
	struct table_row *r = &t->rows[t->nrow];
	r->cells = calloc((size_t)t->ncol, sizeof(char *));
	if (!r->cells)
		return NULL;
	r->span = false;
	t->nrow++;
	return r->cells;
}

int table_add(struct table *t, const char *const *cells)
{
	char **row = table_row(t);
	if (!row)
		return -ENOMEM;
	for (int i = 0; i < t->ncol; i++)
		if (!(row[i] = strdup(cells[i] ? cells[i] : "")))
			return -ENOMEM;
	return 0;
}

int table_add_span(struct table *t, const char *first, const char *rest)
{
	char **row = table_row(t);
	if (!row)
		return -ENOMEM;
	t->rows[t->nrow - 1].span = true;
	for (int i = 0; i < t->ncol; i++)
		if (!(row[i] = strdup(i == 0 ? first : i == 1 ? rest : "")))
			return -ENOMEM;
	return 0;
}

/* One line: cells padded to their column's width, two spaces apart, the last
 * one unpadded; cut at `width` columns when width > 0. */
static void table_line(const struct table *t, FILE *f, const char *const *cells, bool span,
		       const int *w, int width, const char *eol)
{
	char line[4096];
	size_t n = (size_t)snprintf(line, sizeof(line), "%*s", t->indent, "");

	for (int i = 0; i < t->ncol && n < sizeof(line); i++) {
		bool last = i == t->ncol - 1 || (span && i == 1);
		bool right = t->align[i] == 'r' && !span;
		int pad = last && !right ? 0 : w[i];
		const char *sep = i ? "  " : "";
		if (right)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%*s", sep, pad,
					      cells[i]);
		else
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%-*s", sep, pad,
					      cells[i]);
		if (last)
			break;
	}
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	while (n && line[n - 1] == ' ')
		n--;
	if (width > 0 && n > (size_t)width)
		n = (size_t)width;
	fwrite(line, 1, n, f);
	fputs(eol, f);
}

void table_print(const struct table *t, FILE *f, int width, const char *eol)
{
	int w[TABLE_MAXCOL] = { 0 };

	for (int i = 0; i < t->ncol; i++)
		w[i] = (int)strlen(t->head[i]);
	for (int r = 0; r < t->nrow; r++)
		for (int i = 0; i < t->ncol; i++) {
			if (t->rows[r].span && i > 0)
				break;
			int l = (int)strlen(t->rows[r].cells[i]);
			w[i] = l > w[i] ? l : w[i];
		}
	table_line(t, f, t->head, false, w, width, eol);
	for (int r = 0; r < t->nrow; r++)
		table_line(t, f, (const char *const *)t->rows[r].cells, t->rows[r].span, w, width,
			   eol);
}

void table_free(struct table *t)
{
	for (int r = 0; r < t->nrow; r++) {
		for (int i = 0; i < t->ncol; i++)
			free(t->rows[r].cells[i]);
		free(t->rows[r].cells);
	}
	free(t->rows);
	memset(t, 0, sizeof(*t));
}
