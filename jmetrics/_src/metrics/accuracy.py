"""Accuracy metrics: how often predictions match labels, as in Keras 3.

Every metric here is a sample-weighted mean of a per-sample 0/1 match (a
`reduction.SampleMeanMetric`), so its state is two exact totals and an update
costs one read of the inputs. Shapes, dtypes and ties follow Keras 3 on the
JAX backend:

* `Accuracy` and `BinaryAccuracy` first squeeze or expand a trailing unit axis
  so that ``y_true`` and ``y_pred`` have the same rank, as Keras' losses do.
* `CategoricalAccuracy` and `SparseCategoricalAccuracy` compare ``argmax``
  indices; like Keras' JAX ``argmax``, on CPU a negative zero (or a negative
  value the CPU flushes to zero) counts as smaller than ``+0.0``, and
  elsewhere the first maximal index wins.
* The top-k metrics never sort: a label is in the top ``k`` when fewer than
  ``k`` scores are strictly greater than its own score (Keras'
  ``ops.in_top_k`` on JAX), so every class tied with the label's score ranks
  with it. A NaN score at the label counts as ``-inf``. On CPU, float32
  scores are counted by one read that stops at ``k`` (`kernels.in_top_k`).

Where Keras would compute a number from shapes that do not correspond
(``y_true`` broadcast against the batch of ``y_pred``, a missing class axis,
one-hot labels with another number of classes than the scores, sorted ids
fewer than ``k``), these metrics raise a ``ValueError`` while tracing.
Class indices are compared exactly, without Keras' cast to the dtype of
``y_pred`` (which, for bfloat16 scores, merges labels above 256).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jmetrics._src import base
from jmetrics._src import kernels
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import weighting

_F32 = jnp.float32


def _matches(x) -> jax.Array:
  return jnp.asarray(x, _F32)


def _argmax(x) -> jax.Array:
  """Index of the largest entry on the last axis, chosen as Keras' JAX backend
  (see `kernels.argmax`)."""
  return kernels.argmax(x, axis=-1)


def _index_dtype(y_pred):
  """Dtype in which labels meet argmax indices: exact for any label < 2**24."""
  if jnp.issubdtype(y_pred.dtype, jnp.floating):
    # Float labels such as 2.0 still match index 2 while 2.5 matches nothing.
    return jnp.promote_types(y_pred.dtype, _F32)
  return jnp.int32


def _check_same_after_alignment(metric, y_true, y_pred, true_aligned,
                                pred_aligned):
  if true_aligned.shape != pred_aligned.shape:
    raise checks.fail(
        metric, "expected y_true and y_pred of the same shape (up to a "
        f"trailing axis of size 1), got y_true {checks.shape_of(y_true)} and "
        f"y_pred {checks.shape_of(y_pred)}")


def _check_sparse(metric, labels, y_true, y_pred):
  """One label (``y_true`` less a squeezed unit axis) per row of ``y_pred``."""
  if labels.ndim + 1 != y_pred.ndim:
    raise checks.fail(
        metric, "expected y_pred.ndim == y_true.ndim + 1, got y_true "
        f"{checks.shape_of(y_true)} and y_pred {checks.shape_of(y_pred)}")
  if labels.shape != y_pred.shape[:-1]:
    raise checks.fail(
        metric, "expected y_true of shape y_pred.shape[:-1] = "
        f"{y_pred.shape[:-1]} (or with a trailing axis of size 1), got y_true "
        f"{checks.shape_of(y_true)} and y_pred {checks.shape_of(y_pred)}")


def _check_categorical(metric, y_true, y_pred):
  """One-hot ``y_true`` and scores ``y_pred`` of the same shape.

  Keras also takes ``y_true`` of shape ``(..., 1, C)`` against ``y_pred`` of
  shape ``(..., C)``; so do we.
  """
  if y_pred.ndim == 0 or y_true.ndim == 0:
    raise checks.fail(
        metric, "expected y_true and y_pred with a class axis, got y_true "
        f"{checks.shape_of(y_true)} and y_pred {checks.shape_of(y_pred)}")
  same = y_true.shape == y_pred.shape
  unit_axis = (y_true.ndim == y_pred.ndim + 1 and y_true.shape[-2] == 1 and
               y_true.shape[:-2] + y_true.shape[-1:] == y_pred.shape)
  if not (same or unit_axis):
    raise checks.fail(
        metric, "expected one-hot y_true of the same shape as y_pred, got "
        f"y_true {checks.shape_of(y_true)} and y_pred {checks.shape_of(y_pred)}")


def _row_scores(y_pred):
  """``y_pred`` as the rows `kernels.row_statistics` reads, or None where the
  direct computation applies (other dtypes, no row axis)."""
  y_pred = jnp.asarray(y_pred)
  return y_pred if y_pred.dtype == _F32 and y_pred.ndim >= 2 else None


def _sparse_row_labels(y_true, labels, cast: str):
  """Kernel labels and their ``made_by`` tag for the labels of a sparse
  metric (``labels``: ``y_true`` as the metric casts it, less a unit axis).
  Integer ``y_true`` gives every sparse metric the same int32 ids
  (`arithmetic.class_ids` of ``y_true`` itself); float labels keep the
  metric's cast and a tag of it (``cast``), so that only metrics casting
  them alike share."""
  y_true = jnp.asarray(y_true)
  if jnp.issubdtype(y_true.dtype, jnp.integer):
    return (arithmetic.class_ids(y_true.reshape(labels.shape)),
            ("sparse labels", "integer"))
  return labels, ("sparse labels", cast)


def _one_hot_request(metric, y_true, y_pred, output: str, matches):
  """The `reduction.RowRequest` of a one-hot metric reading ``output`` of
  float32 score rows; ``matches(labels, stats[output])`` is the hit per row.
  Labels are ``argmax(y_true)`` of float32 one-hot ``y_true``."""
  scores, y_true = _row_scores(y_pred), jnp.asarray(y_true)
  if scores is None or y_true.dtype != _F32:
    return None
  _check_categorical(metric, y_true, scores)
  labels = _argmax(y_true).reshape(scores.shape[:-1]).astype(jnp.int32)
  return reduction.RowRequest(
      scores, labels, (output,), ("one-hot labels", "argmax"),
      lambda stats: _matches(matches(labels, stats[output])).reshape(
          y_true.shape[:-1]))


# Keras takes k=0 and then reports 0 for every sample; that is never meant.
_K = base.integer(minimum=1)


@base.metric_dataclass
class Accuracy(reduction.SampleMeanMetric):
  """How often predictions equal labels, as ``keras.metrics.Accuracy``.

  ``y_true`` is cast to the dtype of ``y_pred`` and compared elementwise
  after Keras' trailing-axis alignment (``(N,)`` against ``(N, 1)`` is fine).
  An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import Accuracy
    >>> m = Accuracy()
    >>> state = m.update(m.init(), [[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> float(m.compute(state))
    0.75
    >>> state = m.update(m.init(), [1, 2, 3, 4], [0, 2, 3, 4],
    ...                  sample_weight=[1, 1, 0, 0])
    >>> float(m.compute(state))
    0.5
  """

  name: str = "accuracy"
  dtype: Any = None

  def values(self, y_true, y_pred) -> jax.Array:
    """Per-element 1.0 where ``y_true == y_pred``, else 0.0.

    Args:
      y_true: labels; the batch on axis 0.
      y_pred: predictions, of ``y_true``'s shape up to a trailing unit axis.

    Returns:
      float32 matches of the aligned shape.

    Raises:
      ValueError: if the shapes differ after alignment.
    """
    y_pred = jnp.asarray(y_pred)
    y_true_in = jnp.asarray(y_true)
    y_true = y_true_in.astype(y_pred.dtype)
    aligned_true, aligned_pred = weighting.squeeze_or_expand_to_same_rank(
        y_true, y_pred)
    _check_same_after_alignment(self, y_true_in, y_pred, aligned_true,
                                aligned_pred)
    return _matches(aligned_true == aligned_pred)


@base.metric_dataclass
class BinaryAccuracy(reduction.SampleMeanMetric):
  """How often thresholded predictions match binary labels.

  As ``keras.metrics.BinaryAccuracy``: a prediction counts as 1 when it is
  strictly greater than ``threshold``, is cast to the dtype of ``y_true`` and
  compared with it, so soft labels (0.7) never match. The threshold is a
  weakly typed scalar, as in Keras: against bfloat16 predictions it is
  rounded to bfloat16 too.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    threshold: predictions above it count as the positive class.

  Examples:
    >>> from jmetrics import BinaryAccuracy
    >>> m = BinaryAccuracy()
    >>> y_true, y_pred = [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    0.75
    >>> m = BinaryAccuracy(threshold=0.7)
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    1.0
  """

  name: str = "binary_accuracy"
  dtype: Any = None
  threshold: float = 0.5

  config_checks = {"threshold": base.real(
      message="threshold must be a real number, got {value!r}")}

  def values(self, y_true, y_pred) -> jax.Array:
    """Per-element 1.0 where ``y_true == (y_pred > threshold)``, else 0.0.

    Args:
      y_true: binary labels; the batch on axis 0.
      y_pred: scores, of ``y_true``'s shape up to a trailing unit axis.

    Returns:
      float32 matches of the aligned shape.

    Raises:
      ValueError: if the shapes differ after alignment.
    """
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    aligned_true, aligned_pred = weighting.squeeze_or_expand_to_same_rank(
        y_true, y_pred)
    _check_same_after_alignment(self, y_true, y_pred, aligned_true,
                                aligned_pred)
    predicted = (aligned_pred > jnp.asarray(self.threshold)).astype(
        aligned_true.dtype)
    return _matches(aligned_true == predicted)


@base.metric_dataclass
class CategoricalAccuracy(reduction.SampleMeanMetric):
  """How often the argmax of the scores is the argmax of one-hot labels.

  As ``keras.metrics.CategoricalAccuracy``; ``y_pred`` may hold logits or
  probabilities. When several scores tie for the maximum, only the one
  ``argmax`` picks counts (see the module docstring).

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import CategoricalAccuracy
    >>> m = CategoricalAccuracy()
    >>> y_true = [[0, 0, 1], [0, 1, 0]]
    >>> y_pred = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    0.5
    >>> state = m.update(m.init(), y_true, y_pred, sample_weight=[0.7, 0.3])
    >>> round(float(m.compute(state)), 6)
    0.3
  """

  name: str = "categorical_accuracy"
  dtype: Any = None

  def values(self, y_true, y_pred) -> jax.Array:
    """1.0 per sample where ``argmax(y_true) == argmax(y_pred)``, else 0.0.

    Args:
      y_true: one-hot (or soft) labels of shape ``(..., C)``.
      y_pred: scores of the same shape.

    Returns:
      float32 matches of shape ``y_true.shape[:-1]``.

    Raises:
      ValueError: if the shapes differ or there is no class axis.
    """
    rows = self.row_values(y_true, y_pred)
    if rows is not None:
      return rows
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    _check_categorical(self, y_true, y_pred)
    labels = _argmax(y_true).reshape(y_pred.shape[:-1])
    return _matches(labels == _argmax(y_pred)).reshape(y_true.shape[:-1])

  def row_request(self, y_true, y_pred):
    """The argmax of float32 score rows (see `reduction.RowRequest`)."""
    return _one_hot_request(self, y_true, y_pred, "argmax",
                            lambda labels, argmax: labels == argmax)


@base.metric_dataclass
class SparseCategoricalAccuracy(reduction.SampleMeanMetric):
  """How often the argmax of the scores equals integer labels.

  As ``keras.metrics.SparseCategoricalAccuracy``: labels of shape ``(...)``
  or ``(..., 1)`` against scores of shape ``(..., C)``. Float labels are
  compared as numbers (2.0 matches class 2, 2.5 matches nothing); labels
  outside ``[0, C)`` never match.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import SparseCategoricalAccuracy
    >>> m = SparseCategoricalAccuracy()
    >>> y_pred = [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]
    >>> float(m.compute(m.update(m.init(), [[2], [1]], y_pred)))
    0.5
    >>> m.update(m.init(), [2, 1, 0], [2, 1, 0])
    Traceback (most recent call last):
    ...
    ValueError: SparseCategoricalAccuracy: expected y_pred.ndim == y_true.ndim + 1, got y_true (3,) and y_pred (3,)
  """

  name: str = "sparse_categorical_accuracy"
  dtype: Any = None

  def label_domain(self, y_true, y_pred):
    """Class ids in ``[0, C)``."""
    return base.LabelDomain(checks.shape_of(y_pred)[-1], class_ids=True)

  def values(self, y_true, y_pred) -> jax.Array:
    """1.0 per sample where ``y_true == argmax(y_pred)``, else 0.0.

    Args:
      y_true: class indices of shape ``y_pred.shape[:-1]``, optionally with a
        trailing axis of size 1.
      y_pred: scores of shape ``(..., C)``.

    Returns:
      float32 matches, of ``y_true``'s shape less a trailing unit axis (as
      Keras returns them).

    Raises:
      ValueError: if ``y_true`` does not have the batch shape of ``y_pred``.
    """
    rows = self.row_values(y_true, y_pred)
    if rows is not None:
      return rows
    y_pred = jnp.asarray(y_pred)
    labels, squeeze = self._labels(y_true, y_pred)
    return self._matches(y_true, labels, squeeze, _argmax(y_pred), y_pred)

  def _labels(self, y_true, y_pred):
    y_true = jnp.asarray(y_true)
    # Keras squeezes (N, 1) labels only when they have y_pred's rank.
    squeeze = (y_true.ndim == y_pred.ndim and y_true.ndim > 0 and
               y_true.shape[-1] == 1)
    labels = jnp.squeeze(y_true, -1) if squeeze else y_true
    _check_sparse(self, labels, y_true, y_pred)
    return labels, squeeze

  @staticmethod
  def _matches(y_true, labels, squeeze, argmax, y_pred):
    dtype = _index_dtype(y_pred)
    matches = _matches(labels.astype(dtype) == argmax.astype(dtype))
    if squeeze:
      matches = matches.reshape(jnp.shape(y_true))
    if matches.ndim > 1 and matches.shape[-1] == 1:
      matches = jnp.squeeze(matches, -1)
    return matches

  def row_request(self, y_true, y_pred):
    """The argmax of float32 score rows (see `reduction.RowRequest`)."""
    scores = _row_scores(y_pred)
    if scores is None:
      return None
    labels, squeeze = self._labels(y_true, scores)
    ids, made_by = _sparse_row_labels(y_true, labels, "compared as floats")
    if not jnp.issubdtype(ids.dtype, jnp.integer):
      ids = None  # the argmax alone needs no labels
    return reduction.RowRequest(
        scores, ids, ("argmax",), made_by,
        lambda stats: self._matches(y_true, labels, squeeze, stats["argmax"],
                                    scores))


@base.metric_dataclass
class TopKCategoricalAccuracy(reduction.SampleMeanMetric):
  """How often the one-hot label is among the ``k`` highest scores.

  As ``keras.metrics.TopKCategoricalAccuracy``: the label is
  ``argmax(y_true)`` (taken after casting ``y_true`` to the dtype of
  ``y_pred``, as Keras does), and it is in the top ``k`` when fewer than
  ``k`` scores are strictly greater than its score, so ties count in its
  favour. Computed with one count per sample, never a sort.

  Args:
    k: how many of the highest scores may hold the label (an integer >= 1).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Raises:
    ValueError: if ``k`` is not an integer >= 1.

  Examples:
    >>> from jmetrics import TopKCategoricalAccuracy
    >>> y_true = [[0, 0, 1], [0, 1, 0]]
    >>> y_pred = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    >>> m = TopKCategoricalAccuracy(k=1)
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    0.5
    >>> m = TopKCategoricalAccuracy(k=2)
    >>> float(m.compute(m.update(m.init(), y_true, y_pred)))
    1.0
  """

  k: int = 5
  name: str = "top_k_categorical_accuracy"
  dtype: Any = None

  config_checks = {"k": _K}

  def values(self, y_true, y_pred) -> jax.Array:
    """1.0 per sample where ``argmax(y_true)`` is in the top ``k`` of ``y_pred``.

    Args:
      y_true: one-hot labels of shape ``(..., C)``.
      y_pred: scores of the same shape.

    Returns:
      float32 matches of shape ``y_true.shape[:-1]``.

    Raises:
      ValueError: if the shapes differ or there is no class axis.
    """
    rows = self.row_values(y_true, y_pred)
    if rows is not None:
      return rows
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    _check_categorical(self, y_true, y_pred)
    labels = _argmax(y_true.astype(y_pred.dtype)).reshape(y_pred.shape[:-1])
    matches = kernels.in_top_k(labels.astype(jnp.int32), y_pred, self.k)
    return _matches(matches).reshape(y_true.shape[:-1])

  def row_request(self, y_true, y_pred):
    """The label's rank in float32 score rows (see `reduction.RowRequest`)."""
    return _one_hot_request(self, y_true, y_pred, "outranked",
                            lambda labels, outranked: outranked < self.k)


@base.metric_dataclass
class SparseTopKCategoricalAccuracy(reduction.SampleMeanMetric):
  """How often integer labels are among the ``k`` highest scores.

  As ``keras.metrics.SparseTopKCategoricalAccuracy``. By default ``y_pred``
  holds the scores of all ``C`` classes and a label is in the top ``k`` when
  fewer than ``k`` scores are strictly greater than its score (ties count in
  its favour; a label outside ``[-C, C)`` is in the top ``k`` only if
  ``k > C``, since negative labels index from the end as in Keras). Labels
  are cast to int32 (float labels truncate).

  With ``from_sorted_ids=True``, ``y_pred`` holds the ids of the top ``N``
  classes, best first, and the label must equal one of the first ``k``; ``N``
  must be at least ``k``.

  Args:
    k: how many of the highest scores may hold the label (an integer >= 1).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    from_sorted_ids: whether ``y_pred`` holds sorted class ids rather than
      scores.

  Raises:
    ValueError: if ``k`` is not an integer >= 1.

  Examples:
    >>> from jmetrics import SparseTopKCategoricalAccuracy
    >>> m = SparseTopKCategoricalAccuracy(k=1)
    >>> y_pred = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    >>> float(m.compute(m.update(m.init(), [2, 1], y_pred)))
    0.5
    >>> m = SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True)
    >>> float(m.compute(m.update(m.init(), [2, 1], [[1, 0, 3], [1, 2, 3]])))
    0.5
  """

  k: int = 5
  name: str = "sparse_top_k_categorical_accuracy"
  dtype: Any = None
  from_sorted_ids: bool = False

  config_checks = {"k": _K, "from_sorted_ids": base.boolean()}

  def label_domain(self, y_true, y_pred):
    """Class ids in ``[0, C)``."""
    return base.LabelDomain(checks.shape_of(y_pred)[-1], class_ids=True)

  def values(self, y_true, y_pred) -> jax.Array:
    """1.0 per sample where ``y_true`` is in the top ``k`` of ``y_pred``.

    Args:
      y_true: class ids of shape ``y_pred.shape[:-1]``, optionally with a
        trailing axis of size 1.
      y_pred: scores of shape ``(..., C)``, or with ``from_sorted_ids`` the
        ids of the best ``N >= k`` classes, best first.

    Returns:
      float32 matches of ``y_true``'s shape.

    Raises:
      ValueError: if ``y_true`` does not have the batch shape of ``y_pred``,
        or sorted ids are fewer than ``k``.
    """
    rows = self.row_values(y_true, y_pred)
    if rows is not None:
      return rows
    y_pred = jnp.asarray(y_pred)
    y_true, labels = self._labels(y_true, y_pred)
    if self.from_sorted_ids:
      if y_pred.shape[-1] < self.k:
        raise self.error(
            f"expected at least k={self.k} sorted ids in y_pred, got y_pred "
            f"{checks.shape_of(y_pred)}")
      matches = jnp.any(labels[..., None] == y_pred[..., :self.k], axis=-1)
    else:
      matches = kernels.in_top_k(labels, y_pred, self.k)
    return _matches(matches).reshape(y_true.shape)

  def _labels(self, y_true, y_pred):
    """``(y_true as cast, labels)``: Keras' cast, less a trailing unit axis."""
    dtype = y_pred.dtype if self.from_sorted_ids else jnp.int32
    y_true = jnp.asarray(y_true, dtype=dtype)
    # Keras flattens, so (..., 1) labels work and keep their shape.
    squeeze = (y_true.ndim == y_pred.ndim and y_true.ndim > 0 and
               y_true.shape[-1] == 1)
    labels = jnp.squeeze(y_true, -1) if squeeze else y_true
    _check_sparse(self, labels, y_true, y_pred)
    return y_true, labels

  def row_request(self, y_true, y_pred):
    """The label's rank in float32 score rows (see `reduction.RowRequest`)."""
    scores = _row_scores(y_pred)
    if scores is None or self.from_sorted_ids:
      return None
    cast, labels = self._labels(y_true, scores)
    ids, made_by = _sparse_row_labels(y_true, labels, "cast to int32")
    return reduction.RowRequest(
        scores, ids, ("outranked",), made_by,
        lambda stats: _matches(stats["outranked"] < self.k).reshape(cast.shape))


def binary_accuracy(y_true, y_pred, threshold=0.5) -> jax.Array:
  """Per-element binary accuracy, as ``keras.metrics.binary_accuracy``.

  Args:
    y_true: binary labels.
    y_pred: scores, of ``y_true``'s shape up to a trailing unit axis.
    threshold: predictions above it count as the positive class.

  Returns:
    float32 1.0 where ``y_true == (y_pred > threshold)``, else 0.0.

  Raises:
    ValueError: if the shapes differ after alignment.

  Examples:
    >>> from jmetrics import binary_accuracy
    >>> binary_accuracy([1, 1, 0, 0], [0.98, 1, 0, 0.6]).tolist()
    [1.0, 1.0, 1.0, 0.0]
  """
  return BinaryAccuracy(threshold=threshold).values(y_true, y_pred)


def categorical_accuracy(y_true, y_pred) -> jax.Array:
  """Per-sample categorical accuracy, as ``keras.metrics.categorical_accuracy``.

  Args:
    y_true: one-hot labels of shape ``(..., C)``.
    y_pred: scores of the same shape.

  Returns:
    float32 matches of shape ``y_true.shape[:-1]``.

  Raises:
    ValueError: if the shapes differ or there is no class axis.

  Examples:
    >>> from jmetrics import categorical_accuracy
    >>> categorical_accuracy([[0, 0, 1], [0, 1, 0]],
    ...                      [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]).tolist()
    [0.0, 1.0]
  """
  return CategoricalAccuracy().values(y_true, y_pred)


def sparse_categorical_accuracy(y_true, y_pred) -> jax.Array:
  """Per-sample accuracy of integer labels, as Keras' function of that name.

  Args:
    y_true: class indices of shape ``y_pred.shape[:-1]`` (or with a trailing
      axis of size 1).
    y_pred: scores of shape ``(..., C)``.

  Returns:
    float32 matches, of ``y_true``'s shape less a trailing unit axis.

  Raises:
    ValueError: if ``y_true`` does not have the batch shape of ``y_pred``.

  Examples:
    >>> from jmetrics import sparse_categorical_accuracy
    >>> sparse_categorical_accuracy([[2], [1]],
    ...                             [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]).tolist()
    [0.0, 1.0]
  """
  return SparseCategoricalAccuracy().values(y_true, y_pred)


def top_k_categorical_accuracy(y_true, y_pred, k=5) -> jax.Array:
  """Per-sample top-k accuracy of one-hot labels, as Keras' function.

  Args:
    y_true: one-hot labels of shape ``(..., C)``.
    y_pred: scores of the same shape.
    k: how many of the highest scores may hold the label (an integer >= 1).

  Returns:
    float32 matches of shape ``y_true.shape[:-1]``.

  Raises:
    ValueError: if ``k`` < 1, the shapes differ or there is no class axis.

  Examples:
    >>> from jmetrics import top_k_categorical_accuracy
    >>> top_k_categorical_accuracy([[0, 0, 1], [0, 1, 0]],
    ...                            [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
    ...                            k=1).tolist()
    [0.0, 1.0]
  """
  return TopKCategoricalAccuracy(k=k).values(y_true, y_pred)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5,
                                      from_sorted_ids=False) -> jax.Array:
  """Per-sample top-k accuracy of integer labels, as Keras' function.

  Args:
    y_true: class ids of shape ``y_pred.shape[:-1]`` (or with a trailing axis
      of size 1).
    y_pred: scores of shape ``(..., C)``, or with ``from_sorted_ids`` the ids
      of the best ``N >= k`` classes, best first.
    k: how many of the highest scores may hold the label (an integer >= 1).
    from_sorted_ids: whether ``y_pred`` holds sorted class ids.

  Returns:
    float32 matches of ``y_true``'s shape.

  Raises:
    ValueError: if ``k`` < 1, ``y_true`` does not have the batch shape of
      ``y_pred``, or sorted ids are fewer than ``k``.

  Examples:
    >>> from jmetrics import sparse_top_k_categorical_accuracy
    >>> sparse_top_k_categorical_accuracy(
    ...     [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], k=2).tolist()
    [1.0, 1.0]
    >>> sparse_top_k_categorical_accuracy(  # a tie with the label counts for it
    ...     [0], [[0.5, 0.5, 0.5]], k=1).tolist()
    [1.0]
  """
  return SparseTopKCategoricalAccuracy(
      k=k, from_sorted_ids=from_sorted_ids).values(y_true, y_pred)
