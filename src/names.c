/* names.c -- resolves a pickle global exactly as CPython 3.11's
 * Unpickler.find_class does, without importing anything.
 *
 * find_class(module, name):
 *   if proto < 3 (and fix_imports, the default):
 *       (module, name) = NAME_MAPPING[(module, name)] if present,
 *       else module = IMPORT_MAPPING[module] if present;
 *   __import__(module)
 *   proto >= 4: walk `name` attribute by attribute (split on '.'; a
 *               "<locals>" component is refused);
 *   proto <  4: getattr(module, name) with the whole string.
 * The tables come from this machine's _compat_pickle via
 * scripts/gen_compat.py (src/compat_pickle.def), never typed by hand.
 *
 * Policies match on the result, so a policy cannot be dodged by spelling
 * a name the Python 2 way. Anything no ASCII identifier path spells is
 * refused (PKL_E_BAD_NAME) rather than guessed at: getattr with a dotted
 * string finds no normal attribute, and non-ASCII identifiers, which
 * Python would NFKC-normalise, are refused on purpose so that two
 * spellings can never name one object.
 *
 * Must never: allocate, keep state, or accept a name it cannot prove is a
 * plain dotted identifier path. */
#include "internal.h"

#include <stdio.h>

typedef struct compat_name {
    const char *module, *name, *new_module, *new_name;
} compat_name;

typedef struct compat_import {
    const char *module, *new_module;
} compat_import;

static const compat_name compat_names[] = {
#define COMPAT_NAME(m, n, nm, nn) {m, n, nm, nn},
#include "compat_pickle.def"
#undef COMPAT_NAME
};

static const compat_import compat_imports[] = {
#define COMPAT_IMPORT(m, nm) {m, nm},
#include "compat_pickle.def"
#undef COMPAT_IMPORT
};

/* Byte-order comparison of a counted string with a C string, matching the
 * order scripts/gen_compat.py sorts in. Embedded NULs compare below any
 * character, so they never match a table key. */
static int cmp_counted(const char *s, size_t n, const char *key)
{
    size_t klen = strlen(key);
    size_t m = n < klen ? n : klen;
    int c = m ? memcmp(s, key, m) : 0;
    if (c != 0)
        return c;
    return n < klen ? -1 : (n > klen ? 1 : 0);
}

static const compat_name *find_compat_name(const char *m, size_t mlen,
                                           const char *n, size_t nlen)
{
    size_t lo = 0, hi = sizeof compat_names / sizeof compat_names[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_counted(m, mlen, compat_names[mid].module);
        if (c == 0)
            c = cmp_counted(n, nlen, compat_names[mid].name);
        if (c == 0)
            return &compat_names[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const compat_import *find_compat_import(const char *m, size_t mlen)
{
    size_t lo = 0, hi = sizeof compat_imports / sizeof compat_imports[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_counted(m, mlen, compat_imports[mid].module);
        if (c == 0)
            return &compat_imports[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int is_id_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_id_char(unsigned char c)
{
    return is_id_start(c) || (c >= '0' && c <= '9');
}

/* Returns NULL when s[0..n) is '.'-separated ASCII identifiers (a single
 * identifier when !dotted), else a static reason. */
static const char *check_dotted(const char *s, size_t n, int dotted)
{
    if (n == 0)
        return "is empty";
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        /* component s[start..i) */
        if (i == start)
            return "has an empty component";
        if (i - start == 8 && memcmp(s + start, "<locals>", 8) == 0)
            return "names a function's local object (<locals>)";
        if (!is_id_start((unsigned char)s[start]))
            return "is not made of ASCII identifiers";
        for (size_t j = start + 1; j < i; j++)
            if (!is_id_char((unsigned char)s[j]))
                return "is not made of ASCII identifiers";
        if (i < n && !dotted)
            return "contains '.' below protocol 4 (getattr cannot find it)";
        start = i + 1;
    }
    return NULL;
}

/* Whether find_class would import module m[0..n) before it looks the name
 * up: both unpicklers' find_class (_pickle.c
 * _pickle_Unpickler_find_class_impl: PyImport_Import; pickle.py
 * Unpickler.find_class: __import__(module, level=0)) import the module
 * first, whatever the name, so a bad name still runs the module's code.
 * Nothing is imported for a module that is no dotted identifier path
 * (empty, an empty component, a byte no identifier has); bytes >= 0x80 are
 * taken as possible identifier characters (Python identifiers are
 * Unicode), so this errs towards "imported". */
int pkli_module_imports(const char *m, size_t n)
{
    size_t start = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && m[i] != '.') {
            uint8_t c = (uint8_t)m[i];
            int ok = c >= 0x80 || c == '_' || (c >= 'a' && c <= 'z') ||
                     (c >= 'A' && c <= 'Z') ||
                     (i > start && c >= '0' && c <= '9');
            if (!ok)
                return 0;
            continue;
        }
        if (i == start)
            return 0;
        start = i + 1;
    }
    return 1;
}

/* Appends a Python-repr-like quoted rendering of s (at most ~80 bytes of
 * it) to out: hostile names must not put control bytes into messages. */
static void quote_into(char *out, size_t size, const char *s, size_t n)
{
    size_t o = strlen(out);
    size_t shown = n < 80 ? n : 80;
    if (o + 1 < size)
        out[o++] = '\'';
    for (size_t i = 0; i < shown && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, size - o, "\\x%02x", c);
            o += 4;
        }
    }
    if (shown < n && o + 4 < size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    if (o + 1 < size)
        out[o++] = '\'';
    out[o < size ? o : size - 1] = '\0';
}

static void bad_name(pkl_error *err, const char *module, size_t mlen,
                     const char *name, size_t nlen, const char *what,
                     const char *why)
{
    if (!err)
        return;
    pkli_error_set(err, PKL_E_BAD_NAME, 0, -1);
    /* "module 'm', name 'n': name contains '.' below protocol 4" */
    char *d = err->detail;
    size_t size = sizeof err->detail;
    snprintf(d, size, "module ");
    quote_into(d, size, module, mlen);
    size_t o = strlen(d);
    snprintf(d + o, size - o, ", name ");
    quote_into(d, size, name, nlen);
    o = strlen(d);
    snprintf(d + o, size - o, ": %s %s", what, why);
}

int pkl_resolve_global(const char *module, size_t module_len, const char *name,
                       size_t name_len, int proto, pkl_global *out,
                       pkl_error *err)
{
    const char *why;
    if (!out || (!module && module_len) || (!name && name_len)) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_resolve_global: NULL argument");
        return -1;
    }
    if (!module)
        module = "";
    if (!name)
        name = "";
    const char *m = module, *n = name;
    size_t mlen = module_len, nlen = name_len;

    /* The renames apply to the bytes as written, before any validation,
     * exactly as find_class looks the raw strings up. */
    if (proto < 3) {
        const compat_name *cn = find_compat_name(m, mlen, n, nlen);
        if (cn) {
            m = cn->new_module;
            mlen = strlen(m);
            n = cn->new_name;
            nlen = strlen(n);
        } else {
            const compat_import *ci = find_compat_import(m, mlen);
            if (ci) {
                m = ci->new_module;
                mlen = strlen(m);
            }
        }
    }

    if (mlen > PKL_NAME_MAX) {
        bad_name(err, module, module_len, name, name_len, "module",
                 "is longer than PKL_NAME_MAX (256) bytes");
        return -1;
    }
    if (nlen > PKL_NAME_MAX) {
        bad_name(err, module, module_len, name, name_len, "name",
                 "is longer than PKL_NAME_MAX (256) bytes");
        return -1;
    }
    if ((why = check_dotted(m, mlen, 1)) != NULL) {
        bad_name(err, module, module_len, name, name_len, "module", why);
        return -1;
    }
    if ((why = check_dotted(n, nlen, proto >= 4)) != NULL) {
        bad_name(err, module, module_len, name, name_len, "name", why);
        return -1;
    }
    memcpy(out->module, m, mlen);
    out->module[mlen] = '\0';
    memcpy(out->qualname, n, nlen);
    out->qualname[nlen] = '\0';
    pkli_error_clear(err);
    return 0;
}

/* Whole-component match of a catalogue or policy pattern against
 * s[0..n): "os" matches "os" and "os.x.y"; a "*" component matches any one
 * component. The one matcher of dotted names (scanner catalogue lookups,
 * policy check of dangerous allows). */
int pkli_name_pattern_match(const char *p, const char *s, size_t n)
{
    size_t i = 0;
    while (*p) {
        const char *pe = strchr(p, '.');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        if (i >= n)
            return 0;
        const char *se = memchr(s + i, '.', n - i);
        size_t sl = se ? (size_t)(se - (s + i)) : n - i;
        if (!(pl == 1 && p[0] == '*') &&
            (pl != sl || memcmp(p, s + i, pl) != 0))
            return 0;
        i += sl;
        p += pl;
        if (*p == '.') {
            p++;
            if (i >= n)
                return 0;
            i++;
        }
    }
    return 1;
}
