"""Both pages in a real headless browser (Debian's chromium through playwright-python), network
blocked: no console error, no request leaving the file, every image decoded, every <math> laid
out, every table-of-contents link landing, a first screen that is not blank, nothing wider than
the window or the printed page.  And the checker itself, on pages broken on purpose.

CI installs chromium (``.ci/run``) and playwright (the ``test`` extra) and sets ``CI=true``: there a
missing browser fails every test here.  Elsewhere it is a skip naming what is missing and its
install line (``prerequisites.require_browser``).
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest

from prerequisites import require_browser
from scratch.lab.cli import main
from scratch.lab.page.verify import browser, check_page
from scratch.pitfalls import PITFALLS

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def chromium():
    require_browser()
    with browser() as b:
        yield b


@pytest.fixture(autouse=True)
def _tests_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


def test_quick_report_page(chromium, tmp_path, capsys):
    out, js = tmp_path / "report.html", tmp_path / "report.json"
    assert main(["report", "--quick", "--out", str(out), "--json", str(js), "--quiet"]) == 0
    text = out.read_text()
    assert len(text.encode()) < 2_000_000  # --quick keeps it small
    result = check_page(chromium, out, screenshot=tmp_path / "first-screen.png")
    assert result.ok, "\n".join(result.problems)
    assert result.counts["images"] >= 5 and result.counts["maths"] >= 60 and result.counts["toc_links"] >= 10
    for sid in ("question", "derivation", "comparison", "pitfalls", "accuracy", "stepsize", "training",
                "saturation", "provenance"):
        assert f'id="{sid}"' in text
    assert not re.search(r'(src|href)="(https?:)?//', text) and "<script" not in text and "<link" not in text
    assert text.count('class="bug"') >= 15 and text.count('class="right"') >= 15  # every pitfall's BUG and RIGHT
    data = json.loads(js.read_text())
    assert data["passed"] and data["compare"]["n_pairs"] == 24 and len(data["pitfalls"]) == len(PITFALLS)


def test_check_page_of_a_failing_implementation(chromium, tmp_path):
    out = tmp_path / "check.html"
    rc = main(["check", "user_impls:doubled", "--seeds", "0", "--shapes", "small", "c10", "--dtypes", "float64",
               "--targets", "labels", "--quiet", "--html", str(out)])
    assert rc == 1
    result = check_page(chromium, out)
    assert result.ok, "\n".join(result.problems)
    text = out.read_text()
    assert result.counts["images"] == 4  # a heatmap per failing gradient: dW2 db2 dW1 db1
    for q in ("dW2", "db2", "dW1", "db1"):
        assert f"Heatmap of the elementwise relative error of {q}" in text
    assert "twice the truth" in text and 'id="diagnosis"' in text and 'id="blind-spots"' in text


def test_check_page_of_a_correct_implementation(chromium, tmp_path):
    out = tmp_path / "check.html"
    assert main(["check", "user_impls:textbook", "--seeds", "0", "--shapes", "small", "--quiet", "--html", str(out)]) == 0
    result = check_page(chromium, out)
    assert result.ok, "\n".join(result.problems)
    assert result.counts["images"] == 0 and "ALL PASS" in out.read_text()


# --------------------------------------------------------------------------------------------
# The checker itself: each broken page is caught
# --------------------------------------------------------------------------------------------

def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


_PNG = _png()
_GOOD_BODY = (f'<nav><a href="#a">A</a></nav><section id="a"><h1>A page with text</h1><p>{"Words. " * 200}</p>'
              f'<img src="data:image/png;base64,{_PNG}" alt="dot" width="20" height="20">'
              '<math><mi>x</mi><mo>=</mo><mn>1</mn></math></section>')


def _page(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.html"
    path.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>{body}</body></html>')
    return path


def test_checker_passes_a_good_page(chromium, tmp_path):
    result = check_page(chromium, _page(tmp_path, _GOOD_BODY))
    assert result.ok, result.problems
    assert result.counts == {"images": 1, "maths": 1, "links": 1, "toc_links": 1}


@pytest.mark.parametrize("change, problem", [
    (('href="#a"', 'href="#nowhere"'), "link #nowhere: target missing"),
    (("</section>", '<img src="http://example.com/x.png" alt="x"></section>'), "request leaving the file: http://example.com"),
    (("</section>", '<img src="http://example.com/x.png" alt="x"></section>'), "image not decoded: http://example.com"),
    (("</section>", '<link rel="stylesheet" href="https://cdn.example.com/a.css"></section>'), "request leaving the file"),
    (("</section>", '<img src="sibling.png" alt="x"></section>'), "request leaving the file: file://"),
    ((f"base64,{_PNG}", "base64,AAAA"), "image not decoded: data:image/png"),
    (("<math>", '<math style="display: none">'), "<math> #0 laid out at 0 x 0 px"),
    (("</section>", "<script>console.error('boom')</script></section>"), "console error: boom"),
    (("</section>", "<script>undefinedFunction()</script></section>"), "uncaught exception"),
    (('<section id="a">', '<section id="a" style="color: white">'), "the first screen is blank"),
    (("</section>", '<pre style="width: 2000px">wide</pre></section>'), "page wider than the window"),
    (("</section>", '<table style="width: 760px"><tr><td>x</td></tr></table></section>'), "wider than the paper"),
    (('<nav><a href="#a">A</a></nav>', ""), "no table of contents"),
])
def test_checker_catches_a_broken_page(chromium, tmp_path, change, problem):
    body = _GOOD_BODY.replace(*change)
    assert body != _GOOD_BODY
    result = check_page(chromium, _page(tmp_path, body))
    assert any(problem in p for p in result.problems), result.problems
