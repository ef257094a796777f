/* Unit tests: base/json_arena, jansson's values of one comparison from a
 * bump allocator (the comparers' scopes, analyze_job.c). */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/json_arena.h"
#include "diff/body.h"
#include "diff/compare.h"
#include "unit.h"

enum { KEEP = 256 * 1024 };

static json_t *order(int lines, int shift)
{
    json_t *o = json_pack("{s:s, s:i, s:[]}", "id", "A-1", "total", 100 + shift, "lines");
    for (int i = 0; o && i < lines; i++)
        json_array_append_new(json_object_get(o, "lines"),
                              json_pack("{s:s, s:i, s:f}", "sku", "SKU", "qty", i, "price", 1.5 + i));
    return o;
}

TEST(values_of_a_scope_come_from_the_arena_and_go_back_at_its_end)
{
    json_arena *a = json_arena_new(KEEP);
    CHECK(a && json_arena_held(a) == 0);
    json_arena_begin(a);
    json_t *o = order(200, 0);
    size_t inside = json_arena_held(a);
    CHECK(o && inside > 0);
    json_decref(o);
    json_arena_end(a);
    size_t kept = json_arena_held(a);
    CHECK(kept >= inside && kept <= KEEP); /* one chunk, what the scope used */
    /* the next scope reuses it: no more memory for the same work */
    json_arena_begin(a);
    o = order(200, 0);
    CHECK(json_arena_held(a) == kept);
    json_decref(o);
    json_arena_end(a);
    json_arena_free(a);
}

TEST(a_large_document_gets_chunks_that_the_end_gives_back)
{
    json_arena *a = json_arena_new(KEEP);
    json_arena_begin(a);
    json_t *o = order(20000, 0); /* several MB of values */
    CHECK(o && json_arena_held(a) > KEEP);
    json_t *s = json_string(""); /* a long string is malloc'd, freed by free */
    char *big = malloc(100000);
    CHECK(s && big);
    memset(big, 'x', 99999);
    big[99999] = '\0';
    CHECK(json_string_set(s, big) == 0);
    free(big);
    json_decref(s);
    json_decref(o);
    json_arena_end(a);
    CHECK(json_arena_held(a) <= KEEP);
    json_arena_free(a);
}

/* Dropped without the walk, a tree leaves nothing behind: its large values
 * had chunks of their own (ASan's leak check would see a malloc'd one). */
TEST(a_dropped_tree_with_large_values_leaves_nothing)
{
    json_arena *a = json_arena_new(KEEP);
    char *big = malloc(40000);
    CHECK(big != NULL);
    memset(big, 'y', 39999);
    big[39999] = '\0';
    json_arena_begin(a);
    json_t *o = order(10, 0), *arr = json_array();
    for (int i = 0; i < 3000; i++) /* a table over the large-value size */
        json_array_append_new(arr, json_integer(i));
    json_object_set_new(o, "big", json_string(big));
    json_object_set_new(o, "many", arr);
    size_t held = json_arena_held(a);
    CHECK(held >= 40000 + 3000 * sizeof(json_t *));
    json_arena_drop(a, o);
    json_arena_end(a);
    CHECK(json_arena_held(a) <= KEEP);
    json_arena_begin(a); /* the kept chunk serves the same work again */
    o = json_string(big);
    CHECK(o && strlen(json_string_value(o)) == 39999);
    json_arena_drop(a, o);
    json_arena_end(a);
    json_arena_free(a);
    free(big);
}

TEST(an_export_outlives_the_scope_and_outside_values_are_untouched)
{
    json_t *outside = json_pack("{s:i}", "kept", 1);
    json_t *freed_inside = json_pack("{s:s}", "a", "b");
    json_arena *a = json_arena_new(KEEP);
    json_arena_begin(a);
    json_t *o = order(50, 7);
    json_t *copy = json_arena_export(a, o);
    json_t *ref = json_object_get(outside, "kept"); /* read, no allocation */
    CHECK(json_integer_value(ref) == 1);
    json_decref(freed_inside); /* allocated by malloc: free() takes it */
    json_t *same = order(50, 7);
    CHECK(copy && json_equal(copy, same));
    json_decref(same);
    json_decref(o);
    json_arena_end(a);
    /* after the end: the copy is whole and can change and be freed */
    json_t *again = order(50, 7);
    CHECK(copy && json_equal(copy, again));
    CHECK(json_object_set_new(copy, "more", json_string("text")) == 0);
    json_decref(again);
    json_decref(copy);
    json_decref(outside);
    json_arena_free(a);
}

TEST(no_arena_is_no_scope)
{
    json_arena_begin(NULL);
    json_t *o = order(3, 0);
    json_t *e = json_arena_export(NULL, o);
    CHECK(e == o); /* the same value, one more reference */
    json_decref(e);
    json_decref(o);
    json_arena_end(NULL);
    CHECK(json_arena_held(NULL) == 0);
}

static void *other_thread(void *arg)
{
    json_t **out = arg;
    *out = order(100, 1); /* during the main thread's scope: malloc's */
    return NULL;
}

TEST(another_threads_values_are_not_the_scopes)
{
    json_arena *a = json_arena_new(KEEP);
    json_t *theirs = NULL;
    pthread_t t;
    json_arena_begin(a);
    size_t held = json_arena_held(a);
    CHECK(pthread_create(&t, NULL, other_thread, &theirs) == 0);
    pthread_join(t, NULL);
    CHECK(theirs && json_arena_held(a) == held);
    json_arena_end(a);
    json_decref(theirs); /* after the end, on this thread: malloc'd memory */
    json_arena_free(a);
}

/* The comparison a comparer does in its arena finds what it finds without. */
static json_t *compare_docs(json_arena *a, const char *l, const char *n, size_t *found)
{
    body_view lb = {0}, nb = {0};
    json_arena_begin(a);
    body_prepare(&lb, (const unsigned char *)l, strlen(l), true, strlen(l), "",
                 "application/json", NULL, 1 << 20);
    body_prepare(&nb, (const unsigned char *)n, strlen(n), true, strlen(n), "",
                 "application/json", NULL, 1 << 20);
    json_t *here = json_array();
    compare_opts o = {.max_differences = 100, .arena = a};
    *found = compare_bodies_consume(&lb, &nb, here, &o);
    json_t *out = json_arena_export(a, here);
    json_arena_drop(a, here);
    json_arena_end(a);
    return out;
}

TEST(a_comparison_in_the_arena_finds_the_same)
{
    json_t *l = order(40, 0), *n = order(40, 3);
    json_array_remove(json_object_get(n, "lines"), 5);
    json_object_set_new(json_array_get(json_object_get(n, "lines"), 9), "price", json_string("x"));
    char *ls = json_dumps(l, JSON_COMPACT), *ns = json_dumps(n, JSON_INDENT(2));
    json_arena *a = json_arena_new(KEEP);
    size_t fa = 0, fm = 0;
    json_t *in_arena = compare_docs(a, ls, ns, &fa);
    json_t *with_malloc = compare_docs(NULL, ls, ns, &fm);
    CHECK(fa == fm && fa > 2);
    CHECK(in_arena && with_malloc && json_equal(in_arena, with_malloc));
    json_decref(in_arena);
    json_decref(with_malloc);
    json_arena_free(a);
    free(ls);
    free(ns);
    json_decref(l);
    json_decref(n);
}

/* A value of a closed scope freed later is the rule broken: it must stop
 * the process (an assert; the ASan build reports the poisoned memory
 * first), not corrupt it. */
TEST(freeing_a_value_after_its_scope_stops_the_process)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(0);
        json_arena *a = json_arena_new(KEEP);
        json_arena_begin(a);
        json_t *leaked = json_integer(42);
        json_arena_end(a);
        json_decref(leaked); /* wrong on purpose */
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

#ifdef SP_DEBUG
/* A tree that holds an outside value cannot be dropped: that value's count
 * would never come down (the debug builds check it). */
TEST(dropping_a_tree_that_holds_an_outside_value_stops_the_process)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(0);
        json_t *outside = json_string("rule value");
        json_arena *a = json_arena_new(KEEP);
        json_arena_begin(a);
        json_t *tree = json_object();
        json_object_set(tree, "k", outside); /* wrong on purpose */
        json_arena_drop(a, tree);
        json_arena_end(a);
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}
#endif

int main(void)
{
    json_arena_install();
    RUN(values_of_a_scope_come_from_the_arena_and_go_back_at_its_end);
    RUN(a_large_document_gets_chunks_that_the_end_gives_back);
    RUN(a_dropped_tree_with_large_values_leaves_nothing);
    RUN(an_export_outlives_the_scope_and_outside_values_are_untouched);
    RUN(no_arena_is_no_scope);
    RUN(another_threads_values_are_not_the_scopes);
    RUN(a_comparison_in_the_arena_finds_the_same);
    RUN(freeing_a_value_after_its_scope_stops_the_process);
#ifdef SP_DEBUG
    RUN(dropping_a_tree_that_holds_an_outside_value_stops_the_process);
#endif
    UNIT_DONE();
}
