/* Fuzzes the expression-table importers (salmon, RSEM, kallisto, StringTie, GCT, isoformer TSV) against the
 * test annotation, whose transcript ids the seeds use. */
#include "fuzz_common.h"
#include "isoformer/annotation.h"
#include "isoformer/expression.h"

static iso_annotation *ann;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ann && iso_annotation_read(ISO_TEST_DATA "/annotation.gtf", NULL, &ann) != ISO_OK)
        return 0;
    char *path = fuzz_write_temp(data, size, ".tsv");
    if (!path)
        return 0;
    iso_expression *e = NULL;
    if (iso_expression_read(path, ann, &e) == ISO_OK)
        iso_expression_free(e);
    fuzz_remove_temp(path);
    return 0;
}
