"""Random models and their traffic: stationary streams nobody tuned a detector to.

The demo stream (:mod:`stream_monitor.tools.simulate`) is one generator; a detector
tuned to it is not calibrated. :func:`random_model` draws a whole model from a
seed: 3 to 8 numeric features from different families (normal, log-normal,
gamma, Student t with 3 degrees of freedom, uniform, Poisson counts with ties,
values rounded to a coarse grid, a two-component mixture, zero-inflated
amounts), 1 to 3 categorical features (2 to 25 levels, Dirichlet shares with
a rare level), dependence through a Gaussian copula with a random correlation
matrix, and a score that is a logistic function of the features. The
reference and the stream are independent draws of the same process (different
seeds), as a training set and production traffic are.

Drift is injected per event with :class:`Change`: a mean shift of one numeric
feature (in its own standard deviations), a share shift of one categorical
feature, or a change of the score's relation to the features (concept drift:
labels move, inputs do not).

Examples
--------
>>> m = random_model(3)
>>> rows = list(draw(m, 5, seed=1))
>>> sorted(rows[0]) == sorted([f for f, _ in m.features] + ["score", "prediction", "label"])
True
>>> list(draw(m, 5, seed=1)) == rows
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np

__all__ = ["Change", "RandomModel", "draw", "events", "random_model"]

FAMILIES = ("normal", "lognormal", "gamma", "student_t", "uniform", "poisson", "rounded", "mixture", "zero_inflated")


@dataclass(frozen=True)
class RandomModel:
    """A random model: its features (name, type), their laws, and the score's weights."""

    seed: int
    features: tuple[tuple[str, str], ...]
    families: tuple[str, ...]  # numeric features' families, in order
    levels: tuple[tuple[str, ...], ...]  # categorical features' levels
    shares: tuple[tuple[float, ...], ...]  # ... and their shares
    correlation: tuple[tuple[float, ...], ...]  # Gaussian copula over numeric + categorical latents
    weights: tuple[float, ...]  # score: one weight per feature (categoricals through their latent)
    bias: float

    @property
    def numeric(self) -> list[str]:
        return [f for f, t in self.features if t == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [f for f, t in self.features if t == "categorical"]

    def config(self, model_id: str = "random-model") -> dict[str, Any]:
        """The model's configuration at the product's defaults (the reference path is set by the caller)."""
        return {
            "model_id": model_id,
            "features": [{"name": f, "type": t} for f, t in self.features],
            "prediction": {"type": "score"},
            "reference": {"path": "reference.csv"},
        }


@dataclass(frozen=True)
class Change:
    """A change from event ``at`` on (``over`` > 0: it ramps in linearly over that many events).

    ``kind``: ``mean`` shifts numeric feature ``feature`` by ``size`` of its
    standard deviations; ``share`` moves ``size`` of categorical ``feature``'s
    mass to its rarest level; ``concept`` flips the sign of the score's
    weights (labels follow the new relation; inputs and scores keep their law).
    """

    kind: Literal["mean", "share", "concept"]
    at: int
    feature: str | None = None
    size: float = 1.0
    over: int = 0

    def progress(self, idx: np.ndarray) -> np.ndarray:
        if self.over <= 0:
            return (idx >= self.at).astype(float)
        return np.clip((idx - self.at) / self.over, 0.0, 1.0)


def random_model(seed: int) -> RandomModel:
    """Draw a model from ``seed`` (same seed, same model)."""
    rng = np.random.default_rng([seed, 0x52414E44])
    n_num = int(rng.integers(3, 9))
    n_cat = int(rng.integers(1, 4))
    families = tuple(str(rng.choice(FAMILIES)) for _ in range(n_num))
    levels: list[tuple[str, ...]] = []
    shares: list[tuple[float, ...]] = []
    for j in range(n_cat):
        k = int(rng.integers(2, 26))
        p = rng.dirichlet(np.full(k, 1.5))
        if k > 3:  # a rare level, as real categories have
            p[-1] = 0.004
            p = p / p.sum()
        levels.append(tuple(f"c{j}_{i}" for i in range(k)))
        shares.append(tuple(float(x) for x in p))
    d = n_num + n_cat
    loadings = rng.normal(0, 1, (d, 2)) * rng.uniform(0, 0.9, (d, 1))
    cov = loadings @ loadings.T + np.diag(rng.uniform(0.3, 1.0, d))
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    features = tuple([(f"x{i}", "numeric") for i in range(n_num)] + [(f"k{j}", "categorical") for j in range(n_cat)])
    weights = tuple(float(w) for w in rng.normal(0, 0.8, d))
    return RandomModel(seed, features, families, tuple(levels), tuple(shares),
                       tuple(tuple(float(x) for x in row) for row in corr), weights, float(rng.normal(-1.5, 0.5)))


def _numeric(family: str, z: np.ndarray, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A value of ``family`` from its copula latent ``z`` (standard normal) and uniform ``u``."""
    from scipy import stats  # only the generators need scipy's quantile functions

    if family == "normal":
        return np.round(50 + 10 * z, 3)
    if family == "lognormal":
        return np.round(np.exp(3 + 0.8 * z), 2)
    if family == "gamma":
        return np.asarray(np.round(stats.gamma.ppf(u, 2.0, scale=3.0), 3), dtype=float)
    if family == "student_t":
        return np.asarray(np.round(stats.t.ppf(u, 3), 4), dtype=float)
    if family == "uniform":
        return np.round(u * 100, 2)
    if family == "poisson":
        return np.asarray(stats.poisson.ppf(u, 3.0), dtype=float)
    if family == "rounded":
        return np.round(20 + 5 * z)
    if family == "mixture":
        second = rng.random(z.size) < 0.3
        return np.round(np.where(second, 80 + 5 * z, 30 + 8 * z), 2)
    # zero_inflated: 40% zeros, the rest log-normal amounts
    return np.where(u < 0.4, 0.0, np.round(np.exp(2 + np.clip(z, -8, 8)), 2))


@cache
def _family_sd(family: str) -> float:
    """The standard deviation of ``family`` (from 50,000 seeded draws)."""
    from scipy import stats

    rng = np.random.default_rng(0)
    z = rng.standard_normal(50_000)
    return float(np.std(_numeric(family, z, stats.norm.cdf(z), rng)))


def draw(model: RandomModel, n: int, *, seed: int, start: int = 0, change: Change | None = None,
         chunk: int = 20_000) -> Iterator[dict[str, Any]]:
    """``n`` rows (features, score, prediction, label) of ``model``, from event index ``start``."""
    rng = np.random.default_rng([model.seed, seed, start])
    chol = np.linalg.cholesky(np.array(model.correlation))
    num, cat = model.numeric, model.categorical
    from scipy import special, stats

    for lo in range(start, start + n, chunk):
        hi = min(lo + chunk, start + n)
        m = hi - lo
        idx = np.arange(lo, hi)
        z = rng.standard_normal((m, len(model.weights))) @ chol.T
        progress = change.progress(idx) if change is not None else np.zeros(m)
        cols: dict[str, np.ndarray] = {}
        latent = np.zeros((m, len(model.weights)))
        for i, (name, family) in enumerate(zip(num, model.families, strict=True)):
            zi = z[:, i]
            values = _numeric(family, zi, stats.norm.cdf(zi), rng)
            if change is not None and change.kind == "mean" and change.feature == name:
                values = values + change.size * progress * _family_sd(family)
            cols[name] = values
            latent[:, i] = zi
        for j, name in enumerate(cat):
            zj = z[:, len(num) + j]
            u = stats.norm.cdf(zj)
            p = np.array(model.shares[j])
            if change is not None and change.kind == "share" and change.feature == name:
                u = np.where(rng.random(m) < change.size * progress, 1.0, u)
            k = np.minimum(np.searchsorted(np.cumsum(p), u, side="left"), len(p) - 1)
            cols[name] = np.array(model.levels[j], dtype=object)[k]
            latent[:, len(num) + j] = zj
        w = np.array(model.weights)
        logit = model.bias + latent @ w
        score = special.expit(logit)
        truth_logit = logit
        if change is not None and change.kind == "concept":
            truth_logit = np.where(progress > 0, model.bias - latent @ w, logit)
        label = rng.random(m) < special.expit(truth_logit)
        for r in range(m):
            row: dict[str, Any] = {f: (float(cols[f][r]) if t == "numeric" else str(cols[f][r]))
                                   for f, t in model.features}
            s = round(float(score[r]), 6)
            row["score"] = s
            row["prediction"] = int(s >= 0.5)
            row["label"] = int(label[r])
            yield row


def events(model: RandomModel, n: int, *, seed: int, model_id: str = "random-model", version: str = "v1",
           start: int = 0, change: Change | None = None, start_time: float = 1_767_225_600.0,
           events_per_second: float = 100.0) -> Iterator[dict[str, Any]]:
    """Prediction events (dicts ready for JSON) of ``n`` rows drawn as :func:`draw` does."""
    names = [f for f, _ in model.features]
    for i, row in enumerate(draw(model, n, seed=seed, start=start, change=change), start=start):
        yield {
            "event_id": f"{model_id}-{seed}-{i}",
            "model_id": model_id,
            "model_version": version,
            "timestamp": start_time + i / events_per_second,
            "features": {f: row[f] for f in names},
            "prediction": row["prediction"],
            "score": row["score"],
        }
