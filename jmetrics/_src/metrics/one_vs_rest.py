"""One-vs-rest curves of multi-class scores: `MulticlassAUROC` and
`MulticlassAveragePrecision`.

Both keep, per class, the (weighted) true and false positives at
``num_thresholds`` evenly spaced thresholds of [0, 1], as exact `Wide`
totals counted by the shared threshold kernel in one pass over the
``(N, C)`` scores (the multi-label histogram of `AUC`): class ``c``'s
positives are the samples labelled ``c``, its negatives all others. One
state serves every average:

* ``"macro"``: the mean of the per-class values;
* ``"weighted"``: their mean weighted by each class's (weighted) count of
  positives, scikit-learn's ``average="weighted"``;
* ``"micro"``: the value of the summed counts, i.e. of every (sample, class)
  pair pooled, scikit-learn's ``average="micro"`` on binarised labels;
* ``None``: the ``(C,)`` per-class values.

Scores in one bucket act as ties, so results differ from scikit-learn's
exact ``roc_auc_score(y_true, y_score, multi_class="ovr")`` and
``average_precision_score(label_binarize(y_true), y_score)`` by at most the
bounds of `jmetrics.AUC`'s module, which ``tie_bound`` computes from the
state, averaged as the values are.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jmetrics._src import base
from jmetrics._src.metrics import auc
from jmetrics._src.metrics import thresholds as thr
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide
from jmetrics._src.numerics.arithmetic import divide_no_nan

_F32 = jnp.float32
_I32 = jnp.int32
_AVERAGES = (None, "macro", "weighted", "micro")


class OneVsRestState(NamedTuple):
  """Running TP and FP per threshold and class."""

  tp: wide.Wide  # float32[T, C] pair: true positives of each class.
  fp: wide.Wide  # float32[T, C] pair: false positives of each class.


class _OneVsRestCurves(base.Metric):
  """Per-class one-vs-rest TP/FP on an evenly spaced grid; subclasses
  declare ``num_classes``, ``average``, ``num_thresholds``,
  ``sparse_y_true``, ``from_logits``, ``name`` and ``dtype`` and say how
  the per-class value and its tie bound come from the counts."""

  config_checks = {
      "num_classes": base.integer(minimum=2),
      "average": base.choice(_AVERAGES, message=f"average must be one of "
                             f"{_AVERAGES}, got {{value!r}}"),
      "num_thresholds": base.integer(
          minimum=2, message="num_thresholds must be an integer > 1, got "
          "num_thresholds={value!r}"),
      "sparse_y_true": base.boolean(),
      "from_logits": base.boolean(),
      "dtype": base.floating_dtype(),
  }

  def label_domain(self, y_true, y_pred):
    if self.sparse_y_true:
      return base.LabelDomain(self.num_classes, class_ids=True)
    return base.LabelDomain(1.0)

  @functools.cached_property
  def grid(self) -> thr.Thresholds:
    """The evenly spaced threshold grid (built once; static)."""
    return thr.auc_grid(self.num_thresholds)

  def init(self) -> OneVsRestState:
    zeros = lambda: wide.wide_zeros((self.num_thresholds, self.num_classes))
    return OneVsRestState(zeros(), zeros())

  def update(self, state: OneVsRestState, y_true, y_pred,
             sample_weight=None) -> OneVsRestState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: integer class ids of ``y_pred.shape[:-1]``, or one-hot rows of
        ``y_pred``'s shape with ``sparse_y_true=False``.
      y_pred: ``(..., C)`` class scores in [0, 1] (clipped), or logits with
        ``from_logits`` (a softmax is applied).
      sample_weight: ``None``, a scalar, or weights broadcastable to the
        samples ``y_pred.shape[:-1]``.

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, if the shapes do not fit.
    """
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred, _F32)
    samples = tuple(y_pred.shape[:-1])
    true_shape = samples if self.sparse_y_true else tuple(y_pred.shape)
    if (y_pred.ndim < 1 or y_pred.shape[-1] != self.num_classes
        or tuple(y_true.shape) != true_shape):
      want = ("integer labels (...)" if self.sparse_y_true
              else "one-hot labels (..., num_classes)")
      raise self.error(
          f"expected {want} and scores (..., num_classes={self.num_classes}), "
          f"got y_true {checks.shape_of(y_true)} and y_pred "
          f"{checks.shape_of(y_pred)}")
    if self.from_logits:
      y_pred = jax.nn.softmax(y_pred, axis=-1)
    if self.sparse_y_true:
      classes = jnp.arange(self.num_classes, dtype=_I32)
      positive = y_true.astype(_I32)[..., None] == classes
    else:
      positive = y_true != 0
    weights = None
    if sample_weight is not None:
      weights = checks.as_float(sample_weight)
      checks.check_broadcast(self, "sample_weight", weights, samples,
                             given=sample_weight)
      weights = jnp.broadcast_to(weights, samples).reshape(-1, 1)
    totals = thr.add_batch(
        thr.Counts(tp=state.tp, fp=state.fp, tn=None, fn=None),
        positive.reshape(-1, self.num_classes).astype(_I32),
        y_pred.reshape(-1, self.num_classes), weights, self.grid,
        multi_label=True)
    return OneVsRestState(totals.tp, totals.fp)

  def _counts(self, state: OneVsRestState):
    """Float32 ``(T, C)`` TP and FP; ``(T, 1)`` summed ones for micro."""
    tp, fp = wide.wide_value(state.tp), wide.wide_value(state.fp)
    if self.average == "micro":
      sum_classes = lambda x: wide.wide_value(wide.wide_sum(x, axis=1))[:, None]
      tp, fp = sum_classes(state.tp), sum_classes(state.fp)
    return tp, fp

  def _average(self, per_class, tp, fp):
    if self.average is None:
      return per_class
    if self.average == "micro":
      return per_class[0]
    defined = self._defined(tp, fp)
    if self.average == "weighted":
      support = jnp.where(defined, tp[0], 0.0)
      return divide_no_nan(jnp.sum(per_class * support), jnp.sum(support))
    return divide_no_nan(jnp.sum(jnp.where(defined, per_class, 0.0)),
                         jnp.sum(defined.astype(_F32)))

  def _defined(self, tp, fp) -> jax.Array:
    """The classes that enter the macro and weighted means."""
    raise NotImplementedError

  def _per_class(self, tp, fp) -> jax.Array:
    raise NotImplementedError

  def _per_class_bound(self, tp, fp, min_weight) -> jax.Array:
    raise NotImplementedError

  def compute(self, state: OneVsRestState) -> jax.Array:
    tp, fp = self._counts(state)
    return self.result_dtype(self._average(self._per_class(tp, fp), tp, fp))

  def tie_bound(self, state: OneVsRestState, min_weight=0.0) -> jax.Array:
    """Bound on ``|compute(state) - scikit-learn's exact value|``, averaged
    as `compute` averages (float32 rounding, ~1e-6, on top); jit-able.

    Args:
      state: the metric's state.
      min_weight: a lower bound on every positive's nonzero weight (1 for
        unweighted updates; 0 is always valid); used by the AP bound.
    """
    tp, fp = self._counts(state)
    return self._average(self._per_class_bound(tp, fp, min_weight), tp, fp)


_ARGS = """
  Args:
    num_classes: C, the size of the class axis.
    average: ``"macro"`` (default), ``"weighted"``, ``"micro"`` or ``None``
      (the per-class vector).
    num_thresholds: thresholds of the evenly spaced grid (> 1); the state is
      ``16 * num_thresholds * C`` bytes.
    sparse_y_true: whether ``y_true`` holds class ids (else one-hot rows).
    from_logits: whether ``y_pred`` holds logits (a softmax is applied).
    name: key of the metric.
    dtype: the result's floating dtype (float32 if ``None``).
"""


@base.metric_dataclass
class MulticlassAUROC(_OneVsRestCurves):
  """One-vs-rest ROC AUC of multi-class scores, averaged over classes.

  scikit-learn's ``roc_auc_score(y_true, y_score, multi_class="ovr",
  average=...)`` (TorchMetrics' ``MulticlassAUROC``) on the grid of the
  module docstring: a class's AUC is the trapezoidal area under its ROC
  curve, the exact Mann-Whitney AUC of the bucketed scores. The macro and
  weighted means leave out classes without positives or without negatives
  (where scikit-learn raises); their AUC is 0 in the per-class vector.
  {args}
  Returns (from `compute`):
    A scalar (``(C,)`` for ``average=None``); 0 on an empty state.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MulticlassAUROC(num_classes=3)
    >>> state = m.update(m.init(), [0, 1, 2, 2],
    ...                  [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3],
    ...                   [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]])
    >>> round(float(m.compute(state)), 4)  # (1 + 1 + 0.875) / 3
    0.9583
  """

  num_classes: int
  average: Any = "macro"
  num_thresholds: int = 2**12 + 1
  sparse_y_true: bool = True
  from_logits: bool = False
  name: str = None
  dtype: Any = None

  def _defined(self, tp, fp):
    return (tp[0] > 0) & (fp[0] > 0)

  def _per_class(self, tp, fp):
    tpr, fpr = divide_no_nan(tp, tp[0]), divide_no_nan(fp, fp[0])
    area = jnp.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2.0, axis=0)
    return jnp.where(self._defined(tp, fp), area, 0.0)

  def _per_class_bound(self, tp, fp, min_weight):
    del min_weight
    positives, negatives = tp[0], fp[0]
    return auc.roc_tie_bound(thr.Counts(tp, fp, negatives - fp, positives - tp))


@base.metric_dataclass
class MulticlassAveragePrecision(_OneVsRestCurves):
  """One-vs-rest average precision of multi-class scores, averaged.

  scikit-learn's step-function ``average_precision_score`` of the binarised
  labels (TorchMetrics' ``MulticlassAveragePrecision``) on the grid of the
  module docstring, as `MeanAveragePrecision` takes it per label; a class
  without positives has AP 0 and enters the macro mean, as in
  scikit-learn.
  {args}
  Returns (from `compute`):
    A scalar (``(C,)`` for ``average=None``); 0 on an empty state.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MulticlassAveragePrecision(num_classes=3)
    >>> state = m.update(m.init(), [0, 1, 2, 2],
    ...                  [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3],
    ...                   [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]])
    >>> round(float(m.compute(state)), 4)  # (1 + 1 + 5/6) / 3
    0.9444
  """

  num_classes: int
  average: Any = "macro"
  num_thresholds: int = 2**12 + 1
  sparse_y_true: bool = True
  from_logits: bool = False
  name: str = None
  dtype: Any = None

  def _defined(self, tp, fp):
    return jnp.ones(tp.shape[1:], bool)

  def _per_class(self, tp, fp):
    return auc.average_precision(tp, fp)

  def _per_class_bound(self, tp, fp, min_weight):
    return auc.average_precision_tie_bound(tp, fp, min_weight)


MulticlassAUROC.__doc__ = MulticlassAUROC.__doc__.replace("{args}", _ARGS)
MulticlassAveragePrecision.__doc__ = MulticlassAveragePrecision.__doc__.replace(
    "{args}", _ARGS)
