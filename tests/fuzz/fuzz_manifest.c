/* Fuzzes merge's check of run manifests (isoformer/manifest.h): whatever PREFIX.run.json holds (JSON of any
 * shape, names of any files, sizes, checksums, shards), the check reads only files beside it and ends with
 * ISO_OK or an error. The input is checked as one run, and as two runs with the same manifest (a shard given
 * twice). */
#include <string.h>

#include "fuzz_common.h"
#include "isoformer/manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    iso_set_log_level(ISO_LOG_ERROR);
    /* a file beside the manifests that the seeds list: "isofuzz-listed", 13 bytes, CRC-32 f4247453 */
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/isofuzz-listed", dir);
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs("hello, world\n", fp);
        fclose(fp);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char prefix[4096], *path = fuzz_write_prefixed(data, size, ".run.json", prefix, sizeof prefix);
    if (!path)
        return 0;
    char *prefixes[2] = {prefix, prefix};
    for (int n = 1; n <= 2; n++) {
        char *config = NULL, *selection = NULL;
        if (iso_manifest_check_runs(prefixes, n, &config, &selection) != ISO_OK && (config || selection))
            __builtin_trap(); /* a failed check hands nothing back */
        free(config);
        free(selection);
    }
    fuzz_remove_temp(path);
    return 0;
}
