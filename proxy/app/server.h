/* server: the process. Opens the listen sockets, starts the analyzer and the
 * workers, and runs the main loop that turns signals into commands:
 * SIGTERM/SIGINT drain (a second one exits at once), SIGHUP reloads the
 * rules, SIGUSR1 reopens the diff log. */
#ifndef SP_SERVER_H
#define SP_SERVER_H

#include <stdbool.h>

#include "conf/config.h"
#include "conf/ops.h"
#include "conf/rules.h"

struct store;
/* Runs until drained, starting with rule set `r` and operator decisions
 * `o` from the decision store `st` (takes all three; st may be NULL:
 * decisions in memory only). SIGHUP reloads cfg->rules_path and a file
 * store; a file store is also watched. Returns the process exit code. */
int server_run(const sp_config *cfg, rules *r, ops_state *o, struct store *st);

/* For running the proxy inside another command (replay). */
typedef struct server server;
typedef struct server_hooks {
    /* On the server's thread, once every worker listens on `port`. */
    void (*on_ready)(server *s, int port, void *arg);
    /* After the diff log got every record, before the metrics go away. */
    void (*on_done)(void *arg);
    void *arg;
    bool no_signals; /* the caller handles signals itself */
} server_hooks;

int server_run_with(const sp_config *cfg, rules *r, ops_state *o, struct store *st,
                    const server_hooks *hooks);

/* From any thread: drain (finish what was received) and return. */
void server_stop(server *s);

#endif
