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
with state-sized all-reduces (`wide_psum`): a ``pmax`` fixes a common
power-of-two grid, and one ``psum`` adds the pairs split into three float32
"limbs" on that grid, whose device sums are exact (up to 128 devices), so
integer totals stay exact and fractional ones keep double-float precision.

Infinities and NaN behave as in a float32 sum: a total that meets ``+inf``
stays ``+inf``, ``+inf`` and ``-inf`` together give NaN, and NaN stays NaN, on
every path (adds, merges, device sums). The error terms of the error-free
transformations would compute ``inf - inf``; where the rounded sum is not
finite the pair is ``(sum, 0)`` instead.

All functions are pure, elementwise and jit-able; shapes broadcast like
``jnp.add``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_F32 = jnp.float32
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


def _pair(hi, lo, rounded_sum) -> Wide:
  """``Wide(hi, lo)`` where the total is finite; elsewhere ``(total, 0)``,
  the total being the plain float32 sum ``rounded_sum`` when that is inf or
  NaN (the error terms then hold NaN, not the rest of a finite total)."""
  finite = jnp.isfinite(hi)
  special = jnp.where(jnp.isfinite(rounded_sum), hi, rounded_sum)
  return Wide(jnp.where(finite, hi, special), jnp.where(finite, lo, 0.0))


def wide_zeros(shape=()) -> Wide:
  """A zero total of the given shape."""
  # Two buffers: a state whose leaves share one cannot be donated to a jit.
  return Wide(jnp.zeros(shape, _F32), jnp.zeros(shape, _F32))


def wide_add(acc: Wide, x) -> Wide:
  """Adds float values ``x`` (broadcast to ``acc``'s shape) to a total."""
  # The barrier keeps XLA from fusing a producer's multiply into the sum
  # below as an FMA, which would make ``s + err`` differ from ``hi + x``.
  x = jax.lax.optimization_barrier(
      jnp.broadcast_to(jnp.asarray(x, _F32), np.shape(acc.hi)))
  s, err = _two_sum(acc.hi, x)
  return _pair(*_fast_two_sum(s, acc.lo + err), s)


def wide_add_int(acc: Wide, counts) -> Wide:
  """Adds int32 ``counts`` exactly (any value an int32 holds, not just < 2**24)."""
  counts = jnp.asarray(counts, jnp.int32)
  low = counts & ((1 << _INT_SPLIT_BITS) - 1)
  high = counts - low
  return wide_add(wide_add(acc, high.astype(_F32)), low.astype(_F32))


def wide_add_counts(acc: Wide, increment) -> Wide:
  """Adds a batch's counts: exactly if they are integers or a `Wide` pair,
  else as floats."""
  if isinstance(increment, Wide):
    return wide_merge(Wide(*acc), increment)
  if jnp.issubdtype(jnp.result_type(increment), jnp.integer):
    return wide_add_int(acc, increment)
  return wide_add(acc, increment)


def wide_merge(a: Wide, b: Wide) -> Wide:
  """Sums two totals; exact for integer totals below 2**47."""
  s, err = _two_sum(a.hi, b.hi)
  return _pair(*_fast_two_sum(s, (a.lo + b.lo) + err), s)


def wide_value(acc: Wide) -> jax.Array:
  """The total as one float32 array (correctly rounded ``hi + lo``)."""
  return acc.hi + acc.lo


def _round_to_grid(x, grid):
  """``x`` rounded to a multiple of the power of two ``grid``, and the remainder.

  Both parts are exact: scaling by a power of two and subtracting the nearest
  grid point only move or drop bits.
  """
  on_grid = jnp.round(x / grid) * grid
  return on_grid, x - on_grid


def _limbs(acc: Wide, bound) -> jax.Array:
  """Splits ``hi + lo`` into three limbs on grids tied to ``bound``.

  ``bound`` is a power of two with ``|hi| <= bound`` on every device. The
  first limb is a multiple of ``bound / 2**16`` (at most 2**16 units), the
  second of ``bound / 2**32`` (below 2**17 units), so adding the same limb of
  up to 128 devices needs at most 24 bits and never rounds; the third limb
  holds what is left, below ``bound / 2**32``, whose device sum rounds only
  at ``bound / 2**56``. Integer totals below 2**47 therefore sum exactly, and
  fractional ones keep the pair's ~48 significant bits.
  """
  coarse = bound * 2.0**-16
  fine = coarse * 2.0**-16
  hi_coarse, hi_rest = _round_to_grid(acc.hi, coarse)
  hi_fine, hi_tail = _round_to_grid(hi_rest, fine)
  lo_fine, lo_tail = _round_to_grid(acc.lo, fine)
  return jnp.stack([hi_coarse, hi_fine + lo_fine, hi_tail + lo_tail])


def _from_limbs(limbs: jax.Array) -> Wide:
  acc = Wide(limbs[0], jnp.zeros_like(limbs[0]))
  for limb in limbs[1:]:
    acc = wide_add(acc, limb)
  return acc


def _finite_limbs(acc: Wide, largest) -> jax.Array:
  """`_limbs` of the finite totals, on the grid of ``largest(|hi|)`` (the
  largest over what is summed); a non-finite total goes whole in the first
  limb, so that it adds as a float32 sum does."""
  finite = jnp.isfinite(acc.hi)
  finite_part = Wide(jnp.where(finite, acc.hi, 0.0), jnp.where(finite, acc.lo, 0.0))
  _, exponent = jnp.frexp(largest(jnp.abs(finite_part.hi)))
  # Clamped so that the finest grid (bound / 2**32) stays a normal float32:
  # tiny totals keep a nonzero grid rather than dividing by zero.
  bound = jnp.ldexp(jnp.ones_like(exponent, _F32), jnp.clip(exponent, -94, 127))
  special = jnp.stack([acc.hi, jnp.zeros_like(acc.hi), jnp.zeros_like(acc.hi)])
  return jnp.where(finite, _limbs(finite_part, bound), special)


def wide_psum(acc: Wide, axis_name) -> Wide:
  """Sums a total over a mapped axis (pmap, shard_map) without losing digits.

  Two all-reduces of state size: a ``pmax`` of ``|hi|`` fixes a common grid,
  then one ``psum`` adds the three grid-aligned limbs of `_limbs`, whose
  device sums are exact, and the limbs are folded back into a pair. A total
  that is inf or NaN is sent whole in the first limb (the grid is fixed by
  the finite totals), so it combines as a float32 sum does (``inf + 1 =
  inf``, ``inf - inf = NaN``).
  """
  limbs = _finite_limbs(acc, lambda size: jax.lax.pmax(size, axis_name))
  return _from_limbs(jax.lax.psum(limbs, axis_name))


def _merge_pairs(a, b):
  return tuple(wide_merge(Wide(*a), Wide(*b)))


def wide_sum(acc: Wide, axis: int = 0) -> Wide:
  """Sums a stacked total along ``axis`` (e.g. the device axis ``pmap`` returns).

  A variadic ``lax.reduce`` with `wide_merge` as its combiner, so the sum is
  exact for integer totals however many entries are stacked. The combiner is
  a module-level function so that eager calls hit the compilation cache.
  """
  zero = jnp.zeros((), _F32)
  hi, lo = jax.lax.reduce(
      (acc.hi, acc.lo), (zero, zero), _merge_pairs, (axis % acc.hi.ndim,))
  return Wide(hi, lo)


# The most entries `wide_table_sum` adds in float32 sums of limbs: as many
# as `_limbs` leaves room for (the devices `wide_psum` adds).
_TABLE_SUM_ENTRIES = 128


def wide_table_sum(acc: Wide, axis: int = 0) -> Wide:
  """`wide_sum` of a table's rows or columns (a confusion table's, say).

  Up to 128 entries along ``axis`` are added as `wide_psum` adds devices:
  three grid-aligned limbs (`_limbs`, on a grid tied to the table's largest
  ``|hi|``), each summed in plain float32 without rounding, then folded back
  into a pair. So the sum is exact for integer totals below 2**47 (the very
  pair `wide_sum` gives), and a fractional one is kept to ~48 bits below the
  table's largest entry (not below its own sum's); it compiles to ordinary
  (fused, vectorised) reductions. A non-finite entry is added as a float32
  sum adds it. Longer axes take `wide_sum`.
  """
  axis = axis % acc.hi.ndim
  if acc.hi.shape[axis] > _TABLE_SUM_ENTRIES:
    return wide_sum(acc, axis)
  limbs = _finite_limbs(acc, lambda size: jnp.max(size, initial=0.0))
  return _from_limbs(jnp.sum(limbs, axis=axis + 1))
