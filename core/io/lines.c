/* Line reader for plain or gzip/bgzip text through htslib's BGZF, which detects the compression itself. */
#include "isoformer/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/bgzf.h>
#include <htslib/kstring.h>

struct iso_lines {
    BGZF *fp;
    kstring_t buf;
    long lineno;
    char *path;
};

iso_lines *iso_lines_open(const char *path)
{
    iso_lines *lr = calloc(1, sizeof *lr);
    if (!lr || !(lr->path = strdup(path))) {
        free(lr);
        iso_error(ISO_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (!(lr->fp = bgzf_open(path, "r"))) {
        iso_error(errno == ENOENT ? ISO_ENOTFOUND : ISO_EIO, "%s: cannot open (%s)", path,
                  strerror(errno ? errno : EIO));
        free(lr->path);
        free(lr);
        return NULL;
    }
    return lr;
}

int iso_lines_next(iso_lines *lr, const char **line, size_t *len)
{
    int n = bgzf_getline(lr->fp, '\n', &lr->buf);
    if (n == -1 && !lr->fp->errcode)
        return 0;
    if (n < 0 || lr->fp->errcode)
        return iso_error(ISO_EIO, "%s:%ld: read failed (%s): is the file truncated or corrupt?", lr->path,
                         lr->lineno + 1, lr->fp->is_compressed ? "gzip data incomplete or invalid" : "read error");
    lr->lineno++;
    if (n > 0 && lr->buf.s[n - 1] == '\r')
        lr->buf.s[--n] = '\0';
    lr->buf.l = (size_t)n;
    *line = lr->buf.s;
    *len = (size_t)n;
    return 1;
}

long iso_lines_lineno(const iso_lines *lr) { return lr->lineno; }
const char *iso_lines_path(const iso_lines *lr) { return lr->path; }

void iso_lines_close(iso_lines *lr)
{
    if (!lr)
        return;
    bgzf_close(lr->fp);
    free(lr->buf.s);
    free(lr->path);
    free(lr);
}
