"""Release: promotion of the model, allowed only on green, signed evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.evidence import dump, load_bundle, write_signed
from sei_assets.core.fsutil import sha256_file
from sei_assets.core.layout import BUNDLE, EVIDENCE_DIR

RELEASE = "release.json"


def promote(
    repo: Path,
    key: Any = None,
    residual_accepted: str | None = None,
    accept_supplied: bool = False,
    mlflow_alias: str | None = "champion",
) -> dict[str, Any]:
    """Record the released model (its digest, the evidence it rests on); refuse on a red gate
    unless management's acceptance of the residual risk is given (``residual_accepted``), and
    on metrics that were supplied (`sei run --no-repro`) rather than reproduced unless
    ``accept_supplied`` says so explicitly (the release record then says it). On a green gate
    of the MLflow backend, the run's registered model version gets ``mlflow_alias`` in the
    repository's registry (`champion` by default; None or empty: no alias), and the record
    says so."""
    from sei_assets.core import signing, trust

    bundle_path = repo / EVIDENCE_DIR / BUNDLE
    if not bundle_path.is_file():
        raise SeiError(f"{bundle_path}: no evidence to release on")
    checked = trust.verify_trusted(repo)
    if not checked.ok:
        raise SeiError(
            f"{repo}: the evidence is not trusted ({checked.reason}); refusing to release"
        )
    bundle = load_bundle(bundle_path)
    residual_accepted, set_aside = _counted_residual(repo, residual_accepted)
    if set_aside:
        set_aside = f" (the acceptance of the residual risk does not count: {set_aside})"
    if bundle.verdict != "green" and not residual_accepted:
        raise SeiError(f"{repo}: the gate is {bundle.verdict}; refusing to release{set_aside}")
    from sei_assets.core.postmarket import describe_open, open_breaches

    breaches = open_breaches(repo)
    if breaches and not residual_accepted:
        found = describe_open(breaches)
        raise SeiError(
            f"{repo}: post-market breach open ({found}); refusing to release until new green "
            "evidence re-measures the breached measure (its metric for its risk, else the "
            "risk's blocking controls) and passes, or management accepts the residual risk "
            f"with a reason{set_aside}"
        )
    supplied = bundle.pipeline is None or bundle.pipeline.supplied
    if supplied and not accept_supplied:
        raise SeiError(
            f"{repo}: the evidence rests on supplied metrics (not reproduced by the pipeline "
            "tool: `sei run --no-repro`); refusing to release unless they are accepted explicitly"
        )
    model = next((repo / p for p in ("model.pkl", "model.joblib") if (repo / p).is_file()), None)
    record: dict[str, Any] = {
        "system": bundle.system_name,
        "model": model.name if model else None,
        "model_digest": "sha256:" + sha256_file(model) if model else None,
        "bundle_digest": "sha256:" + sha256_file(bundle_path),
        "code": bundle.triple.code,
        "gate": bundle.verdict,
        "metrics_source": "supplied (accepted explicitly)" if supplied else "reproduced",
    }
    if residual_accepted:
        record["residual_accepted"] = residual_accepted
    if breaches:
        import datetime as dt

        record["breaches_accepted"] = [b.measure for b in breaches]
        record["released_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    details = bundle.pipeline.model_dump() if bundle.pipeline is not None else {}
    if details.get("tool") == "mlflow" and bundle.verdict == "green" and mlflow_alias:
        from sei_assets.core.reproducers.mlflow import set_alias

        registered = str(details.get("registered_model"))
        version = str(details.get("model_version"))
        set_alias(repo, registered, version, mlflow_alias)
        record["mlflow"] = {"registered_model": registered, "model_version": version}
        record["mlflow"]["alias"] = mlflow_alias
    key = key or signing.load_or_create_key()
    out = repo / EVIDENCE_DIR / RELEASE
    write_signed(out, dump(record), key)
    return record


def _counted_residual(repo: Path, residual_accepted: str | None) -> tuple[str | None, str]:
    """The residual acceptance that counts, and why one asked for does not (else "").

    Under a trusted roster a release needs an approval in force that counts (the roster's rule)
    and only its residual acceptance is taken. With no roster trusted, no decision counts: an
    acceptance given (by configuration or a trailer) is set aside, saying why."""
    from sei_assets.core import counting, governance

    if not counting.enforced():
        if not residual_accepted:
            return None, ""
        state = counting.judged_lifecycle(repo)
        if state["state"] == "draft":
            return None, f"no management approval records it; {counting.NO_ROSTER}"
        return None, counting.approval_in_force(state)[1]
    history = governance.decisions(repo)
    state = counting.judged_lifecycle(repo, history)
    ok, why = counting.approval_in_force(state)
    if not ok:
        raise SeiError(f"{repo}: refusing to release: {why}")
    approvals = [d for d in history if d["kind"] == "approve" and d["sha"] == state["sha"]]
    return (approvals[-1]["residual_accepted"] if approvals else None), ""
