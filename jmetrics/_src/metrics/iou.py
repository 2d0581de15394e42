"""Segmentation metrics: `ConfusionMatrix` and the IoU family of Keras 3.

Every metric here keeps one ``(C, C)`` table of (weighted) counts, rows = true
class and columns = predicted class (scikit-learn's convention), as an exact
`Wide` total. A batch is counted by the shared kernel
(`jmetrics._src.kernels.confusion_matrix`: one scatter-add of
``y_true * C + y_pred``, never an ``N x C x C`` one-hot product) and added with
`wide.wide_add_counts`, so unweighted cells stay exact far past 2**24 (and
past 2**31, where Keras' default int32 table wraps).

The IoU metrics (`IoU`, `BinaryIoU`, `MeanIoU`, `OneHotIoU`, `OneHotMeanIoU`)
share one base, `_IoUBase`; they differ only in how inputs become class ids
and which classes are averaged. Semantics follow Keras 3 exactly:

* Inputs of any shape are flattened. With ``sparse_y_true=False`` /
  ``sparse_y_pred=False`` (the one-hot metrics) class ids are the argmax along
  ``axis`` (ties go to the lower index). `BinaryIoU` predicts class 1 where
  ``y_pred >= threshold`` and class 0 elsewhere (NaN scores included).
* Elements whose true or predicted id is outside ``[0, num_classes)`` are
  dropped, as are elements whose true id equals ``ignore_class`` (Keras'
  bounds mask).
* ``dtype`` is Keras' accumulator dtype. Keras defaults it to ``"int"``, which
  truncates labels *and sample weights* toward zero (Keras warns about float
  weights); jmetrics does the same for ``dtype=None`` or an integer dtype, and
  warns at trace time. A floating ``dtype`` keeps fractional weights, and its
  labels are range-checked before the cast to int (so ``-0.5`` is dropped
  rather than counted as class 0), as in Keras. Whatever ``dtype`` is, the
  state is an exact `Wide` table and the result is float32, like Keras'.
* The per-class IoU is ``tp / (tp + fp + fn + 1e-7)`` (Keras' epsilon); a
  class whose denominator is 0 (absent from both truth and predictions) is
  left out of the mean, which is ``sum(iou) / (num_valid + 1e-7)``. An empty
  state therefore computes to 0.
* A weighted batch is counted in float32 by the kernel, so integer weights
  are exact while a cell's total within one batch stays below 2**24; the
  running `Wide` state keeps every total exact across batches.
* ``sample_weight`` is a scalar, broadcastable to ``y_true``'s shape (after
  the argmax), or has as many elements as ``y_true`` (Keras flattens both and
  pairs them element by element).

Where Keras would fail late or silently compute something else, these metrics
raise a ``ValueError`` at construction: ``num_classes < 1``, an empty
``target_class_ids`` list or one with ids outside ``[0, num_classes)``
(Keras wraps negative ids to the last classes). A `BinaryIoU` ``threshold``
outside [0, 1] is rejected too, although Keras accepts any number. Keras 3
fails in ``result()`` for an ``axis`` other than ``-1`` or ``0`` (it also sums
the per-class IoU vector along ``axis``); here ``axis`` only selects the class
axis of the argmax, so ``axis=1`` works for channels-first inputs.
Keras also rejects weights such as ``(B, 1, 1)`` for ``(B, H, W)`` labels;
they broadcast here, as its docstring promises.
"""

from __future__ import annotations

import collections.abc
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src import kernels
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide

_F32 = jnp.float32
_I32 = jnp.int32
# Keras' backend.epsilon(), added to every IoU denominator and to the number
# of valid classes; and the threshold above which a class counts as present.
_EPSILON = 1e-7
_PRESENT = 1e-9
_NORMALIZE = (None, "true", "pred", "all")


# -- states --------------------------------------------------------------------


class ConfusionMatrixState(NamedTuple):
  """The running confusion table of `ConfusionMatrix`."""

  # float32[C, C] pair: (weighted) counts, rows = true, columns = predicted.
  confusion: wide.Wide


class IoUState(NamedTuple):
  """The running confusion table of the IoU metrics (Keras' ``total_cm``)."""

  # float32[C, C] pair: (weighted) counts, rows = true, columns = predicted.
  confusion: wide.Wide


# -- configuration checks --------------------------------------------------------


def _is_numeric_dtype(value) -> bool:
  try:
    dtype = np.dtype(value)
  except TypeError:
    return False
  return (np.issubdtype(dtype, np.integer)
          or np.issubdtype(dtype, np.floating))


def _is_integer_mode(dtype) -> bool:
  """Whether ``dtype`` (checked) is Keras' integer accumulator (``None`` too)."""
  return dtype is None or np.issubdtype(np.dtype(dtype), np.integer)


def _is_class_id_list(value) -> bool:
  return (isinstance(value, collections.abc.Sequence)
          and not isinstance(value, (str, bytes)))


_NUM_CLASSES = base.integer(minimum=1)
_IGNORE_CLASS = base.integer(
    optional=True, message="ignore_class must be None or an integer, got "
    "{value!r}")
_DTYPE = base.Check(_is_numeric_dtype, "dtype must be None, an integer or a "
                    "floating dtype, got {value!r}", optional=True)
_FLAG = base.boolean("{name} must be True or False, got {value!r}")
# A non-empty sequence, stored as a tuple; `_IoUBase.validate` checks the
# range, which depends on num_classes.
_TARGET_CLASS_IDS = base.Check(
    _is_class_id_list, "target_class_ids must be a list or tuple of class ids, "
    "got {value!r}", tuple,
    then=base.Check(bool, "target_class_ids must not be empty"))


# -- turning inputs into class ids ------------------------------------------------


def _argmax(metric, name, x, axis):
  x = jnp.asarray(x)
  if x.ndim == 0 or not -x.ndim <= axis < x.ndim:
    raise metric.error(f"axis={axis} is out of range for {name} of shape "
                       f"{x.shape} (sparse_{name}=False takes the argmax "
                       f"along axis)")
  return kernels.argmax(x, axis)


def _class_ids(x, num_classes, integer_mode):
  """Integer ids, the values compared with ``ignore_class``, and a range mask.

  Keras converts labels to its accumulator dtype first. An integer dtype
  truncates floats toward zero (``-0.5`` becomes class 0); a floating one
  keeps them, so its bounds mask sees ``-0.5`` and drops it. Out-of-range
  integer ids are dropped by the kernel itself, and so is a NaN label
  (`arithmetic.class_ids`), as in Keras.
  """
  x = jnp.asarray(x)
  if integer_mode or not jnp.issubdtype(x.dtype, jnp.floating):
    ids = arithmetic.class_ids(x)
    return ids, ids, None
  values = x.astype(_F32)
  in_range = (values >= 0) & (values < num_classes)
  return values.astype(_I32), values, in_range


def _weights(metric, sample_weight, y_true_shape, integer_mode):
  """Flat float32 weights of one per element, or ``None``."""
  if sample_weight is None:
    return None
  weights = jnp.asarray(sample_weight)
  shape = tuple(weights.shape)
  size = math.prod(y_true_shape)
  if weights.size == size and weights.size != 1:
    # Keras flattens both and pairs them element by element.
    weights = weights.reshape(-1)
  else:
    try:
      fits = np.broadcast_shapes(shape, y_true_shape) == y_true_shape
    except ValueError:
      fits = False
    if not fits:
      raise metric.error(
          f"sample_weight of shape {shape} does not broadcast to y_true's "
          f"shape {y_true_shape} (after any argmax) and does not have its "
          f"{size} elements")
    weights = jnp.broadcast_to(weights, y_true_shape).reshape(-1)
  if integer_mode and jnp.issubdtype(weights.dtype, jnp.floating):
    checks.warn_user(
        f"{type(metric).__name__}: sample_weight is {weights.dtype} but dtype "
        f"is {metric.dtype!r}, an integer accumulator as in Keras: weights are "
        f"truncated toward zero. Pass integer weights, or dtype='float32' to "
        f"keep fractional weights.")
    weights = jnp.trunc(weights)
  return weights.astype(_F32)


def _batch_table(metric, y_true, y_pred, sample_weight, *, num_classes,
                 ignore_class, integer_mode):
  """One batch's ``(C, C)`` table from class ids (already argmax-ed).

  Checks sizes at trace time, flattens everything, and builds the bounds and
  ``ignore_class`` mask that the shared kernel applies.
  """
  y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
  if y_true.size != y_pred.size:
    raise metric.error(
        f"expected y_true and y_pred with the same number of class ids, got "
        f"y_true of shape {tuple(y_true.shape)} and y_pred of shape "
        f"{tuple(y_pred.shape)} (after any argmax or threshold)")
  weights = _weights(metric, sample_weight, tuple(y_true.shape), integer_mode)
  true_ids, true_values, mask = _class_ids(y_true.reshape(-1), num_classes,
                                           integer_mode)
  pred_ids, _, pred_mask = _class_ids(y_pred.reshape(-1), num_classes,
                                      integer_mode)
  if pred_mask is not None:
    mask = pred_mask if mask is None else mask & pred_mask
  if ignore_class is not None:
    keep = true_values != ignore_class
    mask = keep if mask is None else mask & keep
  return kernels.confusion_matrix(true_ids, pred_ids, num_classes,
                                       weights=weights, mask=mask)


def _table_step(metric, state, rebuild, class_ids_made_by, y_true, y_pred,
                sample_weight, *, num_classes, ignore_class, integer_mode):
  """`_batch_table` added to ``state.confusion`` as a step: metrics of equal
  table configuration over the same inputs share one table (`jm.SharedStep`).

  ``class_ids_made_by`` is hashable: how ``y_true`` and ``y_pred`` became
  the class ids passed here.
  """
  table = _batch_table(metric, y_true, y_pred, sample_weight,
                       num_classes=num_classes, ignore_class=ignore_class,
                       integer_mode=integer_mode)
  key = ("confusion table", num_classes, ignore_class, integer_mode,
         class_ids_made_by)
  return base.SharedStep(key, _add_one_table, (state.confusion, rebuild, table))


def _add_one_table(steps) -> list:
  """Every step's total plus the first step's table (the others' tables are
  the same computation and are never used)."""
  table = steps[0].payload[2]
  return [rebuild(kernels.add_counts(total, table))
          for total, rebuild, _ in (step.payload for step in steps)]


def _wide_diag(table: wide.Wide) -> wide.Wide:
  return wide.Wide(jnp.diagonal(table.hi), jnp.diagonal(table.lo))


# -- ConfusionMatrix ---------------------------------------------------------------


@base.metric_dataclass
class ConfusionMatrix(base.Metric):
  """The (weighted) confusion matrix of integer class ids.

  Rows are true classes and columns predicted classes, as in scikit-learn's
  ``confusion_matrix(y_true, y_pred, labels=range(num_classes),
  sample_weight=..., normalize=...)``. Inputs of any shape are flattened;
  elements whose true or predicted id is outside ``[0, num_classes)``, or whose
  true id is ``ignore_class``, are not counted. Float labels outside that
  range are dropped and others truncated toward zero. Counts are kept exactly
  (`Wide`), so cells stay exact past 2**31; the float32 result rounds them
  once.

  Args:
    num_classes: C, the size of the table.
    normalize: ``None`` (counts), ``"true"`` (each row divided by its sum),
      ``"pred"`` (each column by its sum) or ``"all"`` (by the total); an
      empty row, column or table gives zeros.
    ignore_class: ``None`` or a true class id whose elements are not counted
      (e.g. 255 for "void" pixels).
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``); an integer dtype is
      only allowed without ``normalize``.

  Returns (from `compute`):
    A float32 ``(C, C)`` array (of ``dtype`` if given); zeros on an empty
    state.

  Examples:
    >>> from jmetrics import ConfusionMatrix
    >>> m = ConfusionMatrix(num_classes=3)
    >>> state = m.update(m.init(), [0, 1, 2, 2, 7], [0, 2, 2, 1, 0])
    >>> m.compute(state).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
    >>> m = ConfusionMatrix(num_classes=2, normalize="true")
    >>> state = m.update(m.init(), [0, 0, 0, 1], [0, 0, 1, 1],
    ...                  sample_weight=[1.0, 1.0, 2.0, 0.5])
    >>> m.compute(state).tolist()
    [[0.5, 0.5], [0.0, 1.0]]
  """

  num_classes: int
  normalize: Any = None
  ignore_class: Any = None
  name: str = "confusion_matrix"
  dtype: Any = None

  config_checks = {
      "num_classes": _NUM_CLASSES,
      "normalize": base.choice(
          _NORMALIZE, message=f"normalize must be one of {_NORMALIZE}, got "
          "{value!r}"),
      "ignore_class": _IGNORE_CLASS,
      "dtype": _DTYPE,
  }

  def label_domain(self, y_true, y_pred):
    """Class ids in ``[0, C)``, or ``ignore_class``."""
    return base.LabelDomain(self.num_classes, class_ids=True,
                            ignore=self.ignore_class)

  def validate(self):
    if self.dtype is not None and _is_integer_mode(self.dtype) and self.normalize:
      raise self.error(f"dtype={self.dtype!r} is an integer dtype, which cannot "
                       f"hold a matrix normalized by {self.normalize!r}")

  def init(self) -> ConfusionMatrixState:
    return ConfusionMatrixState(
        wide.wide_zeros((self.num_classes, self.num_classes)))

  def update(self, state: ConfusionMatrixState, y_true, y_pred,
             sample_weight=None) -> ConfusionMatrixState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: integer class ids, any shape.
      y_pred: integer class ids, as many as ``y_true``.
      sample_weight: ``None``, a scalar, weights broadcastable to ``y_true``,
        or one weight per element of ``y_true``.

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, if ``y_true`` and ``y_pred`` differ in size
        or ``sample_weight`` does not fit ``y_true``.
    """
    return self.shared_update(state, y_true, y_pred, sample_weight).alone()

  def shared_update(self, state: ConfusionMatrixState, y_true, y_pred,
                    sample_weight=None) -> base.SharedStep:
    """`update` as a step that shares its table (see `jm.SharedStep`)."""
    return _table_step(self, state, ConfusionMatrixState, "class ids",
                       y_true, y_pred, sample_weight,
                       num_classes=self.num_classes,
                       ignore_class=self.ignore_class, integer_mode=False)

  def compute(self, state: ConfusionMatrixState) -> jax.Array:
    table = state.confusion
    counts = wide.wide_value(table)
    if self.normalize is None:
      return self.result_dtype(counts)
    # Sums of Wide cells are exact for integer counts, rounded once here.
    if self.normalize == "true":
      total = wide.wide_value(wide.wide_sum(table, axis=1))[:, None]
    elif self.normalize == "pred":
      total = wide.wide_value(wide.wide_sum(table, axis=0))[None, :]
    else:
      total = wide.wide_value(wide.wide_sum(wide.wide_sum(table, axis=1), 0))
    return self.result_dtype(arithmetic.divide_no_nan(counts, total))


# -- the IoU family -----------------------------------------------------------------


class ClassTableMetric(base.Metric):
  """Base of the metrics computed from one ``(C, C)`` confusion table.

  Inputs become class ids (`_class_id_inputs`: ids as given, the argmax along
  ``axis`` of dense inputs), are counted by `_table_step` and added to the
  state's exact `Wide` table, so metrics of equal table configuration over
  the same inputs share one table in a `Collection`. A subclass declares
  ``num_classes``, ``ignore_class``, ``sparse_y_true``, ``sparse_y_pred`` and
  ``axis`` (fields, or properties where it fixes them), may set the state
  class ``_state``, and implements ``compute``.
  """

  # Fields that a subclass fixes (a property) are not checked.
  config_checks = {
      "num_classes": _NUM_CLASSES,
      "ignore_class": _IGNORE_CLASS,
      "sparse_y_true": _FLAG,
      "sparse_y_pred": _FLAG,
      "axis": base.integer(),
  }

  _state = IoUState

  def label_domain(self, y_true, y_pred):
    """Class ids in ``[0, C)`` or ``ignore_class``; one-hot labels in [0, 1]."""
    if not self.sparse_y_true:
      return base.LabelDomain(1.0)
    return base.LabelDomain(self.num_classes, class_ids=True,
                            ignore=self.ignore_class)

  @property
  def _integer_mode(self) -> bool:
    """Whether labels and weights are truncated to integers (Keras' IoU
    accumulator); False keeps fractional weights."""
    return False

  def mask_weight(self, mask, inputs, sample_weight):
    """Row weights of the rank of the class-id map: one less than a dense
    ``y_true``'s, whose class axis the argmax removes."""
    rank = np.ndim(inputs[0]) - (0 if self.sparse_y_true else 1)
    return base.row_weight(mask, sample_weight, rank)

  def _class_id_inputs(self, y_true, y_pred):
    """Labels and predictions as class ids (argmax along ``axis`` if dense)."""
    return self._true_class_ids(y_true), self._predicted_class_ids(y_pred)

  def _true_class_ids(self, y_true):
    if self.sparse_y_true:
      return y_true
    return _argmax(self, "y_true", y_true, self.axis)

  def _predicted_class_ids(self, y_pred):
    if self.sparse_y_pred:
      return y_pred
    return _argmax(self, "y_pred", y_pred, self.axis)

  def _class_ids_made_by(self) -> Any:
    """How `_class_id_inputs` makes the ids (hashable): part of the key under
    which tables are shared."""
    return (type(self)._class_id_inputs, self.sparse_y_true,
            self.sparse_y_pred, self.axis, getattr(self, "threshold", None))

  def init(self):
    return self._state(wide.wide_zeros((self.num_classes, self.num_classes)))

  def update(self, state, y_true, y_pred, sample_weight=None):
    """Adds a batch to the confusion table.

    Args:
      state: the running state.
      y_true: class ids of any shape, or one-hot/scores along ``axis`` when
        ``sparse_y_true=False``.
      y_pred: class ids, or scores along ``axis`` when ``sparse_y_pred=False``
        (a thresholded metric: scores compared with ``threshold``); as many
        ids as ``y_true``.
      sample_weight: ``None``, a scalar, weights broadcastable to ``y_true``'s
        class ids, or one weight per class id. With Keras' integer IoU
        accumulator (``dtype=None``) weights are truncated toward zero.

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, if ``axis`` does not fit a dense input, the
        numbers of class ids differ, or ``sample_weight`` does not fit.
    """
    return self.shared_update(state, y_true, y_pred, sample_weight).alone()

  def shared_update(self, state, y_true, y_pred,
                    sample_weight=None) -> base.SharedStep:
    """`update` as a step that shares its table with metrics of the same
    classes over the same inputs (see `jm.SharedStep`)."""
    made_by = self._class_ids_made_by()
    y_true, y_pred = self._class_id_inputs(y_true, y_pred)
    return _table_step(self, state, self._state, made_by,
                       y_true, y_pred, sample_weight,
                       num_classes=self.num_classes,
                       ignore_class=self.ignore_class,
                       integer_mode=self._integer_mode)


class _IoUBase(ClassTableMetric):
  """Base of the IoU metrics: one ``(C, C)`` table, Keras' IoU ``result``.

  Subclasses are dataclasses declaring Keras' arguments in Keras' order; the
  ones Keras fixes (``num_classes=2`` of `BinaryIoU`, ``sparse_y_true=False``
  of the one-hot metrics, the ``target_class_ids`` of the mean metrics) are
  read-only properties, so every subclass answers ``num_classes``,
  ``target_class_ids``, ``ignore_class``, ``sparse_y_true``,
  ``sparse_y_pred`` and ``axis``. A subclass may override `_class_id_inputs`
  (how inputs become class ids).
  """

  config_checks = {
      "target_class_ids": _TARGET_CLASS_IDS,
      "dtype": _DTYPE,
  }

  def validate(self):
    num_classes = self.num_classes
    if not all(checks.is_int(i) and 0 <= i < num_classes
               for i in self.target_class_ids):
      raise self.error(
          f"target_class_ids must hold integers in [0, {num_classes}) "
          f"(num_classes={num_classes}), got {self.target_class_ids!r}")

  @property
  def _integer_mode(self) -> bool:
    return _is_integer_mode(self.dtype)

  def compute(self, state: IoUState) -> jax.Array:
    """The mean IoU of the target classes present in truth or predictions."""
    table = state.confusion
    tp = _wide_diag(table)
    # predicted + true - tp = tp + fp + fn, summed exactly in Wide arithmetic
    # and in one sum: row i of table + table.T, with table's own diagonal,
    # adds row i and column i and counts tp once.
    diagonal = np.eye(table.hi.shape[0], dtype=bool)
    both = wide.wide_merge(table, wide.Wide(table.hi.T, table.lo.T))
    denominator = wide.wide_table_sum(
        wide.Wide(jnp.where(diagonal, table.hi, both.hi),
                  jnp.where(diagonal, table.lo, both.lo)), axis=1)
    ids = np.asarray(self.target_class_ids, np.int32)
    tp = wide.wide_value(tp)[ids]
    denominator = wide.wide_value(denominator)[ids]
    present = denominator > _PRESENT
    iou = jnp.where(present, tp / (denominator + _EPSILON), 0.0)
    return jnp.sum(iou) / (jnp.sum(present.astype(_F32)) + _EPSILON)


@base.metric_dataclass
class IoU(_IoUBase):
  """Intersection-over-union of target classes, as ``keras.metrics.IoU``.

  ``iou = tp / (tp + fp + fn)`` per class from the accumulated confusion
  table; the result is the mean over ``target_class_ids`` of the classes
  present in truth or predictions (one id gives that class's IoU).

  Args:
    num_classes: C, the number of classes.
    target_class_ids: list or tuple of class ids in ``[0, C)`` to average
      (repeats count repeatedly, as in Keras).
    name: key of the metric (default ``"io_u"``, Keras' name).
    dtype: Keras' accumulator dtype: ``None`` (Keras' ``"int"``) or an integer
      dtype truncates labels and weights toward zero; a float dtype keeps
      fractional weights. The result is float32 either way.
    ignore_class: ``None`` or a true class id to leave out (e.g. 255 or -1).
    sparse_y_true: whether ``y_true`` holds class ids (else argmax along
      ``axis``).
    sparse_y_pred: whether ``y_pred`` holds class ids (else argmax along
      ``axis``).
    axis: the class axis of dense inputs.

  Examples:
    >>> from jmetrics import IoU
    >>> m = IoU(num_classes=2, target_class_ids=[0])
    >>> state = m.update(m.init(), [0, 0, 1, 1], [0, 1, 0, 1])
    >>> round(float(m.compute(state)), 6)
    0.333333
    >>> m = IoU(num_classes=2, target_class_ids=[1, 0], dtype="float32")
    >>> state = m.update(m.init(), [0, 0, 1, 1], [0, 1, 0, 1],
    ...                  sample_weight=[0.2, 0.3, 0.4, 0.1])
    >>> round(float(m.compute(state)), 4)  # (0.1/0.8 + 0.2/0.9) / 2
    0.1736
  """

  num_classes: int
  target_class_ids: Any
  name: str = None
  dtype: Any = None
  ignore_class: Any = None
  sparse_y_true: bool = True
  sparse_y_pred: bool = True
  axis: int = -1


@base.metric_dataclass
class BinaryIoU(_IoUBase):
  """IoU of classes 0 and/or 1 after thresholding, as ``keras.metrics.BinaryIoU``.

  Predictions are class 1 where ``y_pred >= threshold`` and class 0 elsewhere
  (NaN included); labels are class ids (other values than 0 and 1 are
  dropped, fractions truncated toward zero). Then as `IoU` with
  ``num_classes=2``.

  Args:
    target_class_ids: ``(0,)``, ``(1,)`` or ``(0, 1)`` (the default: the
      mean of both).
    threshold: a number in [0, 1] (default 0.5).
    name: key of the metric (default ``"binary_io_u"``).
    dtype: Keras' accumulator dtype, as in `IoU`.

  Examples:
    >>> from jmetrics import BinaryIoU
    >>> m = BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    >>> state = m.update(m.init(), [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
    >>> round(float(m.compute(state)), 6)
    0.333333
    >>> m = BinaryIoU(target_class_ids=[0, 1], threshold=0.3, dtype="float32")
    >>> state = m.update(m.init(), [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7],
    ...                  sample_weight=[0.2, 0.3, 0.4, 0.1])
    >>> round(float(m.compute(state)), 6)  # (0.2/0.9 + 0.1/0.8) / 2
    0.173611
  """

  target_class_ids: Any = (0, 1)
  threshold: float = 0.5
  name: str = None
  dtype: Any = None

  num_classes = property(lambda self: 2)
  ignore_class = property(lambda self: None)
  sparse_y_true = property(lambda self: True)
  sparse_y_pred = property(lambda self: True)
  axis = property(lambda self: -1)

  config_checks = {"threshold": base.unit()}  # NaN rejected too.

  def _class_id_inputs(self, y_true, y_pred):
    y_pred = jnp.asarray(y_pred, _F32) >= self.threshold
    return y_true, y_pred.astype(_I32)


@base.metric_dataclass
class MeanIoU(_IoUBase):
  """Mean intersection-over-union over all classes, as ``keras.metrics.MeanIoU``.

  `IoU` with ``target_class_ids = range(num_classes)``: classes absent from
  both truth and predictions are left out of the mean.

  Args:
    num_classes: C, the number of classes.
    name: key of the metric (default ``"mean_io_u"``).
    dtype: Keras' accumulator dtype, as in `IoU`.
    ignore_class: ``None`` or a true class id to leave out (e.g. 255 or -1).
    sparse_y_true: whether ``y_true`` holds class ids (else argmax).
    sparse_y_pred: whether ``y_pred`` holds class ids (else argmax).
    axis: the class axis of dense inputs.

  Examples:
    >>> from jmetrics import MeanIoU
    >>> m = MeanIoU(num_classes=2)
    >>> state = m.update(m.init(), [0, 0, 1, 1], [0, 1, 0, 1])
    >>> round(float(m.compute(state)), 6)
    0.333333
    >>> m = MeanIoU(num_classes=3, ignore_class=255)
    >>> state = m.update(m.init(), [0, 1, 2, 255], [0, 1, 1, 1])
    >>> round(float(m.compute(state)), 6)  # (1 + 1/2 + 0) / 3
    0.5
    >>> float(m.compute(m.init()))
    0.0
  """

  num_classes: int
  name: str = None
  dtype: Any = None
  ignore_class: Any = None
  sparse_y_true: bool = True
  sparse_y_pred: bool = True
  axis: int = -1

  target_class_ids = property(lambda self: tuple(range(self.num_classes)))


@base.metric_dataclass
class OneHotIoU(_IoUBase):
  """IoU of target classes for one-hot labels, as ``keras.metrics.OneHotIoU``.

  `IoU` with ``sparse_y_true=False``: labels (and, unless
  ``sparse_y_pred=True``, predictions) become class ids by argmax along
  ``axis``.

  Args:
    num_classes: C, the number of classes.
    target_class_ids: list or tuple of class ids in ``[0, C)`` to average.
    name: key of the metric (default ``"one_hot_io_u"``).
    dtype: Keras' accumulator dtype, as in `IoU`.
    ignore_class: ``None`` or a class id (after argmax) to leave out.
    sparse_y_pred: whether ``y_pred`` holds class ids (default False: argmax).
    axis: the class axis (default -1).

  Examples:
    >>> import numpy as np
    >>> from jmetrics import OneHotIoU
    >>> y_true = np.eye(3)[[2, 0, 1, 0]]
    >>> y_pred = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
    ...                    [0.1, 0.4, 0.5]])
    >>> m = OneHotIoU(num_classes=3, target_class_ids=[0, 2], dtype="float32")
    >>> state = m.update(m.init(), y_true, y_pred,
    ...                  sample_weight=[0.1, 0.2, 0.3, 0.4])
    >>> round(float(m.compute(state)), 4)  # (0 / 0.9 + 0.1 / 0.7) / 2
    0.0714
  """

  num_classes: int
  target_class_ids: Any
  name: str = None
  dtype: Any = None
  ignore_class: Any = None
  sparse_y_pred: bool = False
  axis: int = -1

  sparse_y_true = property(lambda self: False)


@base.metric_dataclass
class OneHotMeanIoU(_IoUBase):
  """Mean IoU for one-hot labels, as ``keras.metrics.OneHotMeanIoU``.

  `MeanIoU` with ``sparse_y_true=False``: labels (and, unless
  ``sparse_y_pred=True``, predictions) become class ids by argmax along
  ``axis``.

  Args:
    num_classes: C, the number of classes.
    name: key of the metric (default ``"one_hot_mean_io_u"``).
    dtype: Keras' accumulator dtype, as in `IoU`.
    ignore_class: ``None`` or a class id (after argmax) to leave out.
    sparse_y_pred: whether ``y_pred`` holds class ids (default False: argmax).
    axis: the class axis (default -1).

  Examples:
    >>> import numpy as np
    >>> from jmetrics import OneHotMeanIoU
    >>> y_true = np.eye(3)[[2, 0, 1, 0]]
    >>> y_pred = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
    ...                    [0.1, 0.4, 0.5]])
    >>> m = OneHotMeanIoU(num_classes=3)
    >>> state = m.update(m.init(), y_true, y_pred)
    >>> round(float(m.compute(state)), 4)  # (0 + 0 + 1/3) / 3
    0.1111
  """

  num_classes: int
  name: str = None
  dtype: Any = None
  ignore_class: Any = None
  sparse_y_pred: bool = False
  axis: int = -1

  target_class_ids = property(lambda self: tuple(range(self.num_classes)))
  sparse_y_true = property(lambda self: False)
