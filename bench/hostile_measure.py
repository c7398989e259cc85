#!/usr/bin/env python3
"""hostile_measure.py -- issue 19's cases against the code before and after
its fixes, on the same machine: wall time, CPU time and peak RSS of each.

    bench/hostile_measure.py [--before BIN] [--after BIN] [--out FILE]

--before defaults to a build of the commit before issue 19's first fix
(the parent of the first commit that touched tests/test_hostile.py), made
in a temporary git worktree (/tmp/h19-before, `make build/pickleguard`);
--after to build/pickleguard. Every input is generated here from raw bytes
(tests/bombs.py) in a temporary directory and deleted afterwards.

Each run is bounded so that the old code cannot take the machine down:
nice 10, RLIMIT_AS (AS_LIMIT, 4 GiB: "out of memory" below means the cap
was hit), RLIMIT_CPU and a wall-clock watchdog (TIMEOUT s; "timeout" means
killed by it: a hang). Cases run one at a time. Figures come from the
child's own rusage (os.wait4): ru_maxrss is peak RSS.

Prints a Markdown table (and writes it to --out when given).
"""
import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
import bombs  # noqa: E402

AS_LIMIT = 4 << 30   # the sparse-file cases map 10 GB: 14 GiB there
TIMEOUT = 120


def before_build():
    """Builds the pre-issue-19 commit in a worktree; returns its binary."""
    log = subprocess.run(['git', '-C', ROOT, 'log', '--format=%H', '--',
                          'tests/test_hostile.py'], capture_output=True,
                         text=True, check=True).stdout.split()
    first = log[-1]
    wt = '/tmp/h19-before'
    if not os.path.isdir(wt):
        subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', wt,
                        first + '^'], check=True)
    subprocess.run(['nice', '-n', '10', 'make', '-C', wt,
                    'build/pickleguard'], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(wt, 'build', 'pickleguard')


def run(exe, args, env=None, stdin=None, during=None, cpu=TIMEOUT,
        timeout=TIMEOUT, as_limit=AS_LIMIT, show=None):
    """-> (status text, wall s, cpu s, peak RSS MB, stderr tail)."""
    def limits():
        os.nice(10)
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    e = dict(os.environ)
    e.update(env or {})
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        p = subprocess.Popen([exe] + args,
                             stdout=out if show else subprocess.DEVNULL,
                             stderr=err, stdin=stdin if stdin is not None
                             else subprocess.DEVNULL, env=e,
                             preexec_fn=limits)
        killed = []

        def dog():
            killed.append(1)
            p.kill()
        w = threading.Timer(timeout, dog)
        w.start()
        if during:
            during(p)
        _, st, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        w.cancel()
        p.returncode = 0
        err.seek(0)
        tail = err.read().decode('utf-8', 'replace').strip().splitlines()
        tail = tail[-1][:90] if tail else ''
        if show:
            out.seek(0)
            said = [ln.strip()[:120] for ln in
                    out.read().decode('utf-8', 'replace').splitlines()
                    if show in ln]
            tail = ' / '.join(said[:4]) + ' || ' + tail
    if killed:
        status = 'timeout (hang), killed at %d s' % timeout
    elif os.WIFSIGNALED(st):
        sig = os.WTERMSIG(st)
        status = 'killed by %s' % signal.Signals(sig).name
    else:
        status = 'exit %d' % os.WEXITSTATUS(st)
    if 'memory' in tail.lower() or 'Cannot allocate' in tail:
        status += ' (out of memory at the %d GiB cap)' % (as_limit >> 30)
    return status, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, tail


def write(d, name, data):
    p = os.path.join(d, name)
    with open(p, 'wb') as f:
        f.write(data)
    return p


def cases(d):
    """(name, args, kwargs factory) for each case of the issue's Why."""
    out = []
    ok = write(d, 'ok.pkl', b'\x80\x02K\x01.')

    # SIGBUS: a 256 MiB file truncated 0.3 s into a dis of it
    def trunc_case(cmd):
        def setup():
            p = write(d, 'trunc.pkl', b'\x80\x04\x8e' + (256 << 20).to_bytes(8, 'little')
                      + b'\x01' * (256 << 20) + b'.')

            def during(_proc):
                time.sleep(0.3)
                os.truncate(p, 0)
            return [cmd, p], {'during': during}
        return setup
    for cmd in ('dis', 'load', 'scan'):
        out.append(('file truncated 0.3 s into `%s` (256 MiB)' % cmd, trunc_case(cmd)))

    out.append(('hash flooding: `load` 40,000 colliding int keys',
                lambda: (['load', write(d, 'flood.pkl', bombs.hash_flood(40000))], {})))
    out.append(('big int: `load` a 16 KiB LONG4 referenced 1,000 times',
                lambda: (['load', write(d, 'bigmemo.pkl', bombs.bigint_memo(16384, 1000))], {})))
    out.append(('`load /dev/zero`', lambda: (['load', '/dev/zero'], {})))

    def pipe_case():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                while True:
                    os.write(w, b'\0' * 65536)
            except OSError:
                os._exit(0)
        os.close(w)

        def during(_proc):
            os.close(r)
            # the writer stops when the reader is gone
        return ['load', '-'], {'stdin': r, 'during': during,
                               'cleanup': lambda: (os.kill(pid, signal.SIGKILL),
                                                   os.waitpid(pid, 0))}
    out.append(('`load -` from an endless pipe', pipe_case))

    fifo = os.path.join(d, 'fifo')
    os.mkfifo(fifo)
    out.append(('`load FIFO` (no writer)', lambda: (['load', fifo], {'timeout': 30})))
    out.append(('`scan FIFO` (no writer)', lambda: (['scan', fifo], {'timeout': 30})))
    out.append(('`load --policy FIFO` (no writer)',
                lambda: (['load', '--policy', fifo, ok], {'timeout': 30})))

    # the directory walk's race: zzz.pkl becomes a link to /dev/zero (and
    # yyy.pkl a FIFO) while aaa.pkl, a 60 MB pickle, is being scanned
    # (long enough to swap behind it, short enough for a loaded machine)
    def race_case():
        walk = os.path.join(d, 'walk')
        if os.path.isdir(walk):
            for n in os.listdir(walk):
                os.unlink(os.path.join(walk, n))
        else:
            os.mkdir(walk)
        write(walk, 'aaa.pkl', b'\x80\x04' + b'N0' * (30 << 20) + b'N.')
        write(walk, 'yyy.pkl', b'\x80\x02K\x02.')
        write(walk, 'zzz.pkl', b'\x80\x02K\x03.')

        def during(_proc):
            time.sleep(0.15)
            os.unlink(os.path.join(walk, 'zzz.pkl'))
            os.symlink('/dev/zero', os.path.join(walk, 'zzz.pkl'))
            os.unlink(os.path.join(walk, 'yyy.pkl'))
            os.mkfifo(os.path.join(walk, 'yyy.pkl'))
        return ['scan', walk], {'during': during, 'timeout': 60,
                                'show': '.pkl'}
    out.append(('walk race: entries swapped for /dev/zero and a FIFO', race_case))

    out.append(('`policy check` of 100,000 nested `[`',
                lambda: (['policy', 'check', write(d, 'deep.yaml', bombs.yaml_nesting(100000))], {})))

    def sparse(size):
        def setup():
            p = os.path.join(d, 'sparse')
            with open(p, 'wb') as f:
                f.truncate(size)
            return p
        return setup
    for cmd in ('load', 'scan'):
        out.append(('`%s` of a 10 GB sparse file (100 GB in the issue)' % cmd,
                    (lambda c: lambda: ([c, sparse(10 << 30)()],
                                        {'as_limit': 14 << 30}))(cmd)))

    out.append(('`load`: 1 MiB str referenced 1,000 times (1 GB of JSON)',
                lambda: (['load', write(d, 'amp.pkl', bombs.string_memo(1 << 20, 1000))], {})))
    out.append(('`load --with-source`: the same 100 times (100 MB of JSON)',
                lambda: (['load', '--with-source',
                          write(d, 'amp2.pkl', bombs.string_memo(1 << 20, 100))], {})))
    out.append(('`dis` of 20,000 open MARKs',
                lambda: (['dis', write(d, 'marks.pkl', bombs.open_marks(20000))], {})))
    out.append(('`dis` of a 32 MiB BINBYTES8 (a 128 MiB line)',
                lambda: (['dis', write(d, 'zeros.pkl', b'\x80\x04\x8e' + (32 << 20).to_bytes(8, 'little')
                                       + bytes(32 << 20) + b'.')], {})))
    out.append(('`scan --policy ml` of a 5-byte pickle (policy loading)',
                lambda: (['scan', '--policy', 'ml', ok], {})))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--before')
    ap.add_argument('--after', default=os.path.join(ROOT, 'build', 'pickleguard'))
    ap.add_argument('--out')
    ap.add_argument('--only', help='run only the cases whose name contains this')
    a = ap.parse_args()
    before = a.before or before_build()
    rows = ['| case | before: status | wall s | CPU s | peak RSS MB '
            '| after: status | wall s | CPU s | peak RSS MB |',
            '| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |']
    d = tempfile.mkdtemp(prefix='h19-measure-')
    try:
        for name, setup in cases(d):
            if a.only and a.only not in name:
                continue
            cells = []
            for exe in (before, a.after):
                args, kw = setup()
                cleanup = kw.pop('cleanup', None)
                st, wall, cpu, rss, tail = run(exe, args, **kw)
                if cleanup:
                    cleanup()
                if 'stdin' in kw and isinstance(kw['stdin'], int):
                    try:
                        os.close(kw['stdin'])
                    except OSError:
                        pass
                cells.append('%s | %.2f | %.2f | %.0f' % (st, wall, cpu, rss))
                print('  %s [%s]: %s, %.2f s, %.2f s CPU, %.0f MB; %s'
                      % (name, 'before' if exe == before else 'after', st,
                         wall, cpu, rss, tail), file=sys.stderr, flush=True)
            rows.append('| %s | %s | %s |' % (name, cells[0], cells[1]))
            for n in ('sparse', 'trunc.pkl'):
                p = os.path.join(d, n)
                if os.path.exists(p):
                    os.unlink(p)
    finally:
        subprocess.run(['rm', '-rf', d])
    table = '\n'.join(rows) + '\n'
    print(table)
    if a.out:
        with open(a.out, 'w') as f:
            f.write(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
