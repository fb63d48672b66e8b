/* isoformer convert: a checkpoint (.bin or .safetensors) to safetensors, or --list its tensors. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "isoformer/weights.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer convert [options] IN OUT.safetensors\n"
            "       isoformer convert --list IN\n\n"
            "Converts a PyTorch checkpoint (pytorch_model.bin as torch.save writes it) or a safetensors file to\n"
            "safetensors, for fast memory-mapped loading. IN may be a model directory. Tensors that share storage\n"
            "are written once and recorded as aliases in the metadata.\n\n"
            "Options:\n"
            "  -l, --list       print name, dtype and shape of every tensor (and the checksum), write nothing\n"
            "  -v, --verbose    list the tensors converted (name, dtype, shape) on stderr\n"
            "  -h, --help       this help\n"
            "      --version    print the version and exit\n");
}

/* One tensor as "name<TAB>dtype<TAB>[d0, d1]". */
static void print_tensor(FILE *fp, const iso_tensor_view *t)
{
    fprintf(fp, "%s\t%s\t[", t->name, iso_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++)
        fprintf(fp, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    fprintf(fp, "]\n");
}

int main_convert(int argc, char **argv)
{
    static const struct option longopts[] = {{"list", no_argument, NULL, 'l'}, {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'}, CLI_VERSION_OPTION,
                                             {NULL, 0, NULL, 0}};
    int list = 0, verbose = 0, c;
    while ((c = getopt_long(argc, argv, "lvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': list = 1; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_usage_error("convert", "unknown option");
        }
    }
    if (argc - optind != (list ? 1 : 2))
        return cli_usage_error("convert", list ? "--list takes one input" : "expected IN and OUT.safetensors");
    int rc = list ? 0 : cli_out_path("convert", "OUT", argv[optind + 1]);
    if (rc)
        return rc;
    iso_weights *w = NULL;
    if (iso_weights_open(argv[optind], &w) != ISO_OK)
        return cli_fail("convert");
    if (list || verbose)
        for (size_t i = 0; i < iso_weights_count(w); i++)
            print_tensor(list ? stdout : stderr, iso_weights_at(w, i));
    if (list)
        printf("# %zu tensors, checksum %016" PRIx64 "\n", iso_weights_count(w), iso_weights_checksum(w));
    else if (iso_weights_write_safetensors(w, argv[optind + 1]) != ISO_OK)
        rc = cli_fail("convert");
    else if (verbose)
        fprintf(stderr, "%zu tensors written to %s\n", iso_weights_count(w), argv[optind + 1]);
    iso_weights_close(w);
    return rc;
}
