/* fuzz_decoder.c -- fuzz harness for the restricted decoder and the
 * pickle-json writer.
 *
 * The first byte picks the policy and the limits (fuzz_common.h); the rest
 * is decoded pickle after pickle, as `pickleguard load` does with
 * concatenated pickles, until a pickle fails or the input ends. Each
 * decoded document is written as pickle-json into memory. Checks what
 * pickleguard.h promises: a failure has a malformed/policy/limit code and
 * an offset inside the input; a success consumed bytes ending in STOP; the
 * JSON writer either writes nothing (over max_json_bytes) or exactly one
 * valid JSON line of at most max_json_bytes. Each pickle is also decoded
 * through pkl_decode_build with a counting builder: it must succeed or
 * fail exactly as pkl_decode did (same code, offset and length: one
 * decoder, one set of checks), and hold no handle afterwards but the root
 * (released here). Any broken promise abort()s.
 *
 * It must never filter inputs out: every byte string is a test.
 */
#include "fuzz_common.h"

static void check_failure(const pkl_error *err, size_t remain)
{
    char msg[1024];
    CHECK(err->code != PKL_OK && err->msg != NULL);
    int cls = pkl_error_class(err->code);
    CHECK(cls == 1 || cls == 2 || cls == 3);
    CHECK(err->offset <= remain);
    CHECK(memchr(err->detail, '\0', sizeof err->detail) != NULL);
    pkl_error_format(err, msg, sizeof msg);
    CHECK(strlen(msg) < sizeof msg);
}

/* ---- a counting builder: every handle is a refcounted allocation ---- */
typedef struct cb_ctx {
    long live;
} cb_ctx;

static void *cb_new(void *c)
{
    int *h = malloc(sizeof *h);
    CHECK(h != NULL);
    *h = 1;
    ((cb_ctx *)c)->live++;
    return h;
}

static void *cb_scalar(void *c, const pkl_value *v) { (void)v; return cb_new(c); }
static void *cb_container(void *c, int type, void *const *items, size_t n)
{
    (void)type;
    for (size_t i = 0; i < n; i++)
        CHECK(items[i] != NULL && *(int *)items[i] > 0);
    return cb_new(c);
}
static int cb_mut(void *c, void *t, void *const *items, size_t n)
{
    (void)c;
    CHECK(t != NULL && *(int *)t > 0);
    for (size_t i = 0; i < n; i++)
        CHECK(items[i] != NULL && *(int *)items[i] > 0);
    return 0;
}
static void *cb_global(void *c, const pkl_global *g) { (void)g; return cb_new(c); }
static void *cb_call(void *c, void *f, void *a, void *k, int is_new)
{
    (void)is_new;
    CHECK(f && a && *(int *)f > 0 && *(int *)a > 0 && (!k || *(int *)k > 0));
    return cb_new(c);
}
static int cb_build(void *c, void *i, void *s)
{
    (void)c;
    CHECK(i && s && *(int *)i > 0 && *(int *)s > 0);
    return 0;
}
static void *cb_persid(void *c, void *id) { CHECK(id != NULL); return cb_new(c); }
static void *cb_attr(void *c, const pkl_global *g, const uint8_t *n, size_t l)
{
    (void)g; (void)n; (void)l;
    return cb_new(c);
}
static void *cb_buffer(void *c, size_t i) { (void)i; return cb_new(c); }
static void *cb_readonly(void *c, void *b) { CHECK(b != NULL); return cb_new(c); }
static void cb_retain(void *c, void *h) { (void)c; CHECK(*(int *)h > 0); ++*(int *)h; }
static void cb_release(void *c, void *h)
{
    CHECK(*(int *)h > 0);
    if (--*(int *)h == 0) {
        free(h);
        ((cb_ctx *)c)->live--;
    }
}

/* The optional callbacks (the Python package has them all). */
static void *cb_int64(void *c, int64_t i) { (void)i; return cb_new(c); }
static void *cb_float64(void *c, double f) { (void)f; return cb_new(c); }
static void cb_release_n(void *c, void *const *hs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hs[i])
            cb_release(c, hs[i]);
}
static int cb_append_owned(void *c, void *t, void *const *items, size_t n)
{
    CHECK(cb_mut(c, t, items, n) == 0);
    cb_release_n(c, items, n);
    return 0;
}

/* The same pickle through the builder, with and without the optional
 * callbacks (builder mode's run of numbers uses int64 and float64): the
 * same outcome as pkl_decode. */
static void check_builder_with(const uint8_t *p, size_t len,
                               const pkl_decode_options *opt, const pkl_doc *doc,
                               size_t consumed, const pkl_error *err, int optional)
{
    cb_ctx c = {0};
    pkl_builder b = {
        .ctx = &c, .scalar = cb_scalar, .container = cb_container,
        .append = cb_mut, .setitems = cb_mut, .additems = cb_mut,
        .global = cb_global, .call = cb_call, .build = cb_build,
        .persid = cb_persid, .attr = cb_attr, .buffer = cb_buffer,
        .readonly = cb_readonly, .retain = cb_retain, .release = cb_release};
    if (optional) {
        b.int64 = cb_int64;
        b.float64 = cb_float64;
        b.release_n = cb_release_n;
        b.append_owned = cb_append_owned;
    }
    void *root = NULL;
    size_t used = 0;
    pkl_error e2;
    memset(&e2, 0xff, sizeof e2);
    int rc = pkl_decode_build(p, len, opt, &b, &root, &used, &e2);
    if (doc) {
        CHECK(rc == 0 && root != NULL && used == consumed);
        CHECK(*(int *)root == 1);
        cb_release(&c, root);
    } else {
        CHECK(rc < 0 && root == NULL);
        CHECK(e2.code == err->code && e2.offset == err->offset);
    }
    CHECK(c.live == 0);
}

static void check_builder(const uint8_t *p, size_t len, const pkl_decode_options *opt,
                          const pkl_doc *doc, size_t consumed, const pkl_error *err)
{
    check_builder_with(p, len, opt, doc, consumed, err, 0);
    check_builder_with(p, len, opt, doc, consumed, err, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags = size ? data[0] : 0;
    const uint8_t *p = size ? data + 1 : data;
    size_t len = size ? size - 1 : 0;
    const pkl_policy *policy = fz_policy(flags);
    pkl_limits limits;
    int custom = fz_limits(flags, policy, &limits);
    /* Shared subtrees can make the JSON exponentially larger than the
     * input; past a few MiB that only slows fuzzing, so the default limit
     * (same code path) is capped. */
    size_t json_max = limits.max_json_bytes;
    if (json_max > ((size_t)4 << 20))
        json_max = (size_t)4 << 20;

    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = policy;
    opt.limits = custom ? &limits : NULL;

    char *json = NULL;
    size_t json_len = 0;
    FILE *mem = open_memstream(&json, &json_len);
    CHECK(mem != NULL);

    size_t off = 0;
    do {
        pkl_error err;
        size_t consumed = 0;
        memset(&err, 0xff, sizeof err);
        pkl_doc *doc = pkl_decode(p + off, len - off, &opt, &consumed, &err);
        check_builder(p + off, len - off, &opt, doc, consumed, &err);
        if (!doc) {
            check_failure(&err, len - off);
            break;
        }
        CHECK(err.code == PKL_OK);
        CHECK(consumed > 0 && consumed <= len - off);
        CHECK(p[off + consumed - 1] == PKL_OP_STOP);
        CHECK(pkl_doc_root(doc) != NULL);

        CHECK(fflush(mem) == 0);
        size_t before = json_len;
        memset(&err, 0xff, sizeof err);
        if (pkl_json_write(doc, mem, json_max, NULL, &err) < 0) {
            CHECK(err.code == PKL_E_LIMIT_JSON);
            CHECK(fflush(mem) == 0);
            CHECK(json_len == before); /* nothing written on failure */
        } else {
            CHECK(err.code == PKL_OK);
            CHECK(fflush(mem) == 0);
            CHECK(json_len > before);
            CHECK(json_len - before <= json_max);
            const char *why = fz_json_check((const uint8_t *)json + before,
                                            json_len - before);
            if (why) {
                fprintf(stderr, "fuzz_decoder: bad pickle-json (%s):\n%.*s\n",
                        why, (int)(json_len - before), json + before);
                abort();
            }
        }
        pkl_doc_free(doc);
        off += consumed;
    } while (off < len);

    fclose(mem);
    free(json);
    return 0;
}
