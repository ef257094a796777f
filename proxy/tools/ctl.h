/* ctl: `shadowproxy ctl`, the command-line client of the admin API
 * (docs/operations.md). Blocking libcurl easy requests, one per command. */
#ifndef SP_CTL_H
#define SP_CTL_H

/* Exit codes of ctl_main. */
enum {
    CTL_OK = 0,          /* done */
    CTL_REFUSED = 1,     /* the API answered 4xx/5xx (its message is printed) */
    CTL_USAGE = 2,       /* bad command line, unreadable token file */
    CTL_UNREACHABLE = 3, /* no answer from the admin API */
    CTL_FLEET_BEHIND = 4, /* changed, but some live replica had not applied it in time */
};

#define CTL_DEFAULT_ADMIN "http://127.0.0.1:9901"
#define CTL_TOKEN_ENV "SHADOWPROXY_ADMIN_TOKEN"

/* `shadowproxy ctl --help` (ctl_help.c). */
extern const char ctl_usage[];

/* `shadowproxy ctl ...`: argv[0] is "ctl". Returns the exit code. */
int ctl_main(int argc, char **argv);

#endif
