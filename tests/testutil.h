/* testutil.h -- helpers shared by the check suites. */
#ifndef PKL_TESTUTIL_H
#define PKL_TESTUTIL_H

#include <check.h>
#include <string.h>
#include "pickleguard.h"

/* Poison an error struct before a call so a function that forgets to fill
 * it is caught (yyjson's test_err_code.c does the same). */
#define POISON_ERR(e) memset(&(e), 0xff, sizeof(e))

/* Asserts code and offset of an error. */
#define ck_assert_err(e, c, off)                                              \
    do {                                                                      \
        ck_assert_int_eq((e).code, (c));                                      \
        ck_assert_uint_eq((e).offset, (size_t)(off));                         \
        ck_assert_ptr_nonnull((e).msg);                                       \
    } while (0)

#endif
