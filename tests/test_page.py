"""The pages' building blocks and commands, without a browser: markup, content, exit codes, JSON.

The browser checks of both pages are in ``test_page_browser.py``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from scratch.lab.cli import main
from scratch.compare import relative_error_map
from scratch.lab.page import content, html

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _tests_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def test_prose_escapes_text_and_renders_math_code_and_test_refs():
    out = html.prose("a <b> & $\\frac{1}{N}$ `x < y` **bold** *em* `P::test_loss_is_non_negative`")
    assert "&lt;b&gt; &amp;" in out and "<b>" not in out
    assert re.search(r'<math alttext="\\frac\{1\}\{N\}"[^>]*display="inline"', out) and "<mfrac>" in out
    assert "<code>x &lt; y</code>" in out and "<strong>bold</strong>" in out and "<em>em</em>" in out
    assert '<code class="test">tests/test_properties.py::test_loss_is_non_negative</code>' in out


def test_code_marks_the_bug_and_right_lines():
    src = "def f():\n    a = 1  # BUG: wrong\n    # RIGHT: a = 2\n    return a\n"
    out = html.code(src, marks=html.bug_right_marks(src))
    assert html.bug_right_marks(src) == {2: "bug", 3: "right"}
    assert re.search(r'<span class="bug">.*# BUG: wrong.*</span>', out)
    assert re.search(r'<span class="right">.*# RIGHT: a = 2.*</span>', out)
    assert out.count('class="bug"') == 1 and "<script" not in out


def test_figures_must_be_embedded():
    assert 'src="data:image/svg+xml;base64,AAAA"' in html.figure("data:image/svg+xml;base64,AAAA", "alt")
    with pytest.raises(ValueError, match="embedded"):
        html.figure("http://example.com/x.png", "alt")


def test_page_has_a_toc_with_every_section_and_refuses_duplicate_ids():
    secs = [html.Section("One", html.Html("<p>1</p>"), children=[html.Section("Sub", id="sub")]), html.Section("Two")]
    out = html.page("T", "lead", secs)
    for sid in ("one", "sub", "two"):
        assert f'href="#{sid}"' in out and f'id="{sid}"' in out
    assert "<script" not in out and "http" not in out.replace("http://www.w3.org/1998/Math/MathML", "")
    with pytest.raises(ValueError, match="duplicate section ids"):
        html.page("T", "", [html.Section("A"), html.Section("A")])


def test_every_test_the_derivation_names_exists():
    refs = content.test_refs()
    assert len(refs) >= 25
    for ref in refs:
        prefix, name = ref.split("::")
        source = (ROOT / html.TEST_FILES[prefix]).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{ref}: no such test in {html.TEST_FILES[prefix]}"


def test_every_equation_converts_to_mathml():
    for _, eq, shape in content.FORWARD + content.BACKWARD:
        assert html.math(eq).startswith("<math") and "<merror" not in html.math(eq)
    for c in content.CLAIMS:
        for block in c.body:
            out = html.math(block.latex, display=True) if isinstance(block, content.Eq) else html.prose(block)
            assert "<merror" not in out and "$" not in re.sub(r"<math.*?</math>", "", out)


def test_the_family_table_and_text_convert_to_mathml():
    assert [m for m, *_ in content.FAMILY][:4] == ["tanh (the seed network)", "relu", "leaky_relu (slope α)", "sigmoid"]
    for member, *cells in content.FAMILY:
        for eq in (c for c in cells if c not in ("", "none")):
            assert html.math(eq).startswith("<math") and "<merror" not in html.math(eq), (member, eq)
    out = html.prose(content.FAMILY_TEXT)
    assert "<merror" not in out and "$" not in re.sub(r"<math.*?</math>", "", out)


@pytest.mark.parametrize("latex, want, unwanted", [
    (r"\operatorname{log1p}(T)", "<mi>log1p</mi>", "<mi>l</mi>"),  # one upright name, not five italic letters
    (r"\operatorname{diag}(y)", "<mi>diag</mi><mo", "<mo>diag</mo>"),  # no operator gap before "("
    (r"\mathrm{KL}(y)", "<mi>KL</mi>", 'mathvariant="normal"'),
    (r"\tanh'(z)", "<mi>tanh</mi><mo", "<msup><mi>tanh</mi>"),  # the prime is not raised twice
    (r"W \sim N", "<mo>&#x0223C;</mo>", "&#x0007E;"),  # the relation, not an identifier "~"
    (r"|z|/2", '<mo stretchy="false" lspace="0" rspace="0">&#x0007C;</mo>', "<mo>&#x0002F;</mo>"),
    (r"\operatorname{Im} L", '<mi>Im</mi><mspace width="0.1667em"/><mi>L</mi>', None),
    (r"z_{\max}", "<mrow><mi>max</mi></mrow>", "mspace"),
])
def test_mathml_fixes_of_what_chromium_showed(latex, want, unwanted):
    out = html.math(latex)
    assert want in out and (unwanted is None or unwanted not in out)


def test_relative_error_map():
    got = np.array([[1.0, 2.0, 0.0], [np.nan, 1.5, 3.0]])
    ref = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, -3.0]])
    err = relative_error_map(got, ref)
    assert err[0].tolist() == [0.0, 1.0, 0.0] and np.isnan(err[1, 0]) and err[1, 1] == np.inf and err[1, 2] == 2.0
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error_map(got, ref.T)


def test_a_bug_in_one_column_shows_in_that_column_only():
    """What the check page's heatmap draws: column_sign's dW2 is wrong in column 0 and nowhere else."""
    import scratch.testing as st
    import user_impls
    from scratch.lab.page.check_page import worst_case

    report = st.check_implementation(user_impls.column_sign, seeds=[0], shapes=["small", "c10"], dtypes=["float64"],
                                     targets=["labels"], blind_spots=False)
    r = worst_case(report, "dW2")
    assert r.checks["dW2"].max_rel == max(x.checks["dW2"].max_rel for x in report.results)
    err = relative_error_map(r.got["dW2"], r.ref["dW2"])
    assert np.all(err[:, 0] > 1.9) and np.all(err[:, 1:] <= r.rtol)


# --------------------------------------------------------------------------------------------
# Commands: usage, missing extras, JSON
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["report", "--out", "/no/such/folder/r.html"], "folder '/no/such/folder' does not exist"),
    (["report", "--out", "r.txt"], "unsupported extension '.txt'"),
    (["report", "--json", "r.txt"], "unsupported extension '.txt'"),
    (["check", "user_impls:textbook", "--html", "/no/such/folder/r.html"], "folder '/no/such/folder' does not exist"),
    (["check", "user_impls:textbook", "--html", "r.pdf"], "unsupported extension '.pdf'"),
])
def test_bad_usage_exits_2_before_any_work(argv, message, capsys, monkeypatch):
    import scratch.lab.page.report_page as rp
    import scratch.testing

    monkeypatch.setattr(rp, "collect", lambda *a, **k: pytest.fail("work started"))
    monkeypatch.setattr(scratch.testing, "run_cases", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, module, extra", [
    (["report", "--quick"], "latex2mathml", "report"),
    (["report", "--quick"], "pygments", "report"),
    (["report", "--quick"], "matplotlib", "plot"),
    (["check", "user_impls:textbook", "--seeds", "0", "--shapes", "small", "--html", "r.html"], "pygments", "report"),
])
def test_a_missing_extra_exits_2_naming_it(argv, module, extra, capsys, monkeypatch, tmp_path):
    import scratch.lab.page.report_page as rp
    import scratch.testing

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # import fails with ImportError
    monkeypatch.setattr(rp, "collect", lambda *a, **k: pytest.fail("work started"))
    monkeypatch.setattr(scratch.testing, "run_cases", lambda *a, **k: pytest.fail("work started"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert module in err and f"scratch-backprop[{extra}]" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_report_json_holds_the_run(tmp_path, monkeypatch, capsys):
    """A report of two cheap sections: the page and the JSON agree with the data functions' results."""
    import scratch.lab.page.report_page as rp

    real = rp.collect
    monkeypatch.setattr(rp, "collect", lambda plan, **k: real(plan, only=("stepsize", "saturation"), **k))
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["report", "--quick", "--out", str(out), "--json", str(js), "--quiet"]) == 0
    data = json.loads(js.read_text())
    assert data["passed"] and data["plan"] == "quick" and set(data["seconds"]) == {"stepsize", "saturation"}
    assert data["provenance"]["NumPy"] == np.__version__ and "report --out" in data["provenance"]["command"]
    page = out.read_text()
    assert 'id="stepsize"' in page and 'id="saturation"' in page and 'id="comparison"' not in page
    assert f"wrote {out}" in capsys.readouterr().out
