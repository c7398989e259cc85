/* check_decoder.c -- pkl_decode against CPython's unpickler.
 *
 * Each row is (pickle bytes, policy, expected code and offset) or (pickle
 * bytes, policy, expected pickle-json). Expected values were reasoned from
 * _pickle.c / pickle.py (load_* methods) and docs/json.md, never copied
 * from our output; tests/test_load.py re-checks every row of this file
 * against CPython: each success row is unpickled with pickle.loads and
 * rendered by its independent renderer, and each malformed-input row must
 * make pickle.loads fail. Rows whose comment starts with '!' are exempt
 * from that re-check, and the comment says why (CPython cannot tell, or
 * deliberately differs). Offsets: the opcode's byte offset in the input.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ok_row {
    const char *data;
    size_t len;
    const char *policy;
    const char *json; /* without the trailing newline */
} ok_row;

typedef struct err_row {
    const char *data;
    size_t len;
    const char *policy;
    pkl_code code;
    size_t offset;
} err_row;

/* BEGIN OK ROWS (parsed by tests/test_load.py) */
static const ok_row ok_rows[] = {
    {"N.", 2, "default", "null"}, /* NONE */
    {"\210.", 2, "default", "true"}, /* NEWTRUE */
    {"\211.", 2, "default", "false"}, /* NEWFALSE */
    {"I01\012.", 5, "default", "true"}, /* INT 01 is True */
    {"I00\012.", 5, "default", "false"}, /* INT 00 is False */
    {"K\005.", 3, "default", "5"}, /* BININT1 */
    {"M\377\377.", 4, "default", "65535"}, /* BININT2 unsigned */
    {"J\377\377\377\377.", 6, "default", "-1"}, /* BININT signed */
    {"I-12\012.", 6, "default", "-12"}, /* INT text */
    {"L123L\012.", 7, "default", "123"}, /* LONG text with L */
    {"I99999999999999999999\012.", 23, "default", "99999999999999999999"}, /* INT beyond int64 */
    {"L-99999999999999999999L\012.", 25, "default", "-99999999999999999999"}, /* LONG beyond int64, negative */
    {"\212\011\000\000\000\000\000\000\000\000\001.", 12, "default", "18446744073709551616"}, /* LONG1 2**64 */
    {"\212\001\377.", 4, "default", "-1"}, /* LONG1 -1 */
    {"\212\000.", 3, "default", "0"}, /* LONG1 empty is 0 */
    {"\212\012\000\000\000\000\000\000\000\000\377\377.", 13, "default", "-18446744073709551616"}, /* LONG1 with redundant sign byte */
    {"G\077\360\000\000\000\000\000\000.", 10, "default", "1.0"}, /* BINFLOAT */
    {"F0.1\012.", 6, "default", "0.1"}, /* FLOAT */
    {"Fnan\012.", 6, "default", "{\"$float\": \"nan\"}"}, /* FLOAT nan */
    {"F-inf\012.", 7, "default", "{\"$float\": \"-inf\"}"}, /* FLOAT -inf */
    {"GCA\303y7\340\200\000.", 10, "default", "1e+16"}, /* repr(1e16) */
    {"G\200\000\000\000\000\000\000\000.", 10, "default", "-0.0"}, /* negative zero */
    {"G\077\323333334.", 10, "default", "0.30000000000000004"}, /* 17 digits */
    {"G\000\000\000\000\000\000\000\001.", 10, "default", "5e-324"}, /* smallest subnormal */
    {"X\002\000\000\000\303\251.", 8, "default", "\"\303\251\""}, /* BINUNICODE */
    {"\214\003\355\240\200.", 6, "default", "\"\\ud800\""}, /* lone surrogate */
    {"Vabc\\u20ac\012.", 12, "default", "\"abc\342\202\254\""}, /* UNICODE raw-unicode-escape */
    {"S'a\\nb'\012.", 9, "default", "\"a\\nb\""}, /* STRING escape, copied from scratch */
    {"U\003a\"\\.", 6, "default", "\"a\\\"\\\\\""}, /* SHORT_BINSTRING quote/backslash */
    {"C\002ab.", 5, "default", "{\"$bytes\": \"YWI=\"}"}, /* SHORT_BINBYTES */
    {"B\001\000\000\000a.", 7, "default", "{\"$bytes\": \"YQ==\"}"}, /* BINBYTES */
    {"\226\001\000\000\000\000\000\000\000z.", 11, "default", "{\"$bytearray\": \"eg==\"}"}, /* BYTEARRAY8 */
    {"](K\001K\002e.", 8, "default", "[1, 2]"}, /* APPENDS */
    {"]K\001a.", 5, "default", "[1]"}, /* APPEND */
    {"(K\001K\002l.", 7, "default", "[1, 2]"}, /* LIST */
    {"(K\001K\002t.", 7, "default", "{\"$tuple\": [1, 2]}"}, /* TUPLE */
    {").", 2, "default", "{\"$tuple\": []}"}, /* EMPTY_TUPLE */
    {"(t.", 3, "default", "{\"$tuple\": []}"}, /* TUPLE empty */
    {"K\001\205.", 4, "default", "{\"$tuple\": [1]}"}, /* TUPLE1 */
    {"K\001K\002K\003\207.", 8, "default", "{\"$tuple\": [1, 2, 3]}"}, /* TUPLE3 */
    {"(K\001K\002K\001\221.", 9, "default", "{\"$frozenset\": [1, 2]}"}, /* FROZENSET dedupes */
    {"\217(K\001\210K\002\220.", 9, "default", "{\"$set\": [1, 2]}"}, /* ADDITEMS: True == 1 */
    {"}(K\001U\001aG\077\360\000\000\000\000\000\000U\001b\210U\001cu.", 25, "default", "{\"$dict\": [[1, \"c\"]]}"}, /* 1 == 1.0 == True: first key, last value */
    {"}(U\001aK\001U\001bK\002U\001aK\003u.", 19, "default", "{\"a\": 3, \"b\": 2}"}, /* repeated str key keeps position */
    {"}U\002$xK\001s.", 9, "default", "{\"$dict\": [[\"$x\", 1]]}"}, /* $-key forces $dict */
    {"(U\001aK\001d.", 8, "default", "{\"a\": 1}"}, /* DICT */
    {"}.", 2, "default", "{}"}, /* EMPTY_DICT */
    {"]q\000h\000\206.", 7, "default", "{\"$tuple\": [{\"$id\": 1, \"$value\": []}, {\"$ref\": 1}]}"}, /* shared list */
    {"]q\000h\000a.", 7, "default", "{\"$id\": 1, \"$value\": [{\"$ref\": 1}]}"}, /* cyclic list */
    {"\200\002c__builtin__\012set\012q\000.", 22, "default", "{\"$global\": \"builtins.set\"}"}, /* global as value, p2 rename */
    {"\200\002c__builtin__\012set\012]K\001a\205R.", 26, "default", "{\"$set\": [1]}"}, /* set([1]) evaluated */
    {"\200\002c__builtin__\012frozenset\012]K\001a\205R.", 32, "default", "{\"$frozenset\": [1]}"}, /* frozenset([1]) evaluated */
    {"\200\002c__builtin__\012set\012]\205R.", 23, "default", "{\"$set\": []}"}, /* set([]) evaluated */
    {"c_codecs\012encode\012(V\\u00e9\012Vlatin1\012tR.", 36, "default", "{\"$bytes\": \"6Q==\"}"}, /* _codecs.encode latin1 */
    {"\200\002c__builtin__\012bytearray\012c_codecs\012encode\012X\002\000\000\000abX\006\000\000\000latin1\206R\205R.", 64, "default", "{\"$bytearray\": \"YWI=\"}"}, /* bytearray(encode(..)) p2 */
    {"\200\002c__builtin__\012bytes\012)R.", 24, "default", "{\"$bytes\": \"\"}"}, /* bytes() */
    {"\200\002ccollections\012OrderedDict\012)R(U\001aK\001u.", 37, "default", "{\"$object\": \"collections.OrderedDict\", \"args\": [], \"dictitems\": [[\"a\", 1]]}"}, /* OrderedDict call + SETITEMS */
    {"\200\002ccollections\012OrderedDict\012)\201}U\001xK\001sb.", 38, "default", "{\"$object\": \"collections.OrderedDict\", \"args\": [], \"new\": true, \"state\": {\"x\": 1}}"}, /* !NEWOBJ + BUILD */
    {"ccopy_reg\012_reconstructor\012(ccollections\012OrderedDict\012c__builtin__\012object\012NtR.", 75, "default", "{\"$object\": \"collections.OrderedDict\", \"args\": [], \"new\": true}"}, /* !_reconstructor(cls, object, None) == NEWOBJ */
    {"\200\002c__builtin__\012complex\012G\077\360\000\000\000\000\000\000G@\000\000\000\000\000\000\000\206R.", 44, "default", "{\"$object\": \"builtins.complex\", \"args\": [1.0, 2.0]}"}, /* complex stays an object */
    {"\200\004ccollections\012OrderedDict\012)}U\001aK\001s\222.", 37, "default", "{\"$object\": \"collections.OrderedDict\", \"args\": [], \"kwargs\": {\"a\": 1}, \"new\": true}"}, /* !NEWOBJ_EX */
    {"(I1\012icollections\012OrderedDict\012.", 30, "default", "{\"$object\": \"collections.OrderedDict\", \"args\": [1]}"}, /* !INST with args */
    {"(ccollections\012OrderedDict\012o.", 28, "default", "{\"$object\": \"collections.OrderedDict\", \"args\": [], \"new\": true}"}, /* !OBJ without args: __new__ */
    {"\200\002ccollections\012OrderedDict\012)R]K\001a\205b.", 36, "default", "{\"$object\": \"collections.OrderedDict\", \"args\": [], \"state\": {\"$tuple\": [[1]]}}"}, /* !BUILD state any value */
    {"K\001(K\002K\0031.", 9, "default", "1"}, /* POP_MARK */
    {"K\001(0.", 5, "default", "1"}, /* POP of a bare mark pops the mark */
    {"K\0012\206.", 5, "default", "{\"$tuple\": [1, 1]}"}, /* DUP */
    {"\200\004(K\007\224K\010\224h\000h\001t.", 15, "default", "{\"$tuple\": [7, 8, 7, 8]}"}, /* MEMOIZE numbers entries */
    {"K\001p0\0120K\002p0\0120g0\012.", 16, "default", "2"}, /* PUT overwrites */
    {"K\001r\377\377\377\3770j\377\377\377\377.", 14, "default", "1"}, /* !huge memo index (CPython: MemoryError, memo resized to 2*idx) */
    {"K\001p5\0120K\002\2240h\001.", 13, "default", "2"}, /* MEMOIZE after PUT 5 uses index 1 (entry count) */
    {"]K\005aK\000K\007s.", 10, "default", "[7]"}, /* SETITEM on a list assigns an index */
    {"K\001(e.", 5, "default", "1"}, /* empty APPENDS ignores its target */
    {"](]e.", 5, "default", "[[]]"}, /* the container right under the batch's mark */
    {"\200\004\225\003\000\000\000\000\000\000\000K\001.", 14, "default", "1"}, /* FRAME */
    {"S'\\x41'\012.", 9, "default", "\"A\""}, /* STRING \x escape */
    {"}(\212\011\000\000\000\000\000\000\000\000\001U\001aGC\360\000\000\000\000\000\000U\001bu.", 30, "default", "{\"$dict\": [[18446744073709551616, \"b\"]]}"}, /* 2**64 == 2.0**64 */
    {"}((K\001tU\001a(K\001tU\001bu.", 18, "default", "{\"$dict\": [[{\"$tuple\": [1]}, \"b\"]]}"}, /* equal tuples are one key */
    {"}(G\177\370\000\000\000\000\000\000U\001aG\177\370\000\000\000\000\000\000U\001bu.", 28, "default", "{\"$dict\": [[{\"$float\": \"nan\"}, \"a\"], [{\"$float\": \"nan\"}, \"b\"]]}"}, /* distinct NaNs are distinct keys */
    {"}(G\177\370\000\000\000\000\000\000q\000U\001ah\000U\001bu.", 23, "default", "{\"$dict\": [[{\"$float\": \"nan\"}, \"b\"]]}"}, /* the same NaN object is one key */
    {"}(C\001aK\001U\001aK\002u.", 14, "default", "{\"$dict\": [[{\"$bytes\": \"YQ==\"}, 1], [\"a\", 2]]}"}, /* bytes and str keys differ */
    {"\226\000\000\000\000\000\000\000\000KAa.", 13, "default", "{\"$bytearray\": \"QQ==\"}"}, /* bytearray.append */
    {"\200\005\225\004\000\000\000\000\000\000\000K\001\224.", 15, "default", "1"}, /* p5 memoize in frame */
    {"K\001K\0020.", 6, "default", "1"}, /* POP */
};
/* END OK ROWS */

/* BEGIN ERR ROWS (parsed by tests/test_load.py) */
static const err_row err_rows[] = {
    {"cos\012system\012.", 12, "default", PKL_E_REFUSED_GLOBAL, 0}, /* GLOBAL os.system */
    {"\200\004\214\002os\214\006system\223.", 16, "default", PKL_E_REFUSED_GLOBAL, 14}, /* STACK_GLOBAL os.system */
    {"(S'ls'\012ios\012system\012.", 19, "default", PKL_E_REFUSED_GLOBAL, 7}, /* INST os.system */
    {"cos\012syste\037\012.", 12, "default", PKL_E_REFUSED_GLOBAL, 0}, /* bad name, module os: imported first, a refusal (regressions/oracle/badname_raw_view.zip) */
    {"co s\012system\012.", 13, "default", PKL_E_BAD_NAME, 0}, /* module no import can find: stops before anything runs */
    {"\200\002c__builtin__\012set\012.", 20, "strict", PKL_E_REFUSED_GLOBAL, 2}, /* strict allows no global */
    {"\200\002c__builtin__\012eval\012.", 21, "default", PKL_E_REFUSED_GLOBAL, 2}, /* builtins.eval */
    {"\200\002c__builtin__\012getattr\012.", 24, "ml", PKL_E_REFUSED_GLOBAL, 2}, /* getattr under ml */
    {"](K\001tR.", 7, "default", PKL_E_REFUSED_CALL, 5}, /* REDUCE on a list */
    {"\200\002ccollections\012OrderedDict\012)R)R.", 32, "default", PKL_E_REFUSED_CALL, 30}, /* call of a call result */
    {"\200\002ccollections\012OrderedDict\012)R)\201.", 32, "default", PKL_E_REFUSED_CALL, 30}, /* NEWOBJ on a call result */
    {"(K\001o.", 5, "default", PKL_E_REFUSED_CALL, 3}, /* OBJ on an int */
    {"\200\002ccollections\012OrderedDict\012}b.", 30, "default", PKL_E_REFUSED_BUILD, 28}, /* BUILD on a class */
    {"\200\002ccollections\012OrderedDict\012)R}b}b.", 34, "default", PKL_E_REFUSED_BUILD, 32}, /* second BUILD */
    {"]}b.", 4, "default", PKL_E_BAD_TYPE, 2}, /* BUILD on a list (CPython: state is not a dictionary / no __dict__) */
    {"\202\001.", 3, "default", PKL_E_REFUSED_EXT, 0}, /* EXT1 */
    {"\203\001\000.", 4, "ml", PKL_E_REFUSED_EXT, 0}, /* EXT2 under ml */
    {"\204\001\000\000\000.", 6, "default", PKL_E_REFUSED_EXT, 0}, /* EXT4 */
    {"Pabc\012.", 6, "default", PKL_E_REFUSED_PERSID, 0}, /* PERSID under default */
    {"K\001Q.", 4, "default", PKL_E_REFUSED_PERSID, 2}, /* BINPERSID under default */
    {"\200\005\227.", 4, "default", PKL_E_REFUSED_BUFFER, 2}, /* NEXT_BUFFER without buffers */
    {"\200\005C\001a\230.", 7, "default", PKL_E_REFUSED_BUFFER, 5}, /* READONLY_BUFFER without buffers */
    {"]", 1, "default", PKL_E_TRUNCATED, 1}, /* ends before STOP: offset is the end */
    {"X\005\000\000\000ab", 7, "default", PKL_E_TRUNCATED, 0}, /* declared length beyond the end */
    {"\216\000\000\000\000\000\000\000\200xxxxxxxxxxx", 20, "default", PKL_E_TRUNCATED, 0}, /* 2**63 declared in 20 bytes */
    {"", 0, "default", PKL_E_EMPTY, 0}, /* empty input */
    {"a.", 2, "default", PKL_E_STACK_UNDERFLOW, 0}, /* APPEND on empty stack */
    {"(e.", 3, "default", PKL_E_STACK_UNDERFLOW, 1}, /* APPENDS with nothing under the mark */
    {"}(K\001K\002s.", 8, "default", PKL_E_STACK_UNDERFLOW, 6}, /* SETITEM across a mark (CPython: unexpected MARK found) */
    /* a batch's container must lie above the next MARK down, with or
     * without items (_pickle.c: x <= fence) */
    {"}((uu.", 6, "default", PKL_E_STACK_UNDERFLOW, 3}, /* empty SETITEMS, dict under an enclosing mark */
    {"}((K\001K\002uu.", 10, "default", PKL_E_STACK_UNDERFLOW, 7}, /* SETITEMS with items, same */
    {"]((e1.", 6, "default", PKL_E_STACK_UNDERFLOW, 3}, /* empty APPENDS, same */
    {"\217((\220.", 5, "default", PKL_E_STACK_UNDERFLOW, 3}, /* empty ADDITEMS, same */
    {"](K\002a.", 6, "default", PKL_E_STACK_UNDERFLOW, 4}, /* APPEND across a mark */
    {"K\001(\205.", 5, "default", PKL_E_STACK_UNDERFLOW, 3}, /* TUPLE1 across a mark */
    {"0.", 2, "default", PKL_E_STACK_UNDERFLOW, 0}, /* POP on empty stack */
    {"2.", 2, "default", PKL_E_STACK_UNDERFLOW, 0}, /* DUP on empty stack */
    {"K\001e.", 4, "default", PKL_E_NO_MARK, 2}, /* APPENDS without MARK */
    {"1.", 2, "default", PKL_E_NO_MARK, 0}, /* POP_MARK without MARK */
    {"K\001\221.", 4, "default", PKL_E_NO_MARK, 2}, /* FROZENSET without MARK */
    {"h\005.", 3, "default", PKL_E_MEMO_MISSING, 0}, /* BINGET never stored */
    {"g0\012.", 4, "default", PKL_E_MEMO_MISSING, 0}, /* GET before PUT */
    {"K\001r\377\377\377\377j\376\377\377\377.", 13, "default", PKL_E_MEMO_MISSING, 7}, /* huge index neighbour */
    {"g-1\012.", 5, "default", PKL_E_MEMO_MISSING, 0}, /* GET -1 */
    {"K\001p-1\012.", 7, "default", PKL_E_BAD_INT, 2}, /* negative PUT */
    {"q\000.", 3, "default", PKL_E_STACK_UNDERFLOW, 0}, /* PUT on empty stack */
    {"}]K\001s.", 6, "default", PKL_E_UNHASHABLE, 4}, /* list as dict key */
    {"\217(]\220.", 5, "default", PKL_E_UNHASHABLE, 3}, /* list as set member */
    {"(]\221.", 4, "default", PKL_E_UNHASHABLE, 2}, /* list in frozenset */
    {"}]\205K\001s.", 7, "default", PKL_E_UNHASHABLE, 5}, /* tuple holding a list as key */
    {"}}K\001s.", 6, "default", PKL_E_UNHASHABLE, 4}, /* dict as key */
    {"}\226\000\000\000\000\000\000\000\000K\001s.", 14, "default", PKL_E_UNHASHABLE, 12}, /* bytearray as key */
    {"K\001K\002\223.", 6, "default", PKL_E_REFUSED_GLOBAL, 4}, /* STACK_GLOBAL on ints (CPython: UnpicklingError) */
    {"(K\001.", 4, "default", PKL_E_BAD_STOP, 3}, /* STOP with an open MARK */
    {"K\001K\002.", 5, "default", PKL_E_STACK_NOT_EMPTY, 4}, /* STOP leaves a value behind */
    {"(.", 2, "default", PKL_E_BAD_STOP, 1}, /* STOP with nothing above the MARK */
    {".", 1, "default", PKL_E_BAD_STOP, 0}, /* STOP on empty stack */
    {"(K\001d.", 5, "default", PKL_E_STACK_UNDERFLOW, 3}, /* odd DICT */
    {"}(K\001u.", 6, "default", PKL_E_STACK_UNDERFLOW, 4}, /* odd SETITEMS */
    {"\200\002c__builtin__\012set\012]R.", 22, "default", PKL_E_BAD_TYPE, 20}, /* REDUCE args not a tuple */
    {"\200\004ccollections\012OrderedDict\012)]\222.", 31, "default", PKL_E_BAD_TYPE, 29}, /* NEWOBJ_EX kwargs not a dict */
    {"U\001\351.", 4, "default", PKL_E_BAD_STRING, 0}, /* non-ASCII SHORT_BINSTRING (encoding='ASCII') */
    {"c_codecs\012encode\012(V\\u20ac\012Vlatin1\012tR.", 36, "default", PKL_E_BAD_TYPE, 34}, /* latin-1 cannot encode U+20AC */
    {"\200\002c__builtin__\012set\012K\001a.", 23, "default", PKL_E_REFUSED_CALL, 21}, /* APPEND onto a class calls its method */
    {"K\001K\002a.", 6, "default", PKL_E_BAD_TYPE, 4}, /* APPEND onto an int */
    {"\200\004\225\001\000\000\000\000\000\000\000K\001.", 14, "default", PKL_E_FRAME, 11}, /* !opcode crosses the frame end (reader fails closed; CPython C reads on) */
    {"I11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111\012.", 4304, "default", PKL_E_INT_DIGITS, 0}, /* 4301 digits: over CPython's str->int limit */
    {"\217(K\001\220K\002\220.", 9, "default", PKL_E_NO_MARK, 7}, /* second ADDITEMS without MARK */
    {"K\001(\220K\001\220.", 8, "default", PKL_E_NO_MARK, 6}, /* empty ADDITEMS consumes its mark */
    {"K\001(K\002\220.", 7, "default", PKL_E_BAD_TYPE, 5}, /* ADDITEMS onto an int */
};
/* END ERR ROWS */

static pkl_policy *policy_named(const char *name)
{
    pkl_error err;
    pkl_policy *p = pkl_policy_builtin(name, NULL, &err);
    ck_assert_msg(p != NULL, "built-in policy %s: %s", name, err.detail);
    return p;
}

/* Decodes and renders; returns the JSON (caller frees) or NULL. */
static char *decode_json(const void *data, size_t len, const pkl_policy *p,
                         const pkl_limits *lim, pkl_error *err)
{
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    opt.limits = lim;
    size_t used = 0;
    pkl_doc *doc = pkl_decode(data, len, &opt, &used, err);
    if (!doc)
        return NULL;
    ck_assert_uint_eq(used, len);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    ck_assert_ptr_nonnull(f);
    int rc = pkl_json_write(doc, f, 0, NULL, err);
    fclose(f);
    pkl_doc_free(doc);
    if (rc < 0) {
        free(buf);
        return NULL;
    }
    ck_assert_msg(size > 0 && buf[size - 1] == '\n', "no newline");
    buf[size - 1] = '\0';
    return buf;
}

START_TEST(test_ok_rows)
{
    const ok_row *r = &ok_rows[_i];
    pkl_policy *p = policy_named(r->policy);
    pkl_error err;
    POISON_ERR(err);
    char *json = decode_json(r->data, r->len, p, NULL, &err);
    ck_assert_msg(json != NULL, "row %d: error %d %s at %zu", _i, err.code,
                  err.detail, err.offset);
    ck_assert_int_eq(err.code, PKL_OK);
    ck_assert_msg(strcmp(json, r->json) == 0, "row %d:\n got  %s\n want %s",
                  _i, json, r->json);
    free(json);
    pkl_policy_free(p);
}
END_TEST

START_TEST(test_err_rows)
{
    const err_row *r = &err_rows[_i];
    pkl_policy *p = policy_named(r->policy);
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    pkl_error err;
    POISON_ERR(err);
    size_t used = 12345;
    pkl_doc *doc = pkl_decode(r->data, r->len, &opt, &used, &err);
    ck_assert_msg(doc == NULL, "row %d decoded", _i);
    ck_assert_msg(err.code == r->code && err.offset == r->offset,
                  "row %d: got %d at %zu (%s), want %d at %zu", _i, err.code,
                  err.offset, err.detail, r->code, r->offset);
    ck_assert_uint_eq(used, 0);
    ck_assert_ptr_nonnull(err.msg);
    if (r->len > r->offset && pkl_error_class(r->code) != 1)
        ck_assert_int_eq(err.opcode, (unsigned char)r->data[r->offset]);
    pkl_policy_free(p);
}
END_TEST

/* Refusal messages name the global, the opcode, the offset, the policy and
 * the policy line that would allow it. */
START_TEST(test_refusal_message)
{
    pkl_policy *p = policy_named("default");
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    pkl_error err;
    POISON_ERR(err);
    static const char evil[] = "\x80\x02" "cos\nsystem\n" "(S'id'\ntR.";
    /*                           ^ GLOBAL at offset 2 */
    ck_assert_ptr_null(pkl_decode(evil, sizeof evil - 1, &opt, NULL, &err));
    ck_assert_err(err, PKL_E_REFUSED_GLOBAL, 2);
    ck_assert_int_eq(err.opcode, PKL_OP_GLOBAL);
    ck_assert_msg(strstr(err.detail, "os.system (GLOBAL at offset 2) is not "
                         "allowed by policy 'default'") != NULL, "%s", err.detail);
    ck_assert_msg(strstr(err.detail, "os.system") != strstr(err.detail, "allow:"),
                  "%s", err.detail);
    ck_assert_msg(strstr(err.detail, "allow:") != NULL, "%s", err.detail);
    /* compat rename: the resolved name is reported */
    static const char evil2[] = "\x80\x02" "c__builtin__\neval\n.";
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_decode(evil2, sizeof evil2 - 1, &opt, NULL, &err));
    ck_assert_err(err, PKL_E_REFUSED_GLOBAL, 2);
    ck_assert_msg(strstr(err.detail, "builtins.eval") != NULL, "%s", err.detail);
    pkl_policy_free(p);
}
END_TEST

/* A policy with a deny entry says so. */
START_TEST(test_refusal_deny)
{
    static const char yaml[] =
        "version: 1\nname: t\nallow:\n  - collections.*\n"
        "deny:\n  - collections.OrderedDict\n";
    pkl_error err;
    pkl_policy *p = pkl_policy_load_string(yaml, sizeof yaml - 1, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.detail);
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    static const char in[] = "ccollections\nOrderedDict\n.";
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_decode(in, sizeof in - 1, &opt, NULL, &err));
    ck_assert_err(err, PKL_E_REFUSED_GLOBAL, 0);
    ck_assert_msg(strstr(err.detail, "denied") != NULL, "%s", err.detail);
    pkl_policy_free(p);
}
END_TEST

/* Persistent ids under a policy that allows them become $persid nodes. */
START_TEST(test_persid_allowed)
{
    static const char yaml[] = "version: 1\nname: t\npersistent_ids: allow\n";
    pkl_error err;
    pkl_policy *p = pkl_policy_load_string(yaml, sizeof yaml - 1, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.detail);
    POISON_ERR(err);
    char *j = decode_json("Pabc\n.", 6, p, NULL, &err);
    ck_assert_msg(j && strcmp(j, "{\"$persid\": \"abc\"}") == 0, "%s", j ? j : err.detail);
    free(j);
    /* BINPERSID takes any value; a tuple id */
    j = decode_json("K\x01U\x01x\x86Q.", 8, p, NULL, &err);
    ck_assert_msg(j && strcmp(j, "{\"$persid\": {\"$tuple\": [1, \"x\"]}}") == 0,
                  "%s", j ? j : err.detail);
    free(j);
    /* BUILD on a persistent object is refused */
    POISON_ERR(err);
    ck_assert_ptr_null(decode_json("Pabc\n}b.", 8, p, NULL, &err));
    ck_assert_err(err, PKL_E_REFUSED_BUILD, 6);
    pkl_policy_free(p);
}
END_TEST

/* Out-of-band buffers: NEXT_BUFFER takes the caller's values in order. */
START_TEST(test_buffers)
{
    pkl_policy *p = policy_named("default");
    pkl_value b1;
    memset(&b1, 0, sizeof b1);
    b1.type = PKL_T_BYTES;
    b1.u.s.ptr = (const uint8_t *)"hi";
    b1.u.s.len = 2;
    const pkl_value *bufs[1] = {&b1};
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    opt.buffers = bufs;
    opt.nbuffers = 1;
    pkl_error err;
    POISON_ERR(err);
    pkl_doc *doc = pkl_decode("\x80\x05\x97\x98.", 5, &opt, NULL, &err);
    ck_assert_ptr_nonnull(doc);
    ck_assert_ptr_eq(pkl_doc_root(doc), &b1);
    pkl_doc_free(doc);
    /* a second NEXT_BUFFER has no buffer left */
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_decode("\x80\x05\x97\x97\x86.", 6, &opt, NULL, &err));
    ck_assert_err(err, PKL_E_REFUSED_BUFFER, 3);
    pkl_policy_free(p);
}
END_TEST

/* Concatenated pickles: each call decodes one and says where it ended;
 * each has its own memo. */
START_TEST(test_concatenated)
{
    pkl_policy *p = policy_named("default");
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    static const char in[] = "K\x01q\x00." "h\x00.";
    /*                                      ^ offset 5: GET of the first
     *                                        pickle's memo: not shared */
    pkl_error err;
    size_t used = 0;
    pkl_doc *doc = pkl_decode(in, sizeof in - 1, &opt, &used, &err);
    ck_assert_ptr_nonnull(doc);
    ck_assert_uint_eq(used, 5);
    ck_assert_int_eq(pkl_doc_root(doc)->type, PKL_T_INT);
    pkl_doc_free(doc);
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_decode(in + used, sizeof in - 1 - used, &opt, &used, &err));
    ck_assert_err(err, PKL_E_MEMO_MISSING, 0);
    pkl_policy_free(p);
}
END_TEST

/* The value tree: zero-copy strings point into the input; scratch text is
 * copied. */
START_TEST(test_zero_copy)
{
    pkl_policy *p = policy_named("default");
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    static const char in[] = "(X\x03\x00\x00\x00" "abcC\x02xyS'q\\n'\nt.";
    pkl_error err;
    pkl_doc *doc = pkl_decode(in, sizeof in - 1, &opt, NULL, &err);
    ck_assert_ptr_nonnull(doc);
    const pkl_value *t = pkl_doc_root(doc);
    ck_assert_int_eq(t->type, PKL_T_TUPLE);
    ck_assert_uint_eq(t->u.seq.len, 3);
    ck_assert_ptr_eq(t->u.seq.items[0]->u.s.ptr, (const uint8_t *)in + 6);
    ck_assert_ptr_eq(t->u.seq.items[1]->u.s.ptr, (const uint8_t *)in + 11);
    const pkl_value *s = t->u.seq.items[2];
    ck_assert_uint_eq(s->u.s.len, 2);
    ck_assert(memcmp(s->u.s.ptr, "q\n", 2) == 0);
    ck_assert(s->u.s.ptr < (const uint8_t *)in || s->u.s.ptr >= (const uint8_t *)in + sizeof in);
    pkl_doc_free(doc);
    pkl_policy_free(p);
}
END_TEST

/* ---- limits: each a clean error, fast, with bounded memory ------------- */

/* CPU time of this process, not wall time: the bound is on the work a
 * limit case does, and a loaded machine (make check beside a fuzz
 * campaign) must not fail it. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct limit_case {
    const char *name;
    pkl_code code;
} limit_case;

/* Builds the input for limit case i; returns its length. *off receives the
 * expected error offset. */
static size_t build_limit_input(int i, char **out, size_t *off, pkl_limits *lim)
{
    const size_t N = 1000000;
    char *b = malloc(3 * N + 64);
    size_t n = 0;
    pkl_limits_default(lim);
    switch (i) {
    case 0: /* a million nested lists: "]" * N, then APPENDs. The k-th
             * APPEND makes a list of depth k + 1; with max_depth 1000 the
             * 1000th APPEND (offset N + 999) is over. */
        memset(b, ']', N);
        n = N;
        memset(b + n, 'a', N - 1);
        n += N - 1;
        b[n++] = '.';
        lim->max_depth = 1000;
        *off = N + 999;
        break;
    case 1: /* a million MARKs: the 1001st open MARK (offset 1000) */
        memset(b, '(', N);
        n = N;
        memcpy(b + n, "K\x01.", 3);
        n += 3;
        lim->max_depth = 1000;
        *off = 1000;
        break;
    case 2: /* BINBYTES8 declaring 2**63 bytes in a 20-byte file */
        memcpy(b, "\x8e\x00\x00\x00\x00\x00\x00\x00\x80xxxxxxxxxxx", 20);
        n = 20;
        *off = 0;
        break;
    case 3: /* a million nested tuples through TUPLE1 */
        b[n++] = 'N';
        memset(b + n, 0x85, N);
        n += N;
        b[n++] = '.';
        lim->max_depth = 1000;
        /* the k-th TUPLE1 makes depth k; the 1001st (offset 1 + 1000) */
        *off = 1001;
        break;
    case 4: /* memo bomb: L = []; then L.extend([L, L, L, L]) 250,000 times.
             * Values: 1; references grow 4 per round, 8 bytes each; with
             * max_bytes 1 MiB it must stop early with LIMIT_BYTES. The
             * exact round depends on block sizes: offset checked in range. */
        memcpy(b, "]q\x00", 3);
        n = 3;
        for (size_t k = 0; k < 250000; k++) {
            memcpy(b + n, "(h\x00h\x00h\x00h\x00" "e", 10);
            n += 10;
        }
        b[n++] = '.';
        lim->max_bytes = 1 << 20;
        *off = SIZE_MAX;
        break;
    case 5: /* max_memo 2: the third PUT (offset 8) */
        memcpy(b, "K\x01p0\np1\np2\n0.", 13);
        n = 13;
        lim->max_memo = 2;
        *off = 8;
        break;
    case 6: /* max_values 3: LIST makes the 4th value (offset 7) */
        memcpy(b, "(K\x01K\x02K\x03l.", 9);
        n = 9;
        lim->max_values = 3;
        *off = 7;
        break;
    case 7: /* max_bytes below one arena block: the first node (offset 0) */
        memcpy(b, "](K\x01" "e.", 6);
        n = 6;
        lim->max_bytes = 1000;
        *off = 0;
        break;
    case 8: /* a million values over max_values 1000: offset of the 1001st
             * BININT1 (2 bytes each after EMPTY_LIST and MARK) */
        memcpy(b, "](", 2);
        n = 2;
        for (size_t k = 0; k < N; k++) {
            b[n++] = 'K';
            b[n++] = 1;
        }
        memcpy(b + n, "e.", 2);
        n += 2;
        lim->max_values = 1000;
        *off = 2 + 2 * 999;
        break;
    }
    *out = b;
    return n;
}

static const limit_case limit_cases[] = {
    {"million nested lists", PKL_E_LIMIT_DEPTH},
    {"million marks", PKL_E_LIMIT_DEPTH},
    {"2**63 declared length", PKL_E_TRUNCATED},
    {"million nested tuples", PKL_E_LIMIT_DEPTH},
    {"memo doubling bomb", PKL_E_LIMIT_BYTES},
    {"max_memo", PKL_E_LIMIT_MEMO},
    {"max_values", PKL_E_LIMIT_VALUES},
    {"max_bytes", PKL_E_LIMIT_BYTES},
    {"million values", PKL_E_LIMIT_VALUES},
};

START_TEST(test_limits)
{
    const limit_case *lc = &limit_cases[_i];
    char *in;
    size_t off;
    pkl_limits lim;
    size_t n = build_limit_input(_i, &in, &off, &lim);
    pkl_policy *p = policy_named("default");
    test_alloc cnt;
    pkl_allocator a = test_allocator(&cnt, 0);
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    opt.limits = &lim;
    opt.alloc = &a;
    pkl_error err;
    POISON_ERR(err);
    double t0 = now();
    pkl_doc *doc = pkl_decode(in, n, &opt, NULL, &err);
    double dt = now() - t0;
    ck_assert_msg(doc == NULL, "%s decoded", lc->name);
    ck_assert_msg(err.code == lc->code, "%s: code %d (%s)", lc->name, err.code,
                  err.detail);
    if (off != SIZE_MAX)
        ck_assert_msg(err.offset == off, "%s: offset %zu, want %zu", lc->name,
                      err.offset, off);
    else
        ck_assert_msg(err.offset > 3 && err.offset < n, "%s: offset %zu",
                      lc->name, err.offset);
    ck_assert_uint_eq(cnt.bytes, 0); /* everything freed */
    ck_assert_int_eq(cnt.live, 0);
    /* bounded memory: at most a 24-byte node and an 8-byte stack slot per
     * input byte, plus arena slack (blocks double up to 8 MiB) -- never
     * gigabytes */
    ck_assert_msg(cnt.peak < 32 * n + (16u << 20), "%s: peak %zu bytes",
                  lc->name, cnt.peak);
    /* milliseconds, not seconds (generous for sanitizer builds) */
    ck_assert_msg(dt < 2.0, "%s took %.3f s", lc->name, dt);
    free(in);
    pkl_policy_free(p);
}
END_TEST

/* A limit of 0 means the default (pkl_limits_default), never "unlimited":
 * lists nested 998..1002 deep decode or are refused (PKL_E_LIMIT_DEPTH)
 * alike with max_depth 0 and with the default 1000, and both outcomes
 * occur. */
START_TEST(test_zero_limit)
{
    pkl_policy *p = policy_named("default");
    pkl_limits lim;
    memset(&lim, 0, sizeof lim);
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    opt.limits = &lim;
    pkl_error err;
    POISON_ERR(err);
    pkl_doc *doc = pkl_decode("N.", 2, &opt, NULL, &err);
    ck_assert_ptr_nonnull(doc);
    pkl_doc_free(doc);
    int accepted = 0, refused = 0;
    for (size_t depth = 998; depth <= 1002; depth++) {
        /* depth EMPTY_LISTs, each APPENDed into the one below */
        size_t n = 2 * depth;
        char *b = malloc(n);
        memset(b, ']', depth);
        memset(b + depth, 'a', depth - 1);
        b[n - 1] = '.';
        pkl_limits dl;
        pkl_limits_default(&dl);
        int ok[2];
        for (int zero = 0; zero <= 1; zero++) {
            opt.limits = zero ? &lim : &dl;
            POISON_ERR(err);
            doc = pkl_decode(b, n, &opt, NULL, &err);
            ok[zero] = doc != NULL;
            if (doc)
                pkl_doc_free(doc);
            else
                ck_assert_int_eq(err.code, PKL_E_LIMIT_DEPTH);
        }
        ck_assert_int_eq(ok[0], ok[1]);
        accepted += ok[0];
        refused += !ok[0];
        free(b);
    }
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_gt(refused, 0);
    opt.limits = &lim;
    POISON_ERR(err);
    ck_assert_ptr_null(pkl_decode("N.", 2, NULL, NULL, &err));
    ck_assert_err(err, PKL_E_INVALID_ARG, 0);
    pkl_policy_free(p);
}
END_TEST

/* Dicts and sets beyond the small linear-scan size use the key index:
 * duplicates are still found. 1000 int keys, then keys 0..999 again as
 * floats with new values: Python keeps 1000 int keys with the new values. */
START_TEST(test_large_dict_dedupe)
{
    pkl_policy *p = policy_named("default");
    size_t cap = 64 + 1000 * 24;
    char *b = malloc(cap);
    size_t n = 0;
    b[n++] = '}';
    b[n++] = '(';
    for (int k = 0; k < 1000; k++) {
        b[n++] = 'M';
        b[n++] = (char)(k & 0xff);
        b[n++] = (char)(k >> 8);
        b[n++] = 'N';
    }
    for (int k = 0; k < 1000; k++) {
        double f = k;
        uint64_t bits;
        memcpy(&bits, &f, 8);
        b[n++] = 'G';
        for (int j = 7; j >= 0; j--)
            b[n++] = (char)(bits >> (8 * j));
        b[n++] = '\x88';
    }
    b[n++] = 'u';
    b[n++] = '.';
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    pkl_error err;
    pkl_doc *doc = pkl_decode(b, n, &opt, NULL, &err);
    ck_assert_msg(doc != NULL, "%s", err.detail);
    const pkl_value *d = pkl_doc_root(doc);
    ck_assert_int_eq(d->type, PKL_T_DICT);
    ck_assert_uint_eq(d->u.dict.len, 1000);
    for (size_t k = 0; k < 1000; k++) {
        ck_assert_int_eq(d->u.dict.kv[2 * k]->type, PKL_T_INT);
        ck_assert_int_eq(d->u.dict.kv[2 * k]->u.i, (int64_t)k);
        ck_assert_int_eq(d->u.dict.kv[2 * k + 1]->type, PKL_T_BOOL);
    }
    pkl_doc_free(doc);
    free(b);
    pkl_policy_free(p);
}
END_TEST

/* Out of memory at every allocation: a clean PKL_E_NOMEM (or success when
 * the failing allocation is never reached), nothing leaked. */
START_TEST(test_oom_every_allocation)
{
    pkl_policy *p = policy_named("default");
    static const char in[] =
        "\x80\x02" "c__builtin__\nset\n" "](K\x01K\x02" "e\x85R" "q\x00"
        "}(U\x01" "ah\x00U\x01" "b]q\x01h\x01" "au" "\x86.";
    int done = 0;
    for (long k = 0; !done && k < 1000; k++) {
        test_alloc t;
        pkl_allocator a = test_allocator(&t, (size_t)k + 1);
        pkl_decode_options opt;
        memset(&opt, 0, sizeof opt);
        opt.policy = p;
        opt.alloc = &a;
        pkl_error err;
        POISON_ERR(err);
        pkl_doc *doc = pkl_decode(in, sizeof in - 1, &opt, NULL, &err);
        if (doc) {
            FILE *devnull = fopen("/dev/null", "w");
            int rc = pkl_json_write(doc, devnull, 0, &a, &err);
            fclose(devnull);
            if (rc == 0)
                done = 1;
            else
                ck_assert_int_eq(err.code, PKL_E_NOMEM);
            pkl_doc_free(doc);
        } else {
            ck_assert_msg(err.code == PKL_E_NOMEM, "k=%ld: %d %s", k, err.code,
                          err.detail);
        }
        ck_assert_msg(t.bytes == 0 && t.live == 0, "k=%ld: %zu bytes leaked", k,
                      t.bytes);
    }
    ck_assert(done);
    pkl_policy_free(p);
}
END_TEST

/* ---- pkl_decode_build: the same decoder driving a builder ---------------
 * A recording builder: every handle is a counted allocation, so the tests
 * see that the decoder releases each reference it holds (on success only
 * the root is left, with one reference; on error nothing), and a trace of
 * the callbacks in the order the decoder made them. */
typedef struct rnode {
    int refs;
    int kind;
} rnode;

typedef struct rec {
    long live;       /* handles allocated and not yet freed */
    long fail_call;  /* call number that fails (0: none) */
    long calls;
    char trace[512];
} rec;

static void rec_log(rec *r, const char *s)
{
    size_t n = strlen(r->trace);
    snprintf(r->trace + n, sizeof r->trace - n, "%s%s", n ? " " : "", s);
}

static void *rec_new(rec *r, int kind, const char *what)
{
    if (what)
        rec_log(r, what);
    if (r->fail_call && ++r->calls == r->fail_call)
        return NULL;
    rnode *h = malloc(sizeof *h);
    ck_assert_ptr_nonnull(h);
    h->refs = 1;
    h->kind = kind;
    r->live++;
    return h;
}

static void *rec_scalar(void *c, const pkl_value *v)
{
    return rec_new(c, v->type, v->type == PKL_T_STR ? "str" : "scalar");
}

static void *rec_container(void *c, int type, void *const *items, size_t n)
{
    char s[32];
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_nonnull(items[i]);
    snprintf(s, sizeof s, "%s%zu", type == PKL_T_LIST ? "list" : type == PKL_T_TUPLE
             ? "tuple" : type == PKL_T_DICT ? "dict" : "set", n);
    return rec_new(c, type, s);
}

static int rec_mut(void *c, const char *what, void *t, void *const *items, size_t n)
{
    char s[32];
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_nonnull(items[i]);
    snprintf(s, sizeof s, "%s%zu", what, n);
    rec_log(c, s);
    return 0;
}

static int rec_append(void *c, void *t, void *const *items, size_t n)
{
    return rec_mut(c, "append", t, items, n);
}

static int rec_setitems(void *c, void *t, void *const *items, size_t n)
{
    return rec_mut(c, "setitems", t, items, n);
}

static int rec_additems(void *c, void *t, void *const *items, size_t n)
{
    return rec_mut(c, "additems", t, items, n);
}

static void *rec_global(void *c, const pkl_global *g)
{
    char s[600];
    snprintf(s, sizeof s, "global:%s.%s", g->module, g->qualname);
    return rec_new(c, PKL_T_GLOBAL, s);
}

static void *rec_call(void *c, void *callable, void *args, void *kwargs, int is_new)
{
    ck_assert_ptr_nonnull(callable);
    ck_assert_int_eq(((rnode *)args)->kind, PKL_T_TUPLE);
    ck_assert(!kwargs || ((rnode *)kwargs)->kind == PKL_T_DICT);
    return rec_new(c, PKL_T_OBJECT, is_new == 1 ? "new" : is_new ? "inst" : "call");
}

static int rec_build(void *c, void *inst, void *state)
{
    ck_assert_ptr_nonnull(inst);
    ck_assert_ptr_nonnull(state);
    rec_log(c, "build");
    return 0;
}

static void *rec_persid(void *c, void *id)
{
    ck_assert_ptr_nonnull(id);
    return rec_new(c, PKL_T_PERSID, "persid");
}

static void *rec_attr(void *c, const pkl_global *cls, const uint8_t *name, size_t len)
{
    char s[600];
    snprintf(s, sizeof s, "attr:%s.%.*s", cls->qualname, (int)len, (const char *)name);
    return rec_new(c, PKL_T_ATTR, s);
}

static void *rec_buffer(void *c, size_t index)
{
    (void)index;
    return rec_new(c, PKL_T_BYTES, "buffer");
}

static void *rec_readonly(void *c, void *buf)
{
    ck_assert_ptr_nonnull(buf);
    return rec_new(c, PKL_T_BYTES, "readonly");
}

static void rec_retain(void *c, void *h)
{
    (void)c;
    ck_assert_int_gt(((rnode *)h)->refs, 0);
    ((rnode *)h)->refs++;
}

static void rec_release(void *c, void *h)
{
    rnode *n = h;
    ck_assert_int_gt(n->refs, 0);
    if (--n->refs == 0) {
        ((rec *)c)->live--;
        free(n);
    }
}

static pkl_builder rec_builder(rec *r)
{
    memset(r, 0, sizeof *r);
    pkl_builder b = {
        .ctx = r, .scalar = rec_scalar, .container = rec_container,
        .append = rec_append, .setitems = rec_setitems, .additems = rec_additems,
        .global = rec_global, .call = rec_call, .build = rec_build,
        .persid = rec_persid, .attr = rec_attr, .buffer = rec_buffer,
        .readonly = rec_readonly, .retain = rec_retain, .release = rec_release};
    return b;
}

/* Every row: the builder run succeeds exactly when pkl_decode does, with
 * the same error code and offset (one decoder, one set of checks), and
 * holds no reference it should not. */
START_TEST(test_build_parity_ok_rows)
{
    const ok_row *row = &ok_rows[_i];
    pkl_policy *p = policy_named(row->policy);
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    rec r;
    pkl_builder b = rec_builder(&r);
    void *root = NULL;
    size_t used = 0;
    pkl_error err;
    POISON_ERR(err);
    int rc = pkl_decode_build(row->data, row->len, &opt, &b, &root, &used, &err);
    ck_assert_msg(rc == 0, "row %d: %d %s", _i, err.code, err.detail);
    ck_assert_int_eq(err.code, PKL_OK);
    ck_assert_uint_eq(used, row->len);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(((rnode *)root)->refs, 1);
    rec_release(&r, root);
    ck_assert_msg(r.live == 0, "row %d: %ld handles leaked", _i, r.live);
    pkl_policy_free(p);
}
END_TEST

START_TEST(test_build_parity_err_rows)
{
    const err_row *row = &err_rows[_i];
    pkl_policy *p = policy_named(row->policy);
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    rec r;
    pkl_builder b = rec_builder(&r);
    void *root = (void *)1;
    pkl_error err;
    POISON_ERR(err);
    int rc = pkl_decode_build(row->data, row->len, &opt, &b, &root, NULL, &err);
    ck_assert_msg(rc < 0, "row %d decoded", _i);
    ck_assert_ptr_null(root);
    ck_assert_msg(err.code == row->code && err.offset == row->offset,
                  "row %d: got %d at %zu, want %d at %zu", _i, err.code,
                  err.offset, row->code, row->offset);
    ck_assert_msg(r.live == 0, "row %d: %ld handles leaked", _i, r.live);
    pkl_policy_free(p);
}
END_TEST

/* The builder is called in the pickle's own order, as _pickle.c acts:
 * expected traces reasoned from its load_* functions. */
typedef struct trace_row {
    const char *data;
    size_t len;
    const char *trace;
} trace_row;

static const trace_row trace_rows[] = {
    /* EMPTY_LIST, MARK, 1, 2, APPENDS: the list first, then one append of 2 */
    {"\x80\x02]q\x00(K\x01K\x02" "e.", 12, "list0 scalar scalar append2"},
    /* a dict whose value is the dict itself (PUT/GET): no new handle for GET */
    {"}q\x00X\x01\x00\x00\x00" "ah\x00s.", 13, "dict0 str setitems1"},
    /* builtins.set([1]) via REDUCE: the global is made when the call needs
     * it, after its arguments (pickle would import it at GLOBAL) */
    {"\x80\x02" "cbuiltins\nset\n]K\x01" "a\x85R.", 23,
     "list0 scalar append1 tuple1 global:builtins.set call"},
    /* a class refused at BUILD is never made (only the state dict was) */
    {"\x80\x02" "cbuiltins\nset\n}b.", 19, "dict0"},
    /* INST with no arguments: instantiate (cls.__new__(cls) for a class),
     * the empty argument tuple made as load_inst makes it */
    {"(ibuiltins\nobject\n.", 19, "global:builtins.object tuple0 inst"},
    /* getattr(AllowedClass, "NAME") is the builder's attr, never a call;
     * builtins.getattr itself is never made */
    {"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08" "builtins\x8c\x07" "getattr\x93"
     "\x8c\x08" "builtins\x8c\x03" "int\x93\x8c\x04" "real\x86R.", 56,
     "str str str str str global:builtins.int tuple2 attr:int.real"},
};

START_TEST(test_build_order)
{
    const trace_row *row = &trace_rows[_i];
    pkl_policy *p = policy_named("default");
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    rec r;
    pkl_builder b = rec_builder(&r);
    void *root = NULL;
    pkl_error err;
    int rc = pkl_decode_build(row->data, row->len, &opt, &b, &root, NULL, &err);
    if (rc == 0)
        rec_release(&r, root);
    ck_assert_msg(strcmp(r.trace, row->trace) == 0, "row %d:\n got  %s\n want %s",
                  _i, r.trace, row->trace);
    ck_assert_int_eq(r.live, 0);
    pkl_policy_free(p);
}
END_TEST

/* A callback failing at every point: PKL_E_BUILDER, every handle released. */
START_TEST(test_build_callback_fails)
{
    pkl_policy *p = policy_named("default");
    static const char in[] =
        "\x80\x02" "c__builtin__\nset\n" "](K\x01K\x02" "e\x85R" "q\x00"
        "}(U\x01" "ah\x00U\x01" "b]q\x01h\x01" "au" "\x86.";
    int done = 0;
    for (long k = 1; !done && k < 100; k++) {
        pkl_decode_options opt;
        memset(&opt, 0, sizeof opt);
        opt.policy = p;
        rec r;
        pkl_builder b = rec_builder(&r);
        r.fail_call = k;
        void *root = NULL;
        pkl_error err;
        POISON_ERR(err);
        if (pkl_decode_build(in, sizeof in - 1, &opt, &b, &root, NULL, &err) == 0) {
            rec_release(&r, root);
            done = 1;
        } else {
            ck_assert_msg(err.code == PKL_E_BUILDER, "k=%ld: %d", k, err.code);
        }
        ck_assert_msg(r.live == 0, "k=%ld: %ld handles leaked", k, r.live);
    }
    ck_assert(done);
    pkl_policy_free(p);
}
END_TEST

/* after_build: its handle takes the instance's place on the stack (the
 * tuple gets it), memo GET still gives the instance, references balance;
 * a failing after_build is PKL_E_BUILDER with nothing leaked. */
static long after_fail;
static void *rec_after_build(void *c, void *inst)
{
    ck_assert_int_eq(((rnode *)inst)->kind, PKL_T_OBJECT);
    if (after_fail) {
        rec_log(c, "after-fails");
        return NULL;
    }
    return rec_new(c, PKL_T_LIST, "replaced");
}

static void *kinds_container(void *c, int type, void *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rec_log(c, ((rnode *)items[i])->kind == PKL_T_LIST ? "item:replacement"
                   : ((rnode *)items[i])->kind == PKL_T_OBJECT ? "item:instance" : "item:other");
    return rec_container(c, type, items, n);
}

START_TEST(test_build_after_build_replaces)
{
    pkl_policy *p = policy_named("default");
    static const char in[] = "\x80\x02" "ccollections\nOrderedDict\n" ")\x81" "q\x00"
                             "}b" "h\x00" "\x86.";
    for (after_fail = 0; after_fail < 2; after_fail++) {
        pkl_decode_options opt;
        memset(&opt, 0, sizeof opt);
        opt.policy = p;
        rec r;
        pkl_builder b = rec_builder(&r);
        b.after_build = rec_after_build;
        b.container = kinds_container;
        void *root = NULL;
        pkl_error err;
        POISON_ERR(err);
        int rc = pkl_decode_build(in, sizeof in - 1, &opt, &b, &root, NULL, &err);
        if (after_fail) {
            ck_assert_int_eq(rc, -1);
            ck_assert_int_eq(err.code, PKL_E_BUILDER);
        } else {
            ck_assert_msg(rc == 0, "%s", err.detail);
            ck_assert_msg(strstr(r.trace, "build replaced item:replacement item:instance tuple2"),
                          "%s", r.trace);
            rec_release(&r, root);
        }
        ck_assert_msg(r.live == 0, "%ld handles leaked: %s", r.live, r.trace);
    }
    after_fail = 0;
    pkl_policy_free(p);
}
END_TEST

/* Out of memory at every allocation while building: a clean PKL_E_NOMEM,
 * nothing leaked, no handle left. */
START_TEST(test_build_oom_every_allocation)
{
    pkl_policy *p = policy_named("default");
    static const char in[] =
        "\x80\x02" "c__builtin__\nset\n" "](K\x01K\x02" "e\x85R" "q\x00"
        "}(U\x01" "ah\x00U\x01" "b]q\x01h\x01" "au" "\x86.";
    int done = 0;
    for (long k = 0; !done && k < 1000; k++) {
        test_alloc t;
        pkl_allocator a = test_allocator(&t, (size_t)k + 1);
        pkl_decode_options opt;
        memset(&opt, 0, sizeof opt);
        opt.policy = p;
        opt.alloc = &a;
        rec r;
        pkl_builder b = rec_builder(&r);
        void *root = NULL;
        pkl_error err;
        POISON_ERR(err);
        if (pkl_decode_build(in, sizeof in - 1, &opt, &b, &root, NULL, &err) == 0) {
            rec_release(&r, root);
            done = 1;
        } else {
            ck_assert_msg(err.code == PKL_E_NOMEM, "k=%ld: %d %s", k, err.code,
                          err.detail);
        }
        ck_assert_msg(t.bytes == 0 && t.live == 0 && r.live == 0,
                      "k=%ld: %zu bytes, %ld handles leaked", k, t.bytes, r.live);
    }
    ck_assert(done);
    pkl_policy_free(p);
}
END_TEST

/* Builder mode packs numbers appended to a list (decoder.c: pending
 * scalars, packed lists) and unpacks them when a check reads the items.
 * Its charges against max_bytes must equal pkl_decode's node-per-value
 * tree exactly: for each of these pickles and a sweep of max_bytes (and
 * max_values) both paths end alike (same code and offset), with no handle
 * leaked, with the scalar-only builder and with the optional callbacks
 * (int64, float64, release_n, append_owned). */
/* A lean counting builder (no check assertion per callback, so the sweep
 * can be fine): handles are refcounted ints, live counts them. */
static long lean_live;
static void *lean_new(void) { int *h = malloc(sizeof *h); if (h) { *h = 1; lean_live++; } return h; }
static void *lean_scalar(void *c, const pkl_value *v) { (void)c; (void)v; return lean_new(); }
static void *lean_int64(void *c, int64_t i) { (void)c; (void)i; return lean_new(); }
static void *lean_float64(void *c, double f) { (void)c; (void)f; return lean_new(); }
static void *lean_container(void *c, int t, void *const *it, size_t n) { (void)c; (void)t; (void)it; (void)n; return lean_new(); }
static int lean_mut(void *c, void *t, void *const *it, size_t n) { (void)c; (void)t; (void)it; (void)n; return 0; }
static void *lean_global(void *c, const pkl_global *g) { (void)c; (void)g; return lean_new(); }
static void *lean_call(void *c, void *f, void *a, void *k, int is_new) { (void)c; (void)f; (void)a; (void)k; (void)is_new; return lean_new(); }
static int lean_build(void *c, void *i, void *s) { (void)c; (void)i; (void)s; return 0; }
static void *lean_one(void *c, void *h) { (void)c; (void)h; return lean_new(); }
static void *lean_attr(void *c, const pkl_global *g, const uint8_t *n, size_t l) { (void)c; (void)g; (void)n; (void)l; return lean_new(); }
static void *lean_buffer(void *c, size_t i) { (void)c; (void)i; return lean_new(); }
static void lean_retain(void *c, void *h) { (void)c; (*(int *)h)++; }
static void lean_release(void *c, void *h)
{
    (void)c;
    if (--*(int *)h == 0) {
        free(h);
        lean_live--;
    }
}
static void lean_release_n(void *c, void *const *hs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hs[i])
            lean_release(c, hs[i]);
}
static int lean_append_owned(void *c, void *t, void *const *it, size_t n)
{
    (void)t;
    lean_release_n(c, it, n);
    return 0;
}

/* A list of n numbers (floats, big ints, small ints, None, True) in
 * APPENDS batches of 1000, as pickle writes it (no STOP). */
static size_t put_numbers(char *o, size_t n)
{
    size_t k = 0;
    memcpy(o + k, "]q\x00", 3);
    k += 3;
    for (size_t i = 0; i < n; i++) {
        if (i % 1000 == 0)
            o[k++] = '(';
        switch (i % 5) {
        case 0: /* BINFLOAT i + 0.5 */
        {
            double f = (double)i + 0.5;
            uint64_t b;
            memcpy(&b, &f, sizeof b);
            o[k++] = 'G';
            for (int s = 56; s >= 0; s -= 8)
                o[k++] = (char)(b >> s);
            break;
        }
        case 1: /* BININT 100000 + i */
        {
            uint32_t v = 100000u + (uint32_t)i;
            o[k++] = 'J';
            for (int s = 0; s < 32; s += 8)
                o[k++] = (char)(v >> s);
            break;
        }
        case 2: o[k++] = 'K'; o[k++] = (char)(i % 256); break;
        case 3: o[k++] = 'N'; break;
        default: o[k++] = '\x88'; break;
        }
        if (i % 1000 == 999 || i == n - 1)
            o[k++] = 'e';
    }
    return k;
}

static size_t packed_input(int which, char *o)
{
    size_t k = 0;
    memcpy(o, "\x80\x02", 2);
    k = 2;
    switch (which) {
    case 0: /* the list itself */
        k += put_numbers(o + k, 20003);
        break;
    case 1: /* set(list): the call reads (hashes) the packed items */
        memcpy(o + k, "c__builtin__\nset\n", 17);
        k += 17;
        k += put_numbers(o + k, 20003);
        memcpy(o + k, "\x85R", 2);
        k += 2;
        break;
    case 2: /* list[3] = 'x' (SETITEM) and list[-1] = None after packing */
        k += put_numbers(o + k, 2100);
        memcpy(o + k, "K\x03X\x01\x00\x00\x00xsJ\xff\xff\xff\xffNs", 16);
        k += 16;
        break;
    case 3: /* a string appended after numbers, then more numbers */
        k += put_numbers(o + k, 2200);
        memcpy(o + k, "X\x01\x00\x00\x00" "a" "aG\x3f\xf0\x00\x00\x00\x00\x00\x00" "a", 17);
        k += 17;
        break;
    case 4: /* dict(list of 2-item number lists): items of items read */
        memcpy(o + k, "c__builtin__\ndict\n](", 20);
        k += 20;
        for (int i = 0; i < 300; i++) {
            memcpy(o + k, "](J", 3);
            k += 3;
            uint32_t v = 70000u + (uint32_t)i;
            for (int s = 0; s < 32; s += 8)
                o[k++] = (char)(v >> s);
            memcpy(o + k, "G\x40\x00\x00\x00\x00\x00\x00\x00" "e", 10);
            k += 10;
        }
        memcpy(o + k, "e\x85R", 3);
        k += 3;
        break;
    case 5: /* bytes(list of ints 0..255) */
        memcpy(o + k, "c__builtin__\nbytes\n](", 21);
        k += 21;
        for (int i = 0; i < 2100; i++) {
            o[k++] = 'K';
            o[k++] = (char)(i % 256);
        }
        memcpy(o + k, "e\x85R", 3);
        k += 3;
        break;
    case 7: /* set(list of batches of only floats and big ints): the
             * batches are kept as input ranges and read again for the call */
    case 8: /* the same in text opcodes (FLOAT, INT, LONG) and LONG1, then
             * a string appended (the ranges read again) */
        if (which == 7) {
            memcpy(o + k, "c__builtin__\nset\n", 17);
            k += 17;
        }
        memcpy(o + k, "]q\x00", 3);
        k += 3;
        for (int i = 0; i < 6000; i++) {
            if (i % 1000 == 0)
                o[k++] = '(';
            if (which == 7 && i % 2) {
                uint32_t v = 300000u + (uint32_t)i;
                o[k++] = 'J';
                for (int s = 0; s < 32; s += 8)
                    o[k++] = (char)(v >> s);
            } else if (which == 7) {
                double f = (double)i / 4;
                uint64_t b;
                memcpy(&b, &f, sizeof b);
                o[k++] = 'G';
                for (int s = 56; s >= 0; s -= 8)
                    o[k++] = (char)(b >> s);
            } else {
                k += (size_t)sprintf(o + k, i % 3 == 0 ? "F%d.25\n" : i % 3 == 1 ? "I-%d\n"
                                                        : "L%d123L\n", i + 1000);
                if (i % 7 == 0) { /* LONG1 of 3 bytes */
                    memcpy(o + k, "\x8a\x03\x01\x02\x03", 5);
                    k += 5;
                }
            }
            if (i % 1000 == 999)
                o[k++] = 'e';
        }
        if (which == 7) {
            memcpy(o + k, "\x85R", 2);
            k += 2;
        } else {
            memcpy(o + k, "X\x01\x00\x00\x00" "za", 7);
            k += 7;
        }
        break;
    default: /* APPENDS onto a float (refused), the items pending */
        memcpy(o + k, "]G\x3f\xf0\x00\x00\x00\x00\x00\x00(J\x00\x00\x01\x00" "e", 17);
        k += 17;
        break;
    }
    o[k++] = '.';
    return k;
}

START_TEST(test_build_packed_parity)
{
    pkl_policy *p = policy_named("default");
    char *in = malloc(1 << 20);
    ck_assert_ptr_nonnull(in);
    size_t n = packed_input(_i, in);
    ck_assert_uint_lt(n, 1 << 20);
    int outcomes[2] = {0, 0}, bad = 0;
    if (_i == 7 || _i == 8) { /* what pickle itself makes of the input */
        pkl_decode_options o0;
        memset(&o0, 0, sizeof o0);
        o0.policy = p;
        pkl_error e0;
        pkl_doc *d0 = pkl_decode(in, n, &o0, NULL, &e0);
        ck_assert_msg(d0 != NULL, "input %d: %s", _i, e0.detail);
        const pkl_value *root = pkl_doc_root(d0);
        ck_assert_int_eq(root->type, _i == 7 ? PKL_T_SET : PKL_T_LIST);
        ck_assert_uint_eq(root->u.seq.len, _i == 7 ? 6000 : 6000 + 858 + 1);
        pkl_doc_free(d0);
    }
    char why[256] = "";
    lean_live = 0;
    for (int step = 0; step < 1100 && !bad; step++) {
        pkl_limits lim;
        pkl_limits_default(&lim);
        if (step < 1000)
            lim.max_bytes = 2000 + (size_t)step * 800;
        else
            lim.max_values = 1000 + (size_t)(step - 1000) * 200;
        pkl_decode_options opt;
        memset(&opt, 0, sizeof opt);
        opt.policy = p;
        opt.limits = &lim;
        pkl_error e1, e2;
        size_t used = 0, used2 = 0;
        pkl_doc *doc = pkl_decode(in, n, &opt, &used, &e1);
        pkl_builder b = {
            .scalar = lean_scalar, .container = lean_container,
            .append = lean_mut, .setitems = lean_mut, .additems = lean_mut,
            .global = lean_global, .call = lean_call, .build = lean_build,
            .persid = lean_one, .attr = lean_attr, .buffer = lean_buffer,
            .readonly = lean_one, .retain = lean_retain, .release = lean_release};
        if (step % 2) {
            b.int64 = lean_int64;
            b.float64 = lean_float64;
            b.release_n = lean_release_n;
            b.append_owned = lean_append_owned;
        }
        void *root = NULL;
        int rc = pkl_decode_build(in, n, &opt, &b, &root, &used2, &e2);
        if ((rc == 0) != (doc != NULL) || (doc && used != used2) ||
            (!doc && (e1.code != e2.code || e1.offset != e2.offset))) {
            snprintf(why, sizeof why, "step %d: plain %d at %zu, builder %d at %zu",
                     step, doc ? 0 : e1.code, doc ? used : e1.offset,
                     rc == 0 ? 0 : e2.code, rc == 0 ? used2 : e2.offset);
            bad = 1;
        }
        if (rc == 0)
            lean_release(NULL, root);
        outcomes[doc != NULL] = 1;
        pkl_doc_free(doc);
        if (lean_live != 0 && !bad) {
            snprintf(why, sizeof why, "step %d: %ld handles leaked", step, lean_live);
            bad = 1;
        }
    }
    ck_assert_msg(!bad, "input %d: %s", _i, why);
    /* the sweep saw both outcomes (except for the refused input) */
    ck_assert(outcomes[0]);
    ck_assert(outcomes[1] || _i == 6);
    free(in);
    pkl_policy_free(p);
}
END_TEST

START_TEST(test_build_needs_callbacks)
{
    pkl_policy *p = policy_named("default");
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    rec r;
    pkl_builder b = rec_builder(&r);
    b.release = NULL;
    void *root = (void *)1;
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_decode_build("N.", 2, &opt, &b, &root, NULL, &err), -1);
    ck_assert_int_eq(err.code, PKL_E_INVALID_ARG);
    ck_assert_ptr_null(root);
    pkl_policy_free(p);
}
END_TEST

Suite *suite_decoder(void)
{
    Suite *s = suite_create("decoder");
    TCase *tc = tcase_create("rows");
    tcase_add_loop_test(tc, test_ok_rows, 0,
                        (int)(sizeof ok_rows / sizeof ok_rows[0]));
    tcase_add_loop_test(tc, test_err_rows, 0,
                        (int)(sizeof err_rows / sizeof err_rows[0]));
    tcase_add_test(tc, test_refusal_message);
    tcase_add_test(tc, test_refusal_deny);
    tcase_add_test(tc, test_persid_allowed);
    tcase_add_test(tc, test_buffers);
    tcase_add_test(tc, test_concatenated);
    tcase_add_test(tc, test_zero_copy);
    tcase_add_test(tc, test_zero_limit);
    tcase_add_test(tc, test_large_dict_dedupe);
    tcase_add_test(tc, test_oom_every_allocation);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("builder");
    tcase_add_loop_test(tb, test_build_parity_ok_rows, 0,
                        (int)(sizeof ok_rows / sizeof ok_rows[0]));
    tcase_add_loop_test(tb, test_build_parity_err_rows, 0,
                        (int)(sizeof err_rows / sizeof err_rows[0]));
    tcase_add_loop_test(tb, test_build_order, 0,
                        (int)(sizeof trace_rows / sizeof trace_rows[0]));
    tcase_add_test(tb, test_build_callback_fails);
    tcase_add_test(tb, test_build_after_build_replaces);
    tcase_add_test(tb, test_build_oom_every_allocation);
    tcase_add_test(tb, test_build_needs_callbacks);
    tcase_add_loop_test(tb, test_build_packed_parity, 0, 9);
    suite_add_tcase(s, tb);
    TCase *tl = tcase_create("limits");
    tcase_set_timeout(tl, 60);
    tcase_add_loop_test(tl, test_limits, 0,
                        (int)(sizeof limit_cases / sizeof limit_cases[0]));
    suite_add_tcase(s, tl);
    return s;
}
