"""Matplotlib plots of metric states: ROC / PR curves, confusion matrices, histories.

Imported on demand (``import jmetrics.plot``), and importable without
matplotlib: the first call imports it and, if it is missing, raises an
``ImportError`` naming the extra that installs it
(``pip install 'jmetrics[plot]'``).

* `curves`: the ROC or PR curves of the state(s) of a metric with
  ``curve_points`` (`AUC`, `PrecisionAtRecall`, `RecallAtPrecision`,
  `SensitivityAtSpecificity`, `SpecificityAtSensitivity`).
* `confusion_matrix`: the table of a `ConfusionMatrix` or of an IoU metric
  (`IoU`, `BinaryIoU`, `MeanIoU`, `OneHotIoU`, `OneHotMeanIoU`) as a heat map.
* `history`: recorded results over the steps of training (a
  `jmetrics.logging.History`).

Figures are ``matplotlib.figure.Figure`` objects, not pyplot figures, so they
can be drawn in any thread (pyplot keeps global state and is not thread-safe);
each function draws on ``ax`` when given. Every function returns
``(figure, axes)``.

Examples:
  >>> from jmetrics import AUC
  >>> from jmetrics import plot
  >>> m = AUC(num_thresholds=5)
  >>> state = m.update(m.init(), [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
  >>> fig, ax = plot.curves(m, state)
  >>> [line.get_label() for line in ax.lines]
  ['auc', '_chance']
  >>> ax.lines[0].get_xydata().tolist()  # (fpr, tpr) at each threshold
  [[1.0, 1.0], [0.5, 1.0], [0.5, 0.5], [0.0, 0.5], [0.0, 0.0]]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import jax

from jmetrics._src import base
from jmetrics._src.integrations import extras
from jmetrics._src.metrics import thresholds
from jmetrics._src.numerics import wide

# curve -> (x field of `Curve`, y field, x label, y label).
_CURVE_AXES = {
    "ROC": ("fpr", "tpr", "false positive rate", "true positive rate"),
    "PR": ("recall", "precision", "recall", "precision"),
}
_NORMALIZE = (None, False, "true", "pred", "all")
_NORMALIZED_TITLES = {
    "true": " (normalized over true classes)",
    "pred": " (normalized over predicted classes)",
    "all": " (normalized over all)",
}
# The limits of rate axes: [0, 1] with room for lines on the border.
_RATE_LIMITS = (-0.02, 1.02)
_CHANCE_LABEL = "_chance"  # A leading underscore keeps it out of the legend.
_MAX_ANNOTATED_CLASSES = 20


def _figure_and_axes(ax, user: str):
  """``ax``'s figure and ``ax``, or a new pyplot-free figure with one axes."""
  if ax is not None:
    return ax.figure, ax
  figure_module = extras.require("matplotlib.figure", extra="plot", user=user)
  figure = figure_module.Figure()
  return figure, figure.add_subplot()


def _is_state_list(states) -> bool:
  # A state is a NamedTuple, itself a tuple: only a plain list or tuple holds
  # several states.
  return isinstance(states, (list, tuple)) and not hasattr(states, "_fields")


def _check_metric_state(metric, what: str, argument: str, state) -> None:
  if not isinstance(metric, base.Metric):
    raise TypeError(f"{what}: metric must be a jmetrics metric, got "
                    f"{type(metric).__name__}")
  base.check_state(metric, what, **{argument: state})


def _curve_points(metric, what: str, argument: str, item) -> thresholds.Curve:
  """``metric.curve_points(item)``, or ``item`` itself if it is a `Curve` of
  ``metric``'s shapes (points already computed, e.g. in a jitted step)."""
  if not isinstance(item, thresholds.Curve):
    _check_metric_state(metric, what, argument, item)
    return metric.curve_points(item)
  expected = jax.eval_shape(metric.curve_points, jax.eval_shape(metric.init))
  for field in thresholds.Curve._fields:
    shape, want = np.shape(getattr(item, field)), getattr(expected, field).shape
    if shape != want:
      raise ValueError(
          f"{what}: {argument} is a Curve whose {field} has shape {shape} "
          f"where {type(metric).__name__}'s curve_points gives {want}: the "
          f"points of a differently configured metric?")
  return item


def _label_list(what: str, labels, count: int, defaults: list) -> list:
  if labels is None:
    return defaults
  if isinstance(labels, str):
    labels = [labels]
  labels = [str(label) for label in labels]
  if len(labels) != count:
    raise ValueError(f"{what}: labels has {len(labels)} entries but there are "
                     f"{count} curves (one per state and label): {defaults}")
  return labels


def curves(metric, states, *, curve: str = "ROC",
           labels: Sequence[str] | None = None, ax=None,
           title: str | None = None):
  """Plots the ROC or PR curves of one or several states of ``metric``.

  Each curve joins the points of ``metric.curve_points(state)`` at every
  threshold of the metric's grid, in grid order. A multi-label `AUC` gives one
  curve per label. The ROC plot also gets a dashed chance diagonal (once per
  axes, drawn after the curves and left out of the legend).

  Args:
    metric: a metric with a ``curve_points(state)`` method: `AUC`,
      `PrecisionAtRecall`, `RecallAtPrecision`, `SensitivityAtSpecificity`
      or `SpecificityAtSensitivity`.
    states: a state of ``metric``, or a list or tuple of states (several runs,
      such as train and test, on one axes). A `Curve` that
      ``metric.curve_points`` returned may stand for its state.
    curve: ``"ROC"`` (true against false positive rate) or ``"PR"``
      (precision against recall); any case.
    labels: the legend names of the curves, state by state and within a state
      label by label. Default: ``"run i"`` for several states, ``"label j"``
      for labels, ``"run i, label j"`` for both, else the metric's name.
    ax: the axes to draw on; default: a new figure with one axes.
    title: the axes' title; default ``"<metric name>: <curve> curve"``.

  Returns:
    ``(figure, axes)``.

  Raises:
    TypeError: if ``metric`` has no ``curve_points`` method.
    ValueError: for an unknown ``curve``, a state (or `Curve`) that is not
      one of ``metric`` (another metric's, or another configuration's), no
      states, or ``labels`` of the wrong length.
    ImportError: if matplotlib is not installed.

  Examples:
    >>> from jmetrics import AUC
    >>> from jmetrics import plot
    >>> m = AUC(num_thresholds=3, curve="PR")
    >>> train = m.update(m.init(), [0, 1, 1], [0.2, 0.7, 0.9])
    >>> test = m.update(m.init(), [0, 1, 1], [0.8, 0.3, 0.9])
    >>> fig, ax = plot.curves(m, [train, test], curve="PR",
    ...                       labels=["train", "test"])
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['train', 'test']
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('recall', 'precision')
  """
  what = "jmetrics.plot.curves"
  if not callable(getattr(metric, "curve_points", None)):
    raise TypeError(
        f"{what}: metric must have a curve_points(state) method (AUC, "
        f"PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, "
        f"SpecificityAtSensitivity), got {type(metric).__name__}")
  kind = curve.upper() if isinstance(curve, str) else curve
  if kind not in _CURVE_AXES:
    raise ValueError(f"{what}: curve must be 'ROC' or 'PR', got {curve!r}")
  several = _is_state_list(states)
  state_list = list(states) if several else [states]
  if not state_list:
    raise ValueError(f"{what}: states is an empty {type(states).__name__}; "
                     f"expected a state or a list of states")
  curve_list = [
      _curve_points(metric, what, f"states[{index}]" if several else "states",
                    state)
      for index, state in enumerate(state_list)]

  x_field, y_field, x_label, y_label = _CURVE_AXES[kind]
  points = []  # (x, y, default label) of each curve, in drawing order.
  for index, curve_points in enumerate(curve_list):
    x = np.asarray(getattr(curve_points, x_field))
    y = np.asarray(getattr(curve_points, y_field))
    run = f"run {index}" if several else None
    if x.ndim == 1:
      points.append((x, y, run or metric.name))
    else:  # (T, num_labels): a multi-label AUC.
      for label in range(x.shape[1]):
        name = f"label {label}"
        points.append((x[:, label], y[:, label],
                       f"{run}, {name}" if run else name))
  names = _label_list(what, labels, len(points), [p[2] for p in points])

  figure, ax = _figure_and_axes(ax, what)
  for (x, y, _), name in zip(points, names):
    ax.plot(x, y, label=name)
  if kind == "ROC":
    if not any(line.get_label() == _CHANCE_LABEL for line in ax.lines):
      ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="gray",
              linewidth=1.0, label=_CHANCE_LABEL)
    ax.set_aspect("equal")
  ax.set_xlim(*_RATE_LIMITS)
  ax.set_ylim(*_RATE_LIMITS)
  ax.set_xlabel(x_label)
  ax.set_ylabel(y_label)
  ax.set_title(f"{metric.name}: {kind} curve" if title is None else title)
  ax.legend(loc="lower right" if kind == "ROC" else "lower left")
  return figure, ax


def _normalized(table: np.ndarray, normalize) -> np.ndarray:
  """``table`` divided by its row, column or total sums; 0 where a sum is 0."""
  if normalize == "true":
    totals = table.sum(axis=1, keepdims=True)
  elif normalize == "pred":
    totals = table.sum(axis=0, keepdims=True)
  else:
    totals = np.full((1, 1), table.sum())
  totals = np.broadcast_to(totals, table.shape)
  return np.divide(table, totals, out=np.zeros_like(table),
                   where=totals != 0)


def _cell_texts(table: np.ndarray, normalized: bool) -> np.ndarray:
  # One format for the whole table, so that columns of numbers line up.
  if not normalized and np.all(table == np.round(table)):
    return np.vectorize(lambda value: f"{value:.0f}", otypes=[str])(table)
  return np.vectorize(lambda value: f"{value:.2f}", otypes=[str])(table)


def confusion_matrix(metric, state, *, class_names: Sequence[str] | None = None,
                     normalize: Any = None, ax=None, annotate: bool | None = None,
                     cmap: Any = "Blues", title: str | None = None):
  """Plots the confusion table of ``state`` as a heat map.

  Rows are true classes and columns predicted classes. The table holds the
  exact (weighted) counts of the state, optionally normalized; its cells are
  the image's array (``ax.images[0].get_array()``).

  Args:
    metric: a `ConfusionMatrix` or an IoU metric (`IoU`, `BinaryIoU`,
      `MeanIoU`, `OneHotIoU`, `OneHotMeanIoU`): any metric whose state keeps
      its table in a ``confusion`` field.
    state: a state of ``metric``.
    class_names: the names of the C classes on the ticks; default ``"0"``
      ... ``"C-1"``.
    normalize: ``"true"`` (each row sums to 1), ``"pred"`` (each column),
      ``"all"`` (the whole table), ``False`` (counts), or ``None``: the
      metric's own ``normalize`` (a `ConfusionMatrix`'s), else counts. An
      empty row, column or table gives zeros.
    ax: the axes to draw on; default: a new figure with one axes. A colorbar
      is added next to it.
    annotate: write each cell's value on it (whole counts as integers, other
      values with 2 decimals); default: if C <= 20.
    cmap: the colormap (a name or a ``Colormap``).
    title: the axes' title; default: the metric's name and the normalization.

  Returns:
    ``(figure, axes)``.

  Raises:
    TypeError: if ``state`` holds no confusion table.
    ValueError: for a state of another configuration, an unknown
      ``normalize`` or ``class_names`` of the wrong length.
    ImportError: if matplotlib is not installed.

  Examples:
    >>> from jmetrics import ConfusionMatrix
    >>> from jmetrics import plot
    >>> m = ConfusionMatrix(num_classes=2)
    >>> state = m.update(m.init(), [0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    >>> fig, ax = plot.confusion_matrix(m, state, class_names=["cat", "dog"])
    >>> ax.images[0].get_array().tolist()
    [[1.0, 1.0], [1.0, 2.0]]
    >>> [text.get_text() for text in ax.texts]
    ['1', '1', '1', '2']
    >>> fig, ax = plot.confusion_matrix(m, state, normalize="true")
    >>> [text.get_text() for text in ax.texts]
    ['0.50', '0.50', '0.33', '0.67']
  """
  what = "jmetrics.plot.confusion_matrix"
  if not isinstance(getattr(state, "confusion", None), wide.Wide):
    raise TypeError(
        f"{what}: state must be the state of a ConfusionMatrix or an IoU "
        f"metric (a confusion table in a Wide field 'confusion'), got "
        f"{type(state).__name__}")
  _check_metric_state(metric, what, "state", state)
  if isinstance(normalize, str):
    normalize = normalize.lower()
  if normalize is not False and normalize not in _NORMALIZE:
    raise ValueError(f"{what}: normalize must be None, False, 'true', 'pred' "
                     f"or 'all', got {normalize!r}")
  if normalize is None:
    normalize = getattr(metric, "normalize", None)
  normalize = normalize or None

  hi, lo = state.confusion
  table = np.asarray(hi, np.float64) + np.asarray(lo, np.float64)
  if normalize is not None:
    table = _normalized(table, normalize)
  num_classes = table.shape[0]
  if class_names is None:
    class_names = [str(i) for i in range(num_classes)]
  else:
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
      raise ValueError(f"{what}: class_names has {len(class_names)} entries "
                       f"but the table has {num_classes} classes")
  if annotate is None:
    annotate = num_classes <= _MAX_ANNOTATED_CLASSES

  figure, ax = _figure_and_axes(ax, what)
  limits = {}
  if normalize is not None and table.min() >= 0 and table.max() <= 1:
    limits = {"vmin": 0.0, "vmax": 1.0}
  image = ax.imshow(table, cmap=cmap, interpolation="nearest", **limits)
  figure.colorbar(image, ax=ax)
  ticks = np.arange(num_classes)
  ax.set_xticks(ticks, labels=class_names)
  ax.set_yticks(ticks, labels=class_names)
  if max(len(name) for name in class_names) > 3:
    ax.tick_params(axis="x", labelrotation=45)
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  if title is None:
    title = metric.name + _NORMALIZED_TITLES.get(normalize, "")
  ax.set_title(title)
  if annotate:
    texts = _cell_texts(table, normalize is not None)
    for (row, column), value in np.ndenumerate(table):
      red, green, blue, _ = image.cmap(image.norm(value))
      # Light text on dark cells, whatever the colormap.
      dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
      ax.text(column, row, texts[row, column], ha="center", va="center",
              color="white" if dark else "black")
  return figure, ax


def history(history, names: str | Sequence[str] | None = None, *, ax=None,
            title: str | None = None):
  """Plots recorded results over the steps, one line per name.

  Args:
    history: a `jmetrics.logging.History` (anything with ``names`` and
      ``series(name) -> (steps, values)``).
    names: the series to plot (one name or several, as in
      ``history.names``, e.g. ``"train/loss"`` or ``"val/f1/0"``); default:
      all of them.
    ax: the axes to draw on; default: a new figure with one axes.
    title: the axes' title; default none.

  Returns:
    ``(figure, axes)``.

  Raises:
    TypeError: if ``history`` has no ``names`` and ``series``.
    ValueError: for a name the history does not hold.
    ImportError: if matplotlib is not installed.

  Examples:
    >>> from jmetrics import plot
    >>> from jmetrics.logging import History
    >>> log = History()
    >>> log.write(0, {"loss": 0.9, "f1": [0.2, 0.4]}, prefix="train/")
    >>> log.write(1, {"loss": 0.5, "f1": [0.6, 0.7]}, prefix="train/")
    >>> fig, ax = plot.history(log, ["train/loss", "train/f1/1"])
    >>> ax.lines[1].get_xydata().tolist()
    [[0.0, 0.4], [1.0, 0.7]]
  """
  what = "jmetrics.plot.history"
  if not (hasattr(history, "names") and callable(getattr(history, "series",
                                                         None))):
    raise TypeError(f"{what}: history must be a jmetrics.logging.History (with "
                    f"names and series(name)), got {type(history).__name__}")
  known = tuple(history.names)
  if names is None:
    names = known
  elif isinstance(names, str):
    names = (names,)
  names = tuple(names)
  unknown = [name for name in names if name not in known]
  if unknown:
    raise ValueError(f"{what}: the history has no series {unknown}; it has "
                     f"{list(known)}")

  figure, ax = _figure_and_axes(ax, what)
  for name in names:
    steps, values = history.series(name)
    # A marker keeps a series of one step visible.
    ax.plot(np.asarray(steps), np.asarray(values, np.float64), marker=".",
            label=name)
  ax.set_xlabel("step")
  ticker = extras.require("matplotlib.ticker", extra="plot", user=what)
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # steps are ints
  if len(names) == 1:
    ax.set_ylabel(names[0])
  if title is not None:
    ax.set_title(title)
  if names:
    ax.legend()
  return figure, ax
