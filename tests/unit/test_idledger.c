/* Unit tests: the id ledger (data/idledger.c): both directions, scopes,
 * replacement, the count and age bounds, the counters, a save/load
 * round trip through a real file (a restart keeps the pairs), and pairs
 * merged from the fleet (known, stale, expired, in order by age). */
#include "data/idledger.h"
#include "unit.h"

#include <errno.h>
#include <unistd.h>

/* got (freed) is want, both NULL included. */
static bool is(char *got, const char *want)
{
    bool ok = (!got && !want) || (got && want && strcmp(got, want) == 0);
    if (!ok)
        fprintf(stderr, "  got %s, want %s\n", got ? got : "(null)", want ? want : "(null)");
    free(got);
    return ok;
}

TEST(pairs_both_ways_per_scope)
{
    idledger *l = idledger_new(10, 60000);
    CHECK(l && idledger_put(l, "order", "SO-1", "NX-9", 1000) == 0);
    CHECK(is(idledger_new_side_of(l, "order", "SO-1", 1001), "NX-9"));
    CHECK(is(idledger_legacy_side_of(l, "order", "NX-9", 1001), "SO-1"));
    CHECK(is(idledger_new_side_of(l, "invoice", "SO-1", 1001), NULL)); /* scopes never mix */
    CHECK(is(idledger_new_side_of(l, "order", "NX-9", 1001), NULL));   /* nor sides */
    /* a new pair for the same legacy id replaces the old one, both ways */
    CHECK(idledger_put(l, "order", "SO-1", "NX-10", 1002) == 0);
    CHECK(is(idledger_new_side_of(l, "order", "SO-1", 1003), "NX-10"));
    CHECK(is(idledger_legacy_side_of(l, "order", "NX-9", 1003), NULL));
    idledger_stats st = idledger_stats_of(l);
    CHECK(st.size == 1 && st.learned == 2 && st.hits == 3 && st.misses == 3);
    CHECK(idledger_put(l, "order", "", "x", 1) == -EINVAL);
    char longid[IDLEDGER_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    CHECK(idledger_put(l, "order", longid, "x", 1) == -EINVAL);
    CHECK(is(idledger_new_side_of(l, "order", longid, 1), NULL));
    idledger_free(l);
}

TEST(bounded_by_count_and_age)
{
    idledger *l = idledger_new(3, 1000);
    char a[16], b[16];
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof a, "L%d", i);
        snprintf(b, sizeof b, "N%d", i);
        CHECK(idledger_put(l, "o", a, b, 100 + i) == 0);
    }
    idledger_stats st = idledger_stats_of(l);
    CHECK(st.size == 3 && st.evicted == 2);
    CHECK(is(idledger_new_side_of(l, "o", "L1", 200), NULL)); /* the oldest went first */
    CHECK(is(idledger_new_side_of(l, "o", "L2", 200), "N2"));
    /* L2 was learned at 102: at 1103 it is older than 1000 ms */
    CHECK(is(idledger_new_side_of(l, "o", "L2", 1103), NULL));
    CHECK(is(idledger_new_side_of(l, "o", "L4", 1103), "N4"));
    st = idledger_stats_of(l);
    CHECK(st.size == 2 && st.expired == 1);
    idledger_free(l);
}

TEST(save_and_load_keep_the_pairs)
{
    char dir[] = "/tmp/sp-idledger-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/ids.json", dir);
    idledger *l = idledger_new(100, 10000);
    CHECK(idledger_load(l, path, 0, err, sizeof err) == 0); /* no file yet: empty */
    CHECK(idledger_put(l, "order", "SO-1", "NX-1", 1000) == 0);
    CHECK(idledger_put(l, "order", "SO-2", "NX-\"2\"", 5000) == 0);
    CHECK(idledger_put(l, "invoice", "IN-1", "NI-1", 6000) == 0);
    CHECK(idledger_save(l, path, err, sizeof err) == 0);
    idledger_free(l);
    /* a restart at 12000: SO-1 (learned at 1000) has expired meanwhile */
    l = idledger_new(100, 10000);
    CHECK(idledger_load(l, path, 12000, err, sizeof err) == 0);
    CHECK(idledger_stats_of(l).size == 2);
    CHECK(is(idledger_new_side_of(l, "order", "SO-1", 12000), NULL));
    CHECK(is(idledger_new_side_of(l, "order", "SO-2", 12000), "NX-\"2\""));
    CHECK(is(idledger_legacy_side_of(l, "invoice", "NI-1", 12000), "IN-1"));
    idledger_free(l);
    /* a file that is not a ledger: an error that names it */
    FILE *f = fopen(path, "w");
    fputs("{\"v\":1,\"pairs\":[[\"order\",\"a\"]]}\n", f);
    fclose(f);
    l = idledger_new(100, 10000);
    CHECK(idledger_load(l, path, 0, err, sizeof err) == -1);
    CHECK(strstr(err, "pair 0 is not [scope, legacy, new, ms]") != NULL);
    f = fopen(path, "w");
    fputs("{\"v\":1,", f);
    fclose(f);
    CHECK(idledger_load(l, path, 0, err, sizeof err) == -1 && strstr(err, path) != NULL);
    idledger_free(l);
    unlink(path);
    rmdir(dir);
}

static int count_pair(const char *scope, const char *legacy, const char *neu, int64_t ms,
                      void *arg)
{
    (void)scope, (void)legacy, (void)neu;
    int64_t *last = arg;
    CHECK(ms >= last[0]); /* oldest first */
    last[0] = ms;
    last[1]++;
    return 0;
}

TEST(merge_from_the_fleet)
{
    idledger *l = idledger_new(3, 1000);
    CHECK(l && idledger_put(l, "o", "L1", "N1", 500) == 0);
    CHECK(idledger_merge(l, "o", "L1", "N1", 500, 600) == 0);  /* the same pair: known */
    CHECK(idledger_merge(l, "o", "L1", "N0", 400, 600) == 0);  /* older than ours: stale */
    CHECK(is(idledger_new_side_of(l, "o", "L1", 600), "N1"));
    CHECK(idledger_merge(l, "o", "L2", "N2", 300, 600) == 1);  /* learned before L1: in order */
    CHECK(idledger_merge(l, "o", "L3", "N3", -500, 600) == 0); /* expired by now */
    CHECK(idledger_merge(l, "o", "L1", "N5", 550, 600) == 1);  /* newer: replaces, both ways */
    CHECK(is(idledger_legacy_side_of(l, "o", "N1", 600), NULL));
    CHECK(is(idledger_legacy_side_of(l, "o", "N5", 600), "L1"));
    CHECK(idledger_merge(l, "o", "L4", "N4", 560, 600) == 1);
    /* full (3): a pair older than all of them is not kept, nor counted */
    CHECK(idledger_merge(l, "o", "L6", "N6", 100, 600) == 0);
    CHECK(is(idledger_new_side_of(l, "o", "L2", 600), "N2"));
    idledger_stats st = idledger_stats_of(l);
    CHECK(st.size == 3 && st.received == 3 && st.evicted == 1);
    int64_t seen[2] = {0, 0};
    CHECK(idledger_foreach(l, count_pair, seen) == 0 && seen[1] == 3);
    /* the age list stays ordered: L2 (300) expires first */
    CHECK(is(idledger_new_side_of(l, "o", "L2", 1301), NULL));
    CHECK(is(idledger_new_side_of(l, "o", "L1", 1301), "N5"));
    CHECK(idledger_merge(l, "o", "", "N", 600, 600) == -EINVAL);
    idledger_free(l);
}

int main(void)
{
    RUN(pairs_both_ways_per_scope);
    RUN(bounded_by_count_and_age);
    RUN(save_and_load_keep_the_pairs);
    RUN(merge_from_the_fleet);
    UNIT_DONE();
}
