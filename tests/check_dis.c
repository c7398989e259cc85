/* check_dis.c -- tests of pkl_dis (dis.c): exact listings, every check's
 * error code and offset, and out-of-memory behaviour.
 *
 * Expected listings were produced by CPython 3.11's pickletools.dis on the
 * same bytes (python3 -c "pickletools.dis(b'...')"); expected float texts
 * are Python's repr() of the double with the given bits. Error rows state
 * the opcode the check must name, with the reasoning next to the row.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) x, sizeof(x) - 1

typedef struct dcase {
    const char *name;
    const char *in;
    size_t len;
    pkl_code code;         /* PKL_OK or the expected error */
    size_t off;
    const char *out;   /* exact listing, or NULL; with an error: a prefix
                          the listing must contain */
} dcase;

static const dcase cases[] = {
    { "protocol 2 list with memo", S("\x80\x02]q\x00(K\x01X\x01\x00\x00\x00" "aq\x01h\x01" "e."),
      PKL_OK, 0,
      "    0: \\x80 PROTO      2\n    2: ]    EMPTY_LIST\n    3: q    BINPUT     0\n"
      "    5: (    MARK\n    6: K        BININT1    1\n    8: X        BINUNICODE 'a'\n"
      "   14: q        BINPUT     1\n   16: h        BINGET     1\n"
      "   18: e        APPENDS    (MARK at 5)\n   19: .    STOP\n"
      "highest protocol among opcodes = 2\n" },
    { "POP of a MARK", S("(0N."), PKL_OK, 0,
      "    0: (    MARK\n    1: 0        POP        (MARK at 0)\n    2: N    NONE\n"
      "    3: .    STOP\nhighest protocol among opcodes = 0\n" },
    { "text memo opcodes", S("(I7\np0\ng0\nI8\np1\n0g1\ntp2\n."), PKL_OK, 0,
      "    0: (    MARK\n    1: I        INT        7\n    4: p        PUT        0\n"
      "    7: g        GET        0\n   10: I        INT        8\n"
      "   13: p        PUT        1\n   16: 0        POP\n   17: g        GET        1\n"
      "   20: t        TUPLE      (MARK at 0)\n   21: p    PUT        2\n   24: .    STOP\n"
      "highest protocol among opcodes = 0\n" },
    { "frame, MEMOIZE, sets", S("\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8c\x03" "abc"
                                "\x94\x8f(\x90\x86."), PKL_OK, 0,
      "    0: \\x80 PROTO      4\n    2: \\x95 FRAME      11\n"
      "   11: \\x8c SHORT_BINUNICODE 'abc'\n   16: \\x94 MEMOIZE    (as 0)\n"
      "   17: \\x8f EMPTY_SET\n   18: (    MARK\n   19: \\x90     ADDITEMS   (MARK at 18)\n"
      "   20: \\x86 TUPLE2\n   21: .    STOP\nhighest protocol among opcodes = 4\n" },
    { "GLOBAL pair", S("ccollections\nOrderedDict\n)R."), PKL_OK, 0,
      "    0: c    GLOBAL     'collections OrderedDict'\n   25: )    EMPTY_TUPLE\n"
      "   26: R    REDUCE\n   27: .    STOP\nhighest protocol among opcodes = 1\n" },
    { "two pickles", S("N.K\x01."), PKL_OK, 0,
      "    0: N    NONE\n    1: .    STOP\nhighest protocol among opcodes = 0\n"
      "    2: K    BININT1    1\n    4: .    STOP\nhighest protocol among opcodes = 1\n" },
    /* floats: Python repr of the doubles 1e16, 1e-05, 0.0001, 1.2345...e17,
     * 1e22, 5e-324, 1e15, 123.456, -1.5e-07, 2**60 */
    { "float repr", S("(G\x43\x41\xc3\x79\x37\xe0\x80\x00G\x3e\xe4\xf8\xb5\x88\xe3\x68\xf1"
                      "G\x3f\x1a\x36\xe2\xeb\x1c\x43\x2dG\x43\x7b\x69\xb4\xba\x63\x0f\x35"
                      "G\x44\x80\xf0\xcf\x06\x4d\xd5\x92G\x00\x00\x00\x00\x00\x00\x00\x01"
                      "G\x43\x0c\x6b\xf5\x26\x34\x00\x00G\x40\x5e\xdd\x2f\x1a\x9f\xbe\x77"
                      "G\xbe\x84\x21\xf5\xf4\x0d\x83\x76G\x43\xb0\x00\x00\x00\x00\x00\x00t."),
      PKL_OK, 0,
      "    0: (    MARK\n    1: G        BINFLOAT   1e+16\n   10: G        BINFLOAT   1e-05\n"
      "   19: G        BINFLOAT   0.0001\n   28: G        BINFLOAT   1.2345678901234568e+17\n"
      "   37: G        BINFLOAT   1e+22\n   46: G        BINFLOAT   5e-324\n"
      "   55: G        BINFLOAT   1000000000000000.0\n   64: G        BINFLOAT   123.456\n"
      "   73: G        BINFLOAT   -1.5e-07\n   82: G        BINFLOAT   1.152921504606847e+18\n"
      "   91: t        TUPLE      (MARK at 0)\n   92: .    STOP\n"
      "highest protocol among opcodes = 1\n" },

    /* ---- checks ---- */
    { "empty input", S(""), PKL_E_EMPTY, 0, NULL },
    { "no STOP: the end of the input", S("N"), PKL_E_TRUNCATED, 1, "    0: N    NONE\n" },
    /*                                     ^ offset 1 = end */
    { "APPEND on an empty stack", S("a."), PKL_E_STACK_UNDERFLOW, 0, "    0: a    APPEND\n" },
    { "TUPLE without MARK", S("K\x01t."), PKL_E_NO_MARK, 2,
      "    0: K    BININT1    1\n    2: t    TUPLE      no MARK exists on stack\n" },
    { "GET of a key never stored", S("g5\n."), PKL_E_MEMO_MISSING, 0, NULL },
    { "BINPUT of key 0 twice", S("K\x01q\x00K\x02q\x00."), PKL_E_MEMO_REDEFINED, 6, NULL },
    /*                                      ^ offset 6 */
    { "STOP with a MARK still open", S("(K\x01."), PKL_E_BAD_STOP, 3, NULL },
    { "STOP finding only a MARK", S("(."), PKL_E_BAD_STOP, 1, NULL },
    { "STOP on an empty stack", S("."), PKL_E_STACK_UNDERFLOW, 0, NULL },
    { "two values left after STOP", S("K\x01K\x02."), PKL_E_STACK_NOT_EMPTY, 4, NULL },
    { "garbage after STOP", S("N.garbage"), PKL_E_TRAILING, 2, NULL },
    { "truncated second pickle", S("N.K"), PKL_E_TRAILING, 2, NULL },
    /* pickletools lets APPEND pop the two MARKs; the unpicklers' fence
     * does not */
    { "APPEND across MARKs", S("((a."), PKL_E_STACK_UNDERFLOW, 2, NULL },
    { "PUT with a MARK on top", S("(q\x00"), PKL_E_STACK_UNDERFLOW, 1, NULL },
    { "MEMOIZE on an empty stack", S("\x94."), PKL_E_STACK_UNDERFLOW, 0, NULL },
    { "negative PUT", S("I1\np-1\n."), PKL_E_BAD_INT, 3, NULL },
    { "reader error: FRAME crossing", S("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00X\x03\x00"
                                        "\x00\x00" "abc."), PKL_E_FRAME, 11, NULL },
    { "reader error: unknown opcode", S("N\xff"), PKL_E_UNKNOWN_OPCODE, 1, NULL },
};

#define NCASES (sizeof cases / sizeof cases[0])

static int run_dis(const dcase *t, test_alloc *cnt, char **text, size_t *tlen,
                   pkl_error *err)
{
    pkl_allocator a = { ta_malloc, ta_realloc, ta_free, cnt };
    FILE *out = open_memstream(text, tlen);
    ck_assert_ptr_nonnull(out);
    POISON_ERR(*err);
    int rc = pkl_dis(t->in, t->len, out, &a, err);
    fclose(out);
    return rc;
}

START_TEST(test_dis_table)
{
    const dcase *t = &cases[_i];
    test_alloc cnt = { 0 };
    char *text = NULL;
    size_t tlen = 0;
    pkl_error err;
    int rc = run_dis(t, &cnt, &text, &tlen, &err);
    ck_assert_msg(cnt.live == 0, "%s: %ld blocks leaked", t->name, cnt.live);
    if (t->code == PKL_OK) {
        ck_assert_msg(rc == 0, "%s: rc %d, error %d at %zu: %s", t->name, rc, err.code,
                      err.offset, err.detail);
        ck_assert_int_eq(err.code, PKL_OK);
        ck_assert_msg(strcmp(text, t->out) == 0, "%s: listing\n%s\nwant\n%s", t->name,
                      text, t->out);
    } else {
        ck_assert_msg(rc == -1 && err.code == t->code && err.offset == t->off,
                      "%s: rc %d, error %d at %zu (%s), want %d at %zu", t->name, rc,
                      err.code, err.offset, err.detail, t->code, t->off);
        ck_assert_ptr_nonnull(err.msg);
        if (t->out)
            ck_assert_msg(strncmp(text, t->out, strlen(t->out)) == 0,
                          "%s: listing\n%s\nshould start with\n%s", t->name, text, t->out);
    }
    free(text);
}
END_TEST

/* Failing each allocation in turn ends in PKL_E_NOMEM, never a leak. */
START_TEST(test_dis_oom)
{
    const dcase *t = &cases[_i];
    test_alloc probe = { 0 };
    char *text = NULL;
    size_t tlen = 0;
    pkl_error err;
    run_dis(t, &probe, &text, &tlen, &err);
    free(text);
    for (size_t n = 1; n <= probe.calls; n++) {
        test_alloc cnt = { .fail_at = n };
        text = NULL;
        int rc = run_dis(t, &cnt, &text, &tlen, &err);
        free(text);
        ck_assert_msg(cnt.live == 0, "%s: leak when allocation %zu fails", t->name, n);
        ck_assert_msg(rc == -1 && err.code == PKL_E_NOMEM,
                      "%s: allocation %zu failed, rc %d code %d", t->name, n, rc, err.code);
    }
}
END_TEST

START_TEST(test_dis_args)
{
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_dis("N.", 2, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, PKL_E_INVALID_ARG);
    ck_assert_int_eq(pkl_dis("N.", 2, NULL, NULL, NULL), -1);
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    ck_assert_int_eq(pkl_dis(NULL, 3, devnull, NULL, NULL), -1);
    ck_assert_int_eq(pkl_dis("N.", 2, devnull, NULL, NULL), 0);
    fclose(devnull);
}
END_TEST

/* A LONG4 of 1100 bytes is printed in hex (linear); 2^8799 here. */
START_TEST(test_dis_big_long4_hex)
{
    size_t n = 1100;
    size_t len = 2 + 5 + n + 1;
    unsigned char *in = calloc(1, len);
    ck_assert_ptr_nonnull(in);
    memcpy(in, "\x80\x02\x8b", 3);
    in[3] = (unsigned char)(n & 0xff);
    in[4] = (unsigned char)(n >> 8);
    in[7 + n - 1] = 0x80 >> 1;   /* top byte 0x40: 2^(8*1099+6) */
    in[len - 1] = '.';
    char *text = NULL;
    size_t tlen = 0;
    FILE *out = open_memstream(&text, &tlen);
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_dis(in, len, out, NULL, &err), 0);
    fclose(out);
    const char *want = "    2: \\x8b LONG4      0x40";
    const char *line = strstr(text, "    2: ");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(strncmp(line, want, strlen(want)), 0);
    /* 0x40 followed by 1099 zero bytes */
    const char *hex = line + strlen(want);
    for (size_t k = 0; k < 2 * (n - 1); k++)
        ck_assert_int_eq(hex[k], '0');
    ck_assert_int_eq(hex[2 * (n - 1)], '\n');
    free(text);
    free(in);
}
END_TEST

Suite *suite_dis(void)
{
    Suite *s = suite_create("dis");
    TCase *tc = tcase_create("dis");
    tcase_add_loop_test(tc, test_dis_table, 0, (int)NCASES);
    tcase_add_loop_test(tc, test_dis_oom, 0, (int)NCASES);
    tcase_add_test(tc, test_dis_args);
    tcase_add_test(tc, test_dis_big_long4_hex);
    suite_add_tcase(s, tc);
    return s;
}
