"""scan(): the static scanner, with the CLI's findings (pickleguard scan)."""
import os
from typing import List, NamedTuple, Optional

from ._pickleguard import _scan


class Finding(NamedTuple):
    rule: str          # stable rule id (docs/rules.md)
    severity: str      # "info", "low", "medium", "high", "critical"
    offset: int        # byte offset in the stream the finding is in
    opcode: Optional[str]
    global_: str       # "module.qualname" or ""
    message: str
    hint: str          # how to fix; for a refused global the YAML that allows it
    path: str          # member path inside the file ("" at top level)


_SEV = ["info", "low", "medium", "high", "critical"]


class Report:
    """What scan() found. `clean` is True only when every byte was examined
    and there is no finding; `globals` lists the globals the file needs that
    the policy does not allow (as torch's get_unsafe_globals_in_checkpoint)."""

    def __init__(self, findings, pickles, opcodes, dropped, max_severity):
        self.findings: List[Finding] = findings
        self.pickles = pickles
        self.opcodes = opcodes
        self.dropped = dropped
        self.max_severity = _SEV[max_severity] if max_severity >= 0 else None

    @property
    def clean(self):
        return not self.findings and not self.dropped

    @property
    def globals(self):
        seen = []
        for f in self.findings:
            if f.global_ and f.global_ not in seen and f.rule in (
                    "global-not-allowed", "dangerous-global", "dunder-traversal"):
                seen.append(f.global_)
        return seen

    def __repr__(self):
        return "<pickleguard.Report %s, %d finding(s)%s>" % (
            "clean" if self.clean else "findings", len(self.findings),
            ", max %s" % self.max_severity if self.max_severity else "")


def scan(path_or_bytes, *, policy) -> Report:
    """Scans a file (path) or a buffer (bytes-like) without loading it, with
    the same findings as `pickleguard scan`. The GIL is released while the C
    scanner runs."""
    from . import _policy
    pol = _policy(policy)
    if isinstance(path_or_bytes, (str, os.PathLike)):
        res = _scan(pol, os.fsdecode(os.fspath(path_or_bytes)), None)
    else:
        res = _scan(pol, path_or_bytes, None)
    findings = [Finding(*t[:8]) for t in res[0]]
    return Report(findings, res[1], res[2], res[3], res[4])
