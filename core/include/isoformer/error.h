/* Error reporting shared by every isoformer module.
 *
 * Library functions never exit(): they return ISO_OK (0) or a negative iso_status and record a message with
 * iso_error(), which names the input (file and line, tensor, ...) and what was expected. The message is kept
 * per thread until the next error; the caller reads it with iso_last_error(). */
#ifndef ISOFORMER_ERROR_H
#define ISOFORMER_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ISO_API marks the library's public functions, the only symbols its shared library exports (it is built with
 * -fvisibility=hidden), as htslib's HTSLIB_EXPORT does. */
#if defined(__GNUC__)
#define ISO_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define ISO_RESULT __attribute__((warn_unused_result))
#define ISO_API __attribute__((visibility("default")))
#else
#define ISO_PRINTF(fmt, args)
#define ISO_RESULT
#define ISO_API
#endif

typedef enum {
    ISO_OK = 0,
    ISO_EINVAL = -1,       /* bad argument or option */
    ISO_EIO = -2,          /* a read, write, rename or close failed */
    ISO_EFORMAT = -3,      /* malformed input file */
    ISO_ENOMEM = -4,       /* out of memory (host or device) */
    ISO_ENOTFOUND = -5,    /* a contig, transcript, tensor or file is missing */
    ISO_EDEVICE = -6,      /* GPU unavailable or failed */
    ISO_EINTERRUPTED = -7, /* stopped by a signal */
} iso_status;

/* Records a printf-style message for the calling thread and returns code, so callers write
 * `return iso_error(ISO_EFORMAT, "%s:%d: expected ...", path, line);`. */
ISO_API
int iso_error(iso_status code, const char *fmt, ...) ISO_PRINTF(2, 3);
ISO_API
int iso_verror(iso_status code, const char *fmt, va_list ap);
/* Prefixes the current message with more context ("while loading model: ..."), keeping the code. */
ISO_API
int iso_error_context(const char *fmt, ...) ISO_PRINTF(1, 2);
ISO_API
const char *iso_last_error(void);
ISO_API
iso_status iso_last_status(void);
ISO_API
void iso_clear_error(void);
/* Human-readable name of a status code. */
ISO_API
const char *iso_status_str(int code);

/* Diagnostics on stderr, htslib-style. Level from ISO_LOG_ERROR (quiet) to ISO_LOG_DEBUG. */
typedef enum { ISO_LOG_ERROR = 1, ISO_LOG_WARNING, ISO_LOG_INFO, ISO_LOG_DEBUG } iso_log_level;
ISO_API
void iso_set_log_level(iso_log_level level);
ISO_API
iso_log_level iso_get_log_level(void);
ISO_API
void iso_log(iso_log_level level, const char *fmt, ...) ISO_PRINTF(2, 3);
#define iso_warn(...) iso_log(ISO_LOG_WARNING, __VA_ARGS__)
#define iso_info(...) iso_log(ISO_LOG_INFO, __VA_ARGS__)
#define iso_debug(...) iso_log(ISO_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
