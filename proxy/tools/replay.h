/* replay: the `shadowproxy replay` subcommand (docs/replay.md). */
#ifndef SP_REPLAY_H
#define SP_REPLAY_H

/* argv[0] is "replay". Returns the process exit code. */
int replay_main(int argc, char **argv);

#endif
