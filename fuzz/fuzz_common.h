/* fuzz_common.h -- what the pickle harnesses share: the flag byte, the
 * policies it selects, the limits presets, and a strict JSON checker.
 *
 * Harnesses keep process-wide state here (built-in policies loaded once,
 * /dev/null opened once): fuzzing runs millions of inputs per process and
 * none of this state depends on an input. The library itself keeps none.
 *
 * The flag byte (first input byte of decoder, scanner, diff, formats):
 *   bits 0-1  policy: 0 default, 1 strict, 2 ml, 3 ml + persistent ids
 *   bits 2-4  limits preset: 0 = the policy's own, 1..7 = small limits
 *   bits 5-7  max_json_bytes: 0 = the limits', k = 16 << (2k-2)
 *             (16, 64, 256, 1 KiB, 4 KiB, 16 KiB, 64 KiB)
 * A seed made from a corpus file is that file behind one flag byte.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickleguard.h"

#define CHECK(x)                                                              \
    do {                                                                      \
        if (!(x)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                    #x);                                                      \
            abort();                                                          \
        }                                                                     \
    } while (0)

static inline FILE *fz_devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    CHECK(f != NULL);
    return f;
}

/* The custom policy of flag value 3: ml plus persistent ids, so PERSID
 * paths of the decoder and scanner get exercised. */
static const char fz_persid_policy[] =
    "version: 1\n"
    "name: fuzz-ml-persid\n"
    "extends: ml\n"
    "persistent_ids: allow\n";

static inline const pkl_policy *fz_policy(unsigned flags)
{
    static pkl_policy *cache[4];
    static const char *const names[3] = {"default", "strict", "ml"};
    unsigned k = flags & 3u;
    if (!cache[k]) {
        pkl_error err;
        memset(&err, 0, sizeof err);
        if (k < 3)
            cache[k] = pkl_policy_builtin(names[k], NULL, &err);
        else
            cache[k] = pkl_policy_load_string(fz_persid_policy,
                                              sizeof fz_persid_policy - 1,
                                              NULL, NULL, &err);
        if (!cache[k]) {
            char msg[1024];
            fprintf(stderr, "fuzz: cannot load policy %u: %s\n", k,
                    pkl_error_format(&err, msg, sizeof msg));
            abort();
        }
    }
    return cache[k];
}

/* Fills *l from the flags; returns 0 when the policy's limits apply. */
static inline int fz_limits(unsigned flags, const pkl_policy *p, pkl_limits *l)
{
    static const size_t presets[8][4] = {
        /* depth, memo, values, bytes */
        {0, 0, 0, 0},
        {1, 1, 1, 1},
        {2, 2, 4, 64},
        {4, 8, 16, 256},
        {8, 16, 64, 1024},
        {16, 64, 256, 4096},
        {64, 4, 100000, 1u << 20},
        {1000, 100000, 20, 1u << 16},
    };
    unsigned k = (flags >> 2) & 7u;
    unsigned j = (flags >> 5) & 7u;
    pkl_policy_limits(p, l);
    if (k) {
        l->max_depth = presets[k][0];
        l->max_memo = presets[k][1];
        l->max_values = presets[k][2];
        l->max_bytes = presets[k][3];
    }
    if (j)
        l->max_json_bytes = (size_t)16 << (2 * (j - 1));
    return k != 0 || j != 0;
}

/* ---- strict JSON checker ---------------------------------------------
 * pickle-json must be one line of RFC 8259 JSON in valid UTF-8 (no raw
 * surrogates), ending with exactly one '\n'. Iterative: a stack of
 * container kinds, so a deep document cannot overflow the C stack. */

static inline size_t fz_utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4, cp = c & 0x07;
    else
        return 0;
    if (need > n)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0;
    return need;
}

/* Returns NULL if s[0..n) is one valid JSON line, else a reason. */
static inline const char *fz_json_check(const uint8_t *s, size_t n)
{
    uint8_t *stack = NULL; /* '{' or '[' */
    size_t depth = 0, cap = 0, i = 0;
    const char *why = NULL;
    /* states: 0 want value, 1 after value, 2 want key (after '{' or ',') */
    int state = 0, first = 0;

#define FAIL(r) do { why = (r); goto out; } while (0)
    if (n == 0 || s[n - 1] != '\n')
        FAIL("does not end with a newline");
    n--;
    while (i < n) {
        uint8_t c = s[i];
        if (c == ' ' || c == '\t' || c == '\r') {
            i++;
            continue;
        }
        if (c == '\n')
            FAIL("newline inside the document");
        if (state == 0 || state == 2) {
            if (state == 2 && c != '"' && !(first && c == '}'))
                FAIL("object key is not a string");
            if (c == '}' || c == ']') {
                if (!first || !depth || stack[depth - 1] != (c == '}' ? '{' : '['))
                    FAIL("unexpected close");
                depth--;
                i++;
                state = 1;
                first = 0;
                continue;
            }
            first = 0;
            if (c == '{' || c == '[') {
                if (depth == cap) {
                    size_t nc = cap ? 2 * cap : 64;
                    uint8_t *ns = realloc(stack, nc);
                    CHECK(ns != NULL);
                    stack = ns;
                    cap = nc;
                }
                stack[depth++] = c;
                i++;
                state = c == '{' ? 2 : 0;
                first = 1;
                continue;
            }
            if (c == '"') {
                i++;
                for (;;) {
                    if (i >= n)
                        FAIL("unterminated string");
                    c = s[i];
                    if (c == '"') {
                        i++;
                        break;
                    }
                    if (c < 0x20)
                        FAIL("raw control character in string");
                    if (c == '\\') {
                        if (i + 1 >= n)
                            FAIL("bad escape");
                        c = s[i + 1];
                        if (c == 'u') {
                            if (i + 6 > n)
                                FAIL("short \\u escape");
                            for (size_t k = 2; k < 6; k++) {
                                uint8_t h = s[i + k];
                                if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                                      (h >= 'A' && h <= 'F')))
                                    FAIL("bad \\u escape");
                            }
                            i += 6;
                        } else if (strchr("\"\\/bfnrt", c) && c) {
                            i += 2;
                        } else {
                            FAIL("bad escape");
                        }
                        continue;
                    }
                    size_t u = fz_utf8_len(s + i, n - i);
                    if (!u)
                        FAIL("invalid UTF-8 in string");
                    i += u;
                }
                if (depth && stack[depth - 1] == '{' && state == 2) {
                    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
                        i++;
                    if (i >= n || s[i] != ':')
                        FAIL("object key without ':'");
                    i++;
                    state = 0;
                    continue;
                }
                state = 1;
                continue;
            }
            if (c == '-' || (c >= '0' && c <= '9')) {
                if (c == '-')
                    i++;
                if (i >= n || s[i] < '0' || s[i] > '9')
                    FAIL("bad number");
                if (s[i] == '0')
                    i++;
                else
                    while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i < n && s[i] == '.') {
                    i++;
                    if (i >= n || s[i] < '0' || s[i] > '9')
                        FAIL("bad fraction");
                    while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                }
                if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                    i++;
                    if (i < n && (s[i] == '+' || s[i] == '-'))
                        i++;
                    if (i >= n || s[i] < '0' || s[i] > '9')
                        FAIL("bad exponent");
                    while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                }
                state = 1;
                continue;
            }
            if (n - i >= 4 && !memcmp(s + i, "true", 4))
                i += 4;
            else if (n - i >= 5 && !memcmp(s + i, "false", 5))
                i += 5;
            else if (n - i >= 4 && !memcmp(s + i, "null", 4))
                i += 4;
            else
                FAIL("unexpected character");
            state = 1;
            continue;
        }
        /* state 1: after a value */
        if (!depth)
            FAIL("text after the document");
        if (c == ',') {
            state = stack[depth - 1] == '{' ? 2 : 0;
            i++;
            continue;
        }
        if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            i++;
            continue;
        }
        FAIL("expected ',' or a close");
    }
    if (state != 1 || depth)
        FAIL("document incomplete");
out:
#undef FAIL
    free(stack);
    return why;
}

#endif /* FUZZ_COMMON_H */
