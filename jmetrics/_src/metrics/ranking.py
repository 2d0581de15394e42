"""Ranking metrics of Keras Recommenders (``keras_rs.metrics``).

`NDCG`, `DCG`, `MeanReciprocalRank`, `RankingMeanAveragePrecision`,
`PrecisionAtK` and `RecallAtK` score lists of items: ``y_true`` holds each
item's relevance and ``y_pred`` its score, ``(batch, list_size)`` (or one
``(list_size,)`` list). Items are ranked by descending score, and the
metric is the weighted mean over lists of a per-list value, as keras-rs
computes it:

* an item is left out where its label is negative (``-1`` pads a list),
  where ``list_mask`` is False, or where its weight is 0; left-out items
  rank last and count nowhere;
* an item is relevant where its label is at least 1;
* ``k`` (``None``: the whole list) keeps the top ``k`` ranks;
* ``sample_weight`` is a scalar, one weight per list or one per item; item
  weights enter the gains (`NDCG`, `DCG`) and precisions
  (`RankingMeanAveragePrecision`), and a list's weight is keras-rs'
  ``sum(weights * relevance) / sum(relevance)``. A list without relevance
  gets the mean weight of the batch's other lists (1 if none has any):
  keras-rs' rule, which depends on the batch, so a batch split across
  devices can weigh such lists differently than the whole batch would.

Equal scores rank by position (the earlier item first); keras-rs breaks
such ties at random. The top ``k`` ranks come from ``jax.lax.top_k``, not a
full sort.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks

_F32 = jnp.float32


def _lists(metric, y_true, y_pred, sample_weight, list_mask):
  """``(labels, scores, weights, valid)`` of shape ``(batch, list_size)``:
  labels and weights zeroed where left out, scores ``-inf`` there."""
  y_true, y_pred = jnp.asarray(y_true, _F32), jnp.asarray(y_pred, _F32)
  if y_true.ndim not in (1, 2) or y_true.shape != y_pred.shape:
    raise metric.error(
        f"expected y_true and y_pred of one shape (batch, list_size) or "
        f"(list_size,), got y_true {checks.shape_of(y_true)} and y_pred "
        f"{checks.shape_of(y_pred)}")
  batched = y_true.ndim == 2
  weights = jnp.ones_like(y_true)
  if sample_weight is not None:
    given = jnp.asarray(sample_weight, _F32)
    if given.ndim == 1 and batched:
      given = given[:, None]  # one weight per list
    checks.check_broadcast(metric, "sample_weight", given, y_true.shape,
                           given=sample_weight)
    weights = weights * given
  valid = y_true >= 0
  if list_mask is not None:
    list_mask = jnp.asarray(list_mask)
    if list_mask.shape != y_true.shape:
      raise metric.error(f"list_mask of shape {checks.shape_of(list_mask)} "
                         f"does not match y_true {checks.shape_of(y_true)}")
    valid = valid & list_mask.astype(bool)
  if not batched:
    y_true, y_pred, weights, valid = (x[None] for x in
                                      (y_true, y_pred, weights, valid))
  valid = valid & (weights > 0)
  return (jnp.where(valid, y_true, 0.0), jnp.where(valid, y_pred, -jnp.inf),
          jnp.where(valid, weights, 0.0), valid)


def _top(keys, k, *arrays):
  """``arrays`` in the order of the top ``k`` (all if None) ``keys`` of each
  list, ties by position."""
  size = keys.shape[1]
  _, order = jax.lax.top_k(keys, size if k is None else min(k, size))
  return [jnp.take_along_axis(x, order, axis=1) for x in arrays]


def _list_weights(weights, relevance):
  """keras-rs' per-list weights ``(batch,)``: the relevance-weighted mean
  item weight, or for lists without relevance the mean of the others'."""
  has_weight = jnp.sum(weights, axis=1) > 0
  relevance_sum = jnp.sum(relevance, axis=1)
  has_relevance = relevance_sum > 0
  per_list = arithmetic.divide_no_nan(jnp.sum(weights * relevance, axis=1),
                                      relevance_sum)
  counted = jnp.sum((has_weight & has_relevance).astype(_F32))
  default = jnp.where(counted > 0,
                      arithmetic.divide_no_nan(jnp.sum(per_list), counted), 1.0)
  return jnp.where(has_weight, jnp.where(has_relevance, per_list, default), 0.0)


def _discounts(size):
  ranks = np.arange(1, size + 1, dtype=np.float32)
  return jnp.asarray(1.0 / np.log2(1.0 + ranks), _F32)


def _gains(labels):
  return jnp.power(2.0, labels) - 1.0


class _RankingMetric(base.Metric):
  """A weighted mean over lists of `_per_list` (keras-rs' ``RankingMetric``).

  The default `masked_update` holds: a list of weight 0 is left out of the
  mean and of the weight its batch gives lists without relevance.
  """

  config_checks = {
      "k": base.integer(minimum=1, optional=True),
  }

  def _per_list(self, labels, scores, weights, valid):
    """``(values, list weights)``, each ``(batch,)``."""
    raise NotImplementedError

  def update(self, state, y_true, y_pred, sample_weight=None, list_mask=None):
    """Adds a batch of lists.

    Args:
      state: the running state.
      y_true: relevance labels ``(batch, list_size)`` or ``(list_size,)``;
        negative labels pad a list.
      y_pred: scores of ``y_true``'s shape.
      sample_weight: ``None``, a scalar, ``(batch,)`` list weights or item
        weights of ``y_true``'s shape.
      list_mask: ``None`` or a boolean array of ``y_true``'s shape; False
        leaves an item out (keras-rs' ``y_true["mask"]``).

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, if the shapes do not fit.
    """
    lists = _lists(self, y_true, y_pred, sample_weight, list_mask)
    values, weights = self._per_list(*lists)
    return reduction.mean_update(self, state, values, weights)

  def init(self) -> reduction.MeanState:
    return reduction.mean_init()

  def compute(self, state: reduction.MeanState) -> jax.Array:
    return reduction.mean_compute(self, state)


_ARGS = """
  Args:
    k: ``None`` (the whole list) or the number of top ranks kept.
    name: key of the metric.
    dtype: the result's dtype (float32 if ``None``).
"""


@base.metric_dataclass
class DCG(_RankingMetric):
  """Discounted cumulative gain, as ``keras_rs.metrics.DCG``.

  ``sum_i w_i (2**y_i - 1) / log2(1 + rank_i)`` over the top ``k`` ranks,
  divided by the list's weight (which the mean over lists multiplies back).
  {args}
  Examples:
    >>> import jmetrics as jm
    >>> m = jm.DCG()
    >>> state = m.update(m.init(), [[0, 1, 2]], [[0.9, 0.1, 0.5]])
    >>> round(float(m.compute(state)), 4)  # 3 / log2(3) + 1 / 2
    2.3928
  """

  k: Any = None
  name: str = None
  dtype: Any = None

  def _per_list(self, labels, scores, weights, valid):
    ranked_labels, ranked_weights = _top(scores, self.k, labels, weights)
    dcg = jnp.sum(ranked_weights * _gains(ranked_labels)
                  * _discounts(ranked_labels.shape[1]), axis=1)
    list_weights = _list_weights(weights, _gains(labels))
    # The weights are in the gains already: the mean divides them out.
    return arithmetic.divide_no_nan(dcg, list_weights), list_weights


@base.metric_dataclass
class NDCG(_RankingMetric):
  """Normalised discounted cumulative gain, as ``keras_rs.metrics.NDCG``.

  `DCG` over the ranking by score, divided by the DCG of the ideal ranking
  (by weighted gain); 0 for a list without gain.
  {args}
  Examples:
    >>> import jmetrics as jm
    >>> m = jm.NDCG()
    >>> state = m.update(m.init(), [[0, 1, 2]], [[0.9, 0.1, 0.5]])
    >>> round(float(m.compute(state)), 4)  # 2.3928 / (3 + 1 / log2(3))
    0.659
  """

  k: Any = None
  name: str = None
  dtype: Any = None

  def _per_list(self, labels, scores, weights, valid):
    gains = _gains(labels)
    discounts = _discounts(labels.shape[1])

    def dcg(keys):
      ranked_gains, ranked_weights = _top(keys, self.k, gains, weights)
      return jnp.sum(ranked_weights * ranked_gains
                     * discounts[:ranked_gains.shape[1]], axis=1)

    ideal_keys = jnp.where(valid, weights * gains, -jnp.inf)
    ndcg = arithmetic.divide_no_nan(dcg(scores), dcg(ideal_keys))
    return ndcg, _list_weights(weights, gains)


@base.metric_dataclass
class MeanReciprocalRank(_RankingMetric):
  """Mean reciprocal rank, as ``keras_rs.metrics.MeanReciprocalRank``.

  ``1 / rank`` of the first relevant item within the top ``k`` ranks, 0
  without one.
  {args}
  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MeanReciprocalRank()
    >>> state = m.update(m.init(), [[0, 0, 1], [1, 0, 0]],
    ...                  [[0.9, 0.1, 0.5], [0.8, 0.3, 0.1]])
    >>> float(m.compute(state))  # (1/2 + 1) / 2
    0.75
  """

  k: Any = None
  name: str = None
  dtype: Any = None

  def _per_list(self, labels, scores, weights, valid):
    relevant = (labels >= 1).astype(_F32)
    (ranked,) = _top(scores, self.k, relevant)
    reciprocal = 1.0 / np.arange(1, ranked.shape[1] + 1, dtype=np.float32)
    return (jnp.max(ranked * reciprocal, axis=1),
            _list_weights(weights, relevant))


@base.metric_dataclass
class RankingMeanAveragePrecision(_RankingMetric):
  """Mean average precision of ranked lists, as
  ``keras_rs.metrics.MeanAveragePrecision``.

  Per list, the weighted mean over its relevant items within the top ``k``
  of the precision at their rank, divided by the list's whole weighted
  relevance (so relevant items below rank ``k`` count as 0). Not
  `MeanAveragePrecision`, the multi-label average precision of scores.
  {args}
  Examples:
    >>> import jmetrics as jm
    >>> m = jm.RankingMeanAveragePrecision()
    >>> state = m.update(m.init(), [[1, 0, 1]], [[0.9, 0.5, 0.1]])
    >>> round(float(m.compute(state)), 4)  # (1/1 + 2/3) / 2
    0.8333
  """

  k: Any = None
  name: str = None
  dtype: Any = None

  def _per_list(self, labels, scores, weights, valid):
    relevant = (labels >= 1).astype(_F32)
    ranked, ranked_weights = _top(scores, self.k, relevant, weights)
    cutoffs = np.arange(1, ranked.shape[1] + 1, dtype=np.float32)
    precision = jnp.cumsum(ranked, axis=1) / cutoffs
    total = jnp.sum(precision * ranked_weights * ranked, axis=1)
    return (arithmetic.divide_no_nan(total, jnp.sum(weights * relevant, axis=1)),
            _list_weights(weights, relevant))


@base.metric_dataclass
class PrecisionAtK(_RankingMetric):
  """Precision at ``k``, as ``keras_rs.metrics.PrecisionAtK``.

  The share of relevant items in the top ``k`` ranks, out of
  ``min(k, items left in)``.
  {args}
  Examples:
    >>> import jmetrics as jm
    >>> m = jm.PrecisionAtK(k=2)
    >>> state = m.update(m.init(), [[1, 0, 1, -1]], [[0.9, 0.5, 0.1, 0.7]])
    >>> float(m.compute(state))  # the padded item is left out
    0.5
  """

  k: Any = None
  name: str = None
  dtype: Any = None

  def _per_list(self, labels, scores, weights, valid):
    relevant = (labels >= 1).astype(_F32)
    (ranked,) = _top(scores, self.k, relevant)
    kept = jnp.minimum(ranked.shape[1], jnp.sum(valid, axis=1)).astype(_F32)
    return (arithmetic.divide_no_nan(jnp.sum(ranked, axis=1), kept),
            _list_weights(weights, relevant))


@base.metric_dataclass
class RecallAtK(_RankingMetric):
  """Recall at ``k``, as ``keras_rs.metrics.RecallAtK``.

  The share of a list's relevant items that rank in the top ``k``.
  {args}
  Examples:
    >>> import jmetrics as jm
    >>> m = jm.RecallAtK(k=1)
    >>> state = m.update(m.init(), [[1, 0, 1]], [[0.9, 0.5, 0.1]])
    >>> float(m.compute(state))
    0.5
  """

  k: Any = None
  name: str = None
  dtype: Any = None

  def _per_list(self, labels, scores, weights, valid):
    relevant = (labels >= 1).astype(_F32)
    (ranked,) = _top(scores, self.k, relevant)
    return (arithmetic.divide_no_nan(jnp.sum(ranked, axis=1),
                                     jnp.sum(relevant, axis=1)),
            _list_weights(weights, relevant))


for _cls in (DCG, NDCG, MeanReciprocalRank, RankingMeanAveragePrecision,
             PrecisionAtK, RecallAtK):
  _cls.__doc__ = _cls.__doc__.replace("{args}", _ARGS)
del _cls
