"""The Dice coefficient (F1 of segmentation masks), accumulated over all data.

Definition. For a class ``c`` with (possibly soft) truth ``t_c`` and
prediction ``p_c`` at every element ``i`` (pixel, voxel, entry) and element
weights ``w_i``,

    I_c = sum_i w_i t_ic p_ic     T_c = sum_i w_i t_ic     P_c = sum_i w_i p_ic

    Dice_c = 2 I_c / (T_c + P_c + epsilon)

The three sums run over *every element of every batch seen*: the state holds
``I``, ``T`` and ``P`` (never per-sample values) and the ratio is taken once,
in `Dice.compute`. This is not the mean of per-batch Dice values, which gives
a batch with one small object as much say as a batch full of it and depends
on how the data was split (see the tests).

* Binary / soft Dice (``num_classes=None``, the default): ``t = y_true`` and
  ``p = y_pred`` as given (0/1 masks, soft labels, probabilities or hard 0/1
  predictions of any shape), one "class". This is Example 3 of the seed
  article (the ``DiceCoefficient`` Keras metric) with sample weights.
* Multi-class (``num_classes=C``): ``t_c`` is the one-hot of integer labels
  (``sparse_y_true=True``) or the given dense labels (``sparse_y_true=False``,
  class axis ``axis``); ``p_c`` is the given probabilities
  (``sparse_y_pred=False``, soft Dice) or the one-hot of integer class ids
  (``sparse_y_pred=True``, hard Dice). With hard predictions and one-hot
  labels ``Dice_c = 2 TP / (2 TP + FP + FN)``, the F1 score of class ``c``.

``epsilon`` (default 1e-7, Keras' ``backend.epsilon()``, as in the seed and in
``keras.losses.dice``) is added to the denominator only. It is not a
smoothing term: on accumulated sums it changes a result by a relative
``epsilon / (T + P)``, and its only job is to make a class with no mass at all
(``T = P = 0``) come out as 0 instead of NaN. ``epsilon=0`` is allowed (0/0 is
then 0 too, via divide-no-nan). The additive smoothing of Dice *losses*,
``(2I + s) / (T + P + s)``, exists to stabilise per-image gradients; it has no
purpose on global sums and would turn empty classes into 1, so it is not
offered.

State and numerics: three `Wide` totals of shape ``(C,)`` (``()`` for
``num_classes=None``), fixed by the configuration. Unweighted updates with
integer or boolean inputs (hard predictions, integer labels) count in int32
per batch and add exactly with `wide.wide_add_counts`, so counts stay exact
far past 2**24 elements; float sums keep double-float precision. Every total
sums, so ``merge``/``sync`` of per-shard states equal one run over all data.

Cost: one read of the inputs. Hard predictions go through the shared
confusion-matrix kernel (one scatter of ``y_true * C + y_pred``); soft
predictions with integer labels gather ``p[label]`` for the intersection
instead of building a one-hot ``N x C`` array.
"""

from __future__ import annotations

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
EPSILON = 1e-7  # Keras' backend.epsilon(), the seed's guard.
_AVERAGES = (None, "micro", "macro", "weighted")


def _is_integer_input(x) -> bool:
  dtype = jnp.result_type(x)
  return jnp.issubdtype(dtype, jnp.integer) or dtype == jnp.bool_


class DiceState(NamedTuple):
  """Running totals of `Dice`; shape ``(num_classes,)``, or ``()`` if None."""

  intersection: wide.Wide  # float32[C] or [] pair: sum of w * t_c * p_c.
  true_sum: wide.Wide  # same shape: sum of w * t_c (support of class c).
  pred_sum: wide.Wide  # same shape: sum of w * p_c (predicted mass of c).


def _class_ids(x, num_classes):
  """Integer ids, and whether each is in ``[0, C)``, judged before the cast.

  A float label such as -0.5 would truncate to class 0; checked on the
  original values it is dropped instead (as in the IoU metrics).
  """
  return x.astype(jnp.int32), (x >= 0) & (x < num_classes)


@base.metric_dataclass
class Dice(base.Metric):
  """The Dice coefficient ``2 I / (T + P + epsilon)``, accumulated globally.

  See the module docstring for the definition. ``I``, ``T`` and ``P`` are
  summed over all elements of all batches, and the ratio is taken at the end.

  **Binary (``num_classes=None``).** ``y_true`` and ``y_pred`` have one shape
  (any rank >= 1, batch first; if one has an extra trailing axis of size 1,
  e.g. masks ``(N, H, W)`` and sigmoid outputs ``(N, H, W, 1)``, it is
  squeezed). Values are used as given: 0/1 or soft labels, probabilities or
  hard 0/1 predictions. The result is a scalar.

  **Multi-class (``num_classes=C``).** Per class ``c``:

  * ``sparse_y_true=True``: ``y_true`` holds integer class ids of any shape
    (the *element shape*); ``t_c = [y_true == c]``. Float ids are cast to
    int32. A trailing (``axis``) dimension of size 1 is squeezed.
  * ``sparse_y_true=False``: ``y_true`` is dense, one-hot (or soft) along
    ``axis``; ``t_c = y_true[..., c, ...]`` as given. The element shape is
    its shape without ``axis``.
  * ``sparse_y_pred=False`` (default): ``y_pred`` is dense probabilities
    along ``axis`` (e.g. softmax outputs; no activation is applied): soft
    Dice. Unlike Keras' ``IoU(sparse_y_pred=False)``, no argmax is taken;
    for hard Dice from scores, pass ``argmax(y_pred, axis)`` with
    ``sparse_y_pred=True``.
  * ``sparse_y_pred=True``: ``y_pred`` holds integer class ids of the element
    shape; ``p_c = [y_pred == c]`` (hard Dice, equal to per-class F1).

  An element whose integer label (true or predicted) is outside ``[0, C)`` is
  dropped from every sum, as in the shared confusion-matrix kernel and
  Keras' IoU metrics (so void labels such as 255 never count as a class).
  Values are never inspected otherwise.

  **ignore_class.** Elements whose true class is ``ignore_class`` (the
  label, the ``argmax`` along ``axis`` of dense labels, or, for
  ``num_classes=None``, ``y_true == ignore_class``) are dropped from every
  sum. If ``ignore_class`` is a class id in ``[0, C)`` (e.g. 0 to leave out
  the background), that class also takes no part in the ``"micro"``,
  ``"macro"`` and ``"weighted"`` averages: otherwise the probability mass
  predicted for it would count as a class with Dice 0. With
  ``average=None`` its entry is still returned (it is 0: it has no true
  elements left). This differs from Keras' ``MeanIoU``, which only drops
  the elements.

  **Averages** over the classes (``"micro"``/``"macro"``/``"weighted"`` are
  all the same scalar when ``num_classes=None``):

  * ``None``: the vector of ``Dice_c``, shape ``(C,)``.
  * ``"micro"``: ``2 sum_c I_c / (sum_c T_c + sum_c P_c + epsilon)``; with
    hard predictions and sparse labels this is the accuracy.
  * ``"macro"`` (default): the mean of ``Dice_c`` over the classes that
    occur, i.e. with ``T_c + P_c > 0`` (seen in the truth or predicted, with
    nonzero weight), as Keras' ``MeanIoU`` counts ``num_valid_entries`` and
    torchmetrics drops classes absent from both. A class absent from both
    has no defined Dice (0/0); counting it as 1 or 0 would make the score
    depend on how many unused classes the configuration lists. A class
    predicted but never true (or the reverse) has Dice 0 and does count.
  * ``"weighted"``: the mean of ``Dice_c`` weighted by the true support
    ``T_c`` (scikit-learn's ``average="weighted"``).

  An empty state (or one with only zero weights) computes to 0 for every
  average (a vector of zeros for ``average=None``).

  **sample_weight** (``update``): ``None``, a scalar, or an array whose
  shape is a prefix of the element shape (batch first) and broadcasts over
  the remaining trailing axes: one weight per sample ``(N,)``, per element
  ``(N, H, W)``, or in between. A trailing axis of size 1 beyond the
  element shape is squeezed.

  Args:
    num_classes: ``None`` for binary / soft Dice, or the number of classes
      ``C`` (an integer >= 1).
    average: ``None``, ``"micro"``, ``"macro"`` (default) or ``"weighted"``.
      ``None`` needs ``num_classes``.
    ignore_class: ``None`` or an integer label whose elements are dropped
      (see above).
    sparse_y_true: whether ``y_true`` holds integer class ids (``True``,
      default) or dense per-class values along ``axis``. Only with
      ``num_classes``.
    sparse_y_pred: whether ``y_pred`` holds integer class ids (``True``,
      hard Dice) or dense probabilities along ``axis`` (``False``, default,
      soft Dice). Only with ``num_classes``.
    axis: the class axis of dense inputs (default -1; e.g. 1 for
      channels-first images). Only with ``num_classes``.
    epsilon: a finite number >= 0 added to every denominator (default 1e-7).
    name: key of the metric in collections and logs.
    dtype: floating dtype of the result (float32 if ``None``); totals are
      float32 `Wide` pairs whatever the dtype.

  Raises:
    ValueError: at construction, for an invalid argument (the message starts
      with ``Dice:`` and names the argument); at trace time in ``update``,
      for inputs whose shapes do not fit the configuration (naming the
      shapes).

  Examples:
    Soft Dice of a probability map against a binary mask:

    >>> import numpy as np
    >>> from jmetrics import Dice
    >>> m = Dice()
    >>> y_true = np.array([[1, 1, 0, 0]])
    >>> y_pred = np.array([[0.5, 1.0, 0.5, 0.0]], np.float32)
    >>> state = m.update(m.init(), y_true, y_pred)
    >>> round(float(m.compute(state)), 6)  # 2 * 1.5 / (2 + 2)
    0.75

    Batches accumulate: the result is Dice of all elements, not a mean of
    per-batch values (here 0.75 and 0, whose mean would be 0.375):

    >>> state = m.update(state, [[0, 0, 0, 1]], [[0.0, 0.0, 0.0, 0.0]])
    >>> round(float(m.compute(state)), 6)  # 2 * 1.5 / (3 + 2)
    0.6

    Hard multi-class labels (the F1 score of each class); class 3 never
    occurs, so the macro average is over classes 0, 1 and 2:

    >>> m = Dice(num_classes=4, average=None, sparse_y_pred=True, epsilon=0)
    >>> y_true = np.array([[0, 0, 1], [1, 2, 2]])
    >>> y_pred = np.array([[0, 1, 1], [1, 2, 0]])
    >>> [round(x, 4) for x in m(y_true, y_pred).tolist()]
    [0.5, 0.8, 0.6667, 0.0]
    >>> m = Dice(num_classes=4, sparse_y_pred=True, epsilon=0)
    >>> round(float(m(y_true, y_pred)), 4)  # (2/4 + 4/5 + 2/3) / 3
    0.6556
    >>> float(m.compute(m.init()))
    0.0
  """

  num_classes: Any = None
  average: Any = "macro"
  ignore_class: Any = None
  sparse_y_true: bool = True
  sparse_y_pred: bool = False
  axis: int = -1
  epsilon: float = EPSILON
  name: str = "dice"
  dtype: Any = None

  # -- configuration -----------------------------------------------------------

  config_checks = {
      "num_classes": base.integer(
          minimum=1, optional=True,
          message="num_classes must be an integer >= 1 or None, got {value!r}"),
      "average": base.choice(
          _AVERAGES, message="average must be one of None, 'micro', 'macro', "
          "'weighted', got {value!r}"),
      "ignore_class": base.integer(
          optional=True, message="ignore_class must be an integer or None, got "
          "{value!r}"),
      "sparse_y_true": base.boolean(),
      "sparse_y_pred": base.boolean(),
      "axis": base.integer(),
      "epsilon": base.real(
          low=0.0, finite=True, normalise=float,
          message="epsilon must be a finite number >= 0, got {value!r}"),
      "dtype": base.floating_dtype(),
  }

  def label_domain(self, y_true, y_pred):
    """Binary: labels in ``[0, 1]``; multi-class: class ids in ``[0, C)``
    or ``ignore_class``."""
    if self.num_classes is None:
      return base.LabelDomain(1.0)
    return base.LabelDomain(self.num_classes, class_ids=True,
                            ignore=self.ignore_class)

  def validate(self):
    if self.num_classes is None:
      if self.average is None:
        raise self.error("average=None gives one Dice per class and needs "
                         "num_classes (e.g. Dice(num_classes=3, average=None))")
      for arg, default in (("sparse_y_true", True), ("sparse_y_pred", False),
                           ("axis", -1)):
        if getattr(self, arg) != default:
          raise self.error(
              f"{arg}={getattr(self, arg)!r} needs num_classes: with "
              "num_classes=None, y_true and y_pred are compared elementwise")

  def _shape(self) -> tuple:
    return () if self.num_classes is None else (self.num_classes,)

  # -- state -------------------------------------------------------------------

  def init(self) -> DiceState:
    return DiceState(*(wide.wide_zeros(self._shape()) for _ in range(3)))

  def update(self, state: DiceState, y_true, y_pred,
             sample_weight=None) -> DiceState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: labels (see the class docstring for each configuration).
      y_pred: predictions.
      sample_weight: ``None``, a scalar, or weights whose shape is a prefix
        of the element shape (per sample, per element, ...).

    Returns:
      The new state.

    Raises:
      ValueError: at trace time, for shapes that do not fit the
        configuration (naming them).
    """
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    if self.num_classes is None:
      increments = self._binary(y_true, y_pred, sample_weight)
    else:
      increments = self._multiclass(y_true, y_pred, sample_weight)
    return DiceState(*(wide.wide_add_counts(total, inc)
                       for total, inc in zip(state, increments)))

  def compute(self, state: DiceState) -> jax.Array:
    """Dice per class (``average=None``) or averaged; 0 on an empty state.

    A class whose totals are not finite (a NaN or infinite score or weight
    reached them) is NaN, and so is any average over it: ``x / inf`` would
    otherwise pass an infinite prediction off as a Dice of 0.
    """
    inter, true, pred = (wide.wide_value(total) for total in state)
    finite = jnp.isfinite(inter) & jnp.isfinite(true) & jnp.isfinite(pred)
    dice = jnp.where(
        finite, arithmetic.divide_no_nan(2.0 * inter, true + pred + self.epsilon),
        jnp.nan)
    if self.num_classes is None or self.average is None:
      return self.result_dtype(dice)
    counted = jnp.ones(self._shape(), bool)
    if self.ignore_class is not None and 0 <= self.ignore_class < self.num_classes:
      counted = counted.at[self.ignore_class].set(False)
    if self.average == "micro":
      keep = lambda x: jnp.sum(jnp.where(counted, x, 0.0))
      value = arithmetic.divide_no_nan(
          2.0 * keep(inter), keep(true) + keep(pred) + self.epsilon)
    elif self.average == "macro":
      present = counted & ((true + pred > 0) | ~finite)
      value = arithmetic.divide_no_nan(jnp.sum(jnp.where(present, dice, 0.0)),
                                      jnp.sum(present.astype(_F32)))
    else:  # "weighted" by true support.
      support = jnp.where(counted, true, 0.0)
      value = arithmetic.divide_no_nan(jnp.sum(support * dice), jnp.sum(support))
    value = jnp.where(jnp.any(counted & ~finite), jnp.nan, value)
    return self.result_dtype(value)

  # -- inputs ------------------------------------------------------------------

  def _shapes(self, y_true, y_pred) -> str:
    return (f"y_true {checks.shape_of(y_true)} and y_pred "
            f"{checks.shape_of(y_pred)}")

  def _weights(self, sample_weight, element_shape):
    """Weights as float32 of ``element_shape`` (left-aligned), or None."""
    if sample_weight is None:
      return None
    weight = checks.as_float(sample_weight)
    original = checks.shape_of(weight)
    rank = len(element_shape)
    if weight.ndim == rank + 1 and weight.shape[-1] == 1:
      weight = jnp.squeeze(weight, -1)
    fits = weight.ndim <= rank
    if fits:
      weight = weight.reshape(weight.shape + (1,) * (rank - weight.ndim))
      try:
        fits = np.broadcast_shapes(weight.shape, element_shape) == element_shape
      except ValueError:
        fits = False
    if not fits:
      raise self.error(
          f"sample_weight of shape {original} does not fit the elements of "
          f"shape {element_shape}: expected a scalar or a shape that is a "
          "prefix of it (one weight per sample, per element, ...)")
    return jnp.broadcast_to(weight, element_shape)

  def _binary(self, y_true, y_pred, sample_weight):
    """Increments of ``I``, ``T``, ``P`` for ``num_classes=None``."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
      y_true = jnp.squeeze(y_true, -1)
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
      y_pred = jnp.squeeze(y_pred, -1)
    checks.check_same_shape(self, y_true, y_pred)
    checks.check_min_rank(self, "y_pred", y_pred, 1)
    weight = self._weights(sample_weight, y_true.shape)
    keep = None
    if self.ignore_class is not None:
      keep = y_true != self.ignore_class
    if weight is None and _is_integer_input(y_true) and _is_integer_input(y_pred):
      # Hard 0/1 masks: int32 sums, added exactly.
      t, p = y_true.astype(jnp.int32), y_pred.astype(jnp.int32)
      if keep is not None:
        t, p = jnp.where(keep, t, 0), jnp.where(keep, p, 0)
      return jnp.sum(t * p), jnp.sum(t), jnp.sum(p)
    exact_true = weight is None and _is_integer_input(y_true)
    t = y_true.astype(jnp.int32 if exact_true else _F32)
    p = y_pred.astype(_F32)
    if keep is not None:
      t, p = jnp.where(keep, t, 0), jnp.where(keep, p, 0.0)
    if exact_true:
      return jnp.sum(t * p), jnp.sum(t), jnp.sum(p)

    # One fused read on CPU, where XLA reads the inputs once per sum.
    sums = kernels.product_sums(t, p, weight)
    return sums[0], sums[1], sums[2]

  def _class_axis(self, dense, y_true, y_pred) -> int:
    """``axis`` normalised for the dense input ``dense``."""
    if not -dense.ndim <= self.axis < dense.ndim:
      raise self.error(f"axis={self.axis} is out of range for the inputs, "
                       f"got {self._shapes(y_true, y_pred)}")
    axis = self.axis % dense.ndim
    if dense.shape[axis] != self.num_classes:
      raise self.error(
          f"expected {self.num_classes} (num_classes) entries on axis "
          f"{self.axis} of the dense inputs, got {self._shapes(y_true, y_pred)}")
    return axis

  def _sparse_like(self, labels, element_shape, axis, y_true, y_pred, what):
    """Checks sparse ``labels`` against ``element_shape``; squeezes ``axis``."""
    if (labels.ndim == len(element_shape) + 1 and labels.shape[axis] == 1
        and labels.shape[:axis] + labels.shape[axis + 1:] == element_shape):
      labels = jnp.squeeze(labels, axis)
    if labels.shape != element_shape:
      raise self.error(
          f"expected sparse {what} of shape {element_shape} (the dense input "
          f"without its class axis {self.axis}), got "
          f"{self._shapes(y_true, y_pred)}")
    return labels

  def _multiclass(self, y_true, y_pred, sample_weight):
    """Increments of ``I_c``, ``T_c``, ``P_c`` for ``num_classes=C``."""
    c = self.num_classes
    if self.sparse_y_true and self.sparse_y_pred:
      return self._hard_sparse(y_true, y_pred, sample_weight)
    dense = y_pred if not self.sparse_y_pred else y_true
    checks.check_min_rank(self, "the dense input", dense, 2)
    axis = self._class_axis(dense, y_true, y_pred)
    element_shape = dense.shape[:axis] + dense.shape[axis + 1:]
    others = tuple(i for i in range(dense.ndim) if i != axis)
    weight = self._weights(sample_weight, element_shape)
    exact = weight is None
    expand = lambda x: jnp.expand_dims(x, axis)

    if self.sparse_y_true:  # Soft predictions, integer labels.
      raw = self._sparse_like(y_true, element_shape, axis, y_true, y_pred,
                              "y_true")
      labels, valid = _class_ids(raw, c)
      if self.ignore_class is not None:
        valid = valid & (raw != self.ignore_class)
      index = jnp.where(valid, labels, c)
      p = y_pred.astype(_F32)
      # sum_i t_ic p_ic = sum over elements labelled c of p[label]: a gather
      # of one value per element instead of a one-hot N x C product.
      p_at_label = jnp.squeeze(jnp.take_along_axis(
          p, expand(jnp.clip(labels, 0, c - 1)), axis, mode="clip"), axis)
      if exact:
        true_sum = kernels.bincount(index, None, c)
        inter = kernels.bincount(index, p_at_label, c)
        pred_sum = jnp.sum(jnp.where(expand(valid), p, 0.0), axis=others)
      else:
        weight = jnp.where(valid, weight, 0.0)
        true_sum = kernels.bincount(index, weight, c)
        inter = kernels.bincount(index, weight * p_at_label, c)
        pred_sum = jnp.sum(expand(weight) * p, axis=others)
      return inter, true_sum, pred_sum

    # Dense labels: t_c as given.
    exact_true = exact and _is_integer_input(y_true)
    t = y_true.astype(jnp.int32 if exact_true else _F32)
    keep = None
    if self.ignore_class is not None:
      keep = jnp.argmax(y_true, axis=axis) != self.ignore_class

    if not self.sparse_y_pred:  # Dense labels, soft predictions.
      checks.check_same_shape(self, y_true, y_pred)
      p = y_pred.astype(_F32)
      if weight is None:
        if keep is not None:
          t = jnp.where(expand(keep), t, 0)
          p = jnp.where(expand(keep), p, 0.0)
        return (jnp.sum(t * p, axis=others), jnp.sum(t, axis=others),
                jnp.sum(p, axis=others))
      if keep is not None:
        weight = jnp.where(keep, weight, 0.0)
      w = expand(weight)
      return (jnp.sum(w * t * p, axis=others), jnp.sum(w * t, axis=others),
              jnp.sum(w * p, axis=others))

    # Dense labels, hard predictions: p_c = [y_pred == c].
    ids, valid = _class_ids(self._sparse_like(
        y_pred, element_shape, axis, y_true, y_pred, "y_pred"), c)
    if keep is not None:
      valid = valid & keep
    index = jnp.where(valid, ids, c)
    t_at_pred = jnp.squeeze(jnp.take_along_axis(
        t, expand(jnp.clip(ids, 0, c - 1)), axis, mode="clip"), axis)
    if weight is None:
      pred_sum = kernels.bincount(index, None, c)
      inter = kernels.bincount(index, t_at_pred, c)
      true_sum = jnp.sum(jnp.where(expand(valid), t, 0), axis=others)
    else:
      weight = jnp.where(valid, weight, 0.0)
      pred_sum = kernels.bincount(index, weight, c)
      inter = kernels.bincount(index, weight * t_at_pred, c)
      true_sum = jnp.sum(expand(weight) * t, axis=others)
    return inter, true_sum, pred_sum

  def _hard_sparse(self, y_true, y_pred, sample_weight):
    """Integer labels and integer predictions: the confusion-matrix kernel."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
      y_true = jnp.squeeze(y_true, -1)
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
      y_pred = jnp.squeeze(y_pred, -1)
    checks.check_same_shape(self, y_true, y_pred)
    checks.check_min_rank(self, "y_pred", y_pred, 1)
    weight = self._weights(sample_weight, y_true.shape)
    true_ids, mask = _class_ids(y_true, self.num_classes)
    pred_ids, pred_in_range = _class_ids(y_pred, self.num_classes)
    mask = mask & pred_in_range
    if self.ignore_class is not None:
      mask = mask & (y_true != self.ignore_class)
    table = kernels.confusion_matrix(true_ids, pred_ids, self.num_classes,
                                          weights=weight, mask=mask)
    # Rows are true classes, columns predicted: I = diagonal, T = row sums,
    # P = column sums (int32 when unweighted, so they add exactly).
    return (kernels.diagonal(table), kernels.table_sum(table, 1),
            kernels.table_sum(table, 0))
