"""A collection of metrics is itself a metric: `Collection`, and `route`.

`Collection` composes metrics the way ``optax.named_chain`` composes
transformations: its state is a dict of member states keyed by name, and its
five methods apply each member's own ``init``, ``update``, ``merge``, ``sync``
and ``compute``. So a collection jits, merges, syncs (each member with its own
reduction kinds) and checkpoints like any single metric, and can be a member
of another collection.

Members share work decided from configuration: those whose update is a
`jm.SharedStep` of equal key over the same input arrays (Precision and Recall
at one threshold, the AUCs on one grid, the IoU family on one table, the
accuracy, top-k and cross-entropy metrics on one set of score rows) run one
batch computation, each then finishing its own state; see `Collection.sharing`.

Inputs are routed by name. Every member declares the inputs its ``update``
takes (``y_true``, ``y_pred``, ``sample_weight`` for most metrics, ``values``
for `Mean` and `Sum`); the collection hands each member the keyword inputs of
those names. `route` renames a member's inputs, e.g. feeds a `Mean` from a
model output called ``loss``:

>>> import jax.numpy as jnp
>>> import jmetrics as jm
>>> from jmetrics import Collection, route
>>> metrics = Collection([route(jm.Mean(name="loss"), values="loss"),
...                       jm.SparseCategoricalAccuracy(name="accuracy")])
>>> metrics.inputs()
Inputs(required=('loss', 'y_true', 'y_pred'), optional=('sample_weight',))
>>> state = metrics.update(metrics.init(), y_true=jnp.array([0, 1]),
...                        y_pred=jnp.array([[0.9, 0.1], [0.8, 0.2]]),
...                        loss=jnp.array([0.1, 1.6]))
>>> {k: round(float(v), 4) for k, v in metrics.compute(state).items()}
{'loss': 0.85, 'accuracy': 0.5}
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Mapping, NamedTuple

import jax
import numpy as np

from jmetrics._src import base
from jmetrics._src.numerics import checks
from jmetrics._src.composition import registry

# What positional arguments of `Collection.update` mean: Keras' update_state.
POSITIONAL = ("y_true", "y_pred", "sample_weight")


class Inputs(NamedTuple):
  """The keyword inputs a metric's ``update`` takes, in signature order."""

  required: tuple  # Names that must be given.
  optional: tuple  # Names that may be given (e.g. ``sample_weight``).

  @property
  def names(self) -> tuple:
    return self.required + self.optional


@functools.lru_cache(maxsize=None)
def _signature_inputs(cls) -> Inputs:
  """Inputs of ``cls.update(self, state, ...)`` read from its signature."""
  params = list(inspect.signature(cls.update).parameters.values())[2:]
  required, optional = [], []
  for p in params:
    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
      continue  # Nothing to route by name.
    (required if p.default is p.empty else optional).append(p.name)
  return Inputs(tuple(required), tuple(optional))


def inputs_of(metric) -> Inputs:
  """The named inputs ``metric.update`` takes after the state.

  Metrics that take inputs by a computed set of names (`Collection`,
  `Routed`) say so with an ``inputs()`` method; for the others the
  signature of ``update`` is read.

  Args:
    metric: a `jm.Metric`.

  Returns:
    `Inputs` ``(required, optional)``.

  Examples:
    >>> import jmetrics as jm
    >>> from jmetrics import inputs_of
    >>> inputs_of(jm.AUC())
    Inputs(required=('y_true', 'y_pred'), optional=('sample_weight',))
    >>> inputs_of(jm.Mean())
    Inputs(required=('values',), optional=('sample_weight',))
  """
  own = getattr(metric, "inputs", None)
  if callable(own):
    return own()
  return _signature_inputs(type(metric))


def _as_metric(owner: str, value) -> base.Metric:
  """A member given as a metric, class, string identifier or callable."""
  if isinstance(value, tuple):
    if len(value) != 2 or not isinstance(value[1], Mapping):
      raise ValueError(f"{owner}: a tuple member must be (metric, {{input: "
                       f"source}}), got {value!r}")
    return route(value[0], **value[1])
  metric = registry.get(value)
  if metric is None:
    raise ValueError(f"{owner}: None is not a metric")
  return metric


def _bind(owner: str, order: tuple, args: tuple, inputs: dict) -> dict:
  """Binds positional ``args`` to the names in ``order`` next to ``inputs``."""
  if len(args) > len(order):
    raise ValueError(f"{owner}: takes at most {len(order)} positional inputs "
                     f"{order}, got {len(args)}")
  inputs = dict(inputs)
  for name, value in zip(order, args):
    if name in inputs:
      raise ValueError(f"{owner}: input {name!r} given both positionally and "
                       "as a keyword")
    inputs[name] = value
  return inputs


def _check_inputs(owner: str, spec: Inputs, inputs: dict) -> dict:
  """Rejects unknown and missing inputs; returns those that are given.

  A ``None`` value counts as not given: callers pass ``sample_weight=None``
  by habit, and an optional input left ``None`` means its default anyway.
  """
  known = spec.names
  unknown = sorted(k for k, v in inputs.items()
                   if k not in known and not (k == "sample_weight" and v is None))
  if unknown:
    raise ValueError(f"{owner}: unknown input(s) {unknown}; the inputs are "
                     f"{list(known)}")
  given = {k: v for k, v in inputs.items() if v is not None}
  missing = [k for k in spec.required if k not in given]
  if missing:
    raise ValueError(f"{owner}: missing input(s) {missing}; the inputs are "
                     f"{list(known)}")
  return given


def _masked_update(metric, state, inputs: dict, mask):
  """``metric.masked_update`` with ``inputs`` by name.

  `Collection` and `Routed` take their inputs by keyword; other metrics take
  their required inputs by position and ``sample_weight`` by keyword.
  """
  if callable(getattr(metric, "inputs", None)):
    return metric.masked_update(state, mask=mask, **inputs)
  spec = inputs_of(metric)
  extra = sorted(set(inputs) - set(spec.required) - {"sample_weight"})
  if extra:
    raise ValueError(f"{type(metric).__name__}: masked_update takes the required "
                     f"inputs and sample_weight only, got {extra}")
  return metric.masked_update(state, *[inputs[n] for n in spec.required],
                              mask=mask, sample_weight=inputs.get("sample_weight"))


def _shared_step(metric, state, inputs: dict):
  """``(group key, step, inputs read)`` if ``metric``'s update is a
  `base.SharedStep`, else None.

  Steps share a batch computation when their keys are equal and they read
  the same arrays under the same input names: the group key holds the
  ``id`` of each array, and the arrays themselves are returned with it so
  that they stay alive (an ``id`` is unique among live objects only) until
  the collection's update has run every group.
  """
  if isinstance(metric, Routed):
    if metric.external:
      return None
    return _shared_step(metric.metric, state, metric._inner_inputs((), inputs))
  if (metric.shared_update is None
      or not base.written_for(type(metric), "shared_update", "update")):
    return None  # a subclass's own update is what the metric does
  step = metric.shared_update(state, **inputs)
  if step is None:
    return None
  read = tuple(sorted(inputs.items()))
  # The group function is part of the key: only steps that the same code
  # computes together are grouped.
  key = (step.group, step.key, tuple((name, id(value)) for name, value in read))
  return key, step, read


class Wrapper(base.Metric):
  """A metric around another, ``self.metric``, whose state it is: `init`,
  `compute`, `merge`, `sync` and the reduction kinds are the wrapped
  metric's; a subclass changes what `update` does with the inputs."""

  metric: base.Metric

  def init(self):
    return self.metric.init()

  def compute(self, state):
    return self.metric.compute(state)

  def merge(self, a, b):
    return self.metric.merge(a, b)

  def sync(self, state, axis_name):
    return self.metric.sync(state, axis_name)

  def merge_stacked(self, stacked, axis: int = 0):
    return self.metric.merge_stacked(stacked, axis)

  def reductions(self):
    return self.metric.reductions()

  @property
  def has_value_checks(self) -> bool:
    return self.metric.has_value_checks


@base.register
@dataclasses.dataclass(frozen=True)
class Routed(Wrapper):
  """A metric whose inputs come from differently named inputs; see `route`.

  Attributes:
    metric: the wrapped metric.
    sources: ``((input, source), ...)`` for every input of ``metric`` in
      signature order; ``source`` is the name ``update`` takes it by, or
      ``None`` if it is never passed.
    name: the wrapped metric's name.
  """

  metric: base.Metric
  sources: tuple
  name: str

  @property
  def external(self) -> bool:
    """Whether `update` never feeds the metric (only `merge` changes it)."""
    return all(source is None for _, source in self.sources)

  def inputs(self) -> Inputs:
    inner = inputs_of(self.metric)
    required, optional = [], []
    for param, source in self.sources:
      if source is None:
        continue
      group = required if param in inner.required else optional
      if source not in required and source not in optional:
        group.append(source)
    # A source that feeds both a required and an optional input is required.
    optional = [s for s in optional if s not in required]
    return Inputs(tuple(required), tuple(optional))

  def update(self, state, *args, **inputs):
    """Updates the wrapped metric from the renamed inputs.

    Args:
      state: the wrapped metric's state.
      *args: inputs by position, in the order of ``inputs().names``.
      **inputs: inputs by their source names.

    Returns:
      The new state (unchanged for an `external` member).

    Raises:
      ValueError: for an unknown or missing input.
    """
    inner = self._inner_inputs(args, inputs)
    return state if self.external else self.metric.update(state, **inner)

  def masked_update(self, state, *args, mask, **inputs):
    """`update` of the rows where ``mask`` holds (see `Metric.masked_update`)."""
    inner = self._inner_inputs(args, inputs)
    return state if self.external else _masked_update(self.metric, state, inner, mask)

  def _inner_inputs(self, args, inputs) -> dict:
    """The given inputs, checked, under the wrapped metric's input names."""
    owner = f"route({type(self.metric).__name__} {self.name!r})"
    spec = self.inputs()
    given = _check_inputs(owner, spec, _bind(owner, spec.names, args, inputs))
    # Checked under the names the user passes, not the wrapped metric's.
    given = {name: value if value is None else
             checks.numeric_input(self.metric, name, value)
             for name, value in given.items()}
    return {param: given[source] for param, source in self.sources
            if source is not None and source in given}



def route(metric, **sources) -> Routed:
  """Feeds ``metric``'s inputs from inputs of other names.

  Inputs not named keep their own name (so ``sample_weight`` still reaches
  the metric). A source of ``None`` never passes that input; routing every
  required input to ``None`` declares an *external* member that ``update``
  leaves alone, whose state only changes by ``merge`` (e.g. the records of
  ``add_metric`` in `jmetrics.linen` / `jmetrics.nnx`).

  Args:
    metric: a metric (or anything `jm.get` accepts).
    **sources: ``input=source_name`` (or ``None``) per renamed input.

  Returns:
    A `Routed` metric named like ``metric``.

  Raises:
    ValueError: if a key is not an input of ``metric``, a source is not a
      string or ``None``, or only some required inputs are routed to
      ``None``.

  Examples:
    >>> import jmetrics as jm
    >>> from jmetrics import route
    >>> loss = route(jm.Mean(name="loss"), values="loss")
    >>> loss.inputs()
    Inputs(required=('loss',), optional=('sample_weight',))
    >>> float(loss.compute(loss.update(loss.init(), loss=[1.0, 2.0])))
    1.5
    >>> route(jm.Mean(), value="loss")
    Traceback (most recent call last):
      ...
    ValueError: route(Mean): 'value' is not an input of Mean; its inputs are ['values', 'sample_weight']
  """
  metric = _as_metric("route", metric)
  inner = inputs_of(metric)
  owner = f"route({type(metric).__name__})"
  for param, source in sources.items():
    if param not in inner.names:
      raise ValueError(f"{owner}: {param!r} is not an input of "
                       f"{type(metric).__name__}; its inputs are {list(inner.names)}")
    if source is not None and (not isinstance(source, str) or not source):
      raise ValueError(f"{owner}: the source of {param!r} must be an input "
                       f"name or None, got {source!r}")
  resolved = {param: sources.get(param, param) for param in inner.names}
  unfed = [p for p in inner.required if resolved[p] is None]
  if unfed and len(unfed) < len(inner.required):
    raise ValueError(f"{owner}: required input(s) {unfed} routed to None but "
                     "not the others; route all of them to None for a member "
                     "fed only by merge")
  if unfed:  # External: optional inputs (sample_weight) are not fed either.
    resolved = {param: None for param in inner.names}
  return Routed(metric, tuple(resolved.items()), metric.name)


@base.register
@dataclasses.dataclass(frozen=True, init=False)
class Collection(base.Metric):
  """Metrics updated, merged, synced and computed together; itself a metric.

  The state is a dict ``{name: member_state}``. ``update`` takes the union of
  the members' inputs by keyword (positional ``y_true, y_pred,
  sample_weight`` as in Keras) and gives each member the inputs it declares
  (see `inputs_of`; rename them with `route`). ``merge``, ``sync`` and
  ``merge_stacked`` apply each member's own, so every member keeps its
  reduction kinds (sums, mins, maxes, exact `Wide` totals). States are plain
  pytrees of arrays: they live in a ``TrainState``, cross ``jax.jit`` and
  ``pmap`` boundaries and save with orbax like any other pytree (restore
  with the target ``jax.eval_shape(collection.init)``, which rebuilds the
  ``NamedTuple`` states and `Wide` pairs exactly).

  Args:
    metrics: a dict ``{name: member}`` or a sequence of members keyed by
      their ``name``. A member is a metric, a string identifier or class
      (`jm.get`), a `route`-d metric, a ``(metric, {input: source})`` tuple
      (shorthand for `route`), or another `Collection`.
    name: key of the collection when nested in another one.
    flatten: if True, `compute` splits array results into scalars keyed
      ``"name/0"``, ``"name/1"``, ... (``"name/i/j"`` for matrices); else
      per-class vectors are kept whole.

  Raises:
    ValueError: for duplicate names, a non-string name, or a member that is
      not a metric.

  Examples:
    >>> import jmetrics as jm
    >>> from jmetrics import Collection
    >>> metrics = Collection(["binary_accuracy", jm.AUC(num_thresholds=3)])
    >>> state = metrics.update(metrics.init(), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> {k: float(v) for k, v in metrics.compute(state).items()}
    {'binary_accuracy': 0.75, 'auc': 0.75}
    >>> per_threshold = Collection({"tp": jm.TruePositives(thresholds=[0.2, 0.6])},
    ...                            flatten=True)
    >>> state = per_threshold.update(per_threshold.init(), [0, 1, 1], [0.3, 0.5, 0.9])
    >>> {k: float(v) for k, v in per_threshold.compute(state).items()}
    {'tp/0': 2.0, 'tp/1': 1.0}
    >>> Collection(["mse", jm.MeanSquaredError()])
    Traceback (most recent call last):
      ...
    ValueError: Collection: duplicate metric name 'mean_squared_error'; give the metrics distinct name= or pass a dict
  """

  members: tuple  # ((name, metric), ...) in the given order.
  name: str
  flatten: bool

  def __init__(self, metrics, *, name: str = "collection", flatten: bool = False):
    if isinstance(metrics, Mapping):
      pairs = [(key, _as_metric(f"Collection member {key!r}", value))
               for key, value in metrics.items()]
    elif isinstance(metrics, (list, tuple)):
      pairs = []
      for value in metrics:
        metric = _as_metric("Collection", value)
        pairs.append((metric.name, metric))
    else:
      raise ValueError("Collection: expected a dict {name: metric} or a list of "
                       f"metrics, got {type(metrics).__name__}")
    seen = set()
    for key, _ in pairs:
      if not isinstance(key, str) or not key:
        raise ValueError(f"Collection: metric names must be non-empty strings, "
                         f"got {key!r}")
      if key in seen:
        raise ValueError(f"Collection: duplicate metric name {key!r}; give the "
                         "metrics distinct name= or pass a dict")
      seen.add(key)
    self._set_config(members=tuple(pairs), name=name, flatten=bool(flatten))

  # -- access ----------------------------------------------------------------

  @property
  def names(self) -> tuple:
    """Member names, in order."""
    return tuple(key for key, _ in self.members)

  @property
  def metrics(self) -> dict:
    """``{name: metric}``."""
    return dict(self.members)

  @property
  def has_value_checks(self) -> bool:
    return any(metric.has_value_checks for _, metric in self.members)

  def __getitem__(self, name: str) -> base.Metric:
    for key, metric in self.members:
      if key == name:
        return metric
    raise KeyError(f"Collection has no metric {name!r}; names: {list(self.names)}")

  def __contains__(self, name) -> bool:
    return name in self.names

  def inputs(self) -> Inputs:
    """The union of the members' inputs (required by any member first)."""
    required, optional = [], []
    for _, metric in self.members:
      spec = inputs_of(metric)
      required += [n for n in spec.required if n not in required]
      optional += [n for n in spec.optional if n not in optional]
    return Inputs(tuple(required), tuple(n for n in optional if n not in required))

  # -- the contract ----------------------------------------------------------

  def init(self) -> dict:
    return {key: metric.init() for key, metric in self.members}

  def _check_state(self, state):
    if not isinstance(state, Mapping) or set(state) != set(self.names):
      got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
      raise ValueError(f"Collection: expected a state with keys "
                       f"{sorted(self.names)}, got {got}")

  def update(self, state: dict, *args, **inputs) -> dict:
    """Updates every member with the inputs it takes.

    Members whose updates share a batch computation (`sharing`) run it once;
    each member's state is what its own ``update`` of these inputs gives.

    Args:
      state: the collection's state.
      *args: ``y_true``, ``y_pred``, ``sample_weight`` by position.
      **inputs: inputs by name (``y_true=``, ``loss=``, ...); ``None`` counts
        as not given.

    Returns:
      The new state.

    Raises:
      ValueError: for an input no member takes (e.g. a typo), an input a
        member requires that is missing, or a state of other keys.
    """
    given = self._given(state, args, inputs)
    new, groups = self._plan(state, given)
    for group in groups:
      steps = [step for _, step, _ in group]
      for (key, _, _), member_state in zip(group, steps[0].group(steps)):
        new[key] = member_state
    return {key: new[key] for key in self.names}

  def _plan(self, state, given) -> tuple[dict, list]:
    """``(new states of the members that share nothing, groups)``: each
    group a list of ``(name, step, inputs read)`` whose steps have equal
    keys and read the same arrays."""
    new, groups = {}, {}
    for key, metric in self.members:
      member_inputs = self._member_inputs(metric, given)
      shared = _shared_step(metric, state[key], member_inputs)
      if shared is None:
        new[key] = metric.update(state[key], **member_inputs)
      else:
        group_key, step, read = shared
        groups.setdefault(group_key, []).append((key, step, read))
    return new, list(groups.values())

  def sharing(self, *args, **inputs) -> tuple:
    """Which members' updates share one batch computation for these inputs.

    Sharing is decided from configuration when the update is traced (see
    `jm.SharedStep`): members of equal step keys that read the same arrays
    form a group. Nothing is computed here (the inputs are only traced).

    Args:
      *args, **inputs: inputs as for `update` (arrays or shape structs).

    Returns:
      A tuple of groups in member order, each a tuple of member names; a
      member that shares nothing is a group of its own only if its update
      is a step, and is absent otherwise.

    Examples:
      >>> import jax.numpy as jnp
      >>> import jmetrics as jm
      >>> metrics = jm.Collection([jm.Precision(), jm.Recall(), jm.AUC(),
      ...                          jm.AUC(curve="PR", name="pr_auc"), jm.Mean()])
      >>> metrics.sharing(y_true=jnp.zeros(8), y_pred=jnp.zeros(8),
      ...                 values=jnp.zeros(8))
      (('precision', 'recall'), ('auc', 'pr_auc'))
    """
    groups = []
    # One traced value per distinct input object, so that an array passed
    # under two names is one array here too, as in `update`.
    values = list(args) + list(inputs.values())
    distinct = list({id(v): v for v in values}.values())
    where = [next(i for i, d in enumerate(distinct) if d is v) for v in values]

    def trace(distinct):
      traced = [distinct[i] for i in where]
      state = self.init()
      given = self._given(state, tuple(traced[:len(args)]),
                          dict(zip(inputs, traced[len(args):])))
      _, shared = self._plan(state, given)
      groups.extend(tuple(name for name, _, _ in group) for group in shared)
      return 0

    jax.eval_shape(trace, distinct)
    return tuple(groups)

  def masked_update(self, state: dict, *args, mask, **inputs) -> dict:
    """`update` of the rows where ``mask`` holds: each member's ``masked_update``.

    Args:
      state: the collection's state.
      *args: ``y_true``, ``y_pred``, ``sample_weight`` by position.
      mask: which rows are real (see `Metric.masked_update`).
      **inputs: inputs by name.

    Returns:
      The new state.
    """
    given = self._given(state, args, inputs)
    return {key: _masked_update(metric, state[key],
                                self._member_inputs(metric, given), mask)
            for key, metric in self.members}

  def _given(self, state, args, inputs) -> dict:
    self._check_state(state)
    owner = f"Collection {self.name!r}"
    return _check_inputs(owner, self.inputs(), _bind(owner, POSITIONAL, args, inputs))

  @staticmethod
  def _member_inputs(metric, given: dict) -> dict:
    return {n: given[n] for n in inputs_of(metric).names if n in given}

  def compute(self, state: dict) -> dict:
    """``{name: value}``, flat: nested collections' keys become ``"outer/inner"``.

    Each value is what the member computes (an empty member: its own empty
    value, 0 for Keras' metrics); with ``flatten=True`` array values are
    split into scalars ``"name/i"``.
    """
    self._check_state(state)
    out = {}
    for key, metric in self.members:
      self._put(out, key, metric.compute(state[key]))
    return out

  def _put(self, out: dict, key: str, value):
    if isinstance(value, Mapping):
      for inner, v in value.items():
        self._put(out, f"{key}/{inner}", v)
      return
    if self.flatten and np.ndim(value) > 0:
      for index in np.ndindex(*np.shape(value)):
        self._put(out, "/".join([key, *map(str, index)]), value[index])
      return
    if key in out:
      raise ValueError(f"Collection: two results are named {key!r}")
    out[key] = value

  def merge(self, a: dict, b: dict) -> dict:
    self._check_state(a)
    self._check_state(b)
    return {key: metric.merge(a[key], b[key]) for key, metric in self.members}

  def sync(self, state: dict, axis_name) -> dict:
    self._check_state(state)
    return {key: metric.sync(state[key], axis_name) for key, metric in self.members}

  def merge_stacked(self, stacked: dict, axis: int = 0) -> dict:
    self._check_state(stacked)
    return {key: metric.merge_stacked(stacked[key], axis)
            for key, metric in self.members}

  def reductions(self) -> dict:
    return {key: metric.reductions() for key, metric in self.members}


def flatten_results(results: Mapping, sep: str = "/") -> dict:
  """Splits array values of a results dict into scalars ``"name/i"``.

  For logging results computed with ``flatten=False``.

  Args:
    results: ``{name: value}`` (nested dicts allowed).
    sep: separator of the flattened keys.

  Returns:
    ``{name: scalar}``.

  Examples:
    >>> import numpy as np
    >>> from jmetrics import flatten_results
    >>> flat = flatten_results({"f1": np.array([0.5, 1.0]), "loss": 0.25})
    >>> {k: float(v) for k, v in flat.items()}
    {'f1/0': 0.5, 'f1/1': 1.0, 'loss': 0.25}
  """
  out = {}

  def put(key, value):
    if isinstance(value, Mapping):
      for inner, v in value.items():
        put(f"{key}{sep}{inner}", v)
    elif np.ndim(value) > 0:
      for index in np.ndindex(*np.shape(value)):
        put(sep.join([key, *map(str, index)]), value[index])
    else:
      out[key] = value

  for key, value in results.items():
    put(key, value)
  return out

