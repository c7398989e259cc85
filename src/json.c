/* json.c -- the pickle-json v1 writer (docs/json.md): a decoded value
 * tree as one line of lossless, deterministic JSON.
 *
 * Two iterative passes over the tree: the first counts how often each
 * container is reached (so shared and cyclic containers get "$id" on their
 * first, depth-first emission and "$ref" afterwards), the second renders
 * into memory under max_json_bytes. Only a complete document is written to
 * the FILE *, so a failure never leaves half a line behind.
 *
 * It must never: recurse over the tree, write a partial document, or print
 * a number that does not parse back to the same value.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>

/* Integers longer than this (two's complement bytes, about 39,000 decimal
 * digits) are refused with PKL_E_LIMIT_JSON: converting binary to decimal
 * is quadratic. */
#define PKL_JSON_MAX_BIGINT_BYTES ((size_t)16 * 1024)

/* ---- container reference counts ------------------------------------------ */

/* The decimal text of an integer (converting is quadratic in the length,
 * and a memoized integer may be referenced many times), or in the counting
 * pass only the size of a long string's JSON. */
typedef struct bigtxt {
    char *txt;          /* NULL: size only */
    size_t len;
} bigtxt;

typedef struct jw {
    const pkl_allocator *a;
    pkl_error *err;
    /* containers by address: val = $id + 1 (1: none given yet), aux =
     * times the pre-pass reached it (saturating) */
    pkli_htab refs;
    /* integers and long strings by address: index + 1 in bt */
    pkli_htab texts;
    bigtxt *bt;
    size_t nbt, btcap;
    const pkl_value **vs; /* pre-pass stack */
    size_t vsn, vscap;
    struct frame *fs;     /* emission stack */
    size_t fsn, fscap;
    uint32_t next_id;
    pkli_buf out;
    char *num; /* bigint scratch */
    size_t numcap;
    /* upper bound of the document's size and other facts from the
     * pre-pass, to decide whether it can be streamed (see pkl_json_write) */
    size_t bound;
    size_t max_bigint;  /* longest BIGINT, bytes */
    size_t opens;       /* bound on simultaneously open frames */
    FILE *stream;       /* non-NULL: flush the buffer here as it fills */
    int io_failed;
    /* counting pass (documents whose bound is over the limit): nothing is
     * stored, `counted` adds up the exact size and stops at the limit */
    int counting;
    size_t counted, count_limit;
} jw;

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Most bytes a scalar can take in the document, plus a separator. */
static size_t scalar_bound(jw *w, const pkl_value *v)
{
    size_t n;
    switch (v->type) {
    case PKL_T_NONE: case PKL_T_BOOL: return 8;
    case PKL_T_INT: return 24;
    case PKL_T_FLOAT: return 32;
    case PKL_T_BIGINT:
        if (v->u.s.len > w->max_bigint)
            w->max_bigint = v->u.s.len;
        n = v->u.s.len > SIZE_MAX / 4 ? SIZE_MAX : 3 * v->u.s.len;
        return sat_add(n, 8);
    case PKL_T_STR:
        n = v->u.s.len > SIZE_MAX / 8 ? SIZE_MAX : 6 * v->u.s.len;
        return sat_add(n, 8);
    case PKL_T_BYTES: case PKL_T_BYTEARRAY:
        n = v->u.s.len > SIZE_MAX / 4 ? SIZE_MAX : 2 * v->u.s.len;
        return sat_add(n, 64);
    case PKL_T_GLOBAL: return 32 + 2 * PKL_NAME_MAX;
    case PKL_T_ATTR: return 48 + 3 * PKL_NAME_MAX;
    default: return 0;
    }
}

/* Most bytes a container adds around its members (brackets, an $id
 * wrapper, a separator and per-member punctuation). */
static size_t container_bound(const pkl_value *v)
{
    size_t per = 8, fixed = 64;
    size_t n = 0;
    switch (v->type) {
    case PKL_T_LIST: case PKL_T_TUPLE: case PKL_T_SET: case PKL_T_FROZENSET:
        n = v->u.seq.len;
        break;
    case PKL_T_DICT:
        n = 2 * v->u.dict.len;
        break;
    case PKL_T_OBJECT: {
        const pkl_object *o = v->u.obj;
        fixed = 160 + 2 * PKL_NAME_MAX;
        n = (o->args ? o->args->u.seq.len : 0) + 1 +
            (o->kwargs ? 2 * o->kwargs->u.dict.len : 0) +
            (o->items ? o->items->u.seq.len : 0) +
            (o->dictitems ? 2 * o->dictitems->u.dict.len : 0);
        break;
    }
    case PKL_T_PERSID:
        n = 1;
        break;
    default:
        break;
    }
    return sat_add(fixed, n > SIZE_MAX / per ? SIZE_MAX : n * per);
}

static int is_ref_container(const pkl_value *v)
{
    switch (v->type) {
    case PKL_T_LIST: case PKL_T_DICT: case PKL_T_SET: case PKL_T_FROZENSET:
    case PKL_T_BYTEARRAY: case PKL_T_OBJECT:
        return 1;
    case PKL_T_TUPLE:
        return v->u.seq.len > 0;
    default:
        return 0;
    }
}

static uint64_t addr_key(const pkl_value *v)
{
    return (uint64_t)(uintptr_t)v;
}

/* Counts one more arrival at v; *first is set when it is the first. */
static int rmap_hit(jw *w, const pkl_value *v, int *first)
{
    pkli_hslot *s = pkli_htab_insert(&w->refs, addr_key(v), 1, first);
    if (!s) {
        pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
        return -1;
    }
    if (s->aux < UINT32_MAX)
        s->aux++;
    return 0;
}

static const bigtxt *bigtxt_find(const jw *w, const pkl_value *v)
{
    const pkli_hslot *s = pkli_htab_find(&w->texts, addr_key(v));
    return s ? &w->bt[s->val - 1] : NULL;
}

static void texts_free(jw *w)
{
    for (size_t i = 0; i < w->nbt; i++)
        pkli_free(w->a, w->bt[i].txt);
    pkli_free(w->a, w->bt);
    pkli_htab_free(&w->texts);
    pkli_htab_free(&w->refs);
}

static int vs_push(jw *w, const pkl_value *v)
{
    if (!v)
        return 0;
    if (w->vsn == w->vscap &&
        pkli_grow(w->a, (void **)&w->vs, &w->vscap, w->vsn + 1, sizeof *w->vs) < 0) {
        pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
        return -1;
    }
    w->vs[w->vsn++] = v;
    return 0;
}

/* Pushes the children of v that are written in value position. The
 * object's args/kwargs/items/dictitems containers are written inline
 * (transparent), so their members are pushed instead of them. */
/* Pushes the children of v that are written in value position, and adds
 * the size bound of its scalar children. The object's args/kwargs/items/
 * dictitems containers are written inline (transparent), so their members
 * are taken instead of them. */
static int take_child(jw *w, const pkl_value *c)
{
    if (!c)
        return 0;
    if (c->type < PKL_T_LIST && c->type != PKL_T_BYTEARRAY) {
        w->bound = sat_add(w->bound, scalar_bound(w, c));
        return 0;
    }
    return vs_push(w, c);
}

static int push_children(jw *w, const pkl_value *v)
{
    switch (v->type) {
    case PKL_T_LIST: case PKL_T_TUPLE: case PKL_T_SET: case PKL_T_FROZENSET:
        for (size_t i = 0; i < v->u.seq.len; i++)
            if (take_child(w, v->u.seq.items[i]) < 0)
                return -1;
        return 0;
    case PKL_T_DICT:
        for (size_t i = 0; i < 2 * v->u.dict.len; i++)
            if (take_child(w, v->u.dict.kv[i]) < 0)
                return -1;
        return 0;
    case PKL_T_PERSID:
        return take_child(w, v->u.persid.id);
    case PKL_T_OBJECT: {
        const pkl_object *o = v->u.obj;
        if (o->args && push_children(w, o->args) < 0)
            return -1;
        if (o->kwargs && push_children(w, o->kwargs) < 0)
            return -1;
        if (take_child(w, o->state) < 0)
            return -1;
        if (o->items && push_children(w, o->items) < 0)
            return -1;
        if (o->dictitems && push_children(w, o->dictitems) < 0)
            return -1;
        return 0;
    }
    default:
        return 0;
    }
}

/* The pre-pass: reference counts of containers, and an upper bound of the
 * document's size and of its emission stack. */
static int count_refs(jw *w, const pkl_value *root)
{
    if (take_child(w, root) < 0)
        return -1;
    while (w->vsn) {
        const pkl_value *v = w->vs[--w->vsn];
        if (is_ref_container(v)) {
            int first;
            if (rmap_hit(w, v, &first) < 0)
                return -1;
            if (!first) {
                w->bound = sat_add(w->bound, 32); /* {"$ref": N} */
                continue;
            }
        }
        /* open frames: at most one per container, one transparent frame
         * per object, one per persistent-id visit */
        w->opens = sat_add(w->opens, v->type == PKL_T_OBJECT ? 2 : 1);
        w->bound = sat_add(w->bound, container_bound(v));
        if (v->type == PKL_T_BYTEARRAY)
            w->bound = sat_add(w->bound, scalar_bound(w, v));
        if (push_children(w, v) < 0)
            return -1;
    }
    return 0;
}

/* ---- scalar rendering ------------------------------------------------------ */

/* Appends to the document. The common case (room left) is an inlined
 * copy. Otherwise: when streaming, the full chunk goes to the FILE; when
 * rendering into memory, pkli_buf_put grows the buffer and enforces the
 * limit. */
static void put_slow(jw *w, const char *s, size_t n)
{
    pkli_buf *b = &w->out;
    if (w->counting) {
        if (n > w->count_limit - w->counted) {
            b->failed = 1;
            b->over_limit = 1;
        } else {
            w->counted += n;
        }
        return;
    }
    if (!w->stream) {
        pkli_buf_put(b, s, n);
        return;
    }
    if (b->len && fwrite(b->data, 1, b->len, w->stream) != b->len)
        w->io_failed = 1;
    b->len = 0;
    if (n < b->cap) {
        memcpy(b->data, s, n);
        b->len = n;
    } else if (fwrite(s, 1, n, w->stream) != n) {
        w->io_failed = 1;
    }
}

static inline void put(jw *w, const char *s, size_t n)
{
    pkli_buf *b = &w->out;
    if (n < b->cap - b->len && n <= b->limit - b->len && !b->failed) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        return;
    }
    put_slow(w, s, n);
}
/* only for string literals: sizeof gives their length */
#define PUTS(w, lit) put((w), "" lit, sizeof(lit) - 1)

static void put_i64(jw *w, int64_t i)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        *--p = '-';
    put(w, p, (size_t)(tmp + sizeof tmp - p));
}

/* Writes a double as Python's repr() does (pkli_float_repr); nan and
 * infinities, which JSON has no literal for, as {"$float": "..."}. */
static int put_double(jw *w, double d)
{
    if (isnan(d) || isinf(d)) {
        PUTS(w, "{\"$float\": \"");
        char t[PKLI_FLOAT_REPR_MAX];
        put(w, t, pkli_float_repr(d, t));
        PUTS(w, "\"}");
        return 0;
    }
    /* format in place when the output buffer has room (the common case) */
    char tmp[PKLI_FLOAT_REPR_MAX];
    pkli_buf *ob = &w->out;
    int direct = !ob->failed && ob->cap - ob->len > sizeof tmp &&
                 ob->limit - ob->len > sizeof tmp;
    char *buf = direct ? ob->data + ob->len : tmp;
    size_t n = pkli_float_repr(d, buf);
    if (direct)
        ob->len += n;
    else
        put(w, buf, n);
    return 0;
}

/* Scratch for converting an integer of len bytes. */
static int reserve_num(jw *w, size_t len)
{
    size_t nl = (len + 3) / 4;
    size_t need = nl * sizeof(uint32_t) + nl * 10 + 16;
    if (need <= w->numcap)
        return 0;
    char *nb = pkli_realloc(w->a, w->num, need);
    if (!nb)
        return -1;
    w->num = nb;
    w->numcap = need;
    return 0;
}

/* Remembers v's decimal text (a copy), or with txt NULL only the size of
 * v's JSON (strings and bytes in the counting pass); -1 when out of
 * memory. */
static int bigtxt_add(jw *w, const pkl_value *v, const char *txt, size_t len)
{
    char *copy = NULL;
    if (w->nbt >= UINT32_MAX - 1 ||
        pkli_grow(w->a, (void **)&w->bt, &w->btcap, w->nbt + 1,
                  sizeof *w->bt) < 0)
        return -1;
    if (txt) { /* NULL: a size only (counting pass) */
        copy = pkli_malloc(w->a, len ? len : 1);
        if (!copy)
            return -1;
        memcpy(copy, txt, len);
    }
    if (!pkli_htab_add(&w->texts, addr_key(v), (uint32_t)w->nbt + 1)) {
        pkli_free(w->a, copy);
        return -1;
    }
    w->bt[w->nbt++] = (bigtxt){copy, len};
    return 0;
}

/* Decimal text of a two's complement LE integer, by repeated division of
 * 32-bit limbs by 10^9; each node's text is converted once and then
 * copied from the cache. */
static int put_bigint(jw *w, const pkl_value *v)
{
    const uint8_t *le = v->u.s.ptr;
    size_t len = v->u.s.len;
    const bigtxt *cached = bigtxt_find(w, v);
    if (cached) {
        put(w, cached->txt, cached->len);
        return 0;
    }
    if (len > PKL_JSON_MAX_BIGINT_BYTES) {
        pkli_error_setf(w->err, PKL_E_LIMIT_JSON, 0, -1,
                        "an integer of %zu bytes is over the %zu-byte limit "
                        "for integers written as JSON", len,
                        PKL_JSON_MAX_BIGINT_BYTES);
        return -1;
    }
    if (len == 0) {
        PUTS(w, "0");
        return 0;
    }
    size_t nl = (len + 3) / 4;
    if (reserve_num(w, len) < 0) {
        pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
        return -1;
    }
    char *end = w->num + nl * sizeof(uint32_t) + nl * 10 + 15;
    size_t nd = pkli_bigint_digits(le, len, (uint32_t *)(void *)w->num, end);
    const char *p = end - nd;
    if (bigtxt_add(w, v, p, (size_t)(end - p)) < 0) {
        pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
        return -1;
    }
    put(w, p, (size_t)(end - p));
    return 0;
}

static void put_sink(void *w, const char *s, size_t n)
{
    put(w, s, n);
}

/* A JSON string from surrogatepass UTF-8: lone surrogates as \udXXX.
 * Most strings (names, keys) are plain ASCII and are copied at once. */
static void put_str(jw *w, const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    PUTS(w, "\"");
    if (i == n)
        put(w, (const char *)s, n);
    else
        pkli_json_escape(s, n, 1, put_sink, w);
    PUTS(w, "\"");
}

static void put_base64(jw *w, const uint8_t *s, size_t n)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char buf[256];
    size_t k = 0;
    PUTS(w, "\"");
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        buf[k++] = b64[v >> 18];
        buf[k++] = b64[(v >> 12) & 63];
        buf[k++] = b64[(v >> 6) & 63];
        buf[k++] = b64[v & 63];
        if (k >= sizeof buf - 4) {
            put(w, buf, k);
            k = 0;
        }
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        buf[k++] = b64[v >> 18];
        buf[k++] = b64[(v >> 12) & 63];
        buf[k++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        buf[k++] = '=';
    }
    put(w, buf, k);
    PUTS(w, "\"");
}

static void put_global(jw *w, const pkl_global *g)
{
    PUTS(w, "\"");
    put(w, g->module, strlen(g->module));
    PUTS(w, ".");
    put(w, g->qualname, strlen(g->qualname));
    PUTS(w, "\"");
}

/* ---- emission ------------------------------------------------------------------ */

enum fkind {
    FK_SEQ,       /* items of a seq; then `close` */
    FK_DICTOBJ,   /* "key": value members; then `close` */
    FK_PAIRS,     /* [key, value] pairs; then `close` */
    FK_OBJECT,    /* the fields of an object; then `close` */
    FK_PERSID     /* the id; then `close` */
};

typedef struct frame {
    const pkl_value *v;
    size_t i;
    uint8_t kind;
    uint8_t phase;
    uint8_t wrapped; /* inside {"$id": N, "$value": ...}: one more '}' */
    const char *close;
} frame;

static int frame_push(jw *w, const pkl_value *v, int kind, const char *close,
                      int wrapped)
{
    if (w->fsn == w->fscap &&
        pkli_grow(w->a, (void **)&w->fs, &w->fscap, w->fsn + 1, sizeof *w->fs) < 0) {
        pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
        return -1;
    }
    w->fs[w->fsn++] = (frame){v, 0, (uint8_t)kind, 0, (uint8_t)wrapped, close};
    return 0;
}

static int dict_plain(const pkl_value *v)
{
    for (size_t i = 0; i < v->u.dict.len; i++) {
        const pkl_value *k = v->u.dict.kv[2 * i];
        if (k->type != PKL_T_STR || (k->u.s.len && k->u.s.ptr[0] == '$'))
            return 0;
    }
    return 1;
}

/* Writes a value in value position: scalars at once, containers by
 * opening them and pushing a frame. */
static int emit_value(jw *w, const pkl_value *v)
{
    int wrapped = 0;
    if (is_ref_container(v)) {
        pkli_hslot *s = pkli_htab_find(&w->refs, addr_key(v));
        if (s && s->val > 1) {
            PUTS(w, "{\"$ref\": ");
            put_i64(w, s->val - 1);
            PUTS(w, "}");
            return 0;
        }
        if (s && s->aux > 1) {
            s->val = ++w->next_id + 1;
            PUTS(w, "{\"$id\": ");
            put_i64(w, w->next_id);
            PUTS(w, ", \"$value\": ");
            wrapped = 1;
        }
    }
    switch (v->type) {
    case PKL_T_NONE: PUTS(w, "null"); return 0;
    case PKL_T_BOOL:
        if (v->u.b)
            PUTS(w, "true");
        else
            PUTS(w, "false");
        return 0;
    case PKL_T_INT: put_i64(w, v->u.i); return 0;
    case PKL_T_BIGINT: return put_bigint(w, v);
    case PKL_T_FLOAT: return put_double(w, v->u.f);
    case PKL_T_STR:
    case PKL_T_BYTES: {
        /* counting pass: a long string's size is measured once per node
         * (memo references repeat it), then added per reference */
        int cache = w->counting && v->u.s.len >= 64;
        const bigtxt *known = cache ? bigtxt_find(w, v) : NULL;
        if (known) {
            put_slow(w, NULL, known->len);
            return 0;
        }
        size_t before = w->counted;
        if (v->type == PKL_T_STR) {
            put_str(w, v->u.s.ptr, v->u.s.len);
        } else {
            PUTS(w, "{\"$bytes\": ");
            put_base64(w, v->u.s.ptr, v->u.s.len);
            PUTS(w, "}");
        }
        if (cache && !w->out.failed &&
            bigtxt_add(w, v, NULL, w->counted - before) < 0) {
            pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
            return -1;
        }
        return 0;
    }
    case PKL_T_BYTEARRAY:
        PUTS(w, "{\"$bytearray\": ");
        put_base64(w, v->u.s.ptr, v->u.s.len);
        PUTS(w, "}");
        if (wrapped)
            PUTS(w, "}");
        return 0;
    case PKL_T_GLOBAL:
        PUTS(w, "{\"$global\": ");
        put_global(w, v->u.global.g);
        PUTS(w, "}");
        return 0;
    case PKL_T_ATTR: /* the name is a plain ASCII identifier */
        PUTS(w, "{\"$attr\": ");
        put_global(w, v->u.attr.cls);
        PUTS(w, ", \"name\": \"");
        put(w, (const char *)v->u.attr.name, v->u.attr.len);
        PUTS(w, "\"}");
        return 0;
    case PKL_T_LIST:
        PUTS(w, "[");
        return frame_push(w, v, FK_SEQ, "]", wrapped);
    case PKL_T_TUPLE:
        PUTS(w, "{\"$tuple\": [");
        return frame_push(w, v, FK_SEQ, "]}", wrapped);
    case PKL_T_SET:
        PUTS(w, "{\"$set\": [");
        return frame_push(w, v, FK_SEQ, "]}", wrapped);
    case PKL_T_FROZENSET:
        PUTS(w, "{\"$frozenset\": [");
        return frame_push(w, v, FK_SEQ, "]}", wrapped);
    case PKL_T_DICT:
        if (dict_plain(v)) {
            PUTS(w, "{");
            return frame_push(w, v, FK_DICTOBJ, "}", wrapped);
        }
        PUTS(w, "{\"$dict\": [");
        return frame_push(w, v, FK_PAIRS, "]}", wrapped);
    case PKL_T_OBJECT:
        PUTS(w, "{\"$object\": ");
        put_global(w, v->u.obj->g);
        return frame_push(w, v, FK_OBJECT, "}", wrapped);
    case PKL_T_PERSID:
        PUTS(w, "{\"$persid\": ");
        return frame_push(w, v, FK_PERSID, "}", 0);
    }
    pkli_error_setf(w->err, PKL_E_INTERNAL, 0, -1, "value of unknown type %d",
                    v->type);
    return -1;
}

/* One step of the top frame: writes separators and pushes at most one
 * child, or closes the frame. */
static int step(jw *w)
{
    frame *f = &w->fs[w->fsn - 1];
    const pkl_value *v = f->v;
    switch (f->kind) {
    case FK_SEQ:
        if (f->i < v->u.seq.len) {
            if (f->i)
                PUTS(w, ", ");
            return emit_value(w, v->u.seq.items[f->i++]);
        }
        break;
    case FK_DICTOBJ:
        if (f->i < v->u.dict.len) {
            const pkl_value *k = v->u.dict.kv[2 * f->i];
            if (f->i)
                PUTS(w, ", ");
            put_str(w, k->u.s.ptr, k->u.s.len);
            PUTS(w, ": ");
            return emit_value(w, v->u.dict.kv[2 * f->i++ + 1]);
        }
        break;
    case FK_PAIRS:
        /* phase 0: "[" key; 1: ", " value; 2: "]" */
        if (f->i < v->u.dict.len) {
            if (f->phase == 0) {
                if (f->i)
                    PUTS(w, ", [");
                else
                    PUTS(w, "[");
                f->phase = 1;
                return emit_value(w, v->u.dict.kv[2 * f->i]);
            }
            if (f->phase == 1) {
                PUTS(w, ", ");
                f->phase = 2;
                return emit_value(w, v->u.dict.kv[2 * f->i + 1]);
            }
            PUTS(w, "]");
            f->phase = 0;
            f->i++;
            return 0;
        }
        break;
    case FK_OBJECT: {
        const pkl_object *o = v->u.obj;
        switch (f->phase++) {
        case 0:
            PUTS(w, ", \"args\": [");
            return frame_push(w, o->args, FK_SEQ, "]", 0);
        case 1:
            if (o->kwargs) {
                PUTS(w, ", \"kwargs\": {");
                return frame_push(w, o->kwargs, FK_DICTOBJ, "}", 0);
            }
            return 0;
        case 2:
            if (o->is_new)
                PUTS(w, ", \"new\": true");
            return 0;
        case 3:
            if (o->state) {
                PUTS(w, ", \"state\": ");
                return emit_value(w, o->state);
            }
            return 0;
        case 4:
            if (o->items) {
                PUTS(w, ", \"items\": [");
                return frame_push(w, o->items, FK_SEQ, "]", 0);
            }
            return 0;
        case 5:
            if (o->dictitems) {
                PUTS(w, ", \"dictitems\": [");
                return frame_push(w, o->dictitems, FK_PAIRS, "]", 0);
            }
            return 0;
        default:
            break;
        }
        break;
    }
    case FK_PERSID:
        if (f->phase == 0) {
            f->phase = 1;
            return emit_value(w, v->u.persid.id);
        }
        break;
    }
    put(w, f->close, strlen(f->close));
    if (f->wrapped)
        PUTS(w, "}");
    w->fsn--;
    return 0;
}

/* Writes the whole document and its newline (counted only, in the
 * counting pass); -1 with the error set when the size limit, memory or a
 * writer's error stops it. */
static int emit_document(jw *w, const pkl_value *root, size_t max_json_bytes)
{
    if (emit_value(w, root) < 0)
        return -1;
    while (w->fsn && !w->out.failed)
        if (step(w) < 0)
            return -1;
    PUTS(w, "\n");
    if (!w->out.failed)
        return 0;
    if (w->out.over_limit)
        pkli_error_setf(w->err, PKL_E_LIMIT_JSON, 0, -1,
                        "the JSON document would exceed max_json_bytes "
                        "(%zu)", max_json_bytes);
    else
        pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
    return -1;
}

int pkl_json_write(const pkl_doc *doc, FILE *out, size_t max_json_bytes,
                   const pkl_allocator *alloc, pkl_error *err)
{
    pkl_allocator a;
    pkli_alloc_init(&a, alloc);
    jw w;
    memset(&w, 0, sizeof w);
    w.a = &a;
    w.err = err;
    /* keyed by address, which no input chooses */
    pkli_htab_init(&w.refs, &a, PKLI_HT_MIX, NULL);
    pkli_htab_init(&w.texts, &a, PKLI_HT_MIX, NULL);
    int rc = -1;
    const pkl_value *root = pkl_doc_root(doc);
    if (!root || !out) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_json_write needs a document and a FILE *");
        return -1;
    }
    if (max_json_bytes == 0) {
        pkl_limits l;
        pkl_limits_default(&l);
        max_json_bytes = l.max_json_bytes;
    }
    pkli_error_clear(err);
    pkli_buf_init(&w.out, &a, max_json_bytes);
    if (count_refs(&w, root) < 0)
        goto done;
    w.bound = sat_add(w.bound, 1); /* newline */
    if (w.max_bigint > PKL_JSON_MAX_BIGINT_BYTES) {
        pkli_error_setf(err, PKL_E_LIMIT_JSON, 0, -1,
                        "an integer of %zu bytes is over the %zu-byte limit "
                        "for integers written as JSON", w.max_bigint,
                        PKL_JSON_MAX_BIGINT_BYTES);
        goto done;
    }
    if (w.bound > max_json_bytes) {
        /* The bound is over the limit (often far over: a string memoized
         * once and referenced a million times is written a million
         * times). Measure the exact size first, storing nothing, and
         * refuse before anything is built or written; under the limit it
         * is then streamed like any other document. */
        w.counting = 1;
        w.count_limit = max_json_bytes;
        if (emit_document(&w, root, max_json_bytes) < 0)
            goto done;
        /* fits: rewind ($id numbering starts again) and stream it */
        w.counting = 0;
        w.bound = w.counted;
        w.fsn = 0;
        w.next_id = 0;
        for (size_t i = 0; i < w.refs.cap; i++)
            if (w.refs.slots[i].val)
                w.refs.slots[i].val = 1;
    }
    if (w.bound <= max_json_bytes) {
        /* The document cannot exceed the limit, so it is streamed through
         * a fixed buffer; everything emission could allocate is reserved
         * now, so nothing but an I/O error can stop it half-way. */
        size_t chunk = w.bound < ((size_t)256 << 10) ? w.bound + 1 : (size_t)256 << 10;
        w.out.data = pkli_malloc(&a, chunk);
        if (!w.out.data ||
            pkli_grow(&a, (void **)&w.fs, &w.fscap, w.opens + 2, sizeof *w.fs) < 0 ||
            (w.max_bigint && reserve_num(&w, w.max_bigint) < 0)) {
            pkli_error_set(err, PKL_E_NOMEM, 0, -1);
            goto done;
        }
        w.out.cap = chunk;
        w.stream = out;
    }
    if (emit_document(&w, root, max_json_bytes) < 0)
        goto done;
    if (fwrite(w.out.data, 1, w.out.len, out) != w.out.len || w.io_failed) {
        pkli_error_setf(err, PKL_E_IO, 0, -1, "writing the JSON document failed");
        goto done;
    }
    rc = 0;
done:
    pkli_buf_free(&w.out);
    pkli_free(&a, w.vs);
    pkli_free(&a, w.fs);
    pkli_free(&a, w.num);
    texts_free(&w);
    return rc;
}
