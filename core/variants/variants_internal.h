/* Shared between the VCF reader and the writer of the variants area: the htslib objects behind a record. */
#ifndef ISOFORMER_VARIANTS_INTERNAL_H
#define ISOFORMER_VARIANTS_INTERNAL_H

#include <htslib/vcf.h>

#include "isoformer/variants.h"

struct iso_vcf_record_raw {
    bcf1_t *b;
    char *bases; /* the uppercased REF and ALTs that the edits point into */
};

/* The input's header, which the writer extends and writes records with (contigs that the input declares only
 * in its records are added to it while reading). */
bcf_hdr_t *iso_vcf_header(const iso_vcf *v);

#endif
