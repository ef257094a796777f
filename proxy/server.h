/* server: the process. Opens the listen sockets, starts the analyzer and the
 * workers, and runs the main loop that turns signals into commands:
 * SIGTERM/SIGINT drain (a second one exits at once), SIGHUP reloads the
 * rules, SIGUSR1 reopens the diff log. */
#ifndef SP_SERVER_H
#define SP_SERVER_H

#include "config.h"
#include "rules.h"

/* Runs until drained, starting with rule set `r` (takes the reference).
 * SIGHUP reloads cfg->rules_path. Returns the process exit code. */
int server_run(const sp_config *cfg, rules *r);

#endif
