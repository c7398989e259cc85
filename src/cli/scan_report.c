/* scan_report.c -- writes `pickleguard scan` results as text (one line per
 * finding, for CI logs), JSON ({"files": [...]}) or SARIF 2.1.0 (GitHub
 * code scanning). Streamed: each file is written as soon as it is handed
 * over, in order; the SARIF rule table is static, so nothing is held back.
 *
 * Must never: reorder files or findings, emit invalid JSON whatever bytes a
 * path or message holds, or drop a finding silently (dropped counts are in
 * the summary).
 */
#include "internal.h" /* the library's UTF-8 and JSON escaping */
#include "scan_report.h"

#include <stdlib.h>
#include <string.h>

#define TOOL_URI "https://github.com/pickleguard/pickleguard/blob/main/docs/rules.md"

/* Every rule the scanner emits: the library's table (src/rules.def;
 * docs/rules.md has the long form). */
#define NRULES pkl_rule_count()

static size_t rule_index(const char *id)
{
    int i = pkl_rule_find(id);
    return i < 0 ? NRULES : (size_t)i;
}

const char *scan_verdict_name(int verdict)
{
    switch (verdict) {
    case SCAN_CLEAN: return "clean";
    case SCAN_FINDINGS: return "findings";
    case SCAN_NOT_PICKLE: return "not-a-pickle";
    default: return "error";
    }
}

int scan_verdict(const pkl_scan_result *res)
{
    if (res->max_severity < 0)
        return SCAN_CLEAN;
    if (res->dropped == 0 && res->count > 0) {
        int only = 1;
        for (size_t i = 0; i < res->count; i++)
            if (strcmp(res->findings[i].rule, "not-a-pickle") != 0)
                only = 0;
        if (only)
            return SCAN_NOT_PICKLE;
    }
    return SCAN_FINDINGS;
}

/* ---- JSON text ------------------------------------------------------------ */

static void json_str(FILE *o, const char *str);

/* Length of the valid UTF-8 sequence at the NUL-terminated s (0 if
 * invalid): the library's decoder rules. */
static size_t utf8_len(const unsigned char *s)
{
    return pkli_utf8_seq(s, strnlen((const char *)s, 4), 0);
}

void scan_json_str(FILE *o, const char *str)
{
    json_str(o, str);
}

static void file_sink(void *o, const char *s, size_t n)
{
    fwrite(s, 1, n, o);
}

/* A JSON string; invalid UTF-8 bytes become U+FFFD (the library's JSON
 * escaping). */
static void json_str(FILE *o, const char *str)
{
    const char *s = str ? str : "";
    fputc('"', o);
    pkli_json_escape((const uint8_t *)s, strlen(s), 0, file_sink, o);
    fputc('"', o);
}

/* ---- options ------------------------------------------------------------------ */

int scan_format_parse(const char *v)
{
    static const struct { const char *name; int format; } fmts[] = {
        {"text", SCAN_FMT_TEXT}, {"json", SCAN_FMT_JSON},
        {"jsonl", SCAN_FMT_JSONL}, {"sarif", SCAN_FMT_SARIF},
    };
    for (size_t i = 0; v && i < sizeof fmts / sizeof fmts[0]; i++)
        if (strcmp(v, fmts[i].name) == 0)
            return fmts[i].format;
    return -1;
}

int scan_fail_on_parse(const char *v)
{
    if (v && strcmp(v, "none") == 0)
        return SCAN_FAIL_NONE;
    return pkl_severity_parse(v);
}

/* ---- text ------------------------------------------------------------------ */

void scan_put_name(FILE *o, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    while (*s) {
        unsigned char c = *s;
        size_t n = c >= 0x80 ? utf8_len(s) : 1;
        /* C1 controls (U+0080..U+009F, UTF-8 c2 80..c2 9f) act like ESC
         * sequences on some terminals */
        int c1 = n == 2 && c == 0xc2 && s[1] < 0xa0;
        if (c < 0x20 || c == 0x7f || c == '\\' || n == 0 || c1) {
            size_t k = c1 ? 2 : 1;
            for (size_t i = 0; i < k; i++)
                fprintf(o, "\\x%02x", s[i]);
            s += k;
        } else {
            fwrite(s, 1, n, o);
            s += n;
        }
    }
}

/* Prints s escaped as a name, with newlines (and the indentation after
 * them) as one space. */
static void put_flat(FILE *o, const char *s)
{
    char buf[600];
    while (*s) {
        size_t n = strcspn(s, "\n");
        if (n >= sizeof buf)
            n = sizeof buf - 1;
        memcpy(buf, s, n);
        buf[n] = '\0';
        scan_put_name(o, buf);
        s += n;
        if (*s == '\n') {
            fputc(' ', o);
            s++;
            while (*s == ' ')
                s++;
        }
    }
}

/* After a file's findings: the policy snippet that would allow its
 * non-allowed globals -- as YAML that can be pasted whole (comments
 * included) into a new policy file. Dangerous globals are never in it
 * (the scanner never reports them as global-not-allowed). */
static void text_snippet(FILE *o, const scan_file *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->res.count; i++) {
        const pkl_finding *x = &f->res.findings[i];
        if (strcmp(x->rule, "global-not-allowed") != 0 || !x->global[0])
            continue;
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(f->res.findings[k].rule, "global-not-allowed") == 0 &&
                  strcmp(f->res.findings[k].global, x->global) == 0;
        if (dup)
            continue;
        if (n++ == 0) {
            fputs("# ", o);
            scan_put_name(o, f->path);
            fputs(": only if this file is trusted and these globals are "
                  "plain data,\n"
                  "# save this as a policy file and scan with --policy FILE "
                  "(PyTorch/NumPy/joblib\n"
                  "# files: try --policy ml first; 'pickleguard policy "
                  "suggest FILE' writes one):\n"
                  "version: 1\nextends: default\nallow:\n", o);
        }
        fputs("  - ", o);
        scan_put_name(o, x->global);
        fputc('\n', o);
    }
}

static void text_file(scan_writer *w, const scan_file *f)
{
    FILE *o = w->out;
    if (f->verdict == SCAN_ERROR) {
        scan_put_name(o, f->path);
        fputs(": error: ", o);
        scan_put_name(o, f->error);
        fputc('\n', o);
        return;
    }
    int shown_gna = 0;
    for (size_t i = 0; i < f->res.count; i++) {
        const pkl_finding *x = &f->res.findings[i];
        if (w->quiet && x->severity < w->fail_on)
            continue;
        scan_put_name(o, f->path);
        if (x->path[0]) {
            fputc('!', o);
            scan_put_name(o, x->path);
        }
        fprintf(o, ":%zu: %s [%s] ", x->offset, pkl_severity_name(x->severity),
                x->rule);
        if (x->global[0]) {
            scan_put_name(o, x->global);
            fputs(": ", o);
        }
        put_flat(o, x->message);
        if (x->hint[0]) {
            fputs(" (fix: ", o);
            put_flat(o, x->hint);
            fputc(')', o);
        }
        fputc('\n', o);
        if (strcmp(x->rule, "global-not-allowed") == 0)
            shown_gna = 1;
    }
    if (shown_gna)
        text_snippet(o, f);
    if (f->res.dropped && !w->quiet) {
        scan_put_name(o, f->path);
        fprintf(o, ": %zu more findings not shown (limit reached)\n",
                f->res.dropped);
    }
}

/* ---- JSON -------------------------------------------------------------------- */

/* Non-zero when s is valid UTF-8 (json_str would keep it exactly). */
static int utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        size_t n = utf8_len(s);
        if (n == 0)
            return 0;
        s += n;
    }
    return 1;
}

static void json_file(scan_writer *w, const scan_file *f)
{
    FILE *o = w->out;
    if (w->format == SCAN_FMT_JSONL)
        fputc('{', o);
    else
        fputs(w->nresults++ ? ",\n  {" : "\n  {", o);
    fputs("\"path\": ", o);
    json_str(o, f->path);
    if (!utf8_valid(f->path)) {
        /* "path" has U+FFFD for the bytes that are not UTF-8; these are
         * the exact bytes */
        fputs(", \"path_hex\": \"", o);
        for (const unsigned char *p = (const unsigned char *)f->path; *p; p++)
            fprintf(o, "%02x", *p);
        fputc('"', o);
    }
    fputs(", \"verdict\": ", o);
    json_str(o, scan_verdict_name(f->verdict));
    if (f->verdict == SCAN_ERROR) {
        fputs(", \"error\": ", o);
        json_str(o, f->error);
    } else {
        fprintf(o, ", \"max_severity\": ");
        if (f->res.max_severity >= 0)
            json_str(o, pkl_severity_name(f->res.max_severity));
        else
            fputs("null", o);
        fprintf(o, ", \"pickles\": %zu, \"opcodes\": %zu, \"bytes_examined\": "
                   "%zu, \"dropped\": %zu",
                f->res.pickles, f->res.opcodes, f->res.bytes, f->res.dropped);
    }
    fputs(", \"findings\": [", o);
    for (size_t i = 0; f->verdict != SCAN_ERROR && i < f->res.count; i++) {
        const pkl_finding *x = &f->res.findings[i];
        if (w->format == SCAN_FMT_JSONL)
            fputs(i ? ", {" : "{", o);
        else
            fputs(i ? ",\n    {" : "\n    {", o);
        fputs("\"rule\": ", o);
        json_str(o, x->rule);
        fputs(", \"severity\": ", o);
        json_str(o, pkl_severity_name(x->severity));
        fprintf(o, ", \"offset\": %zu, \"opcode\": ", x->offset);
        if (x->opcode >= 0) {
            const pkl_opinfo *info = pkl_opinfo_get((unsigned)x->opcode);
            if (info)
                json_str(o, info->name);
            else {
                char b[16];
                snprintf(b, sizeof b, "0x%02x", (unsigned)x->opcode & 0xffu);
                json_str(o, b);
            }
        } else {
            fputs("null", o);
        }
        fputs(", \"global\": ", o);
        if (x->global[0])
            json_str(o, x->global);
        else
            fputs("null", o);
        fputs(", \"message\": ", o);
        json_str(o, x->message);
        fputs(", \"hint\": ", o);
        json_str(o, x->hint);
        fputs(", \"path\": ", o);
        json_str(o, x->path);
        fputc('}', o);
    }
    if (w->format == SCAN_FMT_JSONL) {
        fputs("]}\n", o);
        fflush(o);
    } else {
        fputs(f->res.count && f->verdict != SCAN_ERROR ? "\n  ]}" : "]}", o);
    }
}

/* ---- SARIF ------------------------------------------------------------------- */

static const char *sarif_level(int sev)
{
    return sev >= PKL_SEV_HIGH ? "error"
         : sev == PKL_SEV_MEDIUM ? "warning" : "note";
}

/* GitHub's security-severity scale: critical >= 9, high 7-8.9, medium 4-6.9,
 * low 0.1-3.9. */
static const char *security_severity(int sev)
{
    static const char *const v[] = {"1.0", "3.0", "5.0", "8.0", "9.5"};
    return sev >= 0 && sev <= PKL_SEV_CRITICAL ? v[sev] : "5.0";
}

/* A relative path as a URI reference (percent-encoded); absolute paths
 * become file:// URIs. */
static void sarif_uri(FILE *o, const char *path)
{
    fputc('"', o);
    const unsigned char *s = (const unsigned char *)path;
    if (*s == '/')
        fputs("file://", o);
    while (s[0] == '.' && s[1] == '/')
        s += 2;
    for (; *s; s++) {
        unsigned char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~' || c == '/')
            fputc(c, o);
        else
            fprintf(o, "%%%02X", c);
    }
    fputc('"', o);
}

static unsigned long long fnv64(unsigned long long h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

static void sarif_begin(scan_writer *w)
{
    FILE *o = w->out;
    fputs("{\n\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
          "\"version\": \"2.1.0\",\n"
          "\"runs\": [{\n"
          "\"tool\": {\"driver\": {\"name\": \"pickleguard\", ", o);
    fputs("\"version\": ", o);
    json_str(o, PKL_VERSION);
    fputs(", \"semanticVersion\": ", o);
    json_str(o, PKL_VERSION);
    fputs(", \"informationUri\": \"" TOOL_URI "\",\n\"rules\": [", o);
    for (size_t i = 0; i < NRULES; i++) {
        const pkl_rule_info *r = pkl_rule_get(i);
        fputs(i ? ",\n  {" : "\n  {", o);
        fputs("\"id\": ", o);
        json_str(o, r->id);
        fputs(", \"name\": ", o);
        json_str(o, r->id);
        fputs(", \"shortDescription\": {\"text\": ", o);
        json_str(o, r->title);
        fputs("}, \"fullDescription\": {\"text\": ", o);
        json_str(o, r->help);
        fputs("}, \"help\": {\"text\": ", o);
        json_str(o, r->help);
        fputs(", \"markdown\": ", o);
        json_str(o, r->help);
        fprintf(o, "}, \"helpUri\": \"" TOOL_URI "#%s\"", r->id);
        fprintf(o, ", \"defaultConfiguration\": {\"level\": \"%s\"}",
                sarif_level(r->severity));
        fprintf(o, ", \"properties\": {\"tags\": [\"security\", "
                   "\"pickle\"], \"precision\": \"high\", "
                   "\"problem.severity\": \"%s\", \"security-severity\": "
                   "\"%s\"}}",
                r->severity >= PKL_SEV_HIGH ? "error"
                : r->severity == PKL_SEV_MEDIUM ? "warning" : "recommendation",
                security_severity(r->severity));
    }
    fputs("\n]}},\n\"columnKind\": \"utf16CodeUnits\",\n\"results\": [", o);
}

static void sarif_file(scan_writer *w, const scan_file *f)
{
    FILE *o = w->out;
    if (f->verdict == SCAN_ERROR)
        return; /* reported in invocations */
    if (f->verdict == SCAN_NOT_PICKLE)
        return; /* not a pickle: nothing for code scanning to show */
    for (size_t i = 0; i < f->res.count; i++) {
        const pkl_finding *x = &f->res.findings[i];
        size_t ri = rule_index(x->rule);
        fputs(w->nresults++ ? ",\n  {" : "\n  {", o);
        fputs("\"ruleId\": ", o);
        json_str(o, x->rule);
        if (ri < NRULES)
            fprintf(o, ", \"ruleIndex\": %zu", ri);
        fprintf(o, ", \"level\": \"%s\"", sarif_level(x->severity));
        /* message: where (nested path, offset), what, how to fix */
        char head[700];
        snprintf(head, sizeof head, "%s%s%s at offset %zu: ",
                 pkl_severity_name(x->severity), x->path[0] ? " in " : "",
                 x->path, x->offset);
        size_t need = strlen(head) + strlen(x->global) + strlen(x->message) +
                      strlen(x->hint) + 32;
        char *msg = malloc(need);
        if (msg) {
            snprintf(msg, need, "%s%s%s%s%s%s%s", head, x->global,
                     x->global[0] ? ": " : "", x->message,
                     x->hint[0] ? " (fix: " : "", x->hint,
                     x->hint[0] ? ")" : "");
            fputs(", \"message\": {\"text\": ", o);
            json_str(o, msg);
            free(msg);
        } else {
            fputs(", \"message\": {\"text\": ", o);
            json_str(o, x->message);
        }
        fputs("}, \"locations\": [{\"physicalLocation\": {\"artifactLocation\": "
              "{\"uri\": ", o);
        sarif_uri(o, f->path);
        fprintf(o, "}, \"region\": {\"startLine\": 1, \"byteOffset\": %zu, "
                   "\"byteLength\": 1}}",
                x->path[0] ? (size_t)0 : x->offset);
        if (x->path[0]) {
            fputs(", \"message\": {\"text\": ", o);
            json_str(o, x->path);
            fputc('}', o);
        }
        fputs("}]", o);
        char off[32];
        snprintf(off, sizeof off, "%zu", x->offset);
        unsigned long long h = 14695981039346656037ull;
        h = fnv64(h, f->path);
        h = fnv64(h, x->path);
        h = fnv64(h, x->rule);
        h = fnv64(h, x->global);
        h = fnv64(h, off);
        fprintf(o, ", \"partialFingerprints\": {\"pickleguard/v1\": "
                   "\"%016llx\"}", h);
        fputs(", \"properties\": {\"severity\": ", o);
        json_str(o, pkl_severity_name(x->severity));
        fprintf(o, ", \"offset\": %zu, \"nestedPath\": ", x->offset);
        json_str(o, x->path);
        fputs(", \"global\": ", o);
        json_str(o, x->global);
        fputs("}}", o);
    }
}

/* ---- writer ------------------------------------------------------------------ */

void scan_writer_begin(scan_writer *w, FILE *out, int format,
                       const char *policy)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->format = format;
    w->policy = policy;
    if (format == SCAN_FMT_JSON)
        fputs("{\"files\": [", out);
    else if (format == SCAN_FMT_SARIF)
        sarif_begin(w);
}

void scan_writer_file(scan_writer *w, const scan_file *f)
{
    w->nfiles++;
    w->verdicts[f->verdict]++;
    if (f->verdict != SCAN_ERROR) {
        for (int s = 0; s <= PKL_SEV_CRITICAL; s++)
            w->by_severity[s] += f->res.by_severity[s];
        w->dropped += f->res.dropped;
    }
    switch (w->format) {
    case SCAN_FMT_JSON:
    case SCAN_FMT_JSONL: json_file(w, f); break;
    case SCAN_FMT_SARIF: sarif_file(w, f); break;
    default: text_file(w, f); break;
    }
}

void scan_writer_end(scan_writer *w)
{
    FILE *o = w->out;
    if (w->format == SCAN_FMT_TEXT && w->quiet) {
        return;
    } else if (w->format == SCAN_FMT_TEXT) {
        fprintf(o, "pickleguard scan: %zu file%s (policy %s): %zu clean, "
                   "%zu with findings, %zu not pickles, %zu errors; findings: "
                   "%zu critical, %zu high, %zu medium, %zu low, %zu info",
                w->nfiles, w->nfiles == 1 ? "" : "s",
                w->policy ? w->policy : "?", w->verdicts[SCAN_CLEAN],
                w->verdicts[SCAN_FINDINGS], w->verdicts[SCAN_NOT_PICKLE],
                w->verdicts[SCAN_ERROR], w->by_severity[PKL_SEV_CRITICAL],
                w->by_severity[PKL_SEV_HIGH], w->by_severity[PKL_SEV_MEDIUM],
                w->by_severity[PKL_SEV_LOW], w->by_severity[PKL_SEV_INFO]);
        if (w->dropped)
            fprintf(o, " (%zu not shown)", w->dropped);
        fputc('\n', o);
    } else if (w->format == SCAN_FMT_JSON || w->format == SCAN_FMT_JSONL) {
        if (w->format == SCAN_FMT_JSONL)
            fprintf(o, "{\"summary\": {\"files\": %zu, \"policy\": ",
                    w->nfiles);
        else
            fprintf(o, "%s],\n\"summary\": {\"files\": %zu, \"policy\": ",
                    w->nresults ? "\n" : "", w->nfiles);
        json_str(o, w->policy ? w->policy : "");
        fprintf(o, ", \"clean\": %zu, \"findings\": %zu, \"not-a-pickle\": %zu, "
                   "\"error\": %zu, \"critical\": %zu, \"high\": %zu, "
                   "\"medium\": %zu, \"low\": %zu, \"info\": %zu, "
                   "\"dropped\": %zu}}\n",
                w->verdicts[SCAN_CLEAN], w->verdicts[SCAN_FINDINGS],
                w->verdicts[SCAN_NOT_PICKLE], w->verdicts[SCAN_ERROR],
                w->by_severity[PKL_SEV_CRITICAL], w->by_severity[PKL_SEV_HIGH],
                w->by_severity[PKL_SEV_MEDIUM], w->by_severity[PKL_SEV_LOW],
                w->by_severity[PKL_SEV_INFO], w->dropped);
    } else {
        fprintf(o, "%s],\n\"invocations\": [{\"executionSuccessful\": %s}]\n"
                   "}]\n}\n",
                w->nresults ? "\n" : "",
                w->verdicts[SCAN_ERROR] ? "false" : "true");
    }
}
