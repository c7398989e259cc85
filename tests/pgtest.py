"""pgtest.py -- what every tests/test_*.py script shares.

- ROOT: the repository root.
- EXE: the pickleguard binary under test, an absolute path:
  $PKL_BUILD/pickleguard, PKL_BUILD taken relative to ROOT unless it is
  absolute (tests/run.sh passes the build directory; default "build").
- check(cond, what): counts a check, prints "FAIL: what" when cond is
  false, and returns cond.
- skip(what): counts a check that could not run (a missing optional
  dependency); printed as "SKIP: what" and counted in the last line.
- finish(): prints "N passed, M failed, K skipped" (the last line, which
  tests/run.sh and people read) and returns the exit status: 1 if anything
  failed.
- no_binary(): the result when EXE does not exist: one failure, status 1.

Not a test itself (tests/run.sh runs tests/test_*.py only).
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get('PKL_BUILD', 'build'))
EXE = os.path.join(BUILD, 'pickleguard')

_passed = 0
_failed = 0
_skipped = 0


def check(cond, what):
    global _passed, _failed
    if cond:
        _passed += 1
    else:
        _failed += 1
        print('FAIL:', what)
    return cond


def skip(what):
    global _skipped
    _skipped += 1
    print('SKIP:', what)


def finish():
    print('%d passed, %d failed, %d skipped' % (_passed, _failed, _skipped))
    return 1 if _failed else 0


def no_binary():
    print('FAIL: no binary at', EXE)
    print('0 passed, 1 failed')
    return 1
