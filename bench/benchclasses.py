"""User class pickled by bench/gen_workload.py (protocol-2 workload).

It lives in its own module so that pickle.load in the Python benchmark can
import it by name (`benchclasses.Point`): bench/pytools.py puts bench/ on
sys.path first. Keep it trivial: the benchmark measures unpickling, and a
custom __reduce__ or __setstate__ would measure Python code instead.
"""


class Point:
    """A plain object with a __dict__; protocol 2 pickles it as
    GLOBAL benchclasses Point + EMPTY_TUPLE + NEWOBJ + state dict + BUILD."""

    def __init__(self, x, y, label, tags):
        self.x = x
        self.y = y
        self.label = label
        self.tags = tags

    def __eq__(self, other):
        return type(other) is Point and self.__dict__ == other.__dict__

    def __repr__(self):
        return "Point(%r, %r, %r, %r)" % (self.x, self.y, self.label, self.tags)
