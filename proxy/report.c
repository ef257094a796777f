/* report: placeholder until the subcommand lands. */
#include "report.h"

#include <stdio.h>

int report_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "shadowproxy report: not implemented yet\n");
    return 2;
}
