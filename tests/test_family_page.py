"""The page's family section (scratch/lab/page/content.py FAMILY): it renders, its maths
converts, and every test it names exists in tests/test_family.py."""

from __future__ import annotations

import re
from pathlib import Path

from scratch.lab.page import content, html, report_page

ROOT = Path(__file__).resolve().parents[1]


def test_family_claims_convert_and_name_existing_tests():
    source = (ROOT / html.TEST_FILES["F"]).read_text()
    assert len(content.FAMILY) == 3
    for c in content.FAMILY:
        assert c.tests
        for ref in c.tests:
            prefix, name = ref.split("::")
            assert prefix == "F" and re.search(rf"^def {name}\(", source, re.M), ref
        for block in c.body:
            out = html.math(block.latex, display=True) if isinstance(block, content.Eq) else html.prose(block)
            assert "<merror" not in out and "$" not in re.sub(r"<math.*?</math>", "", out), out


def test_family_section_is_on_the_page():
    page = html.page("T", "", [report_page.question_section()])
    assert 'id="family"' in page and 'href="#family"' in page
    assert "is the same formula for every activation" in page and "untouched by L2" in page
    assert "tests/test_family.py::test_kink_derivative_at_exactly_zero" in page
