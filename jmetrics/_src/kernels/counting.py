"""Histograms over a batch: confusion matrices, bincounts, product sums.

Segmentation and multi-class metrics (ConfusionMatrix, the IoU family, Dice,
per-class precision) all reduce a batch to a ``C x C`` table of (weighted)
counts. Building it from one-hot products costs ``N x C x C``; here each
element contributes one index into a ``C * C`` histogram, so the update is
one read of the labels plus a scatter into a table that stays in cache.

Labels outside ``[0, C)`` and masked elements are dropped explicitly: their
index is sent past the end of the table and the scatter drops it. (A plain
``jnp.bincount`` would clip negative labels into bin 0, silently counting
them as class 0.)

Unweighted tables are int32 (exact per batch); weighted ones float32. On CPU
each count is one native multi-threaded read (`ffi`); elsewhere an XLA
scatter-add.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jmetrics._src.kernels import dispatch
from jmetrics._src.kernels import ffi


def _scatter_add(keys, weights, bins):
  """XLA's scatter-add of ``weights`` (or ones) at ``keys``; out of range drops."""
  data = jnp.ones(keys.shape, jnp.int32) if weights is None else weights
  # Negative keys would wrap around in "drop" mode; send them past the end.
  keys = jnp.where(keys < 0, bins, keys)
  return jnp.zeros(bins, data.dtype).at[keys.ravel()].add(data.ravel(),
                                                          mode="drop")


def _xla_pair_histogram(num_classes: int, y_true, y_pred, weights):
  valid = ((y_true >= 0) & (y_true < num_classes)
           & (y_pred >= 0) & (y_pred < num_classes))
  return _scatter_add(jnp.where(valid, y_true * num_classes + y_pred, -1),
                      weights, num_classes * num_classes)


PAIR_HISTOGRAM = dispatch.Kernel(
    "pair_histogram", _xla_pair_histogram,
    native=lambda num_classes, *args: ffi.pair_histogram(*args, num_classes))


def confusion_matrix(y_true, y_pred, num_classes: int, weights=None,
                     mask=None) -> jax.Array:
  """A ``(num_classes, num_classes)`` table, rows = true class, cols = predicted.

  Args:
    y_true: integer class ids, any shape.
    y_pred: integer class ids, same shape as ``y_true``.
    num_classes: C.
    weights: ``None`` or float weights broadcastable to ``y_true``.
    mask: ``None`` or booleans broadcastable to ``y_true``; False drops the
      element (e.g. ``y_true == ignore_class``).

  Returns:
    int32 counts if ``weights`` is None, else float32 sums of weights.
    Elements whose true or predicted id is outside ``[0, C)`` are not counted.
  """
  y_true = jnp.asarray(y_true).astype(jnp.int32)
  y_pred = jnp.asarray(y_pred).astype(jnp.int32)
  if mask is not None:
    # -1 is outside [0, C), so both lowerings drop the element.
    y_true = jnp.where(jnp.broadcast_to(mask, y_true.shape), y_true, -1)
  if weights is not None:
    weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), y_true.shape)
  table = PAIR_HISTOGRAM(num_classes, y_true, y_pred, weights)
  return table.reshape(num_classes, num_classes)


BINCOUNT = dispatch.Kernel(
    "bincount", lambda bins, keys, weights: _scatter_add(keys, weights, bins),
    native=lambda bins, keys, weights: ffi.bincount(keys, weights, bins))


def bincount(keys, weights, bins: int) -> jax.Array:
  """Counts (or sums of weights) of integer ``keys`` in ``bins`` bins.

  Args:
    keys: integer keys, any shape; keys outside ``[0, bins)`` are dropped
      (not clipped, unlike ``jnp.bincount``).
    weights: ``None`` or weights broadcastable to ``keys``.
    bins: the number of bins.

  Returns:
    int32 counts if ``weights`` is None, int32 sums of integer weights
    (exact), else float32 sums of weights.
  """
  keys = jnp.asarray(keys).astype(jnp.int32)
  if weights is not None:
    weights = jnp.asarray(weights)
    if jnp.issubdtype(weights.dtype, jnp.integer):
      # Integer sums stay exact in XLA's int32 scatter; the native kernel sums
      # floats.
      return _scatter_add(keys, jnp.broadcast_to(weights.astype(jnp.int32),
                                                 keys.shape), bins)
    weights = jnp.broadcast_to(weights.astype(jnp.float32), keys.shape)
  return BINCOUNT(bins, keys, weights)


def _xla_product_sums(params, t, p, weights):
  del params
  if weights is not None:
    t = t * weights
  return jnp.stack([jnp.sum(t * p), jnp.sum(t),
                    jnp.sum(p if weights is None else p * weights)])


PRODUCT_SUMS = dispatch.Kernel(
    "product_sums", _xla_product_sums,
    native=lambda params, t, p, weights: ffi.product_sums(t, p, weights))


def product_sums(t, p, weights=None) -> jax.Array:
  """float32 ``[sum(w t p), sum(w t), sum(w p)]`` in one read of the inputs.

  Args:
    t, p: float32 arrays of one shape.
    weights: ``None`` (``w = 1``) or float32 weights of that shape.

  Returns:
    float32 ``(3,)``; on CPU accumulated in double, elsewhere XLA's sums.
  """
  return PRODUCT_SUMS(None, t, p, weights)
