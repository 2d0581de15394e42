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

Unweighted tables are int32 (exact per batch); weighted ones float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jmetrics._src import wide


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
  valid = ((y_true >= 0) & (y_true < num_classes)
           & (y_pred >= 0) & (y_pred < num_classes))
  if mask is not None:
    valid = valid & jnp.broadcast_to(mask, valid.shape)
  cells = num_classes * num_classes
  index = jnp.where(valid, y_true * num_classes + y_pred, cells)
  if weights is None:
    data = jnp.ones(index.shape, jnp.int32)
  else:
    data = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), index.shape)
  table = jnp.zeros(cells, data.dtype).at[index.ravel()].add(data.ravel(),
                                                              mode="drop")
  return table.reshape(num_classes, num_classes)
