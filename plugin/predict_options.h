/* isoformer predict's command line: the usage text and the options, parsed into the predictor's options and
 * the command's own (inputs, selection, outputs). */
#ifndef ISOFORMER_PLUGIN_PREDICT_OPTIONS_H
#define ISOFORMER_PLUGIN_PREDICT_OPTIONS_H

#include "isoformer/predict.h"
#include "select.h"

typedef struct {
    const char *model, *fasta, *gtf, *alias, *out, *head, *observed;
    cli_selection sel;
    iso_predict_opts pred;
    int embeddings, verbose, bigwig_bin, resume;
} predict_options;

/* -1 when the command should run; else the exit status (0 after --help, 2 after a usage error, printed). */
int predict_parse_options(int argc, char **argv, predict_options *o);

#endif
