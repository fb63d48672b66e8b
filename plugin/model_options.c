/* The model and precision options of predict and variants. */
#include "model_options.h"

#include <stdio.h>

#include "cli.h"

int cli_model_option(const char *cmd, int c, const char *arg, iso_model_options *m, int *precision)
{
    static const char *const fusions[] = {"sequential", "parallel"}, *const acts[] = {"silu", "gelu", "relu", "none"},
                             *const noncoding[] = {"empty-protein", "skip"}, *const precisions[] = {"fp32", "tf32",
                                                                                                      "bf16"};
    static const iso_fusion_mode fusion_ids[] = {ISO_FUSION_SEQUENTIAL, ISO_FUSION_PARALLEL};
    static const iso_act act_ids[] = {ISO_ACT_SILU, ISO_ACT_GELU_ERF, ISO_ACT_RELU, ISO_ACT_NONE};
    static const iso_noncoding_mode noncoding_ids[] = {ISO_NONCODING_EMPTY_PROTEIN, ISO_NONCODING_SKIP};
    static const iso_precision precision_ids[] = {ISO_PREC_FP32, ISO_PREC_TF32, ISO_PREC_BF16};
    int i = 0, a, b, bad;
    switch (c) {
    case CLI_OPT_FUSION:
        if (!(bad = cli_parse_choice(cmd, "--fusion", arg, fusions, 2, &i)))
            m->fusion = fusion_ids[i];
        return bad;
    case CLI_OPT_HEAD_ACT:
        if (!(bad = cli_parse_choice(cmd, "--head-activation", arg, acts, 4, &i)))
            m->head_act = (int)act_ids[i];
        return bad;
    case CLI_OPT_NONCODING:
        if (!(bad = cli_parse_choice(cmd, "--noncoding", arg, noncoding, 2, &i)))
            m->noncoding = noncoding_ids[i];
        return bad;
    case CLI_OPT_PRECISION:
        if (!(bad = cli_parse_choice(cmd, "--precision", arg, precisions, 3, &i)))
            *precision = (int)precision_ids[i];
        return bad;
    case CLI_OPT_RNA_MAX: return cli_parse_int(cmd, "--rna-max-tokens", arg, 2, 1 << 20, &m->rna_max_tokens);
    case CLI_OPT_PROT_MAX: return cli_parse_int(cmd, "--protein-max-tokens", arg, 3, 1 << 20, &m->protein_max_tokens);
    case CLI_OPT_NORM: m->normalization = arg; return 0;
    case CLI_OPT_POOL:
        if (sscanf(arg, "%d:%d", &a, &b) != 2 || a < 0 || b <= a)
            return cli_usage_error(cmd, "--pool-window: expected START:END with 0 <= START < END, got '%s'", arg);
        m->pool_start = a, m->pool_end = b;
        return 0;
    default: return -1;
    }
}
