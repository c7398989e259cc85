#!/usr/bin/env python3
"""Tests the OSS-Fuzz / ClusterFuzzLite build (fuzz/oss-fuzz/build.sh) the
way OSS-Fuzz's `compile` runs it, without Docker: from the checkout, with
the environment OSS-Fuzz sets for a libFuzzer build under AddressSanitizer,
then under UndefinedBehaviorSanitizer (CC, CXX, CFLAGS, CXXFLAGS with
-fsanitize=fuzzer-no-link and the sanitizer's flags,
LIB_FUZZING_ENGINE=-fsanitize=fuzzer, SRC, WORK, OUT in a temporary
directory). Then, for every fuzz/fuzz_*.c:

- $OUT/fuzz_<target> exists, runs, and links none of the format libraries
  dynamically (the image fuzzers run in has none of them);
- fuzz_<target>_seed_corpus.zip is a valid zip whose every entry is a
  corpus (or policy) file, behind a flag byte 0-2 for the targets that read
  one, and which holds every corpus file within max_len;
- fuzz_<target>.dict parses line by line under libFuzzer's dictionary
  syntax, and libFuzzer itself loads as many entries as the lines hold;
- fuzz_<target>.options is an INI file with a [libfuzzer] max_len that no
  seed exceeds;
- the fuzzer runs over its unpacked seed corpus for ITERATIONS inputs past
  the seeds (-runs), with the dictionary and options as ClusterFuzz passes
  them, and exits 0.

Skipped (counted) when clang or clang++ is missing. Prints the build and
run times.
"""
import configparser
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

from pgtest import ROOT, check, finish, skip

ITERATIONS = 3000
FLAG_BYTE = {'decoder', 'scanner', 'diff', 'formats'}
# libFuzzer's dictionary syntax (FuzzerUtil.cpp, ParseDictionaryFile):
# blank lines, # comments, or [name=]"bytes" with \\, \" and \xHH escapes
DICT_LINE = re.compile(r'^(?:[A-Za-z0-9_]+=)?"(?:[^"\\]|\\\\|\\"|\\x[0-9A-Fa-f]{2})*"$')
FORMAT_LIBS = ('libyaml', 'libz.', 'libbz2', 'liblzma', 'libzstd', 'liblz4',
               'libsqlite3', 'libgdbm')


def digest(data):
    return hashlib.sha256(data).hexdigest()


def files_under(top, keep):
    out = []
    for d, subdirs, names in os.walk(top):
        subdirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if keep(os.path.relpath(p, ROOT)):
                out.append(p)
    return out


def seed_sources(target):
    """The files the seeds of target come from, by content."""
    if target == 'policy':
        paths = [p for top in ('policies', 'tests')
                 for p in files_under(os.path.join(ROOT, top),
                                      lambda r: r.endswith(('.yaml', '.yml')))]
    else:
        paths = files_under(os.path.join(ROOT, 'corpus'), lambda r: not (
            r.startswith(('corpus/gen/', 'corpus/regressions/')) or
            r.endswith('MANIFEST.tsv')))
    reg = os.path.join(ROOT, 'corpus', 'regressions', target)
    regs = files_under(reg, lambda r: True) if os.path.isdir(reg) else []
    return paths, regs


def read(p):
    with open(p, 'rb') as f:
        return f.read()


def check_target(t, out, tmp, iterations, env):
    exe = os.path.join(out, 'fuzz_' + t)
    if not check(os.access(exe, os.X_OK), '%s: fuzzer built' % t):
        return
    ldd = subprocess.run(['ldd', exe], capture_output=True, text=True)
    dyn = [lib for lib in FORMAT_LIBS if lib in ldd.stdout]
    check(not dyn, '%s: format libraries linked statically (dynamic: %s)' %
          (t, dyn))

    opts = configparser.ConfigParser()
    optfile = os.path.join(out, 'fuzz_%s.options' % t)
    max_len = 0
    try:
        opts.read_string(open(optfile).read())
        max_len = int(opts['libfuzzer']['max_len'])
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        check(False, '%s: options file: %s' % (t, e))
    check(max_len > 0, '%s: options max_len %d' % (t, max_len))

    dictfile = os.path.join(out, 'fuzz_%s.dict' % t)
    entries = 0
    bad = []
    for line in open(dictfile, 'rb').read().decode('latin-1').splitlines():
        s = line.strip()
        if not s or s.startswith('#'):
            continue
        entries += 1
        if not DICT_LINE.match(s):
            bad.append(s)
    check(entries > 10 and not bad, '%s: dictionary has %d entries, bad: %r'
          % (t, entries, bad[:3]))

    zpath = os.path.join(out, 'fuzz_%s_seed_corpus.zip' % t)
    seeds = os.path.join(tmp, 'seeds-%s-%s' % (env['SANITIZER'], t))
    os.makedirs(seeds)
    try:
        with zipfile.ZipFile(zpath) as z:
            check(z.testzip() is None, '%s: seed zip CRCs' % t)
            names = z.namelist()
            z.extractall(seeds)
    except (OSError, zipfile.BadZipFile) as e:
        check(False, '%s: seed zip: %s' % (t, e))
        return
    check(all('/' not in n for n in names), '%s: seed zip is flat' % t)
    paths, regs = seed_sources(t)
    sources = {digest(read(p)) for p in paths}
    reg_digests = {digest(read(p)) for p in regs}
    strange, flags = [], set()
    for n in names:
        data = read(os.path.join(seeds, n))
        if digest(data) in reg_digests:
            continue
        if t in FLAG_BYTE:
            flags.add(data[:1])
            ok = data[:1] in (b'\0', b'\1', b'\2') and digest(data[1:]) in sources
        else:
            ok = digest(data) in sources
        if not ok:
            strange.append(n)
    check(not strange, '%s: every seed is a corpus file (not: %r)' %
          (t, strange[:3]))
    if t in FLAG_BYTE:
        check(flags == {b'\0', b'\1', b'\2'}, '%s: seeds under all three '
              'policies' % t)
    fitting = {digest(read(p)) for p in paths if os.path.getsize(p) <= max_len}
    present = {digest(read(os.path.join(seeds, n))[1:] if t in FLAG_BYTE
                      else read(os.path.join(seeds, n))) for n in names}
    check(fitting <= present, '%s: every source file within max_len is a '
          'seed (%d missing)' % (t, len(fitting - present)))
    longest = max((os.path.getsize(os.path.join(seeds, n)) for n in names),
                  default=0)
    # a seed is a file of at most max_len bytes, behind its flag byte
    limit = max_len + (1 if t in FLAG_BYTE else 0)
    check(longest <= limit, '%s: no seed longer than max_len (%d > %d)' %
          (t, longest, limit))

    # run it as ClusterFuzz does: options as flags, the dictionary, the
    # unpacked seed corpus; -runs counts the seeds too
    runs = len(names) + iterations
    args = [exe, '-runs=%d' % runs, '-dict=' + dictfile,
            '-print_final_stats=1', '-timeout=25', '-rss_limit_mb=2560']
    args += ['-%s=%s' % (k, v) for k, v in opts['libfuzzer'].items()] \
        if opts.has_section('libfuzzer') else []
    start = time.time()
    p = subprocess.run(args + [seeds], capture_output=True, timeout=600,
                       cwd=tmp, env=env)
    took = time.time() - start
    log = p.stderr.decode('utf-8', 'replace')
    executed = re.findall(r'stat::number_of_executed_units: *(\d+)', log)
    loaded = re.findall(r'Dictionary: (\d+) entries', log)
    print('%s (%s): %d seeds + %d iterations: %s executions in %.1f s' %
          (t, env['SANITIZER'], len(names), iterations,
           executed[-1] if executed else '?', took))
    check(p.returncode == 0, '%s: fuzzer exits 0 (%d): %s' %
          (t, p.returncode, '\n'.join(log.splitlines()[-15:])))
    check(executed and int(executed[-1]) >= runs,
          '%s: ran %d inputs (%s)' % (t, runs, executed))
    check(loaded == [str(entries)], '%s: libFuzzer loads the %d dictionary '
          'entries (%s)' % (t, entries, loaded))


# The flags OSS-Fuzz's base-builder image sets (SANITIZER_FLAGS_address,
# SANITIZER_FLAGS_undefined, plus -fsanitize=fuzzer-no-link for libFuzzer);
# each fuzzer runs ITERATIONS inputs past its seeds under both.
COMMON = '-O1 -fno-omit-frame-pointer -gline-tables-only '
UBSAN_CHECKS = ('array-bounds,bool,builtin,enum,float-divide-by-zero,function,'
                'integer-divide-by-zero,null,object-size,return,'
                'returns-nonnull-attribute,shift,signed-integer-overflow,'
                'unreachable,vla-bound,vptr')
CONFIGS = [
    ('address', COMMON + '-fsanitize=address -fsanitize-address-use-after-scope '
     '-fsanitize=fuzzer-no-link', ITERATIONS),
    ('undefined', COMMON + '-fsanitize=%s,unsigned-integer-overflow '
     '-fno-sanitize-recover=%s -fsanitize=fuzzer-no-link'
     % (UBSAN_CHECKS, UBSAN_CHECKS), ITERATIONS),
]


def build_and_run(sanitizer, flags, iterations, targets, tmp):
    out = os.path.join(tmp, sanitizer, 'out')
    work = os.path.join(tmp, sanitizer, 'work')
    os.makedirs(out)
    os.makedirs(work)
    env = dict(os.environ, CC='clang', CXX='clang++', CFLAGS=flags,
               CXXFLAGS=flags, LIB_FUZZING_ENGINE='-fsanitize=fuzzer',
               OUT=out, WORK=work, SRC=os.path.dirname(ROOT),
               SANITIZER=sanitizer, FUZZING_ENGINE='libfuzzer',
               ARCHITECTURE='x86_64', JOBS='2',
               # what ClusterFuzz sets: unsigned wrap-around is reported
               # by the checks above, but only as a warning it silences
               UBSAN_OPTIONS='silence_unsigned_overflow=1:print_stacktrace=1')
    # run from `make check`/`make asan`: the outer make's variables (BUILD,
    # EXTRA_LDFLAGS...) and jobserver must not reach build.sh's make
    for k in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES'):
        env.pop(k, None)
    start = time.time()
    p = subprocess.run(['bash', '-eu', 'fuzz/oss-fuzz/build.sh'], cwd=ROOT,
                       env=env, capture_output=True, timeout=900)
    print('fuzz/oss-fuzz/build.sh (%s): %.1f s' % (sanitizer,
                                                  time.time() - start))
    if not check(p.returncode == 0, '%s: build.sh exits 0 (%d): %s' % (
            sanitizer, p.returncode,
            p.stderr.decode('utf-8', 'replace')[-3000:])):
        return
    built = sorted(n[len('fuzz_'):] for n in os.listdir(out)
                   if n.startswith('fuzz_') and '.' not in n)
    check(built == targets, '%s: a fuzzer per fuzz/fuzz_*.c: %s' %
          (sanitizer, built))
    for t in targets:
        check_target(t, out, tmp, iterations, env)


# Debian/Ubuntu package of each library the Makefile links (LDLIBS_LIB)
DEV_PACKAGE = {'yaml': 'libyaml-dev', 'z': 'zlib1g-dev', 'bz2': 'libbz2-dev',
               'lzma': 'liblzma-dev', 'zstd': 'libzstd-dev',
               'lz4': 'liblz4-dev', 'sqlite3': 'libsqlite3-dev',
               'gdbm': 'libgdbm-dev', 'm': None}


def check_project_files():
    """The builder images install every library the Makefile links, and
    copy files that exist; the project files say what the build does."""
    mk = open(os.path.join(ROOT, 'Makefile')).read()
    libs = re.search(r'^LDLIBS_LIB *= *(.*)$', mk, re.M).group(1).split()
    libs = [lib[2:] for lib in libs if lib.startswith('-l')]
    build = open(os.path.join(ROOT, 'fuzz', 'build.sh')).read()
    for docker in ('fuzz/oss-fuzz/Dockerfile', '.clusterfuzzlite/Dockerfile'):
        text = open(os.path.join(ROOT, docker)).read()
        check(text.startswith('#') and
              'FROM gcr.io/oss-fuzz-base/base-builder\n' in text,
              '%s: FROM base-builder' % docker)
        for lib in libs:
            pkg = DEV_PACKAGE.get(lib, '?')
            check(pkg is None or re.search(r'\b%s\b' % re.escape(pkg), text),
                  '%s installs %s for -l%s (Makefile LDLIBS_LIB)' %
                  (docker, pkg, lib))
        for src in re.findall(r'^COPY (\S+) ', text, re.M):
            base = ROOT if docker.startswith('.') else os.path.join(
                ROOT, 'fuzz', 'oss-fuzz')
            check(src == '.' or os.path.exists(os.path.join(base, src)),
                  '%s: COPY %s exists' % (docker, src))
    for lib in libs:
        if lib != 'm':
            check(re.search(r'-l%s\b' % re.escape(lib), build.split(
                'static_libs=', 1)[-1].split('for t in', 1)[0]),
                'fuzz/build.sh links -l%s statically for OSS-Fuzz' % lib)
    for pyaml in ('fuzz/oss-fuzz/project.yaml', '.clusterfuzzlite/project.yaml'):
        text = open(os.path.join(ROOT, pyaml)).read()
        check(re.search(r'^language: c$', text, re.M),
              '%s: language: c' % pyaml)
    text = open(os.path.join(ROOT, 'fuzz', 'oss-fuzz', 'project.yaml')).read()
    check('main_repo:' in text and '  - address' in text and
          '  - libfuzzer' in text and '  - memory' not in text,
          'fuzz/oss-fuzz/project.yaml: main_repo, address, libfuzzer, no '
          'memory sanitizer')
    wf = open(os.path.join(ROOT, '.github', 'workflows', 'cflite_pr.yml')).read()
    check('google/clusterfuzzlite/actions/build_fuzzers@v1' in wf and
          'google/clusterfuzzlite/actions/run_fuzzers@v1' in wf and
          "mode: 'code-change'" in wf and 'language: c\n' in wf and
          '\t' not in wf, 'cflite_pr.yml: build and run in code-change mode')


def main():
    check_project_files()
    cc, cxx = shutil.which('clang'), shutil.which('clang++')
    if not cc or not cxx:
        skip('clang/clang++ not installed: OSS-Fuzz build not tested')
        return finish()
    targets = sorted(n[len('fuzz_'):-2] for n in os.listdir(
        os.path.join(ROOT, 'fuzz')) if n.startswith('fuzz_') and n.endswith('.c'))
    tmp = tempfile.mkdtemp(prefix='pg-ossfuzz-')
    try:
        for sanitizer, flags, iterations in CONFIGS:
            build_and_run(sanitizer, flags, iterations, targets, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
