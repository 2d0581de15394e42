"""Confusion-count metrics: TP/FP/TN/FN, Precision, Recall and the X-at-Y family.

Every metric here is Keras 3's metric of the same name, counted by the shared
threshold kernel (`jmetrics._src.metrics.thresholds`): inputs are aligned by
``thresholds.prepare`` (Keras' rank alignment, ``top_k``, ``class_id``,
sample-weight broadcasting), each prediction is bucketed once and histogrammed
(``thresholds.shared_batch``: in a `Collection`, one histogram for every
member on the same grid, ``top_k`` and ``class_id``), so an update costs one
read of its inputs and never builds an ``N x T`` comparison. The state keeps only the counts the metric
needs, as exact `Wide` totals of shape ``(T,)`` (``T`` thresholds, fixed by the
configuration): unweighted counts stay exact far past 2**24.

Semantics follow Keras 3 exactly:

* A prediction is positive at threshold ``t`` when ``y_pred > t`` (strictly);
  labels are cast to bool (any nonzero label, NaN included, is positive). All
  elements of multi-dimensional inputs are pooled.
* Threshold lists that Keras recognises as its evenly spaced grid
  (``[0, 1/(T-1), ..., 1]``, three or more) use Keras' arithmetic bucket,
  which clips predictions to [0, 1]; other lists compare exactly.
* ``top_k`` keeps the ``k`` largest scores of the last axis (ties go to the
  lower index) and sets the others to ``-1e10``; with ``top_k`` and no
  ``thresholds`` the threshold is ``-1e10``, so exactly the top ``k`` count as
  predicted positives. ``class_id`` then restricts labels and predictions to
  one column of the last axis.
* Ratios are 0 where their denominator is 0, so every metric computes to 0 on
  an empty state. With one threshold the result is a scalar, with several a
  vector in the order the thresholds were given.
* The X-at-Y metrics use Keras' grid of ``num_thresholds`` points
  (``num_thresholds == 1`` means the single threshold 0.5) and return the
  largest dependent value among thresholds whose constrained value is ``>=``
  the target, 0 if none is.

Where Keras would silently compute something else, these metrics raise a
``ValueError`` instead: an empty ``thresholds`` list (Keras divides by zero),
``top_k < 1`` (Keras counts nothing), a negative ``class_id`` (Keras indexes
from the end) or one out of range for ``y_pred`` (Keras on JAX clamps it to
the last class), and ``top_k`` larger than the last axis of ``y_pred``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jmetrics._src import base
from jmetrics._src.metrics import thresholds as thresholds_lib
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide

_F32 = jnp.float32


# -- states --------------------------------------------------------------------


class ConfusionCountState(NamedTuple):
  """The running count of one confusion-matrix cell at each threshold."""

  count: wide.Wide  # float32[T] pair: (weighted) count at each threshold.


class PrecisionState(NamedTuple):
  """Running true and false positives of `Precision`."""

  tp: wide.Wide  # float32[T] pair: true positives at each threshold.
  fp: wide.Wide  # float32[T] pair: false positives at each threshold.


class RecallState(NamedTuple):
  """Running true positives and false negatives of `Recall`."""

  tp: wide.Wide  # float32[T] pair: true positives at each threshold.
  fn: wide.Wide  # float32[T] pair: false negatives at each threshold.


# -- configuration checks ----------------------------------------------------------


def check_thresholds(metric, name, thresholds):
  """`base.Check` of ``thresholds``: ``None``, a number or a non-empty list of
  numbers, all in [0, 1]; stored as given."""
  if thresholds is None:
    return None
  values = thresholds if isinstance(thresholds, tuple) else (thresholds,)
  if not values:
    raise metric.error(f"{name} must not be an empty list")
  if not all(t is None or checks.is_real(t) for t in values):
    raise metric.error(f"{name} must be a number or a list of numbers in "
                       f"[0, 1], got {thresholds!r}")
  thresholds_lib.validate_range(metric, values)
  return thresholds


_CLASS_ID = base.integer(minimum=0, optional=True)


# -- shared update and result ------------------------------------------------------


def _counting_step(metric, totals, rebuild, y_true, y_pred, sample_weight):
  """The update adding one batch's counts at ``metric.grid`` (with top_k and
  class_id if set) to ``totals``, as a step that metrics counting the same
  batch at the same grid share (see `thresholds.shared_batch`)."""
  top_k = getattr(metric, "top_k", None)
  class_id = getattr(metric, "class_id", None)
  operands = thresholds_lib.prepare(
      metric, y_true, y_pred, sample_weight, top_k=top_k, class_id=class_id)
  return thresholds_lib.shared_batch(
      totals, rebuild, operands, metric.grid, aligned=("prepare", class_id),
      top_k=None if top_k is None else thresholds_lib.TopK(top_k, class_id))


def _per_threshold(metric, values: jax.Array, grid) -> jax.Array:
  """A scalar for a single threshold, else the vector (Keras' ``result``)."""
  return metric.result_dtype(values[0] if grid.size == 1 else values)


def _user_grid(thresholds, default) -> thresholds_lib.Thresholds:
  values = default if thresholds is None else thresholds
  return thresholds_lib.from_list(values if isinstance(values, tuple) else (values,))


# -- TruePositives, FalsePositives, TrueNegatives, FalseNegatives -------------------


@base.metric_dataclass
class _ConfusionCount(base.Metric):
  """Base of the four single-cell counts; ``_CELL`` names the `Counts` field."""

  thresholds: Any = None
  name: str = None
  dtype: Any = None

  _CELL = None
  config_checks = {"thresholds": check_thresholds}

  def label_domain(self, y_true, y_pred):
    """Labels in ``[0, 1]``."""
    return base.LabelDomain(1.0)

  @property
  def grid(self) -> thresholds_lib.Thresholds:
    """The thresholds (0.5 if none were given), as a static kernel grid."""
    return _user_grid(self.thresholds, 0.5)

  def init(self) -> ConfusionCountState:
    return ConfusionCountState(wide.wide_zeros((self.grid.size,)))

  def update(self, state: ConfusionCountState, y_true, y_pred,
             sample_weight=None) -> ConfusionCountState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: labels of ``y_pred``'s shape (up to a trailing unit axis); cast
        to bool.
      y_pred: scores, compared with each threshold.
      sample_weight: ``None`` or weights broadcastable to the labels (Keras'
        rules: a trailing unit axis is squeezed or added).

    Returns:
      The updated state.

    Raises:
      ValueError: if shapes do not correspond (at trace time).
    """
    return self.shared_update(state, y_true, y_pred, sample_weight).alone()

  def shared_update(self, state: ConfusionCountState, y_true, y_pred,
                    sample_weight=None) -> base.SharedStep:
    """`update` as a step that shares its histogram (see `jm.SharedStep`)."""
    totals = thresholds_lib.Counts(None, None, None, None)._replace(
        **{self._CELL: state.count})
    return _counting_step(
        self, totals, lambda new: ConfusionCountState(getattr(new, self._CELL)),
        y_true, y_pred, sample_weight)

  def compute(self, state: ConfusionCountState) -> jax.Array:
    return _per_threshold(self, wide.wide_value(state.count), self.grid)


@base.metric_dataclass
class TruePositives(_ConfusionCount):
  """The (weighted) number of true positives, as ``keras.metrics.TruePositives``.

  A prediction is positive when it is strictly greater than a threshold; the
  count is kept at every threshold. Weights default to 1; a weight of 0 masks
  an element.

  Args:
    thresholds: a number or a list of numbers in [0, 1] (default 0.5). With
      one threshold the result is a scalar, with several a vector in the
      order given.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import TruePositives
    >>> m = TruePositives()
    >>> float(m.compute(m.update(m.init(), [0, 1, 1, 1], [1, 0, 1, 1])))
    2.0
    >>> state = m.update(m.init(), [0, 1, 1, 1], [1, 0, 1, 1],
    ...                  sample_weight=[0, 0, 1, 0])
    >>> float(m.compute(state))
    1.0
    >>> m = TruePositives(thresholds=[0.15, 0.5, 0.85])
    >>> y_true = [[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
    >>> y_pred = [[0.9, 0.2, 0.8, 0.1], [0.2, 0.9, 0.7, 0.6],
    ...           [0.1, 0.2, 0.4, 0.3], [0, 1, 0.7, 0.3]]
    >>> m.compute(m.update(m.init(), y_true, y_pred)).tolist()
    [6.0, 3.0, 1.0]
  """

  _CELL = "tp"


@base.metric_dataclass
class FalsePositives(_ConfusionCount):
  """The (weighted) number of false positives, as ``keras.metrics.FalsePositives``.

  Args:
    thresholds: a number or a list of numbers in [0, 1] (default 0.5).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import FalsePositives
    >>> m = FalsePositives()
    >>> float(m.compute(m.update(m.init(), [0, 1, 0, 0], [0, 0, 1, 1])))
    2.0
    >>> state = m.update(m.init(), [0, 1, 0, 0], [0, 0, 1, 1],
    ...                  sample_weight=[0, 0, 1, 0])
    >>> float(m.compute(state))
    1.0
  """

  _CELL = "fp"


@base.metric_dataclass
class TrueNegatives(_ConfusionCount):
  """The (weighted) number of true negatives, as ``keras.metrics.TrueNegatives``.

  Args:
    thresholds: a number or a list of numbers in [0, 1] (default 0.5).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import TrueNegatives
    >>> m = TrueNegatives()
    >>> float(m.compute(m.update(m.init(), [0, 1, 0, 0], [1, 1, 0, 0])))
    2.0
    >>> state = m.update(m.init(), [0, 1, 0, 0], [1, 1, 0, 0],
    ...                  sample_weight=[0, 0, 1, 0])
    >>> float(m.compute(state))
    1.0
  """

  _CELL = "tn"


@base.metric_dataclass
class FalseNegatives(_ConfusionCount):
  """The (weighted) number of false negatives, as ``keras.metrics.FalseNegatives``.

  Args:
    thresholds: a number or a list of numbers in [0, 1] (default 0.5).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import FalseNegatives
    >>> m = FalseNegatives()
    >>> float(m.compute(m.update(m.init(), [0, 1, 1, 1], [0, 1, 0, 0])))
    2.0
    >>> state = m.update(m.init(), [0, 1, 1, 1], [0, 1, 0, 0],
    ...                  sample_weight=[0, 0, 1, 0])
    >>> float(m.compute(state))
    1.0
  """

  _CELL = "fn"


# -- Precision, Recall ------------------------------------------------------------


@base.metric_dataclass
class _TopKRatio(base.Metric):
  """Base of `Precision` and `Recall`: thresholds, ``top_k`` and ``class_id``."""

  thresholds: Any = None
  top_k: Any = None
  class_id: Any = None
  name: str = None
  dtype: Any = None

  config_checks = {"thresholds": check_thresholds,
                   "top_k": base.integer(minimum=1, optional=True),
                   "class_id": _CLASS_ID}

  def label_domain(self, y_true, y_pred):
    """Labels in ``[0, 1]``."""
    return base.LabelDomain(1.0)

  @property
  def grid(self) -> thresholds_lib.Thresholds:
    """The thresholds as a static grid: 0.5 by default, ``-1e10`` with top_k."""
    default = 0.5 if self.top_k is None else thresholds_lib.NEG_INF
    return _user_grid(self.thresholds, default)

  def _zeros(self) -> wide.Wide:
    return wide.wide_zeros((self.grid.size,))


@base.metric_dataclass
class Precision(_TopKRatio):
  """The precision ``tp / (tp + fp)`` of predictions, as ``keras.metrics.Precision``.

  With ``top_k``, only the ``top_k`` largest scores of each row (last axis)
  can be positive; with ``class_id``, only that column of the last axis is
  counted. An empty state (or no predicted positive) computes to 0.

  Args:
    thresholds: a number or a list of numbers in [0, 1]; default 0.5, or
      ``-1e10`` (every top-k score) when ``top_k`` is set. One result per
      threshold (a scalar for one).
    top_k: ``None`` or an integer >= 1.
    class_id: ``None`` or the integer index of a class on the last axis of
      ``y_pred`` (which must then have at least two dimensions).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import Precision
    >>> m = Precision()
    >>> round(float(m.compute(m.update(m.init(), [0, 1, 1, 1], [1, 0, 1, 1]))), 6)
    0.666667
    >>> state = m.update(m.init(), [0, 1, 1, 1], [1, 0, 1, 1],
    ...                  sample_weight=[0, 0, 1, 0])
    >>> float(m.compute(state))
    1.0
    >>> m = Precision(top_k=2)  # The two first of four tied scores.
    >>> float(m.compute(m.update(m.init(), [0, 0, 1, 1], [1, 1, 1, 1])))
    0.0
    >>> m = Precision(top_k=4)
    >>> float(m.compute(m.update(m.init(), [0, 0, 1, 1], [1, 1, 1, 1])))
    0.5
  """

  def init(self) -> PrecisionState:
    return PrecisionState(self._zeros(), self._zeros())

  def update(self, state: PrecisionState, y_true, y_pred,
             sample_weight=None) -> PrecisionState:
    """Adds a batch of labels, scores and optional weights (see `TruePositives`)."""
    return self.shared_update(state, y_true, y_pred, sample_weight).alone()

  def shared_update(self, state: PrecisionState, y_true, y_pred,
                    sample_weight=None) -> base.SharedStep:
    """`update` as a step that shares its histogram (see `jm.SharedStep`)."""
    return _counting_step(
        self, thresholds_lib.Counts(tp=state.tp, fp=state.fp, tn=None, fn=None),
        lambda new: PrecisionState(new.tp, new.fp), y_true, y_pred, sample_weight)

  def compute(self, state: PrecisionState) -> jax.Array:
    tp, fp = wide.wide_value(state.tp), wide.wide_value(state.fp)
    return _per_threshold(self, arithmetic.divide_no_nan(tp, tp + fp), self.grid)


@base.metric_dataclass
class Recall(_TopKRatio):
  """The recall ``tp / (tp + fn)`` of predictions, as ``keras.metrics.Recall``.

  ``top_k`` and ``class_id`` act as in `Precision`. An empty state (or no
  positive label) computes to 0.

  Args:
    thresholds: a number or a list of numbers in [0, 1]; default 0.5, or
      ``-1e10`` when ``top_k`` is set.
    top_k: ``None`` or an integer >= 1.
    class_id: ``None`` or the integer index of a class on the last axis.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import Recall
    >>> m = Recall()
    >>> round(float(m.compute(m.update(m.init(), [0, 1, 1, 1], [1, 0, 1, 1]))), 6)
    0.666667
    >>> state = m.update(m.init(), [0, 1, 1, 1], [1, 0, 1, 1],
    ...                  sample_weight=[0, 0, 1, 0])
    >>> float(m.compute(state))
    1.0
  """

  def init(self) -> RecallState:
    return RecallState(self._zeros(), self._zeros())

  def update(self, state: RecallState, y_true, y_pred,
             sample_weight=None) -> RecallState:
    """Adds a batch of labels, scores and optional weights (see `TruePositives`)."""
    return self.shared_update(state, y_true, y_pred, sample_weight).alone()

  def shared_update(self, state: RecallState, y_true, y_pred,
                    sample_weight=None) -> base.SharedStep:
    """`update` as a step that shares its histogram (see `jm.SharedStep`)."""
    return _counting_step(
        self, thresholds_lib.Counts(tp=state.tp, fp=None, tn=None, fn=state.fn),
        lambda new: RecallState(new.tp, new.fn), y_true, y_pred, sample_weight)

  def compute(self, state: RecallState) -> jax.Array:
    tp, fn = wide.wide_value(state.tp), wide.wide_value(state.fn)
    return _per_threshold(self, arithmetic.divide_no_nan(tp, tp + fn), self.grid)


# -- PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, ... -----------


def _at_constraint_grid(num_thresholds: int) -> thresholds_lib.Thresholds:
  """The grid of Keras' ``SensitivitySpecificityBase``.

  ``num_thresholds`` evenly spaced points from 0 to 1, bucketed arithmetically
  (predictions clipped to [0, 1]) even for two points; a single threshold is
  0.5 and compares exactly.
  """
  if num_thresholds == 1:
    return thresholds_lib.from_list((0.5,))
  inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
  return thresholds_lib.Thresholds(tuple([0.0] + inner + [1.0]), evenly=True)


class _AtConstraint(base.Metric):
  """Base of the X-at-Y metrics: the best dependent value under a constraint.

  Subclasses declare the Keras fields (the target first, named by
  ``_TARGET``) and implement ``_curves``.
  """

  _TARGET = None  # The field holding the target; each subclass checks it.
  config_checks = {"num_thresholds": base.integer(minimum=1),
                   "class_id": _CLASS_ID}

  def label_domain(self, y_true, y_pred):
    """Labels in ``[0, 1]``."""
    return base.LabelDomain(1.0)

  @property
  def grid(self) -> thresholds_lib.Thresholds:
    """Keras' ``num_thresholds`` grid, as a static kernel grid."""
    return _at_constraint_grid(self.num_thresholds)

  def init(self) -> thresholds_lib.ConfusionState:
    return thresholds_lib.zeros((self.num_thresholds,))

  def update(self, state: thresholds_lib.ConfusionState, y_true, y_pred,
             sample_weight=None) -> thresholds_lib.ConfusionState:
    """Adds a batch of labels, scores and optional weights (see `TruePositives`)."""
    return self.shared_update(state, y_true, y_pred, sample_weight).alone()

  def shared_update(self, state: thresholds_lib.ConfusionState, y_true, y_pred,
                    sample_weight=None) -> base.SharedStep:
    """`update` as a step that shares its histogram (see `jm.SharedStep`)."""
    return _counting_step(self, state.counts, thresholds_lib.ConfusionState,
                          y_true, y_pred, sample_weight)

  def curve_points(self, state: thresholds_lib.ConfusionState) -> thresholds_lib.Curve:
    """The ROC and PR curves at the grid (see `jm.Curve`), for plotting; jit-able."""
    return thresholds_lib.curve(self.grid, state)

  def _curves(self, counts: thresholds_lib.Counts):
    """``(constrained, dependent)`` values at each threshold."""
    raise NotImplementedError

  def compute(self, state: thresholds_lib.ConfusionState) -> jax.Array:
    constrained, dependent = self._curves(thresholds_lib.totals(state))
    # Keras' _find_max_under_constraint; the target compares in float32.
    feasible = constrained >= jnp.asarray(getattr(self, self._TARGET), _F32)
    return self.result_dtype(
        jnp.max(jnp.where(feasible, dependent, 0.0), initial=0.0))


def _precision(c):
  return arithmetic.divide_no_nan(c.tp, c.tp + c.fp)


def _recall(c):
  return arithmetic.divide_no_nan(c.tp, c.tp + c.fn)


def _specificity(c):
  return arithmetic.divide_no_nan(c.tn, c.tn + c.fp)


@base.metric_dataclass
class PrecisionAtRecall(_AtConstraint):
  """The best precision where recall is ``>= recall``, as Keras' metric.

  Precision and recall are evaluated at ``num_thresholds`` evenly spaced
  thresholds in [0, 1]; the result is the largest precision among thresholds
  whose recall reaches the target, 0 if none does.

  Args:
    recall: the target recall, in [0, 1].
    num_thresholds: number of thresholds (an integer >= 1; 1 means the single
      threshold 0.5).
    class_id: ``None`` or the integer index of a class on the last axis.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import PrecisionAtRecall
    >>> m = PrecisionAtRecall(0.5)
    >>> y_true, y_pred = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    0.5
    >>> state = m.update(m.init(), y_true, y_pred, sample_weight=[2, 2, 2, 1, 1])
    >>> round(float(m.compute(state)), 6)
    0.333333
  """

  recall: Any
  num_thresholds: int = 200
  class_id: Any = None
  name: str = None
  dtype: Any = None

  _TARGET = "recall"
  config_checks = {"recall": base.unit()}

  def _curves(self, counts):
    return _recall(counts), _precision(counts)


@base.metric_dataclass
class RecallAtPrecision(_AtConstraint):
  """The best recall where precision is ``>= precision``, as Keras' metric.

  If no threshold reaches the target precision the result is 0.

  Args:
    precision: the target precision, in [0, 1].
    num_thresholds: number of thresholds (an integer >= 1).
    class_id: ``None`` or the integer index of a class on the last axis.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import RecallAtPrecision
    >>> m = RecallAtPrecision(0.8)
    >>> y_true, y_pred = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    0.5
    >>> state = m.update(m.init(), y_true, y_pred, sample_weight=[1, 0, 0, 1])
    >>> float(m.compute(state))
    1.0
  """

  precision: Any
  num_thresholds: int = 200
  class_id: Any = None
  name: str = None
  dtype: Any = None

  _TARGET = "precision"
  config_checks = {"precision": base.unit()}

  def _curves(self, counts):
    return _precision(counts), _recall(counts)


@base.metric_dataclass
class SensitivityAtSpecificity(_AtConstraint):
  """The best sensitivity ``tp / (tp + fn)`` where specificity is ``>= specificity``.

  As ``keras.metrics.SensitivityAtSpecificity``; specificity is
  ``tn / (tn + fp)``.

  Args:
    specificity: the target specificity, in [0, 1].
    num_thresholds: number of thresholds (an integer >= 1).
    class_id: ``None`` or the integer index of a class on the last axis.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import SensitivityAtSpecificity
    >>> m = SensitivityAtSpecificity(0.5)
    >>> y_true, y_pred = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    0.5
    >>> state = m.update(m.init(), y_true, y_pred, sample_weight=[1, 1, 2, 2, 1])
    >>> round(float(m.compute(state)), 6)
    0.333333
  """

  specificity: Any
  num_thresholds: int = 200
  class_id: Any = None
  name: str = None
  dtype: Any = None

  _TARGET = "specificity"
  config_checks = {"specificity": base.unit()}

  def _curves(self, counts):
    return _specificity(counts), _recall(counts)


@base.metric_dataclass
class SpecificityAtSensitivity(_AtConstraint):
  """The best specificity ``tn / (tn + fp)`` where sensitivity is ``>= sensitivity``.

  As ``keras.metrics.SpecificityAtSensitivity``; sensitivity is
  ``tp / (tp + fn)``.

  Args:
    sensitivity: the target sensitivity, in [0, 1].
    num_thresholds: number of thresholds (an integer >= 1).
    class_id: ``None`` or the integer index of a class on the last axis.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import SpecificityAtSensitivity
    >>> m = SpecificityAtSensitivity(0.5)
    >>> y_true, y_pred = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    >>> round(float(m.compute(m.update(m.init(), y_true, y_pred))), 6)
    0.666667
    >>> state = m.update(m.init(), y_true, y_pred, sample_weight=[1, 1, 2, 2, 2])
    >>> float(m.compute(state))
    0.5
  """

  sensitivity: Any
  num_thresholds: int = 200
  class_id: Any = None
  name: str = None
  dtype: Any = None

  _TARGET = "sensitivity"
  config_checks = {"sensitivity": base.unit()}

  def _curves(self, counts):
    return _recall(counts), _specificity(counts)
