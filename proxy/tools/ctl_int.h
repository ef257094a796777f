/* ctl_int: what ctl.c and ctl_fault.c share. Not for other modules: use
 * ctl.h. */
#ifndef SP_CTL_INT_H
#define SP_CTL_INT_H

#include <jansson.h>
#include <stdbool.h>

typedef struct ctl_opts {
    const char *admin;
    const char *token_file;
    const char *route;
    const char *timeout;
    const char *limit;
    const char *retry_after;
    /* fault add (ctl_fault.c) */
    const char *side, *delay, *abort_status, *percent, *for_;
    bool reset, all;
    bool json, keep_routes, no_wait;
    const char *args[4]; /* the command and its operands */
    int nargs;
} ctl_opts;

/* ctl.c: prints "ctl: " fmt (with arg) and the --help hint; CTL_USAGE. */
int ctl_usage_error(const char *fmt, const char *arg);

/* ctl_fault.c: `fault add|list|clear`: the request (path has room for 64
 * bytes; *body NULL for a GET). 0 or CTL_USAGE (printed). */
int ctl_fault_build(const ctl_opts *o, const char **method, char *path, json_t **body);
/* The fault options (--side ... --all) given with a command that is not
 * `fault`: CTL_USAGE (printed), else 0. */
int ctl_fault_options_check(const ctl_opts *o, const char *cmd);
/* `fault list`'s answer (GET /state): the live faults and the rules
 * file's. */
void ctl_fault_print_list(json_t *state);

#endif
