"""jmetrics.plot: the drawn data against oracles independent of the plots.

Curves are compared with the metric's own ``curve_points`` arrays, heat maps
with confusion tables built from the definition (``np.add.at``) or by
scikit-learn, histories with the values written.
"""

import concurrent.futures
import importlib
import io
import sys

import numpy as np
import pytest

import matplotlib
matplotlib.use("Agg")

from matplotlib import figure as figure_lib  # noqa: E402
from sklearn import metrics as sk_metrics  # noqa: E402

import jmetrics as jm  # noqa: E402
from jmetrics import plot  # noqa: E402
from jmetrics.logging import History  # noqa: E402

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, 40)
SCORES = np.clip(LABELS * 0.3 + RNG.uniform(0, 0.7, 40), 0, 1).astype(np.float32)


def _xy(line):
  return line.get_xydata()


def _legend(ax):
  return [text.get_text() for text in ax.get_legend().get_texts()]


def _data_lines(ax):
  return [line for line in ax.lines if not line.get_label().startswith("_")]


def _auc_state(metric, labels=LABELS, scores=SCORES):
  return metric.update(metric.init(), labels, scores)


# -- curves ----------------------------------------------------------------------


def test_roc_of_one_state_draws_its_curve_points_and_a_chance_diagonal():
  m = jm.AUC(num_thresholds=11)
  state = _auc_state(m)
  fig, ax = plot.curves(m, state)
  points = m.curve_points(state)
  assert isinstance(fig, figure_lib.Figure) and ax.figure is fig
  assert len(ax.lines) == 2
  np.testing.assert_array_equal(
      _xy(ax.lines[0]), np.stack([np.asarray(points.fpr), np.asarray(points.tpr)], 1))
  diagonal = ax.lines[1]
  assert diagonal.get_label().startswith("_")
  assert diagonal.get_linestyle() == "--"
  np.testing.assert_array_equal(_xy(diagonal), [[0, 0], [1, 1]])
  assert _legend(ax) == ["auc"]
  assert (ax.get_xlabel(), ax.get_ylabel()) == ("false positive rate",
                                                "true positive rate")
  assert ax.get_title() == "auc: ROC curve"
  assert ax.get_aspect() == 1.0
  low, high = ax.get_xlim()
  assert low < 0 < 1 < high and high - low < 1.1
  assert ax.get_ylim() == ax.get_xlim()


def test_pr_of_several_states_one_line_each_in_order():
  m = jm.AUC(num_thresholds=7, curve="PR")
  train = _auc_state(m)
  test = _auc_state(m, LABELS[::-1], SCORES)
  fig, ax = plot.curves(m, [train, test], curve="pr", title="PR")
  assert len(ax.lines) == 2  # no chance diagonal on a PR plot
  for line, state in zip(ax.lines, (train, test)):
    points = m.curve_points(state)
    np.testing.assert_array_equal(
        _xy(line), np.stack([points.recall, points.precision], 1))
  assert _legend(ax) == ["run 0", "run 1"]
  assert (ax.get_xlabel(), ax.get_ylabel()) == ("recall", "precision")
  assert ax.get_title() == "PR"
  _, ax = plot.curves(m, (train, test), curve="PR", labels=["train", "test"])
  assert _legend(ax) == ["train", "test"]


def test_multi_label_auc_one_line_per_label_state_major():
  m = jm.AUC(num_thresholds=9, multi_label=True, num_labels=3)
  labels = RNG.integers(0, 2, (30, 3))
  scores = RNG.uniform(size=(30, 3)).astype(np.float32)
  first = m.update(m.init(), labels, scores)
  second = m.update(m.init(), labels, scores[::-1])
  _, ax = plot.curves(m, [first, second])
  lines = _data_lines(ax)
  assert len(lines) == 6 and len(ax.lines) == 7
  for run, state in enumerate((first, second)):
    points = m.curve_points(state)
    assert np.shape(points.fpr) == (9, 3)
    for label in range(3):
      expected = np.stack([points.fpr[:, label], points.tpr[:, label]], 1)
      np.testing.assert_array_equal(_xy(lines[3 * run + label]), expected)
  assert _legend(ax) == [f"run {i}, label {j}" for i in range(2) for j in range(3)]
  _, ax = plot.curves(m, first)
  assert _legend(ax) == ["label 0", "label 1", "label 2"]


@pytest.mark.parametrize("cls, target", [
    (jm.PrecisionAtRecall, 0.5), (jm.SpecificityAtSensitivity, 0.5)])
def test_x_at_y_metric(cls, target):
  m = cls(target, num_thresholds=5)
  state = m.update(m.init(), LABELS, SCORES)
  points = m.curve_points(state)
  _, ax = plot.curves(m, state)
  np.testing.assert_array_equal(_xy(ax.lines[0]),
                                np.stack([points.fpr, points.tpr], 1))
  assert _legend(ax) == [m.name]
  _, ax = plot.curves(m, state, curve="PR")
  np.testing.assert_array_equal(_xy(ax.lines[0]),
                                np.stack([points.recall, points.precision], 1))


def test_curve_points_may_stand_for_a_state():
  m = jm.AUC(num_thresholds=6)
  state = _auc_state(m)
  points = m.curve_points(state)
  _, ax = plot.curves(m, points)
  np.testing.assert_array_equal(_xy(ax.lines[0]),
                                np.stack([points.fpr, points.tpr], 1))
  other = jm.AUC(num_thresholds=8)
  with pytest.raises(ValueError, match=r"curves: states is a Curve whose "
                     r"thresholds has shape \(8,\)"):
    plot.curves(m, other.curve_points(_auc_state(other)))


def test_drawing_on_a_given_axes_adds_to_it():
  m = jm.AUC(num_thresholds=5)
  fig = figure_lib.Figure()
  ax = fig.add_subplot()
  ax.plot([0.2, 0.4], [0.6, 0.8], label="baseline")
  got_fig, got_ax = plot.curves(m, _auc_state(m), ax=ax, labels=["train"])
  assert got_fig is fig and got_ax is ax and fig.axes == [ax]
  assert len(ax.lines) == 3
  np.testing.assert_array_equal(_xy(ax.lines[0]), [[0.2, 0.6], [0.4, 0.8]])
  # A second call adds its curve but no second diagonal.
  plot.curves(m, _auc_state(m, LABELS[::-1]), ax=ax, labels=["test"])
  assert len(ax.lines) == 4
  assert sum(line.get_label().startswith("_") for line in ax.lines) == 1
  assert _legend(ax) == ["baseline", "train", "test"]


def test_curves_errors():
  m = jm.AUC(num_thresholds=11)
  state = _auc_state(m)
  with pytest.raises(TypeError, match=r"curves: metric must have a "
                     r"curve_points\(state\) method .* got Mean"):
    plot.curves(jm.Mean(), state)
  with pytest.raises(ValueError, match=r"curves: curve must be 'ROC' or 'PR', "
                     r"got 'XYZ'"):
    plot.curves(m, state, curve="XYZ")
  with pytest.raises(ValueError, match=r"curves: labels has 1 entries but "
                     r"there are 2 curves"):
    plot.curves(m, [state, state], labels=["train"])
  small = jm.AUC(num_thresholds=5)
  small_state = small.init()
  with pytest.raises(ValueError, match=r"curves: states has leaf 0 of shape "
                     r"\(4, 5\) where this metric's state has shape \(4, 11\)"):
    plot.curves(m, small_state)
  with pytest.raises(ValueError, match=r"curves: states\[1\] has leaf 0 of "
                     r"shape \(4, 5\)"):
    plot.curves(m, [state, small_state])
  with pytest.raises(ValueError, match=r"curves: states\[0\] is not a state"):
    plot.curves(m, [jm.Mean().init()])
  with pytest.raises(ValueError, match=r"curves: states is an empty list"):
    plot.curves(m, [])


# -- confusion_matrix --------------------------------------------------------------


def _table(y_true, y_pred, num_classes, weights=None):
  table = np.zeros((num_classes, num_classes))
  weights = np.ones(len(y_true)) if weights is None else weights
  np.add.at(table, (y_true, y_pred), weights)
  return table


def _image(ax):
  return np.ma.getdata(ax.images[0].get_array())


def _cell_texts(ax):
  return [text.get_text() for text in ax.texts]


TRUE = RNG.integers(0, 4, 60)
PRED = np.where(RNG.uniform(size=60) < 0.6, TRUE, RNG.integers(0, 4, 60))
TRUE[TRUE == 2] = 3  # class 2 is never true: an empty row
WEIGHTS = RNG.integers(1, 8, 60) / 4.0  # exact in float32


def test_confusion_matrix_counts_and_layout():
  m = jm.ConfusionMatrix(num_classes=4)
  state = m.update(m.init(), TRUE, PRED, sample_weight=WEIGHTS)
  fig, ax = plot.confusion_matrix(m, state, class_names=["a", "b", "c", "d"])
  np.testing.assert_array_equal(_image(ax), _table(TRUE, PRED, 4, WEIGHTS))
  assert len(fig.axes) == 2  # the heat map and its colorbar
  assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
  for axis in (ax.xaxis, ax.yaxis):
    assert list(axis.get_ticklocs()) == [0, 1, 2, 3]
    assert [t.get_text() for t in axis.get_ticklabels()] == ["a", "b", "c", "d"]
  assert ax.get_title() == "confusion_matrix"
  _, ax = plot.confusion_matrix(m, state)
  assert [t.get_text() for t in ax.xaxis.get_ticklabels()] == ["0", "1", "2", "3"]


@pytest.mark.parametrize("normalize", ["true", "pred", "all"])
def test_confusion_matrix_normalized_like_sklearn(normalize):
  expected = sk_metrics.confusion_matrix(TRUE, PRED, labels=range(4),
                                      sample_weight=WEIGHTS, normalize=normalize)
  m = jm.ConfusionMatrix(num_classes=4)
  state = m.update(m.init(), TRUE, PRED, sample_weight=WEIGHTS)
  _, ax = plot.confusion_matrix(m, state, normalize=normalize)
  table = _image(ax)
  assert not np.isnan(table).any()
  np.testing.assert_allclose(table, expected, rtol=1e-12, atol=0)
  if normalize == "true":
    np.testing.assert_array_equal(table[2], 0.0)
  assert "normalized" in ax.get_title()


def test_confusion_matrix_follows_the_metrics_own_normalize():
  m = jm.ConfusionMatrix(num_classes=4, normalize="true")
  state = m.update(m.init(), TRUE, PRED)
  table = _table(TRUE, PRED, 4)
  sums = table.sum(axis=1, keepdims=True)
  expected = np.where(sums > 0, table / np.where(sums > 0, sums, 1), 0.0)
  _, ax = plot.confusion_matrix(m, state)
  np.testing.assert_allclose(_image(ax), expected, rtol=1e-12, atol=0)
  _, ax = plot.confusion_matrix(m, state, normalize=False)
  np.testing.assert_array_equal(_image(ax), table)
  _, ax = plot.confusion_matrix(m, state, normalize="all")
  np.testing.assert_allclose(_image(ax), table / table.sum(), rtol=1e-12)


def test_an_empty_table_normalizes_to_zeros():
  m = jm.ConfusionMatrix(num_classes=3)
  for normalize in ("true", "pred", "all"):
    _, ax = plot.confusion_matrix(m, m.init(), normalize=normalize)
    np.testing.assert_array_equal(_image(ax), np.zeros((3, 3)))


def test_mean_iou_state():
  m = jm.MeanIoU(num_classes=4)
  state = m.update(m.init(), TRUE, PRED)
  _, ax = plot.confusion_matrix(m, state, title="val")
  np.testing.assert_array_equal(_image(ax), _table(TRUE, PRED, 4))
  assert ax.get_title() == "val"
  one_hot = jm.OneHotIoU(num_classes=4, target_class_ids=[0, 1])
  state = one_hot.update(one_hot.init(), np.eye(4)[TRUE], np.eye(4)[PRED])
  _, ax = plot.confusion_matrix(one_hot, state)
  np.testing.assert_array_equal(_image(ax), _table(TRUE, PRED, 4))


def test_exact_counts_past_float32():
  # hi alone rounds 2**24 + 1 to 2**24; the table is hi + lo in float64.
  m = jm.ConfusionMatrix(num_classes=2)
  hi = np.array([[2.0**24, 0], [0, 3]], np.float32)
  lo = np.array([[1.0, 0], [0, 0]], np.float32)
  state = jm.ConfusionMatrixState(jm.Wide(hi, lo))
  _, ax = plot.confusion_matrix(m, state)
  np.testing.assert_array_equal(_image(ax), [[2.0**24 + 1, 0], [0, 3]])
  assert _cell_texts(ax) == ["16777217", "0", "0", "3"]


def test_annotations():
  m = jm.ConfusionMatrix(num_classes=2)
  state = m.update(m.init(), [0, 0, 0, 1, 1], [0, 0, 1, 1, 1])
  _, ax = plot.confusion_matrix(m, state)
  assert _cell_texts(ax) == ["2", "1", "0", "2"]
  assert [text.get_position() for text in ax.texts] == [(0, 0), (1, 0), (0, 1),
                                                       (1, 1)]
  _, ax = plot.confusion_matrix(m, state, normalize="true")
  assert _cell_texts(ax) == ["0.67", "0.33", "0.00", "1.00"]
  weighted = m.update(m.init(), [0, 1], [0, 1], sample_weight=[0.5, 2.0])
  _, ax = plot.confusion_matrix(m, weighted)
  assert _cell_texts(ax) == ["0.50", "0.00", "0.00", "2.00"]
  _, ax = plot.confusion_matrix(m, state, annotate=False)
  assert len(ax.texts) == 0
  big = jm.ConfusionMatrix(num_classes=21)
  _, ax = plot.confusion_matrix(big, big.init())
  assert len(ax.texts) == 0
  _, ax = plot.confusion_matrix(m, state, annotate=True)
  assert len(ax.texts) == 4


def test_confusion_matrix_on_a_given_axes():
  m = jm.ConfusionMatrix(num_classes=2)
  fig = figure_lib.Figure()
  left, right = fig.subplots(1, 2)
  got_fig, got_ax = plot.confusion_matrix(m, m.init(), ax=right)
  assert got_fig is fig and got_ax is right
  assert len(right.images) == 1 and not left.images


def test_confusion_matrix_errors():
  m = jm.ConfusionMatrix(num_classes=3)
  state = m.init()
  with pytest.raises(ValueError, match=r"confusion_matrix: normalize must be "
                     r"None, False, 'true', 'pred' or 'all', got 'rows'"):
    plot.confusion_matrix(m, state, normalize="rows")
  with pytest.raises(ValueError, match=r"confusion_matrix: class_names has 2 "
                     r"entries but the table has 3 classes"):
    plot.confusion_matrix(m, state, class_names=["a", "b"])
  with pytest.raises(ValueError, match=r"confusion_matrix: state has leaf 0 of "
                     r"shape \(4, 4\) where this metric's state has shape "
                     r"\(3, 3\)"):
    plot.confusion_matrix(m, jm.ConfusionMatrix(num_classes=4).init())
  auc = jm.AUC(num_thresholds=3)
  with pytest.raises(TypeError, match=r"confusion_matrix: state must be the "
                     r"state of a ConfusionMatrix or an IoU metric.*got "
                     r"ConfusionState"):
    plot.confusion_matrix(auc, auc.init())
  with pytest.raises(TypeError, match=r"confusion_matrix: metric must be a "
                     r"jmetrics metric, got str"):
    plot.confusion_matrix("confusion_matrix", state)


# -- history -----------------------------------------------------------------------


def _history():
  log = History()
  log.write(0, {"loss": 0.9, "f1": [0.1, 0.2]}, prefix="train/")
  log.write(1, {"loss": 0.6, "f1": [0.3, 0.5]}, prefix="train/")
  log.write(1, {"loss": 0.7}, prefix="val/")
  log.write(2, {"loss": 0.4, "f1": [0.6, 0.8]}, prefix="train/")
  log.write(3, {"loss": 0.5}, prefix="val/")
  return log


def test_history_every_name():
  fig, ax = plot.history(_history())
  expected = {
      "train/loss": [(0, 0.9), (1, 0.6), (2, 0.4)],
      "train/f1/0": [(0, 0.1), (1, 0.3), (2, 0.6)],
      "train/f1/1": [(0, 0.2), (1, 0.5), (2, 0.8)],
      "val/loss": [(1, 0.7), (3, 0.5)],
  }
  assert isinstance(fig, figure_lib.Figure)
  assert _legend(ax) == list(expected)
  for line, points in zip(ax.lines, expected.values()):
    np.testing.assert_allclose(_xy(line), points, rtol=1e-6)
  assert ax.get_xlabel() == "step"
  assert ax.get_title() == ""


def test_history_chosen_names_on_a_given_axes():
  fig = figure_lib.Figure()
  ax = fig.add_subplot()
  got_fig, got_ax = plot.history(_history(), ["val/loss", "train/loss"], ax=ax,
                                 title="loss")
  assert got_fig is fig and got_ax is ax
  assert _legend(ax) == ["val/loss", "train/loss"]
  np.testing.assert_allclose(_xy(ax.lines[0]), [(1, 0.7), (3, 0.5)], rtol=1e-6)
  assert ax.get_title() == "loss"
  _, ax = plot.history(_history(), "train/f1/1")
  assert len(ax.lines) == 1 and ax.get_ylabel() == "train/f1/1"


def test_history_errors():
  with pytest.raises(ValueError, match=r"history: the history has no series "
                     r"\['train/acc'\]; it has \['train/loss', 'train/f1/0'"):
    plot.history(_history(), ["train/loss", "train/acc"])
  with pytest.raises(TypeError, match=r"history: history must be a "
                     r"jmetrics.logging.History"):
    plot.history({"loss": [1.0]})


def test_figures_render_outside_the_main_thread():
  # jmetrics.logging renders its images in a background thread: no pyplot.
  auc = jm.AUC(num_thresholds=5, multi_label=True, num_labels=2)
  auc_state = auc.update(auc.init(), RNG.integers(0, 2, (8, 2)),
                         RNG.uniform(size=(8, 2)).astype(np.float32))
  cm = jm.ConfusionMatrix(num_classes=3)
  cm_state = cm.update(cm.init(), [0, 1, 2, 2], [0, 2, 2, 1])

  def render():
    figures = [plot.curves(auc, auc_state)[0],
               plot.confusion_matrix(cm, cm_state, class_names=["cat", "dog",
                                                                 "horse"])[0],
               plot.history(_history())[0]]
    sizes = []
    for fig in figures:
      buffer = io.BytesIO()
      fig.savefig(buffer, format="png", dpi=40)
      sizes.append(len(buffer.getvalue()))
    return sizes

  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    sizes = pool.submit(render).result()
  assert all(size > 1000 for size in sizes)


# -- without matplotlib --------------------------------------------------------------


def test_imports_without_matplotlib_and_names_the_extra_on_first_call(monkeypatch):
  monkeypatch.setitem(sys.modules, "matplotlib", None)
  monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
  # A fresh import; monkeypatch puts the module already imported back after.
  monkeypatch.delitem(sys.modules, "jmetrics.plot")
  monkeypatch.setattr(jm, "plot", plot, raising=False)
  fresh = importlib.import_module("jmetrics.plot")
  assert fresh is not plot
  m = jm.AUC(num_thresholds=3)
  with pytest.raises(ImportError, match=r"jmetrics.plot.curves needs "
                     r"matplotlib.*jmetrics\[plot\]"):
    fresh.curves(m, m.init())
  cm = jm.ConfusionMatrix(num_classes=2)
  with pytest.raises(ImportError, match=r"jmetrics\[plot\]"):
    fresh.confusion_matrix(cm, cm.init())
  with pytest.raises(ImportError, match=r"jmetrics\[plot\]"):
    fresh.history(History())
