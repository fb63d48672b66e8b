#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "isoformer/backend.h"
#include "isoformer/error.h"
#include "isoformer/io.h"
#include "isoformer/manifest.h"

static volatile sig_atomic_t interrupted;

/* cli_lock_out's lock: fixed storage, so that the signal handler can remove the file. */
static char lock_path[4096];
static int lock_fd = -1;
static volatile sig_atomic_t lock_held;

double cli_peak_rss_mb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    struct rusage ru;
    if (kb < 0 && getrusage(RUSAGE_SELF, &ru) == 0)
        kb = ru.ru_maxrss;
    return kb < 0 ? -1.0 : kb / 1024.0;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cli_fail(const char *cmd)
{
    fprintf(stderr, "isoformer %s: %s\n", cmd, iso_last_error());
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "isoformer %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'isoformer %s --help'.\n", cmd);
    va_end(ap);
    return 2;
}

int cli_parse_integer(const char *cmd, const char *opt, const char *s, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || end == s || errno == ERANGE || x < lo || x > hi)
        return cli_usage_error(cmd, "%s: expected an integer from %lld to %lld, got '%s'", opt, lo, hi, s);
    *v = x;
    return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *v)
{
    long long x = 0;
    int rc = cli_parse_integer(cmd, opt, s, lo, hi, &x);
    if (!rc)
        *v = (int)x;
    return rc;
}

int cli_parse_choice(const char *cmd, const char *opt, const char *s, const char *const *words, int n, int *v)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, words[i])) {
            *v = i;
            return 0;
        }
    char choices[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s", i ? (i + 1 < n ? ", " : " or ") : "",
                 words[i]);
    return cli_usage_error(cmd, "%s: expected %s, got '%s'", opt, choices, s);
}

int cli_hint(const char *fmt, ...)
{
    char old[2048], hint[512];
    snprintf(old, sizeof old, "%s", iso_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hint, sizeof hint, fmt, ap);
    va_end(ap);
    return iso_error(iso_last_status(), "%s; %s", old, hint);
}

void cli_progress_start(cli_progress *p, const char *what, size_t total)
{
    const char *env = getenv("ISOFORMER_PROGRESS");
    p->what = what;
    p->total = total;
    p->done = 0;
    p->t0 = p->last = cli_now();
    p->enabled = env ? env[0] == '1' : isatty(STDERR_FILENO);
}

static void progress_print(cli_progress *p, double now, const char *end)
{
    double dt = now - p->t0;
    double rate = dt > 0 ? p->done / dt : 0.0;
    double eta = rate > 0 && p->total > p->done ? (p->total - p->done) / rate : 0.0;
    fprintf(stderr, "\r%s: %zu/%zu (%.1f/s, ETA %.0fs)%s", p->what, p->done, p->total, rate, eta, end);
}

void cli_progress_step(cli_progress *p, size_t n)
{
    p->done += n;
    if (!p->enabled)
        return;
    double now = cli_now();
    if (now - p->last >= 1.0) {
        p->last = now;
        progress_print(p, now, "");
    }
}

void cli_progress_end(cli_progress *p)
{
    if (p->enabled)
        progress_print(p, cli_now(), "\n");
}

/* Says what stopped the run (async-signal-safe: write(2) only), then takes the signal's default action (exit
 * 130 or 143). */
static void die_of(int sig, const char *what)
{
    const char *name = sig == SIGINT ? "isoformer: interrupted (SIGINT)" : "isoformer: terminated (SIGTERM)";
    (void)!write(STDERR_FILENO, name, strlen(name));
    (void)!write(STDERR_FILENO, what, strlen(what));
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The temporaries removed, then die_of; while an output set is being renamed into place the signal waits for
 * it (cli_finish_interrupted). */
static void on_signal(int sig)
{
    interrupted = sig;
    if (iso_out_cleanup_all()) {
        if (lock_held)
            unlink(lock_path); /* still locked until the process dies: as cli_unlock_out does */
        die_of(sig, ": unfinished outputs removed\n");
    }
}

void cli_finish_interrupted(void)
{
    if (interrupted)
        die_of(interrupted, " after its outputs were complete\n");
}

void cli_install_signal_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void) { return interrupted; }

void cli_verbose(int on)
{
    if (on && iso_get_log_level() < ISO_LOG_INFO)
        iso_set_log_level(ISO_LOG_INFO);
}

int cli_version(void)
{
    printf("isoformer %s\n", ISOFORMER_VERSION);
    return 0;
}

/* The directories make_out_dir created, deepest last, so that a failed run can remove them again. */
static char *created_dirs[32];
static int n_created_dirs;

void cli_remove_created_dirs(void)
{
    while (n_created_dirs > 0) {
        char *d = created_dirs[--n_created_dirs];
        rmdir(d); /* only when empty: a run's temporaries are gone by now, anything else stays */
        free(d);
    }
}

static int make_out_dir(const char *cmd, const char *prefix)
{
    char dir[4096];
    const char *slash = strrchr(prefix, '/');
    if (!slash || slash == prefix || (size_t)(slash - prefix) >= sizeof dir)
        return 0;
    memcpy(dir, prefix, (size_t)(slash - prefix));
    dir[slash - prefix] = '\0';
    for (char *p = dir + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(dir, 0777) == 0) {
                if (n_created_dirs < (int)(sizeof created_dirs / sizeof created_dirs[0]))
                    created_dirs[n_created_dirs++] = strdup(dir);
            } else if (errno != EEXIST) {
                fprintf(stderr, "isoformer %s: cannot create directory %s (%s)\n", cmd, dir, strerror(errno));
                return 1;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

int cli_out_path(const char *cmd, const char *opt, const char *path)
{
    if (!strcmp(path, "-"))
        return cli_usage_error(cmd, "%s -: outputs are written to named files, not to standard output; give a path "
                               "or prefix such as results/sample", opt);
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/')
        return cli_usage_error(cmd, "%s '%s': expected a file path or prefix (not a directory), such as "
                               "results/sample", opt, path);
    int rc = make_out_dir(cmd, path);
    if (rc == 0 && cli_lock_out(opt, path) < 0) /* before anything of the run is written */
        rc = cli_fail(cmd);
    if (rc == 0)
        iso_out_clean_stale(path);
    return rc;
}

static int same_inode(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && same_inode(&sa, &sb);
}

/* "pid N on host H; " as the holder of the lock on fd wrote it ("" before it has). */
static void lock_holder(int fd, char *who, size_t size)
{
    char text[320], host[256];
    long pid;
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    who[0] = '\0';
    if (sscanf(text, "isoformer pid %ld host %255s", &pid, host) == 2)
        snprintf(who, size, "pid %ld on host %s; ", pid, host);
}

int cli_lock_out(const char *opt, const char *prefix)
{
    if (snprintf(lock_path, sizeof lock_path, "%s.lock", prefix) >= (int)sizeof lock_path)
        return iso_error(ISO_EINVAL, "%s: path too long", prefix);
    /* The holder removes the file when it is done: a run that opened it just before holds the lock of a file no
     * longer there, which it finds by comparing inodes, and opens the path again. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return iso_error(ISO_EIO, "%s: cannot create (%s)", lock_path, strerror(errno));
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET}; /* l_len 0: the whole file */
        if (fcntl(fd, F_SETLK, &fl) != 0) {
            int e = errno, busy = e == EACCES || e == EAGAIN;
            char who[400] = "";
            if (busy)
                lock_holder(fd, who, sizeof who);
            close(fd);
            if (busy)
                return iso_error(ISO_EINVAL, "%s is in use by another isoformer run (%slock %s): wait for it to end, "
                                 "or choose another %s", prefix, who, lock_path, opt);
            iso_warn("%s: cannot lock (%s): another run on %s would not be kept out", lock_path, strerror(e), prefix);
            return ISO_OK;
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(lock_path, &now) == 0 && same_inode(&held, &now)) {
            char host[256] = "", text[320];
            if (gethostname(host, sizeof host - 1) != 0 || !host[0])
                snprintf(host, sizeof host, "unknown");
            int n = snprintf(text, sizeof text, "isoformer pid %ld host %s\n", (long)getpid(), host);
            /* only for the message of a refused run: the lock is the fcntl lock, not this text */
            if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n)
                iso_warn("%s: cannot write (%s)", lock_path, strerror(errno));
            lock_fd = fd;
            lock_held = 1;
            return ISO_OK;
        }
        close(fd);
    }
    return iso_error(ISO_EIO, "%s: cannot lock: the file keeps being replaced", lock_path);
}

void cli_unlock_out(void)
{
    if (!lock_held)
        return;
    lock_held = 0;
    unlink(lock_path); /* before the lock goes: see cli_lock_out */
    close(lock_fd);
    lock_fd = -1;
}

int cli_out_not_input(const char *cmd, const char *out, const char *const *inputs, int n_inputs, int in_suffixed,
                      const char *const *suffixes)
{
    static const char *const none[] = {"", NULL};
    for (const char *const *s = suffixes ? suffixes : none; *s; s++)
        for (int i = 0; i < n_inputs; i++) {
            if (!inputs[i])
                continue;
            char o[4096], in[4096];
            snprintf(o, sizeof o, "%s%s", out, *s);
            snprintf(in, sizeof in, "%s%s", inputs[i], in_suffixed ? *s : "");
            if (same_file(o, in))
                return cli_usage_error(cmd, "the output %s is the input %s: it would be replaced; choose another "
                                       "--out", o, in);
        }
    return 0;
}

int cli_open_files(const char *cmd, int n_files)
{
    const rlim_t want = (rlim_t)n_files + 16; /* stdio, the lock, the output, libraries' own descriptors */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= want)
        return 0;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) {
        iso_error(ISO_EINVAL, "reading %d shards at once needs about %llu open files, and this system allows %llu "
                  "(ulimit -Hn): raise the hard limit, or scatter over fewer shards", n_files,
                  (unsigned long long)want, (unsigned long long)lim.rlim_max);
        return cli_fail(cmd);
    }
    lim.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
        return 0;
    iso_error(ISO_EIO, "reading %d shards at once needs about %llu open files: cannot raise the limit (%s)", n_files,
              (unsigned long long)want, strerror(errno));
    return cli_fail(cmd);
}

int cli_parse_device(const char *cmd, const char *s)
{
    int reg, index;
    return iso_backend_parse_device(s, &reg, &index) < 0 ? cli_usage_error(cmd, "--device: %s", iso_last_error()) : 0;
}

int cli_outputs_end(int rc)
{
    int c = iso_out_set_end(rc >= 0);
    return rc < 0 ? rc : c;
}

/* a file edited between a run and its --resume, or between shards, changes the values: its bytes count */
int cli_file_tag(const char *path, char *tag, size_t size)
{
    long long bytes;
    uint32_t crc;
    int rc = path ? iso_file_crc32(path, &bytes, &crc) : ISO_OK;
    if (path && rc == ISO_OK)
        snprintf(tag, size, "crc32:%08lx", (unsigned long)crc);
    return rc;
}
