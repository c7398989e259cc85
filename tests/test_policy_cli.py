#!/usr/bin/env python3
"""Tests `pickleguard policy check` and `pickleguard policy show`, and the
built-in policies against what CPython itself pickles.

Run with PKL_BUILD=<build dir> (binary at $PKL_BUILD/pickleguard) from the
repository root. Expected error positions come from the '# expect:' line
of each tests/policies/bad file (counted by hand); the names CPython emits
come from CPython's own pickle module (pickle._Unpickler) loading pickles
of benign objects made here.
"""
import collections
import datetime
import decimal
import fractions
import io
import ipaddress
import os
import pickle
import re
import subprocess
import sys
import tempfile
import types
import uuid
import _compat_pickle

from pgtest import EXE, ROOT, check, finish, no_binary, skip
BAD = 'tests/policies/bad'
GOOD = 'tests/policies/good'



def run(*args):
    p = subprocess.run([EXE] + list(args), capture_output=True, text=True,
                       timeout=30, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def expectation(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        first = f.readline()
    m = re.match(r'# expect: (\d+) (\S+) (.*)$', first)
    assert m, path
    code, where, msg = m.groups()
    parts = where.split(':')
    if len(parts) == 3:
        file = os.path.join(BAD, parts[0])
        line, col = parts[1], parts[2]
    else:
        file = path
        line, col = parts
    return file, int(line), int(col), msg


def allow_list(show_output):
    """The allow entries of `policy show` output (one '  - x' per line)."""
    out, cur = {}, None
    for ln in show_output.splitlines():
        if re.match(r'^[a-z_]+:', ln):
            cur = ln.split(':')[0]
            out.setdefault(cur, [])
        elif ln.startswith('  - ') and cur:
            out[cur].append(ln[4:])
    return out


def test_generated_table():
    p = subprocess.run([sys.executable, 'scripts/gen_compat.py', '--check',
                        'src/compat_pickle.def'], cwd=ROOT,
                       capture_output=True, text=True)
    check(p.returncode == 0,
          'src/compat_pickle.def matches _compat_pickle: ' + p.stderr)


def test_bad_files():
    files = sorted(f for f in os.listdir(os.path.join(ROOT, BAD))
                   if f.endswith('.yaml'))
    check(len(files) >= 40, 'bad folder has the broken policies')
    for f in files:
        path = os.path.join(BAD, f)
        file, line, col, msg = expectation(path)
        rc, out, err = run('policy', 'check', path)
        lines = err.splitlines()
        check(rc == 1, '%s: exit %d, want 1' % (path, rc))
        check(out == '', '%s: nothing on stdout' % path)
        check(len(lines) == 1, '%s: one error line, got %r' % (path, err))
        prefix = '%s:%d:%d: ' % (file, line, col)
        check(lines and lines[0].startswith(prefix) and msg in lines[0],
              '%s: %r should start with %r and contain %r'
              % (path, err, prefix, msg))
    # all at once: one line per file, still exit 1
    rc, out, err = run('policy', 'check',
                       *[os.path.join(BAD, f) for f in files])
    check(rc == 1 and len(err.splitlines()) == len(files),
          'check of every bad file: one line each')


def test_good_files():
    paths = [os.path.join(GOOD, f) for f in sorted(os.listdir(
        os.path.join(ROOT, GOOD))) if f.endswith('.yaml')]
    paths.append(os.path.join(GOOD, 'sub', 'grandchild.yaml'))
    rc, out, err = run('policy', 'check', *paths)
    check(rc == 0 and err == '' and out == '', 'good files are valid: ' + err)
    # one good and one bad: exit 1, only the bad one reported
    rc, out, err = run('policy', 'check', paths[0],
                       os.path.join(BAD, 'unknown_key.yaml'))
    check(rc == 1 and len(err.splitlines()) == 1 and 'unknown_key' in err,
          'mixed good and bad')


def test_usage():
    for args, want in [(('policy',), 2), (('policy', 'check'), 2),
                       (('policy', 'frobnicate'), 2),
                       (('policy', 'show', 'a', 'b'), 2),
                       (('policy', 'check', '--bogus', 'x'), 2),
                       (('policy', '--help'), 0),
                       (('policy', 'show', 'no_such_policy'), 2),
                       (('policy', 'check', 'no_such_file.yaml'), 1),
                       (('policy', 'show', os.path.join(BAD, 'version_2.yaml')),
                        1)]:
        rc, out, err = run(*args)
        check(rc == want, '%s: exit %d want %d' % (' '.join(args), rc, want))
    rc, out, err = run('policy', 'check', 'no_such_file.yaml')
    check(err.startswith('no_such_file.yaml: '), 'missing file named: ' + err)


def test_show_roundtrip():
    rc0, default_out, _ = run('policy', 'show')
    rc1, named_out, _ = run('policy', 'show', 'default')
    check(rc0 == 0 and default_out == named_out, 'show defaults to default')
    with tempfile.TemporaryDirectory() as tmp:
        for name in ['strict', 'default', 'ml',
                     os.path.join(GOOD, 'sub', 'grandchild.yaml')]:
            rc, out, err = run('policy', 'show', name)
            check(rc == 0 and out.startswith('# resolved policy'),
                  'show %s: %s' % (name, err))
            path = os.path.join(tmp, 'resolved.yaml')
            with open(path, 'w') as f:
                f.write(out)
            rc, _, err = run('policy', 'check', path)
            check(rc == 0, 'show %s output is a valid policy: %s' % (name, err))
            rc, again, _ = run('policy', 'show', path)
            body = lambda t: t.split('\n', 1)[1]   # drop the origin comment
            check(body(again) == body(out), 'show %s is a fixed point' % name)
        # the built-in files under policies/ are what is embedded
        for name in ['strict', 'default', 'ml']:
            _, a, _ = run('policy', 'show', name)
            _, b, _ = run('policy', 'show', 'policies/%s.yaml' % name)
            check(body(a) == body(b), 'embedded %s == policies/%s.yaml'
                  % (name, name))


def test_show_inheritance():
    rc, out, err = run('policy', 'show', os.path.join(GOOD, 'child.yaml'))
    lists = allow_list(out)
    # base.yaml allows pkg.mod.Good, pkg.mod.Bad, pkg.other.*; child.yaml
    # denies pkg.mod.Bad and sets max_memo: 1KiB, max_bytes: 3 GiB
    check(lists.get('allow') == ['pkg.mod.Bad', 'pkg.mod.Good', 'pkg.other.*'],
          'child allow list: %r' % lists.get('allow'))
    check(lists.get('deny') == ['pkg.mod.Bad'], 'child deny list')
    check('persistent_ids: allow' in out, 'persid inherited')
    check('  max_depth: 50\n' in out and '  max_memo: 1024\n' in out and
          '  max_bytes: 3221225472\n' in out, 'limits merged')
    check(not re.search(r'^extends:', out, re.M),
          'show prints the resolved policy, without extends')


# Names that must never be in any built-in policy: code execution, imports,
# attribute access by name, files/sockets/processes, nested deserializers.
NEVER = '''builtins.eval builtins.exec builtins.compile builtins.getattr
builtins.setattr builtins.delattr builtins.__import__ builtins.open
builtins.globals builtins.vars builtins.breakpoint builtins.input
builtins.type builtins.super builtins.memoryview builtins.print
os.system os.popen os.execv os.spawnl posix.system nt.system
subprocess.Popen subprocess.run subprocess.call subprocess.check_output
pickle.loads pickle.load _pickle.loads marshal.loads shelve.open
importlib.import_module runpy.run_path code.interact ctypes.CDLL
socket.socket shutil.rmtree sys.exit sys.modules functools.partial
functools.reduce operator.attrgetter operator.methodcaller
operator.itemgetter copyreg.__newobj__ copyreg._reconstructor.__globals__
numpy.load numpy.core.multiarray.fromfile numpy.fromfile
numpy.testing._private.utils.runstring numpy.lib.npyio.load
torch.load torch._tensor._rebuild_from_type_v2
torch._utils._rebuild_wrapper_subclass
torch._utils._rebuild_parameter_with_state
joblib.numpy_pickle.NDArrayWrapper joblib.numpy_pickle.ZNDArrayWrapper
builtins.object.__subclasses__ zoneinfo.ZoneInfo re.compile'''.split()


def test_builtins_never():
    for name in ['strict', 'default', 'ml']:
        rc, out, _ = run('policy', 'show', name)
        lists = allow_list(out)
        allow = set(lists.get('allow', []))
        check(not (allow & set(NEVER)), '%s allows %r' % (name,
                                                         allow & set(NEVER)))
        check(not any(a.endswith('.*') for a in allow),
              '%s uses no wildcard (a * also matches __builtins__ etc.)'
              % name)
    _, d, _ = run('policy', 'show', 'default')
    _, m, _ = run('policy', 'show', 'ml')
    check(set(allow_list(d)['allow']) < set(allow_list(m)['allow']),
          'ml extends default')
    check('persistent_ids: deny' in d and 'persistent_ids: allow' in m,
          'persistent ids: default denies, ml allows')
    _, s, _ = run('policy', 'show', 'strict')
    check(allow_list(s).get('allow') == [] and 'persistent_ids: deny' in s,
          'strict allows nothing')


class Recorder(pickle._Unpickler):
    """CPython's pure-Python unpickler, recording what find_class resolves
    (the same steps as pickle.py's find_class) before importing it."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.seen = set()

    def find_class(self, module, name):
        m, n = module, name
        if self.proto < 3 and self.fix_imports:
            if (m, n) in _compat_pickle.NAME_MAPPING:
                m, n = _compat_pickle.NAME_MAPPING[(m, n)]
            elif m in _compat_pickle.IMPORT_MAPPING:
                m = _compat_pickle.IMPORT_MAPPING[m]
        self.seen.add('%s.%s' % (m, n))
        return super().find_class(module, name)


def emitted(obj):
    names = set()
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        r = Recorder(pickle.dumps(obj, proto))
        r.load()
        names |= r.seen
    return names


def test_default_covers_cpython():
    """Every global CPython emits for these values, at every protocol,
    resolves to a name the default policy allows."""
    values = {
        'bytes': b'x', 'empty bytes': b'', 'bytearray': bytearray(b'ab'),
        'set': {1, 2}, 'frozenset': frozenset({1}), 'complex': 1 + 2j,
        'range': range(1, 9, 2), 'slice': slice(1, 2, 3),
        'Ellipsis': ..., 'NotImplemented': NotImplemented,
        'OrderedDict': collections.OrderedDict(a=1),
        'defaultdict(list)': collections.defaultdict(list, a=[1]),
        'defaultdict(int)': collections.defaultdict(int),
        'deque': collections.deque([1, 2], maxlen=5),
        'Counter': collections.Counter('abca'),
        'date': datetime.date(2020, 1, 2),
        'datetime': datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
        'aware datetime': datetime.datetime(
            2020, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        'utc': datetime.timezone.utc,
        'time': datetime.time(1, 2, 3), 'timedelta': datetime.timedelta(3),
        'Decimal': decimal.Decimal('1.25'), 'Fraction': fractions.Fraction(1, 3),
        'UUID': uuid.UUID(int=12345),
        'UUID safe': uuid.UUID(int=1, is_safe=uuid.SafeUUID.safe),
        'object': object(),
        'IPv4Address': ipaddress.ip_address('10.0.0.1'),
        'IPv6Network': ipaddress.ip_network('::/64'),
        'IPv4Interface': ipaddress.ip_interface('10.0.0.1/8'),
        'SimpleNamespace': types.SimpleNamespace(a=1),
        'int type': int, 'str type': str,
    }
    _, out, _ = run('policy', 'show', 'default')
    allow = set(allow_list(out)['allow'])
    for label, value in values.items():
        missing = emitted(value) - allow
        check(not missing, 'default must allow what CPython emits for %s: %r'
              % (label, missing))
    # and the check is not vacuous: a type outside the policy is caught
    check(emitted(collections.ChainMap({})) - allow,
          'ChainMap needs names default does not allow')


def numpy_emitted():
    """Run in an interpreter that has NumPy: the names CPython emits for
    arrays, scalars and dtypes at protocols 0-5 (and joblib's wrapper, if
    joblib is there), as JSON on stdout."""
    import json
    import numpy as np
    values = [np.arange(3), np.ones((2, 2)), np.asfortranarray(np.ones((2, 3))),
              np.zeros(2, dtype=[('a', 'i4'), ('b', 'f8')]),
              np.array(['a']), np.arange(3).astype('>i2'),
              np.array([1, 'a'], dtype=object), np.float64(1.5), np.int32(3),
              np.bool_(True), np.complex128(1j), np.datetime64('2020-01-01'),
              np.dtype('f4')]
    names = set()
    for v in values:
        names |= emitted(v)
    print(json.dumps(sorted(names)))
    return 0


def test_ml_covers_numpy():
    """ml allows every global CPython emits for NumPy values. The test's
    interpreter may lack NumPy; Debian's python3-numpy is tried too."""
    import json
    got = None
    for interp in [sys.executable, '/usr/bin/python3']:
        if not os.path.exists(interp):
            continue
        p = subprocess.run([interp, os.path.abspath(__file__),
                            '--emit-numpy'], capture_output=True, text=True,
                           timeout=60)
        if p.returncode == 0:
            got = json.loads(p.stdout)
            break
    if got is None:
        skip('no interpreter with NumPy; ml/NumPy coverage not checked')
        return
    _, out, _ = run('policy', 'show', 'ml')
    allow = set(allow_list(out)['allow'])
    check('numpy.dtype' in got and not set(got) - allow,
          'ml must allow what CPython emits for NumPy: %r'
          % (set(got) - allow))


def main():
    if sys.argv[1:] == ['--emit-numpy']:
        try:
            import numpy  # noqa: F401
        except ImportError:
            return 3
        return numpy_emitted()
    if not os.path.exists(EXE):
        return no_binary()
    for t in [test_generated_table, test_bad_files, test_good_files,
              test_usage, test_show_roundtrip, test_show_inheritance,
              test_builtins_never, test_default_covers_cpython,
              test_ml_covers_numpy]:
        try:
            t()
        except Exception as e:  # a crash in one test is one failure
            check(False, '%s raised %r' % (t.__name__, e))
    return finish()


if __name__ == '__main__':
    sys.exit(main())
