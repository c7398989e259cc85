/* policy.c -- YAML policy files: which resolved globals a pickle may use,
 * whether persistent ids are allowed, and the decoder's limits.
 *
 * A policy is read with libyaml (the only file that includes <yaml.h>),
 * validated strictly (unknown keys, wrong types, duplicate keys, bad names
 * and extends cycles are errors with file:line:column), merged with what it
 * extends, and frozen into sorted arrays so pkl_policy_check costs two or
 * four binary searches: the scanner calls it for every global.
 *
 * Matching (docs/policy.md): an entry `a.b.C` matches the global whose
 * module + "." + qualname is exactly "a.b.C"; an entry `a.b.*` matches
 * when exactly one more component follows "a.b." (never a dot). Deny
 * wins over allow, inherited entries included; no match means denied.
 *
 * Must never: keep global state, print, or allocate outside the caller's
 * pkl_allocator (libyaml allocates its own parse tree with malloc; that
 * tree is always deleted before returning). extends is followed by bounded
 * recursion: at most PKL_POLICY_MAX_EXTENDS levels and PKL_POLICY_MAX_LOADS
 * files per policy, so a hostile chain cannot exhaust the C stack. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define PKL_POLICY_MAX_EXTENDS 8        /* extends chain depth */
#define PKL_POLICY_MAX_LOADS 64         /* files loaded for one policy */
#define PKL_POLICY_MAX_FILE (1u << 20)  /* bytes of one policy file */
#define PKL_POLICY_NAME_MAX 128         /* bytes of the `name:` value */
/* libyaml's scanner spends time proportional to the open flow levels on
 * every token, so 100,000 nested '[' took close to a minute: the events of
 * each file are counted before it is loaded, and the count stops at the
 * first event past either bound (SECURITY.md). A policy is a flat mapping
 * of lists; 64 levels and 100,000 events (a name is one) are far beyond
 * any real one. */
#define PKL_POLICY_MAX_NESTING 64       /* open sequences/mappings */
#define PKL_POLICY_MAX_EVENTS 100000u   /* YAML events in one file */
#define PATTERN_MAX (2 * PKL_NAME_MAX + 1)

typedef struct strvec {
    char **v;
    size_t len, cap;
} strvec;

struct pkl_policy {
    pkl_allocator alloc;
    char *name;
    char *description;
    char *origin;
    strvec allow_exact, allow_prefix; /* prefixes stored without ".*" */
    strvec deny_exact, deny_prefix;
    strvec dangerous;   /* allow_dangerous entries as written (".*" kept),
                           also in allow_exact/allow_prefix */
    int allow_persid;
    pkl_limits limits;
};

/* ---- small helpers ------------------------------------------------------- */

static char *dup_n(const pkl_allocator *a, const char *s, size_t n)
{
    char *d = pkli_malloc(a, n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int strvec_push(const pkl_allocator *a, strvec *sv, const char *s,
                       size_t n)
{
    if (sv->len == sv->cap &&
        pkli_grow(a, (void **)&sv->v, &sv->cap, sv->len + 1, sizeof(char *)) < 0)
        return -1;
    char *d = dup_n(a, s, n);
    if (!d)
        return -1;
    sv->v[sv->len++] = d;
    return 0;
}

static void strvec_free(const pkl_allocator *a, strvec *sv)
{
    for (size_t i = 0; i < sv->len; i++)
        pkli_free(a, sv->v[i]);
    pkli_free(a, sv->v);
    sv->v = NULL;
    sv->len = sv->cap = 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void strvec_sort_unique(const pkl_allocator *a, strvec *sv)
{
    if (sv->len < 2)
        return;
    qsort(sv->v, sv->len, sizeof(char *), cmp_str);
    size_t o = 1;
    for (size_t i = 1; i < sv->len; i++) {
        if (strcmp(sv->v[i], sv->v[o - 1]) == 0)
            pkli_free(a, sv->v[i]);
        else
            sv->v[o++] = sv->v[i];
    }
    sv->len = o;
}

static int strvec_has(const strvec *sv, const char *s, size_t n)
{
    size_t lo = 0, hi = sv->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = sv->v[mid];
        int c = strncmp(s, e, n);
        if (c == 0 && e[n] != '\0')
            c = -1; /* e is longer: s sorts first */
        if (c == 0)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* ---- limits ---------------------------------------------------------------- */

void pkl_limits_default(pkl_limits *l)
{
    if (!l)
        return;
    l->max_depth = 1000;
    l->max_memo = 10000000;
    l->max_values = 100000000;
    l->max_bytes = (size_t)2 << 30;
#if SIZE_MAX > 0xffffffffu
    l->max_json_bytes = (size_t)4 << 30;
#else
    l->max_json_bytes = SIZE_MAX; /* 32-bit: as much as can be addressed */
#endif
}

static const char *const limit_keys[] = {
    "max_depth", "max_memo", "max_values", "max_bytes", "max_json_bytes"
};
#define NLIMITS (sizeof limit_keys / sizeof limit_keys[0])

static size_t *limit_field(pkl_limits *l, size_t i)
{
    switch (i) {
    case 0: return &l->max_depth;
    case 1: return &l->max_memo;
    case 2: return &l->max_values;
    case 3: return &l->max_bytes;
    default: return &l->max_json_bytes;
    }
}

/* Parses "123", "64KiB", "1 GiB" (KiB/MiB/GiB/TiB are powers of 1024).
 * Returns NULL and *out, or a static reason. */
static const char *parse_size(const char *s, size_t n, size_t *out)
{
    size_t i = 0;
    if (n && (s[0] == '-' || s[0] == '+'))
        return s[0] == '-' ? "must be a positive integer (0 or negative is not "
                             "allowed; there is no \"unlimited\")"
                           : "must be written without a sign";
    if (n == 0 || s[0] < '0' || s[0] > '9')
        return "must be a positive integer, optionally with a KiB, MiB, GiB or "
               "TiB suffix";
    uint64_t v = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return "is too large";
        v = v * 10 + d;
    }
    unsigned shift = 0;
    if (i < n) {
        size_t j = i;
        if (s[j] == ' ')
            j++;
        if (n - j == 3 && s[j + 1] == 'i' && s[j + 2] == 'B') {
            switch (s[j]) {
            case 'K': shift = 10; break;
            case 'M': shift = 20; break;
            case 'G': shift = 30; break;
            case 'T': shift = 40; break;
            default: break;
            }
        }
        if (!shift)
            return "must be a positive integer, optionally with a KiB, MiB, "
                   "GiB or TiB suffix";
    }
    if (v == 0)
        return "must be a positive integer (0 is not allowed; there is no "
               "\"unlimited\")";
    if (shift && v > (UINT64_MAX >> shift))
        return "is too large";
    v <<= shift;
    if (v > SIZE_MAX)
        return "is too large for this platform";
    *out = (size_t)v;
    return NULL;
}

/* ---- name patterns ----------------------------------------------------------- */

static int id_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int id_char(unsigned char c)
{
    return id_start(c) || (c >= '0' && c <= '9');
}

/* Validates an allow/deny entry. Sets *star when it ends in ".*".
 * Returns NULL or a static reason. */
static const char *check_pattern(const char *s, size_t n, int *star)
{
    *star = 0;
    if (n == 0)
        return "is empty";
    if (n > PATTERN_MAX)
        return "is longer than a module and a qualname can be";
    size_t start = 0, comps = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (i == start)
            return "has an empty component (two dots, or a leading or "
                   "trailing dot)";
        comps++;
        if (i - start == 1 && s[start] == '*') {
            if (i != n)
                return "may use '*' only as its last component";
            *star = 1;
        } else {
            if (!id_start((unsigned char)s[start]))
                return "has a component that is not an ASCII identifier "
                       "([A-Za-z_][A-Za-z0-9_]*)";
            for (size_t j = start + 1; j < i; j++)
                if (!id_char((unsigned char)s[j]))
                    return s[j] == '*'
                               ? "may use '*' only as a whole last component "
                                 "(no partial wildcards)"
                               : "has a component that is not an ASCII "
                                 "identifier ([A-Za-z_][A-Za-z0-9_]*)";
        }
        start = i + 1;
    }
    if (comps < 2)
        return "needs a module and a name (e.g. collections.OrderedDict)";
    return NULL;
}

/* ---- loading ------------------------------------------------------------------ */

typedef struct chain_link {
    const char *label;      /* for messages */
    const char *builtin;    /* built-in name, or NULL for a file */
    int has_id;
    dev_t dev;
    ino_t ino;
} chain_link;

typedef struct loader {
    pkl_policy *p;
    const pkl_allocator *a;
    pkl_error *err;
    chain_link chain[PKL_POLICY_MAX_EXTENDS + 2];
    size_t depth;           /* links in chain */
    size_t loads;
} loader;

/* Fills *err with code, 1-based line/column from a libyaml mark, and the
 * detail "ORIGIN:LINE:COLUMN: message". */
static void perr(loader *L, int code, const char *origin, yaml_mark_t mark,
                 const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static void perr(loader *L, int code, const char *origin, yaml_mark_t mark,
                 const char *fmt, ...)
{
    pkl_error *err = L->err;
    if (!err)
        return;
    pkli_error_set(err, code, 0, -1);
    err->line = (unsigned)mark.line + 1;
    err->column = (unsigned)mark.column + 1;
    int n = snprintf(err->detail, sizeof err->detail, "%s:%u:%u: ", origin,
                     err->line, err->column);
    if (n < 0 || (size_t)n >= sizeof err->detail)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail + n, sizeof err->detail - (size_t)n, fmt, ap);
    va_end(ap);
}

static void nomem(loader *L)
{
    pkli_error_set(L->err, PKL_E_NOMEM, 0, -1);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* Up to 60 bytes of a scalar, with control bytes and quotes replaced, for
 * messages. */
static const char *show(const yaml_node_t *n, char *buf, size_t size)
{
    size_t o = 0, len = n->data.scalar.length, shown = len;
    const unsigned char *s = n->data.scalar.value;
    if (shown > 60) {
        shown = 60; /* cut on a character boundary: libyaml checked UTF-8 */
        while (shown > 0 && (s[shown] & 0xc0) == 0x80)
            shown--;
    }
    for (size_t i = 0; i < shown && o + 2 < size; i++)
        buf[o++] = (s[i] < 0x20 || s[i] == 0x7f || s[i] == '\'') ? '?' : (char)s[i];
    if (shown < len && o + 4 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static int is_plain_empty(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0 &&
           n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int load_text(loader *L, const char *text, size_t len,
                     const char *origin, const char *base_path,
                     const char *builtin, int top);

/* Reads a whole file through the allocator (at most PKL_POLICY_MAX_FILE).
 * For the top-level file (from == NULL) failures are PKL_E_POLICY_NOT_FOUND
 * (no such file) or PKL_E_IO with "PATH: why"; for a file named by an
 * extends entry they are policy errors at that entry (5xx with
 * FROM:LINE:COLUMN), since the fix belongs in the extending file. */
static int read_file(loader *L, const char *path, char **out, size_t *outlen,
                     const char *from, yaml_mark_t mark)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int e = 0, too_big = 0, irregular = 0;
    FILE *f = NULL;
    /* O_NONBLOCK: a FIFO named as a policy must not block in open; the
     * opened descriptor must be a regular file (a FIFO, a device such as
     * /dev/zero or a directory is refused with EINVAL/EISDIR) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        e = fd < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        irregular = fd >= 0 && e == EINVAL;
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    f = fdopen(fd, "rb");
    if (!f) {
        e = errno;
        close(fd);
        goto fail;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= PKL_POLICY_MAX_FILE + 1) {
                too_big = 1;
                goto fail;
            }
            if (pkli_grow(L->a, (void **)&buf, &cap,
                          cap ? cap * 2 : 4096, 1) < 0) {
                nomem(L);
                goto fail_quiet;
            }
            if (cap > PKL_POLICY_MAX_FILE + 1)
                cap = PKL_POLICY_MAX_FILE + 1;
        }
        errno = 0;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                e = errno ? errno : EIO;
                goto fail;
            }
            break;
        }
    }
    if (len > PKL_POLICY_MAX_FILE) {
        too_big = 1;
        goto fail;
    }
    fclose(f);
    *out = buf;
    *outlen = len;
    return 0;
fail:
    if (too_big && from)
        perr(L, PKL_E_POLICY_SCHEMA, from, mark,
             "extended policy '%s' is larger than %u bytes", path,
             PKL_POLICY_MAX_FILE);
    else if (too_big)
        pkli_error_setf(L->err, PKL_E_IO, 0, -1,
                        "%s: policy file larger than %u bytes", path,
                        PKL_POLICY_MAX_FILE);
    else if (from)
        perr(L, PKL_E_POLICY_NOT_FOUND, from, mark,
             "cannot read extended policy '%s': %s", path,
             irregular ? "not a regular file" : strerror(e));
    else
        pkli_error_setf(L->err, e == ENOENT ? PKL_E_POLICY_NOT_FOUND : PKL_E_IO,
                        0, -1, "%s: %s", path,
                        irregular ? "not a regular file (FIFOs and devices "
                                    "are refused as policies)" : strerror(e));
fail_quiet:
    if (f)
        fclose(f);
    pkli_free(L->a, buf);
    return -1;
}

static const pkli_embedded *find_builtin(const char *name, size_t n)
{
    for (const pkli_embedded *e = pkli_builtin_policies; e->name; e++)
        if (strlen(e->name) == n && memcmp(e->name, name, n) == 0)
            return e;
    return NULL;
}

/* A reference names a file when it contains '/' or ends in .yaml/.yml. */
static int looks_like_path(const char *s, size_t n)
{
    if (memchr(s, '/', n))
        return 1;
    if (n >= 5 && memcmp(s + n - 5, ".yaml", 5) == 0)
        return 1;
    if (n >= 4 && memcmp(s + n - 4, ".yml", 4) == 0)
        return 1;
    return 0;
}

static void builtin_list(char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (const pkli_embedded *e = pkli_builtin_policies; e->name; e++) {
        int n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", e->name);
        if (n < 0 || (size_t)n >= size - o)
            break;
        o += (size_t)n;
    }
}

/* Loads one policy the chain leads to: a built-in or a file. `from` and
 * `mark` locate the extends entry (from == NULL for the top level). */
static int load_ref(loader *L, const char *ref, size_t reflen,
                    const char *base_origin, const char *from,
                    yaml_mark_t mark, int top)
{
    char path[4096];
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    const pkli_embedded *bi = NULL;
    chain_link link;
    memset(&link, 0, sizeof link);

    if (memchr(ref, '\0', reflen)) {
        perr(L, PKL_E_POLICY_SCHEMA, from, mark,
             "extends entry contains a NUL byte");
        return -1;
    }
    if (!looks_like_path(ref, reflen))
        bi = find_builtin(ref, reflen);
    if (bi) {
        link.builtin = bi->name;
        snprintf(path, sizeof path, "builtin:%s", bi->filename);
    } else {
        /* A file, relative to the directory of the file that extends it. */
        if (ref[0] != '/' && !base_origin) {
            perr(L, PKL_E_POLICY_NOT_FOUND, from, mark,
                 "no built-in policy named '%.*s' (a relative path needs a "
                 "policy loaded from a file)",
                 (int)(reflen > 100 ? 100 : reflen), ref);
            return -1;
        }
        const char *slash = base_origin ? strrchr(base_origin, '/') : NULL;
        int n;
        if (ref[0] == '/' || !slash)
            n = snprintf(path, sizeof path, "%.*s", (int)reflen, ref);
        else
            n = snprintf(path, sizeof path, "%.*s/%.*s",
                         (int)(slash - base_origin), base_origin, (int)reflen,
                         ref);
        if (n < 0 || (size_t)n >= sizeof path) {
            perr(L, PKL_E_POLICY_SCHEMA, from, mark, "extends path too long");
            return -1;
        }
        struct stat st;
        if (stat(path, &st) != 0) {
            char names[128];
            builtin_list(names, sizeof names);
            perr(L, PKL_E_POLICY_NOT_FOUND, from, mark,
                 "extends '%.*s': no such built-in policy (%s) or file '%s'",
                 (int)(reflen > 100 ? 100 : reflen), ref, names, path);
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            /* a directory fails to read, a FIFO would block forever */
            perr(L, PKL_E_POLICY_NOT_FOUND, from, mark,
                 "extends '%.*s': '%s' is not a regular file",
                 (int)(reflen > 100 ? 100 : reflen), ref, path);
            return -1;
        }
        link.has_id = 1;
        link.dev = st.st_dev;
        link.ino = st.st_ino;
    }
    link.label = path;

    /* Cycle: the same built-in or the same file (device, inode) already on
     * the chain from the top policy to here. */
    for (size_t i = 0; i < L->depth; i++) {
        const chain_link *c = &L->chain[i];
        int same = (link.builtin && c->builtin &&
                    strcmp(link.builtin, c->builtin) == 0) ||
                   (link.has_id && c->has_id && c->dev == link.dev &&
                    c->ino == link.ino);
        if (!same)
            continue;
        char msg[400];
        size_t o = 0;
        msg[0] = '\0';
        for (size_t j = i; j < L->depth && o < sizeof msg; j++) {
            int n = snprintf(msg + o, sizeof msg - o, "%s -> ",
                             L->chain[j].label);
            if (n < 0)
                break;
            o += (size_t)n;
        }
        perr(L, PKL_E_POLICY_CYCLE, from, mark, "extends cycle: %s%s", msg,
             path);
        return -1;
    }
    if (L->depth > PKL_POLICY_MAX_EXTENDS) {
        perr(L, PKL_E_POLICY_CYCLE, from, mark,
             "extends chain deeper than %d policies",
             PKL_POLICY_MAX_EXTENDS);
        return -1;
    }
    if (++L->loads > PKL_POLICY_MAX_LOADS) {
        perr(L, PKL_E_POLICY_CYCLE, from, mark,
             "more than %d policy files loaded through extends",
             PKL_POLICY_MAX_LOADS);
        return -1;
    }

    if (!bi && read_file(L, path, &text, &len, from, mark) < 0)
        return -1;
    L->chain[L->depth++] = link;
    if (bi)
        rc = load_text(L, bi->text, bi->len, path, NULL, bi->name, top);
    else
        rc = load_text(L, text, len, path, path, NULL, top);
    L->depth--;
    pkli_free(L->a, text);
    return rc;
}

enum {
    K_VERSION, K_NAME, K_DESCRIPTION, K_EXTENDS, K_ALLOW, K_DENY, K_PERSID,
    K_LIMITS, K_ALLOW_DANGEROUS, K_COUNT
};
static const char *const top_keys[K_COUNT] = {
    "version", "name", "description", "extends", "allow", "deny",
    "persistent_ids", "limits", "allow_dangerous"
};

/* ---- the catalogue of known-dangerous globals (catalogue.def) ------------
 * An `allow` entry that lets a catalogue global through is an error
 * (PKL_E_POLICY_DANGEROUS): the scanner rates such globals critical
 * whatever the policy says, but the decoder does what the policy says. A
 * policy that really means it lists the entry under `allow_dangerous`. */
static const struct { const char *pattern, *reason; } dangerous[] = {
#define CAT(pattern, category, reason) {pattern, reason},
#include "catalogue.def"
#undef CAT
#undef CAT_EXCEPT
#undef DUNDER
};

/* Exact names a wider catalogue entry covers that only rebuild data
 * (CAT_EXCEPT): the scanner does not rate them, so an exact `allow` entry
 * for one is no dangerous allow. NULL-terminated. */
static const char *const dangerous_excepts[] = {
#define CAT_EXCEPT(name, reason) name,
#include "catalogue.def"
#undef CAT
#undef CAT_EXCEPT
#undef DUNDER
    NULL
};

/* Components of a dotted name: count, and the i-th (start, length). */
static size_t comp_count(const char *s, size_t n)
{
    size_t c = n ? 1 : 0;
    for (size_t i = 0; i < n; i++)
        c += s[i] == '.';
    return c;
}


/* The catalogue entry an allow entry lets through, or -1. Exact entries
 * are matched as the scanner matches a resolved global (the pattern
 * against the name and against every dotted tail of it); `A.*` lets
 * through every A.x, so it hits a pattern that matches A itself or has
 * exactly one component more than A. */
static int dangerous_hit(const char *s, size_t n, int star)
{
    size_t nd = sizeof dangerous / sizeof dangerous[0];
    for (size_t k = 0; !star && dangerous_excepts[k]; k++)
        if (strlen(dangerous_excepts[k]) == n && memcmp(dangerous_excepts[k], s, n) == 0)
            return -1;
    /* the dotted tails of s (where each starts, how many components it
     * has) once per entry, not once per catalogue pattern; a pattern is
     * only counted and matched against a tail whose first byte it could
     * match (a literal first component, or '*'): one policy load used to
     * cost about 30 million instructions (issue 19) */
    size_t at[PATTERN_MAX + 1], tcs[PATTERN_MAX + 1], nt = 0;
    size_t tc = comp_count(s, n);
    for (size_t i = 0; i < n && nt <= PATTERN_MAX; i++) {
        if (i > 0 && s[i - 1] != '.')
            continue;
        at[nt] = i;
        tcs[nt++] = tc--;
    }
    for (size_t k = 0; k < nd; k++) {
        const char *p = dangerous[k].pattern;
        size_t pc = 0;
        for (size_t j = 0; j < nt; j++) {
            size_t i = at[j], tn = n - i;
            if (p[0] != '*' && p[0] != s[i])
                continue;
            if (!pc)
                pc = comp_count(p, strlen(p));
            if (pc <= tcs[j] && pkli_name_pattern_match(p, s + i, tn))
                return (int)k;
            if (star && pc == tcs[j] + 1) {
                /* the pattern's first tc components against A's, and
                 * its last against the '*' (anything) */
                const char *last = strrchr(p, '.');
                char head[PATTERN_MAX + 1];
                size_t hl = (size_t)(last - p);
                if (hl <= PATTERN_MAX) {
                    memcpy(head, p, hl);
                    head[hl] = '\0';
                    if (pkli_name_pattern_match(head, s + i, tn))
                        return (int)k;
                }
            }
        }
    }
    return -1;
}

/* Appends each entry of an allow/deny list to the policy. deny: 0 allow,
 * 1 deny, 2 allow_dangerous. */
static int load_names(loader *L, yaml_document_t *doc, yaml_node_t *seq,
                      const char *origin, const char *key, int deny)
{
    char shown[80];
    if (seq->type != YAML_SEQUENCE_NODE) {
        perr(L, PKL_E_POLICY_SCHEMA, origin, seq->start_mark,
             "'%s' must be a list of names, not %s (use [] for none)", key,
             is_plain_empty(seq) ? "empty" : node_kind(seq));
        return -1;
    }
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *n = yaml_document_get_node(doc, *it);
        if (!n)
            continue;
        if (n->type != YAML_SCALAR_NODE) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, n->start_mark,
                 "'%s' entries must be names, not %s", key, node_kind(n));
            return -1;
        }
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        int star;
        const char *why = check_pattern(s, len, &star);
        if (!why && memchr(s, '\0', len))
            why = "contains a NUL byte";
        if (why) {
            perr(L, PKL_E_POLICY_NAME, origin, n->start_mark,
                 "'%s' entry '%s' %s", key, show(n, shown, sizeof shown), why);
            return -1;
        }
        int hit = deny == 1 ? -1 : dangerous_hit(s, star ? len - 2 : len, star);
        if (deny == 0 && hit >= 0) {
            perr(L, PKL_E_POLICY_DANGEROUS, origin, n->start_mark,
                 "'allow' entry '%s' lets through the known-dangerous global "
                 "'%s' (%s): loading would be allowed to call it. Remove it; "
                 "if you really mean it, list it under 'allow_dangerous' "
                 "instead", show(n, shown, sizeof shown),
                 dangerous[hit].pattern, dangerous[hit].reason);
            return -1;
        }
        if (deny == 2 && strvec_push(L->a, &L->p->dangerous, s, len) < 0) {
            nomem(L);
            return -1;
        }
        strvec *sv = deny == 1 ? (star ? &L->p->deny_prefix : &L->p->deny_exact)
                               : (star ? &L->p->allow_prefix : &L->p->allow_exact);
        if (strvec_push(L->a, sv, s, star ? len - 2 : len) < 0) {
            nomem(L);
            return -1;
        }
    }
    return 0;
}

static int load_limits(loader *L, yaml_document_t *doc, yaml_node_t *map,
                       const char *origin, pkl_limits *lim, unsigned *set)
{
    char shown[80];
    if (map->type != YAML_MAPPING_NODE) {
        perr(L, PKL_E_POLICY_SCHEMA, origin, map->start_mark,
             "'limits' must be a mapping, not %s",
             is_plain_empty(map) ? "empty" : node_kind(map));
        return -1;
    }
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(doc, pr->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, k->start_mark,
                 "limit names must be scalars, not %s", node_kind(k));
            return -1;
        }
        size_t i;
        for (i = 0; i < NLIMITS; i++)
            if (scalar_is(k, limit_keys[i]))
                break;
        if (i == NLIMITS) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, k->start_mark,
                 "unknown limit '%s' (known: max_depth, max_memo, max_values, "
                 "max_bytes, max_json_bytes)",
                 show(k, shown, sizeof shown));
            return -1;
        }
        if (*set & (1u << i)) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, k->start_mark,
                 "duplicate limit '%s'", limit_keys[i]);
            return -1;
        }
        *set |= 1u << i;
        if (v->type != YAML_SCALAR_NODE ||
            v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, v->start_mark,
                 "limit '%s' must be an unquoted integer or size, not %s",
                 limit_keys[i],
                 v->type == YAML_SCALAR_NODE ? "a quoted string"
                                             : node_kind(v));
            return -1;
        }
        const char *why = parse_size((const char *)v->data.scalar.value,
                                     v->data.scalar.length,
                                     limit_field(lim, i));
        if (why) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, v->start_mark,
                 "limit '%s' value '%s' %s", limit_keys[i],
                 show(v, shown, sizeof shown), why);
            return -1;
        }
    }
    return 0;
}

/* Reports a libyaml failure. Reader errors (bad UTF-8, control
 * characters such as NUL) carry only a byte offset, so the line and column
 * (in characters, as libyaml counts them) are computed from the text. */
static void yaml_error(loader *L, const yaml_parser_t *parser,
                       const char *text, size_t len, const char *origin)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        nomem(L);
        return;
    }
    yaml_mark_t m = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR) {
        size_t off = parser->problem_offset < len ? parser->problem_offset : len;
        m.index = off;
        m.line = 0;
        m.column = 0;
        for (size_t i = 0; i < off; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c == '\n') {
                m.line++;
                m.column = 0;
            } else if ((c & 0xc0) != 0x80) {
                m.column++;
            }
        }
    }
    perr(L, PKL_E_POLICY_SYNTAX, origin, m, "%s%s%s",
         parser->problem ? parser->problem : "YAML error",
         parser->context ? " " : "", parser->context ? parser->context : "");
}

/* Counts the events of text with libyaml's event parser, stopping at the
 * first one past PKL_POLICY_MAX_NESTING or PKL_POLICY_MAX_EVENTS. Syntax
 * errors are left to yaml_parser_load, which reports them. */
static int yaml_bounds(loader *L, const char *text, size_t len,
                       const char *origin)
{
    yaml_parser_t p;
    yaml_event_t ev;
    size_t depth = 0, events = 0;
    int rc = 0;
    if (!yaml_parser_initialize(&p)) {
        nomem(L);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete(&ev);
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT)
            depth++;
        else if ((t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) && depth)
            depth--;
        if (depth > PKL_POLICY_MAX_NESTING) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, m,
                 "nested deeper than %d levels (a policy is a mapping of "
                 "lists)", PKL_POLICY_MAX_NESTING);
            rc = -1;
            break;
        }
        if (++events > PKL_POLICY_MAX_EVENTS) {
            perr(L, PKL_E_POLICY_SCHEMA, origin, m,
                 "more than %u YAML events", PKL_POLICY_MAX_EVENTS);
            rc = -1;
            break;
        }
        if (t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

/* Parses one policy document, follows its extends (its parents are merged
 * first), then applies its own settings over theirs. */
/* A value for a message: a scalar quoted ('text', cut as show() cuts
 * it), anything else by its kind. */
static const char *show_value(const yaml_node_t *v, char *buf, size_t size)
{
    if (v->type != YAML_SCALAR_NODE)
        return node_kind(v);
    char inner[80];
    snprintf(buf, size, "'%s'", show(v, inner, sizeof inner));
    return buf;
}

/* ---- one policy text, step by step ------------------------------------------
 * load_text runs the steps below in order; each checks one part of the
 * document and returns 0, or -1 with the error reported, through
 * RETURN_PERR_IF (zstd's RETURN_ERROR_IF): the condition, then the policy
 * error to report at a YAML mark. */
#define RETURN_PERR_IF(cond, L, code, origin, mark, ...)                      \
    do {                                                                      \
        if (cond) {                                                           \
            perr((L), (code), (origin), (mark), __VA_ARGS__);                 \
            return -1;                                                        \
        }                                                                     \
    } while (0)

/* The document being loaded and its top-level keys. */
typedef struct ptext {
    loader *L;
    const char *origin;
    yaml_document_t doc;
    yaml_node_t *root;
    yaml_node_t *knode[K_COUNT], *vnode[K_COUNT];
} ptext;

/* Parses exactly one YAML document whose root is a mapping. */
static int parse_document(ptext *t, yaml_parser_t *parser, const char *text,
                          size_t len, int *have_doc)
{
    loader *L = t->L;
    yaml_document_t extra;
    yaml_mark_t start = {0, 0, 0};
    if (!yaml_parser_load(parser, &t->doc)) {
        yaml_error(L, parser, text, len, t->origin);
        return -1;
    }
    *have_doc = 1;
    t->root = yaml_document_get_root_node(&t->doc);
    RETURN_PERR_IF(!t->root, L, PKL_E_POLICY_SCHEMA, t->origin, start,
                   "empty policy: expected a mapping with at least "
                   "'version: 1'");
    /* A second document would be silently ignored by a lazy reader. */
    if (!yaml_parser_load(parser, &extra)) {
        yaml_error(L, parser, text, len, t->origin);
        return -1;
    }
    yaml_node_t *r2 = yaml_document_get_root_node(&extra);
    yaml_mark_t m2 = r2 ? extra.start_mark : start;
    yaml_document_delete(&extra);
    RETURN_PERR_IF(r2, L, PKL_E_POLICY_SCHEMA, t->origin, m2,
                   "a policy file holds exactly one YAML document");
    RETURN_PERR_IF(t->root->type != YAML_MAPPING_NODE, L, PKL_E_POLICY_SCHEMA,
                   t->origin, t->root->start_mark,
                   "a policy must be a mapping (version, allow, deny, ...), "
                   "not %s", node_kind(t->root));
    return 0;
}

/* Finds each known top-level key once; unknown and repeated keys are
 * errors. */
static int collect_keys(ptext *t)
{
    char shown[80];
    yaml_node_t *root = t->root;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
         pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&t->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&t->doc, pr->value);
        if (!k || !v)
            continue;
        RETURN_PERR_IF(k->type != YAML_SCALAR_NODE, t->L, PKL_E_POLICY_SCHEMA,
                       t->origin, k->start_mark, "keys must be scalars, not %s",
                       node_kind(k));
        int i;
        for (i = 0; i < K_COUNT; i++)
            if (scalar_is(k, top_keys[i]))
                break;
        RETURN_PERR_IF(i == K_COUNT, t->L, PKL_E_POLICY_SCHEMA, t->origin,
                       k->start_mark,
                       "unknown key '%s' (known: version, name, description, "
                       "extends, allow, deny, persistent_ids, limits, "
                       "allow_dangerous)", show(k, shown, sizeof shown));
        RETURN_PERR_IF(t->knode[i], t->L, PKL_E_POLICY_SCHEMA, t->origin,
                       k->start_mark, "duplicate key '%s' (first at line %lu)",
                       top_keys[i],
                       (unsigned long)t->knode[i]->start_mark.line + 1);
        t->knode[i] = k;
        t->vnode[i] = v;
    }
    return 0;
}

/* 'version: 1', required and unquoted. */
static int check_version(ptext *t)
{
    char shown[84];
    yaml_node_t *v = t->vnode[K_VERSION];
    RETURN_PERR_IF(!v, t->L, PKL_E_POLICY_SCHEMA, t->origin,
                   t->root->start_mark,
                   "missing required key 'version' (write 'version: 1')");
    RETURN_PERR_IF(scalar_is(v, "1") &&
                       v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE,
                   t->L, PKL_E_POLICY_SCHEMA, t->origin, v->start_mark,
                   "'version' must be the number 1, not a quoted string");
    RETURN_PERR_IF(!scalar_is(v, "1"), t->L, PKL_E_POLICY_SCHEMA, t->origin,
                   v->start_mark,
                   "unsupported version %s (only 'version: 1' is defined)",
                   show_value(v, shown, sizeof shown));
    return 0;
}

/* 'name' and 'description' are strings without NUL; a name is 1 to
 * PKL_POLICY_NAME_MAX bytes without control characters; persistent_ids
 * is allow or deny. */
static int check_scalars(ptext *t)
{
    char shown[84];
    for (int i = K_NAME; i <= K_DESCRIPTION; i++) {
        yaml_node_t *v = t->vnode[i];
        if (!v)
            continue;
        RETURN_PERR_IF(v->type != YAML_SCALAR_NODE, t->L, PKL_E_POLICY_SCHEMA,
                       t->origin, v->start_mark, "'%s' must be a string, not %s",
                       top_keys[i], node_kind(v));
        RETURN_PERR_IF(memchr(v->data.scalar.value, '\0', v->data.scalar.length),
                       t->L, PKL_E_POLICY_SCHEMA, t->origin, v->start_mark,
                       "'%s' contains a NUL byte", top_keys[i]);
    }
    yaml_node_t *v = t->vnode[K_NAME];
    if (v) {
        size_t n = v->data.scalar.length;
        int bad = n == 0 || n > PKL_POLICY_NAME_MAX;
        for (size_t j = 0; j < n && !bad; j++)
            if (v->data.scalar.value[j] < 0x20 || v->data.scalar.value[j] == 0x7f)
                bad = 1;
        RETURN_PERR_IF(bad, t->L, PKL_E_POLICY_SCHEMA, t->origin, v->start_mark,
                       "'name' must be 1 to %d bytes without control "
                       "characters", PKL_POLICY_NAME_MAX);
    }
    v = t->vnode[K_PERSID];
    RETURN_PERR_IF(v && !scalar_is(v, "allow") && !scalar_is(v, "deny"), t->L,
                   PKL_E_POLICY_SCHEMA, t->origin, v->start_mark,
                   "'persistent_ids' must be 'allow' or 'deny', not %s",
                   show_value(v, shown, sizeof shown));
    return 0;
}

/* Loads every policy named by 'extends' (parents first, so that this
 * file's scalars override theirs). A built-in may only extend built-ins:
 * it has no directory. */
static int load_extends(ptext *t, const char *base_path, const char *builtin)
{
    yaml_node_t *v = t->vnode[K_EXTENDS];
    size_t count = 0;
    if (!v)
        return 0;
    RETURN_PERR_IF(v->type != YAML_SCALAR_NODE &&
                       v->type != YAML_SEQUENCE_NODE,
                   t->L, PKL_E_POLICY_SCHEMA, t->origin, v->start_mark,
                   "'extends' must be a policy name or path, or a list of "
                   "them, not %s", node_kind(v));
    count = v->type == YAML_SCALAR_NODE
                ? 1
                : (size_t)(v->data.sequence.items.top -
                           v->data.sequence.items.start);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *e = v->type == YAML_SCALAR_NODE
                             ? v
                             : yaml_document_get_node(
                                   &t->doc, v->data.sequence.items.start[i]);
        if (!e)
            continue;
        RETURN_PERR_IF(e->type != YAML_SCALAR_NODE || e->data.scalar.length == 0,
                       t->L, PKL_E_POLICY_SCHEMA, t->origin, e->start_mark,
                       "'extends' entries must be policy names or paths, "
                       "not %s",
                       e->type == YAML_SCALAR_NODE ? "empty" : node_kind(e));
        if (load_ref(t->L, (const char *)e->data.scalar.value,
                     e->data.scalar.length, builtin ? NULL : base_path,
                     t->origin, e->start_mark, 0) < 0)
            return -1;
    }
    return 0;
}

/* The top-level file's name (its 'name', else the built-in's name, else
 * where it came from), origin and description. */
static int set_identity(ptext *t, const char *builtin)
{
    loader *L = t->L;
    yaml_node_t *name = t->vnode[K_NAME], *desc = t->vnode[K_DESCRIPTION];
    const char *nm = builtin ? builtin : t->origin;
    size_t nl = strlen(nm);
    if (name) {
        nm = (const char *)name->data.scalar.value;
        nl = name->data.scalar.length;
    }
    L->p->name = dup_n(L->a, nm, nl);
    L->p->origin = dup_n(L->a, t->origin, strlen(t->origin));
    if (desc)
        L->p->description = dup_n(L->a, (const char *)desc->data.scalar.value,
                                  desc->data.scalar.length);
    if (!L->p->name || !L->p->origin || (desc && !L->p->description)) {
        nomem(L);
        return -1;
    }
    return 0;
}

/* Loads one policy text into L->p: the document is checked whole, its
 * name lists added, its parents loaded, then its scalars applied over
 * theirs. `top`: the file the caller named (its identity is kept). */
static int load_text(loader *L, const char *text, size_t len,
                     const char *origin, const char *base_path,
                     const char *builtin, int top)
{
    yaml_parser_t parser;
    ptext t;
    int have_doc = 0, rc = -1;
    pkl_limits lim;
    unsigned lim_set = 0;

    memset(&t, 0, sizeof t);
    t.L = L;
    t.origin = origin;
    pkl_limits_default(&lim);
    if (yaml_bounds(L, text, len, origin) < 0)
        return -1;
    if (!yaml_parser_initialize(&parser)) {
        nomem(L);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_node_t **v = t.vnode;
    if (parse_document(&t, &parser, text, len, &have_doc) < 0 ||
        collect_keys(&t) < 0 || check_version(&t) < 0 ||
        check_scalars(&t) < 0 ||
        (v[K_LIMITS] &&
         load_limits(L, &t.doc, v[K_LIMITS], origin, &lim, &lim_set) < 0) ||
        (v[K_ALLOW] &&
         load_names(L, &t.doc, v[K_ALLOW], origin, "allow", 0) < 0) ||
        (v[K_DENY] && load_names(L, &t.doc, v[K_DENY], origin, "deny", 1) < 0) ||
        (v[K_ALLOW_DANGEROUS] &&
         load_names(L, &t.doc, v[K_ALLOW_DANGEROUS], origin,
                    "allow_dangerous", 2) < 0) ||
        load_extends(&t, base_path, builtin) < 0)
        goto fail;
    if (v[K_PERSID])
        L->p->allow_persid = scalar_is(v[K_PERSID], "allow");
    for (size_t i = 0; i < NLIMITS; i++)
        if (lim_set & (1u << i))
            *limit_field(&L->p->limits, i) = *limit_field(&lim, i);
    if (top && set_identity(&t, builtin) < 0)
        goto fail;
    rc = 0;
fail:
    if (have_doc)
        yaml_document_delete(&t.doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- public API ------------------------------------------------------------------ */

void pkl_policy_free(pkl_policy *p)
{
    if (!p)
        return;
    pkl_allocator a = p->alloc;
    strvec_free(&a, &p->allow_exact);
    strvec_free(&a, &p->allow_prefix);
    strvec_free(&a, &p->deny_exact);
    strvec_free(&a, &p->dangerous);
    strvec_free(&a, &p->deny_prefix);
    pkli_free(&a, p->name);
    pkli_free(&a, p->description);
    pkli_free(&a, p->origin);
    pkli_free(&a, p);
}

static pkl_policy *policy_new(const pkl_allocator *alloc, loader *L,
                              pkl_error *err)
{
    pkl_allocator a;
    pkli_alloc_init(&a, alloc);
    pkl_policy *p = pkli_malloc(&a, sizeof *p);
    if (!p) {
        pkli_error_set(err, PKL_E_NOMEM, 0, -1);
        return NULL;
    }
    memset(p, 0, sizeof *p);
    p->alloc = a;
    pkl_limits_default(&p->limits);
    memset(L, 0, sizeof *L);
    L->p = p;
    L->a = &p->alloc;
    L->err = err;
    return p;
}

/* Sorts the merged lists, or frees the policy when loading failed. */
static pkl_policy *policy_finish(pkl_policy *p, int rc, pkl_error *err)
{
    if (rc < 0) {
        pkl_policy_free(p);
        return NULL;
    }
    strvec_sort_unique(&p->alloc, &p->allow_exact);
    strvec_sort_unique(&p->alloc, &p->allow_prefix);
    strvec_sort_unique(&p->alloc, &p->deny_exact);
    strvec_sort_unique(&p->alloc, &p->deny_prefix);
    strvec_sort_unique(&p->alloc, &p->dangerous);
    pkli_error_clear(err);
    return p;
}

pkl_policy *pkl_policy_builtin(const char *name, const pkl_allocator *alloc,
                               pkl_error *err)
{
    char label[256];
    loader L;
    if (!name) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_policy_builtin: NULL name");
        return NULL;
    }
    const pkli_embedded *bi = find_builtin(name, strlen(name));
    if (!bi) {
        char names[128];
        builtin_list(names, sizeof names);
        pkli_error_setf(err, PKL_E_POLICY_NOT_FOUND, 0, -1,
                        "no built-in policy named '%.100s' (built-ins: %s)",
                        name, names);
        return NULL;
    }
    pkl_policy *p = policy_new(alloc, &L, err);
    if (!p)
        return NULL;
    snprintf(label, sizeof label, "builtin:%s", bi->filename);
    L.chain[0].label = label;
    L.chain[0].builtin = bi->name;
    L.depth = 1;
    L.loads = 1;
    int rc = load_text(&L, bi->text, bi->len, label, NULL, bi->name, 1);
    return policy_finish(p, rc, err);
}

/* Loads the text of the policy the caller named, from `path` (NULL: no
 * file; relative extends then resolve against the current directory). The
 * file's identity heads the extends chain, so a file extending itself is
 * a cycle. */
static int load_top(loader *L, const char *text, size_t len,
                    const char *label, const char *path)
{
    struct stat st;
    L->chain[0].label = label;
    if (path && stat(path, &st) == 0) {
        L->chain[0].has_id = 1;
        L->chain[0].dev = st.st_dev;
        L->chain[0].ino = st.st_ino;
    }
    L->depth = 1;
    L->loads = 1;
    return load_text(L, text, len, label, path, NULL, 1);
}

pkl_policy *pkl_policy_load_string(const char *yaml, size_t len,
                                   const char *origin,
                                   const pkl_allocator *alloc, pkl_error *err)
{
    loader L;
    if (!yaml && len) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_policy_load_string: NULL text");
        return NULL;
    }
    pkl_policy *p = policy_new(alloc, &L, err);
    if (!p)
        return NULL;
    int rc = load_top(&L, yaml ? yaml : "", len,
                      origin ? origin : "<string>", origin);
    return policy_finish(p, rc, err);
}

pkl_policy *pkl_policy_load_file(const char *path, const pkl_allocator *alloc,
                                 pkl_error *err)
{
    loader L;
    char *text = NULL;
    size_t len = 0;
    yaml_mark_t none = {0, 0, 0};
    if (!path) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_policy_load_file: NULL path");
        return NULL;
    }
    pkl_policy *p = policy_new(alloc, &L, err);
    if (!p)
        return NULL;
    int rc = read_file(&L, path, &text, &len, NULL, none);
    if (rc == 0)
        rc = load_top(&L, text, len, path, path);
    pkli_free(&p->alloc, text);
    return policy_finish(p, rc, err);
}

pkl_policy *pkl_policy_open(const char *name_or_path, const pkl_allocator *alloc,
                            pkl_error *err)
{
    if (!name_or_path) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_policy_open: NULL name");
        return NULL;
    }
    size_t n = strlen(name_or_path);
    /* '/' or a .yaml/.yml suffix: always a path. Otherwise a built-in name
     * wins over a file of the same name in the current directory, so
     * `--policy default` cannot be hijacked by a stray file. */
    if (!looks_like_path(name_or_path, n)) {
        if (find_builtin(name_or_path, n))
            return pkl_policy_builtin(name_or_path, alloc, err);
        struct stat st;
        if (stat(name_or_path, &st) != 0) {
            char names[128];
            builtin_list(names, sizeof names);
            pkli_error_setf(err, PKL_E_POLICY_NOT_FOUND, 0, -1,
                            "no built-in policy (%s) or file named '%.200s'",
                            names, name_or_path);
            return NULL;
        }
    }
    return pkl_policy_load_file(name_or_path, alloc, err);
}

const char *pkl_policy_name(const pkl_policy *p)
{
    return p && p->name ? p->name : "(none)";
}

pkl_verdict pkl_policy_check(const pkl_policy *p, const pkl_global *g)
{
    char full[2 * PKL_NAME_MAX + 2];
    if (!p || !g)
        return PKL_DENIED;
    size_t ml = strnlen(g->module, sizeof g->module);
    size_t ql = strnlen(g->qualname, sizeof g->qualname);
    if (ml == 0 || ql == 0 || ml > PKL_NAME_MAX || ql > PKL_NAME_MAX)
        return PKL_DENIED;
    memcpy(full, g->module, ml);
    full[ml] = '.';
    memcpy(full + ml + 1, g->qualname, ql);
    size_t n = ml + 1 + ql;
    full[n] = '\0';
    /* `prefix.*` matches when the prefix is everything before the last dot:
     * exactly one component follows it. */
    const char *last = strrchr(full, '.');
    size_t plen = (size_t)(last - full);
    if (strvec_has(&p->deny_exact, full, n) ||
        strvec_has(&p->deny_prefix, full, plen))
        return PKL_DENIED_EXPLICIT;
    if (strvec_has(&p->allow_exact, full, n) ||
        strvec_has(&p->allow_prefix, full, plen))
        return PKL_ALLOWED;
    return PKL_DENIED;
}

int pkl_policy_allows_persid(const pkl_policy *p)
{
    return p ? p->allow_persid : 0;
}

void pkl_policy_limits(const pkl_policy *p, pkl_limits *out)
{
    if (!out)
        return;
    if (p)
        *out = p->limits;
    else
        pkl_limits_default(out);
}

char *pkl_policy_suggest(const pkl_global *g, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    if (!g) {
        buf[0] = '\0';
        return buf;
    }
    snprintf(buf, size, "allow:\n  - %.*s.%.*s", PKL_NAME_MAX, g->module,
             PKL_NAME_MAX, g->qualname);
    return buf;
}

/* Writes s (valid UTF-8: libyaml checked it) as a YAML double-quoted
 * scalar in plain ASCII. Non-ASCII is escaped too, because libyaml folds
 * raw NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR like newlines inside
 * quotes, and the output must load back to the same text. */
static void write_quoted(FILE *out, const char *s)
{
    const unsigned char *c = (const unsigned char *)s;
    size_t n = strlen(s);
    fputc('"', out);
    for (size_t i = 0; i < n;) {
        unsigned char b = c[i];
        if (b >= 0x80) {
            uint32_t cp;
            size_t k = pkli_utf8_decode(c + i, n - i, &cp);
            if (k == 0)
                k = 1; /* cannot happen for libyaml-checked text */
            if (cp > 0xffff)
                fprintf(out, "\\U%08lx", (unsigned long)cp);
            else
                fprintf(out, "\\u%04lx", (unsigned long)cp);
            i += k;
            continue;
        }
        if (b == '"' || b == '\\')
            fprintf(out, "\\%c", b);
        else if (b == '\n')
            fputs("\\n", out);
        else if (b == '\t')
            fputs("\\t", out);
        else if (b < 0x20 || b == 0x7f)
            fprintf(out, "\\x%02x", b);
        else
            fputc(b, out);
        i++;
    }
    fputc('"', out);
}

static int in_dangerous(const strvec *d, const char *s, int star)
{
    size_t n = strlen(s);
    for (size_t k = 0; d && k < d->len; k++) {
        size_t dl = strlen(d->v[k]);
        if (star ? (dl == n + 2 && strncmp(d->v[k], s, n) == 0 &&
                    strcmp(d->v[k] + n, ".*") == 0)
                 : strcmp(d->v[k], s) == 0)
            return 1;
    }
    return 0;
}

/* Writes the allow or deny list; entries in `skip` (allow_dangerous,
 * written under their own key) are left out. */
static void write_list(FILE *out, const char *key, const strvec *exact,
                       const strvec *prefix, const strvec *skip)
{
    /* Merge the two sorted lists so the output reads alphabetically. */
    size_t shown = 0;
    size_t i = 0, j = 0;
    while (i < exact->len || j < prefix->len) {
        int take_exact = j >= prefix->len ||
                         (i < exact->len && strcmp(exact->v[i], prefix->v[j]) <= 0);
        const char *e = take_exact ? exact->v[i++] : prefix->v[j++];
        if (in_dangerous(skip, e, !take_exact))
            continue;
        if (shown++ == 0)
            fprintf(out, "%s:\n", key);
        fprintf(out, "  - %s%s\n", e, take_exact ? "" : ".*");
    }
    if (shown == 0)
        fprintf(out, "%s: []\n", key);
}

int pkl_policy_write(const pkl_policy *p, FILE *out)
{
    if (!p || !out)
        return -1;
    fprintf(out, "# resolved policy (extends applied) from %s\n", p->origin);
    fputs("version: 1\n", out);
    fputs("name: ", out);
    write_quoted(out, p->name);
    fputc('\n', out);
    if (p->description) {
        fputs("description: ", out);
        write_quoted(out, p->description);
        fputc('\n', out);
    }
    write_list(out, "allow", &p->allow_exact, &p->allow_prefix, &p->dangerous);
    write_list(out, "deny", &p->deny_exact, &p->deny_prefix, NULL);
    if (p->dangerous.len) {
        fputs("allow_dangerous:\n", out);
        for (size_t k = 0; k < p->dangerous.len; k++)
            fprintf(out, "  - %s\n", p->dangerous.v[k]);
    }
    fprintf(out, "persistent_ids: %s\n", p->allow_persid ? "allow" : "deny");
    fputs("limits:\n", out);
    for (size_t i = 0; i < NLIMITS; i++)
        fprintf(out, "  %s: %zu\n", limit_keys[i],
                *limit_field((pkl_limits *)&p->limits, i));
    return ferror(out) ? -1 : 0;
}
