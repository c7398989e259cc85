/* check_oom.c -- out-of-memory paths: an allocator that fails the N-th
 * allocation, run for every N (sampled on large counts) over every corpus
 * file through decoder + pickle-json writer, scanner, disassembler and
 * container walker, and
 * over every built-in, shipped and test policy through the policy loader
 * (libxml2's xmlFuzzInjectFailure, yyjson's pool allocator tests).
 *
 * For each (operation, input): a first run counts the allocations the
 * operation makes (and checks it leaks nothing); then each selected N
 * fails exactly the N-th allocation. The run must end in PKL_E_NOMEM when
 * the N-th allocation happened, or else with the same result as the
 * counting run, and must leave no live allocation behind. Counts above
 * OOM_ALL are sampled: every N up to OOM_ALL, then OOM_SAMPLES evenly
 * spaced N, then the last one, so the suite stays well under a minute
 * even under ASan.
 *
 * The corpus directory is $PKL_CORPUS, else "corpus" (make check runs
 * from the top of the tree); policies come from $PKL_POLICIES, else
 * "policies".
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#define OOM_ALL 64
#define OOM_SAMPLES 64

/* ---- inputs ------------------------------------------------------------------- */

typedef struct input {
    char *path;
    unsigned char *data;
    size_t len;
} input;

typedef struct inputs {
    input *v;
    size_t len, cap;
} inputs;

static void add_file(inputs *in, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert(n >= 0);
    rewind(f);
    unsigned char *d = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    if (in->len == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 256;
        in->v = realloc(in->v, in->cap * sizeof *in->v);
        ck_assert_ptr_nonnull(in->v);
    }
    in->v[in->len].path = strdup(path);
    in->v[in->len].data = d;
    in->v[in->len].len = (size_t)n;
    in->len++;
}

/* Every regular file under dir whose name ends in `suffix` ("" for all),
 * skipping the generator's sources. Explicit stack, no recursion. */
static void collect(inputs *in, const char *dir, const char *suffix)
{
    char **stack = malloc(sizeof *stack * 1024);
    size_t depth = 0;
    ck_assert_ptr_nonnull(stack);
    stack[depth++] = strdup(dir);
    while (depth) {
        char *d = stack[--depth];
        DIR *h = opendir(d);
        ck_assert_msg(h != NULL, "cannot open directory %s", d);
        struct dirent *e;
        while ((e = readdir(h)) != NULL) {
            if (e->d_name[0] == '.' || !strcmp(e->d_name, "gen"))
                continue;
            size_t n = strlen(d) + strlen(e->d_name) + 2;
            char *p = malloc(n);
            ck_assert_ptr_nonnull(p);
            snprintf(p, n, "%s/%s", d, e->d_name);
            struct stat st;
            if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && depth < 1024) {
                stack[depth++] = p;
                continue;
            }
            size_t pl = strlen(p), sl = strlen(suffix);
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && pl >= sl &&
                !strcmp(p + pl - sl, suffix))
                add_file(in, p);
            free(p);
        }
        closedir(h);
        free(d);
    }
    free(stack);
}

static void free_inputs(inputs *in)
{
    for (size_t i = 0; i < in->len; i++) {
        free(in->v[i].path);
        free(in->v[i].data);
    }
    free(in->v);
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* ---- operations under test ------------------------------------------------------
 * Each returns PKL_OK or the error code it ended with, and frees
 * everything it allocated. */

typedef int (*oom_op)(const input *in, const pkl_allocator *a);

static const pkl_policy *policy_default(void)
{
    static pkl_policy *p;
    if (!p)
        p = pkl_policy_builtin("default", NULL, NULL);
    ck_assert_ptr_nonnull(p);
    return p;
}

static FILE *devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(f);
    return f;
}

/* As `pickleguard load`: every pickle in turn, each written as JSON. */
static int op_decode_json(const input *in, const pkl_allocator *a)
{
    pkl_decode_options opt;
    pkl_error err;
    size_t off = 0;
    memset(&opt, 0, sizeof opt);
    opt.policy = policy_default();
    opt.alloc = a;
    do {
        size_t used = 0;
        pkl_doc *doc = pkl_decode(in->data + off, in->len - off, &opt, &used, &err);
        if (!doc)
            return err.code;
        int rc = pkl_json_write(doc, devnull(), 0, a, &err);
        pkl_doc_free(doc);
        if (rc < 0)
            return err.code;
        off += used;
    } while (off < in->len);
    return PKL_OK;
}

static int op_scan(const input *in, const pkl_allocator *a)
{
    pkl_scan_options opt;
    pkl_scan_result res;
    pkl_error err;
    memset(&opt, 0, sizeof opt);
    opt.policy = policy_default();
    opt.alloc = a;
    pkl_scan_result_init(&res, a);
    int rc = pkl_scan_buffer(in->data, in->len, "f", &opt, &res, &err);
    pkl_scan_result_free(&res);
    return rc < 0 ? err.code : PKL_OK;
}

static int op_dis(const input *in, const pkl_allocator *a)
{
    pkl_error err;
    return pkl_dis(in->data, in->len, devnull(), a, &err) < 0 ? err.code : PKL_OK;
}

static int op_policy_file(const input *in, const pkl_allocator *a)
{
    pkl_error err;
    pkl_policy *p = pkl_policy_load_file(in->path, a, &err);
    if (!p)
        return err.code;
    pkl_policy_write(p, devnull());
    pkl_policy_free(p);
    return PKL_OK;
}

static int op_policy_builtin(const input *in, const pkl_allocator *a)
{
    pkl_error err;
    pkl_policy *p = pkl_policy_builtin(in->path, a, &err);
    if (!p)
        return err.code;
    pkl_policy_free(p);
    return PKL_OK;
}

/* Container walking: an allocation failure may end the walk (-1) or be
 * reported as a problem of the member it hit; either way its code must be
 * PKL_E_NOMEM. Streams are scanned, as `pickleguard scan` does. */
static int walk_problem(void *ctx, const char *path, const pkl_error *problem)
{
    (void)path;
    if (problem->code == PKL_E_NOMEM)
        *(int *)ctx = PKL_E_NOMEM;
    return 0;
}

static int op_walk(const input *in, const pkl_allocator *a)
{
    pkl_walk_options opt;
    pkl_error err;
    int nomem = 0;
    memset(&opt, 0, sizeof opt);
    opt.alloc = a;
    opt.on_problem = walk_problem;
    opt.ctx = &nomem;
    if (pkl_walk_buffer(in->data, in->len, in->path, &opt, NULL, &err) < 0)
        return err.code;
    return nomem ? PKL_E_NOMEM : PKL_OK;
}

/* ---- the driver ------------------------------------------------------------------ */

static void run_one(const char *opname, oom_op op, const input *in)
{
    test_alloc c;
    pkl_allocator a = test_allocator(&c, 0); /* tests/testutil.h */
    int expect = op(in, &a);
    unsigned long total = c.calls;
    ck_assert_msg(c.live == 0, "%s %s: %ld blocks leaked without failure",
                  opname, in->path, c.live);
    ck_assert_msg(expect != PKL_E_NOMEM, "%s %s: out of memory without an "
                  "injected failure", opname, in->path);

    if (getenv("OOM_VERBOSE"))
        fprintf(stderr, "oom: %s %s: %lu allocations, result %d\n", opname,
                in->path, total, expect);
    unsigned long step = 1;
    if (total > OOM_ALL)
        step = (total - OOM_ALL) / OOM_SAMPLES + 1;
    for (unsigned long n = 1; n <= total + 1;) {
        memset(&c, 0, sizeof c);
        c.fail_at = n;
        int got = op(in, &a);
        if (c.calls >= c.fail_at) /* the failure was injected */
            ck_assert_msg(got == PKL_E_NOMEM,
                          "%s %s: allocation %lu of %lu failed, result %d "
                          "instead of PKL_E_NOMEM", opname, in->path, n, total,
                          got);
        else
            ck_assert_msg(got == expect, "%s %s: allocation %lu never made, "
                          "result %d instead of %d", opname, in->path, n, got,
                          expect);
        ck_assert_msg(c.live == 0, "%s %s: allocation %lu of %lu failed, "
                      "%ld blocks leaked", opname, in->path, n, total, c.live);
        if (n < OOM_ALL || n >= total)
            n++;
        else if (n + step > total)
            n = total;
        else
            n += step;
    }
}

static const struct {
    const char *name;
    oom_op op;
} pickle_ops[] = {
    {"decode+json", op_decode_json},
    {"scan", op_scan},
    {"dis", op_dis},
    {"walk", op_walk},
};

START_TEST(oom_pickle_ops)
{
    inputs in = {0};
    collect(&in, env_or("PKL_CORPUS", "corpus"), "");
    ck_assert_msg(in.len > 0, "no corpus files found");
    for (size_t i = 0; i < in.len; i++)
        run_one(pickle_ops[_i].name, pickle_ops[_i].op, &in.v[i]);
    free_inputs(&in);
}
END_TEST

START_TEST(oom_policies)
{
    static const char *const builtins[] = {"default", "strict", "ml"};
    inputs in = {0};
    collect(&in, env_or("PKL_POLICIES", "policies"), ".yaml");
    ck_assert_msg(in.len > 0, "no policy files found");
    /* the broken policies of the policy tests exercise the error paths */
    struct stat st;
    if (stat("tests/policies", &st) == 0 && S_ISDIR(st.st_mode))
        collect(&in, "tests/policies", ".yaml");
    for (size_t i = 0; i < in.len; i++)
        run_one("policy file", op_policy_file, &in.v[i]);
    free_inputs(&in);
    for (size_t i = 0; i < 3; i++) {
        input b = {(char *)builtins[i], NULL, 0};
        run_one("policy builtin", op_policy_builtin, &b);
    }
}
END_TEST

Suite *suite_oom(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("fail the n-th allocation");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, oom_pickle_ops, 0,
                        (int)(sizeof pickle_ops / sizeof pickle_ops[0]));
    tcase_add_test(tc, oom_policies);
    suite_add_tcase(s, tc);
    return s;
}
