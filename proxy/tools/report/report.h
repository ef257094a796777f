/* report: the `shadowproxy report` subcommand (docs/report.md). */
#ifndef SP_REPORT_H
#define SP_REPORT_H

/* argv[0] is "report". Returns the process exit code. */
int report_main(int argc, char **argv);

#endif
