/* libFuzzer targets get bytes; our parsers take paths (they mmap or stream files through htslib), so each
 * input goes to a private temporary file first. */
#ifndef ISOFORMER_FUZZ_COMMON_H
#define ISOFORMER_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes data to a fresh file under $TMPDIR named with suffix (parsers may detect formats by content, but
 * .gz/.fa suffixes keep htslib's index names predictable). Returns the malloc'd path or NULL. */
static inline char *fuzz_write_temp(const uint8_t *data, size_t size, const char *suffix)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t n = snprintf(NULL, 0, "%s/isofuzz.%ld%s", dir, (long)getpid(), suffix) + 1;
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "%s/isofuzz.%ld%s", dir, (long)getpid(), suffix);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size) {
        if (fp)
            fclose(fp);
        free(path);
        return NULL;
    }
    fclose(fp);
    return path;
}

/* fuzz_write_temp for readers that take an output prefix: *prefix gets the path without its suffix. */
static inline char *fuzz_write_prefixed(const uint8_t *data, size_t size, const char *suffix, char *prefix,
                                        size_t prefix_size)
{
    char *path = fuzz_write_temp(data, size, suffix);
    if (path)
        snprintf(prefix, prefix_size, "%.*s", (int)(strlen(path) - strlen(suffix)), path);
    return path;
}

static inline void fuzz_remove_temp(char *path)
{
    if (path)
        unlink(path);
    free(path);
}

#endif
