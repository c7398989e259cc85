/* check_scanner.c -- the scanner's rules, one table row per evasion class.
 *
 * Each row is raw opcode bytes (never produced by unpickling anything), a
 * policy, and the exact set of (rule, severity, offset) findings expected.
 * Offsets are opcode positions as python3's pickletools.genops reports
 * them for the same bytes (noted as "genops: ..." next to each row);
 * rules and severities follow docs/rules.md and the reasoning in the row's
 * comment. Findings are compared as a set sorted by (offset, rule), so
 * emission order is free but nothing may be missing or extra.
 */
#include "testutil.h"
#include "internal.h" /* the library's own entry points */

#include <stdio.h>
#include <stdlib.h>

typedef struct want {
    const char *rule;
    int severity;
    size_t offset;
} want;

#define MAXW 4

typedef struct row {
    const char *name;
    const char *bytes;
    size_t len;
    int policy;           /* index into policies[] */
    size_t nwant;
    want w[MAXW];
    const char *global;   /* expected global of the first finding, or NULL */
    const char *path;     /* expected path of the last finding, or NULL */
    size_t max_nesting;
    int lenient;          /* pkli_scan_buffer's lenient_start */
} row;

#define B(s) s, sizeof(s) - 1
#define C PKL_SEV_CRITICAL
#define H PKL_SEV_HIGH
#define M PKL_SEV_MEDIUM
#define L PKL_SEV_LOW
#define I PKL_SEV_INFO

/* 0: a small allowlist that (wrongly, through allow_dangerous) allows
 *    os.system -- a catalogue hit must stay critical; 1: the same with
 *    persistent ids allowed;
 *    2: the built-in default. */
static const char *const policy_yaml[] = {
    "version: 1\nname: t\nallow:\n  - collections.OrderedDict\n"
    "allow_dangerous:\n  - os.system\npersistent_ids: deny\n",
    "version: 1\nname: tp\nallow:\n  - collections.OrderedDict\n"
    "persistent_ids: allow\n",
    NULL,
};

/* nested: pickle.loads(b"cos\nsystem\n(S'id'\ntR.") -- the inner pickle
 * is 21 bytes: C 0x15 at 16, payload from 18 */
#define INNER "cos\nsystem\n(S'id'\ntR."
#define NESTED "\x80\x03" "cpickle\nloads\n" "C\x15" INNER "\x85R."
/* doubly nested: pickle.loads(NESTED) -- NESTED is 42 bytes (0x2a) */
#define NESTED2 "\x80\x03" "cpickle\nloads\n" "C\x2a" NESTED "\x85R."

static const row rows[] = {
    /* --- parity of DICT / SETITEMS (CPython: "odd number of items") ----- */
    /* genops: 0 PROTO 2 EMPTY_DICT 3 MARK 4 BININT1 6 SETITEMS 7 STOP */
    {"setitems_odd", B("\x80\x02}(K\x01u."), 2, 1,
     {{"malformed", M, 6}}, NULL, NULL, 0, 0},
    /* genops: 0 PROTO 2 MARK 3 BININT1 5 DICT 6 STOP */
    {"dict_odd", B("\x80\x02(K\x01" "d."), 2, 1,
     {{"malformed", M, 5}}, NULL, NULL, 0, 0},
    /* two items: even, and clean.
     * genops: 0 PROTO 2 MARK 3 BININT1 5 BININT1 7 DICT 8 STOP */
    {"dict_even", B("\x80\x02(K\x01K\x02" "d."), 2, 0,
     {{NULL, 0, 0}}, NULL, NULL, 0, 0},
    /* --- alternate string opcodes feeding STACK_GLOBAL ------------------ */
    /* genops: 0 PROTO 2 SHORT_BINUNICODE 6 SHORT_BINUNICODE 14 STACK_GLOBAL
     * 15 SHORT_BINUNICODE 19 TUPLE1 20 REDUCE 21 STOP */
    {"sg_short_binunicode",
     B("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R."), 0, 1,
     {{"dangerous-global", C, 14}}, "os.system", NULL, 0, 0},
    /* genops: 2 BINUNICODE 9 BINUNICODE 20 STACK_GLOBAL */
    {"sg_binunicode",
     B("\x80\x04X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93."), 2, 1,
     {{"dangerous-global", C, 20}}, "os.system", NULL, 0, 0},
    /* genops: 2 BINUNICODE8 13 SHORT_BINUNICODE 21 STACK_GLOBAL */
    {"sg_binunicode8",
     B("\x80\x04\x8d\x02\x00\x00\x00\x00\x00\x00\x00os\x8c\x06system\x93."),
     2, 1, {{"dangerous-global", C, 21}}, "os.system", NULL, 0, 0},
    /* SHORT_BINSTRING decodes to str with the unpickler's encoding.
     * genops: 2 SHORT_BINSTRING 6 SHORT_BINSTRING 14 STACK_GLOBAL */
    {"sg_short_binstring", B("\x80\x04U\x02osU\x06system\x93."), 2, 1,
     {{"dangerous-global", C, 14}}, "os.system", NULL, 0, 0},
    /* genops: 2 BINSTRING 9 BINSTRING 20 STACK_GLOBAL */
    {"sg_binstring",
     B("\x80\x04T\x02\x00\x00\x00osT\x06\x00\x00\x00system\x93."), 2, 1,
     {{"dangerous-global", C, 20}}, "os.system", NULL, 0, 0},
    /* genops: 2 STRING 8 STRING 18 STACK_GLOBAL */
    {"sg_string", B("\x80\x04S'os'\nS\"system\"\n\x93."), 2, 1,
     {{"dangerous-global", C, 18}}, "os.system", NULL, 0, 0},
    /* genops: 2 UNICODE 6 UNICODE 14 STACK_GLOBAL */
    {"sg_unicode", B("\x80\x04Vos\nVsystem\n\x93."), 2, 1,
     {{"dangerous-global", C, 14}}, "os.system", NULL, 0, 0},
    /* raw-unicode-escape: \u006f is 'o', \u0074 is 't'.
     * genops: 2 UNICODE 11 UNICODE 24 STACK_GLOBAL */
    {"sg_unicode_escapes", B("\x80\x04V\\u006fs\nVsys\\u0074em\n\x93."), 2, 1,
     {{"dangerous-global", C, 24}}, "os.system", NULL, 0, 0},
    /* BINBYTES operands: CPython raises "STACK_GLOBAL requires str"; like
     * any operand that is not a constant str it is dynamic-global (the
     * corpus's malicious/p4_sg_nonconstant.pkl, a tuple, wants high).
     * genops: 2 SHORT_BINBYTES 6 SHORT_BINBYTES 14 STACK_GLOBAL */
    {"sg_bytes_operands", B("\x80\x04" "C\x02osC\x06system\x93."), 2, 1,
     {{"dynamic-global", H, 14}}, NULL, NULL, 0, 0},

    /* --- memo indirection and DUP ------------------------------------------ */
    /* both strings memoized, popped, fetched back with BINGET.
     * genops: 2 SBU 6 MEMOIZE 7 SBU 15 MEMOIZE 16 POP 17 POP 18 BINGET
     * 20 BINGET 22 STACK_GLOBAL */
    {"sg_memo",
     B("\x80\x04\x8c\x02os\x94\x8c\x06system\x94" "00h\x00h\x01\x93."), 2, 1,
     {{"dangerous-global", C, 22}}, "os.system", NULL, 0, 0},
    /* DUP makes the name: module "system", name "system" -- not allowed.
     * genops: 2 SHORT_BINUNICODE 10 DUP 11 STACK_GLOBAL */
    {"sg_dup", B("\x80\x04\x8c\x06system2\x93."), 2, 1,
     {{"global-not-allowed", H, 11}}, "system.system", NULL, 0, 0},
    /* "1" is no module name, whether read directly or from the memo.
     * genops: 2 SBU 5 SBU 8 STACK_GLOBAL / 2 SBU 5 MEMOIZE 6 POP 7 BINGET
     * 9 BINGET 11 STACK_GLOBAL */
    {"sg_not_a_name", B("\x80\x04\x8c\x01" "1\x8c\x01" "1\x93."), 2, 1,
     {{"bad-global-name", H, 8}}, NULL, NULL, 0, 0},
    {"sg_not_a_name_memo",
     B("\x80\x04\x8c\x01" "1\x94" "0h\x00h\x00\x93."), 2, 1,
     {{"bad-global-name", H, 11}}, NULL, NULL, 0, 0},
    /* the call target stored in the memo and called from a BINGET copy:
     * still a call on a call result. genops: 2 GLOBAL 27 EMPTY_TUPLE
     * 28 REDUCE 29 BINPUT 31 POP 32 BINGET 34 EMPTY_TUPLE 35 REDUCE 36 STOP */
    {"call_via_memo",
     B("\x80\x02" "ccollections\nOrderedDict\n)Rq\x01" "0h\x01)R."), 0, 1,
     {{"call-on-call-result", H, 35}}, "collections.OrderedDict", NULL, 0, 0},
    /* genops: 2 GLOBAL 27 EMPTY_TUPLE 28 REDUCE 29 DUP 30 EMPTY_TUPLE
     * 31 REDUCE 32 STOP -- the DUP copy is called; STOP leaves 2 values */
    {"call_via_dup", B("\x80\x02" "ccollections\nOrderedDict\n)R2)R."), 0, 2,
     {{"call-on-call-result", H, 31}, {"stack-not-empty", M, 32}},
     "collections.OrderedDict", NULL, 0, 0},

    /* --- INST / OBJ ---------------------------------------------------------- */
    /* INST and OBJ are checked like any global and call, and noted once
     * as info (corpus benign/hand_p0_inst_fraction.pkl: info).
     * genops: 0 MARK 1 STRING 7 INST 18 STOP */
    {"inst", B("(S'id'\nios\nsystem\n."), 2, 2,
     {{"dangerous-global", C, 7}, {"inst-obj", I, 7}}, "os.system", NULL, 0,
     0},
    /* genops: 0 MARK 1 GLOBAL 12 STRING 18 OBJ 19 STOP */
    {"obj", B("(cos\nsystem\nS'id'\no."), 2, 2,
     {{"dangerous-global", C, 1}, {"inst-obj", I, 18}}, "os.system", NULL, 0,
     0},
    /* INST of an allowed class: only the note. genops: 0 MARK 1 BININT1
     * 3 INST 28 STOP */
    {"inst_allowed", B("(K\x01icollections\nOrderedDict\n."), 0, 1,
     {{"inst-obj", I, 3}}, NULL, NULL, 0, 0},

    /* --- protocol switches: compatibility names only below 3 ---------------- */
    /* genops: 0 PROTO 2 GLOBAL 20 STOP; __builtin__.eval -> builtins.eval */
    {"compat_proto2", B("\x80\x02" "c__builtin__\neval\n."), 2, 1,
     {{"dangerous-global", C, 2}}, "builtins.eval", NULL, 0, 0},
    /* at protocol 3 no rename: module __builtin__ does not exist in
     * Python 3, so it is only "not allowed" */
    {"compat_proto3", B("\x80\x03" "c__builtin__\neval\n."), 2, 1,
     {{"global-not-allowed", H, 2}}, "__builtin__.eval", NULL, 0, 0},
    /* genops: 0 PROTO 2 PROTO 4 GLOBAL 22 STOP: the second PROTO (2) is in
     * force, so the rename applies */
    {"proto_switch_down", B("\x80\x03\x80\x02" "c__builtin__\neval\n."), 2, 2,
     {{"proto-switch", I, 2}, {"dangerous-global", C, 4}}, NULL, NULL, 0, 0},
    /* no PROTO: protocol 0, SHORT_BINUNICODE (protocol 4) is a mismatch.
     * genops: 0 SHORT_BINUNICODE 3 STOP */
    {"proto_mismatch", B("\x8c\x01" "a."), 2, 1, {{"proto-mismatch", I, 0}},
     NULL, NULL, 0, 0},

    /* --- dotted names --------------------------------------------------------- */
    /* posixpath + "os.system" walks through posixpath.os at protocol 4.
     * genops: 2 SBU 13 SBU 24 STACK_GLOBAL */
    {"dotted_reexport",
     B("\x80\x04\x8c\x09posixpath\x8c\x09os.system\x93."), 2, 1,
     {{"dangerous-global", C, 24}}, "posixpath.os.system", NULL, 0, 0},
    /* below protocol 4 a dotted name is one getattr that fails: no
     * identifier path spells it. genops: 2 GLOBAL 23 STOP */
    {"dotted_proto2", B("\x80\x02" "cposixpath\nos.system\n."), 2, 1,
     {{"bad-global-name", H, 2}}, NULL, NULL, 0, 0},
    /* genops: 2 SBU 12 SBU 35 STACK_GLOBAL */
    {"dunder",
     B("\x80\x04\x8c\x08" "builtins\x8c\x15" "object.__subclasses__\x93."), 2,
     1, {{"dunder-traversal", C, 35}}, "builtins.object.__subclasses__", NULL,
     0, 0},

    /* --- several pickles, garbage, trailing bytes ----------------------------- */
    /* each pickle is scanned (a second pickle.load runs the second).
     * genops on the second pickle: 5 GLOBAL 16 STOP */
    {"concatenated", B("\x80\x04K\x01." "cos\nsystem\n."), 2, 1,
     {{"dangerous-global", C, 5}}, NULL, NULL, 0, 0},
    /* the call is reported even though the stream breaks right after it.
     * genops: 0 GLOBAL 11 MARK 12 STRING 18 TUPLE 19 REDUCE, 20: 0xff */
    {"payload_before_garbage", B("cos\nsystem\n(S'id'\ntR\xff"), 2, 2,
     {{"dangerous-global", C, 0}, {"unknown-opcode", M, 20}}, NULL, NULL, 0, 0},
    /* after the unknown byte at 3, the string operands naming os.system
     * (SHORT_BINUNICODE at 4) are found in the unparsed bytes */
    {"garbage_before_payload",
     B("\x80\x04N\xff\x8c\x02os\x8c\x06system\x93."), 2, 2,
     {{"unknown-opcode", M, 3}, {"unparsed-global", H, 4}}, NULL, NULL, 0, 0},
    /* genops: 0 NONE 1 STOP; '\n' at 2 is no opcode */
    {"trailing_bytes", B("N.\n"), 2, 1, {{"trailing-bytes", M, 2}}, NULL, NULL,
     0, 0},
    /* genops: 2 NONE, 3: 0xff */
    {"unknown_opcode", B("\x80\x02N\xff."), 2, 1, {{"unknown-opcode", M, 3}},
     NULL, NULL, 0, 0},
    /* GLOBAL then the end of the input: the global, then truncated at 13
     * (the end) */
    {"no_stop", B("\x80\x02" "cos\nsystem\n"), 2, 2,
     {{"dangerous-global", C, 2}, {"truncated", M, 13}}, NULL, NULL, 0, 0},
    /* BINUNICODE declares 100 bytes, 2 remain: truncated at 2 */
    {"truncated_arg", B("\x80\x04X\x64\x00\x00\x00" "ab"), 2, 1,
     {{"truncated", M, 2}}, NULL, NULL, 0, 0},

    /* --- nested pickles --------------------------------------------------------- */
    {"nested", B(NESTED), 2, 2,
     {{"dangerous-global", C, 2}, {"dangerous-global", C, 0}}, "pickle.loads",
     "nested@18", 0, 0},
    /* nesting depth 1: the inner pickle.loads(...) is not followed */
    {"nested_too_deep", B(NESTED2), 2, 3,
     {{"dangerous-global", C, 2}, {"dangerous-global", C, 2},
      {"nested-unscanned", H, 40}},
     "pickle.loads", "nested@18", 1, 0},

    /* pickle.Unpickler.load(pickle.Unpickler(io.BytesIO(INNER))): the
     * payload reaches two deserializers (and BytesIO carries it) but is
     * scanned once. genops: 26 STACK_GLOBAL 46 STACK_GLOBAL 60 STACK_GLOBAL
     * 61 SHORT_BINBYTES (payload at 63) 85/87/89 REDUCE */
    {"nested_once",
     B("\x80\x04\x8c\x06pickle\x8c\x0eUnpickler.load\x93"
       "\x8c\x06pickle\x8c\x09Unpickler\x93\x8c\x02io\x8c\x07" "BytesIO\x93"
       "C\x15" INNER "\x85R\x85R\x85R."), 2, 4,
     {{"dangerous-global", C, 26}, {"dangerous-global", C, 46},
      {"global-not-allowed", H, 60}, {"dangerous-global", C, 0}},
     "pickle.Unpickler.load", "nested@63", 0, 0},

    /* --- EXT, frames ----------------------------------------------------------- */
    /* genops: 2 EXT1 4 EMPTY_TUPLE 5 REDUCE 6 STOP */
    {"ext1", B("\x80\x02\x82\x01)R."), 2, 1, {{"ext-registry", H, 2}}, NULL,
     NULL, 0, 0},
    {"ext2", B("\x80\x02\x83\x01\x00."), 2, 1,
     {{"ext-registry", H, 2}}, NULL, NULL, 0, 0},
    /* FRAME of 3 bytes covers "(NK"; BININT1's argument at 14 is outside.
     * genops: 2 FRAME 11 MARK 12 NONE 13 BININT1 15 TUPLE 16 STOP */
    {"frame_crossing",
     B("\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00(NK\x05t."), 2, 1,
     {{"frame-crossing", H, 13}}, NULL, NULL, 0, 0},
    /* STOP inside a frame: pickle.py's next load starts at the frame's end
     * (_Unframer reads frames whole), _pickle.c's past STOP or there (by
     * how it read the frame): both are scanned
     * (corpus/regressions/oracle/frame_stop_resume.pkl). genops: 2 FRAME
     * (7 bytes, to 18) 11 BININT1 13 STOP; 14-17 0x05; 18 GLOBAL
     * 31 EMPTY_TUPLE 32 REDUCE 33 STOP */
    {"frame_stop_resume",
     B("\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00K\x01.\x05\x05\x05\x05"
       "cmymod\nThing\n)R."), 2, 3,
     {{"frame-crossing", H, 13}, {"trailing-bytes", M, 14},
      {"global-not-allowed", H, 18}}, NULL, NULL, 0, 0},
    /* ...where the pickle after STOP (N. at 14) ends at the frame's end,
     * both resume points join: the GLOBAL at 16 is scanned once */
    {"frame_stop_resume_joins",
     B("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.N."
       "cmymod\nThing\n)R."), 2, 2,
     {{"frame-crossing", H, 13}, {"global-not-allowed", H, 16}}, NULL, NULL,
     0, 0},
    /* ...and where the pickle after STOP (NN at 14) runs on through the
     * frame's end, the GLOBAL at 16 read by both is reported once */
    {"frame_stop_resume_overlap",
     B("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.NN"
       "cmymod\nThing\n)R."), 2, 3,
     {{"frame-crossing", H, 13}, {"global-not-allowed", H, 16},
      {"stack-not-empty", M, 31}}, NULL, NULL, 0, 0},

    /* --- persistent ids ------------------------------------------------------------ */
    /* genops: 2 PERSID 7 STOP */
    {"persid_denied", B("\x80\x02Pabc\n."), 0, 1, {{"persistent-id", L, 2}},
     NULL, NULL, 0, 0},
    /* allowed by the policy: expected, nothing to report (torch storages
     * under `ml`; corpus/formats torch_zip.pt is clean under ml) */
    {"persid_allowed", B("\x80\x02Pabc\n."), 1, 0, {{NULL, 0, 0}},
     NULL, NULL, 0, 0},
    /* genops: 2 BININT1 4 BINPERSID 5 STOP */
    {"binpersid", B("\x80\x02K\x01Q."), 2, 1, {{"persistent-id", L, 4}}, NULL,
     NULL, 0, 0},

    /* --- calls, builds, mutation on globals ------------------------------------ */
    /* genops: 2 GLOBAL 27 EMPTY_TUPLE 28 REDUCE 29 EMPTY_TUPLE 30 REDUCE */
    {"call_on_call", B("\x80\x02" "ccollections\nOrderedDict\n)R)R."), 0, 1,
     {{"call-on-call-result", H, 30}}, NULL, NULL, 0, 0},
    /* genops: 2 GLOBAL 27 EMPTY_DICT 28 BUILD */
    {"build_on_global", B("\x80\x02" "ccollections\nOrderedDict\n}b."), 0, 1,
     {{"build-on-global", H, 28}}, NULL, NULL, 0, 0},
    /* genops: 2 GLOBAL 27 BININT1 29 BININT1 31 SETITEM */
    {"setitem_on_global",
     B("\x80\x02" "ccollections\nOrderedDict\nK\x01K\x02s."), 0, 1,
     {{"mutate-global", H, 31}}, NULL, NULL, 0, 0},
    /* no items: CPython returns before it looks at the target, so the
     * decoder accepts these and the scanner must stay silent
     * (corpus/regressions/diff/empty-*-on-global.bin).
     * genops: 2 GLOBAL 27 MARK 28 APPENDS 29 STOP */
    {"empty_appends_on_global",
     B("\x80\x02" "ccollections\nOrderedDict\n(e."), 0, 0, {{NULL, 0, 0}},
     NULL, NULL, 0, 0},
    {"empty_setitems_on_global",
     B("\x80\x02" "ccollections\nOrderedDict\n(u."), 0, 0, {{NULL, 0, 0}},
     NULL, NULL, 0, 0},
    /* ... but one item is a call of the global's method.
     * genops: 2 GLOBAL 27 MARK 28 BININT1 30 APPENDS */
    {"appends_on_global",
     B("\x80\x02" "ccollections\nOrderedDict\n(K\x01" "e."), 0, 1,
     {{"mutate-global", H, 30}}, NULL, NULL, 0, 0},
    /* mutation of what persistent_load returned, persistent ids allowed
     * (corpus/regressions/diff/persid-*.bin).
     * genops: 2 PERSID 7 BININT1 9 APPEND 10 STOP */
    {"append_on_persid", B("\x80\x02Pabc\nK\x01" "a."), 1, 1,
     {{"mutate-persid", H, 9}}, NULL, NULL, 0, 0},
    /* genops: 2 PERSID 7 BININT1 9 BININT1 11 SETITEM */
    {"setitem_on_persid", B("\x80\x02Pabc\nK\x01K\x02s."), 1, 1,
     {{"mutate-persid", H, 11}}, NULL, NULL, 0, 0},
    /* genops: 2 PERSID 7 EMPTY_DICT 8 BUILD: reported with the persid
     * denied too (low persistent-id at 2 first) */
    {"build_on_persid", B("\x80\x02Pabc\n}b."), 0, 2,
     {{"persistent-id", L, 2}, {"mutate-persid", H, 8}}, NULL, NULL, 0, 0},
    /* memo round trip keeps the kind. genops: 2 PERSID 7 BINPUT 9 POP
     * 10 BINGET 12 EMPTY_DICT 13 BUILD */
    {"build_on_memo_persid", B("\x80\x02Pabc\nq\x00" "0h\x00}b."), 1, 1,
     {{"mutate-persid", H, 13}}, NULL, NULL, 0, 0},
    /* no items, but no target either: a stack underflow in CPython
     * (corpus/regressions/diff/empty-SETITEMS-no-target.bin); then STOP
     * has nothing to return. genops: 0 MARK 1 SETITEMS 2 STOP */
    {"empty_setitems_no_target", B("(u."), 0, 2,
     {{"malformed", M, 1}, {"malformed", M, 2}}, NULL, NULL, 0, 0},
    {"empty_appends_no_target", B("(e."), 0, 2,
     {{"malformed", M, 1}, {"malformed", M, 2}}, NULL, NULL, 0, 0},
    /* empty APPENDS on a persistent id: nothing happens */
    {"empty_appends_on_persid", B("\x80\x02Pabc\n(e."), 1, 0, {{NULL, 0, 0}},
     NULL, NULL, 0, 0},
    /* STACK_GLOBAL's module is a call result.
     * genops: 2 GLOBAL 27 EMPTY_TUPLE 28 REDUCE 29 SBU 32 STACK_GLOBAL */
    {"dynamic_global",
     B("\x80\x04" "ccollections\nOrderedDict\n)R\x8c\x01x\x93."), 0, 1,
     {{"dynamic-global", H, 32}}, NULL, NULL, 0, 0},
    /* the policy allows os.system; the catalogue still says critical */
    {"catalogue_beats_policy", B("cos\nsystem\n."), 0, 1,
     {{"dangerous-global", C, 0}}, "os.system", NULL, 0, 0},
    /* genops: 2 GLOBAL 15 EMPTY_TUPLE 16 REDUCE */
    {"not_allowed", B("\x80\x02" "cmymod\nThing\n)R."), 2, 1,
     {{"global-not-allowed", H, 2}}, "mymod.Thing", NULL, 0, 0},

    /* --- structure ---------------------------------------------------------------- */
    /* REDUCE on an empty stack; CPython stops there. genops: 2 REDUCE */
    {"underflow", B("\x80\x02R."), 2, 1, {{"malformed", M, 2}}, NULL, NULL, 0, 0},
    /* genops: 2 BINGET 4 STOP -- key 5 never stored */
    {"memo_missing", B("\x80\x02h\x05."), 2, 1, {{"malformed", M, 2}}, NULL,
     NULL, 0, 0},
    /* storing twice under one key: CPython accepts it, nothing to report
     * (corpus benign/hand_p1_memo_reput.pkl). genops: 3 BINPUT 5 BINPUT */
    {"memo_overwrite", B("\x80\x02Nq\x00q\x00."), 2, 0,
     {{NULL, 0, 0}}, NULL, NULL, 0, 0},
    /* CPython returns the top value; pickletools.dis rejects it; the
     * corpus (malformed/stop_stack_not_empty.pkl) wants medium.
     * genops: 0 NONE 1 NONE 2 STOP */
    {"stack_not_empty", B("NN."), 2, 1, {{"stack-not-empty", M, 2}}, NULL,
     NULL, 0, 0},
    /* 'h' (BINGET of key 'e') fails at once: named as a pickle it is
     * malformed; found by content (lenient) it is no pickle at all */
    {"first_op_fails", B("hello"), 2, 1, {{"malformed", M, 0}}, NULL, NULL, 0, 0},
    {"not_a_pickle", B("hello"), 2, 1, {{"not-a-pickle", I, 0}}, NULL, NULL, 0,
     1},
    /* a README found in a directory: '#' is no opcode */
    {"not_a_pickle_text", B("# title\n"), 2, 1, {{"not-a-pickle", I, 0}}, NULL,
     NULL, 0, 1},
    /* ...but GLOBAL text naming os.system after the first byte is still
     * reported: another reader may skip a header */
    {"not_a_pickle_hiding", B("#cos\nsystem\n(S'id'\ntR."), 2, 2,
     {{"not-a-pickle", I, 0}, {"unparsed-global", H, 1}}, NULL, NULL, 0, 1},
    /* text found by content that starts with 'c' or 'i' (GLOBAL/INST):
     * find_class fails at once (no identifier path spells the module), so
     * it is no pickle -- but named as a pickle it is a bad name /
     * malformed. */
    {"text_c_found", B("class Foo:\n    pass\n"), 2, 1,
     {{"not-a-pickle", I, 0}}, NULL, NULL, 0, 1},
    {"text_c_named", B("class Foo:\n    pass\n"), 2, 2,
     {{"bad-global-name", H, 0}, {"truncated", M, 20}}, NULL, NULL, 0, 0},
    /* ...but when the module is an identifier path, find_class imports
     * it before the name lookup fails (_pickle.c find_class:
     * PyImport_Import first; pickle.py: __import__ first): its code runs,
     * so this is a pickle with a bad name, found by content or not
     * (corpus/regressions/oracle/badname_found_by_content.pkl) */
    {"text_c_module_imports", B("cmymod\nThing 1\n)R."), 2, 1,
     {{"bad-global-name", H, 0}}, "mymod.Thing 1", NULL, 0, 1},
    /* INST with no MARK open: pickle.py's load_inst calls find_class
     * (importing mymod) before pop_mark fails, first opcode or not
     * (corpus/regressions/oracle/inst_first_no_mark.pkl, inst_no_mark.pkl) */
    {"text_i_no_mark_first", B("imymod\nThing\n."), 2, 2,
     {{"global-not-allowed", H, 0}, {"malformed", M, 0}}, "mymod.Thing", NULL,
     0, 1},
    {"text_i_no_mark_later", B("\x80\x04K(imymod\nThing\n"), 2, 3,
     {{"global-not-allowed", H, 4}, {"malformed", M, 4}, {"truncated", M, 17}},
     "mymod.Thing", NULL, 0, 1},
    {"text_c_empty_name_at_eof", B("I1\ncmymod\nX"), 2, 3,
     {{"noncanonical-text", M, 3}, {"bad-global-name", H, 3},
      {"truncated", M, 11}}, NULL, NULL, 0, 1},
    {"text_i_found", B("import os\nimport sys\n"), 2, 1,
     {{"not-a-pickle", I, 0}}, NULL, NULL, 0, 1},
    {"text_i_named", B("import os\nimport sys\n"), 2, 2,
     {{"bad-global-name", H, 0}, {"malformed", M, 0}}, NULL, NULL, 0, 0},
    /* prose found by content: "scenarios" at a line end followed by a
     * one-word line is not GLOBAL os.Next */
    {"text_prose", B("# Notes\nscenarios\nNext\n"), 2, 1,
     {{"not-a-pickle", I, 0}}, NULL, NULL, 0, 1},
    {"empty", "", 0, 2, 1, {{"truncated", M, 0}}, NULL, NULL, 0, 0},
    {"empty_lenient", "", 0, 2, 1, {{"not-a-pickle", I, 0}}, NULL, NULL, 0, 1},
    /* benign: {'a': [1, 2]} at protocol 2 as pickle.dumps writes it */
    {"benign_dict",
     B("\x80\x02}q\x00X\x01\x00\x00\x00" "aq\x01]q\x02(K\x01K\x02" "es."), 2, 0,
     {{NULL, 0, 0}}, NULL, NULL, 0, 0},
    /* benign protocol 0 bytes: _codecs.encode is in the default policy */
    {"benign_codecs",
     B("c_codecs\nencode\np0\n(Vabc\np1\nVlatin1\np2\ntp3\nRp4\n."), 2, 0,
     {{NULL, 0, 0}}, NULL, NULL, 0, 0},
};

#define NROWS (sizeof rows / sizeof rows[0])

static pkl_policy *open_policy(int k)
{
    pkl_error err;
    pkl_policy *p;
    if (policy_yaml[k])
        p = pkl_policy_load_string(policy_yaml[k], strlen(policy_yaml[k]),
                                   "<check_scanner>", NULL, &err);
    else
        p = pkl_policy_builtin("default", NULL, &err);
    ck_assert_msg(p != NULL, "policy %d: %s", k, err.detail);
    return p;
}

static int cmp_find(const void *a, const void *b)
{
    const pkl_finding *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    int c = strcmp(x->rule, y->rule);
    if (c)
        return c;
    return strcmp(x->path, y->path);
}

static int cmp_want(const void *a, const void *b)
{
    const want *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return strcmp(x->rule, y->rule);
}

START_TEST(test_rows)
{
    const row *r = &rows[_i];
    pkl_policy *p = open_policy(r->policy);
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    opt.max_nesting = r->max_nesting;
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    pkl_error err;
    POISON_ERR(err);
    int rc = pkli_scan_buffer(r->bytes, r->len, "", &opt, r->lenient, &res, &err);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(err.code, PKL_OK);

    char got[2048] = "";
    for (size_t i = 0; i < res.count; i++) {
        char one[256];
        snprintf(one, sizeof one, " %s/%s@%zu", res.findings[i].rule,
                 pkl_severity_name(res.findings[i].severity),
                 res.findings[i].offset);
        strncat(got, one, sizeof got - strlen(got) - 1);
    }
    ck_assert_msg(res.count == r->nwant, "%s: want %zu findings, got%s",
                  r->name, r->nwant, got);
    if (r->global)
        ck_assert_str_eq(res.findings[0].global, r->global);
    if (r->path)
        ck_assert_str_eq(res.findings[res.count - 1].path, r->path);

    want w[MAXW];
    memcpy(w, r->w, sizeof w);
    qsort(w, r->nwant, sizeof *w, cmp_want);
    if (res.count)
        qsort(res.findings, res.count, sizeof *res.findings, cmp_find);
    int maxsev = -1;
    for (size_t i = 0; i < r->nwant; i++) {
        ck_assert_msg(strcmp(res.findings[i].rule, w[i].rule) == 0 &&
                          res.findings[i].severity == w[i].severity &&
                          res.findings[i].offset == w[i].offset,
                      "%s: finding %zu: want %s/%s@%zu; got%s", r->name, i,
                      w[i].rule, pkl_severity_name(w[i].severity), w[i].offset,
                      got);
        if (w[i].severity > maxsev)
            maxsev = w[i].severity;
    }
    ck_assert_int_eq(pkl_scan_result_max_severity(&res), maxsev);
    pkl_scan_result_free(&res);
    pkl_policy_free(p);
}
END_TEST

/* A clean verdict means every byte was examined. */
START_TEST(test_bytes_accounted)
{
    pkl_policy *p = open_policy(2);
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    /* two benign pickles back to back: 4 + 4 bytes, 2 pickles */
    static const char two[] = "\x80\x02N.\x80\x02N.";
    ck_assert_int_eq(pkl_scan_buffer(two, 8, NULL, &opt, &res, NULL), 0);
    ck_assert_uint_eq(res.bytes, 8);
    ck_assert_uint_eq(res.pickles, 2);
    ck_assert_uint_eq(res.opcodes, 6);
    pkl_scan_result_free(&res);
    pkl_scan_result_init(&res, NULL);
    /* breaks at 3: 3 bytes examined */
    ck_assert_int_eq(pkl_scan_buffer("\x80\x02N\xff.", 5, NULL, &opt, &res,
                                     NULL), 0);
    ck_assert_uint_eq(res.bytes, 3);
    pkl_scan_result_free(&res);
    pkl_policy_free(p);
}
END_TEST

/* max_findings keeps the first N and counts the rest; max_severity and
 * the per-severity counts include the dropped ones. */
START_TEST(test_max_findings)
{
    pkl_policy *p = open_policy(2);
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    opt.max_findings = 2;
    /* three not-allowed globals, then os.system: 4 findings */
    static const char b[] = "\x80\x02" "cm\nA\n0cm\nB\n0cm\nC\n0cos\nsystem\n.";
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    ck_assert_int_eq(pkl_scan_buffer(b, sizeof b - 1, "x", &opt, &res, NULL),
                     0);
    ck_assert_uint_eq(res.count, 2);
    ck_assert_uint_eq(res.dropped, 2);
    ck_assert_uint_eq(res.by_severity[PKL_SEV_HIGH], 3);
    ck_assert_uint_eq(res.by_severity[PKL_SEV_CRITICAL], 1);
    ck_assert_int_eq(res.max_severity, PKL_SEV_CRITICAL);
    ck_assert_str_eq(res.findings[0].path, "x");
    pkl_scan_result_free(&res);
    pkl_policy_free(p);
}
END_TEST

/* A path prefix is kept and nested paths hang off it. */
START_TEST(test_path_prefix)
{
    pkl_policy *p = open_policy(2);
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    static const char b[] = NESTED;
    ck_assert_int_eq(pkl_scan_buffer(b, sizeof b - 1, "model.pt!data.pkl",
                                     &opt, &res, NULL), 0);
    ck_assert_uint_eq(res.count, 2);
    ck_assert_str_eq(res.findings[0].path, "model.pt!data.pkl");
    ck_assert_str_eq(res.findings[1].path, "model.pt!data.pkl!nested@18");
    pkl_scan_result_free(&res);
    pkl_policy_free(p);
}
END_TEST

START_TEST(test_invalid_args)
{
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    pkl_error err;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_scan_buffer("N.", 2, NULL, &opt, &res, &err), -1);
    ck_assert_err(err, PKL_E_INVALID_ARG, 0);
    ck_assert_int_eq(pkl_scan_buffer("N.", 2, NULL, NULL, &res, NULL), -1);
    pkl_scan_result_free(&res);
    ck_assert_str_eq(pkl_severity_name(PKL_SEV_CRITICAL), "critical");
    ck_assert_str_eq(pkl_severity_name(PKL_SEV_INFO), "info");
    ck_assert_int_eq(pkl_severity_parse("high"), PKL_SEV_HIGH);
    ck_assert_int_eq(pkl_severity_parse("HIGH"), -1);
    ck_assert_int_eq(pkl_severity_parse(NULL), -1);
}
END_TEST

/* Memo floods (docs/rules.md: memo-limit, lost-value). A flood fills the
 * scanner's memo, then the tail uses what was memoized past the cap. The
 * flood is PROTO 4 then FLOOD_N times one of:
 *   dense:  SHORT_BINUNICODE 'a', MEMOIZE, POP (keys 0.., 5 bytes each);
 *   sparse: NONE, LONG_BINPUT 2^23 + i, POP (hash-map keys, 7 bytes each).
 * Offsets in `want` are relative to the tail's first byte. */
#define POOL_CAP 524288u
typedef struct flood_row {
    const char *name;
    int sparse;
    size_t n;              /* flood elements */
    const char *tail;
    size_t tail_len;
    size_t nwant;
    want w[3];
    int max_sev;
} flood_row;

/* memo keys as LONG_BINGET's 4 little-endian bytes */
#define K_CAP "\x00\x00\x08\x00"       /* 524288 */
#define K_CAP1 "\x01\x00\x08\x00"      /* 524289 */
#define K_BELOW2 "\xfe\xff\x07\x00"    /* 524286 */
#define K_BELOW1 "\xff\xff\x07\x00"    /* 524287 */
/* 'os' and 'system' memoized right after the flood, read back, given to
 * STACK_GLOBAL at 26 */
#define SG_HEAD "\x8c\x02" "os\x94" "0\x8c\x06" "system\x94" "0"
static const char t_sg_cap[] = SG_HEAD "j" K_CAP "j" K_CAP1 "\x93" ".";
static const char t_sg_below[] = SG_HEAD "j" K_BELOW2 "j" K_BELOW1 "\x93" ".";
#undef SG_HEAD
/* collections.OrderedDict memoized at 25 (allowed by policy 1), popped,
 * read back at 27, then BUILD (or REDUCE) on it at 33 */
#define OD "ccollections\nOrderedDict\n\x94" "0"
static const char t_build[] = OD "j" K_CAP "}b.";
static const char t_call[] = OD "j" K_CAP ")R.";
#undef OD
/* a memoized string past the cap read back as data: nothing to report */
static const char t_data[] = "\x8c\x02" "os\x94" "0j" K_CAP ".";
/* after the sparse flood: a key never stored can no longer be told from
 * one that was dropped; BUILD on it at 6 */
static const char t_lossy[] = "j\x39\x30\x00\x00}b.";
#define T(t) t, sizeof t - 1

static const flood_row flood_rows[] = {
    {"stack_global_past_cap", 0, POOL_CAP, T(t_sg_cap), 2,
     {{"memo-limit", I, 4}, {"lost-value", H, 26}}, H},
    /* control: one element fewer on each side of the cap keeps both
     * operands, and the global is named */
    {"stack_global_below_cap", 0, POOL_CAP - 2, T(t_sg_below), 1, {{"dangerous-global", C, 26}}, C},
    {"build_on_lost_global", 0, POOL_CAP, T(t_build), 2,
     {{"memo-limit", I, 25}, {"lost-value", H, 33}}, H},
    {"call_on_lost_global", 0, POOL_CAP, T(t_call), 2,
     {{"memo-limit", I, 25}, {"call-on-unknown", H, 33}}, H},
    {"lost_string_read_as_data", 0, POOL_CAP, T(t_data), 1,
     {{"memo-limit", I, 4}}, I},
    /* the hash map's cap is the 524289th sparse key: its LONG_BINPUT lies
     * in the flood, not the tail, so its offset is given as (size_t)-1
     * and computed in the test */
    {"lossy_get_then_build", 1, POOL_CAP + 1, T(t_lossy), 2,
     {{"memo-limit", I, (size_t)-1}, {"lost-value", H, 6}}, H},
};
#define NFLOOD (sizeof flood_rows / sizeof flood_rows[0])

START_TEST(test_memo_flood)
{
    const flood_row *fr = &flood_rows[_i];
    size_t el = fr->sparse ? 7 : 5;
    size_t base = 2 + el * fr->n;
    size_t len = base + fr->tail_len;
    char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    b[0] = '\x80';
    b[1] = 4;
    for (size_t i = 0; i < fr->n; i++) {
        char *e = b + 2 + el * i;
        if (fr->sparse) {
            uint32_t k = (1u << 23) + (uint32_t)i;
            e[0] = 'N';
            e[1] = 'r';
            for (int j = 0; j < 4; j++)
                e[2 + j] = (char)((k >> (8 * j)) & 0xff);
            e[6] = '0';
        } else {
            memcpy(e, "\x8c\x01" "a\x94" "0", 5);
        }
    }
    memcpy(b + base, fr->tail, fr->tail_len);
    pkl_policy *p = open_policy(1);
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    ck_assert_int_eq(pkl_scan_buffer(b, len, NULL, &opt, &res, NULL), 0);
    ck_assert_msg(res.count == fr->nwant, "%s: %zu findings, want %zu%s%s",
                  fr->name, res.count, fr->nwant,
                  res.count ? ": first " : "",
                  res.count ? res.findings[0].rule : "");
    for (size_t k = 0; k < fr->nwant; k++) {
        const pkl_finding *f = &res.findings[k];
        /* the sparse flood's cap: the 524289th LONG_BINPUT, 1 byte into
         * its element */
        size_t off = fr->w[k].offset == (size_t)-1
                         ? 2 + el * POOL_CAP + 1
                         : base + fr->w[k].offset;
        ck_assert_msg(strcmp(f->rule, fr->w[k].rule) == 0 &&
                          f->severity == fr->w[k].severity && f->offset == off,
                      "%s: finding %zu is %s/%d at %zu, want %s/%d at %zu",
                      fr->name, k, f->rule, f->severity, f->offset,
                      fr->w[k].rule, fr->w[k].severity, off);
    }
    ck_assert_int_eq(res.max_severity, fr->max_sev);
    pkl_scan_result_free(&res);
    free(b);
    pkl_policy_free(p);
}
END_TEST
#undef T

/* Caps: a million MARKs, a deep memo and a long run of values stay
 * bounded and are reported as scan-limit, never as clean. */
START_TEST(test_caps)
{
    pkl_policy *p = open_policy(2);
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = p;
    size_t n = 1u << 20;
    char *b = malloc(2 * n + 4);
    ck_assert_ptr_nonnull(b);
    size_t w = 0;
    b[w++] = '\x80';
    b[w++] = 4;
    for (size_t i = 0; i < n; i++) {
        b[w++] = '(';   /* MARK */
        b[w++] = 'N';   /* a value between marks so none merge */
    }
    pkl_scan_result res;
    pkl_scan_result_init(&res, NULL);
    ck_assert_int_eq(pkl_scan_buffer(b, w, NULL, &opt, &res, NULL), 0);
    int saw_limit = 0;
    for (size_t i = 0; i < res.count; i++)
        if (strcmp(res.findings[i].rule, "scan-limit") == 0)
            saw_limit = 1;
    ck_assert(saw_limit);
    ck_assert_int_ge(res.max_severity, PKL_SEV_MEDIUM);
    pkl_scan_result_free(&res);
    free(b);
    pkl_policy_free(p);
}
END_TEST

Suite *suite_scanner(void)
{
    Suite *s = suite_create("scanner");
    TCase *tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_rows, 0, (int)NROWS);
    tcase_add_test(tc, test_bytes_accounted);
    tcase_add_test(tc, test_max_findings);
    tcase_add_test(tc, test_path_prefix);
    tcase_add_test(tc, test_invalid_args);
    tcase_add_test(tc, test_caps);
    tcase_add_loop_test(tc, test_memo_flood, 0, (int)NFLOOD);
    suite_add_tcase(s, tc);
    return s;
}
