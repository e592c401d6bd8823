"""Building blocks of the pages: escaped text with inline maths and code, tables, highlighted
code, figures, and the page shell with its table of contents.

Everything returns :class:`Html`, a ``str`` that is already safe to insert; plain ``str``
values are escaped wherever they are inserted.  MathML comes from :mod:`latex2mathml` and
highlighted code from Pygments, both imported when first used (the ``report`` extra).
"""

from __future__ import annotations

import html
import math as _math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .style import CSS


class Html(str):
    """Markup that is already safe: inserted as is, never escaped again."""


def esc(value: Any) -> Html:
    """``value`` as text: ``Html`` passes through, anything else is ``str()``-ed and escaped."""
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """Concatenate ``parts`` (each escaped unless already :class:`Html`)."""
    return Html(esc(sep).join(esc(p) for p in parts))


def _attrs(attrs: Mapping[str, Any]) -> str:
    out = []
    for k, v in attrs.items():
        if v is None or v is False:
            continue
        key = k.rstrip("_").replace("_", "-")
        out.append(f" {key}" if v is True else f' {key}="{esc(v)}"')
    return "".join(out)


def tag(name: str, body: Any = "", **attrs: Any) -> Html:
    """``<name attrs>body</name>``; ``class_`` gives ``class``, ``aria_label`` ``aria-label``;
    attributes that are None or False are left out, True ones written bare."""
    return Html(f"<{name}{_attrs(attrs)}>{esc(body)}</{name}>")


def void(name: str, **attrs: Any) -> Html:
    """An element without content: ``<img ...>``, ``<meta ...>``."""
    return Html(f"<{name}{_attrs(attrs)}>")


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def num(v: Any, digits: int = 2) -> str:
    """A number in short scientific notation (``1.2e-15``), ``0``, ``inf``, ``nan``; other values as ``str``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if _math.isnan(v):
        return "nan"
    if _math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "0" if v == 0 else f"{v:.{digits - 1}e}"


# --------------------------------------------------------------------------------------------
# Mathematics and prose
# --------------------------------------------------------------------------------------------


#: ``\operatorname{...}`` with anything but letters (latex2mathml splits ``log1p`` into italic letters).
_OPERATORNAME = re.compile(r"\\operatorname\{([^{}]*[^A-Za-z{}][^{}]*)\}")
#: Fixes of latex2mathml's output, each seen in chromium: (pattern, replacement).
_MATHML_FIXES = (
    # function names as operators (<mo>diag</mo>, <mo>max</mo>) get operator spacing: "diag (y)".
    (re.compile(r"<mo>([A-Za-z]{2,})</mo>"), r"<mi>\1</mi>"),
    # \mathrm{log1p}, \mathrm{KL}: one upright identifier, not a row of single letters.
    (re.compile(r'<mrow>((?:<mn>[^<]+</mn>)*<mi mathvariant="normal">[^<]</mi>'
                r'(?:<mi mathvariant="normal">[^<]</mi>|<mn>[^<]+</mn>)+)</mrow>'),
     lambda m: f"<mi>{''.join(re.findall(r'>([^<]+)<', m.group(1)))}</mi>"),
    # a prime as a superscript is raised twice ("tanh ′"): write it after its base.
    (re.compile(r"<msup>(<mi>[^<]+</mi>)<mi>(&#x0203[234];)</mi></msup>"),
     r'<mrow>\1<mo lspace="0" rspace="0">\2</mo></mrow>'),
    # \sim comes out as an identifier "~"; it is the relation ∼.
    (re.compile(r"<mi>&#x0007E;</mi>"), "<mo>&#x0223C;</mo>"),
    # |x|, ‖x‖ and a/b are tight in TeX; chromium spaces them like infix operators ("| z |", "a / b").
    (re.compile(r'<mo( fence="false")? stretchy="false">(&#x0007C;|&#x02016;)</mo>'),
     r'<mo\1 stretchy="false" lspace="0" rspace="0">\2</mo>'),
    (re.compile(r"<mo>&#x0002F;</mo>"), '<mo lspace="0" rspace="0">&#x0002F;</mo>'),
)


#: Function names that get a thin space from a neighbouring symbol, as in TeX (``\\max x``, ``\\varepsilon \\max``),
#: but none before their own parenthesis (``diag(y)``).
_FUNCTIONS = re.compile(r"<mi>(sin|cos|tan|tanh|sech|atanh|exp|log|log1p|max|min|diag|softmax|erfc|Im|Re)</mi>")
_ORD_END = re.compile(r"</(mi|mn|msub|msup|msubsup|mover|munder|mfrac|msqrt)>$")
_ORD_START = re.compile(r'<(mi|mn|msub|msup|msubsup|mover|munder|mfrac|msqrt|mrow)[ >]|<mo[^>]*>(&#x0007C;|&#x02016;)<')
_THIN = '<mspace width="0.1667em"/>'


def _function_spacing(out: str) -> str:
    def space(m: re.Match[str]) -> str:
        before = _THIN if _ORD_END.search(m.string[max(0, m.start() - 12):m.start()]) else ""
        after = _THIN if _ORD_START.match(m.string, m.end()) else ""
        return before + m.group(0) + after

    return _FUNCTIONS.sub(space, out)


def math(latex: str, display: bool = False) -> Html:
    """LaTeX as a MathML ``<math>`` element (converted now, rendered natively by the browser),
    with the LaTeX kept in ``alttext``."""
    from latex2mathml.converter import convert

    out = convert(_OPERATORNAME.sub(r"\\mathrm{\1}", latex), display="block" if display else "inline")
    for pattern, repl in _MATHML_FIXES:
        out = pattern.sub(repl, out)
    out = _function_spacing(out)
    return Html(out.replace("<math ", f'<math alttext="{esc(latex)}" ', 1))


#: Test-file prefixes of the derivation's claims, as in README.md.
TEST_FILES = {"P": "tests/test_properties.py", "N": "tests/test_numeric.py", "R": "tests/test_routes.py",
              "O": "tests/test_oracles.py", "E": "tests/test_extreme.py", "S": "tests/test_stepsize.py",
              "T": "tests/test_train.py", "A": "tests/test_accuracy.py", "G": "tests/test_pitfalls.py",
              "F": "tests/test_family.py"}
TEST_REF = re.compile(r"^([A-Z])::(test_\w+)(\[[^\]]*\])?$")
_INLINE = re.compile(r"\$([^$]+)\$|`([^`]+)`|\*\*([^*]+)\*\*|\*(?=\S)([^*]+?)(?<=\S)\*")


def test_ref(text: str) -> Html:
    """``P::test_x[...]`` as ``tests/test_properties.py::test_x[...]`` in a code element."""
    m = TEST_REF.match(text)
    if not m or m.group(1) not in TEST_FILES:
        raise ValueError(f"not a test reference: {text!r}")
    return tag("code", f"{TEST_FILES[m.group(1)]}::{m.group(2)}{m.group(3) or ''}", class_="test")


def prose(text: str) -> Html:
    """Text with ``$latex$`` (inline MathML), ```code``` (a test reference like ``P::test_x`` is
    written out with its file), ``**bold**``, ``*emphasis*``; everything else escaped."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(esc(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append(math(m.group(1)))
        elif m.group(2) is not None:
            out.append(test_ref(m.group(2)) if TEST_REF.match(m.group(2)) else tag("code", m.group(2)))
        elif m.group(3) is not None:
            out.append(tag("strong", m.group(3)))
        else:
            out.append(tag("em", m.group(4)))
        pos = m.end()
    out.append(esc(text[pos:]))
    return join(out)


def para(text: str, **attrs: Any) -> Html:
    """A paragraph of :func:`prose`."""
    return tag("p", prose(text), **attrs)


# --------------------------------------------------------------------------------------------
# Tables, code, figures
# --------------------------------------------------------------------------------------------


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, caption: Any = None, class_: str | None = None,
          numeric: Sequence[int] = ()) -> Html:
    """A table; ``numeric`` columns are right-aligned in a monospace font.  A cell is escaped
    unless it is :class:`Html`; floats go through :func:`num`."""
    head = tag("tr", join(tag("th", h, scope="col") for h in headers))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = v if isinstance(v, Html) else num(v) if isinstance(v, float) else v
            cells.append(tag("td", text, class_="num" if i in numeric else None))
        body.append(tag("tr", join(cells)))
    cap = tag("caption", caption) if caption is not None else ""
    return tag("div", tag("table", join([cap, tag("thead", head), tag("tbody", join(body))]), class_=class_),
               class_="table-wrap")


def status(passed: bool, text: str | None = None) -> Html:
    """A PASS / FAIL badge (``text`` replaces the word)."""
    return tag("span", text or ("PASS" if passed else "FAIL"), class_="badge " + ("pass" if passed else "fail"))


def code(source: str, *, marks: Mapping[int, str] | None = None, language: str = "python") -> Html:
    """``source`` highlighted by Pygments in a ``<pre>``; ``marks`` maps 1-based line numbers to a
    CSS class (``"bug"``, ``"right"``) that shades the whole line."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    marks = dict(marks or {})

    class Marked(HtmlFormatter):
        def wrap(self, source: Any) -> Any:  # Pygments' documented hook: one (is_line, html) per line
            return super().wrap(self._mark(source))

        def _mark(self, source: Any) -> Any:
            n = 0
            for is_line, line in source:
                if is_line:
                    n += 1
                    if n in marks:
                        line = f'<span class="{marks[n]}">{line.rstrip(chr(10))}</span>'
                yield is_line, line

    return Html(highlight(source, get_lexer_by_name(language), Marked(cssclass="code")))


def bug_right_marks(source: str) -> dict[int, str]:
    """Line number -> ``"bug"`` / ``"right"`` for the lines of ``source`` marked ``# BUG`` / ``# RIGHT``."""
    marks = {}
    for i, line in enumerate(source.splitlines(), 1):
        if "# BUG" in line:
            marks[i] = "bug"
        elif line.strip().startswith("# RIGHT"):
            marks[i] = "right"
    return marks


def pygments_css() -> str:
    """The token colours of the highlighted code (Pygments' default style, scoped to ``.code``)."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".code")


def figure(uri: str, alt: str, caption: Any = None, *, width: str | None = None) -> Html:
    """An image from a ``data:`` URI with its caption; ``width`` (CSS) caps its displayed width."""
    if not uri.startswith("data:"):
        raise ValueError("figures are embedded: expected a data: URI")
    img = void("img", src=uri, alt=alt, style=f"max-width: {width}" if width else None)
    cap = tag("figcaption", caption) if caption is not None else ""
    return tag("figure", join([img, cap]))


def note(body: Any, kind: str = "info") -> Html:
    """A boxed remark (``kind``: ``info``, ``warn``, ``fail``)."""
    return tag("div", body, class_=f"note {kind}")


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """An id from a title: lower case, words joined by ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass
class Section:
    """One section: its ``id``, ``title``, ``body`` and sub-sections (listed in the table of contents)."""

    title: str
    body: Html = field(default_factory=lambda: Html(""))
    id: str = ""
    children: list["Section"] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.id = self.id or slug(self.title)

    def render(self, level: int = 2) -> Html:
        head = tag(f"h{level}", join([tag("a", "§", href=f"#{self.id}", class_="anchor", aria_hidden="true"), " ",
                                      self.title]))
        kids = join(c.render(level + 1) for c in self.children)
        return tag("section", join([head, self.body, kids]), id=self.id)


def toc(sections: Sequence[Section]) -> Html:
    """The table of contents: a nested list of links to every section and sub-section."""
    def items(secs: Sequence[Section]) -> Html:
        return tag("ol", join(tag("li", join([tag("a", s.title, href=f"#{s.id}"),
                                              items(s.children) if s.children else ""])) for s in secs))

    return tag("nav", join([tag("h2", "Contents", id="contents"), items(sections)]), class_="toc",
               aria_label="Table of contents")


def page(title: str, lead: Any, sections: Sequence[Section], *, footer: Any = "") -> Html:
    """The whole document: head with inline CSS, a title, ``lead`` (under the title), the table of
    contents, the sections, ``footer``.  No script and no external resource."""
    ids = [s.id for s in sections] + [c.id for s in sections for c in s.children]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate section ids: {sorted(i for i in ids if ids.count(i) > 1)}")
    head = join([
        Html('<meta charset="utf-8">'),
        Html('<meta name="viewport" content="width=device-width, initial-scale=1">'),
        Html('<meta name="color-scheme" content="light">'),
        tag("title", title),
        Html(f"<style>{CSS}\n{pygments_css()}</style>"),
    ])
    body = join([
        # a long module path breaks after / and : rather than inside a name
        tag("header", join([tag("h1", Html(esc(title).replace("/", "/<wbr>").replace(":", ":<wbr>"))),
                            tag("div", lead, class_="lead")])),
        toc(sections),
        tag("main", join(s.render() for s in sections)),
        tag("footer", footer),
    ])
    return Html(f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n<body>{body}</body>\n</html>\n')
