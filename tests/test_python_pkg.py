"""The Python package's tests (python/tests, pytest), as one part of
`make check`. The Makefile installs the package into .venv first (only for
the plain build: under `make asan` this part is a counted skip, since the
extension is not built against the ASan library). pytest's exit status 5
(no tests collected) is a failure, as is any failed or erroring test.
Prints the pytest summary and a last line "... N skipped" that tests/run.sh
adds to the skipped total."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.environ.get("PKL_BUILD", "build")

if os.path.normpath(build) != "build":
    print("python package: not built for %s (the extension links build/): 1 skipped" % build)
    sys.exit(0)

try:
    import pickleguard  # noqa: F401
except ImportError as e:
    print("pickleguard is not installed in %s (make check installs it): %s" % (sys.executable, e))
    sys.exit(1)

r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-W", "ignore::DeprecationWarning", "-W", "ignore::UserWarning",
                    os.path.join(ROOT, "python", "tests")],
                   cwd=ROOT, capture_output=True, text=True)
out = r.stdout + r.stderr
print(out[-6000:])
m = re.search(r"(\d+) passed", out)
s = re.search(r"(\d+) skipped", out)
passed, skipped = int(m.group(1)) if m else 0, int(s.group(1)) if s else 0
if r.returncode == 5 or passed == 0:
    print("pytest collected no tests: failure")
    sys.exit(1)
if r.returncode != 0:
    print("pytest failed (exit %d)" % r.returncode)
    sys.exit(1)
print("python package: %d passed, %d skipped" % (passed, skipped))
