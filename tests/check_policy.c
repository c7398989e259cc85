/* check_policy.c -- policy loading, matching, limits and the broken-policy
 * folder.
 *
 * Expected verdicts follow the matching rules of docs/policy.md (written
 * next to each row); expected error positions of the files in tests/policies/bad
 * are stated in each file's first line ("# expect: CODE [FILE:]LINE:COL TEXT"),
 * counted by hand from the file's text. Run from the repository root (as
 * `make check` does). */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BAD_DIR "tests/policies/bad"
#define GOOD_DIR "tests/policies/good"

static pkl_policy *load_str(const char *yaml, pkl_error *err)
{
    return pkl_policy_load_string(yaml, strlen(yaml), "<test>", NULL, err);
}

static pkl_verdict verdict(const pkl_policy *p, const char *m, const char *q)
{
    pkl_global g;
    memset(&g, 0, sizeof g);
    snprintf(g.module, sizeof g.module, "%s", m);
    snprintf(g.qualname, sizeof g.qualname, "%s", q);
    return pkl_policy_check(p, &g);
}

/* ---- matching -------------------------------------------------------------- */

static const char match_policy[] =
    "version: 1\n"
    "extends: default\n"             /* collections.OrderedDict etc. */
    "allow:\n"
    "  - m.C\n"
    "  - m.*\n"
    "  - pkg.sub.Exact\n"
    "  - pkg.sub.*\n"
    "  - deep.a.b.c.D\n"
    "  - blocked.Thing\n"
    "  - both.*\n"
    "deny:\n"
    "  - pkg.sub.Evil\n"
    "  - both.*\n"
    "  - collections.Counter\n";     /* inherited allow, denied here */

typedef struct match_case {
    const char *module, *qualname;
    pkl_verdict want;
    const char *why;
} match_case;

static const match_case match_cases[] = {
    {"m", "C", PKL_ALLOWED, "exact entry"},
    {"m", "D", PKL_ALLOWED, "m.* covers one component"},
    {"m", "C.attr", PKL_DENIED, "m.C does not allow m.C.attr; m.* is one "
                                 "component"},
    {"m.a", "b", PKL_DENIED, "m.* does not allow m.a.b (module m.a)"},
    {"m", "a.b", PKL_DENIED, "m.* does not allow m.a.b (proto 4 qualname)"},
    {"m", "__builtins__", PKL_ALLOWED, "* matches any identifier: why the "
                                        "built-ins use no wildcard"},
    {"mm", "C", PKL_DENIED, "prefix is a whole component"},
    {"n", "C", PKL_DENIED, "no entry"},
    {"pkg.sub", "Exact", PKL_ALLOWED, "exact, dotted module"},
    {"pkg", "sub.Exact", PKL_ALLOWED, "same dotted name, proto-4 split"},
    {"pkg.sub", "Other", PKL_ALLOWED, "pkg.sub.*"},
    {"pkg.sub", "Evil", PKL_DENIED_EXPLICIT, "deny wins over pkg.sub.*"},
    {"pkg", "sub.Evil", PKL_DENIED_EXPLICIT, "deny matches the proto-4 split"},
    {"pkg.sub.x", "Y", PKL_DENIED, "two components after pkg.sub"},
    {"deep.a.b.c", "D", PKL_ALLOWED, "long exact"},
    {"deep.a.b", "c", PKL_DENIED, "prefix of an entry is not allowed"},
    {"both", "X", PKL_DENIED_EXPLICIT, "same pattern in allow and deny"},
    {"collections", "OrderedDict", PKL_ALLOWED, "inherited from default"},
    {"collections", "Counter", PKL_DENIED_EXPLICIT, "own deny beats "
                                                     "inherited allow"},
    {"builtins", "eval", PKL_DENIED, "default never allows eval"},
    {"__builtin__", "set", PKL_DENIED, "unresolved spelling never matches"},
    {"builtins", "set", PKL_ALLOWED, "resolved spelling"},
};

START_TEST(test_match_table)
{
    const match_case *c = &match_cases[_i];
    pkl_error err;
    POISON_ERR(err);
    pkl_policy *p = load_str(match_policy, &err);
    ck_assert_msg(p != NULL, "load: %s", err.detail);
    ck_assert_int_eq(err.code, PKL_OK);
    pkl_verdict v = verdict(p, c->module, c->qualname);
    ck_assert_msg(v == c->want, "%s.%s: got %d want %d (%s)", c->module,
                  c->qualname, v, c->want, c->why);
    pkl_policy_free(p);
}
END_TEST

/* A deny inherited from a parent wins over the child's own allow. */
START_TEST(test_inherited_deny)
{
    pkl_error err;
    POISON_ERR(err);
    pkl_policy *p = pkl_policy_load_file(GOOD_DIR "/child.yaml", NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.detail);
    pkl_policy_free(p);
    /* A string policy cannot extend a relative file without an origin... */
    const char *y = "version: 1\nextends: child.yaml\nallow: [pkg.mod.Bad]\n";
    POISON_ERR(err);
    p = pkl_policy_load_string(y, strlen(y), NULL, NULL, &err);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(err.code, PKL_E_POLICY_NOT_FOUND);
    ck_assert_uint_eq(err.line, 2);
    ck_assert_uint_eq(err.column, 10);
    /* ...but with an origin in the good folder it can. */
    POISON_ERR(err);
    p = pkl_policy_load_string(y, strlen(y), GOOD_DIR "/virtual.yaml", NULL,
                               &err);
    ck_assert_msg(p != NULL, "%s", err.detail);
    ck_assert_int_eq(verdict(p, "pkg.mod", "Bad"), PKL_DENIED_EXPLICIT);
    ck_assert_int_eq(verdict(p, "pkg.mod", "Good"), PKL_ALLOWED);
    pkl_policy_free(p);
}
END_TEST

/* ---- built-ins ---------------------------------------------------------------- */

typedef struct builtin_case {
    const char *policy, *module, *qualname;
    pkl_verdict want;
} builtin_case;

/* What each built-in must and must never allow (docs/policy.md). */
static const builtin_case builtin_cases[] = {
    {"strict", "builtins", "set", PKL_DENIED},
    {"strict", "collections", "OrderedDict", PKL_DENIED},
    {"default", "builtins", "set", PKL_ALLOWED},
    {"default", "_codecs", "encode", PKL_ALLOWED},
    {"default", "copyreg", "_reconstructor", PKL_ALLOWED},
    {"default", "collections", "OrderedDict", PKL_ALLOWED},
    {"default", "datetime", "datetime", PKL_ALLOWED},
    {"default", "decimal", "Decimal", PKL_ALLOWED},
    {"default", "uuid", "UUID", PKL_ALLOWED},
    {"default", "numpy", "ndarray", PKL_DENIED},
    {"ml", "numpy.core.multiarray", "_reconstruct", PKL_ALLOWED},
    {"ml", "numpy._core.multiarray", "scalar", PKL_ALLOWED},
    {"ml", "torch._utils", "_rebuild_tensor_v2", PKL_ALLOWED},
    {"ml", "torch", "FloatStorage", PKL_ALLOWED},
    {"ml", "collections", "OrderedDict", PKL_ALLOWED},
    {"ml", "torch._tensor", "_rebuild_from_type_v2", PKL_DENIED},
    /* never in any built-in */
    {"default", "builtins", "eval", PKL_DENIED},
    {"default", "builtins", "exec", PKL_DENIED},
    {"default", "builtins", "getattr", PKL_DENIED},
    {"default", "builtins", "__import__", PKL_DENIED},
    {"default", "builtins", "object.__subclasses__", PKL_DENIED},
    {"default", "os", "system", PKL_DENIED},
    {"default", "subprocess", "Popen", PKL_DENIED},
    {"default", "pickle", "loads", PKL_DENIED},
    {"default", "operator", "attrgetter", PKL_DENIED},
    {"default", "functools", "reduce", PKL_DENIED},
    {"ml", "builtins", "eval", PKL_DENIED},
    {"ml", "numpy", "load", PKL_DENIED},
    {"ml", "torch", "load", PKL_DENIED},
    {"ml", "joblib.numpy_pickle", "NDArrayWrapper", PKL_DENIED},
    {"ml", "numpy.testing._private.utils", "runstring", PKL_DENIED},
};

START_TEST(test_builtins)
{
    const builtin_case *c = &builtin_cases[_i];
    pkl_error err;
    POISON_ERR(err);
    pkl_policy *p = pkl_policy_builtin(c->policy, NULL, &err);
    ck_assert_msg(p != NULL, "%s: %s", c->policy, err.detail);
    ck_assert_int_eq(err.code, PKL_OK);
    ck_assert_str_eq(pkl_policy_name(p), c->policy);
    ck_assert_msg(verdict(p, c->module, c->qualname) == c->want,
                  "%s: %s.%s", c->policy, c->module, c->qualname);
    pkl_policy_free(p);
}
END_TEST

START_TEST(test_builtin_persid_and_open)
{
    pkl_error err;
    const char *names[] = {"strict", "default", "ml"};
    const int persid[] = {0, 0, 1};
    for (int i = 0; i < 3; i++) {
        POISON_ERR(err);
        pkl_policy *p = pkl_policy_open(names[i], NULL, &err);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(pkl_policy_allows_persid(p), persid[i]);
        pkl_policy_free(p);
    }
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_builtin("nope", NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_POLICY_NOT_FOUND);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_open("nope", NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_POLICY_NOT_FOUND);
    /* '/' makes it a path even though "default" is a built-in name */
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_open("./default", NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_POLICY_NOT_FOUND);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_open("default.yaml", NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_POLICY_NOT_FOUND);
    POISON_ERR(err);
    pkl_policy *p = pkl_policy_open("policies/default.yaml", NULL, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(pkl_policy_name(p), "default");
    pkl_policy_free(p);
    /* NULL-safety of the accessors */
    pkl_policy_free(NULL);
    ck_assert_int_eq(pkl_policy_check(NULL, NULL), PKL_DENIED);
    ck_assert_int_eq(pkl_policy_allows_persid(NULL), 0);
}
END_TEST

/* ---- limits -------------------------------------------------------------------- */

START_TEST(test_limits_default)
{
    pkl_limits l;
    memset(&l, 0, sizeof l);
    pkl_limits_default(&l);
    /* the documented values (docs/policy.md) */
    ck_assert_uint_eq(l.max_depth, 1000);
    ck_assert_uint_eq(l.max_memo, 10000000);
    ck_assert_uint_eq(l.max_values, 100000000);
    ck_assert_uint_eq(l.max_bytes, (size_t)2 * 1024 * 1024 * 1024);
    ck_assert_uint_eq(l.max_json_bytes, (size_t)4 * 1024 * 1024 * 1024);
    pkl_error err;
    pkl_policy *p = pkl_policy_builtin("default", NULL, &err);
    pkl_limits pl;
    pkl_policy_limits(p, &pl);
    ck_assert_mem_eq(&pl, &l, sizeof l);
    pkl_policy_free(p);
}
END_TEST

typedef struct limit_case {
    const char *value;
    pkl_code code;
    size_t want;         /* max_bytes when code == PKL_OK */
    unsigned column;     /* of the value, when code != PKL_OK */
} limit_case;

/* "limits:\n  max_bytes: VALUE": the value starts at line 3, column 14. */
static const limit_case limit_cases[] = {
    {"1", PKL_OK, 1, 0},
    {"4096", PKL_OK, 4096, 0},
    {"1KiB", PKL_OK, 1024, 0},
    {"3 MiB", PKL_OK, 3u << 20, 0},
    {"2GiB", PKL_OK, (size_t)2 << 30, 0},
    {"1TiB", PKL_OK, (size_t)1 << 40, 0},
    {"18446744073709551615", PKL_OK, SIZE_MAX, 0},
    {"18446744073709551616", PKL_E_POLICY_SCHEMA, 0, 14},
    {"16777216TiB", PKL_E_POLICY_SCHEMA, 0, 14},  /* 2^64: overflows */
    {"16777215TiB", PKL_OK, (size_t)16777215 << 40, 0},
    {"0", PKL_E_POLICY_SCHEMA, 0, 14},
    {"0KiB", PKL_E_POLICY_SCHEMA, 0, 14},
    {"-1", PKL_E_POLICY_SCHEMA, 0, 14},
    {"+1", PKL_E_POLICY_SCHEMA, 0, 14},
    {"1kib", PKL_E_POLICY_SCHEMA, 0, 14},
    {"1KB", PKL_E_POLICY_SCHEMA, 0, 14},
    {"1  KiB", PKL_E_POLICY_SCHEMA, 0, 14},
    {"1.5GiB", PKL_E_POLICY_SCHEMA, 0, 14},
    {"0x10", PKL_E_POLICY_SCHEMA, 0, 14},
    {"KiB", PKL_E_POLICY_SCHEMA, 0, 14},
    {"'5'", PKL_E_POLICY_SCHEMA, 0, 14},
    {"[5]", PKL_E_POLICY_SCHEMA, 0, 14},
    {"~", PKL_E_POLICY_SCHEMA, 0, 14},
};

START_TEST(test_limits_table)
{
    const limit_case *c = &limit_cases[_i];
    char yaml[256];
    snprintf(yaml, sizeof yaml, "version: 1\nlimits:\n  max_bytes: %s\n",
             c->value);
    pkl_error err;
    POISON_ERR(err);
    pkl_policy *p = load_str(yaml, &err);
    if (c->code == PKL_OK) {
        ck_assert_msg(p != NULL, "%s: %s", c->value, err.detail);
        pkl_limits l;
        pkl_policy_limits(p, &l);
        ck_assert_uint_eq(l.max_bytes, c->want);
        ck_assert_uint_eq(l.max_depth, 1000); /* untouched: default */
        pkl_policy_free(p);
    } else {
        ck_assert_msg(p == NULL, "%s accepted", c->value);
        ck_assert_int_eq(err.code, c->code);
        ck_assert_uint_eq(err.line, 3);
        ck_assert_uint_eq(err.column, c->column);
        ck_assert_msg(strncmp(err.detail, "<test>:3:14: ", 13) == 0, "%s",
                      err.detail);
    }
}
END_TEST

/* ---- suggest / write ------------------------------------------------------------- */

START_TEST(test_suggest)
{
    pkl_global g;
    char buf[600];
    snprintf(g.module, sizeof g.module, "collections");
    snprintf(g.qualname, sizeof g.qualname, "OrderedDict");
    ck_assert_str_eq(pkl_policy_suggest(&g, buf, sizeof buf),
                     "allow:\n  - collections.OrderedDict");
    char small[10];
    pkl_policy_suggest(&g, small, sizeof small);
    ck_assert_str_eq(small, "allow:\n  ");
}
END_TEST

/* The written policy loads again and means the same. */
START_TEST(test_write_roundtrip)
{
    const char *names[] = {"strict", "default", "ml"};
    for (int i = 0; i < 3; i++) {
        pkl_error err;
        pkl_policy *p = pkl_policy_builtin(names[i], NULL, &err);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(pkl_policy_write(p, f), 0);
        fclose(f);
        POISON_ERR(err);
        pkl_policy *q = pkl_policy_load_string(buf, len, NULL, NULL, &err);
        ck_assert_msg(q != NULL, "%s: %s\n%s", names[i], err.detail, buf);
        ck_assert_str_eq(pkl_policy_name(q), names[i]);
        ck_assert_int_eq(pkl_policy_allows_persid(q),
                         pkl_policy_allows_persid(p));
        ck_assert_int_eq(verdict(q, "collections", "OrderedDict"),
                         verdict(p, "collections", "OrderedDict"));
        ck_assert_int_eq(verdict(q, "torch", "FloatStorage"),
                         verdict(p, "torch", "FloatStorage"));
        pkl_policy_free(q);
        pkl_policy_free(p);
        free(buf);
    }
}
END_TEST

/* Text that libyaml would fold inside quotes (NEL, LINE SEPARATOR) and
 * non-ASCII survive write -> load -> write unchanged. */
START_TEST(test_write_unicode)
{
    const char *y = "version: 1\nname: \"n\\u00e9\"\n"
                    "description: \"a\\u2028b\\u0085c\\U0001F600 \\\" \\\\ \\t\\x01\"\n";
    pkl_error err;
    POISON_ERR(err);
    pkl_policy *p = load_str(y, &err);
    ck_assert_msg(p != NULL, "%s", err.detail);
    ck_assert_str_eq(pkl_policy_name(p), "n\xc3\xa9");
    char *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    FILE *f = open_memstream(&b1, &l1);
    ck_assert_int_eq(pkl_policy_write(p, f), 0);
    fclose(f);
    POISON_ERR(err);
    pkl_policy *q = pkl_policy_load_string(b1, l1, "<test>", NULL, &err);
    ck_assert_msg(q != NULL, "%s\n%s", err.detail, b1);
    f = open_memstream(&b2, &l2);
    ck_assert_int_eq(pkl_policy_write(q, f), 0);
    fclose(f);
    ck_assert_str_eq(b1, b2);
    /* the output is ASCII */
    for (size_t i = 0; i < l1; i++)
        ck_assert_uint_lt((unsigned char)b1[i], 0x80);
    ck_assert_ptr_nonnull(strstr(b1, "\\u2028"));
    pkl_policy_free(p);
    pkl_policy_free(q);
    free(b1);
    free(b2);
}
END_TEST

/* ---- the folders -------------------------------------------------------------------- */

typedef struct file_list {
    char names[128][128];
    size_t n;
} file_list;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void list_yaml(const char *dir, file_list *fl)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (run from the repository root)",
                  dir);
    struct dirent *e;
    fl->n = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
            continue;
        ck_assert_uint_lt(fl->n, 128);
        ck_assert_uint_lt(len, 128);
        memcpy(fl->names[fl->n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(fl->names, fl->n, sizeof fl->names[0], cmp_names);
}

static void read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

START_TEST(test_bad_folder)
{
    file_list fl;
    list_yaml(BAD_DIR, &fl);
    ck_assert_uint_ge(fl.n, 40);
    for (size_t i = 0; i < fl.n; i++) {
        char path[300], text[4096], where[200], file[600], msg[300];
        snprintf(path, sizeof path, BAD_DIR "/%s", fl.names[i]);
        read_text(path, text, sizeof text);
        int code;
        ck_assert_msg(sscanf(text, "# expect: %d %199s %299[^\n]", &code,
                             where, msg) == 3,
                      "%s: no '# expect:' line", path);
        /* where = [FILE:]LINE:COL */
        unsigned line, col;
        char *colon2 = strrchr(where, ':');
        ck_assert_ptr_nonnull(colon2);
        *colon2 = '\0';
        col = (unsigned)atoi(colon2 + 1);
        char *colon1 = strrchr(where, ':');
        if (colon1) {
            *colon1 = '\0';
            line = (unsigned)atoi(colon1 + 1);
            snprintf(file, sizeof file, BAD_DIR "/%s", where);
        } else {
            line = (unsigned)atoi(where);
            snprintf(file, sizeof file, "%s", path);
        }
        pkl_error err;
        POISON_ERR(err);
        pkl_policy *p = pkl_policy_load_file(path, NULL, &err);
        ck_assert_msg(p == NULL, "%s: accepted", path);
        ck_assert_msg((int)err.code == code, "%s: code %d want %d (%s)", path,
                      err.code, code, err.detail);
        ck_assert_msg(err.line == line && err.column == col,
                      "%s: at %u:%u want %u:%u (%s)", path, err.line,
                      err.column, line, col, err.detail);
        char prefix[700];
        snprintf(prefix, sizeof prefix, "%s:%u:%u: ", file, line, col);
        ck_assert_msg(strncmp(err.detail, prefix, strlen(prefix)) == 0,
                      "%s: detail '%s' does not start with '%s'", path,
                      err.detail, prefix);
        ck_assert_msg(strstr(err.detail, msg) != NULL,
                      "%s: detail '%s' lacks '%s'", path, err.detail, msg);
        /* the same text through load_string gives the same answer when
         * the origin is the same path */
        POISON_ERR(err);
        p = pkl_policy_load_string(text, strlen(text), path, NULL, &err);
        ck_assert_ptr_null(p);
        ck_assert_int_eq(err.code, code);
        ck_assert_uint_eq(err.line, line);
        ck_assert_uint_eq(err.column, col);
    }
}
END_TEST

START_TEST(test_good_folder)
{
    const char *dirs[] = {GOOD_DIR, GOOD_DIR "/sub"};
    size_t checked = 0;
    for (int d = 0; d < 2; d++) {
        file_list fl;
        list_yaml(dirs[d], &fl);
        for (size_t i = 0; i < fl.n; i++) {
            char path[300], text[4096];
            snprintf(path, sizeof path, "%s/%s", dirs[d], fl.names[i]);
            read_text(path, text, sizeof text);
            pkl_error err;
            POISON_ERR(err);
            pkl_policy *p = pkl_policy_load_file(path, NULL, &err);
            ck_assert_msg(p != NULL, "%s: %s", path, err.detail);
            ck_assert_int_eq(err.code, PKL_OK);
            pkl_limits lim;
            pkl_policy_limits(p, &lim);
            /* "# check: KIND ARGS" lines */
            for (char *ln = strstr(text, "# check: "); ln;
                 ln = strstr(ln + 1, "# check: ")) {
                char kind[32], a[200], b[200];
                int n = sscanf(ln, "# check: %31s %199s %199s", kind, a, b);
                ck_assert_int_ge(n, 2);
                if (strcmp(kind, "allowed") == 0 ||
                    strcmp(kind, "denied") == 0 ||
                    strcmp(kind, "explicit") == 0) {
                    pkl_verdict want = kind[0] == 'a' ? PKL_ALLOWED
                                       : kind[0] == 'd'
                                           ? PKL_DENIED
                                           : PKL_DENIED_EXPLICIT;
                    ck_assert_msg(verdict(p, a, b) == want,
                                  "%s: %s.%s want %s", path, a, b, kind);
                } else if (strcmp(kind, "persid") == 0) {
                    ck_assert_msg(pkl_policy_allows_persid(p) == atoi(a),
                                  "%s: persid", path);
                } else if (strcmp(kind, "limit") == 0) {
                    size_t got = 0;
                    if (strcmp(a, "max_depth") == 0) got = lim.max_depth;
                    else if (strcmp(a, "max_memo") == 0) got = lim.max_memo;
                    else if (strcmp(a, "max_values") == 0) got = lim.max_values;
                    else if (strcmp(a, "max_bytes") == 0) got = lim.max_bytes;
                    else if (strcmp(a, "max_json_bytes") == 0)
                        got = lim.max_json_bytes;
                    else ck_abort_msg("%s: unknown limit %s", path, a);
                    ck_assert_msg(got == strtoull(b, NULL, 10),
                                  "%s: %s = %zu want %s", path, a, got, b);
                } else if (strcmp(kind, "name") == 0) {
                    const char *nm = pkl_policy_name(p);
                    size_t nl = strlen(nm), al = strlen(a);
                    ck_assert_msg(nl >= al && strcmp(nm + nl - al, a) == 0,
                                  "%s: name '%s' want '%s'", path, nm, a);
                } else {
                    ck_abort_msg("%s: unknown check '%s'", path, kind);
                }
                checked++;
            }
            pkl_policy_free(p);
        }
    }
    ck_assert_uint_ge(checked, 30);
}
END_TEST

/* extends deeper than the documented limit (8) is refused, not followed
 * until the stack runs out; a chain of exactly 8 extends loads. */
START_TEST(test_extends_depth)
{
    char dir[] = "/tmp/pkl_policy_depth_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    for (int i = 0; i <= 10; i++) {
        snprintf(path, sizeof path, "%s/p%d.yaml", dir, i);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        if (i < 10)
            fprintf(f, "version: 1\nextends: p%d.yaml\n", i + 1);
        else
            fprintf(f, "version: 1\nallow: [last.One]\n");
        fclose(f);
    }
    pkl_error err;
    /* p2 -> p3 ... -> p10: 8 extends */
    snprintf(path, sizeof path, "%s/p2.yaml", dir);
    POISON_ERR(err);
    pkl_policy *p = pkl_policy_load_file(path, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.detail);
    ck_assert_int_eq(verdict(p, "last", "One"), PKL_ALLOWED);
    pkl_policy_free(p);
    /* p1 -> ... -> p10: 9 extends: refused at p9's extends line */
    snprintf(path, sizeof path, "%s/p1.yaml", dir);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_load_file(path, NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_POLICY_CYCLE);
    ck_assert_uint_eq(err.line, 2);
    ck_assert_uint_eq(err.column, 10);
    ck_assert_ptr_nonnull(strstr(err.detail, "p9.yaml:2:10: "));
    for (int i = 0; i <= 10; i++) {
        snprintf(path, sizeof path, "%s/p%d.yaml", dir, i);
        remove(path);
    }

    /* A diamond is no cycle, but fan-out is bounded: q0..q6 each extend
     * [q(i+1), q(i+1)], q7 extends nothing. Loading is a preorder walk of a
     * binary tree of depth 7; the top file is load 1, so the 65th load
     * (one over the limit of 64) is preorder node 65: inside q1's first
     * subtree (nodes 2..128), inside q2's first subtree (nodes 3..65), as
     * its last node, i.e. the q7 named by the SECOND entry of a q6.
     * "extends: [q7.yaml, " is 19 characters: line 2, column 20. */
    for (int i = 0; i <= 7; i++) {
        snprintf(path, sizeof path, "%s/q%d.yaml", dir, i);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        if (i < 7)
            fprintf(f, "version: 1\nextends: [q%d.yaml, q%d.yaml]\n", i + 1,
                    i + 1);
        else
            fprintf(f, "version: 1\n");
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/q0.yaml", dir);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_load_file(path, NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_POLICY_CYCLE);
    ck_assert_uint_eq(err.line, 2);
    ck_assert_uint_eq(err.column, 20);
    ck_assert_ptr_nonnull(strstr(err.detail, "q6.yaml:2:20: more than 64"));
    /* q2 loads 1 + 2 + ... + 32 = 63 files: within the limit */
    snprintf(path, sizeof path, "%s/q2.yaml", dir);
    POISON_ERR(err);
    pkl_policy *q = pkl_policy_load_file(path, NULL, &err);
    ck_assert_msg(q != NULL, "%s", err.detail);
    pkl_policy_free(q);
    for (int i = 0; i <= 7; i++) {
        snprintf(path, sizeof path, "%s/q%d.yaml", dir, i);
        remove(path);
    }
    rmdir(dir);
}
END_TEST

START_TEST(test_invalid_args)
{
    pkl_error err;
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_load_file(NULL, NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_INVALID_ARG);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_load_string(NULL, 5, NULL, NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_INVALID_ARG);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_open(NULL, NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_INVALID_ARG);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_load_file("tests/policies/nonexistent.yaml",
                                            NULL, &err));
    ck_assert_int_eq(err.code, PKL_E_POLICY_NOT_FOUND);
    ck_assert_uint_eq(err.line, 0);
    /* a NUL inside the text is a syntax error, not a truncation */
    static const char nul[] = "version: 1\nallow: [a.b]\0\nallow: [c.d]\n";
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_policy_load_string(nul, sizeof nul - 1, NULL, NULL,
                                              &err));
    /* "allow: [a.b]" is 12 characters; the NUL is the 13th of line 2 */
    ck_assert_int_eq(err.code, PKL_E_POLICY_SYNTAX);
    ck_assert_uint_eq(err.line, 2);
    ck_assert_uint_eq(err.column, 13);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------ */

/* Fails the 1st, 2nd, ... allocation of loading a policy with extends from
 * a file until loading succeeds: every failure must be PKL_E_NOMEM with
 * nothing left allocated. */
START_TEST(test_alloc_failures)
{
    const char *paths[] = {GOOD_DIR "/sub/grandchild.yaml", "ml"};
    for (int k = 0; k < 2; k++) {
        long n;
        for (n = 0; n < 100000; n++) {
            test_alloc fa;
            pkl_allocator a = test_allocator(&fa, (size_t)n + 1);
            pkl_error err;
            POISON_ERR(err);
            pkl_policy *p = pkl_policy_open(paths[k], &a, &err);
            if (p) {
                ck_assert_int_eq(err.code, PKL_OK);
                pkl_policy_free(p);
                ck_assert_int_eq(fa.live, 0);
                break;
            }
            ck_assert_msg(err.code == PKL_E_NOMEM, "%s: fail #%ld gave %d %s",
                          paths[k], n, err.code, err.detail);
            ck_assert_msg(fa.live == 0, "%s: fail #%ld leaks %ld", paths[k],
                          n, fa.live);
        }
        ck_assert_int_gt(n, 10); /* it did allocate, and failures were seen */
    }
}
END_TEST

Suite *suite_policy(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("match");
    tcase_add_loop_test(tc, test_match_table, 0,
                        (int)(sizeof match_cases / sizeof match_cases[0]));
    tcase_add_test(tc, test_inherited_deny);
    tcase_add_loop_test(tc, test_builtins, 0,
                        (int)(sizeof builtin_cases / sizeof builtin_cases[0]));
    tcase_add_test(tc, test_builtin_persid_and_open);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_limits_default);
    tcase_add_loop_test(tc, test_limits_table, 0,
                        (int)(sizeof limit_cases / sizeof limit_cases[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_suggest);
    tcase_add_test(tc, test_write_roundtrip);
    tcase_add_test(tc, test_write_unicode);
    tcase_add_test(tc, test_bad_folder);
    tcase_add_test(tc, test_good_folder);
    tcase_add_test(tc, test_extends_depth);
    tcase_add_test(tc, test_invalid_args);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
