"""jmetrics inside Keras 3: `wrap` a metric as a ``keras.metrics.Metric``.

Imported on demand (``import jmetrics.keras``); Keras is the optional extra
``jmetrics[keras]`` and must run on its JAX backend. Importing this module
before Keras sets ``KERAS_BACKEND=jax`` when that variable is unset (it
takes precedence over ``~/.keras/keras.json``).

A wrapped metric is a real Keras metric: its variables hold the jmetrics
state (every leaf, both halves of each exact `Wide` pair included, end to
end in one variable per dtype; `KerasMetric.state` gives the pytree), and
``update_state``, ``result`` and ``reset_state`` call the metric's pure
``update``, ``compute`` and ``init``, so they also run inside
Keras' jitted train step through its stateless forms. ``compile``, ``fit``,
``evaluate``, the progress bar, ``History``, ``keras.callbacks.TensorBoard``
and ``EarlyStopping`` see the values under the metric's ``name``; a wrapped
`jm.Collection` is one metric that reports each member under its own name.
``get_config`` holds the jmetrics configuration, so ``model.save`` and
``keras.models.load_model`` rebuild the same metric (import
``jmetrics.keras`` before loading: it registers the class).

Like Keras' own metrics under ``keras.distribution.DataParallel``, a
wrapped metric updates from the whole global batch inside the sharded
train step; its values are those of one device.

In ``compile`` a metric is given Keras' ``y_true, y_pred, sample_weight``:
a metric given through `jm.route` takes those of them it names (so
``jm.route(jm.Mean(name="mean_score"), values="y_pred")`` averages the
predictions), and a metric of other inputs (a bare `jm.Mean`) says to route
it. A Collection reports its members under their own names, so in a dict
for several outputs `wrap` prefixes them with the output's name, as Keras
does; give a Collection used in both ``metrics`` and ``weighted_metrics``
distinct member names. `jm.Checked` metrics check values with ``checkify``,
which Keras' train step cannot run, and are refused.

String identifiers follow ``compile``: ``"accuracy"`` and ``"acc"`` become
the binary, sparse categorical or categorical accuracy by the shapes of the
labels and predictions, other names are `jm.get`'s, and the metric is named
by the identifier.

Examples:
  >>> import numpy as np
  >>> import jmetrics as jm
  >>> import jmetrics.keras
  >>> import keras
  >>> auc = jmetrics.keras.wrap(jm.AUC(name="auc"))
  >>> isinstance(auc, keras.metrics.Metric), auc.name
  (True, 'auc')
  >>> auc.update_state(np.array([0, 1, 1]), np.array([0.2, 0.8, 0.4]))
  >>> round(float(auc.result()), 4)
  1.0
  >>> metrics = jmetrics.keras.wrap(["accuracy", jm.AUC(name="auc")])
  >>> [type(m).__name__ for m in metrics]
  ['KerasMetric', 'KerasMetric']
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import os
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src.composition import checked as checked_lib
from jmetrics._src.composition import collection as collection_lib
from jmetrics._src.composition import registry
from jmetrics._src.integrations import extras
from jmetrics._src.metrics import accuracy

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = extras.require("keras", extra="keras", user="jmetrics.keras")


def _check_backend(user: str) -> None:
  backend = keras.backend.backend()
  if backend != "jax":
    raise RuntimeError(
        f"{user} needs Keras' JAX backend, and this Keras runs on {backend!r}: "
        "set KERAS_BACKEND=jax before keras is imported")


# -- "accuracy" in compile -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _CompileAccuracy(base.Metric):
  """``compile``'s ``"accuracy"``: binary, sparse categorical or categorical
  accuracy, chosen by the shapes of the labels and predictions as Keras'
  ``compile`` chooses (all three have one state)."""

  name: str = "accuracy"

  def _chosen(self, y_true, y_pred) -> base.Metric:
    y_true_shape, y_pred_shape = np.shape(y_true), np.shape(y_pred)
    last_true = y_true_shape[-1] if y_true_shape else 1
    last_pred = y_pred_shape[-1] if y_pred_shape else 1
    if last_pred == 1:
      return accuracy.BinaryAccuracy(name=self.name)
    if len(y_true_shape) < len(y_pred_shape) or (last_true == 1 and last_pred > 1):
      return accuracy.SparseCategoricalAccuracy(name=self.name)
    return accuracy.CategoricalAccuracy(name=self.name)

  def init(self):
    return accuracy.BinaryAccuracy(name=self.name).init()

  def update(self, state, y_true, y_pred, sample_weight=None):
    return self._chosen(y_true, y_pred).update(state, y_true, y_pred, sample_weight)

  def compute(self, state):
    return accuracy.BinaryAccuracy(name=self.name).compute(state)

  def reductions(self):
    return accuracy.BinaryAccuracy(name=self.name).reductions()


_COMPILE_ACCURACY = ("accuracy", "acc")


def _as_metric(identifier) -> base.Metric:
  """The jmetrics metric for a metric, a `jm.Collection` or an identifier."""
  if isinstance(identifier, str):
    if identifier.lower() in _COMPILE_ACCURACY:
      return _CompileAccuracy(name=identifier)
    metric = registry.get(identifier)
    # compile names a metric given by string after the string.
    return dataclasses.replace(metric, name=identifier)
  if isinstance(identifier, base.Metric):
    return identifier
  metric = registry.get(identifier)  # a metric class, or a plain function
  if metric is None:
    raise ValueError("jmetrics.keras.wrap: expected a metric, got None")
  return metric


# -- configuration as JSON -------------------------------------------------------


def _function_path(fn, owner: str) -> str:
  module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
  try:
    found = getattr(importlib.import_module(module), name) if module and name else None
  except (ImportError, AttributeError):  # a lambda, a closure, a partial
    found = None
  if found is not fn:
    raise ValueError(f"{owner}: cannot save the function {fn!r}; only module-level "
                     "functions are saved (by their import path)")
  return f"{module}:{name}"


def _plain(value, owner: str):
  """A JSON-ready form of a configuration value (tuples become lists)."""
  if isinstance(value, base.Metric):
    return metric_config(value)
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  if isinstance(value, (tuple, list)):
    return [_plain(v, owner) for v in value]
  if isinstance(value, Mapping):
    return {"__dict__": [[_plain(k, owner), _plain(v, owner)] for k, v in value.items()]}
  if isinstance(value, (np.dtype, type)):  # np.float32, jnp.float32, a dtype
    try:
      dtype = np.dtype(value)
    except TypeError:
      dtype = None
    if dtype is not None and dtype.kind != "O":  # any class makes an object dtype
      return {"__dtype__": dtype.name}
  if isinstance(value, (np.generic, np.ndarray, jax.Array)):
    return _plain(np.asarray(value).tolist(), owner)
  if callable(value):
    return {"__function__": _function_path(value, owner)}
  raise ValueError(f"{owner}: cannot save the configuration value {value!r}")


def _restored(value):
  """The inverse of `_plain` (lists become tuples, as configs hold them)."""
  if isinstance(value, list):
    return tuple(_restored(v) for v in value)
  if isinstance(value, dict):
    if "class_name" in value:
      return metric_from_config(value)
    if "__dtype__" in value:
      return jnp.dtype(value["__dtype__"])
    if "__function__" in value:
      module, name = value["__function__"].split(":")
      return getattr(importlib.import_module(module), name)
    if "__dict__" in value:
      return {_restored(k): _restored(v) for k, v in value["__dict__"]}
  return value


def metric_config(metric: base.Metric) -> dict:
  """A JSON-ready ``{"class_name", "config"}`` of a jmetrics metric.

  `metric_from_config` rebuilds an equal metric. Collections keep their
  members and order; routed and wrapped metrics keep what they wrap.

  Args:
    metric: the jmetrics metric.

  Returns:
    ``{"class_name": ..., "config": {...}}`` of JSON values.

  Raises:
    ValueError: for a value that cannot be saved, such as a lambda given
      to `jm.MeanMetricWrapper` (a module-level function is saved by its
      import path).
  """
  owner = f"{type(metric).__name__} {getattr(metric, 'name', '')!r}"
  if isinstance(metric, _CompileAccuracy):
    return {"class_name": "compile:accuracy", "config": {"name": metric.name}}
  if isinstance(metric, collection_lib.Collection):
    return {"class_name": "Collection", "config": {
        "metrics": [[key, metric_config(member)] for key, member in metric.members],
        "name": metric.name, "flatten": metric.flatten}}
  if not dataclasses.is_dataclass(metric):
    raise ValueError(f"{owner}: only jmetrics' configuration classes can be saved")
  config = {field.name: _plain(getattr(metric, field.name), owner)
            for field in dataclasses.fields(metric) if field.init}
  return {"class_name": type(metric).__name__, "config": config}


def metric_from_config(config: dict) -> base.Metric:
  """The jmetrics metric `metric_config` describes.

  Args:
    config: what `metric_config` returned (after a JSON round trip).

  Returns:
    A metric equal to the one described.

  Raises:
    ValueError: for a class jmetrics does not have.
  """
  class_name, fields = config["class_name"], config["config"]
  if class_name == "compile:accuracy":
    return _CompileAccuracy(**fields)
  if class_name == "Collection":
    members = {key: metric_from_config(member) for key, member in fields["metrics"]}
    return collection_lib.Collection(members, name=fields["name"],
                                     flatten=fields["flatten"])
  cls = registry.catalogue().get(class_name)
  if cls is None:
    raise ValueError(f"jmetrics.keras: unknown metric class {class_name!r} in a "
                     "saved configuration")
  kwargs = {key: _restored(value) for key, value in fields.items()}
  parameters = inspect.signature(cls).parameters
  for key in [key for key in kwargs if key not in parameters]:
    # A field the constructor takes as ``**kwargs`` (MeanMetricWrapper's
    # fn_kwargs): its ((name, value), ...) go back as keywords.
    kwargs.update(dict(kwargs.pop(key)))
  return cls(**kwargs)


# -- the Keras metric ------------------------------------------------------------


@keras.saving.register_keras_serializable(package="jmetrics")
class KerasMetric(keras.metrics.Metric):
  """A ``keras.metrics.Metric`` whose variables hold a jmetrics state.

  Build it with `wrap`. ``update_state(*inputs)`` takes the wrapped metric's
  inputs (``y_true, y_pred, sample_weight=None`` for most, ``values`` for
  `jm.Mean` and `jm.Sum`), ``result()`` is its ``compute`` (a dict for a
  `jm.Collection`), and ``reset_state()`` restores ``init()``.

  Args:
    metric: the jmetrics metric, or its `metric_config` (as ``from_config``
      passes it).
    name: the Keras name; the metric's ``name`` by default.
    dtype: Keras' dtype policy of the metric (the state keeps the jmetrics
      leaves' own dtypes).

  Attributes:
    metric: the jmetrics metric.
  """

  def __init__(self, metric, name=None, dtype=None):
    _check_backend("jmetrics.keras.KerasMetric")
    if isinstance(metric, Mapping):
      metric = metric_from_config(metric)
    if not isinstance(metric, base.Metric):
      raise TypeError(f"KerasMetric: expected a jmetrics metric, got "
                      f"{type(metric).__name__}")
    super().__init__(name=name or metric.name, dtype=dtype)
    self.metric = metric
    leaves, self._treedef = jax.tree.flatten(metric.init())
    # One variable per dtype holds every leaf of that dtype, raveled end to
    # end: a train step passes (and donates) a few buffers rather than one
    # per leaf, and the slices that take the leaves back out cost nothing
    # under jit. Kept on the host, the initial values give each variable,
    # at creation and at every reset, a buffer of its own.
    self._leaves = [(np.dtype(leaf.dtype), tuple(leaf.shape)) for leaf in leaves]
    dtypes = list(dict.fromkeys(dtype for dtype, _ in self._leaves))
    self._initial = [np.concatenate([np.ravel(np.asarray(leaf)) for leaf in leaves
                                     if np.dtype(leaf.dtype) == dtype])
                     for dtype in dtypes]
    self._state_variables = [
        self.add_variable(
            shape=initial.shape, dtype=dtype,
            name="state" if len(dtypes) == 1 else f"state_{dtype.name}",
            initializer=lambda shape, dtype, initial=initial: jnp.array(initial, dtype))
        for dtype, initial in zip(dtypes, self._initial)]
    self._dtypes = dtypes
    # Where each leaf lies in its dtype's variable, worked out once.
    self._slices, ends = [], [0] * len(dtypes)
    for dtype, shape in self._leaves:
      group = dtypes.index(dtype)
      start, ends[group] = ends[group], ends[group] + math.prod(shape)
      self._slices.append((group, start, ends[group], shape))
    self._update = jax.jit(metric.update)
    self._compute = jax.jit(metric.compute)

  def _unpacked(self, packed):
    return jax.tree.unflatten(self._treedef, [
        jnp.reshape(packed[group][start:stop], shape)
        for group, start, stop, shape in self._slices])

  def _packed(self, state) -> list:
    leaves = jax.tree.leaves(state)
    return [jnp.concatenate([jnp.ravel(leaf).astype(dtype) for leaf, (leaf_dtype, _)
                             in zip(leaves, self._leaves) if leaf_dtype == dtype])
            for dtype in self._dtypes]

  @property
  def state(self):
    """The jmetrics state the variables hold."""
    return self._unpacked([v.value for v in self._state_variables])

  def update_state(self, *inputs, **named_inputs):
    """Updates the state from one batch: the wrapped metric's ``update``.

    Args:
      *inputs: the wrapped metric's inputs by position; for a routed metric
        or a Collection, Keras' ``y_true, y_pred`` (as ``compile`` passes
        them), of which it gets those it takes.
      **named_inputs: inputs by name (``sample_weight``, or a routed
        metric's or a Collection's input names).

    Raises:
      TypeError: for Keras' ``(y_true, y_pred)`` given to a metric of other
        inputs (a bare `jm.Mean` or `jm.Sum`: route it).
    """
    inputs, named_inputs = self._bound(inputs, named_inputs)
    new_state = self._update(self.state, *inputs, **named_inputs)
    for variable, packed in zip(self._state_variables, self._packed(new_state)):
      variable.assign(packed)

  def _bound(self, inputs: tuple, named: dict):
    """The inputs as the wrapped metric takes them, from Keras' call."""
    takes = collection_lib.inputs_of(self.metric).names
    routed = isinstance(self.metric, (collection_lib.Routed,
                                      collection_lib.Collection))
    if routed and len(inputs) <= len(collection_lib.POSITIONAL):
      given = dict(zip(collection_lib.POSITIONAL, inputs)) | named
      # Of Keras' three inputs, only those the metric takes by name go in.
      return (), {name: value for name, value in given.items()
                  if name in takes or name not in collection_lib.POSITIONAL}
    if len(inputs) == 2 and "y_pred" not in takes:
      raise TypeError(
          f"{type(self.metric).__name__} {self.metric.name!r} takes "
          f"{', '.join(takes)}, and was given Keras' (y_true, y_pred): route "
          f"it, e.g. jm.route(jm.{type(self.metric).__name__}(), "
          f"{takes[0]}=\"y_pred\")")
    return inputs, named

  def result(self):
    """The wrapped metric's ``compute`` of the state."""
    # Keras computes every result in its train step, right after the update:
    # the barrier has the compute read the updated state once it is in
    # memory, where XLA would otherwise fuse the update into each of the
    # compute's readers and run it again there.
    return self._compute(jax.lax.optimization_barrier(self.state))

  def reset_state(self):
    """Restores the wrapped metric's ``init()``."""
    for variable, initial in zip(self._state_variables, self._initial):
      variable.assign(jnp.array(initial))

  def get_config(self):
    return {"metric": metric_config(self.metric), "name": self.name,
            "dtype": self.dtype}

  @classmethod
  def from_config(cls, config):
    return cls(**config)


def wrap(metrics):
  """Wraps jmetrics metrics as Keras metrics, for ``model.compile(metrics=...)``.

  Args:
    metrics: a jmetrics metric, a `jm.Collection` (one Keras metric that
      reports each member under its own name), a string identifier
      (``"accuracy"`` as ``compile`` resolves it, else `jm.get`'s names, the
      metric named by the string), a metric class, a module-level function
      ``fn(y_true, y_pred)``, or a list, tuple or dict of these (as
      ``compile`` takes per output). A Keras metric is passed through.

  Returns:
    A `KerasMetric`, or a list or dict of them.

  Raises:
    RuntimeError: if Keras does not run on its JAX backend.
    ValueError: for an identifier jmetrics does not know.

  Examples:
    >>> import jmetrics as jm
    >>> import jmetrics.keras
    >>> metric = jmetrics.keras.wrap("mae")
    >>> metric.name, type(metric.metric).__name__
    ('mae', 'MeanAbsoluteError')
  """
  _check_backend("jmetrics.keras.wrap")
  if isinstance(metrics, (list, tuple)):
    return [wrap(m) for m in metrics]
  if isinstance(metrics, Mapping):
    return {output: wrap(_per_output(output, m)) for output, m in metrics.items()}
  if isinstance(metrics, keras.metrics.Metric) or (
      isinstance(metrics, type) and issubclass(metrics, keras.metrics.Metric)):
    return metrics
  metric = _as_metric(metrics)
  _refuse_checked(metric)
  return KerasMetric(metric)


def _per_output(output: str, metrics):
  """One output's metrics, a Collection's members named as Keras names an
  output's metrics (``output_member``): Keras prefixes a metric's name, not
  the names inside its result."""
  if isinstance(metrics, (list, tuple)):
    return [_per_output(output, m) for m in metrics]
  if isinstance(metrics, collection_lib.Collection):
    return collection_lib.Collection(
        {f"{output}_{key}": member for key, member in metrics.members},
        name=metrics.name, flatten=metrics.flatten)
  return metrics


def _refuse_checked(metric) -> None:
  members = (metric.metrics.values() if isinstance(metric, collection_lib.Collection)
             else [getattr(metric, "metric", None)])
  if isinstance(metric, checked_lib.Checked):
    raise ValueError(
        f"jmetrics.keras.wrap: Checked {metric.name!r} checks values with "
        "checkify, which Keras' jitted train step cannot run; wrap the metric "
        "it checks")
  for member in members:
    if isinstance(member, base.Metric):
      _refuse_checked(member)
