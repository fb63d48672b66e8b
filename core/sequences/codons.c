/* Genetic codes (NCBI translation tables): the one module that extraction and variants translate and find start
 * and stop codons with, so that a variant's protein is read as the reference's. */
#include "isoformer/sequences.h"

#include <stdlib.h>
#include <string.h>

/* NCBI's amino-acid and start strings (ncbieaa, sncbieaa), codons in TCAG order (https://www.ncbi.nlm.nih.gov/
 * Taxonomy/Utils/wprintgc.cgi). Table 1 starts at ATG alone, as VEP and bcftools csq read nuclear genes (NCBI also
 * lists TTG and CTG, rare in them); the others keep NCBI's alternative starts (ATT, ATA, GTG... begin mitochondrial
 * and bacterial genes). Tables 27, 28 and 31 are left out: their stop codons also code for an amino acid and stop
 * only at the end of a gene, which neither a CDS's translation nor a variant's reading frame can tell from the
 * codon. */
static const struct {
    int id;
    const char *aa, *starts;
} codes[] = {
    {1, "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "-----------------------------------M----------------------------"},
    {2, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG",
     "----------**--------------------MMMM----------**---M------------"},  /* Vertebrate Mitochondrial */
    {3, "FFLLSSSSYY**CCWWTTTTPPPPHHQQRRRRIIMMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "----------**----------------------MM---------------M------------"},  /* Yeast Mitochondrial */
    {4, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "--MM------**-------M------------MMMM---------------M------------"},  /* Mold Mitochondrial */
    {5, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSSSSVVVVAAAADDEEGGGG",
     "---M------**--------------------MMMM---------------M------------"},  /* Invertebrate Mitochondrial */
    {6, "FFLLSSSSYYQQCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "--------------*--------------------M----------------------------"},  /* Ciliate Nuclear */
    {9, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNNKSSSSVVVVAAAADDEEGGGG",
     "----------**-----------------------M---------------M------------"},  /* Echinoderm Mitochondrial */
    {10, "FFLLSSSSYY**CCCWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "----------**-----------------------M----------------------------"},  /* Euplotid Nuclear */
    {11, "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "---M------**--*----M------------MMMM---------------M------------"},  /* Bacterial */
    {12, "FFLLSSSSYY**CC*WLLLSPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "----------**--*----M---------------M----------------------------"},  /* Alternative Yeast Nuclear */
    {13, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSSGGVVVVAAAADDEEGGGG",
     "---M------**----------------------MM---------------M------------"},  /* Ascidian Mitochondrial */
    {14, "FFLLSSSSYYY*CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNNKSSSSVVVVAAAADDEEGGGG",
     "-----------*-----------------------M----------------------------"},  /* Alternative Flatworm Mito. */
    {15, "FFLLSSSSYY*QCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "----------*---*--------------------M----------------------------"},  /* Blepharisma Macronuclear */
    {16, "FFLLSSSSYY*LCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "----------*---*--------------------M----------------------------"},  /* Chlorophycean Mitochondrial */
    {21, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNNKSSSSVVVVAAAADDEEGGGG",
     "----------**-----------------------M---------------M------------"},  /* Trematode Mitochondrial */
    {22, "FFLLSS*SYY*LCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "------*---*---*--------------------M----------------------------"},  /* Scenedesmus obliquus Mito. */
    {23, "FF*LSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "--*-------**--*-----------------M--M---------------M------------"},  /* Thraustochytrium Mito. */
    {24, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSSKVVVVAAAADDEEGGGG",
     "---M------**-------M---------------M---------------M------------"},  /* Pterobranchia Mitochondrial */
    {25, "FFLLSSSSYY**CCGWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "---M------**-----------------------M---------------M------------"},  /* Candidate Division SR1 */
    {26, "FFLLSSSSYY**CC*WLLLAPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "----------**--*----M---------------M----------------------------"},  /* Pachysolen tannophilus Nuclear */
    {29, "FFLLSSSSYYYYCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "--------------*--------------------M----------------------------"},  /* Mesodinium Nuclear */
    {30, "FFLLSSSSYYEECC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "--------------*--------------------M----------------------------"},  /* Peritrich Nuclear */
    {32, "FFLLSSSSYY*WCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
     "---M------*---*----M------------MMMM---------------M------------"},  /* Balanophoraceae Plastid */
    {33, "FFLLSSSSYYY*CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSSKVVVVAAAADDEEGGGG",
     "---M-------*-------M---------------M---------------M------------"},  /* Cephalodiscidae Mitochondrial */
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
