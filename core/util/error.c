#include "isoformer/error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[2048];
static _Thread_local iso_status last_code = ISO_OK;
static iso_log_level log_level = ISO_LOG_WARNING;

int iso_verror(iso_status code, const char *fmt, va_list ap)
{
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    last_code = code;
    return code;
}

int iso_error(iso_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    iso_verror(code, fmt, ap);
    va_end(ap);
    return code;
}

int iso_error_context(const char *fmt, ...)
{
    char prefix[1024], old[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_message, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_message - 3)
        n = sizeof last_message - 3;
    memcpy(last_message, prefix, n);
    memcpy(last_message + n, ": ", 2);
    size_t room = sizeof last_message - n - 3;
    size_t m = strnlen(old, room);
    memcpy(last_message + n + 2, old, m);
    last_message[n + 2 + m] = '\0';
    return last_code;
}

const char *iso_last_error(void) { return last_message[0] ? last_message : "no error recorded"; }
iso_status iso_last_status(void) { return last_code; }

void iso_clear_error(void)
{
    last_message[0] = '\0';
    last_code = ISO_OK;
}

const char *iso_status_str(int code)
{
    switch (code) {
    case ISO_OK: return "ok";
    case ISO_EINVAL: return "invalid argument";
    case ISO_EIO: return "I/O error";
    case ISO_EFORMAT: return "malformed input";
    case ISO_ENOMEM: return "out of memory";
    case ISO_ENOTFOUND: return "not found";
    case ISO_EDEVICE: return "device error";
    case ISO_EINTERRUPTED: return "interrupted";
    default: return "unknown error";
    }
}

void iso_set_log_level(iso_log_level level) { log_level = level; }
iso_log_level iso_get_log_level(void) { return log_level; }

void iso_log(iso_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"", "error", "warning", "info", "debug"};
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[isoformer %s] ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
