"""Per-row operations on scores: argmax, in-top-k.

Both read each row of ``(..., C)`` scores once and give one result per row,
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


def _xla_in_top_k(k: int, labels, scores) -> jax.Array:
  at_label = jnp.take_along_axis(scores, labels[..., None], axis=-1)
  # An out-of-range label gathers NaN from float scores; like a NaN score at
  # the label, it must not rank high.
  at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
  # Only strictly greater scores outrank the label, so ties favour it.
  outranked = jnp.sum(scores > at_label, axis=-1)
  return outranked < k


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
