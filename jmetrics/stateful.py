"""`Stateful`: a Keras-style stateful facade over any jmetrics metric.

For standalone use (notebooks, evaluation scripts, code ported from
``tf.keras.metrics``) where threading a state through calls is a chore: the
facade holds the state and exposes Keras' methods, each a jit-compiled call
of the pure metric underneath. Inside jitted train steps, use the pure
metric (or a `Collection`) directly.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

import jax
from jax.experimental import checkify
import numpy as np

from jmetrics._src import base
from jmetrics._src.composition import registry


def _update(metric, state, args, kwargs):
  return metric.update(state, *args, **kwargs)


def _checked_update(metric, state, args, kwargs):
  return checkify.checkify(_update, errors=checkify.user_checks)(
      metric, state, args, kwargs)


def _compute(metric, state):
  return metric.compute(state)


def _merge(metric, a, b):
  return metric.merge(a, b)


# Module-level so that every facade of an equal config shares one compilation:
# the metric is a static (leafless) pytree, so its config keys the jit cache.
_jit_update = jax.jit(_update)
_jit_checked_update = jax.jit(_checked_update)
_jit_compute = jax.jit(_compute)
_jit_merge = jax.jit(_merge)


class _NotNumeric(Exception):
  """An input ``jit`` cannot take; the metric's own check names it."""


def _as_input(x):
  """Python lists and numbers become NumPy arrays before crossing ``jit``.

  Otherwise ``jit`` would see a list as a pytree of scalars, one traced
  argument per element and one compilation per length. Inputs that are not
  arrays of numbers raise `_NotNumeric`.
  """
  if isinstance(x, (list, tuple, int, float, bool, str)) or x is None:
    try:
      x = np.asarray(x)
    except (TypeError, ValueError):
      raise _NotNumeric() from None
  if isinstance(x, np.ndarray) and (x.dtype == object or x.dtype.kind in "US"):
    raise _NotNumeric()
  return x


class Stateful:
  """A metric with Keras' stateful API: ``update_state``, ``result``, ``reset_state``.

  Each call runs the pure metric under ``jax.jit`` (compiled once per config
  and input shape); the state is an ordinary pytree in `state`, so it can be
  saved, restored or handed to pure code.

  A facade may be shared between threads (e.g. the workers of a data
  loader): each method holds a lock while it reads and replaces `state`, so
  concurrent updates are all counted. Updates from several threads are
  applied one at a time, in whichever order the threads take the lock; the
  lock is held only to dispatch the compiled call, not while it runs.

  Args:
    metric: a `jm.Metric` (a `Collection` too), or anything `jm.get`
      accepts (``"auc"``, ``jm.AUC``, a ``fn(y_true, y_pred)``).
    jit: compile the calls (default); ``False`` runs them eagerly, e.g. to
      debug a custom metric with prints.

  Attributes:
    metric: the pure metric.
    state: its current state.

  Examples:
    >>> import jmetrics as jm
    >>> from jmetrics import Stateful
    >>> m = Stateful(jm.AUC())
    >>> m.update_state([0, 1, 1, 1], [0, 1, 0, 0])
    >>> print('Intermediate result:', float(m.result()))
    Intermediate result: 0.6666666865348816
    >>> m.update_state([1, 1, 1, 1], [0, 1, 1, 0])
    >>> print('Final result:', float(m.result()))
    Final result: 0.7142857313156128
    >>> m.reset_state()
    >>> float(m.result())
    0.0
  """

  def __init__(self, metric: Any, *, jit: bool = True):
    metric = registry.get(metric)
    if not isinstance(metric, base.Metric):
      raise ValueError(f"Stateful: expected a metric, got {metric!r}")
    self.metric = metric
    self._jit = bool(jit)
    self._lock = threading.RLock()
    self.state = metric.init()

  def __getstate__(self):
    fields = dict(vars(self))
    del fields["_lock"]  # locks do not copy or pickle; a copy gets its own
    return fields

  def __setstate__(self, fields):
    vars(self).update(fields)
    self._lock = threading.RLock()

  @property
  def name(self) -> str:
    return self.metric.name

  def update_state(self, *args, **kwargs) -> None:
    """Accumulates a batch: ``state = metric.update(state, *args, **kwargs)``.

    Args:
      *args: the metric's inputs, as in Keras (``y_true, y_pred``).
      **kwargs: keyword inputs (``sample_weight=``, or a collection's
        named inputs).
    """
    try:
      args = tuple(_as_input(a) for a in args)
      kwargs = {k: v if v is None else _as_input(v) for k, v in kwargs.items()}
    except _NotNumeric:
      # Not for jit: the eager update reads them as the metric does (numbers
      # held as objects), or raises its error naming the argument.
      with self._lock:
        self.state = self.metric.update(self.state, *args, **kwargs)
      return
    if self.metric.has_value_checks and self._jit:
      # A `Checked` metric's checks, functionalised; a failed one raises
      # here (which waits for the update: checks are opt-in).
      with self._lock:
        error, state = _jit_checked_update(self.metric, self.state, args, kwargs)
        error.throw()
        self.state = state
      return
    update = _jit_update if self._jit else _update
    with self._lock:
      self.state = update(self.metric, self.state, args, kwargs)

  def result(self):
    """The metric's value on everything seen since the last reset."""
    compute = _jit_compute if self._jit else _compute
    with self._lock:
      state = self.state
    return compute(self.metric, state)

  def reset_state(self) -> None:
    """Forgets everything seen: the state returns to ``metric.init()``."""
    fresh = self.metric.init()
    with self._lock:
      self.state = fresh

  def reset_states(self) -> None:
    """Alias of `reset_state` (the tf.keras 2 name)."""
    self.reset_state()

  def merge_state(self, metrics: "Stateful | Iterable[Stateful]") -> None:
    """Adds the states of other facades of the same metric (as tf.keras' ``merge_state``).

    Args:
      metrics: a `Stateful` or an iterable of them, each wrapping a metric
        equal to this one.

    Raises:
      ValueError: if a metric's configuration differs.
    """
    others = [metrics] if isinstance(metrics, Stateful) else list(metrics)
    merge = _jit_merge if self._jit else _merge
    for other in others:
      if not isinstance(other, Stateful) or other.metric != self.metric:
        raise ValueError(f"Stateful.merge_state: cannot merge {other!r} into a "
                         f"facade of {self.metric!r}; the metrics must be equal")
    for other in others:
      with other._lock:  # one lock at a time: two facades merging each other
        incoming = other.state  # cannot deadlock
      with self._lock:
        self.state = merge(self.metric, self.state, incoming)

  def __call__(self, *args, **kwargs):
    """``update_state(*args, **kwargs)``, then the `result` (Keras' ``__call__``)."""
    with self._lock:  # the result of this update, not of another thread's
      self.update_state(*args, **kwargs)
      return self.result()

  def __repr__(self) -> str:
    return f"Stateful({self.metric!r})"

