"""Shared case generation.  Cases come from :mod:`scratch.cases` (seeds x shapes x dtypes x
target kinds); ids read like ``torch-large-float32-soft-s3``."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis: derandomized by default, so CI and every run test the same examples (a failure
# reproduces); HYPOTHESIS_PROFILE=explore draws fresh random examples on each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# mutmut (docs/tests.md, "Mutation testing"): in its stats run it records which tests call which
# function, in this process.  The processes our tests start (the worker, `python -m scratch`)
# inherit MUTANT_UNDER_TEST=stats and would look for mutmut's config in their own working
# folder and fail; without the variable they run the original code (mutmut keeps its own copy).
if os.environ.get("MUTANT_UNDER_TEST") == "stats":
    del os.environ["MUTANT_UNDER_TEST"]

from scratch.cases import DTYPES, SHAPES, TARGETS, make_case

#: At least five seeds per configuration (the issue asks for >= 5).
SEEDS = list(range(7))

shape_param = pytest.mark.parametrize("shape_name", list(SHAPES), ids=list(SHAPES))
dtype_param = pytest.mark.parametrize("dtype_name", list(DTYPES), ids=list(DTYPES))
target_param = pytest.mark.parametrize("target", TARGETS, ids=TARGETS)
seed_param = pytest.mark.parametrize("seed", SEEDS, ids=[f"s{s}" for s in SEEDS])


@pytest.fixture
def case(seed, shape_name, dtype_name, target):
    """The case for the parametrized (seed, shape_name, dtype_name, target)."""
    return make_case(seed, SHAPES[shape_name], DTYPES[dtype_name], target)


@pytest.fixture
def small_case():
    """One small float64 case with labels, for tests about a single behaviour."""
    return make_case(0, SHAPES["small"], np.float64, "labels")


@pytest.fixture
def stdin_a_pipe():
    """Our fd 0 is a pipe for the test (it may be the null device already, and then a child
    that inherits ours would pass for one that was given the null device)."""
    saved = os.dup(0)
    r, w = os.pipe()
    os.dup2(r, 0)
    os.close(r)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(w)
