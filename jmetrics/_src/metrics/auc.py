"""Area under the ROC / PR curves (`AUC`) and multi-label `MeanAveragePrecision`.

Both metrics keep TP/FP/TN/FN at a fixed grid of thresholds, counted by the
shared threshold kernel (`jmetrics._src.metrics.thresholds`): every prediction is
given one bucket, the buckets are histogrammed and a reversed cumulative sum
yields the counts at all thresholds. An update costs O(N + T) time and O(T)
memory (O(N log T) for unevenly spaced thresholds); no ``N x T`` comparison is
ever built, so ``num_thresholds=2**16`` costs about what 200 does.

Bucketing as ties: why a fine grid gives a near-exact AUC
---------------------------------------------------------

Bucketing is monotone: if ``p < q`` then ``bucket(p) <= bucket(q)``. So the
counts at the grid are *exactly* the counts of the original scores with the
scores of each bucket replaced by one common value, i.e. made tied. Nothing
else is lost. Consequently:

* **ROC AUC.** With ``summation_method="interpolation"`` the trapezoidal sum
  over the grid equals the exact (Mann-Whitney) AUC of the bucketed scores,
  in which a (positive, negative) pair counts 1 if the positive is in a higher
  bucket and 1/2 if both share a bucket. The exact AUC of the original scores
  only differs on pairs sharing a bucket, by at most 1/2 per pair, hence::

      |AUC - exact AUC| <= 1/2 * sum_k pos_k * neg_k / (P * N)

  where ``pos_k``, ``neg_k`` are the (weighted) positives and negatives in
  bucket ``k`` and ``P``, ``N`` their totals (non-negative weights). Minoring
  and majoring count shared pairs as 0 and 1, so their error is at most twice
  that. `AUC.tie_bound` computes the bound from the state (jit-able; for
  multi-label AUCs the label-weighted mean of the per-label bounds). It also
  adds the area of the curve's end segments that Keras' sum skips when some
  predictions fall outside the outer thresholds ``[-eps, 1 + eps]`` (possible
  only with explicit thresholds and predictions outside ``[0, 1]``; zero
  otherwise). For 10**5 uniform random scores and ``num_thresholds=2**16``
  the bound is about 1e-5 (float32 rounding of the sum adds at most ~1e-6).

* **Average precision** (scikit-learn's step-function ``sum_n (R_n -
  R_{n-1}) P_n``, tied scores taking one step). A positive ``i`` of weight
  ``w_i`` in bucket ``k`` gets, exactly, the precision ``(A + a) / (B + a +
  b)`` of everything above the bucket (``A`` positives among ``B``
  predictions) plus the part of the bucket scored at least as high as ``i``
  (``a >= w_i`` positives, ``b`` negatives); bucketed, it gets the precision
  of the whole bucket (``a = pos_k``, ``b = neg_k``, ``D_k = B + pos_k +
  neg_k`` predictions). Expanding the difference of the two fractions gives
  ``(u (B - A + b) - (A + a) v) / (D_k (B + a + b))`` with ``u = pos_k - a``,
  ``v = neg_k - b``; both terms are non-negative, and bounding each (``A <=
  B``, precision grows with positives and falls with negatives) yields::

      |AP - exact AP| <= sum_k pos_k / (P * D_k) * max(
          (pos_k - w_min)+ * (B - A + neg_k) / (B + w_min + neg_k),
          neg_k * (A + pos_k) / (B + pos_k))

  where ``w_min`` is a lower bound on the positives' weights (1 for
  unweighted data; 0 is always valid). A bucket holding one positive and
  nothing else contributes nothing; buckets at the top of the ranking (small
  ``B``) contribute most. `MeanAveragePrecision.tie_bound` returns the macro
  mean of this bound over labels: about 1e-4 for 10**5 uniform random scores
  per label at the default ``2**16 + 1`` thresholds.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src.metrics import thresholds as thr
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide
from jmetrics._src.numerics.arithmetic import divide_no_nan

_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR",
           "PRGAIN": "PRGAIN", "prgain": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation",
               "majoring": "majoring", "Majoring": "majoring",
               "minoring": "minoring", "Minoring": "minoring"}


def _sorted_thresholds(metric, name, thresholds):
  """`base.Check` of AUC's ``thresholds``: a number or a list of numbers in
  [0, 1], stored as a sorted tuple of floats."""
  if thresholds is None:
    return None
  values = thresholds if isinstance(thresholds, tuple) else (thresholds,)
  thr.validate_range(metric, values)
  return tuple(sorted(float(t) for t in values))


def _label_weights(metric, name, weights):
  """`base.Check` of ``label_weights``: a 1-D list of non-negative numbers,
  stored as a tuple of floats."""
  if weights is None:
    return None
  array = np.asarray(weights, np.float64)
  if array.ndim != 1:
    raise metric.error(f"{name} must be a 1-D list of per-label weights, got "
                       f"shape {array.shape}")
  if not np.all(array >= 0):
    raise metric.error(f"{name} must be non-negative, got {name}={weights!r}")
  return tuple(float(w) for w in array)


# Keras' grid needs two points at least.
_NUM_THRESHOLDS = base.integer(
    minimum=2, message="num_thresholds must be an integer > 1, got "
    "num_thresholds={value!r}")
_NUM_LABELS = base.integer(
    minimum=1, message="num_labels must be a positive integer, got "
    "num_labels={value!r}")


Curve = thr.Curve


def _bucket_masses(above, below_first):
  """The mass of each of the ``T + 1`` buckets of a sorted grid, lowest first.

  ``above[j]`` counts the predictions greater than threshold ``j``; bucket
  ``j`` (between thresholds ``j - 1`` and ``j``) holds ``above[j - 1] -
  above[j]``, bucket 0 (at or below every threshold) ``below_first`` and the
  last one ``above[T - 1]``.
  """
  return jnp.concatenate([below_first[None], above[:-1] - above[1:], above[-1:]])


def roc_tie_bound(counts: thr.Counts, summation_method="interpolation"):
  """Bound on |grid ROC AUC - exact ROC AUC| from counts on a sorted grid.

  Args:
    counts: TP/FP/TN/FN at thresholds sorted ascending, shape ``(T,)`` or
      ``(T, L)``; non-negative weights.
    summation_method: ``"interpolation"`` (shared pairs cost 1/2) or
      ``"minoring"`` / ``"majoring"`` (they cost 1).

  Returns:
    The bound per label (shape ``()`` or ``(L,)``), float32; 0 where there are
    no positives or no negatives (the AUC is then undefined anyway).
  """
  tp, fp, tn, fn = counts
  positives, negatives = tp[0] + fn[0], fp[0] + tn[0]
  pos = _bucket_masses(tp, fn[0])
  neg = _bucket_masses(fp, tn[0])
  shared = jnp.sum(pos * neg, axis=0)
  per_pair = 0.5 if summation_method == "interpolation" else 1.0
  ties = divide_no_nan(per_pair * shared, positives * negatives)
  # Keras sums over consecutive grid points only: the segments from (1, 1)
  # to the first point and from the last point to (0, 0) are left out.
  # Their area under the summation method's heights is what the sum misses.
  tpr = divide_no_nan(tp, positives)
  fpr = divide_no_nan(fp, negatives)
  if summation_method == "interpolation":
    skipped = ((1.0 - fpr[0]) * (1.0 + tpr[0]) + fpr[-1] * tpr[-1]) / 2.0
  elif summation_method == "minoring":
    skipped = (1.0 - fpr[0]) * tpr[0]
  else:
    skipped = (1.0 - fpr[0]) + fpr[-1] * tpr[-1]
  return jnp.where(positives * negatives > 0, ties + skipped, 0.0)


@base.metric_dataclass
class AUC(base.Metric):
  """Area under the ROC or PR curve, as ``keras.metrics.AUC`` (Keras 3).

  Keeps TP/FP/TN/FN at ``num_thresholds`` thresholds and sums the area of the
  curve they trace: ROC (recall against false-positive rate), PR (precision
  against recall, with Davis & Goadrich's interpolation of TP and FP for
  ``summation_method="interpolation"``) or PRGAIN (precision gain against
  recall gain). The thresholds are ``num_thresholds`` evenly spaced points on
  [0, 1] (the outer ones moved to ``-eps`` and ``1 + eps``), or ``-eps``, the
  sorted ``thresholds`` and ``1 + eps``. A prediction counts as positive at a
  threshold it strictly exceeds. Counting costs O(N + T) (O(N log T) for
  uneven thresholds), never O(N * T).

  ``multi_label=True`` keeps a curve per label (the last axis of rank-2
  inputs) and averages the label AUCs, weighted by ``label_weights``;
  otherwise all elements are pooled, each weighted by its sample weight times
  the ``label_weights`` entry of its last-axis index.

  **Near-exact evaluation.** Thresholds only merge predictions of the same
  bucket, which then act as ties. With ``curve="ROC"`` and interpolation the
  result therefore differs from the exact ROC AUC (scikit-learn's
  ``roc_auc_score``) by at most half the weighted fraction of (positive,
  negative) pairs that share a bucket; `tie_bound` computes this bound from
  the state. With ``num_thresholds=2**16`` and 10**5 random scores it is
  about 1e-5 while an update still costs one pass over the inputs.

  An empty state computes to 0 (Keras' divide-no-nan). Differences from
  Keras: ``multi_label=True`` needs ``num_labels`` (the state has a fixed
  size, so it cannot be built from the first batch); the grid with its
  outer points is `threshold_values` (Keras calls it ``thresholds``, which
  here is the constructor argument, sorted); ``thresholds`` outside [0, 1],
  negative or mis-sized ``label_weights`` are rejected.

  Args:
    num_thresholds: number of thresholds (> 1) of the evenly spaced grid;
      ignored, and set to ``len(thresholds) + 2``, when ``thresholds`` is
      given.
    curve: ``"ROC"`` (default), ``"PR"`` or ``"PRGAIN"`` (or lower case).
    summation_method: ``"interpolation"`` (default; trapezoids for ROC and
      PRGAIN, Davis & Goadrich for PR), ``"minoring"`` (the lower of the two
      heights of each interval) or ``"majoring"`` (the higher).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    thresholds: explicit thresholds in [0, 1] (any order; sorted).
    multi_label: one curve per label (the last axis), averaged.
    num_labels: number of labels; required with ``multi_label=True``.
    label_weights: non-negative weights, one per label: the weights of the
      label AUCs' average if ``multi_label``, else multiplied into the
      weights of the elements of each last-axis index.
    from_logits: apply a sigmoid to ``y_pred`` first.

  Raises:
    ValueError: for an invalid configuration (naming the argument).

  Examples:
    >>> from jmetrics import AUC
    >>> m = AUC(num_thresholds=3)
    >>> state = m.update(m.init(), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> float(m.compute(state))  # tp=[2, 1, 0], fp=[2, 0, 0]
    0.75
    >>> state = m.update(m.init(), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9],
    ...                  sample_weight=[1, 0, 0, 1])
    >>> float(m.compute(state))
    1.0
    >>> m.curve_points(state).tpr.tolist()
    [1.0, 1.0, 0.0]
    >>> pr = AUC(curve="PR", multi_label=True, num_labels=2)
    >>> state = pr.update(pr.init(), [[0, 1], [1, 0], [1, 1]],
    ...                   [[0.2, 0.8], [0.7, 0.1], [0.9, 0.6]])
    >>> round(float(pr.compute(state)), 4)
    1.0
  """

  num_thresholds: int = 200
  curve: str = "ROC"
  summation_method: str = "interpolation"
  name: str = None
  dtype: Any = None
  thresholds: Any = None
  multi_label: bool = False
  num_labels: Any = None
  label_weights: Any = None
  from_logits: bool = False

  config_checks = {
      "curve": base.choice(_CURVES, message="invalid curve={value!r}; "
                           "expected one of 'ROC', 'PR', 'PRGAIN'"),
      "summation_method": base.choice(
          _SUMMATIONS, message="invalid summation_method={value!r}; expected "
          "one of 'interpolation', 'majoring', 'minoring'"),
      "thresholds": _sorted_thresholds,
      "multi_label": base.cast(bool),
      "label_weights": _label_weights,
      "from_logits": base.cast(bool),
  }

  def label_domain(self, y_true, y_pred):
    """Labels in ``[0, 1]``."""
    return base.LabelDomain(1.0)

  def validate(self):
    if self.thresholds is not None:  # num_thresholds is then ignored.
      self._set_config(num_thresholds=len(self.thresholds) + 2)
    else:
      self.check_field("num_thresholds", _NUM_THRESHOLDS)
    if self.multi_label:
      if self.num_labels is None:
        raise self.error(
            "multi_label=True needs num_labels: the state has a fixed size, so "
            "it cannot be built from the first batch as Keras does")
      self.check_field("num_labels", _NUM_LABELS)
      if (self.label_weights is not None
          and len(self.label_weights) != self.num_labels):
        raise self.error(f"label_weights has {len(self.label_weights)} entries "
                         f"but num_labels={self.num_labels}")
    elif self.num_labels:
      raise self.error("num_labels is needed only when multi_label is True, "
                       f"got num_labels={self.num_labels!r}")
    else:
      self._set_config(num_labels=None)

  # -- configuration helpers -------------------------------------------------

  @functools.cached_property
  def grid(self) -> thr.Thresholds:
    """The threshold grid (built from the config once; static)."""
    return thr.auc_grid(self.num_thresholds, self.thresholds)

  @property
  def threshold_values(self) -> list:
    """All thresholds, outer ``-eps`` and ``1 + eps`` included (Keras' ``thresholds``)."""
    return list(self.grid.values)

  def _shape(self):
    return ((self.num_thresholds, self.num_labels) if self.multi_label
            else (self.num_thresholds,))

  # -- the contract ----------------------------------------------------------

  def init(self) -> thr.ConfusionState:
    """Zero counts of shape ``(num_thresholds,)`` or ``(num_thresholds, num_labels)``."""
    return thr.zeros(self._shape())

  def update(self, state: thr.ConfusionState, y_true, y_pred,
             sample_weight=None) -> thr.ConfusionState:
    """Adds a batch's counts at every threshold.

    Args:
      state: the running state.
      y_true: labels, nonzero is positive; ``y_pred``'s shape (a trailing
        unit axis may differ, as in Keras).
      y_pred: scores (probabilities, or logits if ``from_logits``); with
        ``multi_label`` of shape ``(batch, num_labels)``.
      sample_weight: ``None`` or weights broadcastable to ``y_true``.

    Returns:
      The new state.
    """
    return self.shared_update(state, y_true, y_pred, sample_weight).alone()

  def shared_update(self, state: thr.ConfusionState, y_true, y_pred,
                    sample_weight=None) -> base.SharedStep:
    """`update` as a step that shares its histogram with metrics counting the
    same batch at the same grid (see `jm.SharedStep`)."""
    if self.from_logits:
      y_pred = jax.nn.sigmoid(jnp.asarray(y_pred, jnp.float32))
    y_true, y_pred, weights = thr.prepare(self, y_true, y_pred, sample_weight)
    if self.multi_label:
      if y_pred.ndim != 2 or y_pred.shape[-1] != self.num_labels:
        raise self.error(
            f"multi_label=True expects y_pred of shape (batch, num_labels="
            f"{self.num_labels}), got y_true {checks.shape_of(y_true)} and "
            f"y_pred {checks.shape_of(y_pred)}")
    elif self.label_weights is not None:
      label_weights = jnp.asarray(self.label_weights, jnp.float32)
      checks.check_broadcast(self, "label_weights", label_weights, y_pred.shape)
      label_weights = jnp.broadcast_to(label_weights, y_pred.shape)
      weights = label_weights if weights is None else weights * label_weights
    return thr.shared_batch(
        state.counts, thr.ConfusionState, (y_true, y_pred, weights), self.grid,
        aligned=("auc", self.from_logits, self.label_weights),
        multi_label=self.multi_label)

  def compute(self, state: thr.ConfusionState) -> jax.Array:
    """The AUC (float32 scalar, or ``dtype``); 0 for an empty state."""
    tp, fp, tn, fn = thr.totals(state)
    if self.curve == "PR" and self.summation_method == "interpolation":
      by_label = jnp.sum(_interpolate_pr_auc(tp, fp, fn), axis=0)
    else:
      x, y = _curve_xy(self.curve, tp, fp, tn, fn)
      if self.summation_method == "interpolation":
        heights = (y[:-1] + y[1:]) / 2.0
      elif self.summation_method == "minoring":
        heights = jnp.minimum(y[:-1], y[1:])
      else:
        heights = jnp.maximum(y[:-1], y[1:])
      by_label = jnp.sum((x[:-1] - x[1:]) * heights, axis=0)
    return self.result_dtype(self._average_labels(by_label))

  # -- beyond Keras ----------------------------------------------------------

  def _average_labels(self, by_label):
    """Keras' average of label AUCs (identity when not multi-label)."""
    if not self.multi_label:
      return by_label
    if self.label_weights is None:
      return jnp.mean(by_label)
    weights = jnp.asarray(self.label_weights, jnp.float32)
    return divide_no_nan(jnp.sum(by_label * weights), jnp.sum(weights))

  def curve_points(self, state: thr.ConfusionState) -> Curve:
    """The ROC and PR curves at the grid (see `Curve`), for plotting; jit-able.

    Per label (``(T, num_labels)`` arrays) when ``multi_label``. (The name
    ``curve`` is taken by Keras' constructor argument.)
    """
    return thr.curve(self.grid, state)

  def tie_bound(self, state: thr.ConfusionState) -> jax.Array:
    """Bound on ``|compute(state) - exact ROC AUC|`` of the samples seen.

    The exact AUC is scikit-learn's ``roc_auc_score`` of the same (float32)
    scores, labels and non-negative weights (per label, and averaged the same
    way, when ``multi_label``). See the module docstring for the derivation;
    float32 rounding of the sum itself (~1e-6) comes on top. jit-able.

    Raises:
      ValueError: if ``curve`` is not ``"ROC"`` (PR-AUC is Keras'
        interpolated area, not an average precision: see
        `MeanAveragePrecision`).
    """
    if self.curve != "ROC":
      raise self.error("tie_bound bounds the ROC AUC only, got "
                       f"curve={self.curve!r}; MeanAveragePrecision bounds "
                       "average precision")
    bound = roc_tie_bound(thr.totals(state), self.summation_method)
    return self._average_labels(bound)


def _curve_xy(curve, tp, fp, tn, fn):
  """Keras' (x, y) for the ROC, PR and PRGAIN curves."""
  recall = divide_no_nan(tp, tp + fn)
  if curve == "ROC":
    return divide_no_nan(fp, fp + tn), recall
  if curve == "PR":
    return recall, divide_no_nan(tp, tp + fp)
  # PRGAIN, with Keras' fixes: recall gain 0 and precision gain 1 where there
  # are no true positives, recall gain clipped at 0.
  scaling = divide_no_nan(tp + fn, tn + fp)
  recall_gain = 1.0 - scaling * divide_no_nan(fn, tp)
  precision_gain = 1.0 - scaling * divide_no_nan(fp, tp)
  recall_gain = jnp.where(tp == 0.0, 0.0, recall_gain)
  precision_gain = jnp.where(tp == 0.0, 1.0, precision_gain)
  return jnp.maximum(recall_gain, 0.0), precision_gain


def _interpolate_pr_auc(tp, fp, fn):
  """Keras' PR-AUC increments (Davis & Goadrich interpolation), per interval."""
  dtp = tp[:-1] - tp[1:]
  p = tp + fp
  dp = p[:-1] - p[1:]
  slope = divide_no_nan(dtp, jnp.maximum(dp, 0.0))
  intercept = tp[1:] - slope * p[1:]
  ratio = jnp.where((p[:-1] > 0) & (p[1:] > 0),
                    divide_no_nan(p[:-1], jnp.maximum(p[1:], 0.0)),
                    jnp.ones_like(p[1:]))
  return divide_no_nan(slope * (dtp + intercept * jnp.log(ratio)),
                       jnp.maximum(tp[1:] + fn[1:], 0.0))


class MeanAveragePrecisionState(NamedTuple):
  """Running TP and FP per threshold and label."""

  tp: wide.Wide  # float32[T, num_labels] pair: true positives.
  fp: wide.Wide  # float32[T, num_labels] pair: false positives.


@base.metric_dataclass
class MeanAveragePrecision(base.Metric):
  """Macro mean over labels of the average precision of multi-label scores.

  The average precision of a label is scikit-learn's step-function
  ``AP = sum_n (R_n - R_{n-1}) P_n`` (not Keras' interpolated PR-AUC), taken
  over the ``num_thresholds`` evenly spaced thresholds of [0, 1]; the metric
  is the unweighted mean over labels, as
  ``sklearn.metrics.average_precision_score(y_true, y_score,
  average="macro")``. Scores are clipped to [0, 1] (after the sigmoid when
  ``from_logits``); a label without positives has AP 0, as in scikit-learn.

  Scores in one bucket act as ties, so the result differs from scikit-learn's
  by at most the bound of the module docstring, which `tie_bound` computes
  from the state: about 1e-4 for 10**5 uniform scores per label at the default
  ``2**16 + 1`` thresholds (buckets of exactly 2**-16). The state is two
  ``(num_thresholds, num_labels)`` pairs of float32 arrays (``16 * T * L``
  bytes: 8 MiB for 2**16 thresholds and 16 labels).

  Args:
    num_labels: number of labels, the last axis of the inputs.
    num_thresholds: number of evenly spaced thresholds (> 1).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    from_logits: apply a sigmoid to ``y_pred`` first.

  Raises:
    ValueError: for an invalid configuration (naming the argument).

  Examples:
    >>> from jmetrics import MeanAveragePrecision
    >>> m = MeanAveragePrecision(num_labels=2)
    >>> y_true = [[1, 0], [0, 1], [1, 1], [0, 0]]
    >>> y_pred = [[0.9, 0.2], [0.8, 0.6], [0.3, 0.7], [0.1, 0.4]]
    >>> state = m.update(m.init(), y_true, y_pred)
    >>> round(float(m.compute(state)), 4)  # (0.8333 + 1.0) / 2
    0.9167
    >>> float(m.tie_bound(state, min_weight=1))  # No two scores share a bucket.
    0.0
  """

  num_labels: int = None
  num_thresholds: int = 2**16 + 1
  name: str = "mean_average_precision"
  dtype: Any = None
  from_logits: bool = False

  config_checks = {
      "num_labels": base.integer(
          minimum=1, message="num_labels must be a positive integer (the state "
          "has a fixed size), got num_labels={value!r}"),
      "num_thresholds": _NUM_THRESHOLDS,
      "from_logits": base.cast(bool),
  }

  def label_domain(self, y_true, y_pred):
    """Labels in ``[0, 1]``."""
    return base.LabelDomain(1.0)

  @functools.cached_property
  def grid(self) -> thr.Thresholds:
    """The evenly spaced threshold grid (built once; static)."""
    return thr.auc_grid(self.num_thresholds)

  def init(self) -> MeanAveragePrecisionState:
    zeros = lambda: wide.wide_zeros((self.num_thresholds, self.num_labels))
    return MeanAveragePrecisionState(zeros(), zeros())

  def update(self, state, y_true, y_pred, sample_weight=None):
    """Adds a batch of ``(batch, num_labels)`` labels and scores.

    With ``num_labels == 1``, rank-1 ``(batch,)`` inputs are accepted too.
    ``sample_weight`` broadcasts to ``y_true`` as in `AUC`.
    """
    if self.from_logits:
      y_pred = jax.nn.sigmoid(jnp.asarray(y_pred, jnp.float32))
    y_true, y_pred, weights = thr.prepare(self, y_true, y_pred, sample_weight)
    if self.num_labels == 1 and y_pred.ndim == 1:
      y_true, y_pred = y_true[:, None], y_pred[:, None]
      weights = None if weights is None else weights[:, None]
    if y_pred.ndim < 2 or y_pred.shape[-1] != self.num_labels:
      raise self.error(
          f"expected y_true and y_pred of shape (batch, num_labels="
          f"{self.num_labels}), got y_true {checks.shape_of(y_true)} and "
          f"y_pred {checks.shape_of(y_pred)}")
    # The evenly spaced grid clips scores to [0, 1], so every score exceeds
    # the first threshold (-eps) and tp[0] holds all positives.
    totals = thr.add_batch(thr.Counts(tp=state.tp, fp=state.fp, tn=None, fn=None),
                           y_true, y_pred, weights, self.grid, multi_label=True)
    return MeanAveragePrecisionState(totals.tp, totals.fp)

  def average_precision(self, state) -> jax.Array:
    """The AP of each label, float32 ``(num_labels,)``."""
    return average_precision(wide.wide_value(state.tp), wide.wide_value(state.fp))

  def compute(self, state) -> jax.Array:
    """The macro mean AP (float32 scalar, or ``dtype``); 0 for an empty state."""
    return self.result_dtype(jnp.mean(self.average_precision(state)))

  def tie_bound(self, state, per_label=False, min_weight=0.0) -> jax.Array:
    """Bound on ``|compute(state) - average_precision_score(macro)|``.

    See the module docstring; valid for non-negative weights, float32
    rounding of the sums (~1e-6) on top. jit-able.

    Args:
      state: the metric's state.
      per_label: return the ``(num_labels,)`` bounds of `average_precision`
        instead of their mean.
      min_weight: a lower bound on the weight of every positive with nonzero
        weight: 1 for unweighted updates; 0 (the default) is always valid.
    """
    bound = average_precision_tie_bound(wide.wide_value(state.tp),
                                        wide.wide_value(state.fp), min_weight)
    return bound if per_label else jnp.mean(bound)


def average_precision(tp, fp):
  """scikit-learn's step-function AP per label from TP and FP (float32
  ``(T, L)``) at an evenly spaced grid whose first threshold every score
  exceeds; 0 where a label has no positives."""
  # Bucket j holds the positives between thresholds j and j + 1.
  positives_in = tp - jnp.concatenate([tp[1:], jnp.zeros_like(tp[:1])])
  precision = divide_no_nan(tp, tp + fp)
  return divide_no_nan(jnp.sum(positives_in * precision, axis=0), tp[0])


def average_precision_tie_bound(tp, fp, min_weight=0.0):
  """The module docstring's bound on ``|average_precision(tp, fp) - exact
  AP|`` per label (see `MeanAveragePrecision.tie_bound`)."""
  zero = jnp.zeros_like(tp[:1])
  above_tp = jnp.concatenate([tp[1:], zero])  # A: positives above bucket j.
  above = above_tp + jnp.concatenate([fp[1:], zero])  # B: all above it.
  pos = tp - above_tp  # Bucket j holds the scores in (t_j, t_{j+1}].
  neg = (tp + fp) - above - pos
  later_positives = jnp.maximum(pos - min_weight, 0.0) * divide_no_nan(
      above - above_tp + neg, above + min_weight + neg)
  later_negatives = neg * divide_no_nan(above_tp + pos, above + pos)
  spread = divide_no_nan(jnp.maximum(later_positives, later_negatives),
                         tp + fp)  # tp + fp is D: the bucket and above.
  return divide_no_nan(jnp.sum(pos * spread, axis=0), tp[0])
