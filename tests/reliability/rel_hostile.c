/* SPDX-License-Identifier: MIT */
/*
 * rel_hostile.c - hostile neighbours: what another process on the host can
 * do to a ring by its name, its permissions, its pids and its size.
 *
 *   rel_hostile <squat|perm|pidreuse|creator|truncate|header>
 *
 *   squat     a squatter's object at our name (a file, an empty file, another
 *             ring, a symlink, a directory, a FIFO) makes shmring_create fail
 *             with -EEXIST, leaves the squatter's object exactly as it was
 *             (inode, mode, size, bytes, a symlink's target) and leaves no
 *             temp object of ours behind; shmring_open of a squatter that is
 *             not a ring is a negative errno, and does not touch it either.
 *   perm      the permission bits asked for are the object's whatever the
 *             umask (0, 022, 077); a process of another uid (nobody, 65534)
 *             cannot attach to a 0600 ring in any role (-EACCES), can only
 *             observe a 0644 one, and can produce on a 0666 one. Needs root.
 *   pidreuse  an endpoint whose process died, and whose pid now belongs to a
 *             live process (forced through /proc/sys/kernel/ns_last_pid), is
 *             still dead: shmring_stat counts no producer (no consumer), the
 *             other side gets -EPIPE, and a new endpoint takes its place.
 *             Needs root and ns_last_pid.
 *   creator   a creator killed in shmring_create - at each crash point of the
 *             attach inside it, and at random moments - never leaves a half
 *             ring under the name: the name is absent or a complete ring. The
 *             temp object (.shmring-new-PID-N) it was building may remain:
 *             the test reports what remains and removes it.
 *   truncate  a named ring truncated by a peer: its users die with SIGBUS at
 *             their next access past the new size (the documented risk of a
 *             named ring), an open of the truncated object is -EBADMSG; a
 *             ring grown by a peer keeps working for those attached and is
 *             refused to new opens; memfd rings (anonymous, pipes) are sealed:
 *             ftruncate fails with EPERM, through any descriptor.
 *   header    header values that overflow the geometry checks (found by the
 *             scribbler) are refused by shmring_open.
 *
 * Exit status 0 on success, 77 when skipped (ctest SKIP_RETURN_CODE), 1 on
 * failure.
 */
#include "rel.h"
#include "internal.h" /* shmring__crash_arm, SR_TEMP_PREFIX */

#include <grp.h>
#include <sys/stat.h>

#define SKIP 77

static int failures;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);               \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, "\n");                                             \
			failures++;                                                        \
		}                                                                          \
	} while (0)

static char shm_path_buf[256];
static const char *shm_path(const char *name)
{
	snprintf(shm_path_buf, sizeof(shm_path_buf), "/dev/shm/%.200s", name);
	return shm_path_buf;
}

static int temps_of(pid_t pid, bool remove)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "%s%d-", SR_TEMP_PREFIX, (int)pid);
	int n = 0;
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		n++;
		if (remove) {
			char p[300];
			snprintf(p, sizeof(p), "/dev/shm/%.250s", e->d_name);
			unlink(p);
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* ---- squat ------------------------------------------------------------------------ */

struct snap {
	int exists;
	struct stat st;
	uint64_t sum;
	char link[256];
};

static struct snap snapshot(const char *path)
{
	struct snap s;
	memset(&s, 0, sizeof(s));
	if (lstat(path, &s.st) < 0)
		return s;
	s.exists = 1;
	if (S_ISLNK(s.st.st_mode)) {
		ssize_t n = readlink(path, s.link, sizeof(s.link) - 1);
		if (n > 0)
			s.link[n] = '\0';
	} else if (S_ISREG(s.st.st_mode)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		uint8_t b[4096];
		ssize_t n;
		s.sum = UINT64_C(1469598103934665603);
		while (fd >= 0 && (n = read(fd, b, sizeof(b))) > 0)
			for (ssize_t i = 0; i < n; i++)
				s.sum = (s.sum ^ b[i]) * UINT64_C(1099511628211);
		if (fd >= 0)
			close(fd);
	}
	return s;
}

static bool same(const struct snap *a, const struct snap *b)
{
	return a->exists == b->exists && a->st.st_ino == b->st.st_ino &&
	       a->st.st_mode == b->st.st_mode && a->st.st_size == b->st.st_size &&
	       a->st.st_uid == b->st.st_uid && a->st.st_mtim.tv_sec == b->st.st_mtim.tv_sec &&
	       a->st.st_mtim.tv_nsec == b->st.st_mtim.tv_nsec && a->sum == b->sum &&
	       !strcmp(a->link, b->link);
}

static int test_squat(void)
{
	static const char *const kinds[] = {"a file of 1000 bytes", "an empty 0600 file",
					    "another ring", "a symlink", "a directory", "a FIFO"};
	int tried = 0;
	for (int k = 0; k < 6; k++) {
		const char *name = rel_newname("squat");
		char path[256], target[300];
		snprintf(path, sizeof(path), "%s", shm_path(name));
		snprintf(target, sizeof(target), "%.256s-target", path);
		int rc = 0;
		shmring *other = NULL;
		switch (k) {
		case 0: {
			int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			uint8_t b[1000];
			for (int i = 0; i < 1000; i++)
				b[i] = (uint8_t)(i * 7);
			rc = fd < 0 || write(fd, b, sizeof(b)) != (ssize_t)sizeof(b) ? -1 : 0;
			if (fd >= 0)
				close(fd);
			break;
		}
		case 1:
			rc = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (rc >= 0)
				close(rc), rc = 0;
			break;
		case 2: {
			struct shmring_config c = {.mode = SHMRING_MPMC, .capacity = 8192};
			rc = shmring_create(name, &c, SHMRING_PRODUCER, &other);
			if (rc == 0)
				rc = shmring_send(other, "squatter", 8, 0);
			break;
		}
		case 3: {
			int fd = open(target, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			rc = fd < 0 || write(fd, "target", 6) != 6 ? -1 : 0;
			if (fd >= 0)
				close(fd);
			if (rc == 0)
				rc = symlink(target, path);
			break;
		}
		case 4:
			rc = mkdir(path, 0700);
			break;
		case 5:
			rc = mkfifo(path, 0600);
			break;
		}
		if (rc != 0) {
			fprintf(stderr, "squat: could not make %s at %s: %s\n", kinds[k], path,
				strerror(errno));
			failures++;
			continue;
		}
		struct snap before = snapshot(path), tbefore = snapshot(target);
		struct shmring_config cfg = {.mode = SHMRING_SPSC, .capacity = 4096};
		shmring *r = NULL;
		rc = shmring_create(name, &cfg, SHMRING_PRODUCER | SHMRING_CONSUMER, &r);
		CHECK(rc == -EEXIST, "create over %s: %d (%s), want -EEXIST", kinds[k], rc, rel_err(rc));
		if (rc == 0)
			shmring_close(r);
		/* An open of a squatter that is not a ring: refused, untouched. */
		if (k != 2) {
			rc = shmring_open(name, SHMRING_CONSUMER, &r);
			CHECK(rc < 0, "open of %s: %d, want a negative errno", kinds[k], rc);
			if (rc == 0)
				shmring_close(r);
			else
				printf("squat: open of %s: %s\n", kinds[k], strerrorname_np(-rc));
		}
		struct snap after = snapshot(path), tafter = snapshot(target);
		CHECK(same(&before, &after), "%s at our name was changed by create/open", kinds[k]);
		CHECK(same(&tbefore, &tafter), "the target of %s was changed", kinds[k]);
		CHECK(temps_of(getpid(), true) == 0, "a temp object was left after a refused create");
		if (k == 2) { /* the other ring still works */
			shmring *c2 = NULL;
			char b[16];
			rc = shmring_open(name, SHMRING_CONSUMER, &c2);
			ssize_t n = rc == 0 ? shmring_recv(c2, b, sizeof(b), 0) : rc;
			CHECK(n == 8 && !memcmp(b, "squatter", 8),
			      "the squatting ring lost its message: %zd", n);
			if (c2)
				shmring_close(c2);
			shmring_close(other);
		}
		if (k == 4)
			rmdir(path);
		else
			unlink(path);
		unlink(target);
		rel_unlink(name);
		tried++;
	}
	rel_figure("hostile squat: %d kinds of squatter at our name (a file, an empty file, another "
		   "ring, a symlink, a directory, a FIFO): create -EEXIST, open refused, squatter "
		   "untouched, no temp left%s",
		   tried, failures ? " [FAILED]" : "");
	return failures ? 1 : 0;
}

/* ---- perm ------------------------------------------------------------------------- */

/* In a child of uid/gid nobody: open `name` with `role`; exit status = -rc. */
static int open_as_nobody(const char *name, int role)
{
	pid_t pid = rel_fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(200);
		shmring *r = NULL;
		int rc = shmring_open(name, role, &r);
		if (rc == 0)
			shmring_close(r);
		_exit(-rc);
	}
	int st;
	rel_reap(pid, 10000, &st);
	if (!WIFEXITED(st))
		return 1000;
	return -WEXITSTATUS(st);
}

static int test_perm(void)
{
	static const mode_t umasks[] = {0, 022, 077};
	static const struct {
		mode_t ask, want;
	} perms[] = {{0, 0600}, {0600, 0600}, {0640, 0640}, {0644, 0644}, {0666, 0666}, {0660, 0660}};
	int n = 0;
	for (size_t u = 0; u < 3; u++) {
		mode_t old = umask(umasks[u]);
		for (size_t p = 0; p < sizeof(perms) / sizeof(perms[0]); p++) {
			const char *name = rel_newname("perm");
			struct shmring_config c = {.mode = SHMRING_SPSC, .capacity = 4096, .perm = perms[p].ask};
			shmring *r = NULL;
			int rc = shmring_create(name, &c, SHMRING_PRODUCER, &r);
			CHECK(rc == 0, "create: %d", rc);
			struct stat st;
			if (rc == 0 && fstat(shmring_fd(r), &st) == 0)
				CHECK((st.st_mode & 07777) == perms[p].want,
				      "umask %03o, perm %03o: the object is %03o, want %03o", umasks[u],
				      perms[p].ask, st.st_mode & 07777, perms[p].want);
			if (r)
				shmring_close(r);
			rel_unlink(name);
			n++;
		}
		umask(old);
	}
	printf("perm: %d (umask, perm) pairs hold their bits\n", n);
	if (geteuid() != 0) {
		printf("SKIP perm: the other-uid part needs root (a process of uid nobody must be "
		       "started)\n");
		rel_figure("hostile perm: %d (umask, perm) pairs keep the bits asked for; other uid: "
			   "skipped (not root)", n);
		return failures ? 1 : 0;
	}
	static const struct {
		mode_t perm;
		int want[3]; /* observer, producer, consumer */
	} cases[] = {{0600, {-EACCES, -EACCES, -EACCES}},
		     {0644, {0, -EACCES, -EACCES}},
		     {0666, {0, 0, 0}}};
	static const int roles[3] = {SHMRING_OBSERVER, SHMRING_PRODUCER, SHMRING_CONSUMER};
	static const char *const rn[3] = {"observer", "producer", "consumer"};
	int checks = 0;
	for (size_t i = 0; i < 3; i++) {
		const char *name = rel_newname("perm");
		struct shmring_config c = {.mode = SHMRING_MPMC, .capacity = 4096, .perm = cases[i].perm};
		shmring *r = NULL;
		int rc = shmring_create(name, &c, SHMRING_OBSERVER, &r);
		CHECK(rc == 0, "create: %d", rc);
		for (int k = 0; k < 3; k++) {
			int got = open_as_nobody(name, roles[k]);
			CHECK(got == cases[i].want[k], "uid nobody opens a %03o ring as %s: %d (%s), want %d",
			      cases[i].perm, rn[k], got, got < 0 ? strerrorname_np(-got) : "?",
			      cases[i].want[k]);
			checks++;
		}
		/* What nobody could not do left no trace: no endpoint. */
		struct shmring_stat st;
		shmring_stat(r, &st);
		CHECK(st.producers == 0 && st.consumers == 0, "endpoints left: %u/%u", st.producers,
		      st.consumers);
		shmring_close(r);
		rel_unlink(name);
	}
	rel_figure("hostile perm: %d (umask, perm) pairs keep the bits asked for; uid nobody: %d "
		   "opens checked (0600 refused in every role, 0644 observe only)%s",
		   n, checks, failures ? " [FAILED]" : "");
	return failures ? 1 : 0;
}

/* ---- pidreuse ---------------------------------------------------------------------- */

static int write_last_pid(pid_t p)
{
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char b[32];
	int n = snprintf(b, sizeof(b), "%d", (int)p);
	int rc = write(fd, b, (size_t)n) == n ? 0 : -errno;
	close(fd);
	return rc;
}

/* Fork a child that just waits, until one gets pid `want`. */
static pid_t fork_with_pid(pid_t want, int *tries)
{
	for (*tries = 1; *tries <= 500; (*tries)++) {
		if (write_last_pid(want - 1) < 0)
			return -1;
		pid_t p = rel_fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p == want)
			return p;
		kill(p, SIGKILL);
		int st;
		rel_reap(p, 5000, &st);
	}
	return -1;
}

static int pidreuse_one(enum shmring_mode mode, int dead_role)
{
	const char *mname = shmring_mode_name(mode);
	const char *dn = dead_role == SHMRING_PRODUCER ? "producer" : "consumer";
	const char *name = rel_newname("pidreuse");
	struct shmring_config c = {.mode = mode, .capacity = 4096, .max_msg = 64};
	int live_role = dead_role == SHMRING_PRODUCER ? SHMRING_CONSUMER : SHMRING_PRODUCER;
	shmring *live = NULL;
	int rc = shmring_create(name, &c, live_role, &live);
	if (rc < 0) {
		CHECK(0, "create: %d", rc);
		return 0;
	}
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return 0;
	pid_t a = rel_fork();
	if (a == 0) {
		shmring *r = NULL;
		if (shmring_open(name, dead_role, &r) < 0)
			_exit(1);
		if (dead_role == SHMRING_PRODUCER)
			shmring_send(r, "before", 6, 0);
		ssize_t w = write(ready[1], "r", 1);
		(void)w;
		pause();
		_exit(0);
	}
	char ch;
	CHECK(read(ready[0], &ch, 1) == 1, "the endpoint did not attach");
	close(ready[0]);
	close(ready[1]);
	kill(a, SIGKILL);
	int st;
	rel_reap(a, 5000, &st);
	int tries = 0;
	pid_t b = fork_with_pid(a, &tries);
	if (b < 0) {
		printf("SKIP pidreuse %s %s: could not get pid %d again (ns_last_pid)\n", mname, dn,
		       (int)a);
		shmring_close(live);
		rel_unlink(name);
		return 0;
	}
	/* The dead endpoint's entry names pid a, which is alive again. */
	int fd = shm_open(shm_path(name) + 8, O_RDONLY, 0);
	struct sr_header hh;
	bool named = false;
	if (fd >= 0 && pread(fd, &hh, sizeof(hh), 0) == (ssize_t)sizeof(hh)) {
		unsigned base = dead_role == SHMRING_PRODUCER ? 0 : SR_EP_CONS_BASE;
		for (unsigned i = base; i < base + SR_EP_PER_SIDE; i++)
			named |= SR_EP_STATE(hh.ep[i].sg) == SR_EP_LIVE && hh.ep[i].pid == (uint32_t)a;
	}
	if (fd >= 0)
		close(fd);
	CHECK(named, "%s: no live entry names pid %d: the test proves nothing", mname, (int)a);
	CHECK(kill(b, 0) == 0, "pid %d is not alive", (int)b);
	struct shmring_stat s;
	shmring_stat(live, &s);
	unsigned dead_count = dead_role == SHMRING_PRODUCER ? s.producers : s.consumers;
	CHECK(dead_count == 0, "%s: the dead %s whose pid %d is reused counts as alive (%u)", mname,
	      dn, (int)a, dead_count);
	if (dead_role == SHMRING_PRODUCER) {
		char buf[64];
		ssize_t n = shmring_recv(live, buf, sizeof(buf), REL_SEC);
		CHECK(n == 6, "%s: the message sent before the death: %zd", mname, n);
		n = shmring_recv(live, buf, sizeof(buf), 2 * REL_SEC);
		CHECK(n == -EPIPE, "%s: recv after the producer's death (pid reused): %zd (%s), want "
				   "-EPIPE",
		      mname, n, rel_err(n));
	} else {
		/* a producer finds out once the ring is full, at the latest */
		int sent = 0;
		for (; sent < 1000; sent++)
			if ((rc = shmring_send(live, "x", 1, 2 * REL_SEC)) < 0)
				break;
		CHECK(rc == -EPIPE, "%s: send after the consumer's death (pid reused): %d (%s) after "
				    "%d messages, want -EPIPE",
		      mname, rc, rel_err(rc), sent);
	}
	/* A new endpoint of the dead one's role attaches (single sides too). */
	shmring *n2 = NULL;
	rc = shmring_open(name, dead_role, &n2);
	CHECK(rc == 0, "%s: a new %s cannot attach: %d (%s)", mname, dn, rc, rel_err(rc));
	if (n2)
		shmring_close(n2);
	kill(b, SIGKILL);
	rel_reap(b, 5000, &st);
	shmring_close(live);
	rel_unlink(name);
	printf("pidreuse %s %s: pid %d reused after %d fork(s): still dead\n", mname, dn, (int)a,
	       tries);
	return 1;
}

static int test_pidreuse(void)
{
	if (geteuid() != 0) {
		printf("SKIP pidreuse: needs root (to write /proc/sys/kernel/ns_last_pid)\n");
		return SKIP;
	}
	/* Probe by writing back the value it holds: the pid counter moves on. */
	pid_t cur = -1;
	FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "re");
	if (f) {
		if (fscanf(f, "%d", &cur) != 1)
			cur = -1;
		fclose(f);
	}
	if (cur <= 0 || write_last_pid(cur) < 0) {
		printf("SKIP pidreuse: /proc/sys/kernel/ns_last_pid is absent or not writable\n");
		return SKIP;
	}
	int done = 0;
	static const enum shmring_mode modes[] = {SHMRING_SPSC, SHMRING_MPSC, SHMRING_SPMC,
						  SHMRING_MPMC};
	for (int m = 0; m < 4; m++) {
		done += pidreuse_one(modes[m], SHMRING_PRODUCER);
		done += pidreuse_one(modes[m], SHMRING_CONSUMER);
	}
	if (!done && !failures) {
		printf("SKIP pidreuse: no pid could be reused\n");
		return SKIP;
	}
	rel_figure("hostile pidreuse: %d dead endpoints whose pid was given to a live process "
		   "(all modes, both roles) still dead: stat 0, -EPIPE, replaced%s",
		   done, failures ? " [FAILED]" : "");
	return failures ? 1 : 0;
}

/* ---- creator ------------------------------------------------------------------------ */

/* Is name absent or a complete ring? 1 ring, 0 absent, -1 neither. */
static int name_state(const char *name, int *why)
{
	shmring *r = NULL;
	int rc = shmring_open(name, SHMRING_OBSERVER, &r);
	*why = rc;
	if (rc == 0) {
		shmring_close(r);
		return 1;
	}
	return rc == -ENOENT ? 0 : -1;
}

static int test_creator(void)
{
	static const char *const points[] = {"ATTACH_LOCKED", "ATTACH_REAPED", "ATTACH_LIVE"};
	int kills = 0, temps_left = 0;
	/* 1. Killed at each crash point of the attach inside create. */
	for (int i = 0; i < 3; i++) {
		unsigned id = SR_CP_COUNT;
		for (unsigned p = 0; p < SR_CP_COUNT; p++)
			if (!strcmp(shmring__crash_name(p), points[i]))
				id = p;
		const char *name = rel_newname("creator");
		pid_t pid = rel_fork();
		if (pid == 0) {
			shmring__crash_arm(id, 1);
			struct shmring_config c = {.mode = SHMRING_MPSC, .capacity = 65536};
			shmring *r = NULL;
			int rc = shmring_create(name, &c, SHMRING_PRODUCER, &r);
			_exit(rc == 0 ? 3 : 4);
		}
		int st;
		rel_reap(pid, 10000, &st);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "creator at %s: %s", points[i],
		      rel_status(st));
		int why, s = name_state(name, &why);
		CHECK(s == 0, "creator killed at %s: the name is %s (%d)", points[i],
		      s == 1 ? "a ring" : "neither absent nor a ring", why);
		int t = temps_of(pid, false);
		char tn[128];
		snprintf(tn, sizeof(tn), "%s%d-", SR_TEMP_PREFIX, (int)pid);
		printf("creator killed at %s: name absent; %d temp object(s) %s* remain (removed)\n",
		       points[i], t, tn);
		temps_left += t;
		temps_of(pid, true);
		/* The name is free for the next creator. */
		shmring *r = NULL;
		struct shmring_config c = {.mode = SHMRING_MPSC, .capacity = 4096};
		int rc = shmring_create(name, &c, SHMRING_PRODUCER, &r);
		CHECK(rc == 0, "create after a killed creator: %d (%s)", rc, rel_err(rc));
		if (r)
			shmring_close(r);
		rel_unlink(name);
		kills++;
	}
	/* 2. Killed at random moments of create. */
	int rounds = (int)rel_scaled(200, 2000), absent = 0, rings = 0, bad = 0;
	uint64_t rs = rel_seed(5);
	for (int i = 0; i < rounds; i++) {
		const char *name = rel_newname("creator");
		int go[2];
		if (pipe2(go, O_CLOEXEC) < 0)
			break;
		static const enum shmring_mode modes[] = {SHMRING_SPSC, SHMRING_MPSC, SHMRING_SPMC,
							  SHMRING_MPMC};
		enum shmring_mode m = modes[rel_rand(&rs) % 4];
		size_t cap = (size_t)65536 << (rel_rand(&rs) % 6); /* up to 2 MiB: init takes a while */
		int role = (int)(rel_rand(&rs) % 4);
		pid_t pid = rel_fork();
		if (pid == 0) {
			struct shmring_config c = {.mode = m, .capacity = cap, .max_msg = 48};
			shmring *r = NULL;
			ssize_t w = write(go[1], "c", 1);
			(void)w;
			int rc = shmring_create(name, &c, role, &r);
			_exit(rc == 0 ? 0 : 4);
		}
		char ch;
		ssize_t rd = read(go[0], &ch, 1);
		(void)rd;
		close(go[0]);
		close(go[1]);
		rel_spin_ns((int64_t)(rel_rand(&rs) % 1500000));
		kill(pid, SIGKILL);
		int st;
		rel_reap(pid, 10000, &st);
		int why, s = name_state(name, &why);
		if (s < 0) {
			bad++;
			CHECK(0, "a creator killed mid-create left a name that is not a ring: %d (%s)", why,
			      rel_err(why));
		}
		absent += s == 0;
		rings += s == 1;
		temps_left += temps_of(pid, true);
		rel_unlink(name);
		kills++;
	}
	printf("creator: %d killed at random: %d left no name, %d a complete ring, %d a half ring; "
	       "%d temp objects left in all (removed)\n",
	       rounds, absent, rings, bad, temps_left);
	rel_figure("hostile creator: %d creators killed in shmring_create (3 crash points, %d at "
		   "random): %d left no name, %d a complete ring, %d a half ring; %d temp objects "
		   "(.shmring-new-PID-N) remained%s",
		   kills, rounds, absent + 3, rings, bad, temps_left, failures ? " [FAILED]" : "");
	return failures ? 1 : 0;
}

/* ---- truncate ---------------------------------------------------------------------- */

/* A consumer that keeps receiving (timeout 0) until killed. */
static void spinning_consumer(const char *name, atomic_ullong *calls, int ready)
{
	/* The default action, also under AddressSanitizer (whose handler
	 * would report the fault and exit 1 instead). */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &sa, NULL);
	shmring *r = NULL;
	if (shmring_open(name, SHMRING_CONSUMER, &r) < 0)
		_exit(2);
	ssize_t w = write(ready, "r", 1);
	(void)w;
	char b[256];
	for (;;) {
		ssize_t n = shmring_recv(r, b, sizeof(b), 0);
		if (n < 0 && n != -EAGAIN && n != -EPIPE)
			_exit(3);
		struct shmring_stat st;
		shmring_stat(r, &st);
		atomic_fetch_add(calls, 1);
	}
}

static int truncate_one(enum shmring_mode m, off_t to, const char *what, bool grow)
{
	const char *name = rel_newname("truncate");
	struct shmring_config c = {.mode = m, .capacity = 65536, .max_msg = 200};
	shmring *p = NULL;
	int rc = shmring_create(name, &c, SHMRING_PRODUCER, &p);
	if (rc < 0) {
		CHECK(0, "create: %d", rc);
		return 0;
	}
	for (int i = 0; i < 20; i++)
		shmring_send(p, "0123456789", 10, 0);
	atomic_ullong *calls = rel_shared(sizeof(*calls));
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return 0;
	pid_t pid = rel_fork();
	if (pid == 0)
		spinning_consumer(name, calls, ready[1]);
	char ch;
	CHECK(read(ready[0], &ch, 1) == 1, "consumer did not attach");
	close(ready[0]);
	close(ready[1]);
	struct stat st0;
	fstat(shmring_fd(p), &st0);
	/* The parent's own handle would fault too: it leaves first. */
	shmring_close(p);
	rel_sleep_ms(20);
	uint64_t before = atomic_load(calls);
	off_t size = grow ? st0.st_size + 65536 : to;
	CHECK(truncate(shm_path(name), size) == 0, "truncate: %s", strerror(errno));
	int st;
	bool ended = rel_reap(pid, grow ? 300 : 5000, &st);
	uint64_t after = atomic_load(calls);
	shmring *o = NULL;
	int orc = shmring_open(name, SHMRING_OBSERVER, &o);
	if (orc == 0)
		shmring_close(o);
	if (grow) {
		/* still running (reaped by the kill of rel_reap past 300 ms) */
		CHECK(!ended && after > before, "%s: grown by %s: the consumer %s (%s)",
		      shmring_mode_name(m), what, ended ? "ended" : "stopped", rel_status(st));
		CHECK(orc == -EBADMSG, "%s: open of a grown ring: %d (%s), want -EBADMSG",
		      shmring_mode_name(m), orc, rel_err(orc));
		printf("truncate %s: grown by 64 KiB: the attached consumer goes on (%" PRIu64
		       " calls after), open is %s\n",
		       shmring_mode_name(m), after - before, strerrorname_np(-orc));
	} else {
		CHECK(ended && WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS,
		      "%s: truncated to %s: the consumer %s, want death by SIGBUS", shmring_mode_name(m),
		      what, ended ? rel_status(st) : "kept running for 5 s");
		CHECK(orc == -EBADMSG, "%s: open of a truncated ring: %d (%s), want -EBADMSG",
		      shmring_mode_name(m), orc, rel_err(orc));
		printf("truncate %s: to %s (%lld bytes): the consumer: %s; open: %s\n",
		       shmring_mode_name(m), what, (long long)size, rel_status(st),
		       orc < 0 ? strerrorname_np(-orc) : "0");
	}
	munmap(calls, sizeof(*calls));
	rel_unlink(name);
	return 1;
}

static int test_truncate(void)
{
	int n = 0;
	static const enum shmring_mode modes[] = {SHMRING_SPSC, SHMRING_MPMC};
	for (int i = 0; i < 2; i++) {
		n += truncate_one(modes[i], 0, "0 bytes", false);
		n += truncate_one(modes[i], 4096, "its first page", false);
		n += truncate_one(modes[i], 12288, "its header (no data area)", false);
		n += truncate_one(modes[i], 0, "+64 KiB", true);
	}
	/* memfd rings are sealed, through any descriptor. */
	int sealed = 0;
	for (int k = 0; k < 3; k++) {
		shmring *r = NULL, *ends[2] = {NULL, NULL};
		int rc;
		if (k < 2) {
			struct shmring_config c = {.mode = k ? SHMRING_MPMC : SHMRING_SPSC, .capacity = 4096};
			rc = shmring_create_anon(&c, SHMRING_PRODUCER, &r);
		} else {
			rc = shmring_pipe(ends, NULL);
			r = ends[0];
		}
		CHECK(rc == 0, "anon create: %d", rc);
		if (rc)
			continue;
		int fd = shmring_fd(r);
		struct stat st;
		fstat(fd, &st);
		int seals = fcntl(fd, F_GET_SEALS);
		CHECK(seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
					    (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		      "seals %#x", seals);
		errno = 0;
		CHECK(ftruncate(fd, st.st_size / 2) < 0 && errno == EPERM, "shrink: %s",
		      strerror(errno));
		errno = 0;
		CHECK(ftruncate(fd, st.st_size * 2) < 0 && errno == EPERM, "grow: %s", strerror(errno));
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		int fd2 = open(path, O_RDWR | O_CLOEXEC);
		errno = 0;
		CHECK(fd2 >= 0 && ftruncate(fd2, 0) < 0 && errno == EPERM,
		      "shrink through a reopened descriptor: %s", strerror(errno));
		errno = 0;
		CHECK(fd2 >= 0 && fcntl(fd2, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EPERM,
		      "a new seal could be added: %s", strerror(errno));
		if (fd2 >= 0)
			close(fd2);
		if (k < 2)
			shmring_close(r);
		else {
			shmring_close(ends[0]);
			shmring_close(ends[1]);
		}
		sealed++;
	}
	rel_figure("hostile truncate: %d named rings truncated or grown under a running consumer "
		   "(truncated: SIGBUS, open -EBADMSG; grown: runs on, open -EBADMSG); %d memfd "
		   "rings sealed (ftruncate EPERM)%s",
		   n, sealed, failures ? " [FAILED]" : "");
	return failures ? 1 : 0;
}

/* ---- header --------------------------------------------------------------------------- */

static int test_header(void)
{
	static const struct {
		enum shmring_mode mode;
		uint32_t off, width;
		uint64_t val;
		const char *what;
	} cases[] = {
		{SHMRING_MPMC, 0x20, 8, UINT64_MAX, "slot ring, max_msg = 2^64-1"},
		{SHMRING_MPMC, 0x20, 8, UINT64_MAX - 15, "slot ring, max_msg = 2^64-16"},
		{SHMRING_SPMC, 0x20, 8, UINT64_MAX - 7, "slot ring, max_msg = 2^64-8"},
		{SHMRING_MPMC, 0x20, 8, UINT64_C(1) << 40, "slot ring, max_msg = 2^40"},
		{SHMRING_MPSC, 0x20, 8, UINT64_MAX, "record ring, max_msg = 2^64-1"},
		{SHMRING_SPSC, 0x20, 8, UINT64_MAX - 7, "record ring, max_msg = 2^64-8"},
		{SHMRING_MPSC, 0x18, 8, UINT64_C(1) << 63, "record ring, capacity = 2^63"},
		{SHMRING_MPMC, 0x38, 4, UINT32_MAX, "slot ring, slot_size = 2^32-1"},
		{SHMRING_MPMC, 0x3c, 4, UINT32_C(1) << 31, "slot ring, nslots = 2^31"},
		{SHMRING_SPSC, 0x28, 8, UINT64_MAX - 4095, "data_off = 2^64-4096"},
	};
	int n = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *name = rel_newname("header");
		struct shmring_config c = {.mode = cases[i].mode, .capacity = 4096, .max_msg = 200};
		shmring *o = NULL;
		int rc = shmring_create(name, &c, SHMRING_OBSERVER, &o);
		CHECK(rc == 0, "create: %d", rc);
		if (rc)
			continue;
		shmring_close(o);
		int fd = shm_open(shm_path(name) + 8, O_RDWR, 0);
		struct stat st;
		fstat(fd, &st);
		uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (cases[i].width == 8)
			memcpy(p + cases[i].off, &cases[i].val, 8);
		else {
			uint32_t v = (uint32_t)cases[i].val;
			memcpy(p + cases[i].off, &v, 4);
		}
		munmap(p, (size_t)st.st_size);
		for (int role = SHMRING_OBSERVER; role <= SHMRING_CONSUMER; role++) {
			shmring *r = NULL;
			rc = shmring_open(name, role, &r);
			CHECK(rc == -EBADMSG, "%s: open (role %d): %d (%s), want -EBADMSG", cases[i].what,
			      role, rc, rel_err(rc));
			if (rc == 0) {
				struct shmring_stat s;
				shmring_stat(r, &s);
				fprintf(stderr, "  ... and the handle believes max_msg = %zu, capacity = %zu\n",
					s.max_msg, s.capacity);
				shmring_close(r);
			}
			n++;
		}
		rel_unlink(name);
	}
	rel_figure("hostile header: %d opens of headers whose values overflow the geometry checks: "
		   "%s%s",
		   n, failures ? "some accepted" : "all -EBADMSG", failures ? " [FAILED]" : "");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} tests[] = {{"squat", test_squat},       {"perm", test_perm},
		     {"pidreuse", test_pidreuse}, {"creator", test_creator},
		     {"truncate", test_truncate}, {"header", test_header}};
	if (argc != 2) {
		fprintf(stderr, "usage: rel_hostile <squat|perm|pidreuse|creator|truncate|header>\n");
		return 2;
	}
	unsetenv("SHMRING_CRASH_AT");
	rel_init(600);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!strcmp(argv[1], tests[i].name)) {
			int rc = tests[i].fn();
			if (rc == 0)
				printf("PASS hostile %s\n", argv[1]);
			return rc;
		}
	fprintf(stderr, "rel_hostile: unknown test '%s'\n", argv[1]);
	return 2;
}
