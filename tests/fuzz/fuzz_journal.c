/* Fuzzes predict's --resume journal reader (plugin/journal.c): whatever PREFIX.journal holds, resuming reads
 * only sound records of the selected transcripts, or refuses the file; it is then rewritten and removed. */
#include <string.h>

#include "fuzz_common.h"
#include "isoformer/annotation.h"
#include "journal.h"

static iso_annotation *ann;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    iso_set_log_level(ISO_LOG_ERROR);
    static const uint8_t gtf[] = "c1\tt\texon\t1\t50\t.\t+\t.\tgene_id \"g\"; transcript_id \"t1\";\n"
                                 "c1\tt\texon\t10\t90\t.\t+\t.\tgene_id \"g\"; transcript_id \"t2\";\n"
                                 "c1\tt\texon\t20\t30\t.\t-\t.\tgene_id \"h\"; transcript_id \"t3.1\";\n";
    char *path = fuzz_write_temp(gtf, sizeof gtf - 1, ".gtf");
    if (!path || iso_annotation_read(path, NULL, &ann) != ISO_OK)
        abort();
    fuzz_remove_temp(path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char prefix[4096], *path = fuzz_write_prefixed(data, size, ".journal", prefix, sizeof prefix);
    if (!path)
        return 0;
    enum { NA = 2, NB = 1 };
    const size_t sel[] = {0, 1, 2};
    float a[3 * NA], b[NB];
    char done[3] = {0};
    size_t n_done = 0;
    cli_journal *j = NULL;
    if (cli_journal_open(prefix, "model=0123456789abcdef window=4096", 1, ann, sel, 3, a, NA, NB, done, &n_done, &j) ==
        ISO_OK) {
        for (int i = 0; i < 3; i++)
            if (done[i] && (a[i * NA] != a[i * NA] || cli_journal_row(j, i, b) != ISO_OK || b[0] != b[0]))
                __builtin_trap(); /* a NaN resumed, or a resumed row not stored */
        cli_journal_close(j, 1);
    }
    fuzz_remove_temp(path);
    return 0;
}
