/* The file decision store (ctrl/store_file.c) in one process: two stores
 * on one file stand for two replicas. Revisions, per-key merge, deletion,
 * invalid files and the last good copy, the fleet, the history. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrl/store.h"
#include "unit.h"

static char dir[] = "/tmp/sp-test-store-XXXXXX";
static char path[256];

static void write_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* A fresh store: no file, no side files. */
static void reset(void)
{
    const char *sfx[] = {"", ".last-good", ".log", ".lock", NULL};
    char p[300];
    for (int i = 0; sfx[i]; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static store *open_store(ops_state **initial)
{
    sp_config cfg;
    config_defaults(&cfg);
    free(cfg.state_file);
    cfg.state_file = strdup(path);
    store *s = NULL;
    int rc = store_open(&s, &cfg, initial);
    config_free(&cfg);
    return rc == 0 ? s : NULL;
}

typedef struct flip {
    const char *route;
    int side;
} flip;

static ops_state *do_flip(const ops_state *cur, void *arg)
{
    const flip *f = arg;
    return ops_with(cur, f->route, f->side, OPS_UNSET, -1);
}

static ops_state *refuse(const ops_state *cur, void *arg)
{
    (void)cur, (void)arg;
    errno = EINVAL;
    return NULL;
}

/* A change through s on top of *local (replaced by the result). */
static int change(store *s, ops_state **local, const char *route, int side)
{
    flip f = {route, side};
    char msg[256];
    ops_state *out = NULL;
    json_t *audit = json_pack("{s:s, s:s}", "what", "authority", "client", "unit");
    int rc = store_commit(s, *local, do_flip, &f, audit, &out, msg, sizeof msg);
    json_decref(audit);
    if (rc == 0) {
        ops_unref(*local);
        *local = out;
    }
    return rc;
}

TEST(two_stores_on_one_file_merge_per_key)
{
    reset();
    ops_state *la = NULL, *lb = NULL, *got = NULL;
    store *a = open_store(&la), *b = open_store(&lb);
    CHECK(a && b && la->revision == 0);
    CHECK(change(a, &la, "r1", SIDE_NEW) == 0 && la->revision == 1);
    /* b has not seen r1: its change still keeps it */
    CHECK(change(b, &lb, "r2", SIDE_NEW) == 0 && lb->revision == 2);
    CHECK(ops_authority(lb, "r1") == SIDE_NEW && ops_authority(lb, "r2") == SIDE_NEW);
    CHECK(store_refresh(a, la, &got) == 1 && got->revision == 2);
    CHECK(ops_authority(got, "r1") == SIDE_NEW && ops_authority(got, "r2") == SIDE_NEW);
    CHECK(!store_is_newer(a, got, got));
    /* an edit that refuses changes nothing */
    char msg[256];
    ops_state *out = NULL;
    json_t *audit = json_object();
    CHECK(store_commit(a, got, refuse, NULL, audit, &out, msg, sizeof msg) == -EINVAL);
    CHECK(out == NULL);
    json_decref(audit);
    CHECK(store_refresh(b, lb, &out) == 0 && out == NULL); /* nothing new */
    /* the history: newest first, with the revision and both sides */
    json_t *h = store_history(a, 1, msg, sizeof msg);
    CHECK(json_array_size(h) == 1);
    json_t *last = json_array_get(h, 0);
    CHECK(json_integer_value(json_object_get(last, "revision")) == 2);
    CHECK(json_object_get(json_object_get(json_object_get(last, "old"), "routes"), "r1"));
    CHECK(json_object_get(json_object_get(json_object_get(last, "new"), "routes"), "r2"));
    json_decref(h);
    /* the fleet: both registered */
    store_heartbeat(a);
    store_applied(b, 2);
    json_t *fleet = store_fleet(a);
    CHECK(json_array_size(fleet) == 1); /* one process: both stores share HOST-PID */
    CHECK(json_integer_value(json_object_get(json_array_get(fleet, 0), "revision")) == 2);
    json_decref(fleet);
    ops_unref(got);
    ops_unref(la);
    ops_unref(lb);
    store_close(a);
    store_close(b);
}

TEST(deletion_and_invalid_files_revert_nothing)
{
    reset();
    ops_state *local = NULL, *got = NULL;
    store *s = open_store(&local);
    CHECK(s && change(s, &local, NULL, SIDE_NEW) == 0);
    CHECK(unlink(path) == 0);
    store_status st;
    CHECK(store_refresh(s, local, &got) == 0 && got == NULL);
    store_get_status(s, &st);
    CHECK(st.warnings == 1 && st.up);
    CHECK(store_refresh(s, local, &got) == 0); /* reported once */
    store_get_status(s, &st);
    CHECK(st.warnings == 1);
    /* the next change rewrites the file from the decisions in force */
    CHECK(change(s, &local, "r1", SIDE_LEGACY) == 0 && local->revision == 2);
    CHECK(ops_authority(local, NULL) == SIDE_NEW);
    store_get_status(s, &st);
    CHECK(st.warnings == 2); /* the rewrite is reported too */
    /* an invalid file: refreshed as nothing new, warned */
    write_file(path, "{\"version\": 1, \"global\": {\"authority\": \"sideways\"}}");
    CHECK(store_refresh(s, local, &got) == 0 && got == NULL);
    store_get_status(s, &st);
    CHECK(st.warnings == 3);
    store_close(s);
    /* at startup: the last good copy */
    ops_state *again = NULL;
    s = open_store(&again);
    CHECK(s && again && again->revision == 2 && ops_authority(again, NULL) == SIDE_NEW);
    store_close(s);
    ops_unref(again);
    /* no good copy either: refused */
    char good[300];
    snprintf(good, sizeof good, "%s.last-good", path);
    CHECK(unlink(good) == 0);
    again = NULL;
    CHECK(open_store(&again) == NULL && again == NULL);
    ops_unref(local);
}

TEST(a_store_that_cannot_be_locked_refuses)
{
    reset();
    ops_state *local = NULL;
    store *s = open_store(&local);
    char lock[300];
    snprintf(lock, sizeof lock, "%s.lock", path);
    CHECK(mkdir(lock, 0700) == 0);
    CHECK(s && change(s, &local, NULL, SIDE_NEW) == -EAGAIN);
    store_status st;
    store_get_status(s, &st);
    CHECK(!st.up && local->revision == 0);
    CHECK(rmdir(lock) == 0);
    CHECK(change(s, &local, NULL, SIDE_NEW) == 0);
    store_get_status(s, &st);
    CHECK(st.up && st.revision == 1);
    ops_unref(local);
    store_close(s);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/state.json", dir);
    RUN(two_stores_on_one_file_merge_per_key);
    RUN(deletion_and_invalid_files_revert_nothing);
    RUN(a_store_that_cannot_be_locked_refuses);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    UNIT_DONE();
}
