/* scanner.c -- the static scanner: pickle bytes -> findings, without
 * loading anything.
 *
 * An abstract interpreter walks every opcode with the unpickler's own
 * stack / mark / memo discipline (marks fence the stack as in _pickle.c;
 * each pickle gets a fresh memo and protocol 0), but with abstract values:
 * inert data, unknown, constant str/bytes (text kept, so STACK_GLOBAL's
 * operands are known whatever opcode produced them), a global, the result
 * of calling a global, an aggregate carrying a constant (the argument
 * tuple of a nested pickle.loads). Globals are resolved by
 * pkl_resolve_global (names.c) with the protocol in force, checked against
 * the catalogue (catalogue.def) and the policy. The rules and their
 * severities are documented in docs/rules.md.
 *
 * Fail closed: a stream that cannot be parsed to its end is a finding that
 * says how many bytes were not examined, and those bytes are searched for
 * global-looking text. Memory is bounded by fixed caps (stack entries,
 * marks, memo, retained text, distinct globals); hitting one is a
 * `scan-limit` finding, never growth -- except the memo's: past them
 * values are kept by kind only (`memo-limit`, info) and a use that needs
 * what was not kept is reported where it happens (`lost-value`). Nested pickles are scanned from a
 * work queue, never by recursion.
 *
 * Must never: execute or import anything, depend on the decoder, print,
 * keep global state, or report "clean" for bytes it did not examine.
 */
#include "internal.h"

#include <stdio.h>

/* ---- caps (memory bound independent of input size; see docs/rules.md) --
 * Worst case, every cap reached at once: stack 256Ki x 32 B = 8 MiB, marks
 * 2 MiB, dense memo 8 MiB + pool-index pages 8 MiB, memo hash 512Ki entries at <= 50% load x 12 B =
 * 12 MiB, memo pool 512Ki x 16 B = 8 MiB, kept text 4 MiB, globals 2 MiB,
 * findings ~2 MiB: about 54 MiB, plus the file pages the CLI has not yet
 * dropped (on_progress every 4 MiB). */
#define STACK_MAX ((size_t)1 << 18)   /* abstract stack entries (runs merged) */
#define MARKS_MAX ((size_t)1 << 18)   /* open marks */
#define MEMO_DENSE_MAX ((size_t)1 << 23) /* memo keys in the byte-per-key table */
#define MEMO_HASH_MAX ((size_t)1 << 19)  /* sparse keys + kept values */
#define MEMO_POOL_MAX ((size_t)1 << 19)  /* memo entries holding kept values */
#define PIDX_MAX ((size_t)1 << 21)       /* dense keys with a direct pool
                                            index (8 MiB); then the hash */
#define GLOBALS_MAX 4096              /* distinct resolved globals per scan */
#define ARENA_MAX ((size_t)4 << 20)   /* copies of escaped text (STRING/UNICODE) */
#define QUEUE_MAX 64                  /* nested pickles waiting */
#define RESUME_MAX 16                 /* frame ends followed per stream */
#define SEEN_MAX 1024                 /* nested payloads remembered (dedup) */
#define STRUCT_MAX 8                  /* structural findings per pickle */
#define REMAINDER_HITS_MAX 16         /* unparsed-global findings per stream */
#define DEFAULT_MAX_FINDINGS 1000
#define PROGRESS_STEP ((size_t)4 << 20)
#define DEFAULT_MAX_NESTING 4

/* ---- severities ------------------------------------------------------------ */

static const char *const sev_names[] = {"info", "low", "medium", "high",
                                        "critical"};

const char *pkl_severity_name(pkl_severity sev)
{
    if (sev < PKL_SEV_INFO || sev > PKL_SEV_CRITICAL)
        return "unknown";
    return sev_names[sev];
}

pkl_severity pkl_severity_parse(const char *s)
{
    if (!s)
        return PKL_SEV_NONE;
    for (int i = 0; i <= PKL_SEV_CRITICAL; i++)
        if (strcmp(s, sev_names[i]) == 0)
            return (pkl_severity)i;
    return PKL_SEV_NONE;
}

/* ---- catalogue ------------------------------------------------------------- */

enum {
    CAT_EXEC, CAT_IMPORT, CAT_ATTR, CAT_PROCESS, CAT_FILE, CAT_NETWORK,
    CAT_NATIVE, CAT_DESERIALIZE, CAT_INTERP
};

static const char *const cat_names[] = {
    "code execution", "import machinery", "attribute access by name",
    "process execution", "file-system access", "network access",
    "native code", "nested deserializer", "interpreter state"};

typedef struct cat_entry {
    const char *pattern;
    uint8_t cat;
    const char *reason;
} cat_entry;

static const cat_entry catalogue[] = {
#define CAT(pattern, category, reason) {pattern, CAT_##category, reason},
#include "catalogue.def"
#undef CAT
#undef CAT_EXCEPT
#undef DUNDER
};
#define NCAT (sizeof catalogue / sizeof catalogue[0])

/* Exact names a wider entry covers that only rebuild data (CAT_EXCEPT). */
static const char *const cat_excepts[] = {
#define CAT_EXCEPT(name, reason) name,
#include "catalogue.def"
#undef CAT
#undef CAT_EXCEPT
#undef DUNDER
};
#define NCAT_EXCEPT (sizeof cat_excepts / sizeof cat_excepts[0])

typedef struct dunder_entry {
    const char *name;
    const char *reason;
} dunder_entry;

static const dunder_entry dunders[] = {
#define DUNDER(name, reason) {name, reason},
#include "catalogue.def"
#undef CAT
#undef CAT_EXCEPT
#undef DUNDER
};
#define NDUNDER (sizeof dunders / sizeof dunders[0])


static int catalogue_find(const char *s, size_t n)
{
    for (size_t k = 0; k < NCAT_EXCEPT; k++)
        if (strlen(cat_excepts[k]) == n && memcmp(cat_excepts[k], s, n) == 0)
            return -1;
    for (size_t k = 0; k < NCAT; k++)
        if (pkli_name_pattern_match(catalogue[k].pattern, s, n))
            return (int)k;
    return -1;
}

/* Catalogue index for the full dotted name (module length mlen), also
 * trying every tail of the qualname that walks THROUGH a component
 * ("posixpath" + "os.system" -> "os.system"). -1 if none. */
static int catalogue_lookup(const char *full, size_t n, size_t mlen)
{
    int k = catalogue_find(full, n);
    if (k >= 0 || mlen >= n)
        return k;
    size_t i = mlen + 1; /* start of the qualname */
    while (i < n) {
        const char *dot = memchr(full + i, '.', n - i);
        if (!dot)
            break; /* a single last component walks through nothing */
        k = catalogue_find(full + i, n - i);
        if (k >= 0)
            return k;
        i = (size_t)(dot - full) + 1;
    }
    return -1;
}

/* Dunder index of the first qualname component in the list, or -1. */
static int dunder_lookup(const char *full, size_t n, size_t mlen)
{
    size_t i = mlen < n ? mlen + 1 : n;
    while (i < n) {
        const char *dot = memchr(full + i, '.', n - i);
        size_t cl = dot ? (size_t)(dot - (full + i)) : n - i;
        for (size_t k = 0; k < NDUNDER; k++)
            if (strlen(dunders[k].name) == cl &&
                memcmp(dunders[k].name, full + i, cl) == 0)
                return (int)k;
        i += cl + 1;
    }
    return -1;
}

/* ---- abstract values ----------------------------------------------------- */

enum {
    V_INERT = 0,  /* data that cannot act: numbers, None, containers... */
    V_UNKNOWN,    /* anything: persistent_load results, lost precision */
    V_STR,        /* constant text (data == NULL: too long to keep) */
    V_BYTES,      /* constant bytes (BINBYTES family, BYTEARRAY8) */
    V_GLOBAL,     /* a global (g: index in the globals table or NOG) */
    V_CALL,       /* the result of calling global g */
    V_AGG,        /* an aggregate holding a constant (data/len) */
    V_PERSID      /* what persistent_load returned: an application object
                     (kinds fit in 3 bits: see mentry.meta) */
};

/* sflag bits */
#define SF_NARROW 1u  /* STRING family: str only through the encoding */
#define SF_LOST 2u    /* held a constant whose text was not kept */
#define SF_ATTRARGS 4u /* V_AGG: the tuple (AllowedClass g, "NAME" data):
                          getattr's safe arguments (never memoized) */

#define NOG UINT32_MAX

typedef struct aval {
    uint8_t kind;
    uint8_t sflag;
    uint32_t g;
    size_t n;              /* run length (V_INERT, V_UNKNOWN); else 1 */
    const uint8_t *data;   /* constant text, or carried payload; NULL: none */
    size_t len;
} aval;

/* Memo pool entry: compact, the memo can hold a million entries. */
typedef struct mentry {
    const uint8_t *data;
    uint32_t len;          /* UINT32_MAX: longer (data is then NULL) */
    uint32_t meta;         /* kind | sflag << 3 | g << 5 */
} mentry;


typedef struct gent {
    char name[2 * PKL_NAME_MAX + 2];
    uint16_t mlen;
    int16_t cat;
    int16_t dunder;
    uint8_t verdict;
} gent;

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    uint8_t data[];
} chunk;

typedef struct work {
    const uint8_t *data;
    size_t len;
    unsigned depth;
    char path[sizeof(((pkl_finding *)0)->path)];
} work;

typedef struct scan {
    pkl_allocator a;
    const pkl_policy *policy;
    pkl_scan_result *res;
    size_t max_findings;
    size_t max_nesting;
    int nomem;
    void (*on_progress)(void *ctx, size_t offset);
    size_t (*next_data)(void *ctx, size_t offset);
    void *progress_ctx;
    size_t next_progress;   /* top-level offset of the next on_progress */

    /* current stream */
    const uint8_t *base;
    size_t len;
    unsigned depth;
    char path[sizeof(((pkl_finding *)0)->path)];
    size_t remainder_hits;
    /* where pickle.load may resume after a STOP inside a frame: the
     * frame's end (see read_failed) */
    struct { size_t at; int done; } resume[RESUME_MAX];
    size_t nresume;
    int resume_over;        /* more resume points than resume[] holds */
    size_t resume_from;     /* the chain scanned now starts at a frame's end
                               (0: it starts at the stream's start) */
    int resuming;           /* in a chain from a frame's end: a finding
                               another chain made is not repeated */
    size_t stream_first;    /* res->count when the stream began */
    size_t looked_from;     /* look_through searched from here to the end
                               already (SIZE_MAX: not yet) */

    /* current pickle */
    aval *stk;
    size_t nstk, stkcap;
    size_t depth_log;       /* values on the stack (runs counted) */
    size_t *marks;
    size_t nmarks, markcap;
    size_t lost_marks;
    uint8_t *mdense;        /* MS_* per dense key */
    size_t mdcap, mdhi;
    uint32_t *pidx;         /* MS_POOLED dense keys below PIDX_MAX: pool
                               code per key (0: see the hash map) */
    size_t pidxcap;
    pkli_htab memo_hash;    /* sparse memo keys -> MS_* value */
    mentry *pool;
    size_t npool, poolcap;
    size_t memo_count;
    int memo_lossy;
    int proto;
    size_t ops_ok;
    int op_failed;          /* the current opcode failed structurally */
    int first_failed;       /* ... and it was the pickle's first */
    char first_msg[400];    /* why the first opcode failed */
    size_t npk;             /* index of the current pickle in the stream */
    int lenient_start;      /* see pkli_scan_buffer */
    int text_guard;         /* look_through in a buffer that is no pickle */
    int acted;              /* an opcode that imports or calls was handled
                               in this pickle */
    /* the result as it was before the stream's first pickle: findings
     * about a "pickle" that turns out to be none are taken back */
    size_t roll_count, roll_dropped, roll_sev[5];
    int roll_max;
    size_t nstruct;
    int saw_proto;
    int said_limit, said_mismatch, said_buffer, said_persid, said_inst;
    int said_memo;
    int said_text;          /* noncanonical-text findings in this pickle */

    /* whole scan */
    gent *gl;
    size_t ngl, glcap;
    pkli_htab ghash;        /* keyed hash of the name -> index + 1 */
    int said_globals_cap;
    chunk *arena;
    size_t arena_used;
    work *q;
    size_t nq, qhead;
    struct { const uint8_t *data; size_t len; } seen[SEEN_MAX];
    size_t nested_budget;   /* bytes nested scans may still cover */
    size_t nseen;           /* payloads already queued (no double scans) */

    /* builtins.getattr imports of the current pickle, reported only if
     * some use of them is not getattr(AllowedClass, "NAME") (attr_*) */
    uint32_t attr_g;        /* its globals index, NOG until seen */
    struct { size_t off; int code; const char *how; } attr_pend[8];
    size_t attr_npend;
    size_t attr_pushes, attr_calls;
    int attr_bad;           /* a result was called, built or mutated */
    pkli_hkey hk;           /* SipHash key of this scan (memo keys, names) */
} scan;

/* ---- findings -------------------------------------------------------------- */

/* out = a + sep + b, truncated to size (no format-truncation games). */
static void join3(char *out, size_t size, const char *a, const char *sep,
                  const char *b)
{
    size_t w = 0;
    const char *parts[3] = {a, sep, b};
    for (int k = 0; k < 3; k++) {
        for (const char *p = parts[k]; *p && w + 1 < size; p++)
            out[w++] = *p;
    }
    out[w] = '\0';
}

static void copy_text(char *dst, size_t size, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void emit(scan *s, const char *rule, int sev, size_t off, int opcode,
                 const char *global, const char *hint, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 8, 9)))
#endif
    ;

static void emit(scan *s, const char *rule, int sev, size_t off, int opcode,
                 const char *global, const char *hint, const char *fmt, ...)
{
    pkl_scan_result *res = s->res;
#ifdef PKL_TESTING
    /* every rule id is in the one table (src/rules.def) */
    (void)ALWAYS(pkl_rule_find(rule) >= 0);
#endif
    if (PKL_UNLIKELY(s->resuming))
        for (size_t i = s->stream_first; i < res->count; i++)
            if (res->findings[i].offset == off &&
                strcmp(res->findings[i].rule, rule) == 0 &&
                strcmp(res->findings[i].global, global) == 0 &&
                strcmp(res->findings[i].path, s->path) == 0)
                return; /* the same bytes, read by an earlier chain */
    res->by_severity[sev]++;
    if (sev > res->max_severity)
        res->max_severity = sev;
    if (res->count >= s->max_findings) {
        res->dropped++;
        return;
    }
    if (pkli_grow(&res->alloc, (void **)&res->findings, &res->cap,
                  res->count + 1, sizeof *res->findings) < 0) {
        s->nomem = 1;
        res->dropped++;
        return;
    }
    pkl_finding *f = &res->findings[res->count++];
    f->rule = rule;
    f->severity = sev;
    f->offset = off;
    f->opcode = opcode;
    copy_text(f->global, sizeof f->global, global);
    copy_text(f->hint, sizeof f->hint, hint);
    copy_text(f->path, sizeof f->path, s->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

static void scan_limit(scan *s, size_t off, int opcode, const char *what)
{
    if (s->said_limit)
        return;
    s->said_limit = 1;
    emit(s, "scan-limit", PKL_SEV_MEDIUM, off, opcode, "",
         "split the data or review it by hand; the scanner keeps its memory "
         "bounded and does not track further values precisely",
         "%s: the analysis of this pickle is no longer exact from here on",
         what);
}

/* Nothing has run yet: the pickle's first opcode, or -- in a buffer found
 * by content (lenient_start) or nested -- any point of the first pickle
 * before an opcode that imports or calls. A failure
 * here means the real unpickler raises before doing anything but building
 * data: "no pickle here" (docs/rules.md, not-a-pickle), not a damaged one
 * (text starting with 'N', the NONE opcode; a PNG). */
static PKL_INLINE int inert(const scan *s)
{
    return !s->acted && (s->ops_ok == 0 ||
                         (s->npk == 0 && (s->lenient_start || s->depth > 0)));
}

/* Digits of base `base` with single underscores between them (Python's
 * int() grammar; strtol takes no underscores, which only widens this). */
static int digits_ok(const uint8_t *p, const uint8_t *e, int base)
{
    int n = 0, prev_us = 1;
    for (; p < e; p++) {
        int c = *p, d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
        if (c == '_' && !prev_us) {
            prev_us = 1;
            continue;
        }
        if (d < 0 || d >= base)
            return 0;
        prev_us = 0;
        n++;
    }
    return n > 0 && !prev_us;
}

/* Could text[p..e) be an INT, LONG or FLOAT argument that one of the two
 * unpicklers accepts? _pickle.c load_int: strtol base 0 (leading zeros
 * mean octal); load_long and pickle.py load_int/load_long: int(s, 0),
 * after dropping LONG's trailing 'L' (surrounding spaces, a sign, a base
 * prefix, underscores; no leading zero in decimal); load_float:
 * PyOS_string_to_double and float(s) (spaces, sign, digits, '.',
 * exponent, underscores, inf/infinity/nan in any case). Deliberately
 * generous: it only decides between "no pickle" and "medium". */
static int number_text(int opcode, const uint8_t *p, const uint8_t *e)
{
    while (p < e && (*p == ' ' || (*p >= '\t' && *p <= '\r')))
        p++;
    while (e > p && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
        e--;
    if (opcode == PKL_OP_LONG && e > p && e[-1] == 'L')
        e--;
    if (p < e && (*p == '+' || *p == '-'))
        p++;
    if (p >= e)
        return 0;
    if (opcode == PKL_OP_FLOAT) {
        static const char *const words[] = {"inf", "infinity", "nan"};
        for (size_t i = 0; i < 3; i++) {
            size_t k = strlen(words[i]), j = 0;
            while (j < k && (size_t)(e - p) == k &&
                   (p[j] | 0x20) == (uint8_t)words[i][j])
                j++;
            if (k == j)
                return 1;
        }
        int digits = 0;
        for (const uint8_t *q = p; q < e; q++) {
            if (*q >= '0' && *q <= '9')
                digits = 1;
            else if (!strchr("._eE+-", *q) || *q == '\0')
                return 0;
        }
        return digits;
    }
    if (e - p > 2 && p[0] == '0') {
        int b = (p[1] | 0x20) == 'x' ? 16 : (p[1] | 0x20) == 'o' ? 8
              : (p[1] | 0x20) == 'b' ? 2 : 0;
        if (b)
            return digits_ok(p + 2 + (p[2] == '_'), e, b);
    }
    /* int(s, 0) refuses "010"; only _pickle.c's INT (strtol) takes it */
    if (opcode == PKL_OP_LONG && p[0] == '0')
        for (const uint8_t *q = p; q < e; q++)
            if (*q != '0' && *q != '_')
                return 0;
    return digits_ok(p, e, 10);
}

/* Does a pickle read from base[from..len) reach an opcode that imports or
 * calls, or its STOP (the unpickler returns something), before it fails? */
static int rest_goes_on(const scan *s, size_t from)
{
    pkl_reader r;
    pkl_op op;
    int acts = 0;
    if (from >= s->len)
        return 0;
    pkl_reader_init(&r, s->base + from, s->len - from, NULL);
    while (pkl_reader_next(&r, &op, NULL) == 1) {
        if (op.info->flags & PKL_OPF_PERSID)
            break;
        if (op.info->flags & (PKL_OPF_IMPORTS | PKL_OPF_CALLS |
                              PKL_OPF_BUILDS | PKL_OPF_EXT | PKL_OPF_STOP)) {
            acts = 1;
            break;
        }
    }
    pkl_reader_free(&r);
    return acts;
}

/* The reader refused an argument at off that one of the two unpicklers
 * may still accept, so the refusal is ours, not the loader's, and stays a
 * medium finding: number text (number_text: the reader takes only plain
 * decimal spellings), or a FRAME whose length goes past the data when what
 * follows runs or returns something (pickle.py's _Unframer reads on). Text with
 * other letters ("Installed ...") or without its newline fails in both
 * unpicklers and is "no pickle". */
static int refusal_in_doubt(const scan *s, size_t off, int opcode)
{
    if (off >= s->len || s->base[off] != opcode)
        return 0;
    if (opcode == PKL_OP_FRAME)
        /* pickle.py load_frame refuses a size over sys.maxsize too */
        return off + 9 <= s->len &&
               pkli_dec64le(s->base + off + 1) <= (uint64_t)INT64_MAX &&
               rest_goes_on(s, off + 9);
    if (opcode != PKL_OP_INT && opcode != PKL_OP_LONG && opcode != PKL_OP_FLOAT)
        return 0;
    const uint8_t *p = s->base + off + 1, *end = s->base + s->len;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    return nl && number_text(opcode, p, nl);
}

/* A structural error CPython's unpickler would raise on. The first one in
 * a pickle whose very first opcode it is means "no pickle here". */
static void structural(scan *s, const pkl_op *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void structural(scan *s, const pkl_op *op, const char *fmt, ...)
{
    s->op_failed = 1;
    if (inert(s)) {
        if (!s->first_failed) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(s->first_msg, sizeof s->first_msg, fmt, ap);
            va_end(ap);
        }
        s->first_failed = 1;
        return;
    }
    if (s->nstruct++ >= STRUCT_MAX)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(s, "malformed", PKL_SEV_MEDIUM, op->offset, op->code, "",
         "the file is damaged or crafted; CPython's unpickler stops with an "
         "error here",
         "%s %s", op->info->name, msg);
}

/* ---- arena for text that does not live in the input ---------------------- */

static const uint8_t *arena_keep(scan *s, const uint8_t *p, size_t n)
{
    static const uint8_t empty[1] = {0};
    if (n == 0)
        return empty;
    if (n > ARENA_MAX - s->arena_used)
        return NULL;
    chunk *c = s->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = pkli_malloc(&s->a, sizeof *c + cap);
        if (!c) {
            s->nomem = 1;
            return NULL;
        }
        c->next = s->arena;
        c->used = 0;
        c->cap = cap;
        s->arena = c;
    }
    uint8_t *d = c->data + c->used;
    memcpy(d, p, n);
    c->used += n;
    s->arena_used += n;
    return d;
}

static int in_input(const scan *s, const uint8_t *p)
{
    return p >= s->base && p <= s->base + s->len;
}

/* ---- the abstract stack --------------------------------------------------- */

static inline size_t fence(const scan *s)
{
    return s->nmarks ? s->marks[s->nmarks - 1] : 0;
}

static inline size_t accessible(const scan *s)
{
    return s->depth_log - fence(s);
}

static aval *push_grow(scan *s, size_t off, int opcode);

/* The hot path: a value given by its fields, written straight into its
 * stack slot (building an aval and copying it stalls on store-to-load
 * forwarding: narrow stores read back as wide loads). Inert and unknown
 * values merge into a run on top of the stack. */
static PKL_INLINE void push_v(scan *s, uint8_t kind, uint8_t sflag, uint32_t g,
                              const uint8_t *data, size_t len, size_t off,
                              int opcode)
{
    s->depth_log++;
    if (PKL_UNLIKELY(kind == V_GLOBAL) && g == s->attr_g && g != NOG)
        s->attr_pushes++;
    if ((kind == V_INERT || kind == V_UNKNOWN) && s->nstk &&
        s->stk[s->nstk - 1].kind == kind &&
        s->stk[s->nstk - 1].sflag == sflag) { /* a lost unknown stays apart */
        s->stk[s->nstk - 1].n++;
        return;
    }
    aval *t;
    if (s->nstk < s->stkcap)
        t = &s->stk[s->nstk++];
    else if (!(t = push_grow(s, off, opcode)))
        return;
    t->kind = kind;
    t->sflag = sflag;
    t->g = g;
    t->n = 1;
    t->data = data;
    t->len = len;
}

static PKL_INLINE void push(scan *s, const aval *v, size_t off, int opcode)
{
    push_v(s, v->kind, v->sflag, v->g, v->data, v->len, off, opcode);
}

/* A new top slot when the stack is full: grown, or NULL when it cannot
 * grow (the value then merges into the top entry, both becoming
 * unknown). depth_log already counts the value. */
static aval *push_grow(scan *s, size_t off, int opcode)
{
    if (s->nstk >= STACK_MAX ||
        pkli_grow(&s->a, (void **)&s->stk, &s->stkcap, s->nstk + 1,
                  sizeof *s->stk) < 0) {
        if (s->nstk < STACK_MAX)
            s->nomem = 1;
        scan_limit(s, off, opcode, "too many distinct values on the stack");
        if (!s->nstk) {
            s->depth_log--;
            return NULL;
        }
        /* merge into the top entry, losing what both were */
        aval *t = &s->stk[s->nstk - 1];
        size_t tn = t->n;
        memset(t, 0, sizeof *t);
        t->kind = V_UNKNOWN;
        t->n = tn + 1;
        return NULL;
    }
    return &s->stk[s->nstk++];
}

static PKL_INLINE aval mk(uint8_t kind)
{
    aval v;
    memset(&v, 0, sizeof v);
    v.kind = kind;
    v.n = 1;
    v.g = NOG;
    return v;
}

static PKL_INLINE void push_kind(scan *s, uint8_t kind, const pkl_op *op)
{
    push_v(s, kind, 0, NOG, NULL, 0, op->offset, op->code);
}

/* Pops one value; on underflow a structural error and an inert value. */
static inline aval pop1(scan *s, const pkl_op *op)
{
    if (accessible(s) == 0) {
        if (!s->op_failed)
            structural(s, op, "pops from an empty stack (or below the "
                              "topmost MARK): stack underflow");
        s->op_failed = 1;
        return mk(V_INERT);
    }
    aval *t = &s->stk[s->nstk - 1];
    aval v = *t;
    s->depth_log--;
    if (t->n > 1) {
        t->n--;
        v.n = 1;
    } else {
        s->nstk--;
    }
    return v;
}

static PKL_INLINE const aval *peek(scan *s, const pkl_op *op)
{
    if (accessible(s) == 0) {
        if (!s->op_failed)
            structural(s, op, "needs a value on the stack and there is none "
                              "above the topmost MARK: stack underflow");
        s->op_failed = 1;
        return NULL;
    }
    return &s->stk[s->nstk - 1];
}

/* The constant a value carries for a nested deserializer. */
static int payload_of(const aval *v, const uint8_t **data, size_t *len)
{
    if ((v->kind == V_STR || v->kind == V_BYTES || v->kind == V_AGG ||
         v->kind == V_CALL) && v->data) {
        *data = v->data;
        *len = v->len;
        return 1;
    }
    return 0;
}

/* What a run of popped values adds up to. */
typedef struct collect {
    const uint8_t *data;
    size_t len;
    int lost;
    int attr_ok;  /* REDUCE's argument is getattr's safe tuple */
    size_t count;
    aval bottom;  /* the deepest value popped (OBJ's class) */
} collect;

static PKL_INLINE void collect_add(collect *c, const aval *v)
{
    const uint8_t *d;
    size_t l;
    /* v->len >= 8 first: most popped values are short or carry nothing */
    if (v->len >= 8 && !c->data && payload_of(v, &d, &l)) {
        c->data = d;
        c->len = l;
    }
    c->lost |= v->sflag & SF_LOST;
}

static void collect_init(collect *c)
{
    memset(c, 0, sizeof *c);
    c->bottom = mk(V_INERT);
}

/* Pops everything above the topmost mark and the mark itself. Returns 0,
 * or -1 (structural error) when there is no mark. */
static int pop_mark(scan *s, const pkl_op *op, collect *c)
{
    if (s->nmarks == 0) {
        if (s->lost_marks) {
            s->lost_marks--;
            return 0;
        }
        structural(s, op, "needs a MARK and there is none");
        return -1;
    }
    size_t m = s->marks[--s->nmarks];
    size_t todo = s->depth_log - m;
    c->count = todo;
    if (!todo)
        return 0;
    s->depth_log = m;
    /* the entries' runs add up to depth_log: whole entries above the
     * deepest one popped, which may give up only part of its run */
    aval *t = s->stk + s->nstk - 1;
    while (t->n < todo && t > s->stk) {
        collect_add(c, t);
        todo -= t->n;
        t--;
    }
    collect_add(c, t);
    c->bottom = *t;
    c->bottom.n = 1;
    if (t->n > todo) {
        t->n -= todo;
        t++;
    }
    s->nstk = (size_t)(t - s->stk);
    return 0;
}

static void push_mark(scan *s, const pkl_op *op)
{
    if (s->nmarks == s->markcap) {
        if (s->nmarks >= MARKS_MAX ||
            pkli_grow(&s->a, (void **)&s->marks, &s->markcap, s->nmarks + 1,
                      sizeof *s->marks) < 0) {
            if (s->nmarks < MARKS_MAX)
                s->nomem = 1;
            scan_limit(s, op->offset, op->code, "too many open MARKs");
            s->lost_marks++;
            return;
        }
    }
    s->marks[s->nmarks++] = s->depth_log;
}

/* Pushes the aggregate built from popped values. */
static void push_aggregate(scan *s, const collect *c, const pkl_op *op)
{
    uint8_t kind = c->data || c->lost ? V_AGG : V_INERT;
    push_v(s, kind, c->lost ? SF_LOST : 0, NOG, c->data, c->len, op->offset,
           op->code);
}

static int id_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.';
}

static int id_start(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* ---- memo -------------------------------------------------------------------
 * One byte per key for keys below MEMO_DENSE_MAX (most memos are dense: 0,
 * 1, 2... as pickle.dumps writes them), holding the state of the value;
 * values worth keeping (constants that can name a global or carry a nested
 * pickle, globals, call results) live in a pool, found through a hash map
 * keyed by memo key. Sparse keys live in the hash map only. */

enum {
    MS_ABSENT = 0,  /* never stored */
    MS_INERT = 1,
    MS_UNKNOWN = 2,
    MS_POOLED = 3,  /* dense table only: see the hash map */
    MS_STR = 4,     /* a str whose text cannot matter (not a name, short) */
    /* past the memo caps (memo-limit): what the value was is only known
     * by kind, and a use that depends on the rest is a lost-value */
    MS_LOST_STR = 5,   /* a str whose text was not kept */
    MS_LOST_BYTES = 6, /* bytes not kept */
    MS_LOST = 7,       /* a global, call result, aggregate... not kept */
    MS_POOL0 = 16   /* hash values >= MS_POOL0: pool index + MS_POOL0 */
};

/* A constant worth remembering: it can spell a module or name, or be
 * a nested pickle (anything shorter than 8 bytes cannot do harm). */
static PKL_INLINE int worth_keeping(const aval *v)
{
    if (!v->data)
        return (v->sflag & SF_LOST) != 0;
    if (v->len >= 8)
        return 1;
    return v->len > 0 && (id_start(v->data[0]) || v->data[0] >= 0x80);
}

/* The memo state of a value that needs no pool entry, or 0 when it does. */
static PKL_INLINE uint32_t memo_plain(const aval *v)
{
    switch (v->kind) {
    case V_INERT:
        return MS_INERT;
    case V_UNKNOWN:
        return MS_UNKNOWN;
    case V_STR: case V_BYTES:
        if (!worth_keeping(v))
            return v->kind == V_STR ? MS_STR : MS_INERT;
        return 0;
    default:
        return 0;
    }
}

/* Fills pool entry e with v (compact: see mentry). */
static PKL_INLINE void pool_fill(mentry *e, const aval *v)
{
    e->data = v->data;
    if (v->len >= UINT32_MAX) {
        e->len = UINT32_MAX;
        e->data = NULL;
    } else {
        e->len = (uint32_t)v->len;
    }
    uint32_t g = v->g == NOG ? (1u << 27) - 1 : v->g;
    uint32_t sflag = v->sflag & (SF_NARROW | SF_LOST); /* 2 bits */
    if (!e->data && v->data)
        sflag |= SF_LOST;
    e->meta = (uint32_t)v->kind | (sflag << 3) | (g << 5);
}

/* The memo state of a value past the memo caps: its kind only. */
static uint32_t memo_lost(const aval *v)
{
    uint32_t plain = memo_plain(v);
    if (plain)
        return plain;
    return v->kind == V_STR ? MS_LOST_STR
         : v->kind == V_BYTES ? MS_LOST_BYTES : MS_LOST;
}

/* The memo holds more than its caps allow: later values are kept by kind
 * only (memo_lost). Nothing is inexact yet -- a benign pickle with a
 * million memoized words only reads them back as data -- so this is
 * information; a use that needs what was not kept is a lost-value. */
static void memo_limit(scan *s, const pkl_op *op, const char *what)
{
    if (s->said_memo)
        return;
    s->said_memo = 1;
    emit(s, "memo-limit", PKL_SEV_INFO, op->offset, op->code, "",
         "nothing to fix unless a lost-value finding follows",
         "%s: from here on the scanner keeps memoized values by kind only; "
         "a use that depends on one it did not keep is reported as "
         "lost-value", what);
}

static uint32_t memo_encode(scan *s, const aval *v, const pkl_op *op)
{
    uint32_t plain = memo_plain(v);
    if (plain)
        return plain;
    if (s->npool >= MEMO_POOL_MAX) {
        memo_limit(s, op, "more than 524288 memoized values worth keeping");
        return memo_lost(v);
    }
    if (s->npool == s->poolcap &&
        pkli_grow(&s->a, (void **)&s->pool, &s->poolcap, s->npool + 1,
                  sizeof *s->pool) < 0) {
        s->nomem = 1;
        return memo_lost(v);
    }
    pool_fill(&s->pool[s->npool], v);
    return MS_POOL0 + (uint32_t)s->npool++;
}

/* Hash map slot for key: the existing one, or (create) a new one. NULL
 * when absent (or full / out of memory when creating). Memo keys are
 * chosen by the input: the table is keyed (PKLI_HT_SIPHASH). */
static uint32_t *hash_slot(scan *s, uint64_t key, int create, const pkl_op *op)
{
    pkli_hslot *v = pkli_htab_find(&s->memo_hash, key);
    if (v || !create)
        return v ? &v->val : NULL;
    if (s->memo_hash.count >= MEMO_HASH_MAX) {
        memo_limit(s, op, "more than 524288 entries in the memo's sparse "
                          "table (keys above 2^23, or values past 2^21)");
        return NULL;
    }
    v = pkli_htab_add(&s->memo_hash, key, MS_UNKNOWN); /* caller overwrites */
    if (!v)
        s->nomem = 1;
    return v ? &v->val : NULL;
}

/* The pool-index cell of a dense key, growing the index (one array,
 * doubled, its new part zeroed) on demand; NULL from PIDX_MAX on (the
 * hash map takes over) or when out of memory. Direct indexing keeps a
 * memo of a million strings free of hashing and rehashing. */
static uint32_t *pidx_slot(scan *s, uint64_t key)
{
    if (key >= PIDX_MAX)
        return NULL;
    if (key >= s->pidxcap) {
        size_t old = s->pidxcap;
        size_t need = (size_t)key + 1 < 4096 ? 4096 : (size_t)key + 1;
        if (pkli_grow(&s->a, (void **)&s->pidx, &s->pidxcap, need,
                      sizeof *s->pidx) < 0) {
            s->nomem = 1;
            return NULL;
        }
        memset(s->pidx + old, 0, (s->pidxcap - old) * sizeof *s->pidx);
    }
    return &s->pidx[key];
}

/* Current code for key (MS_ABSENT when never stored). */
static PKL_INLINE uint32_t memo_lookup(scan *s, uint64_t key)
{
    if (key < MEMO_DENSE_MAX) {
        uint8_t st = key < s->mdcap ? s->mdense[key] : MS_ABSENT;
        if (st != MS_POOLED)
            return st;
        if (key < s->pidxcap && s->pidx[key])
            return s->pidx[key];
    }
    uint32_t *h = hash_slot(s, key, 0, NULL);
    return h ? *h : MS_ABSENT;
}

static PKL_NOINLINE void memo_put_slow(scan *s, uint64_t key,
                                      const pkl_op *op)
{
    const aval *top = peek(s, op);
    if (!top)
        return;
    aval v = *top;
    v.n = 1;
    /* a dense key is present iff its byte is set (MS_POOLED also for the
     * ones that went to the hash map) */
    if (key < MEMO_DENSE_MAX ? key >= s->mdcap || !s->mdense[key]
                             : memo_lookup(s, key) == MS_ABSENT)
        s->memo_count++;
    /* storing twice under one key is accepted by CPython and harmless
     * (pickle.dumps never does it, hand-written pickles may) */
    uint32_t code = memo_encode(s, &v, op);
    if (key < MEMO_DENSE_MAX) {
        if (key >= s->mdcap) {
            size_t oldcap = s->mdcap;
            size_t need = (size_t)key + 1 < 4096 ? 4096 : (size_t)key + 1;
            if (pkli_grow(&s->a, (void **)&s->mdense, &s->mdcap, need, 1) < 0) {
                s->nomem = 1;
                return;
            }
            memset(s->mdense + oldcap, 0, s->mdcap - oldcap);
        }
        if (key >= s->mdhi)
            s->mdhi = (size_t)key + 1;
        if (code < MS_POOL0) {
            s->mdense[key] = (uint8_t)code;
            return;
        }
        uint32_t *slot = pidx_slot(s, key);
        if (slot) {
            s->mdense[key] = MS_POOLED;
            *slot = code;
            return;
        }
        uint32_t *h = hash_slot(s, key, 1, op);
        if (!h) {
            s->mdense[key] = (uint8_t)memo_lost(&v);
            return;
        }
        s->mdense[key] = MS_POOLED;
        *h = code;
        return;
    }
    uint32_t *h = hash_slot(s, key, 1, op);
    if (!h) {
        s->memo_lossy = 1;
        return;
    }
    *h = code;
}

/* Stores the top of the stack under key. The fast path is a dense key
 * whose tables (state byte, pool index) and pool already have room; the
 * slow path grows them, or takes the hash map. Both store the same. */
static PKL_INLINE void memo_put(scan *s, uint64_t key, const pkl_op *op)
{
    if (key < PIDX_MAX && key < s->mdcap && key < s->pidxcap &&
        s->npool < s->poolcap && accessible(s) > 0) {
        const aval *t = &s->stk[s->nstk - 1];
        uint8_t *st = &s->mdense[key];
        s->memo_count += *st == MS_ABSENT;
        if (key >= s->mdhi)
            s->mdhi = (size_t)key + 1;
        uint32_t plain = memo_plain(t);
        if (plain) {
            *st = (uint8_t)plain;
            return;
        }
        pool_fill(&s->pool[s->npool], t);
        s->pidx[key] = MS_POOL0 + (uint32_t)s->npool++;
        *st = MS_POOLED;
        return;
    }
    memo_put_slow(s, key, op);
}

static PKL_INLINE void memo_get(scan *s, uint64_t key, const pkl_op *op)
{
    uint32_t code = memo_lookup(s, key);
    if (code == MS_ABSENT) {
        if (!s->memo_lossy)
            structural(s, op, "reads memo key %llu, which was never stored",
                       (unsigned long long)key);
        if (s->memo_lossy) /* stored past the caps, or never */
            push_v(s, V_UNKNOWN, SF_LOST, NOG, NULL, 0, op->offset, op->code);
        else
            push_kind(s, V_INERT, op);
        return;
    }
    /* decoded straight into the stack slot (see push_v) */
    if (code < MS_POOL0 || code - MS_POOL0 >= s->npool) {
        switch (code) {
        case MS_INERT:
            push_kind(s, V_INERT, op);
            break;
        case MS_STR: /* text not kept: never a valid name, too short to be
                        a nested pickle */
            push_kind(s, V_STR, op);
            break;
        case MS_LOST_STR:
            push_v(s, V_STR, SF_LOST, NOG, NULL, 0, op->offset, op->code);
            break;
        case MS_LOST_BYTES:
            push_v(s, V_BYTES, SF_LOST, NOG, NULL, 0, op->offset, op->code);
            break;
        case MS_LOST:
            push_v(s, V_UNKNOWN, SF_LOST, NOG, NULL, 0, op->offset, op->code);
            break;
        default:
            push_kind(s, V_UNKNOWN, op);
            break;
        }
        return;
    }
    const mentry *e = &s->pool[code - MS_POOL0];
    uint32_t g = e->meta >> 5;
    uint8_t sflag = (uint8_t)((e->meta >> 3) & 3u);
    if (!e->data && e->len == UINT32_MAX)
        sflag |= SF_LOST;
    push_v(s, (uint8_t)(e->meta & 7u), sflag,
           g == (1u << 27) - 1 ? NOG : g, e->data,
           e->len == UINT32_MAX ? 0 : e->len, op->offset, op->code);
}

static void memo_reset(scan *s)
{
    if (s->pidxcap)
        memset(s->pidx, 0,
               (s->mdhi < s->pidxcap ? s->mdhi : s->pidxcap) * sizeof *s->pidx);
    if (s->mdhi)
        memset(s->mdense, 0, s->mdhi);
    s->mdhi = 0;
    pkli_htab_clear(&s->memo_hash);
    s->npool = 0;
    s->memo_count = 0;
    s->memo_lossy = 0;
}

/* ---- globals ------------------------------------------------------------- */

/* The entry (index + 1 into gl) whose name is the text looked for. */
typedef struct name_probe {
    const scan *s;
    const char *full;
} name_probe;

static int name_eq(const void *ctx, const pkli_hslot *slot)
{
    const name_probe *q = ctx;
    return strcmp(q->s->gl[slot->val - 1].name, q->full) == 0;
}

static void gent_fill(scan *s, gent *e, const char *full, size_t n,
                      size_t ml, const pkl_global *g)
{
    memcpy(e->name, full, n + 1);
    e->mlen = (uint16_t)ml;
    e->cat = (int16_t)catalogue_lookup(full, n, ml);
    e->dunder = (int16_t)dunder_lookup(full, n, ml);
    e->verdict = (uint8_t)pkl_policy_check(s->policy, g);
}

/* Finds or adds the resolved global (its catalogue and policy verdicts
 * are computed once per distinct global). NOG when it is not in the table
 * (full, or out of memory): *spare is filled instead. */
static uint32_t global_intern(scan *s, const pkl_global *g, const pkl_op *op,
                              gent *spare)
{
    char full[sizeof(((gent *)0)->name)];
    size_t ml = strlen(g->module), ql = strlen(g->qualname);
    if (ml + 1 + ql >= sizeof full)
        return NOG;
    memcpy(full, g->module, ml);
    full[ml] = '.';
    memcpy(full + ml + 1, g->qualname, ql + 1);
    size_t n = ml + 1 + ql;

    /* names come from the input: hashed under the scan's key */
    uint64_t h = pkli_siphash(&s->hk, full, n);
    name_probe q = { s, full };
    const pkli_hslot *found = pkli_htab_find_eq(&s->ghash, h, name_eq, &q);
    if (found)
        return found->val - 1;
    if (s->ngl >= GLOBALS_MAX) {
        if (!s->said_globals_cap) {
            s->said_globals_cap = 1;
            emit(s, "scan-limit", PKL_SEV_MEDIUM, op->offset, op->code, "",
                 "review the file by hand",
                 "more than %d distinct globals: calls on further globals are "
                 "not tracked", GLOBALS_MAX);
        }
        gent_fill(s, spare, full, n, ml, g);
        return NOG;
    }
    if (pkli_grow(&s->a, (void **)&s->gl, &s->glcap, s->ngl + 1,
                  sizeof *s->gl) < 0) {
        s->nomem = 1;
        gent_fill(s, spare, full, n, ml, g);
        return NOG;
    }
    if (!pkli_htab_add(&s->ghash, h, (uint32_t)s->ngl + 1)) {
        s->nomem = 1;
        gent_fill(s, spare, full, n, ml, g);
        return NOG;
    }
    gent_fill(s, &s->gl[s->ngl], full, n, ml, g);
    return (uint32_t)s->ngl++;
}

/* Reports a reference to a resolved global (every occurrence). */
static void global_report(scan *s, const gent *e, const pkl_global *g,
                          const pkl_op *op, const char *how)
{
    if (e->cat >= 0) {
        const cat_entry *c = &catalogue[e->cat];
        char hint[512];
        snprintf(hint, sizeof hint, "do not load this file: %s", c->reason);
        emit(s, "dangerous-global", PKL_SEV_CRITICAL, op->offset, op->code,
             e->name, hint,
             "%s %s, a known-dangerous global (%s; catalogue entry '%s')",
             how, e->name, cat_names[c->cat], c->pattern);
    } else if (e->dunder >= 0) {
        const dunder_entry *d = &dunders[e->dunder];
        char hint[512];
        snprintf(hint, sizeof hint, "do not load this file: %s is %s",
                 d->name, d->reason);
        emit(s, "dunder-traversal", PKL_SEV_CRITICAL, op->offset, op->code,
             e->name, hint,
             "%s %s, which walks through the attribute %s", how, e->name,
             d->name);
    } else if (e->verdict != PKL_ALLOWED) {
        char line[400], hint[512];
        pkl_policy_suggest(g, line, sizeof line);
        join3(hint, sizeof hint, "if the file is trusted and this global "
              "is plain data, allow it in a policy file (a new file starts "
              "with 'version: 1' and 'extends: default'; for PyTorch, NumPy "
              "and joblib files try --policy ml first):", "\n", line);
        emit(s, "global-not-allowed", PKL_SEV_HIGH, op->offset, op->code,
             e->name, hint, "%s %s, which policy '%s' %s", how, e->name,
             pkl_policy_name(s->policy),
             e->verdict == PKL_DENIED_EXPLICIT ? "denies explicitly"
                                               : "does not allow");
    }
}

/* Writes a printable rendering of raw name text (for messages). */
static void printable(char *out, size_t size, const uint8_t *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w + 5 < size; i++) {
        uint8_t ch = p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            out[w++] = (char)ch;
        } else {
            snprintf(out + w, size - w, "\\x%02x", ch);
            w += 4;
        }
    }
    out[w] = '\0';
}

/* Resolves, interns and reports (module, name) for op; returns the value
 * to push. */
/* ---- getattr(AllowedClass, "NAME"): Enum members --------------------------
 * CPython pickles some Enum members (enum.pickle_by_enum_name) and class
 * constants as REDUCE(builtins.getattr, (cls, "NAME")). The decoder's rule
 * (docs/json.md, src/decoder.c attr_call) is mirrored here: an import of
 * builtins.getattr is not reported at once but held for the pickle; it
 * stays silent only when every push of it (the import, memo reads) is
 * consumed by REDUCE with the tuple (a global the policy allows, a plain
 * ASCII identifier not starting with '_') and no result of it is called,
 * built or mutated. Otherwise, at the end of the pickle, the usual
 * critical dangerous-global is reported at each import. */
static int attr_defer(scan *s, uint32_t gi, const pkl_op *op, const char *how)
{
    const gent *e = &s->gl[gi];
    if (op->code == PKL_OP_INST || e->cat < 0 ||
        strcmp(e->name, "builtins.getattr") != 0 ||
        s->attr_npend >= sizeof s->attr_pend / sizeof s->attr_pend[0])
        return 0;
    s->attr_g = gi;
    s->attr_pend[s->attr_npend].off = op->offset;
    s->attr_pend[s->attr_npend].code = op->code;
    s->attr_pend[s->attr_npend].how = how;
    s->attr_npend++;
    return 1;
}

/* Whether (cls, name) -- the two values a tuple is built from -- are
 * getattr's safe arguments. */
static int attr_args(const scan *s, const aval *cls, const aval *name)
{
    if (cls->kind != V_GLOBAL || cls->g == NOG || cls->g == s->attr_g ||
        name->kind != V_STR || !name->data || name->len == 0 ||
        name->len > PKL_NAME_MAX)
        return 0;
    const gent *e = &s->gl[cls->g];
    if (e->cat >= 0 || e->dunder >= 0 || e->verdict != PKL_ALLOWED)
        return 0;
    for (size_t i = 0; i < name->len; i++) {
        uint8_t c = name->data[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!(alpha || (i > 0 && (c == '_' || (c >= '0' && c <= '9')))))
            return 0;
    }
    return 1;
}

/* Pushes the tuple (cls, name) marked as getattr's safe arguments. */
static void attr_push_args(scan *s, const aval *cls, const aval *name,
                           const pkl_op *op)
{
    push_v(s, V_AGG, SF_ATTRARGS, cls->g, name->data, name->len, op->offset,
           op->code);
}

static void global_report(scan *s, const gent *e, const pkl_global *g,
                          const pkl_op *op, const char *how);

/* End of a pickle: reports the held getattr imports unless every use of
 * them was safe. */
static void attr_settle(scan *s)
{
    if (s->attr_npend && (s->attr_pushes != s->attr_calls || s->attr_bad)) {
        for (size_t k = 0; k < s->attr_npend; k++) {
            pkl_op op;
            memset(&op, 0, sizeof op);
            op.offset = s->attr_pend[k].off;
            op.code = s->attr_pend[k].code;
            global_report(s, &s->gl[s->attr_g], NULL, &op,
                          s->attr_pend[k].how);
        }
    }
    s->attr_npend = 0;
    s->attr_pushes = s->attr_calls = 0;
    s->attr_bad = 0;
}

static aval global_ref(scan *s, const uint8_t *m, size_t ml, const uint8_t *nm,
                       size_t nl, const pkl_op *op, const char *how)
{
    pkl_global g;
    pkl_error err;
    aval v = mk(V_GLOBAL);
    if (pkl_resolve_global((const char *)m, ml, (const char *)nm, nl, s->proto,
                           &g, &err) < 0) {
        if (s->npk == 0 && (s->lenient_start || s->depth) && inert(s) &&
            !pkli_module_imports((const char *)m, ml)) {
            /* a text file found by content that starts with 'c' or 'i':
             * find_class fails in the import before anything happens, so
             * no pickle. A module that can be imported is imported (its
             * code runs) before the name is looked up: reported below. */
            structural(s, op, "names no importable global (%s)",
                       err.detail[0] ? err.detail : err.msg);
            return v;
        }
        /* find_class would fail too (names.c refuses only what no
         * getattr walk can reach), so this is not a catalogue hit */
        char pm[200], pn[200], full[420];
        printable(pm, sizeof pm, m, ml);
        printable(pn, sizeof pn, nm, nl);
        snprintf(full, sizeof full, "%s.%s", pm, pn);
        emit(s, "bad-global-name", PKL_SEV_HIGH, op->offset, op->code, full,
             "do not load this file: no legitimate pickler writes such a "
             "name",
             "%s a name no Python identifier path spells at protocol %d "
             "(%s)", how, s->proto, err.detail[0] ? err.detail : err.msg);
        return v; /* g = NOG: an unknown global */
    }
    gent spare;
    spare.name[0] = '\0';
    v.g = global_intern(s, &g, op, &spare);
    if (v.g != NOG && attr_defer(s, v.g, op, how))
        return v;
    if (v.g != NOG)
        global_report(s, &s->gl[v.g], &g, op, how);
    else if (spare.name[0])
        global_report(s, &spare, &g, op, how);
    return v;
}

/* ---- nested pickles ----------------------------------------------------- */

static void nested_enqueue(scan *s, const collect *args, uint32_t gi,
                           const pkl_op *op)
{
    const char *callee = gi != NOG ? s->gl[gi].name : "?";
    if (!args->data) {
        if (args->lost)
            emit(s, "nested-unscanned", PKL_SEV_HIGH, op->offset, op->code,
                 callee, "review the file by hand",
                 "%s is called with a constant too long for the scanner to "
                 "keep: the nested payload was not scanned", callee);
        return;
    }
    for (size_t k = 0; k < s->nseen; k++)
        if (s->seen[k].data == args->data && s->seen[k].len == args->len)
            return; /* the same bytes reached another deserializer */
    size_t at = in_input(s, args->data) ? (size_t)(args->data - s->base)
                                        : op->offset;
    if (s->depth + 1 > s->max_nesting || s->nq - s->qhead >= QUEUE_MAX ||
        args->len > s->nested_budget) {
        emit(s, "nested-unscanned", PKL_SEV_HIGH, op->offset, op->code,
             callee, "review the file by hand",
             "%s is called with a %zu-byte constant at offset %zu that was "
             "not scanned (%s)", callee, args->len, at,
             s->depth + 1 > s->max_nesting ? "nested too deep"
             : args->len > s->nested_budget ? "nested payloads add up to "
                                              "more than 4 times the file"
             : "too many nested payloads waiting");
        return;
    }
    if (s->nq == QUEUE_MAX) {
        /* compact the queue */
        memmove(s->q, s->q + s->qhead, (s->nq - s->qhead) * sizeof *s->q);
        s->nq -= s->qhead;
        s->qhead = 0;
    }
    s->nested_budget -= args->len;
    if (s->nseen < SEEN_MAX) {
        s->seen[s->nseen].data = args->data;
        s->seen[s->nseen].len = args->len;
        s->nseen++;
    }
    work *w = &s->q[s->nq++];
    w->data = args->data;
    w->len = args->len;
    w->depth = s->depth + 1;
    char tail[48];
    snprintf(tail, sizeof tail, "nested@%zu", at);
    join3(w->path, sizeof w->path, s->path, s->path[0] ? "!" : "", tail);
}

/* ---- calls, builds, mutations ------------------------------------------- */

static void do_call(scan *s, const aval *callee, const collect *args,
                    const pkl_op *op)
{
    aval r = mk(V_UNKNOWN);
    if (s->op_failed) {
        push_kind(s, V_INERT, op);
        return;
    }
    switch (callee->kind) {
    case V_GLOBAL:
        r = mk(V_CALL);
        r.g = callee->g;
        if (callee->g == s->attr_g && callee->g != NOG && args->attr_ok)
            s->attr_calls++;
        r.data = args->data;
        r.len = args->len;
        if (args->lost)
            r.sflag |= SF_LOST;
        if (callee->g != NOG && s->gl[callee->g].cat >= 0 &&
            catalogue[s->gl[callee->g].cat].cat == CAT_DESERIALIZE)
            nested_enqueue(s, args, callee->g, op);
        break;
    case V_CALL: {
        const char *what = callee->g != NOG ? s->gl[callee->g].name : "a global";
        if (callee->g == s->attr_g && callee->g != NOG)
            s->attr_bad = 1; /* getattr(cls, "NAME")(...) */
        emit(s, "call-on-call-result", PKL_SEV_HIGH, op->offset, op->code,
             callee->g != NOG ? what : "",
             "do not load this file: pickle.dumps never calls what a call "
             "returned",
             "%s calls the result of calling %s", op->info->name, what);
        break;
    }
    case V_UNKNOWN: case V_PERSID:
        emit(s, "call-on-unknown", PKL_SEV_HIGH, op->offset, op->code, "",
             "review the file by hand",
             "%s calls a value the scanner cannot identify (a persistent id, "
             "an extension code or a value past a scan limit)",
             op->info->name);
        break;
    default:
        structural(s, op, "calls a value that is not callable");
        r = mk(V_INERT);
        break;
    }
    push(s, &r, op->offset, op->code);
}

/* APPEND(S)/SETITEM(S)/ADDITEMS/BUILD on the value below: calls methods
 * of a global (module attribute, class) when the target is one. */
static void mutate_check(scan *s, const aval *target, const pkl_op *op,
                         int build)
{
    if (target && target->kind == V_PERSID) {
        /* the decoder refuses this whatever the policy says */
        emit(s, "mutate-persid", PKL_SEV_HIGH, op->offset, op->code, "",
             "do not load this file: pickle.dumps never adds items to or "
             "sets the state of a persistent id",
             "%s %s the object persistent_load returned (an application "
             "object), calling its methods", op->info->name,
             build ? "sets the state of" : "adds items to");
        return;
    }
    if (target && target->kind == V_UNKNOWN && (target->sflag & SF_LOST)) {
        /* past the memo caps: it may have been a global or a persistent
         * id, which the two findings above would name */
        emit(s, "lost-value", PKL_SEV_HIGH, op->offset, op->code, "",
             "review the file by hand: the scanner stopped tracking memoized "
             "values (see memo-limit)",
             "%s %s a memoized value the scanner did not keep (past the "
             "memo limit): it cannot tell whether that is a global",
             op->info->name, build ? "sets the state of" : "adds items to");
        return;
    }
    if (target && target->kind == V_CALL && target->g == s->attr_g &&
        target->g != NOG)
        s->attr_bad = 1; /* changes a class attribute */
    if (!target || target->kind != V_GLOBAL)
        return;
    const char *what = target->g != NOG ? s->gl[target->g].name : "a global";
    if (build)
        emit(s, "build-on-global", PKL_SEV_HIGH, op->offset, op->code,
             target->g != NOG ? what : "",
             "do not load this file: BUILD on a class or module sets its "
             "attributes for the whole process",
             "BUILD sets state on %s itself (a class or module object), "
             "not on an instance", what);
    else
        emit(s, "mutate-global", PKL_SEV_HIGH, op->offset, op->code,
             target->g != NOG ? what : "",
             "do not load this file: pickle.dumps never adds items to a "
             "global",
             "%s adds items to %s itself (a global object), calling its "
             "methods", op->info->name, what);
}

/* ---- text search in bytes that could not be parsed ----------------------- */

/* Checks module/name text against the catalogue; reports a hit. */
static int remainder_check(scan *s, const uint8_t *m, size_t ml,
                           const uint8_t *nm, size_t nl, size_t off,
                           const char *form)
{
    if (s->remainder_hits >= REMAINDER_HITS_MAX || ml == 0 || ml > 200 ||
        nl > 200)
        return 0;
    char full[2 * PKL_NAME_MAX + 2];
    size_t mlen;
    pkl_global g;
    if (nl && pkl_resolve_global((const char *)m, ml, (const char *)nm, nl, 2,
                                 &g, NULL) == 0) {
        join3(full, sizeof full, g.module, ".", g.qualname);
        mlen = strlen(g.module);
    } else if (nl && pkl_resolve_global((const char *)m, ml, (const char *)nm,
                                        nl, 4, &g, NULL) == 0) {
        join3(full, sizeof full, g.module, ".", g.qualname);
        mlen = strlen(g.module);
    } else {
        memcpy(full, m, ml);
        full[ml] = '\0';
        mlen = ml;
        if (nl) {
            full[ml] = '.';
            memcpy(full + ml + 1, nm, nl);
            full[ml + 1 + nl] = '\0';
        }
    }
    int k = catalogue_lookup(full, strlen(full), mlen);
    if (k < 0)
        return 0;
    s->remainder_hits++;
    char hint[512];
    snprintf(hint, sizeof hint, "do not load this file: %s",
             catalogue[k].reason);
    emit(s, "unparsed-global", PKL_SEV_HIGH, off, -1, full, hint,
         "bytes the scanner could not parse name %s as %s (%s; catalogue "
         "entry '%s')", full, form, cat_names[catalogue[k].cat],
         catalogue[k].pattern);
    return 1;
}

/* A string operand starting at b[i] (SHORT_BINUNICODE, SHORT_BINSTRING,
 * BINUNICODE, BINSTRING, UNICODE, STRING) holding an identifier path:
 * sets *t, *tl and *next (the offset after it). */
static int string_at(const uint8_t *b, size_t n, size_t i, const uint8_t **t,
                     size_t *tl, size_t *next)
{
    size_t l, st;
    switch (b[i]) {
    case PKL_OP_SHORT_BINUNICODE: case PKL_OP_SHORT_BINSTRING:
        if (i + 1 >= n)
            return 0;
        l = b[i + 1];
        st = i + 2;
        break;
    case PKL_OP_BINUNICODE: case PKL_OP_BINSTRING:
        if (n - i < 5)
            return 0;
        l = pkli_dec32le(b + i + 1);
        st = i + 5;
        if (l > 200)
            return 0;
        break;
    case PKL_OP_UNICODE: case PKL_OP_STRING: {
        st = i + 1;
        int q = b[i] == PKL_OP_STRING;
        if (q) {
            if (st >= n || (b[st] != '\'' && b[st] != '"'))
                return 0;
            st++;
        }
        l = 0;
        while (st + l < n && l <= 200 && id_char(b[st + l]))
            l++;
        if (st + l + (size_t)q >= n)
            return 0;
        if (q && b[st + l] != b[st - 1])
            return 0;
        if (b[st + l + (size_t)q] != '\n')
            return 0;
        *t = b + st;
        *tl = l;
        *next = st + l + (size_t)q + 1;
        return l > 0 && id_start(b[st]);
    }
    default:
        return 0;
    }
    if (l == 0 || l > 200 || l > n - st || !id_start(b[st]))
        return 0;
    for (size_t k = 0; k < l; k++)
        if (!id_char(b[st + k]))
            return 0;
    *t = b + st;
    *tl = l;
    *next = st + l;
    return 1;
}

/* on_progress from look_through: its passes read the rest of the file
 * too, and a huge remainder (a 100 GB file that is no pickle) must not
 * stay resident either. Positions may go back (second pass). */
static void remainder_progress(scan *s, size_t pos)
{
    if (s->on_progress && s->depth == 0 &&
        (pos >= s->next_progress || pos + PROGRESS_STEP < s->next_progress)) {
        s->next_progress = pos + PROGRESS_STEP;
        s->on_progress(s->progress_ctx, pos);
    }
}

/* Where bytes that may be non-zero resume at or after i (holes of a sparse
 * file hold neither newlines nor string opcodes). */
static size_t skip_holes(scan *s, size_t i, size_t n)
{
    if (!s->next_data || s->depth != 0)
        return i;
    size_t j = s->next_data(s->progress_ctx, i);
    return j > i ? (j < n ? j : n) : i;
}

/* memchr for '\n' in b[i..n), a progress step at a time */
static const uint8_t *next_newline(scan *s, const uint8_t *b, size_t i, size_t n)
{
    while ((i = skip_holes(s, i, n)) < n) {
        size_t k = n - i < PROGRESS_STEP ? n - i : PROGRESS_STEP;
        const uint8_t *p = memchr(b + i, '\n', k);
        if (p)
            return p;
        i += k;
        remainder_progress(s, i);
    }
    return NULL;
}

/* Looks through b[from..len) for GLOBAL/INST text and string operands that
 * name catalogue entries. Linear in the bytes. */
static void look_through(scan *s, size_t from)
{
    const uint8_t *b = s->base;
    size_t n = s->len;
    if (from >= n || from >= s->looked_from)
        return; /* another chain of the stream searched these bytes */
    s->looked_from = from;
    /* GLOBAL/INST text: 'c' or 'i', module, '\n', name, '\n' */
    const uint8_t *p = next_newline(s, b, from, n);
    while (p && s->remainder_hits < REMAINDER_HITS_MAX) {
        size_t q = (size_t)(p - b);
        size_t st = q;
        while (st > from && q - st < 256 && id_char(b[st - 1]))
            st--;
        size_t ne = q + 1;
        while (ne < n && ne - q < 256 && id_char(b[ne]))
            ne++;
        if (ne < n && b[ne] == '\n' && ne > q + 1 && st < q) {
            /* the opcode byte may be inside the run: try each c/i */
            for (size_t k = st; k + 1 < q; k++) {
                /* in a file that is no pickle at all (found by content),
                 * words of prose ending in "cos"/"ios" at a line end must
                 * not count: there the opcode must not follow a
                 * lowercase letter */
                if ((b[k] == 'c' || b[k] == 'i') && id_start(b[k + 1]) &&
                    !(s->text_guard && k > from && b[k - 1] >= 'a' &&
                      b[k - 1] <= 'z')) {
                    if (remainder_check(s, b + k + 1, q - k - 1, b + q + 1,
                                        ne - q - 1, k, "GLOBAL/INST text"))
                        break;
                }
            }
        }
        if (q + 1 >= n)
            break;
        remainder_progress(s, q);
        p = next_newline(s, b, q + 1, n);
    }
    remainder_progress(s, from);
    /* string operands: module string then (within a few bytes) a name */
    for (size_t i = from; i < n && s->remainder_hits < REMAINDER_HITS_MAX;
         i++) {
        if (!(i & 0xfffff))
            remainder_progress(s, i);
        if (!(i & 63) && n - i >= 64) {
            /* runs of zero bytes (sparse files, padding) hold no string
             * opcode: skip them 64 bytes at a time */
            uint64_t w = 0;
            for (int k = 0; k < 8; k++)
                w |= pkli_dec64le(b + i + 8 * k);
            if (!w) {
                i = skip_holes(s, i + 64, n) - 1; /* i++ follows */
                continue;
            }
        }
        uint8_t c = b[i];
        if (c != PKL_OP_SHORT_BINUNICODE && c != PKL_OP_SHORT_BINSTRING &&
            c != PKL_OP_BINUNICODE && c != PKL_OP_BINSTRING &&
            c != PKL_OP_UNICODE && c != PKL_OP_STRING)
            continue;
        const uint8_t *t1, *t2;
        size_t l1, l2, nx1, nx2;
        if (!string_at(b, n, i, &t1, &l1, &nx1))
            continue;
        int paired = 0;
        for (size_t j = nx1; j < n && j < nx1 + 12; j++) {
            if (string_at(b, n, j, &t2, &l2, &nx2)) {
                paired = remainder_check(s, t1, l1, t2, l2, i,
                                         "string operands");
                break;
            }
        }
        if (!paired)
            remainder_check(s, t1, l1, NULL, 0, i, "a string operand");
        i = nx1 - 1;
    }
}

/* ---- one pickle ------------------------------------------------------------ */

enum { P_STOPPED, P_END };

static void pickle_reset(scan *s)
{
    s->nstk = 0;
    s->depth_log = 0;
    s->nmarks = 0;
    s->lost_marks = 0;
    memo_reset(s);
    s->proto = 0;
    s->ops_ok = 0;
    s->op_failed = 0;
    s->first_failed = 0;
    s->acted = 0;
    s->nstruct = 0;
    s->said_limit = 0;
    s->said_mismatch = 0;
    s->saw_proto = 0;
    s->first_msg[0] = '\0';
    s->said_buffer = 0;
    s->said_persid = 0;
    s->said_inst = 0;
    s->said_memo = 0;
    s->said_text = 0;
}

/* A text argument spelled otherwise than pickle.dumps writes it (the
 * reader's op->note): medium when CPython's two unpicklers read it
 * differently or one refuses it, info when they agree. At most 8 per
 * pickle. */
static PKL_NOINLINE void text_note(scan *s, const pkl_op *op)
{
    if (s->said_text >= 8)
        return;
    s->said_text++;
    if (op->code == PKL_OP_FRAME)
        emit(s, "truncated", PKL_SEV_MEDIUM, op->offset, op->code, "",
             "the file is incomplete or crafted",
             "FRAME declares more bytes than remain: _pickle.c stops here, "
             "pickle.py unpickles the %lld bytes there are",
             (long long)op->i);
    else if (op->note & PKL_NOTE_DIFFERS)
        emit(s, "noncanonical-text", PKL_SEV_MEDIUM, op->offset, op->code, "",
             "the file is crafted: pickle.dumps never writes this spelling",
             "%s text is read differently by _pickle.c and pickle.py (or "
             "only one of them accepts it)", op->info->name);
    else
        emit(s, "noncanonical-text", PKL_SEV_INFO, op->offset, op->code, "",
             "nothing to fix if the file comes from a trusted writer",
             "%s text is not spelled as pickle.dumps writes it (both "
             "unpicklers read the same value)", op->info->name);
}

static PKL_INLINE void const_push(scan *s, const pkl_op *op, uint8_t kind,
                                  uint8_t sflag)
{
    const uint8_t *data = in_input(s, op->data) ? op->data
                          : arena_keep(s, op->data, op->len);
    if (!data)
        sflag |= SF_LOST; /* too much escaped text to keep */
    push_v(s, kind, sflag, NOG, data, op->len, op->offset, op->code);
}

/* Text of a STACK_GLOBAL operand (UTF-8), or 0 when it has none. STRING
 * family bytes are latin-1 text for the unpickler's encoding. */
static int operand_text(const aval *v, char *buf, size_t size, size_t *n)
{
    if (v->kind != V_STR || !v->data)
        return 0;
    size_t w = 0;
    for (size_t i = 0; i < v->len; i++) {
        uint8_t ch = v->data[i];
        if (!(v->sflag & SF_NARROW) || ch < 0x80) {
            if (w + 1 >= size)
                return 0;
            buf[w++] = (char)ch;
        } else {
            if (w + 2 >= size)
                return 0;
            buf[w++] = (char)(0xc0 | (ch >> 6));
            buf[w++] = (char)(0x80 | (ch & 0x3f));
        }
    }
    buf[w] = '\0';
    *n = w;
    return 1;
}

static void stack_global(scan *s, const pkl_op *op)
{
    aval name = pop1(s, op);
    aval mod = pop1(s, op);
    if (s->op_failed) {
        push_kind(s, V_INERT, op);
        return;
    }
    char mt[4 * PKL_NAME_MAX + 8], nt[4 * PKL_NAME_MAX + 8];
    size_t ml = 0, nl = 0;
    int mok = operand_text(&mod, mt, sizeof mt, &ml);
    int nok = operand_text(&name, nt, sizeof nt, &nl);
    if (mok && nok) {
        aval v = global_ref(s, (const uint8_t *)mt, ml, (const uint8_t *)nt,
                            nl, op, "STACK_GLOBAL imports");
        push(s, &v, op->offset, op->code);
        return;
    }
    if ((mod.kind == V_STR && !mod.data && (mod.sflag & SF_LOST)) ||
        (name.kind == V_STR && !name.data && (name.sflag & SF_LOST))) {
        emit(s, "lost-value", PKL_SEV_HIGH, op->offset, op->code, "",
             "review the file by hand: the scanner did not keep this text "
             "(memo or text limit)",
             "STACK_GLOBAL's %s is a string whose text the scanner did not "
             "keep (past the memo limit, or more escaped text than it "
             "keeps), so it cannot tell what is imported",
             mod.kind == V_STR && !mod.data && (mod.sflag & SF_LOST)
                 ? "module" : "name");
        push_kind(s, V_GLOBAL, op);
        return;
    }
    if ((mod.kind == V_STR && !mod.data) || (name.kind == V_STR && !name.data)) {
        emit(s, "bad-global-name", PKL_SEV_HIGH, op->offset, op->code, "",
             "do not load this file: no legitimate pickler writes such a "
             "name",
             "STACK_GLOBAL operand is a string that cannot be a module or "
             "attribute name (not an identifier, or too long)");
        push_kind(s, V_GLOBAL, op);
        return;
    }
    emit(s, "dynamic-global", PKL_SEV_HIGH, op->offset, op->code, "",
         "do not load this file: pickle.dumps always gives STACK_GLOBAL "
         "two constant strings",
         "STACK_GLOBAL's module and name are not both constant strings "
         "(computed at load time, or values of another type), so the "
         "scanner cannot tell what it imports");
    push_kind(s, V_GLOBAL, op);
}

/* The first opcode of a pickle fails: pickle.load raises before doing
 * anything. At the start of the buffer that is "no pickle" (medium unless
 * the caller only guessed it was one); after a STOP, trailing bytes. */
static void first_failure(scan *s, size_t npk, size_t off, int opcode,
                          const char *rule, const char *why)
{
    if (npk > 0 && s->resume_from)
        emit(s, "trailing-bytes", PKL_SEV_MEDIUM, off, opcode, "",
             "remove the bytes after STOP; pickle.loads ignores them but a "
             "reader that goes on after STOP does not",
             "%zu bytes from offset %zu (the end of a frame whose STOP "
             "came early, where pickle.load reads on) are not a pickle (%s)",
             s->len - s->resume_from, s->resume_from, why);
    else if (npk > 0)
        emit(s, "trailing-bytes", PKL_SEV_MEDIUM, off, opcode, "",
             "remove the bytes after STOP; pickle.loads ignores them but a "
             "reader that goes on after STOP does not",
             "%zu bytes after STOP at offset %zu are not a pickle (%s)",
             s->len - off, off, why);
    else if ((s->text_guard = s->lenient_start || s->depth > 0)) {
        /* what was said about its first opcodes (a PNG's \x89 is NEWFALSE
         * then 'P' PERSID) describes a pickle that is not there */
        pkl_scan_result *res = s->res;
        if (res->dropped == s->roll_dropped && res->count >= s->roll_count) {
            res->count = s->roll_count;
            memcpy(res->by_severity, s->roll_sev, sizeof s->roll_sev);
            res->max_severity = s->roll_max;
        }
        emit(s, "not-a-pickle", PKL_SEV_INFO, off, opcode, "",
             "nothing to do: pickle.load fails before doing anything",
             "not a pickle: it fails before anything could run (%s)", why);
    }
    else
        emit(s, rule, PKL_SEV_MEDIUM, off, opcode, "",
             "the file is damaged or is no pickle; pickle.load fails before "
             "doing anything",
             "no pickle starts here: the first opcode fails (%s); %zu bytes "
             "not examined", why, s->len - off);
}

/* INST/OBJ: old-style object creation Python 3's pickle.dumps does not
 * write; odd but harmless in itself (the class is checked as a global and
 * the call as a call). Once per pickle. */
static void inst_obj_note(scan *s, const pkl_op *op)
{
    if (s->said_inst)
        return;
    s->said_inst = 1;
    emit(s, "inst-obj", PKL_SEV_INFO, op->offset, op->code, "",
         "nothing to fix if the file comes from a trusted writer",
         "%s creates an object by calling a class %s (not written by "
         "Python 3's pickle.dumps)", op->info->name,
         op->code == PKL_OP_INST ? "named in its argument"
                                 : "taken from the stack");
}

/* ---- one handler per opcode (as _pickle.c's load_* functions) ------------
 * Each models the opcode's stack effect on abstract values and reports what
 * it sees. Handlers return nothing: findings go to s->res, and the rare
 * conditions (first failure, out of memory) are flags the loop tests once
 * per opcode. PKL_INLINE keeps the dispatch as fast as the one switch it
 * replaces. */

static PKL_INLINE void op_stop(scan *s, const pkl_op *op)
{
    if (accessible(s) == 0)
        structural(s, op, "with nothing to return (stack underflow)");
    else if (s->depth_log > 1 || s->nmarks)
        emit(s, "stack-not-empty", PKL_SEV_MEDIUM, op->offset, op->code,
             "", "the file is damaged or crafted: pickle.dumps leaves "
             "exactly one value; pickletools.dis rejects it",
             "STOP leaves %zu extra value(s) and %zu open MARK(s) "
             "behind", s->depth_log ? s->depth_log - 1 : 0, s->nmarks);
}

static PKL_INLINE void op_pop(scan *s, const pkl_op *op)
{
    if (accessible(s) == 0 && (s->nmarks || s->lost_marks)) {
        if (s->nmarks)
            s->nmarks--;
        else
            s->lost_marks--;
    } else {
        (void)pop1(s, op);
    }
}

static PKL_INLINE void op_pop_mark(scan *s, const pkl_op *op)
{
    collect c;
    collect_init(&c);
    (void)pop_mark(s, op, &c);
}

static PKL_INLINE void op_dup(scan *s, const pkl_op *op)
{
    const aval *t = peek(s, op);
    if (t)
        push(s, t, op->offset, op->code); /* t read before growth */
}

static void op_persid(scan *s, const pkl_op *op)
{
    if (op->code == PKL_OP_BINPERSID)
        (void)pop1(s, op);
    /* a policy that allows persistent ids expects them (torch storages
     * under `ml`): no finding then */
    if (!s->op_failed && !s->said_persid &&
        !pkl_policy_allows_persid(s->policy)) {
        s->said_persid = 1;
        emit(s, "persistent-id", PKL_SEV_LOW, op->offset, op->code, "",
             "load with a persistent_load you trust, or use a policy "
             "that allows persistent ids (persistent_ids: allow)",
             "%s asks the loader's persistent_load for an object; the "
             "policy does not allow persistent ids (reported once per "
             "pickle)", op->info->name);
    }
    push_kind(s, V_PERSID, op);
}

/* REDUCE (callable, args), NEWOBJ (cls, args), NEWOBJ_EX (cls, args, kw):
 * the callee sits below the argument values (the table's pops less one). */
static void op_call(scan *s, const pkl_op *op)
{
    int nargs = op->info->pops - 1;
    aval a[2];
    if (NEVER(nargs < 1 || nargs > 2))
        return;
    for (int i = nargs - 1; i >= 0; i--)
        a[i] = pop1(s, op);
    aval callee = pop1(s, op);
    collect c;
    collect_init(&c);
    for (int i = 0; i < nargs; i++)
        collect_add(&c, &a[i]);
    c.attr_ok = op->code == PKL_OP_REDUCE && a[0].kind == V_AGG &&
                (a[0].sflag & SF_ATTRARGS);
    do_call(s, &callee, &c, op);
}

/* APPEND (target, x), SETITEM (target, k, v), BUILD (target, state): pop
 * the operands (the table's pops less the target), check what is
 * mutated. */
static PKL_INLINE void op_mutate(scan *s, const pkl_op *op, int is_build)
{
    for (int i = 1; i < op->info->pops; i++)
        (void)pop1(s, op);
    mutate_check(s, peek(s, op), op, is_build);
}

static PKL_INLINE void op_batch(scan *s, const pkl_op *op)
{ /* APPENDS SETITEMS ADDITEMS */
    collect c;
    collect_init(&c);
    if (pop_mark(s, op, &c) != 0)
        return;
    if (op->code == PKL_OP_SETITEMS && (c.count & 1))
        /* _pickle.c: "odd number of items for SETITEMS" */
        structural(s, op, "has an odd number of items (%zu) above its MARK",
                   c.count);
    /* a target must be there even without items (_pickle.c: stack
     * underflow), but with no items CPython returns before it looks at it
     * ("nothing to do") */
    const aval *t = peek(s, op);
    if (c.count)
        mutate_check(s, t, op, 0);
}

static void op_global(scan *s, const pkl_op *op)
{
    aval v = global_ref(s, op->data, op->len, op->data2, op->len2, op,
                        "GLOBAL imports");
    push(s, &v, op->offset, op->code);
}

static void op_inst(scan *s, const pkl_op *op)
{
    /* pickle.py's load_inst calls find_class before pop_mark, so the
     * module is imported even with no MARK open (_pickle.c looks for the
     * MARK first): what it names is reported, and the missing MARK is a
     * damaged stream, not "no pickle" (oracle_fuzz,
     * corpus/regressions/oracle/inst_no_mark.pkl) */
    aval cls = global_ref(s, op->data, op->len, op->data2, op->len2, op,
                          "INST imports and calls");
    if (pkli_module_imports((const char *)op->data, op->len))
        s->acted = 1;
    collect c;
    collect_init(&c);
    if (pop_mark(s, op, &c) < 0) {
        push_kind(s, V_INERT, op);
        return;
    }
    inst_obj_note(s, op);
    do_call(s, &cls, &c, op);
}

static void op_obj(scan *s, const pkl_op *op)
{
    collect c;
    collect_init(&c);
    if (pop_mark(s, op, &c) < 0) {
        push_kind(s, V_INERT, op);
        return;
    }
    if (c.count == 0) {
        structural(s, op, "has no class after its MARK");
        push_kind(s, V_INERT, op);
        return;
    }
    inst_obj_note(s, op);
    /* the class is the bottom value; its own payload is not an argument,
     * but keeping it only widens nested scanning */
    do_call(s, &c.bottom, &c, op);
}

static PKL_INLINE void op_marked_aggregate(scan *s, const pkl_op *op)
{ /* DICT LIST TUPLE FROZENSET */
    collect c;
    collect_init(&c);
    if (op->code == PKL_OP_TUPLE && s->attr_npend && s->nmarks &&
        s->depth_log - s->marks[s->nmarks - 1] == 2 && s->nstk >= 2 &&
        s->stk[s->nstk - 1].n == 1 && s->stk[s->nstk - 2].n == 1 &&
        attr_args(s, &s->stk[s->nstk - 2], &s->stk[s->nstk - 1])) {
        aval name = s->stk[s->nstk - 1], cls = s->stk[s->nstk - 2];
        (void)pop_mark(s, op, &c);
        attr_push_args(s, &cls, &name, op);
        return;
    }
    if (pop_mark(s, op, &c) == 0 && op->code == PKL_OP_DICT && (c.count & 1))
        /* _pickle.c: "odd number of items for DICT" */
        structural(s, op, "has an odd number of items (%zu) above its MARK",
                   c.count);
    push_aggregate(s, &c, op);
}

static PKL_INLINE void op_tuple_n(scan *s, const pkl_op *op)
{ /* TUPLE1 TUPLE2 TUPLE3 */
    int k = op->code - PKL_OP_TUPLE1 + 1;
    collect c;
    collect_init(&c);
    if (k == 2 && s->attr_npend && accessible(s) >= 2 && s->nstk >= 2 &&
        s->stk[s->nstk - 1].n == 1 && s->stk[s->nstk - 2].n == 1 &&
        attr_args(s, &s->stk[s->nstk - 2], &s->stk[s->nstk - 1])) {
        aval name = pop1(s, op), cls = pop1(s, op);
        attr_push_args(s, &cls, &name, op);
        return;
    }
    if (accessible(s) < (size_t)k)
        structural(s, op, "needs %d values above the topmost MARK: stack "
                          "underflow", k);
    for (int i = 0; i < k && accessible(s) > 0; i++) {
        aval v = pop1(s, op);
        collect_add(&c, &v);
    }
    push_aggregate(s, &c, op);
}

static PKL_INLINE void op_get(scan *s, const pkl_op *op)
{
    if (op->type != PKL_A_INT || op->i < 0) {
        structural(s, op, "has a memo key out of range");
        push_kind(s, V_INERT, op);
    } else {
        memo_get(s, (uint64_t)op->i, op);
    }
}

static PKL_INLINE void op_put(scan *s, const pkl_op *op)
{
    if (op->type != PKL_A_INT || op->i < 0)
        structural(s, op, "has a memo key out of range");
    else
        memo_put(s, (uint64_t)op->i, op);
}

static void op_proto(scan *s, const pkl_op *op)
{
    if (s->ops_ok > 0)
        emit(s, "proto-switch", PKL_SEV_INFO, op->offset, op->code, "",
             "nothing to fix if the file comes from a trusted writer",
             "PROTO %lld in the middle of a pickle changes how later names "
             "resolve (protocol was %d)", (long long)op->i, s->proto);
    s->proto = (int)op->i;
    s->saw_proto = 1;
}

static void op_ext(scan *s, const pkl_op *op)
{
    emit(s, "ext-registry", PKL_SEV_HIGH, op->offset, op->code, "",
         "do not load this file: the scanner cannot know which global the "
         "loading process registered under this code",
         "%s imports whatever global the copyreg extension registry maps "
         "code %lld to", op->info->name, (long long)op->i);
    push_kind(s, V_GLOBAL, op);
}

static void op_next_buffer(scan *s, const pkl_op *op)
{
    if (!s->said_buffer) {
        s->said_buffer = 1;
        emit(s, "oob-buffer", PKL_SEV_INFO, op->offset, op->code, "",
             "nothing to fix; loading needs the buffers",
             "NEXT_BUFFER takes an out-of-band buffer from the loader");
    }
    push_kind(s, V_INERT, op);
}

/* The dispatch: one line per opcode, a flat table. Returns nonzero only
 * for an opcode the table does not know (cannot happen). */
/* Something imported or called (not a GLOBAL naming nothing, not a REDUCE
 * on a short stack: those raise first), so a later failure is no longer
 * "no pickle" (inert). Only these opcodes set it, to keep the loop lean.
 * PERSID does not count: where lenient_start applies (bytes read from
 * byte 0) no loader has a persistent_load, and _pickle.c raises without
 * one. */
#define ACTED(s) ((s)->acted |= !(s)->op_failed)

static PKL_INLINE int dispatch(scan *s, const pkl_op *op)
{
    switch (op->code) {
    case PKL_OP_MARK:           push_mark(s, op); break;
    case PKL_OP_STOP:           op_stop(s, op); break;
    case PKL_OP_POP:            op_pop(s, op); break;
    case PKL_OP_POP_MARK:       op_pop_mark(s, op); break;
    case PKL_OP_DUP:            op_dup(s, op); break;
    case PKL_OP_FLOAT: case PKL_OP_INT: case PKL_OP_BININT:
    case PKL_OP_BININT1: case PKL_OP_LONG: case PKL_OP_BININT2:
    case PKL_OP_NONE: case PKL_OP_BINFLOAT: case PKL_OP_NEWTRUE:
    case PKL_OP_NEWFALSE: case PKL_OP_LONG1: case PKL_OP_LONG4:
    case PKL_OP_EMPTY_DICT: case PKL_OP_EMPTY_LIST:
    case PKL_OP_EMPTY_TUPLE: case PKL_OP_EMPTY_SET:
                                push_kind(s, V_INERT, op); break;
    case PKL_OP_PERSID: case PKL_OP_BINPERSID:
                                op_persid(s, op); break;
    case PKL_OP_REDUCE: case PKL_OP_NEWOBJ: case PKL_OP_NEWOBJ_EX:
                                op_call(s, op); ACTED(s); break;
    case PKL_OP_STRING: case PKL_OP_BINSTRING: case PKL_OP_SHORT_BINSTRING:
                                const_push(s, op, V_STR, SF_NARROW); break;
    case PKL_OP_UNICODE: case PKL_OP_BINUNICODE:
    case PKL_OP_SHORT_BINUNICODE: case PKL_OP_BINUNICODE8:
                                const_push(s, op, V_STR, 0); break;
    case PKL_OP_BINBYTES: case PKL_OP_SHORT_BINBYTES:
    case PKL_OP_BINBYTES8: case PKL_OP_BYTEARRAY8:
                                const_push(s, op, V_BYTES, 0); break;
    case PKL_OP_APPEND: case PKL_OP_SETITEM:
                                op_mutate(s, op, 0); break;
    case PKL_OP_BUILD:          op_mutate(s, op, 1); ACTED(s); break;
    case PKL_OP_APPENDS: case PKL_OP_SETITEMS: case PKL_OP_ADDITEMS:
                                op_batch(s, op); break;
    case PKL_OP_GLOBAL:         op_global(s, op); ACTED(s); break;
    case PKL_OP_INST:           op_inst(s, op); ACTED(s); break;
    case PKL_OP_OBJ:            op_obj(s, op); ACTED(s); break;
    case PKL_OP_DICT: case PKL_OP_LIST: case PKL_OP_TUPLE:
    case PKL_OP_FROZENSET:      op_marked_aggregate(s, op); break;
    case PKL_OP_TUPLE1: case PKL_OP_TUPLE2: case PKL_OP_TUPLE3:
                                op_tuple_n(s, op); break;
    case PKL_OP_GET: case PKL_OP_BINGET: case PKL_OP_LONG_BINGET:
                                op_get(s, op); break;
    case PKL_OP_PUT: case PKL_OP_BINPUT: case PKL_OP_LONG_BINPUT:
                                op_put(s, op); break;
    case PKL_OP_MEMOIZE:        memo_put(s, s->memo_count, op); break;
    case PKL_OP_PROTO:          op_proto(s, op); break;
    case PKL_OP_EXT1: case PKL_OP_EXT2: case PKL_OP_EXT4:
                                op_ext(s, op); ACTED(s); break;
    case PKL_OP_STACK_GLOBAL:   stack_global(s, op); ACTED(s); break;
    case PKL_OP_FRAME:          break;
    case PKL_OP_NEXT_BUFFER:    op_next_buffer(s, op); break;
    case PKL_OP_READONLY_BUFFER: (void)peek(s, op); break;
    default:
        /* every opcode of opcodes.def is handled above */
        if (NEVER(1))
            return -1;
        break;
    }
    return 0;
}

/* A STOP inside a frame: where the next pickle.load on the same file
 * starts depends on how the frame was read. pickle.py reads it whole
 * (Lib/pickle.py _Unframer.load_frame: file_read(frame_size) into a
 * BytesIO), so the file is at the frame's end. _pickle.c's load_frame
 * only makes the frame's bytes readable (_Unpickler_Read, then
 * next_read_idx -= frame_len) and at STOP load() calls
 * _Unpickler_SkipConsumed, which read()s just what was consumed when the
 * bytes came from peek() (_Unpickler_ReadFromFile prefetches
 * PREFETCH = 8192 bytes with peek): the file is then just past STOP;
 * a frame of 8192 bytes or more, one longer than what peek() returned,
 * or a file without peek (BytesIO) is read() whole and the file is at
 * the frame's end again. Checked with both unpicklers on open(),
 * BytesIO, gzip, bz2 and lzma files: both resume points occur, so both
 * are scanned -- the reader goes on just past STOP and the frame's end is
 * kept here and scanned as a chain of its own (scan_stream). */
static void add_resume(scan *s, size_t at, size_t off)
{
    if (at >= s->len)
        return; /* the next load meets the end of the file */
    for (size_t i = 0; i < s->nresume; i++)
        if (s->resume[i].at == at)
            return;
    if (s->nresume < RESUME_MAX) {
        s->resume[s->nresume].at = at;
        s->resume[s->nresume++].done = 0;
        return;
    }
    if (s->resume_over)
        return;
    s->resume_over = 1;
    emit(s, "scan-limit", PKL_SEV_MEDIUM, off, PKL_OP_STOP, "",
         "review the file by hand: pickle.dumps ends every frame at its STOP",
         "more than %d STOPs end inside their frames: pickle.load may read "
         "on from a frame's end (offset %zu) the scanner does not follow",
         RESUME_MAX, at);
}

/* The reader refused an opcode (rc < 0). Returns P_END, or -1 to go on
 * (a FRAME crossing, reported and stepped over). */
static int read_failed(scan *s, pkl_reader *r, const pkl_error *err,
                       size_t npk, size_t start)
{
    if (err->code == PKL_E_NOMEM) {
        s->nomem = 1;
        return P_END;
    }
    const char *why = err->detail[0] ? err->detail : err->msg;
    if (err->code == PKL_E_FRAME && s->ops_ok > 0) {
        emit(s, "frame-crossing", PKL_SEV_HIGH, err->offset, err->opcode, "",
             "do not load this file: pickle.dumps never writes opcodes "
             "across frames; the two unpicklers read it differently",
             "%s", why);
        if (err->opcode == PKL_OP_STOP && r->in_frame &&
            r->frame_end > err->offset)
            add_resume(s, r->frame_end, err->offset);
        pkl_reader_seek(r, err->offset); /* leaves the frame */
        return s->nomem ? P_END : -1;
    }
    s->res->bytes += err->offset - start;
    const char *rule = err->code == PKL_E_TRUNCATED ? "truncated"
        : err->code == PKL_E_UNKNOWN_OPCODE ? "unknown-opcode"
        : "malformed";
    if (inert(s) && !(npk == 0 && s->lenient_start &&
                      refusal_in_doubt(s, err->offset, err->opcode)))
        first_failure(s, npk, err->offset, err->opcode, rule, why);
    else
        emit(s, rule, PKL_SEV_MEDIUM, err->offset, err->opcode, "",
             "the file is damaged or crafted; the bytes after this point "
             "were only searched for global names",
             "%s; %zu bytes from offset %zu not examined", why,
             s->len - err->offset, err->offset);
    look_through(s, err->offset);
    return P_END;
}

/* After an opcode, the rare conditions (tested by the caller with one
 * branch). Returns P_END to stop the pickle, 0 to go on. */
static PKL_NOINLINE int rare_conditions(scan *s, const pkl_op *op,
                                        size_t npk, size_t start)
{
    if (s->first_failed) {
        char why[480];
        snprintf(why, sizeof why, "%s %s", op->info->name, s->first_msg);
        s->res->bytes += op->offset - start;
        first_failure(s, npk, op->offset, op->code, "malformed", why);
        look_through(s, op->offset);
        return P_END;
    }
    /* pickle.dumps writes PROTO first from protocol 2 on, so a protocol 2+
     * opcode in a pickle without PROTO is odd; newer opcodes under an older
     * PROTO are not reported (hand-written benign pickles do that). Only
     * PROTO changes s->proto and saw_proto, so testing after the opcode is
     * the same as before it. */
    if (!s->saw_proto && op->info->proto >= 2 && s->proto == 0 &&
        op->code != PKL_OP_PROTO && !s->said_mismatch) {
        s->said_mismatch = 1;
        emit(s, "proto-mismatch", PKL_SEV_INFO, op->offset, op->code, "",
             "nothing to fix if the file comes from a trusted writer",
             "%s is a protocol %u opcode but the protocol in force is %d",
             op->info->name, op->info->proto, s->proto);
    }
    if (s->nomem) {
        s->ops_ok++;
        return P_END;
    }
    return 0;
}

/* Scans one pickle from the reader's position: read an opcode, dispatch
 * it, test the rare conditions. */
static PKL_NOINLINE int scan_pickle(scan *s, pkl_reader *r, size_t npk)
{
    pkl_op op;
    pkl_error err;
    memset(&err, 0, sizeof err);
    size_t start = pkl_reader_offset(r);
    pickle_reset(s);
    s->npk = npk;
    if (s->nomem)
        return P_END;

    for (;;) {
        int rc = pkli_reader_next_inline(r, &op, &err);
        if (rc == 0) {
            s->res->bytes += s->len - start;
            if (npk == 0 && s->ops_ok > 0 && inert(s)) {
                /* pickle.load meets the end of the data before anything
                 * ran (text that starts with an opcode letter) */
                first_failure(s, npk, s->len, -1, "truncated",
                              "the data ends before STOP");
                return P_END;
            }
            emit(s, "truncated", PKL_SEV_MEDIUM, s->len, -1, "",
                 "the file is incomplete; obtain it again",
                 "the pickle starting at offset %zu ends without STOP", start);
            return P_END;
        }
        if (rc < 0) {
            int end = read_failed(s, r, &err, npk, start);
            if (end >= 0)
                return end;
            continue;
        }

        s->res->opcodes++;
        s->op_failed = 0;
        if (PKL_UNLIKELY(op.note))
            text_note(s, &op);
        if (op.end >= s->next_progress) {
            s->next_progress = op.end + PROGRESS_STEP;
            if (s->on_progress && s->depth == 0)
                s->on_progress(s->progress_ctx, op.offset);
        }

        if (PKL_UNLIKELY(dispatch(s, &op) != 0))
            return P_END;
        if (op.code == PKL_OP_STOP && !s->first_failed) {
            s->ops_ok++;
            s->res->bytes += op.end - start;
            return P_STOPPED;
        }

        /* the rare conditions, tested with one branch */
        if (PKL_UNLIKELY(s->first_failed | s->nomem | !s->saw_proto) &&
            rare_conditions(s, &op, npk, start) == P_END)
            return P_END;
        s->ops_ok++;
    }
}

/* A chain of pickles reaches offset at: 1 when a chain was already
 * scanned from there, else 0 (and a frame end kept there needs no chain
 * of its own). */
static int resume_reached(scan *s, size_t at)
{
    for (size_t i = 0; i < s->nresume; i++)
        if (s->resume[i].at == at) {
            if (s->resume[i].done)
                return 1;
            s->resume[i].done = 1;
        }
    return 0;
}

static void scan_stream(scan *s, const uint8_t *data, size_t len,
                        const char *path, unsigned depth)
{
    s->base = data;
    s->len = len;
    s->depth = depth;
    s->remainder_hits = 0;
    s->text_guard = 0;
    s->roll_count = s->res->count;
    s->roll_dropped = s->res->dropped;
    memcpy(s->roll_sev, s->res->by_severity, sizeof s->roll_sev);
    s->roll_max = s->res->max_severity;
    copy_text(s->path, sizeof s->path, path);
    if (len == 0) {
        first_failure(s, 0, 0, -1, "truncated", "the input is empty");
        return;
    }
    pkl_reader r;
    pkl_reader_init(&r, data, len, &s->a);
    /* the scanner never reads a float's value */
    pkli_reader_set_options(&r, PKLI_READER_SKIP_FLOAT_VALUES);
    size_t npk = 0, next = 0, bytes = 0;
    int resumed = 0;
    s->nresume = 0;
    s->resume_over = 0;
    s->resume_from = 0;
    s->resuming = 0;
    s->stream_first = s->res->count;
    s->looked_from = SIZE_MAX;
    for (;;) {
        int first = 1;
        while (pkl_reader_offset(&r) < len && !s->nomem) {
            if (!first && resume_reached(s, pkl_reader_offset(&r)))
                break; /* a chain already scanned from here */
            int rc = scan_pickle(s, &r, npk);
            attr_settle(s);
            s->resume_from = 0;
            first = 0;
            if (s->ops_ok)
                s->res->pickles++;
            npk++;
            if (rc != P_STOPPED)
                break;
        }
        /* then each frame end no chain has reached (add_resume) */
        while (next < s->nresume && s->resume[next].done)
            next++;
        if (next == s->nresume || s->nomem)
            break;
        if (!resumed) {
            resumed = 1;
            bytes = s->res->bytes;
        }
        s->resume[next].done = 1;
        s->resuming = 1;
        s->resume_from = s->resume[next].at;
        pkl_reader_seek(&r, s->resume_from);
    }
    s->resuming = 0;
    if (resumed)
        s->res->bytes = bytes; /* bytes read once, by the first chain */
    pkl_reader_free(&r);
}

/* ---- public API --------------------------------------------------------- */

void pkl_scan_result_init(pkl_scan_result *res, const pkl_allocator *alloc)
{
    if (!res)
        return;
    memset(res, 0, sizeof *res);
    res->max_severity = -1;
    pkli_alloc_init(&res->alloc, alloc);
}

void pkl_scan_result_free(pkl_scan_result *res)
{
    if (!res)
        return;
    pkli_free(&res->alloc, res->findings);
    pkl_allocator a = res->alloc;
    memset(res, 0, sizeof *res);
    res->alloc = a;
    res->max_severity = -1;
}

int pkli_scan_result_add(pkl_scan_result *res, const pkl_finding *f,
                         size_t max_findings)
{
    if (!res || !f || f->severity < 0 || f->severity > PKL_SEV_CRITICAL)
        return -1;
    res->by_severity[f->severity]++;
    if (f->severity > res->max_severity)
        res->max_severity = f->severity;
    if (res->count >= (max_findings ? max_findings : DEFAULT_MAX_FINDINGS)) {
        res->dropped++;
        return 0;
    }
    if (pkli_grow(&res->alloc, (void **)&res->findings, &res->cap,
                  res->count + 1, sizeof *res->findings) < 0) {
        res->dropped++;
        return -1;
    }
    res->findings[res->count++] = *f;
    return 0;
}

pkl_severity pkl_scan_result_max_severity(const pkl_scan_result *res)
{
    return res ? res->max_severity : PKL_SEV_NONE;
}

static void scan_free(scan *s)
{
    pkli_free(&s->a, s->stk);
    pkli_free(&s->a, s->marks);
    pkli_free(&s->a, s->mdense);
    pkli_free(&s->a, s->pidx);
    pkli_htab_free(&s->memo_hash);
    pkli_free(&s->a, s->pool);
    pkli_free(&s->a, s->gl);
    pkli_htab_free(&s->ghash);
    pkli_free(&s->a, s->q);
    while (s->arena) {
        chunk *c = s->arena;
        s->arena = c->next;
        pkli_free(&s->a, c);
    }
}

int pkl_scan_buffer(const void *buf, size_t len, const char *path,
                    const pkl_scan_options *opt, pkl_scan_result *res,
                    pkl_error *err)
{
    return pkli_scan_buffer(buf, len, path, opt, 0, res, err);
}

int pkli_scan_buffer(const void *buf, size_t len, const char *path,
                     const pkl_scan_options *opt, int lenient_start,
                     pkl_scan_result *res, pkl_error *err)
{
    scan s;
    memset(&s, 0, sizeof s);
    pkli_hash_key(&s.hk);
    ERR_IF(!opt || !opt->policy || !res || (!buf && len), err,
           PKL_E_INVALID_ARG, 0, -1);
    pkli_alloc_init(&s.a, opt->alloc);
    pkli_htab_init(&s.memo_hash, &s.a, PKLI_HT_SIPHASH, &s.hk);
    pkli_htab_init(&s.ghash, &s.a, PKLI_HT_HASHED, NULL);
    s.policy = opt->policy;
    s.res = res;
    s.attr_g = NOG;
    s.max_findings = opt->max_findings ? opt->max_findings
                                       : DEFAULT_MAX_FINDINGS;
    s.max_nesting = opt->max_nesting ? opt->max_nesting : DEFAULT_MAX_NESTING;
    s.on_progress = opt->on_progress;
    s.next_data = opt->next_data;
    s.lenient_start = lenient_start;
    s.progress_ctx = opt->progress_ctx;
    s.next_progress = PROGRESS_STEP;
    /* nested scans may cover at most 4 times the buffer (+1 MiB): a
     * payload reached by many calls is scanned once, and distinct payloads
     * are disjoint parts of their parent */
    s.nested_budget = len < (SIZE_MAX - ((size_t)1 << 20)) / 4
                          ? 4 * len + ((size_t)1 << 20) : SIZE_MAX;
    s.q = pkli_malloc(&s.a, QUEUE_MAX * sizeof *s.q);
    ERR_IF(!s.q, err, PKL_E_NOMEM, 0, -1);

    scan_stream(&s, buf ? buf : "", len, path ? path : "", 0);
    while (s.qhead < s.nq && !s.nomem) {
        work w = s.q[s.qhead++];
        scan_stream(&s, w.data, w.len, w.path, w.depth);
    }
    ERR_IF(s.nomem, err, PKL_E_NOMEM, 0, -1);
    scan_free(&s);
    pkli_error_clear(err);
    return 0;
fail:
    scan_free(&s);
    return -1;
}
