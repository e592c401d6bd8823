"""The pages' stylesheet, inlined into each page: readable on a laptop screen and on paper."""

CSS = r"""
:root {
  --fg: #1d1f23; --muted: #5b6170; --rule: #d8dbe2; --bg-soft: #f5f6f8; --accent: #1f5fbf;
  --pass: #1b7f3b; --pass-bg: #e3f4e8; --fail: #b3261e; --fail-bg: #fbe5e3;
  --bug-bg: #fde3e1; --right-bg: #e1f3e6;
}
* { box-sizing: border-box; }
html { font-size: 16px; }
body {
  margin: 0 auto; max-width: 66rem; padding: 1.5rem 2rem 4rem; color: var(--fg); background: #fff;
  font: 1rem/1.55 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif;
}
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0.2rem 0 0.6rem; overflow-wrap: anywhere; }
h2 { font-size: 1.45rem; margin: 2.4rem 0 0.6rem; padding-top: 0.4rem; border-top: 2px solid var(--rule); }
h3 { font-size: 1.15rem; margin: 1.8rem 0 0.4rem; }
h4 { font-size: 1rem; margin: 1.2rem 0 0.3rem; }
section { scroll-margin-top: 0.5rem; }
a { color: var(--accent); }
a.anchor { color: var(--rule); text-decoration: none; font-weight: normal; }
a.anchor:hover { color: var(--accent); }
.lead { color: var(--muted); }
.lead p { margin: 0.3rem 0; }
code, pre, .num { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 0.88em; }
code { background: var(--bg-soft); padding: 0.05em 0.3em; border-radius: 3px; }
code.test { color: #3d4a63; font-size: 0.8em; overflow-wrap: anywhere; }
math { font-size: 1.12em; font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", "DejaVu Math TeX Gyre", math; }
mtd[columnalign="left"] { text-align: left; }
mtd[columnalign="right"] { text-align: right; }
mtd { padding: 0.15em 0.2em; }
math[display="block"] mtd { math-style: normal; }
math[display="block"] { margin: 0.7rem 0; overflow-x: auto; overflow-y: hidden; }
.eqs { display: grid; grid-template-columns: auto auto 1fr; gap: 0.15rem 1.2rem; align-items: baseline;
       margin: 0.8rem 0 1rem; }
.eqs > span { justify-self: start; }
.eqs .no { color: var(--muted); font-variant-numeric: tabular-nums; }
.eqs .shape { color: var(--muted); font-size: 0.92em; }

nav.toc { background: var(--bg-soft); border: 1px solid var(--rule); border-radius: 6px;
          padding: 0.4rem 1.2rem 0.6rem; margin: 1.2rem 0 1.5rem; }
nav.toc h2 { border: 0; margin: 0.3rem 0; font-size: 1.05rem; padding: 0; }
nav.toc ol { margin: 0.1rem 0; padding-left: 1.4rem; }
nav.toc > ol { columns: 2 18rem; column-gap: 2.5rem; }
nav.toc li { break-inside: avoid; }
nav.toc a { text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }

.table-wrap { overflow-x: auto; margin: 0.8rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 0.3rem; font-size: 0.88rem; }
th, td { border-bottom: 1px solid var(--rule); padding: 0.28rem 0.6rem; text-align: left; vertical-align: baseline; }
thead th { border-bottom: 2px solid #b8bdc8; background: var(--bg-soft); white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-size: 0.84rem; }
tr.fail td { background: var(--fail-bg); }
.badge { display: inline-block; padding: 0 0.45em; border-radius: 3px; font-size: 0.8rem; font-weight: 600;
         white-space: nowrap; }
.badge.pass { color: var(--pass); background: var(--pass-bg); }
.badge.fail { color: var(--fail); background: var(--fail-bg); }

figure { margin: 1rem 0 1.4rem; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.88rem; margin-top: 0.3rem; }

.note { border-left: 4px solid var(--accent); background: var(--bg-soft); padding: 0.5rem 0.9rem; margin: 0.8rem 0; }
.note.warn { border-color: #c77700; }
.note.fail { border-color: var(--fail); background: var(--fail-bg); }
.note.pass { border-color: var(--pass); background: var(--pass-bg); }
.note p { margin: 0.3rem 0; }

.claim { margin: 1rem 0 1.2rem; }
.claim h4 { margin-bottom: 0.2rem; }
.claim .tests { display: flex; flex-wrap: wrap; gap: 0.25rem 0.5rem; align-items: baseline; margin: 0.3rem 0 0; }
.claim .tests .label { font-size: 0.8rem; color: var(--muted); }
ul.plain { list-style: none; padding: 0; margin: 0; }

.pitfall { border: 1px solid var(--rule); border-radius: 6px; padding: 0.2rem 1rem 0.6rem; margin: 1rem 0; }
.pitfall h3 { margin-top: 0.7rem; }
.pitfall dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; margin: 0.4rem 0; font-size: 0.92rem; }
.pitfall dt { color: var(--muted); }
.pitfall dd { margin: 0; }

pre.code, .code pre { margin: 0; }
div.code { background: #fafafa; border: 1px solid var(--rule); border-radius: 4px; padding: 0.5rem 0.7rem;
           overflow-x: auto; margin: 0.5rem 0; }
div.code pre { font-size: 0.82rem; line-height: 1.45; white-space: pre; }
div.code .bug { display: block; background: var(--bug-bg); box-shadow: inset 3px 0 0 var(--fail); margin: 0 -0.7rem; padding: 0 0.7rem; }
div.code .right { display: block; background: var(--right-bg); box-shadow: inset 3px 0 0 var(--pass); margin: 0 -0.7rem; padding: 0 0.7rem; }
.code-label { font-size: 0.8rem; color: var(--muted); margin: 0.6rem 0 0; }

.heatmaps { display: grid; grid-template-columns: repeat(auto-fill, minmax(21rem, 1fr)); gap: 0.5rem 1.5rem; }
.heatmaps figure { margin: 0.5rem 0; }
.heatmaps figure img { max-height: 30rem; width: auto; }
dl.provenance { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1.2rem; font-size: 0.92rem; }
dl.provenance dt { color: var(--muted); }
dl.provenance dd { margin: 0; overflow-wrap: anywhere; }
footer { margin-top: 3rem; color: var(--muted); font-size: 0.85rem; border-top: 1px solid var(--rule); padding-top: 0.6rem; }

@media (max-width: 700px) {
  body { padding: 1rem; }
  .eqs { grid-template-columns: auto 1fr; }
  .eqs .shape { grid-column: 2; }
}

@media print {
  @page { size: A4; margin: 14mm 13mm 16mm; }
  html { font-size: 10pt; }
  body { max-width: none; padding: 0; }
  a { color: inherit; text-decoration: none; }
  a.anchor { display: none; }
  nav.toc { break-after: page; background: none; }
  h2 { break-before: page; border-top: 0; }
  nav.toc h2 { break-before: avoid; }
  h2, h3, h4 { break-after: avoid; }
  figure, table, .pitfall, .claim, div.code, .note { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 7.5pt; }
  td.num { font-size: 7pt; }
  th, td { padding: 0.2rem 0.35rem; }
  thead th { white-space: normal; }
  div.code { overflow: visible; }
  div.code pre { white-space: pre-wrap; overflow-wrap: anywhere; }
  math[display="block"] { overflow: visible; }
  figure img { max-height: 22cm; }
  thead th, .badge, div.code .bug, div.code .right, tr.fail td, .note {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
