/* Fuzzes FASTA opening (index building) and fetches, including past contig ends. */
#include <string.h>

#include "fuzz_common.h"
#include "isoformer/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_write_temp(data, size, ".fa");
    if (!path)
        return 0;
    iso_fasta *fa = iso_fasta_open(path);
    if (fa) {
        for (int i = 0; i < iso_fasta_ncontigs(fa) && i < 4; i++) {
            const char *name = iso_fasta_contig_name(fa, i);
            int64_t len = iso_fasta_contig_len(fa, name);
            char *seq = NULL;
            if (iso_fasta_fetch(fa, name, -5, len + 5, &seq) == ISO_OK)
                free(seq);
        }
        iso_fasta_close(fa);
    }
    size_t n = strlen(path) + 5;
    char *fai = malloc(n);
    if (fai) {
        snprintf(fai, n, "%s.fai", path);
        unlink(fai);
        free(fai);
    }
    fuzz_remove_temp(path);
    return 0;
}
