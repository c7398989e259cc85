/* formats_joblib.c -- finds where joblib's inline array bytes sit in a
 * joblib.dump pickle, so the scanner and decoder only see opcodes.
 *
 * joblib's NumpyPickler writes, for each ndarray, a NumpyArrayWrapper
 * object (NEWOBJ + state dict + BUILD), ends the frame, then writes the
 * array straight to the file: for dtypes holding objects a whole protocol-2
 * pickle, otherwise (joblib >= 1.2) one byte giving a padding length, that
 * many padding bytes, then shape * itemsize raw bytes. NumpyUnpickler reads
 * them right after any BUILD that leaves a NumpyArrayWrapper on the stack.
 * To know how many bytes to cut we follow the pickle with a small symbolic
 * stack (values, marks, memo) just detailed enough to read the wrapper's
 * state: shape, dtype (numpy.dtype's reduce arguments and state), and
 * numpy_array_alignment_bytes. Whatever it cannot follow exactly is
 * PKL_E_FORMAT_UNSUPPORTED, so the caller falls back to scanning every
 * byte: this module must never guess a length. It never recurses and never
 * prints.
 */
#include "formats_internal.h"

#define MAX_MEMO ((size_t)1 << 20)
/* Tracking is bounded independently of the input: past this many values
 * (about 100 MiB of bookkeeping) the follower gives up -- the file is then
 * scanned whole and a problem says why. */
#define MAX_NODES ((size_t)1 << 20)
#define MAX_SAVED_TEXT 64 /* longer strings are kept as "other" */

enum { V_OTHER, V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_LIST, V_DICT,
       V_GLOBAL, V_OBJ };

typedef struct jv {
    uint8_t kind;
    int64_t i;          /* INT, BOOL */
    size_t s, slen;     /* STR: text in the arena; GLOBAL: module */
    size_t s2, s2len;   /* GLOBAL: name */
    size_t first, n;    /* TUPLE: items in `items`; DICT: pairs list head */
    size_t cls, args, state; /* OBJ (node indices, SIZE_MAX: none) */
} jv;

typedef struct pair {
    size_t k, v, next;
} pair;

typedef struct jstate {
    const pkl_allocator *a;
    jv *v;
    size_t nv, capv;
    size_t *stack;
    size_t nstack, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    size_t *items;      /* tuple members, contiguous per tuple */
    size_t nitems, capitems;
    pair *pairs;
    size_t npairs, cappairs;
    size_t *memo;       /* node + 1, 0 = unset */
    size_t capmemo;
    size_t memo_count;
    pkli_buf text;
    int over;           /* MAX_NODES reached */
} jstate;

#define NONE_IDX SIZE_MAX

static int fail_nomem(pkl_error *err, size_t off)
{
    pkli_error_setf(err, PKL_E_NOMEM, off, -1, "joblib follower");
    return -1;
}

static size_t new_node(jstate *j, uint8_t kind)
{
    if (j->nv >= MAX_NODES) {
        j->over = 1;
        return NONE_IDX;
    }
    if (pkli_grow(j->a, (void **)&j->v, &j->capv, j->nv + 1, sizeof *j->v) < 0)
        return NONE_IDX;
    jv *x = &j->v[j->nv];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->cls = x->args = x->state = NONE_IDX;
    x->first = NONE_IDX;
    return j->nv++;
}

static int push(jstate *j, size_t node)
{
    if (node == NONE_IDX)
        return -1;
    if (j->nstack >= 4 * MAX_NODES) {
        j->over = 1;
        return -1;
    }
    if (pkli_grow(j->a, (void **)&j->stack, &j->capstack, j->nstack + 1,
                  sizeof *j->stack) < 0)
        return -1;
    j->stack[j->nstack++] = node;
    return 0;
}

static size_t base(const jstate *j)
{
    return j->nmarks ? j->marks[j->nmarks - 1] : 0;
}

/* Saves short text; long text becomes V_OTHER (never compared). */
static size_t text_node(jstate *j, const uint8_t *s, size_t n)
{
    if (n > MAX_SAVED_TEXT)
        return new_node(j, V_OTHER);
    size_t at = j->text.len;
    if (pkli_buf_put(&j->text, s, n) < 0)
        return NONE_IDX;
    size_t x = new_node(j, V_STR);
    if (x != NONE_IDX) {
        j->v[x].s = at;
        j->v[x].slen = n;
    }
    return x;
}

static int text_is(const jstate *j, size_t at, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(j->text.data + at, s, n) == 0;
}

static size_t tuple_from(jstate *j, size_t from)
{
    size_t count = j->nstack - from;
    if (j->nitems + count > 4 * MAX_NODES) {
        j->over = 1;
        return NONE_IDX;
    }
    if (pkli_grow(j->a, (void **)&j->items, &j->capitems, j->nitems + count,
                  sizeof *j->items) < 0)
        return NONE_IDX;
    size_t x = new_node(j, V_TUPLE);
    if (x == NONE_IDX)
        return NONE_IDX;
    j->v[x].first = j->nitems;
    j->v[x].n = count;
    if (count)
        memcpy(j->items + j->nitems, j->stack + from, count * sizeof *j->items);
    j->nitems += count;
    j->nstack = from;
    return x;
}

static int dict_add(jstate *j, size_t d, size_t k, size_t v)
{
    if (j->v[d].kind != V_DICT)
        return 0; /* setitem on something else: nothing we need */
    if (j->npairs >= 4 * MAX_NODES) {
        j->over = 1;
        return -1;
    }
    if (pkli_grow(j->a, (void **)&j->pairs, &j->cappairs, j->npairs + 1,
                  sizeof *j->pairs) < 0)
        return -1;
    j->v[d].n++;
    j->pairs[j->npairs].k = k;
    j->pairs[j->npairs].v = v;
    j->pairs[j->npairs].next = j->v[d].first;
    j->v[d].first = j->npairs++;
    return 0;
}

/* Dicts we read (a wrapper's state: 6 keys; a dtype's fields) are small;
 * bigger ones are not followed, so lookups cannot go quadratic. */
#define MAX_DICT_READ 64

/* Latest value of key `name` in a dict node (later SETITEMs win). */
static size_t dict_get(const jstate *j, size_t d, const char *name)
{
    if (d == NONE_IDX || j->v[d].kind != V_DICT || j->v[d].n > MAX_DICT_READ)
        return NONE_IDX;
    for (size_t p = j->v[d].first; p != NONE_IDX; p = j->pairs[p].next) {
        const jv *k = &j->v[j->pairs[p].k];
        if (k->kind == V_STR && text_is(j, k->s, k->slen, name))
            return j->pairs[p].v;
    }
    return NONE_IDX;
}

static int is_global(const jstate *j, size_t x, const char *mod,
                     const char *name)
{
    if (x == NONE_IDX || j->v[x].kind != V_GLOBAL)
        return 0;
    return text_is(j, j->v[x].s, j->v[x].slen, mod) &&
           text_is(j, j->v[x].s2, j->v[x].s2len, name);
}

static size_t tuple_item(const jstate *j, size_t t, size_t i)
{
    if (t == NONE_IDX || j->v[t].kind != V_TUPLE || i >= j->v[t].n)
        return NONE_IDX;
    return j->items[j->v[t].first + i];
}

static int memo_set(jstate *j, uint64_t idx, size_t node)
{
    if (idx >= MAX_MEMO)
        return -2;
    if (idx >= j->capmemo) {
        size_t cap = j->capmemo;
        if (pkli_grow(j->a, (void **)&j->memo, &cap, (size_t)idx + 1,
                      sizeof *j->memo) < 0)
            return -1;
        memset(j->memo + j->capmemo, 0, (cap - j->capmemo) * sizeof *j->memo);
        j->capmemo = cap;
    }
    if (!j->memo[idx])
        j->memo_count++;
    j->memo[idx] = node + 1;
    return 0;
}

/* dtype facts: itemsize and whether it holds objects. 0, or -1 when the
 * dtype is not one we can follow exactly. */
static int dtype_info(const jstate *j, size_t d, uint64_t *itemsize,
                      int *hasobject, int depth)
{
    if (d == NONE_IDX || j->v[d].kind != V_OBJ ||
        !(is_global(j, j->v[d].cls, "numpy", "dtype") ||
          is_global(j, j->v[d].cls, "numpy.core.multiarray", "dtype")))
        return -1;
    size_t descr = tuple_item(j, j->v[d].args, 0);
    if (descr == NONE_IDX || j->v[descr].kind != V_STR || j->v[descr].slen < 1)
        return -1;
    const char *t = j->text.data + j->v[descr].s;
    size_t n = j->v[descr].slen;
    size_t st = j->v[d].state;
    if (t[0] == 'O') {
        *hasobject = 1;
        *itemsize = 8;
        return 0;
    }
    *hasobject = 0;
    uint64_t num = 0;
    size_t k = 1;
    while (k < n && t[k] >= '0' && t[k] <= '9' && num < UINT32_MAX)
        num = num * 10 + (uint64_t)(t[k++] - '0');
    if (k != n || !strchr("biufcmMSUV", t[0]))
        return -1;
    /* flexible types carry their size in the state (elsize, item 5) */
    size_t el = tuple_item(j, st, 5);
    if (el != NONE_IDX && j->v[el].kind == V_INT && j->v[el].i > 0)
        num = (uint64_t)j->v[el].i;
    else if (t[0] == 'U')
        num *= 4;
    /* structured: every field must be followable; objects anywhere count */
    size_t fields = tuple_item(j, st, 4);
    if (fields != NONE_IDX && j->v[fields].kind != V_NONE) {
        if (j->v[fields].kind != V_DICT || depth > 4 ||
            j->v[fields].n > MAX_DICT_READ)
            return -1;
        for (size_t p = j->v[fields].first; p != NONE_IDX; p = j->pairs[p].next) {
            size_t ft = j->pairs[p].v;
            uint64_t fsz;
            int fobj;
            if (dtype_info(j, tuple_item(j, ft, 0), &fsz, &fobj, depth + 1) < 0)
                return -1;
            *hasobject |= fobj;
        }
    }
    if (num == 0 && t[0] != 'V' && t[0] != 'S' && t[0] != 'U')
        return -1;
    *itemsize = num;
    return 0;
}

static int add_part(pkli_joblib *out, const pkl_allocator *a, size_t off,
                    size_t len, int is_pickle)
{
    if (pkli_grow(a, (void **)&out->parts, &out->cap, out->nparts + 1,
                  sizeof *out->parts) < 0)
        return -1;
    out->parts[out->nparts].offset = off;
    out->parts[out->nparts].len = len;
    out->parts[out->nparts].is_pickle = is_pickle;
    out->nparts++;
    return 0;
}

/* Bytes joblib's read_array consumes at `after`. */
static int array_skip(const jstate *j, size_t wrapper, const uint8_t *buf,
                      size_t len, size_t after, size_t *skip, int *nested,
                      const pkl_allocator *a, pkl_error *err)
{
    size_t st = j->v[wrapper].state;
    size_t shape = dict_get(j, st, "shape");
    size_t dtype = dict_get(j, st, "dtype");
    size_t align = dict_get(j, st, "numpy_array_alignment_bytes");
    uint64_t item, count = 1;
    int hasobject;
    if (shape == NONE_IDX || j->v[shape].kind != V_TUPLE) {
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, after, -1,
                        "joblib: NumpyArrayWrapper state has no shape tuple");
        return -1;
    }
    if (dtype_info(j, dtype, &item, &hasobject, 0) < 0) {
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, after, -1,
                        "joblib: NumpyArrayWrapper dtype cannot be followed");
        return -1;
    }
    if (hasobject) {
        /* pickle.load(file_handle): one whole pickle, up to its STOP */
        pkl_reader r;
        pkl_op op;
        int rc;
        pkl_reader_init(&r, buf, len, a);
        pkl_reader_seek(&r, after);
        while ((rc = pkl_reader_next(&r, &op, err)) == 1 &&
               op.code != PKL_OP_STOP)
            ;
        pkl_reader_free(&r);
        if (rc == 0) {
            pkli_error_setf(err, PKL_E_TRUNCATED, len, -1,
                            "joblib: object array pickle has no STOP");
            return -1;
        }
        if (rc < 0)
            return -1;
        *nested = 1;
        *skip = op.end - after;
        return 0;
    }
    for (size_t i = 0; i < j->v[shape].n; i++) {
        size_t d = tuple_item(j, shape, i);
        if (d == NONE_IDX || j->v[d].kind != V_INT || j->v[d].i < 0) {
            pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, after, -1,
                            "joblib: shape item %zu is not a size", i);
            return -1;
        }
        uint64_t v = (uint64_t)j->v[d].i;
        if (v && count > UINT64_MAX / v) {
            pkli_error_setf(err, PKL_E_BAD_LENGTH, after, -1,
                            "joblib: array size overflows");
            return -1;
        }
        count *= v;
    }
    if (item && count > UINT64_MAX / item) {
        pkli_error_setf(err, PKL_E_BAD_LENGTH, after, -1,
                        "joblib: array size overflows");
        return -1;
    }
    uint64_t need = count * item;
    size_t pad = 0;
    if (align != NONE_IDX && j->v[align].kind != V_NONE) {
        if (after >= len) {
            pkli_error_setf(err, PKL_E_TRUNCATED, after, -1,
                            "joblib: padding byte missing");
            return -1;
        }
        pad = 1 + (size_t)buf[after];
    }
    if (pad > len - after || need > (uint64_t)(len - after - pad)) {
        pkli_error_setf(err, PKL_E_TRUNCATED, after, -1,
                        "joblib: array needs %llu bytes, %zu remain",
                        (unsigned long long)need + pad, len - after);
        return -1;
    }
    *nested = 0;
    *skip = pad + (size_t)need;
    return 0;
}

void pkli_joblib_free(pkli_joblib *jb, const pkl_allocator *a)
{
    pkli_free(a, jb->parts);
    memset(jb, 0, sizeof *jb);
}

#define NEED(k) do { if (j.nstack - base(&j) < (k)) goto underflow; } while (0)
#define PUSHV(x) do { if (push(&j, (x)) < 0) goto nomem; } while (0)

int pkli_joblib_split(const uint8_t *buf, size_t len, const pkl_allocator *a,
                      pkli_joblib *out, pkl_error *err)
{
    jstate j;
    pkl_reader r;
    pkl_op op;
    int rc = -1, got;
    size_t seg = 0;
    memset(&j, 0, sizeof j);
    memset(out, 0, sizeof *out);
    j.a = a;
    pkli_buf_init(&j.text, a, 0);
    pkl_reader_init(&r, buf, len, a);
    for (;;) {
        got = pkl_reader_next(&r, &op, err);
        if (got < 0)
            goto out;
        if (got == 0) {
            pkli_error_setf(err, PKL_E_TRUNCATED, len, -1,
                            "pickle ends without STOP");
            goto out;
        }
        size_t x, y, z;
        switch (op.code) {
        case PKL_OP_PROTO: case PKL_OP_FRAME: case PKL_OP_READONLY_BUFFER:
            break;
        case PKL_OP_STOP:
            if (add_part(out, a, seg, op.end - seg, 1) < 0)
                goto nomem;
            rc = 0;
            goto out;
        case PKL_OP_MARK:
            if (j.nmarks >= MAX_NODES) {
                j.over = 1;
                goto nomem;
            }
            if (pkli_grow(a, (void **)&j.marks, &j.capmarks, j.nmarks + 1,
                          sizeof *j.marks) < 0)
                goto nomem;
            j.marks[j.nmarks++] = j.nstack;
            break;
        case PKL_OP_POP:
            if (j.nstack > base(&j))
                j.nstack--;
            else if (j.nmarks)
                j.nmarks--;
            else
                goto underflow;
            break;
        case PKL_OP_POP_MARK:
            if (!j.nmarks)
                goto nomark;
            j.nstack = j.marks[--j.nmarks];
            break;
        case PKL_OP_DUP:
            NEED(1);
            PUSHV(j.stack[j.nstack - 1]);
            break;
        case PKL_OP_NONE:
            PUSHV(new_node(&j, V_NONE));
            break;
        case PKL_OP_NEWTRUE: case PKL_OP_NEWFALSE:
            x = new_node(&j, V_BOOL);
            if (x != NONE_IDX)
                j.v[x].i = op.code == PKL_OP_NEWTRUE;
            PUSHV(x);
            break;
        case PKL_OP_INT: case PKL_OP_BININT: case PKL_OP_BININT1:
        case PKL_OP_BININT2: case PKL_OP_LONG: case PKL_OP_LONG1:
        case PKL_OP_LONG4:
            x = new_node(&j, op.type == PKL_A_INT ? V_INT
                             : op.type == PKL_A_BOOL ? V_BOOL : V_OTHER);
            if (x != NONE_IDX)
                j.v[x].i = op.i;
            PUSHV(x);
            break;
        case PKL_OP_UNICODE: case PKL_OP_BINUNICODE:
        case PKL_OP_SHORT_BINUNICODE: case PKL_OP_BINUNICODE8:
            PUSHV(text_node(&j, op.data, op.len));
            break;
        case PKL_OP_FLOAT: case PKL_OP_BINFLOAT: case PKL_OP_STRING:
        case PKL_OP_BINSTRING: case PKL_OP_SHORT_BINSTRING:
        case PKL_OP_BINBYTES: case PKL_OP_SHORT_BINBYTES:
        case PKL_OP_BINBYTES8: case PKL_OP_BYTEARRAY8: case PKL_OP_PERSID:
        case PKL_OP_EXT1: case PKL_OP_EXT2: case PKL_OP_EXT4:
        case PKL_OP_NEXT_BUFFER: case PKL_OP_EMPTY_SET:
            PUSHV(new_node(&j, V_OTHER));
            break;
        case PKL_OP_BINPERSID:
            NEED(1);
            j.nstack--;
            PUSHV(new_node(&j, V_OTHER));
            break;
        case PKL_OP_EMPTY_LIST:
            PUSHV(new_node(&j, V_LIST));
            break;
        case PKL_OP_EMPTY_DICT:
            PUSHV(new_node(&j, V_DICT));
            break;
        case PKL_OP_EMPTY_TUPLE:
            PUSHV(tuple_from(&j, j.nstack));
            break;
        case PKL_OP_TUPLE1: case PKL_OP_TUPLE2: case PKL_OP_TUPLE3: {
            size_t k = (size_t)(op.code - PKL_OP_TUPLE1 + 1);
            NEED(k);
            PUSHV(tuple_from(&j, j.nstack - k));
            break;
        }
        case PKL_OP_TUPLE:
            if (!j.nmarks)
                goto nomark;
            x = tuple_from(&j, j.marks[--j.nmarks]);
            PUSHV(x);
            break;
        case PKL_OP_LIST: case PKL_OP_FROZENSET:
            if (!j.nmarks)
                goto nomark;
            j.nstack = j.marks[--j.nmarks];
            PUSHV(new_node(&j, op.code == PKL_OP_LIST ? V_LIST : V_OTHER));
            break;
        case PKL_OP_DICT: {
            if (!j.nmarks)
                goto nomark;
            size_t from = j.marks[--j.nmarks];
            if ((j.nstack - from) % 2)
                goto unsupported;
            x = new_node(&j, V_DICT);
            if (x == NONE_IDX)
                goto nomem;
            for (size_t i = from; i < j.nstack; i += 2)
                if (dict_add(&j, x, j.stack[i], j.stack[i + 1]) < 0)
                    goto nomem;
            j.nstack = from;
            PUSHV(x);
            break;
        }
        case PKL_OP_APPEND:
            NEED(2);
            j.nstack--;
            break;
        case PKL_OP_APPENDS: case PKL_OP_ADDITEMS:
            if (!j.nmarks)
                goto nomark;
            j.nstack = j.marks[--j.nmarks];
            NEED(1);
            break;
        case PKL_OP_SETITEM:
            NEED(3);
            if (dict_add(&j, j.stack[j.nstack - 3], j.stack[j.nstack - 2],
                         j.stack[j.nstack - 1]) < 0)
                goto nomem;
            j.nstack -= 2;
            break;
        case PKL_OP_SETITEMS: {
            if (!j.nmarks)
                goto nomark;
            size_t from = j.marks[--j.nmarks];
            if ((j.nstack - from) % 2 || from == base(&j) || from == 0)
                goto unsupported;
            for (size_t i = from; i < j.nstack; i += 2)
                if (dict_add(&j, j.stack[from - 1], j.stack[i],
                             j.stack[i + 1]) < 0)
                    goto nomem;
            j.nstack = from;
            break;
        }
        case PKL_OP_GLOBAL: {
            size_t at = j.text.len;
            pkli_buf_put(&j.text, op.data, op.len);
            pkli_buf_put(&j.text, op.data2, op.len2);
            if (j.text.failed)
                goto nomem;
            x = new_node(&j, V_GLOBAL);
            if (x == NONE_IDX)
                goto nomem;
            j.v[x].s = at;
            j.v[x].slen = op.len;
            j.v[x].s2 = at + op.len;
            j.v[x].s2len = op.len2;
            PUSHV(x);
            break;
        }
        case PKL_OP_STACK_GLOBAL:
            NEED(2);
            y = j.stack[j.nstack - 1];
            z = j.stack[j.nstack - 2];
            j.nstack -= 2;
            if (j.v[y].kind == V_STR && j.v[z].kind == V_STR) {
                x = new_node(&j, V_GLOBAL);
                if (x == NONE_IDX)
                    goto nomem;
                j.v[x].s = j.v[z].s;
                j.v[x].slen = j.v[z].slen;
                j.v[x].s2 = j.v[y].s;
                j.v[x].s2len = j.v[y].slen;
            } else {
                x = new_node(&j, V_OTHER);
            }
            PUSHV(x);
            break;
        case PKL_OP_REDUCE: case PKL_OP_NEWOBJ:
            NEED(2);
            y = j.stack[j.nstack - 1];
            z = j.stack[j.nstack - 2];
            j.nstack -= 2;
            x = new_node(&j, V_OBJ);
            if (x == NONE_IDX)
                goto nomem;
            j.v[x].cls = z;
            j.v[x].args = y;
            PUSHV(x);
            break;
        case PKL_OP_NEWOBJ_EX:
            NEED(3);
            z = j.stack[j.nstack - 3];
            y = j.stack[j.nstack - 2];
            j.nstack -= 3;
            x = new_node(&j, V_OBJ);
            if (x == NONE_IDX)
                goto nomem;
            j.v[x].cls = z;
            j.v[x].args = y;
            PUSHV(x);
            break;
        case PKL_OP_INST: case PKL_OP_OBJ:
            /* old-style construction: joblib never writes it; a wrapper
             * made this way would be read by NumpyUnpickler too, so we
             * cannot follow the file */
            goto unsupported;
        case PKL_OP_PUT: case PKL_OP_BINPUT: case PKL_OP_LONG_BINPUT: {
            NEED(1);
            if (op.type != PKL_A_INT)
                goto unsupported;
            int m = op.i < 0 ? -2 : memo_set(&j, (uint64_t)op.i,
                                              j.stack[j.nstack - 1]);
            if (m == -1)
                goto nomem;
            if (m == -2)
                goto unsupported;
            break;
        }
        case PKL_OP_MEMOIZE: {
            NEED(1);
            int m = memo_set(&j, j.memo_count, j.stack[j.nstack - 1]);
            if (m == -1)
                goto nomem;
            if (m == -2)
                goto unsupported;
            break;
        }
        case PKL_OP_GET: case PKL_OP_BINGET: case PKL_OP_LONG_BINGET:
            if (op.type != PKL_A_INT)
                goto unsupported;
            if (op.i < 0 || (uint64_t)op.i >= j.capmemo || !j.memo[op.i]) {
                pkli_error_setf(err, PKL_E_MEMO_MISSING, op.offset, op.code,
                                "memo key %lld never stored", (long long)op.i);
                goto out;
            }
            PUSHV(j.memo[op.i] - 1);
            break;
        case PKL_OP_BUILD: {
            NEED(2);
            size_t state = j.stack[--j.nstack];
            size_t obj = j.stack[j.nstack - 1];
            if (j.v[obj].kind != V_OBJ)
                break;
            j.v[obj].state = state;
            if (!is_global(&j, j.v[obj].cls, "joblib.numpy_pickle",
                           "NumpyArrayWrapper"))
                break;
            size_t after = op.end, skip;
            int nested;
            if (r.in_frame && r.frame_end > after) {
                /* the pure-Python unframer already holds the rest of the
                 * frame: the array would come from after it */
                pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, op.offset,
                                op.code, "joblib: array wrapper BUILD inside "
                                "a frame that goes on");
                goto out;
            }
            if (array_skip(&j, obj, buf, len, after, &skip, &nested, a, err) < 0)
                goto out;
            if (add_part(out, a, seg, after - seg, 1) < 0 ||
                add_part(out, a, after, skip, nested ? 2 : 0) < 0)
                goto nomem;
            out->arrays++;
            seg = after + skip;
            pkl_reader_seek(&r, seg);
            /* NumpyUnpickler replaces the wrapper by the array */
            j.stack[j.nstack - 1] = new_node(&j, V_OTHER);
            if (j.stack[j.nstack - 1] == NONE_IDX)
                goto nomem;
            break;
        }
        default:
            goto unsupported;
        }
        continue;
    underflow:
        pkli_error_setf(err, PKL_E_STACK_UNDERFLOW, op.offset, op.code,
                        "%s needs more values than the stack holds",
                        pkli_opname(op.code));
        goto out;
    nomark:
        pkli_error_setf(err, PKL_E_NO_MARK, op.offset, op.code,
                        "%s without a MARK", pkli_opname(op.code));
        goto out;
    unsupported:
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, op.offset, op.code,
                        "joblib: cannot follow %s here",
                        pkli_opname(op.code));
        goto out;
    nomem:
        if (j.over)
            pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, op.offset, op.code,
                            "joblib: more than %zu values to follow (limit)",
                            MAX_NODES);
        else
            fail_nomem(err, op.offset);
        goto out;
    }
out:
    pkl_reader_free(&r);
    pkli_free(a, j.v);
    pkli_free(a, j.stack);
    pkli_free(a, j.marks);
    pkli_free(a, j.items);
    pkli_free(a, j.pairs);
    pkli_free(a, j.memo);
    pkli_buf_free(&j.text);
    if (rc < 0)
        pkli_joblib_free(out, a);
    else
        pkli_error_clear(err);
    return rc;
}
