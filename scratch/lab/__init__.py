"""The lab around the product: everything that demonstrates, measures and presents :mod:`scratch`.

The product (``scratch/``: the network, its checks, the workspace, the second order and the
conformance kit) imports nothing from here when it is imported.  The lab uses the product:

- :mod:`.pitfalls`, :mod:`.curvature_pitfalls`: the galleries of usual mistakes, each a
  complete faulty implementation (the kit's diagnosis, :mod:`scratch.diagnosis`, runs the
  first-order gallery as its fingerprints, importing it only when it diagnoses);
- :mod:`.accuracy` (float32 against exact gradients), :mod:`.train` and :mod:`.data` (SGD on
  toy data sets), :mod:`.bench` (timing against PyTorch and JAX);
- :mod:`.plots`, :mod:`.report` (figures, tables, JSON), :mod:`.page` (the HTML pages);
- :mod:`.cli` and :mod:`.commands`: ``python -m scratch COMMAND`` (``scratch/__main__.py``).
"""
