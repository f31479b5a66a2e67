"""`status`: freshness and typed drift from the lock and the files on disk, without recomputing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.gate import verdict as gate_verdict
from sei_assets.core.layout import BUNDLE, EVIDENCE_DIRS, MANIFEST_NAMES
from sei_assets.core.lock import SectionDrift, drift, read_raw_manifest


@dataclass
class SystemStatus:
    """A system's freshness and its last gate."""

    system: str
    sections: list[SectionDrift]
    gate: str | None
    generated_at: str | None
    metrics_source: str | None = None
    last_failure: dict[str, Any] | None = None
    #: Open post-market breaches (core.postmarket): each reopens its risk and blocks release.
    breaches: list[Any] | None = None
    #: The monitoring's newest period and whether it is current (None: not monitored yet).
    post_market: dict[str, Any] | None = None

    @property
    def stale_classes(self) -> list[str]:
        return sorted({s.drift_class for s in self.sections if not s.fresh})

    @property
    def exit_code(self) -> int:
        if self.last_failure or self.breaches:
            return 1
        return 0 if not self.stale_classes and self.gate == "green" else 1

    def failure_text(self) -> str | None:
        """`last run failed at <time>: <reason>; evidence below is from <time>`, or None."""
        f = self.last_failure
        if not f:
            return None
        evidence = (
            f"evidence below is from {self.generated_at}"
            if self.generated_at
            else ("there is no evidence")
        )
        return (
            f"last run failed at {f.get('at')} (sei {f.get('verb')}, exit {f.get('exit_code')}): "
            f"{f.get('reason')}; {evidence}"
        )

    def breach_lines(self) -> list[str]:
        """What `sei status` prints for each open post-market breach."""
        return [
            f"post-market breach: {b.describe()}: the risk is open again; the next release "
            "is blocked until new evidence treats it or management accepts the residual"
            for b in self.breaches or []
        ]

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"post_market": self.post_market} if self.post_market else {}
        if self.breaches:
            extra["open_breaches"] = [b.to_json() for b in self.breaches]
        return {
            "system": self.system,
            "gate": self.gate,
            "generated_at": self.generated_at,
            "metrics_source": self.metrics_source,
            "last_run_failure": self.last_failure,
            "stale_classes": self.stale_classes,
            "sections": [
                {
                    "section": s.section,
                    "edge_type": s.edge_type,
                    "fresh": s.fresh,
                    "drift_class": None if s.fresh else s.drift_class,
                    "text": s.describe(),
                }
                for s in self.sections
            ],
            **extra,
        }


def _last_gate(repo: Path) -> tuple[str | None, str | None, str | None]:
    from sei_assets.core import evidence_set

    for d in EVIDENCE_DIRS:
        p = repo / d / BUNDLE
        if d == EVIDENCE_DIRS[0]:  # the set in force, even when a write was interrupted
            p = evidence_set.view(repo, f"{d}/{BUNDLE}") or p
        if p.is_file():
            try:
                b = json.loads(p.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise SeiError(f"{p}: not valid JSON: {exc}") from None
            verdict = b.get("gate")
            if verdict is None:  # the reference's bundles carry no gate field: derive it
                verdict = gate_verdict(b.get("control_results", []))
            pipeline = b.get("pipeline") if isinstance(b.get("pipeline"), dict) else {}
            source = pipeline.get("metrics_source") or (
                None if not pipeline else "reproduced" if pipeline.get("reproduced") else "supplied"
            )
            return verdict, b.get("generated_at"), source
    return None, None, None


def system_status(repo: Path) -> SystemStatus:
    """Compare the lock with the inputs on disk; read the last gate from the evidence."""
    repo = Path(repo)
    path = next((repo / n for n in MANIFEST_NAMES if (repo / n).is_file()), None)
    if path is None:
        raise SeiError(f"{repo}: no manifest (expected one of {', '.join(MANIFEST_NAMES)})")
    raw = read_raw_manifest(path)
    system = raw.get("system")
    name = system.get("name", "?") if isinstance(system, dict) else "?"
    if not isinstance(name, str):  # validation is `run`'s job; status shows no hostile value
        name = f"? (system.name is not text: {type(name).__name__})"
    elif len(name) > 200:
        name = name[:200] + " …"
    verdict, when, source = _last_gate(repo)
    from sei_assets.core.last_run import last_failure
    from sei_assets.core.postmarket import currency, open_breaches

    failure = last_failure(repo, when)
    breaches = open_breaches(repo)
    sections = drift(repo, path, raw)
    return SystemStatus(name, sections, verdict, when, source, failure, breaches, currency(repo))
