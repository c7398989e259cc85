/* internal.h -- the one internal header, included first by every .c file.
 *
 * Cross-file internals are prefixed pkli_; file-local helpers are static.
 * Nothing in here is part of the public API or installed.
 */
#ifndef PKL_INTERNAL_H
#define PKL_INTERNAL_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pickleguard.h"

/* ---- can't-happen conditions (SQLite's ALWAYS/NEVER) -------------------
 * In test builds (-DPKL_TESTING) a violated assumption aborts so tests find
 * it; in release builds the condition is still evaluated and the caller's
 * defensive branch runs. */
#ifdef PKL_TESTING
#define ALWAYS(x) ((x) ? 1 : (abort(), 0))
#define NEVER(x) ((x) ? (abort(), 1) : 0)
#else
#define ALWAYS(x) (!!(x))
#define NEVER(x) (!!(x))
#endif

/* ---- errors -------------------------------------------------------------
 * One exit path per function: ERR_IF fills *err (which may be NULL) and
 * jumps to `fail:`. */
void pkli_error_set(pkl_error *err, pkl_code code, size_t offset, int opcode);
void pkli_error_setf(pkl_error *err, pkl_code code, size_t offset, int opcode,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
void pkli_error_clear(pkl_error *err);

#define ERR_IF(cond, err, code, offset, opcode)                               \
    do {                                                                      \
        if (cond) {                                                           \
            pkli_error_set((err), (code), (offset), (opcode));                \
            goto fail;                                                        \
        }                                                                     \
    } while (0)

/* ---- allocation --------------------------------------------------------- */
/* Copies *alloc, or the libc allocator when alloc is NULL. */
void pkli_alloc_init(pkl_allocator *dst, const pkl_allocator *alloc);
static inline void *pkli_malloc(const pkl_allocator *a, size_t n)
{
    return a->malloc(a->ctx, n ? n : 1);
}
static inline void *pkli_realloc(const pkl_allocator *a, void *p, size_t n)
{
    return a->realloc(a->ctx, p, n ? n : 1);
}
static inline void pkli_free(const pkl_allocator *a, void *p)
{
    if (p)
        a->free(a->ctx, p);
}
/* Grows *buf (of *cap elements of size elem) to hold at least `need`
 * elements, doubling; checks overflow. Returns 0 or -1 (nothing changed). */
/* The reader's general path (pkl_reader_next is a fast path in front of
 * it): cross-file so that fuzz/fuzz_reader.c can check that both agree. */
int pkli_reader_next_full(pkl_reader *r, pkl_op *op, pkl_error *err);
/* Reader options, or-ed together (pkli_reader_set_options). */
enum {
    /* FLOAT (text) is checked exactly as without the option -- the same
     * bytes accepted and refused, the same errors -- but when its text has
     * no exponent and at most 300 integer digits its value is not
     * computed: op->f is 0.0. For callers that never read values (the
     * scanner). */
    PKLI_READER_SKIP_FLOAT_VALUES = 1u
};
/* Sets the options (replacing any set before); takes effect at the next
 * pkl_reader_next. The default, after pkl_reader_init, is none. */
void pkli_reader_set_options(pkl_reader *r, unsigned options);

/* Hot-path helpers: the fast path inlined into its callers, the rare
 * path kept out of line so that callers stay small. */
#if defined(__GNUC__)
#define PKL_NOINLINE __attribute__((noinline))
#define PKL_INLINE inline __attribute__((always_inline))
#define PKL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PKL_UNLIKELY(x) (x)
#define PKL_NOINLINE
#define PKL_INLINE inline
#endif

/* Hint that [p, p+n) is about to be written: on Linux, transparent huge
 * pages and one MADV_POPULATE_WRITE instead of a trap per page (a VM makes
 * traps expensive). No effect below 64 KiB or elsewhere; never fails. */
void pkli_prefault(void *p, size_t n);
/* The huge-page half of pkli_prefault only: for memory that may be
 * written only in part (pages never touched then cost nothing). */
void pkli_hugepages(void *p, size_t n);
int pkli_grow(const pkl_allocator *a, void **buf, size_t *cap, size_t need,
              size_t elem);

/* ---- growable byte buffer ------------------------------------------------ */
typedef struct pkli_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;       /* fail with -1 when len would exceed it (0: SIZE_MAX) */
    int failed;         /* sticky: an append failed (no memory or over limit) */
    int over_limit;     /* the failure was the limit */
    const pkl_allocator *alloc;
} pkli_buf;

void pkli_buf_init(pkli_buf *b, const pkl_allocator *a, size_t limit);
int pkli_buf_put(pkli_buf *b, const void *p, size_t n);
int pkli_buf_putc(pkli_buf *b, char c);
int pkli_buf_puts(pkli_buf *b, const char *s);
int pkli_buf_printf(pkli_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void pkli_buf_free(pkli_buf *b);

/* ---- little-endian / big-endian integer helpers (BearSSL br_dec*) -------- */
static inline uint16_t pkli_dec16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((unsigned)p[1] << 8));
}
static inline uint32_t pkli_dec32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t pkli_dec64le(const uint8_t *p)
{
    return (uint64_t)pkli_dec32le(p) | ((uint64_t)pkli_dec32le(p + 4) << 32);
}
static inline uint64_t pkli_dec64be(const uint8_t *p)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, sizeof v); /* no alignment assumption */
    return __builtin_bswap64(v);
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
#endif
}

/* ---- text ---------------------------------------------------------------- */
/* Validates UTF-8. `surrogatepass` accepts encoded surrogates (ED A0..BF xx),
 * as CPython's BINUNICODE decoding does. Returns 1 if valid, else 0 and the
 * offset of the first bad byte in *bad. */
int pkli_utf8_valid(const uint8_t *s, size_t n, int surrogatepass, size_t *bad);
/* Length (1..4) of the valid UTF-8 sequence at s[0..n), n >= 1, or 0.
 * Reads byte by byte and stops at the first bad one, so a NUL-terminated
 * string may pass n = 4. */
size_t pkli_utf8_seq(const uint8_t *s, size_t n, int surrogatepass);
/* Decodes one code point from valid (surrogatepass) UTF-8; returns its
 * length in bytes. */
size_t pkli_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* Encodes a code point (surrogates included) as UTF-8; returns 1..4. */
size_t pkli_utf8_encode(uint32_t cp, uint8_t out[4]);
/* JSON string text (RFC 8259) of s[0..n), without the quotes, for every
 * JSON the project writes; handed to put(ctx, ...) in pieces. Kept as
 * they are: ASCII from 0x20 (DEL too) but '"' and '\\', valid UTF-8.
 * Escaped: \" \\ \n \r \t \b \f, \u00XX for other controls, \udXXX for an
 * encoded surrogate when `surrogatepass` (decoded pickle text), \ufffd for
 * each byte that starts no valid sequence. */
typedef void (*pkli_sink)(void *ctx, const char *p, size_t n);
void pkli_json_escape(const uint8_t *s, size_t n, int surrogatepass,
                      pkli_sink put, void *ctx);
/* Python 2-style string literal for dis / messages: writes repr-like
 * escaped ASCII of s into b. `text` chooses str (\u escapes) or bytes. */
int pkli_buf_put_pyrepr(pkli_buf *b, const uint8_t *s, size_t n, int text);

/* ---- numbers as text (numtext.c) ------------------------------------------ */
/* Python's repr() of a double: shortest round-trip digits (Schubfach),
 * "nan", "inf", "-inf". Writes no NUL; returns the length (< the size). */
#define PKLI_FLOAT_REPR_MAX 32
size_t pkli_float_repr(double d, char buf[PKLI_FLOAT_REPR_MAX]);
/* Decimal text of the two's complement little-endian integer le[0..len),
 * written backwards so that it ends at `end`; returns its length. limbs
 * is scratch of (len + 3) / 4 words and must not overlap the text.
 * Quadratic in len: callers bound it. */
size_t pkli_bigint_digits(const uint8_t *le, size_t len, uint32_t *limbs,
                          char *end);

/* ---- keyed hashing --------------------------------------------------------- */
/* Every hash table keyed by attacker data (dict keys, memo indices, global
 * names) hashes with SipHash-1-3 under a key drawn from getrandom() when
 * the decoder or scanner starts, so colliding inputs cannot be precomputed
 * (hash flooding). pkli_hash_key falls back to a weaker mix of time, pid and
 * addresses only when the kernel has no getrandom. */
typedef struct pkli_hkey {
    uint64_t k0, k1;
} pkli_hkey;
void pkli_hash_key(pkli_hkey *k);
uint64_t pkli_siphash(const pkli_hkey *k, const void *p, size_t n);
uint64_t pkli_siphash_u64(const pkli_hkey *k, uint64_t x);

/* ---- hash table (hashtab.c) ------------------------------------------------
 * One open-addressing table for every module: a slot maps a 64-bit key to
 * a non-zero 32-bit value and a free 32-bit word (callers with richer
 * entries keep them in an array and store index + 1). The table stays at
 * most half full and doubles as it fills; callers bound `count`
 * themselves before adding. */
typedef enum pkli_htab_mode {
    PKLI_HT_SIPHASH, /* keys from the input: SipHash-1-3 under hk */
    PKLI_HT_MIX,     /* keys no input chooses (addresses): a cheap mix */
    PKLI_HT_HASHED   /* keys are keyed hashes already: used as they are;
                        equal keys are told apart by the caller's eq */
} pkli_htab_mode;
typedef struct pkli_hslot {
    uint64_t key;
    uint32_t val;     /* 0: empty slot */
    uint32_t aux;     /* the caller's (0 when added) */
} pkli_hslot;
typedef struct pkli_htab {
    pkli_hslot *slots;
    size_t cap;       /* 0 or a power of two */
    size_t count;
    pkli_htab_mode mode;
    pkli_hkey hk;     /* PKLI_HT_SIPHASH's key */
    const pkl_allocator *alloc;
} pkli_htab;
/* Non-zero when the entry in slot s (its val and aux) is the one looked
 * for. */
typedef int (*pkli_htab_eq)(const void *ctx, const pkli_hslot *s);
/* An empty table (no allocation until the first add). hk is copied; it MUST
 * be given for PKLI_HT_SIPHASH and is ignored otherwise. */
void pkli_htab_init(pkli_htab *t, const pkl_allocator *a, pkli_htab_mode mode,
                    const pkli_hkey *hk);
/* The slot of key (val and aux writable in place; val must stay non-zero),
 * or NULL when absent. Valid until the next add. */
pkli_hslot *pkli_htab_find(const pkli_htab *t, uint64_t key);
/* The same for a PKLI_HT_HASHED table: the first entry with this key for
 * which eq(ctx, slot) holds (eq NULL: any). */
pkli_hslot *pkli_htab_find_eq(const pkli_htab *t, uint64_t key,
                              pkli_htab_eq eq, const void *ctx);
/* Adds key -> val (val non-zero, aux 0) without looking for key first;
 * returns the new slot, or NULL when out of memory (the table is
 * unchanged). */
pkli_hslot *pkli_htab_add(pkli_htab *t, uint64_t key, uint32_t val);
/* The existing slot of key, or a new one holding val; *added (may be NULL)
 * tells which. NULL when out of memory. */
pkli_hslot *pkli_htab_insert(pkli_htab *t, uint64_t key, uint32_t val,
                             int *added);
/* The bytes the next add will allocate (0: it fits), so that callers
 * under a memory limit can charge them first. */
size_t pkli_htab_grow_bytes(const pkli_htab *t);
/* Empties the table, keeping its memory. */
void pkli_htab_clear(pkli_htab *t);
/* Frees the slots; the table is empty and usable again. */
void pkli_htab_free(pkli_htab *t);

/* ---- opcode helpers ------------------------------------------------------- */
/* Table entry per opcode byte (NULL: not an opcode), from opcodes.def. */
extern const pkl_opinfo *const pkli_op_by_byte[256];
/* "GLOBAL" for a byte, or "opcode 0xNN" style static text for unknown. */
const char *pkli_opname(int byte);

/* The reader's fast path (pkl_reader_next), inline for hot loops. */
#include "reader_fast.h"

/* ---- embedded files (scripts/embed.py) ------------------------------------ */
typedef struct pkli_embedded {
    const char *name;      /* base name without extension: "default" */
    const char *filename;  /* "default.yaml" */
    const char *text;
    size_t len;
} pkli_embedded;
/* The built-in policies (policies/NAME.yaml), ended by a NULL name. */
extern const pkli_embedded pkli_builtin_policies[];

/* ---- scanner entry points for the library's own callers ----------------- */
/* pkl_scan_buffer with one more option, for scan_file.c:
 * lenient_start: non-zero when the buffer was found by content rather than
 * named as a pickle that a loader will unpickle whatever it looks like: if
 * its first pickle fails before anything imported or called, so that
 * pickle.load fails having built only data, report `not-a-pickle` (info)
 * instead of a medium finding (docs/rules.md, verdicts by what can run).
 * pkl_scan_file/pkl_scan_data set it for every file and every non-forced
 * stream. */
int pkli_scan_buffer(const void *buf, size_t len, const char *path,
                     const pkl_scan_options *opt, int lenient_start,
                     pkl_scan_result *res, pkl_error *err);
/* Appends a finding made outside the scanner (container problems, the
 * CLI's merged reports). f->rule must be a static string. Counted like the
 * scanner's own: by_severity, max_severity, and `dropped` past
 * max_findings (0: the default 1000). Returns 0, or -1 when out of memory
 * (the finding is then counted as dropped). */
int pkli_scan_result_add(pkl_scan_result *res, const pkl_finding *f,
                         size_t max_findings);

/* names.c: whole-component match of a dotted pattern ('*' matches one
 * component) against the first components of s[0..n). */
int pkli_name_pattern_match(const char *p, const char *s, size_t n);

/* names.c: whether find_class would import module m[0..n) (a dotted
 * identifier path) before looking the name up, whatever the name. */
int pkli_module_imports(const char *m, size_t n);

#endif /* PKL_INTERNAL_H */
