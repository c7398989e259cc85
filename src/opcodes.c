/* opcodes.c -- the tables generated from opcodes.def: the opcode list in
 * table order and the 256-entry lookup by byte. Everything that needs to
 * know about an opcode asks here; there is no other opcode list. */
#include "internal.h"

static const pkl_opinfo all_ops[] = {
#define OP(name, byte, arg, proto, flags, pops, pushes) \
    { #name, byte, PKL_ARG_##arg, proto, (uint16_t)(flags), pops, pushes },
#include "opcodes.def"
#undef OP
};

#define NOPS (sizeof all_ops / sizeof all_ops[0])

/* Position of each opcode in all_ops. */
enum {
#define OP(name, byte, arg, proto, flags, pops, pushes) IDX_##name,
#include "opcodes.def"
#undef OP
    IDX__COUNT
};

/* Entry for each byte; NULL for bytes that are no opcode. The reader
 * indexes this directly on its hot path. */
const pkl_opinfo *const pkli_op_by_byte[256] = {
#define OP(name, byte, arg, proto, flags, pops, pushes) \
    [byte] = &all_ops[IDX_##name],
#include "opcodes.def"
#undef OP
};

const pkl_opinfo *pkl_opinfo_get(unsigned byte)
{
    return byte > 255 ? NULL : pkli_op_by_byte[byte];
}

const char *pkli_opname(int byte)
{
    const pkl_opinfo *info = byte >= 0 ? pkl_opinfo_get((unsigned)byte) : NULL;
    return info ? info->name : "unknown opcode";
}

const pkl_opinfo *pkl_opinfo_all(size_t *count)
{
    if (count)
        *count = NOPS;
    return all_ops;
}

const char *pkl_argkind_name(pkl_argkind argkind)
{
    static const char *const names[] = {
        [PKL_ARG_NONE] = "none",
        [PKL_ARG_UINT1] = "uint1", [PKL_ARG_UINT2] = "uint2",
        [PKL_ARG_INT4] = "int4", [PKL_ARG_UINT4] = "uint4",
        [PKL_ARG_UINT8] = "uint8",
        [PKL_ARG_DECIMALNL_SHORT] = "decimalnl_short",
        [PKL_ARG_DECIMALNL_LONG] = "decimalnl_long",
        [PKL_ARG_FLOATNL] = "floatnl", [PKL_ARG_FLOAT8] = "float8",
        [PKL_ARG_LONG1] = "long1", [PKL_ARG_LONG4] = "long4",
        [PKL_ARG_STRINGNL] = "stringnl",
        [PKL_ARG_STRINGNL_NOESCAPE] = "stringnl_noescape",
        [PKL_ARG_STRINGNL_NOESCAPE_PAIR] = "stringnl_noescape_pair",
        [PKL_ARG_UNICODESTRINGNL] = "unicodestringnl",
        [PKL_ARG_STRING1] = "string1", [PKL_ARG_STRING4] = "string4",
        [PKL_ARG_BYTES1] = "bytes1", [PKL_ARG_BYTES4] = "bytes4",
        [PKL_ARG_BYTES8] = "bytes8", [PKL_ARG_BYTEARRAY8] = "bytearray8",
        [PKL_ARG_UNICODESTRING1] = "unicodestring1",
        [PKL_ARG_UNICODESTRING4] = "unicodestring4",
        [PKL_ARG_UNICODESTRING8] = "unicodestring8",
    };
    if (argkind >= sizeof names / sizeof names[0] || !names[argkind])
        return "?";
    return names[argkind];
}
