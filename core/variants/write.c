/* Outputs of `isoformer variants`: the annotated VCF (bgzipped, indexed), the effect table and a plot of the
 * largest effects; or, per haplotype, the table of each sample's predictions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/kseq.h>
#include <htslib/kstring.h>

#include "io/complete.h"
#include "isoformer/outputs.h"
#include "variants_internal.h"

enum { TOP = 30 }; /* effects in the plot */

typedef struct {
    double score;
    char label[256];
    float *delta;
} top_entry;

struct iso_variant_writer {
    char *prefix;
    int haplotypes, n, csi;
    const char *const *outputs;
    char **tags;      /* the outputs' names as INFO values take them */
    const iso_annotation *ann;
    iso_vcf *in;
    bcf_hdr_t *hdr;
    bcf_hdr_t *own_hdr;   /* gathering: the shards' headers merged */
    int nhrec_written;    /* header lines in the VCF's header as written */
    char **own_outputs;   /* gathering: the outputs named by the shards' table */
    htsFile *vcf;
    iso_out *vcf_out, *index_out, *tsv, *svg;
    kstring_t ks;
    top_entry top[TOP];
    int n_top;
};

/* INFO values and TSV cells must not hold separators: they become '_'. */
static void put_clean(kstring_t *ks, const char *s, const char *bad)
{
    for (; s && *s; s++)
        kputc(strchr(bad, *s) ? '_' : *s, ks);
}

static void put_value(kstring_t *ks, float v, const char *fmt, const char *missing)
{
    if (isnan(v))
        kputs(missing, ks);
    else
        ksprintf(ks, fmt, v);
}

static void changed_name(unsigned changed, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s", changed & ISO_MOD_DNA ? "dna" : "",
             (changed & ISO_MOD_DNA) && (changed & (ISO_MOD_RNA | ISO_MOD_PROTEIN)) ? "&" : "",
             changed & ISO_MOD_RNA ? (changed & ISO_MOD_PROTEIN ? "rna&protein" : "rna")
                                   : changed & ISO_MOD_PROTEIN ? "protein" : "",
             changed ? "" : "none");
}

/* The output with the largest |delta|, and that value (-1 when every delta is NaN). */
static int largest(const float *delta, int n, double *value)
{
    int best = -1;
    *value = -1;
    for (int k = 0; k < n; k++)
        if (!isnan(delta[k]) && fabs(delta[k]) > *value)
            *value = fabs(delta[k]), best = k;
    return best;
}

/* Keeps the effect among the TOP largest (by max |delta|), on the table's digits so that gathered shards,
 * read back from their tables, draw the same plot. */
static int keep_top(iso_variant_writer *w, const char *label, const float *delta)
{
    float *rounded = malloc((size_t)(w->n ? w->n : 1) * sizeof *rounded);
    if (!rounded)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (int k = 0; k < w->n; k++) {
        char digits[32];
        snprintf(digits, sizeof digits, "%.6g", delta[k]);
        rounded[k] = strtof(digits, NULL);
    }
    double score;
    largest(rounded, w->n, &score);
    int slot = score > 0 && w->n_top < TOP ? w->n_top++ : -1;
    if (slot < 0 && score > 0) { /* replace the smallest when larger */
        slot = 0;
        for (int i = 1; i < TOP; i++)
            if (w->top[i].score < w->top[slot].score)
                slot = i;
        if (w->top[slot].score >= score)
            slot = -1;
    }
    if (slot >= 0) {
        free(w->top[slot].delta);
        w->top[slot].score = score;
        w->top[slot].delta = rounded;
        snprintf(w->top[slot].label, sizeof w->top[slot].label, "%s", label);
    } else {
        free(rounded);
    }
    return ISO_OK;
}

/* The plot's row labels, from a record or from a row of a shard's table. */
static void effect_label(char *buf, size_t size, const char *chrom, const char *pos, const char *ref, const char *alt,
                         const char *gene, const char *tx, const char *term)
{
    snprintf(buf, size, "%.40s:%.12s %.12s>%.12s %.30s %.40s %.60s", chrom, pos, ref, alt, gene ? gene : "", tx, term);
}

static void haplotype_label(char *buf, size_t size, const char *sample, const char *hap, const char *gene,
                            const char *tx, const char *applied)
{
    snprintf(buf, size, "%.60s hap%.4s %.30s %.40s (%.8s variants)", sample, hap, gene ? gene : "", tx, applied);
}

static void write_tsv_header(iso_variant_writer *w)
{
    FILE *fp = iso_out_fp(w->tsv);
    if (w->haplotypes)
        fputs("sample\thaplotype\ttranscript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand\tn_applied\tn_skipped\t"
              "applied\tconsequence\timpact\tchanged\tmax_abs_delta\tmax_delta_output",
              fp);
    else
        fputs("chrom\tpos\tid\tref\talt\ttranscript_id\tgene_id\tgene_name\tstrand\tconsequence\timpact\tdistance\t"
              "protein_position\tamino_acids\tchanged\tmax_abs_delta\tmax_delta_output\tnote",
              fp);
    for (int k = 0; k < w->n; k++)
        fprintf(fp, "\tdelta %s", w->outputs[k]);
    for (int k = 0; k < w->n; k++)
        fprintf(fp, w->haplotypes ? "\t%s" : "\talt %s", w->outputs[k]);
    fputc('\n', fp);
}

static int add_info_lines(iso_variant_writer *w)
{
    kstring_t ks = {0};
    if (!bcf_hdr_get_hrec(w->hdr, BCF_HL_INFO, "ID", "ISOFORMER", NULL)) {
        ksprintf(&ks, "##INFO=<ID=ISOFORMER,Number=.,Type=String,Description=\"IsoFormer predicted effects, one per "
                      "allele and transcript (isoformer variants). Format: Allele|Consequence|IMPACT|SYMBOL|Gene|"
                      "Feature|BIOTYPE|STRAND|DISTANCE|Protein_position|Amino_acids|Changed|Max_abs_delta|"
                      "Max_delta_output");
        for (int k = 0; k < w->n; k++)
            ksprintf(&ks, "|delta_%s", w->tags[k]);
        kputs("\">", &ks);
        if (bcf_hdr_append(w->hdr, ks.s) < 0) {
            free(ks.s);
            return iso_error(ISO_ENOMEM, "cannot add the ISOFORMER header line");
        }
    }
    if (!bcf_hdr_get_hrec(w->hdr, BCF_HL_INFO, "ID", "ISOFORMER_NOTE", NULL) &&
        bcf_hdr_append(w->hdr, "##INFO=<ID=ISOFORMER_NOTE,Number=.,Type=String,Description=\"Why isoformer variants "
                               "scored no transcript for an allele of the record: symbolic_allele (symbolic or "
                               "structural ALT, or '*'), ref_mismatch (REF differs from the FASTA), "
                               "contig_not_in_fasta, no_alt (ALT '.' or equal to REF)\">") < 0) {
        free(ks.s);
        return iso_error(ISO_ENOMEM, "cannot add the ISOFORMER_NOTE header line");
    }
    free(ks.s);
    return bcf_hdr_sync(w->hdr) < 0 ? iso_error(ISO_ENOMEM, "cannot update the VCF header") : ISO_OK;
}

/* The outputs' temporary files: TSV and SVG, and in variant mode the VCF and its index. */
static int open_files(iso_variant_writer *w)
{
    const char *kind = w->haplotypes ? "haplotypes" : "variants";
    int rc = ISO_OK;
    for (int i = 0; i < (w->haplotypes ? 2 : 4) && rc == ISO_OK; i++) {
        static const char *const suffix[] = {"tsv", "svg", "vcf.gz", NULL};
        kstring_t ks = {0};
        if (i < 3)
            ksprintf(&ks, "%s.%s.%s", w->prefix, kind, suffix[i]);
        else
            ksprintf(&ks, "%s.variants.vcf.gz.%s", w->prefix, w->csi ? "csi" : "tbi");
        iso_out *o = ks.s ? iso_out_open(ks.s) : NULL;
        if (!o)
            rc = ks.s ? iso_last_status() : iso_error(ISO_ENOMEM, "out of memory");
        free(ks.s);
        *(i == 0 ? &w->tsv : i == 1 ? &w->svg : i == 2 ? &w->vcf_out : &w->index_out) = o;
    }
    if (rc == ISO_OK && !w->haplotypes &&
        (!(w->vcf = hts_open(iso_out_tmp_path(w->vcf_out), "wz")) || bcf_hdr_write(w->vcf, w->hdr) < 0))
        rc = iso_error(ISO_EIO, "%s: cannot write the VCF header", iso_out_tmp_path(w->vcf_out));
    w->nhrec_written = w->hdr ? w->hdr->nhrec : 0;
    return rc;
}

/* htslib declares what an input record uses and its header does not (a contig, an INFO or FORMAT tag) in the
 * in-memory header as it reads, after ours was written: bcftools then refuses the output ("no such tag defined
 * in the VCF header"). When the header grew, the VCF is written again, the full header first, then its record
 * lines as they are. Complete input headers (the usual case) cost nothing. */
static int rewrite_with_full_header(iso_variant_writer *w)
{
    if (w->hdr->nhrec == w->nhrec_written)
        return ISO_OK;
    const char *path = iso_out_tmp_path(w->vcf_out);
    kstring_t old = {0}, line = {0};
    ksprintf(&old, "%s.records", path);
    if (!old.s)
        return iso_error(ISO_ENOMEM, "out of memory");
    int rc = rename(path, old.s) == 0 ? ISO_OK : iso_error(ISO_EIO, "%s: cannot rename to %s", path, old.s);
    htsFile *in = rc == ISO_OK ? hts_open(old.s, "r") : NULL, *out = NULL;
    if (rc == ISO_OK && (!in || !(out = hts_open(path, "wz")) || bcf_hdr_write(out, w->hdr) < 0))
        rc = iso_error(ISO_EIO, "%s: cannot write the VCF with its full header", path);
    int got = 0;
    while (rc == ISO_OK && (got = hts_getline(in, KS_SEP_LINE, &line)) >= 0)
        if (line.l && line.s[0] != '#' && (kputc('\n', &line) < 0 || bgzf_write(out->fp.bgzf, line.s, line.l) < 0))
            rc = iso_error(ISO_EIO, "%s: cannot write", path);
    if (rc == ISO_OK && got < -1)
        rc = iso_error(ISO_EIO, "%s: cannot read back", old.s);
    if (in)
        hts_close(in);
    if (out && hts_close(out) != 0 && rc == ISO_OK)
        rc = iso_error(ISO_EIO, "%s: cannot finish the VCF", path);
    unlink(old.s);
    free(old.s);
    free(line.s);
    return rc;
}

int iso_variant_writer_open(const char *prefix, iso_vcf *in, const char *const *outputs, int n,
                            const iso_annotation *ann, const iso_fasta *fa, int haplotypes, iso_variant_writer **out)
{
    *out = NULL;
    iso_variant_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->prefix = strdup(prefix)) || !(w->tags = calloc((size_t)(n ? n : 1), sizeof *w->tags))) {
        iso_variant_writer_abort(w);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    *w = (iso_variant_writer){.prefix = w->prefix, .tags = w->tags, .haplotypes = haplotypes, .n = n,
                              .outputs = outputs, .ann = ann, .in = in, .hdr = iso_vcf_header(in)};
    for (int k = 0; k < n; k++) {
        kstring_t ks = {0};
        put_clean(&ks, outputs[k], " ,;=|\t\"<>");
        w->tags[k] = ks.s ? ks.s : strdup("");
    }
    /* tabix's index holds positions below 2^29; longer contigs need CSI */
    for (int c = 0; c < iso_fasta_ncontigs(fa); c++)
        w->csi |= iso_fasta_contig_len(fa, iso_fasta_contig_name(fa, c)) >= (1LL << 29);
    int rc = haplotypes ? ISO_OK : add_info_lines(w);
    if (rc == ISO_OK)
        rc = open_files(w);
    if (rc != ISO_OK) {
        iso_variant_writer_abort(w);
        return rc;
    }
    write_tsv_header(w);
    *out = w;
    return ISO_OK;
}

/* One entry of INFO/ISOFORMER. */
static void put_csq(iso_variant_writer *w, kstring_t *ks, const iso_vcf_record *r, const iso_variant_effect *x)
{
    const iso_transcript *t = &w->ann->tx[x->tx];
    const char *bad = " ,;=|\t";
    char terms[512], changed[32];
    iso_so_format(x->csq.terms, terms, sizeof terms);
    changed_name(x->changed, changed, sizeof changed);
    double big;
    int k = largest(x->delta, w->n, &big);
    put_clean(ks, r->alt[x->allele].alt, bad);
    ksprintf(ks, "|%s|%s|", terms, iso_so_impact(x->csq.terms));
    put_clean(ks, t->gene_name, bad);
    kputc('|', ks);
    put_clean(ks, t->gene_id, bad);
    kputc('|', ks);
    put_clean(ks, t->transcript_id, bad);
    kputc('|', ks);
    put_clean(ks, t->biotype, bad);
    ksprintf(ks, "|%d|", t->strand == '+' ? 1 : -1);
    if (x->csq.distance)
        ksprintf(ks, "%lld", (long long)x->csq.distance);
    kputc('|', ks);
    if (x->csq.protein_pos)
        ksprintf(ks, "%d", x->csq.protein_pos);
    ksprintf(ks, "|%s|%s|", x->csq.amino_acids, changed);
    if (k >= 0)
        ksprintf(ks, "%.4g|%s", big, w->tags[k]);
    else
        kputc('|', ks);
    for (int j = 0; j < w->n; j++) {
        kputc('|', ks);
        put_value(ks, x->delta[j], "%.4g", "");
    }
}

/* The end of a table row in w->ks: the largest |delta| and its output, the tail cells (the note's, or none),
 * the deltas and the alternative values; then the row goes out. */
static void put_row_values(iso_variant_writer *w, const iso_variant_effect *x, const char *tail)
{
    kstring_t *ks = &w->ks;
    double big;
    int k = largest(x->delta, w->n, &big);
    if (k >= 0)
        ksprintf(ks, "%.6g\t%s%s", big, w->outputs[k], tail);
    else
        ksprintf(ks, "NA\t%s", tail);
    for (int j = 0; j < 2 * w->n; j++) {
        kputc('\t', ks);
        put_value(ks, j < w->n ? x->delta[j] : x->alt[j - w->n], "%.6g", "NA");
    }
    kputc('\n', ks);
    fputs(ks->s, iso_out_fp(w->tsv));
}

static void put_tsv_effect(iso_variant_writer *w, const iso_vcf_record *r, const iso_variant_effect *x)
{
    const iso_transcript *t = &w->ann->tx[x->tx];
    char terms[512], changed[32];
    iso_so_format(x->csq.terms, terms, sizeof terms);
    changed_name(x->changed, changed, sizeof changed);
    kstring_t *ks = &w->ks;
    ks->l = 0;
    ksprintf(ks, "%s\t%lld\t%s\t%s\t%s\t%s\t%s\t%s\t%c\t%s\t%s\t%lld\t", r->vcf_chrom, (long long)r->pos + 1, r->id,
             r->ref, r->alt[x->allele].alt, t->transcript_id, t->gene_id ? t->gene_id : "",
             t->gene_name ? t->gene_name : "", t->strand, terms, iso_so_impact(x->csq.terms),
             (long long)x->csq.distance);
    if (x->csq.protein_pos)
        ksprintf(ks, "%d", x->csq.protein_pos);
    ksprintf(ks, "\t%s\t%s\t", x->csq.amino_acids, changed);
    put_row_values(w, x, "\t");
}

int iso_variant_writer_record(void *writer, const iso_vcf_record *r, const iso_variant_effect *eff, int n)
{
    iso_variant_writer *w = writer;
    int rc = ISO_OK;
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        put_tsv_effect(w, r, &eff[i]);
        char label[256], terms[512], pos[32];
        iso_so_format(eff[i].csq.terms & -eff[i].csq.terms, terms, sizeof terms); /* the most severe */
        snprintf(pos, sizeof pos, "%lld", (long long)r->pos + 1);
        effect_label(label, sizeof label, r->vcf_chrom, pos, r->ref, r->alt[eff[i].allele].alt,
                     w->ann->tx[eff[i].tx].gene_name, w->ann->tx[eff[i].tx].transcript_id, terms);
        rc = keep_top(w, label, eff[i].delta);
    }
    /* alleles not scored: a row each, with the reason */
    FILE *fp = iso_out_fp(w->tsv);
    for (int a = 0; a < (r->n_alt ? r->n_alt : 1); a++) {
        unsigned note = r->n_alt ? r->alt[a].note : r->notes;
        for (int b = 0; note && b < ISO_NOTE_COUNT; b++)
            if (note & (1u << b)) {
                fprintf(fp, "%s\t%lld\t%s\t%s\t%s\t.\t.\t.\t.\t.\t.\tNA\t\t\t\tNA\t\t%s", r->vcf_chrom,
                        (long long)r->pos + 1, r->id, r->ref, r->n_alt ? r->alt[a].alt : ".", iso_note_name(b));
                for (int j = 0; j < 2 * w->n; j++)
                    fputs("\tNA", fp);
                fputc('\n', fp);
                break;
            }
    }
    bcf1_t *b = r->raw->b;
    kstring_t *ks = &w->ks;
    ks->l = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            kputc(',', ks);
        put_csq(w, ks, r, &eff[i]);
    }
    int bad = bcf_update_info_string(w->hdr, b, "ISOFORMER", n ? ks->s : NULL) < 0;
    ks->l = 0;
    for (int bit = 0; bit < ISO_NOTE_COUNT; bit++)
        if (r->notes & (1u << bit))
            ksprintf(ks, "%s%s", ks->l ? "," : "", iso_note_name(bit));
    bad |= bcf_update_info_string(w->hdr, b, "ISOFORMER_NOTE", ks->l ? ks->s : NULL) < 0;
    if (rc == ISO_OK && (bad || bcf_write(w->vcf, w->hdr, b) < 0))
        rc = iso_error(ISO_EIO, "%s: cannot write the record at %s:%lld", iso_out_tmp_path(w->vcf_out), r->vcf_chrom,
                       (long long)r->pos + 1);
    return rc;
}

int iso_variant_writer_haplotype(void *writer, const iso_haplotype_effect *h)
{
    iso_variant_writer *w = writer;
    const iso_transcript *t = &w->ann->tx[h->tx];
    const iso_variant_effect *x = &h->eff;
    char terms[512], changed[32];
    iso_so_format(x->csq.terms, terms, sizeof terms);
    changed_name(x->changed, changed, sizeof changed);
    kstring_t *ks = &w->ks;
    ks->l = 0;
    const char *sample = iso_vcf_sample(w->in, h->sample);
    ksprintf(ks, "%s\t%d\t%s\t%s\t%s\t%s\t%lld\t%lld\t%c\t%d\t%d\t%s\t%s\t%s\t%s\t", sample, h->haplotype + 1,
             t->transcript_id, t->gene_id ? t->gene_id : "", t->gene_name ? t->gene_name : "", t->chrom,
             (long long)t->exons[0].start, (long long)t->exons[t->n_exons - 1].end, t->strand, h->n_applied,
             h->n_skipped, h->applied[0] ? h->applied : ".", terms[0] ? terms : ".", iso_so_impact(x->csq.terms),
             changed);
    put_row_values(w, x, "");
    char label[256], hap[16], applied[16];
    snprintf(hap, sizeof hap, "%d", h->haplotype + 1);
    snprintf(applied, sizeof applied, "%d", h->n_applied);
    haplotype_label(label, sizeof label, sample, hap, t->gene_name, t->transcript_id, applied);
    return keep_top(w, label, x->delta);
}

static int by_score(const void *pa, const void *pb)
{
    const top_entry *a = pa, *b = pb;
    int c = (a->score < b->score) - (a->score > b->score);
    return c ? c : strcmp(a->label, b->label);
}

/* A heatmap of the largest effects: one row per effect (largest first), one column per output, blue for a
 * lower and red for a higher prediction than the reference, on one symmetric scale. */
static void draw_plot(iso_variant_writer *w)
{
    FILE *fp = iso_out_fp(w->svg);
    qsort(w->top, (size_t)w->n_top, sizeof *w->top, by_score);
    const double L = 520, T = 190, cw = 18, ch = 18, R = 140;
    double width = L + cw * (w->n ? w->n : 1) + R, height = T + ch * (w->n_top ? w->n_top : 1) + 60;
    double scale = w->n_top ? w->top[0].score : 1;
    iso_svg_begin(fp, width, height);
    fprintf(fp, "<text x=\"%.1f\" y=\"24\" font-size=\"15\" font-weight=\"bold\">Largest predicted effects "
                "(alternative minus reference)%s</text>\n",
            L / 20, w->haplotypes ? ", per haplotype" : "");
    if (!w->n_top)
        fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">no effect different from zero</text>\n", L / 20,
                T);
    for (int k = 0; k < w->n; k++) { /* output names, rotated */
        fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" transform=\"rotate(-60 %.1f %.1f)\">", L + cw * k + 12,
                T - 6, L + cw * k + 12, T - 6);
        iso_svg_escape(fp, w->outputs[k]);
        fputs("</text>\n", fp);
    }
    for (int i = 0; i < w->n_top; i++) {
        fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">", L - 8, T + ch * i + 13);
        iso_svg_escape(fp, w->top[i].label);
        fputs("</text>\n", fp);
        for (int k = 0; k < w->n; k++) {
            double v = w->top[i].delta[k], f = isnan(v) ? 0 : fmax(-1, fmin(1, v / scale));
            int shade = (int)lround(255 * (1 - fabs(f)));
            fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"rgb(%d,%d,%d)\" "
                        "stroke=\"#eee\"><title>%g</title></rect>\n",
                    L + cw * k, T + ch * i, cw, ch, f > 0 ? 255 : shade, shade, f < 0 ? 255 : shade, v);
        }
    }
    /* the colour scale */
    double lx = L + cw * (w->n ? w->n : 1) + 30;
    for (int s = 0; s <= 10; s++) {
        double f = 1 - s / 5.0;
        int shade = (int)lround(255 * (1 - fabs(f)));
        fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"12\" fill=\"rgb(%d,%d,%d)\"/>\n", lx,
                T + 12 * s, f > 0 ? 255 : shade, shade, f < 0 ? 255 : shade);
    }
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%+.3g</text>\n<text x=\"%.1f\" y=\"%.1f\" "
                "font-size=\"10\">0</text>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%+.3g</text>\n</svg>\n",
            lx + 20, T + 10, scale, lx + 20, T + 70, lx + 20, T + 130, -scale);
}

int iso_variant_writer_commit(iso_variant_writer *w, const iso_manifest_info *run)
{
    int rc = ISO_OK;
    if (w->vcf) {
        if (hts_close(w->vcf) != 0)
            rc = iso_error(ISO_EIO, "%s: cannot finish the VCF", iso_out_tmp_path(w->vcf_out));
        w->vcf = NULL;
        if (rc == ISO_OK)
            rc = rewrite_with_full_header(w);
        if (rc == ISO_OK && bcf_index_build3(iso_out_tmp_path(w->vcf_out), iso_out_tmp_path(w->index_out),
                                             w->csi ? 14 : 0, 1) != 0)
            rc = iso_error(ISO_EIO, "%s: cannot index the VCF", iso_out_tmp_path(w->vcf_out));
    }
    draw_plot(w);
    /* all or none, as one output set: the data renamed before its index */
    int in_set = rc == ISO_OK && (rc = iso_out_set_begin()) == ISO_OK;
    iso_out **outs[] = {&w->tsv, &w->svg, &w->vcf_out, &w->index_out};
    for (int i = 0; i < 4; i++) {
        if (!*outs[i])
            continue;
        if (rc == ISO_OK)
            rc = iso_out_commit(*outs[i]);
        else
            iso_out_abort(*outs[i]);
        *outs[i] = NULL;
    }
    if (rc == ISO_OK && in_set && run)
        rc = iso_manifest_write(w->prefix, run); /* last: it lists the others */
    if (in_set) {
        int ended = iso_out_set_end(rc == ISO_OK);
        rc = rc == ISO_OK ? ended : rc;
    }
    iso_variant_writer_abort(w);
    return rc;
}

void iso_variant_writer_abort(iso_variant_writer *w)
{
    if (!w)
        return;
    if (w->vcf)
        hts_close(w->vcf);
    iso_out_abort(w->tsv);
    iso_out_abort(w->svg);
    iso_out_abort(w->vcf_out);
    iso_out_abort(w->index_out);
    for (int k = 0; w->tags && k < w->n; k++)
        free(w->tags[k]);
    free(w->tags);
    for (int k = 0; w->own_outputs && k < w->n; k++)
        free(w->own_outputs[k]);
    free(w->own_outputs);
    if (w->own_hdr)
        bcf_hdr_destroy(w->own_hdr);
    for (int i = 0; i < w->n_top; i++)
        free(w->top[i].delta);
    free(w->ks.s);
    free(w->prefix);
    free(w);
}

/* ---- gathering the outputs of shards ---- */

typedef struct {
    const char *prefix;
    htsFile *fp;
    bcf_hdr_t *hdr;
    bcf1_t *first; /* NULL: an empty shard */
    int index;
} shard;

static int by_first_record(const void *pa, const void *pb)
{
    const shard *a = pa, *b = pb;
    if (!a->first || !b->first)
        return a->first ? -1 : b->first ? 1 : a->index - b->index;
    if (a->first->rid != b->first->rid)
        return a->first->rid - b->first->rid;
    return a->first->pos != b->first->pos ? (a->first->pos > b->first->pos) - (a->first->pos < b->first->pos)
                                          : a->index - b->index;
}

/* The shard's table: its header line must be the first shard's (*header, taken when NULL); its rows are copied
 * to w's table and fed to the plot. */
static int copy_table(iso_variant_writer *w, const char *path, char **header)
{
    iso_lines *lr = iso_lines_open(path);
    if (!lr)
        return iso_last_status();
    const char *line;
    size_t len;
    int rc = ISO_OK, got = 0;
    enum { CHROM, POS, REF, ALT, SAMPLE, HAP, GENE, TX, CSQ, APPLIED, N_NAMED };
    static const char *const named[] = {"chrom", "pos", "ref", "alt", "sample", "haplotype", "gene_name",
                                        "transcript_id", "consequence", "n_applied"};
    int at[N_NAMED] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, first_delta = -1;
    char *copy = NULL;
    float *delta = malloc((size_t)(w->n ? w->n : 1) * sizeof *delta);
    while (rc == ISO_OK && delta && (got = iso_lines_next(lr, &line, &len)) > 0) {
        free(copy);
        if (!(copy = strdup(line))) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            break;
        }
        char *field[4096];
        int nf = 0;
        for (char *f = copy; f && nf < 4096; nf++) { /* empty cells count */
            field[nf] = f;
            if ((f = strchr(f, '\t')))
                *f++ = '\0';
        }
        if (iso_lines_lineno(lr) == 1) {
            if (!*header) {
                if (!(*header = strdup(line)))
                    rc = iso_error(ISO_ENOMEM, "out of memory");
                else
                    fprintf(iso_out_fp(w->tsv), "%s\n", line);
            } else if (strcmp(*header, line))
                rc = iso_error(ISO_EFORMAT, "%s:1: not the header of the first shard's table (shards of different runs?)",
                               path);
            for (int j = 0; j < nf; j++) {
                for (int k = 0; k < N_NAMED; k++)
                    if (!strcmp(field[j], named[k]))
                        at[k] = j;
                if (first_delta < 0 && !strncmp(field[j], "delta ", 6))
                    first_delta = j;
            }
            int missing = first_delta < 0 || at[TX] < 0 || at[GENE] < 0 || at[CSQ] < 0;
            for (int k = w->haplotypes ? SAMPLE : CHROM; k <= (w->haplotypes ? HAP : ALT); k++)
                missing |= at[k] < 0;
            if (rc == ISO_OK && (missing || (w->haplotypes && at[APPLIED] < 0)))
                rc = iso_error(ISO_EFORMAT, "%s:1: not an isoformer %s table", path,
                               w->haplotypes ? "haplotypes" : "variants");
            continue;
        }
        fprintf(iso_out_fp(w->tsv), "%s\n", line);
        if (nf < first_delta + w->n || !strcmp(field[at[TX]], "."))
            continue; /* an allele not scored */
        for (int k = 0; k < w->n; k++)
            delta[k] = strcmp(field[first_delta + k], "NA") ? strtof(field[first_delta + k], NULL) : NAN;
        char label[256], term[128];
        if (w->haplotypes) {
            haplotype_label(label, sizeof label, field[at[SAMPLE]], field[at[HAP]], field[at[GENE]], field[at[TX]],
                            field[at[APPLIED]]);
        } else {
            snprintf(term, sizeof term, "%.*s", (int)strcspn(field[at[CSQ]], "&"), field[at[CSQ]]);
            effect_label(label, sizeof label, field[at[CHROM]], field[at[POS]], field[at[REF]], field[at[ALT]],
                         field[at[GENE]], field[at[TX]], term);
        }
        rc = keep_top(w, label, delta);
    }
    if (rc == ISO_OK && !delta)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK && got < 0)
        rc = got;
    free(copy);
    free(delta);
    iso_lines_close(lr);
    return rc;
}

/* The outputs' names from a table's header: the "delta <name>" columns. */
static int names_from_header(iso_variant_writer *w, const char *path)
{
    iso_lines *lr = iso_lines_open(path);
    const char *line;
    size_t len;
    int rc = lr ? iso_lines_next(lr, &line, &len) : iso_last_status();
    if (rc == 0)
        rc = iso_error(ISO_EFORMAT, "%s: empty", path);
    for (const char *p = rc > 0 ? line : ""; (p = strstr(p, "\tdelta ")); p += 7)
        w->n++;
    w->own_outputs = calloc((size_t)(w->n ? w->n : 1), sizeof *w->own_outputs);
    if (rc > 0 && !w->own_outputs)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    int k = 0;
    for (const char *p = rc > 0 ? line : ""; (p = strstr(p, "\tdelta ")); k++) {
        p += 7;
        size_t n = strcspn(p, "\t");
        if (!(w->own_outputs[k] = strndup(p, n)))
            rc = iso_error(ISO_ENOMEM, "out of memory");
    }
    iso_lines_close(lr);
    w->outputs = (const char *const *)w->own_outputs;
    return rc < 0 ? rc : ISO_OK;
}

static int same_samples(const bcf_hdr_t *a, const bcf_hdr_t *b)
{
    if (bcf_hdr_nsamples(a) != bcf_hdr_nsamples(b))
        return 0;
    for (int i = 0; i < bcf_hdr_nsamples(a); i++)
        if (strcmp(a->samples[i], b->samples[i]))
            return 0;
    return 1;
}

int iso_variant_gather(const char *prefix, const char *const *prefixes, int n)
{
    iso_variant_writer *w = calloc(1, sizeof *w);
    shard *sh = calloc((size_t)(n ? n : 1), sizeof *sh);
    char path[4096], *header = NULL, *config = NULL, *selection = NULL;
    int rc = w && sh && (w->prefix = strdup(prefix)) ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK && n < 1)
        rc = iso_error(ISO_EINVAL, "no shard to gather");
    /* one run, every shard once, every file as written: without it a missing shard gave a partial set, exit 0 */
    if (rc == ISO_OK)
        rc = iso_manifest_check_runs((char *const *)prefixes, n, &config, &selection);
    snprintf(path, sizeof path, "%s.variants.tsv", n > 0 ? prefixes[0] : "");
    if (rc == ISO_OK)
        w->haplotypes = access(path, F_OK) != 0;
    const char *table = w && w->haplotypes ? "haplotypes" : "variants";
    for (int i = 0; rc == ISO_OK && i < n; i++) { /* each shard's first record orders the shards */
        sh[i] = (shard){.prefix = prefixes[i], .index = i};
        if (w->haplotypes)
            continue;
        snprintf(path, sizeof path, "%s.variants.vcf.gz", prefixes[i]);
        if (!(sh[i].fp = hts_open(path, "r")) || !(sh[i].hdr = bcf_hdr_read(sh[i].fp)) || !(sh[i].first = bcf_init())) {
            rc = iso_error(ISO_EIO, "%s: cannot read", path);
            break;
        }
        if ((rc = iso_check_complete(sh[i].fp, path)) != ISO_OK) /* a shard cut short would lose records */
            break;
        int r = bcf_read(sh[i].fp, sh[i].hdr, sh[i].first);
        if (r < -1)
            rc = iso_error(ISO_EFORMAT, "%s: cannot read its first record", path);
        else if (r == -1)
            bcf_destroy(sh[i].first), sh[i].first = NULL;
        if (rc == ISO_OK && !same_samples(sh[i].hdr, sh[0].hdr))
            rc = iso_error(ISO_EFORMAT, "%s: its samples are not the first shard's (shards of different runs?)", path);
        snprintf(path, sizeof path, "%s.variants.vcf.gz.csi", prefixes[i]);
        w->csi |= access(path, F_OK) == 0;
    }
    if (rc == ISO_OK && !w->haplotypes) {
        qsort(sh, (size_t)n, sizeof *sh, by_first_record);
        /* Shards of an input whose header is incomplete each declare what their own records used (see
         * rewrite_with_full_header): the output's header is all of them, each record translated into it. */
        w->hdr = w->own_hdr = bcf_hdr_dup(sh[0].hdr);
        for (int i = 1; w->hdr && i < n; i++)
            w->hdr = bcf_hdr_merge(w->hdr, sh[i].hdr);
        if (!w->hdr || bcf_hdr_sync(w->hdr) < 0)
            rc = iso_error(ISO_ENOMEM, "out of memory merging the shards' VCF headers");
    }
    snprintf(path, sizeof path, "%s.%s.tsv", sh && n > 0 ? sh[0].prefix : "", table);
    if (rc == ISO_OK)
        rc = names_from_header(w, path);
    if (rc == ISO_OK)
        rc = open_files(w);
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        snprintf(path, sizeof path, "%s.%s.tsv", sh[i].prefix, table);
        rc = copy_table(w, path, &header);
        for (bcf1_t *b = sh[i].first; rc == ISO_OK && b;) {
            if (b->errcode || bcf_translate(w->hdr, sh[i].hdr, b) < 0 || bcf_write(w->vcf, w->hdr, b) < 0)
                rc = iso_error(ISO_EIO, "%s: cannot write", iso_out_tmp_path(w->vcf_out));
            int r = rc == ISO_OK ? bcf_read(sh[i].fp, sh[i].hdr, b) : -1;
            if (r < -1)
                rc = iso_error(ISO_EFORMAT, "%s.variants.vcf.gz: cannot read a record", sh[i].prefix);
            if (r != 0)
                break;
        }
    }
    for (int i = 0; sh && i < n; i++) {
        if (sh[i].first)
            bcf_destroy(sh[i].first);
        bcf_hdr_destroy(sh[i].hdr);
        if (sh[i].fp)
            hts_close(sh[i].fp);
    }
    free(sh);
    free(header);
    if (rc == ISO_OK)
        rc = iso_variant_writer_commit(w, config ? &(iso_manifest_info){"variants", config, selection, NULL} : NULL);
    else
        iso_variant_writer_abort(w);
    free(config);
    free(selection);
    return rc;
}
