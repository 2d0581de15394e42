"""Elementwise arithmetic with Keras' conventions, shared by every family."""

from __future__ import annotations

import jax.numpy as jnp


def divide_no_nan(numerator, denominator):
  """``numerator / denominator``, 0 where the denominator is 0 (Keras' rule)."""
  safe = jnp.where(denominator == 0, 1.0, denominator)
  return jnp.where(denominator == 0, 0.0, numerator / safe)


_NO_CLASS = -(2**31)  # what a NumPy cast makes of NaN: outside every class range


def class_ids(labels):
  """Labels as int32 class ids, the way Keras casts them.

  Floats truncate toward zero; a NaN label is no class at all: it becomes
  ``-2**31``, outside ``[0, num_classes)``, as a NumPy cast gives (XLA's
  conversion would give 0, silently counting it as class 0). Infinities
  and 64-bit integers beyond int32 saturate to the int32 bounds, also
  outside every range.
  """
  labels = jnp.asarray(labels)
  if jnp.issubdtype(labels.dtype, jnp.floating):
    labels = jnp.where(jnp.isnan(labels), float(_NO_CLASS), labels)
  elif jnp.issubdtype(labels.dtype, jnp.integer) and labels.dtype.itemsize > 4:
    # 64-bit ids (under x64) saturate like infinities instead of wrapping
    # into a class: 2**32 + 1 is no class, not class 1.
    labels = jnp.clip(labels, _NO_CLASS, 2**31 - 1)
  return labels.astype(jnp.int32)
