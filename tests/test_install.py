"""test_install.py -- the installed library is usable the documented way.

`make install DESTDIR=...` into a temporary tree, then a C program that
includes <pickleguard.h> builds with `pkg-config --cflags --libs
pickleguard` and runs against the installed shared library; the shared
library exports only the public pkl_ functions (src/libpickleguard.map),
checked with nm; headers sit under include/pickleguard/.
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
    for tool in ('nm', 'pkg-config', 'cc'):
        if shutil.which(tool) is None:
            skip('%s is not installed' % tool)
            return finish()
    tmp = tempfile.mkdtemp(prefix='pkl-install-')
    try:
        dest = os.path.join(tmp, 'dest')
        prefix = '/opt/pkl'
        p = subprocess.run(['make', '-s', 'install', 'BUILD=' + BUILD,
                            'DESTDIR=' + dest, 'PREFIX=' + prefix],
                           cwd=ROOT, capture_output=True, text=True)
        if not check(p.returncode == 0, 'make install: %s' % p.stderr[-2000:]):
            return finish()
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
    return finish()


if __name__ == '__main__':
    sys.exit(main())
