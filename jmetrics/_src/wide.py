"""Exact accumulators: every running total in jmetrics is a `Wide` pair.

A float32 counter stops counting at 2**24 (``16777216.0 + 1.0 == 16777216.0``)
and an int32 counter wraps at 2**31. Enabling x64 is a global switch users
rarely want, so jmetrics keeps each running total as an unevaluated sum of two
float32 numbers, ``hi + lo`` ("double-float"), updated with error-free
transformations (Knuth's TwoSum, Dekker's FastTwoSum). The pair carries about
48 significant bits:

* integer-valued totals (sample counts, TP/FP/TN/FN, confusion cells) are
  exact up to 2**47;
* float totals (weighted sums, sums of losses) keep ~14 significant decimal
  digits across updates instead of float32's ~7, and never silently stop
  growing.

The same pair also merges exactly (`wide_merge`) and reduces across devices
with one all-reduce (`wide_psum`), which splits each pair into three float32
"limbs" aligned to fixed powers of two so that the device sum of each limb is
itself exact for integer totals (up to 128 devices).

All functions are pure, elementwise and jit-able; shapes broadcast like
``jnp.add``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

_F32 = jnp.float32
# Limb boundaries for the exact all-reduce (see `wide_psum`).
_LIMB_HI = 2.0**32
_LIMB_MID = 2.0**16
# Splitting int32 counts at 2**12 leaves two parts with <= 19 significant bits
# each, both exactly representable in float32.
_INT_SPLIT_BITS = 12


class Wide(NamedTuple):
  """A running total ``hi + lo`` kept as two float32 arrays of equal shape."""

  hi: jax.Array  # float32[...]: the total rounded to float32.
  lo: jax.Array  # float32[...]: what rounding dropped, |lo| <= ulp(hi) / 2.


def _two_sum(a, b):
  """Error-free sum: returns (s, e) with s = fl(a + b) and s + e == a + b."""
  s = a + b
  b_virtual = s - a
  a_virtual = s - b_virtual
  return s, (a - a_virtual) + (b - b_virtual)


def _fast_two_sum(a, b):
  """Renormalises a pair whose first element dominates (|a| >= |b|)."""
  s = a + b
  return s, b - (s - a)


def wide_zeros(shape=()) -> Wide:
  """A zero total of the given shape."""
  zeros = jnp.zeros(shape, _F32)
  return Wide(zeros, zeros)


def wide_add(acc: Wide, x) -> Wide:
  """Adds float values ``x`` (broadcast to ``acc``'s shape) to a total."""
  x = jnp.broadcast_to(jnp.asarray(x, _F32), jnp.shape(acc.hi))
  s, err = _two_sum(acc.hi, x)
  return Wide(*_fast_two_sum(s, acc.lo + err))


def wide_add_int(acc: Wide, counts) -> Wide:
  """Adds int32 ``counts`` exactly (any value an int32 holds, not just < 2**24)."""
  counts = jnp.asarray(counts, jnp.int32)
  low = counts & ((1 << _INT_SPLIT_BITS) - 1)
  high = counts - low
  return wide_add(wide_add(acc, high.astype(_F32)), low.astype(_F32))


def wide_merge(a: Wide, b: Wide) -> Wide:
  """Sums two totals; exact for integer totals below 2**47."""
  s, err = _two_sum(a.hi, b.hi)
  return Wide(*_fast_two_sum(s, (a.lo + b.lo) + err))


def wide_value(acc: Wide) -> jax.Array:
  """The total as one float32 array (correctly rounded ``hi + lo``)."""
  return acc.hi + acc.lo


def _limbs(acc: Wide) -> jax.Array:
  """Splits ``hi + lo`` into three float32 limbs whose cross-device sums are exact.

  For an integer total below 2**48 the limbs are integer multiples of 2**32,
  2**16 and 1 with magnitudes below 2**48, 2**33 and 2**17, so adding the same
  limb of up to 128 devices never rounds. Each split point is found by
  truncation, which only drops low bits and is therefore exact; for non-integer
  or huge totals the limbs are still a faithful split and the device sum is no
  worse than a plain float32 all-reduce of the totals.
  """
  top = jnp.trunc(acc.hi / _LIMB_HI) * _LIMB_HI
  rest = acc.hi - top
  mid = jnp.trunc(rest / _LIMB_MID) * _LIMB_MID
  lo_mid = jnp.trunc(acc.lo / _LIMB_MID) * _LIMB_MID
  return jnp.stack([top, mid + lo_mid, (rest - mid) + (acc.lo - lo_mid)])


def _from_limbs(limbs: jax.Array) -> Wide:
  acc = Wide(limbs[0], jnp.zeros_like(limbs[0]))
  return wide_add(wide_add(acc, limbs[1]), limbs[2])


def wide_psum(acc: Wide, axis_name) -> Wide:
  """Sums a total over a mapped axis with a single all-reduce of 3x its size."""
  return _from_limbs(jax.lax.psum(_limbs(acc), axis_name))


def wide_sum(acc: Wide, axis: int = 0) -> Wide:
  """Sums a stacked total along ``axis`` (e.g. the device axis ``pmap`` returns).

  A variadic ``lax.reduce`` with `wide_merge` as its combiner, so the sum is
  exact for integer totals however many entries are stacked.
  """
  def combine(a, b):
    return tuple(wide_merge(Wide(*a), Wide(*b)))

  zero = jnp.zeros((), _F32)
  hi, lo = jax.lax.reduce(
      (acc.hi, acc.lo), (zero, zero), combine, (axis % acc.hi.ndim,))
  return Wide(hi, lo)
