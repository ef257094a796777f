/* shadow_gate (admission, cap, breaker, throttle, release) and reqid. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/reqid.h"
#include "conf/config.h"
#include "conf/rules.h"
#include "data/shadow_gate.h"
#include "unit.h"

static sp_config cfg;
static shadow_gate g;    /* each test's, made by gate() */
static const char *why; /* the last refusal */
static int released_closed;
static shadow_ticket tickets[8]; /* one per admission in a test */
static size_t nticket;

/* Admits a fresh ticket: it, or NULL when refused (why says why). */
static shadow_ticket *admit(void)
{
    shadow_ticket *t = &tickets[nticket++ % 8];
    *t = (shadow_ticket){.id = "x", .slot = -1};
    return shadow_gate_admit(&g, t, &why) ? t : NULL;
}

static void on_release_closed(void *ctx)
{
    CHECK(ctx == &cfg);
    released_closed++;
}

static void gate(int workers, int max_in_flight, int failures, int open_ms)
{
    cfg.workers = workers;
    cfg.shadow_max_in_flight = max_in_flight;
    cfg.breaker_failures = failures;
    cfg.breaker_open_ms = open_ms;
    shadow_gate_init(&g, 0, &cfg, on_release_closed, &cfg);
    why = NULL;
    nticket = 0;
}

TEST(cap_is_split_over_workers_and_released)
{
    gate(2, 3, 5, 1000); /* ceil(3 / 2) = 2 per worker */
    CHECK(g.cap == 2);
    shadow_ticket *a = admit();
    CHECK(a && admit());
    CHECK(!admit());
    CHECK_STR(why, "shadow in-flight cap reached");
    shadow_gate_release(&g, a, true);
    CHECK(!a->admitted);
    CHECK(admit());
    CHECK(g.in_flight == 2);
    shadow_gate_free(&g);
}

TEST(breaker_opens_probes_and_closes)
{
    gate(1, 100, 2, 60000);
    for (int i = 0; i < 2; i++) {
        shadow_ticket *t = admit();
        CHECK(t);
        if (t)
            shadow_gate_release(&g, t, false);
    }
    CHECK(shadow_gate_breaker_state(&g) == 1);
    CHECK(!admit());
    CHECK_STR(why, "circuit breaker open");
    g.breaker_open_until_ns = 1; /* the open period is over: half-open */
    shadow_ticket *probe = admit();
    CHECK(probe);
    CHECK(shadow_gate_breaker_state(&g) == 2);
    CHECK(!admit()); /* one probe at a time */
    shadow_gate_release(&g, probe, false); /* probe failed: open again */
    CHECK(shadow_gate_breaker_state(&g) == 1);
    g.breaker_open_until_ns = 1;
    probe = admit();
    CHECK(probe);
    shadow_gate_release(&g, probe, true); /* probe answered: closed */
    CHECK(shadow_gate_breaker_state(&g) == 0);
    CHECK(g.in_flight == 0);
    shadow_gate_free(&g);
}

TEST(closed_gate_refuses_and_reports_releases)
{
    gate(1, 10, 5, 1000);
    released_closed = 0;
    shadow_gate_release(&g, admit(), true);
    CHECK(released_closed == 0);
    shadow_ticket *t = admit();
    shadow_gate_close(&g);
    CHECK(!admit());
    CHECK_STR(why, "draining");
    shadow_gate_release(&g, t, true);
    CHECK(released_closed == 1);
    shadow_gate_free(&g);
}

TEST(tracking_and_throttle)
{
    gate(1, 10, 5, 1000);
    shadow_ticket *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = admit();
        CHECK(t[i]);
        if (!t[i])
            return;
        t[i]->easy = curl_easy_init(); /* never started: pausing it is a no-op */
    }
    shadow_gate_track(&g, t[0]);
    shadow_gate_track(&g, t[1]);
    CHECK(shadow_gate_last(&g) == t[1]);
    /* The turn's budget (256 KiB) is taken: tracked legs pause, an
     * untracked one (it could not be found to resume) never does. */
    CHECK(!shadow_gate_throttle(&g, t[0], 256 * 1024));
    CHECK(shadow_gate_throttle(&g, t[0], 1));
    CHECK(t[0]->paused);
    CHECK(!shadow_gate_throttle(&g, t[2], 1));
    shadow_gate_new_turn(&g); /* a fresh budget; t[0] resumed */
    CHECK(!t[0]->paused);
    CHECK(!shadow_gate_throttle(&g, t[1], 1000));
    /* Release unlists: the last one moves into the freed slot. */
    CURL *easy[3] = {t[0]->easy, t[1]->easy, t[2]->easy};
    shadow_gate_release(&g, t[0], true);
    CHECK(t[0]->slot == -1 && t[1]->slot == 0);
    CHECK(shadow_gate_last(&g) == t[1]);
    shadow_gate_release(&g, t[1], true);
    shadow_gate_release(&g, t[2], true);
    CHECK(shadow_gate_last(&g) == NULL);
    CHECK(g.in_flight == 0);
    for (int i = 0; i < 3; i++)
        curl_easy_cleanup(easy[i]);
    shadow_gate_free(&g);
}

/* Runs fn in a child process: true when it died of an assertion. */
static bool aborts(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr); /* the assertion message is expected */
        fn();
        _exit(0);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void release_twice(void)
{
    gate(1, 10, 5, 1000);
    shadow_ticket *t = admit();
    shadow_gate_release(&g, t, true);
    shadow_gate_release(&g, t, true);
}

static void admit_twice(void)
{
    gate(1, 10, 5, 1000);
    shadow_ticket *t = admit();
    shadow_gate_admit(&g, t, &why);
}

TEST(a_shadow_is_admitted_and_released_once)
{
    CHECK(aborts(release_twice));
    CHECK(aborts(admit_twice));
}

/* Admission makes the room to list the leg (a leg the gate could not list
 * could not be cut short at shutdown), so listing never fails. */
TEST(admission_makes_room_to_list_every_leg)
{
    gate(1, 300, 1000, 1000);
    static shadow_ticket many[300];
    int dummy;
    for (int i = 0; i < 300; i++) {
        many[i] = (shadow_ticket){.id = "x", .slot = -1};
        CHECK(shadow_gate_admit(&g, &many[i], &why));
        CHECK(g.tracked_cap >= (size_t)g.in_flight);
        many[i].h1 = (struct h1_xfer *)&dummy; /* a running transfer, as the gate sees it */
        shadow_gate_track(&g, &many[i]);
        CHECK(many[i].slot == i);
    }
    CHECK(g.ntracked == 300 && !admit() && strcmp(why, "shadow in-flight cap reached") == 0);
    for (int i = 0; i < 300; i++)
        shadow_gate_release(&g, &many[i], true);
    CHECK(g.ntracked == 0 && g.in_flight == 0);
    shadow_gate_free(&g);
}

/* Mirroring yields to a saturated worker: halved each saturated window
 * down to the floor, 0.1 back each calm window; one request at a time
 * (nothing queues) is never saturation, once seen twice in a row. */
TEST(mirroring_yields_while_requests_queue)
{
    gate(1, 100, 5, 1000);
    cfg.shadow_busy_min_percent = 1;
    CHECK(g.busy_share == 1.0);
    shadow_gate_note_busy(&g, 0.99, 1); /* busy, but one client back to back */
    CHECK(g.busy_share == 1.0);
    shadow_gate_note_busy(&g, 0.95, 8);
    CHECK(g.busy_share == 0.5);
    shadow_gate_note_busy(&g, 0.85, 8); /* between the thresholds: held */
    CHECK(g.busy_share == 0.5);
    for (int i = 0; i < 20; i++)
        shadow_gate_note_busy(&g, 1.0, 32);
    CHECK(g.busy_share == 0.01);
    int mirrored = 0;
    char id[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "req-%d", i);
        mirrored += shadow_gate_busy_admits(&g, id);
    }
    CHECK(mirrored > 50 && mirrored < 150); /* about 1%, chosen by id */
    CHECK(shadow_gate_busy_admits(&g, "req-1") == rules_sampled_at(1.0, "req-1"));
    shadow_gate_note_busy(&g, 0.5, 32);
    CHECK(g.busy_share > 0.10 && g.busy_share < 0.12);
    /* A saturated worker that happened to have answered everyone at the
     * end of a window: one such reading gives nothing back. */
    shadow_gate_note_busy(&g, 1.0, 32);
    CHECK(g.busy_share > 0.05 && g.busy_share < 0.06);
    shadow_gate_note_busy(&g, 1.0, 0);
    CHECK(g.busy_share > 0.05 && g.busy_share < 0.06);
    shadow_gate_note_busy(&g, 1.0, 32);
    shadow_gate_note_busy(&g, 1.0, 1);
    CHECK(g.busy_share > 0.02 && g.busy_share < 0.03);
    /* Two in a row: one client back to back, the share comes back. */
    shadow_gate_note_busy(&g, 0.95, 1);
    CHECK(g.busy_share > 0.12 && g.busy_share < 0.13);
    for (int i = 0; i < 20; i++)
        shadow_gate_note_busy(&g, 0.95, 1);
    CHECK(g.busy_share == 1.0);
    cfg.shadow_busy_min_percent = 100; /* never yields */
    shadow_gate_note_busy(&g, 1.0, 32);
    CHECK(g.busy_share == 1.0 && shadow_gate_busy_admits(&g, "any"));
    shadow_gate_free(&g);
}

TEST(reqid_is_a_v4_uuid_and_unique)
{
    reqid_gen gen;
    reqid_seed(&gen, 3);
    char a[64], b[64];
    reqid_new(&gen, a, sizeof a);
    reqid_new(&gen, b, sizeof b);
    CHECK(strlen(a) == 36);
    CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    CHECK(a[14] == '4');
    CHECK(strchr("89ab", a[19]) != NULL);
    CHECK(strcmp(a, b) != 0);
    CHECK(reqid_valid(a));
}

TEST(reqid_valid_rejects_what_cannot_go_into_headers_or_json)
{
    static const char *const refused[] = {"",    "a b",  "a\"b", "a\\b", "caf\xc3\xa9", "a\tb",
                                          "<b>", "a'b",  "a;b",  "a&b",  "a,b",          "a%41"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        CHECK(!reqid_valid(refused[i]));
    CHECK(reqid_valid("abc-123"));
    CHECK(reqid_valid("Root=1-5759e988:a_b.c+d/e"));
    char long_id[62];
    memset(long_id, 'x', 61);
    long_id[61] = '\0';
    CHECK(!reqid_valid(long_id));
    long_id[60] = '\0';
    CHECK(reqid_valid(long_id));
}

/* A client's id that the window already holds is kept aside and the
 * record gets a new one; the window forgets the oldest ids. */
TEST(reqid_assign_keeps_record_ids_unique)
{
    reqid_window *w = &reqid_recent; /* the process's: this test is its only user */
    reqid_gen gen;
    reqid_seed(&gen, 1);
    char id[64], client[64];
    reqid_assign(w, &gen, "order-1", id, sizeof id, client, sizeof client);
    CHECK_STR(id, "order-1");
    CHECK_STR(client, "");
    reqid_assign(w, &gen, "order-1", id, sizeof id, client, sizeof client);
    CHECK(strcmp(id, "order-1") != 0 && reqid_valid(id));
    CHECK_STR(client, "order-1");
    char made[64];
    reqid_assign(w, &gen, "<bad>", made, sizeof made, client, sizeof client);
    CHECK(reqid_valid(made) && strlen(made) == 36 && client[0] == '\0');
    reqid_assign(w, &gen, made, id, sizeof id, client, sizeof client); /* a forged copy */
    CHECK(strcmp(id, made) != 0);
    CHECK_STR(client, made);
    reqid_assign(w, &gen, NULL, id, sizeof id, client, sizeof client);
    CHECK(strlen(id) == 36 && client[0] == '\0');
    for (int i = 0; i < REQID_WINDOW; i++) /* push "order-1" out of the window */
        reqid_assign(w, &gen, NULL, id, sizeof id, client, sizeof client);
    reqid_assign(w, &gen, "order-1", id, sizeof id, client, sizeof client);
    CHECK_STR(id, "order-1");
    CHECK_STR(client, "");
}

int main(void)
{
    RUN(cap_is_split_over_workers_and_released);
    RUN(breaker_opens_probes_and_closes);
    RUN(closed_gate_refuses_and_reports_releases);
    RUN(tracking_and_throttle);
    RUN(a_shadow_is_admitted_and_released_once);
    RUN(admission_makes_room_to_list_every_leg);
    RUN(mirroring_yields_while_requests_queue);
    RUN(reqid_is_a_v4_uuid_and_unique);
    RUN(reqid_valid_rejects_what_cannot_go_into_headers_or_json);
    RUN(reqid_assign_keeps_record_ids_unique);
    UNIT_DONE();
}
