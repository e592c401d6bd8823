r"""The question, the answer and the derivation, as the report page shows them.

The text of README.md's "The answer in one screen" and "The derivation, point by point", with
the equations in LaTeX (converted to MathML when the page is built).  Every claim names the
tests that check it (``P::`` = ``tests/test_properties.py``, ``R::`` = ``tests/test_routes.py``,
``N::`` = ``tests/test_numeric.py``, ``O::`` = ``tests/test_oracles.py``); a test of the
page checks that each named test exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Eq:
    """A displayed equation (LaTeX)."""

    latex: str


@dataclass(frozen=True)
class Claim:
    """One point of the derivation: a ``title``, ``body`` blocks (prose strings with ``$...$``
    and ```...``` or :class:`Eq`) and the ``tests`` that check it."""

    title: str
    body: tuple[str | Eq, ...]
    tests: tuple[str, ...] = field(default=())


QUESTION = ("For the two-layer network below, what exactly is $\\partial L/\\partial z_2$, and how do the "
            "other gradients follow?  Every derivative is written by hand in NumPy (`scratch/network.py`) "
            "and checked against PyTorch, JAX and numerical differentiation on the same arrays.")

#: Eqs. (1)-(7): number, equation, shapes.
FORWARD: tuple[tuple[str, str, str], ...] = (
    ("1", r"z_1 = x W_1 + b_1", r"x\,(N, D),\; W_1\,(D, H),\; b_1\,(H) \;\to\; z_1\,(N, H)"),
    ("2", r"a_1 = \tanh(z_1)", r"a_1\,(N, H)"),
    ("3", r"z_2 = a_1 W_2 + b_2", r"W_2\,(H, C),\; b_2\,(C) \;\to\; z_2\,(N, C)"),
    ("4", r"\hat y = \operatorname{softmax}(z_2)", r"\hat y\,(N, C)"),
    ("5", r"l = \log \hat y", r"l\,(N, C)"),
    ("6", r"PL_n = l_n \cdot y_n", r"y\text{: labels } (N) \text{ or targets } (N, C) \;\to\; PL\,(N)"),
    ("7", r"L = -\frac{1}{N} \sum_{n} PL_n", r"L \text{ scalar}"),
)

#: The backward steps (7')-(1'): number, gradient, shape.
BACKWARD: tuple[tuple[str, str, str], ...] = (
    ("7'", r"\frac{\partial L}{\partial PL_n} = -\frac{1}{N}", "(N,)"),
    ("6'", r"\frac{\partial L}{\partial l_{nc}} = -\frac{y_{nc}}{N}", "(N, C)"),
    ("5'", r"\frac{\partial L}{\partial \hat y_{nc}} = \frac{dl_{nc}}{\hat y_{nc}} = -\frac{y_{nc}}{N \hat y_{nc}}",
     "(N, C)"),
    ("4'", r"\frac{\partial L}{\partial z_{2,n}} = J_n^\top d\hat y_n = \frac{1}{N}\Big(\hat y_n \sum_c y_{nc} - y_n\Big)",
     "(N, C)"),
    ("3'", r"dW_2 = a_1^\top dz_2, \quad db_2 = \sum_n dz_{2,n}", "(H, C), (C,)"),
    ("3''", r"da_1 = dz_2 W_2^\top", "(N, H)"),
    ("2'", r"dz_1 = da_1 \circ (1 - a_1^2)", "(N, H)"),
    ("1'", r"dW_1 = x^\top dz_1, \quad db_1 = \sum_n dz_{1,n}", "(D, H), (H,)"),
)

ANSWER = (
    "$\\partial L/\\partial z_2$ has shape **(N, C)**, like $z_2$: one number per logit.  The softmax has a "
    "C × C Jacobian per sample, $J_n = \\operatorname{diag}(\\hat y_n) - \\hat y_n \\hat y_n^\\top$, but the chain "
    "rule only ever needs the vector–Jacobian product $J_n^\\top d\\hat y_n$.",
    "The $1/\\hat y$ of (5') cancels against the $\\hat y$ factor of the Jacobian, which is why the result is so "
    "simple: $dz_2 = (\\hat y - y)/N$, **but only when every row of y sums to 1** (labels, one-hot, soft labels). "
    "For general non-negative target weights it is $(\\hat y \\sum_c y_c - y)/N$, and the code computes that.",
    "In `scratch/network.py` both routes are public and tested equal: `route=\"staged\"` follows (7') → (4') "
    "literally through the full (N, C, C) Jacobian; `route=\"fused\"` (the default) uses the closed form without "
    "cancellation (the most probable class from the mass T of the others, $\\tanh'(z) = 4u/(1+u)^2$ with "
    "$u = e^{-2|z|}$), so logits of 1e6 give finite, correct results.",
)

CLAIMS: tuple[Claim, ...] = (
    Claim("1. Why the softmax has C × C partials while dz2 has C entries", (
        "Eq. (4) maps a row $z_{2,n} \\in \\mathbb{R}^C$ to $\\hat y_n \\in \\mathbb{R}^C$, so its derivative is a "
        "C × C matrix per sample:",
        Eq(r"(J_n)_{ij} = \frac{\partial \hat y_{ni}}{\partial z_{nj}} = \hat y_{ni}(\delta_{ij} - \hat y_{nj}),"
           r" \qquad J_n = \operatorname{diag}(\hat y_n) - \hat y_n \hat y_n^\top ."),
        "But $L$ is a scalar: $\\partial L/\\partial z_2$ has one entry per logit, and the chain rule contracts "
        "$J_n$ with the gradient arriving from above, $dz_{2,n} = J_n^\\top d\\hat y_n$, a vector–Jacobian product "
        "that never needs $J$ itself: $(J^\\top g)_j = \\hat y_j (g_j - \\hat y \\cdot g)$.  $J$ is symmetric, its "
        "rows sum to 0 (the probabilities sum to 1 whatever z is) and it is a covariance matrix.",
    ), ("P::test_jacobian_is_the_derivative_of_softmax", "R::test_softmax_jacobian_matches_autograd",
        "P::test_jacobian_symmetric_rows_sum_to_zero", "P::test_jacobian_is_positive_semidefinite",
        "P::test_vjp_without_forming_the_jacobian")),
    Claim("2. Where dl enters", (
        "Going back through (7) → (6) → (5): $\\partial L/\\partial PL_n = -1/N$ (7'), "
        "$dl_{nc} = -y_{nc}/N$ (6'), and since $l = \\log \\hat y$ acts entry by entry its Jacobian is "
        "$\\operatorname{diag}(1/\\hat y)$:",
        Eq(r"d\hat y = dl \circ \frac{1}{\hat y}"),
        "That $d\\hat y$ is the vector the softmax's $J^\\top$ multiplies.  Every stage equals autograd's "
        "gradient at the same node of the unfused graph, and the staged chain equals the closed form.",
    ), ("R::test_each_stage_matches_autograd", "P::test_dz2_is_the_staged_vjp", "R::test_staged_equals_fused")),
    Claim("3. The general expression, for C = 10", (
        "With $g_i = d\\hat y_i = -y_i/(N \\hat y_i)$ and $s_n = \\sum_c y_{nc}$:",
        Eq(r"\begin{array}{rl} \displaystyle \frac{\partial L}{\partial z_{nj}} &"
           r" \displaystyle = \sum_{i=1}^{10} g_i\,\hat y_{ni}(\delta_{ij} - \hat y_{nj})"
           r" = g_j \hat y_{nj} - \hat y_{nj}\sum_{i=1}^{10} g_i \hat y_{ni} \\"
           r" & \displaystyle = \frac{1}{N}\Big(\hat y_{nj}\,(y_{n1} + \dots + y_{n,10}) - y_{nj}\Big),"
           r" \quad j = 1, \dots, 10 . \end{array}"),
        "The $1/\\hat y_i$ of (5') cancels the $\\hat y_i$ factor of $J$: that is the whole trick.  Checked for "
        "C = 10 on the shape `c10` (32, 8, 16, 10) against torch and JAX, by complex step, and through the full "
        "10 × 10 Jacobian.",
    ), ("O::test_matches_oracle", "N::test_numeric_matches_hand_derived", "R::test_staged_equals_fused")),
    Claim("4. Why it collapses to ŷ − y, and only when the targets sum to 1", (
        "The bracket is $\\hat y_{nj} s_n - y_{nj}$, which is $\\hat y - y$ exactly when $s_n = 1$ (labels, one-hot, "
        "soft labels).  For other non-negative weights $\\hat y - y$ misses $\\hat y (s - 1)/N$.  The reason: "
        "$\\operatorname{softmax}(z + c) = \\operatorname{softmax}(z)$, so $L$ does not change along "
        "$(1, \\dots, 1)$ and every row of $dz_2$ sums to 0, while a row of $\\hat y - y$ sums to $1 - s_n$.  "
        "$L$ and every gradient are linear in $y$, so a total weight $s$ scales the $\\hat y$ term by $s$.  For "
        "labels, the true class gets $dz_2 \\in [-1/N, 0]$, the others $[0, 1/N]$.",
    ), ("P::test_dz2_is_yhat_minus_y_over_n_for_normalised_targets",
        "P::test_dz2_general_form_and_what_yhat_minus_y_misses", "P::test_softmax_shift_invariance",
        "P::test_rows_of_dz2_sum_to_zero", "P::test_adding_a_constant_to_b2_changes_nothing",
        "P::test_loss_and_gradients_are_linear_in_the_targets", "P::test_dz2_signs_and_bounds_for_labels")),
    Claim("5. The 1/N", (
        "(7) is a mean, so $\\partial L/\\partial PL_n = -1/N$ and every per-sample quantity (rows of $dz_2$, "
        "$dz_1$) carries $1/N$, while parameter gradients are sums over samples ($a_1^\\top dz_2$, "
        "$\\sum_n dz_{2,n}$) and hence means.  Stacking the batch twice keeps $L$, $dW_1$, $db_1$, $dW_2$, $db_2$ "
        "and halves each row of $dz_2$ and $dz_1$; reordering the samples permutes rows only.",
    ), ("P::test_duplicating_the_batch_shows_the_one_over_n",
        "P::test_permuting_samples_permutes_dz_and_keeps_the_rest")),
    Claim("6. The shape of every quantity", (
        "A gradient has the shape of what it differentiates: $dW_1 = x^\\top dz_1$ is (D, H) like $W_1$, "
        "$dW_2 = a_1^\\top dz_2$ is (H, C), $db_1$ and $db_2$ are (H,) and (C,), $dz_1$ is (N, H) and $dz_2$ "
        "(N, C); the Jacobians $J$ are (N, C, C).  A bias is added to every row, so its gradient sums over rows: "
        "$db$ is the weight gradient of a constant input of 1.  Every comparison checks shapes first.",
    ), ("P::test_db1_is_the_weight_gradient_of_a_constant_input",
        "P::test_db2_is_the_weight_gradient_of_a_constant_unit")),
    Claim("7. The tanh derivative", (
        "$\\tanh$ acts entry by entry, so its Jacobian is diagonal and the vector–Jacobian product is a product:",
        Eq(r"dz_1 = da_1 \circ \tanh'(z_1), \qquad \tanh' = \operatorname{sech}^2 = 1 - \tanh^2 = 1 - a_1^2 ."),
        "In floating point $1 - a_1^2$ loses every digit once $a_1$ rounds to ±1 (|z1| > 19 in float64); the "
        "fused route uses $4u/(1+u)^2$ with $u = e^{-2|z_1|}$, equal to the complex step of tanh to 1e-12 "
        "elementwise for |z| ≤ 300.",
    ), ("P::test_tanh_derivative_is_sech_squared",)),
    Claim("8. The loss", (
        "$\\log \\hat y = (z - z_{\\max}) - \\operatorname{log1p}(T) \\le 0$ and $y \\ge 0$, so $L \\ge 0$ exactly, "
        "and for rows on the simplex $L - H(y) = \\mathrm{KL}(y \\,\\|\\, \\hat y) \\ge 0$.",
    ), ("P::test_loss_is_non_negative", "P::test_loss_is_at_least_the_target_entropy")),
    Claim("9. Checked without any framework", (
        "`oracles/numeric.py` computes every gradient by complex step and by central differences:",
        Eq(r"\begin{array}{rll} \displaystyle \frac{\partial L}{\partial \theta_k} & \displaystyle \approx"
           r" \frac{\operatorname{Im} L(\theta + i h e_k)}{h}, & h = 10^{-20} \text{ (complex step)} \\"
           r" & \displaystyle \approx \frac{L(\theta + h e_k) - L(\theta - h e_k)}{2h}, &"
           r" h = \varepsilon^{1/3} \max(1, |\theta_k|) \text{ (central)} \end{array}"),
        "The complex step subtracts nothing, so it has no cancellation and agrees with the hand-derived gradients "
        "to a few ulps (tolerance 1e-13; central differences 1e-7).  A 0.1 % error in any one quantity fails "
        "exactly that quantity.  For big networks a directional check compares $\\langle \\nabla L, v \\rangle$ "
        "with one complex loss evaluation along a random $v$.",
    ), ("N::test_numeric_matches_hand_derived", "N::test_numeric_oracle_catches_a_wrong_gradient",
        "N::test_directional_check_passes_on_a_784_1024_10_network",
        "N::test_directional_check_catches_a_wrong_gradient")),
)

#: The family (:class:`scratch.spec.NetworkSpec`): member, (2) / (2'), (7'), (8) / (8') in LaTeX
#: ("" where the member leaves that step as the seed network has it; "none": plain text).
FAMILY: tuple[tuple[str, str, str, str], ...] = (
    ("tanh (the seed network)", r"a_1 = \tanh z_1, \; dz_1 = da_1 \circ (1 - a_1^2)", r"-\frac{1}{N}", "none"),
    ("relu", r"a_1 = \max(0, z_1), \; dz_1 = da_1 \circ [z_1 > 0]", "", ""),
    ("leaky_relu (slope α)", r"a_1 = \max(z_1, \alpha z_1), \; dz_1 = da_1 \circ (\alpha + (1 - \alpha)[z_1 > 0])",
     "", ""),
    ("sigmoid", r"a_1 = \sigma(z_1), \; dz_1 = da_1 \circ \sigma(z_1)\,\sigma(-z_1)", "", ""),
    ("reduction sum", "", r"-1 \text{ (every gradient } N\times\text{)}", ""),
    ("L2, half", "", "", r"L = L_{\text{data}} + \tfrac{\lambda}{2}\textstyle\sum \lVert W \rVert^2, \; dW = dW_{\text{data}} + \lambda W"),
    ("L2, full", "", "", r"L = L_{\text{data}} + \lambda \textstyle\sum \lVert W \rVert^2, \; dW = dW_{\text{data}} + 2\lambda W"),
    ("L2 on the biases too", "", "", r"db = db_{\text{data}} + k\, b \quad (k = \lambda \text{ or } 2\lambda)"),
)

FAMILY_TEXT = (
    "The seed network is one member of a small family (`scratch.NetworkSpec`, `spec=` everywhere; "
    "`python -m scratch compare --activations tanh,relu,leaky_relu,sigmoid`).  Each axis changes one step of the "
    "derivation and nothing else: the activation only (2) and (2'), the reduction only the factor of (7'), L2 only "
    "the loss (8) and the weight gradients (8').  $dz_2$ is the same for every activation (the softmax/cross-entropy "
    "part never sees the hidden layer), and L2 never touches $dz_1$ or $dz_2$.  At the ReLU kink $z_1 = 0$ the "
    "derivative is taken as 0, as torch and JAX take it."
)


def test_refs() -> list[str]:
    """Every test reference on the page (``P::test_x`` ...), for the test that they exist."""
    import re

    refs = [t for c in CLAIMS for t in c.tests]
    texts = [QUESTION, *ANSWER, *(b for c in CLAIMS for b in c.body if isinstance(b, str))]
    refs += [m for t in texts for m in re.findall(r"`([A-Z]::test_\w+)", t)]
    return refs
