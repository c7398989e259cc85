/* fuzz_policy.c -- fuzz harness for the YAML policy loader.
 *
 * Loads the input as a policy from memory with no origin, so a relative
 * `extends` of a file is refused and only built-in names can be extended.
 * The loader gets a NUL-terminated copy with embedded NUL bytes dropped:
 * policies are text, and the copy (exactly len+1 bytes) lets ASan catch
 * a read past the end. A policy that loads is then used (checks, limits,
 * suggestion) and written back as YAML; that YAML must load again and
 * write back byte for byte the same (the writer is the loader's inverse).
 * Errors must carry a policy-file code (5xx) or out-of-memory, a message,
 * and a line/column inside the text. Any broken promise abort()s.
 *
 * It must never filter inputs out and never read files.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickleguard.h"

#define CHECK(x)                                                              \
    do {                                                                      \
        if (!(x)) {                                                           \
            fprintf(stderr, "fuzz_policy: check failed: %s (line %d)\n", #x,  \
                    __LINE__);                                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

static const char *const probes[][2] = {
    {"builtins", "eval"},
    {"builtins", "getattr"},
    {"os", "system"},
    {"collections", "OrderedDict"},
    {"torch._utils", "_rebuild_tensor_v2"},
    {"numpy.core.multiarray", "_reconstruct"},
    {"a.b.c", "D.E"},
};

/* Writes p as YAML into a malloc'd buffer. */
static char *write_policy(const pkl_policy *p, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    CHECK(f != NULL);
    CHECK(pkl_policy_write(p, f) == 0);
    CHECK(fclose(f) == 0);
    return out;
}

static void use_policy(const pkl_policy *p)
{
    pkl_limits l;
    char buf[1024];
    CHECK(pkl_policy_name(p) != NULL);
    pkl_policy_limits(p, &l);
    /* zero never means unlimited: a loaded policy has no zero limit */
    CHECK(l.max_depth && l.max_memo && l.max_values && l.max_bytes &&
          l.max_json_bytes);
    (void)pkl_policy_allows_persid(p);
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        pkl_global g;
        memset(&g, 0, sizeof g);
        strcpy(g.module, probes[i][0]);
        strcpy(g.qualname, probes[i][1]);
        pkl_verdict v = pkl_policy_check(p, &g);
        CHECK(v == PKL_DENIED || v == PKL_ALLOWED || v == PKL_DENIED_EXPLICIT);
        CHECK(pkl_policy_suggest(&g, buf, sizeof buf) == buf);
        CHECK(strlen(buf) < sizeof buf);
    }
}

static void check_error(const pkl_error *err, size_t len)
{
    char msg[1024];
    CHECK(err->code != PKL_OK && err->msg != NULL);
    CHECK(pkl_error_class(err->code) == 5 || err->code == PKL_E_NOMEM);
    CHECK(memchr(err->detail, '\0', sizeof err->detail) != NULL);
    CHECK(err->offset <= len + 1);
    pkl_error_format(err, msg, sizeof msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    size_t n = 0;
    pkl_error err;

    CHECK(text != NULL);
    for (size_t i = 0; i < size; i++)
        if (data[i] != '\0')
            text[n++] = (char)data[i];
    text[n] = '\0';

    memset(&err, 0, sizeof err);
    pkl_policy *p = pkl_policy_load_string(text, n, NULL, NULL, &err);
    if (!p) {
        check_error(&err, n);
        free(text);
        return 0;
    }
    CHECK(err.code == PKL_OK);
    use_policy(p);

    size_t len1 = 0, len2 = 0;
    char *yaml1 = write_policy(p, &len1);
    memset(&err, 0, sizeof err);
    pkl_policy *q = pkl_policy_load_string(yaml1, len1, NULL, NULL, &err);
    if (!q) {
        char msg[1024];
        fprintf(stderr, "fuzz_policy: written policy does not load: %s\n%s",
                pkl_error_format(&err, msg, sizeof msg), yaml1);
        abort();
    }
    use_policy(q);
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        pkl_global g;
        memset(&g, 0, sizeof g);
        strcpy(g.module, probes[i][0]);
        strcpy(g.qualname, probes[i][1]);
        CHECK(pkl_policy_check(p, &g) == pkl_policy_check(q, &g));
    }
    CHECK(pkl_policy_allows_persid(p) == pkl_policy_allows_persid(q));
    pkl_limits lp, lq;
    pkl_policy_limits(p, &lp);
    pkl_policy_limits(q, &lq);
    CHECK(lp.max_depth == lq.max_depth && lp.max_memo == lq.max_memo &&
          lp.max_values == lq.max_values && lp.max_bytes == lq.max_bytes &&
          lp.max_json_bytes == lq.max_json_bytes);
    char *yaml2 = write_policy(q, &len2);
    if (len1 != len2 || memcmp(yaml1, yaml2, len1) != 0) {
        fprintf(stderr, "fuzz_policy: write/load/write differs:\n--- first\n"
                "%s--- second\n%s", yaml1, yaml2);
        abort();
    }
    free(yaml1);
    free(yaml2);
    pkl_policy_free(q);
    pkl_policy_free(p);
    free(text);
    return 0;
}
