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

typedef struct rslot {
    const pkl_value *v; /* NULL = empty */
    uint32_t count;     /* times reached (saturating) */
    uint32_t id;        /* 0 until first emitted with an $id */
} rslot;

typedef struct rmap {
    rslot *t;
    size_t cap, n;
} rmap;

typedef struct jw {
    const pkl_allocator *a;
    pkl_error *err;
    rmap m;
    const pkl_value **vs; /* pre-pass stack */
    size_t vsn, vscap;
    struct frame *fs;     /* emission stack */
    size_t fsn, fscap;
    uint32_t next_id;
    pkli_buf out;
    char *num; /* bigint scratch */
    size_t numcap;
} jw;

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
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

static rslot *rmap_find(rmap *m, const pkl_value *v)
{
    if (!m->cap)
        return NULL;
    size_t p = ptr_hash(v) & (m->cap - 1);
    while (m->t[p].v) {
        if (m->t[p].v == v)
            return &m->t[p];
        p = (p + 1) & (m->cap - 1);
    }
    return NULL;
}

/* Counts one more arrival at v; *first is set when it is the first. */
static int rmap_hit(jw *w, const pkl_value *v, int *first)
{
    rmap *m = &w->m;
    rslot *s = rmap_find(m, v);
    if (s) {
        if (s->count < UINT32_MAX)
            s->count++;
        *first = 0;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 256;
        rslot *nt = pkli_malloc(w->a, ncap * sizeof *nt);
        if (!nt || ncap > SIZE_MAX / sizeof *nt) {
            pkli_free(w->a, nt);
            pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
            return -1;
        }
        memset(nt, 0, ncap * sizeof *nt);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->t[i].v)
                continue;
            size_t p = ptr_hash(m->t[i].v) & (ncap - 1);
            while (nt[p].v)
                p = (p + 1) & (ncap - 1);
            nt[p] = m->t[i];
        }
        pkli_free(w->a, m->t);
        m->t = nt;
        m->cap = ncap;
    }
    size_t p = ptr_hash(v) & (m->cap - 1);
    while (m->t[p].v)
        p = (p + 1) & (m->cap - 1);
    m->t[p].v = v;
    m->t[p].count = 1;
    m->t[p].id = 0;
    m->n++;
    *first = 1;
    return 0;
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
static int push_children(jw *w, const pkl_value *v)
{
    switch (v->type) {
    case PKL_T_LIST: case PKL_T_TUPLE: case PKL_T_SET: case PKL_T_FROZENSET:
        for (size_t i = 0; i < v->u.seq.len; i++)
            if (vs_push(w, v->u.seq.items[i]) < 0)
                return -1;
        return 0;
    case PKL_T_DICT:
        for (size_t i = 0; i < 2 * v->u.dict.len; i++)
            if (vs_push(w, v->u.dict.kv[i]) < 0)
                return -1;
        return 0;
    case PKL_T_PERSID:
        return vs_push(w, v->u.persid.id);
    case PKL_T_OBJECT: {
        const pkl_object *o = v->u.obj;
        if (o->args && push_children(w, o->args) < 0)
            return -1;
        if (o->kwargs && push_children(w, o->kwargs) < 0)
            return -1;
        if (vs_push(w, o->state) < 0)
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

static int count_refs(jw *w, const pkl_value *root)
{
    if (vs_push(w, root) < 0)
        return -1;
    while (w->vsn) {
        const pkl_value *v = w->vs[--w->vsn];
        if (is_ref_container(v)) {
            int first;
            if (rmap_hit(w, v, &first) < 0)
                return -1;
            if (!first)
                continue;
        }
        if (push_children(w, v) < 0)
            return -1;
    }
    return 0;
}

/* ---- scalar rendering ------------------------------------------------------ */

static void put(jw *w, const char *s, size_t n)
{
    pkli_buf_put(&w->out, s, n);
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

static int put_double(jw *w, double f)
{
    if (isnan(f)) {
        PUTS(w, "{\"$float\": \"nan\"}");
        return 0;
    }
    if (isinf(f)) {
        if (f > 0)
            PUTS(w, "{\"$float\": \"inf\"}");
        else
            PUTS(w, "{\"$float\": \"-inf\"}");
        return 0;
    }
    char tmp[40];
    int n = 0;
    if (f == floor(f) && fabs(f) < 1e15 && !(f == 0 && signbit(f))) {
        put_i64(w, (int64_t)f);
        PUTS(w, ".0");
        return 0;
    }
    /* the shortest of 15, 16, 17 significant digits that reads back: for
     * normal doubles a shorter exact form is what %.15g prints (a double
     * carries more than 15 digits); subnormals have fewer digits, so all
     * precisions are tried */
    for (int prec = fabs(f) < 2.2250738585072014e-308 ? 1 : 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, f);
        if (prec == 17 || strtod(tmp, NULL) == f)
            break;
    }
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    put(w, tmp, (size_t)n);
    if (!strpbrk(tmp, ".e"))
        PUTS(w, ".0");
    return 0;
}

/* Decimal text of a two's complement LE integer, by repeated division of
 * 32-bit limbs by 10^9. */
static int put_bigint(jw *w, const uint8_t *le, size_t len)
{
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
    int neg = (le[len - 1] & 0x80) != 0;
    size_t nl = (len + 3) / 4;
    size_t need = nl * sizeof(uint32_t) + nl * 10 + 16;
    if (need > w->numcap) {
        char *nb = pkli_realloc(w->a, w->num, need);
        if (!nb) {
            pkli_error_set(w->err, PKL_E_NOMEM, 0, -1);
            return -1;
        }
        w->num = nb;
        w->numcap = need;
    }
    uint32_t *limbs = (uint32_t *)(void *)w->num;
    char *digits = w->num + nl * sizeof(uint32_t);
    unsigned carry = 1;
    memset(limbs, 0, nl * sizeof *limbs);
    for (size_t k = 0; k < len; k++) {
        uint8_t b = le[k];
        if (neg) {
            unsigned t = (unsigned)(uint8_t)~b + carry;
            b = (uint8_t)t;
            carry = t >> 8;
        }
        limbs[k / 4] |= (uint32_t)b << (8 * (k % 4));
    }
    size_t top = nl;
    while (top && limbs[top - 1] == 0)
        top--;
    size_t nd = 0; /* digits written backwards from the end */
    char *end = digits + nl * 10 + 15;
    char *p = end;
    while (top) {
        uint64_t rem = 0;
        for (size_t k = top; k-- > 0;) {
            uint64_t cur = (rem << 32) | limbs[k];
            limbs[k] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (top && limbs[top - 1] == 0)
            top--;
        for (int k = 0; k < 9; k++) {
            *--p = (char)('0' + rem % 10);
            rem /= 10;
            nd++;
            if (!top && !rem)
                break;
        }
    }
    if (p == end)
        *--p = '0';
    if (neg)
        *--p = '-';
    put(w, p, (size_t)(end - p));
    return 0;
}

static const char hexd[] = "0123456789abcdef";

/* A JSON string from surrogatepass UTF-8: lone surrogates as \udXXX. */
static void put_str(jw *w, const uint8_t *s, size_t n)
{
    PUTS(w, "\"");
    size_t run = 0, i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0xed) {
            i++;
            continue;
        }
        put(w, (const char *)s + run, i - run);
        if (c == 0xed && i + 2 < n + 0 && s[i + 1] >= 0xa0) {
            uint32_t cp;
            pkli_utf8_decode(s + i, n - i, &cp);
            char esc[6] = {'\\', 'u', hexd[cp >> 12], hexd[(cp >> 8) & 15],
                           hexd[(cp >> 4) & 15], hexd[cp & 15]};
            put(w, esc, 6);
            i += 3;
        } else if (c == 0xed) {
            put(w, (const char *)s + i, 1);
            i++;
        } else {
            switch (c) {
            case '"': PUTS(w, "\\\""); break;
            case '\\': PUTS(w, "\\\\"); break;
            case '\n': PUTS(w, "\\n"); break;
            case '\r': PUTS(w, "\\r"); break;
            case '\t': PUTS(w, "\\t"); break;
            case '\b': PUTS(w, "\\b"); break;
            case '\f': PUTS(w, "\\f"); break;
            default: {
                char esc[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
                put(w, esc, 6);
            }
            }
            i++;
        }
        run = i;
    }
    put(w, (const char *)s + run, n - run);
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
        rslot *s = rmap_find(&w->m, v);
        if (s && s->id) {
            PUTS(w, "{\"$ref\": ");
            put_i64(w, s->id);
            PUTS(w, "}");
            return 0;
        }
        if (s && s->count > 1) {
            s->id = ++w->next_id;
            PUTS(w, "{\"$id\": ");
            put_i64(w, s->id);
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
    case PKL_T_BIGINT: return put_bigint(w, v->u.s.ptr, v->u.s.len);
    case PKL_T_FLOAT: return put_double(w, v->u.f);
    case PKL_T_STR: put_str(w, v->u.s.ptr, v->u.s.len); return 0;
    case PKL_T_BYTES:
        PUTS(w, "{\"$bytes\": ");
        put_base64(w, v->u.s.ptr, v->u.s.len);
        PUTS(w, "}");
        return 0;
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

int pkl_json_write(const pkl_doc *doc, FILE *out, size_t max_json_bytes,
                   const pkl_allocator *alloc, pkl_error *err)
{
    pkl_allocator a;
    pkli_alloc_init(&a, alloc);
    jw w;
    memset(&w, 0, sizeof w);
    w.a = &a;
    w.err = err;
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
    if (emit_value(&w, root) < 0)
        goto done;
    while (w.fsn && !w.out.failed)
        if (step(&w) < 0)
            goto done;
    PUTS(&w, "\n");
    if (w.out.failed) {
        if (w.out.over_limit)
            pkli_error_setf(err, PKL_E_LIMIT_JSON, 0, -1,
                            "the JSON document would exceed max_json_bytes "
                            "(%zu)", max_json_bytes);
        else
            pkli_error_set(err, PKL_E_NOMEM, 0, -1);
        goto done;
    }
    if (fwrite(w.out.data, 1, w.out.len, out) != w.out.len) {
        pkli_error_setf(err, PKL_E_IO, 0, -1, "writing the JSON document failed");
        goto done;
    }
    rc = 0;
done:
    pkli_buf_free(&w.out);
    pkli_free(&a, w.m.t);
    pkli_free(&a, w.vs);
    pkli_free(&a, w.fs);
    pkli_free(&a, w.num);
    return rc;
}
