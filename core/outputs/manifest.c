/* Run manifests (isoformer/manifest.h), as JSON through jansson:
 *   {"isoformer_run": 1, "version": "0.1.0", "command": "predict", "config": "model=... window=...",
 *    "selection": null, "shard": "1/2", "files": [{"name": "x.predictions.tsv", "bytes": 123, "crc32": "0a1b2c3d"}]}
 * File names are relative to the manifest's directory, so a run's directory can be moved or staged whole. */
#include "isoformer/manifest.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/annotation.h"
#include "isoformer/io.h"
#include "util/checksum.h"

#define MANIFEST_VERSION 1

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int iso_file_crc32(const char *path, long long *bytes, uint32_t *crc)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return iso_error(errno == ENOENT ? ISO_ENOTFOUND : ISO_EIO, "%s: cannot open (%s)", path, strerror(errno));
    unsigned char buf[1 << 16];
    size_t got;
    *bytes = 0;
    *crc = 0;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0) {
        *crc = iso_crc32(*crc, buf, got);
        *bytes += (long long)got;
    }
    int bad = ferror(fp);
    fclose(fp);
    return bad ? iso_error(ISO_EIO, "%s: read failed", path) : ISO_OK;
}

static int list_file(const char *path, const char *tmp, void *arg)
{
    long long bytes;
    uint32_t crc;
    int rc = iso_file_crc32(tmp, &bytes, &crc);
    if (rc != ISO_OK)
        return rc;
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", (unsigned)crc);
    json_t *entry = json_pack("{s:s, s:I, s:s}", "name", base_name(path), "bytes", (json_int_t)bytes, "crc32", hex);
    return entry && !json_array_append_new(arg, entry) ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
}

static json_t *string_or_null(const char *s) { return s ? json_string(s) : json_null(); }

int iso_manifest_write(const char *prefix, const iso_manifest_info *info)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.run.json", prefix);
    json_t *files = json_array(), *root = NULL;
    int rc = files ? iso_out_set_each(list_file, files) : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK && !(root = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:O}", "isoformer_run", MANIFEST_VERSION,
                                           "version", ISOFORMER_VERSION, "command", info->command, "config",
                                           info->config, "selection", string_or_null(info->selection), "shard",
                                           string_or_null(info->shard), "files", files)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    iso_out *o = NULL;
    if (rc == ISO_OK && !text)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK && !(o = iso_out_open(path)))
        rc = iso_last_status();
    if (o && fprintf(iso_out_fp(o), "%s\n", text) < 0) {
        iso_out_abort(o);
        rc = iso_error(ISO_EIO, "%s: write failed (%s)", path, strerror(errno));
    } else if (o) {
        rc = iso_out_commit(o);
    }
    free(text);
    json_decref(root);
    json_decref(files);
    return rc;
}

/* ---- reading ---- */

typedef struct {
    json_t *root;
    const char *path, *config, *selection, *shard;
    int shard_index, n_shards; /* 0-based, as iso_shard_parse gives it */
} manifest;

static int manifest_read(const char *prefix, manifest *m, char *path, size_t size)
{
    snprintf(path, size, "%s.run.json", prefix);
    *m = (manifest){.path = path};
    json_error_t err;
    if (!(m->root = json_load_file(path, JSON_REJECT_DUPLICATES, &err)))
        return strstr(err.text, "unable to open") ? ISO_ENOTFOUND
                                                 : iso_error(ISO_EFORMAT, "%s:%d: %s", path, err.line, err.text);
    json_t *files = json_object_get(m->root, "files"), *version = json_object_get(m->root, "isoformer_run");
    json_t *config = json_object_get(m->root, "config"), *sel = json_object_get(m->root, "selection");
    json_t *shard = json_object_get(m->root, "shard");
    if (!json_is_integer(version) || json_integer_value(version) != MANIFEST_VERSION)
        return iso_error(ISO_EFORMAT, "%s: not an isoformer run manifest of version %d", path, MANIFEST_VERSION);
    if (!json_is_string(config) || !(json_is_string(sel) || json_is_null(sel)) ||
        !(json_is_string(shard) || json_is_null(shard)) || !json_is_array(files))
        return iso_error(ISO_EFORMAT, "%s: expected \"config\" (a string), \"selection\" and \"shard\" (strings or "
                                      "null) and \"files\" (an array)", path);
    m->config = json_string_value(config);
    m->selection = json_string_value(sel);
    m->shard = json_string_value(shard);
    if (m->shard && iso_shard_parse(m->shard, &m->shard_index, &m->n_shards) != ISO_OK)
        return iso_error_context("%s: \"shard\"", path);
    return ISO_OK;
}

/* Every file the manifest lists has the recorded size and CRC-32. */
static int manifest_verify(const manifest *m, const char *prefix)
{
    size_t dir_len = (size_t)(base_name(prefix) - prefix);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m->root, "files"), i, f) {
        json_t *name = json_object_get(f, "name"), *bytes = json_object_get(f, "bytes"), *crc = json_object_get(f, "crc32");
        char *end = NULL;
        unsigned long want_crc = json_is_string(crc) ? strtoul(json_string_value(crc), &end, 16) : 0;
        if (!json_is_string(name) || strchr(json_string_value(name), '/') || !json_is_integer(bytes) || !end || *end)
            return iso_error(ISO_EFORMAT, "%s: files[%zu]: expected \"name\" (a file beside it), \"bytes\" and "
                                          "\"crc32\" (8 hex digits)", m->path, i);
        char path[4096];
        snprintf(path, sizeof path, "%.*s%s", (int)dir_len, prefix, json_string_value(name));
        long long got;
        uint32_t got_crc;
        int rc = iso_file_crc32(path, &got, &got_crc);
        if (rc == ISO_ENOTFOUND)
            return iso_error(rc, "%s: missing, while %s lists it: expected every file of the run", path, m->path);
        if (rc != ISO_OK)
            return rc;
        if (got != json_integer_value(bytes))
            return iso_error(ISO_EFORMAT, "%s: %lld bytes, while %s records %lld: truncated or changed since the run "
                                          "wrote it", path, got, m->path, (long long)json_integer_value(bytes));
        if (got_crc != want_crc)
            return iso_error(ISO_EFORMAT, "%s: its content differs from what %s records (CRC-32 %08x, expected %08lx): "
                                          "changed since the run wrote it, or from another run", path, m->path,
                             (unsigned)got_crc, want_crc);
    }
    return ISO_OK;
}

/* Names the first key=value of a configuration that differs between two runs. */
static int config_differs(const char *what, const manifest *a, const manifest *b, const char *va, const char *vb)
{
    const char *p = va ? va : "", *q = vb ? vb : "";
    while (*p && *p == *q)
        p++, q++;
    while (p > (va ? va : "") && p[-1] != ' ')
        p--, q--;
    int lp = (int)strcspn(p, " "), lq = (int)strcspn(q, " ");
    return iso_error(ISO_EINVAL, "%s and %s come from different runs: their %s differs ('%.*s' vs '%.*s'); expected "
                                 "the outputs of one predict run (same model, window, options and selection)",
                     a->path, b->path, what, lp ? lp : 4, lp ? p : "none", lq ? lq : 4, lq ? q : "none");
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int iso_manifest_check_runs(char *const *prefixes, int n, char **config, char **selection)
{
    *config = *selection = NULL;
    manifest *m = calloc((size_t)(n > 0 ? n : 1), sizeof *m);
    char (*paths)[4096] = malloc((size_t)(n > 0 ? n : 1) * sizeof *paths);
    int rc = m && paths ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory"), n_found = 0, first = -1, missing = -1;
    int shared_selection = 1;
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        int r = manifest_read(prefixes[i], &m[i], paths[i], sizeof paths[i]);
        if (r == ISO_ENOTFOUND)
            missing = i;
        else if ((rc = r) == ISO_OK && (rc = manifest_verify(&m[i], prefixes[i])) == ISO_OK && first < 0)
            first = i;
        n_found += r != ISO_ENOTFOUND;
    }
    if (rc == ISO_OK && n_found && missing >= 0)
        rc = iso_error(ISO_ENOTFOUND, "%s: missing, while %s has one: expected the manifest predict writes beside "
                                      "each run's outputs", paths[missing], paths[first]);
    else if (rc == ISO_OK && !n_found)
        iso_warn("no %s.run.json beside the outputs to merge: cannot check that they come from one run and are "
                 "complete (outputs of another tool, or of an isoformer without run manifests)", prefixes[0]);
    for (int i = 0; rc == ISO_OK && n_found && i < n; i++) {
        if (!same(m[i].config, m[first].config))
            rc = config_differs("configuration", &m[first], &m[i], m[first].config, m[i].config);
        else if (!m[i].shard != !m[first].shard || (m[i].shard && m[i].n_shards != m[first].n_shards))
            rc = config_differs("sharding", &m[first], &m[i], m[first].shard, m[i].shard);
        else if (m[i].shard && !same(m[i].selection, m[first].selection)) /* unsharded runs may cover any parts */
            rc = config_differs("selection", &m[first], &m[i], m[first].selection, m[i].selection);
        else if (!same(m[i].selection, m[first].selection))
            shared_selection = 0;
        for (int j = 0; rc == ISO_OK && m[i].shard && j < i; j++)
            if (m[j].shard_index == m[i].shard_index)
                rc = iso_error(ISO_EINVAL, "%s and %s are both shard %s: expected each shard once", paths[j], paths[i],
                               m[i].shard);
    }
    for (int k = 0; rc == ISO_OK && n_found && m[first].shard && k < m[first].n_shards; k++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= m[i].shard_index == k;
        if (!found)
            rc = iso_error(ISO_ENOTFOUND, "shard %d/%d is missing: expected all %d shards of the run (%d given)",
                           k + 1, m[first].n_shards, m[first].n_shards, n);
    }
    if (rc == ISO_OK && n_found && (!(*config = strdup(m[first].config)) ||
                                    (shared_selection && m[first].selection && !(*selection = strdup(m[first].selection)))))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; m && i < n; i++)
        json_decref(m[i].root);
    free(m);
    free(paths);
    if (rc != ISO_OK) {
        free(*config);
        free(*selection);
        *config = *selection = NULL;
    }
    return rc;
}
