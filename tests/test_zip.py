#!/usr/bin/env python3
"""test_zip.py -- the two zip readers (docs/formats.md, "Zip: the two
readers"): on each corpus/views/zip_* sample (corpus/views/gen/gen_zip.py),

  (a) the REAL readers say which bytes they hand over: CPython's zipfile
      (numpy.load's reader for .npz: ZipFile(...).read(name), the name
      lookup being NameToInfo, the last entry of a name) and PyTorch's
      (torch._C.PyTorchFileReader(...).get_record(name), miniz underneath).
      Those bytes are decoded with pickletools.genops -- never unpickled;
      an .npy member's body is found with numpy.lib.format -- and the test
      asserts which reader reaches GLOBAL os.system: the differential is
      real, not a scanner opinion;
  (b) `pickleguard scan --policy ml` reports os.system (critical) at the
      member path a reader loads it from, by file name and when the
      directory corpus/views is scanned;
  (c) a differential over 150 seeded mutations of those samples (end
      records, directory and local header fields overwritten, bytes
      prepended, tails repeated): whenever a real reader hands over bytes
      whose pickle imports os.system, the scan of the mutated file reports
      os.system.

A missing torch or numpy is a counted skip. Prints "N passed, M failed,
K skipped" last.
"""
import io
import json
import os
import pickletools
import random
import struct
import subprocess
import sys
import tempfile
import zipfile

from pgtest import EXE, ROOT, check, finish, no_binary, skip

VIEWS = os.path.join(ROOT, 'corpus', 'views')

# sample: (zipfile member, torch record, path of the finding,
#          does zipfile's view hold os.system, does torch's)
# None for a reader: it refuses the member or the archive (shown below).
SAMPLES = {
    'zip_cd_shift.npz': ('d/a.npy', 'a.npy', 'd/a.npy', True, False),
    'zip_eocd_in_comment.npz': ('d/a.npy', 'a.npy', 'd/a.npy', True, True),
    'zip64_locator.npz': ('d/a.npy', 'a.npy', 'd/a.npy', True, False),
    'zip_dup_names.npz': ('d/a.npy', 'a.npy', 'd/a.npy', True, False),
    'zip_cd_shift.pt': ('archive/data.pkl', 'data.pkl', 'archive/data.pkl',
                        False, True),
    'zip_case.pt': ('archive/data.pkl', 'data.pkl', 'archive/DATA.PKL',
                    None, True),
    'zip_prefix.pt': ('x/data.pkl', 'data.pkl', 'x/data.pkl', True, True),
    'zip_local_name.pt': ('archive/data.pkl', 'data.pkl', 'archive/data.pkl',
                          None, True),
    'zip_member_view.zip': ('inner.bin', None, 'inner.bin', True, None),
}


def globals_in(data):
    """Names GLOBAL imports in the pickle these bytes hold (an .npy's
    object-array body, else the bytes themselves), by pickletools."""
    if data.startswith(b'\x93NUMPY'):
        import numpy as np
        f = io.BytesIO(data)
        ver = np.lib.format.read_magic(f)
        rd = (np.lib.format.read_array_header_1_0 if ver == (1, 0)
              else np.lib.format.read_array_header_2_0)
        _, _, dtype = rd(f)
        if not dtype.hasobject:
            return []
        data = f.read()
    out = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == 'GLOBAL':
                out.append(arg.replace(' ', '.'))
    except Exception:
        pass  # a pickle that runs out: what came before still counts
    return out


def zipfile_view(path, member):
    try:
        with zipfile.ZipFile(path) as z:
            return z.read(member)
    except (KeyError, zipfile.BadZipFile):
        return None


def torch_view(path, record):
    import torch
    with open(path, 'rb') as f:
        r = torch._C.PyTorchFileReader(io.BytesIO(f.read()))
    try:
        return bytes(r.get_record(record))
    except RuntimeError:
        return None


def have(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def real_readers():
    np_ok, torch_ok = have('numpy'), have('torch')
    for name, (member, record, _, zf_evil, t_evil) in sorted(SAMPLES.items()):
        path = os.path.join(VIEWS, name)
        if name.endswith('.npz') and not np_ok:
            skip('%s: numpy is not installed' % name)
        else:
            data = zipfile_view(path, member)
            if zf_evil is None:
                check(data is None, '%s: zipfile reads %s' % (name, member))
            else:
                got = data is not None and 'os.system' in globals_in(data)
                check(got == zf_evil, '%s: zipfile view of %s: os.system %s'
                      % (name, member, 'missing' if zf_evil else 'present'))
        if t_evil is None:
            continue
        if not torch_ok:
            skip('%s: torch is not installed' % name)
            continue
        data = torch_view(path, record)
        got = data is not None and 'os.system' in globals_in(data)
        check(got == t_evil, '%s: torch view of %s: os.system %s'
              % (name, record, 'missing' if t_evil else 'present'))


def scan(args):
    p = subprocess.run([EXE, 'scan', '--policy', 'ml', '--format', 'json']
                       + args, capture_output=True, timeout=300, cwd=ROOT)
    return json.loads(p.stdout.decode('utf-8', 'replace'))


def reported(doc, path, inner):
    for f in doc['files']:
        if f['path'] == path:
            return any(x['severity'] == 'critical' and x['path'] == inner and
                       x['global'] in ('os.system', 'posix.system')
                       for x in f['findings'])
    return False


def scanner():
    names = sorted(SAMPLES)
    paths = [os.path.join('corpus', 'views', n) for n in names]
    by_name = scan(paths)
    by_dir = scan([os.path.join('corpus', 'views')])
    for n, p in zip(names, paths):
        inner = SAMPLES[n][2]
        check(reported(by_name, p, inner),
              '%s: scan does not report os.system at %s' % (n, inner))
        check(reported(by_dir, p, inner),
              '%s: a directory scan does not report os.system at %s'
              % (n, inner))


def reaching(data, torch_ok):
    """Which real readers hand over a member whose pickle imports
    os.system (nothing is unpickled)."""
    found = []
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        for info in z.infolist():
            try:
                d = z.open(info).read(1 << 20)
            except Exception:
                continue
            if 'os.system' in globals_in(d):
                found.append(('zipfile', info.filename))
    except Exception:
        pass
    if torch_ok:
        import torch
        try:
            r = torch._C.PyTorchFileReader(io.BytesIO(data))
            for n in r.get_all_records():
                try:
                    d = bytes(r.get_record(n))
                except Exception:
                    continue
                if 'os.system' in globals_in(d):
                    found.append(('torch', n))
        except Exception:
            pass
    return found


def mutate(rnd, b):
    b = bytearray(b)
    for _ in range(rnd.randint(1, 3)):
        k = rnd.random()
        if k < 0.15:
            b[0:0] = bytes(rnd.randint(1, 64))
        elif k < 0.3:
            n = rnd.randint(22, min(200, len(b)))
            b += b[-n:]
        else:
            sigs = [i for i in range(len(b) - 4) if b[i:i + 2] == b'PK'
                    and b[i + 2] in (1, 3, 5, 6, 7)]
            if not sigs:
                continue
            off = rnd.choice(sigs) + rnd.choice(
                [4, 6, 8, 10, 12, 16, 20, 24, 26, 28, 30, 32, 42, 48])
            if off + 4 > len(b):
                continue
            v = rnd.choice([0, 1, 2, 0xFFFF, 0xFFFFFFFF, rnd.randint(0, len(b)),
                            struct.unpack_from('<I', b, off)[0]
                            + rnd.randint(-64, 64)]) & 0xFFFFFFFF
            w = rnd.choice([2, 4])
            b[off:off + w] = struct.pack('<I', v)[:w]
    return bytes(b)


def mutations(n=150, seed=14):
    if not have('numpy'):
        skip('mutations: numpy is not installed')
        return
    torch_ok = have('torch')
    if not torch_ok:
        skip('mutations: torch is not installed (zipfile side only)')
    rnd = random.Random(seed)
    bases = [open(os.path.join(VIEWS, f), 'rb').read() for f in sorted(SAMPLES)]
    with tempfile.TemporaryDirectory() as tmp:
        hits = {}
        for i in range(n):
            data = mutate(rnd, rnd.choice(bases))
            found = reaching(data, torch_ok)
            if found:
                path = os.path.join(tmp, 'm%03d.bin' % i)
                with open(path, 'wb') as f:
                    f.write(data)
                hits[path] = found
        check(len(hits) >= n // 4, 'mutations: only %d of %d reach os.system'
              % (len(hits), n))
        doc = scan([tmp])
        got = {f['path']: f for f in doc['files']}
        for path, found in sorted(hits.items()):
            f = got.get(path)
            check(f is not None and any(
                x['global'] in ('os.system', 'posix.system')
                for x in f['findings']),
                'mutation %s: %r reach os.system, scan does not report it'
                % (os.path.basename(path), found))


def overlap_budget():
    """Central-directory entries that all point at one stored member hand
    its bytes out again and again: each pass beyond the archive's own size
    is charged to --max-total, so the walk is bounded by it (a limit
    finding past it) and reads every entry below it. zipfile itself reads
    such entries as they are (corpus/regressions/oracle/
    zip_overlap_after_oversized.npz for the member numpy reaches)."""
    import tempfile
    import zipfile
    import io
    body = b"x" * 65536
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("blob.bin", (2020, 1, 1, 0, 0, 0)), body)
    raw = bio.getvalue()
    cd = raw.index(b"PK\x01\x02")
    eocd = raw.index(b"PK\x05\x06")
    entry = raw[cd:eocd]
    n = 64
    names = [b"blob%02d.bin" % i for i in range(n)]
    cds = b"".join(entry[:28] + len(nm).to_bytes(2, "little") + entry[30:46]
                   + nm for nm in names)
    end = (b"PK\x05\x06" + b"\x00" * 4 + n.to_bytes(2, "little") * 2 +
           len(cds).to_bytes(4, "little") + cd.to_bytes(4, "little") +
           b"\x00\x00")
    data = raw[:cd] + cds + end
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "overlap.zip")
        with open(path, "wb") as f:
            f.write(data)
        check(len(zipfile.ZipFile(path).namelist()) == n,
              "overlap sample: zipfile lists the %d entries" % n)
        for total, want in (("1M", True), ("64M", False)):
            doc = scan(["--max-total", total, path])
            fnd = doc["files"][0]["findings"]
            lim = any(x["rule"] == "container-limit" and
                      "entries overlap" in x["message"] for x in fnd)
            check(lim == want, "%d entries over one 64 KiB member, "
                  "--max-total %s: overlap limit %s" %
                  (n, total, "expected" if want else "not expected"))


def main():
    if not os.path.exists(EXE):
        return no_binary()
    real_readers()
    scanner()
    overlap_budget()
    mutations()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
