/* Helpers for unit tests that need small input files: written under ISO_TEST_TMP with a per-test name. */
#ifndef ISOFORMER_TEST_FILES_H
#define ISOFORMER_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Writes content to ISO_TEST_TMP/name and returns the path (static buffer, valid until the next call). */
static inline const char *test_file(const char *name, const char *content)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", ISO_TEST_TMP, name);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return NULL;
    fwrite(content, 1, strlen(content), fp);
    fclose(fp);
    return path;
}

/* Same, gzip-compressed with zlib (plain gzip, not BGZF); truncated to keep bytes when keep > 0. */
static inline const char *test_gzip_file(const char *name, const char *content, long keep)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", ISO_TEST_TMP, name);
    gzFile gz = gzopen(path, "wb");
    if (!gz)
        return NULL;
    gzwrite(gz, content, (unsigned)strlen(content));
    gzclose(gz);
    if (keep > 0 && truncate(path, keep) != 0)
        return NULL;
    return path;
}

#endif
