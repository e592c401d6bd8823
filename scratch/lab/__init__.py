"""The lab around the product: everything that demonstrates, measures and presents :mod:`scratch`.

The product (``scratch/``: the network, its checks, the workspace, the second order and the
conformance kit) imports nothing from here when it is imported.  The lab uses the product:

- :mod:`.pitfalls`, :mod:`.curvature_pitfalls`: the galleries of usual mistakes, each a
  complete faulty implementation (the kit's diagnosis, :mod:`scratch.diagnosis`, runs the
  first-order gallery as its fingerprints, importing it only when it diagnoses);
- :mod:`.comparison` (scratch against the oracles over a sweep), :mod:`.pitfall_rows` (the
  gallery's table and verdict), :mod:`.accuracy` (float32 against exact gradients),
  :mod:`.stepsize` (the step-size study), :mod:`.saturation` (saturated tanh units),
  :mod:`.train` and :mod:`.data` (SGD on toy data sets), :mod:`.parity` (the same training in
  NumPy, PyTorch and JAX), :mod:`.bench` (timing against PyTorch and JAX);
- :mod:`.plots`, :mod:`.report` (figures, tables, JSON), :mod:`.page` (the HTML pages);
- :mod:`.cli` and :mod:`.commands`: ``python -m scratch COMMAND`` (``scratch/__main__.py``): the
  command line alone (options, printing, exit codes), calling the modules above; nothing but
  the command line imports a command module.
"""
