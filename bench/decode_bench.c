/* decode_bench.c -- times libpickleguard's decoder and scanner through the C
 * API, on an mmapped file, without the CLI and without JSON.
 *
 *   decode_bench [--policy NAME|FILE] [--reps N] decode|scan|walk FILE
 *
 * decode: pkl_decode + pkl_doc_free over every pickle in the file (what
 *         `pickleguard load` does before it writes JSON);
 * scan:   pkl_scan_buffer over the whole file (what `pickleguard scan` does
 *         before it prints);
 * walk:   pkl_reader_next over the whole file and nothing else: the floor
 *         under both, showing how much of their time the shared reader takes.
 *
 *   decode_bench run CMD [ARG...]
 *
 * runs CMD (a path) as a child and writes `maxrss_kb=N seconds=T` to fd 3
 * (if open), exiting with CMD's status. bench.py launches every tool
 * through it because Linux carries a process's peak RSS across exec: a
 * tool spawned straight from the ~25 MB Python driver would report at
 * least the driver's RSS, while one forked from this small program starts
 * from about 1 MB.
 * Prints one line of key=value pairs on stdout (bytes, pickles, seconds for
 * the fastest of the --reps passes, peak RSS from getrusage) for
 * bench/bench.py; bench.py times the whole process as well.
 *
 * Exit status: 0 done, 1 the library rejected the input (message on
 * stderr), 2 usage or I/O error, 3 the module is not built yet (the Makefile
 * defines PKL_BENCH_NO_DECODER / _NO_SCANNER / _NO_POLICY while src/ lacks
 * it, so this program builds and reports "missing" instead of failing to
 * link). This is a benchmark driver, not part of the library: it must never
 * be linked into it, and it only ever reads the file it is given.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "pickleguard.h"

#if defined(PKL_BENCH_NO_POLICY)
#define PKL_BENCH_NO_DECODER 1
#define PKL_BENCH_NO_SCANNER 1
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;   /* kilobytes on Linux */
}

static void report_error(const char *what, const pkl_error *err)
{
    char msg[1024];
    fprintf(stderr, "decode_bench: %s: %s\n", what,
            pkl_error_format(err, msg, sizeof msg));
}

#ifndef PKL_BENCH_NO_DECODER
/* One pass over every pickle in buf. Returns 0, or 1 on a decode error. */
static int decode_pass(const uint8_t *buf, size_t len,
                       const pkl_decode_options *opt, size_t *pickles)
{
    size_t off = 0;
    *pickles = 0;
    while (off < len) {
        size_t consumed = 0;
        pkl_error err;
        pkl_doc *doc = pkl_decode(buf + off, len - off, opt, &consumed, &err);
        if (!doc) {
            err.offset += off;
            report_error("decode", &err);
            return 1;
        }
        pkl_doc_free(doc);
        if (consumed == 0) {   /* would loop forever; a library bug */
            fprintf(stderr, "decode_bench: decode consumed 0 bytes at %zu\n", off);
            return 1;
        }
        off += consumed;
        ++*pickles;
    }
    return 0;
}
#endif

#ifndef PKL_BENCH_NO_SCANNER
static int scan_pass(const uint8_t *buf, size_t len, const pkl_scan_options *opt,
                     size_t *pickles, size_t *opcodes, size_t *findings,
                     int *maxsev)
{
    pkl_scan_result res;
    pkl_error err;
    pkl_scan_result_init(&res, NULL);
    int rc = pkl_scan_buffer(buf, len, "", opt, &res, &err);
    if (rc != 0)
        report_error("scan", &err);
    *pickles = res.pickles;
    *opcodes = res.opcodes;
    *findings = res.count;
    *maxsev = pkl_scan_result_max_severity(&res);
    pkl_scan_result_free(&res);
    return rc != 0;
}
#endif

/* Reader only: every opcode of every pickle, no interpretation. */
static int walk_pass(const uint8_t *buf, size_t len, size_t *pickles,
                     size_t *opcodes)
{
    pkl_reader r;
    pkl_op op;
    pkl_error err;
    int rc;
    *pickles = 0;
    *opcodes = 0;
    pkl_reader_init(&r, buf, len, NULL);
    while ((rc = pkl_reader_next(&r, &op, &err)) == 1) {
        ++*opcodes;
        if (op.code == PKL_OP_STOP)
            ++*pickles;
    }
    if (rc < 0)
        report_error("walk", &err);
    pkl_reader_free(&r);
    return rc < 0;
}

/* `run` mode: see the header comment. */
static int run_child(char **argv)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("decode_bench: fork");
        return 2;
    }
    if (pid == 0) {
        close(3);   /* the report channel is ours, not the tool's */
        execv(argv[0], argv);
        fprintf(stderr, "decode_bench: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("decode_bench: waitpid");
            return 2;
        }
    }
    double t = now() - t0;
    struct rusage ru;
    /* The one reaped child: RUSAGE_CHILDREN's maxrss is its peak. */
    long rss = getrusage(RUSAGE_CHILDREN, &ru) == 0 ? ru.ru_maxrss : -1;
    FILE *rep = fdopen(3, "w");
    if (rep) {
        fprintf(rep, "maxrss_kb=%ld seconds=%.6f\n", rss, t);
        fclose(rep);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Spelled here rather than with pkl_severity_name so that this program
 * links while the scanner's source is still missing. */
static const char *const sevname[] = {"info", "low", "medium", "high", "critical"};

static int usage(void)
{
    fputs("usage: decode_bench [--policy NAME|FILE] [--reps N] decode|scan|walk FILE\n"
          "       decode_bench run CMD [ARG...]\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *policy_name = "default";
    long reps = 1;
    int i = 1;
    if (argc >= 3 && strcmp(argv[1], "run") == 0)
        return run_child(argv + 2);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
            policy_name = argv[++i];
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            char *end;
            reps = strtol(argv[++i], &end, 10);
            if (*end || reps < 1 || reps > 1000)
                return usage();
        } else {
            return usage();
        }
    }
    if (argc - i != 2)
        return usage();
    const char *mode = argv[i], *path = argv[i + 1];
    int decode = strcmp(mode, "decode") == 0;
    int walk = strcmp(mode, "walk") == 0;
    if (!decode && !walk && strcmp(mode, "scan") != 0)
        return usage();

#ifdef PKL_BENCH_NO_DECODER
    if (decode) {
        fputs("decode_bench: the decoder is not built yet (src/decoder.c missing)\n", stderr);
        return 3;
    }
#endif
#ifdef PKL_BENCH_NO_SCANNER
    if (!decode && !walk) {
        fputs("decode_bench: the scanner is not built yet (src/scanner.c missing)\n", stderr);
        return 3;
    }
#endif

    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        fprintf(stderr, "decode_bench: %s: cannot open a non-empty regular file\n", path);
        if (fd >= 0)
            close(fd);
        return 2;
    }
    size_t len = (size_t)st.st_size;
    /* Mapped exactly as the CLI maps its inputs, so page-fault costs match. */
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        fprintf(stderr, "decode_bench: %s: mmap failed\n", path);
        return 2;
    }

    int rc = 3;
    double best = -1.0;
    size_t pickles = 0, opcodes = 0, findings = 0;
    int maxsev = -1;
    pkl_policy *policy = NULL;
#if !defined(PKL_BENCH_NO_DECODER) || !defined(PKL_BENCH_NO_SCANNER)
    if (!walk) {
        pkl_error err;
        policy = pkl_policy_open(policy_name, NULL, &err);
        if (!policy) {
            report_error("policy", &err);
            munmap(map, len);
            return 2;
        }
    }
#else
    (void)policy_name;
    (void)policy;
#endif
    for (long r = 0; r < reps; r++) {
        double t0 = now();
        if (walk)
            rc = walk_pass(map, len, &pickles, &opcodes);
#ifndef PKL_BENCH_NO_DECODER
        if (decode) {
            pkl_decode_options opt;
            memset(&opt, 0, sizeof opt);
            opt.policy = policy;
            rc = decode_pass(map, len, &opt, &pickles);
        }
#endif
#ifndef PKL_BENCH_NO_SCANNER
        if (!decode && !walk) {
            pkl_scan_options opt;
            memset(&opt, 0, sizeof opt);
            opt.policy = policy;
            rc = scan_pass(map, len, &opt, &pickles, &opcodes, &findings, &maxsev);
        }
#endif
        double t = now() - t0;
        if (rc != 0)
            break;
        if (best < 0 || t < best)
            best = t;
    }
#if !defined(PKL_BENCH_NO_DECODER) || !defined(PKL_BENCH_NO_SCANNER)
    pkl_policy_free(policy);
#endif
    munmap(map, len);
    if (rc == 0) {
        printf("mode=%s bytes=%zu pickles=%zu opcodes=%zu findings=%zu maxsev=%s "
               "seconds=%.6f maxrss_kb=%ld\n",
               mode, len, pickles, opcodes, findings,
               maxsev < 0 || maxsev > 4 ? "none" : sevname[maxsev], best,
               peak_rss_kb());
    }
    return rc;
}
