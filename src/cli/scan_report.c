/* scan_report.c -- writes `pickleguard scan` results as text (one line per
 * finding, for CI logs), JSON ({"files": [...]}) or SARIF 2.1.0 (GitHub
 * code scanning). Streamed: each file is written as soon as it is handed
 * over, in order; the SARIF rule table is static, so nothing is held back.
 *
 * Must never: reorder files or findings, emit invalid JSON whatever bytes a
 * path or message holds, or drop a finding silently (dropped counts are in
 * the summary).
 */
#include "scan_report.h"

#include <stdlib.h>
#include <string.h>

#define TOOL_URI "https://github.com/pickleguard/pickleguard/blob/main/docs/rules.md"

/* Every rule the scanner emits (docs/rules.md has the long form). */
typedef struct rule_doc {
    const char *id;
    int severity;      /* usual severity */
    const char *title;
    const char *help;
} rule_doc;

static const rule_doc rules[] = {
    {"dangerous-global", PKL_SEV_CRITICAL,
     "References a known-dangerous global",
     "The pickle imports a global from the catalogue of known-dangerous "
     "globals (code execution, import machinery, attribute access by name, "
     "process/file/network/native access, nested deserializers, interpreter "
     "state). Loading it can run arbitrary code. Do not load the file; no "
     "policy can allow these globals."},
    {"dunder-traversal", PKL_SEV_CRITICAL,
     "Dotted global walks through an interpreter-internal attribute",
     "At protocol 4+ a global's name is walked attribute by attribute; a "
     "component such as __globals__, __builtins__ or __subclasses__ reaches "
     "interpreter internals. Do not load the file."},
    {"global-not-allowed", PKL_SEV_HIGH,
     "References a global the policy does not allow",
     "The pickle imports a global the policy does not allow. If the file is "
     "trusted and the global is a plain data class, add the suggested line "
     "to the policy's allow list."},
    {"bad-global-name", PKL_SEV_HIGH,
     "Global name no Python identifier path spells",
     "The module or name of a global is not a plain dotted identifier path "
     "at the protocol in force. No legitimate pickler writes it; do not "
     "load the file."},
    {"dynamic-global", PKL_SEV_HIGH,
     "STACK_GLOBAL with non-constant operands",
     "STACK_GLOBAL takes its module and name from values computed while "
     "loading, so what it imports cannot be known statically. Do not load "
     "the file."},
    {"ext-registry", PKL_SEV_HIGH,
     "Imports through the copyreg extension registry",
     "EXT1/EXT2/EXT4 import whatever global the loading process registered "
     "under a code. The scanner cannot know it; do not load the file."},
    {"call-on-call-result", PKL_SEV_HIGH,
     "Calls the result of a call",
     "REDUCE/NEWOBJ/OBJ call a value that is itself the result of a call "
     "(for example getattr(...)(...)). pickle.dumps never writes this."},
    {"call-on-unknown", PKL_SEV_HIGH,
     "Calls a value the scanner cannot identify",
     "A call whose target comes from a persistent id, an extension code or "
     "a value past a scan limit. Review the file by hand."},
    {"build-on-global", PKL_SEV_HIGH,
     "BUILD sets state on a class or module",
     "BUILD on a global sets attributes on the class or module itself, for "
     "the whole process. Do not load the file."},
    {"mutate-global", PKL_SEV_HIGH,
     "Adds items to a global object",
     "APPEND(S)/SETITEM(S)/ADDITEMS on a global call its methods and change "
     "process-wide state. Do not load the file."},
    {"mutate-persid", PKL_SEV_HIGH,
     "Adds items to or builds a persistent-id object",
     "APPEND(S)/SETITEM(S)/ADDITEMS/BUILD on what persistent_load returned "
     "call methods of an application object. pickle.dumps never writes "
     "this. Do not load the file."},
    {"frame-crossing", PKL_SEV_HIGH,
     "Opcode crosses a FRAME boundary",
     "An opcode (or a new FRAME) runs past the end of the current frame. "
     "CPython's two unpicklers read this differently; pickle.dumps never "
     "writes it."},
    {"nested-unscanned", PKL_SEV_HIGH,
     "Nested pickle not scanned",
     "A known deserializer is called with a constant that was not scanned "
     "(too deep or too long). Review the file by hand."},
    {"unparsed-global", PKL_SEV_HIGH,
     "Dangerous-looking global in bytes that could not be parsed",
     "Bytes the scanner could not parse contain GLOBAL-style text or string "
     "operands naming a catalogue entry. Another reader may execute them; "
     "do not load the file."},
    {"malformed", PKL_SEV_MEDIUM,
     "Malformed pickle",
     "The stream breaks a structural rule (stack underflow, missing MARK, "
     "unknown memo key, bad argument) where CPython's unpickler stops with "
     "an error. The file is damaged or crafted."},
    {"truncated", PKL_SEV_MEDIUM,
     "Truncated pickle",
     "The stream ends inside an opcode or before STOP. The remaining bytes "
     "were only searched for global names."},
    {"unknown-opcode", PKL_SEV_MEDIUM,
     "Unknown opcode",
     "A byte that is no pickle opcode; the bytes after it were not "
     "examined as opcodes, only searched for global names."},
    {"trailing-bytes", PKL_SEV_MEDIUM,
     "Bytes after STOP that are not a pickle",
     "pickle.loads ignores them, but a reader that continues after STOP "
     "would not. Remove them."},
    {"lost-value", PKL_SEV_HIGH,
     "Uses a value the scanner did not keep",
     "A memoized value past the memo limit (or text past the text limit) "
     "is used where what it was matters: as a STACK_GLOBAL operand, or as "
     "the target of BUILD or of added items. Review the file by hand."},
    {"scan-limit", PKL_SEV_MEDIUM,
     "Scanner tracking limit reached",
     "The scanner keeps its memory bounded; past a limit (stack entries, "
     "marks, distinct globals) its analysis is no longer exact. Review the "
     "file by hand."},
    {"container-damaged", PKL_SEV_MEDIUM,
     "Damaged container",
     "A zip, compressed stream or database holding pickles is damaged; "
     "what could be read was scanned (docs/formats.md)."},
    {"container-truncated", PKL_SEV_MEDIUM,
     "Truncated container member",
     "A container or one of its members ends early; the bytes present were "
     "scanned."},
    {"container-trailing", PKL_SEV_MEDIUM,
     "Unexpected bytes in a container",
     "Bytes in a container that belong to no member or stream."},
    {"container-unsupported", PKL_SEV_MEDIUM,
     "Unsupported container or data",
     "A file or member in no known format that is no pickle either."},
    {"container-limit", PKL_SEV_MEDIUM,
     "Container limit reached",
     "Nesting, decompressed size or member count over a limit: the rest "
     "was not scanned."},
    {"container-error", PKL_SEV_MEDIUM,
     "Container could not be read",
     "A container member could not be read."},
    {"persistent-id", PKL_SEV_LOW,
     "Uses persistent ids",
     "PERSID/BINPERSID hand an id to the loader's persistent_load, which "
     "decides what object it becomes. Not reported when the policy allows "
     "persistent ids."},
    {"inst-obj", PKL_SEV_INFO,
     "Uses INST or OBJ",
     "Old-style object creation that Python 3's pickle.dumps does not "
     "write. The class and the call are checked like any other."},
    {"proto-mismatch", PKL_SEV_INFO,
     "Protocol 2+ opcode without PROTO",
     "A pickle with no PROTO opcode (protocol 0/1 style) uses an opcode "
     "of protocol 2 or later, which pickle.dumps never writes."},
    {"proto-switch", PKL_SEV_INFO,
     "PROTO in the middle of a pickle",
     "Changes how later global names resolve (Python 2 renames below 3, "
     "dotted names from 4)."},
    {"stack-not-empty", PKL_SEV_MEDIUM,
     "STOP leaves values behind",
     "Values or MARKs left on the stack at STOP. CPython's unpickler "
     "ignores them, pickletools.dis rejects them, pickle.dumps never writes "
     "them: the file is damaged or crafted."},
    {"memo-limit", PKL_SEV_INFO,
     "Memo limit reached",
     "More memoized values than the scanner keeps (524288): later ones are "
     "kept by kind only. A use that depends on what was not kept is a "
     "lost-value finding."},
    {"oob-buffer", PKL_SEV_INFO,
     "Out-of-band buffers",
     "NEXT_BUFFER takes protocol 5 out-of-band buffers from the loader."},
    {"not-a-pickle", PKL_SEV_INFO,
     "Not a pickle",
     "A file found in a directory (or a nested payload) whose first opcode "
     "fails: pickle.load fails before doing anything. Files named on the "
     "command line get a medium finding instead."},
};
#define NRULES (sizeof rules / sizeof rules[0])

static size_t rule_index(const char *id)
{
    for (size_t i = 0; i < NRULES; i++)
        if (strcmp(rules[i].id, id) == 0)
            return i;
    return NRULES;
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

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string; invalid UTF-8 bytes become U+FFFD. */
static void json_str(FILE *o, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    fputc('"', o);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', o);
            fputc(c, o);
            s++;
        } else if (c == '\n') {
            fputs("\\n", o);
            s++;
        } else if (c == '\t') {
            fputs("\\t", o);
            s++;
        } else if (c == '\r') {
            fputs("\\r", o);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(o, "\\u%04x", c);
            s++;
        } else if (c < 0x80) {
            fputc(c, o);
            s++;
        } else {
            size_t n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", o);
                s++;
            } else {
                fwrite(s, 1, n, o);
                s += n;
            }
        }
    }
    fputc('"', o);
}

/* ---- text ------------------------------------------------------------------ */

/* Prints s with newlines (and the indentation after them) as one space. */
static void put_flat(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            fputc(' ', o);
            while (s[1] == ' ')
                s++;
        } else if ((unsigned char)*s < 0x20) {
            fputc('?', o);
        } else {
            fputc(*s, o);
        }
    }
}

static void text_file(scan_writer *w, const scan_file *f)
{
    FILE *o = w->out;
    if (f->verdict == SCAN_ERROR) {
        fprintf(o, "%s: error: %s\n", f->path, f->error);
        return;
    }
    for (size_t i = 0; i < f->res.count; i++) {
        const pkl_finding *x = &f->res.findings[i];
        fputs(f->path, o);
        if (x->path[0]) {
            fputc('!', o);
            fputs(x->path, o);
        }
        fprintf(o, ":%zu: %s [%s] ", x->offset, pkl_severity_name(x->severity),
                x->rule);
        if (x->global[0])
            fprintf(o, "%s: ", x->global);
        put_flat(o, x->message);
        if (x->hint[0]) {
            fputs(" (fix: ", o);
            put_flat(o, x->hint);
            fputc(')', o);
        }
        fputc('\n', o);
    }
    if (f->res.dropped)
        fprintf(o, "%s: %zu more findings not shown (limit reached)\n",
                f->path, f->res.dropped);
}

/* ---- JSON -------------------------------------------------------------------- */

static void json_file(scan_writer *w, const scan_file *f)
{
    FILE *o = w->out;
    fputs(w->nresults++ ? ",\n  {" : "\n  {", o);
    fputs("\"path\": ", o);
    json_str(o, f->path);
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
    fputs(f->res.count && f->verdict != SCAN_ERROR ? "\n  ]}" : "]}", o);
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
        const rule_doc *r = &rules[i];
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
    case SCAN_FMT_JSON: json_file(w, f); break;
    case SCAN_FMT_SARIF: sarif_file(w, f); break;
    default: text_file(w, f); break;
    }
}

void scan_writer_end(scan_writer *w)
{
    FILE *o = w->out;
    if (w->format == SCAN_FMT_TEXT) {
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
    } else if (w->format == SCAN_FMT_JSON) {
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
