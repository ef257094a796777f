#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/secret.h"

#define LOG_REDACTED "[redacted]"

/* The module's two settings; atomics because the admin API may change them
 * while workers log. */
static atomic_int log_level_now = LOG_INFO;
static atomic_bool log_as_json = false;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level l) { atomic_store(&log_level_now, (int)l); }
void log_set_json(bool json) { atomic_store(&log_as_json, json); }

int log_open(const char *path)
{
    int fd = STDERR_FILENO;
    if (path) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            return -errno;
    }
    int old = atomic_exchange(&log_fd, fd);
    /* A line being written right now may still use `old`: closing it then
     * fails that one write at worst, and a logrotate move keeps the bytes. */
    if (old != STDERR_FILENO && old != fd)
        close(old);
    return 0;
}
bool log_enabled(log_level l) { return (int)l <= atomic_load(&log_level_now); }

int log_parse_level(const char *s, log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    return -EINVAL;
}

/* Appends s to buf quoted for logfmt (when needed) or JSON. */
static size_t put_value(char *buf, size_t at, size_t size, const char *s, bool json)
{
    bool quote = json || *s == '\0' || strpbrk(s, " =\"\\\n\t") != NULL;
    if (quote && at < size)
        buf[at++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && at + 7 < size; p++) {
        if (*p == '"' || *p == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)*p;
        } else if (*p == '\n') {
            buf[at++] = '\\';
            buf[at++] = 'n';
        } else if (*p < 0x20) {
            at += (size_t)snprintf(buf + at, size - at, "\\u%04x", *p);
        } else {
            buf[at++] = (char)*p;
        }
    }
    if (quote && at < size)
        buf[at++] = '"';
    return at;
}

static size_t put_raw(char *buf, size_t at, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (at + n >= size)
        n = size - at - 1;
    memcpy(buf + at, s, n);
    return at + n;
}

/* Values under these keys are URIs: their query's secrets (base/secret.h,
 * every family on: the log has no config to exempt by) are replaced, so a
 * request-target with ?access_token= never reaches the log in clear. */
static bool is_uri_key(const char *k)
{
    return strcmp(k, "uri") == 0 || strcmp(k, "url") == 0 || strcmp(k, "target") == 0;
}

void log_event(log_level l, const char *event, ...)
{
    if (!log_enabled(l))
        return;
    char buf[4096], ts[40];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    bool json = atomic_load(&log_as_json);
    const size_t size = sizeof buf - 2;
    size_t at = 0;
    const char *fixed[] = {"ts", ts, "level", level_names[l], "event", event};
    va_list ap;
    va_start(ap, event);
    at = put_raw(buf, at, size, json ? "{" : "");
    for (int i = 0;; i++) {
        const char *k, *v;
        if (i < 3) {
            k = fixed[2 * i];
            v = fixed[2 * i + 1];
        } else {
            k = va_arg(ap, const char *);
            if (!k)
                break;
            v = va_arg(ap, const char *);
            if (!v)
                continue;
        }
        char *clean = NULL;
        if (i >= 3 && is_uri_key(k)) {
            clean = secret_redact_uri(v, strlen(v), NULL, LOG_REDACTED, NULL);
            v = clean ? clean : LOG_REDACTED; /* ENOMEM: nothing rather than a secret */
        }
        if (i > 0)
            at = put_raw(buf, at, size, json ? "," : " ");
        if (json)
            at = put_value(buf, at, size, k, true);
        else
            at = put_raw(buf, at, size, k);
        at = put_raw(buf, at, size, json ? ":" : "=");
        at = put_value(buf, at, size, v, json);
        free(clean);
    }
    va_end(ap);
    if (json)
        at = put_raw(buf, at, size, "}");
    buf[at++] = '\n';
    ssize_t w = write(atomic_load(&log_fd), buf, at);
    (void)w; /* nowhere to report a failing stderr */
}
