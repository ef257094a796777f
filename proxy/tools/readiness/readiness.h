/* readiness: the `shadowproxy readiness` subcommand (docs/readiness.md): a
 * cutover scorecard, READY / NOT READY per route against the criteria of
 * the rules file's "readiness" sections, from diff logs. */
#ifndef SP_READINESS_H
#define SP_READINESS_H

/* argv[0] is "readiness". Returns the process exit code: 0 every required
 * route ready, 1 an input unreadable, 2 bad arguments or rules, 3 not ready. */
int readiness_main(int argc, char **argv);

#endif
