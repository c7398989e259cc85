#!/usr/bin/env python3
"""peers.py -- the peer scanners bench/bench.py measures pickleguard against
(issue 16), behind one calling convention.

    .venv-bench/bin/python bench/peers.py scan TOOL FILE
        one file, as the tool's own command line judges it: exit 0 clean,
        1 flagged, 2 anything else (error, skipped, inconclusive). Used for
        the speed table (one process per file, like every other tool).
    .venv-bench/bin/python bench/peers.py detect TOOL FILE...
        many files in one process (start-up paid once), one JSON line per
        file: {"file", "verdict": "flagged"|"clean"|"other", "detail"}.
        Used for the detection table.

TOOL, and what "flagged" means for it (each tool's own verdict, no
threshold of ours):
  picklescan     picklescan 1.0.5 scan_file_path: infected_files > 0
                 (a dangerous global); scan_err -> other
  modelscan      modelscan 0.8.8 ModelScan().scan: total_issues > 0;
                 nothing scanned or errors -> other
  fickling       fickling 0.1.12, as `fickling --check-safety`: any stacked
                 pickle above LIKELY_SAFE -> flagged; a parse failure (the
                 CLI's EXIT_ERROR, e.g. any zip) -> other
  modelaudit     modelaudit 0.2.54 scan_model_directory_or_file with the
                 CLI's determine_exit_code: 1 flagged, 2 other
  ma_picklescan  modelaudit-picklescan 0.1.12 scan_file: verdict MALICIOUS
                 or SUSPICIOUS; UNKNOWN / errors -> other
  torch_wo       torch.load(weights_only=True) (run in .venv, where torch
                 is): a refusal (UnpicklingError) is "flagged", a load
                 "clean". Only for files torch.load reads (torch zip,
                 legacy and tar formats); other files -> other, "n/a". A
                 file the caller marks hostile (--hostile) is loaded with
                 every allowlisted torch global replaced by an inert
                 recorder (the project's rule: nothing hostile is ever
                 unpickled for real); torch's own allowlist and opcode
                 checks still decide, and a failure that is not one of
                 them counts as "other".

Telemetry of the peers is switched off (PROMPTFOO_DISABLE_TELEMETRY,
MODELSCAN_* has none); nothing here reaches the network.
"""
import io
import json
import os
import sys
import warnings
import zipfile

os.environ.setdefault("PROMPTFOO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MODELAUDIT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
warnings.simplefilter("ignore")


def j_picklescan():
    from picklescan.scanner import scan_file_path

    def judge(path):
        r = scan_file_path(path)
        if r.scan_err:
            return "other", "scan error"
        if r.infected_files:
            return "flagged", "%d dangerous global(s)" % r.issues_count
        return "clean", "%d file(s) scanned" % r.scanned_files
    return judge


def j_modelscan():
    from modelscan.modelscan import ModelScan

    def judge(path):
        r = ModelScan().scan(path)
        s = r.get("summary", {})
        if s.get("total_issues", 0):
            return "flagged", "%d issue(s)" % s["total_issues"]
        if r.get("errors"):
            return "other", "error: %s" % str(r["errors"][0])[:80]
        if not s.get("scanned", {}).get("total_scanned", 0):
            return "other", "not scanned (skipped)"
        return "clean", ""
    return judge


def j_fickling():
    from fickling import fickle
    from fickling.analysis import Severity, check_safety

    def judge(path):
        with open(path, "rb") as f:
            try:
                stacked = fickle.StackedPickle.load(f, fail_on_decode_error=False)
            except fickle.PickleDecodeError as e:   # the CLI's EXIT_ERROR
                return "other", "parse failure: %s" % str(e)[:60]
        for p in stacked:
            res = check_safety(p, json_output_path=os.devnull)
            if res.severity > Severity.LIKELY_SAFE:
                return "flagged", str(res.severity)
        return "clean", ""
    return judge


def j_modelaudit():
    from modelaudit.core import scan_model_directory_or_file
    from modelaudit.core_results import determine_exit_code

    def judge(path):
        code = determine_exit_code(scan_model_directory_or_file(path))
        return {0: "clean", 1: "flagged"}.get(code, "other"), "exit %d" % code
    return judge


def j_ma_picklescan():
    from modelaudit_picklescan import SafetyVerdict, scan_file

    def judge(path):
        r = scan_file(path)
        if r.verdict in (SafetyVerdict.MALICIOUS, SafetyVerdict.SUSPICIOUS):
            return "flagged", r.verdict.value
        if r.verdict == SafetyVerdict.CLEAN:
            return "clean", ""
        return "other", "%s (%s)" % (r.verdict.value, r.status.value)
    return judge


def torch_reads(path):
    """Whether torch.load would take the file as a checkpoint: a zip, the
    legacy magic-number stream, or its pre-1.0 tar (serialization.py,
    _is_zipfile / _legacy_load)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:4] == b"PK\x03\x04" or zipfile.is_zipfile(path):
        return True
    if head[257:262] == b"ustar":
        return True
    # legacy: the first pickle is the magic number 0x1950a86a20f9469cfc6c
    return head[:2] in (b"\x80\x02", b"\x80\x01") and b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19" in head[:16]


def j_torch_wo(hostile=False):
    import pickle
    import torch
    import torch._weights_only_unpickler as wo

    if hostile:
        class Inert:
            """Stands in for an allowlisted torch global: records, builds
            nothing, runs nothing."""
            def __init__(self, name):
                self.name = name

            def __call__(self, *a, **k):
                return Inert(self.name + "()")

            def __getattr__(self, attr):
                return Inert(self.name + "." + attr)
        real = wo._get_allowed_globals()
        keep = {"collections.OrderedDict", "collections.Counter", "_codecs.encode",
                "builtins.bytearray", "builtins.set", "builtins.complex"}
        stand_in = {k: (v if k in keep else Inert(k)) for k, v in real.items()}
    refusals = ("Unsupported global", "unrecognized function", "is blocked",
                "Unsupported operand", "Can only create new object", "Can only build",
                "Unsupported class", "must be imported")

    def judge(path):
        if not torch_reads(path):
            return "other", "n/a: not a torch checkpoint"
        real_get = wo._get_allowed_globals
        if hostile:
            wo._get_allowed_globals = lambda: stand_in
        try:
            torch.load(path, weights_only=True, map_location="cpu")
            return "clean", ""
        except pickle.UnpicklingError as e:
            msg = str(e)
            i = msg.find("WeightsUnpickler error: ")
            why = (msg[i + 24:] if i >= 0 else msg).strip().split("\n")[0][:80]
            if hostile and not any(r in msg for r in refusals):
                return "other", "stand-in artefact: " + why
            return "flagged", why
        except Exception as e:  # torch's own readers failing (bad zip...)
            return "other", "%s: %s" % (type(e).__name__, str(e)[:60])
        finally:
            wo._get_allowed_globals = real_get
    return judge


JUDGES = {"picklescan": j_picklescan, "modelscan": j_modelscan, "fickling": j_fickling,
          "modelaudit": j_modelaudit, "ma_picklescan": j_ma_picklescan,
          "torch_wo": j_torch_wo}


def judge_safely(judge, path):
    try:
        return judge(path)
    except Exception as e:  # a crash of the peer on this file
        return "other", "crash: %s: %s" % (type(e).__name__, str(e)[:60])


def main(argv):
    if len(argv) < 3 or argv[0] not in ("scan", "detect") or argv[1] not in JUDGES:
        sys.stderr.write(__doc__)
        return 2
    mode, tool, rest = argv[0], argv[1], argv[2:]
    hostile = set()
    if rest and rest[0].startswith("--hostile="):
        with open(rest[0].split("=", 1)[1]) as f:
            hostile = {ln.strip() for ln in f if ln.strip()}
        rest = rest[1:]
    # quiet: the peers print banners and progress to stdout
    real_stdout = sys.stdout
    sys.stdout = io.StringIO()
    try:
        if mode == "scan":
            verdict, _ = judge_safely(JUDGES[tool](), rest[0])
            return {"clean": 0, "flagged": 1}.get(verdict, 2)
        judges = {}
        for path in rest:
            h = tool == "torch_wo" and path in hostile
            if h not in judges:
                judges[h] = JUDGES[tool](True) if h else JUDGES[tool]()
            verdict, detail = judge_safely(judges[h], path)
            sys.stdout = io.StringIO()
            real_stdout.write(json.dumps({"file": path, "verdict": verdict,
                                          "detail": detail}) + "\n")
            real_stdout.flush()
    finally:
        sys.stdout = real_stdout
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
