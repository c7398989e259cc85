/* _pickleguard.c -- the CPython binding of libpickleguard.
 *
 * ONE interpreter: every opcode is executed, and every policy decision is
 * taken, by the library's decoder (src/decoder.c). This file is a
 * pkl_builder for it (pkl_decode_build): callbacks that make Python
 * objects when the decoder says so, in the pickle's own order, the way
 * CPython's Modules/_pickle.c makes them (load_reduce, load_newobj,
 * load_build, do_append, do_setitems, instantiate). It never reads an
 * opcode, and it only ever calls a global the policy allowed (resolved
 * through the find_class given by the Python layer, which maps some of
 * them to safe re-implementations). The decoder's stack and memo hold the
 * objects, so identity, memo sharing and cycles are pickle's own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "pickleguard.h"
#include "formats_internal.h" /* pkli_joblib_split, the shelf readers */

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

/* ---- the Python builder: objects in pickle's own order ------------------ */

/* The decoder (pkl_decode_build) calls these at each opcode, after its
 * policy checks, as Modules/_pickle.c's load_* functions would act: a
 * container when its opcode runs, a call at REDUCE/NEWOBJ/NEWOBJ_EX/INST/
 * OBJ, APPEND(S)/SETITEM(S)/ADDITEMS and BUILD as they come. Handles are
 * PyObject * (new references returned, borrowed ones received); a failure
 * returns NULL / -1 with a Python exception set. */
typedef struct {
    PyObject *mod;
    PyObject *find_class;
    PyObject *persistent_load;
    PyObject *buffers;      /* list of the caller's buffer objects, or NULL */
    PyObject *globals;      /* {pkl_global address: find_class result} */
    const char *encoding;   /* Python 2 str, as pickle.load's encoding= */
    const char *errors;
} pyb;

static void *pyb_scalar(void *ctx, const pkl_value *v)
{
    (void)ctx;
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
        return PyUnicode_DecodeUTF8((const char *)v->u.s.ptr, (Py_ssize_t)v->u.s.len,
                                    "surrogatepass");
    case PKL_T_BYTES:
        return PyBytes_FromStringAndSize((const char *)v->u.s.ptr, (Py_ssize_t)v->u.s.len);
    case PKL_T_BYTEARRAY:
        return PyByteArray_FromStringAndSize((const char *)v->u.s.ptr, (Py_ssize_t)v->u.s.len);
    default:
        PyErr_Format(PyExc_SystemError, "pickleguard: scalar of type %d", v->type);
        return NULL;
    }
}

/* _pickle.c load_counted_binstring / load_string: "bytes" keeps the bytes,
 * anything else is bytes.decode(encoding, errors) (any codec). */
static void *pyb_str8(void *ctx, const uint8_t *raw, size_t len)
{
    pyb *b = ctx;
    if (strcmp(b->encoding, "bytes") == 0)
        return PyBytes_FromStringAndSize((const char *)raw, (Py_ssize_t)len);
    return PyUnicode_Decode((const char *)raw, (Py_ssize_t)len, b->encoding, b->errors);
}

static void *pyb_container(void *ctx, int type, void *const *items, size_t n)
{
    (void)ctx;
    PyObject *r = NULL, *const *it = (PyObject *const *)items;
    switch (type) {
    case PKL_T_LIST:
    case PKL_T_TUPLE:
        r = type == PKL_T_LIST ? PyList_New((Py_ssize_t)n) : PyTuple_New((Py_ssize_t)n);
        for (size_t i = 0; r && i < n; i++) {
            if (type == PKL_T_LIST)
                PyList_SET_ITEM(r, (Py_ssize_t)i, Py_NewRef(it[i]));
            else
                PyTuple_SET_ITEM(r, (Py_ssize_t)i, Py_NewRef(it[i]));
        }
        return r;
    case PKL_T_DICT:
        if (!(r = _PyDict_NewPresized((Py_ssize_t)n)))
            return NULL;
        for (size_t i = 0; i < n; i++)
            if (PyDict_SetItem(r, it[2 * i], it[2 * i + 1]) < 0) {
                Py_DECREF(r);
                return NULL;
            }
        return r;
    case PKL_T_SET:
    case PKL_T_FROZENSET:
        if (!(r = type == PKL_T_SET ? PySet_New(NULL) : PyFrozenSet_New(NULL)))
            return NULL;
        for (size_t i = 0; i < n; i++)
            if (PySet_Add(r, it[i]) < 0) { /* fills a new frozenset too */
                Py_DECREF(r);
                return NULL;
            }
        return r;
    default:
        PyErr_Format(PyExc_SystemError, "pickleguard: container of type %d", type);
        return NULL;
    }
}

/* list methods the subclass does not override: appending through the list
 * type itself is then what APPEND(S) would do; otherwise refused (a
 * Python-level override is never looked up and called). */
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
        return 1; /* a built-in type's own C __setitem__ (also list's) */
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

/* list.extend(items) on an exact list, as _pickle.c do_append's
 * PyList_SetSlice does, without the temporary list: the item array grows
 * once per batch (Objects/listobject.c list_resize's over-allocation and
 * PyMem_Realloc), then the items are stored with new references. */
static int list_extend(PyObject *t, PyObject *const *it, size_t n, int owned)
{
    PyListObject *l = (PyListObject *)t;
    Py_ssize_t len = PyList_GET_SIZE(t);
    if (n > (size_t)(PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(PyObject *) - len - 16)) {
        PyErr_NoMemory();
        return -1;
    }
    size_t need = (size_t)len + n;
    if (need > (size_t)l->allocated) {
        /* big lists double: glibc's realloc copies a heap block, and
         * CPython's 1/8 growth would copy a million-item list ~20 times */
        size_t cap = need >= ((size_t)1 << 16) ? 2 * need
                                               : (need + (need >> 3) + 6) & ~(size_t)3;
        PyObject **items = PyMem_Realloc(l->ob_item, cap * sizeof *items);
        if (!items) {
            PyErr_NoMemory();
            return -1;
        }
        l->ob_item = items;
        l->allocated = (Py_ssize_t)cap;
    }
    PyObject **dst = l->ob_item + len;
    if (owned) /* the decoder's references become the list's */
        memcpy(dst, it, n * sizeof *dst);
    else
        for (size_t i = 0; i < n; i++)
            dst[i] = Py_NewRef(it[i]);
    Py_SET_SIZE(l, (Py_ssize_t)need);
    return 0;
}

/* APPEND(S), as _pickle.c do_append on what pickleguard accepts: a list
 * (or a list subclass with list's own append/extend) through the list
 * type, or a built-in (C) type's own append (collections.deque,
 * bytearray). */
static int pyb_append(void *ctx, void *target, void *const *items, size_t n)
{
    pyb *b = ctx;
    PyObject *t = target, *const *it = (PyObject *const *)items;
    int c_type = !PyList_Check(t) && !(Py_TYPE(t)->tp_flags & Py_TPFLAGS_HEAPTYPE);
    if (!c_type && !plain_list(t)) {
        policy_error(b->mod, "APPEND(S) on a %.200s object: pickleguard only "
                     "appends to lists whose append/extend are list's own",
                     Py_TYPE(t)->tp_name);
        return -1;
    }
    if (PyList_CheckExact(t))
        return list_extend(t, it, n, 0);
    for (size_t i = 0; i < n; i++) {
        if (!c_type) {
            if (PyList_Append(t, it[i]) < 0)
                return -1;
            continue;
        }
        PyObject *r = PyObject_CallMethod(t, "append", "O", it[i]);
        if (!r)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* append_owned: an exact list takes the items' references as its own
 * (no reference count touched per item); anything else is pyb_append,
 * then the references are dropped. */
static int pyb_append_owned(void *ctx, void *target, void *const *items, size_t n)
{
    if (PyList_CheckExact((PyObject *)target))
        return list_extend(target, (PyObject *const *)items, n, 1);
    if (pyb_append(ctx, target, items, n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        Py_XDECREF((PyObject *)items[i]);
    return 0;
}

static int pyb_setitems(void *ctx, void *target, void *const *kv, size_t n)
{
    pyb *b = ctx;
    PyObject *t = target, *const *it = (PyObject *const *)kv;
    if (!plain_dict(t)) {
        policy_error(b->mod, "SETITEM(S) on a %.200s object: pickleguard only "
                     "sets items of built-in mappings and dicts whose __setitem__ "
                     "is built in", Py_TYPE(t)->tp_name);
        return -1;
    }
    int exact = PyDict_CheckExact(t);
    for (size_t i = 0; i < n; i++) {
        int rc = exact ? PyDict_SetItem(t, it[2 * i], it[2 * i + 1])
                       : PyObject_SetItem(t, it[2 * i], it[2 * i + 1]);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int pyb_additems(void *ctx, void *target, void *const *items, size_t n)
{
    pyb *b = ctx;
    PyObject *t = target;
    if (!PySet_Check(t)) {
        policy_error(b->mod, "ADDITEMS on a %.200s object: pickleguard only adds "
                     "to sets", Py_TYPE(t)->tp_name);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (PySet_Add(t, ((PyObject *const *)items)[i]) < 0)
            return -1;
    return 0;
}

/* find_class(module, qualname), once per global: the decoder interns
 * resolved globals, so the pkl_global's address names it. */
static PyObject *global_obj(pyb *b, const pkl_global *g)
{
    PyObject *k = PyLong_FromVoidPtr((void *)g);
    if (!k)
        return NULL;
    PyObject *o = PyDict_GetItemWithError(b->globals, k);
    if (o) {
        Py_DECREF(k);
        return Py_NewRef(o);
    }
    if (PyErr_Occurred() ||
        !(o = PyObject_CallFunction(b->find_class, "ss", g->module, g->qualname)) ||
        PyDict_SetItem(b->globals, k, o) < 0) {
        Py_DECREF(k);
        Py_XDECREF(o);
        return NULL;
    }
    Py_DECREF(k);
    return o;
}

static void *pyb_global(void *ctx, const pkl_global *g)
{
    return global_obj(ctx, g);
}

/* REDUCE: callable(*args); NEWOBJ/NEWOBJ_EX (is_new 1): _pickle.c
 * load_newobj, cls must be a type, cls.__new__(cls, *args, **kwargs);
 * INST/OBJ without arguments (is_new 2): _pickle.c instantiate,
 * cls.__new__(cls) for a class without __getinitargs__, else cls(). */
static void *pyb_call(void *ctx, void *callable, void *args, void *kwargs, int is_new)
{
    pyb *b = ctx;
    PyObject *c = callable;
    if (kwargs && PyDict_GET_SIZE((PyObject *)kwargs) == 0)
        kwargs = NULL;
    if (is_new == 1) {
        if (!PyType_Check(c)) {
            PyErr_Format(get_state(b->mod)->UnpicklingError,
                         "NEWOBJ class argument isn't a type object");
            return NULL;
        }
        PyTypeObject *t = (PyTypeObject *)c;
        if (!t->tp_new) {
            PyErr_Format(get_state(b->mod)->UnpicklingError,
                         "NEWOBJ class argument '%s' doesn't have __new__", t->tp_name);
            return NULL;
        }
        return t->tp_new(t, args, kwargs);
    }
    if (is_new == 2 && PyType_Check(c)) {
        PyObject *f = NULL;
#if PY_VERSION_HEX >= 0x030D0000
        int rc = PyObject_GetOptionalAttrString(c, "__getinitargs__", &f);
#else
        PyObject *name = PyUnicode_InternFromString("__getinitargs__");
        int rc = name ? _PyObject_LookupAttr(c, name, &f) : -1;
        Py_XDECREF(name);
#endif
        if (rc < 0)
            return NULL;
        if (!f)
            return PyObject_CallMethod(c, "__new__", "O", c);
        Py_DECREF(f);
    }
    return PyObject_Call(c, args, kwargs);
}

/* BUILD, as _pickle.c load_build: inst.__setstate__(state) when the object
 * has one, else state / (state, slotstate) into inst.__dict__ (string keys
 * interned) and setattr for the slot state. */
/* A numpy.dtype whose state just set its flags: pickleguard._dtypes.check
 * refuses flags numpy would not give that dtype (object pointers read from
 * raw bytes). numpy is imported already when inst is one of its dtypes. */
static int check_dtype(PyObject *inst)
{
    PyObject *name = PyUnicode_FromString("numpy");
    if (!name)
        return -1;
    PyObject *np = PyImport_GetModule(name);
    Py_DECREF(name);
    if (!np)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *dtype = PyObject_GetAttrString(np, "dtype");
    Py_DECREF(np);
    if (!dtype) {
        PyErr_Clear();
        return 0;
    }
    int is = PyType_Check(dtype) ? PyObject_IsInstance(inst, dtype) : 0;
    Py_DECREF(dtype);
    if (is <= 0)
        return is;
    PyObject *mod = PyImport_ImportModule("pickleguard._dtypes");
    if (!mod)
        return -1;
    PyObject *r = PyObject_CallMethod(mod, "check", "O", inst);
    Py_DECREF(mod);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static int pyb_build(void *ctx, void *instp, void *statep)
{
    pyb *b = ctx;
    PyObject *inst = instp, *state = statep;
    PyObject *setstate = PyObject_GetAttrString(inst, "__setstate__");
    if (setstate) {
        PyObject *r = PyObject_CallOneArg(setstate, state);
        Py_DECREF(setstate);
        Py_XDECREF(r);
        return r ? check_dtype(inst) : -1;
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
            PyErr_SetString(get_state(b->mod)->UnpicklingError, "state is not a dictionary");
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
            PyErr_SetString(get_state(b->mod)->UnpicklingError, "slot state is not a dictionary");
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

/* After BUILD: a loader's stand-in class may put something else in the
 * object's place on the stack, as joblib's NumpyUnpickler.load_build
 * (joblib/numpy_pickle.py) replaces a NumpyArrayWrapper by the array it
 * reads from the file. The class (a type find_class returned, e.g.
 * pickleguard's joblib stand-in) says so with a callable
 * __pickleguard_after_build__(inst) in its own dict; the result takes
 * inst's place (memo references keep inst, as pickle's memo does). */
static void *pyb_after_build(void *ctx, void *instp)
{
    (void)ctx;
    PyObject *inst = instp;
    PyTypeObject *t = Py_TYPE(inst);
    PyObject *hook = t->tp_dict ? PyDict_GetItemString(t->tp_dict,
                                                       "__pickleguard_after_build__")
                                : NULL;
    if (!hook)
        return Py_NewRef(inst);
    return PyObject_CallOneArg(hook, inst);
}

static void *pyb_persid(void *ctx, void *id)
{
    pyb *b = ctx;
    if (b->persistent_load == Py_None) {
        policy_error(b->mod, "A load persistent id instruction was encountered, but "
                     "no persistent_load function was specified.");
        return NULL;
    }
    return PyObject_CallOneArg(b->persistent_load, id);
}

/* getattr(AllowedClass, "NAME"): an Enum member or class constant (the
 * decoder allows it only on an allowed class, with a plain name). */
static void *pyb_attr(void *ctx, const pkl_global *cls, const uint8_t *name, size_t len)
{
    PyObject *c = global_obj(ctx, cls);
    if (!c)
        return NULL;
    PyObject *n = PyUnicode_DecodeUTF8((const char *)name, (Py_ssize_t)len, "strict");
    PyObject *r = n ? PyObject_GetAttr(c, n) : NULL;
    Py_DECREF(c);
    Py_XDECREF(n);
    return r;
}

static void *pyb_buffer(void *ctx, size_t index)
{
    pyb *b = ctx;
    return Py_NewRef(PyList_GET_ITEM(b->buffers, (Py_ssize_t)index));
}

/* _pickle.c load_readonly_buffer: a writable buffer becomes a read-only
 * memoryview of it; a read-only one stays as it is. */
static void *pyb_readonly(void *ctx, void *buf)
{
    (void)ctx;
    PyObject *view = PyMemoryView_FromObject(buf);
    if (!view)
        return NULL;
    if (!PyMemoryView_GET_BUFFER(view)->readonly) {
        PyMemoryView_GET_BUFFER(view)->readonly = 1;
        return view;
    }
    Py_DECREF(view);
    return Py_NewRef((PyObject *)buf);
}

static void pyb_retain(void *ctx, void *h)
{
    (void)ctx;
    Py_INCREF((PyObject *)h);
}

static void pyb_release(void *ctx, void *h)
{
    (void)ctx;
    Py_DECREF((PyObject *)h);
}

static void *pyb_int64(void *ctx, int64_t i)
{
    (void)ctx;
    return PyLong_FromLongLong(i);
}

static void *pyb_float64(void *ctx, double f)
{
    (void)ctx;
    return PyFloat_FromDouble(f);
}

static void pyb_release_n(void *ctx, void *const *hs, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        Py_XDECREF((PyObject *)hs[i]);
}

/* _decode(policy, data, offset, (encoding, errors, fix_imports), find_class,
 *         persistent_load, buffers) -> (object, end offset) */
static PyObject *py_decode(PyObject *mod, PyObject *args)
{
    PyObject *pol, *find_class, *persistent_load, *buffers;
    Py_buffer data;
    Py_ssize_t offset;
    const char *encoding, *errors;
    int fix_imports;
    if (!PyArg_ParseTuple(args, "O!y*n(ssp)OOO:_decode", &Policy_Type, &pol, &data,
                          &offset, &encoding, &errors, &fix_imports, &find_class,
                          &persistent_load, &buffers))
        return NULL;
    PyObject *result = NULL, *bufobjs = NULL, *globals = NULL;
    pkl_value *bufvals = NULL;
    const pkl_value **bufptrs = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t nb = 0, nviews = 0;
    if (offset < 0 || offset > data.len) {
        PyErr_SetString(PyExc_ValueError, "offset out of range");
        goto done;
    }
    if (buffers != Py_None) {
        /* the decoder checks buffers as BYTES values (its view); the
         * builder hands out the objects themselves */
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
    if (!(globals = PyDict_New()))
        goto done;
    pyb b = {mod, find_class, persistent_load, bufobjs, globals, encoding, errors};
    pkl_builder builder = {
        .ctx = &b, .scalar = pyb_scalar, .str8 = pyb_str8,
        .container = pyb_container, .append = pyb_append,
        .setitems = pyb_setitems, .additems = pyb_additems,
        .global = pyb_global, .call = pyb_call, .build = pyb_build,
        .persid = pyb_persid, .attr = pyb_attr, .buffer = pyb_buffer,
        .readonly = pyb_readonly, .retain = pyb_retain, .release = pyb_release,
        .after_build = pyb_after_build, .release_n = pyb_release_n,
        .int64 = pyb_int64, .float64 = pyb_float64,
        .append_owned = pyb_append_owned};
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = ((PolicyObject *)pol)->p;
    opt.buffers = (const pkl_value *const *)bufptrs;
    opt.nbuffers = (size_t)nb;
    opt.encoding = encoding;
    opt.errors = errors;
    opt.no_fix_imports = !fix_imports;
    pkl_error err;
    size_t consumed = 0;
    void *root = NULL;
    /* the GIL stays held: the builder's callbacks make Python objects. The
     * cyclic GC is paused meanwhile: the memo keeps every memoised object
     * alive until the end anyway, and collections would only traverse the
     * growing graph again and again (a third of the time of a load) */
    int gc_was = PyGC_Disable();
    int rc = pkl_decode_build((const uint8_t *)data.buf + offset,
                              (size_t)(data.len - offset), &opt, &builder, &root,
                              &consumed, &err);
    if (gc_was)
        PyGC_Enable();
    if (rc < 0) {
        if (!PyErr_Occurred()) {
            err.offset += (size_t)offset;
            raise_pkl(mod, &err);
        }
        goto done;
    }
    result = Py_BuildValue("(Nn)", (PyObject *)root, offset + (Py_ssize_t)consumed);
done:
    Py_XDECREF(globals);
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

/* ---- joblib: where joblib.load reads array bytes (formats_joblib.c) ----- */

/* _joblib_split(data) -> (arrays, [(offset, length, kind), ...]): the
 * library's joblib splitter (pkli_joblib_split, the one the scanner uses)
 * over one joblib.dump pickle. kind 1: main-stream pickle bytes (their
 * concatenation is the pickle with the array data cut out), 2: an object
 * array's whole nested pickle, 0: raw array bytes (padding included), in
 * file order; arrays: the NumpyArrayWrapper BUILDs followed. */
static PyObject *py_joblib_split(PyObject *mod, PyObject *args)
{
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*:_joblib_split", &data))
        return NULL;
    pkli_joblib jb;
    pkl_error err;
    pkl_allocator a;
    int rc;
    pkli_alloc_init(&a, NULL); /* libc's */
    Py_BEGIN_ALLOW_THREADS
    rc = pkli_joblib_split(data.buf, (size_t)data.len, &a, &jb, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (rc < 0) {
        raise_pkl(mod, &err);
        return NULL;
    }
    PyObject *list = PyList_New((Py_ssize_t)jb.nparts);
    for (size_t i = 0; list && i < jb.nparts; i++) {
        PyObject *t = Py_BuildValue("(nni)", (Py_ssize_t)jb.parts[i].offset,
                                    (Py_ssize_t)jb.parts[i].len, jb.parts[i].is_pickle);
        if (!t)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    PyObject *r = list ? Py_BuildValue("(nN)", (Py_ssize_t)jb.arrays, list) : NULL;
    pkli_joblib_free(&jb, &a);
    return r;
}

/* ---- shelves the Python has no dbm module for (formats_dbm.c, formats_bdb.c) */

typedef struct {
    PyObject *list;
    pkl_error problem;
    int failed;            /* 1: a problem, 2: a Python error */
} shelf_ctx;

static int shelf_value(void *ctx, const char *key, const uint8_t *v, size_t n)
{
    shelf_ctx *c = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *t = Py_BuildValue("(sy#)", key, (const char *)v, (Py_ssize_t)n);
    int rc = t ? PyList_Append(c->list, t) : -1;
    Py_XDECREF(t);
    if (rc < 0)
        c->failed = 2;
    PyGILState_Release(g);
    return rc < 0;
}

static int shelf_problem(void *ctx, const pkl_error *problem)
{
    shelf_ctx *c = ctx;
    if (!c->failed) {
        c->problem = *problem;
        c->failed = 1;
    }
    return 1;
}

/* _shelf_walk(kind, arg, max_members) -> [(key_text, value), ...]: the
 * scanner's own shelf readers, for back ends the Python has no module for:
 * "gdbm" (arg: path; libgdbm, read-only, no locking), "bdb" (arg: the
 * file's bytes; Berkeley DB hash pages read by formats_bdb.c). key_text is
 * the readers' display form: 'text' with \xNN escapes, the first 200 bytes
 * then "..." for longer keys. Any problem the reader reports is a
 * PolicyError. */
static PyObject *py_shelf_walk(PyObject *mod, PyObject *args)
{
    const char *kind;
    PyObject *arg;
    Py_ssize_t maxm;
    if (!PyArg_ParseTuple(args, "sOn:_shelf_walk", &kind, &arg, &maxm))
        return NULL;
    shelf_ctx c;
    memset(&c, 0, sizeof c);
    if (!(c.list = PyList_New(0)))
        return NULL;
    pkl_error err;
    pkl_allocator a;
    pkli_alloc_init(&a, NULL);
    int rc;
    if (strcmp(kind, "gdbm") == 0) {
        PyObject *pathb = NULL;
        if (!PyUnicode_FSConverter(arg, &pathb)) {
            Py_DECREF(c.list);
            return NULL;
        }
        rc = pkli_gdbm_walk(PyBytes_AS_STRING(pathb), (size_t)maxm, shelf_value,
                            shelf_problem, &c, &err);
        Py_DECREF(pathb);
    } else if (strcmp(kind, "bdb") == 0) {
        Py_buffer data;
        if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) {
            Py_DECREF(c.list);
            return NULL;
        }
        rc = pkli_bdb_walk(data.buf, (size_t)data.len, (size_t)maxm, &a, shelf_value,
                           shelf_problem, &c, &err);
        PyBuffer_Release(&data);
    } else {
        Py_DECREF(c.list);
        PyErr_Format(PyExc_ValueError, "unknown shelf kind %s", kind);
        return NULL;
    }
    if (c.failed == 2) {
        Py_DECREF(c.list);
        return NULL;
    }
    if (c.failed == 1 || rc < 0) {
        raise_pkl(mod, c.failed == 1 ? &c.problem : &err);
        Py_DECREF(c.list);
        return NULL;
    }
    return c.list;
}

static PyMethodDef methods[] = {
    {"_decode", py_decode, METH_VARARGS,
     "_decode(policy, data, offset, (encoding, errors, fix_imports), find_class, "
     "persistent_load, buffers) -> (obj, end)"},
    {"_scan", py_scan, METH_VARARGS,
     "_scan(policy, path_or_bytes, fs_path) -> (findings, pickles, opcodes, dropped, max_severity)"},
    {"_joblib_split", py_joblib_split, METH_VARARGS,
     "_joblib_split(data) -> (arrays, [(offset, length, kind), ...])"},
    {"_shelf_walk", py_shelf_walk, METH_VARARGS,
     "_shelf_walk(kind, path_or_bytes, max_members) -> [(key_text, value), ...]"},
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
