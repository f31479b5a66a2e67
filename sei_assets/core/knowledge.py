"""The knowledge catalogues (`sei_assets/knowledge/`, data only), validated when read.

Each file has a pydantic model; a file that does not match is an error naming the file, the
key path and what was expected, never a KeyError deep inside a rule.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sei_assets.core.errors import SeiError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClauseSpec(_Strict):
    """One clause of a standard's catalogue and the rule that decides it."""

    id: str
    title: str
    cycle_phase: str
    rule: str | dict[str, Any] | None = None
    #: The rule's basis in words: which evidence makes the clause covered, covered_attested,
    #: partial or gap (the order of kinds is conformance's: criterion, citations, artifact).
    basis: str | None = None


class StandardCatalogue(_Strict):
    """A standard's clause catalogue (`knowledge/standards/<slug>.yaml`)."""

    standard: str
    title: str
    rollup: bool = False
    clauses: list[ClauseSpec] = Field(min_length=1)


class AuthorityPrefix(_Strict):
    prefix: str
    authority: str


class Authorities(_Strict):
    """The authority of each standard's source, and the articles always listed."""

    ranking: list[str]
    presumption: list[str]
    prefixes: list[AuthorityPrefix]
    articles: list[str]


class Category(_Strict):
    id: str
    title: str
    annex_iii: str | None = None  # the Annex III point; None outside Annex III (e.g. MDR)
    basis_patterns: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)


class CatalogueRisk(BaseModel):
    """A proposable risk: `when` it applies, the rest as a manifest would declare it."""

    model_config = ConfigDict(extra="allow")
    id: str
    title: str
    domain: str
    rationale: str
    likelihood: str
    impact: dict[Literal["individual", "society", "organization"], str]
    when: dict[str, list[Any]]
    treat: list[dict[str, Any]]


class MetricDomain(_Strict):
    """The values a kind of metric can take: [min, max] (an absent bound is open)."""

    pattern: str = Field(min_length=1)
    kind: str
    min: float | None = None
    max: float | None = None
    integer: bool = False

    def contains(self, value: float) -> bool:
        """Whether ``value`` is a possible value of this metric."""
        if self.min is not None and value < self.min:
            return False
        if self.max is not None and value > self.max:
            return False
        return not self.integer or float(value).is_integer()

    def describe(self) -> str:
        """The domain as text, e.g. `difference in [0, 1]`, `count >= 0 (integer)`."""
        if self.min is not None and self.max is not None:
            text = f"{self.kind} in [{self.min:g}, {self.max:g}]"
        elif self.min is not None:
            text = f"{self.kind} >= {self.min:g}"
        elif self.max is not None:
            text = f"{self.kind} <= {self.max:g}"
        else:
            text = self.kind
        return text + (" (integer)" if self.integer else "")


class MetricDomains(_Strict):
    """`knowledge/metric_domains.yaml`: the domain of each metric, by name pattern."""

    domains: list[MetricDomain] = Field(min_length=1)


class RiskCatalogue(_Strict):
    """Risks an AI system of a given kind usually carries (`assess`)."""

    categories: list[Category]
    risks: list[CatalogueRisk]


def _where(error: ErrorDetails) -> str:
    return ".".join(str(p) for p in error.get("loc", ())) or "<root>"


def load(relative: str, model: type[BaseModel]) -> dict[str, Any]:
    """Read and validate one shipped knowledge file; its data as plain values."""
    entry = resources.files("sei_assets.knowledge").joinpath(relative)
    return validate_file(entry, model, f"sei_assets/knowledge/{relative}")


def validate_file(entry: Any, model: type[BaseModel], name: str | None = None) -> dict[str, Any]:
    """Read ``entry`` (a path or package resource) as YAML and validate it against ``model``;
    an error names the file, the key path and what was expected."""
    from sei_assets.core import safeload

    name = name or str(entry)
    try:
        text = entry.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeiError(f"{name}: cannot read the catalogue: {exc}") from None
    data: dict[str, Any]
    data, _lines = safeload.parse_yaml(name, text, "catalogue")
    try:
        model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SeiError(f"{name}: {_where(first)}: {first['msg']}") from None
    return data


@cache
def authorities() -> dict[str, Any]:
    """`knowledge/authorities.yaml`, validated."""
    return load("authorities.yaml", Authorities)


@cache
def metric_domains() -> tuple[MetricDomain, ...]:
    """`knowledge/metric_domains.yaml`, validated, in its order (the first match decides)."""
    data = load("metric_domains.yaml", MetricDomains)
    return tuple(MetricDomains.model_validate(data).domains)


def metric_domain(metric: str) -> MetricDomain | None:
    """The declared domain of ``metric`` (the first pattern that matches it), else None."""
    from fnmatch import fnmatchcase

    return next((d for d in metric_domains() if fnmatchcase(metric, d.pattern)), None)


@cache
def risk_catalogue() -> dict[str, Any]:
    """`knowledge/risk_catalogue.yaml`, validated."""
    return load("risk_catalogue.yaml", RiskCatalogue)


@cache
def standard_catalogue(slug: str) -> dict[str, Any] | None:
    """`knowledge/standards/<slug>.yaml`, validated; None when there is none."""
    entry = resources.files("sei_assets.knowledge").joinpath("standards", f"{slug}.yaml")
    if not entry.is_file():
        return None
    return load(f"standards/{slug}.yaml", StandardCatalogue)


def standard_slugs() -> list[str]:
    """The slug of every shipped standard catalogue."""
    folder = resources.files("sei_assets.knowledge").joinpath("standards")
    return sorted(
        e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml")
    )
