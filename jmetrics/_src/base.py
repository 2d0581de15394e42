"""The metric contract: immutable configuration, pure methods over a state pytree.

Every metric is a frozen dataclass holding only configuration. Its state is a
separate pytree of fixed-shape arrays (a ``NamedTuple`` named
``<Metric>State``). Subclasses write ``init``, ``update`` and ``compute``;
``merge``, ``sync`` and ``merge_stacked`` come from the per-leaf reduction kinds
the metric declares in `Metric.reductions` (every leaf sums by default).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import math
import re
from typing import Any, Callable, Hashable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide

SUM = "sum"
MIN = "min"
MAX = "max"
_KINDS = (SUM, MIN, MAX)

State = Any  # A pytree of arrays (``Wide`` pairs count as one summed leaf).


def snake_case(name: str) -> str:
  """``"MeanSquaredError"`` -> ``"mean_squared_error"``; the default metric name."""
  name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
  return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def freeze(value: Any) -> Hashable:
  """Lists, tuples, dicts and arrays in a config become nested tuples.

  Configs must hash so that a metric can be a static argument of ``jax.jit``
  and equal configs hit the same compilation cache entry.
  """
  if isinstance(value, dict):
    return tuple(sorted((k, freeze(v)) for k, v in value.items()))
  if isinstance(value, (list, tuple)):
    return tuple(freeze(v) for v in value)
  if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
    import numpy as np  # pylint: disable=g-import-not-at-top
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else freeze(array.tolist())
  return value


def _is_leaf(x) -> bool:
  return isinstance(x, wide.Wide)


def _map_kind(kinds, fn, *states):
  """Applies ``fn(kind, *leaves)`` to each leaf, ``kinds`` being a tree prefix."""
  def per_subtree(kind, *subtrees):
    if kind not in _KINDS:
      raise ValueError(f"unknown reduction kind {kind!r}; expected one of {_KINDS}")
    return jax.tree.map(lambda *leaves: fn(kind, *leaves), *subtrees,
                        is_leaf=_is_leaf)
  return jax.tree.map(per_subtree, kinds, *states)


def _merge_leaf(kind, a, b):
  if isinstance(a, wide.Wide):
    if kind != SUM:
      raise ValueError("Wide totals only support the 'sum' reduction")
    return wide.wide_merge(a, b)
  if kind == SUM:
    return a + b
  return jnp.minimum(a, b) if kind == MIN else jnp.maximum(a, b)


def _sync_leaf(kind, leaf, axis_name):
  if isinstance(leaf, wide.Wide):
    return wide.wide_psum(leaf, axis_name)
  op = {SUM: jax.lax.psum, MIN: jax.lax.pmin, MAX: jax.lax.pmax}[kind]
  return op(leaf, axis_name)


def _stacked_leaf(kind, leaf, axis):
  if isinstance(leaf, wide.Wide):
    return wide.wide_sum(leaf, axis)
  op = {SUM: jnp.sum, MIN: jnp.min, MAX: jnp.max}[kind]
  return op(leaf, axis=axis)


@functools.lru_cache(maxsize=512)
def _state_layout(metric):
  """The tree structure and leaf shapes of ``metric.init()`` (configs hash)."""
  leaves, treedef = jax.tree.flatten(jax.eval_shape(metric.init))
  return treedef, tuple(tuple(leaf.shape) for leaf in leaves)


def check_state(metric, what: str, **states) -> None:
  """Raises a ``ValueError`` naming ``metric`` if a state does not have the
  structure and leaf shapes of ``metric.init()`` (e.g. a state of another
  metric, or of another configuration with other sizes)."""
  treedef, shapes = _state_layout(metric)
  for argument, state in states.items():
    leaves, got = jax.tree.flatten(state)
    if got != treedef:
      raise metric.error(
          f"{what}: {argument} is not a state of this metric: expected "
          f"{type(jax.tree.unflatten(treedef, shapes)).__name__} with "
          f"{len(shapes)} leaves, got {type(state).__name__} with "
          f"{len(leaves)} leaves")
    for index, (leaf, shape) in enumerate(zip(leaves, shapes)):
      if checks.shape_of(leaf) != shape:
        raise metric.error(
            f"{what}: {argument} has leaf {index} of shape "
            f"{checks.shape_of(leaf)} where this metric's state has shape "
            f"{shape}: a state of a differently configured metric?")


# -- inputs ----------------------------------------------------------------------

# The parameters of `update` and `masked_update` that take array inputs.
_ARRAY_INPUTS = ("y_true", "y_pred", "values", "sample_weight", "mask")
_OPTIONAL_INPUTS = ("sample_weight",)


def _checking_inputs(method):
  """Wraps ``update``/``masked_update`` so that every array argument is
  checked by `checks.numeric_input` first: non-numeric input fails with an
  error naming the metric and the argument, not deep inside JAX."""
  if getattr(method, "_checks_inputs", False):
    return method
  signature = inspect.signature(method)
  checked = [name for name in signature.parameters if name in _ARRAY_INPUTS]
  if not checked:
    return method

  @functools.wraps(method)
  def wrapper(self, *args, **kwargs):
    bound = signature.bind(self, *args, **kwargs)
    for name in checked:
      if name in bound.arguments:
        value = bound.arguments[name]
        if value is None and name in _OPTIONAL_INPUTS:
          continue
        bound.arguments[name] = checks.numeric_input(self, name, value)
    return method(*bound.args, **bound.kwargs)

  wrapper._checks_inputs = True
  return wrapper


# -- masks -----------------------------------------------------------------------


def as_mask(metric, mask, inputs) -> jax.Array:
  """``mask`` as a bool array of shape ``()`` or ``(batch,)``, checked at trace time.

  ``batch`` is the leading dimension of the first of ``inputs``; nonzero
  numbers count as True.
  """
  mask = jnp.asarray(mask)
  mask = mask if mask.dtype == jnp.bool_ else mask != 0
  if mask.ndim > 1:
    raise metric.error(f"mask must be a scalar or have shape (batch,), got "
                       f"shape {mask.shape}")
  if mask.ndim == 1:
    first = np.shape(inputs[0]) if inputs else ()
    if not first or first[0] != mask.shape[0]:
      raise metric.error(
          f"mask of shape {mask.shape} needs inputs whose leading (batch) axis "
          f"has {mask.shape[0]} rows, got a first input of shape {first}")
  return mask


def row_mask(mask: jax.Array, ndim: int) -> jax.Array:
  """A ``(batch,)`` mask reshaped to ``(batch, 1, ..., 1)`` with ``ndim`` axes."""
  return mask.reshape(mask.shape + (1,) * (ndim - mask.ndim))


def row_weight(mask: jax.Array, sample_weight, rank: int) -> jax.Array:
  """``sample_weight`` times the ``(batch,)`` ``mask``, one weight per row.

  Weights that have the batch axis (per row or per element) keep their shape,
  with the masked rows set to 0. Otherwise (``None``, a scalar, or weights
  without the batch axis) the mask reshaped to ``(batch, 1, ..., 1)`` with
  ``rank`` axes (at least one) is the weight, as int32 0/1 when
  ``sample_weight`` is None, else selecting ``sample_weight`` (0 elsewhere).
  """
  if sample_weight is not None:
    sample_weight = jnp.asarray(sample_weight)
    zero = jnp.zeros((), sample_weight.dtype)
    if sample_weight.ndim and sample_weight.shape[0] == mask.shape[0]:
      return jnp.where(row_mask(mask, sample_weight.ndim), sample_weight, zero)
  rows = row_mask(mask, max(rank, 1))
  if sample_weight is None:
    return rows.astype(jnp.int32)
  return jnp.where(rows, sample_weight, zero)


def zero_masked_rows(x, mask: jax.Array):
  """``x`` with the rows where ``mask`` is False set to zero.

  Inputs without the mask's leading axis (scalars, broadcast arguments) are
  returned as given. After this, masked rows may have held anything, NaN
  included: a row of zeros (label 0, score 0) weighted 0 adds exactly 0 to
  the sums and histograms of the default `Metric.masked_update`, metrics
  whose per-row values can be NaN for a zero row (renormalised
  probabilities, correlations) drop masked rows with ``where`` instead of a
  weight, and batch-wide checks such as `Hinge`'s "are all labels 0 or 1"
  see the real labels plus 0, which never changes their answer.
  """
  if x is None:
    return None
  x = jnp.asarray(x)
  if x.ndim == 0 or x.shape[0] != mask.shape[0]:
    return x
  return jnp.where(row_mask(mask, x.ndim), x, jnp.zeros((), x.dtype))


def select(keep, new: State, old: State) -> State:
  """``new`` where the scalar ``keep`` is True, else ``old`` (leaf by leaf)."""
  return jax.tree.map(lambda n, o: jnp.where(keep, n, o), new, old)


# -- declarative configuration ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Check:
  """How one config field is validated and normalised, declared once.

  A metric class declares the checks of its fields in ``config_checks``, a
  mapping ``{field name: check}`` merged along the class hierarchy (so a
  family's base declares, once, the checks of fields its subclasses
  declare). `metric_dataclass` runs them at construction, in field order,
  after every value is frozen and before `Metric.validate`, which is left
  with the checks that involve several fields; what a check returns is
  stored. Any callable ``check(metric, name, value) -> value`` that raises
  ``metric.error(...)`` serves; `Check` is the common kind, made by
  `integer`, `real`, `unit`, `choice`, `boolean`, `floating_dtype`, `shape`
  and `cast`.

  Attributes:
    test: ``value -> bool``; a value it rejects (or that makes it raise
      ``TypeError``) raises ``message``.
    message: format string of the error after the ``"<Metric>: "`` prefix,
      given ``name``, ``value`` and ``type`` (the value's type).
    normalise: ``value -> value`` applied to an accepted value (``int``,
      ``float``, ...) before it is stored.
    optional: ``None`` is accepted and stored as is.
    then: a further check of the normalised value (a range after a type
      check, with its own message).

  Examples:
    >>> import jmetrics as jm
    >>> from jmetrics._src import base
    >>> jm.Precision(top_k=0)
    Traceback (most recent call last):
      ...
    ValueError: Precision: top_k must be an integer >= 1, got 0
    >>> check = base.integer(minimum=1, optional=True)
    >>> check(jm.Precision(), "top_k", 3), check(jm.Precision(), "top_k", None)
    (3, None)
  """

  test: Callable[[Any], bool] = lambda value: True
  message: str = "{name} is invalid, got {value!r}"
  normalise: Optional[Callable[[Any], Any]] = None
  optional: bool = False
  then: Optional[Callable[..., Any]] = None

  def __call__(self, metric, name: str, value):
    if value is None and self.optional:
      return None
    try:
      accepted = bool(self.test(value))
    except TypeError:  # e.g. an unhashable value looked up among choices
      accepted = False
    if not accepted:
      raise metric.error(self.message.format(name=name, value=value,
                                             type=type(value)))
    if self.normalise is not None:
      value = self.normalise(value)
    return value if self.then is None else self.then(metric, name, value)


def integer(minimum=None, *, optional=False, message=None) -> Check:
  """An int (not a bool), ``>= minimum`` if given; stored as ``int``.

  The default message is ``"<name> must be an integer >= <minimum>, got
  <value>"`` (``"... must be an integer, got ..."`` without a minimum).
  """
  if message is None:
    message = ("{name} must be an integer, got {value!r}" if minimum is None
               else f"{{name}} must be an integer >= {minimum}, got {{value!r}}")
  return Check(lambda v: checks.is_int(v) and (minimum is None or v >= minimum),
               message, int, optional)


def real(*, low=None, high=None, low_open=False, finite=False, optional=False,
         message, type_message=None, normalise=None) -> Check:
  """A real number (not a bool) in ``[low, high]`` (``(low, high]`` if
  ``low_open``), finite if asked; NaN fails every bound.

  With ``type_message``, a value that is not a number raises it and one out
  of range raises ``message``; without it, both raise ``message``.
  """
  def in_range(v):
    return ((low is None or (v > low if low_open else v >= low))
            and (high is None or v <= high)
            and (not finite or math.isfinite(v)))
  if type_message is None:
    return Check(lambda v: checks.is_real(v) and in_range(v), message,
                 normalise, optional)
  return Check(checks.is_real, type_message, optional=optional,
               then=Check(in_range, message, normalise))


def unit(message="{name} must be a number in [0, 1], got {value!r}") -> Check:
  """A real number in [0, 1] (NaN rejected), stored as given."""
  return real(low=0.0, high=1.0, message=message)


def choice(options, *, message) -> Check:
  """One of ``options``: a sequence, or a mapping from each accepted value to
  the value stored (aliases). An `enum.Enum` member counts as its value."""
  table = (dict(options) if isinstance(options, Mapping)
           else {option: option for option in options})
  unwrap = lambda v: v.value if isinstance(v, enum.Enum) else v
  return Check(lambda v: unwrap(v) in table, message,
               lambda v: table[unwrap(v)])


def boolean(message="{name} must be a bool, got {value!r}") -> Check:
  """A bool (NumPy's included), stored as ``bool``."""
  return Check(checks.is_bool, message, bool)


def floating_dtype(
    message="dtype must be a floating dtype or None, got {value!r}") -> Check:
  """``None`` or a floating dtype."""
  return Check(checks.is_float_dtype, message, optional=True)


def shape(*, message) -> Check:
  """A required shape: a tuple of sizes, or one int for a 1-D shape."""
  return Check(lambda v: v is not None, message,
               lambda v: (v,) if checks.is_int(v) else v)


def cast(normalise: Callable[[Any], Any]) -> Check:
  """No test, only a normalisation (``cast(bool)`` for a Keras flag)."""
  return Check(normalise=normalise)


@functools.lru_cache(maxsize=None)
def config_checks_of(cls) -> dict:
  """The checks of ``cls``: its ``config_checks`` merged along the hierarchy
  (a subclass's entry replaces its base's)."""
  merged = {}
  for klass in reversed(cls.__mro__):
    merged.update(vars(klass).get("config_checks", {}))
  return merged


class LabelDomain(NamedTuple):
  """What ``y_true`` may hold, for the opt-in value checks of `Checked`.

  Attributes:
    high: labels lie in ``[0, high]``, or are class ids in ``[0, high)``.
    class_ids: whether labels are integer class ids.
    ignore: a label value allowed besides (the metric's ``ignore_class``).
  """

  high: float
  class_ids: bool = False
  ignore: Optional[int] = None


@dataclasses.dataclass(frozen=True, eq=False)
class SharedStep:
  """An update split into a batch part other metrics may share, and its own.

  Many updates start with the same computation over the batch: a threshold
  histogram (Precision, Recall, the AUCs and X-at-Y metrics on one grid), a
  confusion table (the IoU family), per-row statistics of the scores. A
  metric that returns a step from ``shared_update`` says what that part is
  (``key``) and how to finish from it (``group``); a `Collection` runs one
  ``group`` for all its members of equal key reading the same input arrays,
  so the batch part is computed once. The metric's own ``update`` is the
  step run alone, so a member's state is the same computation in a
  collection as on its own (the same bits on CPU's native kernels; XLA may
  round a fused float sum differently inside a larger program). A subclass
  that overrides ``update`` is not shared (`written_for`).

  Attributes:
    key: hashable: everything the batch part depends on besides the input
      arrays (the kernel, its static parameters, how the metric aligns its
      inputs). Equal keys must mean equal batch parts.
    group: ``group(steps) -> [new state, ...]`` for steps of equal key
      (this one among them) over the same inputs: the batch part once, from
      the first step's prepared inputs, then each step's new state.
    payload: what ``group`` needs of this step (its running totals, its
      prepared inputs, how its state is rebuilt).
  """

  key: Hashable
  group: Callable
  payload: Any

  def alone(self):
    """The new state of this step's metric, as its ``update`` returns it."""
    (state,) = self.group((self,))
    return state


def written_for(cls, method: str, basis: str) -> bool:
  """Whether ``cls.method`` was written knowing ``cls.basis``: the class that
  defines ``method`` is the one that defines ``basis`` or a subclass of it.

  A metric's ``update`` is its ``shared_update`` run alone only if no
  subclass has overridden ``update`` since ``shared_update`` was written;
  otherwise the subclass's ``update`` is what the metric does, and sharing
  would skip it.
  """
  def owner(name):
    return next((klass for klass in cls.__mro__ if name in vars(klass)), None)
  method_owner, basis_owner = owner(method), owner(basis)
  return (method_owner is not None and basis_owner is not None
          and issubclass(method_owner, basis_owner))


class Metric:
  """Base class of every jmetrics metric.

  Subclasses are ``@dataclasses.dataclass(frozen=True)`` classes whose fields
  are the Keras constructor arguments. Instances are hashable, compare equal
  by configuration, and are registered as pytrees without leaves, so they can
  be closed over, passed as ``static_argnums``, or passed as ordinary
  arguments of jitted functions.

  Subclasses implement:

  * ``init() -> state``: the identity element of `merge`.
  * ``update(state, y_true, y_pred, sample_weight=None) -> state``.
  * ``compute(state) -> value``.
  * optionally ``reductions()``: a pytree prefix of the state whose leaves are
    ``"sum"``, ``"min"`` or ``"max"``; every leaf sums by default.
  """

  name: str

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    jax.tree_util.register_static(cls)
    # The package's own metrics take arrays of numbers; a user's metric may
    # take other pytrees (a dict of model heads) and keeps its inputs as given.
    if cls.__module__.startswith("jmetrics."):
      for method in ("update", "masked_update", "shared_update"):
        if method in vars(cls):
          setattr(cls, method, _checking_inputs(vars(cls)[method]))

  # -- what subclasses write -------------------------------------------------

  def init(self) -> State:
    raise NotImplementedError

  def update(self, state: State, y_true, y_pred, sample_weight=None) -> State:
    raise NotImplementedError

  def compute(self, state: State) -> jax.Array:
    raise NotImplementedError

  def validate(self) -> None:
    """Raises `error` for an invalid configuration; runs at construction."""

  def reductions(self) -> Any:
    """Per-leaf reduction kinds, as a pytree prefix of the state."""
    return SUM

  def label_domain(self, y_true, y_pred) -> Optional[LabelDomain]:
    """What ``y_true`` may hold (`LabelDomain`), or None if anything goes.

    Only `Checked` reads it; metrics that take class ids or 0/1 labels say
    so, given the inputs' shapes.
    """
    del y_true, y_pred
    return None

  has_value_checks = False  # whether `update` emits checkify checks

  # A metric whose update starts with a batch computation others may share
  # defines ``shared_update(state, <update's inputs>) -> SharedStep`` and
  # makes ``update`` return ``shared_update(...).alone()``.
  shared_update = None

  # -- derived ---------------------------------------------------------------

  def merge(self, a: State, b: State) -> State:
    """Combines two partial states; associative and commutative.

    Both must be states of this metric: a state of another structure or
    with other leaf shapes raises a ``ValueError`` at trace time. States are
    plain arrays and do not record their configuration, so two
    configurations with equal state shapes (``AUC(num_thresholds=3)`` and
    ``AUC(thresholds=[0.5])``, or `MeanSquaredError` and
    `MeanAbsoluteError`) cannot be told apart here: merge states of the
    metric that made them. (A configuration tag in the state would be a
    leaf that every sync all-reduces and that cannot be compared inside
    ``jit``.)
    """
    check_state(self, "merge", a=a, b=b)
    return _map_kind(self.reductions(), _merge_leaf, a, b)

  def sync(self, state: State, axis_name) -> State:
    """Merges the states of all devices along ``axis_name`` (pmap, shard_map).

    Each device passes the state of its own shard of the data; every device
    gets the merge of all of them, replicated (so under ``jax.shard_map`` it
    may leave with ``out_specs=P()``). State-sized all-reduces only
    (``psum``/``pmin``/``pmax``; a `Wide` total adds a ``pmax`` for its
    grid), never a gather of the inputs.

    Sync what the devices have seen *since the last sync*: a state that is
    already replicated (synced before) would be counted once per device. In a
    train step, ``merge(state, sync(update(init(), shard), axis))`` adds one
    global batch to a replicated ``state``; or keep per-device states and
    sync once before `compute`.
    """
    check_state(self, "sync", state=state)
    return _map_kind(self.reductions(),
                     lambda kind, leaf: _sync_leaf(kind, leaf, axis_name), state)

  def merge_stacked(self, stacked: State, axis: int = 0) -> State:
    """Merges states stacked along ``axis`` (what ``pmap`` returns unsynced)."""
    return _map_kind(self.reductions(),
                     lambda kind, leaf: _stacked_leaf(kind, leaf, axis), stacked)

  def masked_update(self, state: State, *inputs, mask,
                    sample_weight=None) -> State:
    """`update` with the rows where ``mask`` is False left out.

    The way to feed an uneven last batch to a data-parallel step: pad it to a
    multiple of the device count (`jmetrics.pad_to_multiple` returns the
    padded arrays and this mask), shard as usual, and call
    ``masked_update`` instead of ``update``.

    Semantics: for a ``(batch,)`` mask, the result equals
    ``update(state, *[x[mask] for x in inputs], sample_weight=w)``, where
    ``w`` is ``sample_weight[mask]`` for per-row weights and
    ``sample_weight`` otherwise, to float32 rounding (sums over a different
    number of rows may round differently; integer counts are identical). What
    the masked rows hold is never read (they may be garbage or NaN). If no
    row is kept the state is returned unchanged, also where Keras would count
    an empty batch. A scalar mask keeps or drops the whole update (for
    metrics whose inputs have no batch axis, such as `MeanTensor`).

    The default implementation, exact for every metric whose update is a sum
    of per-row terms scaled by ``sample_weight`` (the confusion, threshold,
    F-score and segmentation metrics, `Sum`, `Max`, `Min`), sets the masked
    rows of every input with the mask's leading axis to 0 and calls `update`
    with the weight the metric declares in `mask_weight`: by default
    `row_weight` at the first input's rank, i.e. ``sample_weight`` with its
    masked rows set to 0 where it has the batch axis, and otherwise
    ``where(mask[:, None, ...], sample_weight, 0)`` (``mask`` as int32 0/1
    when ``sample_weight`` is None) of shape ``(batch, 1, ..., 1)`` with as
    many axes as the first input. Metrics whose `update` takes per-row
    weights of another rank declare it there (the F-scores take
    ``(batch,)``; one-hot IoU the rank of its argmax-ed labels). Metrics for
    which a zero weight does not remove a row (`R2Score`'s count ``n``;
    `Mean` and the sample-mean metrics, whose unweighted count is a row
    count, e.g. with the unweighted ``ignore_class`` of
    `SparseCategoricalCrossentropy`, and where Keras treats a 1-D batch as
    one sample; `MeanTensor`) override this method; their docstrings say
    how.

    Args:
      state: the running state.
      *inputs: the positional inputs of `update` (``y_true, y_pred``, or
        ``values``), the batch on axis 0.
      mask: booleans of shape ``(batch,)`` (nonzero numbers count as True):
        which rows are real; or a scalar: whether the update happens at all.
      sample_weight: as in `update`.

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, for a mask that is not a scalar or a
        ``(batch,)`` vector matching the first input's leading axis, and for
        whatever `update` rejects.

    Examples:
      >>> import jmetrics as jm
      >>> m = jm.AUC(num_thresholds=3)
      >>> state = m.masked_update(m.init(), [0, 0, 1, 1, 0], [0, 0.5, 0.3, 0.9, 0],
      ...                         mask=[True, True, True, True, False])
      >>> float(m.compute(state))  # as m.update(m.init(), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
      0.75
    """
    mask = as_mask(self, mask, inputs)
    if mask.ndim == 0:
      return select(mask, self.update(state, *inputs,
                                      sample_weight=sample_weight), state)
    inputs = tuple(zero_masked_rows(x, mask) for x in inputs)
    return self.update(state, *inputs,
                       sample_weight=self.mask_weight(mask, inputs, sample_weight))

  def mask_weight(self, mask: jax.Array, inputs: tuple, sample_weight):
    """The ``sample_weight`` with which `update` leaves out the masked rows.

    What the default `masked_update` passes to `update`: ``sample_weight``
    times the ``(batch,)`` ``mask``, in a shape `update` takes as one weight
    per row. The default is `row_weight` at the rank of the first input
    (``(batch, 1, ..., 1)``, broadcast over each row's elements); a metric
    whose `update` takes row weights of another rank overrides this with a
    `row_weight` of its rank.

    Args:
      mask: bool ``(batch,)``, as `as_mask` returns it.
      inputs: the positional inputs of `update`, masked rows set to 0.
      sample_weight: as given to `masked_update`.

    Returns:
      The weights to pass to `update`.
    """
    return row_weight(mask, sample_weight, np.ndim(inputs[0]))

  def __call__(self, *args, **kwargs) -> jax.Array:
    """The metric of a single batch: ``compute(update(init(), ...))``."""
    return self.compute(self.update(self.init(), *args, **kwargs))

  # -- helpers for subclasses ------------------------------------------------

  def error(self, message: str) -> ValueError:
    """A ``ValueError`` whose message starts with the metric's class name."""
    return ValueError(f"{type(self).__name__}: {message}")

  def result_dtype(self, value: jax.Array) -> jax.Array:
    """Casts a computed value to the configured ``dtype`` (if any)."""
    dtype = getattr(self, "dtype", None)
    return value if dtype is None else jnp.asarray(value, dtype)

  def check_field(self, name: str, check) -> None:
    """Runs ``check`` on field ``name`` and stores the result; for `validate`,
    where a field's check applies only under a condition on other fields."""
    self._set_config(**{name: check(self, name, getattr(self, name))})

  def _set_config(self, **fields) -> None:
    """Stores config values during construction (the one place a frozen
    config is written: `metric_dataclass`, `check_field`, `validate`)."""
    for field, value in fields.items():
      object.__setattr__(self, field, value)


def metric_dataclass(cls):
  """Declares a metric config class: a frozen, hashable dataclass.

  At construction every field value is frozen (lists become tuples) so
  configs hash, the field checks the class declares in ``config_checks``
  (see `Check`) validate and normalise their fields in field order, a
  ``name`` left as ``None`` becomes the snake_case class name, as in Keras,
  and then `Metric.validate` checks what involves several fields.
  """

  def __post_init__(self):
    fields = [field.name for field in dataclasses.fields(self)]
    self._set_config(**{name: freeze(getattr(self, name)) for name in fields})
    declared = config_checks_of(type(self))
    for name in fields:
      if name in declared:
        self._set_config(**{name: declared[name](self, name, getattr(self, name))})
    if getattr(self, "name", "") is None:
      self._set_config(name=snake_case(type(self).__name__))
    self.validate()

  cls.__post_init__ = __post_init__
  cls = dataclasses.dataclass(frozen=True)(cls)
  unknown = sorted(name for name in config_checks_of(cls)
                   if name not in cls.__dataclass_fields__
                   and not hasattr(cls, name))
  if unknown:
    raise TypeError(f"{cls.__name__}: config_checks names no field {unknown}")
  return register(cls)


# The package's metric classes by class name, filled as their modules load.
REGISTERED: dict[str, type] = {}


def register(cls):
  """Makes one of the package's public metric classes known to
  `jmetrics.get` by name; other classes are returned as they are."""
  if cls.__module__.startswith("jmetrics.") and not cls.__name__.startswith("_"):
    REGISTERED[cls.__name__] = cls
  return cls


Metric.masked_update = _checking_inputs(Metric.masked_update)
