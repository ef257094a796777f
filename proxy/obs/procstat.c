/* procstat: see procstat.h. Field numbers are proc(5)'s. */
#include "obs/procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The "btime" line of /proc/stat: boot time, Unix seconds. 0 if unknown. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return bt;
}

/* /proc/self/stat: fields 14 utime and 15 stime (clock ticks), 22
 * starttime (ticks after boot), 23 vsize (bytes), 24 rss (pages). The
 * command name (field 2) may hold spaces and ')', so parsing starts after
 * the last ')'. */
static bool read_stat(procstat *out)
{
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return false;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    double field[25] = {0};
    int k = 3; /* the field after ") " is the 3rd, the state */
    char *save = NULL; /* scrapes run on several admin threads at once */
    for (char *tok = strtok_r(p + 1, " ", &save); tok && k <= 24;
         tok = strtok_r(NULL, " ", &save), k++)
        field[k] = strtod(tok, NULL);
    if (k <= 24)
        return false;
    double tick = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tick <= 0 || page <= 0)
        return false;
    out->cpu_seconds = (field[14] + field[15]) / tick;
    out->start_time = boot_time() + field[22] / tick;
    out->virtual_bytes = field[23];
    out->resident_bytes = field[24] * (double)page;
    return true;
}

/* Entries of /proc/self/fd, less the one this walk itself holds open. */
static bool count_fds(double *n)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    long count = 0;
    const struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            count++;
    closedir(d);
    *n = (double)(count > 0 ? count - 1 : 0);
    return true;
}

void procstat_read(procstat *out)
{
    *out = (procstat){.max_fds = -1};
    out->have_stat = read_stat(out);
    out->have_fds = count_fds(&out->open_fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        out->max_fds = (double)rl.rlim_cur;
}
