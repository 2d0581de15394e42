"""F-scores (Keras 3's `FBetaScore`, `F1Score`) and a mergeable `WeightedPrecision`.

`FBetaScore` and `F1Score` follow ``keras.metrics.FBetaScore`` and
``keras.metrics.F1Score`` exactly: the same constructor (plus ``num_classes``,
see below), the same binarisation of ``y_pred``, the same sample weighting
and the same epsilon-guarded formula, so results match Keras batch for batch.

Per class ``c`` the state holds three exact `Wide` totals,

* ``TP_c = sum_i w_i * y_true[i, c] * pred[i, c]`` (true positives),
* ``PP_c = sum_i w_i * pred[i, c]`` (predicted positives, ``TP + FP``),
* ``S_c = sum_i w_i * y_true[i, c]`` (support, ``TP + FN``; Keras'
  ``intermediate_weights``),

where ``pred`` is 1 where ``y_pred > threshold`` or, with ``threshold=None``,
where ``y_pred`` equals its row maximum and ``|y_pred| > 1e-9`` (ties all
count; an all-zero row predicts nothing). Keras keeps ``FP`` and ``FN`` in
separate variables; ``PP`` and ``S`` hold the same information in three
totals instead of four, and read the inputs once. Unweighted updates
with integer or boolean labels (and the default dtype) count in int32 and add
exactly, so counts stay exact far past 2**24 samples; every state merges by summation, so
``merge`` of per-shard states equals one run over all the data.

``num_classes``: Keras creates its per-class variables from the last axis
of the first ``y_pred`` it sees. A jmetrics state has a fixed shape that
``init()`` builds without data, so ``num_classes`` is a keyword-only
argument, required (a ``ValueError`` at construction names it) whenever the
state is per class (``average`` ``None``, ``"macro"`` or ``"weighted"``). With
``average="micro"`` the state is three scalars and ``num_classes`` is
optional; when given, it is checked against the inputs too.

`WeightedPrecision` is the example metric of a popular tutorial done right;
see its docstring for the definition and what the tutorial's version
computes instead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src import kernels
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import weighting
from jmetrics._src.numerics import wide

_F32 = jnp.float32
EPSILON = 1e-7  # Keras' backend.epsilon(), in the same places as Keras.
_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScoreState(NamedTuple):
  """Running per-class totals of `FBetaScore` and `F1Score`.

  Every field has shape ``(num_classes,)``, or ``()`` for ``average="micro"``
  (totals over all classes, as Keras keeps them).
  """

  true_positives: wide.Wide  # float32[C] or float32[] pair: sum of w * y_true * pred.
  predicted_positives: wide.Wide  # same shape: sum of w * pred (TP + FP).
  support: wide.Wide  # same shape: sum of w * y_true (TP + FN).


F1ScoreState = FBetaScoreState


class _FScore(base.Metric):
  """The shared implementation; the subclasses only declare their fields."""

  average: Any
  beta: float
  threshold: Any
  dtype: Any
  num_classes: Any

  config_checks = {
      "average": base.choice(
          _AVERAGES, message="Invalid `average` argument value. Expected one "
          "of: {{None, 'micro', 'macro', 'weighted'}}. Received: "
          "average={value!r}"),
      # Keras demands a Python float; an int (beta=2) is accepted here and
      # means the same number. NaN and inf pass Keras' check but produce NaN
      # scores. (F1Score's beta is a fixed property, not a field.)
      "beta": base.real(
          low=0.0, low_open=True, finite=True, normalise=float,
          type_message="Invalid `beta` argument value. It should be a real "
          "number. Received: beta={value!r} of type {type}",
          message="Invalid `beta` argument value. It should be > 0 and finite. "
          "Received: beta={value!r}"),
      # Keras' range, (0, 1]; NaN is rejected too, which Keras lets through.
      "threshold": base.real(
          low=0.0, low_open=True, high=1.0, optional=True, normalise=float,
          type_message="Invalid `threshold` argument value. It should be a "
          "real number or None. Received: threshold={value!r} of type {type}",
          message="Invalid `threshold` argument value. It should verify "
          "0 < threshold <= 1. Received: threshold={value!r}"),
      "num_classes": base.integer(
          minimum=1, optional=True,
          message="num_classes must be an integer >= 1 or None, got {value!r}"),
      "dtype": base.floating_dtype(),
  }

  def label_domain(self, y_true, y_pred):
    """Labels in ``[0, 1]``."""
    return base.LabelDomain(1.0)

  def validate(self):
    if self.num_classes is None and self.average != "micro":
      raise self.error(
          f"num_classes is required with average={self.average!r}: the "
          "state holds one total per class and has a fixed size, so it "
          "cannot be built from the first batch as Keras does "
          f"(e.g. {type(self).__name__}(..., num_classes=10))")

  def mask_weight(self, mask, inputs, sample_weight):
    """Row weights of shape ``(batch,)``, the only per-row shape `update` takes."""
    return base.row_weight(mask, sample_weight, 1)

  # -- state ------------------------------------------------------------------

  def _shape(self) -> tuple:
    return () if self.average == "micro" else (self.num_classes,)

  def init(self) -> FBetaScoreState:
    return FBetaScoreState(*(wide.wide_zeros(self._shape()) for _ in range(3)))

  def _check_inputs(self, y_true, y_pred, sample_weight):
    shapes = (f"y_true {checks.shape_of(y_true)} and y_pred "
              f"{checks.shape_of(y_pred)}")
    if np.ndim(y_true) != 2 or np.ndim(y_pred) != 2:
      raise self.error("expected 2D inputs of shape (batch_size, num_classes), "
                       f"got {shapes}")
    checks.check_same_shape(self, y_true, y_pred)
    if self.num_classes is not None and np.shape(y_pred)[-1] != self.num_classes:
      raise self.error(f"expected y_pred.shape[-1] == num_classes = "
                       f"{self.num_classes}, got {shapes}")
    if sample_weight is not None:
      # Keras multiplies by expand_dims(sample_weight, 1): only one weight
      # per row (or one for all) is meaningful; (N, 1) weights would silently
      # become an (N, N, C) product there.
      batch = (np.shape(y_pred)[0],)
      if np.ndim(sample_weight) > 1:
        raise self.error(f"expected sample_weight of shape (batch_size,) = "
                         f"{batch} or a scalar, got shape "
                         f"{checks.shape_of(sample_weight)}")
      checks.check_broadcast(self, "sample_weight", sample_weight, batch)

  def update(self, state: FBetaScoreState, y_true, y_pred,
             sample_weight=None) -> FBetaScoreState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: labels of shape ``(batch_size, num_classes)``: one-hot,
        multi-label 0/1, or soft labels (used as given, as in Keras).
      y_pred: scores of the same shape.
      sample_weight: ``None``, a scalar, or one weight per row,
        ``(batch_size,)``.

    Returns:
      The new state.

    Raises:
      ValueError: at trace time, if the inputs are not 2D of one shape, the
        last axis is not ``num_classes`` or ``sample_weight`` has another
        shape.
    """
    self._check_inputs(y_true, y_pred, sample_weight)
    # Keras converts both inputs to the metric's dtype before comparing; doing
    # the same keeps ties and thresholds identical (float16 included).
    compute_dtype = _F32 if self.dtype is None else self.dtype
    y_true = jnp.asarray(y_true)
    scores = jnp.asarray(y_pred).astype(compute_dtype)
    if self.threshold is None:
      row_max = jnp.max(scores, axis=-1, keepdims=True)
      # Every class tied at the maximum counts, but an all-zero row is not
      # turned into an all-positive one.
      predicted = (scores >= row_max) & (jnp.abs(scores) > 1e-9)
    else:
      predicted = scores > self.threshold
    axis = None if self.average == "micro" else 0

    exact = (sample_weight is None and self.dtype is None and
             (jnp.issubdtype(y_true.dtype, jnp.integer) or
              y_true.dtype == jnp.bool_))
    if exact:
      # 0/1 predictions times integer labels: int32 totals, added exactly.
      pred = predicted.astype(jnp.int32)
      true = y_true.astype(jnp.int32)
      increments = (jnp.sum(pred * true, axis=axis), jnp.sum(pred, axis=axis),
                    jnp.sum(true, axis=axis))
      return FBetaScoreState(*(wide.wide_add_int(total, inc)
                               for total, inc in zip(state, increments)))

    pred = predicted.astype(_F32)
    true = y_true.astype(compute_dtype).astype(_F32)
    if sample_weight is not None:
      weight = jnp.asarray(sample_weight).astype(compute_dtype).astype(_F32)
      weight = jnp.broadcast_to(weight, pred.shape[:1])[:, None]
      weighted_pred = weighting.times_weight(pred, weight)
      weighted_true = weighting.times_weight(true, weight)
    else:
      weighted_pred, weighted_true = pred, true
    increments = (jnp.sum(weighted_pred * true, axis=axis),
                  jnp.sum(weighted_pred, axis=axis),
                  jnp.sum(weighted_true, axis=axis))
    return FBetaScoreState(*(wide.wide_add(total, inc)
                             for total, inc in zip(state, increments)))

  def compute(self, state: FBetaScoreState) -> jax.Array:
    """The F-beta score: per class for ``average=None``, else a scalar.

    Keras' formula, epsilon for epsilon, in float32 and then cast to
    ``dtype``; an empty state (or a class never seen nor predicted) gives 0.
    """
    tp, predicted, support = (wide.wide_value(total) for total in state)
    precision = tp / (predicted + EPSILON)
    recall = tp / (support + EPSILON)
    b2 = self.beta ** 2
    score = (precision * recall) / (b2 * precision + recall + EPSILON)
    score = score * (1.0 + b2)
    if self.average == "weighted":
      weights = support / (jnp.sum(support) + EPSILON)
      score = jnp.sum(score * weights)
    elif self.average is not None:  # "micro" (already a scalar) and "macro".
      score = jnp.mean(score)
    return self.result_dtype(score)


@base.metric_dataclass
class FBetaScore(_FScore):
  """The F-beta score, as ``keras.metrics.FBetaScore``.

  ``F = (1 + beta**2) * P * R / (beta**2 * P + R)``, the weighted harmonic
  mean of precision ``P`` and recall ``R``, for multi-class (one-hot) and
  multi-label inputs of shape ``(batch_size, num_classes)``. ``y_pred`` is
  binarised per element: above ``threshold``, or (``threshold=None``) equal to
  its row's maximum and nonzero, so tied maxima all count as predicted.

  Args:
    average: ``None`` (one score per class), ``"micro"`` (the score of the
      totals over all classes), ``"macro"`` (the unweighted mean of the
      per-class scores) or ``"weighted"`` (their mean weighted by support).
    beta: weight of recall in the harmonic mean; a number > 0 (Keras requires
      a Python float; integers are accepted here).
    threshold: ``None`` (argmax, see above) or a number in ``(0, 1]``.
    name: key of the metric in collections and logs.
    dtype: floating dtype of the result; as in Keras, inputs are rounded to
      it before thresholding (float32 if ``None``). Totals are float32
      `Wide` pairs and the formula runs in float32 whatever the dtype.
    num_classes: keyword-only: size of the last axis of the inputs. Required
      unless ``average="micro"`` (see the module docstring).

  Raises:
    ValueError: at construction, for an unknown ``average``, ``beta`` <= 0 or
      not finite, ``threshold`` outside ``(0, 1]``, a missing or invalid
      ``num_classes`` or a non-floating ``dtype``; message prefixed
      ``FBetaScore:``.

  Examples:
    The example of Keras' docstring:

    >>> import numpy as np
    >>> from jmetrics import FBetaScore
    >>> m = FBetaScore(beta=2.0, threshold=0.5, num_classes=3)
    >>> y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32)
    >>> y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]],
    ...                   np.float32)
    >>> state = m.update(m.init(), y_true, y_pred)
    >>> [round(x, 6) for x in m.compute(state).tolist()]
    [0.384615, 0.909091, 0.833333]

    Micro averaging needs no ``num_classes``; states merge exactly:

    >>> m = FBetaScore(average="micro", beta=0.5, threshold=0.5)
    >>> a = m.update(m.init(), y_true[:2], y_pred[:2])
    >>> b = m.update(m.init(), y_true[2:], y_pred[2:])
    >>> round(float(m.compute(m.merge(a, b))), 6)
    0.666667
    >>> float(m.compute(m.init()))
    0.0
  """

  average: Any = None
  beta: float = 1.0
  threshold: Any = None
  name: str = "fbeta_score"
  dtype: Any = None
  _: dataclasses.KW_ONLY
  num_classes: Any = None


@base.metric_dataclass
class F1Score(_FScore):
  """The F1 score, as ``keras.metrics.F1Score``: `FBetaScore` with ``beta=1``.

  ``F1 = 2 * P * R / (P + R)``, the harmonic mean of precision and recall;
  see `FBetaScore` for the inputs, the binarisation of ``y_pred`` and the
  averages.

  Args:
    average: ``None``, ``"micro"``, ``"macro"`` or ``"weighted"``.
    threshold: ``None`` (argmax) or a number in ``(0, 1]``.
    name: key of the metric in collections and logs.
    dtype: floating dtype of the result (float32 if ``None``).
    num_classes: keyword-only: size of the last axis of the inputs. Required
      unless ``average="micro"``.

  Raises:
    ValueError: at construction, for an invalid configuration (message
      prefixed ``F1Score:``).

  Examples:
    The example of Keras' docstring:

    >>> import numpy as np
    >>> from jmetrics import F1Score
    >>> m = F1Score(threshold=0.5, num_classes=3)
    >>> y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32)
    >>> y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]],
    ...                   np.float32)
    >>> [round(x, 6) for x in m(y_true, y_pred).tolist()]
    [0.5, 0.8, 0.666667]
    >>> m = F1Score(average="macro", threshold=0.5, num_classes=3)
    >>> round(float(m(y_true, y_pred, sample_weight=[1.0, 0.0, 1.0])), 6)
    0.888889
  """

  average: Any = None
  threshold: Any = None
  name: str = "f1_score"
  dtype: Any = None
  _: dataclasses.KW_ONLY
  num_classes: Any = None

  @property
  def beta(self) -> float:
    return 1.0


# -- WeightedPrecision -----------------------------------------------------------


class WeightedPrecisionState(NamedTuple):
  """Running per-class totals of `WeightedPrecision`."""

  true_positives: wide.Wide  # float32[C] pair: weight of rows predicted c, labelled c.
  predicted_positives: wide.Wide  # float32[C] pair: weight of rows predicted c.


@base.metric_dataclass
class WeightedPrecision(base.Metric):
  """Class-weighted mean of per-class precision over all data seen.

  Definition: with ``pred = argmax(y_pred, -1)`` (the first index on ties),
  per class ``c``

  * ``TP_c`` = total sample weight of rows with ``pred == c`` and
    ``y_true == c``,
  * ``PP_c`` = total sample weight of rows with ``pred == c``,
  * ``precision_c = TP_c / PP_c``, or 0 if ``c`` was never predicted
    (scikit-learn's ``zero_division=0``),

  and the result is ``sum_c w_c * precision_c / sum_c w_c`` for the
  ``class_weights`` ``w``. It equals ``precision_score(y_true, pred,
  labels=range(C), average=None, sample_weight=..., zero_division=0)``
  averaged with weights ``w``. A class never predicted still counts in the
  denominator, with precision 0. Labels outside ``[0, C)`` (or non-integer
  float labels) match no class, so their rows are false positives of the
  predicted class; checking label values is left to the caller, as values
  are never inspected on the default path.

  The state is the two per-class totals, fixed in size by
  ``len(class_weights)``, so states of different batches or devices merge by
  summation and the merged value is exactly that of one run over all the
  data.

  Why the tutorial's ``WeightedPrecision`` (the Keras ``Metric`` subclass
  this replaces) is wrong: it accumulates ``sum_i [y_i == pred_i] *
  w[y_i]`` over ``sum_i w[y_i]``, i.e. ``sum_c w_c TP_c / sum_c w_c S_c`` with
  ``S_c`` the support of class ``c``. Both sums are indexed by the *true*
  class, so false positives never enter: it is a class-weighted accuracy (a
  support-and-weight weighted mean of per-class *recall*), not precision.
  Precision needs, per class, the number of rows *predicted* as that class,
  and no pair of scalar totals can hold those; the usual workaround of
  averaging a per-batch weighted precision (``keras.metrics.Mean`` over
  batch values) is not mergeable either, because a mean of per-batch ratios
  is not the ratio of the totals. Its ``result`` also branches in Python on
  a tensor (not traceable) and it ignores ``sample_weight``.

  Args:
    class_weights: one weight per class, non-negative and finite, with a
      positive sum; its length is the number of classes.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Raises:
    ValueError: at construction for invalid ``class_weights``; at trace time
      when ``y_pred``'s last axis is not ``len(class_weights)`` or the shapes
      of the inputs do not correspond.

  Examples:
    >>> import numpy as np
    >>> from jmetrics import WeightedPrecision
    >>> m = WeightedPrecision(class_weights=[0.1, 0.9])
    >>> y_true = np.array([0, 0, 1, 1])
    >>> y_pred = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    >>> # Precision of class 0 is 1/2, of class 1 is 1/2: 0.1 * 0.5 + 0.9 * 0.5.
    >>> round(float(m(y_true, y_pred)), 6)
    0.5

    Merged states give the value of all the data; the mean of per-batch
    values does not:

    >>> a = m.update(m.init(), [0, 1], [[0.4, 0.6], [0.3, 0.7]])
    >>> b = m.update(m.init(), [1, 1, 0], [[0.2, 0.8], [0.1, 0.9], [0.7, 0.3]])
    >>> round(float(m.compute(a)), 6), round(float(m.compute(b)), 6)
    (0.45, 1.0)
    >>> round(float(m.compute(m.merge(a, b))), 6)  # 0.1 * 1/1 + 0.9 * 3/4
    0.775
  """

  class_weights: Any
  name: str = "weighted_precision"
  dtype: Any = None

  config_checks = {"class_weights": base.Check(
      lambda w: isinstance(w, tuple) and w and all(map(checks.is_real, w)),
      "{name} must be a non-empty sequence of numbers (one per class), got "
      "{value!r}",
      then=base.Check(
          lambda w: all(math.isfinite(x) and x >= 0 for x in w) and sum(w) > 0,
          "{name} must be finite and >= 0 with a positive sum, got {value!r}"))}

  @property
  def num_classes(self) -> int:
    return len(self.class_weights)

  def init(self) -> WeightedPrecisionState:
    return WeightedPrecisionState(wide.wide_zeros((self.num_classes,)),
                                  wide.wide_zeros((self.num_classes,)))

  def update(self, state: WeightedPrecisionState, y_true, y_pred,
             sample_weight=None) -> WeightedPrecisionState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: integer class ids of shape ``y_pred.shape[:-1]``, optionally
        with a trailing axis of size 1.
      y_pred: scores or probabilities of shape ``(..., num_classes)``.
      sample_weight: ``None`` or weights broadcastable to ``y_true``'s shape
        from the leading axis (``(batch_size,)`` weighs each row).

    Returns:
      The new state.

    Raises:
      ValueError: at trace time, if the shapes do not correspond.
    """
    labels, scores = jnp.asarray(y_true), jnp.asarray(y_pred)
    shapes = (f"y_true {checks.shape_of(y_true)} and y_pred "
              f"{checks.shape_of(y_pred)}")
    if scores.ndim < 1 or scores.shape[-1] != self.num_classes:
      raise self.error(f"expected y_pred.shape[-1] == len(class_weights) = "
                       f"{self.num_classes}, got {shapes}")
    if labels.ndim == scores.ndim and labels.shape[-1:] == (1,):
      labels = labels[..., 0]
    if labels.shape != scores.shape[:-1]:
      raise self.error(f"expected y_true of shape y_pred.shape[:-1] = "
                       f"{scores.shape[:-1]} (or with a trailing axis of size "
                       f"1), got {shapes}")
    predicted = jnp.argmax(scores, axis=-1).astype(jnp.int32)
    # Labels compare as numbers: 2.0 is class 2, 2.5 and 7 are no class.
    correct = (labels == predicted).astype(jnp.int32)
    # One scatter-add of (predicted class, correct) pairs: O(N), no N x C.
    key = predicted * 2 + correct
    if sample_weight is None:
      data = None
    else:
      weight = jnp.asarray(sample_weight, _F32)
      _, weight = weighting.squeeze_or_expand_to_same_rank(
          labels, weight, expand_rank_1=False)
      if weight.ndim < labels.ndim:
        # Leading alignment: (N,) weights weigh whole rows of (N, T) labels.
        weight = weight.reshape(weight.shape + (1,) * (labels.ndim - weight.ndim))
      checks.check_broadcast(self, "sample_weight", weight, labels.shape)
      data = jnp.broadcast_to(weight, labels.shape)
    hist = jax.tree.map(lambda x: x.reshape(self.num_classes, 2),
                        kernels.bincount(key, data, 2 * self.num_classes))
    tp = jax.tree.map(lambda x: x[:, 1], hist)
    predicted_total = kernels.table_sum(hist, 1)
    add = wide.wide_add_int if sample_weight is None else wide.wide_add_counts
    return WeightedPrecisionState(add(state.true_positives, tp),
                                  add(state.predicted_positives, predicted_total))

  def compute(self, state: WeightedPrecisionState) -> jax.Array:
    """``sum_c w_c * precision_c / sum_c w_c``; 0 for an empty state."""
    precision = arithmetic.divide_no_nan(wide.wide_value(state.true_positives),
                                        wide.wide_value(state.predicted_positives))
    weights = np.asarray(self.class_weights, np.float64)
    weights = jnp.asarray(weights / weights.sum(), _F32)
    return self.result_dtype(jnp.sum(weights * precision))
