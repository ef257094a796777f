/* server: the process. Opens the listen sockets, starts the analyzer and the
 * workers, and runs the main loop that turns signals into commands:
 * SIGTERM/SIGINT drain (a second one exits at once), SIGUSR1 reopens the
 * diff log. */
#ifndef SP_SERVER_H
#define SP_SERVER_H

#include "config.h"

/* Runs until drained. Returns the process exit code. */
int server_run(const sp_config *cfg);

#endif
