/* testutil.h -- helpers shared by the check suites. */
#ifndef PKL_TESTUTIL_H
#define PKL_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "pickleguard.h"

/* Poison an error struct before a call so a function that forgets to fill
 * it is caught (yyjson's test_err_code.c does the same). */
#define POISON_ERR(e) memset(&(e), 0xff, sizeof(e))

/* Asserts code and offset of an error. */
#define ck_assert_err(e, c, off)                                              \
    do {                                                                      \
        ck_assert_int_eq((e).code, (c));                                      \
        ck_assert_uint_eq((e).offset, (size_t)(off));                         \
        ck_assert_ptr_nonnull((e).msg);                                       \
    } while (0)

/* The one test allocator of the check suites (STYLE.md: "an allocator
 * that fails the N-th allocation"). It counts malloc/realloc calls, fails
 * call number `fail_at` (1-based; 0 = never), and tracks the blocks and
 * bytes still live and the peak, so every suite asserts leaks and memory
 * bounds the same way. Each block carries a size header, kept as large as
 * max_align_t so the caller's alignment is unchanged. */
typedef struct test_alloc {
    size_t calls;     /* malloc + realloc calls so far */
    size_t fail_at;   /* fail this call; 0: never */
    long live;        /* blocks not yet freed */
    size_t bytes;     /* bytes not yet freed */
    size_t peak;      /* highest `bytes` seen */
} test_alloc;

#define TA_HDR (sizeof(max_align_t) > sizeof(size_t) ? sizeof(max_align_t) : sizeof(size_t))

static inline void ta_account(test_alloc *t, size_t add, size_t sub)
{
    t->bytes = t->bytes - sub + add;
    if (t->bytes > t->peak)
        t->peak = t->bytes;
}

static inline void *ta_malloc(void *ctx, size_t n)
{
    test_alloc *t = ctx;
    if (++t->calls == t->fail_at || n > SIZE_MAX - TA_HDR)
        return NULL;
    unsigned char *p = malloc(n + TA_HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    t->live++;
    ta_account(t, n, 0);
    return p + TA_HDR;
}

static inline void *ta_realloc(void *ctx, void *q, size_t n)
{
    test_alloc *t = ctx;
    if (!q)
        return ta_malloc(ctx, n);
    if (++t->calls == t->fail_at || n > SIZE_MAX - TA_HDR)
        return NULL;
    unsigned char *p = (unsigned char *)q - TA_HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *np = realloc(p, n + TA_HDR);
    if (!np)
        return NULL;
    memcpy(np, &n, sizeof n);
    ta_account(t, n, old);
    return np + TA_HDR;
}

static inline void ta_free(void *ctx, void *q)
{
    test_alloc *t = ctx;
    if (!q)
        return;
    unsigned char *p = (unsigned char *)q - TA_HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    t->live--;
    ta_account(t, 0, old);
    free(p);
}

/* An allocator that fails call number fail_at (0: never), counting into *t
 * (which it resets). */
static inline pkl_allocator test_allocator(test_alloc *t, size_t fail_at)
{
    memset(t, 0, sizeof *t);
    t->fail_at = fail_at;
    pkl_allocator a = { ta_malloc, ta_realloc, ta_free, t };
    return a;
}

#endif
