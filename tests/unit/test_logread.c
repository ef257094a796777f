/* Unit tests: logread, reading diff logs back (plain and gzip, torn last
 * lines, cut and corrupt gzip files, blank, invalid and over-long lines,
 * stdin). Files are written to a fresh temporary directory. */
#include "diff/logread.h"
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static const char *path_of(const char *name)
{
    static char p[2][128];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_file(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(path_of(name), "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

static void write_gz(const char *name, const char *mode, const char *text)
{
    gzFile g = gzopen(path_of(name), mode);
    CHECK(g != NULL);
    if (!g)
        return;
    CHECK(gzwrite(g, text, (unsigned)strlen(text)) == (int)strlen(text));
    gzclose(g);
}

static char *read_all(const char *name, size_t *n)
{
    FILE *f = fopen(path_of(name), "rb");
    char *buf = malloc(1 << 20);
    *n = f && buf ? fread(buf, 1, 1 << 20, f) : 0;
    if (f)
        fclose(f);
    return buf;
}

typedef struct result {
    int rc;                /* last logread_next result */
    size_t records;
    char ids[16][16];      /* "id" of each record, in order */
    uint64_t lines[16];    /* logread_line of each */
    logread_stats st;
    char err[256];
} result;

static result read_log(const char *path)
{
    result res;
    memset(&res, 0, sizeof res);
    logread *r;
    if (logread_open(&r, path, res.err, sizeof res.err) != 0) {
        res.rc = -2;
        return res;
    }
    json_t *rec;
    while ((res.rc = logread_next(r, &rec, res.err, sizeof res.err)) == 1) {
        if (res.records < 16) {
            const char *id = json_string_value(json_object_get(rec, "id"));
            snprintf(res.ids[res.records], sizeof res.ids[0], "%s", id ? id : "?");
            res.lines[res.records] = logread_line(r);
        }
        res.records++;
        json_decref(rec);
    }
    res.st = *logread_stats_of(r);
    CHECK_STR(logread_path(r), path);
    logread_close(r);
    return res;
}

static const char lines3[] = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n";

TEST(plain_records_blank_and_invalid_lines)
{
    const char text[] = "{\"id\":\"a\",\"v\":1}\n"
                        "\n"
                        "\r\n"
                        "not json\n"
                        "[1,2]\n"
                        "\"a string\"\n"
                        "{\"id\":\"dup\",\"id\":\"dup\"}\n"
                        "{\"id\":\"b\"}\r\n"
                        "{\"id\":\"c\"}\n";
    write_file("plain.jsonl", text, sizeof text - 1);
    result r = read_log(path_of("plain.jsonl"));
    CHECK(r.rc == 0);
    CHECK(r.records == 3);
    CHECK_STR(r.ids[0], "a");
    CHECK_STR(r.ids[1], "b");
    CHECK_STR(r.ids[2], "c");
    CHECK(r.lines[0] == 1 && r.lines[1] == 8 && r.lines[2] == 9);
    CHECK(r.st.lines == 9);
    CHECK(r.st.records == 3);
    CHECK(r.st.invalid == 4); /* not JSON, an array, a string, duplicate keys */
    CHECK(r.st.torn == 0 && r.st.too_long == 0);
}

TEST(torn_last_line)
{
    const char text[] = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\",\"ver";
    write_file("torn.jsonl", text, sizeof text - 1);
    result r = read_log(path_of("torn.jsonl"));
    CHECK(r.rc == 0 && r.records == 2);
    CHECK(r.st.torn == 1 && r.st.invalid == 0 && r.st.lines == 3);
    /* a whole record without its newline is a record, not a torn line */
    const char whole[] = "{\"id\":\"a\"}\n{\"id\":\"b\"}";
    write_file("nonl.jsonl", whole, sizeof whole - 1);
    r = read_log(path_of("nonl.jsonl"));
    CHECK(r.records == 2 && r.st.torn == 0 && r.lines[1] == 2);
    /* an empty file */
    write_file("empty.jsonl", "", 0);
    r = read_log(path_of("empty.jsonl"));
    CHECK(r.rc == 0 && r.records == 0 && r.st.lines == 0);
}

TEST(gzip_single_and_multi_member)
{
    write_gz("one.gz", "wb", lines3);
    result r = read_log(path_of("one.gz"));
    CHECK(r.rc == 0 && r.records == 3 && r.st.torn == 0);
    CHECK_STR(r.ids[2], "c");
    /* `cat a.gz b.gz`: a second member, and a line split across members */
    write_gz("multi.gz", "wb", "{\"id\":\"a\"}\n{\"id\":");
    write_gz("multi.gz", "ab", "\"b\"}\n{\"id\":\"c\"}\n");
    write_gz("multi.gz", "ab", "{\"id\":\"d\"}\n");
    r = read_log(path_of("multi.gz"));
    CHECK(r.rc == 0 && r.records == 4 && r.st.invalid == 0 && r.st.torn == 0);
    CHECK_STR(r.ids[1], "b");
    CHECK_STR(r.ids[3], "d");
}

TEST(gzip_cut_short)
{
    char big[64 * 1024];
    size_t n = 0;
    for (int i = 0; n + 40 < sizeof big; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "{\"id\":\"r%d\",\"pad\":\"xxxxxx\"}\n", i);
    write_gz("full.gz", "wb", big);
    size_t zn;
    char *z = read_all("full.gz", &zn);
    CHECK(zn > 100);
    result full = read_log(path_of("full.gz"));
    CHECK(full.rc == 0 && full.st.torn == 0);
    /* cut in the middle: the records before the cut, and one torn line */
    write_file("half.gz", z, zn / 2);
    result r = read_log(path_of("half.gz"));
    CHECK(r.rc == 0);
    CHECK(r.records > 0 && r.records < full.records);
    CHECK(r.st.torn == 1);
    CHECK(r.st.invalid == 0);
    /* only the trailer (CRC and length) missing: every record, and the cut is still told */
    write_file("notrailer.gz", z, zn - 8);
    r = read_log(path_of("notrailer.gz"));
    CHECK(r.rc == 0 && r.records == full.records && r.st.torn == 1);
    /* just the header */
    write_file("header.gz", z, 10);
    r = read_log(path_of("header.gz"));
    CHECK(r.rc == 0 && r.records == 0 && r.st.torn == 1);
    free(z);
}

TEST(gzip_corrupt_is_an_error_naming_the_file)
{
    char big[32 * 1024];
    size_t n = 0;
    for (int i = 0; n + 40 < sizeof big; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "{\"id\":\"r%d\",\"n\":%d}\n", i, i * 7919);
    write_gz("ok.gz", "wb", big);
    size_t zn;
    char *z = read_all("ok.gz", &zn);
    for (size_t i = zn / 2; i < zn / 2 + 64 && i < zn; i++)
        z[i] ^= 0x5a;
    write_file("bad.gz", z, zn);
    result r = read_log(path_of("bad.gz"));
    CHECK(r.rc == -1);
    CHECK(strstr(r.err, "bad.gz") != NULL);
    CHECK(r.records < 16 * 1024); /* what came before stays */
    free(z);
}

TEST(long_lines)
{
    /* a 40 MB record is read whole */
    size_t big = 40u << 20;
    char *line = malloc(big + 64);
    CHECK(line != NULL);
    if (!line)
        return;
    int h = snprintf(line, 64, "{\"id\":\"huge\",\"body\":\"");
    memset(line + h, 'x', big);
    memcpy(line + h + big, "\"}\n{\"id\":\"after\"}\n", 19);
    write_file("long.jsonl", line, (size_t)h + big + 18);
    free(line);
    result r = read_log(path_of("long.jsonl"));
    CHECK(r.rc == 0 && r.records == 2 && r.st.too_long == 0);
    CHECK_STR(r.ids[0], "huge");
    CHECK_STR(r.ids[1], "after");
    /* a line over LOGREAD_MAX_LINE is skipped and counted; the next one is read.
     * The file is sparse: the long line is a hole of NUL bytes. */
    int fd = open(path_of("toolong.jsonl"), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(fd >= 0);
    const char head[] = "{\"id\":\"first\"}\n";
    const char tail[] = "\n{\"id\":\"next\"}\n{\"id\":\"last\"}\n";
    CHECK(write(fd, head, sizeof head - 1) == (ssize_t)(sizeof head - 1));
    CHECK(lseek(fd, (off_t)LOGREAD_MAX_LINE + 4096, SEEK_CUR) > 0);
    CHECK(write(fd, tail, sizeof tail - 1) == (ssize_t)(sizeof tail - 1));
    close(fd);
    r = read_log(path_of("toolong.jsonl"));
    CHECK(r.rc == 0 && r.records == 3 && r.st.too_long == 1);
    CHECK_STR(r.ids[1], "next");
    CHECK(r.lines[1] == 3 && r.lines[2] == 4);
    unlink(path_of("toolong.jsonl"));
    unlink(path_of("long.jsonl"));
}

TEST(stdin_and_open_errors)
{
    write_file("stdin.jsonl", lines3, sizeof lines3 - 1);
    int saved = dup(0);
    int fd = open(path_of("stdin.jsonl"), O_RDONLY);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, 0) == 0);
    close(fd);
    result r = read_log("-");
    CHECK(r.rc == 0 && r.records == 3);
    CHECK(dup2(saved, 0) == 0);
    close(saved);

    r = read_log(path_of("no-such-file.jsonl"));
    CHECK(r.rc == -2);
    CHECK(strstr(r.err, "no-such-file.jsonl") != NULL);
    CHECK(strstr(r.err, "No such file") != NULL);
    r = read_log(dir); /* a directory */
    CHECK(r.rc == -1 || r.rc == -2);
    CHECK(strstr(r.err, dir) != NULL);
}

TEST(parse_line)
{
    json_t *j = logread_parse_line("{\"a\":1}", 7);
    CHECK(json_is_object(j));
    json_decref(j);
    CHECK(logread_parse_line("[1]", 3) == NULL);
    CHECK(logread_parse_line("{\"a\":1}x", 8) == NULL);
    CHECK(logread_parse_line("{\"a\":1,\"a\":2}", 13) == NULL);
    CHECK(logread_parse_line("{\"a\":\"x\0y\"}", 11) == NULL); /* a raw NUL byte */
    j = logread_parse_line("{\"a\":\"x\\u0000y\"}", 16);     /* an escaped one is fine */
    CHECK(json_is_object(j));
    json_decref(j);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sp-logread-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(plain_records_blank_and_invalid_lines);
    RUN(torn_last_line);
    RUN(gzip_single_and_multi_member);
    RUN(gzip_cut_short);
    RUN(gzip_corrupt_is_an_error_naming_the_file);
    RUN(long_lines);
    RUN(stdin_and_open_errors);
    RUN(parse_line);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    UNIT_DONE();
}
