/* check_shared.c -- the routines every module shares: the hash table
 * (hashtab.c), Python's float repr (numtext.c) and JSON string escaping
 * (util.c).
 *
 * Expected texts come from CPython 3.11: repr(float) and
 * json.dumps(s, ensure_ascii=False) as noted per row, never from our
 * output. */
#include "testutil.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>

/* ---- hash table ---------------------------------------------------------- */

static void check_map(pkli_htab_mode mode)
{
    pkl_allocator a;
    pkli_alloc_init(&a, NULL);
    pkli_hkey hk;
    pkli_hash_key(&hk);
    pkli_htab t;
    pkli_htab_init(&t, &a, mode, &hk);
    ck_assert_ptr_null(pkli_htab_find(&t, 7));
    /* keys 0..N-1 spread over many doublings, plus keys colliding in the
     * low bits (multiples of 2^20) */
    enum { N = 5000 };
    for (uint64_t k = 0; k < N; k++) {
        int added = -1;
        pkli_hslot *v = pkli_htab_insert(&t, k << (k & 1 ? 20 : 0), (uint32_t)k + 1, &added);
        ck_assert_ptr_nonnull(v);
        ck_assert_int_eq(added, 1);
    }
    ck_assert_uint_eq(t.count, N);
    ck_assert_uint_le(2 * t.count, t.cap); /* at most half full */
    for (uint64_t k = 0; k < N; k++) {
        pkli_hslot *v = pkli_htab_find(&t, k << (k & 1 ? 20 : 0));
        ck_assert_ptr_nonnull(v);
        ck_assert_uint_eq(v->val, k + 1);
        ck_assert_uint_eq(v->aux, 0);
        int added = -1;
        ck_assert_ptr_eq(pkli_htab_insert(&t, k << (k & 1 ? 20 : 0), 99, &added), v);
        ck_assert_int_eq(added, 0);
        ck_assert_uint_eq(v->val, k + 1); /* insert keeps the existing value */
    }
    ck_assert_ptr_null(pkli_htab_find(&t, (uint64_t)N << 21 | 1));
    pkli_htab_clear(&t);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_ptr_null(pkli_htab_find(&t, 0));
    ck_assert_ptr_nonnull(pkli_htab_add(&t, 0, 5));
    ck_assert_uint_eq(pkli_htab_find(&t, 0)->val, 5);
    pkli_htab_free(&t);
    ck_assert_ptr_null(pkli_htab_find(&t, 0));
}

START_TEST(test_htab_siphash) { check_map(PKLI_HT_SIPHASH); }
END_TEST
START_TEST(test_htab_mix) { check_map(PKLI_HT_MIX); }
END_TEST

/* PKLI_HT_HASHED: equal keys are told apart by the caller's test. */
static const char *const names[] = {"os.system", "posix.system", "builtins.eval"};
static int name_is(const void *ctx, const pkli_hslot *s)
{
    return strcmp(names[s->val - 1], ctx) == 0;
}

START_TEST(test_htab_hashed_collisions)
{
    pkl_allocator a;
    pkli_alloc_init(&a, NULL);
    pkli_htab t;
    pkli_htab_init(&t, &a, PKLI_HT_HASHED, NULL);
    /* all three under one key: a full collision */
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(pkli_htab_add(&t, 42, i + 1));
    for (uint32_t i = 0; i < 3; i++) {
        pkli_hslot *v = pkli_htab_find_eq(&t, 42, name_is, names[i]);
        ck_assert_ptr_nonnull(v);
        ck_assert_uint_eq(v->val, i + 1);
    }
    ck_assert_ptr_null(pkli_htab_find_eq(&t, 42, name_is, "nt.system"));
    ck_assert_ptr_null(pkli_htab_find_eq(&t, 43, name_is, "os.system"));
    pkli_htab_free(&t);
}
END_TEST

/* The eq test sees the whole slot: two entries under one key told apart
 * by aux (the decoder's key index keeps the key's hash there). */
static int aux_is(const void *ctx, const pkli_hslot *s)
{
    return s->aux == *(const uint32_t *)ctx;
}

START_TEST(test_htab_eq_sees_aux)
{
    pkl_allocator a;
    pkli_alloc_init(&a, NULL);
    pkli_htab t;
    pkli_htab_init(&t, &a, PKLI_HT_HASHED, NULL);
    pkli_htab_add(&t, 7, 1)->aux = 100;
    pkli_htab_add(&t, 7, 2)->aux = 200;
    uint32_t want = 200, none = 300;
    ck_assert_uint_eq(pkli_htab_find_eq(&t, 7, aux_is, &want)->val, 2);
    want = 100;
    ck_assert_uint_eq(pkli_htab_find_eq(&t, 7, aux_is, &want)->val, 1);
    ck_assert_ptr_null(pkli_htab_find_eq(&t, 7, aux_is, &none));
    pkli_htab_free(&t);
}
END_TEST

/* grow_bytes: exactly what the next add allocates (16 slots first, then
 * a doubling whenever it would pass half full), 0 while it fits. */
START_TEST(test_htab_grow_bytes)
{
    pkl_allocator a;
    pkli_alloc_init(&a, NULL);
    pkli_htab t;
    pkli_htab_init(&t, &a, PKLI_HT_MIX, NULL);
    ck_assert_uint_eq(pkli_htab_grow_bytes(&t), 16 * sizeof(pkli_hslot));
    for (uint32_t i = 1; i <= 64; i++) {
        size_t cap = t.cap, want = pkli_htab_grow_bytes(&t);
        ck_assert_ptr_nonnull(pkli_htab_add(&t, i, i));
        ck_assert_uint_eq(want, t.cap == cap ? 0 : t.cap * sizeof(pkli_hslot));
    }
    ck_assert_uint_eq(t.cap, 128);
    pkli_htab_free(&t);
}
END_TEST

/* An allocator that fails: the table stays usable and unchanged. */
static void *no_malloc(void *ctx, size_t n) { (void)ctx; (void)n; return NULL; }
static void *no_realloc(void *ctx, void *p, size_t n) { (void)ctx; (void)p; (void)n; return NULL; }
static void no_free(void *ctx, void *p) { (void)ctx; (void)p; }

START_TEST(test_htab_nomem)
{
    pkl_allocator a = {no_malloc, no_realloc, no_free, NULL};
    pkli_htab t;
    pkli_htab_init(&t, &a, PKLI_HT_MIX, NULL);
    ck_assert_ptr_null(pkli_htab_add(&t, 1, 1));
    ck_assert_uint_eq(t.count, 0);
    ck_assert_ptr_null(pkli_htab_find(&t, 1));
}
END_TEST

/* ---- float repr ------------------------------------------------------------- */

typedef struct repr_case {
    double d;
    const char *want; /* repr(d) in CPython 3.11 */
} repr_case;

static const repr_case reprs[] = {
    {0.0, "0.0"},
    {-0.0, "-0.0"},
    {1.0, "1.0"},
    {0.1, "0.1"},
    {1.0 / 3.0, "0.3333333333333333"},
    {2.0 / 3.0, "0.6666666666666666"},
    {1e16, "1e+16"},
    {1e15, "1000000000000000.0"},
    {123456789012345678.0, "1.2345678901234568e+17"},
    {0.0001, "0.0001"},
    {0.00001, "1e-05"},
    {5e-324, "5e-324"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {1.7976931348623157e308, "1.7976931348623157e+308"},
    {-1.5, "-1.5"},
    {9007199254740993.0, "9007199254740992.0"},
    {1e22, "1e+22"},
    {1e23, "1e+23"},
    {4.35, "4.35"},
    {100.0, "100.0"},
    {1e-100, "1e-100"},
};

START_TEST(test_float_repr)
{
    const repr_case *c = &reprs[_i];
    char buf[PKLI_FLOAT_REPR_MAX + 1];
    size_t n = pkli_float_repr(c->d, buf);
    ck_assert_uint_lt(n, PKLI_FLOAT_REPR_MAX);
    buf[n] = '\0';
    ck_assert_str_eq(buf, c->want);
}
END_TEST

START_TEST(test_float_repr_special)
{
    char buf[PKLI_FLOAT_REPR_MAX + 1];
    size_t n = pkli_float_repr(NAN, buf);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "nan");
    n = pkli_float_repr(-INFINITY, buf);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "-inf");
    n = pkli_float_repr(INFINITY, buf);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "inf");
}
END_TEST

/* ---- JSON string escaping -------------------------------------------------- */

static void buf_sink(void *b, const char *p, size_t n)
{
    pkli_buf_put(b, p, n);
}

typedef struct esc_case {
    const char *in;
    size_t len;
    int surrogatepass;
    const char *want;
} esc_case;

static const esc_case escs[] = {
    /* json.dumps('a"b\\c', ensure_ascii=False) == '"a\\"b\\\\c"' */
    {"a\"b\\c", 5, 0, "a\\\"b\\\\c"},
    /* json.dumps('\n\r\t\b\f\x01\x1f\x7f', ensure_ascii=False) */
    {"\n\r\t\b\f\001\037\177", 8, 0, "\\n\\r\\t\\b\\f\\u0001\\u001f\177"},
    /* non-ASCII is kept: json.dumps('é€😀', ensure_ascii=False) */
    {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 0, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
    /* json.dumps('\udc80', ensure_ascii=False) == '"\\udc80"' */
    {"\xed\xb2\x80", 3, 1, "\\udc80"},
    /* without surrogatepass each bad byte is U+FFFD (errors='replace'
     * turns each of these three bytes into one U+FFFD) */
    {"\xed\xb2\x80", 3, 0, "\\ufffd\\ufffd\\ufffd"},
    /* a NUL inside the text */
    {"a\000b", 3, 0, "a\\u0000b"},
};

START_TEST(test_json_escape)
{
    const esc_case *c = &escs[_i];
    pkl_allocator a;
    pkli_alloc_init(&a, NULL);
    pkli_buf b;
    pkli_buf_init(&b, &a, 0);
    pkli_json_escape((const uint8_t *)c->in, c->len, c->surrogatepass, buf_sink, &b);
    pkli_buf_putc(&b, '\0');
    ck_assert(!b.failed);
    ck_assert_str_eq(b.data, c->want);
    pkli_buf_free(&b);
}
END_TEST

Suite *suite_shared(void)
{
    Suite *s = suite_create("shared");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_htab_siphash);
    tcase_add_test(tc, test_htab_mix);
    tcase_add_test(tc, test_htab_hashed_collisions);
    tcase_add_test(tc, test_htab_nomem);
    tcase_add_test(tc, test_htab_eq_sees_aux);
    tcase_add_test(tc, test_htab_grow_bytes);
    tcase_add_loop_test(tc, test_float_repr, 0, (int)(sizeof reprs / sizeof reprs[0]));
    tcase_add_test(tc, test_float_repr_special);
    tcase_add_loop_test(tc, test_json_escape, 0, (int)(sizeof escs / sizeof escs[0]));
    suite_add_tcase(s, tc);
    return s;
}
