/* util.c -- allocator plumbing, growable buffers and UTF-8 helpers shared by
 * every module. Nothing here knows about pickles. */
#define _DEFAULT_SOURCE 1 /* madvise */
#include "internal.h"

#include <stdio.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

static void *libc_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}
static void *libc_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n);
}
static void libc_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void pkli_alloc_init(pkl_allocator *dst, const pkl_allocator *alloc)
{
    if (alloc && alloc->malloc && alloc->realloc && alloc->free) {
        *dst = *alloc;
    } else {
        dst->malloc = libc_malloc;
        dst->realloc = libc_realloc;
        dst->free = libc_free;
        dst->ctx = NULL;
    }
}

void pkli_hugepages(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (!p || n < ((size_t)64 << 10))
        return;
    uintptr_t lo = ((uintptr_t)p + ((uintptr_t)2 << 20) - 1) &
                   ~(((uintptr_t)2 << 20) - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(((uintptr_t)2 << 20) - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

void pkli_prefault(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* A hint only: errors are ignored. Below 64 KiB it does not pay. */
    if (!p || n < ((size_t)64 << 10))
        return;
    pkli_hugepages(p, n);
    uintptr_t plo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t phi = ((uintptr_t)p + n) & ~(uintptr_t)4095;
    if (phi > plo)
        madvise((void *)plo, phi - plo, 23 /* MADV_POPULATE_WRITE, >= 5.14 */);
#else
    (void)p;
    (void)n;
#endif
}

int pkli_grow(const pkl_allocator *a, void **buf, size_t *cap, size_t need,
              size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem)
        return -1;
    void *p = pkli_realloc(a, *buf, ncap * elem);
    if (!p)
        return -1;
    /* a big table that doubled is about to be filled: fault its new half
     * in with one call instead of one trap per page */
    if (elem)
        pkli_prefault((char *)p + *cap * elem, (ncap - *cap) * elem);
    *buf = p;
    *cap = ncap;
    return 0;
}

/* ---- pkli_buf ---------------------------------------------------------- */

void pkli_buf_init(pkli_buf *b, const pkl_allocator *a, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->alloc = a;
    b->limit = limit ? limit : SIZE_MAX;
}

int pkli_buf_put(pkli_buf *b, const void *p, size_t n)
{
    if (b->failed)
        return -1;
    if (n > b->limit - b->len) {
        b->failed = 1;
        b->over_limit = 1;
        return -1;
    }
    /* +1 keeps room for a terminating NUL */
    if (pkli_grow(b->alloc, (void **)&b->data, &b->cap, b->len + n + 1, 1) < 0) {
        b->failed = 1;
        return -1;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int pkli_buf_putc(pkli_buf *b, char c)
{
    return pkli_buf_put(b, &c, 1);
}

int pkli_buf_puts(pkli_buf *b, const char *s)
{
    return pkli_buf_put(b, s, strlen(s));
}

int pkli_buf_printf(pkli_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return -1;
    }
    if ((size_t)n < sizeof small)
        return pkli_buf_put(b, small, (size_t)n);
    char *big = pkli_malloc(b->alloc, (size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = pkli_buf_put(b, big, (size_t)n);
    pkli_free(b->alloc, big);
    return rc;
}

void pkli_buf_free(pkli_buf *b)
{
    pkli_free(b->alloc, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- UTF-8 --------------------------------------------------------------- */

size_t pkli_utf8_seq(const uint8_t *s, size_t n, int surrogatepass)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1; cp = c & 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2; cp = c & 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    /* byte by byte, so that a NUL-terminated string may pass n = 4 */
    for (size_t k = 1; k <= need; k++) {
        if (k >= n || (s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff)
        return 0;
    if (cp >= 0xd800 && cp <= 0xdfff && !surrogatepass)
        return 0;
    return need + 1;
}

int pkli_utf8_valid(const uint8_t *s, size_t n, int surrogatepass, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path: eight bytes at a time while no high bit is set */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, sizeof w);
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        size_t k = pkli_utf8_seq(s + i, n - i, surrogatepass);
        if (!k) {
            if (bad)
                *bad = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

/* ---- JSON strings ------------------------------------------------------------ */

/* How many bytes from s[0..n) JSON text may hold as they are: ASCII from
 * 0x20 but '"' and '\\' (DEL too, as Python's json.dumps keeps it), and
 * valid UTF-8 sequences. */
static size_t json_run(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t k = c >= 0x80 ? pkli_utf8_seq(s + i, n - i, 0) : 0;
        if (!k)
            break;
        i += k;
    }
    return i;
}

/* The escape for the sequence at s[0..n), n >= 1, into esc (*esclen
 * bytes); returns how many input bytes it stands for. */
static size_t json_esc(const uint8_t *s, size_t n, int surrogatepass,
                       char esc[8], size_t *esclen)
{
    static const char hexd[] = "0123456789abcdef";
    uint32_t cp = s[0];
    size_t used = 1;
    const char *two = NULL;
    switch (cp) {
    case '"': two = "\\\""; break;
    case '\\': two = "\\\\"; break;
    case '\n': two = "\\n"; break;
    case '\r': two = "\\r"; break;
    case '\t': two = "\\t"; break;
    case '\b': two = "\\b"; break;
    case '\f': two = "\\f"; break;
    default: break;
    }
    if (two) {
        memcpy(esc, two, 2);
        *esclen = 2;
        return 1;
    }
    if (cp >= 0x80) {
        size_t k = surrogatepass ? pkli_utf8_seq(s, n, 1) : 0;
        if (k == 3) { /* an encoded surrogate (surrogatepass text) */
            pkli_utf8_decode(s, n, &cp);
            used = 3;
        } else {
            cp = 0xfffd; /* a byte that starts no valid sequence */
        }
    }
    char u[6] = {'\\', 'u', hexd[cp >> 12], hexd[(cp >> 8) & 15],
                 hexd[(cp >> 4) & 15], hexd[cp & 15]};
    memcpy(esc, u, 6);
    *esclen = 6;
    return used;
}

void pkli_json_escape(const uint8_t *s, size_t n, int surrogatepass,
                      pkli_sink put, void *ctx)
{
    while (n) {
        size_t k = json_run(s, n);
        if (k)
            put(ctx, (const char *)s, k);
        s += k;
        n -= k;
        if (!n)
            break;
        char esc[8];
        size_t el;
        k = json_esc(s, n, surrogatepass, esc, &el);
        put(ctx, esc, el);
        s += k;
        n -= k;
    }
}

size_t pkli_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80 || n < 2) {
        *cp = c;
        return 1;
    }
    if (c < 0xe0) {
        *cp = ((uint32_t)(c & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    if (c < 0xf0 || n < 4) {
        if (n < 3) {
            *cp = c;
            return 1;
        }
        *cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) |
              (s[2] & 0x3f);
        return 3;
    }
    *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
          ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    return 4;
}

size_t pkli_utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* A Python literal (str or bytes) made only of printable ASCII, so that
 * ast.literal_eval() of it gives back the exact value. */
int pkli_buf_put_pyrepr(pkli_buf *b, const uint8_t *s, size_t n, int text)
{
    char tmp[16];
    if (!text)
        pkli_buf_putc(b, 'b');
    pkli_buf_putc(b, '\'');
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = 1;
        if (text)
            k = pkli_utf8_decode(s + i, n - i, &cp);
        else
            cp = s[i];
        i += k;
        switch (cp) {
        case '\\': pkli_buf_puts(b, "\\\\"); continue;
        case '\'': pkli_buf_puts(b, "\\'"); continue;
        case '\n': pkli_buf_puts(b, "\\n"); continue;
        case '\r': pkli_buf_puts(b, "\\r"); continue;
        case '\t': pkli_buf_puts(b, "\\t"); continue;
        default: break;
        }
        if (cp >= 0x20 && cp < 0x7f)
            pkli_buf_putc(b, (char)cp);
        else if (cp < 0x100)
            snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)cp), pkli_buf_puts(b, tmp);
        else if (cp < 0x10000)
            snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp), pkli_buf_puts(b, tmp);
        else
            snprintf(tmp, sizeof tmp, "\\U%08x", (unsigned)cp), pkli_buf_puts(b, tmp);
    }
    return pkli_buf_putc(b, '\'');
}

/* ---- keyed hashing (SipHash-1-3) ------------------------------------------ */
/* SipHash by Jean-Philippe Aumasson and Daniel J. Bernstein ("SipHash: a
 * fast short-input PRF", 2012); one compression and three finalization
 * rounds, as CPython uses for str/bytes hashing since 3.11
 * (Python/pyhash.c, siphash13). */
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3)                                             \
    do {                                                                     \
        v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);        \
        v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                             \
        v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                             \
        v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);        \
    } while (0)

uint64_t pkli_siphash(const pkli_hkey *k, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t v0 = k->k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k->k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k->k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k->k1 ^ 0x7465646279746573ULL;
    uint64_t b = (uint64_t)n << 56;
    while (n >= 8) {
        uint64_t m = pkli_dec64le(p);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
        p += 8;
        n -= 8;
    }
    for (size_t i = 0; i < n; i++)
        b |= (uint64_t)p[i] << (8 * i);
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t pkli_siphash_u64(const pkli_hkey *k, uint64_t x)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(x >> (8 * i));
    return pkli_siphash(k, b, 8);
}

void pkli_hash_key(pkli_hkey *k)
{
    uint64_t w[2] = {0, 0};
    size_t got = 0;
#if defined(__linux__) && defined(SYS_getrandom)
    while (got < sizeof w) {
        long r = syscall(SYS_getrandom, (char *)w + got, sizeof w - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
#endif
    if (got < sizeof w) {
        /* no getrandom: not secret, but at least not fixed */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        w[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
        w[1] ^= (uint64_t)(uintptr_t)k * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)ts.tv_sec;
    }
    k->k0 = w[0];
    k->k1 = w[1];
}
