"""The native top-k kernels against NumPy references, and the top-k metrics
that run on them against Keras 3.

On CPU, ``SparseTopKCategoricalAccuracy`` / ``TopKCategoricalAccuracy`` count
"scores above the label's" in `ffi.in_top_k`, and ``Precision`` /
``Recall`` with ``top_k`` histogram Keras' top-k filtered scores in
`ffi.top_k_threshold_histogram` (no sort, nothing of the input's size
written). The references below are written from the definitions:

* ``lax.top_k`` on CPU keeps the k largest entries of each row in the total
  order of the float bits (-NaN < -inf < ... < -0.0 < +0.0 < ... < +inf <
  +NaN), ties to the lower index; the test of that order pins what the kernel
  reproduces.
* XLA:CPU compares floats with denormals as zero, so the references flush
  denormals before comparing (the kernels run with the same flags).
"""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jmetrics._src import kernels  # noqa: E402
from jmetrics._src.kernels import ffi  # noqa: E402
from jmetrics._src.metrics import accuracy as acc  # noqa: E402
from jmetrics._src.metrics import confusion as cm  # noqa: E402
from jmetrics._src.metrics import thresholds as th  # noqa: E402
from tests import harness  # noqa: E402
from tests import test_native  # noqa: E402

N = 16  # metric batch size: divisible by the 8 devices of the pmap modes
TINY = np.finfo(np.float32).tiny
NEG_NAN = -np.float32(np.nan)  # sign bit set, as XLA's default NaN on x86
SPECIAL = np.array(
    [np.nan, NEG_NAN, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3e-39,
     TINY, 1.0, -1.0, 0.5, -1e10, 1e10], np.float32)


@pytest.fixture(autouse=True, scope="module")
def _kernels():
  assert ffi.available(), "the native kernels must build for these tests"


# -- references ------------------------------------------------------------------


def _order_key(x):
  """lax.top_k's comparison key on CPU: the float bits as a total order."""
  bits = np.asarray(x, np.float32).view(np.int32).astype(np.int64)
  return np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def _top_k_indices(x, k):
  """The k first entries of each row by key, ties to the lower index."""
  return np.argsort(-_order_key(x), axis=-1, kind="stable")[..., :k]


def _flush(x):
  """Denormals as zero (XLA:CPU's comparisons); NaN stays NaN."""
  x = np.asarray(x, np.float32)
  with np.errstate(invalid="ignore"):
    return np.where(np.abs(x) < TINY, np.float32(0), x).astype(np.float32)


def _in_top_k_reference(labels, scores, k):
  """Fewer than k scores strictly above the label's (Keras' in_top_k)."""
  c = scores.shape[-1]
  x = _flush(scores.reshape(-1, c))
  label = labels.reshape(-1).astype(np.int64)
  label = np.where(label < 0, label + c, label)
  valid = (label >= 0) & (label < c)
  at = np.full(label.shape, -np.inf, np.float32)
  at[valid] = x[np.nonzero(valid)[0], label[valid]]
  at = np.where(np.isnan(at), np.float32(-np.inf), at)
  with np.errstate(invalid="ignore"):
    above = np.sum(x > at[:, None], axis=-1)
  return (above < k).reshape(labels.shape)


def _filtered_reference(scores, k, class_id):
  """Keras' _filter_top_k: kept scores stay, others x * 0 + (-1e10)."""
  c = scores.shape[-1]
  x = scores.reshape(-1, c)
  keep = np.zeros(x.shape, bool)
  np.put_along_axis(keep, _top_k_indices(x, k), True, axis=-1)
  with np.errstate(invalid="ignore"):
    dropped = x * np.float32(0) + np.float32(-1e10)
  out = np.where(keep, x, dropped).astype(np.float32)
  return out if class_id is None else out[:, class_id:class_id + 1]


def _histogram_reference(filtered, labels, weights, mode, thresholds):
  """Counts of (bucket, positive), the threshold kernel's definition, on the
  filtered scores with denormals flushed (as the comparisons see them)."""
  return test_native.threshold_reference(_flush(filtered), labels, weights,
                                         mode, thresholds, num_labels=1)


# -- inputs -----------------------------------------------------------------------


def _scores(rng, shape, kind):
  if kind == "normal":
    return rng.normal(size=shape).astype(np.float32)
  if kind == "ties":  # a few levels: many equal scores
    return rng.integers(0, 3, shape).astype(np.float32)
  # Special values (NaN of both signs, infinities, signed zeros, denormals)
  # among ties and ordinary scores.
  x = rng.integers(-2, 3, shape).astype(np.float32) / 2
  mask = rng.random(shape) < 0.4
  x[mask] = rng.choice(SPECIAL, shape)[mask]
  return x


# -- lax.top_k's order -----------------------------------------------------------


def test_lax_top_k_orders_the_float_bits_with_ties_to_the_lower_index():
  row = np.array([1.0, np.nan, -np.inf, np.inf, NEG_NAN, 0.0, -0.0, 1e-45,
                  -1e-45, 1.0, np.inf, np.nan, -2.0], np.float32)
  expected = [1, 11, 3, 10, 0, 9, 7, 5, 6, 8, 12, 2, 4]
  for k in (1, 4, 7, row.size):
    for top_k in (jax.lax.top_k, jax.jit(jax.lax.top_k, static_argnums=1)):
      _, index = top_k(jnp.asarray(row), k)
      assert np.asarray(index).tolist() == expected[:k]
  rng = np.random.default_rng(0)
  # Rows of 100 take XLA's TopK custom call, k = C its sort: same order.
  for shape, k in (((64, 100), 5), ((64, 100), 100), ((3, 5, 17), 4)):
    x = _scores(rng, shape, "special")
    _, index = jax.jit(jax.lax.top_k, static_argnums=1)(jnp.asarray(x), k)
    np.testing.assert_array_equal(np.asarray(index), _top_k_indices(x, k))


# -- in_top_k kernel --------------------------------------------------------------

# (batch shape, classes): rows spanning several chunks of 2**16 scores, a
# leading batch shape, rows shorter than a scan block and odd lengths.
IN_TOP_K_SHAPES = [((1,), 1), ((37,), 7), ((3, 4), 33), ((200,), 1000),
                   ((2, 1000), 70)]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
@pytest.mark.parametrize("batch,classes", IN_TOP_K_SHAPES)
def test_in_top_k_matches_definition(jit, kind, batch, classes):
  rng = np.random.default_rng(classes + len(kind))
  scores = _scores(rng, batch + (classes,), kind)
  # Labels in [-C - 2, C + 2): negatives index from the end, others miss.
  labels = rng.integers(-classes - 2, classes + 2, batch).astype(np.int32)
  for k in sorted({1, 3, classes - 1, classes, classes + 1} - {0}):
    run = lambda a, b, k=k: ffi.in_top_k(a, b, k)
    got = (jax.jit(run) if jit else run)(jnp.asarray(labels), jnp.asarray(scores))
    assert got.shape == batch and got.dtype == jnp.int32
    expected = _in_top_k_reference(labels, scores, k)
    np.testing.assert_array_equal(np.asarray(got), expected, err_msg=f"k={k}")
    # ... and the XLA path (GPU, TPU) gives the same bits.
    xla = kernels.rows.IN_TOP_K.xla(k, jnp.asarray(labels), jnp.asarray(scores))
    np.testing.assert_array_equal(np.asarray(xla), expected, err_msg=f"k={k}")


def test_in_top_k_denormals_compare_as_zero():
  scores = np.array([[0.0, 1e-45, -1e-45, 3e-39, TINY, -0.0]], np.float32)
  # Against 0 (or a denormal) only the smallest normal number is above.
  for label in range(6):
    got = ffi.in_top_k(jnp.asarray([label], jnp.int32), jnp.asarray(scores), 1)
    assert int(got[0]) == (label == 4), label


def test_in_top_k_under_vmap():
  rng = np.random.default_rng(5)
  scores = _scores(rng, (4, 9, 12), "special")
  labels = rng.integers(-13, 13, (4, 9)).astype(np.int32)
  got = jax.vmap(lambda a, b: ffi.in_top_k(a, b, 3))(
      jnp.asarray(labels), jnp.asarray(scores))
  np.testing.assert_array_equal(np.asarray(got),
                                _in_top_k_reference(labels, scores, 3))


# -- top-k threshold histogram kernel --------------------------------------------

GRIDS = {
    ffi.Bucketing.SORTED: [-1e10, 0.0, 0.3, 0.3, 0.9],  # ascending, with a tie
    ffi.Bucketing.EVENLY: list(np.linspace(0, 1, 5)),
    ffi.Bucketing.EVENLY_WITH_EPSILON: list(np.linspace(0, 1, 5)),
}

# (rows, classes, k, class_id): small k (the network, every k up to 8),
# larger k (rounds, then a selection), k = C, rows spanning several chunks,
# row lengths around the vector widths.
HISTOGRAM_CASES = [
    (50, 3, 1, None), (50, 3, 2, 1), (40, 3, 3, None), (60, 7, 4, None),
    (30, 8, 5, None), (64, 9, 8, 8), (33, 16, 6, None), (33, 17, 7, None),
    (20, 17, 16, None), (1400, 100, 5, None), (1400, 100, 5, 37),
    (300, 100, 1, None), (90, 100, 2, 0), (70, 50, 12, None), (70, 50, 12, 49),
    (40, 100, 40, None), (40, 100, 99, None), (1, 70000, 5, None),
]


# Per-element weights exist only without class_id (with it, the weights
# broadcast to the one counted column).
HISTOGRAM_PARAMS = [case + (w,) for case in HISTOGRAM_CASES
                    for w in ("none", "row", "element")
                    if not (w == "element" and case[3] is not None)]


@pytest.mark.parametrize("mode", list(GRIDS))
@pytest.mark.parametrize("rows,classes,k,class_id,weighting", HISTOGRAM_PARAMS)
def test_top_k_histogram_matches_definition(mode, rows, classes, k, class_id,
                                            weighting):
  rng = np.random.default_rng(rows + classes + k)
  kind = ["normal", "ties", "special"][(rows + k) % 3]
  if kind == "normal":  # around the grids' range
    scores = rng.uniform(-0.2, 1.2, (rows, classes)).astype(np.float32)
  else:
    scores = _scores(rng, (rows, classes), kind)
  labels = (rng.random((rows, classes)) < 0.3).astype(np.float32)
  weights = None
  if weighting == "row":
    weights = rng.uniform(0, 2, (rows,)).astype(np.float32)
  elif weighting == "element":
    weights = rng.uniform(0, 2, (rows, classes)).astype(np.float32)
  kernel_labels = labels if class_id is None else labels[:, class_id:class_id + 1]
  thresholds = GRIDS[mode]

  def run(scores, labels, weights):
    return ffi.top_k_threshold_histogram(
        scores, labels, weights, k=k, class_id=class_id, bucketing=mode,
        num_thresholds=len(thresholds),
        sorted_thresholds=jnp.asarray(thresholds, jnp.float32))

  got = jax.jit(run)(jnp.asarray(scores), jnp.asarray(kernel_labels),
                     None if weights is None else jnp.asarray(weights))
  filtered = _filtered_reference(scores, k, class_id)
  ref_weights = weights
  if weighting == "row":
    ref_weights = np.broadcast_to(weights[:, None], filtered.shape)
  expected = _histogram_reference(filtered, kernel_labels, ref_weights, mode,
                                  thresholds)
  if weights is None:
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), expected)
  else:
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got, np.float64), expected,
                               rtol=2e-6, atol=1e-5)


def test_top_k_histogram_under_vmap():
  rng = np.random.default_rng(9)
  scores = _scores(rng, (3, 20, 11), "special")
  labels = (rng.random((3, 20, 11)) < 0.3).astype(np.float32)
  thresholds = jnp.asarray([0.0, 0.5], jnp.float32)
  run = lambda s, y: ffi.top_k_threshold_histogram(
      s, y, None, k=3, class_id=None, bucketing=ffi.Bucketing.SORTED, num_thresholds=2,
      sorted_thresholds=thresholds)
  got = jax.vmap(run)(jnp.asarray(scores), jnp.asarray(labels))
  for i in range(3):
    expected = _histogram_reference(_filtered_reference(scores[i], 3, None),
                                    labels[i], None, ffi.Bucketing.SORTED, [0.0, 0.5])
    np.testing.assert_array_equal(np.asarray(got[i]), expected)


# -- metrics on the kernels, against Keras ----------------------------------------



def _multi_hot(rng, shape, rate=0.1, dtype=np.float32):
  return (rng.random(shape) < rate).astype(dtype)


def _per_element_weights(shape):
  return lambda rng, args: rng.uniform(0, 2, shape).astype(np.float32)


def _special(rng, shape):
  return _scores(rng, shape, "special")


def _one_hot(rng, shape):
  return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]


PRECISION_RECALL_FULL = [
    # The benchmark's workload, small: 100 multi-hot classes.
    harness.Case(
        "precision_top_k5_100_classes", cm.Precision(top_k=5),
        lambda rng, n: (_multi_hot(rng, (n, 100)),
                        rng.random((n, 100), dtype=np.float32)),
        keras=lambda: keras.metrics.Precision(top_k=5)),
    harness.Case(
        "precision_top_k2_thresholds_3d", cm.Precision(thresholds=[0.2, 0.5, 0.9],
                                                       top_k=2),
        lambda rng, n: (_multi_hot(rng, (n, 4, 6), 0.3),
                        _special(rng, (n, 4, 6))),
        keras=lambda: keras.metrics.Precision(thresholds=[0.2, 0.5, 0.9], top_k=2),
        make_weights=_per_element_weights((N, 4))),
    harness.Case(
        "recall_top_k3_class_id_special", cm.Recall(top_k=3, class_id=2),
        lambda rng, n: (_multi_hot(rng, (n, 7), 0.4, np.int32),
                        _special(rng, (n, 7))),
        keras=lambda: keras.metrics.Recall(top_k=3, class_id=2)),
]

PRECISION_RECALL_HOST = [
    # Rounds of maxima (9 <= k <= 32), then a selection (k > 32).
    harness.Case(
        "precision_top_k12_ties", cm.Precision(top_k=12),
        lambda rng, n: (_multi_hot(rng, (n, 20), 0.3),
                        _scores(rng, (n, 20), "ties")),
        keras=lambda: keras.metrics.Precision(top_k=12)),
    harness.Case(
        "recall_top_k40_special", cm.Recall(top_k=40),
        lambda rng, n: (_multi_hot(rng, (n, 50), 0.3),
                        _special(rng, (n, 50))),
        keras=lambda: keras.metrics.Recall(top_k=40)),
    harness.Case(
        "precision_top_k_all_classes", cm.Precision(top_k=6),
        lambda rng, n: (_multi_hot(rng, (n, 6), 0.5),
                        _special(rng, (n, 6))),
        keras=lambda: keras.metrics.Precision(top_k=6)),
    # Evenly spaced thresholds: dropped finite scores (-1e10) clip to 0,
    # dropped NaN/inf become NaN (the first bucket).
    harness.Case(
        "recall_evenly_top_k2_class_id_special",
        cm.Recall(thresholds=[0.0, 0.5, 1.0], top_k=2, class_id=1),
        lambda rng, n: (_one_hot(rng, (n, 5)), _special(rng, (n, 5))),
        keras=lambda: keras.metrics.Recall(thresholds=[0.0, 0.5, 1.0], top_k=2,
                                           class_id=1)),
    harness.Case(
        "precision_evenly_top_k3_special",
        cm.Precision(thresholds=[0.0, 0.25, 0.5, 0.75, 1.0], top_k=3),
        lambda rng, n: (_multi_hot(rng, (n, 9), 0.3),
                        _special(rng, (n, 9))),
        keras=lambda: keras.metrics.Precision(
            thresholds=[0.0, 0.25, 0.5, 0.75, 1.0], top_k=3)),
    # Rows over several threads' chunks (2**16 scores each).
    harness.Case(
        "precision_top_k5_many_chunks", cm.Precision(top_k=5),
        lambda rng, n: (_multi_hot(rng, (1400, 100), 0.05),
                        rng.random((1400, 100), dtype=np.float32)), count=2,
        keras=lambda: keras.metrics.Precision(top_k=5)),
    harness.Case(
        "recall_top_k4_class_id_many_chunks", cm.Recall(top_k=4, class_id=99),
        lambda rng, n: (_multi_hot(rng, (1400, 100), 0.3, bool),
                        _scores(rng, (1400, 100), "ties")), count=2,
        keras=lambda: keras.metrics.Recall(top_k=4, class_id=99)),
    # Weights per element (not one per row).
    harness.Case(
        "precision_top_k3_element_weights", cm.Precision(top_k=3),
        lambda rng, n: (_multi_hot(rng, (n, 10), 0.3),
                        rng.normal(size=(n, 10)).astype(np.float32)),
        keras=lambda: keras.metrics.Precision(top_k=3),
        make_weights=_per_element_weights((N, 10))),
    # One scalar weight for the batch.
    harness.Case(
        "precision_top_k2_class_id_scalar_weight", cm.Precision(top_k=2, class_id=0),
        lambda rng, n: (_multi_hot(rng, (n, 4), 0.5),
                        _scores(rng, (n, 4), "ties")),
        keras=lambda: keras.metrics.Precision(top_k=2, class_id=0),
        make_weights=lambda rng, args: np.float32(rng.uniform(0.5, 2.0))),
    # Rank 1: the whole batch is one row.
    harness.Case(
        "recall_top_k5_rank1", cm.Recall(top_k=5, thresholds=[0.1, 0.6]),
        lambda rng, n: (_multi_hot(rng, (n,), 0.5, np.int32),
                        _special(rng, (n,))),
        keras=lambda: keras.metrics.Recall(top_k=5, thresholds=[0.1, 0.6])),
]

ACCURACY_FULL = [
    harness.Case(
        "sparse_top_k5_1000_classes_out_of_range",
        acc.SparseTopKCategoricalAccuracy(k=5),
        lambda rng, n: (rng.integers(-1003, 1003, (n,)),
                        rng.normal(size=(n, 1000)).astype(np.float32)),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=5)),
    harness.Case(
        "sparse_top_k3_special_3d", acc.SparseTopKCategoricalAccuracy(k=3),
        lambda rng, n: (rng.integers(-10, 10, (n, 3)),
                        _special(rng, (n, 3, 9))),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=3),
        make_weights=_per_element_weights((N, 3))),
    harness.Case(
        "top_k2_categorical_special", acc.TopKCategoricalAccuracy(k=2),
        lambda rng, n: (_one_hot(rng, (n, 8)), _special(rng, (n, 8))),
        keras=lambda: keras.metrics.TopKCategoricalAccuracy(k=2)),
]

ACCURACY_HOST = [
    harness.Case(
        "sparse_top_k1_ties_many_chunks", acc.SparseTopKCategoricalAccuracy(k=1),
        lambda rng, n: (rng.integers(0, 1000, (200, 1)),
                        _scores(rng, (200, 1000), "ties")), count=2,
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=1)),
    harness.Case(
        "top_k5_categorical_3d", acc.TopKCategoricalAccuracy(k=5),
        lambda rng, n: (_one_hot(rng, (n, 2, 40)),
                        _special(rng, (n, 2, 40))),
        keras=lambda: keras.metrics.TopKCategoricalAccuracy(k=5),
        make_weights=_per_element_weights((N, 2))),
    harness.Case(
        "sparse_top_k_larger_than_classes", acc.SparseTopKCategoricalAccuracy(k=9),
        lambda rng, n: (rng.integers(-9, 9, (n,)), _special(rng, (n, 6))),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=9)),
]


@pytest.mark.parametrize("case", PRECISION_RECALL_FULL + ACCURACY_FULL, ids=str)
def test_metrics_match_keras_in_all_modes(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", PRECISION_RECALL_HOST + ACCURACY_HOST, ids=str)
def test_metrics_match_keras_eager_and_jitted(case):
  init = case.metric.init()
  for mode, batches in harness.weighted_batches(case).items():
    expected = harness.oracle_value(case, batches)
    state, eager = harness.run_sequential(case.metric, batches)
    harness.assert_close(eager, expected, case, f"{mode} eager")
    _, jitted = harness.run_sequential(case.metric, batches, jit=True)
    harness.assert_close(jitted, expected, case, f"{mode} jit")
    harness.assert_same_structure(init, state, f"{mode} eager update")


def _through_both_paths(fn, monkeypatch):
  """``fn()`` jitted on the kernels, then on the XLA path (GPU, TPU, no
  compiler): every kernel takes its XLA body when the native code is off."""
  on_kernels = fn()
  with monkeypatch.context() as patch:
    patch.setattr(ffi, "available", lambda: False)
    on_xla = fn()
  return on_kernels, on_xla


@pytest.mark.parametrize("case", PRECISION_RECALL_FULL + PRECISION_RECALL_HOST,
                         ids=str)
def test_threshold_kernel_gives_the_xla_paths_counts(case, monkeypatch):
  """Bit for bit where unweighted."""
  metric = case.metric
  for mode, batches in harness.weighted_batches(case).items():
    args, weight = batches[0]
    # A fresh function per call: no trace is shared between the two paths.
    update = lambda: jax.jit(lambda s, a, w: metric.update(s, *a, sample_weight=w))(
        metric.init(), args, weight)
    got, want = _through_both_paths(update, monkeypatch)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      if mode == "unweighted":
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
      else:  # the XLA scatter sums in float32, the kernel in double
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("case", ACCURACY_FULL + ACCURACY_HOST, ids=str)
def test_in_top_k_kernel_gives_the_xla_paths_matches(case, monkeypatch):
  metric = case.metric
  for args in case.make_batches(np.random.default_rng(0)):
    values = lambda: jax.jit(lambda a: metric.values(*a))(args)
    got, want = _through_both_paths(values, monkeypatch)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_jitted_updates_run_the_kernels_without_sorting():
  rng = np.random.default_rng(0)
  y_true = jnp.asarray(_multi_hot(rng, (64, 100)))
  y_pred = jnp.asarray(rng.random((64, 100), dtype=np.float32))
  weights = jnp.asarray(rng.random(64, dtype=np.float32))
  for metric in (cm.Precision(top_k=5), cm.Recall(top_k=2, class_id=3),
                 cm.Precision(top_k=3, thresholds=[0.2, 0.7])):
    for args in ((y_true, y_pred), (y_true, y_pred, weights)):
      hlo = jax.jit(metric.update).lower(metric.init(), *args).compile().as_text()
      assert "JmetricsTopKThresholdHistogram" in hlo, metric
      assert not re.search(r"\bsort\(", hlo), metric
      assert 'custom_call_target="TopK"' not in hlo, metric
  labels = jnp.asarray(rng.integers(0, 100, 64).astype(np.int32))
  for metric, truth in ((acc.SparseTopKCategoricalAccuracy(k=5), labels),
                        (acc.TopKCategoricalAccuracy(k=5), y_true)):
    hlo = jax.jit(metric.update).lower(metric.init(), truth, y_pred).compile().as_text()
    # float32 score rows: the label's rank from the row-statistics kernel.
    assert "JmetricsRowStatistics" in hlo, metric
    assert not re.search(r"\bsort\(", hlo), metric
  # Integer one-hot labels take the in-top-k count.
  metric = acc.TopKCategoricalAccuracy(k=5)
  hlo = jax.jit(metric.update).lower(metric.init(), y_true.astype(jnp.int32),
                                     y_pred).compile().as_text()
  assert "JmetricsInTopK" in hlo


def test_prepare_leaves_the_filter_to_the_update():
  """`prepare` hands the update the unfiltered scores; `filter_top_k` is
  Keras' filter."""
  rng = np.random.default_rng(3)
  y_true = _multi_hot(rng, (8, 6), 0.5)
  y_pred = _special(rng, (8, 6))
  metric = cm.Precision(top_k=2, class_id=4)
  labels, scores, weights = th.prepare(metric, y_true, y_pred,
                                       np.ones(8, np.float32), top_k=2,
                                       class_id=4)
  assert scores.shape == (8, 6) and labels.shape == (8, 1)
  assert weights.shape == (8, 1)
  # XLA's multiply by the mask flushes kept denormals to zero.
  np.testing.assert_array_equal(
      np.asarray(th.kernels.filter_top_k(jnp.asarray(scores, jnp.float32), 2)
                 [:, 4, None]),
      _flush(_filtered_reference(y_pred, 2, 4)))
  with pytest.raises(ValueError, match="pooled"):
    th.add_batch(th.zeros((metric.grid.size,)).counts, labels, scores,
                 weights, metric.grid, multi_label=True, top_k=th.TopK(2, 4))


@pytest.mark.parametrize("shape", [(64, 100), (64,), (16, 4, 6)], ids=str)
def test_top_k_kernels_on_a_batch_sharded_over_devices(shape):
  """Under jit with the batch sharded over 8 devices, each device counts its
  rows and the result is Keras' (a rank-1 batch is one row: not split)."""
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top
  mesh = Mesh(np.array(jax.devices()), ("d",))
  rows = NamedSharding(mesh, PartitionSpec("d"))
  rng = np.random.default_rng(len(shape))
  y_true = _multi_hot(rng, shape, 0.2)
  y_pred = _special(rng, shape)
  # One weight per row (per sample on a rank-1 batch).
  weights = rng.uniform(0, 2, shape[:-1] or shape).astype(np.float32)
  put = lambda x: jax.device_put(x, rows)
  for metric, theirs in ((cm.Precision(top_k=3), keras.metrics.Precision(top_k=3)),
                         (cm.Recall(top_k=2, thresholds=[0.1, 0.7]),
                          keras.metrics.Recall(top_k=2, thresholds=[0.1, 0.7]))):
    theirs.update_state(y_true, y_pred, sample_weight=weights)
    state = jax.jit(metric.update)(metric.init(), put(y_true), put(y_pred),
                                   put(weights))
    np.testing.assert_allclose(np.asarray(metric.compute(state)),
                               np.asarray(theirs.result()), rtol=1e-5, atol=1e-6)
  if len(shape) > 1:
    labels = rng.integers(-2, shape[-1] + 2, shape[:-1])
    metric = acc.SparseTopKCategoricalAccuracy(k=2)
    theirs = keras.metrics.SparseTopKCategoricalAccuracy(k=2)
    theirs.update_state(labels, y_pred, sample_weight=weights)
    state = jax.jit(metric.update)(metric.init(), put(labels), put(y_pred),
                                   put(weights))
    np.testing.assert_allclose(np.asarray(metric.compute(state)),
                               np.asarray(theirs.result()), rtol=1e-5, atol=1e-6)
