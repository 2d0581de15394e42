"""`Dice` against NumPy references written from its definition, in every mode.

The references build the one-hot truth and prediction arrays explicitly in
float64 and sum ``w t_c p_c``, ``w t_c`` and ``w p_c`` over all elements of
all batches: the textbook definition, not the gather/scatter kernels of the
implementation. Hard predictions are also cross-checked against
scikit-learn's F1 score, which Dice of hard labels equals.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import f1_score

from jmetrics._src.metrics.dice import Dice
from tests import harness

N = 16  # Batch size: divisible by the 8 devices of the pmap modes.


# -- the reference -------------------------------------------------------------


def _one_hot(ids, num_classes):
  """float64 one-hot; an id outside [0, C) gets an all-zero row."""
  ids = np.asarray(ids).astype(np.int64)
  return (ids[..., None] == np.arange(num_classes)).astype(np.float64)


def _element_weights(weight, shape):
  """Batch-first weights: a prefix of the element shape, broadcast to it."""
  if weight is None:
    return np.ones(shape)
  weight = np.asarray(weight, np.float64)
  if weight.ndim == len(shape) + 1 and weight.shape[-1] == 1:
    weight = weight[..., 0]
  weight = weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim))
  return np.broadcast_to(weight, shape)


def _batch_sums(metric, y_true, y_pred, weight):
  """``(I, T, P)`` of one batch in float64, by the definition."""
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  c = metric.num_classes
  if c is None:
    if y_pred.ndim == y_true.ndim + 1:
      y_pred = y_pred[..., 0]
    if y_true.ndim == y_pred.ndim + 1:
      y_true = y_true[..., 0]
    t, p = y_true.astype(np.float64), y_pred.astype(np.float64)
    keep = np.ones(t.shape, bool)
    if metric.ignore_class is not None:
      keep = y_true != metric.ignore_class
    w = _element_weights(weight, t.shape) * keep
    return np.sum(w * t * p), np.sum(w * t), np.sum(w * p)
  # Dense (..., C) arrays with the classes last.
  if metric.sparse_y_true:
    labels = y_true
    if not metric.sparse_y_pred and labels.ndim == y_pred.ndim:
      labels = np.squeeze(labels, metric.axis)
    labels = labels.astype(np.int64)
    t = _one_hot(labels, c)
    true_class = labels
    valid = (labels >= 0) & (labels < c)
  else:
    t = np.moveaxis(y_true, metric.axis, -1).astype(np.float64)
    true_class = np.argmax(t, axis=-1)
    valid = np.ones(t.shape[:-1], bool)
  if metric.sparse_y_pred:
    ids = y_pred.astype(np.int64)
    p = _one_hot(ids, c)
    valid &= (ids >= 0) & (ids < c)
  else:
    p = np.moveaxis(y_pred, metric.axis, -1).astype(np.float64)
  if metric.ignore_class is not None:
    valid &= true_class != metric.ignore_class
  w = (_element_weights(weight, valid.shape) * valid)[..., None]
  axes = tuple(range(t.ndim - 1))
  return (np.sum(w * t * p, axis=axes), np.sum(w * t, axis=axes),
          np.sum(w * p, axis=axes))


def _ratio(numerator, denominator):
  return numerator / denominator if denominator > 0 else 0.0


def reference_value(metric, inter, true, pred):
  """Dice from the totals: per class, then averaged as documented."""
  eps = metric.epsilon
  dice = np.where(true + pred + eps > 0,
                  2 * inter / np.maximum(true + pred + eps, 1e-300), 0.0)
  if metric.num_classes is None or metric.average is None:
    return dice
  counted = np.ones(metric.num_classes, bool)
  if metric.ignore_class in range(metric.num_classes):
    counted[metric.ignore_class] = False
  if metric.average == "micro":
    return _ratio(2 * inter[counted].sum(),
                  true[counted].sum() + pred[counted].sum() + eps)
  if metric.average == "macro":
    # Classes absent from both truth and prediction are left out.
    present = counted & (true + pred > 0)
    return dice[present].mean() if present.any() else 0.0
  return _ratio(np.sum(true[counted] * dice[counted]), true[counted].sum())


def reference(metric):
  def oracle(batches):
    totals = [_batch_sums(metric, *args, weight) for args, weight in batches]
    inter, true, pred = (sum(parts) for parts in zip(*totals))
    return reference_value(metric, inter, true, pred)
  return oracle


# -- inputs --------------------------------------------------------------------


def _mask(rng, shape, dtype=np.int32):
  return (rng.random(shape) < 0.4).astype(dtype)


def _probs(rng, shape, axis=-1):
  """Softmax-like probabilities along ``axis``, some exactly 0."""
  x = rng.exponential(size=shape)
  x[rng.random(shape) < 0.1] = 0.0
  x = x + 1e-3 * (x.sum(axis=axis, keepdims=True) == 0)
  return (x / x.sum(axis=axis, keepdims=True)).astype(np.float32)


def _labels(rng, shape, num_classes, void=(), void_rate=0.15):
  labels = rng.integers(0, num_classes, shape).astype(np.int32)
  if void:
    spots = rng.random(shape) < void_rate
    labels[spots] = rng.choice(np.asarray(void, np.int32), shape)[spots]
  return labels


def _one_hot_labels(rng, shape, num_classes, dtype=np.float32, axis=-1):
  dense = np.eye(num_classes, dtype=dtype)[rng.integers(0, num_classes, shape)]
  return np.moveaxis(dense, -1, axis)


def _weights(shape):
  """Weights of ``shape`` (per element or a batch-first prefix), some 0."""
  def make(rng, args):
    w = rng.uniform(0, 2, shape).astype(np.float32)
    w[rng.random(shape) < 0.2] = 0.0
    return w
  return make


def _case(case_id, metric, make, **kwargs):
  return harness.Case(case_id, metric, make, reference=reference(metric),
                      **kwargs)


# -- cases ---------------------------------------------------------------------

CASES = [
    # The seed's soft Dice, per-sample weights broadcast over the mask.
    _case("binary_soft_2d", Dice(),
          lambda rng, n: (_mask(rng, (n, 10)), rng.random((n, 10)).astype(np.float32))),
    # Hard 0/1 masks: the unweighted path counts in int32.
    _case("binary_hard_images_element_weights", Dice(average="micro"),
          lambda rng, n: (_mask(rng, (n, 6, 5)), _mask(rng, (n, 6, 5))),
          make_weights=_weights((N, 6, 5))),
    # (N, H, W) masks with void pixels (255) against (N, H, W, 1) sigmoid
    # maps; a large epsilon shows it sits in the denominator only.
    _case("binary_void_mask_vs_channel_epsilon",
          Dice(ignore_class=255, epsilon=1.0),
          lambda rng, n: (np.where(rng.random((n, 6, 6)) < 0.1, np.float32(255),
                                   _mask(rng, (n, 6, 6), np.float32)),
                          rng.random((n, 6, 6, 1)).astype(np.float32))),
    # Soft multi-class on images, weights per image row (a prefix shape).
    _case("soft_sparse_macro_images", Dice(num_classes=4),
          lambda rng, n: (_labels(rng, (n, 5, 6), 4), _probs(rng, (n, 5, 6, 4))),
          make_weights=_weights((N, 5))),
    # Out-of-range labels (-1, 255) are dropped without any ignore_class.
    _case("soft_sparse_micro_void_labels", Dice(num_classes=3, average="micro"),
          lambda rng, n: (_labels(rng, (n, 8), 3, void=(-1, 255)),
                          _probs(rng, (n, 8, 3)))),
    # Background ignored: dropped pixels and out of the average; labels
    # with a trailing channel of 1; per-pixel weights.
    _case("soft_sparse_weighted_ignore_background_trailing_one",
          Dice(num_classes=4, average="weighted", ignore_class=0),
          lambda rng, n: (_labels(rng, (n, 4, 4, 1), 4), _probs(rng, (n, 4, 4, 4))),
          make_weights=_weights((N, 4, 4))),
    # One-hot labels, channels first.
    _case("soft_onehot_per_class_channels_first",
          Dice(num_classes=3, average=None, sparse_y_true=False, axis=1),
          lambda rng, n: (_one_hot_labels(rng, (n, 4, 4), 3, axis=1),
                          _probs(rng, (n, 3, 4, 4), axis=1))),
    # Integer one-hot labels (exact counts) with an ignored class.
    _case("soft_onehot_int_macro_ignore_class",
          Dice(num_classes=4, sparse_y_true=False, ignore_class=2),
          lambda rng, n: (_one_hot_labels(rng, (n, 6), 4, np.int32),
                          _probs(rng, (n, 6, 4)))),
    # Classes 4 and 5 never occur: macro averages over 0..3 (3 is only
    # predicted, so it counts with Dice 0).
    _case("hard_sparse_macro_absent_classes",
          Dice(num_classes=6, sparse_y_pred=True),
          lambda rng, n: (_labels(rng, (n, 4, 4), 3), _labels(rng, (n, 4, 4), 4))),
    _case("hard_sparse_per_class_void_element_weights",
          Dice(num_classes=3, average=None, sparse_y_pred=True, ignore_class=255),
          lambda rng, n: (_labels(rng, (n, 5, 5), 3, void=(255,)),
                          _labels(rng, (n, 5, 5), 3, void=(-1,), void_rate=0.05)),
          make_weights=_weights((N, 5, 5))),
    _case("hard_sparse_weighted_ignore_class",
          Dice(num_classes=4, average="weighted", sparse_y_pred=True,
               ignore_class=1),
          lambda rng, n: (_labels(rng, (n, 12), 4), _labels(rng, (n, 12), 4))),
    _case("hard_onehot_micro_ignore_background",
          Dice(num_classes=3, average="micro", sparse_y_true=False,
               sparse_y_pred=True, ignore_class=0),
          lambda rng, n: (_one_hot_labels(rng, (n, 7), 3), _labels(rng, (n, 7), 3))),
    _case("hard_onehot_macro_channels_first_void_pred",
          Dice(num_classes=4, sparse_y_true=False, sparse_y_pred=True, axis=1),
          lambda rng, n: (_one_hot_labels(rng, (n, 3, 3), 4, axis=1),
                          _labels(rng, (n, 3, 3), 4, void=(-1, 9)))),
]
assert len(CASES) <= 15
ALGEBRA_IDS = ("binary_soft_2d", "soft_sparse_macro_images",
               "hard_sparse_per_class_void_element_weights")
ALGEBRA_CASES = [c for c in CASES if c.id in ALGEBRA_IDS]
assert len(ALGEBRA_CASES) == len(ALGEBRA_IDS)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_all_modes(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


# -- hard Dice is F1 -----------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_hard_dice_is_scikit_learn_f1(weighted):
  rng = np.random.default_rng(7)
  c = 5
  y_true = rng.integers(0, 4, (3, 32, 6))  # Class 4 never true ...
  y_pred = rng.integers(0, 4, (3, 32, 6))
  y_pred[0, :3, 0] = 4  # ... but predicted a few times.
  weights = rng.uniform(0, 2, (3, 32)) if weighted else None
  expected_kwargs = {}
  if weighted:
    expected_kwargs["sample_weight"] = np.repeat(weights, 6, axis=-1).ravel()
  flat_true, flat_pred = y_true.ravel(), y_pred.ravel()

  def ours(**kwargs):
    metric = Dice(num_classes=c, sparse_y_pred=True, epsilon=0, **kwargs)
    state = metric.init()
    for i in range(3):
      state = metric.update(state, y_true[i], y_pred[i],
                            None if weights is None else weights[i])
    return np.asarray(metric.compute(state))

  f1 = lambda **kw: f1_score(flat_true, flat_pred, labels=range(c),
                             zero_division=0, **expected_kwargs, **kw)
  per_class = f1(average=None)
  np.testing.assert_allclose(ours(average=None), per_class, rtol=1e-6)
  np.testing.assert_allclose(ours(average="weighted"), f1(average="weighted"),
                             rtol=1e-6)
  np.testing.assert_allclose(ours(average="micro"), f1(average="micro"),
                             rtol=1e-6)
  # All five classes occur in the truth or the predictions: plain macro F1.
  np.testing.assert_allclose(ours(average="macro"), f1(average="macro"),
                             rtol=1e-6)
  # Ignoring class 0 drops its pixels and its column from the averages,
  # which is F1 on the remaining pixels over labels 1..4.
  kept = flat_true != 0
  sub_kwargs = {}
  if weighted:
    sub_kwargs["sample_weight"] = expected_kwargs["sample_weight"][kept]
  for average in ("micro", "macro", "weighted"):
    expected = f1_score(flat_true[kept], flat_pred[kept], labels=range(1, c),
                        average=average, zero_division=0, **sub_kwargs)
    np.testing.assert_allclose(ours(average=average, ignore_class=0), expected,
                               rtol=1e-6, err_msg=average)


def test_binary_hard_masks_are_scikit_learn_f1():
  rng = np.random.default_rng(3)
  y_true, y_pred = _mask(rng, (4, 8, 8)), _mask(rng, (4, 8, 8))
  metric = Dice()
  np.testing.assert_allclose(float(metric(y_true, y_pred)),
                             f1_score(y_true.ravel(), y_pred.ravel()), rtol=1e-6)


def test_soft_dice_with_one_hot_and_sparse_labels_agree():
  # The gather of p[label] equals the one-hot product it replaces.
  rng = np.random.default_rng(5)
  labels = _labels(rng, (N, 5, 5), 4)
  probs = _probs(rng, (N, 5, 5, 4))
  weight = rng.uniform(0, 2, (N,)).astype(np.float32)
  for average in (None, "micro", "macro", "weighted"):
    sparse = Dice(num_classes=4, average=average)
    dense = Dice(num_classes=4, average=average, sparse_y_true=False)
    np.testing.assert_allclose(
        np.asarray(sparse(labels, probs, sample_weight=weight)),
        np.asarray(dense(np.eye(4, dtype=np.float32)[labels], probs,
                         sample_weight=weight)), rtol=1e-6)


# -- accumulation --------------------------------------------------------------


def test_accumulated_dice_is_not_the_mean_of_batch_dice():
  # Batch A: a large object, mostly found (I=3, T=4, P=3: Dice 6/7).
  # Batch B: a one-pixel object, missed (I=0, T=1, P=1: Dice 0).
  batch_a = ([[1, 1, 1, 1]], [[1, 1, 1, 0]])
  batch_b = ([[1, 0, 0, 0]], [[0, 1, 0, 0]])
  metric = Dice(epsilon=0)
  state = metric.update(metric.update(metric.init(), *batch_a), *batch_b)
  accumulated = float(metric.compute(state))
  assert accumulated == pytest.approx(2 * 3 / (5 + 4))  # 0.667, all pixels
  per_batch_mean = (float(metric(*batch_a)) + float(metric(*batch_b))) / 2
  assert per_batch_mean == pytest.approx((6 / 7 + 0) / 2)  # 0.429
  assert abs(accumulated - per_batch_mean) > 0.2
  # The accumulated value does not depend on how the pixels were batched;
  # the per-batch mean does.
  one_batch = ([[1, 1, 1, 1, 1, 0, 0, 0]], [[1, 1, 1, 0, 0, 1, 0, 0]])
  assert float(metric(*one_batch)) == pytest.approx(accumulated)


def test_accumulated_macro_dice_spans_batches():
  # Class 1 appears only in the first batch, class 2 only in the second:
  # the macro average is over both, not over each batch's classes.
  metric = Dice(num_classes=3, sparse_y_pred=True, epsilon=0)
  state = metric.update(metric.init(), [0, 1, 1, 0], [0, 1, 0, 0])
  state = metric.update(state, [0, 2, 2, 2], [0, 2, 2, 0])
  # Class 0: I=3 (positions 0, 3, 4), T=3, P=5 -> 6/8; class 1: 2/3;
  # class 2: I=2, T=3, P=2 -> 4/5.
  expected = (6 / 8 + 2 / 3 + 4 / 5) / 3
  assert float(metric.compute(state)) == pytest.approx(expected, rel=1e-6)


# -- exactness -----------------------------------------------------------------


def _exact(total) -> list:
  return [int(h) + int(l) for h, l in zip(
      np.atleast_1d(np.asarray(total.hi, np.float64)),
      np.atleast_1d(np.asarray(total.lo, np.float64)))]


def test_hard_counts_stay_exact_past_2_pow_24():
  assert np.float32(2**25) + np.float32(1) == np.float32(2**25)  # float32 stalls
  metric = Dice(num_classes=2, average=None, sparse_y_pred=True)
  update = jax.jit(metric.update)
  ones = jnp.ones((2**22,), jnp.int8)  # 4M pixels of class 1, all found
  state = metric.init()
  for _ in range(5):
    state = update(state, ones, ones)  # 2**24 + 2**22 pixels
  state = jax.jit(metric.merge)(state, state)  # 2**25 + 2**23
  state = update(state, np.array([1, 1, 0]), np.array([1, 0, 0]))
  big = 2**25 + 2**23
  assert _exact(state.intersection) == [1, big + 1]
  assert _exact(state.true_sum) == [1, big + 2]
  assert _exact(state.pred_sum) == [2, big + 1]
  np.testing.assert_allclose(np.asarray(metric.compute(state))[1],
                             2 * (big + 1) / (2 * big + 3 + 1e-7), rtol=1e-7)


def test_binary_and_soft_counts_stay_exact_past_2_pow_24():
  # Integer masks in the binary mode, integer labels in the soft mode: the
  # counts are int32 per batch and exact across batches and merges.
  binary = Dice()
  state = binary.update(binary.init(), np.ones((1024, 1024), np.int32),
                        np.ones((1024, 1024), np.int32))
  merge = jax.jit(binary.merge)
  for _ in range(5):  # 2**25
    state = merge(state, state)
  state = binary.update(state, [[1, 1, 0]], [[1, 0, 1]])
  assert _exact(state.intersection) == [2**25 + 1]
  assert _exact(state.true_sum) == [2**25 + 2]
  assert _exact(state.pred_sum) == [2**25 + 2]

  soft = Dice(num_classes=2, average=None)
  labels = np.ones((1024, 1024), np.int32)
  probs = np.zeros((1024, 1024, 2), np.float32)
  probs[..., 1] = 1.0
  state = soft.update(soft.init(), labels, probs)
  merge = jax.jit(soft.merge)
  for _ in range(5):
    state = merge(state, state)
  state = soft.update(state, [0, 1, 1], [[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]])
  assert _exact(state.true_sum) == [1, 2**25 + 2]
  # Sums of probabilities are floats, but the Wide pair keeps them too.
  assert float(state.intersection.hi[1]) + float(state.intersection.lo[1]) == (
      2**25 + 0.75)


# -- empty state, results, configuration ---------------------------------------

EMPTY = [Dice(), Dice(average="weighted"), Dice(num_classes=3),
         Dice(num_classes=3, average="micro"),
         Dice(num_classes=3, average="weighted"),
         Dice(num_classes=3, average=None, sparse_y_pred=True),
         Dice(num_classes=3, ignore_class=1, epsilon=0)]


@pytest.mark.parametrize("metric", EMPTY, ids=[str(i) for i in range(len(EMPTY))])
def test_empty_state_computes_zero(metric):
  for compute in (metric.compute, jax.jit(metric.compute)):
    value = np.asarray(compute(metric.init()))
    assert value.shape == ((3,) if metric.average is None else ())
    assert not value.any() and np.isfinite(value).all()
  # Only zero weights: still nothing seen.
  if metric.num_classes is None:
    args = ([[1, 0]], [[0.5, 0.5]])
  elif metric.sparse_y_pred:
    args = ([[1, 0]], [[1, 2]])
  else:
    args = ([[1, 0]], [[[0.2, 0.3, 0.5]] * 2])
  state = metric.update(metric.init(), *args, sample_weight=[0.0])
  assert not np.asarray(metric.compute(state)).any()


def test_absent_classes_leave_the_macro_average():
  # Class 2 never occurs: macro is the mean over classes 0 and 1 only,
  # and the per-class vector reports 0 for it.
  y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 1]
  per_class = Dice(num_classes=3, average=None, sparse_y_pred=True, epsilon=0)
  np.testing.assert_allclose(np.asarray(per_class(y_true, y_pred)),
                             [2 / 3, 4 / 5, 0.0], rtol=1e-6)
  macro = Dice(num_classes=3, sparse_y_pred=True, epsilon=0)
  assert float(macro(y_true, y_pred)) == pytest.approx((2 / 3 + 4 / 5) / 2)
  # A zero-weighted occurrence does not make a class present.
  state = macro.update(macro.init(), [2], [2], sample_weight=[0.0])
  state = macro.update(state, y_true, y_pred)
  assert float(macro.compute(state)) == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_ignored_class_keeps_its_predictions_out_of_the_averages():
  # Background (0) ignored with soft predictions: its probability mass
  # would otherwise count as a class with Dice 0 in every average.
  labels = np.array([[0, 1, 2, 0]])
  probs = np.array([[[0.8, 0.1, 0.1], [0.2, 0.8, 0.0], [0.1, 0.1, 0.8],
                     [0.9, 0.1, 0.0]]], np.float32)
  per_class = Dice(num_classes=3, average=None, ignore_class=0, epsilon=0)
  # Pixels 1 and 2 remain. Class 1: I=0.8, T=1, P=0.9; class 2: I=0.8, T=1,
  # P=0.8; class 0: T=0 -> 0.
  expected = [0.0, 1.6 / 1.9, 1.6 / 1.8]
  np.testing.assert_allclose(np.asarray(per_class(labels, probs)), expected,
                             rtol=1e-6)
  macro = Dice(num_classes=3, ignore_class=0, epsilon=0)
  assert float(macro(labels, probs)) == pytest.approx(sum(expected) / 2, rel=1e-6)
  micro = Dice(num_classes=3, average="micro", ignore_class=0, epsilon=0)
  assert float(micro(labels, probs)) == pytest.approx(3.2 / (2 + 1.7), rel=1e-6)


def test_float_labels_out_of_range_are_dropped_not_truncated():
  # -0.5 would truncate to class 0; it is outside [0, C) and dropped.
  y_true = np.array([0.0, 1.0, -0.5, 2.5], np.float32)
  hard = Dice(num_classes=2, average=None, sparse_y_pred=True, epsilon=0)
  np.testing.assert_allclose(np.asarray(hard(y_true, [0.0, 1.0, 0.0, 1.0])),
                             [1.0, 1.0])
  np.testing.assert_allclose(np.asarray(hard([0, 1, 0, 1], y_true)), [1.0, 1.0])
  soft = Dice(num_classes=2, average=None, epsilon=0)
  probs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
  np.testing.assert_allclose(np.asarray(soft(y_true, probs)), [1.0, 1.0])


def test_binary_averages_agree_and_epsilon_is_in_the_denominator():
  y_true, y_pred = [[1, 0, 1]], [[0.5, 0.5, 1.0]]
  values = [float(Dice(average=a)(y_true, y_pred))
            for a in ("micro", "macro", "weighted")]
  assert values == pytest.approx([2 * 1.5 / 4] * 3, rel=1e-6)
  assert float(Dice(epsilon=2.0)(y_true, y_pred)) == pytest.approx(3 / 6)
  # The seed's DiceCoefficient: 2 I / (T + P + 1e-7) of the same batch.
  t, p = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
  seed = 2.0 * np.sum(t * p) / (np.sum(t) + np.sum(p) + 1e-7)
  assert float(Dice()(y_true, y_pred)) == pytest.approx(float(seed), rel=1e-6)


def test_per_sample_weights_broadcast_over_trailing_axes():
  rng = np.random.default_rng(11)
  y_true, y_pred = _mask(rng, (8, 3, 4)), rng.random((8, 3, 4)).astype(np.float32)
  w = rng.uniform(0, 2, (8,)).astype(np.float32)
  metric = Dice()
  per_sample = float(metric(y_true, y_pred, sample_weight=w))
  per_element = float(metric(
      y_true, y_pred, sample_weight=np.broadcast_to(w[:, None, None], (8, 3, 4))))
  column = float(metric(y_true, y_pred, sample_weight=w[:, None]))
  assert per_sample == pytest.approx(per_element, rel=1e-6)
  assert column == pytest.approx(per_sample, rel=1e-6)
  assert float(metric(y_true, y_pred, sample_weight=3.0)) == pytest.approx(
      float(metric(y_true, y_pred)), rel=1e-6)


def test_config_is_hashable_and_shares_compilations():
  a = Dice(num_classes=3, average=None, ignore_class=np.int64(255))
  b = Dice(num_classes=3, average=None, ignore_class=255)
  assert a == b and hash(a) == hash(b) and a.ignore_class == 255
  assert a != Dice(num_classes=3)
  assert Dice().name == "dice" and Dice(name="val_dice").name == "val_dice"
  assert Dice().epsilon == 1e-7 and Dice().average == "macro"
  traces = []

  @jax.jit
  def step(metric, state, y_true, y_pred):
    traces.append(metric)
    return metric.update(state, y_true, y_pred)

  state = step(a, a.init(), jnp.zeros((4,), jnp.int32), jnp.ones((4, 3)) / 3)
  step(b, state, jnp.zeros((4,), jnp.int32), jnp.ones((4, 3)) / 3)
  assert len(traces) == 1
  shapes = {leaf.shape for leaf in jax.tree.leaves(a.init())}
  assert shapes == {(3,)}
  assert {leaf.shape for leaf in jax.tree.leaves(Dice().init())} == {()}


def test_dtype_sets_the_result_dtype():
  assert Dice(dtype="float16")([[1, 0]], [[0.5, 0.5]]).dtype == jnp.float16
  m = Dice(num_classes=2, average=None, dtype="bfloat16")
  assert m.compute(m.init()).dtype == jnp.bfloat16


def _sizes(metric, *args):
  jaxpr = jax.make_jaxpr(metric.update)(metric.init(), *args)
  return [int(np.prod(v.aval.shape)) for eqn in jaxpr.jaxpr.eqns
          for v in eqn.outvars]


def test_update_builds_no_one_hot_arrays():
  n, c = 4096, 8
  labels = jnp.zeros((n,), jnp.int32)
  probs = jnp.zeros((n, c), jnp.float32)
  weights = jnp.ones((n,), jnp.float32)
  # Hard predictions: nothing of N x C, let alone N x C x C.
  sizes = _sizes(Dice(num_classes=c, sparse_y_pred=True), labels, labels, weights)
  assert max(sizes) < n * c
  # Soft predictions with integer labels: the intersection is a gather, so
  # the only N x C intermediate is the (weighted or masked) y_pred that the
  # predicted sums read; a one-hot would add more.
  for w in (None, weights):
    sizes = _sizes(Dice(num_classes=c, ignore_class=0), labels, probs, w)
    assert max(sizes) <= n * c
    assert sum(s >= n * c for s in sizes) <= 1, sorted(sizes)[-4:]


# -- errors --------------------------------------------------------------------

CONSTRUCTION_ERRORS = [
    (lambda: Dice(num_classes=0),
     r"Dice: num_classes must be an integer >= 1 or None, got 0"),
    (lambda: Dice(num_classes=2.0),
     r"Dice: num_classes must be an integer >= 1 or None, got 2.0"),
    (lambda: Dice(num_classes=True),
     r"Dice: num_classes must be an integer >= 1 or None, got True"),
    (lambda: Dice(num_classes=3, average="mean"),
     r"Dice: average must be one of None, 'micro', 'macro', 'weighted', "
     r"got 'mean'"),
    (lambda: Dice(average=None),
     r"Dice: average=None gives one Dice per class and needs num_classes"),
    (lambda: Dice(ignore_class=0.5),
     r"Dice: ignore_class must be an integer or None, got 0.5"),
    (lambda: Dice(sparse_y_pred=True),
     r"Dice: sparse_y_pred=True needs num_classes"),
    (lambda: Dice(sparse_y_true=False),
     r"Dice: sparse_y_true=False needs num_classes"),
    (lambda: Dice(axis=1), r"Dice: axis=1 needs num_classes"),
    (lambda: Dice(num_classes=3, sparse_y_true="no"),
     r"Dice: sparse_y_true must be a bool, got 'no'"),
    (lambda: Dice(num_classes=3, axis=1.0),
     r"Dice: axis must be an integer, got 1.0"),
    (lambda: Dice(epsilon=-1e-7),
     r"Dice: epsilon must be a finite number >= 0, got -1e-07"),
    (lambda: Dice(epsilon=float("nan")),
     r"Dice: epsilon must be a finite number >= 0, got nan"),
    (lambda: Dice(epsilon="1e-7"),
     r"Dice: epsilon must be a finite number >= 0, got '1e-7'"),
    (lambda: Dice(dtype="int32"),
     r"Dice: dtype must be a floating dtype or None, got 'int32'"),
]


@pytest.mark.parametrize("make,message", CONSTRUCTION_ERRORS,
                         ids=[str(i) for i in range(len(CONSTRUCTION_ERRORS))])
def test_construction_errors(make, message):
  with pytest.raises(ValueError, match=message):
    make()


UPDATE_ERRORS = [
    (Dice(), (8, 3), (8, 2), None,
     r"Dice: expected y_true and y_pred of the same shape, got y_true \(8, 3\) "
     r"and y_pred \(8, 2\)"),
    (Dice(), (), (), None,
     r"Dice: expected y_pred with at least 1 dimension\(s\), got shape \(\)"),
    (Dice(num_classes=3), (8, 4), (8, 4, 4), None,
     r"Dice: expected 3 \(num_classes\) entries on axis -1 of the dense inputs, "
     r"got y_true \(8, 4\) and y_pred \(8, 4, 4\)"),
    (Dice(num_classes=3), (8, 5), (8, 4, 3), None,
     r"Dice: expected sparse y_true of shape \(8, 4\) \(the dense input without "
     r"its class axis -1\), got y_true \(8, 5\) and y_pred \(8, 4, 3\)"),
    (Dice(num_classes=3, axis=2), (8,), (8, 3), None,
     r"Dice: axis=2 is out of range for the inputs, got y_true \(8,\) and "
     r"y_pred \(8, 3\)"),
    (Dice(num_classes=3), (), (3,), None,
     r"Dice: expected the dense input with at least 2 dimension\(s\), got "
     r"shape \(3,\)"),
    (Dice(num_classes=3, sparse_y_true=False), (8, 2, 3), (8, 3), None,
     r"Dice: expected y_true and y_pred of the same shape, got y_true "
     r"\(8, 2, 3\) and y_pred \(8, 3\)"),
    (Dice(num_classes=3, sparse_y_pred=True), (8,), (9,), None,
     r"Dice: expected y_true and y_pred of the same shape, got y_true \(8,\) "
     r"and y_pred \(9,\)"),
    (Dice(num_classes=3, sparse_y_true=False, sparse_y_pred=True), (8, 3), (8, 3),
     None,
     r"Dice: expected sparse y_pred of shape \(8,\) \(the dense input without "
     r"its class axis -1\), got y_true \(8, 3\) and y_pred \(8, 3\)"),
    (Dice(), (8, 4), (8, 4), (4,),
     r"Dice: sample_weight of shape \(4,\) does not fit the elements of shape "
     r"\(8, 4\)"),
    (Dice(num_classes=3), (8, 4), (8, 4, 3), (8, 4, 3),
     r"Dice: sample_weight of shape \(8, 4, 3\) does not fit the elements of "
     r"shape \(8, 4\)"),
    (Dice(num_classes=3, sparse_y_pred=True), (8, 4), (8, 4), (8, 2),
     r"Dice: sample_weight of shape \(8, 2\) does not fit the elements of "
     r"shape \(8, 4\)"),
]


@pytest.mark.parametrize("metric,true_shape,pred_shape,weight_shape,message",
                         UPDATE_ERRORS,
                         ids=[str(i) for i in range(len(UPDATE_ERRORS))])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_update_errors(metric, true_shape, pred_shape, weight_shape, message, jit):
  y_true = np.zeros(true_shape, np.int32)
  y_pred = np.zeros(pred_shape, np.float32)
  weight = None if weight_shape is None else np.ones(weight_shape, np.float32)
  update = jax.jit(metric.update) if jit else metric.update
  with pytest.raises(ValueError, match=message):
    update(metric.init(), y_true, y_pred, weight)
