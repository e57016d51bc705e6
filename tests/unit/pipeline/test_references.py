"""Reference lifecycle: per-version references, the rolling reference, the reference sample."""

from __future__ import annotations

import numpy as np

from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate, reference_rows
from stream_monitor.windows.embedding import FeatureMap
from stream_monitor.windows.profile import MULTIVARIATE, ReferenceProfile, build_profile
from tests.conftest import make_monitor, records, window_tests_only


def test_reference_sample_is_bounded_seeded_and_in_normal_scores(demo_spec: ModelSpec,
                                                                 demo_reference: ReferenceProfile) -> None:
    sample = demo_reference.sample
    assert sample is not None and sample.features == ("amount", "age", "account_age_days")
    assert len(sample.rows) == demo_spec.reference.sample_rows == 1000
    assert all(abs(v) < 5 for r in sample.rows for v in r)
    again = build_profile(demo_spec, reference_rows(20_000, seed=1), source="test reference")
    assert again.sample == sample
    fmap = FeatureMap.build(demo_reference, n_features=64, seed=0)
    assert fmap is not None and fmap.size == 128 and 0.5 < fmap.bandwidth < 5


def test_versions_on_one_reference_share_its_feature_map(demo_reference: ReferenceProfile) -> None:
    """The map is a pure, immutable function of (reference, size, seed): built once, so model
    versions that come and go (or a flood of made-up ones) do not rebuild it."""
    fmap = FeatureMap.cached(demo_reference, n_features=64, seed=0)
    built = FeatureMap.build(demo_reference, n_features=64, seed=0)
    assert fmap is not None and built is not None
    assert fmap.bandwidth == built.bandwidth and np.array_equal(fmap.omega, built.omega)
    assert np.array_equal(fmap.ref_mean, built.ref_mean) and fmap.ref_trace == built.ref_trace
    assert FeatureMap.cached(demo_reference, n_features=64, seed=0) is fmap
    assert FeatureMap.cached(demo_reference, n_features=64, seed=1) is not fmap


def test_versions_start_with_their_configured_reference(demo_spec: ModelSpec,
                                                        demo_reference: ReferenceProfile) -> None:
    # v2's reference is the shifted traffic itself: v2 is quiet on it while v1 (model reference) drifts
    shifted = [e for e in generate(Scenario(kind="abrupt", change_at=0, seed=21), 20_000)]
    v2_ref = build_profile(demo_spec, ({**e["features"], "score": e["score"]} for e in shifted), source="v2 data")
    mon = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20,
                  version_references={demo_spec.model_id: {"v2": v2_ref}})
    evs = list(generate(Scenario(kind="abrupt", change_at=0, seed=22), 3000))
    both = [*evs, *({**e, "event_id": e["event_id"] + "b", "model_version": "v2"} for e in evs)]
    out = mon.observe(records(both), now=0)
    by_version = {v: [r for r in out.reports if r.model_version == v] for v in ("v1", "v2")}
    # v1 drifts from the start: every window after the first alarm (evidence only) drifts
    v1 = by_version["v1"]
    assert not v1[0].model_drift and v1[0].state.value == "warning" and all(r.model_drift for r in v1[1:])
    assert not any(r.model_drift for r in by_version["v2"])
    assert {r.reference.fingerprint for r in by_version["v2"]} == {v2_ref.fingerprint()}
    restored = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20,
                       version_references={demo_spec.model_id: {"v2": v2_ref}})
    restored.restore(mon.snapshot())
    assert restored.to_state() == mon.to_state()


def test_rolling_reference_is_evidence_or_decides(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    events = list(generate(Scenario(kind="abrupt", change_at=6000, seed=8), 9000))
    demo_spec = window_tests_only(demo_spec)  # window indices below assume windows of 1000
    for use in ("evidence", "decide"):
        spec = demo_spec.model_copy(update={"reference": demo_spec.reference.model_copy(
            update={"rolling_windows": 3, "rolling_use": use})})
        mon = make_monitor(spec, demo_reference)
        out = mon.observe(records(events), now=0)
        assert [r.reference.kind for r in out.reports] == (
            ["static"] * 9 if use == "evidence" else ["static"] * 3 + ["rolling"] * 6)
        late = out.reports[6]  # the first window after the change
        rolling = [x for x in late.readings if x.reference == "rolling"]
        assert rolling and any(x.drift for x in rolling if x.feature == "amount")
        assert late.model_drift
        restored = make_monitor(spec, demo_reference)
        restored.restore(mon.snapshot())
        assert restored.to_state() == mon.to_state()


def test_multivariate_reading_catches_correlation_flip(demo_spec: ModelSpec,
                                                      demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(window_tests_only(demo_spec), demo_reference)  # the window test, on its own
    out = mon.observe(records(generate(Scenario(kind="correlation", change_at=4000, seed=5), 8000)), now=0)
    mmd = [next(x for x in r.readings if x.feature == MULTIVARIATE) for r in out.reports]
    assert [x.drift for x in mmd] == [False] * 4 + [True] * 4
    inputs = {"amount", "age", "account_age_days", "merchant_category", "country"}
    assert all(MULTIVARIATE in r.drifted and not inputs & set(r.drifted) for r in out.reports[4:])


def test_reference_cache_builds_once_per_key_and_keeps_the_most_recent(demo_reference: ReferenceProfile) -> None:
    from stream_monitor.windows.profile import ReferenceCache

    cache: ReferenceCache[int] = ReferenceCache(size=2)
    builds: list[str] = []

    def build(p: str) -> int:
        builds.append(p)
        return len(builds)

    assert cache.get(demo_reference, "a", lambda: build("a")) == 1
    assert cache.get(demo_reference, "a", lambda: build("a")) == 1  # cached
    assert cache.get(demo_reference, "b", lambda: build("b")) == 2
    assert cache.get(demo_reference, "a", lambda: build("a")) == 1  # "a" is now the most recent
    assert cache.get(demo_reference, "c", lambda: build("c")) == 3  # evicts "b", the least recent
    assert cache.get(demo_reference, "a", lambda: build("a")) == 1
    assert cache.get(demo_reference, "b", lambda: build("b")) == 4  # built again
    assert builds == ["a", "b", "c", "b"]


def test_the_profiles_bandwidth_gives_the_feature_map_the_workers_pairwise_distances_would(
        demo_spec: ModelSpec) -> None:
    """A profile stores the embedding's kernel bandwidth so that a worker skips the pairwise
    distances of the sample (its largest allocation at start); a profile without it (built
    before) gets the same map, bit for bit."""
    profile = build_profile(demo_spec, reference_rows(6000, seed=8), source="t",
                            prediction_column=("score",))
    assert profile.sample is not None and profile.sample.embedding is not None
    assert profile.sample.embedding.bandwidth is not None
    without = profile.model_copy(update={"sample": profile.sample.model_copy(
        update={"embedding": profile.sample.embedding.model_copy(update={"bandwidth": None})})})
    det = demo_spec.detectors
    stored = FeatureMap.build(profile, n_features=det.mmd_features, seed=det.seed)
    computed = FeatureMap.build(without, n_features=det.mmd_features, seed=det.seed)
    assert stored is not None and computed is not None
    assert stored.bandwidth == computed.bandwidth and np.array_equal(stored.omega, computed.omega)
    assert np.array_equal(stored.ref_mean, computed.ref_mean) and stored.ref_frob2 == computed.ref_frob2
