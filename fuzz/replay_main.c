/* replay_main.c -- plain main() that runs a fuzz harness over files.
 *
 * Linked with one fuzz/fuzz_<target>.c instead of libFuzzer, so that
 * `make check` replays the whole corpus/ tree (seeds and every input that
 * ever crashed) through every harness without a fuzzing engine
 * (zstd's regression_driver.c). Arguments are files or directories;
 * directories are walked without recursion (an explicit stack) and all
 * paths are sorted, so the order is the same on every machine.
 *
 * It must never stop on an input a harness merely rejects: harnesses
 * return 0 for every input, and only a crash, abort() or sanitizer report
 * (which ends the process) fails a replay. It prints "replayed N inputs"
 * and exits 0, or exits 1 when a path cannot be read.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sanitizers end the process with _exit, past atexit and signal handlers;
 * their death callback (present only in sanitizer builds, hence weak) is
 * the one place left to name the input that failed. */
extern void __sanitizer_set_death_callback(void (*cb)(void))
    __attribute__((weak));

/* The file being replayed, for the crash message: the one global of this
 * driver, read only by the handlers below. */
static const char *volatile current_path;

static void say_current(void)
{
    const char *p = current_path;
    if (!p)
        return;
    /* write(2) only: this runs inside signal handlers */
    static const char msg[] = "replay: crashed on input ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, p, strlen(p)) < 0 ||
        write(2, "\n", 1) < 0)
        return;
}

static void on_signal(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

typedef struct strvec {
    char **v;
    size_t len, cap;
} strvec;

static void oom(void)
{
    fprintf(stderr, "replay: out of memory\n");
    exit(1);
}

static void push(strvec *s, char *str)
{
    if (s->len == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 64;
        char **nv = realloc(s->v, ncap * sizeof *nv);
        if (!nv)
            oom();
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->len++] = str;
}

static char *dupstr(const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = malloc(la + lb + 2);
    if (!s)
        oom();
    memcpy(s, a, la);
    if (b) {
        s[la] = '/';
        memcpy(s + la + 1, b, lb);
        s[la + 1 + lb] = '\0';
    } else {
        s[la] = '\0';
    }
    return s;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every regular file under `root` to files. Returns -1 if root
 * cannot be read at all. */
static int collect(const char *root, strvec *files)
{
    strvec dirs = {0};
    struct stat st;
    if (stat(root, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", root, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        push(files, dupstr(root, NULL));
        return 0;
    }
    push(&dirs, dupstr(root, NULL));
    while (dirs.len) {
        char *dir = dirs.v[--dirs.len];
        DIR *d = opendir(dir);
        if (!d) {
            fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
            free(dir);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char *p = dupstr(dir, e->d_name);
            if (stat(p, &st) < 0) {
                free(p);
                continue;
            }
            if (S_ISDIR(st.st_mode))
                push(&dirs, p);
            else if (S_ISREG(st.st_mode))
                push(files, p);
            else
                free(p);
        }
        closedir(d);
        free(dir);
    }
    free(dirs.v);
    return 0;
}

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb)
                oom();
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* an exact-size copy, so ASan sees any read past the input's end */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact)
        oom();
    memcpy(exact, buf, len);
    free(buf);
    current_path = path;
    LLVMFuzzerTestOneInput(exact, len);
    current_path = NULL;
    free(exact);
    return 0;
}

int main(int argc, char **argv)
{
    strvec files = {0};
    int status = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(say_current);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGILL, on_signal);
    for (int i = 1; i < argc; i++)
        if (collect(argv[i], &files) < 0)
            status = 1;
    qsort(files.v, files.len, sizeof *files.v, cmp);
    size_t n = 0;
    for (size_t i = 0; i < files.len; i++) {
        if (getenv("REPLAY_VERBOSE"))
            fprintf(stderr, "replay: %s\n", files.v[i]);
        if (replay(files.v[i]) < 0)
            status = 1;
        else
            n++;
        free(files.v[i]);
    }
    free(files.v);
    printf("replayed %zu inputs\n", n);
    return status;
}
