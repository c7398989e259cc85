/* scan_report.h -- writers for `pickleguard scan` results: text (CI logs),
 * JSON and SARIF 2.1.0. Output is streamed one file at a time, in the
 * order the files were given, so memory does not grow with the number of
 * files. Only writes to the FILE * it is given. */
#ifndef PKL_SCAN_REPORT_H
#define PKL_SCAN_REPORT_H

#include <stdio.h>
#include "pickleguard.h"

/* Verdict of one file (docs/rules.md "Verdicts"). */
enum {
    SCAN_CLEAN = 0,       /* every byte examined, no finding */
    SCAN_FINDINGS,        /* at least one finding */
    SCAN_NOT_PICKLE,      /* only `not-a-pickle`: pickle.load fails at once */
    SCAN_ERROR            /* the file could not be read (exit status 2) */
};

enum { SCAN_FMT_TEXT, SCAN_FMT_JSON, SCAN_FMT_SARIF, SCAN_FMT_JSONL };

typedef struct scan_file {
    const char *path;        /* as given or found in a directory */
    int verdict;             /* SCAN_* */
    const char *error;       /* SCAN_ERROR: why */
    pkl_scan_result res;
} scan_file;

/* "clean", "findings", "not-a-pickle", "error". */
const char *scan_verdict_name(int verdict);
/* Verdict from a finished result. */
int scan_verdict(const pkl_scan_result *res);

typedef struct scan_writer {
    FILE *out;
    int format;              /* SCAN_FMT_* */
    const char *policy;      /* policy name, for the summary */
    size_t nfiles;
    size_t verdicts[4];
    size_t by_severity[5];
    size_t dropped;
    size_t nresults;         /* SARIF results / JSON files written */
    int quiet;               /* text: only findings >= fail_on, no summary */
    int fail_on;             /* lowest failing severity (above critical:
                                none) */
} scan_writer;

void scan_writer_begin(scan_writer *w, FILE *out, int format,
                       const char *policy);
/* --fail-on none: a level above critical, which no finding reaches. */
#define SCAN_FAIL_NONE (PKL_SEV_CRITICAL + 1)
/* The value of --format (text, json, jsonl, sarif): a SCAN_FMT_*, or -1
 * (v NULL or unknown). */
int scan_format_parse(const char *v);
/* The value of --fail-on (a severity name or none): the lowest failing
 * severity, SCAN_FAIL_NONE, or -1 (v NULL or unknown). */
int scan_fail_on_parse(const char *v);
void scan_writer_file(scan_writer *w, const scan_file *f);
void scan_writer_end(scan_writer *w);

/* Writes s for a terminal or a log: printable ASCII and valid UTF-8 as
 * they are, every other byte (controls, ESC, DEL, C1 controls, backslash,
 * invalid UTF-8) as \xNN, so a name can never start a new line or move
 * the cursor. */
void scan_put_name(FILE *o, const char *s);
/* Writes s as a JSON string (invalid UTF-8 bytes become U+FFFD). */
void scan_json_str(FILE *o, const char *s);

#endif
