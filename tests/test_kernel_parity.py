"""Every catalogue metric gives the same state on the native kernels and on
their XLA bodies (the path GPU and TPU take), in one process.

The oracle tests hold the kernels to Keras and NumPy; this holds each
operation's XLA body to its native lowering on every metric that reaches the
kernel layer: integer counts bit for bit, weighted sums to float32 rounding
(the kernels sum a batch in double, XLA's scatter in float32). Together they
hold the XLA path to the oracles without running every oracle test twice.
"""

import jax
import numpy as np
import pytest

from jmetrics._src.kernels import ffi
from tests import catalogue

ROWS = 64
ENTRIES = [entry for entry in catalogue.ENTRIES if entry.batch_axis]


def _inputs(entry):
  rng = np.random.default_rng(7)
  args = tuple(np.asarray(a) for a in entry.make_inputs(rng, ROWS))
  return args, catalogue.row_weights(entry, rng, ROWS)


def _update(entry, args, weight):
  # A fresh function per call: no trace is shared between the two lowerings.
  metric = entry.metric
  return jax.jit(lambda s, a, w: metric.update(s, *a, sample_weight=w))(
      metric.init(), args, weight)


def _integer_leaves(entry, state):
  if entry.exact == catalogue.ALL:
    return jax.tree.leaves(state)
  if isinstance(state, dict):
    return jax.tree.leaves([state[name] for name in entry.exact])
  return jax.tree.leaves([getattr(state, name) for name in entry.exact])


@pytest.fixture(autouse=True, scope="module")
def _kernels():
  assert ffi.available(), "the native kernels must build for these tests"


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_native_lowering_gives_the_xla_bodys_state(entry, monkeypatch):
  args, weight = _inputs(entry)
  native = _update(entry, args, weight)
  with monkeypatch.context() as patch:
    patch.setattr(ffi, "available", lambda: False)
    xla = _update(entry, args, weight)
  assert jax.tree.structure(native) == jax.tree.structure(xla)
  for got, want in zip(jax.tree.leaves(native), jax.tree.leaves(xla)):
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(np.asarray(got, np.float64),
                               np.asarray(want, np.float64), rtol=1e-5,
                               atol=1e-5, err_msg=entry.id)
  for got, want in zip(_integer_leaves(entry, native),
                       _integer_leaves(entry, xla)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want),
                                  err_msg=f"{entry.id}: integer counts")
  metric = entry.metric
  for got, want in zip(jax.tree.leaves(metric.compute(native)),
                       jax.tree.leaves(metric.compute(xla))):
    np.testing.assert_allclose(np.asarray(got, np.float64),
                               np.asarray(want, np.float64), rtol=1e-5,
                               atol=1e-6, err_msg=entry.id)


def test_the_kernels_are_reached():
  """The parity above compares two lowerings, not one twice: the catalogue's
  histogram metrics compile to native calls on CPU."""
  reached = set()
  for entry in ENTRIES:
    args, weight = _inputs(entry)
    metric = entry.metric
    hlo = jax.jit(lambda s, a, w, m=metric: m.update(s, *a, sample_weight=w)
                  ).lower(metric.init(), args, weight).as_text()
    reached |= {target for target in ffi.Target if target.value in hlo}
  assert reached >= {ffi.Target.THRESHOLD_UPDATE, ffi.Target.PAIR_HISTOGRAM,
                     ffi.Target.BINCOUNT, ffi.Target.ARGMAX,
                     ffi.Target.ROW_STATISTICS, ffi.Target.ADD_COUNTS,
                     ffi.Target.TOP_K_THRESHOLD_HISTOGRAM,
                     ffi.Target.THRESHOLD_TOTALS}, reached
