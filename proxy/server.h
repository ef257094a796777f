/* server: the process. Opens the listen sockets, starts the analyzer and the
 * workers, and runs the main loop that turns signals into commands:
 * SIGTERM/SIGINT drain (a second one exits at once), SIGHUP reloads the
 * rules, SIGUSR1 reopens the diff log. */
#ifndef SP_SERVER_H
#define SP_SERVER_H

#include "config.h"
#include "ops.h"
#include "rules.h"

/* Runs until drained, starting with rule set `r` and operator decisions
 * `o` (takes both references). SIGHUP reloads cfg->rules_path and the state
 * file; the state file is also watched. Returns the process exit code. */
int server_run(const sp_config *cfg, rules *r, ops_state *o);

#endif
