"""test_install.py -- the installed library is usable the documented way.

`make install DESTDIR=...` into a temporary tree, then a C program that
includes <pickleguard.h> builds with `pkg-config --cflags --libs
pickleguard` and runs against the installed shared library; the shared
library exports only the public pkl_ functions (src/libpickleguard.map),
checked with nm; headers sit under include/pickleguard/.

The Python package the documented way (README "From Python"): `make` with
no target installs it into the project's venv, and after
`. .venv/bin/activate` the command line
`python3 -c "import pickleguard; print(pickleguard.torch_load('model.pt'))"`
prints what `torch.load(weights_only=True)` prints for a model.pt written
by the real torch.save; `pip install --no-build-isolation ./python` puts it
into another interpreter (a scratch venv over the host python3).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from pgtest import BUILD, ROOT, check, finish, skip

PROGRAM = r'''
#include <pickleguard.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    pkl_error err;
    /* protocol 2: PROTO 2, NONE, STOP, disassembled like pickletools */
    if (pkl_dis("\x80\x02N.", 4, stdout, NULL, &err) != 0) {
        printf("dis failed: %d\n", (int)err.code);
        return 1;
    }
    printf("%s\n", pkl_strerror(PKL_E_TRUNCATED));
    return 0;
}
'''


def main():
    c_library()
    python_package()
    return finish()


def c_library():
    for tool in ('nm', 'pkg-config', 'cc'):
        if shutil.which(tool) is None:
            skip('%s is not installed' % tool)
            return
    tmp = tempfile.mkdtemp(prefix='pkl-install-')
    try:
        dest = os.path.join(tmp, 'dest')
        prefix = '/opt/pkl'
        p = subprocess.run(['make', '-s', 'install', 'BUILD=' + BUILD,
                            'DESTDIR=' + dest, 'PREFIX=' + prefix],
                           cwd=ROOT, capture_output=True, text=True)
        if not check(p.returncode == 0, 'make install: %s' % p.stderr[-2000:]):
            return
        root = dest + prefix
        inc = os.path.join(root, 'include', 'pickleguard')
        check(os.path.isfile(os.path.join(inc, 'pickleguard.h')) and
              os.path.isfile(os.path.join(inc, 'opcodes.def')),
              'headers installed under include/pickleguard/')
        check(not os.path.exists(os.path.join(root, 'include',
                                              'pickleguard.h')),
              'no header straight into include/')
        so = os.path.join(root, 'lib', 'libpickleguard.so.0')
        out = subprocess.run(['nm', '-D', '--defined-only', so],
                             capture_output=True, text=True).stdout
        syms = [ln.split()[-1] for ln in out.splitlines()
                if len(ln.split()) == 3 and ln.split()[1] in 'TDBR']
        bad = [s for s in syms if not s.startswith('pkl_')
               and s != 'PICKLEGUARD_0']
        check(len(syms) > 30, 'the .so exports the public API (%d)' % len(syms))
        check(not bad, 'only pkl_ symbols exported, not %r' % bad[:10])
        # Exactly the functions the installed header declares PKL_API:
        # nothing internal leaks, nothing public is left hidden.
        hdr = open(os.path.join(inc, 'pickleguard.h')).read()
        declared = set(re.findall(r'^PKL_API\b[^(;]*?\b(pkl_\w+)\(', hdr,
                                  re.M))
        # every function the header declares carries PKL_API (a new
        # declaration without it would be hidden by -fvisibility=hidden)
        protos = set(re.findall(r'^(?:PKL_API\s+)?(?:const\s+)?[a-z_][\w ]*?[\s*]'
                                r'(pkl_\w+)\(', hdr, re.M))
        check(protos == declared,
              'every public function is PKL_API: without it %r'
              % sorted(protos - declared)[:10])
        exported = set(s.split('@')[0] for s in syms if s.startswith('pkl_'))
        check(exported == declared,
              'exports == PKL_API declarations: only exported %r, only '
              'declared %r' % (sorted(exported - declared)[:10],
                               sorted(declared - exported)[:10]))
        # what only the library's own code uses stays in src/internal.h
        leaked = [w for w in ('pkli_', 'lenient_start',
                              'SKIP_FLOAT_VALUES', 'pkl_scan_result_add')
                  if w in hdr]
        check(not leaked, 'internals not in the public header: %r' % leaked)
        # The .pc file names the real prefix; point pkg-config at the
        # DESTDIR copy by rewriting prefix= (what a packager's sysroot does).
        pcdir = os.path.join(root, 'lib', 'pkgconfig')
        pc = os.path.join(pcdir, 'pickleguard.pc')
        text = open(pc).read().replace('prefix=' + prefix, 'prefix=' + root, 1)
        open(pc, 'w').write(text)
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
        flags = subprocess.run(['pkg-config', '--cflags', '--libs',
                                'pickleguard'], env=env, capture_output=True,
                               text=True)
        check(flags.returncode == 0, 'pkg-config knows pickleguard: %s'
              % flags.stderr)
        # A sanitizer build (make asan) leaves the .so needing its runtime
        # loaded first: build the user program with the same sanitizers.
        undef = subprocess.run(['nm', '-D', '--undefined-only', so],
                               capture_output=True, text=True).stdout
        san = []
        if '__asan_' in undef:
            san.append('address')
        if '__ubsan_' in undef:
            san.append('undefined')
        sanflags = ['-fsanitize=' + ','.join(san)] if san else []
        src = os.path.join(tmp, 'user.c')
        open(src, 'w').write(PROGRAM)
        exe = os.path.join(tmp, 'user')
        cc = subprocess.run(['cc', '-o', exe, src] + sanflags +
                            flags.stdout.split() +
                            ['-Wl,-rpath,' + os.path.join(root, 'lib')],
                            capture_output=True, text=True)
        if check(cc.returncode == 0, 'a user program builds: %s' % cc.stderr):
            run = subprocess.run([exe], capture_output=True, text=True)
            check(run.returncode == 0 and 'PROTO' in run.stdout and
                  'STOP' in run.stdout,
                  'a user program runs on the installed .so: %r %r'
                  % (run.stdout, run.stderr))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


COMMAND = "import pickleguard; print(pickleguard.torch_load('model.pt'))"


def _clean_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP',
                        'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
    return env


def python_package():
    if os.path.normpath(os.environ.get('PKL_BUILD', 'build')) != 'build':
        skip('python package: not built for %s (the extension links build/)'
             % os.environ.get('PKL_BUILD'))
        return
    # `make` (the default goal) installs the package: a dry run with
    # python/setup.py taken as changed lists the pip install into the venv
    dry = subprocess.run(['make', '-n', '-W', 'python/setup.py'], cwd=ROOT,
                         capture_output=True, text=True, env=_clean_env())
    check(dry.returncode == 0 and re.search(r'-m pip install .*\./python', dry.stdout),
          '`make` installs the Python package into the venv: %r' % dry.stdout[-800:])
    if sys.prefix == sys.base_prefix:
        skip('the README command line: not run from the project venv (%s)' % sys.executable)
    else:
        readme_command_line()
    scratch_venv()


def readme_command_line():
    try:
        import torch
    except ImportError:
        skip('torch is not installed in %s' % sys.executable)
        return
    tmp = tempfile.mkdtemp(prefix='pkl-pyinstall-')
    try:
        torch.manual_seed(0)
        torch.save({'linear.weight': torch.randn(3, 4), 'linear.bias': torch.zeros(3),
                    'steps': torch.arange(5), 'epoch': 7}, os.path.join(tmp, 'model.pt'))
        want = subprocess.run([sys.executable, '-c', "import torch; print(torch.load("
                               "'model.pt', weights_only=True))"], cwd=tmp,
                              capture_output=True, text=True, env=_clean_env())
        activate = os.path.join(sys.prefix, 'bin', 'activate')
        got = subprocess.run(['sh', '-c', '. "$0" && command -v python3 && python3 -c "$1"',
                              activate, COMMAND], cwd=tmp, capture_output=True, text=True,
                             env=_clean_env())
        lines = got.stdout.split('\n', 1)
        check(got.returncode == 0 and len(lines) == 2, 'the README command line runs: %s'
              % (got.stdout + got.stderr)[-2000:])
        check(os.path.realpath(os.path.dirname(lines[0])) ==
              os.path.realpath(os.path.join(sys.prefix, 'bin')),
              'after activate, python3 is the venv\'s: %r' % lines[0])
        check(want.returncode == 0 and len(lines) == 2 and lines[1] == want.stdout
              and 'linear.weight' in want.stdout,
              'it prints what torch.load(weights_only=True) prints: %r vs %r'
              % (lines[-1][-300:], want.stdout[-300:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def scratch_venv():
    """pip install ./python into another interpreter: a venv over the host
    python3 that sees its site-packages (pip, setuptools) and nothing of
    the project venv; offline (--no-index, --no-build-isolation)."""
    base = getattr(sys, '_base_executable', None) or shutil.which('python3')
    tmp = tempfile.mkdtemp(prefix='pkl-pipvenv-')
    try:
        venv = os.path.join(tmp, 'v')
        mk = subprocess.run([base, '-m', 'venv', '--without-pip', '--system-site-packages', venv],
                            capture_output=True, text=True, env=_clean_env())
        py = os.path.join(venv, 'bin', 'python')
        if mk.returncode != 0:
            skip('python3 -m venv is not available: %s' % mk.stderr[-300:])
            return
        if subprocess.run([py, '-c', 'import setuptools, pip'], capture_output=True,
                          env=_clean_env()).returncode != 0:
            skip('%s has no pip or setuptools for an offline install' % base)
            return
        env = dict(_clean_env(), PKL_BUILD='build')
        pip = subprocess.run([py, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps',
                              '--no-cache-dir', '--disable-pip-version-check',
                              '--no-build-isolation', './python'], cwd=ROOT,
                             capture_output=True, text=True, env=env)
        if not check(pip.returncode == 0, 'pip install ./python into a scratch venv: %s'
                     % (pip.stdout + pip.stderr)[-2000:]):
            return
        prog = ("import pickle, pickleguard; data = pickle.dumps({'a': [1, 2.5, 'x'], 'b': (None, b'y')}, 4); "
                "print(pickleguard.__file__); print(pickleguard.loads(data, policy='default') == pickle.loads(data))")
        run = subprocess.run([py, '-c', prog], cwd=tmp, capture_output=True, text=True,
                             env=_clean_env())
        out = run.stdout.split()
        check(run.returncode == 0 and len(out) == 2 and out[0].startswith(venv + os.sep)
              and out[1] == 'True',
              'the scratch venv imports its own pickleguard and loads: %r %r'
              % (run.stdout, run.stderr[-500:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
