/* Unit tests for proxy/base/log.c: a uri (key "uri", "url" or "target")
 * is written with its query's secrets replaced, in logfmt and JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "unit.h"

/* Everything logged by fn, as text. */
static char *logged(void (*fn)(void))
{
    char path[] = "/tmp/sp-test-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(log_open(path) == 0);
    fn();
    CHECK(log_open(NULL) == 0);
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 8192);
    if (f && buf)
        buf[fread(buf, 1, 8191, f)] = '\0';
    if (f)
        fclose(f);
    unlink(path);
    return buf;
}

static void three_uris(void)
{
    log_event(LOG_WARN, "authoritative_error", "id", "r1", "uri",
              "/cb?access_token=tok-leak&state=ok", NULL);
    log_event(LOG_WARN, "x", "url", "http://h/p?password=pw-leak", "target",
              "/t?apiKey=k-leak&n=4111111111111111", "note", "access_token=kept", NULL);
}

TEST(uris_redacted_logfmt_and_json)
{
    log_set_json(false);
    char *t = logged(three_uris);
    CHECK(t && !strstr(t, "leak") && !strstr(t, "4111"));
    CHECK(t && strstr(t, "uri=\"/cb?access_token=[redacted]&state=ok\""));
    CHECK(t && strstr(t, "url=\"http://h/p?password=[redacted]\""));
    CHECK(t && strstr(t, "target=\"/t?apiKey=[redacted]&n=[redacted]\""));
    CHECK(t && strstr(t, "note=\"access_token=kept\"")); /* only uri keys */
    free(t);
    log_set_json(true);
    t = logged(three_uris);
    CHECK(t && !strstr(t, "leak"));
    CHECK(t && strstr(t, "\"uri\":\"/cb?access_token=[redacted]&state=ok\""));
    free(t);
    log_set_json(false);
}

int main(void)
{
    RUN(uris_redacted_logfmt_and_json);
    UNIT_DONE();
}
