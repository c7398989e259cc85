/* pickleguard.h -- the one public header of libpickleguard.
 *
 * pickleguard handles untrusted Python pickles without ever importing or
 * running anything: a bounds-checked opcode reader, a disassembler, a
 * restricted decoder (pickle -> value tree -> pickle-json) and a static
 * scanner (pickle -> findings), all driven by one opcode table
 * (opcodes.def) and one name resolver, under YAML policies.
 *
 * Conventions for every function below:
 *  - `pkl_error *err` may be NULL; when not NULL it is filled on failure
 *    (and left with code PKL_OK on success).
 *  - Nothing here keeps global state; everything lives in objects the
 *    caller owns and frees with the matching *_free function (NULL-safe).
 *  - Nothing here prints. Writers take the FILE * they write to.
 *  - `const pkl_allocator *alloc` may be NULL for malloc/realloc/free.
 *
 * Sections: errors, allocator, opcode table, reader, disassembler, names,
 * policies and limits, decoder, pickle-json writer, scanner, containers.
 */
#ifndef PICKLEGUARD_H
#define PICKLEGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PKL_VERSION "0.1.0"

/* Marks what the library exports. It is built with -fvisibility=hidden
 * (and a version script), so only PKL_API declarations are visible from
 * libpickleguard.so; the library's cross-file internals are not. */
#ifndef PKL_API
#if defined(__GNUC__) || defined(__clang__)
#define PKL_API __attribute__((visibility("default")))
#else
#define PKL_API
#endif
#endif

/* ===================================================================== */
/* Errors                                                                */
/* ===================================================================== */

/* Stable error codes, grouped in ranges. Never renumber; only append.
 *   1xx malformed input    2xx refused by policy    3xx over a limit
 *   4xx resource / usage   5xx policy-file errors   6xx container formats */
typedef enum pkl_code {
    PKL_OK = 0,

    PKL_E_TRUNCATED = 100,     /* input ends inside an opcode or before STOP */
    PKL_E_UNKNOWN_OPCODE = 101,
    PKL_E_BAD_INT = 102,       /* INT/LONG/GET/PUT text is not a decimal integer */
    PKL_E_BAD_FLOAT = 103,     /* FLOAT text is not a float */
    PKL_E_BAD_STRING = 104,    /* STRING quoting or escape is invalid */
    PKL_E_BAD_UTF8 = 105,      /* text argument is not valid UTF-8 */
    PKL_E_BAD_ESCAPE = 106,    /* UNICODE raw-unicode-escape is invalid */
    PKL_E_NO_NEWLINE = 107,    /* text argument has no terminating newline */
    PKL_E_STACK_UNDERFLOW = 108,
    PKL_E_NO_MARK = 109,       /* opcode needs a MARK and there is none */
    PKL_E_MEMO_MISSING = 110,  /* GET of a memo key never stored */
    PKL_E_FRAME = 111,         /* opcode crosses a FRAME boundary, bad FRAME */
    PKL_E_TRAILING = 112,      /* bytes after STOP that are not a pickle */
    PKL_E_BAD_PROTO = 113,     /* PROTO argument above 5 */
    PKL_E_BAD_TYPE = 114,      /* operand has the wrong type (APPEND to int) */
    PKL_E_UNHASHABLE = 115,    /* dict key / set member CPython cannot hash */
    PKL_E_BAD_NAME = 116,      /* global name no Python identifier path spells */
    PKL_E_BAD_LENGTH = 117,    /* negative or absurd declared length */
    PKL_E_STACK_NOT_EMPTY = 118, /* STOP with more than one value on the stack */
    PKL_E_EMPTY = 119,         /* no pickle at all (empty input) */
    PKL_E_BAD_STOP = 120,      /* STOP with nothing to return / mark left open */
    PKL_E_MEMO_REDEFINED = 121, /* memo key stored twice (pickletools.dis
                                   refuses it; CPython overwrites) */
    PKL_E_INT_DIGITS = 122,     /* INT/LONG text over CPython's default
                                   4300-digit limit (a setting, not syntax) */

    PKL_E_REFUSED_GLOBAL = 200, /* GLOBAL/STACK_GLOBAL/INST/OBJ target not allowed */
    PKL_E_REFUSED_CALL = 201,   /* REDUCE/NEWOBJ/NEWOBJ_EX on a non-allowed target */
    PKL_E_REFUSED_BUILD = 202,  /* BUILD on a class, module or call result */
    PKL_E_REFUSED_EXT = 203,    /* EXT1/EXT2/EXT4 */
    PKL_E_REFUSED_PERSID = 204, /* PERSID/BINPERSID while the policy denies them */
    PKL_E_REFUSED_BUFFER = 205, /* NEXT_BUFFER/READONLY_BUFFER without buffers */

    PKL_E_LIMIT_DEPTH = 300,
    PKL_E_LIMIT_MEMO = 301,
    PKL_E_LIMIT_VALUES = 302,
    PKL_E_LIMIT_BYTES = 303,
    PKL_E_LIMIT_JSON = 304,
    PKL_E_LIMIT_NESTING = 305,  /* container nesting (zip in zip) */
    PKL_E_LIMIT_OUTPUT = 306,   /* decompressed size over the limit */

    PKL_E_NOMEM = 400,
    PKL_E_IO = 401,
    PKL_E_INVALID_ARG = 402,    /* a caller broke an API precondition */
    PKL_E_INTERNAL = 403,       /* a can't-happen condition was caught */
    PKL_E_BUILDER = 404,        /* a pkl_builder callback failed */

    PKL_E_POLICY_SYNTAX = 500,  /* YAML syntax error */
    PKL_E_POLICY_SCHEMA = 501,  /* unknown key, wrong type, bad value */
    PKL_E_POLICY_NAME = 502,    /* a pattern that is not a dotted name */
    PKL_E_POLICY_CYCLE = 503,   /* extends cycle */
    PKL_E_POLICY_NOT_FOUND = 504, /* unknown built-in name or missing file */
    PKL_E_POLICY_DANGEROUS = 505, /* an `allow` entry matches the catalogue
                                     of known-dangerous globals (move it to
                                     `allow_dangerous` to mean it) */

    PKL_E_FORMAT = 600,         /* a container (zip, gzip...) is damaged */
    PKL_E_FORMAT_UNSUPPORTED = 601
} pkl_code;

typedef struct pkl_error {
    pkl_code code;        /* PKL_OK, or what went wrong */
    const char *msg;      /* static text for the code; never NULL after a fill */
    size_t offset;        /* byte offset in the input where the problem is */
    int opcode;           /* opcode byte involved, or -1 */
    unsigned line;        /* policy files: 1-based line, 0 when not relevant */
    unsigned column;      /* policy files: 1-based column, 0 when not relevant */
    char detail[512];     /* specifics: the global's name, the policy line
                             that would allow it, the file name... may be "" */
} pkl_error;

/* The static message of a code.
 * @param code any value.
 * @return a static string, never NULL ("unknown error code" for a value
 *     that is no pkl_code); never free it. */
PKL_API const char *pkl_strerror(pkl_code code);
/* The range of a code.
 * @param code any value.
 * @return 1..6 for the ranges above (code / 100), 0 for PKL_OK and
 *     anything not positive. */
PKL_API int pkl_error_class(pkl_code code);
/* A one-line human-readable message: "<msg>: <detail> (OPNAME at offset
 * N)"; the offset part only for malformed, policy and limit errors (the
 * 1xx-3xx ranges). Policy-file errors carry file:line:column in detail.
 * @param err the error to describe; NULL gives "no error information".
 * @param buf where to write; the caller owns it. NULL: nothing is done.
 * @param size bytes at buf; the text is cut to size - 1 and always
 *     NUL-terminated (size 0: nothing is written).
 * @return buf. */
PKL_API char *pkl_error_format(const pkl_error *err, char *buf, size_t size);

/* ===================================================================== */
/* Allocator                                                             */
/* ===================================================================== */

/* All library allocations go through this, so tests can fail the N-th
 * allocation. Every function must behave like its libc namesake. */
typedef struct pkl_allocator {
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} pkl_allocator;

/* ===================================================================== */
/* Opcode table (generated from opcodes.def)                             */
/* ===================================================================== */

typedef enum pkl_argkind {
    PKL_ARG_NONE,
    PKL_ARG_UINT1, PKL_ARG_UINT2, PKL_ARG_INT4, PKL_ARG_UINT4, PKL_ARG_UINT8,
    PKL_ARG_DECIMALNL_SHORT, PKL_ARG_DECIMALNL_LONG,
    PKL_ARG_FLOATNL, PKL_ARG_FLOAT8,
    PKL_ARG_LONG1, PKL_ARG_LONG4,
    PKL_ARG_STRINGNL, PKL_ARG_STRINGNL_NOESCAPE, PKL_ARG_STRINGNL_NOESCAPE_PAIR,
    PKL_ARG_UNICODESTRINGNL,
    PKL_ARG_STRING1, PKL_ARG_STRING4,
    PKL_ARG_BYTES1, PKL_ARG_BYTES4, PKL_ARG_BYTES8, PKL_ARG_BYTEARRAY8,
    PKL_ARG_UNICODESTRING1, PKL_ARG_UNICODESTRING4, PKL_ARG_UNICODESTRING8
} pkl_argkind;

enum {
    PKL_OPF_IMPORTS  = 1u << 0,
    PKL_OPF_CALLS    = 1u << 1,
    PKL_OPF_BUILDS   = 1u << 2,
    PKL_OPF_MEMO_PUT = 1u << 3,
    PKL_OPF_MEMO_GET = 1u << 4,
    PKL_OPF_PERSID   = 1u << 5,
    PKL_OPF_FRAME    = 1u << 6,
    PKL_OPF_MARK     = 1u << 7,
    PKL_OPF_POPMARK  = 1u << 8,
    PKL_OPF_EXT      = 1u << 9,
    PKL_OPF_BUFFER   = 1u << 10,
    PKL_OPF_PROTO    = 1u << 11,
    PKL_OPF_STOP     = 1u << 12
};

typedef enum pkl_opcode {
#define OP(name, byte, arg, proto, flags, pops, pushes) PKL_OP_##name = byte,
#include "opcodes.def"
#undef OP
    PKL_OP__UNUSED = 0x100
} pkl_opcode;

typedef struct pkl_opinfo {
    const char *name;     /* "BININT1" */
    uint8_t code;         /* opcode byte */
    uint8_t arg;          /* pkl_argkind */
    uint8_t proto;        /* protocol that introduced it */
    uint16_t flags;       /* PKL_OPF_* */
    uint8_t pops;         /* values taken from the stack, besides a MARK
                             and the values above it (PKL_OPF_POPMARK) */
    uint8_t pushes;       /* values left on the stack */
} pkl_opinfo;

/* Table entry for an opcode byte, or NULL if the byte is no opcode. */
PKL_API const pkl_opinfo *pkl_opinfo_get(unsigned byte);
/* All opcodes in opcodes.def order; *count receives 68. */
PKL_API const pkl_opinfo *pkl_opinfo_all(size_t *count);
/* Name of an argument kind as pickletools spells it ("uint1"...). */
PKL_API const char *pkl_argkind_name(pkl_argkind argkind);

/* ===================================================================== */
/* Reader: one opcode and its decoded argument at a time                 */
/* ===================================================================== */

/* What the decoded argument of a pkl_op holds. */
typedef enum pkl_argtype {
    PKL_A_NONE,    /* opcode takes no argument */
    PKL_A_INT,     /* `i`: uint1/2/4/8, int4, decimal and long1/long4 that fit int64 */
    PKL_A_BOOL,    /* `i` = 0 or 1: INT spelled "00" / "01" */
    PKL_A_BIGINT,  /* `data,len`: two's-complement little-endian bytes (long1/long4
                      values outside int64); points into the input */
    PKL_A_DECIMAL, /* `data,len`: ASCII decimal digits, optional leading '-', no
                      leading zeros (INT/LONG text outside int64) */
    PKL_A_FLOAT,   /* `f` */
    PKL_A_BYTES,   /* `data,len`: raw bytes. STRING/BINSTRING/SHORT_BINSTRING
                      (after unescaping), BINBYTES*, BYTEARRAY8 */
    PKL_A_STR,     /* `data,len`: text as UTF-8; lone surrogates appear as their
                      3-byte (surrogatepass) encodings. Not NUL-terminated. */
    PKL_A_PAIR     /* GLOBAL/INST: module in `data,len`, name in `data2,len2`
                      (both UTF-8, pointing into the input) */
} pkl_argtype;

typedef struct pkl_op {
    size_t offset;           /* offset of the opcode byte */
    size_t end;              /* offset just past the argument */
    const pkl_opinfo *info;  /* never NULL for a returned op */
    uint8_t code;            /* == info->code */
    uint8_t type;            /* pkl_argtype */
    int64_t i;
    double f;
    const uint8_t *data;     /* valid until the next pkl_reader_next call */
    size_t len;
    const uint8_t *data2;
    size_t len2;
    uint8_t note;            /* PKL_NOTE_* bits: how a text argument was spelled */
} pkl_op;

/* pkl_op.note: text arguments (INT, LONG, FLOAT, GET, PUT, GLOBAL, INST)
 * are read as the union of what CPython's two unpicklers accept (_pickle.c
 * and pickle.py), decoded as _pickle.c decodes them; these bits say the
 * spelling was not the one pickle.dumps writes. See docs/dis.md. */
#define PKL_NOTE_NONCANONICAL 0x01u /* both unpicklers read the same value */
#define PKL_NOTE_DIFFERS      0x02u /* the two unpicklers read different values,
                                       or one of them refuses the text */

/* Reader state. The fields are private; it is public so it can live on the
 * stack. Frames: after FRAME(n) the next n bytes form a frame; an opcode
 * that does not end inside its frame is PKL_E_FRAME, as is a FRAME that
 * starts before the current frame ended. */
typedef struct pkl_reader {
    const uint8_t *base;
    size_t len;
    size_t pos;
    size_t frame_end;        /* valid when in_frame */
    size_t limit;            /* frame_end in a frame, else len */
    int in_frame;
    uint8_t *scratch;        /* decoded STRING / UNICODE text */
    size_t scratch_cap;
    pkl_allocator alloc;
    unsigned options;        /* PKL_READER_* (pkl_reader_set_options) */
} pkl_reader;

/* Starts reading buf[0..len). buf must outlive the reader. */
PKL_API void pkl_reader_init(pkl_reader *r, const void *buf, size_t len,
                             const pkl_allocator *alloc);

/* Reads the opcode at the current position. Returns 1 and fills *op, 0 at
 * the end of the buffer (no bytes left), or -1 with *err filled (offset of
 * the opcode, opcode byte). After STOP the reader continues with whatever
 * follows: callers decide whether bytes after STOP are another pickle. A
 * declared length larger than what remains is PKL_E_TRUNCATED, found before
 * any allocation. */
PKL_API int pkl_reader_next(pkl_reader *r, pkl_op *op, pkl_error *err);
/* Current offset (the next opcode's). */
PKL_API size_t pkl_reader_offset(const pkl_reader *r);
/* Moves to `offset` (<= len) and leaves any frame. */
PKL_API void pkl_reader_seek(pkl_reader *r, size_t offset);
PKL_API void pkl_reader_free(pkl_reader *r);

/* Converts a PKL_A_BIGINT (two's complement LE) to decimal text. Writes
 * into out (NUL-terminated); returns the length, or 0 if out is NULL, le
 * is NULL with len > 0, or outsize is below 4*len+8 (out doubles as the
 * scratch of the conversion). Quadratic in len: callers bound it. */
PKL_API size_t pkl_bigint_to_decimal(const uint8_t *le, size_t len, char *out,
                                     size_t outsize);

/* ===================================================================== */
/* Disassembler (pickletools.dis compatible listing)                     */
/* ===================================================================== */

/* Writes a listing of every pickle in buf to out, one line per opcode:
 * offset, opcode byte, name, argument (as a Python literal), with the
 * structural checks of pickletools.dis (stack underflow, missing MARK, memo
 * key never stored, bytes after STOP, FRAME mismatches). Returns 0 when the
 * listing is complete and every check passed, -1 with *err on the first
 * problem (the listing up to it is written). */
PKL_API int pkl_dis(const void *buf, size_t len, FILE *out, const pkl_allocator *alloc,
                    pkl_error *err);

/* ===================================================================== */
/* Names: resolving a global exactly as CPython's Unpickler.find_class   */
/* ===================================================================== */

#define PKL_NAME_MAX 256   /* longest module or qualname accepted (bytes) */

/* A resolved global: what find_class would import and fetch. */
typedef struct pkl_global {
    char module[PKL_NAME_MAX + 1];   /* "builtins" */
    char qualname[PKL_NAME_MAX + 1]; /* "OrderedDict", "Outer.Inner" (proto >= 4) */
} pkl_global;

/* Resolves (module, name) as they appear in GLOBAL/INST/STACK_GLOBAL when
 * the protocol in force (last PROTO, 0 if none) is `proto`: Python 2
 * compatibility renames when proto < 3, dotted attribute paths when
 * proto >= 4. A name no identifier path can spell (empty component,
 * non-identifier character, "<locals>", too long, dotted below protocol 4)
 * is PKL_E_BAD_NAME with the name in err->detail ("module 'm', name 'n':
 * why", hostile bytes escaped); err->offset is 0 and err->opcode -1, for
 * the caller to fill in. Only ASCII identifiers are accepted: non-ASCII
 * ones are refused on purpose (docs/policy.md). Lengths are counted, so a
 * NUL byte never truncates a name. Returns 0 or -1. */
PKL_API int pkl_resolve_global(const char *module, size_t module_len, const char *name,
                               size_t name_len, int proto, pkl_global *out,
                               pkl_error *err);

/* ===================================================================== */
/* Policies and limits                                                   */
/* ===================================================================== */

/* Decoder limits. Zero never means "unlimited": 0 is an invalid value. */
typedef struct pkl_limits {
    size_t max_depth;      /* nesting depth of the value tree */
    size_t max_memo;       /* memo entries per pickle */
    size_t max_values;     /* values created per pickle */
    size_t max_bytes;      /* bytes allocated beyond the input, per pickle */
    size_t max_json_bytes; /* size of one pickle-json document */
} pkl_limits;

/* Fills the documented defaults (docs/policy.md): max_depth 1000, max_memo
 * 10,000,000, max_values 100,000,000, max_bytes 2 GiB, max_json_bytes
 * 4 GiB. A field left 0 in a pkl_limits given to the API means its default,
 * as a 0 limit or count does in every options struct of this header: 0
 * never means "unlimited". */
PKL_API void pkl_limits_default(pkl_limits *l);

typedef struct pkl_policy pkl_policy;

/* What a policy says of a resolved global. */
typedef enum pkl_verdict {
    PKL_DENIED = 0,        /* no allow entry matches (deny by default) */
    PKL_ALLOWED = 1,       /* an allow entry matches and no deny entry */
    PKL_DENIED_EXPLICIT = 2 /* a deny entry matches */
} pkl_verdict;

/* Built-in policy by name ("default", "strict", "ml"), or NULL with
 * PKL_E_POLICY_NOT_FOUND. */
PKL_API pkl_policy *pkl_policy_builtin(const char *name, const pkl_allocator *alloc,
                                       pkl_error *err);
/* Loads a YAML policy file; `extends` paths are relative to it. Errors carry
 * line/column and "file:line:column: message" in err->detail. */
PKL_API pkl_policy *pkl_policy_load_file(const char *path, const pkl_allocator *alloc,
                                         pkl_error *err);
/* Loads a policy from memory; `origin` names it in messages and is the
 * base for relative `extends` (may be NULL: relative extends refused). */
PKL_API pkl_policy *pkl_policy_load_string(const char *yaml, size_t len,
                                           const char *origin,
                                           const pkl_allocator *alloc, pkl_error *err);
/* What --policy takes: a value containing '/' or ending in .yaml/.yml is a
 * file path; otherwise a built-in name if it is one (a file of the same
 * name does not shadow it); otherwise an existing file; otherwise NULL
 * with PKL_E_POLICY_NOT_FOUND. */
PKL_API pkl_policy *pkl_policy_open(const char *name_or_path, const pkl_allocator *alloc,
                                    pkl_error *err);
PKL_API void pkl_policy_free(pkl_policy *p);

PKL_API const char *pkl_policy_name(const pkl_policy *p);
/* Verdict for a resolved global: deny entries first, then allow entries;
 * `a.b.C` matches module + "." + qualname exactly, `a.b.*` exactly one more
 * component (docs/policy.md). NULL p or g: PKL_DENIED. A loaded policy is
 * never modified, so threads may share it. */
PKL_API pkl_verdict pkl_policy_check(const pkl_policy *p, const pkl_global *g);
/* Non-zero when PERSID/BINPERSID are allowed. */
PKL_API int pkl_policy_allows_persid(const pkl_policy *p);
/* The policy's limits (its own overrides over the defaults). */
PKL_API void pkl_policy_limits(const pkl_policy *p, pkl_limits *out);
/* The YAML line that would allow g ("allow:\n  - module.qualname"), for
 * messages; writes a NUL-terminated string into buf and returns buf. */
PKL_API char *pkl_policy_suggest(const pkl_global *g, char *buf, size_t size);
/* Writes the fully resolved policy (after extends; entries sorted, every
 * limit spelled out) as YAML that loads again. Returns 0, or -1 on a write
 * error. */
PKL_API int pkl_policy_write(const pkl_policy *p, FILE *out);

/* ===================================================================== */
/* Decoder: pickle -> value tree, under a policy                         */
/* ===================================================================== */

typedef enum pkl_type {
    PKL_T_NONE, PKL_T_BOOL, PKL_T_INT, PKL_T_BIGINT, PKL_T_FLOAT,
    PKL_T_STR, PKL_T_BYTES, PKL_T_BYTEARRAY,
    PKL_T_LIST, PKL_T_TUPLE, PKL_T_DICT, PKL_T_SET, PKL_T_FROZENSET,
    PKL_T_GLOBAL,   /* a global referenced as a value */
    PKL_T_OBJECT,   /* result of calling / NEWOBJ-ing an allowed global */
    PKL_T_PERSID,   /* a persistent id the policy allows */
    PKL_T_ATTR      /* getattr(cls, "NAME") of an allowed class: an Enum
                       member or class constant (docs/json.md); never
                       callable */
} pkl_type;

typedef struct pkl_value pkl_value;
typedef struct pkl_object pkl_object;

/* A node of the value tree. All nodes and their arrays live in the
 * pkl_doc's arena and are read-only for callers. Text (PKL_T_STR) is UTF-8
 * with surrogatepass encoding for lone surrogates; STR and BYTES (and
 * BIGINT) may point into the input buffer, which must outlive the document.
 * The same node may be reached more than once (memo GET/DUP): the tree is a
 * graph that can be cyclic, so walk it with a visited set. Read nodes
 * through their pointers and never copy a pkl_value by value: INT and
 * FLOAT nodes are allocated with only the bytes up to and including u.i /
 * u.f. */
struct pkl_value {
    uint8_t type;            /* pkl_type */
    uint8_t flags_;          /* decoder bookkeeping: not for callers */
    uint16_t reserved_;
    uint32_t depth_;         /* decoder bookkeeping: not for callers */
    union {
        int b;                                   /* BOOL */
        int64_t i;                               /* INT */
        double f;                                /* FLOAT */
        struct { const uint8_t *ptr; size_t len; } s;
            /* STR, BYTES, BYTEARRAY; BIGINT: two's complement LE bytes with
               no redundant sign bytes (its value never fits int64) */
        struct { pkl_value **items; size_t len; } seq;
            /* LIST, TUPLE, SET (insertion order), FROZENSET */
        struct { pkl_value **kv; size_t len; } dict;
            /* DICT: key kv[2*i], value kv[2*i+1] for i < len, insertion
               order, keys distinct under Python equality */
        struct { const pkl_global *g; } global;  /* GLOBAL */
        const pkl_object *obj;                   /* OBJECT */
        struct { pkl_value *id; } persid;        /* PERSID */
        struct { const pkl_global *cls; const uint8_t *name; size_t len; }
            attr;                                /* ATTR: cls.name */
    } u;
};

/* What an OBJECT node records: the call, never its result. */
struct pkl_object {
    const pkl_global *g;  /* the allowed global that made it */
    pkl_value *args;      /* TUPLE (never NULL) */
    pkl_value *kwargs;    /* DICT (NEWOBJ_EX with keywords), or NULL */
    pkl_value *state;     /* BUILD state, or NULL */
    pkl_value *items;     /* LIST of APPEND(S) items, or NULL */
    pkl_value *dictitems; /* DICT of SETITEM(S) pairs, or NULL */
    int is_new;           /* made by NEWOBJ / NEWOBJ_EX / copyreg helpers
                             (cls.__new__(cls, *args)), not called */
};

/* One decoded pickle: the root and the arena everything lives in. */
typedef struct pkl_doc pkl_doc;

typedef struct pkl_decode_options {
    const pkl_policy *policy;      /* required */
    const pkl_limits *limits;      /* NULL: the policy's limits */
    const pkl_allocator *alloc;    /* NULL: libc */
    /* Out-of-band buffers for NEXT_BUFFER (protocol 5); without them
     * NEXT_BUFFER is refused. */
    const pkl_value *const *buffers;
    size_t nbuffers;
    /* Python 2 str (STRING/BINSTRING/SHORT_BINSTRING), as pickle.load's
     * encoding= and errors= (NULL: "ASCII" / "strict"). The one way to say
     * how Python 2 str is decoded.
     * pkl_decode (the value tree): encoding "ASCII", "latin1" (also
     * "latin-1", "iso-8859-1"), "utf-8" (also "utf8"; strict only), or
     * "bytes" (BYTES nodes); errors "strict", "replace", "ignore",
     * "surrogateescape", "backslashreplace". Anything else is
     * PKL_E_INVALID_ARG.
     * pkl_decode_build with a builder that has a str8 callback: the names
     * are the builder's to interpret (any codec); the decoder only tells
     * "bytes" (exactly, as pickle compares it: a bytes value) from the
     * rest (text). */
    const char *encoding;
    const char *errors;
    /* Non-zero: no Python 2 name mapping below protocol 3, as pickle.load's
     * fix_imports=False (0, the default, maps names as fix_imports=True). */
    int no_fix_imports;
} pkl_decode_options;

/* ---- Builders ------------------------------------------------------------
 * pkl_decode_build runs the same decoder (the same opcode semantics, policy
 * checks and limits as pkl_decode) and calls a builder at each step, in the
 * pickle's own order, as CPython's _pickle.c does: a container when its
 * opcode runs, a call when REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ runs (after
 * the policy allowed the callable), APPEND(S)/SETITEM(S)/ADDITEMS and BUILD
 * as they come. Every policy check is made before the builder is asked to
 * make, call or change anything. Decoding stays iterative and bounded.
 *
 * Values are opaque handles (void *, never NULL) that the builder owns.
 * Ownership: every callback that returns a handle returns a NEW reference,
 * which the decoder owns (on its stack or in its memo); handles passed to
 * callbacks are BORROWED (a builder that keeps one, e.g. as a list item,
 * takes its own reference with whatever `retain` does). The decoder calls
 * `retain` when it holds a handle twice (DUP, PUT, GET) and `release` for
 * every reference it drops (POP, a memo slot overwritten, the end of the
 * decode, an error). On success the root's reference passes to the caller;
 * on error every handle the decoder holds has been released.
 *
 * A callback that fails returns NULL (handles) or -1 (int) and leaves its
 * own error state (e.g. a Python exception); the decoder then stops with
 * PKL_E_BUILDER. Callbacks must not call back into the decoder.
 *
 * The decoder keeps its own small pkl_value view of each value for the
 * policy checks (types, names, call arguments): that view is what
 * pkl_decode returns as the value tree. The `v` given to `scalar` is that
 * view and is valid only during the call. */
typedef struct pkl_builder {
    void *ctx; /* passed to every callback */
    /* NONE, BOOL, INT, BIGINT, FLOAT, STR, BYTES, BYTEARRAY */
    void *(*scalar)(void *ctx, const pkl_value *v);
    /* Python 2 str, raw bytes, to decode per opt->encoding/errors; NULL:
     * the decoder decodes them as pkl_decode does and calls scalar. */
    void *(*str8)(void *ctx, const uint8_t *raw, size_t len);
    /* A new container of type LIST, TUPLE, SET, FROZENSET (n items) or
     * DICT (n pairs: key items[2i], value items[2i+1], in order; a repeated
     * key takes the later value as dict does). */
    void *(*container)(void *ctx, int type, void *const *items, size_t n);
    /* target.append/extend(items): APPEND, APPENDS (n >= 1). */
    int (*append)(void *ctx, void *target, void *const *items, size_t n);
    /* target[k] = v for n pairs kv[2i], kv[2i+1]: SETITEM, SETITEMS. */
    int (*setitems)(void *ctx, void *target, void *const *kv, size_t n);
    /* target.add(item) for n items: ADDITEMS on a set. */
    int (*additems)(void *ctx, void *target, void *const *items, size_t n);
    /* A global the policy allowed (interned: the same name gives the same
     * pointer during one decode). */
    void *(*global)(void *ctx, const pkl_global *g);
    /* is_new 0: callable(*args, **kwargs) (REDUCE, INST/OBJ with
     * arguments); 1: cls.__new__(cls, *args, **kwargs) (NEWOBJ,
     * NEWOBJ_EX); 2: INST/OBJ without arguments (_pickle.c instantiate:
     * cls.__new__(cls) for a class without __getinitargs__, else cls()).
     * args is a TUPLE handle, kwargs a DICT handle or NULL. */
    void *(*call)(void *ctx, void *callable, void *args, void *kwargs,
                  int is_new);
    /* BUILD: inst.__setstate__(state) or the state into inst. */
    int (*build)(void *ctx, void *inst, void *state);
    /* A persistent id the policy allows (PERSID, BINPERSID). */
    void *(*persid)(void *ctx, void *id);
    /* getattr(cls, name) for an Enum member or class constant; cls is a
     * global the policy allowed and name a plain identifier. */
    void *(*attr)(void *ctx, const pkl_global *cls, const uint8_t *name,
                  size_t len);
    /* NEXT_BUFFER: out-of-band buffer number `index`. */
    void *(*buffer)(void *ctx, size_t index);
    /* READONLY_BUFFER: a read-only view of buf (or buf itself, retained). */
    void *(*readonly)(void *ctx, void *buf);
    void (*retain)(void *ctx, void *h);
    void (*release)(void *ctx, void *h);
    /* Optional (NULL: not called). After a successful build: the handle
     * that takes inst's place on the stack, a reference the decoder now
     * owns (inst itself after retain when nothing changes), or NULL on
     * failure. The decoder releases its stack reference to inst; memo
     * entries keep inst. This is how a loader like joblib's
     * NumpyUnpickler.load_build puts an array in its placeholder's place. */
    void *(*after_build)(void *ctx, void *inst);
    /* Optional (NULL: release is called for each). Releases the n handles
     * hs[0..n), skipping NULL entries, as n calls of release would: the
     * decoder drops a batch of APPENDS/SETITEMS items or a container's
     * items in one call. */
    void (*release_n)(void *ctx, void *const *hs, size_t n);
    /* Optional (NULL: scalar is called). The value of an INT that fits
     * int64 / of a FLOAT, as scalar would make it from the node. */
    void *(*int64)(void *ctx, int64_t i);
    void *(*float64)(void *ctx, double f);
    /* Optional (NULL: append, then release). APPEND(S) as append does, but
     * on success the builder takes over the decoder's references to the
     * n items (it releases them or keeps them, e.g. as the list's own);
     * on failure (-1) it took none. */
    int (*append_owned)(void *ctx, void *target, void *const *items, size_t n);
} pkl_builder;

/* Decodes ONE pickle starting at buf[0] through builder b (every callback
 * except str8 must be set; else PKL_E_INVALID_ARG). On success returns 0,
 * stores the root handle (a reference the caller now owns) in *root and
 * sets *consumed past STOP. On failure returns -1 with *err filled (offset
 * relative to buf; PKL_E_BUILDER when a callback failed), *root NULL and
 * every handle released. */
PKL_API int pkl_decode_build(const void *buf, size_t len, const pkl_decode_options *opt,
                             const pkl_builder *b, void **root, size_t *consumed,
                             pkl_error *err);

/* Decodes ONE pickle starting at buf[0]. On success returns the document
 * and sets *consumed to the offset just past its STOP (bytes after it are
 * the caller's business). On failure returns NULL with *err filled (offset
 * relative to buf). */
PKL_API pkl_doc *pkl_decode(const void *buf, size_t len, const pkl_decode_options *opt,
                            size_t *consumed, pkl_error *err);
PKL_API const pkl_value *pkl_doc_root(const pkl_doc *doc);
/* Non-zero when the decoder handed v out more than once (memo GET or DUP):
 * a builder that makes one object per node (the Python binding) must keep
 * and reuse it, which preserves identity and cycles; other nodes have one
 * parent. Constant nodes (None, booleans, ints, floats, the empty tuple)
 * are never marked. */
PKL_API int pkl_value_is_shared(const pkl_value *v);
/* Frees the document and every value in it, in one call. */
PKL_API void pkl_doc_free(pkl_doc *doc);

/* ===================================================================== */
/* pickle-json v1 writer (docs/json.md)                                  */
/* ===================================================================== */

/* Writes the document as one pickle-json v1 line (with '\n'). Iterative;
 * stops with PKL_E_LIMIT_JSON when the output would exceed max_json_bytes
 * (0: the default limit). Nothing is written on failure: the document is
 * rendered into memory first. Returns 0 or -1. */
PKL_API int pkl_json_write(const pkl_doc *doc, FILE *out, size_t max_json_bytes,
                           const pkl_allocator *alloc, pkl_error *err);

/* ===================================================================== */
/* Scanner: pickle bytes -> findings, without loading                    */
/* ===================================================================== */

typedef enum pkl_severity {
    PKL_SEV_NONE = -1, /* no finding (max_severity of an empty result) */
    PKL_SEV_INFO = 0, PKL_SEV_LOW = 1, PKL_SEV_MEDIUM = 2, PKL_SEV_HIGH = 3,
    PKL_SEV_CRITICAL = 4
} pkl_severity;

/* The name of a severity.
 * @param sev any value.
 * @return "info", "low", "medium", "high" or "critical"; "unknown" for
 *     anything else (PKL_SEV_NONE included). A static string. */
PKL_API const char *pkl_severity_name(pkl_severity sev);
/* Parses a severity name.
 * @param s one of the names pkl_severity_name gives (exact, lower case);
 *     NULL is allowed.
 * @return the severity, or PKL_SEV_NONE for NULL or an unknown name. */
PKL_API pkl_severity pkl_severity_parse(const char *s);

typedef struct pkl_finding {
    const char *rule;        /* stable rule id, documented in docs/rules.md */
    pkl_severity severity;
    size_t offset;           /* byte offset within the stream scanned */
    int opcode;              /* opcode byte, or -1 */
    char global[2 * PKL_NAME_MAX + 2]; /* "module.qualname" or "" */
    char message[512];
    char hint[512];          /* how to fix / the policy line that allows it */
    char path[512];          /* nesting path inside the file ("" at top):
                                container members, nested pickles */
} pkl_finding;

typedef struct pkl_scan_result {
    pkl_finding *findings;
    size_t count;
    size_t cap;
    size_t pickles;          /* pickles seen */
    size_t opcodes;          /* opcodes walked */
    size_t bytes;            /* bytes parsed as opcodes (a clean result
                                of one buffer has bytes == its length) */
    size_t dropped;          /* findings over max_findings: counted, not kept */
    size_t by_severity[5];   /* findings per pkl_severity, dropped included */
    pkl_severity max_severity; /* highest severity, dropped included;
                                  PKL_SEV_NONE: no finding */
    pkl_allocator alloc;
} pkl_scan_result;

typedef struct pkl_scan_options {
    const pkl_policy *policy;     /* required */
    const pkl_allocator *alloc;   /* NULL: libc */
    size_t max_findings;          /* 0 = default (1000); the rest are counted
                                     in `dropped` (max_severity stays exact) */
    size_t max_nesting;           /* nested pickles (bytes passed to a known
                                     deserializer) scanned this deep; 0 =
                                     default (4). Deeper: a high finding */
    /* Optional: called about every 4 MiB of the top-level buffer with the
     * offset the scan has reached. Bytes below it may still be read again
     * (memo and nested payloads), so a caller may only drop them in ways
     * that keep them readable -- madvise(MADV_DONTNEED) on a file mapping
     * bounds resident memory on huge files. NULL: not called. */
    void (*on_progress)(void *ctx, size_t offset);
    void *progress_ctx;
    /* Optional: the offset of the first byte at or after `offset` of the
     * top-level buffer that may be non-zero (a file's holes read as zero:
     * lseek SEEK_DATA), or the buffer's length. The search of bytes left
     * after a failed opcode skips what it says is zero, so a huge sparse
     * file is not faulted in page by page. NULL: every byte is read. Uses
     * progress_ctx. */
    size_t (*next_data)(void *ctx, size_t offset);
} pkl_scan_options;

/* Makes an empty result (no allocation until the first finding).
 * @param res the result to fill; MUST NOT be NULL. Free it with
 *     pkl_scan_result_free, after any number of scans into it.
 * @param alloc the allocator for its findings; NULL: libc. Copied. */
PKL_API void pkl_scan_result_init(pkl_scan_result *res, const pkl_allocator *alloc);
/* Scans every pickle in buf (concatenated pickles included) and appends
 * findings to *res. Never stops at the first problem; the rules are in
 * docs/rules.md. Memory is bounded independently of len (tracking caps
 * give a `scan-limit` finding instead of growing). Several threads may
 * scan at once with the same policy.
 * @param buf the bytes; MAY be NULL only when len is 0. Only read; it
 *     must stay valid during the call.
 * @param path the prefix of each finding's path (NULL or "": top level;
 *     nested pickles add "!nested@OFFSET"). Copied into findings.
 * @param opt MUST NOT be NULL, and opt->policy MUST be set.
 * @param res an initialised result (pkl_scan_result_init); the caller
 *     owns it and its findings.
 * @param err may be NULL.
 * @return 0 (findings, if any, are in res); -1 only when opt, its policy
 *     or res is missing (PKL_E_INVALID_ARG) or memory ran out
 *     (PKL_E_NOMEM), with *err filled. */
PKL_API int pkl_scan_buffer(const void *buf, size_t len, const char *path,
                            const pkl_scan_options *opt, pkl_scan_result *res,
                            pkl_error *err);
/* The highest severity among the findings, dropped ones included.
 * @param res may be NULL.
 * @return the severity, or PKL_SEV_NONE when there are none (or res is
 *     NULL). */
PKL_API pkl_severity pkl_scan_result_max_severity(const pkl_scan_result *res);
/* Frees the findings; res is empty again (init state). NULL is allowed. */
PKL_API void pkl_scan_result_free(pkl_scan_result *res);

/* ===================================================================== */
/* Containers: files that hold pickles (docs/formats.md)                 */
/* ===================================================================== */

/* Formats recognised by content (never by file name). */
typedef enum pkl_format {
    PKL_FMT_UNKNOWN = 0,
    PKL_FMT_PICKLE,        /* raw pickle(s), any protocol */
    PKL_FMT_TORCH_LEGACY,  /* torch.save before 1.6: pickles + storage bytes */
    PKL_FMT_JOBLIB,        /* pickle with inline NumPy arrays (joblib.dump) */
    PKL_FMT_NPY,           /* NumPy .npy */
    PKL_FMT_ZIP,           /* any zip: torch.save >= 1.6, .npz, plain zip */
    PKL_FMT_GZIP, PKL_FMT_BZIP2, PKL_FMT_XZ, PKL_FMT_LZMA, PKL_FMT_ZLIB,
    PKL_FMT_ZSTD,
    PKL_FMT_DBM_DUMB,      /* dbm.dumb .dir index (+ .dat values) */
    PKL_FMT_DBM_SQLITE,    /* dbm.sqlite3 (Python 3.13+): table Dict */
    PKL_FMT_GDBM,          /* GNU dbm */
    PKL_FMT_TAR,           /* tar (torch's pre-1.0 format, .tar.gz bundles) */
    PKL_FMT_LZ4,           /* LZ4 frame format (joblib compress='lz4') */
    PKL_FMT_BDB,           /* Berkeley DB hash file (dbm.ndbm on Debian) */
    PKL_FMT_JOBLIB_ZF,     /* joblib < 0.10 "ZF" file: hex length + zlib */
    PKL_FMT__COUNT
} pkl_format;

/* "pickle", "zip", "gzip"... ("unknown" for anything else). */
PKL_API const char *pkl_format_name(pkl_format fmt);
/* The format of buf judged by its first bytes (and, for zip, its end).
 * Cheap: nothing is decompressed. A buffer that is none of the containers
 * is PKL_FMT_PICKLE when its first opcode parses and can start a pickle,
 * else PKL_FMT_UNKNOWN. A buffer starting with skippable frames (magic
 * 0x184D2A50..5F) is ZSTD or LZ4 by the first frame after them. Never
 * returns JOBLIB or TORCH_LEGACY (those are
 * pickles told apart while walking). */
PKL_API pkl_format pkl_format_detect(const void *buf, size_t len);

/* Flags of a pkl_stream. */
enum {
    /* A loader unpickles these bytes whatever they look like (torch's
     * data.pkl, a shelf value): scan them even if they are no pickle. */
    PKL_STREAM_FORCED = 1u << 0,
    /* Raw data (legacy torch storages) follows the pickles in the
     * container: `data_len` bytes after the stream are not pickle bytes. */
    PKL_STREAM_DATA_FOLLOWS = 1u << 1,
    /* The bytes are a copy with joblib's inline array data cut out:
     * offsets refer to the copy, not to the file. */
    PKL_STREAM_SPLICED = 1u << 2,
    /* The stream holds `npickles` pickles back to back, all unpickled by
     * the loader (legacy torch). */
    PKL_STREAM_SEQUENCE = 1u << 3,
    /* A second view of bytes that are also something else: the file (or a
     * decompressed payload) read as a raw pickle from byte 0, as
     * pickle.load, joblib.load, numpy.load and torch.load's legacy path
     * read it, handed over only when that read reaches an opcode that
     * imports or calls before it fails (docs/formats.md, "Loader views"). */
    PKL_STREAM_VIEW = 1u << 4
};

/* One run of pickle bytes found in a container. Everything it points to
 * is valid only during the callback. */
typedef struct pkl_stream {
    const char *path;      /* "model.pt!archive/data.pkl": the top path given
                              to the walker, then '!' + member for each level */
    const uint8_t *data;   /* the pickle bytes */
    size_t len;
    unsigned flags;        /* PKL_STREAM_* */
    pkl_format format;     /* what the bytes were found as (PICKLE,
                              TORCH_LEGACY, JOBLIB, NPY) */
    const char *chain;     /* containers from the outside in: "zip>gzip" ("" at
                              top level) */
    size_t offset;         /* offset of data in its innermost container's
                              (decompressed) bytes */
    size_t npickles;       /* PKL_STREAM_SEQUENCE: pickles in data, else 0 */
    size_t data_len;       /* PKL_STREAM_DATA_FOLLOWS: raw bytes after it */
} pkl_stream;

typedef struct pkl_walk_options {
    const pkl_allocator *alloc;   /* NULL: libc */
    size_t max_nesting;   /* containers inside containers; 0: 8 */
    size_t max_output;    /* bytes one member/stream may decompress to;
                             0: 64 MiB. Over it: PKL_E_LIMIT_OUTPUT */
    size_t max_total;     /* bytes all decompression of one walk may produce;
                             0: 1 GiB */
    size_t max_members;   /* zip entries / shelf keys per container; 0: 100000 */
    /* File-system path of the top buffer, or NULL. Only used to find the
     * sibling of a dbm.dumb pair (x.dat <-> x.dir) and to open GNU dbm
     * files, which libgdbm cannot read from memory. */
    const char *fs_path;
    /* Called once per pickle stream. Returns 0 to go on; non-zero stops
     * the walk (pkl_walk_buffer then returns -1 with *err as the callback
     * left it, or PKL_E_INTERNAL if it left PKL_OK). */
    int (*on_stream)(void *ctx, const pkl_stream *s, pkl_error *err);
    /* Called once per problem (a damaged archive, a member that cannot be
     * read, a limit, an unknown format): `path` names where. The problem is
     * never also a stream. Same return convention as on_stream. NULL: the
     * problems are only counted. */
    int (*on_problem)(void *ctx, const char *path, const pkl_error *problem);
    void *ctx;
} pkl_walk_options;

typedef struct pkl_walk_stats {
    size_t streams;       /* on_stream calls */
    size_t problems;      /* on_problem calls */
    size_t containers;    /* containers opened (zip, gzip...) */
    size_t data_only;     /* buffers that hold only data (numeric .npy...) */
    size_t bytes_out;     /* bytes produced by decompression */
} pkl_walk_stats;

/* Walks buf, detecting each level's format by content, and calls back once
 * per pickle stream and once per problem. `path` names buf in stream and
 * problem paths (NULL: ""). Nesting is followed with an explicit stack up
 * to max_nesting; decompression is streamed under max_output / max_total.
 * Decompressed bytes live in buffers the walker owns and frees after the
 * callbacks for them return. A buffer that is no known format and no
 * pickle is a PKL_E_FORMAT_UNSUPPORTED problem, never silently skipped.
 * stats may be NULL. Returns 0 when the walk finished (problems are not
 * failures), -1 on out of memory or when a callback stopped it. */
PKL_API int pkl_walk_buffer(const void *buf, size_t len, const char *path,
                            const pkl_walk_options *opt, pkl_walk_stats *stats,
                            pkl_error *err);

/* ===================================================================== */
/* Scan orchestration: one file, as `pickleguard scan` sees it           */
/* ===================================================================== */

/* The rule table (src/rules.def): every rule id a finding can carry. */
typedef struct pkl_rule_info {
    const char *id;          /* "dangerous-global"... */
    pkl_severity severity;   /* the usual severity */
    const char *title;       /* one line */
    const char *help;        /* one paragraph */
} pkl_rule_info;

PKL_API size_t pkl_rule_count(void);
/* Entry i (0 .. pkl_rule_count()-1), NULL past the end. */
PKL_API const pkl_rule_info *pkl_rule_get(size_t i);
/* Index of rule `id`, or -1. */
PKL_API int pkl_rule_find(const char *id);

/* ---- opening an input by name (src/input.c) ------------------------------ */

/* An input's bytes: a read-only mapping of a regular file, or what was
 * read from a FIFO, pipe or device. */
typedef struct pkl_input {
    const uint8_t *data;  /* never NULL ("" when empty) */
    size_t len;
    void *map;            /* regular files: the mapping (map_len bytes) */
    size_t map_len;
    uint8_t *heap;        /* others: the bytes read */
    int fd;               /* PKL_INPUT_KEEP_FD: the regular file, else -1 */
    const char *special;  /* not read (NO_SPECIAL/REGULAR_ONLY): what the
                             file is, "a FIFO (named pipe)"... */
    uint64_t dev, ino;    /* fstat of the opened descriptor: what was
                             opened, whatever the name pointed to before */
} pkl_input;

enum {
    PKL_INPUT_NO_SPECIAL = 1,   /* FIFOs, devices, sockets: not read, only
                                   named in in->special (a directory walk) */
    PKL_INPUT_REGULAR_ONLY = 2, /* anything but a regular file is an error
                                   (policy files) */
    PKL_INPUT_KEEP_FD = 4,      /* keep a regular file's descriptor open */
    PKL_INPUT_NO_DEVICES = 8    /* devices and sockets: not read, named in
                                   in->special; FIFOs and pipes are read
                                   (scan of a named PATH) */
};
/* Bytes read into memory from a FIFO, pipe or device: max_input 0 means
 * this (1 GiB). */
#define PKL_INPUT_MAX_DEFAULT ((size_t)1 << 30)
/* How long a read from a FIFO, pipe or device waits for data: wait_ms 0
 * means this (10 s). */
#define PKL_INPUT_WAIT_MS_DEFAULT 10000

/* Opens `path` O_NONBLOCK (never blocks in open) and judges the OPENED
 * descriptor by fstat: a regular file is mapped; a directory is an error;
 * anything else is read up to max_input bytes (over it: PKL_E_IO), each
 * read waiting at most wait_ms for data (a FIFO whose writer never comes
 * or stalls: PKL_E_IO after that wait; a writer that closes ends the
 * input), unless `flags` say otherwise. Returns 0, or -1 with *err
 * (PKL_E_IO with strerror text, PKL_E_NOMEM). pkl_input_close frees. */
PKL_API int pkl_input_open(const char *path, unsigned flags, size_t max_input,
                           int wait_ms, pkl_input *in, pkl_error *err);
/* Reads an open descriptor to its end the same way (wait_ms < 0: blocking
 * reads, for the caller's own stdin). */
PKL_API int pkl_input_read_fd(int fd, size_t max_input, int wait_ms, pkl_input *in,
                              pkl_error *err);
PKL_API void pkl_input_close(pkl_input *in);

typedef struct pkl_scan_file_options {
    const pkl_policy *policy;     /* required */
    size_t max_findings;          /* as pkl_scan_options; 0: 1000 */
    size_t max_output;            /* as pkl_walk_options; 0: 64 MiB */
    size_t max_total;             /* as pkl_walk_options; 0: 1 GiB; also
                                     the most a pipe is read */
    /* Non-zero when the file was found in a directory walk rather than
     * named: a FIFO is then a `special-file` finding instead of being
     * read. Findings do not depend on it (one verdict path: a file whose
     * every view fails before anything could run is `not-a-pickle`, info,
     * named or found). */
    int found;
    /* Optional: called with the file's mapping right after it is mapped
     * (len > 0) and again with len 0 just before it is unmapped, so that
     * a caller can guard it (the CLI turns the SIGBUS of a file truncated
     * while mapped into an I/O error: src/cli/mapguard.c). */
    void (*on_map)(void *ctx, const void *map, size_t len);
    void *map_ctx;
} pkl_scan_file_options;

/* Scans the file at `path` the way `pickleguard scan` does: the format is
 * detected by content; a plain pickle is scanned directly; containers
 * (zip/torch, npy/npz, joblib, compressed streams, shelves -- a dbm.dumb
 * pair and GNU dbm are read from disk next to `path`) are walked with
 * pkl_walk_buffer, each pickle stream scanned with its member path as
 * prefix, each container problem a medium `container-*` finding. Regular
 * files are mmapped (pages behind the scan are dropped, so resident
 * memory stays bounded); a FIFO named explicitly is read up to max_total,
 * each read waiting at most PKL_INPUT_WAIT_MS_DEFAULT for data (opened by
 * pkl_input_open, never blocking in open);
 * devices, sockets and FIFOs found in a walk are a `special-file` finding
 * and never read. Findings are appended to *res (which may hold earlier
 * findings). Returns 0, or -1 with *err filled when the file cannot be
 * read at all (PKL_E_IO: missing, unreadable, a directory) or memory ran
 * out. Thread-safe for distinct results. */
PKL_API int pkl_scan_file(const char *path, const pkl_scan_file_options *opt,
                          pkl_scan_result *res, pkl_error *err);
/* The same for bytes in memory (stdin): fs_path, when not NULL, is where
 * the bytes came from (only used to find a dbm.dumb/GNU dbm on disk). */
PKL_API int pkl_scan_data(const void *buf, size_t len, const char *fs_path,
                          const pkl_scan_file_options *opt, pkl_scan_result *res,
                          pkl_error *err);
/* Scans an input opened by pkl_input_open (with PKL_INPUT_KEEP_FD for
 * regular files): mapped files as pkl_scan_file scans them (pages behind
 * the scan dropped, holes skipped with SEEK_DATA on in->fd), bytes read
 * from a pipe as pkl_scan_data, an unread special file as
 * pkl_scan_special. fs_path: as pkl_scan_data. */
PKL_API int pkl_scan_input(const pkl_input *in, const char *fs_path,
                           const pkl_scan_file_options *opt, pkl_scan_result *res,
                           pkl_error *err);
/* Appends the `special-file` finding (medium) for a file that is not
 * read: `what` says what it is ("a FIFO (named pipe)"). Returns 0 or -1
 * (out of memory; counted as dropped). */
PKL_API int pkl_scan_special(const char *what, const pkl_scan_file_options *opt,
                             pkl_scan_result *res);

#ifdef __cplusplus
}
#endif
#endif /* PICKLEGUARD_H */
