/* Fuzzes config.json reading and typed lookups. */
#include "fuzz_common.h"
#include "isoformer/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_write_temp(data, size, ".json");
    if (!path)
        return 0;
    iso_config *c = NULL;
    if (iso_config_load(path, &c) == ISO_OK) {
        int err = 0;
        (void)iso_config_int(c, "enformer_dim", 1536, &err);
        (void)iso_config_size(c, "dna_window", 196608, &err);
        (void)iso_config_num(c, "esm_layer_norm_eps", 1e-12, &err);
        (void)iso_config_bool(c, "esm_token_dropout", 1, &err);
        (void)iso_config_str(c, "model_type", "isoformer", &err);
        iso_config_free(c);
    }
    fuzz_remove_temp(path);
    return 0;
}
