/* IsoFormer assembly: configuration, discovery of the encoders' key prefixes, the shared embeddings, fusion,
 * pooling and head. */
#include "isoformer/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "isoformer/io.h"
#include "isoformer/tokens.h"
#include "isoformer/weights.h"
#include "io/out_internal.h"
#include "model/cache_entry.h"
#include "model/enformer.h"
#include "model/esm.h"
#include "model/fusion.h"

#define MAX_OUTPUTS 4096

static const char *const gtex_tissues[30] = {
    "Adipose Tissue", "Adrenal Gland", "Bladder", "Blood", "Blood Vessel", "Brain", "Breast", "Cervix Uteri",
    "Colon", "Esophagus", "Fallopian Tube", "Heart", "Kidney", "Liver", "Lung", "Muscle", "Nerve", "Ovary",
    "Pancreas", "Pituitary", "Prostate", "Salivary Gland", "Skin", "Small Intestine", "Spleen", "Stomach",
    "Testis", "Thyroid", "Uterus", "Vagina"};

struct iso_embedding {
    float *data; /* backend buffer, rows x cols */
    int rows, cols;
};

struct iso_model {
    iso_backend *be;
    iso_weights *w;
    iso_config *cfg;
    iso_model_options opts;
    iso_model_info info;
    iso_enformer *dna;
    iso_esm *rna, *protein;
    char *prefix_dna, *prefix_rna, *prefix_protein, *prefix_fusion, *head_names[2];
    iso_params params; /* fusion and head */
    iso_cross_attn ca_rna, ca_protein;
    iso_head head;
    float *norm_mean, *norm_std; /* de-standardisation, or NULL */
    iso_embedding *empty_protein;  /* <cls><eos> through ESM-2, for non-coding transcripts; computed when first needed */
    char **output_names;
};

void iso_model_options_default(iso_model_options *o)
{
    *o = (iso_model_options){.fusion = ISO_FUSION_SEQUENTIAL, .pool_start = -1, .pool_end = -1, .head_act = -1};
}

/* ---- key discovery ---- */

/* Prefixes p such that p + suffix is a tensor name; at most max returned (malloc'd strings). */
static int find_prefixes(const iso_weights *w, const char *suffix, char **out, int max, const iso_tensor_view **t)
{
    int n = 0;
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < iso_weights_count(w); i++) {
        const iso_tensor_view *v = iso_weights_at(w, i);
        size_t nl = strlen(v->name);
        if (nl < sl || strcmp(v->name + nl - sl, suffix) || (nl > sl && v->name[nl - sl - 1] != '.'))
            continue;
        if (n < max) {
            out[n] = strndup(v->name, nl - sl);
            if (t)
                t[n] = v;
        }
        n++;
    }
    return n;
}

static void free_prefixes(char **p, int n)
{
    for (int i = 0; i < n; i++)
        free(p[i]);
}

static int discover_enformer(iso_model *m)
{
    char *p[8] = {0};
    int n = find_prefixes(m->w, "stem.0.weight", p, 8, NULL);
    /* Only keys under an "_trunk.1." alias? */
    if (n == 0) {
        n = find_prefixes(m->w, "_trunk.1.0.weight", p, 8, NULL);
        if (n == 1) {
            m->prefix_dna = p[0];
            return ISO_OK;
        }
    }
    if (n != 1) {
        free_prefixes(p, n < 8 ? n : 8);
        return iso_error(ISO_EFORMAT, "%s: expected exactly one Enformer (a tensor named '<prefix>stem.0.weight'), "
                                      "found %d", iso_weights_path(m->w), n);
    }
    m->prefix_dna = p[0];
    return ISO_OK;
}

/* The two ESM-style encoders are told apart by their vocabulary (rows of the word embeddings). */
static int discover_esm(iso_model *m, int esm_vocab, int nt_vocab)
{
    char *p[8] = {0};
    const iso_tensor_view *t[8];
    int n = find_prefixes(m->w, "embeddings.word_embeddings.weight", p, 8, t);
    for (int i = 0; i < n && i < 8; i++) {
        if (t[i]->ndim == 2 && t[i]->shape[0] == nt_vocab && !m->prefix_rna)
            m->prefix_rna = p[i], p[i] = NULL;
        else if (t[i]->ndim == 2 && t[i]->shape[0] == esm_vocab && !m->prefix_protein)
            m->prefix_protein = p[i], p[i] = NULL;
    }
    free_prefixes(p, n < 8 ? n : 8);
    if (!m->prefix_rna || !m->prefix_protein)
        return iso_error(ISO_EFORMAT, "%s: expected an RNA encoder with a %d-token vocabulary and a protein "
                                      "encoder with %d tokens ('<prefix>embeddings.word_embeddings.weight'); "
                                      "found %d encoder(s)%s%s", iso_weights_path(m->w), nt_vocab, esm_vocab, n,
                         m->prefix_rna ? "" : ", no RNA one", m->prefix_protein ? "" : ", no protein one");
    return ISO_OK;
}

static int starts_with(const char *s, const char *prefix) { return prefix && !strncmp(s, prefix, strlen(prefix)); }

/* The head's key names are not published: it is the pair of 2-D ".weight" tensors outside the encoders and the
 * cross-attention layers with shapes [hidden, fused_dim] and [n_out, hidden]. */
static int discover_head(iso_model *m, int fused_dim)
{
    const iso_weights *w = m->w;
    const iso_tensor_view *first = NULL, *second = NULL;
    int n_first = 0;
    for (size_t i = 0; i < iso_weights_count(w); i++) {
        const iso_tensor_view *t = iso_weights_at(w, i);
        size_t nl = strlen(t->name);
        if (t->ndim != 2 || nl < 7 || strcmp(t->name + nl - 7, ".weight") || starts_with(t->name, m->prefix_dna) ||
            starts_with(t->name, m->prefix_rna) || starts_with(t->name, m->prefix_protein) ||
            strstr(t->name, "cross_attention_layer_"))
            continue;
        if (t->shape[1] == fused_dim) {
            first = t;
            n_first++;
        }
    }
    if (n_first != 1)
        return iso_error(ISO_EFORMAT, "%s: cannot identify the expression head: expected one 2-D weight [hidden, "
                                      "%d] outside the encoders, found %d", iso_weights_path(w), fused_dim, n_first);
    int n_second = 0;
    for (size_t i = 0; i < iso_weights_count(w); i++) {
        const iso_tensor_view *t = iso_weights_at(w, i);
        size_t nl = strlen(t->name);
        if (t->ndim == 2 && t != first && t->shape[1] == first->shape[0] && nl > 7 &&
            !strcmp(t->name + nl - 7, ".weight") && !starts_with(t->name, m->prefix_dna) &&
            !starts_with(t->name, m->prefix_rna) && !starts_with(t->name, m->prefix_protein) &&
            !strstr(t->name, "cross_attention_layer_")) {
            second = t;
            n_second++;
        }
    }
    if (n_second != 1)
        return iso_error(ISO_EFORMAT, "%s: cannot identify the head's output layer: expected one 2-D weight [n_out, "
                                      "%lld] after '%s', found %d", iso_weights_path(w),
                         (long long)first->shape[0], first->name, n_second);
    m->head_names[0] = strndup(first->name, strlen(first->name) - 7);
    m->head_names[1] = strndup(second->name, strlen(second->name) - 7);
    if (second->shape[0] > MAX_OUTPUTS)
        return iso_error(ISO_EFORMAT, "%s: head has %lld outputs (at most %d)", iso_weights_path(w),
                         (long long)second->shape[0], MAX_OUTPUTS);
    return m->head_names[0] && m->head_names[1] ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
}

/* The cross-attention layers' prefix (whatever precedes "cross_attention_layer_rna"). */
static int discover_fusion(iso_model *m)
{
    char *p[4] = {0};
    int n = find_prefixes(m->w, "cross_attention_layer_rna.query.weight", p, 4, NULL);
    if (n != 1) {
        free_prefixes(p, n < 4 ? n : 4);
        return iso_error(ISO_EFORMAT, "%s: expected one '<prefix>cross_attention_layer_rna.query.weight', found %d",
                         iso_weights_path(m->w), n);
    }
    m->prefix_fusion = p[0];
    return ISO_OK;
}

/* The number of "<prefix>encoder.layer.<i>." blocks present, for configs that omit the layer count. */
static int count_layers(const iso_weights *w, const char *prefix)
{
    char name[512];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, "%sencoder.layer.%d.attention.self.query.weight", prefix, n);
        if (!iso_weights_find(w, name))
            return n;
    }
}

static iso_act parse_act(const char *s)
{
    if (!strcmp(s, "silu") || !strcmp(s, "swish")) return ISO_ACT_SILU;
    if (!strcmp(s, "gelu")) return ISO_ACT_GELU_ERF;
    if (!strcmp(s, "relu")) return ISO_ACT_RELU;
    if (!strcmp(s, "none") || !strcmp(s, "linear")) return ISO_ACT_NONE;
    return (iso_act)-1;
}

/* "tissue<TAB>mean<TAB>std" per output, in output order or by name; '#' lines and a header are skipped. */
static int load_normalization(iso_model *m, const char *path)
{
    int n_out = m->info.n_outputs;
    m->norm_mean = calloc((size_t)n_out, sizeof *m->norm_mean);
    m->norm_std = calloc((size_t)n_out, sizeof *m->norm_std);
    char *seen = calloc((size_t)n_out, 1);
    iso_lines *lr = iso_lines_open(path);
    int rc = (!m->norm_mean || !m->norm_std || !seen) ? iso_error(ISO_ENOMEM, "out of memory") : ISO_OK;
    if (!lr)
        rc = iso_last_status();
    const char *line;
    size_t len;
    int row = 0, r;
    while (rc == ISO_OK && lr && (r = iso_lines_next(lr, &line, &len)) > 0) {
        char name[256];
        double mean, sd;
        if (len == 0 || line[0] == '#')
            continue;
        if (iso_lines_lineno(lr) == 1 && !strncmp(line, "tissue\t", 7))
            continue; /* header */
        if (sscanf(line, "%255[^\t]\t%lf\t%lf", name, &mean, &sd) != 3) {
            rc = iso_error(ISO_EFORMAT, "%s:%ld: expected 'tissue<TAB>mean<TAB>std'", path, iso_lines_lineno(lr));
            break;
        }
        int idx = row;
        for (int i = 0; i < n_out; i++)
            if (!strcmp(name, m->output_names[i]))
                idx = i;
        if (idx >= n_out || seen[idx] || !(sd > 0) || !isfinite(sd) || !isfinite(mean)) {
            rc = iso_error(ISO_EFORMAT, "%s:%ld: tissue '%s' is unknown, repeated, or has a mean or std that is not "
                           "finite (std must be > 0)", path, iso_lines_lineno(lr), name);
            break;
        }
        seen[idx] = 1;
        m->norm_mean[idx] = (float)mean;
        m->norm_std[idx] = (float)sd;
        row++;
    }
    if (rc == ISO_OK && lr && r < 0)
        rc = r;
    if (rc == ISO_OK && row != n_out)
        rc = iso_error(ISO_EFORMAT, "%s: %d tissues listed, the model has %d outputs", path, row, n_out);
    iso_lines_close(lr);
    free(seen);
    return rc;
}

static int setup(iso_model *m, const char *path)
{
    int rc, err = 0;
    if ((rc = iso_weights_open(path, &m->w)) != ISO_OK || (rc = iso_config_load(path, &m->cfg)) != ISO_OK)
        return rc;
    const iso_config *c = m->cfg;
    iso_enformer_hparams ehp = iso_enformer_default_hparams;
    iso_esm_hparams rhp = iso_ntv2_250m_hparams, php = iso_esm2_150m_hparams;
    if ((rc = iso_enformer_hparams_from_config(c, &ehp)) != ISO_OK)
        return rc;
    int esm_vocab = iso_config_size(c, "esm_vocab_size", php.vocab, &err);
    int nt_vocab = iso_config_size(c, "nt_vocab_size", rhp.vocab, &err);
    if (err || (rc = discover_enformer(m)) || (rc = discover_esm(m, esm_vocab, nt_vocab)) ||
        (rc = discover_fusion(m)))
        return err ? err : rc;
    if (!iso_config_has(c, "nt_num_hidden_layers"))
        rhp.layers = count_layers(m->w, m->prefix_rna);
    if ((rc = iso_esm_hparams_from_config(c, "nt_", &rhp)) || (rc = iso_esm_hparams_from_config(c, "esm_", &php)))
        return rc;
    if ((rc = iso_enformer_load(m->w, m->prefix_dna, &ehp, m->be, &m->dna)) ||
        (rc = iso_esm_load(m->w, m->prefix_rna, &rhp, m->be, &m->rna)) ||
        (rc = iso_esm_load(m->w, m->prefix_protein, &php, m->be, &m->protein)))
        return rc;

    iso_model_info *info = &m->info;
    info->dna_rows = iso_enformer_out_rows(m->dna);
    info->dna_dim = info->fused_dim = iso_enformer_out_cols(m->dna);
    info->rna_dim = rhp.hidden;
    info->protein_dim = php.hidden;
    info->dna_window = iso_config_size(c, "dna_window", 196608, &err);
    int heads = iso_config_size(c, "num_heads_omics_cross_attention", 8, &err);
    int rmax = iso_config_size(c, "num_tokens_per_seq_nuctf_rna", 2048, &err);
    int pmax = iso_config_size(c, "num_protein_tokens_per_seq", 1026, &err);
    int ps = iso_config_size(c, "pool_window_start", 0, &err);
    int pe = iso_config_size(c, "pool_window_end", info->dna_rows, &err);
    const char *act = iso_config_str(c, "head_activation", "silu", &err);
    if (err)
        return err;
    info->rna_max_tokens = m->opts.rna_max_tokens > 0 ? m->opts.rna_max_tokens : rmax;
    info->protein_max_tokens = m->opts.protein_max_tokens > 0 ? m->opts.protein_max_tokens : pmax;
    info->pool_start = m->opts.pool_start >= 0 ? m->opts.pool_start : ps;
    info->pool_end = m->opts.pool_end >= 0 ? m->opts.pool_end : pe;
    if (m->opts.pool_start < 0 && m->opts.pool_end < 0 && !iso_config_has(c, "pool_window_start") &&
        !iso_config_has(c, "pool_window_end"))
        iso_warn("%s: no pool_window_start/pool_window_end: averaging all %d fused positions (why: docs/model.md)",
                 iso_config_path(c), info->dna_rows);
    if (info->pool_start < 0 || info->pool_end > info->dna_rows || info->pool_start >= info->pool_end)
        return iso_error(ISO_EINVAL, "pool window [%d, %d) is not inside the %d fused positions", info->pool_start,
                         info->pool_end, info->dna_rows);
    if (heads <= 0 || info->fused_dim % heads)
        return iso_error(ISO_EFORMAT, "%s: num_heads_omics_cross_attention %d does not divide %d",
                         iso_config_path(c), heads, info->fused_dim);
    iso_act head_act = m->opts.head_act >= 0 ? (iso_act)m->opts.head_act : parse_act(act);
    if ((int)head_act < 0)
        return iso_error(ISO_EFORMAT, "%s: head_activation '%s': expected silu, gelu, relu or none",
                         iso_config_path(c), act);

    if ((rc = discover_head(m, info->fused_dim)) != ISO_OK)
        return rc;
    char name[600];
    /* Fusion and head tensors are addressed by full name. */
    iso_params *p = &m->params;
    iso_params_init(p, m->w, "", m->be);
    snprintf(name, sizeof name, "%scross_attention_layer_rna", m->prefix_fusion);
    iso_cross_attn_load(p, &m->ca_rna, name, info->fused_dim, info->rna_dim, heads);
    snprintf(name, sizeof name, "%scross_attention_layer_protein", m->prefix_fusion);
    iso_cross_attn_load(p, &m->ca_protein, name, info->fused_dim, info->protein_dim, heads);
    const iso_tensor_view *w1 = NULL, *w2 = NULL;
    snprintf(name, sizeof name, "%s.weight", m->head_names[0]);
    w1 = iso_weights_find(m->w, name);
    snprintf(name, sizeof name, "%s.weight", m->head_names[1]);
    w2 = iso_weights_find(m->w, name);
    iso_head *h = &m->head;
    *h = (iso_head){.in = info->fused_dim, .hidden = (int)w1->shape[0], .out = (int)w2->shape[0], .act = head_act};
    const int64_t s1[] = {h->hidden, h->in}, b1[] = {h->hidden}, s2[] = {h->out, h->hidden}, b2[] = {h->out};
    h->w1 = iso_param(p, 2, s1, "%s.weight", m->head_names[0]);
    h->b1 = iso_param(p, 1, b1, "%s.bias", m->head_names[0]);
    h->w2 = iso_param(p, 2, s2, "%s.weight", m->head_names[1]);
    h->b2 = iso_param(p, 1, b2, "%s.bias", m->head_names[1]);
    if (p->failed)
        return iso_last_status();
    info->n_outputs = h->out;
    info->checksum = iso_weights_checksum(m->w);
    m->output_names = calloc((size_t)h->out, sizeof *m->output_names);
    if (!m->output_names)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; i < h->out; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "output_%d", i);
        if (!(m->output_names[i] = strdup(h->out == 30 ? gtex_tissues[i] : buf)))
            return iso_error(ISO_ENOMEM, "out of memory");
    }
    if (m->opts.normalization && (rc = load_normalization(m, m->opts.normalization)) != ISO_OK)
        return rc;
    return ISO_OK;
}

/* Out-of-range values ran as some other mode without a word (fusion 7 as parallel, head_act 99 changed the
 * numbers); a token limit (0: the config's) must leave room for <cls> and <eos>. */
static int check_options(const char *path, const iso_model_options *o)
{
    int bad_enum = (unsigned)o->fusion > ISO_FUSION_PARALLEL || (unsigned)o->noncoding > ISO_NONCODING_SKIP ||
                   o->head_act < -1 || o->head_act > ISO_ACT_SILU;
    int bad_limit = o->rna_max_tokens < 0 || o->rna_max_tokens == 1 || o->protein_max_tokens < 0 ||
                    (o->protein_max_tokens > 0 && o->protein_max_tokens < 3);
    if (!bad_enum && !bad_limit)
        return ISO_OK;
    return iso_error(ISO_EINVAL, "%s: model options out of range (fusion %d, noncoding %d, head_act %d, RNA tokens %d, "
                                 "protein tokens %d)", path, (int)o->fusion, (int)o->noncoding, o->head_act,
                     o->rna_max_tokens, o->protein_max_tokens);
}

int iso_model_load(const char *path, iso_backend *be, const iso_model_options *opts, iso_model **out)
{
    *out = NULL;
    iso_model *m = calloc(1, sizeof *m);
    if (!m)
        return iso_error(ISO_ENOMEM, "out of memory loading %s", path);
    m->be = be;
    if (opts)
        m->opts = *opts;
    else
        iso_model_options_default(&m->opts);
    int rc = check_options(path, &m->opts);
    if (rc == ISO_OK)
        rc = setup(m, path);
    if (rc != ISO_OK) {
        iso_model_free(m);
        return rc;
    }
    *out = m;
    return ISO_OK;
}

void iso_model_free(iso_model *m)
{
    if (!m)
        return;
    iso_embedding_free(m, m->empty_protein);
    iso_params_free(&m->params);
    iso_enformer_free(m->dna);
    iso_esm_free(m->rna);
    iso_esm_free(m->protein);
    for (int i = 0; m->output_names && i < m->info.n_outputs; i++)
        free(m->output_names[i]);
    free(m->output_names);
    free(m->prefix_dna);
    free(m->prefix_rna);
    free(m->prefix_protein);
    free(m->prefix_fusion);
    free(m->head_names[0]);
    free(m->head_names[1]);
    free(m->norm_mean);
    free(m->norm_std);
    iso_config_free(m->cfg);
    iso_weights_close(m->w);
    free(m);
}

void iso_model_get_info(const iso_model *m, iso_model_info *info) { *info = m->info; }

int iso_model_check_window(const iso_model *m, int64_t len) { return iso_enformer_check_window(m->dna, len); }

const char *iso_model_output_name(const iso_model *m, int i)
{
    return i >= 0 && i < m->info.n_outputs ? m->output_names[i] : NULL;
}

/* An encoder of `width` channels and the cross-attention that reads it: the encoder's FLOPs are exactly
 * a T + b T^2 (iso_esm_flops), found from T = 1 and 2; the cross-attention projects the q DNA rows that predict
 * fuses (the pool window's: fixed) and the T keys and values, and attends q x T. */
static iso_encoder_cost encoder_cost(const iso_esm *e, int width, int q, int dim, int max_tokens)
{
    double f1 = iso_esm_flops(e, 1), f2 = iso_esm_flops(e, 2), sq = (f2 - 2 * f1) / 2;
    return (iso_encoder_cost){.fixed = 4.0 * q * dim * dim / 1e9,
                              .per_token = (f1 - sq + 4.0 * width * dim + 4.0 * q * dim) / 1e9,
                              .per_token_sq = sq / 1e9, .max_tokens = max_tokens};
}

void iso_model_costs(const iso_model *m, int64_t window, iso_cost_model *c)
{
    const iso_model_info *i = &m->info;
    if (window <= 0)
        window = i->dna_window;
    const int fused_rows = i->pool_end - i->pool_start;
    *c = (iso_cost_model){
        .window = iso_enformer_flops(m->dna, window) / 1e9,
        .transcript = 2.0 * (m->head.in * m->head.hidden + m->head.hidden * m->head.out) / 1e9,
        .rna = encoder_cost(m->rna, i->rna_dim, fused_rows, i->fused_dim, i->rna_max_tokens),
        .protein = encoder_cost(m->protein, i->protein_dim, fused_rows, i->fused_dim, i->protein_max_tokens)};
}

/* ---- embeddings ---- */

static int new_embedding(iso_model *m, int rows, int cols, iso_embedding **out)
{
    iso_embedding *e = calloc(1, sizeof *e);
    if (!e)
        return iso_error(ISO_ENOMEM, "out of memory");
    e->rows = rows;
    e->cols = cols;
    if (!(e->data = m->be->ops->alloc(m->be, (size_t)rows * cols * sizeof(float)))) {
        free(e);
        return iso_last_status();
    }
    *out = e;
    return ISO_OK;
}

void iso_embedding_free(iso_model *m, iso_embedding *e)
{
    if (!e)
        return;
    m->be->ops->free(m->be, e->data);
    free(e);
}

int iso_embedding_rows(const iso_embedding *e) { return e->rows; }
int iso_embedding_cols(const iso_embedding *e) { return e->cols; }

int iso_embedding_download(iso_model *m, const iso_embedding *e, float *host)
{
    int rc = m->be->ops->download(m->be, host, e->data, (size_t)e->rows * e->cols * sizeof(float));
    return rc == ISO_OK ? iso_backend_sync(m->be) : rc;
}

int iso_model_embed_dna(iso_model *m, const char *dna, int64_t len, iso_embedding **out)
{
    *out = NULL;
    int rc = new_embedding(m, m->info.dna_rows, m->info.dna_dim, out);
    if (rc == ISO_OK && (rc = iso_enformer_forward(m->dna, dna, len, (*out)->data)) != ISO_OK) {
        iso_embedding_free(m, *out);
        *out = NULL;
    }
    return rc;
}

static int embed_tokens(iso_model *m, iso_esm *enc, const int32_t *ids, int n, iso_embedding **out)
{
    *out = NULL;
    if (n <= 0) /* before n sizes the embedding */
        return iso_error(ISO_EINVAL, "encoder input has %d tokens, expected at least one", n);
    int rc = new_embedding(m, n, iso_esm_hidden(enc), out);
    if (rc == ISO_OK && (rc = iso_esm_forward(enc, ids, n, (*out)->data)) != ISO_OK) {
        iso_embedding_free(m, *out);
        *out = NULL;
    }
    return rc;
}

int iso_model_embed_rna(iso_model *m, const int32_t *ids, int n, iso_embedding **out)
{
    return embed_tokens(m, m->rna, ids, n, out);
}

int iso_model_embed_protein(iso_model *m, const int32_t *ids, int n, iso_embedding **out)
{
    return embed_tokens(m, m->protein, ids, n, out);
}

/* ---- on-disk cache ---- */

struct iso_emb_cache {
    char *dir;
    uint64_t checksum;
    char producer[32];
    int write_failed; /* warned once; no more writes */
};

int iso_emb_cache_open(const char *dir, const iso_model *m, iso_emb_cache **out)
{
    *out = NULL;
    int unwritable = mkdir(dir, 0777) != 0 && errno != EEXIST;
    if (unwritable)
        iso_warn("%s: cannot create the embedding cache directory (%s): running without the cache", dir,
                 strerror(errno));
    iso_emb_cache *c = calloc(1, sizeof *c);
    size_t n = strlen(dir) + 2;
    if (!c || !(c->dir = malloc(n))) {
        free(c);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    snprintf(c->dir, n, "%s/", dir);
    iso_out_clean_stale(c->dir); /* temporaries of runs killed while writing an entry */
    c->checksum = m->info.checksum;
    c->write_failed = unwritable;
    /* what computed the embeddings ("cpu:fp32", "cuda:bf16"): entries of one are not reused by another (a bf16
     * GPU embedding differs from the fp32 CPU one well beyond rounding) */
    snprintf(c->producer, sizeof c->producer, "%s", iso_backend_key(m->be));
    *out = c;
    return ISO_OK;
}

void iso_emb_cache_close(iso_emb_cache *c)
{
    if (c)
        free(c->dir);
    free(c);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static const char *const emb_names[] = {"dna", "rna", "protein"};

static int64_t emb_cols(const iso_model *m, iso_emb_kind kind)
{
    return kind == ISO_EMB_DNA ? m->info.dna_dim : kind == ISO_EMB_RNA ? m->info.rna_dim : m->info.protein_dim;
}

/* The entry of (model, producer, encoder, input) and what it must hold; input is n bases of DNA or n token ids. */
typedef struct {
    char path[4096];
    iso_cache_key key;
} cache_slot;

static void cache_slot_of(const iso_emb_cache *c, const iso_model *m, iso_emb_kind kind, const void *input, int64_t n,
                          cache_slot *s)
{
    size_t bytes = kind == ISO_EMB_DNA ? (size_t)n : (size_t)n * sizeof(int32_t);
    s->key = (iso_cache_key){.model = c->checksum, .kind = kind, .rows = kind == ISO_EMB_DNA ? m->info.dna_rows : (int)n,
                             .cols = (int)emb_cols(m, kind), .input = input, .input_bytes = bytes,
                             .producer = c->producer};
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, &c->checksum, sizeof c->checksum);
    h = fnv1a(h, c->producer, strlen(c->producer) + 1);
    h = fnv1a(h, emb_names[kind], strlen(emb_names[kind]) + 1);
    h = fnv1a(h, input, bytes);
    snprintf(s->path, sizeof s->path, "%s%s-%016llx.emb", c->dir, emb_names[kind], (unsigned long long)h);
}

/* Reads the slot's entry into a new embedding: 1 on a hit; 0 when absent, or unusable (with a warning saying
 * why: the entry is recomputed and replaced). */
static int cache_read(iso_model *m, const cache_slot *s, iso_embedding **out)
{
    *out = NULL;
    FILE *fp = fopen(s->path, "rb");
    if (!fp)
        return 0;
    size_t want = iso_cache_entry_bytes(&s->key), got = 0;
    unsigned char *buf = want ? malloc(want + 1) : NULL;
    if (buf)
        got = fread(buf, 1, want + 1, fp); /* one byte more: a longer file is not this entry either */
    int rc = ferror(fp) ? iso_error(ISO_EIO, "cannot read it (%s)", strerror(errno))
             : !buf     ? iso_error(ISO_ENOMEM, "out of memory")
                        : iso_cache_entry_check(buf, got, &s->key);
    fclose(fp);
    if (rc == ISO_OK) {
        rc = new_embedding(m, s->key.rows, s->key.cols, out);
        if (rc == ISO_OK)
            rc = m->be->ops->upload(m->be, (*out)->data, buf + ISO_CACHE_HEADER_BYTES, want - ISO_CACHE_HEADER_BYTES);
    }
    free(buf);
    if (rc == ISO_OK)
        return 1;
    iso_warn("%s: unusable cache entry (%s): recomputing it", s->path, iso_last_error());
    iso_embedding_free(m, *out);
    *out = NULL;
    return 0;
}

/* Stores an entry; a cache that cannot be written costs only its reuse: one warning, then no more tries. */
static void cache_write(iso_model *m, iso_emb_cache *c, const cache_slot *s, const iso_embedding *e)
{
    if (c->write_failed)
        return;
    size_t n = (size_t)e->rows * e->cols;
    float *host = malloc((n ? n : 1) * sizeof *host);
    unsigned char hdr[ISO_CACHE_HEADER_BYTES];
    iso_out *o = NULL;
    int rc = !host ? iso_error(ISO_ENOMEM, "out of memory") : iso_embedding_download(m, e, host);
    if (rc == ISO_OK && !(o = iso_out_open(s->path)))
        rc = iso_last_status();
    if (rc == ISO_OK) {
        iso_out_skip_sync(o); /* cache_read checks every entry */
        iso_cache_entry_header(&s->key, host, hdr);
        FILE *fp = iso_out_fp(o);
        if (fwrite(hdr, 1, sizeof hdr, fp) != sizeof hdr || fwrite(host, sizeof *host, n, fp) != n) {
            rc = iso_error(ISO_EIO, "%s: write failed (%s)", s->path, strerror(errno));
            iso_out_abort(o);
        } else {
            rc = iso_out_commit(o);
        }
    }
    free(host);
    if (rc != ISO_OK) {
        c->write_failed = 1;
        iso_warn("cannot store embeddings in the cache %s (%s): continuing without storing more", c->dir,
                 iso_last_error());
    }
}

int iso_model_embed_cached(iso_model *m, iso_emb_cache *c, iso_emb_kind kind, const void *input, int64_t n,
                           iso_embedding **out, int *hit)
{
    cache_slot slot;
    *hit = 0;
    *out = NULL;
    if ((unsigned)kind > ISO_EMB_PROTEIN)
        return iso_error(ISO_EINVAL, "embedding kind %d: expected ISO_EMB_DNA, ISO_EMB_RNA or ISO_EMB_PROTEIN",
                         (int)kind);
    if (n < 0 || (kind != ISO_EMB_DNA && n > INT_MAX)) /* before n sizes the cache key */
        return iso_error(ISO_EINVAL, "%s embedding of %lld %s: expected 0 to %d", emb_names[kind], (long long)n,
                         kind == ISO_EMB_DNA ? "bases" : "tokens", INT_MAX);
    if (c) {
        cache_slot_of(c, m, kind, input, n, &slot);
        if ((*hit = cache_read(m, &slot, out)))
            return ISO_OK;
    }
    int rc = kind == ISO_EMB_DNA ? iso_model_embed_dna(m, input, n, out)
             : kind == ISO_EMB_RNA ? iso_model_embed_rna(m, input, (int)n, out)
                                   : iso_model_embed_protein(m, input, (int)n, out);
    if (rc == ISO_OK && c)
        cache_write(m, c, &slot, *out);
    return rc;
}

/* One packed forward of the sequences todo[0..k) (lens[] tokens each), split into their own embeddings. */
static int embed_packed(iso_model *m, iso_esm *enc, const int32_t *const *ids, const int *todo, const int *lens,
                        int k, iso_embedding **out)
{
    iso_backend *be = m->be;
    const int d = iso_esm_hidden(enc);
    int *offsets = malloc(((size_t)k + 1) * sizeof *offsets);
    if (!offsets)
        return iso_error(ISO_ENOMEM, "out of memory");
    offsets[0] = 0;
    for (int j = 0; j < k; j++)
        offsets[j + 1] = offsets[j] + lens[j];
    int32_t *packed = malloc((size_t)offsets[k] * sizeof *packed);
    float *x = packed ? be->ops->alloc(be, (size_t)offsets[k] * d * sizeof *x) : NULL;
    int rc = !packed ? iso_error(ISO_ENOMEM, "out of memory packing %d tokens", offsets[k])
             : !x    ? iso_last_status()
                     : ISO_OK;
    for (int j = 0; j < k && rc == ISO_OK; j++)
        memcpy(packed + offsets[j], ids[todo[j]], (size_t)lens[j] * sizeof *packed);
    if (rc == ISO_OK)
        rc = iso_esm_forward_packed(enc, packed, offsets, k, x);
    for (int j = 0; j < k && rc == ISO_OK; j++) {
        iso_embedding **e = &out[todo[j]];
        rc = new_embedding(m, lens[j], d, e);
        if (rc == ISO_OK)
            rc = be->ops->copy(be, (*e)->data, x + (size_t)offsets[j] * d, (size_t)lens[j] * d * sizeof(float));
    }
    if (x)
        be->ops->free(be, x);
    free(packed);
    free(offsets);
    return rc;
}

int iso_model_embed_batch(iso_model *m, iso_emb_cache *c, iso_emb_kind kind, int count, const int32_t *const *ids,
                          const int *n, int max_tokens, iso_embedding **out, int *hit)
{
    if (kind != ISO_EMB_RNA && kind != ISO_EMB_PROTEIN)
        return iso_error(ISO_EINVAL, "batched embedding: expected the RNA or protein encoder, got kind %d", kind);
    if (count < 0)
        return iso_error(ISO_EINVAL, "batched embedding of %d sequences: expected zero or more", count);
    for (int i = 0; i < count; i++) {
        out[i] = NULL;
        if (hit)
            hit[i] = 0;
    }
    /* Inputs are checked before anything is computed, so that an error names the batch's sequence. */
    iso_esm *enc = kind == ISO_EMB_RNA ? m->rna : m->protein;
    for (int i = 0; i < count; i++) {
        if (n[i] <= 0)
            return iso_error(ISO_EINVAL, "batched %s embedding: sequence %d has %d tokens, expected at least one",
                             emb_names[kind], i, n[i]);
        if (iso_esm_check_ids(enc, ids[i], n[i]) != ISO_OK)
            return iso_error_context("batched %s embedding, sequence %d", emb_names[kind], i);
    }
    cache_slot slot;
    /* todo: the sequences to compute, in order; lens: their lengths. */
    int *todo = malloc(((size_t)count + 1) * sizeof *todo), *lens = malloc(((size_t)count + 1) * sizeof *lens);
    int n_todo = 0, rc = todo && lens ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; i < count && rc == ISO_OK; i++) {
        if (c) {
            cache_slot_of(c, m, kind, ids[i], n[i], &slot);
            if (cache_read(m, &slot, &out[i])) {
                if (hit)
                    hit[i] = 1;
                continue;
            }
        }
        todo[n_todo] = i;
        lens[n_todo++] = n[i];
    }
    const int64_t budget = max_tokens > 0 ? max_tokens : ISO_EMBED_BATCH_TOKENS;
    for (int j = 0, k; j < n_todo && rc == ISO_OK; j += k) {
        k = iso_esm_pack_count(lens + j, n_todo - j, budget);
        rc = embed_packed(m, enc, ids, todo + j, lens + j, k, out);
        for (int l = j; l < j + k && rc == ISO_OK && c; l++) {
            cache_slot_of(c, m, kind, ids[todo[l]], n[todo[l]], &slot);
            cache_write(m, c, &slot, out[todo[l]]);
        }
    }
    if (rc != ISO_OK)
        for (int i = 0; i < count; i++) {
            iso_embedding_free(m, out[i]);
            out[i] = NULL;
        }
    free(todo);
    free(lens);
    return rc;
}

/* ---- fusion, pooling, head ---- */

int iso_model_predict(iso_model *m, const iso_embedding *dna, const iso_embedding *rna,
                      const iso_embedding *protein, float *pooled, float *predictions, float *fused)
{
    iso_backend *be = m->be;
    /* the fusion reads rows x cols of each as the model shapes them: another shape overruns its buffer */
    const struct {
        const char *name;
        const iso_embedding *e;
        int rows, cols; /* rows 0: any number, at least one */
    } want[] = {{"DNA", dna, m->info.dna_rows, m->info.dna_dim},
                {"RNA", rna, 0, m->info.rna_dim},
                {"protein", protein, 0, m->info.protein_dim}};
    if (!dna)
        return iso_error(ISO_EINVAL, "no DNA embedding: expected %d x %d", m->info.dna_rows, m->info.dna_dim);
    for (int i = 0; i < 3; i++) {
        const iso_embedding *e = want[i].e;
        if (e && (e->cols != want[i].cols || (want[i].rows ? e->rows != want[i].rows : e->rows < 1)))
            return want[i].rows ? iso_error(ISO_EINVAL, "the %s embedding is %d x %d: expected %d x %d", want[i].name,
                                            e->rows, e->cols, want[i].rows, want[i].cols)
                                : iso_error(ISO_EINVAL, "the %s embedding is %d x %d: expected N x %d (N >= 1)",
                                            want[i].name, e->rows, e->cols, want[i].cols);
    }
    if (!protein && m->opts.noncoding == ISO_NONCODING_EMPTY_PROTEIN) {
        static const int32_t empty[2] = {ISO_PROT_CLS, ISO_PROT_EOS};
        int rc = m->empty_protein ? ISO_OK : iso_model_embed_protein(m, empty, 2, &m->empty_protein);
        if (rc != ISO_OK)
            return iso_error_context("the empty protein of a non-coding transcript");
        protein = m->empty_protein;
    }
    /* A query row of either cross-attention depends only on itself and the keys, so unless the whole fused matrix is
     * asked for, only the pooled rows go through the fusion (one of 896 with a window [0, 1)). */
    const int D = dna->cols, first = fused ? 0 : m->info.pool_start, R = fused ? dna->rows : m->info.pool_end - first;
    const int pool_start = m->info.pool_start - first, pool_end = m->info.pool_end - first;
    const float *e = dna->data + (size_t)first * D;
    const size_t n = (size_t)R * D;
    float *buf = be->ops->alloc(be, (2 * n + (size_t)D) * sizeof(float));
    if (!buf)
        return iso_last_status();
    float *h1 = buf, *h2 = h1 + n, *v = h2 + n;
    int rc = ISO_OK;
    if (m->opts.fusion == ISO_FUSION_SEQUENTIAL) {
        rc = rna ? iso_cross_attn_forward(be, &m->ca_rna, e, R, rna->data, rna->rows, h1)
                 : be->ops->copy(be, h1, e, n * sizeof(float));
        if (rc == ISO_OK)
            rc = protein ? iso_cross_attn_forward(be, &m->ca_protein, h1, R, protein->data, protein->rows, h2)
                         : be->ops->copy(be, h2, h1, n * sizeof(float));
    } else {
        /* h2 = CA_rna(E) + CA_protein(E) - E: each block's residual adds E once. */
        rc = rna ? iso_cross_attn_forward(be, &m->ca_rna, e, R, rna->data, rna->rows, h2)
                 : be->ops->copy(be, h2, e, n * sizeof(float));
        if (rc == ISO_OK && protein) {
            rc = iso_cross_attn_forward(be, &m->ca_protein, e, R, protein->data, protein->rows, h1);
            if (rc == ISO_OK) rc = be->ops->axpy(be, h2, h1, 1.0f, (int64_t)n);
            if (rc == ISO_OK) rc = be->ops->axpy(be, h2, e, -1.0f, (int64_t)n);
        }
    }
    if (rc == ISO_OK) rc = be->ops->mean_rows(be, h2, v, pool_start, pool_end, D);
    if (rc == ISO_OK) rc = be->ops->download(be, pooled, v, (size_t)D * sizeof(float));
    if (rc == ISO_OK && fused) rc = be->ops->download(be, fused, h2, n * sizeof(float));
    if (rc == ISO_OK) rc = iso_head_forward(be, &m->head, v, predictions);
    be->ops->free(be, buf);
    if (rc == ISO_OK && m->norm_mean)
        for (int i = 0; i < m->info.n_outputs; i++)
            predictions[i] = predictions[i] * m->norm_std[i] + m->norm_mean[i];
    return rc;
}
