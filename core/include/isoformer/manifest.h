/* Run manifests, PREFIX.run.json: what a run's outputs depend on, and every output file with its size and
 * CRC-32. predict writes one as the last file of its output set (its rename commits the set), read back from
 * disk, so a file the disk lost, a truncated copy or a file of another run shows; merge reads the shards'
 * manifests to refuse shards of different runs (models, windows, options, selections) and incomplete ones. */
#ifndef ISOFORMER_MANIFEST_H
#define ISOFORMER_MANIFEST_H

#include <stdint.h>

#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *command;   /* "predict", "merge" */
    const char *config;    /* everything the values depend on: space-separated key=value, e.g. "model=<checksum>
                              window=196608 ..." */
    const char *selection; /* the transcripts selected (--transcripts, --region), or NULL for all */
    const char *shard;     /* "i/n" for predict --shard, else NULL */
} iso_manifest_info;

/* Size and CRC-32 (zlib's) of a file as it is on disk. */
ISO_API
int iso_file_crc32(const char *path, long long *bytes, uint32_t *crc) ISO_RESULT;

/* Writes PREFIX.run.json into the calling thread's open output set (iso_out_set_begin), listing every file
 * the set holds so far: call it after the run's other outputs. */
ISO_API
int iso_manifest_write(const char *prefix, const iso_manifest_info *info) ISO_RESULT;

/* Checks the runs to merge, given by their output prefixes: each manifest must be sound and every file it
 * lists must have the size and CRC-32 it records; all must share one configuration; the shards of a sharded
 * run must share its selection and be all present, each once (unsharded runs may select different parts).
 * Without manifests for any prefix (outputs of another tool, or made by hand) a warning says nothing could be
 * checked; with manifests for only some, it is an error. *config and *selection (malloc'd, NULL when absent,
 * unchecked or not shared) are what the runs share. */
ISO_API
int iso_manifest_check_runs(char *const *prefixes, int n, char **config, char **selection) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
