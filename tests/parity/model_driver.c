/* Test driver: runs one encoder of ours on an input read from a file and writes its output as raw float32,
 * for the parity scripts to compare with the PyTorch reference.
 *   model_driver esm|nt WEIGHTS CONFIG PREFIX IDS.txt OUT.f32    (whitespace-separated token ids)
 *   model_driver enformer WEIGHTS CONFIG PREFIX DNA.txt OUT.f32  (one line of ACGTN) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/backend.h"
#include "model/enformer.h"
#include "model/esm.h"

static int32_t *read_ids(const char *path, int *n)
{
    FILE *fp = fopen(path, "r");
    int32_t *ids = NULL;
    int cap = 0, v;
    *n = 0;
    if (!fp)
        return NULL;
    while (fscanf(fp, "%d", &v) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            int32_t *t = realloc(ids, (size_t)cap * sizeof *t);
            if (!t)
                break;
            ids = t;
        }
        ids[(*n)++] = v;
    }
    fclose(fp);
    return ids;
}

static int write_f32(const char *path, const float *x, size_t n)
{
    FILE *fp = fopen(path, "wb");
    int ok = fp && fwrite(x, sizeof *x, n, fp) == n;
    if (fp)
        ok &= fclose(fp) == 0;
    return ok ? 0 : -1;
}

static int run_esm(iso_backend *be, char **argv, int nt)
{
    iso_weights *w = NULL;
    iso_config *c = NULL;
    iso_esm *m = NULL;
    iso_esm_hparams hp = nt ? iso_ntv2_250m_hparams : iso_esm2_150m_hparams;
    int T = 0, rc = 1;
    int32_t *ids = read_ids(argv[5], &T);
    float *out = NULL, *host = NULL;
    if (!ids || iso_weights_open(argv[2], &w) || iso_config_load(argv[3], &c) ||
        iso_esm_hparams_from_config(c, nt ? "nt_" : "esm_", &hp) || iso_esm_load(w, argv[4], &hp, be, &m))
        goto done;
    out = be->ops->alloc(be, (size_t)T * hp.hidden * sizeof *out);
    host = malloc((size_t)T * hp.hidden * sizeof *host);
    if (!out || !host || iso_esm_forward(m, ids, T, out) ||
        be->ops->download(be, host, out, (size_t)T * hp.hidden * sizeof *host) || iso_backend_sync(be))
        goto done;
    rc = write_f32(argv[6], host, (size_t)T * hp.hidden) ? 1 : 0;
done:
    if (rc)
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
    if (out)
        be->ops->free(be, out);
    free(host);
    free(ids);
    iso_esm_free(m);
    iso_config_free(c);
    iso_weights_close(w);
    return rc;
}

static char *read_line(const char *path, int64_t *len)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = fp ? getline(&line, &cap, fp) : -1;
    if (fp)
        fclose(fp);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    *len = n;
    return n > 0 ? line : (free(line), NULL);
}

static int run_enformer(iso_backend *be, char **argv)
{
    iso_weights *w = NULL;
    iso_config *c = NULL;
    iso_enformer *m = NULL;
    iso_enformer_hparams hp = iso_enformer_default_hparams;
    int64_t len = 0;
    int rc = 1;
    char *dna = read_line(argv[5], &len);
    float *out = NULL, *host = NULL;
    size_t n = 0;
    if (!dna || iso_weights_open(argv[2], &w) || iso_config_load(argv[3], &c) ||
        iso_enformer_hparams_from_config(c, &hp) || iso_enformer_load(w, argv[4], &hp, be, &m))
        goto done;
    n = (size_t)iso_enformer_out_rows(m) * iso_enformer_out_cols(m);
    out = be->ops->alloc(be, n * sizeof *out);
    host = malloc(n * sizeof *host);
    if (!out || !host || iso_enformer_forward(m, dna, len, out) ||
        be->ops->download(be, host, out, n * sizeof *host) || iso_backend_sync(be))
        goto done;
    rc = write_f32(argv[6], host, n) ? 1 : 0;
done:
    if (rc)
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
    if (out)
        be->ops->free(be, out);
    free(host);
    free(dna);
    iso_enformer_free(m);
    iso_config_free(c);
    iso_weights_close(w);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[1], "esm") && strcmp(argv[1], "nt") && strcmp(argv[1], "enformer"))) {
        fprintf(stderr, "usage: model_driver esm|nt|enformer WEIGHTS CONFIG PREFIX INPUT OUT.f32\n");
        return 2;
    }
    iso_backend *be = NULL;
    const char *dev = getenv("ISO_DEVICE");
    if (iso_backend_create(dev ? dev : "cpu", 0, ISO_PREC_FP32, &be)) {
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
        return 1;
    }
    int rc = !strcmp(argv[1], "enformer") ? run_enformer(be, argv) : run_esm(be, argv, !strcmp(argv[1], "nt"));
    iso_backend_destroy(be);
    return rc;
}
