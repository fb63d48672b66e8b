/* Private to core/expression: the SVG report of eval (plot.c). */
#ifndef ISOFORMER_EXPRESSION_INTERNAL_H
#define ISOFORMER_EXPRESSION_INTERNAL_H

#include <stdio.h>

#include "isoformer/expression.h"

/* Draws the report of n_pairs comparisons; values(k, x, y) refills x and y (ann->n) with pair k's values. */
typedef int (*eval_values_fn)(void *ctx, int k, double *x, double *y);
int eval_svg(FILE *fp, const iso_annotation *ann, const iso_expression *pred, const iso_expression *obs,
             int log1p_obs, const iso_eval_pair *pairs, int n_pairs, eval_values_fn values, void *ctx, double *x,
             double *y);

#endif
