/* replay: placeholder until the subcommand lands. */
#include "replay.h"

#include <stdio.h>

int replay_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "shadowproxy replay: not implemented yet\n");
    return 2;
}
