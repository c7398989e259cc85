/* json_in.c -- strict JSON reader for the CLI (json_in.h). The library
 * only writes JSON; reading it back is needed only to merge reports, so it
 * lives with the command that needs it.
 *
 * Must never: recurse over input, read past n, accept what RFC 8259 does
 * not (trailing commas, bare words, leading zeros, control characters in
 * strings), or allocate more than a small multiple of the input size.
 */
#include "json_in.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN ((size_t)64 << 10)

typedef struct jv_chunk {
    struct jv_chunk *next;
    size_t used, cap;
    max_align_t data[];
} jv_chunk;

/* size bytes aligned for any object (text: align 1, which keeps the
 * many short keys and numbers of a report from taking 16 bytes each) */
static void *arena_alloc_aligned(jv_arena *a, size_t size, size_t al)
{
    jv_chunk *c = a->head;
    if (size > SIZE_MAX - 2 * sizeof(max_align_t))
        return NULL;
    if (c) {
        size_t pad = (al - c->used % al) % al;
        if (c->cap - c->used >= pad && c->cap - c->used - pad >= size) {
            void *p = (char *)c->data + c->used + pad;
            c->used += pad + size;
            return p;
        }
    }
    /* a new chunk (the rest of the old one is left unused) */
    size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
    c = malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->next = a->head;
    c->cap = cap;
    c->used = size;
    a->head = c;
    return c->data; /* aligned for anything */
}

static void *arena_alloc(jv_arena *a, size_t size)
{
    return arena_alloc_aligned(a, size, sizeof(max_align_t));
}

char *jv_arena_text(jv_arena *a, size_t size)
{
    return arena_alloc_aligned(a, size, 1);
}

void jv_arena_free(jv_arena *a)
{
    jv_chunk *c = a->head;
    while (c) {
        jv_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

size_t jv_skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r'))
        i++;
    return i;
}

const jv *jv_get(const jv *o, const char *key)
{
    if (!o || o->kind != JV_OBJECT)
        return NULL;
    for (const jv *m = o->first; m; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

static void put_utf8(char *d, size_t *k, unsigned cp)
{
    if (cp < 0x80) {
        d[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        d[(*k)++] = (char)(0xc0 | (cp >> 6));
        d[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        d[(*k)++] = (char)(0xe0 | (cp >> 12));
        d[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        d[(*k)++] = (char)(0xf0 | (cp >> 18));
        d[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        d[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[(*k)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* Four hex digits at s[i..i+4) into *out: 0, or -1. */
static int hex4(const char *s, size_t n, size_t i, unsigned *out)
{
    unsigned v = 0;
    if (n - i < 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        char c = s[i + k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

typedef struct parser {
    jv_arena *a;
    const char *s;
    size_t n;
    size_t i;
    char *why;
    size_t whylen;
} parser;

static int fail(parser *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int fail(parser *p, const char *fmt, ...)
{
    if (p->whylen) {
        int k = snprintf(p->why, p->whylen, "offset %zu: ", p->i);
        if (k >= 0 && (size_t)k < p->whylen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->why + k, p->whylen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* The string whose opening quote is at p->i; unescaped into the arena.
 * The result is never longer than the escaped text. */
static int parse_string(parser *p, const char **out, size_t *outlen)
{
    const char *s = p->s;
    size_t n = p->n, start = ++p->i, end = start;
    while (end < n && s[end] != '"') {
        if (s[end] == '\\' && end + 1 < n)
            end++;
        end++;
    }
    if (end >= n)
        return fail(p, "unterminated string");
    char *d = jv_arena_text(p->a, end - start + 1);
    if (!d)
        return fail(p, "out of memory");
    size_t k = 0;
    while (p->i < end) {
        unsigned char c = (unsigned char)s[p->i];
        if (c < 0x20)
            return fail(p, "control character in a string");
        if (c != '\\') {
            d[k++] = (char)c;
            p->i++;
            continue;
        }
        char e = s[p->i + 1];
        p->i += 2;
        switch (e) {
        case '"': d[k++] = '"'; break;
        case '\\': d[k++] = '\\'; break;
        case '/': d[k++] = '/'; break;
        case 'b': d[k++] = '\b'; break;
        case 'f': d[k++] = '\f'; break;
        case 'n': d[k++] = '\n'; break;
        case 'r': d[k++] = '\r'; break;
        case 't': d[k++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(s, end, p->i, &cp) < 0)
                return fail(p, "bad \\u escape");
            p->i += 4;
            if (cp == 0)
                return fail(p, "\\u0000 in a string");
            if (cp >= 0xd800 && cp <= 0xdbff && end - p->i >= 6 &&
                s[p->i] == '\\' && s[p->i + 1] == 'u' &&
                hex4(s, end, p->i + 2, &lo) == 0 && lo >= 0xdc00 &&
                lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p->i += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd; /* a lone surrogate: no UTF-8 spells it */
            }
            put_utf8(d, &k, cp);
            break;
        }
        default:
            p->i -= 2;
            return fail(p, "bad escape in a string");
        }
    }
    d[k] = '\0';
    p->i = end + 1;
    *out = d;
    *outlen = k;
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *p, jv *v)
{
    const char *s = p->s;
    size_t n = p->n, i = p->i, start = p->i;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && is_digit(s[i]))
        while (i < n && is_digit(s[i]))
            i++;
    else
        return fail(p, "bad number");
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return fail(p, "bad number");
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return fail(p, "bad number");
        while (i < n && is_digit(s[i]))
            i++;
    }
    char *d = jv_arena_text(p->a, i - start + 1);
    if (!d)
        return fail(p, "out of memory");
    memcpy(d, s + start, i - start);
    d[i - start] = '\0';
    v->kind = JV_NUMBER;
    v->str = d;
    v->len = i - start;
    p->i = i;
    return 0;
}

static int parse_word(parser *p, const char *w, jv_kind kind, jv *v)
{
    size_t len = strlen(w);
    if (p->n - p->i < len || memcmp(p->s + p->i, w, len) != 0)
        return fail(p, "unexpected character");
    p->i += len;
    v->kind = kind;
    return 0;
}

/* A scalar, or the opening bracket of a container, at p->i into v. */
static int parse_start(parser *p, jv *v)
{
    switch (p->s[p->i]) {
    case '{': v->kind = JV_OBJECT; p->i++; return 0;
    case '[': v->kind = JV_ARRAY; p->i++; return 0;
    case '"':
        v->kind = JV_STRING;
        return parse_string(p, &v->str, &v->len);
    case 't': return parse_word(p, "true", JV_TRUE, v);
    case 'f': return parse_word(p, "false", JV_FALSE, v);
    case 'n': return parse_word(p, "null", JV_NULL, v);
    default:
        if (p->s[p->i] == '-' || is_digit(p->s[p->i]))
            return parse_number(p, v);
        return fail(p, "expected a value");
    }
}

jv *jv_parse(jv_arena *a, const char *s, size_t n, size_t *used, char *why,
             size_t whylen)
{
    parser p = {a, s, n, 0, why, whylen};
    jv *stack[JV_MAX_DEPTH];
    jv *tail[JV_MAX_DEPTH];   /* last child of each open container */
    size_t depth = 0;
    jv *root = NULL;
    if (whylen)
        why[0] = '\0';
    for (;;) {
        /* a value is expected (with its member name inside an object) */
        const char *key = NULL;
        size_t keylen;
        p.i = jv_skip_ws(s, n, p.i);
        if (depth && stack[depth - 1]->kind == JV_OBJECT) {
            if (p.i >= n || s[p.i] != '"') {
                fail(&p, "expected a member name");
                return NULL;
            }
            if (parse_string(&p, &key, &keylen) < 0)
                return NULL;
            p.i = jv_skip_ws(s, n, p.i);
            if (p.i >= n || s[p.i] != ':') {
                fail(&p, "expected ':'");
                return NULL;
            }
            p.i = jv_skip_ws(s, n, p.i + 1);
        }
        if (p.i >= n) {
            fail(&p, "unexpected end of input");
            return NULL;
        }
        jv *v = arena_alloc(a, sizeof *v);
        if (!v) {
            fail(&p, "out of memory");
            return NULL;
        }
        memset(v, 0, sizeof *v);
        v->key = key;
        if (parse_start(&p, v) < 0)
            return NULL;
        if (depth) {
            jv *parent = stack[depth - 1];
            if (tail[depth - 1])
                tail[depth - 1]->next = v;
            else
                parent->first = v;
            tail[depth - 1] = v;
            parent->count++;
        } else {
            root = v;
        }
        if (v->kind == JV_OBJECT || v->kind == JV_ARRAY) {
            char close = v->kind == JV_OBJECT ? '}' : ']';
            p.i = jv_skip_ws(s, n, p.i);
            if (p.i < n && s[p.i] == close) {
                p.i++;
            } else {
                if (depth == JV_MAX_DEPTH) {
                    fail(&p, "nested deeper than %d", JV_MAX_DEPTH);
                    return NULL;
                }
                stack[depth] = v;
                tail[depth] = NULL;
                depth++;
                continue;
            }
        }
        /* a value is complete: close what it completes */
        for (;;) {
            if (depth == 0) {
                *used = p.i;
                return root;
            }
            p.i = jv_skip_ws(s, n, p.i);
            jv *top = stack[depth - 1];
            char close = top->kind == JV_OBJECT ? '}' : ']';
            if (p.i < n && s[p.i] == ',') {
                p.i++;
                break;
            }
            if (p.i < n && s[p.i] == close) {
                p.i++;
                depth--;
                continue;
            }
            fail(&p, p.i < n ? "expected ',' or '%c'" : "unexpected end of "
                 "input (expected ',' or '%c')", close);
            return NULL;
        }
    }
}
