/* config.json of a Hugging Face model directory, read with jansson; typed lookups with errors naming the key. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "isoformer/weights.h"

struct iso_config {
    json_t *root;
    char *path;
};

/* path itself when it names a .json file, else config.json in path (a directory) or beside it (a file). */
static char *config_path(const char *path)
{
    struct stat st;
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json"))
        return strdup(path);
    char *p = malloc(n + 16);
    if (!p)
        return NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(p, n + 16, "%s/config.json", path);
    } else {
        const char *slash = strrchr(path, '/');
        int dir_len = slash ? (int)(slash - path) : 1;
        snprintf(p, n + 16, "%.*s/config.json", dir_len, slash ? path : ".");
    }
    return p;
}

int iso_config_load(const char *path, iso_config **out)
{
    *out = NULL;
    iso_config *c = calloc(1, sizeof *c);
    if (!c || !(c->path = config_path(path))) {
        free(c);
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    json_error_t err;
    c->root = json_load_file(c->path, JSON_REJECT_DUPLICATES, &err);
    if (!c->root || !json_is_object(c->root)) {
        int rc = c->root ? iso_error(ISO_EFORMAT, "%s: expected a JSON object", c->path)
                         : iso_error(strstr(err.text, "unable to open") ? ISO_ENOTFOUND : ISO_EFORMAT,
                                     "%s:%d:%d: %s", c->path, err.line, err.column, err.text);
        iso_config_free(c);
        return rc;
    }
    *out = c;
    return ISO_OK;
}

void iso_config_free(iso_config *c)
{
    if (!c)
        return;
    json_decref(c->root);
    free(c->path);
    free(c);
}

const char *iso_config_path(const iso_config *c) { return c->path; }
int iso_config_has(const iso_config *c, const char *key) { return json_object_get(c->root, key) != NULL; }

static json_t *typed(const iso_config *c, const char *key, int ok, const char *want, int *err)
{
    json_t *v = json_object_get(c->root, key);
    if (v && !ok) {
        iso_error(ISO_EFORMAT, "%s: \"%s\" must be %s", c->path, key, want);
        if (err)
            *err = ISO_EFORMAT;
        return NULL;
    }
    return v;
}

long iso_config_int(const iso_config *c, const char *key, long def, int *err)
{
    json_t *v = json_object_get(c->root, key);
    v = typed(c, key, json_is_integer(v) || json_is_null(v), "an integer", err);
    return json_is_integer(v) ? (long)json_integer_value(v) : def;
}

int iso_config_size(const iso_config *c, const char *key, int def, int *err)
{
    json_t *v = json_object_get(c->root, key);
    v = typed(c, key, json_is_integer(v) || json_is_null(v), "an integer", err);
    if (!json_is_integer(v))
        return def;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > ISO_CONFIG_MAX_SIZE) {
        iso_error(ISO_EFORMAT, "%s: \"%s\" is %lld: expected a size from 0 to %d", c->path, key, (long long)x,
                  ISO_CONFIG_MAX_SIZE);
        if (err)
            *err = ISO_EFORMAT;
        return def;
    }
    return (int)x;
}

double iso_config_num(const iso_config *c, const char *key, double def, int *err)
{
    json_t *v = json_object_get(c->root, key);
    v = typed(c, key, json_is_number(v) || json_is_null(v), "a number", err);
    return json_is_number(v) ? json_number_value(v) : def;
}

int iso_config_bool(const iso_config *c, const char *key, int def, int *err)
{
    json_t *v = json_object_get(c->root, key);
    v = typed(c, key, json_is_boolean(v) || json_is_null(v), "true or false", err);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

const char *iso_config_str(const iso_config *c, const char *key, const char *def, int *err)
{
    json_t *v = json_object_get(c->root, key);
    v = typed(c, key, json_is_string(v) || json_is_null(v), "a string", err);
    return json_is_string(v) ? json_string_value(v) : def;
}
