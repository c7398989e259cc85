#!/usr/bin/env python3
"""test_streams.py -- tar, compression and joblib streams read as the real
readers read them (docs/formats.md, "tar" and "Compressed pickles").

corpus/streams/MANIFEST.tsv (written by corpus/streams/gen/gen_streams.py
from raw bytes) lists one sample per reader rule. For each:

  * `pickleguard scan --policy ml` reports a finding of at least the
    stated severity at the stated inner path (with the stated text:
    joblib < 0.10 side files);
  * for tar samples, CPython's tarfile (the independent source) names the
    hostile member as the manifest says, so the path above is tarfile's
    name, not ours;
  * the oracle column: the real loader runs under tests/oracle.py's
    recorder (find_class returns inert stand-ins, an audit hook aborts on
    process creation) and asks for os.system -- torch.load for torch's
    legacy tar format, gzip.open / lzma.open / compression.zstd.open
    (backports.zstd on Python < 3.14) for the compressed ones, joblib.load
    for joblib files (ZF files, NDArrayWrapper side files),
    numpy.load(allow_pickle=True) for a side file. A missing torch,
    joblib, numpy or zstd module is a counted skip.

The joblib < 0.10 side files are also checked through a directory scan:
each side file is critical as what joblib reads, and each wrapper's
pickle names its side file.

Also checks, with tarfile as the reference, the member names and sizes of
every tar sample against `pickleguard dis`-free means: the scan's paths.
Nothing is unpickled outside the recorder. Prints "N passed, M failed,
K skipped" last.
"""
import csv
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

from pgtest import EXE, ROOT, check, finish, no_binary, skip

HERE = os.path.dirname(os.path.abspath(__file__))
STREAMS = os.path.join(ROOT, 'corpus', 'streams')

# an extra oracle worker: lzma.open (FORMAT_AUTO) on any file, which
# tests/oracle.py's `compressed` picks only by the first bytes of .xz/.lzma
LZMA_WORKER = r'''
import sys
sys.path.insert(0, sys.argv[1])
import lzma, gzip
import oracle
def run_open(path):
    CRec, _ = oracle.recorder_classes()
    head = open(path, 'rb').read(4)
    op = gzip.open if head[:2] == b'\x1f\x8b' else lzma.open
    if head[:4] == b'\x28\xb5\x2f\xfd' or head[1:4] == b'\x2a\x4d\x18':
        op = oracle.zstd_open()
        if op is None:
            sys.exit(3)
    with op(path, 'rb') as f:
        oracle.load_all(CRec, f)
oracle.RUNNERS['open'] = run_open
oracle.worker('open')
'''


SEVERITIES = ['info', 'low', 'medium', 'high', 'critical']


def scan(paths):
    p = subprocess.run([EXE, 'scan', '--policy', 'ml', '--format', 'json'] +
                       paths, capture_output=True, timeout=300, cwd=ROOT)
    return json.loads(p.stdout.decode('utf-8', 'replace'))


def rows():
    with open(os.path.join(STREAMS, 'MANIFEST.tsv'), encoding='utf-8') as f:
        return list(csv.DictReader(f, delimiter='\t'))


def asked_system(rec):
    return any(any(n in ('os.system', 'posix.system') for n in g)
               for g in rec.get('globals', []))


def scan_tests(rs):
    files = [os.path.join('corpus', 'streams', r['file']) for r in rs]
    doc = scan(files)
    got = {f['path']: f for f in doc['files']}
    for r, path in zip(rs, files):
        f = got.get(path)
        if not check(f is not None, 'no report for ' + path):
            continue
        # SEVERITY@PATH[:TEXT]: a finding at least that severe at that
        # inner path ('.': the file), whose message holds TEXT
        sev, want = r['scan'].split('@', 1)
        want, _, text = want.partition(':')
        inner = '' if want == '.' else want
        ok = SEVERITIES[SEVERITIES.index(sev):]
        hit = [x for x in f['findings'] if x['severity'] in ok and
               x.get('path', '') == inner and text in x.get('message', '')]
        check(hit, '%s: %s at %r%s (got %s)' % (
            r['file'], sev, want, ' saying ' + text if text else '',
            [(x['severity'], x['rule'], x.get('path'))
             for x in f['findings']]))


def display(name):
    """pkli_fmt_put_name's spelling of a member name."""
    out = ''
    for b in name.encode('utf-8', 'surrogateescape'):
        c = chr(b)
        out += c if 32 <= b < 127 and c not in '\\!' else '\\x%02x' % b
    return out


def tarfile_tests(rs):
    for r in rs:
        if r['tarname'] == '-':
            continue
        path = os.path.join(STREAMS, r['file'])
        with tarfile.open(path, 'r:') as t:
            names = [m.name for m in t.getmembers()]
        check(display(names[-1]) == r['tarname'] or
              r['tarname'] in [display(n) for n in names],
              '%s: tarfile names the member %r (members %r)'
              % (r['file'], r['tarname'], names))
        check(r['scan'] == 'critical@' + r['tarname'],
              '%s: the scan path is tarfile\'s name' % r['file'])


def oracle_zstd_missing():
    p = subprocess.run([sys.executable, '-c', 'import sys; '
                        'sys.path.insert(0, sys.argv[1]); import oracle; '
                        'sys.exit(oracle.zstd_open() is None)', HERE])
    return p.returncode != 0


def numpy_oracle(rs):
    """numpy.load(allow_pickle=True) -- what joblib's NDArrayWrapper
    calls on a side file -- asks for os.system."""
    nrows = [r for r in rs if 'numpy' in r['oracle'].split(',')]
    paths = [os.path.join(STREAMS, r['file']) for r in nrows]
    p = subprocess.run([sys.executable, os.path.join(HERE, 'oracle.py'),
                        '--worker', 'numpy'], input='\n'.join(paths) + '\n',
                       capture_output=True, text=True, timeout=600,
                       cwd=tempfile.gettempdir())
    if p.returncode == 3:
        skip('numpy not installed: %d numpy oracle checks' % len(paths))
        return
    recs = {}
    for line in p.stdout.splitlines():
        d = json.loads(line)
        recs[d['path']] = d
    for r, path in zip(nrows, paths):
        rec = recs.get(path, {})
        check(asked_system(rec), '%s: numpy.load asks for os.system (got %s)'
              % (r['file'], rec))


def side_file_tests():
    """joblib < 0.10 side files: scanning the directory scans them as what
    joblib reads them as, and the wrapper's pickle names each one."""
    doc = scan([os.path.join('corpus', 'streams')])
    got = {f['path']: f for f in doc['files']}
    for side in ('joblib_nd_side.pkl_01.npy', 'joblib_znd.pkl_01.npy.z'):
        f = got.get(os.path.join('corpus', 'streams', side), {})
        check(any(x['severity'] == 'critical'
                  for x in f.get('findings', [])),
              'directory scan: the side file %s is critical' % side)
    for main, side in (('joblib_nd_side.pkl', 'joblib_nd_side.pkl_01.npy'),
                       ('joblib_znd.pkl', 'joblib_znd.pkl_01.npy.z')):
        f = got.get(os.path.join('corpus', 'streams', main), {})
        check(any(x['severity'] == 'medium' and "'%s'" % side in x['message']
                  for x in f.get('findings', [])),
              'directory scan: %s names its side file %s' % (main, side))


def oracle_tests(rs):
    torch_rows = [r for r in rs if 'torch' in r['oracle'].split(',')]
    paths = [os.path.join(STREAMS, r['file']) for r in torch_rows]
    # cwd in the temporary directory: torch's mkdtemp cleanup removes
    # files by dir_fd-relative name, which the oracle's guard resolves
    # against the working directory
    p = subprocess.run([sys.executable, os.path.join(HERE, 'oracle.py'),
                        '--worker', 'torch'], input='\n'.join(paths) + '\n',
                       capture_output=True, text=True, timeout=600,
                       cwd=tempfile.gettempdir())
    if p.returncode == 3:
        skip('torch is not installed: %d torch oracle checks' % len(paths))
    else:
        check(p.returncode == 0, 'torch oracle worker exits 0 (%d: %s)'
              % (p.returncode, p.stderr[-300:]))
        recs = {}
        for line in p.stdout.splitlines():
            d = json.loads(line)
            recs[d['path']] = d
        for r, path in zip(torch_rows, paths):
            rec = recs.get(path, {})
            check(asked_system(rec), '%s: torch.load asks for os.system '
                  '(got %s)' % (r['file'], rec))
    jrows = [r for r in rs if 'joblib' in r['oracle'].split(',')]
    paths = [os.path.join(STREAMS, r['file']) for r in jrows]
    p = subprocess.run([sys.executable, os.path.join(HERE, 'oracle.py'),
                        '--worker', 'joblib'], input='\n'.join(paths) + '\n',
                       capture_output=True, text=True, timeout=600,
                       cwd=tempfile.gettempdir())
    if p.returncode == 3:
        skip('joblib/numpy not installed: %d joblib oracle checks' % len(paths))
    else:
        recs = {}
        for line in p.stdout.splitlines():
            d = json.loads(line)
            recs[d['path']] = d
        for r, path in zip(jrows, paths):
            rec = recs.get(path, {})
            check(asked_system(rec), '%s: joblib.load asks for os.system '
                  '(got %s)' % (r['file'], rec))
    comp = [r for r in rs if 'compressed' in r['oracle'].split(',') or
            r['file'].endswith('.lz')]
    paths = [os.path.join(STREAMS, r['file']) for r in comp]
    if oracle_zstd_missing():
        skip('neither compression.zstd nor backports.zstd: %d zstd oracle '
             'checks' % len([p for p in paths if p.endswith('.zst')]))
        comp = [r for r in comp if not r['file'].endswith('.zst')]
        paths = [p for p in paths if not p.endswith('.zst')]
    p = subprocess.run([sys.executable, '-c', LZMA_WORKER, HERE],
                       input='\n'.join(paths) + '\n', capture_output=True,
                       text=True, timeout=300, cwd=tempfile.gettempdir())
    recs = {}
    for line in p.stdout.splitlines():
        d = json.loads(line)
        recs[d['path']] = d
    for r, path in zip(comp, paths):
        rec = recs.get(path, {})
        check(asked_system(rec), '%s: gzip.open/lzma.open then pickle.load '
              'asks for os.system (got %s)' % (r['file'], rec))


def legacy_layout_tests():
    """torch's legacy tar `storages` / `tensors` layout (pickles between raw
    bytes) on well-formed and inconsistent files built here from raw bytes:
    the real torch.load (under the recorder) reads the well-formed one to
    the end, so the layout the scan walks is torch's; the scan finds no
    damage in it, and reports the inconsistent sizes as damage (medium)
    while still naming the global unpickled before them."""
    sys.path.insert(0, os.path.join(STREAMS, 'gen'))
    import gen_streams as g
    st = (b"\x80\x02K\x03." + g.storage_rec(0) + g.raw_storage(3, 4) +
          g.storage_rec(1, b"DoubleStorage") +
          struct.pack('<q', (1 << 61) + 1) + b"\x07" * 8 +
          g.storage_rec(2, b"BoolStorage") + g.raw_storage(0, 1) +
          b"\x80\x02]q\x00(K\x03K\x00K\x01K\x01tq\x01a.")
    te = (b"K\x01." + b"\x80\x02(K\x05K\x00ctorch\nFloatStorage\nt." +
          struct.pack('<ii', 2, 0) + struct.pack('<5q', 3, 1, 1, 1, 0))
    pk = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01X\x01\x00\x00\x005q\x02Qs."
    good = (g.member(b"storages", st) + g.member(b"tensors", te) +
            g.member(b"pickle", pk) + b"\0" * 1024)
    # storage 1 claims 100 floats where 8 bytes remain; its record calls
    # os.system (REDUCE) for the location before that
    bad_st = (b"K\x02." + g.storage_rec(0) + g.raw_storage(1, 4) +
              b"\x80\x02K\x01" + g.MAL[:-1] + b"ctorch\nFloatStorage\n\x87." +
              struct.pack('<q', 100) + b"\0" * 8)
    bad = (g.member(b"storages", bad_st) + g.member(b"tensors", b"K\x00.") +
           g.member(b"pickle", pk) + b"\0" * 1024)
    trunc_st = (b"K\x02." + g.storage_rec(0) + g.raw_storage(1, 4) +
                g.storage_rec(1) + struct.pack('<q', 100) + b"\0" * 8)
    trunc = (g.member(b"storages", trunc_st) +
             g.member(b"tensors", b"K\x00.") + g.member(b"pickle", pk) +
             b"\0" * 1024)
    # protocol 4: a record whose STOP sits 3 bytes before its frame's end;
    # both unpicklers leave the file at the frame's end, where the raw
    # count and then the views pickle (os.system) follow
    rec = g.storage_rec(0)[2:]
    framed_st = (b"K\x01." + b"\x80\x04\x95" + struct.pack('<Q', len(rec) + 3) +
                 rec + b"NNN" + g.raw_storage(2, 4) + g.MAL)
    framed = (g.member(b"storages", framed_st) +
              g.member(b"tensors", b"K\x00.") + g.member(b"pickle", pk) +
              b"\0" * 1024)
    # a tensor header with a negative ndim: struct.error in legacy_load
    bad_te = (g.member(b"storages", b"K\x00.]." ) + g.member(
        b"tensors", b"K\x02." + b"\x80\x02(K\x05K\x00K\x00t." +
        struct.pack('<ii', -1, 0) + g.MAL) + g.member(b"pickle", pk) +
        b"\0" * 1024)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, data in (('good.tar', good), ('bad.tar', bad),
                           ('bad_te.tar', bad_te), ('trunc.tar', trunc),
                           ('framed.tar', framed)):
            paths.append(os.path.join(d, name))
            with open(paths[-1], 'wb') as f:
                f.write(data)
        doc = scan(paths)
        got = {os.path.basename(f['path']): f['findings']
               for f in doc['files']}
        sev = [(x['severity'], x['rule']) for x in got.get('good.tar', [])]
        check(not [x for x in sev if x[0] in ('medium', 'critical')],
              'well-formed legacy tar: no medium or critical (got %s)' % sev)
        fs = got.get('bad.tar', [])
        check([x for x in fs if x['severity'] == 'critical' and
               x.get('path') == 'storages'],
              'inconsistent storages: the record before the bad size is '
              'scanned (got %s)' % fs)
        check([x for x in fs if x['severity'] == 'medium' and
               x['rule'].startswith('container-') and
               x.get('path') == 'storages'],
              'inconsistent storages: a record it cannot size is medium '
              '(got %s)' % fs)
        fs = got.get('framed.tar', [])
        check([x for x in fs if x['severity'] == 'critical' and
               x.get('path') == 'storages'],
              'STOP inside a frame: the pickle after the frame is scanned '
              '(got %s)' % fs)
        fs = got.get('trunc.tar', [])
        check([x for x in fs if x['rule'] == 'container-truncated' and
               x.get('path') == 'storages'],
              'storage size past the member\'s end: damage (got %s)' % fs)
        fs = got.get('bad_te.tar', [])
        check([x for x in fs if x['rule'] == 'container-truncated' and
               x.get('path') == 'tensors'] and
              not [x for x in fs if x['severity'] == 'critical'],
              'negative ndim: damage, and the pickle after it (never '
              'unpickled) is not reported (got %s)' % fs)
        p = subprocess.run([sys.executable, os.path.join(HERE, 'oracle.py'),
                            '--worker', 'torch'], input='\n'.join(paths) +
                           '\n', capture_output=True, text=True,
                           timeout=600, cwd=tempfile.gettempdir())
        if p.returncode == 3:
            skip('torch is not installed: 5 legacy layout oracle checks')
            return
        recs = {}
        for line in p.stdout.splitlines():
            dd = json.loads(line)
            recs[os.path.basename(dd['path'])] = dd
        check(recs.get('good.tar', {}).get('error', 'x') is None,
              'torch.load reads the well-formed legacy tar to the end (%s)'
              % recs.get('good.tar'))
        check(asked_system(recs.get('bad.tar', {})),
              'torch.load asks for os.system before the bad size (%s)'
              % recs.get('bad.tar'))
        check(asked_system(recs.get('framed.tar', {})),
              'torch.load reads on from the frame\'s end (%s)'
              % recs.get('framed.tar'))
        check('EOF' in (recs.get('trunc.tar', {}).get('error') or ''),
              'torch.load fails at the size past the end (%s)'
              % recs.get('trunc.tar'))
        check(not asked_system(recs.get('bad_te.tar', {})) and
              recs.get('bad_te.tar', {}).get('error'),
              'torch.load fails at the negative ndim (%s)'
              % recs.get('bad_te.tar'))


def main():
    if not os.path.exists(EXE):
        return no_binary()
    rs = rows()
    check(len(rs) >= 20, 'corpus/streams has %d samples' % len(rs))
    scan_tests(rs)
    tarfile_tests(rs)
    oracle_tests(rs)
    legacy_layout_tests()
    numpy_oracle(rs)
    side_file_tests()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
