/* SPDX-License-Identifier: MIT */
/*
 * test_segment.c - the segment: create/open/unlink of named rings, names,
 * configuration checks, permissions, anonymous rings shared by fork, by an
 * inherited descriptor and by SCM_RIGHTS, huge pages, validation of hostile or
 * half-made objects at open (-EBADMSG, -EPROTO, -EAGAIN), shmring_stat and
 * shmring_mode_name.
 */
#include "common.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "layout.h"

#define CONCERN "segment"
#define TMO .timeout = 20, .fini = t_unlink_all

static const char *newname(void)
{
	return t_newname(CONCERN);
}

static int open_is_enoent(const char *name)
{
	shmring *o = NULL;
	int rc = shmring_open(name, SHMRING_OBSERVER, &o);
	if (rc == 0)
		shmring_close(o);
	return rc == -ENOENT;
}

/* ---- Round trips ---------------------------------------------------------- */

MODE_TEST(segment, create_open_unlink_round_trip, TMO)
{
	T_MODE;
	const char *name = newname();
	struct shmring_config cfg = t_cfg(mode, 65536, 512);
	shmring *p = NULL, *c = NULL, *o = NULL;

	int rc = shmring_create(name, &cfg, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "%s: create %s: %d (%s)", M, name, rc, t_err(rc));
	cr_assert_not_null(p);
	rc = shmring_open(name, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0, "%s: open %s: %d (%s)", M, name, rc, t_err(rc));

	char msg[100], buf[600];
	t_fill(msg, sizeof(msg), 42);
	rc = shmring_send(p, msg, sizeof(msg), 0);
	cr_assert_eq(rc, 0, "%s: send: %d (%s)", M, rc, t_err(rc));
	ssize_t n = shmring_recv(c, buf, sizeof(buf), 0);
	cr_assert_eq(n, (ssize_t)sizeof(msg), "%s: recv: %zd vs %zu", M, n, sizeof(msg));
	cr_assert_eq(t_check(buf, sizeof(msg), 42), -1, "%s: payload differs", M);

	struct shmring_stat st = t_stat(c);
	cr_assert_eq(st.mode, mode, "%s: stat.mode %d vs %d", M, (int)st.mode, (int)mode);
	cr_assert_eq(st.max_msg, 512, "%s: stat.max_msg %zu vs 512", M, st.max_msg);

	rc = shmring_unlink(name);
	cr_assert_eq(rc, 0, "%s: unlink: %d (%s)", M, rc, t_err(rc));
	o = (shmring *)0x1;
	rc = shmring_open(name, SHMRING_OBSERVER, &o);
	cr_assert_eq(rc, -ENOENT, "%s: open after unlink: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(o, (shmring *)0x1, "%s: *out written on failure", M);
	rc = shmring_unlink(name);
	cr_assert_eq(rc, -ENOENT, "%s: second unlink: %d (%s)", M, rc, t_err(rc));

	/* Unlinking removes the name, not the ring. */
	rc = shmring_send(p, msg, 10, 0);
	cr_assert_eq(rc, 0, "%s: send after unlink: %d (%s)", M, rc, t_err(rc));
	n = shmring_recv(c, buf, sizeof(buf), 0);
	cr_assert_eq(n, 10, "%s: recv after unlink: %zd", M, n);

	/* The name can be taken again at once. */
	shmring *q = NULL;
	rc = shmring_create(name, &cfg, SHMRING_OBSERVER, &q);
	cr_assert_eq(rc, 0, "%s: create again after unlink: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(shmring_close(q), 0);
	cr_assert_eq(shmring_unlink(name), 0);

	cr_assert_eq(shmring_close(c), 0);
	cr_assert_eq(shmring_close(p), 0);
}

Test(segment, leading_slash_names_the_same_object, TMO)
{
	const char *name = newname();
	char slashed[300];
	snprintf(slashed, sizeof(slashed), "/%s", name);
	shmring *p = NULL, *c = NULL;
	int rc = shmring_create(slashed, NULL, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "create %s: %d (%s)", slashed, rc, t_err(rc));
	rc = shmring_open(name, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0, "open %s (created as %s): %d (%s)", name, slashed, rc, t_err(rc));
	shmring *x = (shmring *)0x1;
	rc = shmring_create(name, NULL, SHMRING_PRODUCER, &x);
	cr_assert_eq(rc, -EEXIST, "create %s over %s: %d (%s)", name, slashed, rc, t_err(rc));
	cr_assert_eq(x, (shmring *)0x1, "*out written on failure");
	struct stat sb;
	char path[320];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	cr_assert_eq(stat(path, &sb), 0, "%s missing: %s", path, strerror(errno));
	rc = shmring_unlink(slashed);
	cr_assert_eq(rc, 0, "unlink %s: %d (%s)", slashed, rc, t_err(rc));
	cr_assert(open_is_enoent(name));
	shmring_close(c);
	shmring_close(p);
}

Test(segment, null_config_means_defaults, TMO)
{
	const char *name = newname();
	shmring *r = NULL;
	int rc = shmring_create(name, NULL, SHMRING_PRODUCER, &r);
	cr_assert_eq(rc, 0, "create(cfg NULL): %d (%s)", rc, t_err(rc));
	struct shmring_stat st = t_stat(r);
	cr_assert_eq(st.mode, SHMRING_SPSC, "default mode %d", (int)st.mode);
	cr_assert_geq(st.capacity, SHMRING_DEFAULT_CAPACITY, "default capacity %zu", st.capacity);
	cr_assert_eq(st.max_msg, SHMRING_DEFAULT_MAX_MSG, "default max_msg %zu", st.max_msg);
	cr_assert_eq(st.flags, 0u, "default flags %#x", st.flags);
	shmring_close(r);

	/* An all-zero config is the same as NULL. */
	struct shmring_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &r);
	cr_assert_eq(rc, 0, "create_anon(all-zero cfg): %d (%s)", rc, t_err(rc));
	st = t_stat(r);
	cr_assert_eq(st.mode, SHMRING_SPSC);
	cr_assert_geq(st.capacity, SHMRING_DEFAULT_CAPACITY, "capacity %zu", st.capacity);
	cr_assert_eq(st.max_msg, SHMRING_DEFAULT_MAX_MSG, "max_msg %zu", st.max_msg);
	shmring_close(r);

	/* max_msg 0 on a small ring: min(4 KiB, capacity / 2). */
	cfg.capacity = 4096;
	rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &r);
	cr_assert_eq(rc, 0, "create_anon(cap 4096): %d (%s)", rc, t_err(rc));
	st = t_stat(r);
	cr_assert_eq(st.max_msg, 2048, "default max_msg of a 4 KiB ring: %zu vs 2048", st.max_msg);
	shmring_close(r);
}

/* ---- Names ----------------------------------------------------------------- */

Test(segment, create_on_a_taken_name_is_eexist, TMO)
{
	const char *name = newname();
	shmring *a = NULL, *b = (shmring *)0x1;
	struct shmring_config cfg = t_cfg(SHMRING_MPMC, 8192, 128);
	int rc = shmring_create(name, &cfg, SHMRING_PRODUCER, &a);
	cr_assert_eq(rc, 0, "create: %d (%s)", rc, t_err(rc));
	for (int m = 0; m < 4; m++) {
		struct shmring_config c2 = t_cfg((enum shmring_mode)m, 4096, 64);
		rc = shmring_create(name, &c2, SHMRING_CONSUMER, &b);
		cr_assert_eq(rc, -EEXIST, "second create (%s): %d (%s)", t_mode(m), rc, t_err(rc));
		cr_assert_eq(b, (shmring *)0x1, "*out written on failure");
	}
	/* The first ring is untouched: still MPMC, 128-byte max_msg, working. */
	shmring *c = NULL;
	rc = shmring_open(name, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0, "open: %d (%s)", rc, t_err(rc));
	struct shmring_stat st = t_stat(c);
	cr_assert_eq(st.mode, SHMRING_MPMC, "mode changed to %d", (int)st.mode);
	cr_assert_eq(st.max_msg, 128, "max_msg changed to %zu", st.max_msg);
	cr_assert_eq(shmring_send(a, "abc", 3, 0), 0);
	char buf[128];
	cr_assert_eq(shmring_recv(c, buf, sizeof(buf), 0), 3);
	shmring_close(c);
	shmring_close(a);
}

Test(segment, create_on_a_squatted_name_is_eexist, TMO)
{
	/* Someone else made the object first (empty, then with junk): create must
	 * refuse it and leave it as it was. */
	for (int variant = 0; variant < 2; variant++) {
		const char *name = newname();
		char path[300];
		snprintf(path, sizeof(path), "/%s", name);
		int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
		cr_assert_geq(fd, 0, "shm_open: %s", strerror(errno));
		off_t size = variant ? 1 << 20 : 0;
		if (size) {
			cr_assert_eq(ftruncate(fd, size), 0);
			char junk[4096];
			memset(junk, 0x5a, sizeof(junk));
			cr_assert_eq(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
		}
		shmring *r = (shmring *)0x1;
		int rc = shmring_create(name, NULL, SHMRING_PRODUCER, &r);
		cr_assert_eq(rc, -EEXIST, "create over a squatter (size %ld): %d (%s)", (long)size,
			     rc, t_err(rc));
		cr_assert_eq(r, (shmring *)0x1, "*out written on failure");
		struct stat sb;
		cr_assert_eq(fstat(fd, &sb), 0);
		cr_assert_eq(sb.st_size, size, "squatter's object resized: %ld vs %ld",
			     (long)sb.st_size, (long)size);
		if (size) {
			unsigned char b = 0;
			cr_assert_eq(pread(fd, &b, 1, 0), 1);
			cr_assert_eq(b, 0x5a, "squatter's object rewritten: %#x", b);
		}
		close(fd);
		shm_unlink(path);
	}
}

static void expect_bad_name(const char *what, const char *name)
{
	shmring *r = (shmring *)0x1;
	int rc = shmring_create(name, NULL, SHMRING_PRODUCER, &r);
	cr_assert_eq(rc, -EINVAL, "create(%s): %d (%s)", what, rc, t_err(rc));
	cr_assert_eq(r, (shmring *)0x1, "create(%s) wrote *out on failure", what);
	rc = shmring_open(name, SHMRING_CONSUMER, &r);
	cr_assert_eq(rc, -EINVAL, "open(%s): %d (%s)", what, rc, t_err(rc));
	cr_assert_eq(r, (shmring *)0x1, "open(%s) wrote *out on failure", what);
	rc = shmring_unlink(name);
	cr_assert_eq(rc, -EINVAL, "unlink(%s): %d (%s)", what, rc, t_err(rc));
}

Test(segment, invalid_names_are_einval, TMO)
{
	char base[64];
	snprintf(base, sizeof(base), "shmring-test-" CONCERN "-%d", (int)getpid());
	char buf[400];

	expect_bad_name("NULL", NULL);
	expect_bad_name("\"\"", "");
	expect_bad_name("\"/\"", "/");
	expect_bad_name("\"//\"", "//");
	snprintf(buf, sizeof(buf), "%s/b", base);
	expect_bad_name("a/b", buf);
	snprintf(buf, sizeof(buf), "/%s/b", base);
	expect_bad_name("/a/b", buf);
	snprintf(buf, sizeof(buf), "//%s", base);
	expect_bad_name("//a", buf);
	snprintf(buf, sizeof(buf), "%s/", base);
	expect_bad_name("a/", buf);

	/* 201 bytes, no slash. */
	memset(buf, 0, sizeof(buf));
	snprintf(buf, sizeof(buf), "%s-", base);
	memset(buf + strlen(buf), 'L', 201 - strlen(buf));
	cr_assert_eq(strlen(buf), 201);
	expect_bad_name("201 bytes", buf);
	/* A slash and 201 bytes. */
	memset(buf, 0, sizeof(buf));
	snprintf(buf, sizeof(buf), "/%s-", base);
	memset(buf + strlen(buf), 'L', 202 - strlen(buf));
	cr_assert_eq(strlen(buf), 202);
	expect_bad_name("/ + 201 bytes", buf);
	/* 300 bytes: past NAME_MAX of many file systems too. */
	memset(buf, 0, sizeof(buf));
	snprintf(buf, sizeof(buf), "%s-", base);
	memset(buf + strlen(buf), 'L', 300 - strlen(buf));
	expect_bad_name("300 bytes", buf);
}

Test(segment, names_up_to_200_bytes_are_valid, TMO)
{
	/* "name", "/name", 200 bytes without a slash, 200 bytes with one. */
	for (int v = 0; v < 4; v++) {
		char *name = t_names[t_nnames++];
		int n = snprintf(name, sizeof(t_names[0]), "%sshmring-test-" CONCERN "-%d-v%d-",
				 v & 1 ? "/" : "", (int)getpid(), v);
		if (v >= 2) {
			memset(name + n, 'V', 200 - n);
			name[200] = 0;
		}
		shmring *r = NULL, *o = NULL;
		int rc = shmring_create(name, NULL, SHMRING_PRODUCER, &r);
		cr_assert_eq(rc, 0, "create(%zu bytes \"%.20s...\"): %d (%s)", strlen(name), name,
			     rc, t_err(rc));
		rc = shmring_open(name, SHMRING_OBSERVER, &o);
		cr_assert_eq(rc, 0, "open(%zu bytes): %d (%s)", strlen(name), rc, t_err(rc));
		shmring_close(o);
		shmring_close(r);
		rc = shmring_unlink(name);
		cr_assert_eq(rc, 0, "unlink(%zu bytes): %d (%s)", strlen(name), rc, t_err(rc));
		/* t_unlink_all strips a leading slash before adding its own. */
		if (name[0] == '/')
			memmove(name, name + 1, strlen(name));
	}
}

Test(segment, a_one_byte_name_is_valid, TMO)
{
	/* "x" and "/x" name the same object. The name is not unique to this
	 * run: if someone else holds it, there is nothing to test. */
	shmring *r = NULL, *o = NULL;
	int rc = shmring_create("x", NULL, SHMRING_PRODUCER, &r);
	if (rc == -EEXIST)
		cr_skip_test("/dev/shm/x exists and is not ours");
	cr_assert_eq(rc, 0, "create(\"x\"): %d (%s)", rc, t_err(rc));
	strcpy(t_names[t_nnames++], "x"); /* ours now: the fixture unlinks it on failure */
	rc = shmring_open("/x", SHMRING_OBSERVER, &o);
	cr_assert_eq(rc, 0, "open(\"/x\") of a ring created as \"x\": %d (%s)", rc, t_err(rc));
	shmring_close(o);
	shmring_close(r);
	rc = shmring_unlink("/x");
	cr_assert_eq(rc, 0, "unlink(\"/x\"): %d (%s)", rc, t_err(rc));
	t_nnames--;
}

/* ---- Configuration and roles ------------------------------------------------ */

Test(segment, unknown_role_bits_are_einval, TMO)
{
	static const int bad_roles[] = { 0x4, 0x8, 0x100, 0x7, -1, INT32_MIN };
	const char *name = newname();
	shmring *good = NULL;
	int rc = shmring_create(name, NULL, SHMRING_PRODUCER, &good);
	cr_assert_eq(rc, 0, "create: %d (%s)", rc, t_err(rc));
	const char *other = newname();
	for (size_t i = 0; i < sizeof(bad_roles) / sizeof(bad_roles[0]); i++) {
		int role = bad_roles[i];
		shmring *r = (shmring *)0x1;
		rc = shmring_create(other, NULL, role, &r);
		cr_assert_eq(rc, -EINVAL, "create(role %#x): %d (%s)", role, rc, t_err(rc));
		cr_assert(open_is_enoent(other), "create(role %#x) failed but left its name", role);
		rc = shmring_create_anon(NULL, role, &r);
		cr_assert_eq(rc, -EINVAL, "create_anon(role %#x): %d (%s)", role, rc, t_err(rc));
		rc = shmring_open(name, role, &r);
		cr_assert_eq(rc, -EINVAL, "open(role %#x): %d (%s)", role, rc, t_err(rc));
		rc = shmring_open_fd(shmring_fd(good), role, &r);
		cr_assert_eq(rc, -EINVAL, "open_fd(role %#x): %d (%s)", role, rc, t_err(rc));
		cr_assert_eq(r, (shmring *)0x1, "*out written on failure (role %#x)", role);
	}
	shmring_close(good);
}

static void expect_bad_cfg(const char *what, const struct shmring_config *cfg, int expect)
{
	const char *name = newname();
	shmring *r = (shmring *)0x1;
	int rc = shmring_create(name, cfg, SHMRING_PRODUCER, &r);
	if (expect)
		cr_assert_eq(rc, expect, "create(%s): %d (%s)", what, rc, t_err(rc));
	else
		cr_assert_lt(rc, 0, "create(%s): %d, expected an error", what, rc);
	cr_assert_eq(r, (shmring *)0x1, "create(%s) wrote *out on failure", what);
	cr_assert(open_is_enoent(name), "create(%s) failed but left its name behind", what);
	rc = shmring_create_anon(cfg, SHMRING_PRODUCER, &r);
	if (expect)
		cr_assert_eq(rc, expect, "create_anon(%s): %d (%s)", what, rc, t_err(rc));
	else
		cr_assert_lt(rc, 0, "create_anon(%s): %d, expected an error", what, rc);
	cr_assert_eq(r, (shmring *)0x1, "create_anon(%s) wrote *out on failure", what);
}

Test(segment, unknown_flags_and_reserved_words_are_einval, TMO)
{
	struct shmring_config cfg;
	static const unsigned bad_flags[] = { 0x8, 0x10, 0x80, 0x100, 0x80000000u };
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		char what[64];
		cfg = t_cfg(SHMRING_SPSC, 65536, 0);
		cfg.flags = bad_flags[i];
		snprintf(what, sizeof(what), "flags %#x", bad_flags[i]);
		expect_bad_cfg(what, &cfg, -EINVAL);
	}
	for (int i = 0; i < 4; i++) {
		char what[64];
		cfg = t_cfg(SHMRING_MPMC, 65536, 0);
		cfg.reserved[i] = 1ull << (i * 16);
		snprintf(what, sizeof(what), "reserved[%d] = %#llx", i,
			 (unsigned long long)cfg.reserved[i]);
		expect_bad_cfg(what, &cfg, -EINVAL);
	}
	/* A mode outside the enum is bad input, whatever the errno. */
	cfg = t_cfg((enum shmring_mode)4, 65536, 0);
	expect_bad_cfg("mode 4", &cfg, 0);
	cfg = t_cfg((enum shmring_mode) - 1, 65536, 0);
	expect_bad_cfg("mode -1", &cfg, 0);
}

MODE_TEST(segment, max_msg_over_half_the_capacity_is_einval, TMO)
{
	T_MODE;
	struct shmring_config cfg = t_cfg(mode, 4096, 2049);
	char what[80];
	snprintf(what, sizeof(what), "%s cap 4096 max_msg 2049", M);
	expect_bad_cfg(what, &cfg, -EINVAL);
	cfg = t_cfg(mode, 4096, 4096);
	snprintf(what, sizeof(what), "%s cap 4096 max_msg 4096", M);
	expect_bad_cfg(what, &cfg, -EINVAL);
	cfg = t_cfg(mode, 1 << 20, (size_t)1 << 40);
	snprintf(what, sizeof(what), "%s cap 1 MiB max_msg 2^40", M);
	expect_bad_cfg(what, &cfg, -EINVAL);
	cfg = t_cfg(mode, 0, (1 << 19) + 1);
	snprintf(what, sizeof(what), "%s default cap, max_msg 512 KiB + 1", M);
	expect_bad_cfg(what, &cfg, -EINVAL);

	/* Exactly half is fine, and a message of that size goes through. */
	shmring *p, *c;
	t_pair(mode, 4096, 2048, &p, &c);
	struct shmring_stat st = t_stat(p);
	cr_assert_eq(st.max_msg, 2048, "%s: max_msg %zu vs 2048", M, st.max_msg);
	static char big[2048], got[2048];
	t_fill(big, sizeof(big), 7);
	int rc = shmring_send(p, big, sizeof(big), 0);
	cr_assert_eq(rc, 0, "%s: send 2048 bytes into a 4096-byte ring: %d (%s)", M, rc, t_err(rc));
	ssize_t n = shmring_recv(c, got, sizeof(got), 0);
	cr_assert_eq(n, 2048, "%s: recv %zd", M, n);
	cr_assert_eq(t_check(got, 2048, 7), -1, "%s: payload", M);
	shmring_close(c);
	shmring_close(p);
}

/* ---- Permissions ------------------------------------------------------------ */

static mode_t perm_of(const char *name)
{
	char path[320];
	struct stat sb;
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	cr_assert_eq(stat(path, &sb), 0, "stat %s: %s", path, strerror(errno));
	return sb.st_mode & 07777;
}

Test(segment, permissions_hold_despite_the_umask, TMO)
{
	static const struct {
		mode_t umask, perm, expect;
	} cases[] = {
		{ 0, 0600, 0600 }, { 077, 0640, 0640 }, { 077, 0, 0600 },
		{ 0, 0, 0600 },    { 022, 0660, 0660 }, { 0777, 0644, 0644 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *name = newname();
		struct shmring_config cfg = t_cfg(SHMRING_SPSC, 4096, 0);
		cfg.perm = cases[i].perm;
		mode_t old = umask(cases[i].umask);
		shmring *r = NULL;
		int rc = shmring_create(name, &cfg, SHMRING_PRODUCER, &r);
		umask(old);
		cr_assert_eq(rc, 0, "create(perm %#o) under umask %#o: %d (%s)", cases[i].perm,
			     cases[i].umask, rc, t_err(rc));
		mode_t got = perm_of(name);
		cr_assert_eq(got, cases[i].expect,
			     "perm %#o under umask %#o gave %#o, expected %#o", cases[i].perm,
			     cases[i].umask, got, cases[i].expect);
		shmring_close(r);
		shmring_unlink(name);
	}
}

/* ---- Anonymous rings and descriptors ------------------------------------------ */

MODE_TEST(segment, anon_ring_is_shared_by_fork, TMO)
{
	T_MODE;
	enum { N = 50 };
	struct shmring_config cfg = t_cfg(mode, 65536, 256);
	shmring *c = NULL, *p = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0, "%s: create_anon: %d (%s)", M, rc, t_err(rc));
	rc = shmring_open_fd(shmring_fd(c), SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "%s: open_fd(producer): %d (%s)", M, rc, t_err(rc));

	pid_t pid = t_fork();
	if (pid == 0) {
		shmring_close(c); /* the child gives up its share of the consumer role */
		char msg[256];
		for (int i = 0; i < N; i++) {
			t_fill(msg, (size_t)i * 5, (uint64_t)i);
			int r2 = shmring_send(p, msg, (size_t)i * 5, 5 * SEC);
			CHILD_CHECK(r2 == 0, r2, i);
		}
		shmring_close(p);
		_exit(0);
	}
	shmring_close(p); /* the child now holds the only producer role */
	char buf[256];
	for (int i = 0; i < N; i++) {
		ssize_t n = shmring_recv(c, buf, sizeof(buf), 5 * SEC);
		cr_assert_eq(n, (ssize_t)i * 5, "%s: message %d: %zd (%s), expected %d bytes", M, i,
			     n, t_err(n), i * 5);
		cr_assert_eq(t_check(buf, (size_t)n, (uint64_t)i), -1, "%s: message %d payload", M,
			     i);
	}
	ssize_t n = shmring_recv(c, buf, sizeof(buf), 5 * SEC);
	cr_assert_eq(n, -EPIPE, "%s: after the child's producer closed: %zd (%s)", M, n, t_err(n));
	t_reap_ok(pid, 5, "producer child");
	shmring_close(c);
}

MODE_TEST(segment, open_fd_on_an_inherited_descriptor, TMO)
{
	T_MODE;
	struct shmring_config cfg = t_cfg(mode, 65536, 256);
	shmring *p = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "%s: create_anon: %d (%s)", M, rc, t_err(rc));
	int go[2];
	t_pipe(go);

	pid_t pid = t_fork();
	if (pid == 0) {
		int fd = shmring_fd(p);
		shmring *c = NULL;
		int r2 = shmring_open_fd(fd, SHMRING_CONSUMER, &c);
		CHILD_CHECK(r2 == 0, r2, fd);
		shmring_close(p); /* our share of the producer; the parent keeps its own */
		t_put(go[1], 'r');
		char buf[256];
		ssize_t n = shmring_recv(c, buf, sizeof(buf), 5 * SEC);
		CHILD_CHECK(n == 77, n, 77);
		CHILD_CHECK(t_check(buf, 77, 77) == -1, t_check(buf, 77, 77), 0);
		shmring_close(c);
		_exit(0);
	}
	cr_assert_eq(t_get(go[0], 5000), 'r', "%s: child did not attach", M);
	char msg[77];
	t_fill(msg, sizeof(msg), 77);
	rc = shmring_send(p, msg, sizeof(msg), 5 * SEC);
	cr_assert_eq(rc, 0, "%s: send: %d (%s)", M, rc, t_err(rc));
	t_reap_ok(pid, 5, "consumer child");
	shmring_close(p);
}

static int send_fd(int sock, int fd)
{
	char dummy = 'F';
	struct iovec iov = { &dummy, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char dummy;
	struct iovec iov = { &dummy, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -errno - 1000;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -2000;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

MODE_TEST(segment, descriptor_passed_over_scm_rights, TMO)
{
	T_MODE;
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);

	/* Fork before the ring exists: the child knows it only through the fd. */
	pid_t pid = t_fork();
	if (pid == 0) {
		close(sv[0]);
		int fd = recv_fd(sv[1]);
		CHILD_CHECK(fd >= 0, fd, 0);
		shmring *c = NULL;
		int r2 = shmring_open_fd(fd, SHMRING_CONSUMER, &c);
		CHILD_CHECK(r2 == 0, r2, 0);
		close(fd); /* the fd stays the caller's: the handle has its own */
		struct shmring_stat st;
		r2 = shmring_stat(c, &st);
		CHILD_CHECK(r2 == 0, r2, 0);
		CHILD_CHECK(st.mode == mode, st.mode, mode);
		char buf[300];
		for (int i = 0; i < 3; i++) {
			ssize_t n = shmring_recv(c, buf, sizeof(buf), 5 * SEC);
			CHILD_CHECK(n == 100 + i, n, i);
			CHILD_CHECK(t_check(buf, (size_t)n, 900 + i) == -1, i, 0);
		}
		/* The producer closes after sending: end of file. */
		ssize_t n = shmring_recv(c, buf, sizeof(buf), 5 * SEC);
		CHILD_CHECK(n == -EPIPE, n, -EPIPE);
		shmring_close(c);
		_exit(0);
	}
	close(sv[1]);
	struct shmring_config cfg = t_cfg(mode, 65536, 256);
	shmring *p = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "%s: create_anon: %d (%s)", M, rc, t_err(rc));
	char msg[300];
	t_fill(msg, 100, 900);
	cr_assert_eq(shmring_send(p, msg, 100, 0), 0);
	rc = send_fd(sv[0], shmring_fd(p));
	cr_assert_eq(rc, 0, "%s: sendmsg(SCM_RIGHTS): %d (%s)", M, rc, t_err(rc));
	for (int i = 1; i < 3; i++) {
		t_fill(msg, (size_t)(100 + i), (uint64_t)(900 + i));
		rc = shmring_send(p, msg, (size_t)(100 + i), 5 * SEC);
		cr_assert_eq(rc, 0, "%s: send %d: %d (%s)", M, i, rc, t_err(rc));
	}
	shmring_close(p);
	t_reap_ok(pid, 10, "SCM_RIGHTS consumer");
	close(sv[0]);
}

Test(segment, descriptors_are_close_on_exec, TMO)
{
	shmring *a = NULL, *n = NULL, *o = NULL;
	int rc = shmring_create_anon(NULL, SHMRING_PRODUCER, &a);
	cr_assert_eq(rc, 0, "create_anon: %d (%s)", rc, t_err(rc));
	int fd = shmring_fd(a);
	cr_assert_geq(fd, 0, "shmring_fd(anon): %d", fd);
	int fl = fcntl(fd, F_GETFD);
	cr_assert(fl >= 0 && (fl & FD_CLOEXEC), "anon ring fd %d flags %#x: not close-on-exec", fd,
		  fl);

	rc = shmring_open_fd(fd, SHMRING_CONSUMER, &o);
	cr_assert_eq(rc, 0, "open_fd: %d (%s)", rc, t_err(rc));
	int fd2 = shmring_fd(o);
	cr_assert_geq(fd2, 0, "shmring_fd(open_fd handle): %d", fd2);
	fl = fcntl(fd2, F_GETFD);
	cr_assert(fl >= 0 && (fl & FD_CLOEXEC), "open_fd handle fd %d flags %#x", fd2, fl);
	/* open_fd's descriptor is the caller's: closing the handle leaves it open. */
	shmring_close(o);
	cr_assert_neq(fcntl(fd, F_GETFD), -1, "closing an open_fd handle closed the caller's fd");
	shmring_close(a);

	const char *name = newname();
	rc = shmring_create(name, NULL, SHMRING_PRODUCER, &n);
	cr_assert_eq(rc, 0, "create: %d (%s)", rc, t_err(rc));
	fd = shmring_fd(n);
	cr_assert_geq(fd, 0, "shmring_fd(named): %d", fd);
	fl = fcntl(fd, F_GETFD);
	cr_assert(fl >= 0 && (fl & FD_CLOEXEC), "named ring fd %d flags %#x", fd, fl);
	rc = shmring_open(name, SHMRING_CONSUMER, &o);
	cr_assert_eq(rc, 0, "open: %d (%s)", rc, t_err(rc));
	fd = shmring_fd(o);
	fl = fcntl(fd, F_GETFD);
	cr_assert(fd >= 0 && fl >= 0 && (fl & FD_CLOEXEC), "opened ring fd %d flags %#x", fd, fl);
	shmring_close(o);
	shmring_close(n);
	shmring_unlink(name);
}

Test(segment, hugepages_work_or_fail_cleanly, TMO)
{
	struct shmring_config cfg = t_cfg(SHMRING_SPSC, 1 << 21, 0);
	cfg.flags = SHMRING_HUGEPAGES;
	for (int named = 0; named < 2; named++) {
		const char *name = named ? newname() : NULL;
		shmring *p = (shmring *)0x1;
		int rc = named ? shmring_create(name, &cfg, SHMRING_PRODUCER, &p)
			       : shmring_create_anon(&cfg, SHMRING_PRODUCER, &p);
		if (rc < 0) {
			cr_assert_gt(rc, -4096, "%s huge pages: %d is not an errno",
				     named ? "named" : "anon", rc);
			cr_assert_eq(p, (shmring *)0x1, "*out written on failure");
			if (named)
				cr_assert(open_is_enoent(name),
					  "failed huge-page create left a name");
			cr_log_info("%s huge-page ring: %d (%s)", named ? "named" : "anon", rc,
				    t_err(rc));
			continue;
		}
		shmring *c = NULL;
		rc = shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c);
		cr_assert_eq(rc, 0, "open_fd on a huge-page ring: %d (%s)", rc, t_err(rc));
		struct shmring_stat st = t_stat(p);
		cr_assert(st.flags & SHMRING_HUGEPAGES, "stat.flags %#x lacks HUGEPAGES", st.flags);
		char buf[16];
		cr_assert_eq(shmring_send(p, "huge", 4, 0), 0);
		cr_assert_eq(shmring_recv(c, buf, sizeof(buf), 0), 4);
		shmring_close(c);
		shmring_close(p);
		if (named)
			shmring_unlink(name);
	}
}

/* ---- Open: missing, hostile and half-made objects --------------------------- */

Test(segment, open_of_a_missing_name_is_enoent, TMO)
{
	const char *name = newname();
	for (int role = 0; role < 4; role++) {
		shmring *r = (shmring *)0x1;
		int rc = shmring_open(name, role, &r);
		cr_assert_eq(rc, -ENOENT, "open(missing, role %d): %d (%s)", role, rc, t_err(rc));
		cr_assert_eq(r, (shmring *)0x1);
	}
	cr_assert_eq(shmring_unlink(name), -ENOENT);
}

Test(segment, open_fd_of_a_bad_descriptor_fails, TMO)
{
	shmring *r = (shmring *)0x1;
	int rc = shmring_open_fd(-1, SHMRING_CONSUMER, &r);
	cr_assert_lt(rc, 0, "open_fd(-1): %d", rc);
	int fds[2];
	t_pipe(fds);
	rc = shmring_open_fd(fds[0], SHMRING_CONSUMER, &r);
	cr_assert_lt(rc, 0, "open_fd(a pipe): %d", rc);
	cr_assert_gt(rc, -4096);
	int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
	rc = shmring_open_fd(dn, SHMRING_CONSUMER, &r);
	cr_assert_lt(rc, 0, "open_fd(/dev/null): %d", rc);
	cr_assert_eq(r, (shmring *)0x1);
	close(dn);
	close(fds[0]);
	close(fds[1]);
}

/* Make a POSIX shm object by hand with `size` bytes, filled by `fill`. */
static void make_object(const char *name, size_t size, int fill)
{
	char path[300];
	snprintf(path, sizeof(path), "/%s", name);
	int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	cr_assert_geq(fd, 0, "shm_open(%s): %s", path, strerror(errno));
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	if (size && fill >= 0) {
		unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		cr_assert_neq(p, MAP_FAILED);
		uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)size;
		for (size_t i = 0; i < size; i++)
			p[i] = fill == 256 ? (unsigned char)t_rand(&s) : (unsigned char)fill;
		munmap(p, size);
	}
	close(fd);
}

static void expect_open(const char *what, const char *name, int e1, int e2)
{
	for (int role = 0; role < 4; role++) {
		shmring *r = (shmring *)0x1;
		int rc = shmring_open(name, role, &r);
		if (rc == 0)
			shmring_close(r);
		cr_assert(rc == e1 || rc == e2, "open(%s, role %d): %d (%s), expected %d (%s)",
			  what, role, rc, t_err(rc), e1, t_err(e1));
		if (rc != 0)
			cr_assert_eq(r, (shmring *)0x1, "open(%s) wrote *out on failure", what);
	}
}

Test(segment, objects_that_are_not_rings_are_ebadmsg, TMO)
{
	const char *name;

	/* Empty: also what a creator's object looks like before its ftruncate,
	 * so "try again" is as right as "not a ring". */
	name = newname();
	make_object(name, 0, -1);
	expect_open("zero-size object", name, -EBADMSG, -EAGAIN);

	static const size_t sizes[] = { 100, 4096, 0x2fff, 0x3000, 1 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char what[80];
		name = newname();
		make_object(name, sizes[i], 256);
		snprintf(what, sizeof(what), "%zu bytes of random junk", sizes[i]);
		expect_open(what, name, -EBADMSG, -EBADMSG);
		name = newname();
		make_object(name, sizes[i], 0xff);
		snprintf(what, sizeof(what), "%zu bytes of 0xff", sizes[i]);
		expect_open(what, name, -EBADMSG, -EBADMSG);
	}

	/* The right magic and version over junk: still not a ring. */
	name = newname();
	make_object(name, 1 << 20, 256);
	size_t len;
	unsigned char *m = t_map_named(name, &len, NULL);
	struct sr_config_line *cl = (struct sr_config_line *)m;
	cl->magic = SR_MAGIC;
	atomic_store(&cl->version, SR_LAYOUT_VERSION);
	munmap(m, len);
	expect_open("magic and version over junk", name, -EBADMSG, -EBADMSG);

	/* The right magic and version, zero geometry. */
	name = newname();
	make_object(name, 1 << 20, 0);
	m = t_map_named(name, &len, NULL);
	cl = (struct sr_config_line *)m;
	cl->magic = SR_MAGIC;
	atomic_store(&cl->version, SR_LAYOUT_VERSION);
	munmap(m, len);
	expect_open("magic and version over zeros", name, -EBADMSG, -EBADMSG);
}

/* ---- Header fields that lie ---------------------------------------------------- */

enum fld {
	F_MAGIC,
	F_VERSION,
	F_HDRSZ,
	F_MODE,
	F_FLAGS,
	F_CAP,
	F_MAXMSG,
	F_DATAOFF,
	F_TOTAL,
	F_SLOTSZ,
	F_NSLOTS,
	F_EPOFF,
	F_EPCOUNT,
	F_REALSIZE
};

struct lie {
	const char *what;
	enum fld f;
	int op; /* 0 set, 1 add, 2 multiply, 3 xor */
	int64_t v;
	int expect;     /* errno (negative) */
	int slots_only; /* only meaningful for slot rings */
	int expect2;    /* also acceptable, when nonzero (0 itself: use 1 for "open works") */
};

static const struct lie lies[] = {
	{ "magic ^ 1", F_MAGIC, 3, 1, -EBADMSG, 0, 0 },
	{ "magic = 0", F_MAGIC, 0, 0, -EBADMSG, 0, 0 },
	{ "version + 1", F_VERSION, 1, 1, -EPROTO, 0, 0 },
	{ "version = 0xffffffff", F_VERSION, 0, 0xffffffff, -EPROTO, 0, 0 },
	{ "header_size + 8", F_HDRSZ, 1, 8, -EBADMSG, 0, 0 },
	{ "header_size = 0", F_HDRSZ, 0, 0, -EBADMSG, 0, 0 },
	{ "flags ^ 0x100 (unknown bit)", F_FLAGS, 3, 0x100, -EBADMSG, 0, -EPROTO },
	{ "mode = 4", F_MODE, 0, 4, -EBADMSG, 0, 0 },
	{ "mode = 0xffffffff", F_MODE, 0, 0xffffffff, -EBADMSG, 0, 0 },
	{ "capacity * 2", F_CAP, 2, 2, -EBADMSG, 0, 0 },
	{ "capacity * 1024", F_CAP, 2, 1024, -EBADMSG, 0, 0 },
	{ "capacity = 0", F_CAP, 0, 0, -EBADMSG, 0, 0 },
	{ "capacity - 8", F_CAP, 1, -8, -EBADMSG, 0, 0 },
	{ "capacity = 2^63", F_CAP, 0, INT64_MIN, -EBADMSG, 0, 0 },
	{ "max_msg = capacity + 1", F_MAXMSG, 0, -1, -EBADMSG, 0, 0 },
	{ "max_msg = 2^63", F_MAXMSG, 0, INT64_MIN, -EBADMSG, 0, 0 },
	/* records: a largest record longer than the spill after the area */
	{ "max_msg + 7000", F_MAXMSG, 1, 7000, -EBADMSG, 0, 0 },
	{ "data_off + 4096", F_DATAOFF, 1, 4096, -EBADMSG, 0, 0 },
	{ "data_off + 8", F_DATAOFF, 1, 8, -EBADMSG, 0, 0 },
	{ "data_off = 0", F_DATAOFF, 0, 0, -EBADMSG, 0, 0 },
	{ "data_off = 2^63", F_DATAOFF, 0, INT64_MIN, -EBADMSG, 0, 0 },
	{ "total_size + 4096", F_TOTAL, 1, 4096, -EBADMSG, 0, 0 },
	{ "total_size - 4096", F_TOTAL, 1, -4096, -EBADMSG, 0, 0 },
	{ "total_size = 2^63", F_TOTAL, 0, INT64_MIN, -EBADMSG, 0, 0 },
	{ "slot_size * 2", F_SLOTSZ, 2, 2, -EBADMSG, 1, 0 },
	{ "slot_size = 0", F_SLOTSZ, 0, 0, -EBADMSG, 1, 0 },
	{ "slot_size = 8", F_SLOTSZ, 0, 8, -EBADMSG, 1, 0 },
	{ "nslots * 2", F_NSLOTS, 2, 2, -EBADMSG, 1, 0 },
	{ "nslots = 0", F_NSLOTS, 0, 0, -EBADMSG, 1, 0 },
	{ "nslots - 1", F_NSLOTS, 1, -1, -EBADMSG, 1, 0 },
	{ "ep_off = 0x2000", F_EPOFF, 0, 0x2000, -EBADMSG, 0, 0 },
	{ "ep_off = 0xffffff00", F_EPOFF, 0, 0xffffff00, -EBADMSG, 0, 0 },
	{ "ep_count = 1000", F_EPCOUNT, 0, 1000, -EBADMSG, 0, 0 },
	{ "ep_count = 0", F_EPCOUNT, 0, 0, -EBADMSG, 0, 0 },
	{ "object shrunk by 4096", F_REALSIZE, 1, -4096, -EBADMSG, 0, 0 },
	{ "object shrunk to the header", F_REALSIZE, 0, 0x3000, -EBADMSG, 0, 0 },
	/* Harmless (nothing past total_size is used), so opening is acceptable too. */
	{ "object grown by 4096", F_REALSIZE, 1, 4096, -EBADMSG, 0, 1 },
};

static uint64_t apply(uint64_t x, const struct lie *l, uint64_t cap)
{
	switch (l->op) {
	case 0:
		return (l->f == F_MAXMSG && l->v == -1) ? cap + 1 : (uint64_t)l->v;
	case 1:
		return x + (uint64_t)l->v;
	case 2:
		return x * (uint64_t)l->v;
	default:
		return x ^ (uint64_t)l->v;
	}
}

MODE_TEST(segment, open_validates_every_header_field, .timeout = 60, .fini = t_unlink_all)
{
	T_MODE;
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		const struct lie *l = &lies[i];
		if (l->slots_only && !t_multi_cons(mode))
			continue;
		const char *name = newname();
		struct shmring_config cfg = t_cfg(mode, 65536, 1000);
		shmring *r = NULL;
		int rc = shmring_create(name, &cfg, SHMRING_OBSERVER, &r);
		cr_assert_eq(rc, 0, "%s: create: %d (%s)", M, rc, t_err(rc));
		shmring_close(r);

		size_t len;
		int fd;
		unsigned char *m = t_map_named(name, &len, &fd);
		struct sr_config_line *cl = (struct sr_config_line *)m;
		cr_assert_eq(cl->magic, SR_MAGIC, "%s: magic %#llx", M,
			     (unsigned long long)cl->magic);
		cr_assert_eq(atomic_load(&cl->version), SR_LAYOUT_VERSION);
		cr_assert_eq(cl->total_size, len, "%s: total_size %llu vs object size %zu", M,
			     (unsigned long long)cl->total_size, len);
		uint64_t cap = cl->capacity;
		switch (l->f) {
		case F_MAGIC:
			cl->magic = apply(cl->magic, l, cap);
			break;
		case F_VERSION:
			atomic_store(&cl->version, (uint32_t)apply(cl->version, l, cap));
			break;
		case F_HDRSZ:
			cl->header_size = (uint32_t)apply(cl->header_size, l, cap);
			break;
		case F_MODE:
			cl->mode = (uint32_t)apply(cl->mode, l, cap);
			break;
		case F_FLAGS:
			cl->flags = (uint32_t)apply(cl->flags, l, cap);
			break;
		case F_CAP:
			cl->capacity = apply(cl->capacity, l, cap);
			break;
		case F_MAXMSG:
			cl->max_msg = apply(cl->max_msg, l, cap);
			break;
		case F_DATAOFF:
			cl->data_off = apply(cl->data_off, l, cap);
			break;
		case F_TOTAL:
			cl->total_size = apply(cl->total_size, l, cap);
			break;
		case F_SLOTSZ:
			cl->slot_size = (uint32_t)apply(cl->slot_size, l, cap);
			break;
		case F_NSLOTS:
			cl->nslots = (uint32_t)apply(cl->nslots, l, cap);
			break;
		case F_EPOFF:
			cl->ep_off = (uint32_t)apply(cl->ep_off, l, cap);
			break;
		case F_EPCOUNT:
			cl->ep_count = (uint32_t)apply(cl->ep_count, l, cap);
			break;
		case F_REALSIZE:
			cr_assert_eq(ftruncate(fd, (off_t)apply(len, l, cap)), 0);
			break;
		}
		munmap(m, len);
		close(fd);
		char what[120];
		snprintf(what, sizeof(what), "%s ring with %s", M, l->what);
		int e2 = l->expect2 == 1 ? 0 : l->expect2 ? l->expect2 : l->expect;
		expect_open(what, name, l->expect, e2);
		shmring_unlink(name);
	}
}

/* Configs within the documented limits whose geometry the header's fields
 * cannot hold: a record's length is 32 bits, and so are a slot ring's slot
 * size and slot count. create made the object, and its own check at open
 * then called it corrupt (-EBADMSG); it is a bad config, -EINVAL, found
 * before anything is made. */
Test(segment, geometries_the_header_cannot_hold_are_einval, TMO)
{
	static const struct {
		enum shmring_mode mode;
		uint64_t cap, max_msg;
		const char *what;
	} g[] = {
		{ SHMRING_SPSC, 1ull << 33, 1ull << 32, "SPSC: a record of 2^32 bytes" },
		{ SHMRING_MPSC, 1ull << 33, 1ull << 32, "MPSC: a record of 2^32 bytes" },
		{ SHMRING_SPMC, 1ull << 33, 1ull << 32, "SPMC: a slot of over 2^32 bytes" },
		{ SHMRING_MPMC, 1ull << 33, 1ull << 32, "MPMC: a slot of over 2^32 bytes" },
		{ SHMRING_MPMC, 1ull << 38, 48, "MPMC: 2^32 slots of 64 bytes" },
		{ SHMRING_SPMC, 1ull << 38, 48, "SPMC: 2^32 slots of 64 bytes" },
	};
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		struct shmring_config cfg = t_cfg(g[i].mode, g[i].cap, g[i].max_msg);
		expect_bad_cfg(g[i].what, &cfg, -EINVAL);
	}
}

/* A stream's writers count on the geometry create gives it: an atomic write
 * of PIPE_BUF bytes fits one record of the largest size, which fits the area
 * four times. A header that promises less (a broken or hostile creator)
 * would make every such write wait for ever: open refuses it. */
Test(segment, a_stream_header_with_less_room_than_create_gives_is_ebadmsg, TMO)
{
	static const struct {
		const char *what;
		uint64_t cap, max_msg; /* 0: leave as it is */
	} lies[] = {
		{ "capacity 256, max_msg 64", 256, 64 },
		{ "capacity 16 KiB, max_msg 4 KiB - 8", 16384, 4096 - 8 },
		{ "max_msg 64", 0, 64 },
		{ "max_msg 4 KiB - 8", 0, 4096 - 8 },
		{ "max_msg + 8", 0, 1 },
	};
	for (int i = -1; i < (int)(sizeof(lies) / sizeof(lies[0])); i++) {
		const char *name = newname();
		struct shmring_config cfg = t_cfg(SHMRING_MPSC, 4096, 0);
		cfg.flags |= SHMRING_STREAM;
		shmring *r = NULL;
		int rc = shmring_create(name, &cfg, SHMRING_OBSERVER, &r);
		cr_assert_eq(rc, 0, "create a stream: %d (%s)", rc, t_err(rc));
		shmring_close(r);
		if (i < 0) { /* as created: it opens */
			expect_open("a stream as created", name, 0, 0);
			shmring_unlink(name);
			continue;
		}
		size_t len;
		unsigned char *m = t_map_named(name, &len, NULL);
		struct sr_config_line *cl = (struct sr_config_line *)m;
		if (lies[i].cap)
			cl->capacity = lies[i].cap;
		cl->max_msg = lies[i].max_msg == 1 ? cl->max_msg + 8 : lies[i].max_msg;
		munmap(m, len);
		char what[120];
		snprintf(what, sizeof(what), "a stream with %s", lies[i].what);
		expect_open(what, name, -EBADMSG, -EBADMSG);
		shmring_unlink(name);
	}
}

MODE_TEST(segment, open_of_a_ring_still_initialising_is_eagain, TMO)
{
	T_MODE;
	const char *name = newname();
	struct shmring_config cfg = t_cfg(mode, 65536, 0);
	shmring *r = NULL;
	int rc = shmring_create(name, &cfg, SHMRING_OBSERVER, &r);
	cr_assert_eq(rc, 0, "%s: create: %d (%s)", M, rc, t_err(rc));
	shmring_close(r);
	size_t len;
	unsigned char *m = t_map_named(name, &len, NULL);
	struct sr_config_line *cl = (struct sr_config_line *)m;
	atomic_store(&cl->version, 0);

	int64_t t0 = t_now();
	r = (shmring *)0x1;
	rc = shmring_open(name, SHMRING_CONSUMER, &r);
	int64_t dt = t_now() - t0;
	cr_assert_eq(rc, -EAGAIN, "%s: open of a version-0 ring: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(r, (shmring *)0x1);
	cr_assert_lt(dt, 2 * SEC, "%s: open waited %.3f s (a brief wait was expected)", M,
		     dt / 1e9);

	/* The creator finishes: open works. */
	atomic_store(&cl->version, SR_LAYOUT_VERSION);
	rc = shmring_open(name, SHMRING_CONSUMER, &r);
	cr_assert_eq(rc, 0, "%s: open once initialised: %d (%s)", M, rc, t_err(rc));
	shmring_close(r);

	/* A creator that finishes during open's brief wait is seen. */
	atomic_store(&cl->version, 0);
	pid_t pid = t_fork();
	if (pid == 0) {
		t_sleep_ms(2);
		atomic_store(&cl->version, SR_LAYOUT_VERSION);
		_exit(0);
	}
	rc = shmring_open(name, SHMRING_CONSUMER, &r);
	cr_assert(rc == 0 || rc == -EAGAIN, "%s: open racing the creator: %d (%s)", M, rc,
		  t_err(rc));
	if (rc == 0)
		shmring_close(r);
	t_reap_ok(pid, 5, "finisher");
	munmap(m, len);
	shmring_unlink(name);
}

/* ---- stat and mode names ----------------------------------------------------------- */

MODE_TEST(segment, stat_reports_the_ring, TMO)
{
	T_MODE;
	const size_t cap = 65536, max = 1000;
	shmring *p, *c, *o = NULL;
	t_pair(mode, cap, max, &p, &c);
	int rc = shmring_open_fd(shmring_fd(p), SHMRING_OBSERVER, &o);
	cr_assert_eq(rc, 0, "%s: open_fd(observer): %d (%s)", M, rc, t_err(rc));

	struct shmring_stat st = t_stat(o);
	cr_assert_eq(st.mode, mode, "%s: mode %d", M, (int)st.mode);
	cr_assert_eq(st.flags, 0u, "%s: flags %#x", M, st.flags);
	if (!t_multi_cons(mode))
		cr_assert_geq(st.capacity, cap, "%s: capacity %zu < requested %zu", M, st.capacity,
			      cap);
	cr_assert_geq(st.capacity, 2 * max, "%s: capacity %zu < 2 * max_msg", M, st.capacity);
	cr_assert_eq(st.max_msg, max, "%s: max_msg %zu vs %zu", M, st.max_msg, max);
	cr_assert_eq(st.used, 0, "%s: used %zu on a new ring", M, st.used);
	cr_assert_eq(st.sent, 0, "%s: sent %llu", M, (unsigned long long)st.sent);
	cr_assert_eq(st.received, 0, "%s: received %llu", M, (unsigned long long)st.received);
	cr_assert_eq(st.producers, 1, "%s: producers %u vs 1", M, st.producers);
	cr_assert_eq(st.consumers, 1, "%s: consumers %u vs 1 (observers do not count)", M,
		     st.consumers);
	cr_assert_eq(st.sleepers, 0, "%s: sleepers %u", M, st.sleepers);
	cr_assert_eq(st.dropped, 0, "%s: dropped %llu", M, (unsigned long long)st.dropped);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(st.reserved[i], 0, "%s: reserved[%d] = %llu", M, i,
			     (unsigned long long)st.reserved[i]);

	char msg[1000];
	t_fill(msg, sizeof(msg), 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(shmring_send(p, msg, 100 * (size_t)(i + 1), 0), 0);
	st = t_stat(o);
	cr_assert_eq(st.sent, 3, "%s: sent %llu vs 3", M, (unsigned long long)st.sent);
	cr_assert_geq(st.used, 600, "%s: used %zu with 600 payload bytes queued", M, st.used);
	cr_assert_leq(st.used, st.capacity, "%s: used %zu > capacity %zu", M, st.used, st.capacity);
	size_t used3 = st.used;

	char buf[1000];
	cr_assert_eq(shmring_recv(c, buf, sizeof(buf), 0), 100);
	cr_assert_eq(shmring_recv(c, buf, sizeof(buf), 0), 200);
	st = t_stat(c);
	cr_assert_eq(st.received, 2, "%s: received %llu vs 2", M, (unsigned long long)st.received);
	cr_assert_lt(st.used, used3, "%s: used %zu did not shrink from %zu", M, st.used, used3);
	cr_assert_gt(st.used, 0, "%s: used 0 with a message queued", M);

	/* Counts survive their endpoint: fold at close. */
	shmring_close(p);
	shmring_close(c);
	st = t_stat(o);
	cr_assert_eq(st.producers, 0, "%s: producers %u after close", M, st.producers);
	cr_assert_eq(st.consumers, 0, "%s: consumers %u after close", M, st.consumers);
	cr_assert_eq(st.sent, 3, "%s: sent %llu after close", M, (unsigned long long)st.sent);
	cr_assert_eq(st.received, 2, "%s: received %llu after close", M,
		     (unsigned long long)st.received);

	/* An observer can do nothing but stat. */
	cr_assert_eq(shmring_send(o, msg, 1, 0), -EPERM);
	cr_assert_eq(shmring_recv(o, buf, sizeof(buf), 0), -EPERM);
	shmring_close(o);
}

Test(segment, mode_names, TMO)
{
	static const char *want[] = { "spsc", "mpsc", "spmc", "mpmc" };
	const char *seen[4];
	for (int m = 0; m < 4; m++) {
		const char *s = shmring_mode_name((enum shmring_mode)m);
		cr_assert_not_null(s, "shmring_mode_name(%d) is NULL", m);
		cr_assert(strcasestr(s, want[m]) != NULL, "shmring_mode_name(%d) = \"%s\"", m, s);
		seen[m] = s;
		for (int k = 0; k < m; k++)
			cr_assert_str_neq(s, seen[k], "modes %d and %d share the name \"%s\"", k, m,
					  s);
	}
	/* Out of range: no crash; NULL or some string. */
	static const int bad[] = { 4, 5, 100, -1, INT32_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *s = shmring_mode_name((enum shmring_mode)bad[i]);
		if (s) {
			cr_assert_lt(strlen(s), 64);
			for (int m = 0; m < 4; m++)
				cr_assert_str_neq(s, seen[m], "mode %d named like mode %d", bad[i],
						  m);
		}
	}
}
