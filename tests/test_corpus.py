#!/usr/bin/env python3
"""test_corpus.py -- the seeded corpus is what corpus/gen/gen.py makes.

  * gen.py run into a temporary directory reproduces corpus/benign,
    corpus/malicious, corpus/malformed and corpus/MANIFEST.tsv byte for byte
    (so `make corpus` never changes a committed file);
  * the manifest is well formed: the fixed header, seven columns, valid
    values, one row per file, the kind matching the folder;
  * the corpus stays small (under 2 MB).

Never unpickles anything. Prints "N passed, M failed" last.
"""
import os
import subprocess
import sys
import tempfile

from pgtest import ROOT, check, finish
CORPUS = os.path.join(ROOT, 'corpus')
DIRS = ('benign', 'malicious', 'malformed')
HEADER = 'file\tkind\tcpython\tscan\tload_default\tload_strict\tnote'



def files_under(root):
    out = {}
    for d in DIRS:
        full = os.path.join(root, d)
        for f in sorted(os.listdir(full)) if os.path.isdir(full) else []:
            with open(os.path.join(full, f), 'rb') as fh:
                out[d + '/' + f] = fh.read()
    return out


def main():
    committed = files_under(CORPUS)
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([sys.executable, os.path.join(CORPUS, 'gen', 'gen.py'), tmp],
                           capture_output=True, timeout=120)
        check(p.returncode == 0, 'gen.py failed: %s' % p.stderr.decode()[-500:])
        fresh = files_under(tmp)
        with open(os.path.join(tmp, 'MANIFEST.tsv'), 'rb') as fh:
            fresh_manifest = fh.read()
    with open(os.path.join(CORPUS, 'MANIFEST.tsv'), 'rb') as fh:
        manifest = fh.read()
    check(manifest == fresh_manifest, 'MANIFEST.tsv differs from what gen.py writes')
    check(set(committed) == set(fresh),
          'file sets differ: only committed %s, only generated %s'
          % (sorted(set(committed) - set(fresh))[:5], sorted(set(fresh) - set(committed))[:5]))
    for name in sorted(set(committed) & set(fresh)):
        check(committed[name] == fresh[name], '%s differs from what gen.py writes' % name)

    lines = manifest.decode('utf-8').split('\n')
    check(lines[0] == HEADER, 'manifest header is %r' % lines[0])
    check(lines[-1] == '', 'manifest must end with a newline')
    listed = set()
    valid = {
        'kind': set(DIRS),
        'cpython': {'ok', 'error'},
        'scan': {'clean', 'info', 'low', 'medium', 'high', 'critical'},
        'load': {'ok', 'refused', 'malformed', 'limit'},
    }
    for ln in lines[1:-1]:
        cols = ln.split('\t')
        if not check(len(cols) == 7, 'row has %d columns: %r' % (len(cols), ln)):
            continue
        f, kind, cpy, scan, ld, ls, note = cols
        check(f not in listed, 'listed twice: %s' % f)
        listed.add(f)
        check(f in committed, 'listed but missing: %s' % f)
        check(kind in valid['kind'] and f.startswith(kind + '/'), '%s: kind %s' % (f, kind))
        check(cpy in valid['cpython'], '%s: cpython %s' % (f, cpy))
        check(scan in valid['scan'], '%s: scan %s' % (f, scan))
        check(ld in valid['load'] and ls in valid['load'], '%s: load %s/%s' % (f, ld, ls))
        check(note.strip() != '', '%s: empty note' % f)
        if kind == 'malicious':
            check(ld != 'ok' and ls != 'ok', '%s: a malicious file must not load' % f)
            check(scan in ('low', 'medium', 'high', 'critical'), '%s: malicious scans %s' % (f, scan))
        if kind == 'malformed':
            check(ld != 'ok' and ls != 'ok', '%s: a malformed file must not load' % f)
        check(not (ls == 'ok' and ld != 'ok'), '%s: strict allows what default refuses' % f)
    check(listed == set(committed), 'files not in the manifest: %s'
          % sorted(set(committed) - listed)[:5])
    total = sum(len(v) for v in committed.values())
    check(total < 2 * 1024 * 1024, 'corpus is %d bytes' % total)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
