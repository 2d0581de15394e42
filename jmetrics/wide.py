"""Exact running totals for a metric's state: `Wide` pairs of float32.

A `Wide` total is ``hi + lo``, two float32 arrays updated with error-free
additions, so integer counts stay exact up to 2**47 without x64 and float
totals keep growing where a float32 total stalls. A metric of your own keeps
its totals as `Wide` leaves and uses these operations:

>>> import jax.numpy as jnp
>>> from jmetrics import wide
>>> total = wide.wide_zeros()
>>> total = wide.wide_add(total, jnp.float32(2.0**24))
>>> for _ in range(10):
...   total = wide.wide_add(total, jnp.float32(1.0))
>>> float(wide.wide_value(total))
16777226.0
"""

from jmetrics._src.numerics.wide import Wide
from jmetrics._src.numerics.wide import wide_add
from jmetrics._src.numerics.wide import wide_add_counts
from jmetrics._src.numerics.wide import wide_add_int
from jmetrics._src.numerics.wide import wide_merge
from jmetrics._src.numerics.wide import wide_psum
from jmetrics._src.numerics.wide import wide_sum
from jmetrics._src.numerics.wide import wide_value
from jmetrics._src.numerics.wide import wide_zeros

__all__ = ("Wide", "wide_add", "wide_add_counts", "wide_add_int", "wide_merge",
           "wide_psum", "wide_sum", "wide_value", "wide_zeros")
