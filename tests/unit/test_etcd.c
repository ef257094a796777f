/* etcd_http's pure helpers: base64 keys and values as the JSON gateway
 * wants them, range ends, gateway numbers. */
#include <stdlib.h>
#include <string.h>

#include "ctrl/etcd_http.h"
#include "unit.h"

TEST(base64_round_trip_with_every_padding)
{
    const char *texts[] = {"", "a", "ab", "abc", "abcd", "{\"version\": 1}", NULL};
    for (int i = 0; texts[i]; i++) {
        json_t *b = etcd_b64(texts[i], strlen(texts[i]));
        size_t n = 99;
        char *back = etcd_unb64(b, &n);
        CHECK(back != NULL && n == strlen(texts[i]));
        CHECK_STR(back, texts[i]);
        free(back);
        json_decref(b);
    }
    json_t *b = etcd_b64("sp/decisions", 12);
    CHECK_STR(json_string_value(b), "c3AvZGVjaXNpb25z");
    json_decref(b);
    /* binary with a NUL inside keeps its length */
    b = etcd_b64("a\0b", 3);
    size_t n;
    char *back = etcd_unb64(b, &n);
    CHECK(back && n == 3 && back[1] == '\0' && back[2] == 'b');
    free(back);
    json_decref(b);
}

TEST(base64_refuses_what_is_not)
{
    size_t n;
    json_t *bad[] = {json_string("abc"), json_string("!!!!"), json_integer(4), NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK(etcd_unb64(bad[i], &n) == NULL);
        json_decref(bad[i]);
    }
    CHECK(etcd_unb64(NULL, &n) == NULL);
}

TEST(keys_and_numbers)
{
    json_t *k = etcd_key("/sp", "replicas/");
    size_t n;
    char *s = etcd_unb64(k, &n);
    CHECK_STR(s, "/sp/replicas/");
    free(s);
    json_decref(k);
    k = etcd_range_end("/sp", "replicas/");
    s = etcd_unb64(k, &n);
    CHECK_STR(s, "/sp/replicas0"); /* '/' + 1: every key under the prefix */
    free(s);
    json_decref(k);
    json_t *v = json_string("9007199254740993");
    CHECK(etcd_int(v) == 9007199254740993LL); /* past a double's precision */
    json_decref(v);
    v = json_integer(12);
    CHECK(etcd_int(v) == 12 && etcd_int(NULL) == 0);
    json_decref(v);
}

int main(void)
{
    RUN(base64_round_trip_with_every_padding);
    RUN(base64_refuses_what_is_not);
    RUN(keys_and_numbers);
    UNIT_DONE();
}
