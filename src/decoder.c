/* decoder.c -- the restricted unpickler: pickle bytes -> value tree, under a
 * policy and limits.
 *
 * It follows CPython's C unpickler (_pickle.c, which pickle.loads uses)
 * opcode by opcode, but it never imports, calls or evaluates anything: a
 * global becomes a GLOBAL node only when the policy allows it, and a call
 * of an allowed global becomes an OBJECT node recording the call. A few
 * well-known constructors are evaluated natively (builtins.set, bytes,
 * _codecs.encode, copyreg._reconstructor...) so that pure data decodes to
 * the same tree at every protocol (docs/json.md).
 *
 * It must never: recurse over input structure (everything uses explicit
 * stacks), allocate in proportion to an attacker's number before checking
 * it against a limit, grow the memo by index doubling (CVE-2018-20406), or
 * keep global mutable state. Every node lives in one arena freed by
 * pkl_doc_free; every error path frees everything else.
 *
 * Builders (pkl_decode_build): the same handlers also drive a pkl_builder,
 * in the pickle's own order. The pkl_value nodes stay the decoder's view
 * of every value (the policy checks read their types, names and call
 * arguments); the builder's handles ride alongside them on the stack
 * (hstack) and in the memo (hdense, mhh), and the builder is called only
 * after the checks of an opcode have passed. Handles are references the
 * decoder owns: retained when held twice, released when dropped.
 */
#include "internal.h"

#include <math.h>
#include <strings.h>
#include <stdio.h>

/* ===================================================================== */
/* Arena                                                                 */
/* ===================================================================== */

typedef struct ablock {
    struct ablock *next;
    size_t size; /* usable bytes after the header */
} ablock;

#define ABLOCK_HDR ((sizeof(ablock) + 15u) & ~(size_t)15u)
#define ABLOCK_MIN ((size_t)64 * 1024)
#define ABLOCK_MAX ((size_t)8 * 1024 * 1024)

/* Large growable arrays (list items, dict pairs) live outside the arena
 * in their own allocations, so that growing one is a realloc (no copy for
 * big blocks, no pages touched twice) instead of a copy into new arena
 * memory. They are linked into the document for pkl_doc_free. */
typedef struct bigarr {
    struct bigarr *prev, *next;
} bigarr;
#define BIGARR_HDR ((sizeof(bigarr) + 15u) & ~(size_t)15u)
#define BIGARR_MIN_BYTES ((size_t)16 * 1024)

struct pkl_doc {
    pkl_allocator alloc;
    bigarr *big;      /* large arrays */
    ablock *blocks;   /* current block first */
    size_t next_size; /* size of the next ordinary block */
    pkl_value *root;
};

/* Values that need no storage of their own: never written to. */
static const pkl_value k_none = {.type = PKL_T_NONE};
static const pkl_value k_true = {.type = PKL_T_BOOL, .u.b = 1};
static const pkl_value k_false = {.type = PKL_T_BOOL, .u.b = 0};
static const pkl_value k_empty_tuple = {.type = PKL_T_TUPLE};

/* flags_ bits */
enum { F_HASHED = 1, F_INDEXED = 2, F_OWNED = 4 /* bytes copied to arena */,
       F_SHARED = 8 /* handed out again by memo GET or DUP */,
       F_PACKED = 16 /* builder mode: a LIST whose items are packed (pk) */ };

/* ===================================================================== */
/* Decoder state                                                         */
/* ===================================================================== */

typedef struct walk {
    const pkl_value *a, *b;
    size_t i;
} walk;

typedef struct dec {
    pkl_doc *doc;
    const pkl_allocator *a;
    const pkl_policy *policy;
    const pkl_decode_options *opt;
    pkl_limits lim;
    const uint8_t *base;
    size_t len;
    pkl_error *err;
    /* current opcode, for errors */
    size_t at;
    int opcode;
    int proto;

    pkl_value **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    size_t fence; /* stack[fence..sp) is above the topmost mark */

    const pkl_builder *B; /* NULL: the value tree only (pkl_decode) */
    void **hstack;        /* builder handles, parallel to stack[0..sp) */
    void **hdense;        /* builder handles, parallel to dense */
    void **mhh;           /* builder handles, parallel to mv */
    void *root_h;         /* the root's handle, after STOP */
    /* Builder mode: INT/FLOAT values pushed without writing their node
     * ("pending", see push_pending), parallel to stack[0..sp): ptype[i]
     * is non-zero exactly for the pending slots, all at or above pend_lo
     * (SIZE_MAX: none), and pv[i] holds their value and input bytes.
     * stack[run_lo..run_hi) were pushed pending by consecutive opcodes,
     * one right after the other in the input; while run_hi == sp and the
     * top is pending, they still are (can_pack). */
    struct pendv { uint64_t bits; size_t off, end; } *pv;
    uint8_t *ptype;
    size_t pend_lo, run_lo, run_hi;
    size_t unwritten; /* bytes of pending nodes reserved in this block and
                       * not written so far (arena_alloc_slow) */
    uint8_t str8_bytes;   /* builder str8: encoding "bytes" */

    pkl_value **dense; /* memo indices < dcap */
    size_t dcap;
    /* memo indices beyond: mtab maps an index to its entry + 1 in mv
     * (and mhh); entries are never removed, so mtab.count is their number */
    pkli_htab mtab;
    pkl_value **mv;
    size_t mvcap;
    size_t memo_count;

    /* keys of large dicts/sets under construction (kidx_key) */
    pkli_htab ktab;

    /* interned resolved globals: gtab maps the names' hash to gl's index + 1 */
    pkli_htab gtab;
    const pkl_global **gl;
    size_t glcap;

    /* builtins.getattr imported although the policy does not allow it:
     * legal only as getattr(AllowedClass, "NAME") (attr_call below) */
    const pkl_global *getattr_g;
    size_t getattr_uses, getattr_calls; /* pushes of it, calls of it */
    size_t getattr_at;
    int getattr_op;

    walk *ws; /* scratch stack for hashing / equality */
    size_t wcap;

    char *acur, *aend; /* free bytes of the arena's current block */
    pkl_value *smallint[256]; /* the shared node of each int 0..255 */

    size_t nbuf_used;
    size_t nvalues;
    size_t bytes; /* allocated beyond the input */
    size_t eq_budget;
    pkli_hkey hk; /* this decode's SipHash key (pkli_hash_key) */
    uint8_t py2enc, py2err; /* PY2_* : encoding=/errors= for Python 2 str */
    uint8_t py2set;         /* opt->encoding or opt->errors given */
} dec;

/* ---- errors -------------------------------------------------------------- */

static int fail_at(dec *d, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail_at(dec *d, int code, const char *fmt, ...)
{
    if (d->err) {
        pkli_error_set(d->err, code, d->at, d->opcode);
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(d->err->detail, sizeof d->err->detail, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int nomem(dec *d)
{
    return fail_at(d, PKL_E_NOMEM, NULL);
}

/* A builder callback failed: it keeps its own error state (e.g. a Python
 * exception); the decoder reports where. */
static PKL_NOINLINE int builder_failed(dec *d)
{
    return fail_at(d, PKL_E_BUILDER, "the builder failed at %s (offset %zu)",
                   d->opcode >= 0 ? pkli_opname(d->opcode) : "the end", d->at);
}

static void hrelease(dec *d, void *h)
{
    if (h)
        d->B->release(d->B->ctx, h);
}

/* Releases the handles of stack[from..sp) (builder mode): in one call
 * when the builder has release_n (a batch of APPENDS or SETITEMS is a
 * thousand handles), else one by one. */
static void hrelease_above(dec *d, size_t from)
{
    if (from >= d->sp)
        return;
    if (d->B->release_n)
        d->B->release_n(d->B->ctx, d->hstack + from, d->sp - from);
    else
        for (size_t i = from; i < d->sp; i++)
            hrelease(d, d->hstack[i]);
    memset(d->hstack + from, 0, (d->sp - from) * sizeof *d->hstack);
}

/* Charges n bytes against max_bytes before they are allocated. */
static int charge(dec *d, size_t n)
{
    if (n > d->lim.max_bytes - d->bytes || d->bytes > d->lim.max_bytes)
        return fail_at(d, PKL_E_LIMIT_BYTES,
                       "allocating %zu more bytes would exceed max_bytes "
                       "(%zu; %zu in use)", n, d->lim.max_bytes, d->bytes);
    d->bytes += n;
    return 0;
}

/* ---- arena --------------------------------------------------------------- */

static void *arena_alloc_slow(dec *d, size_t n);

/* The fast path (bump allocation) is inlined into every caller: a big
 * numeric pickle allocates a node per opcode. */
static PKL_INLINE void *arena_alloc(dec *d, size_t n)
{
    n = (n + 7u) & ~(size_t)7u;
    /* n - 1: a request of 0 bytes (and the empty arena) take the slow path */
    if (n - 1 < (size_t)(d->aend - d->acur)) {
        void *p = d->acur;
        d->acur += n;
        return p;
    }
    return arena_alloc_slow(d, n);
}

/* n is rounded already; the current block (if any) has no room. */
static PKL_NOINLINE void *arena_alloc_slow(dec *d, size_t n)
{
    pkl_doc *doc = d->doc;
    ablock *b = doc->blocks;
    if (n > SIZE_MAX - ABLOCK_HDR - 16) {
        charge(d, SIZE_MAX);
        return NULL;
    }
    size_t size = doc->next_size;
    int dedicated = n > size / 4;
    if (dedicated)
        size = n;
    if (charge(d, size + ABLOCK_HDR) < 0)
        return NULL;
    ablock *nb = pkli_malloc(&doc->alloc, ABLOCK_HDR + size);
    if (!nb) {
        nomem(d);
        return NULL;
    }
    nb->size = size;
    /* big pickles touch every page of their arena: huge pages and one
     * populate call instead of a trap per page (pkli_prefault). Builder
     * mode reserves number nodes it may never write (push_pending): when
     * most of the last block stayed unwritten, huge pages only, so that
     * pages never touched cost nothing. A speed choice only. */
    if (size >= ((size_t)4 << 20)) {
        if (d->B && b && d->unwritten > b->size / 2)
            pkli_hugepages(nb, ABLOCK_HDR + size);
        else
            pkli_prefault(nb, ABLOCK_HDR + size);
    }
    d->unwritten = 0;
    if (dedicated && b) {
        /* keep bump-allocating from the current block */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        doc->blocks = nb;
        if (doc->next_size < ABLOCK_MAX)
            doc->next_size *= 2;
        /* bump-allocate from the new block from now on */
        d->acur = (char *)nb + ABLOCK_HDR + n;
        d->aend = (char *)nb + ABLOCK_HDR + size;
    }
    return (char *)nb + ABLOCK_HDR;
}

void pkl_doc_free(pkl_doc *doc)
{
    if (!doc)
        return;
    bigarr *g = doc->big;
    while (g) {
        bigarr *next = g->next;
        pkli_free(&doc->alloc, g);
        g = next;
    }
    ablock *b = doc->blocks;
    while (b) {
        ablock *next = b->next;
        pkli_free(&doc->alloc, b);
        b = next;
    }
    pkl_allocator a = doc->alloc;
    pkli_free(&a, doc);
}

const pkl_value *pkl_doc_root(const pkl_doc *doc)
{
    return doc ? doc->root : NULL;
}

/* ---- nodes --------------------------------------------------------------- */

static PKL_NOINLINE int too_many_values(dec *d)
{
    return fail_at(d, PKL_E_LIMIT_VALUES, "more than max_values (%zu) values",
                   d->lim.max_values);
}

static PKL_INLINE int count_value(dec *d)
{
    if (++d->nvalues > d->lim.max_values)
        return too_many_values(d);
    return 0;
}

static pkl_value *new_node(dec *d, int type)
{
    if (count_value(d) < 0)
        return NULL;
    pkl_value *v = arena_alloc(d, sizeof *v);
    if (!v)
        return NULL;
    memset(v, 0, sizeof *v);
    v->type = (uint8_t)type;
    if (type >= PKL_T_LIST && type != PKL_T_GLOBAL && type != PKL_T_ATTR)
        v->depth_ = 1; /* a container: depth_ > 0 exactly for these */
    return v;
}

/* INT and FLOAT nodes are most of a large numeric pickle and need only
 * the header and 8 bytes of payload: they are allocated at that size
 * (pickleguard.h says never to copy a pkl_value by value). This cuts the
 * memory a big list of numbers touches by a third. */
#define SCALAR_NODE_SIZE (offsetof(pkl_value, u) + sizeof(int64_t))

static PKL_INLINE pkl_value *new_scalar(dec *d, int type)
{
    if (count_value(d) < 0)
        return NULL;
    pkl_value *v = arena_alloc(d, SCALAR_NODE_SIZE);
    if (!v)
        return NULL;
    v->type = (uint8_t)type;
    v->flags_ = 0;
    v->reserved_ = 0;
    v->depth_ = 0;
    return v;
}

/* Capacity of the items array of a growable container holding n items:
 * arrays are always allocated at this size, so it needs no field. */
static size_t cap_for(size_t n)
{
    if (n == 0)
        return 0;
    size_t c = 4;
    while (c < n)
        c *= 2;
    return c;
}

/* Records that `child` now sits inside `parent`. Depths are kept on
 * containers only; the JSON writer enforces the exact limit again. */
static PKL_INLINE int note_child(dec *d, pkl_value *parent,
                                  const pkl_value *child)
{
    /* depth_ is 0 exactly for the nodes that are not containers (scalars,
     * text, GLOBAL): one load decides for the common case */
    if (child->depth_ == 0 || child == parent)
        return 0;
    uint32_t nd = child->depth_ >= UINT32_MAX - 1 ? UINT32_MAX : child->depth_ + 1;
    if (nd > parent->depth_) {
        if (nd > d->lim.max_depth)
            return fail_at(d, PKL_E_LIMIT_DEPTH,
                           "nesting deeper than max_depth (%zu)",
                           d->lim.max_depth);
        parent->depth_ = nd;
    }
    return 0;
}

/* (Re)allocates a big array (see bigarr) of nbytes: old is a payload this
 * returned before, or NULL. Linked into the document, freed with it.
 * Returns the new payload or NULL (old is then unchanged). Not charged:
 * callers charge max_bytes first. */
static void *big_realloc(dec *d, void *old, size_t nbytes)
{
    bigarr *o = old ? (bigarr *)(void *)((char *)old - BIGARR_HDR) : NULL;
    bigarr *g = pkli_realloc(&d->doc->alloc, o, BIGARR_HDR + nbytes);
    if (!g)
        return NULL;
    if (!o) {
        g->prev = NULL;
        g->next = d->doc->big;
        if (g->next)
            g->next->prev = g;
        d->doc->big = g;
    } else if (g != o) {
        if (g->prev)
            g->prev->next = g;
        else
            d->doc->big = g;
        if (g->next)
            g->next->prev = g;
    }
    return (char *)g + BIGARR_HDR;
}

/* Appends n item pointers to a growable array of *len items (mult 2 for
 * dicts, whose length counts pairs). Capacity is cap_for(len) * mult;
 * arrays of at least BIGARR_MIN_BYTES are big arrays (see bigarr). */
static int arr_append(dec *d, pkl_value ***arr, size_t *len, size_t mult,
                      pkl_value *const *items, size_t n)
{
    size_t have = *len * mult;
    size_t oldcap = cap_for(*len) * mult;
    if (n > SIZE_MAX / 16 - have)
        return charge(d, SIZE_MAX);
    size_t need = have + n;
    if (need > oldcap) {
        size_t ncap = cap_for(need / mult) * mult;
        size_t nbytes = ncap * sizeof(pkl_value *);
        pkl_value **na;
        if (nbytes < BIGARR_MIN_BYTES) {
            na = arena_alloc(d, nbytes);
            if (!na)
                return -1;
            if (have)
                memcpy(na, *arr, have * sizeof *na);
        } else {
            size_t obytes = oldcap * sizeof(pkl_value *);
            int was_big = obytes >= BIGARR_MIN_BYTES;
            if (charge(d, nbytes - (was_big ? obytes : 0)) < 0)
                return -1;
            na = big_realloc(d, was_big ? *arr : NULL, nbytes);
            if (!na)
                return nomem(d);
            if (!was_big && have)
                memcpy(na, *arr, have * sizeof *na);
        }
        *arr = na;
    }
    memcpy(*arr + have, items, n * sizeof *items);
    *len = need / mult;
    return 0;
}

/* ---- builder mode: pending scalars and packed lists -----------------------
 * A big numeric pickle is mostly INT/FLOAT opcodes appended to a list by
 * APPENDS. pkl_decode keeps a node per value and an item array per list
 * (the value tree it returns). In builder mode those nodes only serve the
 * policy checks, and an INT or FLOAT appended to a list is never checked
 * again unless the list is later handed to a call the decoder evaluates
 * (list(x), set(x), bytes(x), copyreg._reconstructor...) or indexed by
 * SETITEM. So builder mode:
 *  - pushes an INT/FLOAT "pending" (push_pending): its node is allocated
 *    (and charged) as pkl_decode allocates it, but written only when some
 *    opcode other than a number push, MARK, FRAME, PROTO or APPEND(S) runs
 *    (flush_pending), so every other handler sees the same nodes as
 *    pkl_decode;
 *  - APPEND(S) of numbers, None and booleans to an exact list with no
 *    other items stores their values packed (8 bytes + a type byte each,
 *    F_PACKED) instead of node pointers, charging max_bytes exactly as
 *    arr_append would (arr_charge_as): limits and errors stay those of
 *    pkl_decode, which fuzz_decoder's builder/plain parity check verifies;
 *  - a packed list becomes an ordinary one (unpack_list) before anything
 *    reads its items: do_call's arguments (unpack_args), SETITEM(S) on it,
 *    APPEND(S) of anything else. */

/* What arr_append(mult 1) charges and reserves for n more items on a list
 * of len items, without making the array. */
static int arr_charge_as(dec *d, size_t len, size_t n)
{
    size_t oldcap = cap_for(len);
    if (n > SIZE_MAX / 16 - len)
        return charge(d, SIZE_MAX);
    size_t need = len + n;
    if (need <= oldcap)
        return 0;
    size_t nbytes = cap_for(need) * sizeof(pkl_value *);
    if (nbytes < BIGARR_MIN_BYTES)
        return arena_alloc(d, nbytes) ? 0 : -1; /* reserved, never written */
    size_t obytes = oldcap * sizeof(pkl_value *);
    return charge(d, nbytes - (obytes >= BIGARR_MIN_BYTES ? obytes : 0));
}

/* A packed list's storage: segments, in order, each a big array (never
 * moved or copied while the list grows). A value segment holds values
 * (INT: int64, FLOAT: double bits, BOOL: 0/1, NONE: 0) followed by their
 * types, twice its predecessor's capacity, from 16 up to PK_SEG values
 * (big ones faulted in at once on huge pages, pkli_prefault). A range
 * segment (cap 0) stands for a batch that was n INT/FLOAT opcodes one
 * after the other in the input, bytes [off, end): unpack_list reads them
 * again (the input is the caller's and does not change during a decode),
 * so a batch of numbers costs a few bytes, not 9 per value. */
#define PK_SEG ((size_t)256 * 1024)
typedef struct pkseg {
    struct pkseg *next;
    size_t n, cap;
    size_t off, end; /* a range segment's input bytes */
    uint64_t bits[]; /* cap values, then cap type bytes */
} pkseg;
#define PKSEG_TYPES(g) ((uint8_t *)((g)->bits + (g)->cap))
typedef struct pkbuf {
    pkseg *head, *tail;
} pkbuf;

static int packable(const pkl_value *v)
{
    return v->type == PKL_T_NONE || v->type == PKL_T_BOOL ||
           v->type == PKL_T_INT || v->type == PKL_T_FLOAT;
}

/* Writes the nodes of the pending values (see above). */
static PKL_NOINLINE void flush_pending(dec *d)
{
    for (size_t i = d->pend_lo; i < d->sp; i++) {
        if (!d->ptype[i])
            continue;
        pkl_value *v = d->stack[i];
        v->type = d->ptype[i];
        v->flags_ = 0;
        v->reserved_ = 0;
        v->depth_ = 0;
        memcpy(&v->u, &d->pv[i].bits, sizeof d->pv[i].bits);
        d->ptype[i] = 0;
        d->unwritten -= d->unwritten >= SCALAR_NODE_SIZE ? SCALAR_NODE_SIZE : d->unwritten;
    }
    d->pend_lo = SIZE_MAX;
}

/* The nodes of a range segment's numbers, read again from the input as
 * op_float / op_int read them the first time. */
static int unpack_range(dec *d, const pkseg *g, pkl_value **items, char *nodes)
{
    pkl_reader r;
    pkl_op op;
    int rc = 0;
    pkl_reader_init(&r, d->base + g->off, g->end - g->off, d->a);
    for (size_t k = 0; k < g->n && rc == 0; k++) {
        int got = pkli_reader_next_inline(&r, &op, d->err);
        pkl_value *c = (pkl_value *)(void *)(nodes + k * SCALAR_NODE_SIZE);
        c->flags_ = 0;
        c->reserved_ = 0;
        c->depth_ = 0;
        if (got > 0 && op.type == PKL_A_FLOAT) {
            c->type = PKL_T_FLOAT;
            c->u.f = op.f;
        } else if (got > 0 && op.type == PKL_A_INT && op.code != PKL_OP_FRAME &&
                   op.code != PKL_OP_PROTO) {
            c->type = PKL_T_INT;
            c->u.i = op.i;
        } else {
            rc = fail_at(d, PKL_E_INTERNAL, "a packed list's numbers read "
                         "differently the second time");
        }
        items[k] = c;
    }
    pkl_reader_free(&r);
    return rc;
}

/* The ordinary form of a packed list v: nodes and an item array of the
 * capacity arr_append expects (cap_for(len); a big array when that is
 * BIGARR_MIN_BYTES or more). Not charged: arr_charge_as charged what
 * pkl_decode's nodes and array cost. */
static int unpack_list(dec *d, pkl_value *v)
{
    if (!(v->flags_ & F_PACKED))
        return 0;
    const pkbuf *pb = (const pkbuf *)(void *)v->u.seq.items;
    size_t n = v->u.seq.len;
    pkl_value **items = big_realloc(d, NULL, cap_for(n) * sizeof *items);
    char *nodes = items ? big_realloc(d, NULL, n * SCALAR_NODE_SIZE) : NULL;
    if (!nodes)
        return nomem(d);
    size_t i = 0;
    for (const pkseg *g = pb->head; g; g = g->next) {
        if (!g->cap) {
            if (unpack_range(d, g, items + i, nodes + i * SCALAR_NODE_SIZE) < 0)
                return -1;
            i += g->n;
            continue;
        }
        const uint8_t *types = PKSEG_TYPES(g);
        for (size_t k = 0; k < g->n; k++, i++) {
            if (types[k] == PKL_T_NONE) {
                items[i] = (pkl_value *)&k_none;
            } else if (types[k] == PKL_T_BOOL) {
                items[i] = (pkl_value *)(g->bits[k] ? &k_true : &k_false);
            } else {
                pkl_value *c = (pkl_value *)(void *)(nodes + i * SCALAR_NODE_SIZE);
                c->type = types[k];
                c->flags_ = 0;
                c->reserved_ = 0;
                c->depth_ = 0;
                memcpy(&c->u, &g->bits[k], sizeof g->bits[k]);
                items[i] = c;
            }
        }
    }
    v->u.seq.items = items;
    v->flags_ &= (uint8_t)~F_PACKED;
    return 0;
}

/* Every packed list a call's evaluation may read (do_call: the arguments
 * and their items, e.g. dict(list of lists)) made ordinary. */
static int unpack_args(dec *d, pkl_value *args)
{
    for (size_t i = 0; i < args->u.seq.len; i++) {
        pkl_value *a = args->u.seq.items[i];
        if (unpack_list(d, a) < 0)
            return -1;
        if (a->type != PKL_T_LIST && a->type != PKL_T_TUPLE &&
            a->type != PKL_T_SET && a->type != PKL_T_FROZENSET)
            continue;
        for (size_t k = 0; k < a->u.seq.len; k++)
            if (unpack_list(d, a->u.seq.items[k]) < 0)
                return -1;
    }
    return 0;
}

/* APPEND(S) of stack[x..sp) to list (can_pack said 1, or 2: a range of
 * pending numbers): charged as arr_append, stored packed. */
static int pack_items(dec *d, pkl_value *list, size_t x, int range)
{
    size_t n = d->sp - x, len = list->u.seq.len;
    if (arr_charge_as(d, len, n) < 0)
        return -1;
    pkbuf *pb;
    if (list->flags_ & F_PACKED) {
        pb = (pkbuf *)(void *)list->u.seq.items;
    } else {
        if (!(pb = big_realloc(d, NULL, sizeof *pb)))
            return nomem(d);
        pb->head = pb->tail = NULL;
        list->u.seq.items = (pkl_value **)(void *)pb;
        list->flags_ |= F_PACKED;
    }
    if (range) {
        pkseg *ng = big_realloc(d, NULL, sizeof *ng);
        if (!ng)
            return nomem(d);
        ng->next = NULL;
        ng->n = n;
        ng->cap = 0;
        ng->off = d->pv[x].off;
        ng->end = d->pv[d->sp - 1].end;
        if (pb->tail)
            pb->tail->next = ng;
        else
            pb->head = ng;
        pb->tail = ng;
        memset(d->ptype + x, 0, n);
        list->u.seq.len = len + n;
        if (d->pend_lo >= x)
            d->pend_lo = SIZE_MAX;
        return 0;
    }
    for (size_t i = x; i < d->sp; i++) {
        pkseg *g = pb->tail;
        if (!g || !g->cap || g->n == g->cap) {
            size_t cap = !g || !g->cap ? 16 : g->cap < PK_SEG ? 2 * g->cap : PK_SEG;
            pkseg *ng = big_realloc(d, NULL, sizeof *ng + cap * (sizeof(uint64_t) + 1));
            if (!ng)
                return nomem(d);
            if (cap == PK_SEG)
                pkli_prefault(ng, sizeof *ng + cap * (sizeof(uint64_t) + 1));
            ng->next = NULL;
            ng->n = 0;
            ng->cap = cap;
            if (g)
                g->next = ng;
            else
                pb->head = ng;
            pb->tail = g = ng;
        }
        size_t k = g->n++;
        if (d->ptype[i]) {
            PKSEG_TYPES(g)[k] = d->ptype[i];
            g->bits[k] = d->pv[i].bits;
            d->ptype[i] = 0;
            continue;
        }
        const pkl_value *v = d->stack[i];
        PKSEG_TYPES(g)[k] = v->type;
        if (v->type == PKL_T_BOOL)
            g->bits[k] = (uint64_t)(v->u.b != 0);
        else if (v->type == PKL_T_NONE)
            g->bits[k] = 0;
        else
            memcpy(&g->bits[k], &v->u, sizeof g->bits[k]);
    }
    list->u.seq.len = len + n;
    if (d->pend_lo >= x)
        d->pend_lo = SIZE_MAX;
    return 0;
}

/* Whether APPEND(S) of stack[x..sp) to t may be packed: 0 no, 1 as
 * values, 2 as a range (every item a pending number whose opcode follows
 * the previous one's in the input). */
static int can_pack(const dec *d, const pkl_value *t, size_t x)
{
    if (t->type != PKL_T_LIST || (t->u.seq.len && !(t->flags_ & F_PACKED)))
        return 0;
    if (d->run_hi == d->sp && d->run_lo <= x && d->ptype[d->sp - 1])
        return 2; /* one run of pending numbers (see dec) */
    int range = 1;
    for (size_t i = x; i < d->sp; i++) {
        if (!d->ptype[i]) {
            if (!packable(d->stack[i]))
                return 0;
            range = 0;
        } else if (i > x && d->pv[i].off != d->pv[i - 1].end) {
            range = 0;
        }
    }
    return 1 + range;
}

/* Text or bytes: points into the input when the bytes are there already,
 * else copies (reader scratch is only valid until the next opcode). */
static pkl_value *new_blob(dec *d, int type, const uint8_t *p, size_t n)
{
    pkl_value *v = new_node(d, type);
    if (!v)
        return NULL;
    if (p >= d->base && p <= d->base + d->len && n <= (size_t)(d->base + d->len - p)) {
        v->u.s.ptr = p;
    } else {
        uint8_t *c = arena_alloc(d, n);
        if (!c)
            return NULL;
        if (n)
            memcpy(c, p, n);
        v->u.s.ptr = c;
        v->flags_ |= F_OWNED;
    }
    v->u.s.len = n;
    return v;
}

/* ---- big integers -------------------------------------------------------- */

/* Length of two's complement LE bytes without redundant sign bytes. */
static size_t bigint_trim(const uint8_t *b, size_t n)
{
    if (n == 0)
        return 0;
    int neg = (b[n - 1] & 0x80) != 0;
    uint8_t ext = neg ? 0xff : 0x00;
    while (n > 1 && b[n - 1] == ext && ((b[n - 2] & 0x80) != 0) == neg)
        n--;
    return n;
}

/* Decimal text ([-]digits, no leading zeros) to a BIGINT node. CPython
 * refuses more than 4300 digits (sys.int_info.default_max_str_digits). */
static pkl_value *bigint_from_decimal(dec *d, const uint8_t *s, size_t n)
{
    int neg = n && s[0] == '-';
    const uint8_t *dg = s + neg;
    size_t nd = n - (size_t)neg;
    if (nd > 4300) {
        fail_at(d, PKL_E_INT_DIGITS,
                "integer text of %zu digits exceeds CPython's limit of 4300 "
                "digits for integer string conversion", nd);
        return NULL;
    }
    uint32_t limbs[4300 / 9 + 2];
    size_t nl = 0;
    size_t i = 0;
    size_t first = nd % 9 ? nd % 9 : 9;
    while (i < nd) {
        size_t take = i == 0 ? first : 9;
        uint32_t chunk = 0;
        for (size_t k = 0; k < take; k++)
            chunk = chunk * 10 + (uint32_t)(dg[i + k] - '0');
        i += take;
        uint64_t carry = chunk;
        uint64_t mul = 1;
        for (size_t k = 0; k < take; k++)
            mul *= 10;
        for (size_t k = 0; k < nl; k++) {
            uint64_t t = (uint64_t)limbs[k] * mul + carry;
            limbs[k] = (uint32_t)t;
            carry = t >> 32;
        }
        if (carry)
            limbs[nl++] = (uint32_t)carry;
    }
    size_t nb = nl * 4 + 1;
    pkl_value *v = new_node(d, PKL_T_BIGINT);
    if (!v)
        return NULL;
    uint8_t *out = arena_alloc(d, nb);
    if (!out)
        return NULL;
    for (size_t k = 0; k < nl; k++)
        for (int j = 0; j < 4; j++)
            out[4 * k + (size_t)j] = (uint8_t)(limbs[k] >> (8 * j));
    out[nb - 1] = 0;
    if (neg) {
        unsigned carry = 1;
        for (size_t k = 0; k < nb; k++) {
            unsigned t = (unsigned)(uint8_t)~out[k] + carry;
            out[k] = (uint8_t)t;
            carry = t >> 8;
        }
    }
    v->u.s.ptr = out;
    v->u.s.len = bigint_trim(out, nb);
    v->flags_ |= F_OWNED;
    return v;
}

/* An integral double outside int64 as trimmed two's complement LE bytes.
 * out needs 136 bytes. */
static size_t double_to_bigint(double f, uint8_t *out)
{
    int e;
    double m = frexp(fabs(f), &e); /* |f| = m * 2^e, m in [0.5, 1) */
    uint64_t mant = (uint64_t)ldexp(m, 53);
    int shift = e - 53; /* >= 10 here */
    size_t nb = (size_t)(e / 8) + 2;
    memset(out, 0, nb);
    for (int bit = 0; bit < 53; bit++) {
        if (mant >> bit & 1) {
            int pos = bit + shift;
            out[pos / 8] |= (uint8_t)(1u << (pos % 8));
        }
    }
    if (f < 0) {
        unsigned carry = 1;
        for (size_t k = 0; k < nb; k++) {
            unsigned t = (unsigned)(uint8_t)~out[k] + carry;
            out[k] = (uint8_t)t;
            carry = t >> 8;
        }
    }
    return bigint_trim(out, nb);
}

/* ===================================================================== */
/* Hashing and Python equality (dict keys, set members)                  */
/* ===================================================================== */

static uint32_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* Keys, memo indices and names come from the input: every hash of them
 * is SipHash under this decode's random key, so nobody can precompute
 * inputs that collide (hash flooding makes dict building quadratic). */
static uint32_t hash_bytes(const dec *d, const uint8_t *p, size_t n, uint64_t seed)
{
    pkli_hkey k = {d->hk.k0 ^ seed, d->hk.k1};
    return (uint32_t)pkli_siphash(&k, p, n);
}

static uint32_t hash_u64(const dec *d, uint64_t x)
{
    return (uint32_t)pkli_siphash_u64(&d->hk, x);
}

#define SEED_BIG 0x51ed27a1u
#define SEED_STR 0x2545f491u
#define SEED_BYTES 0x9e3779b9u

static int is_numeric(int t)
{
    return t == PKL_T_BOOL || t == PKL_T_INT || t == PKL_T_BIGINT ||
           t == PKL_T_FLOAT;
}

/* Hash of a value that is not a tuple/frozenset, or -1 if unhashable.
 * Equal values (Python ==) hash equal: 1, 1.0, True share a hash. */
static int hash_leaf(const dec *d, const pkl_value *v, uint32_t *h)
{
    switch (v->type) {
    case PKL_T_NONE: *h = 0x12345u; return 0;
    case PKL_T_BOOL: *h = hash_u64(d, (uint64_t)v->u.b); return 0;
    case PKL_T_INT: *h = hash_u64(d, (uint64_t)v->u.i); return 0;
    case PKL_T_BIGINT: *h = hash_bytes(d, v->u.s.ptr, v->u.s.len, SEED_BIG); return 0;
    case PKL_T_FLOAT: {
        double f = v->u.f;
        if (isfinite(f) && f == floor(f)) {
            if (f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
                *h = hash_u64(d, (uint64_t)(int64_t)f);
            } else {
                uint8_t tmp[136];
                size_t n = double_to_bigint(f, tmp);
                *h = hash_bytes(d, tmp, n, SEED_BIG);
            }
        } else {
            uint64_t bits;
            memcpy(&bits, &f, sizeof bits);
            *h = hash_u64(d, bits ^ 0xf10a7u);
        }
        return 0;
    }
    case PKL_T_STR: *h = hash_bytes(d, v->u.s.ptr, v->u.s.len, SEED_STR); return 0;
    case PKL_T_BYTES: *h = hash_bytes(d, v->u.s.ptr, v->u.s.len, SEED_BYTES); return 0;
    case PKL_T_ATTR: /* a class attribute: hashed by class and name */
        *h = mix64((uint64_t)(uintptr_t)v->u.attr.cls ^
                   hash_bytes(d, v->u.attr.name, v->u.attr.len, SEED_STR));
        return 0;
    case PKL_T_GLOBAL:
    case PKL_T_OBJECT:
    case PKL_T_PERSID:
        /* identity (globals are interned, so equal names share a node's
           pkl_global) */
        *h = mix64((uint64_t)(uintptr_t)(v->type == PKL_T_GLOBAL
                                              ? (const void *)v->u.global.g
                                              : (const void *)v));
        return 0;
    default:
        return -1;
    }
}

/* Cached hash of tuples and frozensets: stored in the slot before items. */
static uint32_t *hash_slot(const pkl_value *v)
{
    return (uint32_t *)(void *)(v->u.seq.items - 1);
}

/* Grows the array *buf (capacity *cap elements of elem bytes) to hold n,
 * charging max_bytes first. */
static int reserve(dec *d, void **buf, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap)
        return 0;
    size_t ncap = n > *cap * 2 ? n : *cap * 2;
    if (ncap > SIZE_MAX / elem)
        return nomem(d);
    if (charge(d, ncap * elem) < 0)
        return -1;
    if (pkli_grow(d->a, buf, cap, n, elem) < 0)
        return nomem(d);
    return 0;
}

static int ws_reserve(dec *d, size_t n)
{
    return reserve(d, (void **)&d->ws, &d->wcap, n, sizeof(walk));
}

/* pkli_htab_add under max_bytes: the slot, or NULL with the error set. */
static pkli_hslot *htab_add(dec *d, pkli_htab *t, uint64_t key, uint32_t val)
{
    size_t n = pkli_htab_grow_bytes(t);
    if (n == SIZE_MAX) {
        nomem(d);
        return NULL;
    }
    if (n && charge(d, n) < 0)
        return NULL;
    pkli_hslot *s = pkli_htab_add(t, key, val);
    if (!s)
        nomem(d);
    return s;
}

/* Hash of any value; PKL_E_UNHASHABLE when CPython could not hash it.
 * Tuples and frozensets are hashed iteratively, post-order, and cached. */
static int hash_value(dec *d, const pkl_value *v, uint32_t *out)
{
    if (v->type != PKL_T_TUPLE && v->type != PKL_T_FROZENSET) {
        if (hash_leaf(d, v, out) == 0)
            return 0;
        goto unhashable;
    }
    if (v->u.seq.len == 0) {
        *out = v->type == PKL_T_TUPLE ? 0x71u : 0xf5u;
        return 0;
    }
    if (v->flags_ & F_HASHED) {
        *out = *hash_slot(v);
        return 0;
    }
    size_t top = 0;
    if (ws_reserve(d, 1) < 0)
        return -1;
    d->ws[top++] = (walk){v, NULL, 0};
    while (top) {
        walk *w = &d->ws[top - 1];
        const pkl_value *t = w->a;
        if (w->i < t->u.seq.len) {
            const pkl_value *c = t->u.seq.items[w->i];
            if ((c->type == PKL_T_TUPLE || c->type == PKL_T_FROZENSET) &&
                c->u.seq.len && !(c->flags_ & F_HASHED)) {
                if (top >= d->lim.max_depth + 1) {
                    fail_at(d, PKL_E_LIMIT_DEPTH,
                            "hashing a key nested deeper than max_depth");
                    return -1;
                }
                if (ws_reserve(d, top + 1) < 0)
                    return -1;
                d->ws[top++] = (walk){c, NULL, 0};
                continue;
            }
            uint32_t ch;
            if (hash_value(d, c, &ch) < 0) /* leaf or cached: no recursion */
                return -1;
            w->i++;
            continue;
        }
        /* all children hashed or cached: combine */
        uint64_t acc = t->type == PKL_T_TUPLE ? 0x27d4eb2f165667c5ULL : 0;
        for (size_t k = 0; k < t->u.seq.len; k++) {
            uint32_t ch;
            hash_value(d, t->u.seq.items[k], &ch);
            if (t->type == PKL_T_TUPLE)
                acc = (acc ^ ch) * 0x100000001b3ULL + k;
            else
                acc += mix64(ch); /* order-independent */
        }
        pkl_value *mt = (pkl_value *)t; /* arena node owned by this decode */
        *hash_slot(mt) = mix64(acc ^ t->type);
        mt->flags_ |= F_HASHED;
        top--;
    }
    *out = *hash_slot(v);
    return 0;
unhashable:
    return fail_at(d, PKL_E_UNHASHABLE, "unhashable type: '%s'",
                   v->type == PKL_T_LIST ? "list"
                   : v->type == PKL_T_DICT ? "dict"
                   : v->type == PKL_T_SET ? "set"
                   : v->type == PKL_T_BYTEARRAY ? "bytearray" : "value");
}

/* Python == for numbers. */
static int num_eq(const pkl_value *a, const pkl_value *b)
{
    if (a->type == PKL_T_FLOAT && b->type != PKL_T_FLOAT) {
        const pkl_value *t = a;
        a = b;
        b = t;
    }
    /* now b is the float if any */
    if (b->type == PKL_T_FLOAT) {
        double f = b->u.f;
        if (a->type == PKL_T_FLOAT)
            return a->u.f == f;
        if (!isfinite(f) || f != floor(f))
            return 0;
        if (f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
            if (a->type == PKL_T_BIGINT)
                return 0;
            int64_t ai = a->type == PKL_T_BOOL ? a->u.b : a->u.i;
            return ai == (int64_t)f;
        }
        if (a->type != PKL_T_BIGINT)
            return 0;
        uint8_t tmp[136];
        size_t n = double_to_bigint(f, tmp);
        return n == a->u.s.len && memcmp(tmp, a->u.s.ptr, n) == 0;
    }
    if (a->type == PKL_T_BIGINT || b->type == PKL_T_BIGINT)
        return a->type == b->type && a->u.s.len == b->u.s.len &&
               memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    int64_t x = a->type == PKL_T_BOOL ? a->u.b : a->u.i;
    int64_t y = b->type == PKL_T_BOOL ? b->u.b : b->u.i;
    return x == y;
}

/* Equality of two values that are not tuples: 1, 0. Frozensets compare
 * members by identity or leaf equality (documented approximation). */
static int leaf_eq(const pkl_value *a, const pkl_value *b)
{
    if (a == b)
        return 1;
    if (is_numeric(a->type) && is_numeric(b->type))
        return num_eq(a, b);
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case PKL_T_NONE: return 1;
    case PKL_T_STR:
    case PKL_T_BYTES:
        return a->u.s.len == b->u.s.len &&
               memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case PKL_T_GLOBAL: return a->u.global.g == b->u.global.g;
    case PKL_T_ATTR:
        return a->u.attr.cls == b->u.attr.cls && a->u.attr.len == b->u.attr.len &&
               memcmp(a->u.attr.name, b->u.attr.name, a->u.attr.len) == 0;
    case PKL_T_FROZENSET: {
        if (a->u.seq.len != b->u.seq.len)
            return 0;
        if (a->u.seq.len && (a->flags_ & F_HASHED) && (b->flags_ & F_HASHED) &&
            *hash_slot(a) != *hash_slot(b))
            return 0;
        for (size_t i = 0; i < a->u.seq.len; i++) {
            const pkl_value *x = a->u.seq.items[i];
            int found = 0;
            for (size_t j = 0; j < b->u.seq.len && !found; j++) {
                const pkl_value *y = b->u.seq.items[j];
                found = x == y || (x->type != PKL_T_TUPLE &&
                                   x->type != PKL_T_FROZENSET &&
                                   y->type != PKL_T_TUPLE &&
                                   y->type != PKL_T_FROZENSET && leaf_eq(x, y));
            }
            if (!found)
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* Python == for hashable values; tuples iteratively. Returns 1, 0, or -1
 * (work budget exhausted: a crafted DAG can make naive comparison
 * exponential). */
static int value_eq(dec *d, const pkl_value *a, const pkl_value *b)
{
    if (a == b)
        return 1;
    if (a->type != PKL_T_TUPLE || b->type != PKL_T_TUPLE)
        return leaf_eq(a, b);
    size_t top = 0;
    if (ws_reserve(d, 1) < 0)
        return -1;
    d->ws[top++] = (walk){a, b, 0};
    while (top) {
        walk *w = &d->ws[top - 1];
        if (w->i == 0 && w->a->u.seq.len != w->b->u.seq.len)
            return 0;
        if (w->i == w->a->u.seq.len) {
            top--;
            continue;
        }
        const pkl_value *x = w->a->u.seq.items[w->i];
        const pkl_value *y = w->b->u.seq.items[w->i];
        w->i++;
        if (d->eq_budget == 0)
            return fail_at(d, PKL_E_LIMIT_VALUES,
                           "comparing dict keys / set members needs too much "
                           "work (crafted shared tuples)");
        d->eq_budget--;
        if (x == y)
            continue;
        if (x->type == PKL_T_TUPLE && y->type == PKL_T_TUPLE) {
            if (top >= d->lim.max_depth + 1)
                return fail_at(d, PKL_E_LIMIT_DEPTH,
                               "comparing keys nested deeper than max_depth");
            if (ws_reserve(d, top + 1) < 0)
                return -1;
            d->ws[top++] = (walk){x, y, 0};
            continue;
        }
        if (!leaf_eq(x, y))
            return 0;
    }
    return 1;
}

/* ---- key index for large dicts and sets --------------------------------- */

/* One table indexes the keys of every large container: an entry holds the
 * key's position + 1 (val) and hash (aux) under kidx_key(container, hash).
 * The key is the container's address xor the hash times an odd constant,
 * so a slot whose key and aux match belongs to this container exactly;
 * its low bits (the slot) are as random as the keyed hash. */
static uint64_t kidx_key(const pkl_value *c, uint32_t h)
{
    return (uint64_t)(uintptr_t)c ^ (uint64_t)h * 0x9e3779b97f4a7c15ULL;
}

static int kidx_insert(dec *d, const pkl_value *c, uint32_t h, size_t pos)
{
    if (pos >= UINT32_MAX)
        return fail_at(d, PKL_E_LIMIT_VALUES, "a dict or set of more than "
                       "%u items", (unsigned)UINT32_MAX - 1);
    pkli_hslot *s = htab_add(d, &d->ktab, kidx_key(c, h), (uint32_t)pos + 1);
    if (!s)
        return -1;
    s->aux = h;
    return 0;
}

typedef struct kprobe {
    dec *d;
    pkl_value *const *arr;
    size_t stride;
    const pkl_value *key;
    uint32_t h;
    int *failed;
} kprobe;

/* The slot holds this key (or value_eq failed: stop looking). */
static int kidx_eq(const void *ctx, const pkli_hslot *s)
{
    const kprobe *q = ctx;
    if (s->aux != q->h)
        return 0;
    int r = value_eq(q->d, q->arr[(s->val - 1) * q->stride], q->key);
    if (r < 0)
        *q->failed = 1;
    return r != 0;
}

#define INDEX_AT 8

/* Position of `key` among the keys of container c (stride 2 for dicts,
 * 1 for sets), or SIZE_MAX; -1 on error. */
static int find_key(dec *d, const pkl_value *c, const pkl_value *key,
                    uint32_t h, size_t *where)
{
    *where = SIZE_MAX;
    pkl_value **arr = c->type == PKL_T_DICT ? c->u.dict.kv : c->u.seq.items;
    size_t n = c->type == PKL_T_DICT ? c->u.dict.len : c->u.seq.len;
    size_t stride = c->type == PKL_T_DICT ? 2 : 1;
    if (!(c->flags_ & F_INDEXED)) {
        for (size_t i = 0; i < n; i++) {
            int r = value_eq(d, arr[i * stride], key);
            if (r < 0)
                return -1;
            if (r) {
                *where = i;
                return 0;
            }
        }
        return 0;
    }
    int failed = 0;
    kprobe q = {d, arr, stride, key, h, &failed};
    const pkli_hslot *s = pkli_htab_find_eq(&d->ktab, kidx_key(c, h), kidx_eq, &q);
    if (failed)
        return -1;
    if (s)
        *where = s->val - 1;
    return 0;
}

/* After adding item number `pos` (hash h) to c: index when large. */
static int index_added(dec *d, pkl_value *c, uint32_t h, size_t pos)
{
    pkl_value **arr = c->type == PKL_T_DICT ? c->u.dict.kv : c->u.seq.items;
    size_t n = c->type == PKL_T_DICT ? c->u.dict.len : c->u.seq.len;
    size_t stride = c->type == PKL_T_DICT ? 2 : 1;
    if (c->flags_ & F_INDEXED)
        return kidx_insert(d, c, h, pos);
    if (n < INDEX_AT)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t kh;
        if (hash_value(d, arr[i * stride], &kh) < 0 ||
            kidx_insert(d, c, kh, i) < 0)
            return -1;
    }
    c->flags_ |= F_INDEXED;
    return 0;
}

/* d[key] = value with Python semantics: a repeated key keeps its first
 * position and first key object, and takes the new value. */
static int dict_set(dec *d, pkl_value *dict, pkl_value *key, pkl_value *value)
{
    uint32_t h = 0;
    size_t where;
    if (hash_value(d, key, &h) < 0 || find_key(d, dict, key, h, &where) < 0)
        return -1;
    if (note_child(d, dict, key) < 0 || note_child(d, dict, value) < 0)
        return -1;
    if (where != SIZE_MAX) {
        dict->u.dict.kv[2 * where + 1] = value;
        return 0;
    }
    pkl_value *pair[2] = {key, value};
    if (arr_append(d, &dict->u.dict.kv, &dict->u.dict.len, 2, pair, 2) < 0)
        return -1;
    return index_added(d, dict, h, dict->u.dict.len - 1);
}

static int set_add(dec *d, pkl_value *set, pkl_value *item)
{
    uint32_t h = 0;
    size_t where;
    if (hash_value(d, item, &h) < 0 || find_key(d, set, item, h, &where) < 0)
        return -1;
    if (where != SIZE_MAX)
        return 0;
    if (note_child(d, set, item) < 0)
        return -1;
    if (arr_append(d, &set->u.seq.items, &set->u.seq.len, 1, &item, 1) < 0)
        return -1;
    return index_added(d, set, h, set->u.seq.len - 1);
}

/* ---- node constructors over item ranges ---------------------------------- */

static pkl_value *make_list(dec *d, pkl_value *const *items, size_t n)
{
    pkl_value *v = new_node(d, PKL_T_LIST);
    if (!v)
        return NULL;
    if (n) {
        size_t len = 0;
        if (arr_append(d, &v->u.seq.items, &len, 1, items, n) < 0)
            return NULL;
        v->u.seq.len = len;
        for (size_t i = 0; i < n; i++)
            if (note_child(d, v, items[i]) < 0)
                return NULL;
    }
    return v;
}

/* Tuples and frozensets are immutable: exact size plus a hash slot. */
static pkl_value *make_fixed(dec *d, int type, pkl_value *const *items, size_t n)
{
    if (n == 0 && type == PKL_T_TUPLE) {
        if (count_value(d) < 0)
            return NULL;
        return (pkl_value *)&k_empty_tuple;
    }
    pkl_value *v = new_node(d, type);
    if (!v)
        return NULL;
    if (n > SIZE_MAX / 16) {
        charge(d, SIZE_MAX);
        return NULL;
    }
    pkl_value **arr = arena_alloc(d, (n + 1) * sizeof *arr);
    if (!arr)
        return NULL;
    arr[0] = NULL;
    v->u.seq.items = arr + 1;
    if (n)
        memcpy(arr + 1, items, n * sizeof *items);
    v->u.seq.len = n;
    for (size_t i = 0; i < n; i++)
        if (note_child(d, v, items[i]) < 0)
            return NULL;
    return v;
}

static pkl_value *make_tuple(dec *d, pkl_value *const *items, size_t n)
{
    return make_fixed(d, PKL_T_TUPLE, items, n);
}

static pkl_value *make_set(dec *d, pkl_value *const *items, size_t n)
{
    pkl_value *v = new_node(d, PKL_T_SET);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (set_add(d, v, items[i]) < 0)
            return NULL;
    return v;
}

/* frozenset(items): members deduplicated, first occurrence kept. Built as
 * a temporary set, then frozen. */
static pkl_value *make_frozenset(dec *d, pkl_value *const *items, size_t n)
{
    pkl_value *tmp = make_set(d, items, n);
    if (!tmp)
        return NULL;
    d->nvalues--; /* the temporary does not count */
    return make_fixed(d, PKL_T_FROZENSET, tmp->u.seq.items, tmp->u.seq.len);
}

static pkl_value *make_dict(dec *d, pkl_value *const *kv, size_t npairs)
{
    pkl_value *v = new_node(d, PKL_T_DICT);
    if (!v)
        return NULL;
    for (size_t i = 0; i < npairs; i++)
        if (dict_set(d, v, kv[2 * i], kv[2 * i + 1]) < 0)
            return NULL;
    return v;
}

/* ===================================================================== */
/* Stack, marks and memo                                                 */
/* ===================================================================== */

/* Builder mode: hstack keeps the capacity of stack. The handle arrays
 * (hstack, hdense, mhh) mirror arrays that max_bytes already charges, and
 * are not charged again: a builder run fails a limit exactly where
 * pkl_decode does (the handles' objects are the builder's memory). */
static int grow_hstack(dec *d, size_t ocap)
{
    if (!d->B)
        return 0;
    void **nh = pkli_realloc(d->a, d->hstack, d->scap * sizeof *nh);
    if (!nh)
        return nomem(d);
    d->hstack = nh;
    struct pendv *np = pkli_realloc(d->a, d->pv, d->scap * sizeof *np);
    if (!np)
        return nomem(d);
    d->pv = np;
    uint8_t *nt = pkli_realloc(d->a, d->ptype, d->scap);
    if (!nt)
        return nomem(d);
    memset(nt + ocap, 0, d->scap - ocap);
    d->ptype = nt;
    return 0;
}

static PKL_NOINLINE int grow_stack(dec *d)
{
    size_t ncap = d->scap ? d->scap * 2 : 256, ocap = d->scap;
    if (charge(d, (ncap - d->scap) * sizeof *d->stack) < 0)
        return -1;
    if (pkli_grow(d->a, (void **)&d->stack, &d->scap, d->sp + 1,
                  sizeof *d->stack) < 0)
        return nomem(d);
    return grow_hstack(d, ocap);
}

static PKL_INLINE int push(dec *d, pkl_value *v)
{
    if (d->sp == d->scap && grow_stack(d) < 0)
        return -1;
    if (PKL_UNLIKELY(v->type == PKL_T_GLOBAL) && v->u.global.g == d->getattr_g)
        d->getattr_uses++; /* d->getattr_g is NULL until it is imported */
    d->stack[d->sp++] = v;
    return 0;
}

/* Builder mode: pushes v with handle h, a new reference (NULL: the
 * builder failed, except for a GLOBAL: see hneed). */
static int hpush(dec *d, pkl_value *v, void *h)
{
    if (!h && v->type != PKL_T_GLOBAL)
        return builder_failed(d);
    if (push(d, v) < 0) {
        hrelease(d, h);
        return -1;
    }
    d->hstack[d->sp - 1] = h;
    return 0;
}

/* Pushes a new node (NULL: its error is set). Leaf opcodes use it in both
 * modes: in builder mode dispatch_build then gives the node its handle. */
static int push_new(dec *d, pkl_value *v)
{
    return v ? push(d, v) : -1;
}

/* Builder mode: the stack slot of an INT or FLOAT pushed pending (see
 * flush_pending): its node allocated and counted as new_scalar does, its
 * value and input bytes in pv. The slot's index, or SIZE_MAX (the error
 * is set). */
static PKL_INLINE size_t pending_slot(dec *d, int type, uint64_t bits,
                                      const pkl_op *op)
{
    if (count_value(d) < 0)
        return SIZE_MAX;
    pkl_value *v = arena_alloc(d, SCALAR_NODE_SIZE);
    if (!v || (d->sp == d->scap && grow_stack(d) < 0))
        return SIZE_MAX;
    d->unwritten += SCALAR_NODE_SIZE;
    size_t i = d->sp++;
    d->stack[i] = v;
    d->ptype[i] = (uint8_t)type;
    d->pv[i].bits = bits;
    d->pv[i].off = op->offset;
    d->pv[i].end = op->end;
    return i;
}

/* Builder mode: pushes an INT or FLOAT pending; the builder makes its
 * value from the bits (int64/float64) or from a node on the C stack. */
static PKL_NOINLINE int push_pending(dec *d, int type, uint64_t bits, const pkl_op *op)
{
    size_t i = pending_slot(d, type, bits, op);
    if (i == SIZE_MAX)
        return -1;
    if (i == d->run_hi && i && d->ptype[i - 1] && d->pv[i - 1].end == op->offset) {
        d->run_hi = i + 1;
    } else {
        d->run_lo = i;
        d->run_hi = i + 1;
    }
    if (i < d->pend_lo)
        d->pend_lo = i;
    void *h;
    if (type == PKL_T_FLOAT && d->B->float64) {
        double f;
        memcpy(&f, &bits, sizeof f);
        h = d->B->float64(d->B->ctx, f);
    } else if (type == PKL_T_INT && d->B->int64) {
        h = d->B->int64(d->B->ctx, (int64_t)bits);
    } else {
        pkl_value tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.type = (uint8_t)type;
        memcpy(&tmp.u, &bits, sizeof bits);
        h = d->B->scalar(d->B->ctx, &tmp);
    }
    d->hstack[i] = h;
    return h ? 0 : builder_failed(d);
}

/* Builder mode: a GLOBAL's handle is made when a builder call first needs
 * it (a NULL handle until then), as pickle's find_class would import it
 * at the GLOBAL opcode: a pickle refused before that point has made the
 * builder import nothing (e.g. BUILD on a class). The builder's global
 * callback returns the same object for the same interned name. A
 * deferred builtins.getattr stays inert: None, never the real getattr
 * (attr_call makes its one allowed use). */
static int hneed(dec *d, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (d->hstack[i])
            continue;
        const pkl_global *g = d->stack[i]->u.global.g;
        d->hstack[i] = g == d->getattr_g ? d->B->scalar(d->B->ctx, &k_none)
                                         : d->B->global(d->B->ctx, g);
        if (!d->hstack[i])
            return builder_failed(d);
    }
    return 0;
}

static void hretain(dec *d, void *h)
{
    if (h)
        d->B->retain(d->B->ctx, h);
}

/* Builder mode: a new container from handles (n items; DICT: n pairs). */
static void *hcontainer(dec *d, int type, size_t from, size_t n)
{
    if (hneed(d, from, from + (type == PKL_T_DICT ? 2 * n : n)) < 0)
        return NULL;
    return d->B->container(d->B->ctx, type, d->hstack + from, n);
}

/* n values above the topmost mark, or an error as CPython reports it. */
static int need(dec *d, size_t n)
{
    if (d->sp - d->fence >= n)
        return 0;
    if (d->nmarks && d->sp >= n)
        return fail_at(d, PKL_E_STACK_UNDERFLOW,
                       "unexpected MARK found (%s needs %zu value%s above "
                       "the mark)", pkli_opname(d->opcode), n, n == 1 ? "" : "s");
    return fail_at(d, PKL_E_STACK_UNDERFLOW,
                   "%s needs %zu value%s on the stack, %zu there",
                   pkli_opname(d->opcode), n, n == 1 ? "" : "s", d->sp - d->fence);
}

/* Pops the topmost mark, returning the stack length it recorded. */
static int marker(dec *d, size_t *m)
{
    if (d->nmarks == 0)
        return fail_at(d, PKL_E_NO_MARK, "could not find MARK for %s",
                       pkli_opname(d->opcode));
    *m = d->marks[--d->nmarks];
    d->fence = d->nmarks ? d->marks[d->nmarks - 1] : 0;
    return 0;
}

/* Stores v (and, builder mode, its handle h, released when replaced) in
 * vs[i] and hs[i]. */
static void memo_set(dec *d, pkl_value **vs, void **hs, size_t i,
                     pkl_value *v, void *h)
{
    vs[i] = v;
    if (d->B) {
        hrelease(d, hs[i]);
        hs[i] = h;
    }
}

/* A new entry for idx beyond the dense array (h: the builder's handle,
 * retained by the caller). */
static int memo_hash_add(dec *d, uint64_t idx, pkl_value *v, void *h)
{
    size_t e = d->mtab.count;
    if (e >= UINT32_MAX - 1)
        return fail_at(d, PKL_E_LIMIT_MEMO, "more than %u sparse memo "
                       "entries", (unsigned)UINT32_MAX - 2);
    if (e == d->mvcap) {
        size_t ncap = d->mvcap ? d->mvcap * 2 : 64;
        if (charge(d, (ncap - d->mvcap) * sizeof *d->mv) < 0)
            return -1;
        pkl_value **nv = pkli_realloc(d->a, d->mv, ncap * sizeof *nv);
        if (!nv)
            return nomem(d);
        d->mv = nv;
        if (d->B) { /* mv larger than mvcap says on failure: harmless */
            void **nh = pkli_realloc(d->a, d->mhh, ncap * sizeof *nh);
            if (!nh)
                return nomem(d);
            d->mhh = nh;
        }
        d->mvcap = ncap;
    }
    if (!htab_add(d, &d->mtab, idx, (uint32_t)e + 1))
        return -1;
    d->mv[e] = v;
    if (d->B)
        d->mhh[e] = h;
    return 0;
}

/* Stores v at idx. The dense array grows only while the indices stay
 * dense (idx within twice the entry count plus a constant), so a huge
 * index costs one hash slot, never a huge array. */
/* Builder mode: the dense handle array follows dense's capacity. */
static int grow_hdense(dec *d, size_t ocap, size_t ncap)
{
    void **nh = pkli_realloc(d->a, d->hdense, ncap * sizeof *nh);
    if (!nh)
        return nomem(d);
    memset(nh + ocap, 0, (ncap - ocap) * sizeof *nh);
    d->hdense = nh;
    return 0;
}

/* h: the builder's handle of v (builder mode), a reference the memo now
 * owns; released here when the store fails. */
static int memo_put(dec *d, uint64_t idx, pkl_value *v, void *h)
{
    if (idx >= d->dcap && idx <= 2 * (uint64_t)d->memo_count + 4096) {
        size_t ncap = d->dcap ? d->dcap : 256;
        while (ncap <= idx)
            ncap *= 2;
        if (charge(d, (ncap - d->dcap) * sizeof *d->dense) < 0)
            goto fail;
        pkl_value **nd = pkli_realloc(d->a, d->dense, ncap * sizeof *nd);
        if (!nd) {
            nomem(d);
            goto fail;
        }
        memset(nd + d->dcap, 0, (ncap - d->dcap) * sizeof *nd);
        d->dense = nd;
        if (d->B && grow_hdense(d, d->dcap, ncap) < 0)
            goto fail; /* dense is larger than dcap says: harmless */
        d->dcap = ncap;
    }
    if (idx < d->dcap) {
        if (d->dense[idx]) {
            memo_set(d, d->dense, d->hdense, idx, v, h);
            return 0;
        }
    }
    const pkli_hslot *s = pkli_htab_find(&d->mtab, idx);
    if (s) {
        memo_set(d, d->mv, d->mhh, s->val - 1, v, h);
        return 0;
    }
    if (idx < d->dcap)
        memo_set(d, d->dense, d->hdense, idx, v, h); /* its handle is NULL */
    else if (memo_hash_add(d, idx, v, h) < 0)
        goto fail;
    if (++d->memo_count > d->lim.max_memo)
        return fail_at(d, PKL_E_LIMIT_MEMO, "more than max_memo (%zu) memo "
                       "entries", d->lim.max_memo);
    return 0;
fail:
    if (d->B)
        hrelease(d, h);
    return -1;
}

/* A node handed out a second time (memo GET, DUP): a builder that makes
 * one object per node must reuse it (pkl_value_is_shared). Constant and
 * caller-owned nodes are never written. */
static void mark_shared(dec *d, pkl_value *v)
{
    if (v->type < PKL_T_STR || v == (const pkl_value *)&k_empty_tuple ||
        (v->flags_ & F_SHARED))
        return;
    for (size_t i = 0; i < d->nbuf_used; i++)
        if (d->opt->buffers[i] == v)
            return;
    v->flags_ |= F_SHARED;
}

int pkl_value_is_shared(const pkl_value *v)
{
    return v && (v->flags_ & F_SHARED) != 0;
}

/* The node at idx (and, builder mode, its handle in *h, borrowed). */
static pkl_value *memo_get(dec *d, uint64_t idx, void **h)
{
    pkl_value *v = NULL;
    *h = NULL;
    if (idx < d->dcap && d->dense[idx]) {
        v = d->dense[idx];
        if (d->B)
            *h = d->hdense[idx];
    } else {
        const pkli_hslot *s = pkli_htab_find(&d->mtab, idx);
        v = s ? d->mv[s->val - 1] : NULL;
        if (v && d->B)
            *h = d->mhh[s->val - 1];
    }
    if (v)
        mark_shared(d, v);
    return v;
}

/* ===================================================================== */
/* Globals and policy                                                    */
/* ===================================================================== */

static void global_name(const pkl_global *g, char *buf, size_t size)
{
    snprintf(buf, size, "%s.%s", g->module, g->qualname);
}

/* One line from pkl_policy_suggest's YAML ("allow:\n  - a.b" becomes
 * "allow: [a.b]"). */
static void suggest_line(const pkl_global *g, char *out, size_t size)
{
    char y[600];
    pkl_policy_suggest(g, y, sizeof y);
    size_t w = 0;
    int items = 0, in_list = 0;
    const char *p = y;
    while (*p && w + 4 < size) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        size_t s = 0;
        while (s < n && p[s] == ' ')
            s++;
        if (s + 1 < n && p[s] == '-' && p[s + 1] == ' ' && in_list) {
            int k = snprintf(out + w, size - w, "%s%.*s", items ? ", " : "[",
                             (int)(n - s - 2), p + s + 2);
            w += k > 0 ? (size_t)k : 0;
            items++;
        } else if (n > s) {
            if (in_list && items) {
                out[w++] = ']';
                items = 0;
            }
            int k = snprintf(out + w, size - w, "%s%.*s", w ? " " : "",
                             (int)(n - s), p + s);
            w += k > 0 ? (size_t)k : 0;
            in_list = n > 0 && p[n - 1] == ':';
            if (in_list)
                out[w++] = ' ';
        }
        if (w >= size)
            w = size - 1;
        p = e ? e + 1 : p + n;
    }
    if (items && w + 1 < size)
        out[w++] = ']';
    while (w > 0 && out[w - 1] == ' ')
        w--;
    out[w < size ? w : size - 1] = '\0';
}

static int refuse_global(dec *d, const pkl_global *g, pkl_verdict v)
{
    char name[2 * PKL_NAME_MAX + 2], sug[400];
    global_name(g, name, sizeof name);
    if (v == PKL_DENIED_EXPLICIT)
        return fail_at(d, PKL_E_REFUSED_GLOBAL,
                       "%s (%s at offset %zu) is denied by policy '%s' (a deny "
                       "entry matches it)", name, pkli_opname(d->opcode), d->at,
                       pkl_policy_name(d->policy));
    suggest_line(g, sug, sizeof sug);
    return fail_at(d, PKL_E_REFUSED_GLOBAL,
                   "%s (%s at offset %zu) is not allowed by policy '%s'; to "
                   "allow it add to your policy:  %s",
                   name, pkli_opname(d->opcode), d->at,
                   pkl_policy_name(d->policy), sug);
}

static const pkl_global *intern_global(dec *d, const pkl_global *gp);

/* ---- getattr(AllowedClass, "NAME"): Enum members and class constants ----
 * CPython pickles such values as REDUCE(builtins.getattr, (cls, name))
 * (enum.pickle_by_enum_name). builtins.getattr is in the catalogue of
 * dangerous globals, and no policy allows it; but this one use of it is
 * data: the attribute of a class the policy allows, named by a plain
 * identifier (ASCII letters, digits and '_', not starting with '_'), and
 * never called, built or mutated. The rule (docs/json.md):
 *   - importing builtins.getattr is deferred, not refused (unless a deny
 *     entry matches it; INST, which calls at once, is never deferred);
 *   - each call of it must be exactly getattr(cls, "NAME") with cls a
 *     global the policy allows: it yields an ATTR node;
 *   - at STOP every push of the getattr global must have been such a call;
 *     else the import is refused as usual, at its own offset.
 * An ATTR node is never callable and cannot be built or mutated (the
 * call/BUILD/append paths accept only GLOBAL/OBJECT targets). */
static int attr_defer(dec *d, const pkl_global *g, pkl_verdict v)
{
    if (v != PKL_DENIED || d->opcode == PKL_OP_INST ||
        strcmp(g->module, "builtins") != 0 || strcmp(g->qualname, "getattr") != 0)
        return 0;
    if (!d->getattr_g) {
        d->getattr_at = d->at;
        d->getattr_op = d->opcode;
    }
    return 1;
}

static int plain_attr_name(const pkl_value *s)
{
    if (s->type != PKL_T_STR || s->u.s.len == 0 || s->u.s.len > PKL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < s->u.s.len; i++) {
        uint8_t c = s->u.s.ptr[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!(alpha || (i > 0 && (c == '_' || (c >= '0' && c <= '9')))))
            return 0;
    }
    return 1;
}

/* A call of the deferred builtins.getattr: an ATTR node, or refused. */
static pkl_value *attr_call(dec *d, pkl_value *args, int plain, int is_new)
{
    pkl_value **a = args->u.seq.items;
    if (!plain || is_new || args->u.seq.len != 2 ||
        a[0]->type != PKL_T_GLOBAL || a[0]->u.global.g == d->getattr_g ||
        !plain_attr_name(a[1])) {
        fail_at(d, PKL_E_REFUSED_CALL, "builtins.getattr (%s at offset %zu) "
                "is allowed only as getattr(AllowedClass, \"NAME\") with a "
                "plain attribute name (an Enum member); this call is not",
                pkli_opname(d->opcode), d->at);
        return NULL;
    }
    pkl_value *v = new_node(d, PKL_T_ATTR);
    if (!v)
        return NULL;
    v->u.attr.cls = a[0]->u.global.g;
    v->u.attr.name = a[1]->u.s.ptr;
    v->u.attr.len = a[1]->u.s.len;
    d->getattr_calls++;
    return v;
}

/* At STOP: a getattr import used any other way is refused after all. */
static int attr_settle(dec *d)
{
    if (!d->getattr_g || d->getattr_uses == d->getattr_calls)
        return 0;
    d->at = d->getattr_at;
    d->opcode = d->getattr_op;
    return refuse_global(d, d->getattr_g, PKL_DENIED);
}

/* Resolves, checks and interns a global; NULL with the error set. */
static const pkl_global *lookup_global(dec *d, const uint8_t *mod, size_t ml,
                                       const uint8_t *name, size_t nl)
{
    pkl_global g;
    /* fix_imports=False (_pickle.c find_class: proto < 3 && fix_imports):
     * no Python 2 renames; below protocol 4 names stay undotted either way */
    int proto = d->opt->no_fix_imports && d->proto < 3 ? 3 : d->proto;
    if (pkl_resolve_global((const char *)mod, ml, (const char *)name, nl,
                           proto, &g, d->err) < 0) {
        if (d->err) {
            d->err->offset = d->at;
            d->err->opcode = d->opcode;
            if (d->err->code == PKL_OK)
                pkli_error_set(d->err, PKL_E_BAD_NAME, d->at, d->opcode);
        }
        /* Both unpicklers' find_class import the module before the name
         * fails (names.c pkli_module_imports): the module's code runs, so
         * this is a global no policy allows, not a damaged stream that
         * stops before anything happens (`cos\nsyste\x1f\n`: oracle_fuzz,
         * corpus/regressions/oracle/badname_raw_view.zip). */
        if (pkli_module_imports((const char *)mod, ml)) {
            char why[sizeof d->err->detail];
            snprintf(why, sizeof why, "%s", d->err ? d->err->detail : "");
            fail_at(d, PKL_E_REFUSED_GLOBAL, "%s imports the module, then "
                    "fails on the name; no policy allows a name no "
                    "identifier path spells (%s)", pkli_opname(d->opcode),
                    why);
        }
        return NULL;
    }
    pkl_verdict v = pkl_policy_check(d->policy, &g);
    int deferred = 0;
    if (v != PKL_ALLOWED && !(deferred = attr_defer(d, &g, v))) {
        refuse_global(d, &g, v);
        return NULL;
    }
    const pkl_global *r = intern_global(d, &g);
    if (r && deferred)
        d->getattr_g = r;
    return r;
}

static int gis(const pkl_global *g, const char *mod, const char *qual)
{
    return strcmp(g->module, mod) == 0 && strcmp(g->qualname, qual) == 0;
}

typedef struct gprobe {
    const pkl_global *const *gl;
    const pkl_global *g;
} gprobe;

static int global_eq(const void *ctx, const pkli_hslot *s)
{
    const gprobe *q = ctx;
    return gis(q->gl[s->val - 1], q->g->module, q->g->qualname);
}

/* Interns a resolved global; NULL with the error set. */
static const pkl_global *intern_global(dec *d, const pkl_global *gp)
{
    size_t m1 = strlen(gp->module), q1 = strlen(gp->qualname);
    uint64_t h = (uint64_t)hash_bytes(d, (const uint8_t *)gp->module, m1, 1) << 32 |
                 hash_bytes(d, (const uint8_t *)gp->qualname, q1, 2);
    gprobe q = {d->gl, gp};
    const pkli_hslot *s = pkli_htab_find_eq(&d->gtab, h, global_eq, &q);
    if (s)
        return d->gl[s->val - 1];
    size_t n = d->gtab.count;
    if (n >= UINT32_MAX - 1) {
        fail_at(d, PKL_E_LIMIT_VALUES, "more than %u distinct globals",
                (unsigned)UINT32_MAX - 2);
        return NULL;
    }
    pkl_global *ng = arena_alloc(d, sizeof *ng);
    if (!ng || reserve(d, (void **)&d->gl, &d->glcap, n + 1, sizeof *d->gl) < 0 ||
        !htab_add(d, &d->gtab, h, (uint32_t)n + 1))
        return NULL;
    *ng = *gp;
    d->gl[n] = ng;
    return ng;
}


static const char *type_name(const pkl_value *v)
{
    switch (v->type) {
    case PKL_T_NONE: return "NoneType";
    case PKL_T_BOOL: return "bool";
    case PKL_T_INT: case PKL_T_BIGINT: return "int";
    case PKL_T_FLOAT: return "float";
    case PKL_T_STR: return "str";
    case PKL_T_BYTES: return "bytes";
    case PKL_T_BYTEARRAY: return "bytearray";
    case PKL_T_LIST: return "list";
    case PKL_T_TUPLE: return "tuple";
    case PKL_T_DICT: return "dict";
    case PKL_T_SET: return "set";
    case PKL_T_FROZENSET: return "frozenset";
    case PKL_T_GLOBAL: return "global";
    case PKL_T_ATTR: return "class attribute";
    case PKL_T_OBJECT: return "object";
    case PKL_T_PERSID: return "persistent id";
    }
    return "value";
}

/* ===================================================================== */
/* Calls: native evaluation of well-known constructors, else OBJECT      */
/* ===================================================================== */

static pkl_value *make_object(dec *d, const pkl_global *g, pkl_value *args,
                              pkl_value *kwargs, int is_new)
{
    pkl_value *v = new_node(d, PKL_T_OBJECT);
    if (!v)
        return NULL;
    pkl_object *o = arena_alloc(d, sizeof *o);
    if (!o)
        return NULL;
    memset(o, 0, sizeof *o);
    o->g = g;
    o->args = args ? args : (pkl_value *)&k_empty_tuple;
    o->kwargs = kwargs;
    o->is_new = is_new;
    v->u.obj = o;
    if (note_child(d, v, o->args) < 0 || (kwargs && note_child(d, v, kwargs) < 0))
        return NULL;
    return v;
}

/* Items of a list/tuple/set/frozenset, for constructors taking an
 * iterable; NULL for anything else. */
static pkl_value *const *iter_items(const pkl_value *v, size_t *n)
{
    static pkl_value *const none[1] = {NULL};
    switch (v->type) {
    case PKL_T_LIST:
    case PKL_T_TUPLE:
    case PKL_T_SET:
    case PKL_T_FROZENSET:
        *n = v->u.seq.len;
        return v->u.seq.len ? v->u.seq.items : none;
    default:
        return NULL;
    }
}

/* ---- Python 2 str: pickle.load(encoding=, errors=) ----------------------- */
/* Lib/pickle.py _Unpickler._decode_string and Modules/_pickle.c
 * load_counted_binstring: "bytes" keeps the bytes, anything else is
 * bytes.decode(encoding, errors). Default encoding='ASCII', errors='strict'. */
enum { PY2_ASCII, PY2_LATIN1, PY2_UTF8, PY2_BYTES };
enum { PY2_STRICT, PY2_REPLACE, PY2_IGNORE, PY2_SURROGATEESCAPE,
       PY2_BACKSLASHREPLACE };

static int py2_options(dec *d, const char *enc, const char *errs)
{
    static const struct { const char *name; int code; } encs[] = {
        {"ascii", PY2_ASCII}, {"us-ascii", PY2_ASCII}, {"latin1", PY2_LATIN1},
        {"latin-1", PY2_LATIN1}, {"iso-8859-1", PY2_LATIN1},
        {"iso8859-1", PY2_LATIN1}, {"l1", PY2_LATIN1}, {"utf-8", PY2_UTF8},
        {"utf8", PY2_UTF8}, {"utf_8", PY2_UTF8}, {"bytes", PY2_BYTES}};
    static const char *const errnames[] = {"strict", "replace", "ignore",
                                           "surrogateescape", "backslashreplace"};
    d->py2enc = PY2_ASCII;
    d->py2err = PY2_STRICT;
    if (enc) {
        size_t k, n = sizeof encs / sizeof encs[0];
        for (k = 0; k < n; k++)
            if (strcasecmp(enc, encs[k].name) == 0)
                break;
        if (k == n) {
            pkli_error_setf(d->err, PKL_E_INVALID_ARG, 0, -1,
                            "encoding '%.64s' is not supported for Python 2 "
                            "str (ASCII, latin1, utf-8 or bytes)", enc);
            return -1;
        }
        d->py2enc = (uint8_t)encs[k].code;
    }
    if (errs) {
        size_t k, n = sizeof errnames / sizeof errnames[0];
        for (k = 0; k < n; k++)
            if (strcmp(errs, errnames[k]) == 0)
                break;
        if (k == n || (d->py2enc == PY2_UTF8 && k != PY2_STRICT)) {
            pkli_error_setf(d->err, PKL_E_INVALID_ARG, 0, -1,
                            "errors '%.64s' is not supported here (strict, "
                            "replace, ignore, surrogateescape or "
                            "backslashreplace; utf-8: strict only)", errs);
            return -1;
        }
        d->py2err = (uint8_t)k;
    }
    return 0;
}

static pkl_value *py2_str(dec *d, const pkl_op *op)
{
    const uint8_t *p = op->data;
    size_t n = op->len, k;
    if (d->py2enc == PY2_BYTES)
        return new_blob(d, PKL_T_BYTES, p, n);
    for (k = 0; k < n && p[k] < 0x80; k++)
        ;
    if (k == n) /* ASCII: the same text under every encoding */
        return new_blob(d, PKL_T_STR, p, n);
    if (d->py2enc == PY2_UTF8) {
        size_t bad;
        if (pkli_utf8_valid(p, n, 0, &bad))
            return new_blob(d, PKL_T_STR, p, n);
        fail_at(d, PKL_E_BAD_STRING, "'utf-8' codec can't decode byte 0x%02x "
                "in position %zu (%s decoded with encoding='utf-8')", p[bad],
                bad, pkli_opname(op->code));
        return NULL;
    }
    if (d->py2enc == PY2_ASCII && d->py2err == PY2_STRICT) {
        if (d->py2set)
            fail_at(d, PKL_E_BAD_STRING,
                    "'ascii' codec can't decode byte 0x%02x in position %zu "
                    "(pickle.load decodes %s with encoding='ASCII'; see "
                    "--encoding)", p[k], k, pkli_opname(op->code));
        else
            fail_at(d, PKL_E_BAD_STRING,
                    "'ascii' codec can't decode byte 0x%02x in position "
                    "%zu (pickle.loads decodes %s with encoding='ASCII')",
                    p[k], k, pkli_opname(op->code));
        return NULL;
    }
    if (n > SIZE_MAX / 4) {
        nomem(d);
        return NULL;
    }
    uint8_t *out = arena_alloc(d, 4 * n);
    pkl_value *v = out ? new_node(d, PKL_T_STR) : NULL;
    if (!v)
        return NULL;
    size_t m = 0;
    for (k = 0; k < n; k++) {
        uint8_t b = p[k];
        if (b < 0x80) {
            out[m++] = b;
        } else if (d->py2enc == PY2_LATIN1) {
            m += pkli_utf8_encode(b, out + m);
        } else if (d->py2err == PY2_REPLACE) {
            m += pkli_utf8_encode(0xFFFD, out + m);
        } else if (d->py2err == PY2_SURROGATEESCAPE) {
            m += pkli_utf8_encode(0xDC00u + b, out + m);
        } else if (d->py2err == PY2_BACKSLASHREPLACE) {
            static const char hx[] = "0123456789abcdef";
            out[m++] = '\\';
            out[m++] = 'x';
            out[m++] = (uint8_t)hx[b >> 4];
            out[m++] = (uint8_t)hx[b & 15];
        } /* PY2_IGNORE: dropped */
    }
    v->u.s.ptr = out;
    v->u.s.len = m;
    v->flags_ |= F_OWNED;
    return v;
}

/* str -> latin-1 bytes; 0 if a code point is above U+00FF. */
static int latin1_encode(dec *d, const pkl_value *s, uint8_t **out, size_t *n)
{
    const uint8_t *p = s->u.s.ptr;
    size_t len = s->u.s.len, w = 0;
    uint8_t *o = arena_alloc(d, len);
    if (!o)
        return -1;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += pkli_utf8_decode(p + i, len - i, &cp);
        if (cp > 0xff)
            return 0;
        o[w++] = (uint8_t)cp;
    }
    *out = o;
    *n = w;
    return 1;
}

static int is_latin1_name(const pkl_value *v)
{
    if (v->type != PKL_T_STR)
        return 0;
    return (v->u.s.len == 6 && memcmp(v->u.s.ptr, "latin1", 6) == 0) ||
           (v->u.s.len == 7 && memcmp(v->u.s.ptr, "latin-1", 7) == 0);
}

/* The bytes-like node v over buf, which the arena already owns. */
static pkl_value *owned_blob(pkl_value *v, uint8_t *buf, size_t len)
{
    v->u.s.ptr = buf;
    v->u.s.len = len;
    v->flags_ |= F_OWNED;
    return v;
}

/* The str s encoded as latin-1 in a new node of type; what names the
 * argument in the error when some character is beyond U+00FF. */
static pkl_value *latin1_blob(dec *d, int type, const pkl_value *s,
                              const char *what)
{
    uint8_t *buf;
    size_t len;
    int r = latin1_encode(d, s, &buf, &len);
    if (r < 0)
        return NULL;
    if (r == 0) {
        fail_at(d, PKL_E_BAD_TYPE, "'latin-1' codec can't encode the %s "
                "argument", what);
        return NULL;
    }
    pkl_value *v = new_node(d, type);
    return v ? owned_blob(v, buf, len) : NULL;
}

/* bytes(x) / bytearray(x) for the argument shapes pickle produces:
 * (), (bytes-like,), (iterable of ints 0..255,), (str, 'latin1').
 * Returns the node, or NULL with *handled = 0 when the shape is not one of
 * these (the call stays an OBJECT), or NULL with an error. */
static pkl_value *native_bytes(dec *d, int type, pkl_value *args, int *handled)
{
    size_t n = args->u.seq.len;
    pkl_value **a = args->u.seq.items;
    *handled = 1;
    if (n == 0)
        return new_blob(d, type, (const uint8_t *)"", 0);
    if (n == 1 && (a[0]->type == PKL_T_BYTES || a[0]->type == PKL_T_BYTEARRAY))
        return new_blob(d, type, a[0]->u.s.ptr, a[0]->u.s.len);
    if (n == 1) {
        size_t cnt;
        pkl_value *const *it = iter_items(a[0], &cnt);
        if (it && a[0]->type != PKL_T_SET && a[0]->type != PKL_T_FROZENSET) {
            for (size_t i = 0; i < cnt; i++)
                if (it[i]->type != PKL_T_INT || it[i]->u.i < 0 || it[i]->u.i > 255) {
                    *handled = 0;
                    return NULL;
                }
            pkl_value *v = new_node(d, type);
            uint8_t *buf = v ? arena_alloc(d, cnt) : NULL;
            if (!buf)
                return NULL;
            for (size_t i = 0; i < cnt; i++)
                buf[i] = (uint8_t)it[i]->u.i;
            return owned_blob(v, buf, cnt);
        }
    }
    if (n == 2 && a[0]->type == PKL_T_STR && is_latin1_name(a[1]))
        return latin1_blob(d, type, a[0],
                           type == PKL_T_BYTES ? "bytes" : "bytearray");
    *handled = 0;
    return NULL;
}

/* The natively evaluated calls reuse argument nodes and their items in
 * the result, while the arguments may stay reachable (memo): they are
 * reached twice. */
static void share_args(dec *d, pkl_value **a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t cnt;
        pkl_value *const *it = iter_items(a[i], &cnt);
        mark_shared(d, a[i]);
        for (size_t k = 0; it && k < cnt; k++)
            mark_shared(d, it[k]);
        if (a[i]->type == PKL_T_DICT)
            for (size_t k = 0; k < 2 * a[i]->u.dict.len; k++)
                mark_shared(d, a[i]->u.dict.kv[k]);
    }
}

/* dict(iterable of pairs); *handled = 0 when an item is not a pair. */
static pkl_value *dict_of_pairs(dec *d, pkl_value *const *it, size_t cnt,
                                int *handled)
{
    for (size_t i = 0; i < cnt; i++) {
        size_t pl;
        pkl_value *const *pi = iter_items(it[i], &pl);
        if (!pi || pl != 2 || it[i]->type == PKL_T_SET ||
            it[i]->type == PKL_T_FROZENSET) {
            *handled = 0;
            return NULL;
        }
    }
    pkl_value *v = new_node(d, PKL_T_DICT);
    if (!v)
        return NULL;
    for (size_t i = 0; i < cnt; i++)
        if (dict_set(d, v, it[i]->u.seq.items[0], it[i]->u.seq.items[1]) < 0)
            return NULL;
    return v;
}

/* list, set, dict or bytearray (type t) called with args. Their __new__
 * ignore the arguments (__init__ fills them). */
static pkl_value *call_mutable(dec *d, int t, pkl_value *args, int is_new,
                               int *handled)
{
    size_t n = args->u.seq.len;
    pkl_value **a = args->u.seq.items;
    size_t cnt = 0;
    pkl_value *const *it = n == 1 ? iter_items(a[0], &cnt) : NULL;
    if (is_new || n == 0)
        return t == PKL_T_BYTEARRAY ? new_blob(d, t, (const uint8_t *)"", 0)
                                    : new_node(d, t);
    if (t == PKL_T_LIST && it)
        return make_list(d, it, cnt);
    if (t == PKL_T_SET && it)
        return make_set(d, it, cnt);
    if (t == PKL_T_DICT && n == 1 && a[0]->type == PKL_T_DICT)
        return make_dict(d, a[0]->u.dict.kv, a[0]->u.dict.len);
    if (t == PKL_T_DICT && it)
        return dict_of_pairs(d, it, cnt, handled);
    if (t == PKL_T_BYTEARRAY)
        return native_bytes(d, t, args, handled);
    *handled = 0;
    return NULL;
}

/* A call of builtins.q without keyword arguments: the types whose value
 * the tree can hold; *handled = 0 for the rest. */
static pkl_value *call_builtin(dec *d, const char *q, pkl_value *args,
                               int is_new, int *handled)
{
    size_t n = args->u.seq.len;
    if (strcmp(q, "list") == 0)
        return call_mutable(d, PKL_T_LIST, args, is_new, handled);
    if (strcmp(q, "set") == 0)
        return call_mutable(d, PKL_T_SET, args, is_new, handled);
    if (strcmp(q, "dict") == 0)
        return call_mutable(d, PKL_T_DICT, args, is_new, handled);
    if (strcmp(q, "bytearray") == 0)
        return call_mutable(d, PKL_T_BYTEARRAY, args, is_new, handled);
    if (strcmp(q, "bytes") == 0)
        return native_bytes(d, PKL_T_BYTES, args, handled);
    if (strcmp(q, "tuple") == 0 || strcmp(q, "frozenset") == 0) {
        size_t cnt = 0;
        pkl_value *const *it = n == 1 ? iter_items(args->u.seq.items[0], &cnt) : NULL;
        if (n != 0 && !it) {
            *handled = 0;
            return NULL;
        }
        return q[0] == 't' ? make_tuple(d, it, cnt) : make_frozenset(d, it, cnt);
    }
    *handled = 0;
    return NULL;
}

/* o (a new object) with its list items or dict items made from state. */
static pkl_value *object_with(dec *d, pkl_value *o, pkl_value *state)
{
    if (!o)
        return NULL;
    pkl_object *ob = (pkl_object *)o->u.obj;
    pkl_value **slot = state->type == PKL_T_LIST ? &ob->items : &ob->dictitems;
    *slot = state->type == PKL_T_LIST
                ? make_list(d, state->u.seq.items, state->u.seq.len)
                : make_dict(d, state->u.dict.kv, state->u.dict.len);
    if (!*slot || note_child(d, o, *slot) < 0)
        return NULL;
    return o;
}

/* copyreg._reconstructor(cls, base, state) is base.__new__(cls, state) +
 * base.__init__: the same tree as protocol 2's NEWOBJ. */
static pkl_value *call_reconstructor(dec *d, pkl_value **a, int *handled)
{
    const pkl_global *cls = a[0]->u.global.g, *base = a[1]->u.global.g;
    pkl_value *state = a[2];
    if (gis(base, "builtins", "object")) {
        if (state->type != PKL_T_NONE) {
            *handled = 0;
            return NULL;
        }
        return make_object(d, cls, NULL, NULL, 1);
    }
    if ((gis(base, "builtins", "list") && state->type == PKL_T_LIST) ||
        (gis(base, "builtins", "dict") && state->type == PKL_T_DICT))
        return object_with(d, make_object(d, cls, NULL, NULL, 1), state);
    pkl_value *t = make_tuple(d, &a[2], 1);
    return t ? make_object(d, cls, t, NULL, 1) : NULL;
}

/* Evaluates a call of an allowed global g with args (a TUPLE) and kwargs
 * (a DICT or NULL). is_new: cls.__new__(cls, *args, **kwargs). The calls
 * with a value of their own (builtins' types, _codecs.encode, copyreg's
 * helpers) become that value; the rest, and those whose arguments have a
 * shape not evaluated here (*handled = 0), stay an OBJECT. */
static pkl_value *do_call(dec *d, const pkl_global *g, pkl_value *args,
                          pkl_value *kwargs, int is_new)
{
    size_t n = args->u.seq.len;
    pkl_value **a = args->u.seq.items;
    int plain = !kwargs || kwargs->u.dict.len == 0;
    int handled = 1;
    pkl_value *r = NULL;

    if (d->B && unpack_args(d, args) < 0)
        return NULL;
    share_args(d, a, n);
    if (g == d->getattr_g)
        return attr_call(d, args, plain, is_new);
    if (plain && strcmp(g->module, "builtins") == 0)
        r = call_builtin(d, g->qualname, args, is_new, &handled);
    else if (!plain || is_new)
        handled = 0;
    else if (gis(g, "_codecs", "encode") && n >= 1 && n <= 2 &&
             a[0]->type == PKL_T_STR && (n == 1 || is_latin1_name(a[1])))
        /* default encoding: UTF-8 (surrogates would fail) */
        r = n == 1 ? new_blob(d, PKL_T_BYTES, a[0]->u.s.ptr, a[0]->u.s.len)
                   : latin1_blob(d, PKL_T_BYTES, a[0], "_codecs.encode");
    else if (gis(g, "copyreg", "_reconstructor") && n == 3 &&
             a[0]->type == PKL_T_GLOBAL && a[1]->type == PKL_T_GLOBAL)
        r = call_reconstructor(d, a, &handled);
    else if (gis(g, "copyreg", "__newobj__") && n >= 1 &&
             a[0]->type == PKL_T_GLOBAL) {
        pkl_value *t = make_tuple(d, a + 1, n - 1);
        r = t ? do_call(d, a[0]->u.global.g, t, NULL, 1) : NULL;
    } else if (gis(g, "copyreg", "__newobj_ex__") && n == 3 &&
               a[0]->type == PKL_T_GLOBAL && a[1]->type == PKL_T_TUPLE &&
               a[2]->type == PKL_T_DICT)
        r = do_call(d, a[0]->u.global.g, a[1], a[2]->u.dict.len ? a[2] : NULL, 1);
    else
        handled = 0;
    if (handled || r)
        return r;
    return make_object(d, g, args, kwargs && kwargs->u.dict.len ? kwargs : NULL,
                       is_new);
}

static int refuse_call(dec *d, const pkl_value *callable, const char *what)
{
    if (callable->type == PKL_T_OBJECT) {
        char name[2 * PKL_NAME_MAX + 2];
        global_name(callable->u.obj->g, name, sizeof name);
        return fail_at(d, PKL_E_REFUSED_CALL,
                       "%s (%s at offset %zu) would call the result of a call "
                       "of %s, which no policy can allow", what,
                       pkli_opname(d->opcode), d->at, name);
    }
    return fail_at(d, PKL_E_REFUSED_CALL,
                   "%s (%s at offset %zu) would call a %s, not an allowed "
                   "global", what, pkli_opname(d->opcode), d->at,
                   type_name(callable));
}

/* ===================================================================== */
/* Mutating opcodes                                                      */
/* ===================================================================== */

static pkl_value *obj_field(dec *d, pkl_value *o, int which)
{
    pkl_object *ob = (pkl_object *)o->u.obj;
    pkl_value **slot = which == 0 ? &ob->items : &ob->dictitems;
    if (!*slot) {
        *slot = new_node(d, which == 0 ? PKL_T_LIST : PKL_T_DICT);
        if (!*slot || note_child(d, o, *slot) < 0)
            return NULL;
    }
    return *slot;
}

/* The container of a batch must lie above the next MARK down, as in
 * _pickle.c (x <= fence: "unexpected MARK found"), even with no items. */
static int batch_underflow(dec *d, const char *what)
{
    if (d->nmarks)
        return fail_at(d, PKL_E_STACK_UNDERFLOW, "unexpected MARK found (%s "
                       "has no %s between its MARK and the one under it)",
                       pkli_opname(d->opcode), what);
    return fail_at(d, PKL_E_STACK_UNDERFLOW, "%s has no %s under its items",
                   pkli_opname(d->opcode), what);
}

/* The end of APPEND(S)/SETITEM(S)/ADDITEMS, once the checks passed:
 * builder mode hands stack[x..sp) (n items or pairs) to the builder's
 * mutator f for target stack[x-1] and drops their handles. */
static int bmutate(dec *d, int (*f)(void *, void *, void *const *, size_t),
                   size_t x, size_t n)
{
    if (d->B) {
        if (hneed(d, x - 1, d->sp) < 0)
            return -1;
        if (f(d->B->ctx, d->hstack[x - 1], d->hstack + x, n) < 0)
            return builder_failed(d);
        hrelease_above(d, x);
    }
    d->sp = x;
    return 0;
}

/* bmutate for APPEND(S) (builder mode): through append_owned when the
 * builder has it, which takes the items' references over. numbers: the
 * items are numbers pushed pending, whose handles push_pending made. */
static int bappend(dec *d, size_t x, int numbers)
{
    if (!d->B->append_owned)
        return bmutate(d, d->B->append, x, d->sp - x);
    if (hneed(d, x - 1, numbers ? x : d->sp) < 0)
        return -1;
    if (d->B->append_owned(d->B->ctx, d->hstack[x - 1], d->hstack + x, d->sp - x) < 0)
        return builder_failed(d);
    memset(d->hstack + x, 0, (d->sp - x) * sizeof *d->hstack);
    d->sp = x;
    return 0;
}

/* APPEND(S): stack[x..sp) appended to stack[x-1], as do_append. */
static int do_append(dec *d, size_t x)
{
    if (x > d->sp || x <= d->fence)
        return batch_underflow(d, "list");
    if (x == d->sp)
        return 0; /* nothing to append: CPython does not look at the target */
    if (d->B && d->ptype[x - 1])
        flush_pending(d); /* the target is a number: refused below */
    pkl_value *t = d->stack[x - 1];
    if (d->B) {
        int how = can_pack(d, t, x);
        if (how) {
            if (pack_items(d, t, x, how == 2) < 0)
                return -1;
            return bappend(d, x, how == 2);
        }
        if (d->pend_lo != SIZE_MAX)
            flush_pending(d);
        if (t->type == PKL_T_LIST && unpack_list(d, t) < 0)
            return -1;
    }
    size_t n = d->sp - x;
    pkl_value **items = d->stack + x;
    pkl_value *list = NULL;
    if (t->type == PKL_T_LIST)
        list = t;
    else if (t->type == PKL_T_OBJECT)
        list = obj_field(d, t, 0);
    else if (t->type == PKL_T_GLOBAL || t->type == PKL_T_PERSID)
        return refuse_call(d, t, "appending");
    else if (t->type == PKL_T_BYTEARRAY) {
        for (size_t i = 0; i < n; i++)
            if (items[i]->type != PKL_T_INT || items[i]->u.i < 0 ||
                items[i]->u.i > 255)
                return fail_at(d, PKL_E_BAD_TYPE, "bytearray items must be "
                               "integers in range(0, 256)");
        if (t->u.s.len > SIZE_MAX / 4 || n > SIZE_MAX / 4)
            return charge(d, SIZE_MAX);
        uint8_t *nb = arena_alloc(d, t->u.s.len + n);
        if (!nb)
            return -1;
        memcpy(nb, t->u.s.ptr, t->u.s.len);
        for (size_t i = 0; i < n; i++)
            nb[t->u.s.len + i] = (uint8_t)items[i]->u.i;
        t->u.s.ptr = nb;
        t->u.s.len += n;
        t->flags_ |= F_OWNED;
        return d->B ? bappend(d, x, 0) : bmutate(d, NULL, x, n);
    } else
        return fail_at(d, PKL_E_BAD_TYPE, "cannot append to a %s",
                       type_name(t));
    if (!list)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (note_child(d, list, items[i]) < 0)
            return -1;
    if (arr_append(d, &list->u.seq.items, &list->u.seq.len, 1, items, n) < 0)
        return -1;
    return d->B ? bappend(d, x, 0) : bmutate(d, NULL, x, n);
}

/* SETITEM(S): pairs stack[x..sp) set into stack[x-1], as do_setitems. */
static int do_setitems(dec *d, size_t x)
{
    if (x > d->sp || x <= d->fence)
        return batch_underflow(d, "dict");
    if (x == d->sp)
        return 0;
    if ((d->sp - x) % 2)
        return fail_at(d, PKL_E_STACK_UNDERFLOW, "odd number of items for "
                       "SETITEMS");
    pkl_value *t = d->stack[x - 1];
    pkl_value *dict = NULL;
    if (t->type == PKL_T_DICT)
        dict = t;
    else if (t->type == PKL_T_OBJECT)
        dict = obj_field(d, t, 1);
    else if (t->type == PKL_T_LIST) {
        /* list.__setitem__(index, value) */
        if (unpack_list(d, t) < 0)
            return -1;
        for (size_t i = x; i < d->sp; i += 2) {
            pkl_value *k = d->stack[i];
            int64_t idx;
            if (k->type == PKL_T_INT)
                idx = k->u.i;
            else if (k->type == PKL_T_BOOL)
                idx = k->u.b;
            else
                return fail_at(d, PKL_E_BAD_TYPE, "list indices must be "
                               "integers, not %s", type_name(k));
            int64_t len = (int64_t)t->u.seq.len;
            if (idx < 0)
                idx += len;
            if (idx < 0 || idx >= len)
                return fail_at(d, PKL_E_BAD_TYPE, "list assignment index out "
                               "of range");
            if (note_child(d, t, d->stack[i + 1]) < 0)
                return -1;
            t->u.seq.items[idx] = d->stack[i + 1];
        }
        return bmutate(d, d->B ? d->B->setitems : NULL, x, (d->sp - x) / 2);
    } else if (t->type == PKL_T_GLOBAL || t->type == PKL_T_PERSID)
        return refuse_call(d, t, "setting items");
    else
        return fail_at(d, PKL_E_BAD_TYPE, "cannot set items of a %s",
                       type_name(t));
    if (!dict)
        return -1;
    for (size_t i = x; i < d->sp; i += 2)
        if (dict_set(d, dict, d->stack[i], d->stack[i + 1]) < 0)
            return -1;
    return bmutate(d, d->B ? d->B->setitems : NULL, x, (d->sp - x) / 2);
}

static int do_build(dec *d)
{
    if (need(d, 2) < 0)
        return -1;
    pkl_value *state = d->stack[d->sp - 1];
    pkl_value *inst = d->stack[d->sp - 2];
    if (inst->type == PKL_T_GLOBAL || inst->type == PKL_T_PERSID) {
        char name[2 * PKL_NAME_MAX + 2] = "a persistent id";
        if (inst->type == PKL_T_GLOBAL)
            global_name(inst->u.global.g, name, sizeof name);
        return fail_at(d, PKL_E_REFUSED_BUILD,
                       "BUILD on %s (BUILD at offset %zu) would set attributes "
                       "of a %s, which no policy can allow", name, d->at,
                       inst->type == PKL_T_GLOBAL ? "class or module" : "persistent object");
    }
    if (inst->type != PKL_T_OBJECT)
        return fail_at(d, PKL_E_BAD_TYPE, "BUILD on a %s: state is not a "
                       "dictionary / %s has no __setstate__", type_name(inst),
                       type_name(inst));
    pkl_object *o = (pkl_object *)inst->u.obj;
    if (o->state) {
        char name[2 * PKL_NAME_MAX + 2];
        global_name(o->g, name, sizeof name);
        return fail_at(d, PKL_E_REFUSED_BUILD,
                       "second BUILD on a %s object (BUILD at offset %zu): "
                       "pickle never writes one", name, d->at);
    }
    if (note_child(d, inst, state) < 0)
        return -1;
    o->state = state;
    if (d->B) {
        if (hneed(d, d->sp - 2, d->sp) < 0)
            return -1;
        if (d->B->build(d->B->ctx, d->hstack[d->sp - 2], d->hstack[d->sp - 1]) < 0)
            return builder_failed(d);
        if (d->B->after_build) {
            void *nh = d->B->after_build(d->B->ctx, d->hstack[d->sp - 2]);
            if (!nh)
                return builder_failed(d);
            hrelease(d, d->hstack[d->sp - 2]);
            d->hstack[d->sp - 2] = nh;
        }
        hrelease_above(d, d->sp - 1);
    }
    d->sp--;
    return 0;
}

/* ===================================================================== */
/* The opcode loop                                                       */
/* ===================================================================== */

/* Latin-1 bytes as a STR node (UTF-8): each byte >= 0x80 is two bytes. */
static pkl_value *latin1_str(dec *d, const uint8_t *p, size_t n)
{
    size_t hi = 0;
    for (size_t k = 0; k < n; k++)
        hi += p[k] >= 0x80;
    if (hi == 0)
        return new_blob(d, PKL_T_STR, p, n);
    if (n > SIZE_MAX / 2) {
        charge(d, SIZE_MAX);
        return NULL;
    }
    pkl_value *v = new_node(d, PKL_T_STR);
    uint8_t *buf = v ? arena_alloc(d, n + hi) : NULL;
    if (!buf)
        return NULL;
    size_t j = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] < 0x80) {
            buf[j++] = p[k];
        } else {
            buf[j++] = (uint8_t)(0xC0 | (p[k] >> 6));
            buf[j++] = (uint8_t)(0x80 | (p[k] & 0x3F));
        }
    }
    v->u.s.ptr = buf;
    v->u.s.len = j;
    v->flags_ |= F_OWNED;
    return v;
}

/* ---- opcode handlers ------------------------------------------------------
 * One per opcode (or family sharing one argument kind), as _pickle.c's
 * load_* functions: each returns 0 to go on or -1 with d->err filled;
 * op_stop returns 1. Errors leave through RETURN_ERROR_IF (fail with a
 * code and message) or CHECK (a helper already filled the error). */

#define RETURN_ERROR_IF(cond, code, ...)                                    \
    do {                                                                    \
        if (cond)                                                           \
            return fail_at(d, (code), __VA_ARGS__);                         \
    } while (0)
#define CHECK(expr)                                                         \
    do {                                                                    \
        if ((expr) < 0)                                                     \
            return -1;                                                      \
    } while (0)

static int op_mark(dec *d, const pkl_op *op)
{
    (void)op;
    RETURN_ERROR_IF(d->nmarks >= d->lim.max_depth, PKL_E_LIMIT_DEPTH,
                    "more than max_depth (%zu) open MARKs", d->lim.max_depth);
    if (d->nmarks == d->mcap) {
        CHECK(charge(d, (d->mcap ? d->mcap : 16) * sizeof *d->marks));
        if (pkli_grow(d->a, (void **)&d->marks, &d->mcap, d->nmarks + 1,
                      sizeof *d->marks) < 0)
            return nomem(d);
    }
    d->marks[d->nmarks++] = d->sp;
    d->fence = d->sp;
    return 0;
}

/* CPython returns the top value and ignores open marks and values below
 * it; pickle.dumps never writes such a stream and pickletools.dis rejects
 * it, so we fail closed (docs/json.md). */
static int op_stop(dec *d, const pkl_op *op)
{
    (void)op;
    RETURN_ERROR_IF(d->sp <= d->fence, PKL_E_BAD_STOP, "%s", d->nmarks
                    ? "STOP with nothing above the open MARK"
                    : "STOP with an empty stack");
    RETURN_ERROR_IF(d->nmarks, PKL_E_BAD_STOP, "STOP with %zu MARK%s still "
                    "open (CPython would return the top value)", d->nmarks,
                    d->nmarks == 1 ? "" : "s");
    RETURN_ERROR_IF(d->sp > 1, PKL_E_STACK_NOT_EMPTY, "STOP with %zu values "
                    "on the stack (CPython would return the top one)", d->sp);
    CHECK(attr_settle(d));
    d->doc->root = d->stack[0];
    if (d->B) { /* the root's reference passes to the caller */
        CHECK(hneed(d, 0, 1));
        d->root_h = d->hstack[0];
        d->hstack[0] = NULL;
        d->sp = 0;
    }
    return 1;
}

static int op_pop(dec *d, const pkl_op *op)
{
    (void)op;
    if (d->nmarks && d->marks[d->nmarks - 1] == d->sp) {
        d->nmarks--;
        d->fence = d->nmarks ? d->marks[d->nmarks - 1] : 0;
        return 0;
    }
    CHECK(need(d, 1));
    if (d->B)
        hrelease_above(d, d->sp - 1);
    d->sp--;
    return 0;
}

static int op_pop_mark(dec *d, const pkl_op *op)
{
    size_t m = 0;
    (void)op;
    CHECK(marker(d, &m));
    if (d->B)
        hrelease_above(d, m);
    d->sp = m;
    return 0;
}

static int op_dup(dec *d, const pkl_op *op)
{
    (void)op;
    CHECK(need(d, 1));
    mark_shared(d, d->stack[d->sp - 1]);
    if (d->B) {
        void *h = d->hstack[d->sp - 1];
        hretain(d, h);
        return hpush(d, d->stack[d->sp - 1], h);
    }
    return push(d, d->stack[d->sp - 1]);
}

static int op_float(dec *d, const pkl_op *op)
{
    if (d->B) {
        uint64_t bits;
        memcpy(&bits, &op->f, sizeof bits);
        return push_pending(d, PKL_T_FLOAT, bits, op);
    }
    pkl_value *v = new_scalar(d, PKL_T_FLOAT);
    if (v)
        v->u.f = op->f;
    return push_new(d, v);
}

/* INT, LONG, BININT*, LONG1, LONG4: the reader gives BOOL ("00"/"01"),
 * INT (fits int64), DECIMAL (text) or BIGINT (two's complement bytes). */
static PKL_INLINE int op_int(dec *d, const pkl_op *op)
{
    pkl_value *v;
    if (op->type == PKL_A_BOOL) {
        CHECK(count_value(d));
        return push_new(d, (pkl_value *)(op->i ? &k_true : &k_false));
    }
    if (op->type == PKL_A_INT) {
        if ((uint64_t)op->i < 256 && d->smallint[op->i]) {
            /* like CPython's small-int cache: ints are immutable and
             * written by value, so one node serves them all */
            CHECK(count_value(d));
            return push_new(d, d->smallint[op->i]);
        }
        if (d->B && (uint64_t)op->i >= 256)
            return push_pending(d, PKL_T_INT, (uint64_t)op->i, op);
        v = new_scalar(d, PKL_T_INT);
        if (v) {
            v->u.i = op->i;
            if ((uint64_t)op->i < 256)
                d->smallint[op->i] = v;
        }
        return push_new(d, v);
    }
    if (op->type == PKL_A_DECIMAL)
        return push_new(d, bigint_from_decimal(d, op->data, op->len));
    /* PKL_A_BIGINT: in the input, or (INT/LONG text in base 2, 8 or 16)
     * in the reader's scratch, which the next opcode reuses: copied then */
    v = new_node(d, PKL_T_BIGINT);
    if (v && (op->data < d->base || op->data >= d->base + d->len)) {
        uint8_t *cp = arena_alloc(d, op->len);
        if (!cp)
            return -1;
        memcpy(cp, op->data, op->len);
        v->u.s.ptr = cp;
        v->u.s.len = bigint_trim(cp, op->len);
        v->flags_ |= F_OWNED;
    } else if (v) {
        v->u.s.ptr = op->data;
        v->u.s.len = bigint_trim(op->data, op->len);
    }
    return push_new(d, v);
}

static int op_const(dec *d, const pkl_op *op)
{
    CHECK(count_value(d));
    return push_new(d, (pkl_value *)(op->code == PKL_OP_NONE ? &k_none
                                 : op->code == PKL_OP_NEWTRUE ? &k_true : &k_false));
}

/* STRING, BINSTRING, SHORT_BINSTRING: Python 2 str, decoded as
 * pickle.loads's `encoding` says (_pickle.c decode_string: "bytes" keeps
 * them, ASCII by default). */
static int op_str8_build(dec *d, const pkl_op *op);

static int op_str8(dec *d, const pkl_op *op)
{
    if (d->B && d->B->str8)
        return op_str8_build(d, op);
    return push_new(d, py2_str(d, op));
}

/* Builder mode with a str8 callback: the builder decodes (any codec); the
 * decoder's own view is the bytes, or the text read as Latin-1 (enough for
 * its checks). */
static int op_str8_build(dec *d, const pkl_op *op)
{
    pkl_value *v = d->str8_bytes ? new_blob(d, PKL_T_BYTES, op->data, op->len)
                                 : latin1_str(d, op->data, op->len);
    if (!v)
        return -1;
    return hpush(d, v, d->B->str8(d->B->ctx, op->data, op->len));
}

static int op_unicode(dec *d, const pkl_op *op)
{
    return push_new(d, new_blob(d, PKL_T_STR, op->data, op->len));
}

static int op_bytes(dec *d, const pkl_op *op)
{
    return push_new(d, new_blob(d, op->code == PKL_OP_BYTEARRAY8 ? PKL_T_BYTEARRAY
                                                              : PKL_T_BYTES,
                                op->data, op->len));
}

static int op_empty(dec *d, const pkl_op *op)
{
    pkl_value *v = op->code == PKL_OP_EMPTY_TUPLE
        ? make_tuple(d, NULL, 0)
        : new_node(d, op->code == PKL_OP_EMPTY_LIST ? PKL_T_LIST
                      : op->code == PKL_OP_EMPTY_DICT ? PKL_T_DICT : PKL_T_SET);
    if (!v)
        return -1;
    if (d->B)
        return hpush(d, v, d->B->container(d->B->ctx, v->type, NULL, 0));
    return push(d, v);
}

/* Replaces stack[from..sp) by v, made from them by a container opcode
 * (builder mode: the builder's container of type from those handles). */
static int collapse(dec *d, pkl_value *v, size_t from, size_t n)
{
    if (d->B) {
        void *h = hcontainer(d, v->type, from, n);
        if (!h)
            return builder_failed(d);
        hrelease_above(d, from);
        d->sp = from;
        return hpush(d, v, h);
    }
    d->sp = from;
    return push(d, v);
}

static int op_tuple_n(dec *d, const pkl_op *op)
{
    size_t n = (size_t)(op->code - PKL_OP_TUPLE1 + 1);
    CHECK(need(d, n));
    pkl_value *v = make_tuple(d, d->stack + d->sp - n, n);
    if (!v)
        return -1;
    return collapse(d, v, d->sp - n, n);
}

/* TUPLE, LIST, DICT, FROZENSET: the items above the topmost MARK. */
static int op_from_mark(dec *d, const pkl_op *op)
{
    size_t m = 0;
    CHECK(marker(d, &m));
    size_t n = d->sp - m;
    pkl_value **items = d->stack + m;
    pkl_value *v;
    if (op->code == PKL_OP_TUPLE) {
        v = make_tuple(d, items, n);
    } else if (op->code == PKL_OP_LIST) {
        v = make_list(d, items, n);
    } else if (op->code == PKL_OP_FROZENSET) {
        v = make_frozenset(d, items, n);
    } else {
        RETURN_ERROR_IF(n % 2, PKL_E_STACK_UNDERFLOW, "odd number of items for DICT");
        v = make_dict(d, items, n / 2);
    }
    if (!v)
        return -1;
    return collapse(d, v, m, op->code == PKL_OP_DICT ? n / 2 : n);
}

/* Where the items added to a container start: the top k - 1 entries
 * (APPEND, SETITEM: single, the container below them), or above the
 * topmost MARK (APPENDS, SETITEMS). */
static int items_from(dec *d, int single, size_t k, size_t *from)
{
    if (!single)
        return marker(d, from);
    CHECK(need(d, k));
    *from = d->sp - (k - 1);
    return 0;
}

static int op_append(dec *d, const pkl_op *op)
{
    size_t m = 0;
    CHECK(items_from(d, op->code == PKL_OP_APPEND, 2, &m));
    return do_append(d, m);
}

static int op_setitem(dec *d, const pkl_op *op)
{
    size_t m = 0;
    CHECK(items_from(d, op->code == PKL_OP_SETITEM, 3, &m));
    return do_setitems(d, m);
}

static int op_additems(dec *d, const pkl_op *op)
{
    size_t m = 0;
    (void)op;
    CHECK(marker(d, &m));
    if (m > d->sp || m <= d->fence)
        return batch_underflow(d, "set");
    if (m == d->sp)
        return 0;
    pkl_value *t = d->stack[m - 1];
    if (t->type == PKL_T_OBJECT || t->type == PKL_T_GLOBAL || t->type == PKL_T_PERSID)
        return refuse_call(d, t, "adding items");
    RETURN_ERROR_IF(t->type != PKL_T_SET, PKL_E_BAD_TYPE, "cannot add items to a %s",
                    type_name(t));
    for (size_t i = m; i < d->sp; i++)
        CHECK(set_add(d, t, d->stack[i]));
    return bmutate(d, d->B ? d->B->additems : NULL, m, d->sp - m);
}

static int op_get(dec *d, const pkl_op *op)
{
    pkl_value *v = NULL;
    void *h;
    RETURN_ERROR_IF(op->type != PKL_A_INT, PKL_E_MEMO_MISSING, "memo index out of range");
    RETURN_ERROR_IF(op->i < 0 || !(v = memo_get(d, (uint64_t)op->i, &h)), PKL_E_MEMO_MISSING,
                    "memo value not found at index %lld", (long long)op->i);
    if (d->B) {
        hretain(d, h);
        return hpush(d, v, h);
    }
    return push(d, v);
}

static int op_put(dec *d, const pkl_op *op)
{
    void *h = NULL;
    CHECK(need(d, 1));
    RETURN_ERROR_IF(op->code != PKL_OP_MEMOIZE && (op->type != PKL_A_INT || op->i < 0),
                    PKL_E_BAD_INT, "negative or huge PUT argument");
    if (d->B) {
        h = d->hstack[d->sp - 1];
        hretain(d, h);
    }
    return memo_put(d, op->code == PKL_OP_MEMOIZE ? d->memo_count : (uint64_t)op->i,
                    d->stack[d->sp - 1], h);
}

static int op_proto(dec *d, const pkl_op *op)
{
    if (op->code == PKL_OP_PROTO)
        d->proto = (int)op->i;
    return 0; /* FRAME: the reader checks frame boundaries */
}

/* The end of a call opcode, once do_call made (and checked) its node v:
 * stack[base..sp) is replaced by v. Builder mode: the builder makes the
 * call, after every check. The callable is stack[base] (INST: base == sp
 * and the builder's global for g). Arguments: the tuple stack[base+1] and,
 * for NEWOBJ_EX, keywords stack[base+2] (args_from == SIZE_MAX), or a new
 * tuple of the nargs values from stack[args_from] (INST, OBJ). A call of
 * the deferred builtins.getattr is the builder's attr (v is the ATTR
 * node attr_call checked). */
static int bcall(dec *d, pkl_value *v, const pkl_global *g, size_t base,
                 size_t args_from, size_t nargs, int is_new)
{
    if (!d->B) {
        d->sp = base;
        return push(d, v);
    }
    const pkl_builder *B = d->B;
    void *h = NULL;
    if (g == d->getattr_g) {
        if (v->type == PKL_T_ATTR)
            h = B->attr(B->ctx, v->u.attr.cls, v->u.attr.name, v->u.attr.len);
    } else {
        if (base < d->sp && args_from != base && hneed(d, base, base + 1) < 0)
            return -1;
        if (args_from == SIZE_MAX && hneed(d, base + 1, d->sp) < 0)
            return -1;
        void *callable = base < d->sp && args_from != base ? d->hstack[base]
                                                            : B->global(B->ctx, g);
        int own_callable = !(base < d->sp && args_from != base);
        void *args = args_from == SIZE_MAX ? d->hstack[base + 1]
                     : callable ? hcontainer(d, PKL_T_TUPLE, args_from, nargs) : NULL;
        void *kwargs = args_from == SIZE_MAX && base + 2 < d->sp ? d->hstack[base + 2]
                                                                : NULL;
        if (callable && args)
            h = B->call(B->ctx, callable, args, kwargs, is_new);
        if (own_callable)
            hrelease(d, callable);
        if (args_from != SIZE_MAX)
            hrelease(d, args);
    }
    if (!h)
        return builder_failed(d);
    hrelease_above(d, base);
    d->sp = base;
    return hpush(d, v, h);
}

/* GLOBAL, STACK_GLOBAL, INST: resolve the name, check it against the
 * policy (lookup_global), then push it or (INST) call it. */
static int op_global(dec *d, const pkl_op *op)
{
    const pkl_global *g;
    pkl_value *v;
    if (op->code == PKL_OP_STACK_GLOBAL) {
        CHECK(need(d, 2));
        pkl_value *mod = d->stack[d->sp - 2], *name = d->stack[d->sp - 1];
        /* CPython raises UnpicklingError; a computed name is how scanners
         * are evaded, so it is reported as a refusal */
        RETURN_ERROR_IF(mod->type != PKL_T_STR || name->type != PKL_T_STR,
                        PKL_E_REFUSED_GLOBAL, "STACK_GLOBAL at offset %zu has "
                        "non-constant operands (module: %s, name: %s); only "
                        "string constants can name a global", d->at,
                        type_name(mod), type_name(name));
        g = lookup_global(d, mod->u.s.ptr, mod->u.s.len, name->u.s.ptr, name->u.s.len);
        if (!g)
            return -1;
        if (d->B)
            hrelease_above(d, d->sp - 2);
        d->sp -= 2;
    } else {
        g = lookup_global(d, op->data, op->len, op->data2, op->len2);
        if (!g)
            return -1;
    }
    if (op->code == PKL_OP_INST) {
        size_t m = 0;
        CHECK(marker(d, &m));
        pkl_value *args = make_tuple(d, d->stack + m, d->sp - m);
        if (!args)
            return -1;
        /* _instantiate: no args -> cls.__new__(cls) for classes */
        int is_new = args->u.seq.len == 0;
        if (!(v = do_call(d, g, args, NULL, is_new)))
            return -1;
        return bcall(d, v, g, m, m, d->sp - m, is_new ? 2 : 0);
    }
    v = new_node(d, PKL_T_GLOBAL);
    if (!v)
        return -1;
    v->u.global.g = g;
    if (d->B)
        return hpush(d, v, NULL); /* made when first needed (hneed) */
    return push(d, v);
}

static int op_obj(dec *d, const pkl_op *op)
{
    size_t m = 0;
    (void)op;
    CHECK(marker(d, &m));
    RETURN_ERROR_IF(d->sp - m < 1, PKL_E_STACK_UNDERFLOW,
                    "OBJ needs a class after its MARK");
    pkl_value *cls = d->stack[m];
    if (cls->type != PKL_T_GLOBAL)
        return refuse_call(d, cls, "instantiating");
    pkl_value *args = make_tuple(d, d->stack + m + 1, d->sp - m - 1);
    if (!args)
        return -1;
    int is_new = args->u.seq.len == 0;
    pkl_value *v = do_call(d, cls->u.global.g, args, NULL, is_new);
    if (!v)
        return -1;
    return bcall(d, v, cls->u.global.g, m, m + 1, d->sp - m - 1, is_new ? 2 : 0);
}

/* REDUCE, NEWOBJ, NEWOBJ_EX: a call of an allowed global. */
static int op_reduce(dec *d, const pkl_op *op)
{
    size_t n = op->code == PKL_OP_NEWOBJ_EX ? 3 : 2;
    CHECK(need(d, n));
    pkl_value *callable = d->stack[d->sp - n];
    pkl_value *args = d->stack[d->sp - n + 1];
    pkl_value *kwargs = n == 3 ? d->stack[d->sp - 1] : NULL;
    if (callable->type != PKL_T_GLOBAL)
        return refuse_call(d, callable, "calling");
    RETURN_ERROR_IF(args->type != PKL_T_TUPLE, PKL_E_BAD_TYPE, "%s argument list "
                    "must be a tuple, not %s", pkli_opname(op->code), type_name(args));
    RETURN_ERROR_IF(kwargs && kwargs->type != PKL_T_DICT, PKL_E_BAD_TYPE,
                    "NEWOBJ_EX keyword arguments must be a dict, not %s",
                    type_name(kwargs));
    for (size_t i = 0; kwargs && i < kwargs->u.dict.len; i++)
        RETURN_ERROR_IF(kwargs->u.dict.kv[2 * i]->type != PKL_T_STR, PKL_E_BAD_TYPE,
                        "keywords must be strings");
    pkl_value *v = do_call(d, callable->u.global.g, args, kwargs,
                           op->code != PKL_OP_REDUCE);
    if (!v)
        return -1;
    return bcall(d, v, callable->u.global.g, d->sp - n, SIZE_MAX, 0,
                 op->code != PKL_OP_REDUCE);
}

static int op_build(dec *d, const pkl_op *op)
{
    (void)op;
    return do_build(d);
}

static int op_persid(dec *d, const pkl_op *op)
{
    pkl_value *id, *v;
    RETURN_ERROR_IF(!pkl_policy_allows_persid(d->policy), PKL_E_REFUSED_PERSID,
                    "persistent id (%s at offset %zu) is not allowed by policy "
                    "'%s'; to allow it add to your policy:  persistent_ids: true",
                    pkli_opname(op->code), d->at, pkl_policy_name(d->policy));
    if (op->code == PKL_OP_PERSID) {
        if (!(id = new_blob(d, PKL_T_STR, op->data, op->len)))
            return -1;
    } else {
        CHECK(need(d, 1));
        id = d->stack[d->sp - 1];
    }
    if (!(v = new_node(d, PKL_T_PERSID)))
        return -1;
    v->u.persid.id = id;
    CHECK(note_child(d, v, id));
    if (d->B) {
        if (op->code != PKL_OP_PERSID)
            CHECK(hneed(d, d->sp - 1, d->sp));
        void *hid = op->code == PKL_OP_PERSID ? d->B->scalar(d->B->ctx, id)
                                              : d->hstack[d->sp - 1];
        void *h = hid ? d->B->persid(d->B->ctx, hid) : NULL;
        if (op->code == PKL_OP_PERSID)
            hrelease(d, hid);
        if (!h)
            return builder_failed(d);
        if (op->code != PKL_OP_PERSID)
            hrelease_above(d, d->sp - 1);
        if (op->code != PKL_OP_PERSID)
            d->sp--;
        return hpush(d, v, h);
    }
    if (op->code != PKL_OP_PERSID)
        d->sp--;
    return push(d, v);
}

static int op_ext(dec *d, const pkl_op *op)
{
    return fail_at(d, PKL_E_REFUSED_EXT, "extension code %lld (%s at offset %zu) "
                   "would import a global through the copyreg extension "
                   "registry, which no policy can allow", (long long)op->i,
                   pkli_opname(op->code), d->at);
}

static int op_next_buffer(dec *d, const pkl_op *op)
{
    (void)op;
    RETURN_ERROR_IF(!d->opt->buffers || d->opt->nbuffers == 0, PKL_E_REFUSED_BUFFER,
                    "NEXT_BUFFER at offset %zu needs out-of-band buffers and "
                    "none were given", d->at);
    RETURN_ERROR_IF(d->nbuf_used >= d->opt->nbuffers, PKL_E_REFUSED_BUFFER,
                    "not enough out-of-band buffers (%zu given)", d->opt->nbuffers);
    CHECK(count_value(d));
    size_t i = d->nbuf_used++;
    if (d->B)
        return hpush(d, (pkl_value *)d->opt->buffers[i], d->B->buffer(d->B->ctx, i));
    return push(d, (pkl_value *)d->opt->buffers[i]);
}

static int op_readonly_buffer(dec *d, const pkl_op *op)
{
    (void)op;
    RETURN_ERROR_IF(!d->opt->buffers || d->opt->nbuffers == 0, PKL_E_REFUSED_BUFFER,
                    "READONLY_BUFFER at offset %zu needs out-of-band buffers and "
                    "none were given", d->at);
    CHECK(need(d, 1));
    pkl_value *v = d->stack[d->sp - 1];
    RETURN_ERROR_IF(v->type != PKL_T_BYTES && v->type != PKL_T_BYTEARRAY,
                    PKL_E_BAD_TYPE, "READONLY_BUFFER on a %s", type_name(v));
    if (d->B) {
        void *h = d->B->readonly(d->B->ctx, d->hstack[d->sp - 1]);
        if (!h)
            return builder_failed(d);
        hrelease(d, d->hstack[d->sp - 1]);
        d->hstack[d->sp - 1] = h;
    }
    return 0;
}

/* Opcode byte -> handler: a flat table-like switch (the compiler inlines
 * the handlers and keeps one indirect jump per opcode). */
static int dispatch(dec *d, const pkl_op *op)
{
    switch (op->code) {
    case PKL_OP_MARK: return op_mark(d, op);
    case PKL_OP_STOP: return op_stop(d, op);
    case PKL_OP_POP: return op_pop(d, op);
    case PKL_OP_POP_MARK: return op_pop_mark(d, op);
    case PKL_OP_DUP: return op_dup(d, op);
    case PKL_OP_FLOAT: case PKL_OP_BINFLOAT: return op_float(d, op);
    case PKL_OP_INT: case PKL_OP_LONG: case PKL_OP_BININT: case PKL_OP_BININT1:
    case PKL_OP_BININT2: case PKL_OP_LONG1: case PKL_OP_LONG4: return op_int(d, op);
    case PKL_OP_NONE: case PKL_OP_NEWTRUE: case PKL_OP_NEWFALSE: return op_const(d, op);
    case PKL_OP_STRING: case PKL_OP_BINSTRING: case PKL_OP_SHORT_BINSTRING:
        return op_str8(d, op);
    case PKL_OP_UNICODE: case PKL_OP_BINUNICODE: case PKL_OP_SHORT_BINUNICODE:
    case PKL_OP_BINUNICODE8: return op_unicode(d, op);
    case PKL_OP_BINBYTES: case PKL_OP_SHORT_BINBYTES: case PKL_OP_BINBYTES8:
    case PKL_OP_BYTEARRAY8: return op_bytes(d, op);
    case PKL_OP_EMPTY_LIST: case PKL_OP_EMPTY_DICT: case PKL_OP_EMPTY_SET:
    case PKL_OP_EMPTY_TUPLE: return op_empty(d, op);
    case PKL_OP_TUPLE1: case PKL_OP_TUPLE2: case PKL_OP_TUPLE3: return op_tuple_n(d, op);
    case PKL_OP_TUPLE: case PKL_OP_LIST: case PKL_OP_DICT: case PKL_OP_FROZENSET:
        return op_from_mark(d, op);
    case PKL_OP_APPEND: case PKL_OP_APPENDS: return op_append(d, op);
    case PKL_OP_SETITEM: case PKL_OP_SETITEMS: return op_setitem(d, op);
    case PKL_OP_ADDITEMS: return op_additems(d, op);
    case PKL_OP_GET: case PKL_OP_BINGET: case PKL_OP_LONG_BINGET: return op_get(d, op);
    case PKL_OP_PUT: case PKL_OP_BINPUT: case PKL_OP_LONG_BINPUT: case PKL_OP_MEMOIZE:
        return op_put(d, op);
    case PKL_OP_PROTO: case PKL_OP_FRAME: return op_proto(d, op);
    case PKL_OP_GLOBAL: case PKL_OP_STACK_GLOBAL: case PKL_OP_INST: return op_global(d, op);
    case PKL_OP_OBJ: return op_obj(d, op);
    case PKL_OP_REDUCE: case PKL_OP_NEWOBJ: case PKL_OP_NEWOBJ_EX: return op_reduce(d, op);
    case PKL_OP_BUILD: return op_build(d, op);
    case PKL_OP_PERSID: case PKL_OP_BINPERSID: return op_persid(d, op);
    case PKL_OP_EXT1: case PKL_OP_EXT2: case PKL_OP_EXT4: return op_ext(d, op);
    case PKL_OP_NEXT_BUFFER: return op_next_buffer(d, op);
    case PKL_OP_READONLY_BUFFER: return op_readonly_buffer(d, op);
    default:
        return fail_at(d, PKL_E_INTERNAL, "opcode %s has no decoder case",
                       pkli_opname(op->code));
    }
}

/* Builder mode, after a handler succeeded: the leaf opcodes pushed the
 * decoder's node through their value-tree handler, and the builder makes
 * the value from it (the other handlers drive the builder themselves).
 * Doing this here, once per opcode and only in builder mode, keeps
 * pkl_decode's per-value path as it was. */
static PKL_NOINLINE int build_leaf(dec *d, const pkl_op *op)
{
    switch (op->code) {
    case PKL_OP_STRING: case PKL_OP_BINSTRING: case PKL_OP_SHORT_BINSTRING:
        if (d->B->str8)
            return 0; /* op_str8_build made it */
        /* fall through */
    case PKL_OP_FLOAT: case PKL_OP_BINFLOAT:
    case PKL_OP_INT: case PKL_OP_LONG: case PKL_OP_BININT: case PKL_OP_BININT1:
    case PKL_OP_BININT2: case PKL_OP_LONG1: case PKL_OP_LONG4:
    case PKL_OP_NONE: case PKL_OP_NEWTRUE: case PKL_OP_NEWFALSE:
    case PKL_OP_UNICODE: case PKL_OP_BINUNICODE: case PKL_OP_SHORT_BINUNICODE:
    case PKL_OP_BINUNICODE8:
    case PKL_OP_BINBYTES: case PKL_OP_SHORT_BINBYTES: case PKL_OP_BINBYTES8:
    case PKL_OP_BYTEARRAY8: {
        void *h = d->B->scalar(d->B->ctx, d->stack[d->sp - 1]);
        d->hstack[d->sp - 1] = h; /* NULL is safe to release */
        return h ? 0 : builder_failed(d);
    }
    default:
        return 0;
    }
}

#undef CHECK
#undef RETURN_ERROR_IF

/* The opcodes that leave pending values unwritten (flush_pending): number
 * pushes, constants, MARK, FRAME, PROTO and APPEND(S), which flushes or
 * packs them itself (do_append). */
static int keeps_pending(int code)
{
    switch (code) {
    case PKL_OP_FLOAT: case PKL_OP_BINFLOAT:
    case PKL_OP_INT: case PKL_OP_LONG: case PKL_OP_BININT: case PKL_OP_BININT1:
    case PKL_OP_BININT2: case PKL_OP_LONG1: case PKL_OP_LONG4:
    case PKL_OP_NONE: case PKL_OP_NEWTRUE: case PKL_OP_NEWFALSE:
    case PKL_OP_MARK: case PKL_OP_FRAME: case PKL_OP_PROTO:
    case PKL_OP_APPEND: case PKL_OP_APPENDS:
        return 1;
    default:
        return 0;
    }
}

/* Builder mode, after a pending number: the BINFLOAT, BININT and BININT2
 * opcodes that follow it (pkli_reader_next_number), run as the loop below
 * runs them, without its general read and dispatch: a big numeric list is
 * mostly such runs. Each is pushed as push_pending pushes it (same node,
 * counts, charges and stack slots), with what stays the same for the run
 * out of the loop; every opcode of the run follows the one before it in
 * the input, so the run of dec grows by one. An int below 256 (op_int's
 * shared node) and anything else are left to the loop. */
static PKL_NOINLINE int run_numbers(dec *d, pkl_reader *r)
{
    const pkl_builder *B = d->B;
    void *(*f64)(void *, double) = B->float64;
    void *(*i64)(void *, int64_t) = B->int64;
    if (!f64 || !i64)
        return 0;
    pkl_op op;
    for (;;) {
        size_t at = r->pos;
        if (!pkli_reader_next_number(r, &op))
            return 0;
        int flt = op.code == PKL_OP_BINFLOAT;
        if (!flt && (uint64_t)op.i < 256) {
            r->pos = at; /* read again by the loop */
            return 0;
        }
        d->at = op.offset;
        d->opcode = op.code;
        uint64_t bits;
        if (flt)
            memcpy(&bits, &op.f, sizeof bits);
        else
            bits = (uint64_t)op.i;
        size_t i = pending_slot(d, flt ? PKL_T_FLOAT : PKL_T_INT, bits, &op);
        if (i == SIZE_MAX)
            return -1;
        d->run_hi = i + 1;
        void *h = flt ? f64(B->ctx, op.f) : i64(B->ctx, op.i);
        d->hstack[i] = h;
        if (!h)
            return builder_failed(d);
    }
}

/* The opcode loop: the one reader hands over each opcode, dispatch runs
 * its handler, until STOP (1) or an error (-1). */
static int run(dec *d, size_t *consumed)
{
    pkl_reader r;
    pkl_op op;
    int rc = -1;
    pkl_reader_init(&r, d->base, d->len, d->a);
    /* the stack exists from the start: `stack + mark` is then never
     * arithmetic on a null pointer (UBSan) */
    if (charge(d, 256 * sizeof *d->stack) < 0)
        goto out;
    if (pkli_grow(d->a, (void **)&d->stack, &d->scap, 256, sizeof *d->stack) < 0) {
        nomem(d);
        goto out;
    }
    if (grow_hstack(d, 0) < 0)
        goto out;
    for (;;) {
        int got = pkli_reader_next_inline(&r, &op, d->err);
        if (got < 0)
            goto out;
        if (got == 0) {
            if (d->len == 0) {
                fail_at(d, PKL_E_EMPTY, "no pickle data");
            } else {
                d->at = d->len;
                d->opcode = -1;
                fail_at(d, PKL_E_TRUNCATED, "pickle data ends before STOP");
            }
            goto out;
        }
        d->at = op.offset;
        d->opcode = op.code;
        if (PKL_UNLIKELY(op.note & PKL_NOTE_DIFFERS)) {
            /* _pickle.c and pickle.py read this text differently (or one
             * refuses it): no single value is right, so it is refused */
            fail_at(d, op.code == PKL_OP_FRAME ? PKL_E_TRUNCATED
                       : op.code == PKL_OP_FLOAT ? PKL_E_BAD_FLOAT
                       : op.type == PKL_A_PAIR ? PKL_E_NO_NEWLINE
                       : PKL_E_BAD_INT,
                    "%s that CPython's two unpicklers read differently%s",
                    op.info->name, op.code == PKL_OP_FRAME
                        ? ": FRAME declares more bytes than remain" : " (text)");
            goto out;
        }
        if (PKL_UNLIKELY(d->pend_lo != SIZE_MAX) && !keeps_pending(op.code))
            flush_pending(d);
        int h = dispatch(d, &op);
        if (PKL_UNLIKELY(d->B != NULL) && h == 0) {
            /* a pending value on top: push_pending made its handle, and
             * the numbers after it are read in one run (or the opcode
             * pushed nothing: MARK, FRAME, PROTO) */
            if (d->sp && d->ptype[d->sp - 1]) {
                if (run_numbers(d, &r) < 0)
                    goto out;
            } else if (build_leaf(d, &op) < 0) {
                goto out;
            }
        }
        if (h < 0)
            goto out;
        if (h > 0) {
            *consumed = op.end;
            rc = 0;
            goto out;
        }
    }
out:
    pkl_reader_free(&r);
    return rc;
}

/* The decode both entry points run: the value tree in a pkl_doc, and
 * (b not NULL) the builder's objects, root in *root. */
static pkl_doc *decode(const void *buf, size_t len, const pkl_decode_options *opt,
                       const pkl_builder *b, void **root, size_t *consumed,
                       pkl_error *err)
{
    dec d;
    memset(&d, 0, sizeof d);
    d.err = err;
    d.opcode = -1;
    pkli_hash_key(&d.hk);
    size_t dummy;
    if (!consumed)
        consumed = &dummy;
    *consumed = 0;
    if (!opt || !opt->policy || (!buf && len)) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_decode needs options with a policy");
        return NULL;
    }
    if (opt->limits) {
        /* a field left 0 takes its default, as everywhere in the API
         * (0 never means unlimited) */
        pkl_limits def;
        pkl_limits_default(&def);
        d.lim = *opt->limits;
        if (!d.lim.max_depth)
            d.lim.max_depth = def.max_depth;
        if (!d.lim.max_memo)
            d.lim.max_memo = def.max_memo;
        if (!d.lim.max_values)
            d.lim.max_values = def.max_values;
        if (!d.lim.max_bytes)
            d.lim.max_bytes = def.max_bytes;
        if (!d.lim.max_json_bytes)
            d.lim.max_json_bytes = def.max_json_bytes;
    } else {
        pkl_policy_limits(opt->policy, &d.lim);
    }
    if (b && b->str8) /* the builder decodes Python 2 str itself */
        d.str8_bytes = opt->encoding && strcmp(opt->encoding, "bytes") == 0;
    else if (py2_options(&d, opt->encoding, opt->errors) < 0)
        return NULL;
    d.py2set = opt->encoding || opt->errors;
    d.B = b;
    d.pend_lo = SIZE_MAX;
    pkl_allocator alloc;
    pkli_alloc_init(&alloc, opt->alloc);
    pkl_doc *doc = pkli_malloc(&alloc, sizeof *doc);
    if (!doc) {
        pkli_error_set(err, PKL_E_NOMEM, 0, -1);
        return NULL;
    }
    memset(doc, 0, sizeof *doc);
    doc->alloc = alloc;
    doc->next_size = ABLOCK_MIN;
    d.doc = doc;
    d.a = &doc->alloc;
    pkli_htab_init(&d.mtab, d.a, PKLI_HT_SIPHASH, &d.hk);
    pkli_htab_init(&d.ktab, d.a, PKLI_HT_HASHED, NULL);
    pkli_htab_init(&d.gtab, d.a, PKLI_HT_HASHED, NULL);
    d.policy = opt->policy;
    d.opt = opt;
    d.base = buf;
    d.len = buf ? len : 0;
    d.eq_budget = 4 * d.lim.max_values + 1000000;

    int rc = run(&d, consumed);

    if (b) { /* every handle the decoder still holds */
        hrelease_above(&d, 0);
        for (size_t i = 0; d.hdense && i < d.dcap; i++)
            hrelease(&d, d.hdense[i]);
        for (size_t i = 0; d.mhh && i < d.mtab.count; i++)
            hrelease(&d, d.mhh[i]);
        if (rc < 0)
            hrelease(&d, d.root_h);
        else
            *root = d.root_h;
    }
    pkli_free(d.a, d.stack);
    pkli_free(d.a, d.hstack);
    pkli_free(d.a, d.pv);
    pkli_free(d.a, d.ptype);
    pkli_free(d.a, d.marks);
    pkli_free(d.a, d.dense);
    pkli_free(d.a, d.hdense);
    pkli_free(d.a, d.mv);
    pkli_free(d.a, d.mhh);
    pkli_htab_free(&d.mtab);
    pkli_htab_free(&d.ktab);
    pkli_htab_free(&d.gtab);
    pkli_free(d.a, d.gl);
    pkli_free(d.a, d.ws);
    if (rc < 0) {
        pkl_doc_free(doc);
        *consumed = 0;
        return NULL;
    }
    pkli_error_clear(err);
    return doc;
}

pkl_doc *pkl_decode(const void *buf, size_t len, const pkl_decode_options *opt,
                    size_t *consumed, pkl_error *err)
{
    return decode(buf, len, opt, NULL, NULL, consumed, err);
}

int pkl_decode_build(const void *buf, size_t len, const pkl_decode_options *opt,
                     const pkl_builder *b, void **root, size_t *consumed,
                     pkl_error *err)
{
    if (root)
        *root = NULL;
    if (!b || !root || !b->scalar || !b->container || !b->append || !b->setitems ||
        !b->additems || !b->global || !b->call || !b->build || !b->persid ||
        !b->attr || !b->buffer || !b->readonly || !b->retain || !b->release) {
        if (consumed)
            *consumed = 0;
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_decode_build needs a builder with every callback "
                        "(str8 may be NULL) and a root pointer");
        return -1;
    }
    pkl_doc *doc = decode(buf, len, opt, b, root, consumed, err);
    if (!doc)
        return -1;
    pkl_doc_free(doc);
    return 0;
}
