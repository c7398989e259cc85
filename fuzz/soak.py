#!/usr/bin/env python3
"""soak.py -- thousands of generated bombs through scan, load and dis, each
bounded in time and memory (issue 19). `make soak` runs it; SOAK_N cases
(default 2000), SOAK_SEED (default: time), PKL_BUILD (default build).

Categories (tests/bombs.py builds every sample from raw opcodes):
  memo        one memoized str referenced many times (JSON amplification)
  nesting     deep lists, deep MARK stacks
  collisions  dict keys colliding under the decoder's old unseeded hash
  bigints     a memoized LONG4 of up to 16 KiB referenced many times
  marks       open MARKs (dis listing growth)
  yaml        deeply nested / very long policy files
  truncation  any of the above truncated while the tool has it mapped

Each child runs under RLIMIT_CPU (CPU_LIMIT s) and, outside sanitizer
builds, RLIMIT_AS (AS_LIMIT); its CPU time and peak RSS come from
os.wait4. A case fails when the child dies by a signal, exits with a code
other than 0/1/2, or goes over CPU_BOUND seconds or RSS_BOUND_MB. The last
lines give per-category figures (cases, max CPU, max RSS, exit codes).
Exit 1 on any failure.
"""
import collections
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
import bombs  # noqa: E402

BUILD = os.path.join(ROOT, os.environ.get('PKL_BUILD', 'build'))
EXE = os.path.join(BUILD, 'pickleguard')
ASAN = 'asan' in BUILD
CPU_LIMIT = 30
CPU_BOUND = 5.0 * (10 if ASAN else 1)
AS_LIMIT = 4 << 30
RSS_BOUND_MB = 1024


def child(args, env=None, stop_hook=None):
    def limits():
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if not ASAN:
            resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen([EXE] + args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                         env=e, preexec_fn=limits)
    if stop_hook:
        _, st = os.waitpid(p.pid, os.WUNTRACED)
        if os.WIFSTOPPED(st):
            stop_hook()
            os.kill(p.pid, signal.SIGCONT)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
            else -os.WTERMSIG(status))
    return code, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def gen(rng, cat):
    """(bytes, commands, policy_file_or_None)"""
    if cat == 'memo':
        return bombs.string_memo(rng.choice([16, 1024, 65536, 1 << 20]),
                                 rng.randint(1, 20000)), None
    if cat == 'nesting':
        n = rng.randint(1, 300000)
        return (bombs.deep_lists(n) if rng.random() < 0.5
                else bombs.deep_marks(n)), None
    if cat == 'collisions':
        return bombs.hash_flood(rng.randint(1, 60000)), None
    if cat == 'bigints':
        return bombs.bigint_memo(rng.randint(2, 16384), rng.randint(1, 3000)), None
    if cat == 'marks':
        return bombs.open_marks(rng.randint(1, 200000)), None
    if cat == 'yaml':
        n = rng.randint(1, 400000)
        y = (bombs.yaml_nesting(n) if rng.random() < 0.5
             else b'version: 1\nallow: [' + b','.join([b'a'] * n) + b']\n')
        return b'\x80\x02K\x01.', y[:(1 << 20)]
    raise ValueError(cat)


def main():
    n = int(os.environ.get('SOAK_N', '2000'))
    seed = int(os.environ.get('SOAK_SEED', str(int(time.time()))))
    rng = random.Random(seed)
    if not os.path.exists(EXE):
        print('no binary at', EXE)
        return 1
    cats = ['memo', 'nesting', 'collisions', 'bigints', 'marks', 'yaml',
            'truncation']
    stats = collections.defaultdict(lambda: {'n': 0, 'cpu': 0.0, 'rss': 0,
                                             'codes': collections.Counter()})
    failures = 0
    d = tempfile.mkdtemp(prefix='pg-soak-')
    path = os.path.join(d, 'bomb.pkl')
    pol = os.path.join(d, 'policy.yaml')
    t0 = time.time()
    print('soak: %d cases, seed %d, %s' % (n, seed, EXE))
    for i in range(n):
        cat = cats[i % len(cats)]
        base = rng.choice(cats[:-2]) if cat == 'truncation' else cat
        data, policy = gen(rng, base)
        with open(path, 'wb') as f:
            f.write(data)
        args = [rng.choice(['scan', 'load', 'dis'])]
        if policy is not None:
            with open(pol, 'wb') as f:
                f.write(policy)
            args = ['load', '--policy', pol] if rng.random() < 0.5 else \
                ['policy', 'check', pol]
        args.append(path)
        hook = env = None
        if cat == 'truncation':
            cut = rng.randint(0, len(data))
            env = {'PICKLEGUARD_TEST_STOP_AFTER_MAP': '1'}

            def hook(cut=cut):
                os.truncate(path, cut)
        code, cpu, rss = child(args, env=env, stop_hook=hook)
        s = stats[cat]
        s['n'] += 1
        s['cpu'] = max(s['cpu'], cpu)
        s['rss'] = max(s['rss'], rss)
        s['codes'][code] += 1
        bad = []
        if code < 0:
            bad.append('killed by signal %d' % -code)
        elif code not in (0, 1, 2):
            bad.append('exit %d' % code)
        if cpu > CPU_BOUND:
            bad.append('%.2f s CPU' % cpu)
        if not ASAN and rss > RSS_BOUND_MB * 1024:
            bad.append('%d KB RSS' % rss)
        if bad:
            failures += 1
            keep = os.path.join(d, 'fail-%d.pkl' % i)
            os.rename(path, keep)
            print('FAIL case %d (%s, %s): %s; input kept at %s'
                  % (i, cat, ' '.join(args[:-1]), ', '.join(bad), keep))
    print('%-11s %6s %9s %10s  %s' % ('category', 'cases', 'max CPU s',
                                      'max RSS MB', 'exit codes'))
    for cat in cats:
        s = stats[cat]
        print('%-11s %6d %9.3f %10.1f  %s' % (
            cat, s['n'], s['cpu'], s['rss'] / 1024,
            ' '.join('%d:%d' % kv for kv in sorted(s['codes'].items()))))
    print('soak: %d cases in %.0f s, %d failed (seed %d)'
          % (n, time.time() - t0, failures, seed))
    if not failures:
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
