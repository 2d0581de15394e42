"""Data-parallel accumulation: padding an uneven batch, and how states sync.

Every jmetrics state is a pytree of fixed-shape totals that merge by
summation (or min / max), so there are three ways to accumulate over devices,
all giving the result of one run over the whole batch:

* ``jax.pmap`` or ``jax.shard_map``: each device updates its own state with
  its shard, and ``metric.sync(state, axis_name)`` merges them with
  state-sized all-reduces (``psum``; a `Wide` total adds a ``pmax`` that fixes
  the grid its exact sum uses). Never a gather of the inputs. The synced
  state is replicated, so ``shard_map`` can return it with ``out_specs=P()``.
  Sync only what the devices saw since the last sync: adding one global
  batch to a replicated state is
  ``metric.merge(state, metric.sync(metric.update(metric.init(), ...), axis))``.
* ``jax.jit`` of ``update`` on a batch sharded with a ``NamedSharding``: no
  sync at all; the sums inside ``update`` become partial sums plus the
  all-reduce the compiler inserts, and the state comes out replicated. This
  holds on a mesh with ``Auto`` axes (``jax.sharding.Mesh``'s default). On
  an ``Explicit`` mesh (``jax.make_mesh``'s default in JAX 0.10) the
  scatter-based histograms (threshold, confusion-matrix, Dice metrics) do
  not trace yet: JAX asks for the scatter's ``out_sharding``.
* Separate processes (``jax.distributed.initialize``, one or more devices
  each): the same ``shard_map`` over a mesh of all processes' devices, each
  process feeding its own shard with ``jax.make_array_from_process_local_data``;
  on CPU the collectives run over gloo (jax's default CPU implementation).

A batch whose size is not a multiple of the device count is padded with
`pad_to_multiple` and fed to `Metric.masked_update` with the returned mask,
which gives exactly the result of the unpadded batch, for every metric.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def pad_to_multiple(*arrays, multiple: int) -> tuple[tuple[Any, ...], Any]:
  """Pads the batch axis of ``arrays`` to a multiple of ``multiple``, with a mask.

  For the last, uneven batch of a data-parallel loop: pad it to a multiple of
  the device count, shard it like any other batch, and call
  ``metric.masked_update(state, *padded, mask=mask_shard)``; the result is
  that of ``metric.update`` on the unpadded batch.

  Args:
    *arrays: arrays sharing the leading (batch) axis, e.g. ``y_true, y_pred,
      sample_weight``. ``None`` and scalars (a scalar ``sample_weight``) are
      passed through unchanged.
    multiple: the device count (an integer >= 1).

  Returns:
    ``(padded, mask)``: ``padded`` is a tuple with each array extended by
    zero rows to the next multiple of ``multiple`` (unchanged if already
    one), and ``mask`` a bool vector, True for the original rows. NumPy
    arrays stay NumPy (pad on the host before sharding); JAX arrays, tracers
    included, are padded with ``jax.numpy``.

  Raises:
    ValueError: for ``multiple`` < 1, no array with a batch axis, or arrays
      whose leading axes differ.

  Examples:
    >>> import numpy as np
    >>> import jmetrics as jm
    >>> from jmetrics import pad_to_multiple
    >>> y_true, y_pred = np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4])
    >>> (y_true_p, y_pred_p), mask = pad_to_multiple(y_true, y_pred, multiple=4)
    >>> y_true_p.tolist(), mask.tolist()
    ([0, 1, 1, 0], [True, True, True, False])
    >>> m = jm.BinaryAccuracy()
    >>> padded = m.masked_update(m.init(), y_true_p, y_pred_p, mask=mask)
    >>> float(m.compute(padded)) == float(m(y_true, y_pred))
    True
  """
  if (isinstance(multiple, bool) or not isinstance(multiple, (int, np.integer))
      or multiple < 1):
    raise ValueError(f"pad_to_multiple: multiple must be an integer >= 1, got "
                     f"{multiple!r}")
  batched = [x for x in arrays if x is not None and np.ndim(x) > 0]
  if not batched:
    raise ValueError("pad_to_multiple: expected at least one array with a "
                     "batch axis, got " + _shapes(arrays))
  sizes = {np.shape(x)[0] for x in batched}
  if len(sizes) != 1:
    raise ValueError("pad_to_multiple: arrays must share their leading (batch) "
                     "axis, got " + _shapes(arrays))
  (size,) = sizes
  padding = -size % multiple
  use_jax = any(isinstance(x, jax.Array) for x in batched)
  xp = jnp if use_jax else np

  def pad(x):
    if x is None or np.ndim(x) == 0:
      return x
    x = xp.asarray(x)
    return xp.pad(x, [(0, padding)] + [(0, 0)] * (x.ndim - 1))

  mask = xp.arange(size + padding) < size
  return tuple(pad(x) for x in arrays), mask


def _shapes(arrays: Sequence[Any]) -> str:
  return ", ".join("None" if x is None else str(tuple(np.shape(x)))
                   for x in arrays)
