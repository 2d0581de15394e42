"""Elementwise arithmetic with Keras' conventions, shared by every family."""

from __future__ import annotations

import jax.numpy as jnp


def divide_no_nan(numerator, denominator):
  """``numerator / denominator``, 0 where the denominator is 0 (Keras' rule)."""
  safe = jnp.where(denominator == 0, 1.0, denominator)
  return jnp.where(denominator == 0, 0.0, numerator / safe)
