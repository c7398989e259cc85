#!/usr/bin/env python3
"""Tests `pickleguard scan`: the corpus manifest, exit codes, path handling,
the JSON shape and SARIF 2.1.0 validity.

Run with PKL_BUILD=<build dir> (binary at $PKL_BUILD/pickleguard) from the
repository root. Expected severities come from corpus/MANIFEST.tsv (the
corpus helper's reasoning, not this program's output); samples made here
are raw opcode bytes (never unpickled) or pickle.dumps of benign values.
The SARIF schema below is written from the SARIF 2.1.0 specification's
required properties and GitHub code scanning's documented requirements
(tool.driver.name, rules with id/shortDescription/help, results with
ruleId/level/message.text, locations[].physicalLocation.artifactLocation.uri
and region.startLine).
"""
import csv
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile

from pgtest import EXE, ROOT, check, finish, no_binary
SEVERITIES = ['info', 'low', 'medium', 'high', 'critical']



def run(args, stdin=None, cwd=ROOT):
    p = subprocess.run([EXE, 'scan'] + list(args), capture_output=True,
                       input=stdin, timeout=60, cwd=cwd)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), \
        p.stderr.decode('utf-8', 'replace')


# ---- a small JSON-schema validator (type, required, properties, items,
# enum, minItems, pattern, minimum, minLength, additionalProperties,
# anyOf, $ref to #/definitions) so the test needs nothing outside the
# standard library ------------------------------------------------------

def validate(inst, schema, root, path='$'):
    errors = []
    if '$ref' in schema:
        name = schema['$ref'].split('/')[-1]
        return validate(inst, root['definitions'][name], root, path)
    t = schema.get('type')
    types = {'object': dict, 'array': list, 'string': str,
             'integer': int, 'number': (int, float), 'boolean': bool}
    if t:
        ok = isinstance(inst, types[t]) and not (
            t in ('integer', 'number') and isinstance(inst, bool))
        if not ok:
            return ['%s: expected %s, got %r' % (path, t, type(inst).__name__)]
    if 'enum' in schema and inst not in schema['enum']:
        errors.append('%s: %r not in %r' % (path, inst, schema['enum']))
    if 'const' in schema and inst != schema['const']:
        errors.append('%s: %r != %r' % (path, inst, schema['const']))
    if isinstance(inst, str):
        if 'pattern' in schema and not re.search(schema['pattern'], inst):
            errors.append('%s: %r does not match %s' % (path, inst,
                                                       schema['pattern']))
        if len(inst) < schema.get('minLength', 0):
            errors.append('%s: too short' % path)
    if isinstance(inst, (int, float)) and 'minimum' in schema \
            and inst < schema['minimum']:
        errors.append('%s: below minimum' % path)
    if isinstance(inst, dict):
        for k in schema.get('required', []):
            if k not in inst:
                errors.append('%s: missing %s' % (path, k))
        props = schema.get('properties', {})
        for k, v in inst.items():
            if k in props:
                errors += validate(v, props[k], root, path + '.' + k)
            elif schema.get('additionalProperties') is False:
                errors.append('%s: unexpected key %s' % (path, k))
    if isinstance(inst, list):
        if len(inst) < schema.get('minItems', 0):
            errors.append('%s: fewer than %d items' % (path,
                                                       schema['minItems']))
        if 'items' in schema:
            for i, v in enumerate(inst):
                errors += validate(v, schema['items'], root,
                                   '%s[%d]' % (path, i))
    if 'anyOf' in schema:
        if all(validate(inst, s, root, path) for s in schema['anyOf']):
            errors.append('%s: matches none of anyOf' % path)
    return errors


TEXT = {'type': 'object', 'required': ['text'],
        'properties': {'text': {'type': 'string', 'minLength': 1}}}

SARIF_SCHEMA = {
    'type': 'object',
    'required': ['version', 'runs'],
    'properties': {
        '$schema': {'type': 'string', 'pattern': r'^https://'},
        'version': {'const': '2.1.0'},
        'runs': {'type': 'array', 'minItems': 1, 'items': {'$ref': '#/definitions/run'}},
    },
    'definitions': {
        'run': {
            'type': 'object',
            'required': ['tool', 'results'],
            'properties': {
                'tool': {'$ref': '#/definitions/tool'},
                'results': {'type': 'array', 'items': {'$ref': '#/definitions/result'}},
                'invocations': {'type': 'array', 'items': {
                    'type': 'object', 'required': ['executionSuccessful'],
                    'properties': {'executionSuccessful': {'type': 'boolean'}}}},
                'columnKind': {'enum': ['utf16CodeUnits', 'unicodeCodePoints']},
            },
        },
        'tool': {
            'type': 'object', 'required': ['driver'],
            'properties': {'driver': {
                'type': 'object', 'required': ['name', 'rules'],
                'properties': {
                    'name': {'type': 'string', 'minLength': 1},
                    'version': {'type': 'string'},
                    'semanticVersion': {'type': 'string', 'pattern': r'^\d+\.\d+\.\d+'},
                    'informationUri': {'type': 'string', 'pattern': r'^https://'},
                    'rules': {'type': 'array', 'minItems': 1,
                              'items': {'$ref': '#/definitions/rule'}},
                }}},
        },
        'rule': {
            'type': 'object',
            'required': ['id', 'shortDescription', 'help'],
            'properties': {
                'id': {'type': 'string', 'pattern': r'^[a-z][a-z-]*$'},
                'name': {'type': 'string'},
                'shortDescription': TEXT,
                'fullDescription': TEXT,
                'help': TEXT,
                'helpUri': {'type': 'string', 'pattern': r'^https://'},
                'defaultConfiguration': {
                    'type': 'object',
                    'properties': {'level': {'enum': ['none', 'note', 'warning', 'error']}}},
                'properties': {
                    'type': 'object',
                    'properties': {
                        'security-severity': {'type': 'string',
                                              'pattern': r'^\d+(\.\d+)?$'},
                        'tags': {'type': 'array', 'items': {'type': 'string'}}}},
            },
        },
        'result': {
            'type': 'object',
            'required': ['ruleId', 'level', 'message', 'locations'],
            'properties': {
                'ruleId': {'type': 'string', 'minLength': 1},
                'ruleIndex': {'type': 'integer', 'minimum': 0},
                'level': {'enum': ['none', 'note', 'warning', 'error']},
                'message': TEXT,
                'locations': {'type': 'array', 'minItems': 1,
                              'items': {'$ref': '#/definitions/location'}},
                'partialFingerprints': {'type': 'object'},
            },
        },
        'location': {
            'type': 'object', 'required': ['physicalLocation'],
            'properties': {'physicalLocation': {
                'type': 'object', 'required': ['artifactLocation', 'region'],
                'properties': {
                    'artifactLocation': {
                        'type': 'object', 'required': ['uri'],
                        # a URI reference: no spaces or raw non-ASCII
                        'properties': {'uri': {'type': 'string',
                                               'pattern': r'^[A-Za-z0-9._~/:%-]+$'}}},
                    'region': {
                        'type': 'object', 'required': ['startLine'],
                        'properties': {
                            'startLine': {'type': 'integer', 'minimum': 1},
                            'byteOffset': {'type': 'integer', 'minimum': 0},
                            'byteLength': {'type': 'integer', 'minimum': 0}}},
                }}},
        },
    },
}

# the JSON report as the issue states it (extra keys allowed)
JSON_SCHEMA = {
    'type': 'object', 'required': ['files'],
    'properties': {'files': {'type': 'array', 'items': {
        'type': 'object', 'required': ['path', 'verdict', 'findings'],
        'properties': {
            'path': {'type': 'string'},
            'verdict': {'enum': ['clean', 'findings', 'not-a-pickle', 'error']},
            'findings': {'type': 'array', 'items': {
                'type': 'object',
                'required': ['rule', 'severity', 'offset', 'opcode', 'global',
                             'message'],
                'properties': {
                    'rule': {'type': 'string', 'pattern': r'^[a-z][a-z-]*$'},
                    'severity': {'enum': SEVERITIES},
                    'offset': {'type': 'integer', 'minimum': 0},
                    'message': {'type': 'string', 'minLength': 1},
                }}},
        }}}},
}

# ---- samples -----------------------------------------------------------------

OS_SYSTEM = b"cos\nsystem\n(S'id'\ntR."           # critical
NOT_ALLOWED = b"\x80\x02cmymod\nThing\n)R."        # high
# medium: no STOP after a call ran (cut short before anything ran it
# would be not-a-pickle: verdicts by what can run)
TRUNCATED = b"\x80\x02c__builtin__\nset\n)R"
PERSID = b"\x80\x02Pabc\n."                          # low (default denies)
PROTO_MISMATCH = b"\x8c\x01a."                       # info (no PROTO)
BENIGN = pickle.dumps({'a': [1, 2.5, 'x'], 'b': (None, True)}, protocol=4)


def write(d, name, data):
    path = os.path.join(d, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def corpus_test():
    manifest = os.path.join(ROOT, 'corpus', 'MANIFEST.tsv')
    check(os.path.exists(manifest), 'corpus/MANIFEST.tsv exists')
    if not os.path.exists(manifest):
        return
    with open(manifest, encoding='utf-8') as f:
        rows = list(csv.DictReader(f, delimiter='\t'))
    check(len(rows) > 100, 'manifest has rows')
    files = ['corpus/' + r['file'] for r in rows]
    rc, out, err = run(['--format', 'json', '--fail-on', 'info'] + files)
    check(rc in (0, 1), 'corpus scan exit %d: %s' % (rc, err[:200]))
    doc = json.loads(out)
    got = {f['path']: f for f in doc['files']}
    check(len(doc['files']) == len(files), 'one report per corpus file')
    for r in rows:
        f = got.get('corpus/' + r['file'])
        if f is None:
            check(False, 'no report for ' + r['file'])
            continue
        sev = [SEVERITIES.index(x['severity']) for x in f['findings']]
        highest = SEVERITIES[max(sev)] if sev else 'clean'
        check(highest == r['scan'], '%s: manifest says %s, scan gives %s (%s)'
              % (r['file'], r['scan'], highest,
                 [(x['rule'], x['severity'], x['offset']) for x in f['findings']][:3]))
        # clean verdict <=> no findings; every byte examined when clean
        check((f['verdict'] == 'clean') == (not f['findings']),
              r['file'] + ': verdict agrees with findings')
        if f['verdict'] == 'clean':
            size = os.path.getsize(os.path.join(ROOT, 'corpus', r['file']))
            check(f.get('bytes_examined') == size,
                  r['file'] + ': clean means every byte examined')


def formats_corpus_test():
    """Containers: corpus/formats/MANIFEST.tsv gives, per file, what
    `scan --policy ml` must say (clean, or flagged:<highest severity>),
    reasoned by the formats helper from what the real loaders read."""
    manifest = os.path.join(ROOT, 'corpus', 'formats', 'MANIFEST.tsv')
    if not os.path.exists(manifest):
        check(False, 'corpus/formats/MANIFEST.tsv exists')
        return
    with open(manifest, encoding='utf-8') as f:
        rows = list(csv.DictReader(f, delimiter='\t'))
    files = ['corpus/formats/' + r['file'] for r in rows]
    rc, out, err = run(['--policy', 'ml', '--format', 'json'] + files)
    doc = json.loads(out)
    got = {f['path']: f for f in doc['files']}
    for r in rows:
        f = got.get('corpus/formats/' + r['file'])
        if f is None:
            check(False, 'no report for formats/' + r['file'])
            continue
        sev = [SEVERITIES.index(x['severity']) for x in f['findings']]
        verdict = 'flagged:' + SEVERITIES[max(sev)] if sev else 'clean'
        if f['verdict'] == 'not-a-pickle':
            verdict = 'not-a-pickle'
        check(verdict == r['scan_ml'], 'formats/%s: manifest says %s, scan '
              'gives %s (%s)' % (r['file'], r['scan_ml'], verdict,
                                 [(x['rule'], x['path'], x['offset'])
                                  for x in f['findings']][:3]))
    # member paths appear after the file name
    rc, out, _ = run(['--policy', 'ml', 'corpus/formats/torch_malicious.pt'])
    check('corpus/formats/torch_malicious.pt!archive/data.pkl:' in out,
          'container member path in text output: ' + out[:200])


def exit_code_tests(d):
    samples = {
        'critical.pkl': (OS_SYSTEM, 'critical'),
        'high.pkl': (NOT_ALLOWED, 'high'),
        'medium.pkl': (TRUNCATED, 'medium'),
        'low.pkl': (PERSID, 'low'),
        'info.pkl': (PROTO_MISMATCH, 'info'),
        'clean.pkl': (BENIGN, None),
    }
    for name, (data, sev) in samples.items():
        path = write(d, 'codes/' + name, data)
        rc, out, _ = run(['--format', 'json', path])
        doc = json.loads(out)
        sevs = [x['severity'] for x in doc['files'][0]['findings']]
        top = max(sevs, key=SEVERITIES.index) if sevs else None
        check(top == sev, '%s: highest severity %s, want %s' % (name, top, sev))
        for level in SEVERITIES:
            rc, _, _ = run(['--fail-on', level, path])
            want = 1 if sev and SEVERITIES.index(sev) >= SEVERITIES.index(level) else 0
            check(rc == want, '%s --fail-on %s: exit %d, want %d'
                  % (name, level, rc, want))
        # default --fail-on is medium
        rc, _, _ = run([path])
        want = 1 if sev and SEVERITIES.index(sev) >= 2 else 0
        check(rc == want, '%s default --fail-on: exit %d, want %d' % (name, rc, want))


def big_memo_tests(d):
    """A benign pickle bigger than the scanner's memo caps: a 600,000-word
    vocabulary, as pickle.dumps writes it (every key memoized). It used to
    get a medium scan-limit and fail CI; now it is memo-limit (info) only."""
    vocab = {'tok%d' % i: i for i in range(600000)}
    path = write(d, 'vocab.pkl', pickle.dumps(vocab, protocol=4))
    rc, out, _ = run(['--format', 'json', path])
    doc = json.loads(out)
    rules = [(x['rule'], x['severity']) for x in doc['files'][0]['findings']]
    check(rules == [('memo-limit', 'info')],
          'vocabulary of 600k words: only memo-limit (info), got %r' % rules)
    check(rc == 0, 'vocabulary of 600k words: exit 0 at the default '
          '--fail-on (got %d)' % rc)


def text_tests(d):
    path = write(d, 'text/evil.pkl', OS_SYSTEM)
    rc, out, _ = run([path])
    lines = out.strip().split('\n')
    check(rc == 1, 'text: exit 1 on critical')
    check(re.match(re.escape(path) + r':0: critical \[dangerous-global\] '
                   r'os\.system: .* \(fix: .+\)$', lines[0]) is not None,
          'text: finding line format: ' + lines[0])
    check(lines[-1].startswith('pickleguard scan: 1 file ') and
          '1 critical' in lines[-1], 'text: summary line: ' + lines[-1])
    # nested findings carry the nesting path after the file
    inner = OS_SYSTEM
    nested = (b"\x80\x03cpickle\nloads\nC" + bytes([len(inner)]) + inner
              + b"\x85R.")
    path = write(d, 'text/nested.pkl', nested)
    rc, out, _ = run([path])
    check((path + '!nested@18:0: critical [dangerous-global] os.system') in out,
          'text: nested path in the line: ' + out[:300])


def path_tests(d):
    base = os.path.join(d, 'tree')
    write(base, 'b.pkl', OS_SYSTEM)
    write(base, 'a/z.pkl', BENIGN)
    write(base, 'a/c.pkl', NOT_ALLOWED)
    write(base, 'README.md', b'# not a pickle\n\nJust text.\n')
    write(base, 'A.pkl', BENIGN)
    os.symlink(os.path.join(base, 'b.pkl'), os.path.join(base, 'link.pkl'))
    os.symlink(os.path.join(base, 'a'), os.path.join(base, 'linkdir'))
    rc, out, _ = run(['--format', 'json', base])
    doc = json.loads(out)
    paths = [os.path.relpath(f['path'], base) for f in doc['files']]
    # byte-wise sorted, depth-first; symlinks followed, each file and
    # directory once: the links lead to what was already scanned
    check(paths == ['A.pkl', 'README.md', 'a/c.pkl', 'a/z.pkl', 'b.pkl',
                    'link.pkl', 'linkdir'],
          'directory order: %r' % paths)
    rules = {os.path.relpath(f['path'], base): [x['rule'] for x in f['findings']]
             for f in doc['files']}
    check(rules.get('link.pkl') == ['same-file'] and
          rules.get('linkdir') == ['same-file'],
          'links to scanned files are same-file findings: %r' % rules)
    verdicts = {os.path.relpath(f['path'], base): f['verdict'] for f in doc['files']}
    check(verdicts.get('README.md') == 'not-a-pickle',
          'a README found in a directory is not-a-pickle: %r' % verdicts)
    check(verdicts.get('A.pkl') == 'clean', 'benign file is clean')
    check(rc == 1, 'directory with a critical file: exit 1')
    # the same README named explicitly gets the same verdict (one verdict
    # path: nothing in it can run)
    rc, out, _ = run(['--format', 'json', os.path.join(base, 'README.md')])
    f = json.loads(out)['files'][0]
    check(rc == 0 and f['verdict'] == 'not-a-pickle' and
          f['findings'][0]['severity'] == 'info',
          'named non-pickle is not-a-pickle as in a directory: %r' % f)
    # --files-from - reads paths from stdin, one per line
    listing = (os.path.join(base, 'A.pkl') + '\n' +
               os.path.join(base, 'a') + '\n').encode()
    rc, out, _ = run(['--format', 'json', '--files-from', '-'], stdin=listing)
    doc = json.loads(out)
    paths = [os.path.relpath(f['path'], base) for f in doc['files']]
    check(paths == ['A.pkl', 'a/c.pkl', 'a/z.pkl'], 'paths from stdin: %r' % paths)
    check(rc == 1, 'stdin list with a high finding: exit 1')
    # --jobs gives identical output
    outs = set()
    for j in ('1', '2', '4', '0'):
        rc, out, _ = run(['--format', 'json', '--jobs', j, base, base])
        outs.add(out)
    check(len(outs) == 1, '--jobs does not change the output')
    for fmt in ('text', 'sarif'):
        r1 = run(['--format', fmt, '--jobs', '1', base])
        r3 = run(['--format', fmt, '--jobs', '3', base])
        check(r1 == r3, '--jobs 3 == --jobs 1 for ' + fmt)


def error_tests(d):
    good = write(d, 'err/good.pkl', BENIGN)
    missing = os.path.join(d, 'err', 'missing.pkl')
    rc, out, err = run(['--format', 'json', good, missing])
    check(rc == 2, 'missing file: exit 2 (got %d)' % rc)
    doc = json.loads(out)
    check([f['verdict'] for f in doc['files']] == ['clean', 'error'],
          'missing file is an error entry, the rest is scanned')
    check('missing.pkl' in err, 'the error is on stderr')
    check(doc['files'][1].get('error'), 'the error has a message')
    # errors beat findings: exit 2 even with a critical file
    evil = write(d, 'err/evil.pkl', OS_SYSTEM)
    rc, _, _ = run([evil, missing])
    check(rc == 2, 'I/O error with findings: exit 2')
    for args in (['--format', 'xml', good], ['--fail-on', 'severe', good],
                 ['--jobs', 'x', good], ['--bogus', good], [],
                 ['--policy', 'no-such-policy-anywhere', good]):
        rc, out, err = run(args)
        check(rc == 2, 'usage error %r: exit 2 (got %d)' % (args, rc))
    rc, out, _ = run(['--help'])
    check(rc == 0 and 'usage' in out, '--help')
    # --policy strict is accepted and named in the summary
    rc, out, _ = run(['--policy', 'strict', good])
    check('(policy strict)' in out, 'policy named in the summary: ' + out)


def json_shape_tests(d):
    paths = [write(d, 'shape/' + n, b) for n, b in
             (('a.pkl', OS_SYSTEM), ('b.pkl', BENIGN), ('c.pkl', TRUNCATED))]
    rc, out, _ = run(['--format', 'json'] + paths)
    doc = json.loads(out)
    errs = validate(doc, JSON_SCHEMA, JSON_SCHEMA)
    check(not errs, 'JSON shape: %s' % errs[:3])
    f = doc['files'][0]['findings'][0]
    check((f['rule'], f['severity'], f['offset'], f['opcode'], f['global'])
          == ('dangerous-global', 'critical', 0, 'GLOBAL', 'os.system'),
          'JSON finding fields: %r' % f)
    check(doc['files'][1]['findings'] == [] and doc['files'][1]['verdict'] == 'clean',
          'clean file has no findings')
    check(doc['summary']['files'] == 3 and doc['summary']['critical'] == 1,
          'summary counts: %r' % doc['summary'])
    # a path that is not UTF-8 still gives valid JSON
    odd = os.path.join(d, 'shape', 'caf\xe9 \x01.pkl'.encode('latin-1').decode(
        'utf-8', 'surrogateescape'))
    with open(odd, 'wb') as fh:
        fh.write(OS_SYSTEM)
    rc, out, _ = run(['--format', 'json', odd])
    try:
        json.loads(out)
        ok = True
    except ValueError:
        ok = False
    check(ok, 'non-UTF-8 path gives valid JSON')


def sarif_tests(d):
    paths = [write(d, 'sarif/' + n, b) for n, b in
             (('evil.pkl', OS_SYSTEM), ('ok.pkl', BENIGN),
              ('odd name.pkl', NOT_ALLOWED), ('trunc.pkl', TRUNCATED))]
    rel = [os.path.relpath(p, ROOT) for p in paths]
    rc, out, _ = run(['--format', 'sarif'] + rel)
    doc = json.loads(out)
    errs = validate(doc, SARIF_SCHEMA, SARIF_SCHEMA)
    check(not errs, 'SARIF validates: %s' % errs[:5])
    run0 = doc['runs'][0]
    rules = [r['id'] for r in run0['tool']['driver']['rules']]
    check(len(rules) == len(set(rules)), 'rule ids unique')
    results = run0['results']
    check(len(results) == 3, 'three results (critical, high, medium): %d'
          % len(results))
    for r in results:
        check(r['ruleId'] in rules, 'result rule %s is declared' % r['ruleId'])
        check(rules[r['ruleIndex']] == r['ruleId'], 'ruleIndex points at the rule')
        check(r.get('partialFingerprints'), 'result has partialFingerprints')
    levels = [r['level'] for r in results]
    check(levels == ['error', 'error', 'warning'], 'levels: %r' % levels)
    uris = [r['locations'][0]['physicalLocation']['artifactLocation']['uri']
            for r in results]
    check(uris[1].endswith('odd%20name.pkl'), 'URI is percent-encoded: %s' % uris[1])
    check(not uris[0].startswith('/'), 'relative paths stay relative: %s' % uris[0])
    # every rule the scanner can emit is documented in docs/rules.md
    with open(os.path.join(ROOT, 'docs', 'rules.md'), encoding='utf-8') as fh:
        rules_md = fh.read()
    for rid in rules:
        check('`%s`' % rid in rules_md, 'docs/rules.md documents ' + rid)
    # and every catalogue entry too
    with open(os.path.join(ROOT, 'src', 'catalogue.def'), encoding='utf-8') as fh:
        cat = fh.read()
    for pat in re.findall(r'^CAT\("([^"]+)"', cat, re.M) + \
            re.findall(r'^DUNDER\("([^"]+)"', cat, re.M):
        check('`%s`' % pat in rules_md, 'docs/rules.md lists catalogue entry ' + pat)


def main():
    if not os.path.exists(EXE):
        return no_binary()
    corpus_test()
    formats_corpus_test()
    with tempfile.TemporaryDirectory() as d:
        exit_code_tests(d)
        big_memo_tests(d)
        text_tests(d)
        path_tests(d)
        error_tests(d)
        json_shape_tests(d)
        sarif_tests(d)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
