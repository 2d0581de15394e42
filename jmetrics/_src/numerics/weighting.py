"""Keras' rules for aligning ranks and reducing sample weights, written once.

Every metric that averages per-sample values follows these rules so that
results match Keras 3 batch for batch.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jmetrics._src.numerics import checks


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
  """Squeezes or expands the trailing unit axis when ranks differ by one."""
  r1, r2 = np.ndim(x1), np.ndim(x2)
  if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
    if r2 == 1 and expand_rank_1:
      x2 = jnp.expand_dims(x2, -1)
    else:
      x1 = jnp.squeeze(x1, -1)
  if r2 == r1 + 1 and np.shape(x2)[-1] == 1:
    if r1 == 1 and expand_rank_1:
      x1 = jnp.expand_dims(x1, -1)
    else:
      x2 = jnp.squeeze(x2, -1)
  return x1, x2


def times_weight(values, weight):
  """``values * weight`` with IEEE semantics whatever XLA makes of it.

  XLA rewrites ``convert(bool) * w`` (a 0/1 value, as accuracies produce
  them, times a weight) into ``select(bool, w, 0)``, so ``0 * inf`` and
  ``0 * NaN`` would give 0 in a compiled update and NaN in an eager one.
  Written as selects, a zero value times an infinite or NaN weight is NaN
  on every path, as IEEE arithmetic defines it.
  """
  product = values * weight
  zero_times_special = (values == 0) & ~jnp.isfinite(weight)
  return jnp.where(zero_times_special, jnp.nan, product)


def samplewise(metric, values, sample_weight, reduce_fn=jnp.mean):
  """Reduces ``values`` to one value per sample, weighting them like Keras.

  Args:
    metric: the metric asking (named in error messages).
    values: per-element values, the batch on axis 0.
    sample_weight: ``None`` or weights broadcastable to ``values`` after
      Keras' rank alignment.
    reduce_fn: how trailing axes are reduced (``mean`` for `Mean`, ``sum``
      for `Sum`).

  Returns:
    ``(values, sample_weight)``: weighted per-sample values and the matching
    per-sample weights (``None`` if none were given).
  """
  values = checks.as_float(values)
  given = sample_weight
  if sample_weight is not None:
    sample_weight = checks.as_float(sample_weight)
    values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
    weight_ndim, values_ndim = sample_weight.ndim, values.ndim
    if values_ndim > weight_ndim:
      values = reduce_fn(values, axis=tuple(range(weight_ndim, values_ndim)))
    checks.check_broadcast(metric, "sample_weight", sample_weight, values.shape,
                           given=given)
    sample_weight = jnp.broadcast_to(sample_weight, values.shape)
    values = times_weight(values, sample_weight)
    if weight_ndim > 1:
      sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
  if values.ndim > 1:
    values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
  return values, sample_weight
