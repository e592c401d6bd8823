"""Second-order pitfalls: each faulty H v is caught by every curvature oracle on exactly the
fields its entry names, the right hvp passes the same check on the same problem, and where an
entry says it is invisible (blind_on) it is, for the reason given."""

from __future__ import annotations

import pytest

from scratch.curvature import hvp
from scratch.lab.curvature_pitfalls import FIELDS, ORACLES, PITFALLS, CurvaturePitfall, check_on, check_pitfall

oracle_param = pytest.mark.parametrize("oracle_name", ORACLES)
USED = sorted({s for p in PITFALLS.values() for s in (p.caught_on, p.blind_on) if s})

#: The pitfalls the issue asks for, by their name here.
REQUIRED = {"Gauss-Newton taken for the Hessian": "gauss_newton_for_hessian",
            "forgotten tanh'' term": "forgotten_tanh2", "1 - a1^2-based tanh'' in saturation": "tanh2_from_a1",
            "missing 1/N in H_z": "hz_without_mean", "missing s_n in H_z": "hz_without_target_sum"}


def _failed(checks):
    return tuple(c.quantity for c in checks if not c.passed)


@oracle_param
@pytest.mark.parametrize("name", list(PITFALLS))
def test_pitfall_is_caught(name, oracle_name):
    p = PITFALLS[name]
    failed = _failed(check_pitfall(p, oracle_name))
    assert failed, f"{name} slipped past {oracle_name} on {p.caught_on}"
    assert failed == tuple(f for f in FIELDS if f in p.hits), f"{name}: hits {p.hits}, failed {failed}"


@oracle_param
@pytest.mark.parametrize("setting", USED)
def test_right_code_passes_the_same_check(setting, oracle_name):
    checks = check_on(hvp, oracle_name, setting)
    assert not _failed(checks), [c.problem for c in checks if not c.passed]


@oracle_param
@pytest.mark.parametrize("name", [n for n, p in PITFALLS.items() if p.blind_on])
def test_pitfall_is_invisible_where_its_entry_says(name, oracle_name):
    p = PITFALLS[name]
    assert not _failed(check_pitfall(p, oracle_name, p.blind_on)), p.why_blind


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_issue_pitfall_is_in_the_gallery(topic):
    assert REQUIRED[topic] in PITFALLS


@pytest.mark.parametrize("name", list(PITFALLS))
def test_entry_is_complete(name):
    p = PITFALLS[name]
    assert isinstance(p, CurvaturePitfall) and len(p.story) >= 150
    assert "# BUG" in p.source() and "# RIGHT" in p.source()
    assert p.right_source().startswith("def ")
    assert p.hits and set(p.hits) <= set(FIELDS)
    assert (p.blind_on is None) == (p.why_blind == "")
