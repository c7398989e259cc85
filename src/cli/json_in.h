/* json_in.h -- a small strict JSON reader (RFC 8259) for the CLI's own
 * reports: `pickleguard report merge` reads what `scan --format json`
 * (and JSON Lines) wrote. Values live in an arena that is freed at once;
 * parsing is iterative with an explicit stack, so nesting is a limit
 * (JV_MAX_DEPTH), not a crash. */
#ifndef PKL_CLI_JSON_IN_H
#define PKL_CLI_JSON_IN_H

#include <stddef.h>

#define JV_MAX_DEPTH 64

typedef enum jv_kind {
    JV_NULL, JV_FALSE, JV_TRUE, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT
} jv_kind;

typedef struct jv {
    jv_kind kind;
    const char *key;     /* member name inside an object, else NULL */
    const char *str;     /* STRING: the unescaped text (never holds NUL);
                            NUMBER: the number's text as written */
    size_t len;          /* of str */
    struct jv *first;    /* ARRAY/OBJECT: first element or member */
    struct jv *next;     /* next sibling */
    size_t count;        /* ARRAY/OBJECT: elements or members */
} jv;

typedef struct jv_arena {
    struct jv_chunk *head;
} jv_arena;

/* Parses one JSON value at the start of s[0..n) (after optional white
 * space) into arena a. Returns it and sets *used to the offset just past
 * it, or returns NULL and writes why (with the offset) into why[0..whylen).
 * Strings holding \u0000 are refused (the reports are C strings). */
jv *jv_parse(jv_arena *a, const char *s, size_t n, size_t *used, char *why,
             size_t whylen);
/* size bytes of text (no alignment) in a, freed with it; NULL when out
 * of memory. */
char *jv_arena_text(jv_arena *a, size_t size);
/* Frees everything parsed into a; a is empty afterwards. */
void jv_arena_free(jv_arena *a);

/* Offset of the first byte at or after i that is not JSON white space. */
size_t jv_skip_ws(const char *s, size_t n, size_t i);
/* Member `key` of object o (the first one of that name), or NULL. */
const jv *jv_get(const jv *o, const char *key);

#endif
