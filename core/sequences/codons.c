/* Genetic codes (NCBI translation tables): the one module that extraction and variants translate and find start
 * and stop codons with, so that a variant's protein is read as the reference's. */
#include "isoformer/sequences.h"

#include <stdlib.h>
#include <string.h>

/* NCBI's amino-acid and start strings, codons in TCAG order (https://www.ncbi.nlm.nih.gov/Taxonomy/Utils/
 * wprintgc.cgi). Table 1 starts at ATG alone, as VEP and bcftools csq read nuclear genes (NCBI also lists TTG and
 * CTG, rare in them); tables 2 and 11 keep NCBI's alternative starts (ATT, ATA, GTG... begin mitochondrial and
 * bacterial genes). */
static const struct {
    int id;
    const char *aa, *starts;
} codes[] = {
    {1, "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "-----------------------------------M----------------------------"},
    {2, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG",
     "----------**--------------------MMMM----------**---M------------"},
    {11, "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "---M------**--*----M------------MMMM---------------M------------"},
};

static int code_index(int table)
{
    for (int i = 0; i < (int)(sizeof codes / sizeof *codes); i++)
        if (codes[i].id == table)
            return i;
    return 0; /* unknown tables are refused where they are read; the standard code otherwise */
}

int iso_genetic_code_known(int table) { return table == codes[code_index(table)].id; }

int iso_contig_genetic_code(const char *contig)
{
    return contig && (!strcmp(contig, "chrM") || !strcmp(contig, "MT") || !strcmp(contig, "M")) ? 2 : 1;
}

int iso_transcript_code(const iso_transcript *tx)
{
    return tx->transl_table ? tx->transl_table : iso_contig_genetic_code(tx->chrom);
}

static int base_index(char b)
{
    switch (b) {
    case 'T': case 't': case 'U': case 'u': return 0;
    case 'C': case 'c': return 1;
    case 'A': case 'a': return 2;
    case 'G': case 'g': return 3;
    default: return -1;
    }
}

/* Index of the codon in TCAG order, -1 when a base is not A, C, G or T (any case). */
static int codon_index(const char *c)
{
    int a = base_index(c[0]), b = a < 0 ? -1 : base_index(c[1]), d = b < 0 ? -1 : base_index(c[2]);
    return d < 0 ? -1 : a * 16 + b * 4 + d;
}

char iso_codon_amino(int table, const char *codon)
{
    int i = codon_index(codon);
    return i < 0 ? 'X' : codes[code_index(table)].aa[i];
}

int iso_codon_is_start(int table, const char *codon)
{
    int i = codon_index(codon);
    return i >= 0 && codes[code_index(table)].starts[i] == 'M';
}

char *iso_translate(const char *cds, int64_t len, int table)
{
    int64_t n = len / 3;
    char *p = malloc((size_t)n + 1);
    if (!p)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        p[i] = iso_codon_amino(table, cds + 3 * i);
    p[n] = '\0';
    return p;
}
