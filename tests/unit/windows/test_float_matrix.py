"""The reference sample as one read-only float array: same values, same JSON, same fingerprint."""

from __future__ import annotations

import copy
import doctest
import json
import pickle

import numpy as np
import pytest
from pydantic import ValidationError

import stream_monitor.windows.float_matrix as float_matrix_module
from stream_monitor.config.references import load_profile
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.float_matrix import FloatMatrix
from stream_monitor.windows.profile import ReferenceProfile, ReferenceSample
from tests.conftest import ROOT

# Written by the code that held the sample as tuples of tuples of floats (demo model, 3,000
# reference rows, a sample of 60); its fingerprint was d87dd93ccd7c9daf then.
TUPLES_PROFILE = ROOT / "tests" / "data" / "reference_profile_tuples.json"
TUPLES_FINGERPRINT = "d87dd93ccd7c9daf"


def test_a_profile_written_with_tuples_loads_to_the_same_values_json_and_fingerprint() -> None:
    raw = TUPLES_PROFILE.read_text(encoding="utf-8")
    profile = load_profile(TUPLES_PROFILE)
    assert profile.sample is not None and profile.sample.correlation is not None
    on_disk = json.loads(raw)["sample"]
    assert isinstance(profile.sample.rows, FloatMatrix)
    assert [list(r) for r in profile.sample.rows] == on_disk["rows"]
    assert np.asarray(profile.sample.correlation).tolist() == on_disk["correlation"]
    assert profile.model_dump_json(indent=1) == raw  # written back byte for byte
    assert profile.fingerprint() == TUPLES_FINGERPRINT


def test_python_mode_reads_and_dumps_tuples_as_before() -> None:
    rows = ((0.5, -1.25), (2.0, 0.0), (1e-4, 3.0))
    sample = ReferenceSample(features=("a", "b"), rows=rows)  # type: ignore[arg-type]
    assert sample.rows == FloatMatrix(rows) and sample.rows.to_rows() == rows
    assert sample.model_dump()["rows"] == rows
    assert ReferenceSample.model_validate_json(sample.model_dump_json()) == sample
    assert ReferenceSample(features=("a", "b"), rows=FloatMatrix(rows)) == sample
    assert ReferenceSample(features=("a", "b"), rows=[[0.5, -1.25], [2, 0]]).rows[1] == (2.0, 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("rows", [[[1.0, 2.0], [3.0]], [[1.0, "x"]], [1.0, 2.0]])
def test_rows_that_are_not_a_matrix_of_floats_are_rejected(rows: object) -> None:
    with pytest.raises(ValidationError):
        ReferenceSample(features=("a", "b"), rows=rows)  # type: ignore[arg-type]


def test_the_array_is_the_values_read_only_and_shared_without_copies() -> None:
    source = np.array([[1.0, 2.0], [3.0, 4.0]])
    m = FloatMatrix(source)
    source[0, 0] = 99.0  # the matrix copied its input
    x = np.asarray(m, dtype=float)
    assert x is m.array and x[0, 0] == 1.0 and not x.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        x[0, 0] = 5.0
    assert np.asarray(m, dtype=np.float32).dtype == np.float32
    assert m[0] == (1.0, 2.0) and m[-1] == (3.0, 4.0) and m[0:1] == ((1.0, 2.0),)
    assert len(m) == 2 and list(m) == [(1.0, 2.0), (3.0, 4.0)] and all(isinstance(r, tuple) for r in m)


def test_empty_equal_hashable_and_copyable() -> None:
    assert len(FloatMatrix([])) == 0 and FloatMatrix([]).to_rows() == ()
    a, b = FloatMatrix([[1.0, 2.0]]), FloatMatrix(((1.0, 2.0),))
    assert a == b and hash(a) == hash(b) and a != FloatMatrix([[1.0], [2.0]]) and a != FloatMatrix([[1.0, 2.5]])
    for other in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):  # noqa: S301 - our own bytes
        assert other == a and not other.array.flags.writeable


def test_profiles_with_the_sample_pickle_and_compare(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    again = pickle.loads(pickle.dumps(demo_reference))  # noqa: S301 - our own bytes
    assert again == demo_reference and again.fingerprint() == demo_reference.fingerprint()
    assert demo_reference.sample is not None
    assert demo_reference.sample.rows.array.shape == (demo_spec.reference.sample_rows, 3)


def test_docstring_examples() -> None:
    assert doctest.testmod(float_matrix_module, raise_on_error=True).attempted > 0
