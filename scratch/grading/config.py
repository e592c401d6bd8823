"""The assignment: what ``python -m scratch grade`` checks and how it scores it, read from TOML.

One file (``assignment.toml``, documented in ``docs/grading.md``) holds everything a course
sets: the entry point (function name, signature, file), the member of the network family
(:class:`scratch.NetworkSpec`'s fields), the sweep of ordinary cases, the time and memory
limits per submission and the rubric (points per quantity, per tier).  Every key is checked
before any submission runs: an unknown key or a bad value raises :class:`ConfigError` naming
the table and the key (the command turns it into exit status 2).

The three tiers (:data:`TIERS`), each one ``python -m scratch check`` run:

- ``ordinary``: the ``[sweep]`` (seeds x shapes x dtypes x targets);
- ``robustness``: shape ``huge`` (logits of order 1e3) in float64, the sweep's seeds and
  targets: an implementation without the softmax max-shift overflows here;
- ``float32``: shape ``confident`` (logit gaps 17-23, saturated tanh units) in float32, the
  sweep's seeds and its label / one-hot targets: ``yhat - y`` and ``1 - a1**2`` lose every
  digit here.

So a correct but overflow-prone implementation earns the ``ordinary`` points and is told, for
each quantity of the other tiers, on which case it failed and which pitfall it matches.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..adapter import SIGNATURES
from ..cases import CONFIDENT_TARGETS, DTYPES, SHAPES, SPECIAL_SHAPES, TARGETS, SweepCase, sweep
from ..compare import QUANTITIES
from ..spec import SEED, NetworkSpec

#: The tiers of the rubric, in the order they run and are reported.
TIERS = ("ordinary", "robustness", "float32")
#: How reports and Gradescope name each tier.
TIER_TITLES = {
    "ordinary": "ordinary cases",
    "robustness": "robustness (huge logits, float64)",
    "float32": "float32 accuracy (confident, saturated cases)",
}
#: How the points of a quantity are earned in a tier: ``all`` (every case of the tier passes)
#: or ``fraction`` (in proportion to the cases passed).
SCORINGS = ("all", "fraction")
#: Gradescope's visibility settings of a test.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
#: Upper bounds a config may ask for (anything larger is refused before any work).
MAX_SEEDS, MAX_DIM, MAX_ELEMENTS = 100, 4096, 2_000_000
MAX_TIME_S, MAX_MEMORY_MB, MAX_POINTS = 24 * 3600.0, 1 << 20, 1e6

#: The default assignment: the seed network, check's default sweep, 20 points.  Also what
#: ``grade --print-config`` prints and what a Gradescope bundle holds without ``--config``.
DEFAULT_CONFIG = '''\
# The assignment graded by `python -m scratch grade` (every key is documented in docs/grading.md).

[assignment]
title = "Backpropagation by hand: a two-layer tanh/softmax network"
entry_point = "loss_and_grads"   # the function each submission defines
signature = "params"             # params: fn(params, x, y); arrays: fn(W1, b1, W2, b2, x, y)
# file = "backprop.py"           # in a folder submission, the file holding the entry point
                                 # (default: the folder's only .py file)

[network]                        # the member of the family (scratch.NetworkSpec); default the seed network
activation = "tanh"              # tanh | relu | leaky_relu | sigmoid
l2 = 0.0                         # L2 coefficient lambda
l2_form = "half"                 # half: (lambda/2)||W||^2; full: lambda||W||^2
l2_biases = false
reduction = "mean"               # mean | sum

[sweep]                          # the ordinary cases (the robustness and float32 tiers take their seeds and targets)
seeds = [0, 1, 2, 3, 4]
shapes = ["seed", "n1", "h1", "c1", "small", "square", "tall", "wide", "c10", "large"]
dtypes = ["float64", "float32"]
targets = ["labels", "onehot", "soft", "unnormalized"]

[limits]
time = 60                        # seconds of wall clock per submission, all its tiers together
memory = 2048                    # MiB of address space per process

[rubric]
scoring = "all"                  # all: a quantity's points when it passes every case of the tier; fraction: in proportion

[rubric.ordinary]
loss = 2
dW1 = 3
db1 = 1
dW2 = 3
db2 = 1

[rubric.robustness]              # shape huge (logits ~1e3), float64
loss = 1
dW1 = 1
db1 = 1
dW2 = 1
db2 = 1

[rubric.float32]                 # shape confident (logit gaps 17-23, saturated tanh units), float32
loss = 1
dW1 = 1
db1 = 1
dW2 = 1
db2 = 1

[gradescope]
visibility = "visible"           # visible | hidden | after_due_date | after_published
'''


class ConfigError(ValueError):
    """A bad assignment config: names the file, the table and the key."""


@dataclass(frozen=True)
class TierSweep:
    """The cases of one tier: ``name`` (one of :data:`TIERS`), the sweep's ``seeds``,
    ``shapes`` (names of :data:`scratch.cases.SHAPES` / ``huge`` / ``confident`` or ``N,D,H,C``),
    ``dtypes`` and ``targets``, and the points of each quantity (``points``)."""

    name: str
    seeds: tuple[int, ...]
    shapes: tuple[str, ...]
    dtypes: tuple[str, ...]
    targets: tuple[str, ...]
    points: Mapping[str, float]

    @property
    def max_score(self) -> float:
        """The tier's points."""
        return float(sum(self.points.values()))

    def cases(self, spec: NetworkSpec) -> list[SweepCase]:
        """The tier's cases for the family member ``spec`` (:func:`scratch.cases.sweep`)."""
        shapes = [s if s in SHAPES or s in SPECIAL_SHAPES else tuple(int(d) for d in s.split(",")) for s in self.shapes]
        return sweep(list(self.seeds), shapes, list(self.dtypes), list(self.targets), spec=spec)

    def check_args(self) -> list[str]:
        """The sweep as ``python -m scratch check`` options."""
        return ["--seeds", *map(str, self.seeds), "--shapes", *self.shapes, "--dtypes", *self.dtypes,
                "--targets", *self.targets]


@dataclass(frozen=True)
class Assignment:
    """A validated assignment config (see the module docstring and ``docs/grading.md``).

    ``tiers`` holds the tiers with at least one point, in the order of :data:`TIERS`;
    ``time_limit`` is seconds of wall clock per submission (all tiers together), ``memory_mb``
    the address-space limit of each process in MiB (None: no limit).
    """

    title: str
    entry_point: str
    signature: str
    file: str | None
    spec: NetworkSpec
    tiers: tuple[TierSweep, ...]
    time_limit: float
    memory_mb: int | None
    scoring: str
    visibility: str
    source: str = "(default)"
    text: str = field(default=DEFAULT_CONFIG, repr=False)

    @property
    def max_score(self) -> float:
        """Every tier's points together."""
        return float(sum(t.max_score for t in self.tiers))

    def tier(self, name: str) -> TierSweep | None:
        """The tier called ``name``, or None when it earns no points (and does not run)."""
        return next((t for t in self.tiers if t.name == name), None)

    def spec_args(self) -> list[str]:
        """The family member as ``check`` options (the five of ``add_spec_options``); none for
        the seed network."""
        s = self.spec
        if s.is_seed:
            return []
        args = ["--activation", s.activation]
        if s.activation == "leaky_relu":
            args += ["--alpha", repr(s.alpha)]
        if s.l2:  # the L2 options only with an L2 (check refuses --l2-form/--l2-biases without one)
            args += ["--l2", repr(s.l2), "--l2-form", s.l2_form] + (["--l2-biases"] if s.l2_biases else [])
        return args + ["--reduction", s.reduction]


# --------------------------------------------------------------------------------------------
# Reading and checking
# --------------------------------------------------------------------------------------------

#: table -> its keys (``rubric`` also holds one sub-table per tier).
KEYS: dict[str, tuple[str, ...]] = {
    "assignment": ("title", "entry_point", "signature", "file"),
    "network": ("activation", "alpha", "l2", "l2_form", "l2_biases", "reduction"),
    "sweep": ("seeds", "shapes", "dtypes", "targets"),
    "limits": ("time", "memory"),
    "rubric": ("scoring", *TIERS),
    "gradescope": ("visibility",),
}


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ConfigError("reading an assignment config needs Python 3.11 (tomllib) or the tomli package: "
                              "pip install tomli") from None
    return tomllib.loads(text)


class _Reader:
    """Checks one parsed config, naming ``file: [table] key`` in every message."""

    def __init__(self, source: str, data: Mapping[str, Any]) -> None:
        self.source, self.data = source, data

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def unknown(self, where: str, keys: Any, known: tuple[str, ...]) -> None:
        for k in keys:
            if k not in known:
                close = difflib.get_close_matches(str(k), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; expected one of {', '.join(known)}"
                raise self.fail(where, f"unknown key {k!r}{hint}")

    def table(self, name: str) -> Mapping[str, Any]:
        t = self.data.get(name, {})
        if not isinstance(t, Mapping):
            raise self.fail(name, f"expected a table [{name}], got {type(t).__name__}")
        return t

    def string(self, where: str, value: Any, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        if choices and value not in choices:
            raise self.fail(where, f"{value!r}: expected one of {', '.join(choices)}")
        return value

    def number(self, where: str, value: Any, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(where, f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(where, f"{value!r}: expected a number in [{low:g}, {high:g}]")
        return float(value)

    def names(self, where: str, value: Any, choices: Any, what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, f"expected a non-empty list of {what}, got {value!r}")
        out = []
        for v in value:
            if not isinstance(v, str) or (choices is not None and v not in choices):
                raise self.fail(where, f"{v!r} is not one of the {what}: {', '.join(choices)}")
            if v in out:
                raise self.fail(where, f"{v!r} listed twice")
            out.append(v)
        return tuple(out)


def _shapes(r: _Reader, value: Any) -> tuple[str, ...]:
    where = "[sweep] shapes"
    if not isinstance(value, list) or not value:
        raise r.fail(where, f"expected a non-empty list of shape names or \"N,D,H,C\" strings, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, list):  # [N, D, H, C] written as a TOML array
            v = ",".join(map(str, v))
        if not isinstance(v, str):
            raise r.fail(where, f"{v!r}: expected a shape name or \"N,D,H,C\"")
        if v in SPECIAL_SHAPES:
            raise r.fail(where, f"{v!r} is a tier of its own (robustness: huge, float32: confident), "
                         "set by [rubric], not a shape of the ordinary sweep")
        if v not in SHAPES:
            parts = v.split(",")
            if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
                raise r.fail(where, f"{v!r}: expected a name ({', '.join(SHAPES)}) or four positive integers "
                             "\"N,D,H,C\"")
            dims = tuple(int(p) for p in parts)
            N, D, H, C = dims
            if max(dims) > MAX_DIM or max(N * D, D * H, N * H, H * C, N * C) > MAX_ELEMENTS:
                raise r.fail(where, f"{v!r}: too large (each of N, D, H, C at most {MAX_DIM}, "
                             f"and at most {MAX_ELEMENTS:,} elements per array)")
            v = ",".join(map(str, dims))
        if v in out:
            raise r.fail(where, f"{v!r} listed twice")
        out.append(v)
    return tuple(out)


def _seeds(r: _Reader, value: Any) -> tuple[int, ...]:
    where = "[sweep] seeds"
    if not isinstance(value, list) or not value:
        raise r.fail(where, f"expected a non-empty list of integers >= 0, got {value!r}")
    if len(value) > MAX_SEEDS:
        raise r.fail(where, f"{len(value)} seeds: at most {MAX_SEEDS}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise r.fail(where, f"{v!r}: seeds are integers >= 0")
    if len(set(value)) != len(value):
        raise r.fail(where, "a seed is listed twice")
    return tuple(value)


def _points(r: _Reader, tier: str, value: Any) -> dict[str, float]:
    where = f"[rubric.{tier}]"
    if not isinstance(value, Mapping):
        raise r.fail(where, f"expected a table of quantity = points, got {value!r}")
    r.unknown(where, value, QUANTITIES)
    return {q: r.number(f"{where} {q}", value[q], 0.0, MAX_POINTS) for q in QUANTITIES if q in value}


def parse_assignment(text: str, source: str = "(default)") -> Assignment:
    """The :class:`Assignment` of config ``text`` (TOML); missing tables and keys take the
    values of :data:`DEFAULT_CONFIG`, except that a ``[rubric.TIER]`` table given replaces
    that tier's points entirely (an empty table: the tier earns nothing and does not run).

    Raises
    ------
    ConfigError
        The TOML does not parse, a key is unknown, or a value is out of range (named).
    """
    try:
        data = _toml_loads(text)
    except ConfigError:
        raise
    except Exception as exc:  # tomllib.TOMLDecodeError: line and column in the message
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    defaults = _toml_loads(DEFAULT_CONFIG)
    r = _Reader(source, data)
    r.unknown("top level", data, tuple(KEYS))
    tables = {}
    for name, keys in KEYS.items():
        t = r.table(name)
        r.unknown(f"[{name}]", t, keys)
        tables[name] = t

    def get(table: str, key: str) -> Any:
        return tables[table].get(key, defaults[table].get(key))

    a = tables["assignment"]
    title = r.string("[assignment] title", get("assignment", "title"))
    entry = r.string("[assignment] entry_point", get("assignment", "entry_point"))
    if not all(part.isidentifier() for part in entry.split(".")):
        raise r.fail("[assignment] entry_point", f"{entry!r} is not a Python name (function or Class.method)")
    signature = r.string("[assignment] signature", get("assignment", "signature"), tuple(SIGNATURES))
    file = a.get("file")
    if file is not None:
        file = r.string("[assignment] file", file)
        if not file.endswith(".py") or "/" in file or "\\" in file or file.startswith("."):
            raise r.fail("[assignment] file", f"{file!r}: expected the name of a .py file (no folder)")

    net = {k: tables["network"].get(k, defaults["network"].get(k)) for k in KEYS["network"]
           if k in tables["network"] or k in defaults["network"]}
    try:
        spec = NetworkSpec.from_dict(net)
    except (ValueError, TypeError) as exc:
        raise r.fail("[network]", str(exc)) from None

    seeds = _seeds(r, get("sweep", "seeds"))
    shapes = _shapes(r, get("sweep", "shapes"))
    dtypes = r.names("[sweep] dtypes", get("sweep", "dtypes"), tuple(DTYPES), "dtypes")
    targets = r.names("[sweep] targets", get("sweep", "targets"), TARGETS, "target kinds")

    time_limit = r.number("[limits] time", get("limits", "time"), 0.1, MAX_TIME_S)
    memory = tables["limits"].get("memory", defaults["limits"]["memory"])
    no_limit = isinstance(memory, int) and not isinstance(memory, bool) and memory == 0
    memory_mb = None if no_limit else int(r.number("[limits] memory", memory, 256, MAX_MEMORY_MB))

    rubric = tables["rubric"]
    scoring = r.string("[rubric] scoring", rubric.get("scoring", defaults["rubric"]["scoring"]), SCORINGS)
    points = {t: _points(r, t, rubric.get(t, defaults["rubric"][t])) for t in TIERS}
    visibility = r.string("[gradescope] visibility", get("gradescope", "visibility"), VISIBILITIES)

    label_targets = tuple(t for t in targets if t in CONFIDENT_TARGETS) or ("labels",)
    sweeps = {
        "ordinary": (shapes, dtypes, targets),
        "robustness": (("huge",), ("float64",), targets),
        "float32": (("confident",), ("float32",), label_targets),
    }
    tiers = tuple(TierSweep(t, seeds, *sweeps[t], points[t]) for t in TIERS if sum(points[t].values()) > 0)
    if not tiers:
        raise r.fail("[rubric]", "every tier earns 0 points: give some quantity points")
    return Assignment(title, entry, signature, file, spec, tiers, time_limit, memory_mb, scoring, visibility,
                      source, text)


def load_assignment(path: str | Path | None = None) -> Assignment:
    """The assignment of the TOML file ``path`` (None: :data:`DEFAULT_CONFIG`).

    Raises
    ------
    ConfigError
        The file cannot be read or a key is unknown or bad (named).
    """
    if path is None:
        return parse_assignment(DEFAULT_CONFIG)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from None
    return parse_assignment(text, str(path))


__all__ = ["Assignment", "ConfigError", "DEFAULT_CONFIG", "TIERS", "TIER_TITLES", "TierSweep",
           "load_assignment", "parse_assignment", "SEED"]
