/* check_scanfile.c -- the scan orchestration (src/scan_file.c): one call
 * does what `pickleguard scan` does to a file -- detection, container
 * walking, container findings -- and the rule table. Inputs are corpus
 * files whose expected verdicts come from corpus/formats/MANIFEST.tsv
 * (written from the real loaders' behaviour), and a FIFO made here. */
#define _DEFAULT_SOURCE 1
#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR "corpus/formats/"

static pkl_policy *ml(void)
{
    pkl_error err;
    pkl_policy *p = pkl_policy_builtin("ml", NULL, &err);
    ck_assert_ptr_nonnull(p);
    return p;
}

static int has(const pkl_scan_result *r, const char *rule, const char *path)
{
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->findings[i].rule, rule) == 0 &&
            (!path || strcmp(r->findings[i].path, path) == 0))
            return 1;
    return 0;
}

/* A hostile pickle inside gzip: found through the walker, with no CLI. */
START_TEST(gzip_container)
{
    pkl_policy *p = ml();
    pkl_scan_file_options o;
    memset(&o, 0, sizeof o);
    o.policy = p;
    pkl_scan_result r;
    pkl_scan_result_init(&r, NULL);
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_scan_file(DIR "malicious_gzip.gz", &o, &r, &err), 0);
    ck_assert_int_eq(err.code, PKL_OK);
    ck_assert_int_eq(r.max_severity, PKL_SEV_CRITICAL);
    ck_assert(has(&r, "dangerous-global", NULL));
    pkl_scan_result_free(&r);
    /* a clean torch-like zip member set: no finding at all */
    pkl_scan_result_init(&r, NULL);
    ck_assert_int_eq(pkl_scan_file(DIR "pickle_gzip.gz", &o, &r, &err), 0);
    ck_assert_int_eq(r.max_severity, -1);
    pkl_scan_result_free(&r);
    pkl_policy_free(p);
}
END_TEST

/* Shelves: the key is in the finding's path; Berkeley DB too. */
START_TEST(shelves)
{
    pkl_policy *p = ml();
    pkl_scan_file_options o;
    memset(&o, 0, sizeof o);
    o.policy = p;
    pkl_scan_result r;
    pkl_error err;
    pkl_scan_result_init(&r, NULL);
    ck_assert_int_eq(pkl_scan_file(DIR "shelf_ndbm_evil.db", &o, &r, &err), 0);
    ck_assert(has(&r, "dangerous-global", "key:'evil'"));
    pkl_scan_result_free(&r);
    pkl_scan_result_init(&r, NULL);
    ck_assert_int_eq(pkl_scan_file(DIR "shelf_bak.bak", &o, &r, &err), 0);
    ck_assert_uint_eq(r.count, 0);
    pkl_scan_result_free(&r);
    pkl_policy_free(p);
}
END_TEST

/* A container problem is a medium container-* finding. */
START_TEST(container_problem)
{
    pkl_policy *p = ml();
    pkl_scan_file_options o;
    memset(&o, 0, sizeof o);
    o.policy = p;
    pkl_scan_result r;
    pkl_error err;
    pkl_scan_result_init(&r, NULL);
    ck_assert_int_eq(pkl_scan_file(DIR "malicious_gzip_truncated.gz", &o, &r,
                                   &err), 0);
    ck_assert(has(&r, "container-truncated", NULL) ||
              has(&r, "container-damaged", NULL));
    for (size_t i = 0; i < r.count; i++)
        ck_assert_int_ge(pkl_rule_find(r.findings[i].rule), 0);
    pkl_scan_result_free(&r);
    pkl_policy_free(p);
}
END_TEST

/* Errors: a missing file, a directory; a FIFO found in a walk is never
 * opened (no hang) but a special-file finding. */
START_TEST(errors_and_special)
{
    pkl_policy *p = ml();
    pkl_scan_file_options o;
    memset(&o, 0, sizeof o);
    o.policy = p;
    pkl_scan_result r;
    pkl_error err;
    pkl_scan_result_init(&r, NULL);
    ck_assert_int_eq(pkl_scan_file(DIR "no-such-file", &o, &r, &err), -1);
    ck_assert_int_eq(err.code, PKL_E_IO);
    ck_assert_int_eq(pkl_scan_file("corpus", &o, &r, &err), -1);
    ck_assert_int_eq(err.code, PKL_E_IO);
    ck_assert_int_eq(pkl_scan_file(NULL, &o, &r, &err), -1);
    ck_assert_int_eq(err.code, PKL_E_INVALID_ARG);
    char fifo[] = "/tmp/pkl_check_fifoXXXXXX";
    int fd = mkstemp(fifo);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    o.found = 1;
    ck_assert_int_eq(pkl_scan_file(fifo, &o, &r, &err), 0);
    unlink(fifo);
    ck_assert(has(&r, "special-file", NULL));
    ck_assert_int_eq(r.max_severity, PKL_SEV_MEDIUM);
    pkl_scan_result_free(&r);
    pkl_policy_free(p);
}
END_TEST

/* The rule table: ids unique, every lookup consistent. */
START_TEST(rule_table)
{
    size_t n = pkl_rule_count();
    ck_assert_uint_gt(n, 30);
    for (size_t i = 0; i < n; i++) {
        const pkl_rule_info *r = pkl_rule_get(i);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(pkl_rule_find(r->id), (int)i);
        ck_assert(r->severity >= PKL_SEV_INFO && r->severity <= PKL_SEV_CRITICAL);
        ck_assert(r->title[0] && r->help[0]);
    }
    ck_assert_ptr_null(pkl_rule_get(n));
    ck_assert_int_eq(pkl_rule_find("no-such-rule"), -1);
    ck_assert_int_eq(pkl_rule_find(NULL), -1);
}
END_TEST

Suite *suite_scanfile(void)
{
    Suite *s = suite_create("scanfile");
    TCase *t = tcase_create("orchestration");
    tcase_add_test(t, gzip_container);
    tcase_add_test(t, shelves);
    tcase_add_test(t, container_problem);
    tcase_add_test(t, errors_and_special);
    tcase_add_test(t, rule_table);
    tcase_set_timeout(t, 30);
    suite_add_tcase(s, t);
    return s;
}
