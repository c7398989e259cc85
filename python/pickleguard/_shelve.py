"""shelve_open(): a read-only Mapping over a shelve file, values decoded
under the policy (shelve.Shelf would pickle.loads them).

Which back end holds the shelf is decided as shelve.open(filename, "r")
decides it: CPython Lib/dbm/__init__.py `whichdb` (NAME.pag + NAME.dir:
old ndbm; NAME.db: ndbm, which on Debian is Berkeley DB's ndbm emulation;
NAME.dat + NAME.dir starting with a quote or empty: dbm.dumb; else NAME's
own magic: "SQLite format 3" dbm.sqlite3 (Python 3.13), 0x13579ace/cd/cf
GNU dbm). The back ends are read by:

* dbm.dumb: Python's dbm.dumb, read-only (flag "r");
* dbm.sqlite3: Python's sqlite3 on a read-only, immutable URI (nothing is
  written next to the file; a -wal file is not read, as by the scanner),
  the queries of Lib/dbm/sqlite3.py (keys are BLOBs);
* GNU dbm: Python's dbm.gnu when the interpreter has it, else libgdbm
  through the library's shelf reader (src/formats_dbm.c pkli_gdbm_walk:
  GDBM_READER, no locking);
* Berkeley DB (NAME.db): the library's own reader (src/formats_bdb.c
  pkli_bdb_walk, never libdb, which is not made for hostile files), the
  one `pickleguard scan` uses: every hash page is read; a key seen twice,
  a key longer than 200 bytes (the reader shortens it) or anything the
  reader cannot read is a PolicyError.
"""
import collections.abc
import dbm.dumb
import os
import struct

from ._pickleguard import PolicyError, _shelf_walk

_MAX_KEYS = 1 << 24

try:  # once: whether this Python has GNU dbm
    import dbm.gnu as _gnu
except ImportError:
    _gnu = None


def whichdb(filename):
    """Lib/dbm/__init__.py whichdb (3.11), with 3.13's dbm.sqlite3 magic.
    None: unreadable; "": not recognised."""
    fn = os.fsencode(filename)
    if os.path.exists(fn + b".pag") and os.path.exists(fn + b".dir"):
        return "dbm.ndbm"
    if os.path.exists(fn + b".db"):
        return "dbm.ndbm"
    try:
        os.stat(fn + b".dat")
        size = os.stat(fn + b".dir").st_size
        if size == 0:
            return "dbm.dumb"
        with open(fn + b".dir", "rb") as f:
            if f.read(1) in (b"'", b'"'):
                return "dbm.dumb"
    except OSError:
        pass
    try:
        with open(fn, "rb") as f:
            s16 = f.read(16)
    except OSError:
        return None
    if s16 == b"SQLite format 3\0":
        return "dbm.sqlite3"
    if len(s16) < 4:
        return ""
    (magic,) = struct.unpack("=l", s16[:4])
    if magic in (0x13579ace, 0x13579acd, 0x13579acf):
        return "dbm.gnu"
    return ""


def _unescape_key(text):
    """The shelf readers' key text ('...' with \\xNN escapes for bytes
    outside printable ASCII and for backslash and '!') back to bytes."""
    if len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise PolicyError("shelf key %r cannot be read back" % text)
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(ord(c))
            i += 1
    if len(out) > 200:  # the reader kept 200 bytes and added "..."
        raise PolicyError("shelf key longer than 200 bytes (%r...): the reader "
                          "shortens it, so its value cannot be looked up" % bytes(out[:40]))
    return bytes(out)


class _Pairs:
    """A key -> value table read whole by one of the library's readers."""

    def __init__(self, kind, arg):
        self._d = {}
        for text, value in _shelf_walk(kind, arg, _MAX_KEYS):
            k = _unescape_key(text)
            if k in self._d:
                raise PolicyError("shelf key %r appears twice in the file" % k)
            self._d[k] = value

    def __getitem__(self, k):
        return self._d[k]

    def keys(self):
        return list(self._d)

    def __len__(self):
        return len(self._d)

    def __contains__(self, k):
        return k in self._d

    def close(self):
        self._d = {}


class _Sqlite:
    """Lib/dbm/sqlite3.py (3.13), read-only: table Dict(key BLOB, value BLOB)."""

    def __init__(self, filename):
        import sqlite3
        from urllib.parse import quote
        # immutable: no locks and no -shm/-wal files created next to the
        # file; only the database file is read, as the scanner reads it
        uri = "file:%s?mode=ro&immutable=1" % quote(os.path.abspath(os.fsdecode(filename)))
        try:
            self._cx = sqlite3.connect(uri, uri=True, autocommit=True) \
                if hasattr(sqlite3, "LEGACY_TRANSACTION_CONTROL") else \
                sqlite3.connect(uri, uri=True, isolation_level=None)
            self._cx.execute("PRAGMA query_only = ON")
            self._cx.execute("PRAGMA trusted_schema = OFF")
            if hasattr(self._cx, "setconfig"):
                self._cx.setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)
            # as the library's reader (formats_dbm.c pkli_sqlite_walk): every
            # statement has an instruction budget, and Dict must be a plain
            # table -- a view would run the file's own query (a recursive
            # CTE can spin for hours)
            self._budget = [0]
            self._cx.set_progress_handler(self._tick, 1000)
            row = self._one("SELECT type, sql FROM sqlite_master WHERE name = 'Dict'")
        except sqlite3.Error as e:
            raise PolicyError("dbm.sqlite3 shelf: %s" % e) from None
        if (row is None or row[0] != "table" or not isinstance(row[1], str)
                or not row[1][:12].upper() == "CREATE TABLE"):
            self._cx.close()
            raise PolicyError("SQLite database is not a dbm.sqlite3 shelf (no plain table Dict)")

    _BUDGET = 1 << 18  # progress callbacks (of 1000 instructions) per statement

    def _tick(self):
        self._budget[0] += 1
        return self._budget[0] > self._BUDGET

    def _one(self, sql, args=()):
        import sqlite3
        self._budget[0] = 0
        try:
            return self._cx.execute(sql, args).fetchone()
        except sqlite3.Error as e:
            raise PolicyError("dbm.sqlite3 shelf: %s" % e) from None

    def __getitem__(self, k):
        row = self._one("SELECT value FROM Dict WHERE key = CAST(? AS BLOB)", (k,))
        if row is None:
            raise KeyError(k)
        return row[0]

    def keys(self):
        import sqlite3
        self._budget[0] = 0
        try:
            return [bytes(r[0]) if not isinstance(r[0], str) else r[0].encode()
                    for r in self._cx.execute("SELECT key FROM Dict")]
        except sqlite3.Error as e:
            raise PolicyError("dbm.sqlite3 shelf: %s" % e) from None

    def __len__(self):
        return self._one("SELECT COUNT(key) FROM Dict")[0]

    def __contains__(self, k):
        return self._one("SELECT 1 FROM Dict WHERE key = CAST(? AS BLOB)", (k,)) is not None

    def close(self):
        self._cx.close()


def _open_db(filename):
    kind = whichdb(filename)
    if kind is None:
        raise FileNotFoundError("no shelf at %r" % (filename,))
    if kind == "dbm.dumb":
        return dbm.dumb.open(filename, "r")
    if kind == "dbm.sqlite3":
        return _Sqlite(filename)
    if kind == "dbm.gnu":
        if _gnu is None:
            return _Pairs("gdbm", os.fspath(filename))
        return _gnu.open(filename, "ru")
    if kind == "dbm.ndbm":
        fn = os.fsencode(filename)
        if not os.path.exists(fn + b".db"):
            raise PolicyError("old ndbm shelf (%r.pag/.dir): not read by pickleguard"
                              % (filename,))
        with open(fn + b".db", "rb") as f:
            return _Pairs("bdb", f.read())
    raise PolicyError("%r is not a shelf pickleguard can read (whichdb: unknown)"
                      % (filename,))


class Shelf(collections.abc.Mapping):
    def __init__(self, filename, policy, keyencoding="utf-8"):
        from . import _policy
        self._policy = _policy(policy)
        self._db = _open_db(filename)
        self._enc = keyencoding

    def __getitem__(self, key):
        from . import loads
        return loads(self._db[key.encode(self._enc)], policy=self._policy)

    def __iter__(self):
        for k in self._db.keys():
            yield k.decode(self._enc)

    def __len__(self):
        return len(self._db)

    def __contains__(self, key):
        return key.encode(self._enc) in self._db

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def shelve_open(filename, *, policy):
    """shelve.open(filename, 'r') under a policy: a read-only Mapping."""
    return Shelf(filename, policy)
