"""Put on PYTHONPATH by the mutmut command of docs/tests.md only: JAX cannot be imported there.

mutmut forks a worker per mutant from a process that has already run the tests once; JAX's
thread pool does not survive a fork, so a forked worker that calls JAX waits forever (no CPU
time is spent, so mutmut's CPU-time limit never fires).  The selection leaves the JAX tests out
(``-k "not jax"``); this makes any other import of JAX fail loudly instead of hanging.
"""

raise ImportError("jax is blocked in the mutmut run (tests/mutmut_no_jax): a forked mutmut worker hangs in JAX")
