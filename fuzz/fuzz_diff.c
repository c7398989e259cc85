/* fuzz_diff.c -- differential oracle: decoder, scanner and disassembler
 * must agree on every input (issue 7, item 2; fuzz/README.md explains
 * each rule and the combinations that are legitimate).
 *
 * The first byte picks the policy (bits 0-1) and the decoder's limits
 * (bits 2-4) as in fuzz_common.h; the scanner runs with its defaults under
 * the same policy. The rest is decoded pickle after pickle; the input is
 * ACCEPTED when every pickle decodes and they cover it to the last byte.
 *
 *   A. accepted  =>  the scanner reports nothing at medium or above
 *      (the issue asks for "nothing at high"; medium means malformed,
 *      truncated or trailing bytes, which the decoder never accepts, so
 *      the stronger rule holds too), except past the scanner's caps
 *      (`legit_a`).
 *   B. the scanner reports nothing at medium or above  =>  accepted, or
 *      the decoder stopped on a limit (3xx), or on one of the combinations
 *      in `legit_b` below, each of which needs the scanner finding that
 *      explains it (fuzz/README.md says why each one is legitimate).
 *   C. accepted  =>  pkl_dis lists the whole input without an error,
 *      except PKL_E_MEMO_REDEFINED: pickletools.dis (which dis follows)
 *      refuses a memo key stored twice, CPython's unpickler and the
 *      decoder accept it (corpus/benign/hand_p1_memo_reput.pkl).
 *
 * A disagreement prints both sides and abort()s, except the ones listed
 * in `open_b` (known, reported to their owner, with a regression input
 * under corpus/regressions/diff/ that enforces the fix once the entry is
 * removed): those print one line per process and go on, so a campaign is
 * not stuck on one known bug. It must never filter inputs out: every byte
 * string is a test.
 */
#include "fuzz_common.h"

static int has_rule(const pkl_scan_result *res, const char *rule)
{
    for (size_t i = 0; i < res->count; i++)
        if (!strcmp(res->findings[i].rule, rule))
            return 1;
    return 0;
}

/* Rule A exception: the scanner's own caps. Past them it reports what it
 * can no longer tell (scan-limit; lost-value for a memoized value it did
 * not keep), which can flag a stream the decoder accepts. Inputs that big
 * (over 262144 stack entries or MARKs, 524288 memoized values) are beyond
 * a fuzzer's input sizes, but the rule must still be right. */
static int legit_a(const pkl_scan_result *res)
{
    for (size_t i = 0; i < res->count; i++)
        if (res->findings[i].severity >= PKL_SEV_MEDIUM &&
            strcmp(res->findings[i].rule, "scan-limit") != 0 &&
            strcmp(res->findings[i].rule, "lost-value") != 0)
            return 0;
    return res->dropped == 0;
}

/* Rule B exceptions: the decoder refused, the scanner stayed below medium,
 * and that is by design. Listed code by code so that any new combination
 * is a disagreement until someone decides it belongs here. */
static int legit_b(const pkl_error *derr, const pkl_scan_result *res)
{
    int code = derr->code;
    /* limits are the decoder's own; the scanner has none of them */
    if (pkl_error_class(code) == 3)
        return 1;
    /* rated low/info on purpose: persistent_load and out-of-band buffers
     * are the application's business, not code execution */
    if (code == PKL_E_REFUSED_PERSID && has_rule(res, "persistent-id"))
        return 1;
    if (code == PKL_E_REFUSED_BUFFER && has_rule(res, "oob-buffer"))
        return 1;
    /* READONLY_BUFFER alone needs no buffer: CPython makes the value on
     * top a read-only memoryview (a no-op on bytes, a TypeError on most
     * else); the decoder refuses it, the scanner rightly has nothing to say */
    if (code == PKL_E_REFUSED_BUFFER && derr->opcode == PKL_OP_READONLY_BUFFER)
        return 1;
    /* CPython's unpickler ignores what STOP leaves behind; the decoder
     * refuses it (fail closed), the scanner notes it */
    if ((code == PKL_E_STACK_NOT_EMPTY || code == PKL_E_BAD_STOP) &&
        has_rule(res, "stack-not-empty"))
        return 1;
    /* not even the first opcode works: pickle.load fails before doing
     * anything, which the scanner rates info */
    if (pkl_error_class(code) == 1 && has_rule(res, "not-a-pickle"))
        return 1;
    /* value-level errors: APPEND onto an int, a list as a dict key, a
     * Python 2 STRING/BINSTRING that is not ASCII (pickle.loads' default
     * encoding; loads(..., encoding='latin1') reads it). The scanner does
     * not compute values: the reader reads all of these fine. */
    if (code == PKL_E_BAD_TYPE || code == PKL_E_UNHASHABLE ||
        code == PKL_E_BAD_STRING)
        return 1;
    /* INT/LONG text of more than 4300 digits: the reader reads it (the
     * two unpicklers agree on it), the decoder refuses it as CPython does
     * by default (sys.set_int_max_str_digits, a setting, not syntax) */
    if (code == PKL_E_INT_DIGITS &&
        (derr->opcode == PKL_OP_INT || derr->opcode == PKL_OP_LONG))
        return 1;
    return 0;
}

static void dump(const char *rule, const pkl_error *derr, int accepted,
                 const pkl_scan_result *res, const pkl_policy *policy)
{
    char msg[1024];
    fprintf(stderr, "fuzz_diff: rule %s broken under policy '%s'\n", rule,
            pkl_policy_name(policy));
    if (accepted)
        fprintf(stderr, "  decoder: accepted\n");
    else
        fprintf(stderr, "  decoder: %d %s\n", derr->code,
                pkl_error_format(derr, msg, sizeof msg));
    fprintf(stderr, "  scanner: max severity %d, %zu findings\n",
            res->max_severity, res->count + res->dropped);
    for (size_t i = 0; i < res->count && i < 20; i++)
        fprintf(stderr, "    %s %s @%zu %s: %s\n",
                pkl_severity_name(res->findings[i].severity),
                res->findings[i].rule, res->findings[i].offset,
                res->findings[i].global, res->findings[i].message);
}

/* Known disagreements still open (fuzz/README.md, "Open disagreements").
 * Remove an entry when its owner fixes it. */
static const char *open_b(const pkl_error *derr)
{
    (void)derr; /* none open: see fuzz/README.md for the ones fixed */
    return NULL;
}

static void note_open(const char *what)
{
    static const char *said[8];
    for (size_t i = 0; i < 8; i++) {
        if (said[i] == what)
            return;
        if (!said[i]) {
            said[i] = what;
            fprintf(stderr, "fuzz_diff: known open disagreement: %s\n", what);
            return;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags = size ? data[0] : 0;
    const uint8_t *p = size ? data + 1 : data;
    size_t len = size ? size - 1 : 0;
    const pkl_policy *policy = fz_policy(flags);
    pkl_limits limits;
    int custom = fz_limits(flags & 0x1fu, policy, &limits);

    /* decode every pickle */
    pkl_decode_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.policy = policy;
    dopt.limits = custom ? &limits : NULL;
    pkl_error derr;
    memset(&derr, 0, sizeof derr);
    size_t off = 0;
    int accepted = 0;
    size_t *ends = NULL; /* end offset of each pickle decoded (rule C) */
    size_t nends = 0, capends = 0;
    for (;;) {
        size_t consumed = 0;
        pkl_doc *doc = pkl_decode(p + off, len - off, &dopt, &consumed, &derr);
        if (!doc)
            break;
        pkl_doc_free(doc);
        CHECK(consumed > 0 && consumed <= len - off);
        off += consumed;
        if (nends == capends) {
            capends = capends ? 2 * capends : 16;
            ends = realloc(ends, capends * sizeof *ends);
            CHECK(ends != NULL);
        }
        ends[nends++] = off;
        if (off == len) {
            accepted = 1;
            break;
        }
    }

    /* scan the same bytes under the same policy */
    pkl_scan_options sopt;
    memset(&sopt, 0, sizeof sopt);
    sopt.policy = policy;
    pkl_scan_result res;
    pkl_error serr;
    pkl_scan_result_init(&res, NULL);
    CHECK(pkl_scan_buffer(p, len, NULL, &sopt, &res, &serr) == 0);
    int sev = res.max_severity;

    if (accepted && sev >= PKL_SEV_MEDIUM && !legit_a(&res)) {
        dump("A (accepted, scanner >= medium)", &derr, accepted, &res, policy);
        abort();
    }
    if (!accepted && sev < PKL_SEV_MEDIUM) {
        const char *known = legit_b(&derr, &res) ? NULL : open_b(&derr);
        if (known)
            note_open(known);
        else if (!legit_b(&derr, &res)) {
            dump("B (scanner < medium, decoder refused)", &derr, accepted,
                 &res, policy);
            abort();
        }
    }
    if (accepted) {
        /* each pickle on its own: dis lists it, or refuses only a memo key
         * stored twice */
        int redefined = 0;
        for (size_t k = 0; k < nends; k++) {
            size_t from = k ? ends[k - 1] : 0;
            pkl_error xerr;
            memset(&xerr, 0, sizeof xerr);
            if (pkl_dis(p + from, ends[k] - from, fz_devnull(), NULL,
                        &xerr) == 0)
                continue;
            if (xerr.code == PKL_E_MEMO_REDEFINED) {
                redefined = 1;
                continue;
            }
            /* a FRAME that runs on into the next pickle (CPython reads on
             * from the same frame) is cut by the slice: the whole-input
             * check below covers it */
            if (xerr.code == PKL_E_TRUNCATED && xerr.opcode == PKL_OP_FRAME &&
                xerr.offset + 9 <= ends[k] - from) {
                const uint8_t *f = p + from + xerr.offset + 1;
                uint64_t declared = 0;
                for (int b = 7; b >= 0; b--)
                    declared = declared << 8 | f[b];
                if (declared <= len - (from + xerr.offset + 9))
                    continue;
            }
            char msg[1024];
            fprintf(stderr, "fuzz_diff: rule C: decoder accepted pickle %zu "
                            "(offsets %zu-%zu), dis failed: %s\n", k, from,
                    ends[k], pkl_error_format(&xerr, msg, sizeof msg));
            abort();
        }
        /* and the whole input: a failure in a later pickle is reported as
         * PKL_E_TRAILING (the detail names the inner error) */
        pkl_error xerr;
        memset(&xerr, 0, sizeof xerr);
        if (pkl_dis(p, len, fz_devnull(), NULL, &xerr) < 0 &&
            !(redefined && (xerr.code == PKL_E_MEMO_REDEFINED ||
                            xerr.code == PKL_E_TRAILING))) {
            char msg[1024];
            fprintf(stderr, "fuzz_diff: rule C: decoder accepted, dis "
                            "failed: %s\n",
                    pkl_error_format(&xerr, msg, sizeof msg));
            abort();
        }
    }
    free(ends);
    pkl_scan_result_free(&res);
    return 0;
}
