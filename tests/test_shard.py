#!/usr/bin/env python3
"""Tests `pickleguard scan --shard I/N` and `pickleguard report merge`.

A tree of corpus files (plus a file with more findings than the scanner
keeps, names whose byte order differs from their walk order, and a path
that cannot be read) is scanned once whole and once as N shards; the
merged shards must equal the whole run, as JSON and as SARIF, with the
same exit status. Which shard a file lands in is checked against FNV-1a 64
written here from its definition (offset basis 0xcbf29ce484222325, prime
0x100000001b3), not against the program's own hash; each file must be in
exactly one shard. Inputs are raw opcode bytes or copies of corpus files:
nothing is unpickled.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

from pgtest import EXE, ROOT, check, finish, no_binary

N = 3


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def run(args, stdin=None, cwd=None):
    p = subprocess.run([EXE] + list(args), capture_output=True, input=stdin,
                       timeout=120, cwd=cwd)
    return p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace')


def make_tree(top):
    tree = os.path.join(top, 'tree')
    shutil.copytree(os.path.join(ROOT, 'corpus'), os.path.join(tree, 'corpus'),
                    ignore=shutil.ignore_patterns('gen'))
    # 1200 GLOBAL os.system: past the 1000 findings the scanner keeps, so
    # the totals include findings no file record lists
    many = b''.join(b'cos\nsystem\n0' for _ in range(1200)) + b'N.'
    with open(os.path.join(tree, 'many_findings.pkl'), 'wb') as f:
        f.write(many)
    # "b-c" sorts before "b/..." byte-wise but after it in walk order
    for d in ('order/b', 'order/b-c'):
        os.makedirs(os.path.join(tree, d))
    # a name that is not UTF-8 (JSON has "path_hex" for it) and a second
    # path to one file (a same-file finding in whichever shard lists it)
    with open(os.path.join(tree.encode(), b'order/bad\xffname.pkl'),
              'wb') as f:
        f.write(b'cposix\nsystem\n.')
    os.symlink('b.pkl', os.path.join(tree, 'order', 'link-to-b.pkl'))
    for name, data in (('order/b/x.pkl', b'cos\nsystem\n.'),
                       ('order/b-c/y.pkl', b'\x80\x04K\x01.'),
                       ('order/b.pkl', b'\x80\x02]q\x00.'),
                       ('order/bb', b'not a pickle at all')):
        with open(os.path.join(tree, name), 'wb') as f:
            f.write(data)
    return tree


def files_of(doc):
    return [f['path'] for f in doc['files']]


def path_bytes(f):
    """A file record's exact path: path_hex when the path is not UTF-8."""
    return bytes.fromhex(f['path_hex']) if 'path_hex' in f else \
        f['path'].encode()


def main():
    if not os.path.exists(EXE):
        return no_binary()
    top = tempfile.mkdtemp(prefix='pg-shard-')
    try:
        tree = make_tree(top)
        # a path that cannot be read; named so that it sorts last
        missing = 'tree/~missing.pkl'
        args = ['tree', missing]

        # ---- --shard: the split ------------------------------------------
        rc_whole, out, err = run(['scan', '--format', 'json'] + args, cwd=top)
        whole = json.loads(out)
        check(rc_whole == 2, 'whole scan exits 2 (one unreadable path): %d %s'
              % (rc_whole, err))
        paths = files_of(whole)
        check(len(paths) > 500 and len(set(paths)) == len(paths),
              'whole scan lists every file once (%d)' % len(paths))
        shard_docs = []
        for i in range(N):
            rc, out, err = run(['scan', '--shard', '%d/%d' % (i, N),
                                '--format', 'json'] + args, cwd=top)
            doc = json.loads(out)
            shard_docs.append(doc)
            with open(os.path.join(top, 's%d.json' % i), 'wb') as f:
                f.write(out)
            sp = files_of(doc)
            want = [f['path'] for f in whole['files']
                    if fnv1a64(path_bytes(f)) % N == i]
            check(sp == want, 'shard %d/%d holds exactly the files FNV-1a 64 '
                  'puts there, in walk order (%d vs %d)' % (i, N, len(sp),
                                                            len(want)))
            check(len(sp) > len(paths) // (2 * N),
                  'shard %d/%d is not nearly empty (%d)' % (i, N, len(sp)))
            expect_rc = 2 if missing in sp else (
                1 if any(f.get('max_severity') in ('medium', 'high', 'critical')
                         for f in doc['files']) else 0)
            check(rc == expect_rc, 'shard %d exit %d, expected %d' %
                  (i, rc, expect_rc))
        every = [p for d in shard_docs for p in files_of(d)]
        check(sorted(every) == sorted(paths),
              'each file lands in exactly one shard')

        # --shard with --jobs and from a stdin list gives the same split
        listing = b''.join(path_bytes(f) + b'\n' for f in whole['files'])
        rc, out, _ = run(['scan', '--shard', '1/%d' % N, '--jobs', '2',
                          '--format', 'json', '--files-from', '-'],
                         stdin=listing, cwd=top)
        check(files_of(json.loads(out)) == files_of(shard_docs[1]),
              'shard 1 from --files-from - with --jobs 2 = shard 1 of the '
              'walk')
        rc, out, _ = run(['scan', '--shard', '0/1', '--format', 'json'] + args,
                         cwd=top)
        check(json.loads(out) == whole, '--shard 0/1 is the whole scan')

        for bad in ('3/3', '0/0', '-1/3', '1/', '/3', 'a/3', '1/3x', '1',
                    '1 /3', '0/1000001', '99999999999999999999/3'):
            rc, out, err = run(['scan', '--shard', bad, 'tree'], cwd=top)
            check(rc == 2 and '--shard' in err and not out,
                  '--shard %r is a usage error (exit %d)' % (bad, rc))

        # ---- report merge: JSON and SARIF equal the whole run -----------
        shards = ['s%d.json' % i for i in range(N)]
        rc, out, err = run(['report', 'merge'] + shards[::-1], cwd=top)
        merged = json.loads(out)
        check(merged == whole, 'merged JSON equals the whole run: %s' %
              (merged.get('summary'),))
        check(whole['summary']['dropped'] == 200 and
              whole['summary']['critical'] >= 1200,
              'the tree has findings past the per-file limit')
        check(rc == rc_whole, 'merge exits like the whole run (%d)' % rc)
        rc, out, err = run(['scan', '--format', 'sarif'] + args, cwd=top)
        whole_sarif = json.loads(out)
        rc, out, err = run(['report', 'merge', '--format', 'sarif'] + shards,
                           cwd=top)
        check(json.loads(out) == whole_sarif,
              'merged SARIF equals the whole run')
        rc, out, err = run(['scan', '--format', 'text'] + args, cwd=top)
        whole_text = out
        rc, out, err = run(['report', 'merge', '--format', 'text', '--output',
                            'merged.txt'] + shards, cwd=top)
        with open(os.path.join(top, 'merged.txt'), 'rb') as f:
            check(f.read() == whole_text and out == b'',
                  'merged text (--output) equals the whole run')
        # --fail-on: exit 1 exactly when a file reaches the level
        i = min(k for k in range(N) if missing not in files_of(shard_docs[k]))
        for level, sevs in (('critical', ('critical',)),
                            ('high', ('critical', 'high'))):
            rc, out, err = run(['report', 'merge', '--fail-on', level,
                                's%d.json' % i], cwd=top)
            want = int(any(f['max_severity'] in sevs
                           for f in shard_docs[i]['files']))
            check(rc == want, 'merge --fail-on %s exits %d (%d)' %
                  (level, want, rc))

        # ---- scan --format jsonl shards --------------------------------
        for i in range(N):
            rc, out, err = run(['scan', '--shard', '%d/%d' % (i, N),
                                '--format', 'jsonl'] + args, cwd=top)
            with open(os.path.join(top, 'l%d.jsonl' % i), 'wb') as f:
                f.write(out)
        rc, out, err = run(['report', 'merge'] + ['l%d.jsonl' % i
                                                  for i in range(N)], cwd=top)
        check(json.loads(out) == whole and rc == rc_whole,
              'merged `scan --format jsonl` shards equal the whole run (%d)'
              % rc)
        rc, out, err = run(['scan', '--format', 'jsonl'] + args, cwd=top)
        whole_lines = [json.loads(x) for x in out.splitlines()]
        rc, out, err = run(['report', 'merge', '--format', 'jsonl'] +
                           ['l%d.jsonl' % i for i in range(N)], cwd=top)
        check([json.loads(x) for x in out.splitlines()] == whole_lines,
              'merge --format jsonl equals the whole run in jsonl')
        hexed = [f for f in whole['files'] if 'path_hex' in f]
        check(len(hexed) == 1 and bytes.fromhex(hexed[0]['path_hex']) ==
              b'tree/order/bad\xffname.pkl',
              'the tree has a file whose path is not UTF-8 (path_hex)')
        check(any(x['rule'] == 'same-file' for f in whole['files']
                  for x in f['findings']),
              'the tree has a second path to one file (same-file)')

        # ---- JSON Lines: one file record per line ----------------------
        def jsonl(docs, summary):
            lines = []
            for d in docs:
                lines += [json.dumps(f) for f in d['files']]
                if summary:
                    lines.append(json.dumps({'summary': d['summary']}))
            return ('\n'.join(lines) + '\n').encode()
        for i in range(N):
            with open(os.path.join(top, 's%d.jsonl' % i), 'wb') as f:
                f.write(jsonl([shard_docs[i]], True))
        rc, out, err = run(['report', 'merge', 's0.jsonl', 's1.json',
                            's2.jsonl'], cwd=top)
        check(json.loads(out) == whole,
              'JSON Lines with summary lines (mixed with a JSON report) '
              'merge to the whole run: %s' % err)
        rc, out, err = run(['report', 'merge', '-'], cwd=top,
                           stdin=jsonl(shard_docs, True))
        check(json.loads(out) == whole, 'JSON Lines from stdin merge too')
        # records only: totals are counted from the findings, which is not
        # possible for the file with dropped findings...
        rc, out, err = run(['report', 'merge', '-'], cwd=top,
                           stdin=jsonl(shard_docs, False))
        check(rc == 2 and not out and 'many_findings.pkl' in err,
              'records whose dropped findings nobody counted: refused '
              '(exit %d: %s)' % (rc, err.strip()))
        # ...unless the record says how many of each severity it had
        recs = [dict(f) for d in shard_docs for f in d['files']]
        for f in recs:
            if f['path'].endswith('many_findings.pkl'):
                f['by_severity'] = {'critical': 1200, 'high': 0, 'medium': 0,
                                    'low': 0, 'info': 0}
        data = ''.join(json.dumps(f) + '\n' for f in recs[::-1]).encode()
        rc, out, err = run(['report', 'merge', '-'], cwd=top, stdin=data)
        got = json.loads(out) if out else {}
        want = dict(whole)
        want['summary'] = dict(whole['summary'], policy='')
        check(got == want, 'records with by_severity, any order: the whole '
              'run, policy unnamed (%s)' % err.strip())

        # ---- refusals ---------------------------------------------------
        def refused(argv, what, stdin=None, text=None):
            rc, out, err = run(['report', 'merge'] + argv, cwd=top,
                               stdin=stdin)
            check(rc == 2 and not out and (text is None or text in err),
                  '%s: exit 2 with a message (%d, %r)' % (what, rc,
                                                            err.strip()))
        refused(['s0.json', 's1.json', 's0.json'], 'an input given twice',
                text='in both')
        with open(os.path.join(top, 's1.json'), 'rb') as f:
            s1 = f.read()
        for cut in (0, 1, len(s1) // 2, len(s1) - 3):
            refused(['-'], 'a report cut at byte %d' % cut, stdin=s1[:cut])
        d = json.loads(s1)
        d['files'] = d['files'][:-1]
        refused(['-'], 'a report whose summary counts a file it lacks',
                stdin=json.dumps(d).encode(), text='summary')
        d = json.loads(s1)
        d['summary']['policy'] = 'ml'
        with open(os.path.join(top, 'ml.json'), 'w') as f:
            json.dump(d, f)
        refused(['s0.json', 'ml.json'], 'reports of two policies',
                text='policy')
        refused(['-'], 'a value that is no report', stdin=b'[1, 2]')
        refused(['-'], 'trailing comma', stdin=b'{"files": [],}')
        refused(['-'], 'a record with an unknown verdict',
                stdin=b'{"path": "a", "verdict": "fine"}')
        refused(['-'], 'a record with an unknown severity',
                stdin=json.dumps({'path': 'a', 'verdict': 'findings',
                                  'max_severity': 'huge', 'pickles': 1,
                                  'opcodes': 2, 'bytes_examined': 3,
                                  'dropped': 0, 'findings': []}).encode())
        refused(['-'], 'nesting past the limit', stdin=b'[' * 100000)
        refused(['no-such-file.json'], 'a missing input')
        refused([], 'no input')
        # damaged inputs: every cut and random byte changes of a small
        # report end in a defined exit status, never a crash, and a refusal
        # writes nothing
        rc, small, _ = run(['scan', '--format', 'json', 'tree/order'],
                           cwd=top)
        rng = random.Random(20)
        cases = [small[:k] for k in range(0, len(small), 3)]
        for _ in range(300):
            b = bytearray(small)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.choice(
                    b'{}[]",:\\0123456789-.eEtfnu \n\x00\xff')
            cases.append(bytes(b))
        bad = []
        for data in cases:
            rc, out, err = run(['report', 'merge', '-'], cwd=top, stdin=data)
            if rc not in (0, 1, 2) or (rc == 2 and out and
                                       b'"error": 0,' in out):
                bad.append((rc, data[:60]))
        check(not bad, '%d damaged reports: exit 0/1/2, nothing written on '
              'refusal (bad: %r)' % (len(cases), bad[:3]))

        rc, out, err = run(['report', 'merge', '--fail-on', 'none'] + shards,
                           cwd=top)
        check(rc == (2 if rc_whole == 2 else 0), '--fail-on none (%d)' % rc)
        refused(['-'], 'a path_hex that is not hex',
                stdin=b'{"path": "a", "path_hex": "6g", "verdict": "error", '
                      b'"error": "x", "findings": []}')
        refused(['-'], 'a path_hex holding a NUL byte',
                stdin=b'{"path": "a", "path_hex": "6100", "verdict": "error", '
                      b'"error": "x", "findings": []}')

        rc, out, err = run(['report', 'merge', '--help'])
        check(rc == 0 and b'report merge' in out, 'report merge --help')
        rc, out, err = run(['scan', '--help'])
        check(rc == 0 and b'--shard I/N' in out, 'scan --help has --shard')
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
