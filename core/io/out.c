/* Atomic output files: written under a temporary name in the destination directory, renamed on success; and
 * output sets, renamed together at the end of a run. */
#include "io/out_internal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct iso_out {
    char *path, *tmp;
    char *backup;         /* set commit: a hard link to the file this one replaces, until the set is in place */
    FILE *fp;
    int slot;             /* index in open_tmps, for signal-time cleanup */
    int skip_sync;        /* iso_out_skip_sync */
    struct iso_out *next; /* in the thread's set, once complete */
};

/* Temporaries still on disk, visible to the signal handler: a fixed table of paths written before use and
 * cleared after rename/unlink, so the handler only reads stable strings and calls unlink(). */
#define MAX_OPEN_OUTPUTS 256
static char *volatile open_tmps[MAX_OPEN_OUTPUTS];
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* Who owns the temporaries at the end: a set being renamed into place, or a signal removing them. The one that
 * gets there first wins, so a set is never half renamed and half removed. */
enum { IDLE, RENAMING, DYING };
static atomic_int commit_state = IDLE;

/* The calling thread's output set (iso_out_set_begin): completed files waiting to be renamed. */
static _Thread_local int set_active;
static _Thread_local iso_out *set_done;

static int register_tmp(char *tmp)
{
    int slot = -1;
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < MAX_OPEN_OUTPUTS; i++)
        if (!open_tmps[i]) {
            open_tmps[i] = tmp;
            slot = i;
            break;
        }
    pthread_mutex_unlock(&open_lock);
    return slot;
}

static void unregister_tmp(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&open_lock);
    open_tmps[slot] = NULL;
    pthread_mutex_unlock(&open_lock);
}

int iso_out_cleanup_all(void)
{
    int idle = IDLE;
    if (!atomic_compare_exchange_strong(&commit_state, &idle, DYING))
        return 0;
    for (int i = 0; i < MAX_OPEN_OUTPUTS; i++) {
        char *t = open_tmps[i];
        if (t)
            unlink(t);
    }
    return 1;
}

/* This machine's name as it goes into temporary names: [A-Za-z0-9-] only, so that it parses back. */
static void host_tag(char *out, size_t size)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    size_t k = 0;
    for (const char *p = host; *p && k + 1 < size && k < 32; p++)
        out[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ? *p : '-';
    out[k] = '\0';
}

iso_out *iso_out_open(const char *path)
{
    iso_out *o = calloc(1, sizeof *o);
    size_t n = strlen(path) + 64;
    if (!o || !(o->path = strdup(path)) || !(o->tmp = malloc(n))) {
        if (o)
            free(o->path);
        free(o);
        iso_error(ISO_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    char host[40];
    host_tag(host, sizeof host);
    snprintf(o->tmp, n, "%s.tmp.%s.%ld", path, host, (long)getpid());
    o->slot = register_tmp(o->tmp);
    if (!(o->fp = fopen(o->tmp, "wb"))) {
        iso_error(ISO_EIO, "%s: cannot create (%s)", o->tmp, strerror(errno));
        unregister_tmp(o->slot);
        free(o->tmp);
        free(o->path);
        free(o);
        return NULL;
    }
    return o;
}

FILE *iso_out_fp(iso_out *o) { return o->fp; }
void iso_out_skip_sync(iso_out *o) { o->skip_sync = 1; }
const char *iso_out_tmp_path(const iso_out *o) { return o->tmp; }
const char *iso_out_path(const iso_out *o) { return o->path; }

static void out_free(iso_out *o)
{
    unregister_tmp(o->slot);
    free(o->backup);
    free(o->tmp);
    free(o->path);
    free(o);
}

/* Flushes, syncs and closes the file, checking each step. */
static int complete(iso_out *o)
{
    int rc = ISO_OK;
    if (o->fp) {
        int bad = ferror(o->fp);
        if (fflush(o->fp) != 0 || bad)
            rc = iso_error(ISO_EIO, "%s: write failed (%s)", o->path, strerror(errno ? errno : EIO));
        if (rc == ISO_OK && !o->skip_sync && fsync(fileno(o->fp)) != 0 && errno != EINVAL)
            rc = iso_error(ISO_EIO, "%s: sync failed (%s)", o->path, strerror(errno));
        if (fclose(o->fp) != 0 && rc == ISO_OK)
            rc = iso_error(ISO_EIO, "%s: close failed (%s)", o->path, strerror(errno));
        o->fp = NULL;
    }
    return rc;
}

int iso_out_commit(iso_out *o)
{
    int rc = complete(o);
    if (rc == ISO_OK && set_active) {
        o->next = set_done;
        set_done = o;
        return ISO_OK;
    }
    if (rc == ISO_OK && rename(o->tmp, o->path) != 0)
        rc = iso_error(ISO_EIO, "%s: cannot rename %s into place (%s)", o->path, o->tmp, strerror(errno));
    if (rc != ISO_OK)
        unlink(o->tmp);
    out_free(o);
    return rc;
}

void iso_out_abort(iso_out *o)
{
    if (!o)
        return;
    if (o->fp)
        fclose(o->fp);
    unlink(o->tmp);
    out_free(o);
}

int iso_out_set_begin(void)
{
    if (set_active)
        return iso_error(ISO_EINVAL, "an output set is already open on this thread");
    set_active = 1;
    set_done = NULL;
    return ISO_OK;
}

int iso_out_set_each(int (*fn)(const char *path, const char *tmp, void *arg), void *arg)
{
    if (!set_active)
        return iso_error(ISO_EINVAL, "no output set is open on this thread");
    size_t n = 0;
    for (iso_out *o = set_done; o; o = o->next)
        n++;
    iso_out **order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return iso_error(ISO_ENOMEM, "out of memory");
    size_t k = n;
    for (iso_out *o = set_done; o; o = o->next)
        order[--k] = o; /* set_done is newest first */
    int rc = ISO_OK;
    for (size_t i = 0; rc == ISO_OK && i < n; i++)
        rc = fn(order[i]->path, order[i]->tmp, arg);
    free(order);
    return rc;
}

/* Before a set's file replaces an existing one: a hard link to the old file, "<path>.prev.tmp.<host>.<pid>" (a name
 * iso_out_clean_stale removes if the run is killed), so that a set that fails later can put it back. Where the
 * file system has no hard links, the old file is simply replaced, as a single commit does. */
static void keep_previous(iso_out *o)
{
    const char *tag = strstr(o->tmp + strlen(o->path), ".tmp.");
    size_t n = strlen(o->path) + strlen(".prev") + strlen(tag) + 1;
    if (access(o->path, F_OK) != 0 || !(o->backup = malloc(n)))
        return;
    snprintf(o->backup, n, "%s.prev%s", o->path, tag);
    unlink(o->backup); /* left by a killed run of this pid */
    if (link(o->path, o->backup) != 0) {
        free(o->backup);
        o->backup = NULL;
    }
}

int iso_out_set_end(int commit)
{
    iso_out *list = NULL; /* in completion order */
    while (set_done) {
        iso_out *o = set_done;
        set_done = o->next;
        o->next = list;
        list = o;
    }
    set_active = 0;
    int rc = ISO_OK, idle = IDLE;
    if (commit && !atomic_compare_exchange_strong(&commit_state, &idle, RENAMING))
        rc = iso_error(ISO_EINTERRUPTED, "interrupted");
    else if (commit) {
        iso_out *failed = NULL;
        for (iso_out *o = list; o && !failed; o = o->next) {
            keep_previous(o);
            if (rename(o->tmp, o->path) != 0) {
                rc = iso_error(ISO_EIO, "%s: cannot rename %s into place (%s)", o->path, o->tmp, strerror(errno));
                failed = o;
            }
        }
        /* all or none: the ones renamed before the failure are taken back, the files they replaced restored */
        for (iso_out *o = list; failed && o != failed; o = o->next)
            if (!o->backup || rename(o->backup, o->path) != 0)
                unlink(o->path);
        for (iso_out *o = list; o; o = o->next)
            if (o->backup)
                unlink(o->backup); /* gone already where it was restored */
        atomic_store(&commit_state, IDLE);
    }
    while (list) {
        iso_out *o = list;
        list = o->next;
        if (rc != ISO_OK || !commit)
            unlink(o->tmp);
        out_free(o);
    }
    return rc;
}

/* Parses "<host>.<pid>" at s: 1 with *pid when host is this machine's tag. */
static int own_temporary(const char *s, const char *host, long *pid)
{
    size_t hl = strlen(host);
    if (strncmp(s, host, hl) || s[hl] != '.' || !s[hl + 1])
        return 0;
    char *end;
    *pid = strtol(s + hl + 1, &end, 10);
    return !*end && *pid > 0;
}

int iso_out_clean_stale(const char *prefix)
{
    const char *slash = strrchr(prefix, '/'), *base = slash ? slash + 1 : prefix;
    char dir[4096], host[40], path[8192];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - prefix) + 1 : 1, slash ? prefix : ".");
    host_tag(host, sizeof host);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    size_t bl = strlen(base);
    for (struct dirent *e; (e = readdir(d));) {
        const char *tag = NULL;
        for (const char *p = e->d_name + bl; !strncmp(e->d_name, base, bl) && (p = strstr(p, ".tmp.")); p++)
            tag = p + 5; /* the last ".tmp." */
        long pid;
        if (!tag || !own_temporary(tag, host, &pid) || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
            errno != ESRCH)
            continue;
        snprintf(path, sizeof path, "%s%s%s", dir, slash ? "" : "/", e->d_name);
        if (unlink(path) == 0) {
            iso_warn("removed %s, a temporary file of a run that ended without finishing", path);
            removed++;
        }
    }
    closedir(d);
    return removed;
}
