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
 * valid JSON line of at most max_json_bytes. Any broken promise abort()s.
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
