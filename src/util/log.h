#ifndef VIREO_UTIL_LOG_H
#define VIREO_UTIL_LOG_H

/* One-line messages on stderr, prefixed "vireo: ". */
void vlog_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Debug lines only when VIREO_DEBUG is set in the environment. */
void vlog_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
