/* error.c -- error codes, their static messages, and filling pkl_error.
 *
 * Messages are static strings so that reporting an error never allocates;
 * specifics go into pkl_error.detail. Codes are stable: never renumber. */
#include "internal.h"

#include <stdio.h>

const char *pkl_strerror(pkl_code code)
{
    switch (code) {
    case PKL_OK: return "ok";
    case PKL_E_TRUNCATED: return "pickle data was truncated";
    case PKL_E_UNKNOWN_OPCODE: return "unknown opcode";
    case PKL_E_BAD_INT: return "invalid integer text";
    case PKL_E_BAD_FLOAT: return "invalid float text";
    case PKL_E_BAD_STRING: return "invalid STRING argument (quoting or escape)";
    case PKL_E_BAD_UTF8: return "text is not valid UTF-8";
    case PKL_E_BAD_ESCAPE: return "invalid raw-unicode-escape text";
    case PKL_E_NO_NEWLINE: return "text argument has no terminating newline";
    case PKL_E_STACK_UNDERFLOW: return "stack underflow";
    case PKL_E_NO_MARK: return "no MARK on the stack";
    case PKL_E_MEMO_MISSING: return "memo key was never stored";
    case PKL_E_FRAME: return "opcode crosses a FRAME boundary";
    case PKL_E_TRAILING: return "bytes after STOP are not a pickle";
    case PKL_E_BAD_PROTO: return "unsupported pickle protocol";
    case PKL_E_BAD_TYPE: return "operand has the wrong type";
    case PKL_E_UNHASHABLE: return "unhashable dict key or set member";
    case PKL_E_BAD_NAME: return "global name is not a valid dotted Python name";
    case PKL_E_BAD_LENGTH: return "invalid declared length";
    case PKL_E_STACK_NOT_EMPTY: return "stack not empty after STOP";
    case PKL_E_EMPTY: return "no pickle data (empty input)";
    case PKL_E_BAD_STOP: return "STOP with an empty stack or an open MARK";
    case PKL_E_MEMO_REDEFINED: return "memo key stored twice";
    case PKL_E_INT_DIGITS: return "integer text over the 4300-digit limit";

    case PKL_E_REFUSED_GLOBAL: return "refused: global is not allowed by the policy";
    case PKL_E_REFUSED_CALL: return "refused: call target is not an allowed global";
    case PKL_E_REFUSED_BUILD: return "refused: BUILD target is not an object of an allowed global";
    case PKL_E_REFUSED_EXT: return "refused: extension registry codes (EXT1/EXT2/EXT4)";
    case PKL_E_REFUSED_PERSID: return "refused: persistent ids are denied by the policy";
    case PKL_E_REFUSED_BUFFER: return "refused: out-of-band buffer without buffers supplied";

    case PKL_E_LIMIT_DEPTH: return "limit exceeded: nesting depth (max_depth)";
    case PKL_E_LIMIT_MEMO: return "limit exceeded: memo entries (max_memo)";
    case PKL_E_LIMIT_VALUES: return "limit exceeded: number of values (max_values)";
    case PKL_E_LIMIT_BYTES: return "limit exceeded: bytes allocated (max_bytes)";
    case PKL_E_LIMIT_JSON: return "limit exceeded: JSON document size (max_json_bytes)";
    case PKL_E_LIMIT_NESTING: return "limit exceeded: container nesting depth";
    case PKL_E_LIMIT_OUTPUT: return "limit exceeded: decompressed size";

    case PKL_E_NOMEM: return "out of memory";
    case PKL_E_IO: return "I/O error";
    case PKL_E_INVALID_ARG: return "invalid argument";
    case PKL_E_INTERNAL: return "internal error";
    case PKL_E_BUILDER: return "the builder failed";

    case PKL_E_POLICY_SYNTAX: return "policy: YAML syntax error";
    case PKL_E_POLICY_SCHEMA: return "policy: invalid key or value";
    case PKL_E_POLICY_NAME: return "policy: invalid global name pattern";
    case PKL_E_POLICY_CYCLE: return "policy: extends cycle";
    case PKL_E_POLICY_NOT_FOUND: return "policy: not found";
    case PKL_E_POLICY_DANGEROUS: return "policy: allows a known-dangerous global";

    case PKL_E_FORMAT: return "damaged container";
    case PKL_E_FORMAT_UNSUPPORTED: return "unsupported container feature";
    }
    return "unknown error code";
}

int pkl_error_class(pkl_code code)
{
    return (int)code <= 0 ? 0 : (int)code / 100;
}

void pkli_error_clear(pkl_error *err)
{
    if (!err)
        return;
    err->code = PKL_OK;
    err->msg = pkl_strerror(PKL_OK);
    err->offset = 0;
    err->opcode = -1;
    err->line = 0;
    err->column = 0;
    err->detail[0] = '\0';
}

void pkli_error_set(pkl_error *err, pkl_code code, size_t offset, int opcode)
{
    if (!err)
        return;
    err->code = code;
    err->msg = pkl_strerror(code);
    err->offset = offset;
    err->opcode = opcode;
    err->line = 0;
    err->column = 0;
    err->detail[0] = '\0';
}

void pkli_error_setf(pkl_error *err, pkl_code code, size_t offset, int opcode,
                     const char *fmt, ...)
{
    if (!err)
        return;
    pkli_error_set(err, code, offset, opcode);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
}

char *pkl_error_format(const pkl_error *err, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    if (!err) {
        snprintf(buf, size, "no error information");
        return buf;
    }
    const char *msg = err->msg ? err->msg : pkl_strerror(err->code);
    char where[96] = "";
    int cls = pkl_error_class(err->code);
    if (err->line)
        where[0] = '\0'; /* policy errors carry file:line:col in detail */
    else if (err->opcode >= 0 && cls >= 1 && cls <= 3)
        snprintf(where, sizeof where, " (%s at offset %zu)",
                 pkli_opname(err->opcode), err->offset);
    else if (cls >= 1 && cls <= 3)
        snprintf(where, sizeof where, " (at offset %zu)", err->offset);
    if (err->detail[0])
        snprintf(buf, size, "%s: %s%s", msg, err->detail, where);
    else
        snprintf(buf, size, "%s%s", msg, where);
    return buf;
}
