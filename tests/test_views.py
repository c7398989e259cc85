#!/usr/bin/env python3
"""test_views.py -- loader views (docs/formats.md, "Loader views"): every
file is judged by every way a real loader reads it.

  * corpus/views/MANIFEST.tsv (written by corpus/views/gen/gen_views.py and
    gen_zip.py,
    expectations stated by reasoning from the loaders' source): each
    hostile trick scans critical at the stated path under --policy ml,
    images/text/safetensors/dbm side files are not-a-pickle with nothing
    above info, real torch/numpy files that once raised false alarms are
    clean;
  * the oracle column: the real loader, run in a subprocess under a
    recorder (find_class of both unpicklers returns an inert stand-in and
    records the name; os.system & co. are replaced by functions that
    raise, as a second guard), does ask for os.system -- the trick is real,
    not only a scanner opinion. A missing numpy/torch is a counted skip;
  * `load --policy ml` refuses each hostile sample and loads the clean ones;
  * one verdict path: scanning the whole corpus/ directory and naming
    every file on the command line give identical findings per file.

Never unpickles anything outside the recorder. Prints "N passed, M failed,
K skipped" last.
"""
import csv
import json
import os
import subprocess
import sys

from pgtest import EXE, ROOT, check, finish, no_binary, skip

VIEWS = os.path.join(ROOT, 'corpus', 'views')
SEV = ['info', 'low', 'medium', 'high', 'critical']

RECORDER = r'''
import io, json, os, pickle, sys, types
asked = []
def _blocked(*a, **k):
    raise RuntimeError('blocked by the recorder')
for _n in ('system', 'popen', 'execv', 'execve', 'execvp', 'spawnv',
           'posix_spawn', 'fork'):
    if hasattr(os, _n):
        setattr(os, _n, _blocked)
class Inert:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return Inert()
    def __setstate__(self, state): pass
def find_class(self, module, name):
    asked.append(module + '.' + name)
    return Inert
class RecC(pickle.Unpickler):
    find_class = find_class
class RecPy(pickle._Unpickler):
    find_class = find_class
pickle._Unpickler.find_class = find_class   # joblib's NumpyUnpickler
def load(f, **kw):
    return RecC(f, **kw).load()
def loads(b, **kw):
    return RecC(io.BytesIO(b), **kw).load()
pickle.Unpickler, pickle.load, pickle.loads = RecC, load, loads
loader, path = sys.argv[1], sys.argv[2]
try:
    if loader == 'pickle':
        with open(path, 'rb') as f: load(f)
    elif loader == 'pickle_py':
        with open(path, 'rb') as f: RecPy(f).load()
    elif loader == 'numpy':
        import numpy as np
        r = np.load(path, allow_pickle=True)
        if hasattr(r, 'files'):
            for k in r.files: r[k]
    elif loader == 'torch':
        import torch
        m = types.ModuleType('pickle')
        m.Unpickler, m.load, m.loads = RecC, load, loads
        m.__dict__.update({k: getattr(pickle, k) for k in
                           ('UnpicklingError', 'HIGHEST_PROTOCOL')})
        torch.load(path, weights_only=False, pickle_module=m)
    elif loader in ('gzip', 'xz', 'bz2'):
        import gzip, lzma, bz2
        op = {'gzip': gzip.open, 'xz': lzma.open, 'bz2': bz2.open}[loader]
        with op(path, 'rb') as f: load(f)
except BaseException as e:
    pass
print(json.dumps(asked))
'''



# Samples whose hostile pickle comes after a complete benign one in the
# same stream: no real loader reads it (the manifest lists none), scan
# reports it, and `load` reads it only with --all.
LOAD_FIRST_PICKLE_ONLY = {'gzip_member2.gz'}


def scan(args):
    p = subprocess.run([EXE, 'scan', '--policy', 'ml', '--format', 'json'] + args,
                       capture_output=True, timeout=300, cwd=ROOT)
    return p.returncode, json.loads(p.stdout.decode('utf-8', 'replace'))


def have(mod):
    p = subprocess.run([sys.executable, '-c', 'import ' + mod],
                       capture_output=True, timeout=120)
    return p.returncode == 0


def manifest_tests():
    with open(os.path.join(VIEWS, 'MANIFEST.tsv'), encoding='utf-8') as f:
        rows = list(csv.DictReader(f, delimiter='\t'))
    check(len(rows) >= 25, 'corpus/views has %d samples' % len(rows))
    files = [os.path.join('corpus', 'views', r['file']) for r in rows]
    _, doc = scan(files)
    got = {f['path']: f for f in doc['files']}
    for r, path in zip(rows, files):
        f = got.get(path)
        if not check(f is not None, 'no report for ' + path):
            continue
        sevs = [x['severity'] for x in f['findings']]
        top = max((SEV.index(s) for s in sevs), default=-1)
        want = r['scan']
        what = '%s: want %s, got %s %r' % (r['file'], want, f['verdict'],
                                           [(x['rule'], x['severity'], x['path'])
                                            for x in f['findings']][:4])
        if want == 'clean':
            check(f['verdict'] == 'clean', what)
        elif want == 'not-a-pickle':
            check(f['verdict'] == 'not-a-pickle' and top <= 0, what)
        else:
            sev, _, inner = want.partition('@')
            inner = '' if inner == '.' else inner
            check(any(x['severity'] == sev and x['path'] == inner and
                      x['global'] in ('os.system', 'posix.system')
                      for x in f['findings']), what)
        # load: a hostile view is refused, a clean file loads
        if want == 'clean' or want.startswith('critical'):
            p = subprocess.run([EXE, 'load', '--policy', 'ml', path],
                               capture_output=True, timeout=120, cwd=ROOT)
            err = p.stderr.decode('utf-8', 'replace')
            if want == 'clean':
                check(p.returncode == 0, '%s: load exits %d: %s'
                      % (r['file'], p.returncode, err[:200]))
            elif r['file'] in LOAD_FIRST_PICKLE_ONLY:
                # pickle.load stops after the first pickle, as `load` does by
                # default; the hostile pickle after it is what --all reads
                check(p.returncode == 0, '%s: load of the first pickle exits '
                      '%d: %s' % (r['file'], p.returncode, err[:200]))
                p = subprocess.run([EXE, 'load', '--all', '--policy', 'ml',
                                    path], capture_output=True, timeout=120,
                                   cwd=ROOT)
                err = p.stderr.decode('utf-8', 'replace')
                check(p.returncode == 1 and 'refused' in err,
                      '%s: load --all exits %d without a refusal: %s'
                      % (r['file'], p.returncode, err[:200]))
            else:
                check(p.returncode == 1 and 'refused' in err,
                      '%s: load exits %d without a refusal: %s'
                      % (r['file'], p.returncode, err[:200]))
    return rows


def oracle_tests(rows):
    mods = {'numpy': have('numpy'), 'torch': have('torch')}
    for r in rows:
        if r['oracle'] == '-':
            continue
        for loader in r['oracle'].split(','):
            if loader in mods and not mods[loader]:
                skip('%s: %s is not installed' % (r['file'], loader))
                continue
            p = subprocess.run([sys.executable, '-c', RECORDER, loader,
                                os.path.join(VIEWS, r['file'])],
                               capture_output=True, timeout=300)
            try:
                asked = json.loads(p.stdout.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                asked = None
            check(asked is not None and
                  any(a in ('os.system', 'posix.system') for a in asked),
                  '%s: the real %s loader does not reach os.system: %r %s'
                  % (r['file'], loader, asked, p.stderr.decode()[-300:]))


def one_verdict_path():
    """The whole corpus: by directory and by name, the same findings."""
    corpus = os.path.join(ROOT, 'corpus')
    files = []
    for d, subdirs, names in os.walk(corpus):
        subdirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append(os.path.relpath(p, ROOT))
    _, by_dir = scan(['corpus'])
    _, by_name = scan(files)

    def key(doc):
        out = {}
        for f in doc['files']:
            out[f['path']] = (f['verdict'], sorted(
                (x['rule'], x['severity'], x['offset'], x['path'],
                 x['global'] or '') for x in f['findings']))
        return out
    a, b = key(by_dir), key(by_name)
    check(set(a) == set(b), 'the same files: %r' % sorted(set(a) ^ set(b))[:5])
    diff = [p for p in a if p in b and a[p] != b[p]]
    check(not diff, 'by directory and by name differ for %d files: %s'
          % (len(diff), [(p, a[p], b[p]) for p in diff[:2]]))


def main():
    if not os.path.exists(EXE):
        return no_binary()
    rows = manifest_tests()
    oracle_tests(rows)
    one_verdict_path()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
