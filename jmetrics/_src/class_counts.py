"""The confusion-matrix kernel: one scatter-add of ``y_true * C + y_pred``.

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
the count is the native multi-threaded kernel (`native`); elsewhere an XLA
scatter-add. `bincount` is the same kernel for one-dimensional keys (per-class
sums).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jmetrics._src import native


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
    # -1 is outside [0, C), so both paths drop the element.
    y_true = jnp.where(jnp.broadcast_to(mask, y_true.shape), y_true, -1)
  if weights is not None:
    weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), y_true.shape)

  def native_path(y_true, y_pred, weights):
    return native.pair_histogram(y_true, y_pred, weights, num_classes)

  def xla_path(y_true, y_pred, weights):
    valid = ((y_true >= 0) & (y_true < num_classes)
             & (y_pred >= 0) & (y_pred < num_classes))
    return _scatter_add(jnp.where(valid, y_true * num_classes + y_pred, -1),
                        weights, num_classes * num_classes)

  table = native.on_cpu(native_path, xla_path, y_true, y_pred, weights)
  return table.reshape(num_classes, num_classes)


def argmax(x, axis: int = -1) -> jax.Array:
  """int32 index of the largest entry along ``axis``, as Keras' JAX ``argmax``.

  XLA on CPU flushes subnormals to zero and compares ``-0.0 == 0.0``; Keras
  then maps negative zeros to ``-tiny`` so that ``+0.0`` wins the argmax. On
  other platforms Keras calls ``jnp.argmax`` directly, and so do we. Every
  metric takes class ids from scores through this one function, so a
  collection's argmaxes of the same scores compile to one. On CPU the last
  axis of float32 (or narrower) scores goes to a native kernel: XLA's
  variadic argmax reduction costs about twenty reads of the scores.
  """
  x = jnp.asarray(x)
  keras_cpu_rule = (jnp.issubdtype(x.dtype, jnp.floating)
                    and jax.default_backend() == "cpu")

  def xla_path(x):
    if keras_cpu_rule:
      x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
      negative_zero = (x == 0.0) & jnp.signbit(x)
      x = jnp.where(negative_zero, -jnp.finfo(x.dtype).tiny, x)
    return jnp.argmax(x, axis=axis).astype(jnp.int32)

  last_axis = x.ndim >= 2 and axis % x.ndim == x.ndim - 1
  if (last_axis and x.shape[-1] > 0 and jnp.issubdtype(x.dtype, jnp.floating)
      and jnp.finfo(x.dtype).bits <= 32):
    return native.on_cpu(
        lambda x: native.argmax(x, signed_zeros=keras_cpu_rule), xla_path, x,
        per_row=True)
  return xla_path(x)


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
  return native.on_cpu(lambda k, w: native.bincount(k, w, bins),
                       lambda k, w: _scatter_add(k, w, bins), keys, weights)


def _scatter_add(keys, weights, bins):
  """XLA's scatter-add of ``weights`` (or ones) at ``keys``; out of range drops."""
  data = jnp.ones(keys.shape, jnp.int32) if weights is None else weights
  # Negative keys would wrap around in "drop" mode; send them past the end.
  keys = jnp.where(keys < 0, bins, keys)
  return jnp.zeros(bins, data.dtype).at[keys.ravel()].add(data.ravel(),
                                                          mode="drop")
