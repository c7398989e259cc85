"""The flags of a numpy.dtype a pickle rebuilt (BUILD, dtype.__setstate__).

numpy's arraydescr_setstate (numpy/_core/src/multiarray/descriptor.c) takes
the dtype's flags from the state (item 7 of a version 3 or 4 state)
whatever the type. An object dtype without NPY_LIST_PICKLE makes
ndarray.__setstate__ copy the pickle's raw bytes into an object array, and
one without NPY_ITEM_REFCOUNT makes joblib's NumpyArrayWrapper.read_array
read raw bytes there (dtype.hasobject is False): numpy then dereferences
those bytes as object pointers. A number type with those flags has numpy
count references through its bytes. pickle.loads and joblib.load corrupt
memory on such a file (the oracle's joblib worker dies of SIGSEGV:
fuzz/README.md); pickleguard refuses the dtype instead, before anything
uses it.
"""
import numpy as np

from ._pickleguard import PolicyError

# NPY_ITEM_REFCOUNT | NPY_ITEM_HASOBJECT (0x01), NPY_LIST_PICKLE (0x02),
# NPY_ITEM_IS_POINTER (0x04): the flags that decide whether numpy treats
# an item's bytes as object pointers (numpy/_core/include/numpy/ndarraytypes.h)
_POINTER_FLAGS = 0x07


def _natural(dt, depth=0):
    """The dtype numpy builds for what dt describes, through its public
    constructors (no state, so numpy computes the flags itself)."""
    if depth > 32:
        raise PolicyError("a numpy.dtype nested more than 32 levels deep")
    if dt.fields is not None:
        names = list(dt.names)
        spec = {"names": names,
                "formats": [_natural(dt.fields[n][0], depth + 1) for n in names],
                "offsets": [dt.fields[n][1] for n in names],
                "itemsize": dt.itemsize,
                "aligned": dt.isalignedstruct}
        titles = [dt.fields[n][2] if len(dt.fields[n]) > 2 else None for n in names]
        if any(t is not None for t in titles):
            spec["titles"] = titles
        return np.dtype(spec)
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return np.dtype((_natural(base, depth + 1), shape))
    return np.dtype(dt.str)


def check(dt):
    """Raises PolicyError when dt's pointer flags are not the ones numpy
    gives the dtype it describes."""
    try:
        nat = _natural(dt)
    except PolicyError:
        raise
    except Exception as e:
        raise PolicyError("a numpy.dtype whose description numpy cannot build "
                          "again (%s: %s)" % (type(e).__name__, e)) from None
    if (dt.flags ^ nat.flags) & _POINTER_FLAGS:
        raise PolicyError(
            "a numpy.dtype %s whose state sets flags 0x%x where numpy gives it "
            "0x%x: numpy would %s (memory corruption in pickle.loads and "
            "joblib.load); refused" % (
                dt, dt.flags, nat.flags,
                "read object pointers from raw bytes" if nat.flags & 1
                else "count references through plain bytes"))
