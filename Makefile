# pickleguard -- build, test, install.
#
#   make            build/pickleguard, build/libpickleguard.{a,so}, and the
#                   Python package in .venv (`make python`; then
#                   `. .venv/bin/activate` and python3 imports pickleguard)
#   make all        the programs and libraries only (no .venv)
#   make python     .venv (make pyenv) with the package from python/ installed
#   make check      every test: check suites, corpus and CLI tests, fuzz replays
#   make asan       the same tests under AddressSanitizer + UBSan (build-asan/)
#   make install    PREFIX=/usr/local (DESTDIR honoured)
#   make deps       install missing Debian packages (make/check do it too)
#   make pyenv      create/update .venv, the project's Python environment
#                   (requirements/test.txt; make check/corpus/bench do it too)
#   make corpus     regenerate corpus/ with corpus/gen and corpus/modern/gen
#                   (in .venv: the pinned torch, NumPy, joblib, sklearn, pandas)
#   make fuzz       libFuzzer campaign, FUZZ_SECONDS per target (default 60)
#   make fuzz-afl   AFL++ on FUZZ_TARGET for FUZZ_SECONDS
#   make fuzz-oracle  scan vs real loaders (recorded globals), FUZZ_SECONDS,
#                   ORACLE_FAMILY (text zip tar npy joblib compress, or all)
#   make soak       SOAK_N generated bombs under CPU and memory limits
#   make bench      benchmarks against CPython's pickle tools and the peer
#                   scanners (.venv-bench, requirements/bench.txt) (BENCH=quick)
#   make bench-peers  the peers' speed and detection tables into bench/RESULTS.md
#   make bench-regress BASE=<commit>  this tree vs BASE, A/B, opcode-dense files (>5 % slower fails)
#
# Sources are found by wildcard: src/*.c is the library, src/cli/*.c the
# CLI, tests/check_*.c the check suites (each defines `Suite *suite_X(void)`),
# fuzz/fuzz_*.c the fuzz harnesses, tests/test_*.py the script tests.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
# HOSTPY builds (stdlib only); PYTHON runs the tests, the corpus generators
# and the bench, in the project-local environment scripts/pyenv.sh makes.
HOSTPY  ?= python3
VENV    ?= .venv
PYTHON  ?= $(abspath $(VENV))/bin/python
B       := $(BUILD)

PKGS      := yaml-0.1 check
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla
# The user's CPPFLAGS, CFLAGS and LDFLAGS are honoured (CFLAGS replaces the
# default optimisation, as with any Makefile); the flags the code needs
# (standard, warnings, include paths) are added around them.
OPT       ?= -O2
CFLAGS    ?= $(OPT) -g
EXTRA_CFLAGS ?=
# Only PKL_API declarations (pickleguard.h) are exported from the shared
# library: everything else is hidden (the version script agrees).
VISIBILITY = -fvisibility=hidden
CFLAGS_ALL = -std=c11 $(WARN) -fPIC $(VISIBILITY) -D_POSIX_C_SOURCE=200809L \
             -Isrc -I$(B)/gen $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
# Header dependencies of every object, tracked by the compiler.
DEPFLAGS   = -MMD -MP
LDLIBS_LIB = -lyaml -lz -lbz2 -llzma -lzstd -llz4 -lsqlite3 -lgdbm -lm
EXTRA_LDFLAGS ?=
LINK_FLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)
# The programs (pickleguard, decode_bench) link the YAML and format
# libraries statically, glibc stays shared: seven fewer shared objects to
# map and relocate at every start (about 3 ms of 8 here, which is most of
# a CI scan of one small file). LINK_DEPS=dynamic links them as usual.
LINK_DEPS ?= static
ifeq ($(LINK_DEPS),static)
LDLIBS_PROG = -Wl,-Bstatic -lyaml -lz -lbz2 -llzma -lzstd -llz4 -lsqlite3 -lgdbm \
              -Wl,-Bdynamic -lm
else
LDLIBS_PROG = $(LDLIBS_LIB)
endif

LIB_SRC   := $(sort $(wildcard src/*.c))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
CHECK_SRC := $(sort $(wildcard tests/check_*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(FUZZ_SRC))
POLICIES  := $(sort $(wildcard policies/*.yaml))
HEADERS   := src/pickleguard.h src/internal.h src/reader_fast.h src/opcodes.def \
             $(wildcard src/*.def) $(wildcard src/*_internal.h)

GEN_SRC   := $(B)/gen/builtin_policies.c
LIB_OBJ   := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRC)) $(B)/obj/builtin_policies.o
CLI_OBJ   := $(patsubst src/cli/%.c,$(B)/obj/cli/%.o,$(CLI_SRC))
CHECK_OBJ := $(patsubst tests/%.c,$(B)/obj/tests/%.o,$(CHECK_SRC))

DEPS_STAMP := $(B)/.deps-ok
VENV_STAMP := $(VENV)/.pickleguard-requirements

.DEFAULT_GOAL := default
.PHONY: all deps pyenv check unit asan install uninstall corpus fuzz fuzz-afl \
        fuzz-build bench bench-peers bench-report clean soak
.DELETE_ON_ERROR:

all: $(B)/pickleguard $(B)/libpickleguard.a $(B)/libpickleguard.so

deps:
	sh scripts/deps.sh

$(DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(B)
	sh scripts/deps.sh
	@touch $@

pyenv: | $(DEPS_STAMP)
	VENV=$(VENV) PYTHON_BASE=$(HOSTPY) sh scripts/pyenv.sh requirements/test.txt

$(VENV_STAMP): requirements/test.txt scripts/pyenv.sh | $(DEPS_STAMP)
	VENV=$(VENV) PYTHON_BASE=$(HOSTPY) sh scripts/pyenv.sh requirements/test.txt

$(B)/gen/builtin_policies.c: $(POLICIES) scripts/embed.py | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTPY) scripts/embed.py $@ pkli_builtin_policies $(POLICIES)

$(B)/obj/builtin_policies.o: $(B)/gen/builtin_policies.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

$(B)/obj/%.o: src/%.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

$(B)/obj/cli/%.o: src/cli/%.c $(HEADERS) $(wildcard src/cli/*.h) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

$(B)/libpickleguard.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libpickleguard.so: $(LIB_OBJ) src/libpickleguard.map
	$(CC) -shared -Wl,-soname,libpickleguard.so.0 \
	  -Wl,--version-script=src/libpickleguard.map -o $@ $(LIB_OBJ) $(LINK_FLAGS) $(LDLIBS_LIB)

# the CLI's seccomp sandbox (src/cli/sandbox.c), linked like the others
ifeq ($(LINK_DEPS),static)
LDLIBS_SANDBOX = -Wl,-Bstatic -lseccomp -Wl,-Bdynamic
else
LDLIBS_SANDBOX = -lseccomp
endif

$(B)/pickleguard: $(CLI_OBJ) $(B)/libpickleguard.a
	$(CC) -o $@ $(CLI_OBJ) $(B)/libpickleguard.a $(LINK_FLAGS) $(LDLIBS_PROG) $(LDLIBS_SANDBOX) -lpthread

# ---- check suites ------------------------------------------------------------
# tests/check_main.c includes suites.h, generated from every
# `Suite *suite_X(void)` defined in tests/check_*.c.
$(B)/gen/suites.h: $(CHECK_SRC)
	@mkdir -p $(dir $@)
	@{ echo '/* generated by the Makefile from tests/check_*.c */'; \
	  grep -ho '^Suite \*suite_[a-z0-9_]*(void)' $(filter-out tests/check_main.c,$(CHECK_SRC)) \
	    | sed 's/^Suite \*\(suite_[a-z0-9_]*\)(void)/SUITE(\1)/'; } > $@.tmp && mv $@.tmp $@

$(B)/obj/tests/check_main.o: $(B)/gen/suites.h

$(B)/obj/tests/%.o: tests/%.c $(HEADERS) $(wildcard tests/*.h) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -Itests $$(pkg-config --cflags check) -c -o $@ $<

$(B)/check_all: $(CHECK_OBJ) $(B)/libpickleguard.a
	$(CC) -o $@ $(CHECK_OBJ) $(B)/libpickleguard.a $(LINK_FLAGS) \
	  $$(pkg-config --libs check) $(LDLIBS_LIB) -lpthread

# ---- fuzz harnesses: plain replay drivers (built by make check) -------------
$(B)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay_main.c $(B)/libpickleguard.a $(wildcard fuzz/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Ifuzz -o $@ $< fuzz/replay_main.c $(B)/libpickleguard.a \
	  $(LINK_FLAGS) $(LDLIBS_LIB)

REPLAYS := $(patsubst %,$(B)/fuzz/replay_%,$(FUZZ_TARGETS))

# ---- tests ---------------------------------------------------------------------
unit: $(B)/check_all
	CK_FORK=no $(B)/check_all

# The Python package (python/): built from build/libpickleguard.a and
# installed into .venv for tests/test_python_pkg.py. Only for the plain
# build: the extension is not built against the ASan library.
PYPKG_STAMP := $(VENV)/.pickleguard-python
$(PYPKG_STAMP): $(VENV_STAMP) build/libpickleguard.a python/setup.py \
                $(wildcard python/src/*.c python/pickleguard/*.py) $(HEADERS)
	PKL_BUILD=build $(PYTHON) -m pip install --no-build-isolation --no-deps -q ./python
	@touch $@

# `make` with no target: everything `all` builds, plus the Python package in
# .venv (README "From Python"); only for the plain build, like check
.PHONY: default python
python: $(PYPKG_STAMP)
default: all $(if $(filter build,$(B)),python)

check: all $(B)/check_all $(REPLAYS) $(VENV_STAMP) $(if $(filter build,$(B)),$(PYPKG_STAMP))
	@PKL_BUILD=$(B) PYTHON=$(PYTHON) sh tests/run.sh

asan:
	$(MAKE) BUILD=build-asan OPT="-O1" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DPKL_TESTING" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" check

# ---- install -------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/include/pickleguard $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/share/pickleguard/policies $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(B)/pickleguard $(DESTDIR)$(PREFIX)/bin/pickleguard
	install -m 644 $(B)/libpickleguard.a $(DESTDIR)$(PREFIX)/lib/libpickleguard.a
	install -m 755 $(B)/libpickleguard.so $(DESTDIR)$(PREFIX)/lib/libpickleguard.so.0
	ln -sf libpickleguard.so.0 $(DESTDIR)$(PREFIX)/lib/libpickleguard.so
	install -m 644 src/pickleguard.h src/opcodes.def $(DESTDIR)$(PREFIX)/include/pickleguard/
	install -m 644 $(POLICIES) $(DESTDIR)$(PREFIX)/share/pickleguard/policies/
	install -m 644 docs/pickleguard.1 $(DESTDIR)$(PREFIX)/share/man/man1/pickleguard.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|'"$$(sed -n 's/^#define PKL_VERSION "\(.*\)"/\1/p' src/pickleguard.h)"'|g' \
	  pickleguard.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/pickleguard.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pickleguard $(DESTDIR)$(PREFIX)/lib/libpickleguard.* \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/pickleguard.pc $(DESTDIR)$(PREFIX)/share/man/man1/pickleguard.1
	rm -rf $(DESTDIR)$(PREFIX)/share/pickleguard $(DESTDIR)$(PREFIX)/include/pickleguard

# ---- corpus, fuzzing, benchmarks -------------------------------------------------
corpus: $(VENV_STAMP)
	$(PYTHON) corpus/gen/gen.py corpus
	$(PYTHON) corpus/modern/gen/gen_modern.py corpus/modern

FUZZ_SECONDS ?= 60
FUZZ_TARGET  ?= decoder
# fuzz/build.sh puts every harness into build-fuzz/{libfuzzer,afl,afl-cmplog};
# `make fuzz` and `make fuzz-afl` build only what they run. fuzz/README.md.
fuzz-build: | $(DEPS_STAMP)
	sh fuzz/build.sh

fuzz: | $(DEPS_STAMP)
	ENGINES=libfuzzer sh fuzz/build.sh
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh fuzz/run.sh libfuzzer

fuzz-afl: | $(DEPS_STAMP)
	ENGINES=afl TARGETS=$(FUZZ_TARGET) sh fuzz/build.sh
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGET=$(FUZZ_TARGET) sh fuzz/run.sh afl

# fuzz/soak.py: SOAK_N generated bombs (memo, nesting, collisions, big
# ints, output amplification, truncation while mapped), each under CPU and
# memory rlimits; prints per-category figures (issue 19, SECURITY.md)
SOAK_N ?= 2000
soak: all
	SOAK_N=$(SOAK_N) PKL_BUILD=$(B) $(HOSTPY) fuzz/soak.py

# structure-aware differential fuzzing: scan vs the real-loader oracle
# (fuzz/oracle_fuzz.py, tests/oracle.py); FUZZ_SECONDS of mutation
.PHONY: fuzz-oracle bench-regress
ORACLE_FAMILY ?= all
fuzz-oracle: all $(VENV_STAMP)
	PKL_BUILD=$(B) $(PYTHON) fuzz/oracle_fuzz.py --seconds $(FUZZ_SECONDS) --family $(ORACLE_FAMILY)

BENCH ?= full
# decode_bench times the C API (no CLI, no JSON). While a module's source is
# still missing it builds anyway and reports that row as missing.
BENCH_DEFS := $(if $(wildcard src/decoder.c),,-DPKL_BENCH_NO_DECODER) \
              $(if $(wildcard src/scanner.c),,-DPKL_BENCH_NO_SCANNER) \
              $(if $(wildcard src/policy*.c),,-DPKL_BENCH_NO_POLICY)
$(B)/decode_bench: bench/decode_bench.c $(B)/libpickleguard.a
	$(CC) $(CFLAGS_ALL) $(BENCH_DEFS) -o $@ $< $(B)/libpickleguard.a \
	  $(LINK_FLAGS) $(LDLIBS_PROG)

# The peer scanners live in their own environment (requirements/bench.txt),
# so `make check` never installs or waits for them.
BENCH_VENV ?= .venv-bench
BENCH_VENV_STAMP := $(BENCH_VENV)/.pickleguard-requirements

$(BENCH_VENV_STAMP): requirements/bench.txt scripts/pyenv.sh | $(DEPS_STAMP)
	VENV=$(BENCH_VENV) PYTHON_BASE=$(HOSTPY) sh scripts/pyenv.sh requirements/bench.txt

bench: all $(B)/decode_bench $(VENV_STAMP) $(BENCH_VENV_STAMP) $(if $(filter build,$(B)),$(PYPKG_STAMP))
	BENCH=$(BENCH) PKL_BUILD=$(B) BENCH_VENV=$(BENCH_VENV) $(PYTHON) bench/bench.py

# pickleguard and the peers on the quick workload, plus the detection
# table over corpus/: rewrites only the peers section of bench/RESULTS.md
bench-peers: all $(B)/decode_bench $(VENV_STAMP) $(BENCH_VENV_STAMP)
	BENCH=quick PKL_BUILD=$(B) BENCH_VENV=$(BENCH_VENV) $(PYTHON) bench/bench.py \
	  --no-profile --peers-report bench/RESULTS.md

bench-report: all $(B)/decode_bench $(VENV_STAMP)
	BENCH=full PKL_BUILD=$(B) $(PYTHON) bench/bench.py --report bench/RESULTS.md

# this tree against BASE (a commit), A/B in one run, opcode-dense files:
# exits 1 when a row is more than 5 % slower (bench/regress.py)
BASE ?= HEAD~1
bench-regress: all $(B)/decode_bench $(VENV_STAMP)
	BASE=$(BASE) PKL_BUILD=$(B) PYTHON=$(PYTHON) sh scripts/bench_regress.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(wildcard $(B)/obj/*.d $(B)/obj/cli/*.d $(B)/obj/tests/*.d)
