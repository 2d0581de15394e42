"""Weighted counts of one batch stay exact past float32's 2**24 per cell.

A float32 histogram stops counting at 2**24 (``16777216 + 1 == 16777216``),
so one large batch, or one large weight, used to give a silently wrong cell.
Every weighted per-batch count (the threshold update, confusion matrices,
bincounts, the top-k threshold histogram) is now a `wide.Wide` pair: exact
for integer weights of ``|w| <= 2**24``, and for fractional weights within
the bound `jmetrics._src.kernels.counting` documents. Each test runs on the
native CPU kernels and on the XLA path (GPU, TPU), in one process as
tests/test_kernel_parity.py does, and holds both to a float64/int64 NumPy
reference computed from the definition.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jmetrics as jm
from jmetrics._src.kernels import counting
from jmetrics._src.kernels import ffi

PATHS = ("native", "xla")


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
  """Runs the test on the native kernels, then with them off (XLA's path)."""
  if request.param == "native":
    if not ffi.available():
      pytest.skip("the native kernels are off (--native off) or not built")
  else:
    monkeypatch.setattr(ffi, "available", lambda: False)
  return request.param


def _value(pair) -> np.ndarray:
  """A `Wide` total (or its leaves) in float64: ``hi + lo`` is exact there."""
  hi, lo = pair
  return np.asarray(hi, np.float64) + np.asarray(lo, np.float64)


def _update(metric, *args, sample_weight=None):
  # A fresh function per call: no trace is shared between the two paths.
  return jax.jit(lambda s, a, w: metric.update(s, *a, sample_weight=w))(
      metric.init(), args, sample_weight)


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(state)]


def test_one_large_unit_weighted_batch(path):
  """41,943,040 scores (2.5 * 2**24), 95% positive, with weights of 1:
  Precision's TP passes 2**24 in one batch (a float32 histogram gave TP =
  16777216 and a precision of 0.9091 for 0.95)."""
  n = 41_943_040
  rng = np.random.default_rng(0)
  # One random block repeated: the reference is the block's count times the
  # repeats, and the batch costs no random draws of its size.
  block = 2**12
  y_pred = rng.random(block, dtype=np.float32)
  y_true = np.arange(block) % 20 != 0  # 95% positive
  above = y_pred > 0.5
  repeats = n // block
  tp = repeats * int(np.count_nonzero(above & y_true))
  fp = repeats * int(np.count_nonzero(above & ~y_true))
  assert tp > 2**24
  metric = jm.Precision()
  state = _update(metric, jnp.tile(jnp.asarray(y_true), repeats),
                  jnp.tile(jnp.asarray(y_pred), repeats),
                  sample_weight=jnp.ones(n, jnp.float32))
  assert _value(state.tp).tolist() == [tp]
  assert _value(state.fp).tolist() == [fp]
  np.testing.assert_allclose(float(metric.compute(state)), tp / (tp + fp),
                             rtol=1e-6)


def test_one_weight_of_2_24_and_three_of_1(path):
  metric = jm.TruePositives()
  state = _update(metric, jnp.ones(4, bool), jnp.full(4, 0.9, jnp.float32),
                  sample_weight=jnp.asarray([2.0**24, 1, 1, 1], jnp.float32))
  assert _value(jax.tree.leaves(state)).tolist() == [16777219.0]


def test_auc_and_precision_counts_are_exact_for_large_integer_weights(path):
  """Integer weights up to 2**24 over several blocks: every cell is exact
  (the multi-limb XLA split; the native double sums)."""
  rng = np.random.default_rng(1)
  n = 3 * 2**14 + 7
  y_true = rng.random(n) < 0.5
  y_pred = rng.random(n, dtype=np.float32)
  weights = rng.integers(0, 2**24 + 1, n).astype(np.float32)
  # A listed grid: its buckets are exactly float32's "p > t".
  metric = jm.AUC(thresholds=list(np.linspace(0.02, 0.98, 25)))
  state = _update(metric, jnp.asarray(y_true), jnp.asarray(y_pred),
                  sample_weight=jnp.asarray(weights))
  thresholds = np.asarray(metric.grid.values, np.float32)
  above = y_pred[:, None] > thresholds[None, :]
  w = weights.astype(np.int64)[:, None]
  tp = (w * (above & y_true[:, None])).sum(0)
  fp = (w * (above & ~y_true[:, None])).sum(0)
  tn = (w * (~above & ~y_true[:, None])).sum(0)
  fn = (w * (~above & y_true[:, None])).sum(0)
  want = np.stack([tp, fp, tn, fn]).astype(np.float64)
  assert want.max() > 2**30
  np.testing.assert_array_equal(_value(state.counts), want)


def test_top_k_counts_are_exact_past_2_24(path):
  metric = jm.Precision(top_k=2)
  y_pred = jnp.asarray([[0.9, 0.8, 0.1]] * 4, jnp.float32)
  y_true = jnp.asarray([[1, 0, 0]] * 4, jnp.float32)
  weights = jnp.asarray([2.0**24, 1, 1, 1], jnp.float32)
  state = _update(metric, y_true, y_pred, sample_weight=weights)
  values = [_value(pair) for pair in zip(*[iter(jax.tree.leaves(state))] * 2)]
  # TP: the 0.9 of every row; FP: the 0.8 of every row.
  assert sorted(float(v.sum()) for v in values) == [16777219.0, 16777219.0]


def test_sharded_batch_sums_pairs_exactly(path):
  """A batch split over the 8 test devices: the shards' pair histograms are
  summed exactly (`wide_psum`), not in a float32 psum."""
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("d",))
  rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))
  n = 64
  weights = np.ones(n, np.float32)
  weights[::8] = 2.0**24  # one large weight on every device
  put = lambda x: jax.device_put(jnp.asarray(x), rows)  # pylint: disable=unnecessary-lambda-assignment
  metric = jm.TruePositives()
  state = _update(metric, put(np.ones(n, bool)), put(np.full(n, 0.9, np.float32)),
                  sample_weight=put(weights))
  assert _value(jax.tree.leaves(state)).tolist() == [8 * 2.0**24 + 56]


@pytest.mark.parametrize("num_classes", [3, 100])
def test_confusion_matrix_is_exact(path, num_classes):
  """Both block sizes of the XLA split (small and large tables)."""
  rng = np.random.default_rng(num_classes)
  n = 2**17 + 3
  y_true = rng.integers(-1, num_classes, n).astype(np.int32)
  y_pred = rng.integers(0, num_classes + 1, n).astype(np.int32)
  weights = rng.integers(-2**24, 2**24 + 1, n).astype(np.float32)
  weights[:5] = 2.0**24
  table = jax.jit(lambda a, b, w: counting.confusion_matrix(
      a, b, num_classes, w))(y_true, y_pred, weights)
  kept = (y_true >= 0) & (y_pred < num_classes)
  want = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(want, (y_true[kept], y_pred[kept]), weights[kept].astype(np.int64))
  np.testing.assert_array_equal(_value(table), want.astype(np.float64))
  assert np.abs(want).max() > 2**26


def test_bincount_is_exact(path):
  rng = np.random.default_rng(5)
  n = 2**16
  keys = rng.integers(-2, 12, n).astype(np.int32)
  weights = rng.integers(0, 2**24 + 1, n).astype(np.float32)
  got = jax.jit(lambda k, w: counting.bincount(k, w, 10))(keys, weights)
  kept = (keys >= 0) & (keys < 10)
  want = np.bincount(keys[kept], weights[kept].astype(np.int64), minlength=10)
  np.testing.assert_array_equal(_value(got), np.asarray(want, np.float64))


def _four_weights():
  return jnp.asarray([2.0**24, 1, 1, 1], jnp.float32)


def test_confusion_matrix_state_is_exact(path):
  metric = jm.ConfusionMatrix(num_classes=2, dtype="float32")
  state = _update(metric, jnp.ones(4, jnp.int32), jnp.ones(4, jnp.int32),
                  sample_weight=_four_weights())
  np.testing.assert_array_equal(_value(state.confusion),
                                [[0, 0], [0, 16777219]])


def test_mean_iou_state_is_exact(path):
  metric = jm.MeanIoU(num_classes=3, dtype="float32")
  y_true = jnp.asarray([1, 1, 1, 1, 2], jnp.int32)
  y_pred = jnp.asarray([1, 1, 1, 1, 1], jnp.int32)
  weights = jnp.asarray([2.0**24, 1, 1, 1, 3], jnp.float32)
  state = _update(metric, y_true, y_pred, sample_weight=weights)
  want = np.zeros((3, 3))
  want[1, 1], want[2, 1] = 16777219, 3
  np.testing.assert_array_equal(_value(state.confusion), want)
  # IoU of class 1: 16777219 / (16777219 + 3); class 2: 0 (as Keras averages
  # over the classes present).
  np.testing.assert_allclose(float(metric.compute(state)),
                             (16777219 / 16777222 + 0.0) / 2, rtol=1e-7)


def test_hard_dice_state_is_exact(path):
  """Integer labels and integer predictions: the pair histogram's user."""
  metric = jm.Dice(num_classes=2, average=None, sparse_y_pred=True, epsilon=0)
  state = _update(metric, jnp.ones(4, jnp.int32), jnp.ones(4, jnp.int32),
                  sample_weight=_four_weights())
  for total in state:
    np.testing.assert_array_equal(_value(total), [0, 16777219])


def test_soft_dice_bincount_state_is_exact(path):
  """Integer labels and soft predictions: the bincount's user (the
  intersection and the true sums; the prediction sums are a plain sum over
  the batch, outside the kernels)."""
  metric = jm.Dice(num_classes=2, average=None, epsilon=0)
  y_pred = jnp.asarray([[0.0, 1.0]] * 4, jnp.float32)
  state = _update(metric, jnp.ones(4, jnp.int32), y_pred,
                  sample_weight=_four_weights())
  for total in state[:2]:
    np.testing.assert_array_equal(_value(total), [0, 16777219])


def test_weighted_precision_bincount_state_is_exact(path):
  metric = jm.WeightedPrecision(class_weights=(1.0, 1.0))
  y_pred = jnp.asarray([[0.1, 0.9]] * 4, jnp.float32)
  state = _update(metric, jnp.ones(4, jnp.int32), y_pred,
                  sample_weight=_four_weights())
  np.testing.assert_array_equal(_value(state.true_positives), [0, 16777219])
  np.testing.assert_array_equal(_value(state.predicted_positives),
                                [0, 16777219])


def test_fractional_weights_within_the_stated_bound(path):
  """One cell of 2**21 weights of 0.1 (a float32 running sum drifts by
  percents there) and random fractional weights elsewhere.

  counting's bound for the XLA path: ``(m - 1) * 2**-24 * sum(|w|)`` for the
  blocks' float32 sums (m <= 2**12 elements of the cell per block), plus one
  float32 rounding of the batch sum; the native kernel sums in double and
  rounds once, within ``2**-24 |sum|``.
  """
  rng = np.random.default_rng(9)
  n = 2**22
  y_pred = rng.random(n, dtype=np.float32)
  y_true = np.ones(n, bool)
  y_true[n // 2:] = rng.random(n // 2) < 0.5
  weights = np.full(n, 0.1, np.float32)
  weights[n // 2:] = rng.random(n // 2, dtype=np.float32)
  metric = jm.TruePositives(thresholds=[0.0, 0.5])
  state = _update(metric, jnp.asarray(y_true), jnp.asarray(y_pred),
                  sample_weight=jnp.asarray(weights))
  above = y_pred[:, None] > np.asarray([0.0, 0.5], np.float32)
  w = weights.astype(np.float64)[:, None] * (above & y_true[:, None])
  want = w.sum(0)
  block = 2**12 if path == "xla" else 1
  bound = (block - 1) * 2.0**-24 * np.abs(w).sum(0) + 2.0**-24 * np.abs(want)
  got = _value(jax.tree.leaves(state)).reshape(-1)
  assert np.all(np.abs(got - want) <= bound), (got, want, bound)
  # The float32 running sum this replaces is off by far more.
  assert np.all(np.abs(got - want) <= 1e-4 * want)


def test_fractional_pairs_agree_across_paths(monkeypatch):
  """Fractional sums are rounded once per batch on both paths, so the two
  give the same floats, not just the same sum to rounding."""
  if not ffi.available():
    pytest.skip("the native kernels are off (--native off) or not built")
  rng = np.random.default_rng(4)
  n = 2**18
  args = (jnp.asarray(rng.random(n) < 0.4),
          jnp.asarray(rng.random(n, dtype=np.float32)))
  weights = jnp.asarray(rng.random(n, dtype=np.float32))
  metric = jm.AUC(num_thresholds=20)
  native = _update(metric, *args, sample_weight=weights)
  with monkeypatch.context() as patch:
    patch.setattr(ffi, "available", lambda: False)
    xla = _update(metric, *args, sample_weight=weights)
  lo_native, lo_xla = np.asarray(native.counts.lo), np.asarray(xla.counts.lo)
  assert not lo_native.any() and not lo_xla.any()
  np.testing.assert_allclose(np.asarray(native.counts.hi),
                             np.asarray(xla.counts.hi), rtol=3e-7)


def _non_finite_case():
  y_true = jnp.asarray([1, 1, 0, 0, 1, 0], bool)
  y_pred = jnp.asarray([0.9, 0.2, 0.8, 0.1, 0.6, 0.7], jnp.float32)
  weights = jnp.asarray([np.inf, 1, np.nan, 2, 3, -np.inf], jnp.float32)
  return y_true, y_pred, weights


def _states_on_both_paths(fn, monkeypatch):
  native = fn()
  with monkeypatch.context() as patch:
    patch.setattr(ffi, "available", lambda: False)
    xla = fn()
  return native, xla


def test_non_finite_weights_give_the_same_cells_on_both_paths(monkeypatch):
  """A NaN or infinite weight makes exactly the cells that count it NaN or
  infinite (the others keep their finite sums), alike on both paths."""
  if not ffi.available():
    pytest.skip("the native kernels are off (--native off) or not built")
  y_true, y_pred, weights = _non_finite_case()
  thresholds = [0.0, 0.5, 0.65, 0.75, 0.95]
  metric = jm.AUC(thresholds=thresholds[1:4])
  native, xla = _states_on_both_paths(
      lambda: _update(metric, y_true, y_pred, sample_weight=weights),
      monkeypatch)
  for got, want in zip(_leaves(native), _leaves(xla)):
    np.testing.assert_array_equal(got, want)
  # The definition: a cell counting a non-finite weight is not finite.
  w = np.asarray(weights, np.float64)
  above = np.asarray(y_pred)[:, None] > np.asarray(metric.grid.values,
                                                    np.float32)
  t = np.asarray(y_true)[:, None]
  for cell, mask in zip(native.counts.hi, (above & t, above & ~t, ~above & ~t,
                                           ~above & t)):
    cell = np.asarray(cell, np.float64)
    finite = ~np.any(mask & ~np.isfinite(w)[:, None], axis=0)
    np.testing.assert_array_equal(np.isfinite(cell), finite)
    np.testing.assert_array_equal(cell[finite],
                                  (mask * np.where(np.isfinite(w), w, 0)[:, None]
                                   ).sum(0)[finite])

  ids = jnp.asarray([1, 0, 1, 0, 1, 1], jnp.int32)
  table, table_xla = _states_on_both_paths(
      lambda: jax.jit(lambda a, w: counting.confusion_matrix(
          a, a, 2, w))(ids, weights), monkeypatch)
  np.testing.assert_array_equal(_value(table), _value(table_xla))
  # Class 1 holds inf, NaN and -inf: NaN; class 0 the finite 1 + 2.
  assert np.isnan(_value(table)[1, 1]) and _value(table)[0, 0] == 3
  counts, counts_xla = _states_on_both_paths(
      lambda: jax.jit(lambda a, w: counting.bincount(a, w, 2))(
          ids, weights), monkeypatch)
  np.testing.assert_array_equal(_value(counts), _value(counts_xla))
  assert np.isnan(_value(counts)[1]) and _value(counts)[0] == 3
  only_inf = jnp.asarray([np.inf, 1, 1, 2, 3, 1], jnp.float32)
  counts, counts_xla = _states_on_both_paths(
      lambda: jax.jit(lambda a, w: counting.bincount(a, w, 2))(
          ids, only_inf), monkeypatch)
  np.testing.assert_array_equal(_value(counts), _value(counts_xla))
  assert np.isinf(_value(counts)[1]) and _value(counts)[0] == 3
