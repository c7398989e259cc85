/* fuzz_reader.c -- fuzz harness for the opcode reader and the disassembler.
 *
 * Walks the whole input with pkl_reader_next, restarting one byte past
 * every error so that every offset of a hostile stream is read as an
 * opcode some time, and checks what the reader promises (pickleguard.h):
 * ops move forward and end inside the buffer, argument pointers stay
 * inside the input or the reader's scratch, errors carry a known code and
 * the offset of the opcode. Every GLOBAL/INST name pair is resolved
 * (pkl_resolve_global) at protocols 0..5: a resolved name must resolve to
 * itself again at protocol 4 (resolution is idempotent, so a policy
 * matching resolved names sees one spelling per object). Then the whole
 * input is disassembled into /dev/null. Any broken promise abort()s.
 *
 * pkl_reader_next is a fast path in front of the general reader
 * (pkli_reader_next_full, src/reader.c): every read is done again by the
 * general path from the same reader state, and the two must agree on the
 * result, every field of the op or the error, and the state they leave;
 * so must the decoder's reader of number runs (pkli_reader_next_number),
 * wherever it reads an opcode.
 *
 * It must never filter inputs out: every byte string is a test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* pkli_reader_next_full, reader options */

#define CHECK(x)                                                              \
    do {                                                                      \
        if (!(x)) {                                                           \
            fprintf(stderr, "fuzz_reader: check failed: %s (line %d)\n", #x,  \
                    __LINE__);                                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Opened once per process: the listing's text is not what is tested. */
static FILE *devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    CHECK(f != NULL);
    return f;
}

/* A pointer argument must lie in the input or in the reader's scratch. */
static int inside(const pkl_reader *r, const uint8_t *base, size_t len,
                  const uint8_t *p, size_t n)
{
    if (n == 0)
        return 1;
    if (p >= base && p <= base + len && n <= (size_t)(base + len - p))
        return 1;
    if (r->scratch && p >= r->scratch && p <= r->scratch + r->scratch_cap &&
        n <= (size_t)(r->scratch + r->scratch_cap - p))
        return 1;
    return 0;
}

static void check_names(const pkl_op *op)
{
    for (int proto = 0; proto <= 5; proto++) {
        pkl_global g, again;
        pkl_error err;
        memset(&err, 0, sizeof err);
        if (pkl_resolve_global((const char *)op->data, op->len,
                               (const char *)op->data2, op->len2, proto, &g,
                               &err) < 0) {
            CHECK(err.code == PKL_E_BAD_NAME && err.msg != NULL);
            CHECK(memchr(err.detail, '\0', sizeof err.detail) != NULL);
            continue;
        }
        CHECK(err.code == PKL_OK);
        size_t ml = strnlen(g.module, sizeof g.module);
        size_t ql = strnlen(g.qualname, sizeof g.qualname);
        CHECK(ml > 0 && ml <= PKL_NAME_MAX && ql > 0 && ql <= PKL_NAME_MAX);
        CHECK(pkl_resolve_global(g.module, ml, g.qualname, ql, 4, &again,
                                 &err) == 0);
        CHECK(strcmp(g.module, again.module) == 0);
        CHECK(strcmp(g.qualname, again.qualname) == 0);
    }
}

/* Reads at r's position with the general path, from a copy of r's state
 * before the fast read (*before), and compares with what the fast path
 * returned (rc, *op, *err) and left in *r. */
static void check_same(const pkl_reader *before, const pkl_reader *r, int rc,
                       const pkl_op *op, const pkl_error *err)
{
    pkl_reader r2 = *before;
    r2.scratch = NULL; /* its own scratch: the copy must not share it */
    r2.scratch_cap = 0;
    pkl_op op2;
    pkl_error err2;
    memset(&err2, 0, sizeof err2);
    int rc2 = pkli_reader_next_full(&r2, &op2, &err2);
    CHECK(rc2 == rc);
    CHECK(r2.pos == r->pos);
    CHECK(r2.in_frame == r->in_frame);
    CHECK(!r->in_frame || r2.frame_end == r->frame_end);
    CHECK(err2.code == err->code);
    if (rc < 0) {
        CHECK(err2.offset == err->offset && err2.opcode == err->opcode);
        CHECK(strcmp(err2.detail, err->detail) == 0);
    } else if (rc > 0) {
        CHECK(op2.offset == op->offset && op2.end == op->end);
        CHECK(op2.info == op->info && op2.code == op->code);
        CHECK(op2.type == op->type && op2.i == op->i);
        CHECK(memcmp(&op2.f, &op->f, sizeof op->f) == 0);
        CHECK(op2.len == op->len && op2.len2 == op->len2);
        CHECK((op2.data == NULL) == (op->data == NULL));
        CHECK(op->len == 0 || memcmp(op2.data, op->data, op->len) == 0);
        CHECK((op2.data2 == NULL) == (op->data2 == NULL));
        CHECK(op->len2 == 0 || memcmp(op2.data2, op->data2, op->len2) == 0);
    }
    pkl_reader_free(&r2);

    /* the scanner's reader leaves FLOAT text values uncomputed: it must
     * accept and refuse exactly the same bytes, with the same fields
     * except op->f */
    pkl_reader r3 = *before;
    r3.scratch = NULL;
    r3.scratch_cap = 0;
    pkli_reader_set_options(&r3, before->options ^ PKLI_READER_SKIP_FLOAT_VALUES);
    pkl_op op3;
    pkl_error err3;
    memset(&err3, 0, sizeof err3);
    int rc3 = pkli_reader_next_full(&r3, &op3, &err3);
    CHECK(rc3 == rc && r3.pos == r->pos && err3.code == err->code);
    if (rc > 0)
        CHECK(op3.type == op->type && op3.i == op->i && op3.end == op->end &&
              op3.len == op->len);
    pkl_reader_free(&r3);
}

static void check_op(const pkl_reader *r, const uint8_t *data, size_t size,
                     size_t at, const pkl_op *op)
{
    CHECK(op->info != NULL);
    CHECK(op->offset == at);
    CHECK(op->code == data[at]);
    CHECK(op->info->code == op->code);
    CHECK(op->end > op->offset && op->end <= size);
    CHECK(pkl_reader_offset(r) == op->end);
    switch (op->type) {
    case PKL_A_NONE:
    case PKL_A_INT:
    case PKL_A_FLOAT:
        break;
    case PKL_A_BOOL:
        CHECK(op->i == 0 || op->i == 1);
        break;
    case PKL_A_BIGINT: {
        CHECK(op->len > 8);
        CHECK(inside(r, data, size, op->data, op->len));
        size_t cap = 4 * op->len + 8;
        char *txt = malloc(cap);
        CHECK(txt != NULL);
        size_t n = pkl_bigint_to_decimal(op->data, op->len, txt, cap);
        CHECK(n > 0 && n < cap && txt[n] == '\0' && strlen(txt) == n);
        /* outside int64, so at least 19 digits */
        CHECK(n >= 19);
        free(txt);
        break;
    }
    case PKL_A_DECIMAL:
        CHECK(op->len > 0 && inside(r, data, size, op->data, op->len));
        for (size_t k = op->data[0] == '-'; k < op->len; k++)
            CHECK(op->data[k] >= '0' && op->data[k] <= '9');
        break;
    case PKL_A_BYTES:
    case PKL_A_STR:
        CHECK(inside(r, data, size, op->data, op->len));
        break;
    case PKL_A_PAIR:
        CHECK(inside(r, data, size, op->data, op->len));
        CHECK(inside(r, data, size, op->data2, op->len2));
        check_names(op);
        break;
    default:
        CHECK(!"unknown pkl_argtype");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkl_reader r;
    pkl_op op;
    pkl_error err;
    char msg[1024];

    pkl_reader_init(&r, data, size, NULL);
    for (;;) {
        size_t at = pkl_reader_offset(&r);
        memset(&err, 0, sizeof err);
        pkl_reader before = r;
        /* the decoder's run of numbers reads with pkli_reader_next_number:
         * where it reads an opcode, the general path reads the same */
        pkl_reader rn = before;
        pkl_op opn;
        pkl_error errn;
        memset(&errn, 0, sizeof errn);
        if (pkli_reader_next_number(&rn, &opn))
            check_same(&before, &rn, 1, &opn, &errn);
        else
            CHECK(rn.pos == before.pos);
        int rc = pkl_reader_next(&r, &op, &err);
        check_same(&before, &r, rc, &op, &err);
        if (rc == 0) {
            CHECK(at == size);
            break;
        }
        if (rc > 0) {
            check_op(&r, data, size, at, &op);
            continue;
        }
        CHECK(rc == -1);
        CHECK(err.code != PKL_OK && err.msg != NULL);
        CHECK(pkl_error_class(err.code) == 1 || err.code == PKL_E_NOMEM);
        CHECK(err.offset == at);
        CHECK(err.opcode == data[at]);
        pkl_error_format(&err, msg, sizeof msg);
        CHECK(strlen(msg) < sizeof msg);
        /* resynchronise one byte further: every offset gets read */
        pkl_reader_seek(&r, at + 1);
    }
    pkl_reader_free(&r);

    memset(&err, 0, sizeof err);
    if (pkl_dis(data, size, devnull(), NULL, &err) < 0) {
        CHECK(err.code != PKL_OK && err.msg != NULL);
        CHECK(err.offset <= size);
        pkl_error_format(&err, msg, sizeof msg);
    } else {
        CHECK(err.code == PKL_OK);
    }
    return 0;
}
