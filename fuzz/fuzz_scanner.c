/* fuzz_scanner.c -- fuzz harness for the static scanner.
 *
 * The first byte picks the policy (bits 0-1, fuzz_common.h), max_findings
 * (bits 2-4: 0 default, else 1..7) and max_nesting (bits 5-7: 0 default,
 * else 1..7); the rest is scanned. Checks what pickleguard.h promises: the
 * scan succeeds (only out-of-memory may fail it), findings are well formed
 * and counted exactly (kept + dropped = per-severity totals, max_severity
 * exact), a second scan with a path prefix finds the same things under
 * that prefix, and the scanner fails closed: input the reader cannot walk
 * to the end, or that does not end in STOP, has a finding of at least
 * medium -- or, when not even the first opcode works (empty input, a
 * first byte that is no opcode), the info finding `not-a-pickle`
 * (docs/rules.md: pickle.load fails before doing anything). Any broken
 * promise abort()s.
 *
 * It must never filter inputs out: every byte string is a test.
 */
#include "fuzz_common.h"

static int cstr_ok(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

static void check_result(const pkl_scan_result *res, size_t max_findings,
                         size_t len)
{
    size_t per_sev[5] = {0};
    int max = -1;
    CHECK(res->count <= max_findings);
    CHECK(res->count <= res->cap || res->count == 0);
    for (size_t i = 0; i < res->count; i++) {
        const pkl_finding *f = &res->findings[i];
        CHECK(f->rule != NULL && f->rule[0] != '\0');
        CHECK(f->severity >= PKL_SEV_INFO && f->severity <= PKL_SEV_CRITICAL);
        CHECK(f->opcode >= -1 && f->opcode <= 255);
        CHECK(f->offset <= len);
        CHECK(cstr_ok(f->global, sizeof f->global));
        CHECK(cstr_ok(f->message, sizeof f->message) && f->message[0]);
        CHECK(cstr_ok(f->hint, sizeof f->hint));
        CHECK(cstr_ok(f->path, sizeof f->path));
        per_sev[f->severity]++;
        if (f->severity > max)
            max = f->severity;
    }
    size_t total = 0;
    for (int s = 0; s < 5; s++) {
        CHECK(res->by_severity[s] >= per_sev[s]);
        total += res->by_severity[s];
        if (res->by_severity[s])
            CHECK(res->max_severity >= s);
    }
    CHECK(total == res->count + res->dropped);
    CHECK(res->max_severity >= max);
    CHECK(res->max_severity == -1 || res->by_severity[res->max_severity] > 0);
    CHECK(pkl_scan_result_max_severity(res) == res->max_severity);
    /* res->bytes counts nested pickles again, so it may exceed len */
}

/* 1 when the reader walks buf to its end (through concatenated pickles)
 * and the last opcode is STOP: only then may a scan be below medium. */
static int walks_clean(const uint8_t *buf, size_t len)
{
    pkl_reader r;
    pkl_op op;
    int last = -1, rc;
    pkl_reader_init(&r, buf, len, NULL);
    while ((rc = pkl_reader_next(&r, &op, NULL)) > 0)
        last = op.code;
    pkl_reader_free(&r);
    return rc == 0 && last == PKL_OP_STOP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags = size ? data[0] : 0;
    const uint8_t *p = size ? data + 1 : data;
    size_t len = size ? size - 1 : 0;

    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = fz_policy(flags);
    opt.max_findings = (flags >> 2) & 7u;
    opt.max_nesting = (flags >> 5) & 7u;
    size_t max_findings = opt.max_findings ? opt.max_findings : 1000;

    pkl_scan_result a, b;
    pkl_error err;
    pkl_scan_result_init(&a, NULL);
    memset(&err, 0xff, sizeof err);
    CHECK(pkl_scan_buffer(p, len, NULL, &opt, &a, &err) == 0);
    check_result(&a, max_findings, len);

    int not_a_pickle = 0;
    for (size_t i = 0; i < a.count; i++)
        not_a_pickle |= !strcmp(a.findings[i].rule, "not-a-pickle");
    if (!walks_clean(p, len) && a.max_severity < PKL_SEV_MEDIUM &&
        !not_a_pickle) {
        fprintf(stderr, "fuzz_scanner: input the reader cannot walk to a "
                        "final STOP scanned below medium (max %d)\n",
                a.max_severity);
        abort();
    }

    pkl_scan_result_init(&b, NULL);
    CHECK(pkl_scan_buffer(p, len, "f", &opt, &b, &err) == 0);
    CHECK(b.count == a.count && b.dropped == a.dropped);
    CHECK(b.max_severity == a.max_severity);
    CHECK(b.pickles == a.pickles && b.opcodes == a.opcodes);
    for (size_t i = 0; i < a.count; i++) {
        const pkl_finding *x = &a.findings[i], *y = &b.findings[i];
        CHECK(strcmp(x->rule, y->rule) == 0);
        CHECK(x->severity == y->severity && x->offset == y->offset);
        CHECK(x->opcode == y->opcode);
        CHECK(strcmp(x->global, y->global) == 0);
        /* the prefix, then '!' between components when there is more */
        CHECK(y->path[0] == 'f');
        if (strlen(x->path) + 2 < sizeof y->path)
            CHECK(strcmp(y->path + 1, x->path) == 0 ||
                  (y->path[1] == '!' && strcmp(y->path + 2, x->path) == 0));
    }
    pkl_scan_result_free(&b);
    pkl_scan_result_free(&a);
    return 0;
}
