"""shelve_open(): a read-only Mapping over a shelve file, values decoded
under the policy. The database is read with Python's own dbm modules
(dbm.dumb, dbm.gnu, dbm.sqlite3 where the Python has it), opened read-only;
only the pickled values go through pickleguard's decoder (shelve.Shelf
would pickle.loads them)."""
import collections.abc
import dbm


class Shelf(collections.abc.Mapping):
    def __init__(self, filename, policy, keyencoding="utf-8"):
        from . import _policy
        self._policy = _policy(policy)
        self._db = dbm.open(filename, "r")
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
