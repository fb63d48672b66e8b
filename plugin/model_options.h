/* The options predict and variants share: how the model runs (fusion, pooling, head, token limits, outputs'
 * normalization, non-coding transcripts) and the GEMM precision, with one usage text. */
#ifndef ISOFORMER_PLUGIN_MODEL_OPTIONS_H
#define ISOFORMER_PLUGIN_MODEL_OPTIONS_H

#include <getopt.h>

#include "isoformer/model.h"

enum { CLI_OPT_FUSION = 0x1100, CLI_OPT_POOL, CLI_OPT_HEAD_ACT, CLI_OPT_RNA_MAX, CLI_OPT_PROT_MAX, CLI_OPT_NORM,
       CLI_OPT_NONCODING, CLI_OPT_PRECISION };

#define CLI_MODEL_OPTIONS                                                                                           \
    {"fusion", required_argument, NULL, CLI_OPT_FUSION}, {"pool-window", required_argument, NULL, CLI_OPT_POOL},    \
        {"head-activation", required_argument, NULL, CLI_OPT_HEAD_ACT},                                             \
        {"rna-max-tokens", required_argument, NULL, CLI_OPT_RNA_MAX},                                               \
        {"protein-max-tokens", required_argument, NULL, CLI_OPT_PROT_MAX},                                          \
        {"normalization", required_argument, NULL, CLI_OPT_NORM},                                                   \
        {"noncoding", required_argument, NULL, CLI_OPT_NONCODING},                                                  \
        {"precision", required_argument, NULL, CLI_OPT_PRECISION}

#define CLI_MODEL_OPTIONS_HELP                                                                                      \
    "      --fusion MODE         sequential (default) or parallel cross-attention\n"                                \
    "      --pool-window A:B     fused positions averaged before the head\n"                                        \
    "      --head-activation A   silu (default), gelu, relu or none\n"                                              \
    "      --rna-max-tokens N    NT-v2 tokens kept, <cls> included (default 2048)\n"                                \
    "      --protein-max-tokens N ESM-2 tokens kept, <cls>/<eos> included (default 1026)\n"                         \
    "      --normalization FILE  per-tissue 'tissue mean std' to undo z-scoring of the outputs\n"                    \
    "      --noncoding M         transcripts without a CDS: empty-protein (default, as the published\n"              \
    "                            model: <cls><eos> through ESM-2 and the protein cross-attention) or skip\n"         \
    "                            (no protein block: the fused embedding is the RNA block's)\n"

#define CLI_PRECISION_HELP                                                                                          \
    "      --precision P         GEMM precision: fp32 (default on CPU), bf16 (default on GPU; on CPU needs\n"        \
    "                            AVX512-BF16 or AMX and oneDNN) or tf32 (GPU only)\n"

/* Option c of CLI_MODEL_OPTIONS with its argument, into m and *precision (an iso_precision): 0, 2 after a usage
 * error (printed), -1 when c is not one of them. */
int cli_model_option(const char *cmd, int c, const char *arg, iso_model_options *m, int *precision);

#endif
