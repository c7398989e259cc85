/* check_names.c -- pkl_resolve_global against CPython 3.11's find_class.
 *
 * Every expected value below comes from reading /usr/lib/python3.11/
 * pickle.py (Unpickler.find_class, _getattribute) and _compat_pickle.py,
 * with the reasoning next to each row; none is copied from our output. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct name_case {
    const char *module;
    size_t mlen;          /* 0: strlen(module) */
    const char *name;
    size_t nlen;          /* 0: strlen(name) */
    int proto;
    pkl_code code;           /* PKL_OK or PKL_E_BAD_NAME */
    const char *want_module;
    const char *want_name;
    const char *why;
} name_case;

#define OK(m, n, p, wm, wn, why) {m, 0, n, 0, p, PKL_OK, wm, wn, why}
#define BAD(m, n, p, why) {m, 0, n, 0, p, PKL_E_BAD_NAME, NULL, NULL, why}

static const name_case cases[] = {
    /* IMPORT_MAPPING['__builtin__'] == 'builtins'; NAME_MAPPING has no
     * ('__builtin__', 'set'), so only the module is renamed, and only
     * below protocol 3 (find_class: `if self.proto < 3 and fix_imports`). */
    OK("__builtin__", "set", 0, "builtins", "set", "p0 module rename"),
    OK("__builtin__", "set", 1, "builtins", "set", "p1 module rename"),
    OK("__builtin__", "set", 2, "builtins", "set", "p2 module rename"),
    OK("__builtin__", "set", 3, "__builtin__", "set", "p3: no renames"),
    OK("__builtin__", "set", 4, "__builtin__", "set", "p4: no renames"),
    OK("__builtin__", "set", 5, "__builtin__", "set", "p5: no renames"),
    /* IMPORT_MAPPING['copy_reg'] == 'copyreg' */
    OK("copy_reg", "_reconstructor", 2, "copyreg", "_reconstructor",
       "module-only rename"),
    OK("copy_reg", "_reconstructor", 3, "copy_reg", "_reconstructor",
       "p3 keeps copy_reg"),
    /* NAME_MAPPING[('__builtin__', 'xrange')] == ('builtins', 'range') */
    OK("__builtin__", "xrange", 2, "builtins", "range", "name rename"),
    OK("__builtin__", "xrange", 3, "__builtin__", "xrange", "p3 no rename"),
    /* NAME_MAPPING wins over IMPORT_MAPPING: ('__builtin__', 'reduce')
     * -> ('functools', 'reduce'), not builtins.reduce */
    OK("__builtin__", "reduce", 1, "functools", "reduce", "NAME first"),
    OK("__builtin__", "unicode", 0, "builtins", "str", "unicode -> str"),
    OK("__builtin__", "long", 2, "builtins", "int", "long -> int"),
    OK("exceptions", "StandardError", 2, "builtins", "Exception",
       "exceptions module has only NAME_MAPPING entries"),
    OK("exceptions", "Foo", 2, "exceptions", "Foo",
       "no NAME entry, no IMPORT entry: unchanged"),
    /* NAME_MAPPING[('whichdb','whichdb')] == ('dbm','whichdb'); the result
     * is NOT looked up again (elif), although IMPORT_MAPPING['dbm'] exists */
    OK("whichdb", "whichdb", 2, "dbm", "whichdb", "no chained rename"),
    /* IMPORT_MAPPING['dbm'] == 'dbm.ndbm': a Python 3 name is remapped too */
    OK("dbm", "open", 2, "dbm.ndbm", "open", "dbm -> dbm.ndbm at p2"),
    OK("dbm", "open", 3, "dbm", "open", "dbm unchanged at p3"),
    /* the policy-relevant one: commands -> subprocess */
    OK("commands", "getoutput", 0, "subprocess", "getoutput",
       "commands -> subprocess"),
    OK("UserDict", "IterableUserDict", 2, "collections", "UserDict",
       "NAME_MAPPING entry"),
    OK("urllib", "quote", 2, "urllib.parse", "quote", "NAME_MAPPING entry"),
    OK("itertools", "izip", 2, "builtins", "zip", "NAME_MAPPING entry"),
    OK("test.test_support", "run", 2, "test.support", "run",
       "dotted IMPORT_MAPPING key"),
    /* negative protocols never occur, but "below 3" includes them */
    OK("copy_reg", "x", -1, "copyreg", "x", "proto < 3"),

    /* Protocol >= 4: _getattribute splits the name on '.' */
    OK("collections", "OrderedDict", 4, "collections", "OrderedDict",
       "plain"),
    OK("os", "path.join", 4, "os", "path.join", "dotted qualname at p4"),
    OK("a", "B.C.D", 5, "a", "B.C.D", "dotted qualname at p5"),
    OK("os.path", "join", 0, "os.path", "join", "dotted module at p0"),
    /* Protocol < 4: getattr(module, 'path.join') finds no normal attribute */
    BAD("os", "path.join", 3, "dotted name at p3"),
    BAD("os", "path.join", 2, "dotted name at p2"),
    BAD("os", "path.join", 0, "dotted name at p0"),
    /* "<locals>" is refused by _getattribute (and is no identifier) */
    BAD("m", "f.<locals>.g", 4, "<locals>"),
    BAD("m", "<locals>", 4, "<locals> alone"),
    /* empty components / names */
    BAD("", "x", 4, "empty module (__import__('') is ValueError)"),
    BAD("m", "", 4, "empty name"),
    BAD("m", "a..b", 4, "empty component"),
    BAD("m", ".a", 4, "leading dot"),
    BAD("m", "a.", 4, "trailing dot"),
    BAD("a..b", "x", 4, "empty module component"),
    BAD(".a", "x", 2, "relative module"),
    /* not identifiers */
    BAD("os", "sys tem", 2, "space"),
    BAD("os", "1x", 2, "starts with a digit"),
    BAD("o-s", "x", 2, "hyphen in module"),
    BAD("os", "system\n", 2, "newline"),
    BAD("caf\xc3\xa9", "x", 4, "non-ASCII module refused on purpose"),
    BAD("m", "\xef\xbc\xa1", 4, "fullwidth A (NFKC would make it 'A')"),
    /* a Python 2 spelling that is no identifier is not rescued */
    BAD("__builtin__ ", "set", 2, "trailing space: no table entry"),
};

START_TEST(test_resolve_table)
{
    const name_case *c = &cases[_i];
    pkl_global g;
    pkl_error err;
    POISON_ERR(err);
    size_t mlen = c->mlen ? c->mlen : strlen(c->module);
    size_t nlen = c->nlen ? c->nlen : strlen(c->name);
    int rc = pkl_resolve_global(c->module, mlen, c->name, nlen, c->proto, &g,
                                &err);
    if (c->code == PKL_OK) {
        ck_assert_msg(rc == 0, "%s: unexpected error %d %s", c->why, err.code,
                      err.detail);
        ck_assert_int_eq(err.code, PKL_OK);
        ck_assert_str_eq(g.module, c->want_module);
        ck_assert_str_eq(g.qualname, c->want_name);
    } else {
        ck_assert_msg(rc == -1, "%s: accepted as %s.%s", c->why, g.module,
                      g.qualname);
        ck_assert_err(err, c->code, 0);
        ck_assert_msg(err.detail[0] != '\0', "%s: empty detail", c->why);
    }
}
END_TEST

/* Names with NUL bytes: the counted lengths are what is checked, so a NUL
 * can neither truncate a name into an allowed one nor match a table key. */
START_TEST(test_nul_bytes)
{
    pkl_global g;
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_resolve_global("os\0x", 4, "system", 6, 2, &g, &err),
                     -1);
    ck_assert_err(err, PKL_E_BAD_NAME, 0);
    /* "copy_reg\0" is not the table key "copy_reg" */
    POISON_ERR(err);
    ck_assert_int_eq(
        pkl_resolve_global("copy_reg\0", 9, "_reconstructor", 14, 2, &g, &err),
        -1);
    ck_assert_err(err, PKL_E_BAD_NAME, 0);
    /* the detail shows the NUL escaped, never raw */
    ck_assert_ptr_nonnull(strstr(err.detail, "\\x00"));
}
END_TEST

/* PKL_NAME_MAX (256) bytes is accepted; one more is refused. */
START_TEST(test_lengths)
{
    char m[PKL_NAME_MAX + 2], n[PKL_NAME_MAX + 2];
    pkl_global g;
    pkl_error err;
    memset(m, 'm', sizeof m);
    memset(n, 'n', sizeof n);
    POISON_ERR(err);
    ck_assert_int_eq(pkl_resolve_global(m, PKL_NAME_MAX, n, PKL_NAME_MAX, 4,
                                        &g, &err), 0);
    ck_assert_uint_eq(strlen(g.module), PKL_NAME_MAX);
    ck_assert_uint_eq(strlen(g.qualname), PKL_NAME_MAX);
    POISON_ERR(err);
    ck_assert_int_eq(pkl_resolve_global(m, PKL_NAME_MAX + 1, n, 1, 4, &g, &err),
                     -1);
    ck_assert_err(err, PKL_E_BAD_NAME, 0);
    POISON_ERR(err);
    ck_assert_int_eq(pkl_resolve_global(m, 1, n, PKL_NAME_MAX + 1, 4, &g, &err),
                     -1);
    ck_assert_err(err, PKL_E_BAD_NAME, 0);
    /* a rename result is measured, not the input: "__builtin__" (11) ->
     * "builtins" (8) is fine either way; just check NULL err is allowed */
    ck_assert_int_eq(pkl_resolve_global("__builtin__", 11, "set", 3, 2, &g,
                                        NULL), 0);
    ck_assert_int_eq(pkl_resolve_global("a b", 3, "set", 3, 2, &g, NULL), -1);
}
END_TEST

START_TEST(test_invalid_args)
{
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_resolve_global("m", 1, "n", 1, 4, NULL, &err), -1);
    ck_assert_err(err, PKL_E_INVALID_ARG, 0);
    pkl_global g;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_resolve_global(NULL, 3, "n", 1, 4, &g, &err), -1);
    ck_assert_err(err, PKL_E_INVALID_ARG, 0);
}
END_TEST

/* Every row of the generated table maps below protocol 3 and not from 3
 * on. The table itself is compared with this machine's _compat_pickle by
 * tests/test_policy_cli.py (scripts/gen_compat.py --check). */
typedef struct { const char *m, *n, *nm, *nn; } cn_row;
static const cn_row compat_rows[] = {
#define COMPAT_NAME(m, n, nm, nn) {m, n, nm, nn},
#include "compat_pickle.def"
#undef COMPAT_NAME
};

START_TEST(test_every_name_mapping)
{
    const cn_row *r = &compat_rows[_i];
    pkl_global g;
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_resolve_global(r->m, strlen(r->m), r->n, strlen(r->n),
                                        2, &g, &err), 0);
    ck_assert_str_eq(g.module, r->nm);
    ck_assert_str_eq(g.qualname, r->nn);
    ck_assert_int_eq(pkl_resolve_global(r->m, strlen(r->m), r->n, strlen(r->n),
                                        3, &g, &err), 0);
    ck_assert_str_eq(g.module, r->m);
    ck_assert_str_eq(g.qualname, r->n);
}
END_TEST

Suite *suite_names(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("resolve");
    tcase_add_loop_test(tc, test_resolve_table, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_nul_bytes);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_invalid_args);
    tcase_add_loop_test(tc, test_every_name_mapping, 0,
                        (int)(sizeof compat_rows / sizeof compat_rows[0]));
    suite_add_tcase(s, tc);
    return s;
}
