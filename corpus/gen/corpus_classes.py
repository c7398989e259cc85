"""corpus_classes -- user classes whose pickles go into corpus/benign/.

They exist so the corpus holds pickles of user-defined classes made by
CPython itself, through every path the pickler has: REDUCE (__reduce__),
NEWOBJ (copyreg.__newobj__ at protocol >= 2), NEWOBJ_EX (__getnewargs_ex__
at protocol >= 4; functools.partial at protocols 2-3), BUILD with a
__dict__ state, a __getstate__ state and a slots state, and
copyreg._reconstructor at protocols 0-1. The generator imports this module
by the name `corpus_classes`, which is the module name the pickles carry:
no built-in pickleguard policy allows it, so these files are `refused`
under `default` and `strict` and scan `high`.

Nothing here may do anything but hold data: tests pickle.loads these files.
"""


class Point:
    """Plain instance: _reconstructor (proto 0-1) or NEWOBJ, then BUILD."""

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Reduced:
    """__reduce__ returns (class, args): GLOBAL/STACK_GLOBAL then REDUCE."""

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __reduce__(self):
        return (Reduced, (self.a, self.b))


class KwNew:
    """__getnewargs_ex__ with keyword arguments: NEWOBJ_EX at protocol 4+."""

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self.args = args
        self.kwargs = kwargs
        return self

    def __getnewargs_ex__(self):
        return (self.args, self.kwargs)

    def __getstate__(self):
        return {'tag': 'kw'}


class Stateful:
    """__getstate__/__setstate__ with a non-dict state: BUILD with a tuple."""

    def __init__(self, n):
        self.n = n

    def __getstate__(self):
        return (self.n, 'state')

    def __setstate__(self, state):
        self.n = state[0]


class Slotted:
    """__slots__: the BUILD state is (None, {slot: value}) at protocol 2+."""

    __slots__ = ('p', 'q')

    def __init__(self, p, q):
        self.p = p
        self.q = q

    def __getstate__(self):
        return (None, {'p': self.p, 'q': self.q})
