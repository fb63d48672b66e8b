/* Atomic output files: written under a temporary name in the destination directory, renamed on success. */
#include "isoformer/io.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct iso_out {
    char *path, *tmp;
    FILE *fp;
    int slot; /* index in open_tmps, for signal-time cleanup */
};

/* Temporaries still open, visible to the signal handler: a fixed table of paths written before use and
 * cleared after rename/unlink, so the handler only reads stable strings and calls unlink(). */
#define MAX_OPEN_OUTPUTS 256
static char *volatile open_tmps[MAX_OPEN_OUTPUTS];
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

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

void iso_out_cleanup_all(void)
{
    for (int i = 0; i < MAX_OPEN_OUTPUTS; i++) {
        char *t = open_tmps[i];
        if (t)
            unlink(t);
    }
}

iso_out *iso_out_open(const char *path)
{
    iso_out *o = calloc(1, sizeof *o);
    size_t n = strlen(path) + 32;
    if (!o || !(o->path = strdup(path)) || !(o->tmp = malloc(n))) {
        if (o)
            free(o->path);
        free(o);
        iso_error(ISO_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
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
const char *iso_out_tmp_path(const iso_out *o) { return o->tmp; }

static void out_free(iso_out *o)
{
    unregister_tmp(o->slot);
    free(o->tmp);
    free(o->path);
    free(o);
}

int iso_out_commit(iso_out *o)
{
    int rc = ISO_OK;
    if (o->fp) {
        int bad = ferror(o->fp);
        if (fflush(o->fp) != 0 || bad)
            rc = iso_error(ISO_EIO, "%s: write failed (%s)", o->path, strerror(errno ? errno : EIO));
        if (rc == ISO_OK && fsync(fileno(o->fp)) != 0 && errno != EINVAL)
            rc = iso_error(ISO_EIO, "%s: sync failed (%s)", o->path, strerror(errno));
        if (fclose(o->fp) != 0 && rc == ISO_OK)
            rc = iso_error(ISO_EIO, "%s: close failed (%s)", o->path, strerror(errno));
        o->fp = NULL;
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
