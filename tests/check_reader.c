/* check_reader.c -- table-driven tests of the opcode reader (reader.c) and
 * of pkl_bigint_to_decimal.
 *
 * Each row gives an input, how many opcodes to read first (`skip`), and
 * what reading the next opcode must give: rc, and either the error code and
 * offset (a caret comment under the input marks the byte) or the decoded
 * fields. Expected values come from CPython 3.11 (pickle, pickletools,
 * int.from_bytes...) or from reasoning written next to the row -- never
 * from this reader's output. Every row runs under a counting allocator
 * that checks nothing leaks; rows marked `noalloc` must not allocate at
 * all (declared lengths are checked before any allocation).
 *
 * C hex escapes are greedy: "\x01" "a" is split on purpose.
 */
#include "testutil.h"
#include "internal.h" /* the library's own entry points */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table ------------------------------------------------------------ */

#define S(x) x, sizeof(x) - 1
#define NO_DATA NULL, 0

enum { F_NONE, F_BITS, F_NAN };

typedef struct rcase {
    const char *name;
    const char *in;
    size_t len;
    unsigned skip;       /* opcodes read (successfully) before the one tested */
    int rc;              /* 1, 0 or -1 */
    pkl_code code;          /* rc -1: error code */
    size_t off;          /* rc -1: error offset; rc 1: op offset */
    int type;            /* rc 1: pkl_argtype */
    int64_t i;
    int fkind;           /* F_BITS: compare f bit for bit with fbits */
    uint64_t fbits;
    const char *data;    /* rc 1: expected data bytes (NULL: not compared) */
    size_t dlen;
    const char *data2;
    size_t dlen2;
    size_t end;          /* rc 1: op->end (0: not compared) */
    int noalloc;         /* must not allocate at all */
    int note;            /* rc 1: expected op->note + 1 (0: not compared) */
} rcase;

/* A text argument read with a note: the values are CPython's (_pickle.c's
 * where it accepts the text; tests/test_reader_parity.py checks them
 * against both unpicklers). */
#define NOTED(nm, input, t, v, n) \
    { .name = nm, .in = S(input), .rc = 1, .type = (t), .i = (v), .note = (n) + 1 }
#define NOTED_F(nm, input, bits, n) \
    { .name = nm, .in = S(input), .rc = 1, .type = PKL_A_FLOAT, \
      .fkind = F_BITS, .fbits = (bits), .note = (n) + 1 }
#define NC PKL_NOTE_NONCANONICAL
#define DF PKL_NOTE_DIFFERS

#define OK_INT(nm, input, v, e) \
    { .name = nm, .in = S(input), .rc = 1, .type = PKL_A_INT, .i = (v), .end = (e) }
#define ERR(nm, input, c, o) \
    { .name = nm, .in = S(input), .rc = -1, .code = (c), .off = (o) }
#define ERR_NOALLOC(nm, input, c, o) \
    { .name = nm, .in = S(input), .rc = -1, .code = (c), .off = (o), .noalloc = 1 }
#define OK_DATA(nm, input, t, d, e) \
    { .name = nm, .in = S(input), .rc = 1, .type = (t), .data = d, \
      .dlen = sizeof(d) - 1, .end = (e) }
#define OK_FLOAT(nm, input, bits) \
    { .name = nm, .in = S(input), .rc = 1, .type = PKL_A_FLOAT, \
      .fkind = F_BITS, .fbits = (bits) }

static const rcase cases[] = {
    /* ---- fixed-size integers ---- */
    OK_INT("uint1 max", "K\xff.", 255, 2),
    OK_INT("uint2 max", "M\xff\xff.", 65535, 3),
    OK_INT("uint2 little-endian", "M\x01\x02", 0x0201, 3),
    OK_INT("int4 -1", "J\xff\xff\xff\xff", -1, 5),
    OK_INT("int4 min", "J\x00\x00\x00\x80", INT32_MIN, 5),
    OK_INT("int4 max", "J\xff\xff\xff\x7f", INT32_MAX, 5),
    OK_INT("uint4 max (LONG_BINGET)", "j\xff\xff\xff\xff", 4294967295LL, 5),
    OK_INT("EXT4 is int4 (signed)", "\x84\xff\xff\xff\xff", -1, 5),
    ERR("uint4 truncated", "j\xff\xff\xff", PKL_E_TRUNCATED, 0),
    /*                      ^ */
    ERR("uint1 missing", "K", PKL_E_TRUNCATED, 0),
    OK_INT("PROTO 5", "\x80\x05", 5, 2),
    ERR("PROTO 6", "\x80\x06N.", PKL_E_BAD_PROTO, 0),
    /*              ^ */
    { .name = "PROTO 255 after a value", .in = S("N\x80\xff"), .skip = 1, .rc = -1,
      .code = PKL_E_BAD_PROTO, .off = 1 },
    /*                                ^ */

    /* ---- long1 / long4: two's complement, little-endian ---- */
    OK_INT("LONG1 with 0 bytes is 0", "\x8a\x00", 0, 2),
    OK_INT("LONG1 ff is -1", "\x8a\x01\xff", -1, 3),
    OK_INT("LONG1 7f is 127", "\x8a\x01\x7f", 127, 3),
    OK_INT("LONG1 80 00 is 128", "\x8a\x02\x80\x00", 128, 4),
    OK_INT("LONG1 00 80 is -32768 (sign extension)", "\x8a\x02\x00\x80", -32768, 4),
    OK_INT("LONG1 int64 max", "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f", INT64_MAX, 10),
    OK_INT("LONG1 int64 min", "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80", INT64_MIN, 10),
    OK_INT("LONG1 9 bytes of redundant ff is -1", "\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff",
           -1, 11),
    OK_INT("LONG1 9 zero bytes is 0", "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00", 0, 11),
    OK_DATA("LONG1 2^63 needs 9 bytes: BIGINT",
            "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00", PKL_A_BIGINT,
            "\x00\x00\x00\x00\x00\x00\x00\x80\x00", 11),
    OK_DATA("LONG1 -2^63-1: BIGINT", "\x8a\x09\xff\xff\xff\xff\xff\xff\xff\x7f\xff",
            PKL_A_BIGINT, "\xff\xff\xff\xff\xff\xff\xff\x7f\xff", 11),
    ERR("LONG1 count beyond input", "\x8a\x05\x01\x02", PKL_E_TRUNCATED, 0),
    /*                               ^ */
    OK_INT("LONG4 with 0 bytes is 0", "\x8b\x00\x00\x00\x00", 0, 5),
    OK_DATA("LONG4 10 bytes", "\x8b\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01",
            PKL_A_BIGINT, "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01", 15),
    { .name = "LONG4 negative count", .in = S("\x80\x02\x8b\xff\xff\xff\xff."), .skip = 1,
      .rc = -1, .code = PKL_E_BAD_LENGTH, .off = 2 },
    /*                                  ^ */
    ERR_NOALLOC("LONG4 count 2^31-1 in 7 bytes", "\x8b\xff\xff\xff\x7f\x01.",
                PKL_E_TRUNCATED, 0),

    /* ---- decimalnl_short: INT, GET, PUT ---- */
    OK_INT("INT 123", "I123\n", 123, 5),
    OK_INT("INT -123", "I-123\n", -123, 6),
    OK_INT("INT 0 is an int", "I0\n", 0, 3),
    OK_INT("INT 1 is an int", "I1\n", 1, 3),
    { .name = "INT 00 is False", .in = S("I00\n"), .rc = 1, .type = PKL_A_BOOL, .i = 0, .end = 4 },
    { .name = "INT 01 is True", .in = S("I01\n"), .rc = 1, .type = PKL_A_BOOL, .i = 1, .end = 4 },
    OK_INT("INT int64 max", "I9223372036854775807\n", INT64_MAX, 21),
    OK_INT("INT int64 min", "I-9223372036854775808\n", INT64_MIN, 22),
    OK_DATA("INT 2^63 overflows to DECIMAL", "I9223372036854775808\n", PKL_A_DECIMAL,
            "9223372036854775808", 21),
    OK_DATA("INT -2^63-1 overflows to DECIMAL", "I-9223372036854775809\n", PKL_A_DECIMAL,
            "-9223372036854775809", 22),
    /* 19 significant digits are checked against the int64 range exactly;
     * 20 or more are always beyond it */
    OK_INT("LONG int64 max", "L9223372036854775807L\n", INT64_MAX, 22),
    OK_INT("LONG int64 min", "L-9223372036854775808\n", INT64_MIN, 22),
    OK_DATA("LONG 2^63 overflows to DECIMAL", "L9223372036854775808\n", PKL_A_DECIMAL,
            "9223372036854775808", 21),
    OK_DATA("LONG 19 nines overflow", "L9999999999999999999\n", PKL_A_DECIMAL,
            "9999999999999999999", 21),
    OK_DATA("LONG 20 digits", "L-10000000000000000000L\n", PKL_A_DECIMAL,
            "-10000000000000000000", 24),
    OK_INT("GET 19 digits after leading zeros", "g009223372036854775807\n", INT64_MAX, 23),
    /* _pickle.c reads INT with strtol(base 0): "010" is 8 there, an error
     * in pickle.py; "-0" and "+1" are bools (len 3) for _pickle.c only */
    NOTED("INT 010 is 8 for _pickle.c only", "I010\n", PKL_A_INT, 8, DF),
    NOTED("INT -0 is False for _pickle.c, 0 for pickle.py", "I-0\n", PKL_A_BOOL, 0, DF),
    NOTED("INT +1 is True for _pickle.c, 1 for pickle.py", "I+1\n", PKL_A_BOOL, 1, DF),
    NOTED("INT ' 1' is True for _pickle.c", "I 1\n", PKL_A_BOOL, 1, DF),
    NOTED("INT ' 12' is 12 for both", "I 12\n", PKL_A_INT, 12, NC),
    NOTED("INT 1_0 is 10 for both", "I1_0\n", PKL_A_INT, 10, NC),
    NOTED("INT 0x10 is 16 for both", "I0x10\n", PKL_A_INT, 16, NC),
    NOTED("INT 0o17 is 15 for both", "I0o17\n", PKL_A_INT, 15, NC),
    NOTED("INT -0b101 is -5 for both", "I-0b101\n", PKL_A_INT, -5, NC),
    OK_DATA("INT 0x10000000000000000 is a BIGINT", "I0x10000000000000000\n", PKL_A_BIGINT,
            "\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00", 0),
    ERR("INT empty (len < 2 in _pickle.c)", "I\n", PKL_E_BAD_INT, 0),
    ERR("INT 0_1 (zeros only after a leading 0)", "I0_1\n", PKL_E_BAD_INT, 0),
    ERR("INT 1__0", "I1__0\n", PKL_E_BAD_INT, 0),
    ERR("INT lone minus", "I-\n", PKL_E_BAD_INT, 0),
    ERR("INT 12L (L is LONG's)", "I12L\n", PKL_E_BAD_INT, 0),
    NOTED("INT with NUL: _pickle.c's strtol stops there", "I12\x00zz\n", PKL_A_INT, 12, DF),
    { .name = "INT without newline", .in = S("N.I123"), .skip = 2, .rc = -1,
      .code = PKL_E_NO_NEWLINE, .off = 2 },
    /*                              ^ */
    OK_INT("GET 01: base 10 for both unpicklers", "g01\n", 1, 4),
    OK_INT("PUT 0", "p0\n", 0, 3),
    NOTED("GET 1_0 is 10 for both", "g1_0\n", PKL_A_INT, 10, NC),
    NOTED("GET ' 5 ' is 5 for both", "g 5 \n", PKL_A_INT, 5, NC),
    NOTED("PUT 5 NUL is 5 for _pickle.c only", "p5\x00\n", PKL_A_INT, 5, DF),
    ERR("GET 0x5 (base 10)", "g0x5\n", PKL_E_BAD_INT, 0),

    /* ---- decimalnl_long: LONG ---- */
    OK_INT("LONG 123L", "L123L\n", 123, 6),
    OK_INT("LONG 123 without L", "L123\n", 123, 5),
    OK_INT("LONG -5L", "L-5L\n", -5, 5),
    OK_INT("LONG 00 is 0 (int(s, 0) allows zeros)", "L00\n", 0, 4),
    OK_INT("LONG -0 is 0", "L-0\n", 0, 4),
    OK_DATA("LONG beyond int64", "L99999999999999999999L\n", PKL_A_DECIMAL,
            "99999999999999999999", 23),
    OK_DATA("LONG negative beyond int64", "L-99999999999999999999\n", PKL_A_DECIMAL,
            "-99999999999999999999", 23),
    ERR("LONG 010 (invalid for int(s, 0))", "L010\n", PKL_E_BAD_INT, 0),
    NOTED("LONG 0x10L is 16 for both", "L0x10L\n", PKL_A_INT, 16, NC),
    NOTED("LONG 7 NUL x: 7 for _pickle.c only", "L7\x00x\n", PKL_A_INT, 7, DF),
    ERR("LONG lone L", "LL\n", PKL_E_BAD_INT, 0),
    ERR("LONG 1LL", "L1LL\n", PKL_E_BAD_INT, 0),

    /* ---- floatnl ---- */
    OK_FLOAT("FLOAT 1.5", "F1.5\n", 0x3ff8000000000000ULL),
    OK_FLOAT("FLOAT -0.0 keeps its sign", "F-0.0\n", 0x8000000000000000ULL),
    OK_FLOAT("FLOAT .5", "F.5\n", 0x3fe0000000000000ULL),
    OK_FLOAT("FLOAT 5.", "F5.\n", 0x4014000000000000ULL),
    OK_FLOAT("FLOAT 1e308", "F1e308\n", 0x7fe1ccf385ebc8a0ULL),
    OK_FLOAT("FLOAT 1E-310 subnormal", "F1E-310\n", 0x000012688b70e62bULL),
    OK_FLOAT("FLOAT 1e-400 underflows to 0", "F1e-400\n", 0),
    OK_FLOAT("FLOAT inf", "Finf\n", 0x7ff0000000000000ULL),
    OK_FLOAT("FLOAT -Infinity", "F-Infinity\n", 0xfff0000000000000ULL),
    OK_FLOAT("FLOAT +INF", "F+INF\n", 0x7ff0000000000000ULL),
    { .name = "FLOAT nan", .in = S("Fnan\n"), .rc = 1, .type = PKL_A_FLOAT, .fkind = F_NAN },
    { .name = "FLOAT -NaN", .in = S("F-NaN\n"), .rc = 1, .type = PKL_A_FLOAT, .fkind = F_NAN },
    OK_FLOAT("FLOAT text over 128 bytes",
             "F0.00000000000000000000000000000000000000000000000000000000000000000000"
             "00000000000000000000000000000000000000000000000000000000000001e130\n",
             0x3ff0000000000000ULL),
    NOTED_F("FLOAT 1e309: OverflowError in _pickle.c, inf in pickle.py", "F1e309\n",
            0x7ff0000000000000ULL, DF),
    NOTED_F("FLOAT ' 1.5': pickle.py only", "F 1.5\n", 0x3ff8000000000000ULL, DF),
    NOTED_F("FLOAT 1_0: pickle.py only", "F1_0\n", 0x4024000000000000ULL, DF),
    NOTED_F("FLOAT 1.5 NUL x: _pickle.c only", "F1.5\x00x\n", 0x3ff8000000000000ULL, DF),
    NOTED_F("FLOAT +1.5: both", "F+1.5\n", 0x3ff8000000000000ULL, NC),
    ERR("FLOAT 1__0", "F1__0\n", PKL_E_BAD_FLOAT, 0),
    ERR("FLOAT hex", "F0x10\n", PKL_E_BAD_FLOAT, 0),
    ERR("FLOAT lone dot", "F.\n", PKL_E_BAD_FLOAT, 0),
    ERR("FLOAT 1e without exponent digits", "F1e\n", PKL_E_BAD_FLOAT, 0),
    ERR("FLOAT empty", "F\n", PKL_E_BAD_FLOAT, 0),
    ERR("FLOAT infinit", "Finfinit\n", PKL_E_BAD_FLOAT, 0),
    ERR("FLOAT abc", "Fabc\n", PKL_E_BAD_FLOAT, 0),
    ERR("FLOAT no newline", "F1.5", PKL_E_NO_NEWLINE, 0),

    /* ---- float8 (big-endian) ---- */
    OK_FLOAT("BINFLOAT 1.5", "G\x3f\xf8\x00\x00\x00\x00\x00\x00", 0x3ff8000000000000ULL),
    OK_FLOAT("BINFLOAT -0.0", "G\x80\x00\x00\x00\x00\x00\x00\x00", 0x8000000000000000ULL),
    OK_FLOAT("BINFLOAT NaN payload kept", "G\x7f\xf8\x00\x00\x00\x00\x00\x01",
             0x7ff8000000000001ULL),
    ERR("BINFLOAT truncated", "G\x3f\xf8", PKL_E_TRUNCATED, 0),

    /* ---- stringnl: STRING (Python 2 string-escape) ---- */
    OK_DATA("STRING single quotes", "S'abc'\n", PKL_A_BYTES, "abc", 7),
    OK_DATA("STRING double quotes", "S\"abc\"\n", PKL_A_BYTES, "abc", 7),
    OK_DATA("STRING empty", "S''\n", PKL_A_BYTES, "", 4),
    OK_DATA("STRING simple escapes", "S'\\n\\t\\\\\\'\\\"\\a\\b\\f\\v\\r'\n", PKL_A_BYTES,
            "\n\t\\'\"\a\b\f\v\r", 0),
    OK_DATA("STRING octal, masked to 8 bits (\\777 -> 0xff)", "S'\\101\\7\\0\\777x'\n",
            PKL_A_BYTES, "A\x07\x00\xffx", 0),
    OK_DATA("STRING octal stops after 3 digits", "S'\\1011'\n", PKL_A_BYTES, "A1", 0),
    OK_DATA("STRING \\x41", "S'\\x41\\xfF'\n", PKL_A_BYTES, "A\xff", 0),
    OK_DATA("STRING unknown escape keeps its backslash", "S'\\q\\8'\n", PKL_A_BYTES,
            "\\q\\8", 0),
    OK_DATA("STRING inner quotes are not checked", "S'a'b'\n", PKL_A_BYTES, "a'b", 0),
    ERR("STRING \\x with one hex digit", "S'\\x4'\n", PKL_E_BAD_STRING, 0),
    ERR("STRING \\x with a non-hex digit", "S'\\xg1'\n", PKL_E_BAD_STRING, 0),
    ERR("STRING \\x at the end", "S'ab\\x'\n", PKL_E_BAD_STRING, 0),
    ERR("STRING trailing backslash", "S'abc\\'\n", PKL_E_BAD_STRING, 0),
    ERR("STRING unquoted", "Sabc\n", PKL_E_BAD_STRING, 0),
    ERR("STRING mismatched quotes", "S'abc\"\n", PKL_E_BAD_STRING, 0),
    ERR("STRING lone quote", "S'\n", PKL_E_BAD_STRING, 0),
    ERR("STRING empty line", "S\n", PKL_E_BAD_STRING, 0),
    ERR("STRING no newline", "S'abc'", PKL_E_NO_NEWLINE, 0),

    /* ---- unicodestringnl: UNICODE (raw-unicode-escape) ---- */
    OK_DATA("UNICODE plain", "Vabc\n", PKL_A_STR, "abc", 5),
    OK_DATA("UNICODE empty", "V\n", PKL_A_STR, "", 2),
    OK_DATA("UNICODE lone backslash is literal", "Va\\b\n", PKL_A_STR, "a\\b", 0),
    ERR("UNICODE without newline", "Vabc", PKL_E_NO_NEWLINE, 0),
    OK_DATA("UNICODE \\u0041", "V\\u0041\n", PKL_A_STR, "A", 0),
    OK_DATA("UNICODE \\U0001f600", "V\\U0001f600\n", PKL_A_STR, "\xf0\x9f\x98\x80", 0),
    OK_DATA("UNICODE Latin-1 byte", "V\xe9\n", PKL_A_STR, "\xc3\xa9", 0),
    OK_DATA("UNICODE even backslash run: \\\\u0041 stays literal", "V\\\\u0041\n",
            PKL_A_STR, "\\\\u0041", 0),
    OK_DATA("UNICODE odd backslash run: \\\\\\u0041 escapes", "V\\\\\\u0041\n",
            PKL_A_STR, "\\\\A", 0),
    OK_DATA("UNICODE \\x is literal", "V\\x41\n", PKL_A_STR, "\\x41", 0),
    OK_DATA("UNICODE trailing backslash is literal", "Va\\\n", PKL_A_STR, "a\\", 0),
    OK_DATA("UNICODE \\ud800 lone surrogate", "V\\ud800\n", PKL_A_STR, "\xed\xa0\x80", 0),
    OK_DATA("UNICODE \\U0010ffff", "V\\U0010ffff\n", PKL_A_STR, "\xf4\x8f\xbf\xbf", 0),
    ERR("UNICODE truncated \\u", "V\\u00\n", PKL_E_BAD_ESCAPE, 0),
    ERR("UNICODE \\u with non-hex", "V\\u00zz\n", PKL_E_BAD_ESCAPE, 0),
    ERR("UNICODE \\U out of range", "V\\U00110000\n", PKL_E_BAD_ESCAPE, 0),
    ERR("UNICODE \\U ffffffff", "V\\Uffffffff\n", PKL_E_BAD_ESCAPE, 0),

    /* ---- stringnl_noescape (PERSID) and the GLOBAL / INST pair ---- */
    OK_DATA("PERSID ascii", "Pabc\n", PKL_A_STR, "abc", 5),
    ERR("PERSID non-ASCII", "P\xc3\xa9\n", PKL_E_BAD_UTF8, 0),
    { .name = "GLOBAL pair", .in = S("cos\nsystem\n"), .rc = 1, .type = PKL_A_PAIR,
      .data = S("os"), .data2 = S("system"), .end = 11 },
    { .name = "GLOBAL UTF-8 module", .in = S("c\xc3\xa9\nx\n"), .rc = 1, .type = PKL_A_PAIR,
      .data = S("\xc3\xa9"), .data2 = S("x"), .end = 6 },
    ERR("GLOBAL encoded surrogate (strict UTF-8)", "cos\xed\xa0\x80\nx\n", PKL_E_BAD_UTF8, 0),
    ERR("GLOBAL name with bad UTF-8", "cos\n\xff\n", PKL_E_BAD_UTF8, 0),
    { .name = "GLOBAL at the end without newline: pickle.py drops the last byte",
      .in = S("cos\nsystemX"), .rc = 1, .type = PKL_A_PAIR, .data = S("os"),
      .data2 = S("system"), .end = 11, .note = DF + 1 },
    { .name = "GLOBAL module line at the end: name empty", .in = S("cosX"), .rc = 1,
      .type = PKL_A_PAIR, .data = S("os"), .data2 = S(""), .end = 4, .note = DF + 1 },
    ERR("GLOBAL at the end, module no identifier", "co s\nsystem", PKL_E_NO_NEWLINE, 0),
    { .name = "INST pair", .in = S("ios\nsystem\n"), .rc = 1, .type = PKL_A_PAIR,
      .data = S("os"), .data2 = S("system"), .end = 11 },
    /* both unpicklers decode INST's lines as ASCII (fixed: was UTF-8) */
    ERR("INST non-ASCII module", "i\xc3\xa9\nx\n", PKL_E_BAD_UTF8, 0),
    ERR("INST non-ASCII name", "ios\n\xc3\xa9\n", PKL_E_BAD_UTF8, 0),

    /* ---- counted strings and bytes ---- */
    OK_DATA("SHORT_BINSTRING", "U\x03" "abc", PKL_A_BYTES, "abc", 5),
    ERR("SHORT_BINSTRING short", "U\x05" "ab", PKL_E_TRUNCATED, 0),
    OK_DATA("BINSTRING", "T\x03\x00\x00\x00" "abc", PKL_A_BYTES, "abc", 8),
    /* pickle.py reads BINSTRING's count as a signed int4 (fixed: was
     * accepted when the bytes existed) */
    ERR_NOALLOC("BINSTRING count >= 2^31", "T\x00\x00\x00\x80" "abc", PKL_E_BAD_LENGTH, 0),
    OK_DATA("SHORT_BINBYTES empty", "C\x00", PKL_A_BYTES, "", 2),
    OK_DATA("BINBYTES", "B\x02\x00\x00\x00\x00\xff", PKL_A_BYTES, "\x00\xff", 7),
    ERR_NOALLOC("BINBYTES 2^32-1", "B\xff\xff\xff\xff" "abc", PKL_E_TRUNCATED, 0),
    OK_DATA("BINBYTES8", "\x8e\x02\x00\x00\x00\x00\x00\x00\x00" "ab", PKL_A_BYTES, "ab", 11),
    OK_DATA("BYTEARRAY8", "\x96\x01\x00\x00\x00\x00\x00\x00\x00" "z", PKL_A_BYTES, "z", 10),
    { .name = "BINUNICODE8 2^63 in a 20-byte input",
      .in = S("\x80\x04\x8d\x00\x00\x00\x00\x00\x00\x00\x80" "abcdefghi"),
      .skip = 1, .rc = -1, .code = PKL_E_TRUNCATED, .off = 2, .noalloc = 1 },
    /*              ^ */
    ERR_NOALLOC("BINBYTES8 2^63", "\x8e\x00\x00\x00\x00\x00\x00\x00\x80" "abc",
                PKL_E_TRUNCATED, 0),
    ERR_NOALLOC("BYTEARRAY8 2^64-1", "\x96\xff\xff\xff\xff\xff\xff\xff\xff" "abc",
                PKL_E_TRUNCATED, 0),
    ERR_NOALLOC("BINUNICODE 2^31", "X\x00\x00\x00\x80" "abc", PKL_E_TRUNCATED, 0),
    OK_DATA("BINUNICODE UTF-8", "X\x02\x00\x00\x00\xc3\xa9", PKL_A_STR, "\xc3\xa9", 7),
    OK_DATA("BINUNICODE lone surrogate (surrogatepass)", "X\x03\x00\x00\x00\xed\xa0\x80",
            PKL_A_STR, "\xed\xa0\x80", 8),
    OK_DATA("SHORT_BINUNICODE astral", "\x8c\x04\xf0\x9f\x98\x80", PKL_A_STR,
            "\xf0\x9f\x98\x80", 6),
    ERR("BINUNICODE bad continuation", "X\x02\x00\x00\x00\xc3(", PKL_E_BAD_UTF8, 0),
    /* the fast path takes ASCII in 8-byte words: non-ASCII after the first
     * word, and a count that runs past the end, go to the full path */
    OK_DATA("BINUNICODE 9 ASCII bytes", "X\x09\x00\x00\x00" "abcdefghi", PKL_A_STR,
            "abcdefghi", 14),
    ERR("BINUNICODE bad UTF-8 after 8 ASCII bytes",
        "X\x0a\x00\x00\x00" "abcdefgh\xc3(", PKL_E_BAD_UTF8, 0),
    ERR("BINUNICODE one byte short", "X\x04\x00\x00\x00" "abc", PKL_E_TRUNCATED, 0),
    ERR("SHORT_BINBYTES one byte short", "C\x04" "abc", PKL_E_TRUNCATED, 0),
    ERR("SHORT_BINUNICODE 0xff", "\x8c\x01\xff", PKL_E_BAD_UTF8, 0),
    ERR("SHORT_BINUNICODE overlong '/'", "\x8c\x02\xc0\xaf", PKL_E_BAD_UTF8, 0),
    ERR("SHORT_BINUNICODE above U+10FFFF", "\x8c\x04\xf4\x90\x80\x80", PKL_E_BAD_UTF8, 0),
    ERR("SHORT_BINUNICODE truncated sequence", "\x8c\x02\xe2\x82", PKL_E_BAD_UTF8, 0),
    ERR("BINUNICODE8 bad UTF-8", "\x8d\x01\x00\x00\x00\x00\x00\x00\x00\x80",
        PKL_E_BAD_UTF8, 0),

    /* ---- frames ---- */
    OK_INT("FRAME 1", "\x95\x01\x00\x00\x00\x00\x00\x00\x00N", 1, 9),
    /* _pickle.c refuses a frame longer than the input; pickle.py reads
     * the bytes there are as a short frame: a frame to the end, DIFFERS */
    { .name = "FRAME beyond the end", .in = S("\x95\x05\x00\x00\x00\x00\x00\x00\x00N."),
      .rc = 1, .type = PKL_A_INT, .i = 2, .note = PKL_NOTE_DIFFERS + 1, .noalloc = 1 },
    /* 2^63 > sys.maxsize: pickle.py refuses it too (load_frame) */
    { .name = "FRAME 2^63 in 20 bytes",
      .in = S("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x80" "K\x01K\x02K\x03." ".."),
      .skip = 1, .rc = -1, .code = PKL_E_BAD_LENGTH, .off = 2, .noalloc = 1 },
    { .name = "FRAME 2^63-1 in 20 bytes",
      .in = S("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7f" "K\x01K\x02K\x03." ".."),
      .skip = 1, .rc = 1, .type = PKL_A_INT, .i = 9, .off = 2,
      .note = PKL_NOTE_DIFFERS + 1, .noalloc = 1 },
    /* FRAME(2) covers bytes 9-10; BINUNICODE at 9 needs 5+3 bytes */
    { .name = "counted argument crosses the frame end",
      .in = S("\x95\x02\x00\x00\x00\x00\x00\x00\x00X\x03\x00\x00\x00" "abc."),
      .skip = 1, .rc = -1, .code = PKL_E_FRAME, .off = 9 },
    /*         ^ byte 9 */
    { .name = "text argument crosses the frame end",
      .in = S("\x95\x02\x00\x00\x00\x00\x00\x00\x00I12\n."),
      .skip = 1, .rc = -1, .code = PKL_E_FRAME, .off = 9 },
    { .name = "uint1 argument outside a 1-byte frame",
      .in = S("\x95\x01\x00\x00\x00\x00\x00\x00\x00K\x05."),
      .skip = 1, .rc = -1, .code = PKL_E_FRAME, .off = 9 },
    /* FRAME(12) covers 9..20; the FRAME at 10 starts inside it */
    { .name = "STOP before its frame ends", .in = S("\x95\x02\x00\x00\x00\x00\x00\x00\x00.N"),
      .skip = 1, .rc = -1, .code = PKL_E_FRAME, .off = 9 },
    { .name = "FRAME inside an unfinished frame",
      .in = S("\x95\x0c\x00\x00\x00\x00\x00\x00\x00N\x95\x01\x00\x00\x00\x00\x00\x00\x00.."),
      .skip = 2, .rc = -1, .code = PKL_E_FRAME, .off = 10 },
    /* FRAME(10) covers 9..18: N, then a FRAME ending exactly at 18 */
    { .name = "FRAME as the last opcode of a frame is fine",
      .in = S("\x95\x0a\x00\x00\x00\x00\x00\x00\x00N\x95\x01\x00\x00\x00\x00\x00\x00\x00."),
      .skip = 2, .rc = 1, .off = 10, .type = PKL_A_INT, .i = 1, .end = 19 },
    { .name = "opcode after the frame reads from the file",
      .in = S("\x95\x01\x00\x00\x00\x00\x00\x00\x00NK\x07"),
      .skip = 2, .rc = 1, .off = 10, .type = PKL_A_INT, .i = 7, .end = 12 },

    /* ---- opcodes and the end ---- */
    ERR("unknown opcode 0xff", "\xff", PKL_E_UNKNOWN_OPCODE, 0),
    { .name = "unknown opcode 0x00 after NONE", .in = S("N\x00"), .skip = 1, .rc = -1,
      .code = PKL_E_UNKNOWN_OPCODE, .off = 1 },
    ERR("unknown opcode 0xa0", "\xa0", PKL_E_UNKNOWN_OPCODE, 0),
    { .name = "empty input: end", .in = S(""), .rc = 0 },
    { .name = "after STOP the reader goes on", .in = S("N.N"), .skip = 2, .rc = 1, .off = 2,
      .type = PKL_A_NONE, .end = 3 },
    { .name = "end after STOP", .in = S("N."), .skip = 2, .rc = 0 },
};

#define NCASES (sizeof cases / sizeof cases[0])

/* Reads the row's input; fills *err_out / *op_out. Returns the rc. */
static int read_case(const rcase *t, test_alloc *cnt, pkl_op *op, pkl_error *err)
{
    pkl_allocator a = { ta_malloc, ta_realloc, ta_free, cnt };
    pkl_reader r;
    pkl_reader_init(&r, t->in, t->len, &a);
    int rc = 1;
    for (unsigned k = 0; k < t->skip; k++) {
        POISON_ERR(*err);
        rc = pkl_reader_next(&r, op, err);
        ck_assert_msg(rc == 1, "%s: skipped opcode %u returned %d", t->name, k, rc);
    }
    POISON_ERR(*err);
    memset(op, 0x5a, sizeof *op);
    rc = pkl_reader_next(&r, op, err);
    /* copy the data out before freeing the reader (it may be scratch) */
    static uint8_t keep[512], keep2[512];
    if (rc == 1 && op->data && op->len <= sizeof keep) {
        memcpy(keep, op->data, op->len);
        op->data = keep;
    }
    if (rc == 1 && op->data2 && op->len2 <= sizeof keep2) {
        memcpy(keep2, op->data2, op->len2);
        op->data2 = keep2;
    }
    pkl_reader_free(&r);
    return rc;
}

START_TEST(test_reader_table)
{
    const rcase *t = &cases[_i];
    test_alloc cnt = { 0 };
    pkl_op op;
    pkl_error err;
    int rc = read_case(t, &cnt, &op, &err);
    ck_assert_msg(rc == t->rc, "%s: rc %d, want %d (err %d at %zu: %s)", t->name, rc,
                  t->rc, err.code, err.offset, err.detail);
    ck_assert_msg(cnt.live == 0, "%s: %ld blocks leaked", t->name, cnt.live);
    if (t->noalloc)
        ck_assert_msg(cnt.calls == 0, "%s: %zu allocations before the length check",
                      t->name, cnt.calls);
    if (rc == -1) {
        ck_assert_msg(err.code == t->code && err.offset == t->off,
                      "%s: error %d at %zu (%s), want %d at %zu", t->name, err.code,
                      err.offset, err.detail, t->code, t->off);
        ck_assert_ptr_nonnull(err.msg);
        ck_assert_int_eq(err.opcode, (unsigned char)t->in[t->off]);
        return;
    }
    if (rc == 0)
        return;
    ck_assert_int_eq(err.code, PKL_OK);
    ck_assert_msg(op.type == t->type, "%s: type %d, want %d", t->name, op.type, t->type);
    ck_assert_uint_eq(op.offset, t->off);
    ck_assert_ptr_nonnull(op.info);
    ck_assert_int_eq(op.code, (unsigned char)t->in[t->off]);
    ck_assert_int_eq(op.info->code, op.code);
    if (t->end)
        ck_assert_msg(op.end == t->end, "%s: end %zu, want %zu", t->name, op.end, t->end);
    if (t->note)
        ck_assert_msg(op.note == t->note - 1, "%s: note %u, want %d", t->name,
                      op.note, t->note - 1);
    if (t->type == PKL_A_INT || t->type == PKL_A_BOOL)
        ck_assert_msg(op.i == t->i, "%s: i %lld, want %lld", t->name, (long long)op.i,
                      (long long)t->i);
    if (t->fkind == F_BITS) {
        uint64_t bits;
        memcpy(&bits, &op.f, sizeof bits);
        ck_assert_msg(bits == t->fbits, "%s: f bits %016llx, want %016llx", t->name,
                      (unsigned long long)bits, (unsigned long long)t->fbits);
    } else if (t->fkind == F_NAN) {
        ck_assert_msg(isnan(op.f), "%s: not nan", t->name);
    }
    if (t->data) {
        ck_assert_msg(op.len == t->dlen && memcmp(op.data, t->data, t->dlen) == 0,
                      "%s: data of %zu bytes differs (want %zu)", t->name, op.len, t->dlen);
    }
    if (t->data2) {
        ck_assert_msg(op.len2 == t->dlen2 && memcmp(op.data2, t->data2, t->dlen2) == 0,
                      "%s: data2 differs", t->name);
    }
}
END_TEST

/* Every row that allocates is run again failing each allocation in turn:
 * each must end in PKL_E_NOMEM (or succeed, if the failed call was not
 * needed) without leaking. */
START_TEST(test_reader_oom)
{
    const rcase *t = &cases[_i];
    test_alloc probe = { 0 };
    pkl_op op;
    pkl_error err;
    read_case(t, &probe, &op, &err);
    for (size_t n = 1; n <= probe.calls; n++) {
        test_alloc cnt = { .fail_at = n };
        int rc = read_case(t, &cnt, &op, &err);
        ck_assert_msg(cnt.live == 0, "%s: leak when allocation %zu fails", t->name, n);
        ck_assert_msg(rc == -1 && err.code == PKL_E_NOMEM,
                      "%s: allocation %zu failed but rc %d code %d", t->name, n, rc,
                      err.code);
    }
}
END_TEST

/* The scanner's reader does not compute FLOAT text values, but must accept
 * and refuse exactly what the full reader does. */
START_TEST(test_reader_skip_float_values)
{
    static const struct { const char *in; int rc; pkl_code code; } rows[] = {
        { "F1.5\n", 1, PKL_OK },
        { "F-628.5516522525292\n", 1, PKL_OK },
        { "F1e999\n", 1, PKL_OK },   /* overflow: inf for pickle.py only */
        { "F1e5\n", 1, PKL_OK },
        { "F1_0\n", 1, PKL_OK },      /* pickle.py only */
        { "F1__0\n", -1, PKL_E_BAD_FLOAT },
        { "F.\n", -1, PKL_E_BAD_FLOAT },
        { "Finf\n", 1, PKL_OK },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (int skip = 0; skip < 2; skip++) {
            pkl_reader r;
            pkl_op op;
            pkl_error err;
            memset(&err, 0, sizeof err);
            pkl_reader_init(&r, rows[i].in, strlen(rows[i].in), NULL);
            pkli_reader_set_options(&r, skip ? PKLI_READER_SKIP_FLOAT_VALUES : 0);
            int rc = pkl_reader_next(&r, &op, &err);
            ck_assert_msg(rc == rows[i].rc && err.code == rows[i].code,
                          "%s (skip %d): rc %d code %d", rows[i].in, skip, rc,
                          (int)err.code);
            if (rc == 1) {
                ck_assert_int_eq(op.type, PKL_A_FLOAT);
                ck_assert_uint_eq(op.end, strlen(rows[i].in));
            }
            pkl_reader_free(&r);
        }
    }
    /* 300 integer digits: skipped; 301: converted (and in range) */
    char buf[400];
    for (int nd = 300; nd <= 309; nd += 9) {
        buf[0] = 'F';
        memset(buf + 1, '9', (size_t)nd);
        memcpy(buf + 1 + nd, ".5\n", 3);
        pkl_reader r;
        pkl_op op;
        pkl_error err;
        memset(&err, 0, sizeof err);
        pkl_reader_init(&r, buf, (size_t)nd + 4, NULL);
        pkli_reader_set_options(&r, PKLI_READER_SKIP_FLOAT_VALUES);
        int rc = pkl_reader_next(&r, &op, &err);
        /* 10^309 overflows a double: noted (an error in _pickle.c, inf in
         * pickle.py) even when values are skipped */
        ck_assert_int_eq(rc, 1);
        ck_assert_int_eq(op.note, nd == 300 ? 0 : PKL_NOTE_DIFFERS);
        if (nd == 300) /* documented: the value is not computed */
            ck_assert(op.f == 0.0);
        pkl_reader_free(&r);
    }
}
END_TEST

START_TEST(test_reader_null_err)
{
    /* err may be NULL on every path */
    pkl_reader r;
    pkl_op op;
    pkl_reader_init(&r, "\xff", 1, NULL);
    ck_assert_int_eq(pkl_reader_next(&r, &op, NULL), -1);
    pkl_reader_free(&r);
    pkl_reader_init(&r, "K\x01", 2, NULL);
    ck_assert_int_eq(pkl_reader_next(&r, &op, NULL), 1);
    ck_assert_int_eq(pkl_reader_next(&r, &op, NULL), 0);
    pkl_reader_free(&r);
    pkl_reader_init(&r, NULL, 5, NULL);
    ck_assert_int_eq(pkl_reader_next(&r, &op, NULL), 0);
    pkl_reader_free(&r);
}
END_TEST

START_TEST(test_reader_seek)
{
    pkl_reader r;
    pkl_op op;
    pkl_error err;
    static const char in[] = "\x95\x02\x00\x00\x00\x00\x00\x00\x00NNK\x05";
    pkl_reader_init(&r, in, sizeof in - 1, NULL);
    ck_assert_int_eq(pkl_reader_next(&r, &op, &err), 1); /* FRAME */
    pkl_reader_seek(&r, 10);                             /* inside it */
    ck_assert_uint_eq(pkl_reader_offset(&r), 10);
    ck_assert_int_eq(pkl_reader_next(&r, &op, &err), 1); /* N */
    /* the frame was left: K at 11 reads its argument from the file */
    ck_assert_int_eq(pkl_reader_next(&r, &op, &err), 1);
    ck_assert_int_eq(op.code, 'K');
    ck_assert_int_eq(op.i, 5);
    pkl_reader_seek(&r, 1000);
    ck_assert_uint_eq(pkl_reader_offset(&r), sizeof in - 1);
    ck_assert_int_eq(pkl_reader_next(&r, &op, &err), 0);
    pkl_reader_free(&r);
}
END_TEST

/* ---- pkl_bigint_to_decimal: values from int.from_bytes(b, 'little',
 * signed=True) in CPython 3.11 ---- */

typedef struct bcase {
    const char *le;
    size_t len;
    const char *dec;
} bcase;

static const bcase bigs[] = {
    { S(""), "0" },
    { S("\x00"), "0" },
    { S("\xff"), "-1" },
    { S("\x80"), "-128" },
    { S("\x7f"), "127" },
    { S("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), "-1" },
    { S("\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), "1" },
    { S("\x00\x00\x00\x00\x00\x00\x00\x00\x01"), "18446744073709551616" },
    { S("\x00\x00\x00\x00\x00\x00\x00\x80\x00"), "9223372036854775808" },
    { S("\xff\xff\xff\xff\xff\xff\xff\x7f\xff"), "-9223372036854775809" },
    { S("\x00\x00\x00\x40\xea\xed\x74\x46\xd0\x9c\x2c\x9f\x0c"),
      "1000000000000000000000000000000" },
    { S("\x00\x00\x00\xc0\x15\x12\x8b\xb9\x2f\x63\xd3\x60\xf3"),
      "-1000000000000000000000000000000" },
    { S("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x01"),
      "1606938044258990275541962092341162602522202993782792835301376" },
    { S("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\xff"),
      "-1606938044258990275541962092341162602522202993782792835301376" },
};

START_TEST(test_bigint_decimal)
{
    const bcase *t = &bigs[_i];
    char out[4 * 32 + 8];
    memset(out, 'Z', sizeof out);
    size_t need = 4 * t->len + 8;
    size_t n = pkl_bigint_to_decimal((const uint8_t *)t->le, t->len, out, need);
    ck_assert_msg(n == strlen(t->dec) && strcmp(out, t->dec) == 0,
                  "case %d: got '%s' (%zu), want '%s'", _i, n ? out : "", n, t->dec);
    /* one byte less than documented is refused, never overrun */
    memset(out, 'Z', sizeof out);
    ck_assert_uint_eq(pkl_bigint_to_decimal((const uint8_t *)t->le, t->len, out, need - 1), 0);
    ck_assert_uint_eq(pkl_bigint_to_decimal((const uint8_t *)t->le, t->len, NULL, need), 0);
}
END_TEST

Suite *suite_reader(void)
{
    Suite *s = suite_create("reader");
    TCase *tc = tcase_create("table");
    tcase_add_loop_test(tc, test_reader_table, 0, (int)NCASES);
    tcase_add_loop_test(tc, test_reader_oom, 0, (int)NCASES);
    tcase_add_test(tc, test_reader_null_err);
    tcase_add_test(tc, test_reader_skip_float_values);
    tcase_add_test(tc, test_reader_seek);
    tcase_add_loop_test(tc, test_bigint_decimal, 0, (int)(sizeof bigs / sizeof bigs[0]));
    suite_add_tcase(s, tc);
    return s;
}
