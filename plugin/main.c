/* isoformer: one binary, one subcommand per step of the workflow (as bwa and samtools do). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "isoformer/backend.h"
#include "isoformer/error.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"extract", main_extract, "per-transcript DNA window, spliced RNA and protein sequences"},
    {"predict", main_predict, "expression of each transcript in each tissue (TSV, BED12, bigWig)"},
    {"quant", main_quant, "transcript abundance (counts, TPM) from a BAM/CRAM, salmon-style output"},
    {"eval", main_eval, "predicted vs observed expression: Spearman, Pearson, R^2, isoform fractions, plot"},
    {"fit", main_fit, "fit a new expression head to your samples on frozen embeddings (ridge, gene-grouped CV)"},
    {"convert", main_convert, "checkpoint (.bin) to safetensors, or list its tensors"},
    {"merge", main_merge, "gather the outputs of 'predict --shard i/n' runs into one set"},
    {"variants", main_variants, "effect of each variant of a VCF on each isoform in each tissue (VCF, TSV, plot)"},
};

static void usage(FILE *fp)
{
    fprintf(fp,
            "isoformer %s: transcript isoform expression from DNA, RNA and protein (IsoFormer)\n\n"
            "Usage: isoformer <command> [options]\n\nCommands:\n",
            ISOFORMER_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\nRun 'isoformer <command> --help' for a command's options.\n");
}

/* What a command printed on standard output (help, --version, convert --list) must have reached it: a full disk
 * or closed pipe otherwise passes for success. */
static int flushed(int rc)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    fprintf(stderr, "isoformer: cannot write to standard output: %s\n", strerror(errno ? errno : EIO));
    return rc ? rc : 1;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        return cli_version();
    }
    if (iso_backend_cpu_blas_reexec(argv) != ISO_OK)
        fprintf(stderr, "isoformer: warning: %s\n", iso_last_error());
    cli_install_signal_handlers();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = commands[i].run(argc - 1, argv + 1);
            cli_unlock_out(); /* the --out prefix's, taken by cli_out_path */
            cli_finish_interrupted();
            return rc;
        }
    fprintf(stderr, "isoformer: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    int rc = flushed(run(argc, argv));
    if (rc)
        cli_remove_created_dirs();
    return rc;
}
