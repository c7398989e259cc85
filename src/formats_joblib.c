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
 * state: shape (counted as read_array counts it: shape_count), dtype
 * (numpy.dtype's reduce arguments and state), and
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
       V_GLOBAL, V_OBJ, V_BYTES };

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

/* APPEND / APPENDS onto a list node (pickle.py load_append, load_appends:
 * the list is the value under the items) and SETITEM(S) onto a dict node:
 * (k, v) goes in the pairs pool, newest first (a list's items have no v:
 * only their count and product are ever read). Anything else is a target
 * we do not need. */
static int pair_add(jstate *j, size_t node, int kind, size_t k, size_t v)
{
    if (j->v[node].kind != kind)
        return 0;
    if (j->npairs >= 4 * MAX_NODES) {
        j->over = 1;
        return -1;
    }
    if (pkli_grow(j->a, (void **)&j->pairs, &j->cappairs, j->npairs + 1,
                  sizeof *j->pairs) < 0)
        return -1;
    j->v[node].n++;
    j->pairs[j->npairs].k = k;
    j->pairs[j->npairs].v = v;
    j->pairs[j->npairs].next = j->v[node].first;
    j->v[node].first = j->npairs++;
    return 0;
}

static int list_add(jstate *j, size_t l, size_t item)
{
    return pair_add(j, l, V_LIST, item, NONE_IDX);
}

static int dict_add(jstate *j, size_t d, size_t k, size_t v)
{
    return pair_add(j, d, V_DICT, k, v);
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

/* numpy's arraydescr_setstate (numpy/_core/src/multiarray/descriptor.c):
 * a state of version 3 or more sets the dtype's flags from the state --
 * item 7 of an 8- or 9-item tuple, 0 for a 7-item one -- whatever the
 * type, and dtype.hasobject is flags & NPY_ITEM_HASOBJECT (0x01). So an
 * 'O' dtype whose state has flags 0 does not hold objects to joblib's
 * read_array (it reads shape x 8 raw bytes, and numpy dereferences them),
 * and an 'f8' with flags 1 does (a nested pickle). Checked against numpy
 * 2.4: dtype('O8').__setstate__((3, '|', None, None, None, -1, -1, 0))
 * gives hasobject False; with 7 items too; version 2 keeps the flags.
 * 1 when the state decides (*has set), 0 when it does not, -1 when it is
 * not a state we can read. */
static int state_hasobject(const jstate *j, size_t st, int *has)
{
    if (st == NONE_IDX)
        return 0;
    if (j->v[st].kind != V_TUPLE)
        return -1;
    size_t ver = tuple_item(j, st, 0), n = j->v[st].n;
    if (ver == NONE_IDX ||
        (j->v[ver].kind != V_INT && j->v[ver].kind != V_BOOL))
        return -1;
    if (j->v[ver].i < 3)
        return 0;
    if (n == 7) {
        *has = 0;
        return 1;
    }
    size_t fl = tuple_item(j, st, 7);
    if ((n != 8 && n != 9) || fl == NONE_IDX ||
        (j->v[fl].kind != V_INT && j->v[fl].kind != V_BOOL) ||
        j->v[fl].i < INT32_MIN || j->v[fl].i > INT32_MAX)
        return -1;
    *has = (int)(j->v[fl].i & 1);
    return 1;
}

static int dtype_info_type(const jstate *j, size_t d, uint64_t *itemsize,
                           int *hasobject, int *unsafe, int depth);

/* dtype facts: itemsize and whether it holds objects (as the state's
 * flags say: what joblib goes by). *unsafe is set when those flags and
 * the type disagree at any level -- an object type without
 * NPY_ITEM_REFCOUNT (numpy reads object pointers from the raw bytes) or
 * a plain one with it (numpy counts references through plain bytes):
 * memory corruption in joblib.load, followed here all the same. 0, or -1
 * when the dtype is not one we can follow exactly. */
static int dtype_info(const jstate *j, size_t d, uint64_t *itemsize,
                      int *hasobject, int *unsafe, int depth)
{
    if (dtype_info_type(j, d, itemsize, hasobject, unsafe, depth) < 0)
        return -1;
    int has, r = state_hasobject(j, j->v[d].state, &has);
    if (r < 0)
        return -1;
    if (r > 0) {
        if (has != *hasobject)
            *unsafe = 1;
        *hasobject = has;
    }
    return 0;
}

/* What the descr and the state's subarray and fields say. */
static int dtype_info_type(const jstate *j, size_t d, uint64_t *itemsize,
                           int *hasobject, int *unsafe, int depth)
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
    /* subarray (state item 2, numpy's `subdtype`): (base dtype, shape);
     * objects in the base make the dtype hold objects (dtype.hasobject),
     * and read_array then unpickles the bytes after the wrapper */
    size_t sub = tuple_item(j, st, 2);
    if (sub != NONE_IDX && j->v[sub].kind != V_NONE) {
        uint64_t bsz;
        int bobj;
        if (j->v[sub].kind != V_TUPLE || depth > 4 ||
            dtype_info(j, tuple_item(j, sub, 0), &bsz, &bobj, unsafe, depth + 1) < 0)
            return -1;
        *hasobject |= bobj;
    }
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
            if (dtype_info(j, tuple_item(j, ft, 0), &fsz, &fobj, unsafe, depth + 1) < 0)
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

/* One shape item as numpy.int64(x) converts it: an int (the follower
 * keeps ints that fit int64; bigger ones are V_OTHER, and int64() raises
 * OverflowError on them) or a bool (True is 1). 0, or -1 when not one we
 * convert exactly. */
static int shape_item(const jstate *j, size_t d, int64_t *v)
{
    if (d == NONE_IDX ||
        (j->v[d].kind != V_INT && j->v[d].kind != V_BOOL))
        return -1;
    *v = j->v[d].i;
    return 0;
}

/* joblib 1.6 numpy_pickle.py NumpyArrayWrapper.read_array: `count = 1`
 * when len(self.shape) == 0, else numpy.multiply.reduce over
 * [numpy.int64(x) for x in self.shape] -- int64 arithmetic, wrapping
 * silently -- all before it looks at the dtype. Any sized shape counts:
 * a tuple or a list (numpy_pickle.py writes a tuple; a list reshapes
 * just as well, so joblib reads on after it), an empty str (reshape('')
 * gives a 0-d array) or dict (count 1, reshape then raises), a str of
 * ASCII digits (its items are one-character strs, which int64() parses:
 * '12' counts 2), bytes or a bytearray (its items are the byte values,
 * and reshape takes it: b'\x02\x03' is shape (2, 3)). The raw-bytes branch then reads count x itemsize bytes
 * (numpy.empty(count) raises first when count < 0) and reshapes; when
 * the reshape raises (a wrapped product, negative items, bools, a str)
 * the load stops there, so resuming the scan after those bytes only adds.
 * Checked against numpy 2.4: int64(True) is 1, int64('3') is 3,
 * a.reshape(b'\x02\x03') is 2 x 3, int64(2.7) is 2 but reshape((2.7,))
 * raises (floats stay unfollowed: the load stops after the read anyway),
 * multiply.reduce([int64(2**62 + 1), int64(4)]) is 4, a.reshape([]) and
 * a.reshape('') give 0-d arrays, reshape({}) and reshape([True, 3])
 * raise. 0 with *count, or -1 when the shape is not one we can count as
 * numpy would (len() or int64() may raise there: the load may stop). */
static int shape_count(const jstate *j, size_t shape, int64_t *count)
{
    *count = 1;
    if (shape == NONE_IDX)
        return -1;
    const jv *s = &j->v[shape];
    uint64_t c = 1;
    if (s->kind == V_DICT)
        return s->n == 0 ? 0 : -1;
    if (s->kind == V_BYTES) { /* its items are ints: the byte values */
        const uint8_t *t = (const uint8_t *)j->text.data + s->s;
        for (size_t i = 0; i < s->slen; i++)
            c *= t[i];
        *count = (int64_t)c;
        return 0;
    }
    if (s->kind == V_STR) {
        const uint8_t *t = (const uint8_t *)j->text.data + s->s;
        for (size_t i = 0; i < s->slen; i++) {
            if (t[i] < '0' || t[i] > '9')
                return -1;
            c *= (uint64_t)(t[i] - '0');
        }
        *count = (int64_t)c;
        return 0;
    }
    if (s->kind != V_TUPLE && s->kind != V_LIST)
        return -1;
    for (size_t i = 0, p = s->first; i < s->n; i++) {
        size_t d;
        if (s->kind == V_TUPLE) {
            d = tuple_item(j, shape, i);
        } else {
            d = j->pairs[p].k;
            p = j->pairs[p].next;
        }
        int64_t v;
        if (shape_item(j, d, &v) < 0)
            return -1;
        c *= (uint64_t)v; /* int64 multiplication, wrapping as numpy's */
    }
    *count = (int64_t)c;
    return 0;
}

/* Bytes joblib's read_array consumes at `after`; *unsafe as dtype_info. */
static int array_skip(const jstate *j, size_t wrapper, const uint8_t *buf,
                      size_t len, size_t after, size_t *skip, int *nested,
                      int *unsafe, const pkl_allocator *a, pkl_error *err)
{
    size_t st = j->v[wrapper].state;
    size_t shape = dict_get(j, st, "shape");
    size_t dtype = dict_get(j, st, "dtype");
    size_t align = dict_get(j, st, "numpy_array_alignment_bytes");
    uint64_t item, count;
    int64_t scount;
    int hasobject;
    if (shape_count(j, shape, &scount) < 0) {
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, after, -1,
                        "joblib: NumpyArrayWrapper shape cannot be counted "
                        "(not a tuple, list or str of ints)");
        return -1;
    }
    if (dtype_info(j, dtype, &item, &hasobject, unsafe, 0) < 0) {
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
    if (scount < 0) {
        /* numpy.empty(count) raises: joblib.load stops before reading */
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, after, -1,
                        "joblib: NumpyArrayWrapper shape counts %lld "
                        "elements (numpy.empty raises)", (long long)scount);
        return -1;
    }
    count = (uint64_t)scount;
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
    pkli_free(a, jb->sides);
    memset(jb, 0, sizeof *jb);
}

/* ---- the follower: one small handler per opcode it must understand ----
 * Everything else takes the generic stack effect from opcodes.def (the
 * pops / pushes columns and the MARK / POPMARK flags, as pickletools
 * records them) and leaves inert values: the follower reads only the
 * wrapper's state (dicts, tuples, short strings, ints, None, globals). */

enum { F_OK = 0, F_STOP = 1, F_UNDERFLOW = -2, F_NOMARK = -3,
       F_UNSUPPORTED = -4, F_NOMEM = -5, F_ERR = -6 };

typedef struct follower {
    jstate j;
    pkl_reader r;
    const uint8_t *buf;
    size_t len;
    const pkl_allocator *a;
    pkli_joblib *out;
    size_t seg;         /* start of the main-stream part being collected */
    size_t frame_end;   /* end of the last FRAME (0: none since the seek):
                           the pure-Python unframer holds it whole */
} follower;

#define NEED(f, k) do { if ((f)->j.nstack - base(&(f)->j) < (k)) \
                            return F_UNDERFLOW; } while (0)
#define PUSHV(f, x) do { if (push(&(f)->j, (x)) < 0) return F_NOMEM; } while (0)

static size_t pop_mark(jstate *j)
{
    return j->marks[--j->nmarks];
}

/* opcodes.def's stack effect, values inert. */
static int op_generic(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    unsigned fl = op->info->flags;
    if (fl & PKL_OPF_MARK) {
        if (j->nmarks >= MAX_NODES) {
            j->over = 1;
            return F_NOMEM;
        }
        if (pkli_grow(j->a, (void **)&j->marks, &j->capmarks, j->nmarks + 1,
                      sizeof *j->marks) < 0)
            return F_NOMEM;
        j->marks[j->nmarks++] = j->nstack;
        return F_OK;
    }
    if (fl & PKL_OPF_POPMARK) {
        if (!j->nmarks)
            return F_NOMARK;
        j->nstack = pop_mark(j);
    }
    NEED(f, op->info->pops);
    j->nstack -= op->info->pops;
    for (unsigned k = 0; k < op->info->pushes; k++)
        PUSHV(f, new_node(j, V_OTHER));
    return F_OK;
}

static int op_pop(follower *f, const pkl_op *op)
{
    (void)op;
    jstate *j = &f->j;
    if (j->nstack > base(j))
        j->nstack--;
    else if (j->nmarks) /* POP of a MARK pops the mark (_pickle.c load_pop) */
        j->nmarks--;
    else
        return F_UNDERFLOW;
    return F_OK;
}

static int op_dup(follower *f, const pkl_op *op)
{
    (void)op;
    NEED(f, 1);
    PUSHV(f, f->j.stack[f->j.nstack - 1]);
    return F_OK;
}

static int op_none(follower *f, const pkl_op *op)
{
    (void)op;
    PUSHV(f, new_node(&f->j, V_NONE));
    return F_OK;
}

/* Ints and bools (INT's 00/01, NEWTRUE, NEWFALSE: Python's True is the
 * int 1 to every consumer here). */
static int op_int(follower *f, const pkl_op *op)
{
    int newbool = op->code == PKL_OP_NEWTRUE || op->code == PKL_OP_NEWFALSE;
    size_t x = new_node(&f->j, op->type == PKL_A_INT ? V_INT
                               : op->type == PKL_A_BOOL || newbool ? V_BOOL
                                                                   : V_OTHER);
    if (x != NONE_IDX)
        f->j.v[x].i = newbool ? op->code == PKL_OP_NEWTRUE : op->i;
    PUSHV(f, x);
    return F_OK;
}

static int op_text(follower *f, const pkl_op *op)
{
    PUSHV(f, text_node(&f->j, op->data, op->len));
    return F_OK;
}

/* BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8: short ones kept as
 * V_BYTES (a shape may be one), longer ones inert. */
static int op_bytes(follower *f, const pkl_op *op)
{
    size_t x = text_node(&f->j, op->data, op->len);
    if (x != NONE_IDX && f->j.v[x].kind == V_STR)
        f->j.v[x].kind = V_BYTES;
    PUSHV(f, x);
    return F_OK;
}

static int op_empty_dict(follower *f, const pkl_op *op)
{
    (void)op;
    PUSHV(f, new_node(&f->j, V_DICT));
    return F_OK;
}

static int op_tuple(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    size_t from;
    if (op->code == PKL_OP_TUPLE) {
        if (!j->nmarks)
            return F_NOMARK;
        from = pop_mark(j);
    } else {
        NEED(f, op->info->pops);
        from = j->nstack - op->info->pops;
    }
    PUSHV(f, tuple_from(j, from));
    return F_OK;
}

static int op_dict(follower *f, const pkl_op *op)
{
    (void)op;
    jstate *j = &f->j;
    if (!j->nmarks)
        return F_NOMARK;
    size_t from = pop_mark(j);
    if ((j->nstack - from) % 2)
        return F_UNSUPPORTED;
    size_t x = new_node(j, V_DICT);
    if (x == NONE_IDX)
        return F_NOMEM;
    for (size_t i = from; i < j->nstack; i += 2)
        if (dict_add(j, x, j->stack[i], j->stack[i + 1]) < 0)
            return F_NOMEM;
    j->nstack = from;
    PUSHV(f, x);
    return F_OK;
}

static int op_setitem(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    size_t from, d;
    if (op->code == PKL_OP_SETITEM) {
        NEED(f, 3);
        from = j->nstack - 2;
    } else {
        if (!j->nmarks)
            return F_NOMARK;
        from = pop_mark(j);
        if ((j->nstack - from) % 2 || from == base(j) || from == 0)
            return F_UNSUPPORTED;
    }
    d = j->stack[from - 1];
    for (size_t i = from; i < j->nstack; i += 2)
        if (dict_add(j, d, j->stack[i], j->stack[i + 1]) < 0)
            return F_NOMEM;
    j->nstack = from;
    return F_OK;
}

static int op_empty_list(follower *f, const pkl_op *op)
{
    (void)op;
    PUSHV(f, new_node(&f->j, V_LIST));
    return F_OK;
}

/* LIST: the items above the mark, in a new list (pickle.py load_list). */
static int op_list(follower *f, const pkl_op *op)
{
    (void)op;
    jstate *j = &f->j;
    if (!j->nmarks)
        return F_NOMARK;
    size_t from = pop_mark(j);
    size_t x = new_node(j, V_LIST);
    if (x == NONE_IDX)
        return F_NOMEM;
    for (size_t i = from; i < j->nstack; i++)
        if (list_add(j, x, j->stack[i]) < 0)
            return F_NOMEM;
    j->nstack = from;
    PUSHV(f, x);
    return F_OK;
}

/* APPEND (value onto stack[-2]) and APPENDS (the items above the mark
 * onto the value under it): pickle.py load_append, load_appends. */
static int op_append(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    size_t from;
    if (op->code == PKL_OP_APPEND) {
        NEED(f, 2);
        from = j->nstack - 1;
    } else {
        if (!j->nmarks)
            return F_NOMARK;
        from = pop_mark(j);
        if (from == base(j) || from == 0)
            return F_UNDERFLOW;
    }
    size_t l = j->stack[from - 1];
    for (size_t i = from; i < j->nstack; i++)
        if (list_add(j, l, j->stack[i]) < 0)
            return F_NOMEM;
    j->nstack = from;
    return F_OK;
}

/* A global node naming text[s, s+slen) . text[s2, s2+s2len), or NONE_IDX. */
static size_t new_global(jstate *j, size_t s, size_t slen, size_t s2,
                         size_t s2len)
{
    size_t x = new_node(j, V_GLOBAL);
    if (x != NONE_IDX) {
        j->v[x].s = s;
        j->v[x].slen = slen;
        j->v[x].s2 = s2;
        j->v[x].s2len = s2len;
    }
    return x;
}

static int make_global(jstate *j, size_t s, size_t slen, size_t s2,
                       size_t s2len)
{
    size_t x = new_global(j, s, slen, s2, s2len);
    if (x == NONE_IDX)
        return F_NOMEM;
    return push(j, x) < 0 ? F_NOMEM : F_OK;
}

/* Keeps a GLOBAL/INST opcode's two text lines; *at is where they start. */
static int keep_names(jstate *j, const pkl_op *op, size_t *at)
{
    *at = j->text.len;
    pkli_buf_put(&j->text, op->data, op->len);
    pkli_buf_put(&j->text, op->data2, op->len2);
    return j->text.failed ? F_NOMEM : F_OK;
}

/* Pushes an object made by calling cls with args (REDUCE, NEWOBJ(_EX),
 * INST, OBJ): what load_build may find as a wrapper. */
static int push_obj(jstate *j, size_t cls, size_t args, int init)
{
    size_t x = new_node(j, V_OBJ);
    if (x == NONE_IDX)
        return F_NOMEM;
    j->v[x].cls = cls;
    j->v[x].args = args;
    j->v[x].i = init; /* __init__ ran with args (REDUCE, INST, OBJ; NEWOBJ
                         only calls cls.__new__) */
    return push(j, x) < 0 ? F_NOMEM : F_OK;
}

static int op_global(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    size_t at;
    if (keep_names(j, op, &at) != F_OK)
        return F_NOMEM;
    return make_global(j, at, op->len, at + op->len, op->len2);
}

static int op_stack_global(follower *f, const pkl_op *op)
{
    (void)op;
    jstate *j = &f->j;
    NEED(f, 2);
    size_t y = j->stack[j->nstack - 1], z = j->stack[j->nstack - 2];
    j->nstack -= 2;
    if (j->v[y].kind == V_STR && j->v[z].kind == V_STR)
        return make_global(j, j->v[z].s, j->v[z].slen, j->v[y].s,
                           j->v[y].slen);
    PUSHV(f, new_node(j, V_OTHER));
    return F_OK;
}

/* REDUCE, NEWOBJ (callable, args) and NEWOBJ_EX (cls, args, kwargs). */
static int op_call(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    size_t n = op->info->pops;
    NEED(f, n);
    size_t cls = j->stack[j->nstack - n], args = j->stack[j->nstack - n + 1];
    j->nstack -= n;
    return push_obj(j, cls, args, op->code == PKL_OP_REDUCE);
}

/* INST and OBJ as pickle.py (the pure-Python _Unpickler that joblib's
 * NumpyUnpickler subclasses) runs them. load_inst reads both lines and
 * calls find_class *before* pop_mark, so without a MARK the global is
 * still asked for (the module imported) and the load then fails: F_NOMARK
 * ends the view after this opcode (pkli_joblib_split). With a MARK, the
 * class is called with the items above it (_instantiate): an object like
 * NEWOBJ's, so a wrapper made this way is a wrapper to load_build too. */
static int op_inst(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    size_t at;
    if (keep_names(j, op, &at) != F_OK)
        return F_NOMEM;
    if (!j->nmarks)
        return F_NOMARK;
    size_t cls = new_global(j, at, op->len, at + op->len, op->len2);
    if (cls == NONE_IDX)
        return F_NOMEM;
    size_t args = tuple_from(j, pop_mark(j));
    if (args == NONE_IDX)
        return F_NOMEM;
    return push_obj(j, cls, args, 1);
}

/* load_obj: args = pop_mark(); cls = args.pop(0) (IndexError when the
 * mark has nothing above it); _instantiate(cls, args). */
static int op_obj(follower *f, const pkl_op *op)
{
    (void)op;
    jstate *j = &f->j;
    if (!j->nmarks)
        return F_NOMARK;
    size_t from = j->marks[j->nmarks - 1];
    if (j->nstack <= from)
        return F_UNDERFLOW;
    j->nmarks--;
    size_t cls = j->stack[from];
    size_t args = tuple_from(j, from + 1);
    if (args == NONE_IDX)
        return F_NOMEM;
    j->nstack = from;
    return push_obj(j, cls, args, 1);
}

static int memo_result(int m)
{
    return m == -1 ? F_NOMEM : m == -2 ? F_UNSUPPORTED : F_OK;
}

static int op_put(follower *f, const pkl_op *op)
{
    jstate *j = &f->j;
    NEED(f, 1);
    if (op->code == PKL_OP_MEMOIZE)
        return memo_result(memo_set(j, j->memo_count, j->stack[j->nstack - 1]));
    if (op->type != PKL_A_INT || op->i < 0)
        return F_UNSUPPORTED;
    return memo_result(memo_set(j, (uint64_t)op->i, j->stack[j->nstack - 1]));
}

static int op_get(follower *f, const pkl_op *op, pkl_error *err)
{
    jstate *j = &f->j;
    if (op->type != PKL_A_INT)
        return F_UNSUPPORTED;
    if (op->i < 0 || (uint64_t)op->i >= j->capmemo || !j->memo[op->i]) {
        pkli_error_setf(err, PKL_E_MEMO_MISSING, op->offset, op->code,
                        "memo key %lld never stored", (long long)op->i);
        return F_ERR;
    }
    PUSHV(f, j->memo[op->i] - 1);
    return F_OK;
}

static int op_frame(follower *f, const pkl_op *op)
{
    f->frame_end = op->end + (size_t)op->i;
    return F_OK;
}

/* BINSTRING / SHORT_BINSTRING: the pure-Python _Unpickler joblib uses
 * decodes them with its default encoding, ASCII (pickle.py
 * _decode_string), so ASCII text is a str to it; anything else fails
 * there or stays bytes: never compared. */
static int op_str8(follower *f, const pkl_op *op)
{
    for (size_t i = 0; i < op->len; i++)
        if (op->data[i] >= 0x80) {
            PUSHV(f, new_node(&f->j, V_OTHER));
            return F_OK;
        }
    return op_text(f, op);
}

/* The pre-0.10 wrappers (joblib/numpy_pickle_compat.py): the classes as
 * old pickles name them (joblib.numpy_pickle, which still imports them)
 * and where they live now. 0: not one, 1: NDArrayWrapper, 2: ZNDArrayWrapper. */
static int old_wrapper(const jstate *j, size_t cls)
{
    static const char *const mods[] = { "joblib.numpy_pickle",
                                        "joblib.numpy_pickle_compat" };
    for (int m = 0; m < 2; m++) {
        if (is_global(j, cls, mods[m], "NDArrayWrapper"))
            return 1;
        if (is_global(j, cls, mods[m], "ZNDArrayWrapper"))
            return 2;
    }
    return 0;
}

/* The `filename` a wrapper holds after load_build set `state` on it
 * (pickle.py load_build: a (state, slotstate) pair sets the dict first,
 * then the slot items with setattr, so slotstate wins; without one,
 * what __init__ stored when REDUCE/INST/OBJ called the class: its first
 * argument). *known 0: cannot tell (a state or name we do not follow). */
static size_t wrapper_filename(const jstate *j, size_t obj, size_t state,
                               int *known)
{
    size_t name = NONE_IDX, dict = state, slots = NONE_IDX;
    *known = 1;
    if (state != NONE_IDX && j->v[state].kind == V_TUPLE &&
        j->v[state].n == 2) {
        dict = tuple_item(j, state, 0);
        slots = tuple_item(j, state, 1);
    }
    size_t parts[2] = { slots, dict };
    for (int k = 0; k < 2 && name == NONE_IDX; k++) {
        size_t d = parts[k];
        if (d == NONE_IDX || j->v[d].kind == V_NONE)
            continue;
        if (j->v[d].kind != V_DICT || j->v[d].n > MAX_DICT_READ) {
            *known = 0;
            return NONE_IDX;
        }
        name = dict_get(j, d, "filename");
    }
    if (name == NONE_IDX && j->v[obj].i)
        name = tuple_item(j, j->v[obj].args, 0);
    if (name == NONE_IDX)
        return NONE_IDX; /* no filename: read() fails on the attribute */
    if (j->v[name].kind != V_STR)
        *known = 0;
    return name;
}

static int add_side(pkli_joblib *out, const pkl_allocator *a, size_t off,
                    int zfile, const jstate *j, size_t name, int known)
{
    if (pkli_grow(a, (void **)&out->sides, &out->capsides, out->nsides + 1,
                  sizeof *out->sides) < 0)
        return -1;
    pkli_joblib_side *sd = &out->sides[out->nsides++];
    memset(sd, 0, sizeof *sd);
    sd->offset = off;
    sd->zfile = zfile;
    sd->known = known;
    if (known) {
        const uint8_t *t = (const uint8_t *)j->text.data + j->v[name].s;
        size_t n = j->v[name].slen;
        memcpy(sd->name, t, n);
        sd->namelen = n;
        /* os.path.join(dirname, name): an absolute name replaces the
         * directory; a '..' component climbs out of it */
        sd->outside = n > 0 && t[0] == '/';
        for (size_t i = 0; i < n && !sd->outside;) {
            size_t e = i;
            while (e < n && t[e] != '/')
                e++;
            if (e - i == 2 && t[i] == '.' && t[i + 1] == '.')
                sd->outside = 1;
            i = e + 1;
        }
    }
    return 0;
}

/* BUILD: state onto the object; on a NumpyArrayWrapper joblib's
 * NumpyUnpickler.load_build reads the array from the file right here; on
 * an NDArrayWrapper / ZNDArrayWrapper (NumpyUnpickler.load_build and
 * numpy_pickle_compat.py ZipNumpyUnpickler.load_build) it reads a side
 * file named by the wrapper, os.path.join(the pickle's directory,
 * filename): numpy.load(allow_pickle=True) or read_zfile. Nothing is
 * read from the pickle stream itself; the side file is recorded. */
static int op_build(follower *f, const pkl_op *op, pkl_error *err)
{
    jstate *j = &f->j;
    NEED(f, 2);
    size_t state = j->stack[--j->nstack];
    size_t obj = j->stack[j->nstack - 1];
    if (j->v[obj].kind != V_OBJ)
        return F_OK;
    j->v[obj].state = state;
    int old = old_wrapper(j, j->v[obj].cls);
    if (old) {
        int known;
        size_t name = wrapper_filename(j, obj, state, &known);
        if (name != NONE_IDX || !known) {
            if (add_side(f->out, f->a, op->offset, old == 2, j, name, known) < 0)
                return F_NOMEM;
        }
        j->stack[j->nstack - 1] = new_node(j, V_OTHER);
        return j->stack[j->nstack - 1] == NONE_IDX ? F_NOMEM : F_OK;
    }
    if (!is_global(j, j->v[obj].cls, "joblib.numpy_pickle", "NumpyArrayWrapper"))
        return F_OK;
    size_t after = op->end, skip;
    int nested;
    if (f->frame_end > after) {
        /* the pure-Python unframer already holds the rest of the frame:
         * the array would come from after it */
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, op->offset, op->code,
                        "joblib: array wrapper BUILD inside a frame that "
                        "goes on");
        return F_ERR;
    }
    int unsafe = 0;
    if (array_skip(j, obj, f->buf, f->len, after, &skip, &nested, &unsafe,
                   f->a, err) < 0)
        return F_ERR;
    if (unsafe && f->out->unsafe++ == 0)
        f->out->unsafe_at = op->offset;
    if (add_part(f->out, f->a, f->seg, after - f->seg, 1) < 0 ||
        add_part(f->out, f->a, after, skip, nested ? 2 : 0) < 0)
        return F_NOMEM;
    f->out->arrays++;
    f->seg = after + skip;
    pkl_reader_seek(&f->r, f->seg);
    f->frame_end = 0;
    /* NumpyUnpickler replaces the wrapper by the array */
    j->stack[j->nstack - 1] = new_node(j, V_OTHER);
    return j->stack[j->nstack - 1] == NONE_IDX ? F_NOMEM : F_OK;
}

static int op_stop(follower *f, const pkl_op *op)
{
    return add_part(f->out, f->a, f->seg, op->end - f->seg, 1) < 0 ? F_NOMEM
                                                                  : F_STOP;
}

/* One opcode. F_* result. */
static int step(follower *f, const pkl_op *op, pkl_error *err)
{
    switch ((pkl_opcode)op->code) {
    case PKL_OP_STOP: return op_stop(f, op);
    case PKL_OP_FRAME: return op_frame(f, op);
    case PKL_OP_POP: return op_pop(f, op);
    case PKL_OP_DUP: return op_dup(f, op);
    case PKL_OP_NONE: return op_none(f, op);
    case PKL_OP_INT: case PKL_OP_BININT: case PKL_OP_BININT1:
    case PKL_OP_BININT2: case PKL_OP_LONG: case PKL_OP_LONG1:
    case PKL_OP_LONG4: case PKL_OP_NEWTRUE: case PKL_OP_NEWFALSE:
        return op_int(f, op);
    case PKL_OP_UNICODE: case PKL_OP_BINUNICODE:
    case PKL_OP_SHORT_BINUNICODE: case PKL_OP_BINUNICODE8:
        return op_text(f, op);
    case PKL_OP_BINSTRING: case PKL_OP_SHORT_BINSTRING:
        return op_str8(f, op);
    case PKL_OP_BINBYTES: case PKL_OP_SHORT_BINBYTES:
    case PKL_OP_BINBYTES8: case PKL_OP_BYTEARRAY8:
        return op_bytes(f, op);
    case PKL_OP_EMPTY_DICT: return op_empty_dict(f, op);
    case PKL_OP_EMPTY_TUPLE: case PKL_OP_TUPLE1: case PKL_OP_TUPLE2:
    case PKL_OP_TUPLE3: case PKL_OP_TUPLE:
        return op_tuple(f, op);
    case PKL_OP_DICT: return op_dict(f, op);
    case PKL_OP_EMPTY_LIST: return op_empty_list(f, op);
    case PKL_OP_LIST: return op_list(f, op);
    case PKL_OP_APPEND: case PKL_OP_APPENDS: return op_append(f, op);
    case PKL_OP_SETITEM: case PKL_OP_SETITEMS: return op_setitem(f, op);
    case PKL_OP_GLOBAL: return op_global(f, op);
    case PKL_OP_STACK_GLOBAL: return op_stack_global(f, op);
    case PKL_OP_REDUCE: case PKL_OP_NEWOBJ: case PKL_OP_NEWOBJ_EX:
        return op_call(f, op);
    case PKL_OP_INST: return op_inst(f, op);
    case PKL_OP_OBJ: return op_obj(f, op);
    case PKL_OP_PUT: case PKL_OP_BINPUT: case PKL_OP_LONG_BINPUT:
    case PKL_OP_MEMOIZE:
        return op_put(f, op);
    case PKL_OP_GET: case PKL_OP_BINGET: case PKL_OP_LONG_BINGET:
        return op_get(f, op, err);
    case PKL_OP_BUILD: return op_build(f, op, err);
    default: return op_generic(f, op);
    }
}

/* Turns an F_* failure into *err. */
static void step_error(const follower *f, int rc, const pkl_op *op,
                       pkl_error *err)
{
    switch (rc) {
    case F_UNDERFLOW:
        pkli_error_setf(err, PKL_E_STACK_UNDERFLOW, op->offset, op->code,
                        "%s needs more values than the stack holds",
                        pkli_opname(op->code));
        break;
    case F_NOMARK:
        pkli_error_setf(err, PKL_E_NO_MARK, op->offset, op->code,
                        "%s without a MARK", pkli_opname(op->code));
        break;
    case F_UNSUPPORTED:
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, op->offset, op->code,
                        "joblib: cannot follow %s here", pkli_opname(op->code));
        break;
    case F_NOMEM:
        if (f->j.over)
            pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, op->offset, op->code,
                            "joblib: more than %zu values to follow (limit)",
                            MAX_NODES);
        else
            fail_nomem(err, op->offset);
        break;
    default: /* F_ERR: already set */
        break;
    }
}

int pkli_joblib_split(const uint8_t *buf, size_t len, const pkl_allocator *a,
                      pkli_joblib *out, pkl_error *err)
{
    follower f;
    pkl_op op;
    int rc = F_OK, got;
    memset(&f, 0, sizeof f);
    memset(out, 0, sizeof *out);
    f.j.a = a;
    f.buf = buf;
    f.len = len;
    f.a = a;
    f.out = out;
    pkli_buf_init(&f.j.text, a, 0);
    pkl_reader_init(&f.r, buf, len, a);
    while (rc == F_OK) {
        got = pkl_reader_next(&f.r, &op, err);
        if (got <= 0) {
            if (got == 0)
                pkli_error_setf(err, PKL_E_TRUNCATED, len, -1,
                                "pickle ends without STOP");
            rc = F_ERR;
            break;
        }
        rc = step(&f, &op, err);
        if (rc < 0)
            step_error(&f, rc, &op, err);
    }
    /* joblib.load stops where the pure-Python unpickler fails (a stack
     * or mark error, opcodes the reader refuses, no STOP), and the
     * follower stops where it cannot follow joblib (a wrapper whose bytes
     * it cannot count, too many values): after an array was read, what
     * joblib read up to there is not the raw view's reading of the same
     * bytes, so the parts so far are kept and the rest from the last
     * resume point is the view's last part (scanning past the failure
     * only adds), returned with the failure (1). Dropping them would
     * leave the globals between the first array and the failure to the
     * raw view, which stops at the first array's bytes. */
    int ended = rc != F_STOP && out->arrays > 0 && err->code != PKL_E_NOMEM;
    if (ended && add_part(out, a, f.seg, len - f.seg, 1) < 0) {
        fail_nomem(err, f.seg);
        ended = 0;
    }
    pkl_reader_free(&f.r);
    pkli_free(a, f.j.v);
    pkli_free(a, f.j.stack);
    pkli_free(a, f.j.marks);
    pkli_free(a, f.j.items);
    pkli_free(a, f.j.pairs);
    pkli_free(a, f.j.memo);
    pkli_buf_free(&f.j.text);
    if (ended)
        return 1;
    if (rc != F_STOP) {
        /* the side files read before the failure stay listed */
        pkli_free(a, out->parts);
        out->parts = NULL;
        out->nparts = out->cap = 0;
        return -1;
    }
    pkli_error_clear(err);
    return 0;
}
