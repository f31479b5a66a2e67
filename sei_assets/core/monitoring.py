"""Post-market monitoring (EU AI Act Art. 72): every `lifecycle: monitoring` measure computed on
one period of production decisions, and the period's signed result document.

The source is the manifest's `monitoring.source`: a folder of dated batches
(``<YYYY-MM-DD>.csv`` / ``.parquet``) or a DuckDB table with a timestamp column. Per period:

- input drift: the population stability index of each input feature against the training
  reference (`monitoring.reference`), with the reference's bins (deciles of a numeric feature,
  the categories of a categorical one) stored signed in ``.sei/monitoring/reference.json``;
- fairness of the live decisions with the fairlearn metrics the controls use (demographic parity
  difference and ratio, equalized odds difference once outcomes are known);
- approval (selection) rates overall and per group; outcome-based performance (accuracy, recall,
  ROC AUC) on the rows whose outcome is known;
- the share of denials a person reviewed (human oversight).

Each result carries its value, a bootstrap interval where one is defined, the threshold, and
whether it is a breach (the rule: :func:`breach`). No Dagster here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sei_assets.core.errors import SeiError
from sei_assets.core.layout import EVIDENCE_DIR
from sei_assets.core.postmarket import (
    DAILY,
    breach,
    frequency_of,
    monitoring_measures,
    period_end,
    period_folder,
    period_start,
    severity,
    threshold_text,
)

SCHEMA = "sei-assets/monitoring-period/v1"
REFERENCE_SCHEMA = "sei-assets/monitoring-reference/v1"
FOLDER = "monitoring"
REFERENCE_DOC = "reference.json"
#: A production batch larger than this is refused (the bounded reader's rule for data files).
MAX_BATCH_BYTES = 64 * 1024 * 1024
BINS = 10
EPSILON = 1e-4  # the floor of a bin's share in the PSI (an empty bin would be infinite)
N_BOOT = 200
CI_LEVEL = 0.95
SEED = 42
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|parquet)$")
GROUP_METRICS = {"demographic_parity_diff", "demographic_parity_ratio", "equalized_odds_diff"}
OUTCOME_METRICS = {"equalized_odds_diff", "accuracy_score", "recall_score", "roc_auc_score"}


def inside(repo: Path, rel: str, what: str) -> Path:
    """``repo / rel`` resolved, refused when it leaves the repository (a manifest's value is
    data: never a path outside its place)."""
    base = Path(repo).resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise SeiError(f"{what} {rel!r} leaves the repository {repo}: refused")
    return target


@dataclass(frozen=True)
class Period:
    """One period of production data that is there: its day and the version of its data (a
    file's sha256, or a DuckDB day's row count and row hash)."""

    day: str
    version: str
    file: str | None = None


def _file_digest(path: Path) -> str:
    from sei_assets.core.fsutil import sha256_file

    return sha256_file(path)


def periods(
    repo: Path, monitoring: Any, frequency: str = DAILY, today: dt.date | None = None
) -> list[Period]:
    """The periods of ``frequency`` the source holds, oldest first, each with the version of its
    data. A day is there as soon as its batch is; a week or a month once it is over (on
    ``today``, default the current UTC day), made of the days of it that are there, its
    version the days' versions together (a day added or re-delivered changes it)."""
    days = _days(repo, monitoring)
    if frequency == DAILY:
        return days
    import hashlib

    origin = dt.date.fromisoformat(monitoring.start)
    today = today or dt.datetime.now(dt.UTC).date()
    grouped: dict[dt.date, list[Period]] = {}
    for p in days:
        first = period_start(dt.date.fromisoformat(p.day), frequency, origin)
        grouped.setdefault(first, []).append(p)
    out = []
    for first, members in sorted(grouped.items()):
        if period_end(first, frequency) > today:
            continue  # not over yet
        joined = "|".join(f"{p.day}={p.version}" for p in members)
        out.append(Period(first.isoformat(), hashlib.sha256(joined.encode()).hexdigest()))
    return out


def _days(repo: Path, monitoring: Any) -> list[Period]:
    """The days the source holds, oldest first, each with the version of its data."""
    source = monitoring.source
    if source.path is not None:
        folder = inside(repo, source.path, "monitoring.source.path")
        if not folder.is_dir():
            return []
        found: dict[str, Period] = {}
        for child in sorted(folder.iterdir()):
            m = _DAY.match(child.name)
            if not m or not child.is_file():
                continue
            try:
                dt.date.fromisoformat(m.group(1))
            except ValueError:
                continue
            rel = child.relative_to(Path(repo).resolve()).as_posix()
            found.setdefault(m.group(1), Period(m.group(1), _file_digest(child), rel))
        return sorted(found.values(), key=lambda p: p.day)
    con = _duckdb(repo, source)
    try:
        rows = con.execute(
            f'SELECT CAST("{source.timestamp}" AS DATE) AS d, count(*), sum(hash(t)) '
            f"FROM {_table(source)} t GROUP BY d ORDER BY d"
        ).fetchall()
    except Exception as exc:  # noqa: BLE001 - DuckDB's own errors name the column or table
        raise SeiError(f"monitoring.source: {source.duckdb}: {exc}") from None
    finally:
        con.close()
    return [Period(d.isoformat(), f"{n}:{h}") for d, n, h in rows if d is not None]


def _table(source: Any) -> str:
    return ".".join(f'"{part}"' for part in source.table.split("."))


def _duckdb(repo: Path, source: Any) -> Any:
    import duckdb

    path = inside(repo, source.duckdb, "monitoring.source.duckdb")
    if not path.is_file():
        raise SeiError(f"monitoring.source.duckdb: {path}: no such database file")
    return duckdb.connect(str(path), read_only=True)


def load_batch(
    repo: Path, monitoring: Any, day: str, frequency: str = DAILY
) -> tuple[Any, dict[str, Any]]:
    """The decisions of the period that starts on ``day`` as a DataFrame, and where they came
    from (file, digest, rows): one day's batch, or every day's of a week or a month."""
    if frequency != DAILY:
        return _load_period(repo, monitoring, day, frequency)
    import pandas as pd

    source = monitoring.source
    if source.path is not None:
        folder = inside(repo, source.path, "monitoring.source.path")
        for ext in ("csv", "parquet"):
            path = folder / f"{day}.{ext}"
            if path.is_file():
                break
        else:
            raise SeiError(f"{folder}: no batch for {day} (expected {day}.csv or {day}.parquet)")
        size = path.stat().st_size
        if size > MAX_BATCH_BYTES:
            raise SeiError(f"{path}: {size} bytes, more than the {MAX_BATCH_BYTES} allowed")
        try:
            frame = pd.read_csv(path) if ext == "csv" else pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - a parser's error, reported with the file
            raise SeiError(f"{path}: not a readable batch: {str(exc).splitlines()[0]}") from None
        rel = path.relative_to(Path(repo).resolve()).as_posix()
        return frame, {"kind": "folder", "file": rel, "sha256": _file_digest(path)}
    first = dt.date.fromisoformat(day)
    return _table_rows(repo, source, first, first + dt.timedelta(days=1))


def _table_rows(
    repo: Path, source: Any, first: dt.date, end: dt.date
) -> tuple[Any, dict[str, Any]]:
    """The rows of the source's DuckDB table dated from ``first`` up to ``end`` (excluded)."""
    con = _duckdb(repo, source)
    try:
        frame = con.execute(
            f'SELECT * FROM {_table(source)} WHERE CAST("{source.timestamp}" AS DATE) >= ? '
            f'AND CAST("{source.timestamp}" AS DATE) < ?',
            [first.isoformat(), end.isoformat()],
        ).df()
    except Exception as exc:  # noqa: BLE001
        raise SeiError(f"monitoring.source: {source.duckdb}: {exc}") from None
    finally:
        con.close()
    return frame, {"kind": "duckdb", "database": source.duckdb, "table": source.table}


def _load_period(
    repo: Path, monitoring: Any, day: str, frequency: str
) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    first = dt.date.fromisoformat(day)
    end = period_end(first, frequency)
    source = monitoring.source
    if source.path is None:
        return _table_rows(repo, source, first, end)
    there = [p.day for p in _days(repo, monitoring) if first.isoformat() <= p.day < end.isoformat()]
    if not there:
        raise SeiError(f"{source.path}: no batch from {day} to {end} ({frequency})")
    frames, files = [], []
    for d in there:
        frame, origin = load_batch(repo, monitoring, d)
        frames.append(frame)
        files.append({"file": origin["file"], "sha256": origin["sha256"]})
    return pd.concat(frames, ignore_index=True), {"kind": "folder", "files": files}


# ── input drift ─────────────────────────────────────────────────────────────────────────────


def _role_columns(source: Any) -> set[str]:
    roles = {source.prediction, source.outcome, source.score, source.reviewed, source.timestamp}
    return {c for c in roles if c} | set(source.sensitive)


def reference_bins(frame: Any, features: list[str]) -> dict[str, Any]:
    """Per feature the bins of the training reference and its share in each: a numeric feature
    with more than ``BINS`` values gets its deciles as edges, any other its categories."""
    out: dict[str, Any] = {}
    for name in features:
        col = frame[name]
        numeric = col.dtype.kind in "iuf" and col.nunique() > BINS
        if numeric:
            values = col.dropna().to_numpy(dtype=float)
            edges = sorted(set(np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1]).tolist()))
            counts = np.bincount(
                np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1
            )
            out[name] = {
                "kind": "numeric",
                "edges": [round(e, 6) for e in edges],
                "shares": [round(c / len(values), 6) for c in counts.tolist()],
            }
        else:
            shares = col.astype(str).value_counts(normalize=True).sort_index()
            out[name] = {
                "kind": "categorical",
                "categories": [str(c) for c in shares.index],
                "shares": [round(float(s), 6) for s in shares.to_numpy()],
            }
    return out


def _batch_shares(spec: dict[str, Any], col: Any) -> np.ndarray:
    if spec["kind"] == "numeric":
        values = col.to_numpy(dtype=float, na_value=np.nan)
        values = values[~np.isnan(values)]
        counts = np.bincount(
            np.searchsorted(spec["edges"], values, side="right"), minlength=len(spec["edges"]) + 1
        )
        return counts / max(len(values), 1)
    names, counts = np.unique(col.astype(str).to_numpy(), return_counts=True)
    seen = dict(zip(names.tolist(), counts.tolist(), strict=True))
    shares = [seen.pop(c, 0) for c in spec["categories"]]
    shares.append(sum(seen.values()))  # categories the reference never saw
    return np.array(shares, dtype=float) / max(len(col), 1)


def psi(spec: dict[str, Any], col: Any) -> float:
    """Population stability index of one feature: sum over bins of (a - e) ln(a / e)."""
    expected = np.array([*spec["shares"], *([0.0] if spec["kind"] == "categorical" else [])])
    actual = _batch_shares(spec, col)
    e = np.maximum(expected, EPSILON)
    a = np.maximum(actual, EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def reference_document(repo: Path, loaded: Any) -> dict[str, Any] | None:
    """The training reference's bins for the features the monitoring compares (None without a
    declared reference)."""
    import pandas as pd

    mon = loaded.manifest.monitoring
    if mon.reference is None:
        return None
    path = inside(repo, mon.reference, "monitoring.reference")
    if not path.is_file():
        raise SeiError(f"monitoring.reference: {path}: no such file")
    if path.stat().st_size > MAX_BATCH_BYTES:
        raise SeiError(f"{path}: more than the {MAX_BATCH_BYTES} bytes allowed")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise SeiError(f"{path}: not a readable reference: {str(exc).splitlines()[0]}") from None
    roles = _role_columns(mon.source)
    features = list(mon.source.features) or [c for c in frame.columns if c not in roles]
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise SeiError(f"{path}: monitoring.source.features not in the reference: {missing}")
    return {
        "schema_version": REFERENCE_SCHEMA,
        "system": loaded.manifest.system.name,
        "reference": {"file": mon.reference, "sha256": "sha256:" + _file_digest(path)},
        "rows": int(len(frame)),
        "bins": reference_bins(frame, features),
    }


# ── fairness and performance ───────────────────────────────────────────────────────────────


@dataclass
class Decisions:
    """The columns of one batch the measures read."""

    pred: np.ndarray  # 1 = favourable decision
    groups: np.ndarray | None
    outcome: np.ndarray | None  # 1 = favourable outcome; only rows where it is known
    known: np.ndarray  # rows whose outcome is known (bool)
    score: np.ndarray | None
    reviewed: np.ndarray | None


def decisions(frame: Any, source: Any, dimension: str | None) -> Decisions:
    """The batch's decisions, groups (``dimension``, else the first sensitive column),
    outcomes and reviews; a missing declared column is an error naming it."""
    import pandas as pd

    def column(name: str | None, what: str) -> Any:
        if name is None:
            return None
        if name not in frame.columns:
            raise SeiError(f"the batch has no column {name!r} (monitoring.source.{what})")
        return frame[name]

    pred = pd.to_numeric(column(source.prediction, "prediction"), errors="coerce")
    if pred.isna().any():
        raise SeiError(f"column {source.prediction!r}: every decision must be 0 or 1")
    dim = dimension or (source.sensitive[0] if source.sensitive else None)
    groups = column(dim, "sensitive")
    outcome = column(source.outcome, "outcome")
    known = np.zeros(len(frame), dtype=bool)
    if outcome is not None:
        outcome = pd.to_numeric(outcome, errors="coerce")
        known = outcome.notna().to_numpy()
    score = column(source.score, "score")
    reviewed = column(source.reviewed, "reviewed")
    return Decisions(
        pred=pred.to_numpy(dtype=int),
        groups=None if groups is None else groups.astype(str).to_numpy(),
        outcome=None if outcome is None else outcome.fillna(0).to_numpy(dtype=int),
        known=known,
        score=None if score is None else pd.to_numeric(score, errors="coerce").to_numpy(float),
        reviewed=None if reviewed is None else reviewed.fillna(0).to_numpy(dtype=int),
    )


def _point(metric: str, d: Decisions) -> float | None:
    """The metric on the whole batch (None: not computable here). Fairlearn's and
    scikit-learn's definitions, computed as the bootstrap computes them (the identity resample),
    which is a hundred times quicker than a MetricFrame per period; the tests hold the two equal
    on real batches."""
    if metric in GROUP_METRICS and (d.groups is None or len(set(d.groups.tolist())) < 2):
        return None
    k = d.known
    if metric in OUTCOME_METRICS and (d.outcome is None or k.sum() == 0):
        return None
    if metric == "roc_auc_score" and d.outcome is not None:  # None: returned above
        y = d.outcome[k]
        if d.score is None or len(set(y.tolist())) < 2:
            return None
        from scipy.stats import rankdata

        ranks = rankdata(d.score[k])
        n_pos = int(y.sum())
        n_neg = len(y) - n_pos
        return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    if metric in ("oversight_human_review_declared", "human_review_rate"):
        denied = d.pred == 0
        if d.reviewed is None or not denied.any():
            return None
        return float(d.reviewed[denied].mean())
    identity = np.arange(len(d.pred))[None, :]
    values = _resampled(metric, d, identity)
    if values is None or not np.isfinite(values[0]):
        return None
    return float(values[0])


def _group_rates(hit: np.ndarray, base: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((hit.shape[0], k))
    with np.errstate(divide="ignore", invalid="ignore"):
        for g in range(k):
            member = base & (codes == g)
            out[:, g] = (hit & member).sum(axis=1) / member.sum(axis=1)
    return out


def _resampled(metric: str, d: Decisions, idx: np.ndarray) -> np.ndarray | None:
    """The metric on each bootstrap resample (rows of ``idx``), with numpy; None where the
    interval is not defined here."""
    pred = d.pred[idx].astype(bool)
    if metric in ("demographic_parity_diff", "demographic_parity_ratio") and d.groups is not None:
        names, codes_all = np.unique(d.groups, return_inverse=True)
        rates = _group_rates(pred, np.ones_like(pred), codes_all[idx], len(names))
        if metric == "demographic_parity_diff":
            return rates.max(axis=1) - rates.min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return rates.min(axis=1) / rates.max(axis=1)
    if metric == "selection_rate":
        return pred.mean(axis=1)
    if (
        metric in ("accuracy_score", "recall_score", "equalized_odds_diff")
        and d.outcome is not None
    ):
        known = d.known[idx]
        y = d.outcome[idx].astype(bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            if metric == "accuracy_score":
                return ((pred == y) & known).sum(axis=1) / known.sum(axis=1)
            if metric == "recall_score":
                return (pred & y & known).sum(axis=1) / (y & known).sum(axis=1)
            if d.groups is None:  # the callers return before
                return None
            names, codes_all = np.unique(d.groups, return_inverse=True)
            codes = codes_all[idx]
            tpr = _group_rates(pred, y & known, codes, len(names))
            fpr = _group_rates(pred, ~y & known, codes, len(names))
            return np.maximum(tpr.max(1) - tpr.min(1), fpr.max(1) - fpr.min(1))
    return None


def interval(metric: str, d: Decisions, seed: int = SEED) -> dict[str, Any] | None:
    """A percentile bootstrap interval of the metric (``N_BOOT`` resamples, seeded)."""
    n = len(d.pred)
    if n == 0 or metric not in {*GROUP_METRICS, "selection_rate", *OUTCOME_METRICS}:
        return None
    if metric in OUTCOME_METRICS and d.outcome is None:
        return None
    if metric in GROUP_METRICS and d.groups is None:
        return None
    idx = np.random.default_rng(seed).integers(0, n, size=(N_BOOT, n))
    values = _resampled(metric, d, idx)
    if values is None:
        return None
    values = values[np.isfinite(values)]
    if len(values) < N_BOOT // 2:
        return None
    tail = (1 - CI_LEVEL) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return {
        "low": round(float(low), 6),
        "high": round(float(high), 6),
        "level": CI_LEVEL,
        "method": "percentile bootstrap",
        "n_boot": N_BOOT,
        "seed": seed,
    }


# ── one period ─────────────────────────────────────────────────────────────────────────────


def evaluate_period(
    repo: Path,
    loaded: Any,
    day: str,
    reference: dict[str, Any] | None,
    frequency: str = DAILY,
) -> dict[str, Any]:
    """Every post-market measure of ``frequency`` on the decisions of the period that starts on
    ``day``: the period's document."""
    mon = loaded.manifest.monitoring
    frame, origin = load_batch(repo, mon, day, frequency)
    origin["rows"] = int(len(frame))
    if len(frame) == 0:
        raise SeiError(f"the batch of {day} has no rows")
    base = decisions(frame, mon.source, None)
    origin["outcomes_known"] = int(base.known.sum())
    drift: dict[str, float] = {}
    if reference is not None:
        for name, spec in reference["bins"].items():
            if name in frame.columns:
                drift[name] = round(psi(spec, frame[name]), 6)
    results = []
    for risk, measure in monitoring_measures(loaded.manifest):
        if frequency_of(measure) != frequency:
            continue
        plan = measure.plan
        result: dict[str, Any] = {
            "measure": measure.id,
            "risk": risk.id,
            "metric": measure.metric,
            "enforcement": measure.enforcement,
        }
        details: dict[str, Any] = {}
        ci = None
        if measure.metric == "population_stability_index":
            value = max(drift.values()) if drift else None
            if drift:
                worst = max(drift, key=lambda feature: drift[feature])
                details = {"feature": worst, "psi_by_feature": drift}
        else:
            d = decisions(frame, mon.source, measure.inputs.get("dimension"))
            value = _point(measure.metric, d)
            ci = interval(measure.metric, d) if value is not None else None
        result["value"] = None if value is None else round(value, 6)
        result["interval"] = ci
        result["threshold"] = threshold_text(measure)
        result["breach"] = breach(measure, value)
        result["severity"] = severity(measure)
        result["status"] = (
            "not_measured" if value is None else "breach" if result["breach"] else "within"
        )
        if plan is not None and plan.trigger:
            result["trigger"] = plan.trigger
        if details:
            result["details"] = details
        results.append(result)
    doc = {
        "schema_version": SCHEMA,
        "system": loaded.manifest.system.name,
        "period": day,
        "frequency": frequency,
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": origin,
        "reference": None if reference is None else reference["reference"],
        "results": results,
        "observed": observed(base),
    }
    if frequency != DAILY:  # the period's last day (a daily document is its own day)
        last = period_end(dt.date.fromisoformat(day), frequency) - dt.timedelta(days=1)
        doc = {**doc, "last_day": last.isoformat()}
    return doc


def observed(d: Decisions) -> dict[str, Any]:
    """Approval rates overall and per group; outcome-based performance when outcomes are
    known (not thresholds: what the period looked like)."""
    out: dict[str, Any] = {"selection_rate": round(float(d.pred.mean()), 6)}
    if d.groups is not None:
        out["selection_rate_by_group"] = {
            str(g): round(float(d.pred[d.groups == g].mean()), 6) for g in sorted(set(d.groups))
        }
    if d.outcome is not None and d.known.any():
        for metric in ("accuracy_score", "recall_score", "roc_auc_score"):
            v = _point(metric, d)
            if v is not None:
                out[metric] = round(v, 6)
    return out


def period_path(day: str, frequency: str = DAILY) -> str:
    """The repository-relative path of a period's document (``day``: the period's first)."""
    return f"{EVIDENCE_DIR}/{period_folder(frequency)}/{day}.json"


def write_periods(repo: Path, docs: list[dict[str, Any]], key: Any, reference: Any) -> list[str]:
    """Sign the period documents (and the reference's bins) and add them to the evidence set
    in one transaction; returns the paths written."""
    from sei_assets.core import evidence_set, postmarket_summary, signing
    from sei_assets.core.evidence import dump

    files: dict[str, bytes] = {}
    if reference is not None:
        rel = f"{EVIDENCE_DIR}/{FOLDER}/{REFERENCE_DOC}"
        data = dump(reference)
        files[rel] = data
        files[rel + signing.SIG_SUFFIX] = signing.sign_bytes(data, f"{FOLDER}/{REFERENCE_DOC}", key)
    written: dict[str, bytes] = {}
    for doc in docs:
        rel = period_path(doc["period"], doc.get("frequency", DAILY))
        data = dump(doc)
        files[rel] = written[rel] = data
        files[rel + signing.SIG_SUFFIX] = signing.sign_bytes(
            data, rel.removeprefix(EVIDENCE_DIR + "/"), key
        )
    # the months these periods fall in get their summary anew, in the same transaction
    months = sorted({doc["period"][:7] for doc in docs})
    files.update(postmarket_summary.signed_files(repo, key, months, periods=written))
    files[f"{EVIDENCE_DIR}/{signing.PUBKEY_FILE}"] = (signing.public_key_hex(key) + "\n").encode()
    evidence_set.commit(repo, files, key)
    return [r for r in files if r.endswith(".json")]


def monitor(
    repo: Path, loaded: Any, days: list[str], key: Any, frequency: str = DAILY
) -> list[dict[str, Any]]:
    """Evaluate the periods of ``frequency`` that start on ``days`` and write their signed
    documents: the documents, in order (none asked: nothing read, nothing written)."""
    if not days:
        return []
    reference = reference_document(repo, loaded)
    mon = loaded.manifest.monitoring
    versions = {p.day: p.version for p in periods(repo, mon, frequency, dt.date.max)}
    docs = []
    for day in days:
        doc = evaluate_period(repo, loaded, day, reference, frequency)
        doc["source"]["version"] = versions.get(day)
        docs.append(doc)
    if docs:
        write_periods(repo, docs, key, reference)
    return docs


# ── which periods a run evaluates (Dagster's partitions and `sei monitoring run` alike) ──────


def stale(repo: Path, monitoring: Any, frequency: str = DAILY) -> dict[str, str]:
    """The periods of ``frequency`` whose data on disk is not the data their signed document
    was computed from (a new batch, or one re-delivered with late outcomes), with the version
    of their data: what the `sei_monitoring` sensor requests."""
    from sei_assets.core.postmarket import period_documents

    done = {
        d["period"]: (d.get("source") or {}).get("version")
        for d in period_documents(repo)
        if d.get("frequency", DAILY) == frequency
    }
    return {
        p.day: p.version
        for p in periods(repo, monitoring, frequency)
        if done.get(p.day) != p.version
    }


def holding(monitoring: Any, frequency: str, first: dt.date, last: dt.date) -> list[str]:
    """The first days of the periods of ``frequency`` that hold a day from ``first`` to
    ``last`` (both included), counted from `monitoring.start` and up to today (UTC): no
    partition lies before the one or after the other."""
    if last < first:
        raise SeiError(f"the range ends ({last}) before it starts ({first})")
    origin = dt.date.fromisoformat(monitoring.start)
    last = min(last, dt.datetime.now(dt.UTC).date())
    day = period_start(max(first, origin), frequency, origin)
    found = []
    while day <= last:
        found.append(day.isoformat())
        day = period_end(day, frequency)
    return found


def frequencies(manifest: Any) -> list[str]:
    """The frequencies the manifest's monitoring measures declare, most frequent first (daily
    when there is none: the daily partitions exist for every monitored system)."""
    from sei_assets.core.postmarket import FREQUENCIES

    found = {frequency_of(m) for _r, m in monitoring_measures(manifest)} or {DAILY}
    return [f for f in FREQUENCIES if f in found]


@dataclass
class Run:
    """What one monitoring run did: the period documents it signed, in order, and the periods
    asked for that have no (complete) production data."""

    frequency: str
    documents: list[dict[str, Any]]
    absent: list[str]


def run(repo: Path, loaded: Any, wanted: list[str], key: Any, frequency: str = DAILY) -> Run:
    """Evaluate and sign the periods of ``frequency`` that start on the days ``wanted`` and
    whose data are there (a week or a month once it is over); the others are reported absent.
    The one path of the Dagster `<system>/monitoring` asset and of `sei monitoring run`."""
    mon = loaded.manifest.monitoring
    if mon is None:
        raise SeiError("the manifest declares no monitoring.source: nothing to monitor")
    there = {p.day for p in periods(repo, mon, frequency)}
    asked = sorted(set(wanted))
    days = [d for d in asked if d in there]
    docs = monitor(repo, loaded, days, key, frequency)
    return Run(frequency, docs, [d for d in asked if d not in there])
