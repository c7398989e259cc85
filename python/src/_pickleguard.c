/* _pickleguard.c -- the CPython binding of libpickleguard.
 *
 * ONE interpreter: every opcode is executed, and every policy decision is
 * taken, by the library's decoder (src/decoder.c, pkl_decode), which runs
 * with the GIL released and records what the pickle does as a value graph
 * (pkl_value: containers, calls of allowed globals with their arguments,
 * BUILD state, APPEND/SETITEM items, persistent ids, memo sharing and
 * cycles as shared nodes). This file only materialises that finished
 * graph as Python objects, the way CPython's Modules/_pickle.c would have
 * built them (load_reduce, load_newobj, load_build, do_append,
 * do_setitems). It never reads an opcode, and it only ever calls a
 * global the policy allowed (resolved through the find_class given by the
 * Python layer, which maps some of them to safe re-implementations).
 *
 * Materialising is a depth-first walk bounded by the decoder's max_depth
 * (and Py_EnterRecursiveCall); every node that can be shared keeps one
 * Python object (a pointer-keyed dict), so identity and cycles survive.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "pickleguard.h"

typedef struct {
    PyObject *PolicyError;
    PyObject *UnpicklingError;
} modstate;

static modstate *get_state(PyObject *m)
{
    return (modstate *)PyModule_GetState(m);
}

/* ---- errors ------------------------------------------------------------- */

/* Raises PolicyError (or MemoryError) for a library error. */
static void raise_pkl(PyObject *mod, const pkl_error *err)
{
    modstate *st = get_state(mod);
    if (err->code == PKL_E_NOMEM) {
        PyErr_NoMemory();
        return;
    }
    char msg[1200];
    pkl_error_format(err, msg, sizeof msg);
    PyObject *exc = PyObject_CallFunction(st->PolicyError, "s", msg);
    if (!exc)
        return;
    const pkl_opinfo *oi = err->opcode >= 0 ? pkl_opinfo_get((unsigned)err->opcode) : NULL;
    /* the global's name and the YAML line are in detail for refused globals:
     * "... 'mod.name' ...; to allow it add to your policy:  allow:\n  - x" */
    const char *allow = strstr(err->detail, "allow:");
    PyObject *v;
#define SETA(name, expr)                                   \
    do {                                                   \
        v = (expr);                                        \
        if (!v || PyObject_SetAttrString(exc, name, v) < 0) { \
            Py_XDECREF(v);                                 \
            Py_DECREF(exc);                                \
            return;                                        \
        }                                                  \
        Py_DECREF(v);                                      \
    } while (0)
    SETA("code", PyLong_FromLong(err->code));
    SETA("offset", PyLong_FromSize_t(err->offset));
    if (oi)
        SETA("opcode", PyUnicode_FromString(oi->name));
    else
        SETA("opcode", Py_NewRef(Py_None));
    SETA("detail", PyUnicode_DecodeUTF8(err->detail, (Py_ssize_t)strlen(err->detail), "replace"));
    /* refused globals: detail is "mod.qual (OP at offset N) is ..." */
    const char *sp = err->code == PKL_E_REFUSED_GLOBAL ? strstr(err->detail, " (") : NULL;
    if (sp) {
        SETA("name", PyUnicode_DecodeUTF8(err->detail, sp - err->detail, "replace"));
        if (allow)
        {
            char line[600];
            snprintf(line, sizeof line, "allow:\n  - %.*s", (int)(sp - err->detail), err->detail);
            SETA("allow_line", PyUnicode_DecodeUTF8(line, (Py_ssize_t)strlen(line), "replace"));
        }
        else
            SETA("allow_line", Py_NewRef(Py_None));
    } else {
        SETA("name", Py_NewRef(Py_None));
        SETA("allow_line", Py_NewRef(Py_None));
    }
#undef SETA
    PyErr_SetObject(st->PolicyError, exc);
    Py_DECREF(exc);
}

static PyObject *policy_error(PyObject *mod, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    modstate *st = get_state(mod);
    PyObject *exc = PyObject_CallFunction(st->PolicyError, "s", msg);
    if (exc) {
        PyObject *c = PyLong_FromLong(PKL_E_REFUSED_CALL);
        if (c)
            PyObject_SetAttrString(exc, "code", c);
        Py_XDECREF(c);
        PyErr_SetObject(st->PolicyError, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* ---- Policy ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pkl_policy *p;
    PyObject *mod;
} PolicyObject;

static PyTypeObject Policy_Type;

static void Policy_dealloc(PolicyObject *self)
{
    pkl_policy_free(self->p);
    Py_XDECREF(self->mod);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Policy_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"spec", "yaml", "origin", NULL};
    PyObject *spec = Py_None;
    const char *yaml = NULL, *origin = NULL;
    Py_ssize_t ylen = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$z#z:Policy", kwlist, &spec,
                                     &yaml, &ylen, &origin))
        return NULL;
    pkl_error err;
    pkl_policy *p = NULL;
    if (yaml) {
        if (spec != Py_None) {
            PyErr_SetString(PyExc_TypeError, "Policy() takes a name or path, or yaml=, not both");
            return NULL;
        }
        p = pkl_policy_load_string(yaml, (size_t)ylen, origin, NULL, &err);
    } else {
        PyObject *b = NULL;
        if (spec == Py_None) {
            PyErr_SetString(PyExc_TypeError, "Policy() needs a built-in name, a YAML file path or yaml=");
            return NULL;
        }
        if (!PyUnicode_FSConverter(spec, &b))
            return NULL;
        p = pkl_policy_open(PyBytes_AS_STRING(b), NULL, &err);
        Py_DECREF(b);
    }
    if (!p) {
        char msg[1200];
        pkl_error_format(&err, msg, sizeof msg);
        PyErr_Format(PyExc_ValueError, "cannot load policy: %s", msg);
        return NULL;
    }
    PolicyObject *self = (PolicyObject *)type->tp_alloc(type, 0);
    if (!self) {
        pkl_policy_free(p);
        return NULL;
    }
    self->p = p;
    return (PyObject *)self;
}

static PyObject *Policy_get_name(PolicyObject *self, void *c)
{
    (void)c;
    return PyUnicode_FromString(pkl_policy_name(self->p));
}

static PyObject *Policy_get_limits(PolicyObject *self, void *c)
{
    (void)c;
    pkl_limits l;
    pkl_policy_limits(self->p, &l);
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n}", "max_depth", (Py_ssize_t)l.max_depth,
                         "max_memo", (Py_ssize_t)l.max_memo, "max_values",
                         (Py_ssize_t)l.max_values, "max_bytes", (Py_ssize_t)l.max_bytes,
                         "max_json_bytes", (Py_ssize_t)l.max_json_bytes);
}

static PyObject *Policy_allows(PolicyObject *self, PyObject *args)
{
    const char *mod, *name;
    Py_ssize_t ml, nl;
    if (!PyArg_ParseTuple(args, "s#s#:allows", &mod, &ml, &name, &nl))
        return NULL;
    pkl_global g;
    pkl_error err;
    if (pkl_resolve_global(mod, (size_t)ml, name, (size_t)nl, 4, &g, &err) < 0)
        Py_RETURN_FALSE;
    return PyBool_FromLong(pkl_policy_check(self->p, &g) == PKL_ALLOWED);
}

static PyObject *Policy_to_yaml(PolicyObject *self, PyObject *unused)
{
    (void)unused;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return PyErr_NoMemory();
    int rc = pkl_policy_write(self->p, f);
    fclose(f);
    PyObject *r = rc == 0 ? PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "replace")
                          : PyErr_Format(PyExc_OSError, "cannot write the policy");
    free(buf);
    return r;
}

static PyObject *Policy_repr(PolicyObject *self)
{
    return PyUnicode_FromFormat("<pickleguard.Policy %s>", pkl_policy_name(self->p));
}

static PyGetSetDef Policy_getset[] = {
    {"name", (getter)Policy_get_name, NULL, "the policy's name", NULL},
    {"limits", (getter)Policy_get_limits, NULL, "the decoder limits (dict)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef Policy_methods[] = {
    {"allows", (PyCFunction)Policy_allows, METH_VARARGS,
     "allows(module, qualname) -> bool: the policy's verdict on a global"},
    {"to_yaml", (PyCFunction)Policy_to_yaml, METH_NOARGS,
     "the fully resolved policy as YAML"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject Policy_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pickleguard.Policy",
    .tp_basicsize = sizeof(PolicyObject),
    .tp_dealloc = (destructor)Policy_dealloc,
    .tp_repr = (reprfunc)Policy_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Policy(name_or_path) or Policy(yaml=text): a loaded, read-only "
              "pickleguard policy (built-in 'default', 'strict', 'ml', or a YAML file).",
    .tp_methods = Policy_methods,
    .tp_getset = Policy_getset,
    .tp_new = Policy_new,
};

/* ---- materialising the decoder's graph ------------------------------------ */

typedef struct {
    PyObject *mod;
    struct pslot { const pkl_value *k; PyObject *v; } *tab; /* node -> object */
    size_t tcap, tn;
    PyObject *in_progress;  /* sentinel */
    PyObject *find_class;
    PyObject *persistent_load;
    PyObject *buffers;      /* list of the caller's buffer objects or NULL */
    const pkl_value *const *bufnodes;
    size_t nbuf;
    PyObject *fixups;       /* list of (container, key, node address) */
    PyObject *globals;      /* {pkl_global address: find_class result} */
} mat;

static PyObject *build(mat *m, const pkl_value *v);

static PyObject *addr(const void *p)
{
    return PyLong_FromVoidPtr((void *)p);
}

/* The node -> object table: open addressing on the node's address. Values
 * are owned references, except the in_progress sentinel. */
static size_t pt_slot(const mat *m, const pkl_value *v)
{
    uintptr_t h = (uintptr_t)v;
    h = (h >> 4) * (uintptr_t)0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 17) & (m->tcap - 1);
    while (m->tab[i].k && m->tab[i].k != v)
        i = (i + 1) & (m->tcap - 1);
    return i;
}

/* Only shared nodes (pkl_value_is_shared) can be reached twice: the
 * others are neither looked up nor kept. */
static PyObject *pt_get(const mat *m, const pkl_value *v)
{
    return m->tcap && pkl_value_is_shared(v) ? m->tab[pt_slot(m, v)].v : NULL;
}

static int pt_put(mat *m, const pkl_value *v, PyObject *o)
{
    if (!pkl_value_is_shared(v))
        return 0;
    if (2 * (m->tn + 1) > m->tcap) {
        size_t ncap = m->tcap ? 2 * m->tcap : 64;
        struct pslot *old = m->tab;
        size_t ocap = m->tcap;
        m->tab = PyMem_Calloc(ncap, sizeof *m->tab);
        if (!m->tab) {
            m->tab = old;
            PyErr_NoMemory();
            return -1;
        }
        m->tcap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].k)
                m->tab[pt_slot(m, old[i].k)] = old[i];
        PyMem_Free(old);
    }
    size_t i = pt_slot(m, v);
    PyObject *prev = m->tab[i].v;
    if (!m->tab[i].k)
        m->tn++;
    m->tab[i].k = v;
    m->tab[i].v = o == m->in_progress ? o : Py_NewRef(o);
    if (prev && prev != m->in_progress)
        Py_DECREF(prev);
    return 0;
}

static void pt_free(mat *m)
{
    for (size_t i = 0; i < m->tcap; i++)
        if (m->tab[i].k && m->tab[i].v != m->in_progress)
            Py_DECREF(m->tab[i].v);
    PyMem_Free(m->tab);
}

/* 1 and *out (new ref) when cached, 0 when not. A node under construction
 * (a tuple's items, a call's arguments) reaching itself is reported
 * through *out = in_progress (borrowed). */
static int cached(mat *m, const pkl_value *v, PyObject **out)
{
    PyObject *o = pt_get(m, v);
    if (!o)
        return 0;
    *out = o == m->in_progress ? o : Py_NewRef(o);
    return 1;
}

static int remember(mat *m, const pkl_value *v, PyObject *o)
{
    return pt_put(m, v, o);
}

static PyObject *cycle_error(mat *m, const char *where)
{
    return policy_error(m->mod, "the pickle refers back to an object still "
                        "being built (%s): CPython resolves this through the "
                        "order of opcodes, which pickleguard does not replay", where);
}

/* An item of a list or a dict value: a node still in progress is patched in
 * afterwards (recursive tuple through a list), as CPython's order gives. */
static PyObject *build_slot(mat *m, const pkl_value *v, PyObject *container, PyObject *key,
                            Py_ssize_t index)
{
    PyObject *o;
    int c = cached(m, v, &o);
    if (c && o == m->in_progress) {
        PyObject *t = key ? Py_BuildValue("(OON)", container, key, addr(v))
                          : Py_BuildValue("(OnN)", container, index, addr(v));
        if (!t || PyList_Append(m->fixups, t) < 0) {
            Py_XDECREF(t);
            return NULL;
        }
        Py_DECREF(t);
        return Py_NewRef(Py_None);
    }
    if (c)
        return o;
    return build(m, v);
}

static PyObject *str_of(const pkl_value *v)
{
    return PyUnicode_DecodeUTF8((const char *)v->u.s.ptr, (Py_ssize_t)v->u.s.len,
                                "surrogatepass");
}

/* find_class(module, qualname), once per global: the decoder interns
 * resolved globals, so the pkl_global's address names it. */
static PyObject *global_obj(mat *m, const pkl_global *g)
{
    PyObject *k = addr(g);
    if (!k)
        return NULL;
    PyObject *o = PyDict_GetItemWithError(m->globals, k);
    if (o) {
        Py_DECREF(k);
        return Py_NewRef(o);
    }
    if (PyErr_Occurred() ||
        !(o = PyObject_CallFunction(m->find_class, "ss", g->module, g->qualname)) ||
        PyDict_SetItem(m->globals, k, o) < 0) {
        Py_DECREF(k);
        Py_XDECREF(o);
        return NULL;
    }
    Py_DECREF(k);
    return o;
}

static PyObject *build_tuple_items(mat *m, const pkl_value *t)
{
    PyObject *r = PyTuple_New((Py_ssize_t)t->u.seq.len);
    if (!r)
        return NULL;
    for (size_t i = 0; i < t->u.seq.len; i++) {
        PyObject *o;
        int c = cached(m, t->u.seq.items[i], &o);
        if (c < 0 || (c && o == m->in_progress)) {
            Py_DECREF(r);
            return c < 0 ? NULL : cycle_error(m, "a tuple item");
        }
        if (!c && !(o = build(m, t->u.seq.items[i]))) {
            Py_DECREF(r);
            return NULL;
        }
        PyTuple_SET_ITEM(r, (Py_ssize_t)i, o);
    }
    return r;
}

/* The state of BUILD, as _pickle.c load_build. */
static int apply_state(mat *m, PyObject *inst, PyObject *state)
{
    PyObject *setstate = PyObject_GetAttrString(inst, "__setstate__");
    if (setstate) {
        PyObject *r = PyObject_CallOneArg(setstate, state);
        Py_DECREF(setstate);
        Py_XDECREF(r);
        return r ? 0 : -1;
    }
    if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        return -1;
    PyErr_Clear();
    PyObject *slotstate = NULL;
    if (PyTuple_Check(state) && PyTuple_GET_SIZE(state) == 2) {
        slotstate = PyTuple_GET_ITEM(state, 1);
        state = PyTuple_GET_ITEM(state, 0);
    }
    if (state != Py_None) {
        if (!PyDict_Check(state)) {
            PyErr_SetString(m->mod ? get_state(m->mod)->UnpicklingError : PyExc_ValueError,
                            "state is not a dictionary");
            return -1;
        }
        PyObject *dict = PyObject_GetAttrString(inst, "__dict__");
        if (!dict)
            return -1;
        Py_ssize_t i = 0;
        PyObject *k, *v;
        while (PyDict_Next(state, &i, &k, &v)) {
            Py_INCREF(k);
            if (PyUnicode_CheckExact(k))
                PyUnicode_InternInPlace(&k);
            int rc = PyObject_SetItem(dict, k, v);
            Py_DECREF(k);
            if (rc < 0) {
                Py_DECREF(dict);
                return -1;
            }
        }
        Py_DECREF(dict);
    }
    if (slotstate && slotstate != Py_None) {
        if (!PyDict_Check(slotstate)) {
            PyErr_SetString(get_state(m->mod)->UnpicklingError, "slot state is not a dictionary");
            return -1;
        }
        Py_ssize_t i = 0;
        PyObject *k, *v;
        while (PyDict_Next(slotstate, &i, &k, &v))
            if (PyObject_SetAttr(inst, k, v) < 0)
                return -1;
    }
    return 0;
}

/* list methods the subclass does not override: appending through the list
 * type itself is then what APPEND(S) would do; otherwise refused (the
 * decoder's graph does not say when the override would have run). */
static int plain_list(PyObject *o)
{
    if (PyList_CheckExact(o))
        return 1;
    if (!PyList_Check(o))
        return 0;
    static const char *const names[] = {"append", "extend"};
    for (int i = 0; i < 2; i++) {
        PyObject *a = PyObject_GetAttrString((PyObject *)Py_TYPE(o), names[i]);
        PyObject *b = PyObject_GetAttrString((PyObject *)&PyList_Type, names[i]);
        int same = a && a == b;
        Py_XDECREF(a);
        Py_XDECREF(b);
        PyErr_Clear();
        if (!same)
            return 0;
    }
    return 1;
}

static int plain_dict(PyObject *o)
{
    if (PyDict_CheckExact(o))
        return 1;
    if (!(Py_TYPE(o)->tp_flags & Py_TPFLAGS_HEAPTYPE))
        return 1; /* a built-in mapping type's own C __setitem__ */
    if (!PyDict_Check(o))
        return 0;
    /* OrderedDict, defaultdict, Counter... whose __setitem__ slot is a C
     * one the subclass did not replace in Python */
    PyObject *a = PyObject_GetAttrString((PyObject *)Py_TYPE(o), "__setitem__");
    int ok = a && PyObject_TypeCheck(a, &PyWrapperDescr_Type);
    Py_XDECREF(a);
    PyErr_Clear();
    return ok;
}

static PyObject *build_object(mat *m, const pkl_value *v)
{
    const pkl_object *ob = v->u.obj;
    if (pt_put(m, v, m->in_progress) < 0)
        return NULL;
    PyObject *callable = global_obj(m, ob->g), *args = NULL, *kwargs = NULL, *r = NULL;
    if (!callable)
        goto fail;
    if (!(args = build_tuple_items(m, ob->args)))
        goto fail;
    if (ob->kwargs) {
        PyObject *o;
        int c = cached(m, ob->kwargs, &o);
        if (c < 0 || (c && o == m->in_progress)) {
            if (c > 0)
                cycle_error(m, "keyword arguments");
            goto fail;
        }
        kwargs = c ? o : build(m, ob->kwargs);
        if (!kwargs)
            goto fail;
    }
    if (ob->is_new) {
        /* _pickle.c load_newobj: cls must be a type; cls.__new__(cls, ...) */
        if (!PyType_Check(callable)) {
            PyErr_Format(get_state(m->mod)->UnpicklingError,
                         "NEWOBJ class argument isn't a type object");
            goto fail;
        }
        PyTypeObject *t = (PyTypeObject *)callable;
        if (!t->tp_new) {
            PyErr_Format(get_state(m->mod)->UnpicklingError,
                         "NEWOBJ class argument '%s' doesn't have __new__", t->tp_name);
            goto fail;
        }
        r = t->tp_new(t, args, kwargs);
    } else {
        r = PyObject_Call(callable, args, kwargs);
    }
    if (!r)
        goto fail;
    if (pt_put(m, v, r) < 0)
        goto fail;
    /* pickle writes list items, then dict items, then the state
     * (Lib/pickle.py save_reduce) */
    if (ob->items && ob->items->u.seq.len) {
        int c_type = !PyList_Check(r) && !(Py_TYPE(r)->tp_flags & Py_TPFLAGS_HEAPTYPE);
        if (!c_type && !plain_list(r)) {
            policy_error(m->mod, "APPEND(S) on a %.200s object: pickleguard only "
                         "appends to lists whose append/extend are list's own",
                         Py_TYPE(r)->tp_name);
            goto fail;
        }
        const pkl_value *l = ob->items;
        for (size_t i = 0; i < l->u.seq.len; i++) {
            PyObject *o = build_slot(m, l->u.seq.items[i], r, NULL,
                                     PyList_Check(r) ? PyList_GET_SIZE(r) : (Py_ssize_t)i);
            /* a built-in (C) type's own append, as _pickle.c do_append
             * calls it (collections.deque); lists through the list type */
            PyObject *ar = !o ? NULL : c_type ? PyObject_CallMethod(r, "append", "O", o)
                         : PyList_Append(r, o) < 0 ? NULL : Py_NewRef(Py_None);
            Py_XDECREF(o);
            if (!ar)
                goto fail;
            Py_DECREF(ar);
        }
    }
    if (ob->dictitems && ob->dictitems->u.dict.len) {
        if (!plain_dict(r)) {
            policy_error(m->mod, "SETITEM(S) on a %.200s object: pickleguard only "
                         "sets items of built-in mappings and dicts whose __setitem__ is built in",
                         Py_TYPE(r)->tp_name);
            goto fail;
        }
        const pkl_value *d = ob->dictitems;
        for (size_t i = 0; i < d->u.dict.len; i++) {
            PyObject *k, *o;
            int c = cached(m, d->u.dict.kv[2 * i], &k);
            if (c < 0 || (c && k == m->in_progress)) {
                if (c > 0)
                    cycle_error(m, "a dict key");
                goto fail;
            }
            if (!c && !(k = build(m, d->u.dict.kv[2 * i])))
                goto fail;
            o = build_slot(m, d->u.dict.kv[2 * i + 1], r, k, 0);
            int rc = o ? PyObject_SetItem(r, k, o) : -1;
            Py_DECREF(k);
            Py_XDECREF(o);
            if (rc < 0)
                goto fail;
        }
    }
    if (ob->state) {
        PyObject *st;
        int c = cached(m, ob->state, &st);
        if (c < 0 || (c && st == m->in_progress)) {
            if (c > 0)
                cycle_error(m, "BUILD state");
            goto fail;
        }
        if (!c && !(st = build(m, ob->state)))
            goto fail;
        int rc = apply_state(m, r, st);
        Py_DECREF(st);
        if (rc < 0)
            goto fail;
    }
    Py_DECREF(callable);
    Py_DECREF(args);
    Py_XDECREF(kwargs);
    return r;
fail:
    Py_XDECREF(callable);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(r);
    return NULL;
}

static PyObject *build_inner(mat *m, const pkl_value *v)
{
    PyObject *r = NULL;
    switch (v->type) {
    case PKL_T_NONE:
        return Py_NewRef(Py_None);
    case PKL_T_BOOL:
        return PyBool_FromLong(v->u.b);
    case PKL_T_INT:
        return PyLong_FromLongLong(v->u.i);
    case PKL_T_BIGINT:
        return _PyLong_FromByteArray(v->u.s.ptr, v->u.s.len, 1, 1);
    case PKL_T_FLOAT:
        return PyFloat_FromDouble(v->u.f);
    case PKL_T_STR:
        r = str_of(v);
        if (r && remember(m, v, r) < 0)
            Py_CLEAR(r);
        return r;
    case PKL_T_BYTES:
        for (size_t i = 0; i < m->nbuf; i++)
            if (m->bufnodes[i] == v)
                return Py_NewRef(PyList_GET_ITEM(m->buffers, (Py_ssize_t)i));
        r = PyBytes_FromStringAndSize((const char *)v->u.s.ptr, (Py_ssize_t)v->u.s.len);
        if (r && remember(m, v, r) < 0)
            Py_CLEAR(r);
        return r;
    case PKL_T_BYTEARRAY:
        r = PyByteArray_FromStringAndSize((const char *)v->u.s.ptr, (Py_ssize_t)v->u.s.len);
        if (r && remember(m, v, r) < 0)
            Py_CLEAR(r);
        return r;
    case PKL_T_LIST:
        /* every slot holds None until its item is built: code that sees
         * the list early (a cycle through __setstate__) never meets NULL */
        if (!(r = PyList_New((Py_ssize_t)v->u.seq.len)))
            goto fail;
        for (size_t i = 0; i < v->u.seq.len; i++)
            PyList_SET_ITEM(r, (Py_ssize_t)i, Py_NewRef(Py_None));
        if (remember(m, v, r) < 0)
            goto fail;
        for (size_t i = 0; i < v->u.seq.len; i++) {
            PyObject *o = build_slot(m, v->u.seq.items[i], r, NULL, (Py_ssize_t)i);
            if (!o)
                goto fail;
            if ((size_t)PyList_GET_SIZE(r) <= i) { /* shrunk by user code */
                Py_DECREF(o);
                PyErr_SetString(PyExc_RuntimeError, "list changed size while being unpickled");
                goto fail;
            }
            PyObject *old = PyList_GET_ITEM(r, (Py_ssize_t)i);
            PyList_SET_ITEM(r, (Py_ssize_t)i, o);
            Py_DECREF(old);
        }
        return r;
    case PKL_T_DICT:
        if (!(r = _PyDict_NewPresized((Py_ssize_t)v->u.dict.len)) || remember(m, v, r) < 0)
            goto fail;
        for (size_t i = 0; i < v->u.dict.len; i++) {
            PyObject *k, *o;
            int c = cached(m, v->u.dict.kv[2 * i], &k);
            if (c < 0 || (c && k == m->in_progress)) {
                if (c > 0)
                    cycle_error(m, "a dict key");
                goto fail;
            }
            if (!c && !(k = build(m, v->u.dict.kv[2 * i])))
                goto fail;
            o = build_slot(m, v->u.dict.kv[2 * i + 1], r, k, 0);
            int rc = o ? PyDict_SetItem(r, k, o) : -1;
            Py_DECREF(k);
            Py_XDECREF(o);
            if (rc < 0)
                goto fail;
        }
        return r;
    case PKL_T_SET:
    case PKL_T_FROZENSET: {
        int frozen = v->type == PKL_T_FROZENSET;
        PyObject *tmp = NULL;
        if (frozen) {
            if (pt_put(m, v, m->in_progress) < 0)
                return NULL;
            if (!(tmp = PySet_New(NULL)))
                return NULL;
        } else if (!(r = PySet_New(NULL)) || remember(m, v, r) < 0) {
            goto fail;
        }
        for (size_t i = 0; i < v->u.seq.len; i++) {
            PyObject *o;
            int c = cached(m, v->u.seq.items[i], &o);
            if (c < 0 || (c && o == m->in_progress)) {
                if (c > 0)
                    cycle_error(m, "a set member");
                Py_XDECREF(tmp);
                goto fail;
            }
            if (!c && !(o = build(m, v->u.seq.items[i]))) {
                Py_XDECREF(tmp);
                goto fail;
            }
            int rc = PySet_Add(frozen ? tmp : r, o);
            Py_DECREF(o);
            if (rc < 0) {
                Py_XDECREF(tmp);
                goto fail;
            }
        }
        if (frozen) {
            r = PyFrozenSet_New(tmp);
            Py_DECREF(tmp);
            if (!r || remember(m, v, r) < 0)
                goto fail;
        }
        return r;
    }
    case PKL_T_TUPLE: {
        if (v->u.seq.len == 0)
            return PyTuple_New(0);
        if (pt_put(m, v, m->in_progress) < 0)
            return NULL;
        r = build_tuple_items(m, v);
        if (!r || remember(m, v, r) < 0)
            goto fail;
        return r;
    }
    case PKL_T_GLOBAL:
        r = global_obj(m, v->u.global.g);
        if (r && remember(m, v, r) < 0)
            Py_CLEAR(r);
        return r;
    case PKL_T_OBJECT:
        return build_object(m, v);
    case PKL_T_ATTR: {
        /* getattr(AllowedClass, "NAME"): an Enum member or class constant
         * (the decoder allows it only on an allowed class, never called) */
        PyObject *cls = global_obj(m, v->u.attr.cls);
        if (!cls)
            return NULL;
        PyObject *name = PyUnicode_DecodeUTF8((const char *)v->u.attr.name,
                                              (Py_ssize_t)v->u.attr.len, "strict");
        r = name ? PyObject_GetAttr(cls, name) : NULL;
        Py_DECREF(cls);
        Py_XDECREF(name);
        if (r && remember(m, v, r) < 0)
            Py_CLEAR(r);
        return r;
    }
    case PKL_T_PERSID: {
        if (m->persistent_load == Py_None) {
            return policy_error(m->mod, "A load persistent id instruction was "
                                "encountered, but no persistent_load function was "
                                "specified.");
        }
        PyObject *id;
        int c = cached(m, v->u.persid.id, &id);
        if (c < 0 || (c && id == m->in_progress))
            return c < 0 ? NULL : cycle_error(m, "a persistent id");
        if (!c && !(id = build(m, v->u.persid.id)))
            return NULL;
        r = PyObject_CallOneArg(m->persistent_load, id);
        Py_DECREF(id);
        if (r && remember(m, v, r) < 0)
            Py_CLEAR(r);
        return r;
    }
    default:
        PyErr_Format(PyExc_SystemError, "pickleguard: unknown value type %d", v->type);
        return NULL;
    }
fail:
    Py_XDECREF(r);
    return NULL;
}

static PyObject *build(mat *m, const pkl_value *v)
{
    /* shared nodes keep one object */
    if (pkl_value_is_shared(v)) {
        PyObject *o;
        int c = cached(m, v, &o);
        if (c && o == m->in_progress)
            return cycle_error(m, "a value");
        if (c)
            return o;
    }
    if (Py_EnterRecursiveCall(" while building an unpickled value"))
        return NULL;
    PyObject *r = build_inner(m, v);
    Py_LeaveRecursiveCall();
    return r;
}

static int run_fixups(mat *m)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(m->fixups); i++) {
        PyObject *t = PyList_GET_ITEM(m->fixups, i);
        void *node = PyLong_AsVoidPtr(PyTuple_GET_ITEM(t, 2));
        PyObject *o = node ? pt_get(m, node) : NULL;
        if (!o || o == m->in_progress) {
            if (!PyErr_Occurred())
                cycle_error(m, "a list item");
            return -1;
        }
        if (PyObject_SetItem(PyTuple_GET_ITEM(t, 0), PyTuple_GET_ITEM(t, 1), o) < 0)
            return -1;
    }
    return 0;
}

/* _decode(policy, data, offset, str8, find_class, persistent_load, buffers)
 *   -> (object, end offset) */
static PyObject *py_decode(PyObject *mod, PyObject *args)
{
    PyObject *pol, *find_class, *persistent_load, *buffers;
    Py_buffer data;
    Py_ssize_t offset;
    int str8;
    if (!PyArg_ParseTuple(args, "O!y*niOOO:_decode", &Policy_Type, &pol, &data, &offset,
                          &str8, &find_class, &persistent_load, &buffers))
        return NULL;
    PyObject *result = NULL, *bufobjs = NULL;
    pkl_value *bufvals = NULL;
    const pkl_value **bufptrs = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t nb = 0, nviews = 0;
    pkl_doc *doc = NULL;
    if (offset < 0 || offset > data.len) {
        PyErr_SetString(PyExc_ValueError, "offset out of range");
        goto done;
    }
    if (buffers != Py_None) {
        if (!(bufobjs = PySequence_List(buffers)))
            goto done;
        nb = PyList_GET_SIZE(bufobjs);
        bufvals = PyMem_Calloc((size_t)nb + 1, sizeof *bufvals);
        bufptrs = PyMem_Calloc((size_t)nb + 1, sizeof *bufptrs);
        views = PyMem_Calloc((size_t)nb + 1, sizeof *views);
        if (!bufvals || !bufptrs || !views) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < nb; i++) {
            if (PyObject_GetBuffer(PyList_GET_ITEM(bufobjs, i), &views[i], PyBUF_SIMPLE) < 0)
                goto done;
            nviews++;
            bufvals[i].type = PKL_T_BYTES;
            bufvals[i].u.s.ptr = views[i].buf;
            bufvals[i].u.s.len = (size_t)views[i].len;
            bufptrs[i] = &bufvals[i];
        }
    }
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = ((PolicyObject *)pol)->p;
    opt.buffers = (const pkl_value *const *)bufptrs;
    opt.nbuffers = (size_t)nb;
    opt.str8 = str8;
    pkl_error err;
    size_t consumed = 0;
    Py_BEGIN_ALLOW_THREADS
    doc = pkl_decode((const uint8_t *)data.buf + offset, (size_t)(data.len - offset), &opt,
                     &consumed, &err);
    Py_END_ALLOW_THREADS
    if (!doc) {
        err.offset += (size_t)offset;
        raise_pkl(mod, &err);
        goto done;
    }
    mat m = {mod, NULL, 0, 0, NULL, find_class, persistent_load, bufobjs,
             (const pkl_value *const *)bufptrs, (size_t)nb, PyList_New(0), PyDict_New()};
    m.in_progress = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (m.fixups && m.in_progress && m.globals) {
        PyObject *o = build(&m, pkl_doc_root(doc));
        if (o && run_fixups(&m) < 0)
            Py_CLEAR(o);
        if (o)
            result = Py_BuildValue("(Nn)", o, offset + (Py_ssize_t)consumed);
    }
    pt_free(&m);
    Py_XDECREF(m.fixups);
    Py_XDECREF(m.globals);
    Py_XDECREF(m.in_progress);
done:
    pkl_doc_free(doc);
    for (Py_ssize_t i = 0; i < nviews; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(bufvals);
    PyMem_Free(bufptrs);
    Py_XDECREF(bufobjs);
    PyBuffer_Release(&data);
    return result;
}

/* ---- scan: the library's file scan (what `pickleguard scan` runs) ------- */

/* _scan(policy, path_or_bytes, fs_path) */
static PyObject *py_scan(PyObject *mod, PyObject *args)
{
    PyObject *pol, *target, *fspath;
    if (!PyArg_ParseTuple(args, "O!OO:_scan", &Policy_Type, &pol, &target, &fspath))
        return NULL;
    PyObject *fsb = NULL, *pathb = NULL;
    Py_buffer data = {0};
    int have_data = 0;
    if (PyUnicode_Check(target)) {
        if (!PyUnicode_FSConverter(target, &pathb))
            return NULL;
    } else {
        if (PyObject_GetBuffer(target, &data, PyBUF_SIMPLE) < 0)
            return NULL;
        have_data = 1;
        if (fspath != Py_None && !PyUnicode_FSConverter(fspath, &fsb)) {
            PyBuffer_Release(&data);
            return NULL;
        }
    }
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    pkl_scan_file_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = ((PolicyObject *)pol)->p;
    pkl_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (pathb)
        rc = pkl_scan_file(PyBytes_AS_STRING(pathb), &opt, &res, &err);
    else
        rc = pkl_scan_data(data.buf, (size_t)data.len, fsb ? PyBytes_AS_STRING(fsb) : NULL,
                           &opt, &res, &err);
    Py_END_ALLOW_THREADS
    Py_XDECREF(fsb);
    Py_XDECREF(pathb);
    if (have_data)
        PyBuffer_Release(&data);
    if (rc < 0) {
        pkl_scan_result_free(&res);
        if (err.code == PKL_E_IO) {
            char msg[1200];
            PyErr_SetString(PyExc_OSError, pkl_error_format(&err, msg, sizeof msg));
        } else {
            raise_pkl(mod, &err);
        }
        return NULL;
    }
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < res.count; i++) {
        const pkl_finding *f = &res.findings[i];
        const pkl_opinfo *oi = f->opcode >= 0 ? pkl_opinfo_get((unsigned)f->opcode) : NULL;
        PyObject *t = Py_BuildValue("(ssnzssss)", f->rule, pkl_severity_name(f->severity),
                                    (Py_ssize_t)f->offset, oi ? oi->name : NULL, f->global,
                                    f->message, f->hint, f->path);
        if (!t || PyList_Append(list, t) < 0)
            Py_CLEAR(list);
        Py_XDECREF(t);
    }
    PyObject *r = list ? Py_BuildValue("(Nnnnn)", list, (Py_ssize_t)res.pickles,
                                       (Py_ssize_t)res.opcodes, (Py_ssize_t)res.dropped,
                                       (Py_ssize_t)res.max_severity)
                       : NULL;
    pkl_scan_result_free(&res);
    return r;
}

static PyMethodDef methods[] = {
    {"_decode", py_decode, METH_VARARGS,
     "_decode(policy, data, offset, str8, find_class, persistent_load, buffers) -> (obj, end)"},
    {"_scan", py_scan, METH_VARARGS,
     "_scan(policy, path_or_bytes, fs_path) -> (findings, pickles, opcodes, dropped, max_severity)"},
    {NULL, NULL, 0, NULL}};

static int mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    Py_VISIT(get_state(m)->PolicyError);
    Py_VISIT(get_state(m)->UnpicklingError);
    return 0;
}

static int mod_clear(PyObject *m)
{
    Py_CLEAR(get_state(m)->PolicyError);
    Py_CLEAR(get_state(m)->UnpicklingError);
    return 0;
}

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_pickleguard", "libpickleguard binding (see pickleguard)",
    sizeof(modstate), methods, NULL, mod_traverse, mod_clear, NULL};

PyMODINIT_FUNC PyInit__pickleguard(void)
{
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    modstate *st = get_state(m);
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (!pickle)
        goto fail;
    st->UnpicklingError = PyObject_GetAttrString(pickle, "UnpicklingError");
    Py_DECREF(pickle);
    if (!st->UnpicklingError)
        goto fail;
    PyObject *defaults = Py_BuildValue("{sOsOsOsOsOsO}", "code", Py_None, "offset", Py_None,
                                       "opcode", Py_None, "name", Py_None, "allow_line",
                                       Py_None, "detail", Py_None);
    if (!defaults)
        goto fail;
    st->PolicyError = PyErr_NewExceptionWithDoc(
        "pickleguard.PolicyError",
        "The pickle was refused: the policy does not allow something it needs, "
        "a limit was hit, or it is malformed. Attributes: code (pickleguard error "
        "code), offset, opcode, name (the global, for refused globals), "
        "allow_line (the YAML that would allow it), detail.",
        st->UnpicklingError, defaults);
    Py_DECREF(defaults);
    if (!st->PolicyError || PyModule_AddObjectRef(m, "PolicyError", st->PolicyError) < 0)
        goto fail;
    if (PyType_Ready(&Policy_Type) < 0 ||
        PyModule_AddObjectRef(m, "Policy", (PyObject *)&Policy_Type) < 0)
        goto fail;
    if (PyModule_AddStringConstant(m, "LIB_VERSION", PKL_VERSION) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
