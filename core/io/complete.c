/* The end-of-file check shared by every reader of BGZF/CRAM inputs (FASTA, BAM/CRAM, VCF/BCF). */
#include "io/complete.h"

#include <errno.h>
#include <string.h>

#include <htslib/bgzf.h>

#include "isoformer/error.h"

static int truncated(const char *path, const char *what)
{
    return iso_error(ISO_EFORMAT, "%s: truncated: its %s is missing (an interrupted copy or download?)", path, what);
}

static int unreadable(const char *path)
{
    return iso_error(ISO_EIO, "%s: cannot read its end to check that it is complete (%s)", path,
                     strerror(errno ? errno : EIO));
}

int iso_check_complete(htsFile *fp, const char *path)
{
    errno = 0;
    int r = hts_check_EOF(fp); /* 1 present, 2 a stream, 3 a format without one */
    if (r == 0)
        return truncated(path, hts_get_format(fp)->format == cram ? "CRAM end-of-file container"
                                                                   : "BGZF end-of-file block");
    return r < 0 ? unreadable(path) : ISO_OK;
}

int iso_check_complete_path(const char *path)
{
    /* bgzf, not hts_open: no format detection, which refuses odd text its caller explains better */
    BGZF *z = bgzf_open(path, "r");
    if (!z)
        return ISO_OK;
    errno = 0;
    int r = z->is_compressed && !z->is_gzip ? bgzf_check_EOF(z) : 3; /* plain gzip has no marker */
    bgzf_close(z);
    if (r == 0)
        return truncated(path, "BGZF end-of-file block");
    return r < 0 ? unreadable(path) : ISO_OK;
}
