"""`Checked`: opt-in checks of input values, with errors naming the metric.

Shapes are checked while tracing, for free. Values cannot be: a check of
the data needs the host to look at a device result, which would stall every
train step. So value checks are opt-in. `Checked` wraps a metric and, before
each update, checks with `jax.experimental.checkify` that

* ``y_true``, ``y_pred`` (or ``values``) hold no NaN or infinity,
* ``sample_weight`` is finite and not negative,
* labels lie in the metric's `label_domain` (class ids in ``[0, C)`` for
  the sparse and segmentation metrics, ``[0, 1]`` for the binary ones).

Called eagerly, a failed check raises at once. Inside ``jax.jit`` the checks
must be functionalised, as every checkify check is: wrap the jitted step with
``checkify.checkify`` and call ``err.throw()`` on its error output (or use
`jmetrics.Stateful`, which does so for checked metrics).

>>> import jax
>>> import jax.numpy as jnp
>>> from jax.experimental import checkify
>>> import jmetrics as jm
>>> m = jm.Checked(jm.MeanIoU(num_classes=3))
>>> step = jax.jit(checkify.checkify(m.update))
>>> err, state = step(m.init(), jnp.array([0, 1, 5]), jnp.array([0, 1, 2]))
>>> print(err.get().splitlines()[0])
MeanIoU: y_true holds 1 value(s) that are not class ids in [0, 3); the first is 5.0 (`check` failed)
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax.experimental import checkify

from jmetrics._src import base
from jmetrics._src.numerics import checks
from jmetrics._src.composition import collection
from jmetrics._src.composition import registry

_FLOAT_INPUTS = ("y_true", "y_pred", "values")


def _count(bad) -> jnp.ndarray:
  return jnp.sum(bad.astype(jnp.int32))


def _check_finite(metric, name, x) -> None:
  x = jnp.asarray(x)
  if jnp.issubdtype(x.dtype, jnp.floating):
    bad = ~jnp.isfinite(x)
    checkify.check(~jnp.any(bad),
                   f"{type(metric).__name__}: {name} holds {{n}} NaN or "
                   "infinite value(s)", n=_count(bad))


def _check_weights(metric, weights) -> None:
  weights = jnp.asarray(weights)
  bad = ~(weights >= 0)  # NaN too
  if jnp.issubdtype(weights.dtype, jnp.floating):
    bad = bad | jnp.isinf(weights)
  checkify.check(~jnp.any(bad),
                 f"{type(metric).__name__}: sample_weight holds {{n}} negative, "
                 "NaN or infinite value(s)", n=_count(bad))


def _check_labels(metric, domain: base.LabelDomain, y_true) -> None:
  y_true = jnp.asarray(y_true)
  values = y_true.astype(jnp.float32)
  if domain.class_ids:
    valid = (values >= 0) & (values < domain.high) & (values == jnp.floor(values))
    what = f"class ids in [0, {domain.high:g})"
  else:
    valid = (values >= 0) & (values <= domain.high)
    what = f"labels in [0, {domain.high:g}]"
  if domain.ignore is not None:
    valid = valid | (values == domain.ignore)
    what += f" (or ignore_class={domain.ignore})"
  checkify.check(jnp.all(valid),
                 f"{type(metric).__name__}: y_true holds {{n}} value(s) that are "
                 f"not {what}; the first is {{first}}", n=_count(~valid),
                 first=jnp.where(valid, 0.0, values).ravel()[
                     jnp.argmax(~valid.ravel())] if values.size else 0.0)


@base.register
@dataclasses.dataclass(frozen=True)
class Checked(collection.Wrapper):
  """A metric whose updates first check the input values (see the module).

  The state, `merge`, `sync` and `compute` are the wrapped metric's; only
  `update` and `masked_update` add the checks. In a `Collection`, wrap the
  members whose inputs should be checked.

  Attributes:
    metric: the wrapped metric (or anything `jm.get` accepts).
    finite: check that ``y_true``/``y_pred``/``values`` hold no NaN or inf.
    weights: check that ``sample_weight`` is finite and not negative.
    labels: check ``y_true`` against the metric's `Metric.label_domain`.
    name: the wrapped metric's name (the default).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.Checked(jm.Mean())
    >>> m.update(m.init(), [1.0, float("nan")])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jax...JaxRuntimeError: Mean: values holds 1 NaN or infinite value(s)...
  """

  metric: base.Metric
  finite: bool = True
  weights: bool = True
  labels: bool = True
  name: str = None

  def __post_init__(self):
    object.__setattr__(self, "metric", registry.get(self.metric))
    if not isinstance(self.metric, base.Metric):
      raise TypeError(f"Checked: expected a metric, got {self.metric!r}")
    if self.name is None:
      object.__setattr__(self, "name", self.metric.name)

  has_value_checks = property(lambda self: True)

  def inputs(self) -> collection.Inputs:
    return collection.inputs_of(self.metric)

  def _named(self, args, inputs) -> dict:
    names = self.inputs().names
    if len(args) > len(names):
      raise self.error(f"update takes at most {len(names)} inputs by position "
                       f"({', '.join(names)}), got {len(args)}")
    named = dict(zip(names, args))
    for key in inputs:
      if key in named:
        raise self.error(f"{key} given by position and by keyword")
    named.update(inputs)
    if named.get("sample_weight", 0) is None:
      del named["sample_weight"]
    return {name: checks.numeric_input(self.metric, name, value)
            for name, value in named.items()}

  def _check(self, named: dict) -> None:
    metric = self.metric
    if self.finite:
      for name in _FLOAT_INPUTS:
        if name in named:
          _check_finite(metric, name, named[name])
    if self.weights and "sample_weight" in named:
      _check_weights(metric, named["sample_weight"])
    if self.labels and "y_true" in named:
      domain = metric.label_domain(named["y_true"], named.get("y_pred"))
      if domain is not None:
        _check_labels(metric, domain, named["y_true"])

  def update(self, state, *args, **inputs):
    """Checks the inputs (see the module), then updates the wrapped metric.

    Args:
      state: the wrapped metric's state.
      *args: its inputs by position (``y_true, y_pred`` or ``values``).
      **inputs: its inputs by name (``sample_weight=``...).

    Returns:
      The wrapped metric's new state.
    """
    named = self._named(args, inputs)
    self._check(named)
    return self.metric.update(state, **named)

  def masked_update(self, state, *args, mask, **inputs):
    """`update` of the rows where ``mask`` holds; masked rows are not checked."""
    named = self._named(args, inputs)
    mask = base.as_mask(self.metric, mask, tuple(named.values()))
    if mask.ndim:  # what masked rows hold is never read, so never checked
      self._check({k: (base.zero_masked_rows(v, mask)
                       if jnp.ndim(v) and jnp.shape(v)[0] == mask.shape[0] else v)
                   for k, v in named.items()})
    else:
      self._check(named)
    return collection._masked_update(self.metric, state, named, mask)  # pylint: disable=protected-access
