/* Fuzzes the GTF/GFF3 reader (and the chromAlias reader on the same bytes). */
#include "fuzz_common.h"
#include "isoformer/annotation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_write_temp(data, size, ".gtf");
    if (!path)
        return 0;
    iso_annotation *ann = NULL;
    if (iso_annotation_read(path, NULL, &ann) == ISO_OK)
        iso_annotation_free(ann);
    iso_chrom_alias *alias = NULL;
    if (iso_chrom_alias_load(path, &alias) == ISO_OK)
        iso_chrom_alias_free(alias);
    fuzz_remove_temp(path);
    return 0;
}
