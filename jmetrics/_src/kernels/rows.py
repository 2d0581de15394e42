"""Per-row operations on scores: argmax, in-top-k, row statistics.

Each reads each row of ``(..., C)`` scores once and gives one result per row,
so a batch split over devices keeps its rows (`dispatch.Result.PER_ROW`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jmetrics._src.kernels import dispatch
from jmetrics._src.kernels import ffi
from jmetrics._src.numerics import arithmetic


@dataclasses.dataclass(frozen=True)
class _Argmax:
  axis: int
  keras_cpu_rule: bool


def _xla_argmax(params: _Argmax, x):
  if params.keras_cpu_rule:
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    negative_zero = (x == 0.0) & jnp.signbit(x)
    x = jnp.where(negative_zero, -jnp.finfo(x.dtype).tiny, x)
  return jnp.argmax(x, axis=params.axis).astype(jnp.int32)


def _native_argmax_accepts(params: _Argmax, x):
  return (x.ndim >= 2 and params.axis % x.ndim == x.ndim - 1
          and x.shape[-1] > 0 and jnp.issubdtype(x.dtype, jnp.floating)
          and jnp.finfo(x.dtype).bits <= 32)


ARGMAX = dispatch.Kernel(
    "argmax", _xla_argmax, dispatch.Result.PER_ROW,
    native=lambda params, x: ffi.argmax(x, signed_zeros=params.keras_cpu_rule),
    accepts=_native_argmax_accepts)


def argmax(x, axis: int = -1) -> jax.Array:
  """int32 index of the largest entry along ``axis``, as Keras' JAX ``argmax``.

  XLA on CPU flushes subnormals to zero and compares ``-0.0 == 0.0``; Keras
  then maps negative zeros to ``-tiny`` so that ``+0.0`` wins the argmax. On
  other platforms Keras calls ``jnp.argmax`` directly, and so do we. Every
  metric takes class ids from scores through this one function, so a
  collection's argmaxes of the same scores compile to one. On CPU the last
  axis of float32 (or narrower) scores is one native read; XLA's variadic
  argmax reduction costs about twenty.
  """
  x = jnp.asarray(x)
  keras_cpu_rule = (jnp.issubdtype(x.dtype, jnp.floating)
                    and jax.default_backend() == "cpu")
  return ARGMAX(_Argmax(axis, keras_cpu_rule), x)


def _xla_outranked(labels, scores) -> jax.Array:
  """int32 count per row of the scores strictly greater than the label's."""
  at_label = jnp.take_along_axis(scores, labels[..., None], axis=-1)
  # An out-of-range label gathers NaN from float scores; like a NaN score at
  # the label, it must not rank high.
  at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
  # Only strictly greater scores outrank the label, so ties favour it.
  return jnp.sum(scores > at_label, axis=-1).astype(jnp.int32)


def _xla_in_top_k(k: int, labels, scores) -> jax.Array:
  return _xla_outranked(labels, scores) < k


IN_TOP_K = dispatch.Kernel(
    "in_top_k", _xla_in_top_k, dispatch.Result.PER_ROW,
    native=lambda k, labels, scores: ffi.in_top_k(labels, scores, k) != 0,
    accepts=lambda k, labels, scores: (scores.dtype == jnp.float32
                                       and scores.size > 0))


def in_top_k(labels, scores, k: int) -> jax.Array:
  """Whether fewer than ``k`` scores beat the label's score (no sort).

  Args:
    labels: integer class ids of shape ``scores.shape[:-1]``.
    scores: ``(..., C)`` scores.
    k: how many scores may beat the label's.

  Returns:
    bool of ``labels``' shape. On CPU float32 scores take one native read of
    each row that stops counting at ``k``; the XLA body builds the (rows, C)
    comparison. Both give the same bits.
  """
  scores = jnp.asarray(scores)
  labels = jnp.asarray(labels)
  if scores.dtype == jnp.float32 and scores.size > 0:
    labels = arithmetic.class_ids(labels)
  return IN_TOP_K(k, labels, scores)


# What `row_statistics` can give, in sorted order.
ROW_OUTPUTS = ("argmax", "crossentropy", "outranked")


@dataclasses.dataclass(frozen=True)
class _RowStatistics:
  outputs: tuple[str, ...]  # a sorted subset of ROW_OUTPUTS
  keras_cpu_rule: bool  # argmax's rule, decided as `argmax` decides it


def _xla_crossentropy(labels, scores) -> jax.Array:
  """SparseCategoricalCrossentropy(from_logits=True)'s per-row value: the
  one-hot product as a select, ``0 * log_p`` keeping Keras' NaN where an
  unselected log-probability is infinite."""
  x = scores.astype(jnp.promote_types(scores.dtype, jnp.float32))
  log_p = jax.nn.log_softmax(x, axis=-1)
  classes = jax.lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)
  selected = classes == labels[..., None]
  return -jnp.sum(jnp.where(selected, log_p, 0.0 * log_p), axis=-1)


def _xla_row_statistics(params: _RowStatistics, scores, labels) -> dict:
  out = {}
  if "argmax" in params.outputs:
    out["argmax"] = _xla_argmax(_Argmax(-1, params.keras_cpu_rule), scores)
  if "crossentropy" in params.outputs:
    out["crossentropy"] = _xla_crossentropy(labels, scores)
  if "outranked" in params.outputs:
    out["outranked"] = _xla_outranked(labels, scores)
  return out


def _native_row_statistics(params: _RowStatistics, scores, labels) -> dict:
  values = ffi.row_statistics(scores, labels, outputs=params.outputs,
                              signed_zeros=params.keras_cpu_rule)
  return dict(zip(params.outputs, values))


def _native_row_statistics_accepts(params: _RowStatistics, scores, labels):
  del params, labels
  return (scores.dtype == jnp.float32 and scores.ndim >= 2
          and scores.shape[-1] >= 1 and scores.size > 0)


ROW_STATISTICS = dispatch.Kernel(
    "row_statistics", _xla_row_statistics, dispatch.Result.PER_ROW,
    native=_native_row_statistics, accepts=_native_row_statistics_accepts)


def row_statistics(scores, labels, outputs: tuple[str, ...]
                   ) -> dict[str, jax.Array]:
  """Statistics of each row of ``(..., C)`` scores from one read of it.

  Args:
    scores: ``(..., C)`` scores (logits for ``"crossentropy"``).
    labels: class ids of shape ``scores.shape[:-1]`` (cast as Keras casts
      them, `arithmetic.class_ids`); may be None when only ``"argmax"`` is
      asked.
    outputs: a sorted tuple of distinct names from ``ROW_OUTPUTS``:

      * ``"argmax"``: int32, `argmax` of the row (the same bits);
      * ``"crossentropy"``: float32, the sparse categorical cross-entropy
        from logits, as ``SparseCategoricalCrossentropy(from_logits=True)``
        writes it: ``-log_softmax(row)[label]``; 0 for a label outside
        ``[0, C)``; NaN where any log-probability of the row is NaN or
        infinite (other than an infinite one at the label, which costs
        +inf);
      * ``"outranked"``: int32, how many scores are strictly greater than
        the label's, as `in_top_k` counts them (``outranked < k`` is
        ``in_top_k(labels, scores, k)``): a NaN score at the label, or a
        label outside ``[-C, C)``, reads -inf; a negative label indexes
        from the end.

  Returns:
    A dict of the requested outputs, each of shape ``scores.shape[:-1]``.
    On CPU, float32 scores take one native read of each row; each output
    has the same bits whichever others are asked with it.

  Raises:
    ValueError: for outputs that are not a sorted tuple of distinct known
      names, or missing or misshapen labels.
  """
  outputs = tuple(outputs)
  if (not outputs or outputs != tuple(sorted(set(outputs)))
      or not set(outputs) <= set(ROW_OUTPUTS)):
    raise ValueError(f"row_statistics: outputs must be a sorted tuple of "
                     f"distinct names from {ROW_OUTPUTS}, got {outputs!r}")
  scores = jnp.asarray(scores)
  if scores.ndim < 1:
    raise ValueError("row_statistics: scores need a class axis")
  keras_cpu_rule = (jnp.issubdtype(scores.dtype, jnp.floating)
                    and jax.default_backend() == "cpu")
  if outputs == ("argmax",):
    labels = None
  else:
    if labels is None:
      raise ValueError(f"row_statistics: {outputs!r} need labels")
    labels = arithmetic.class_ids(labels)
    if labels.shape != scores.shape[:-1]:
      raise ValueError(
          f"row_statistics: expected labels of shape {scores.shape[:-1]}, "
          f"got {labels.shape}")
  return ROW_STATISTICS(_RowStatistics(outputs, keras_cpu_rule), scores,
                        labels)
