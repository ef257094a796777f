/* log: the process log. One line per event on stderr, logfmt or JSON,
 * written with a single write(2) so lines from threads never interleave.
 * The level and format are process-wide settings owned by this module. */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdbool.h>

typedef enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

void log_set_level(log_level l);
int log_parse_level(const char *s, log_level *out); /* 0 or -EINVAL */
void log_set_json(bool json);
/* Log to `path` (appended) instead of stderr; NULL goes back to stderr.
 * Called again after logrotate (SIGUSR1) to reopen. 0 or -errno (the old
 * destination stays). */
int log_open(const char *path);
bool log_enabled(log_level l);

/* log_event(LOG_INFO, "listening", "address", "127.0.0.1:8080", NULL):
 * key/value string pairs ending in NULL. Values may be NULL (skipped).
 * A value under the key "uri", "url" or "target" is written with the
 * secrets of its query replaced by "[redacted]" (secret_redact_uri). */
void log_event(log_level l, const char *event, ...) __attribute__((sentinel));

#endif
