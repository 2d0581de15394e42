"""Every public metric class with example configurations and input generators.

`ENTRIES` covers each metric class of ``jmetrics.__all__`` (a dataclass
subclass of `jm.Metric`) at least once; `missing_classes` names the public
classes without an entry, and `tests/test_distributed.py` fails while there
are any, so a new metric cannot be exported without being run on every
parallelism path. The segmentation metrics (`ConfusionMatrix`, the IoU
family, `Dice`), the composition (`Collection`, `Routed`) and `Max` / `Min`
get entries as soon as ``jmetrics`` exports them.

Each entry is a `harness.Case`, the one description of a metric that the
tests share: ``tests/test_catalogue.py`` holds it to its oracle (Keras' twin
of the same configuration, or a NumPy reference), ``tests/test_distributed.py``
runs it on every parallelism path and ``tests/test_kernel_parity.py`` on both
lowerings of its kernels. Its ``make_inputs(rng, n)`` returns the positional
inputs of one update with ``n`` rows (the batch axis first); the tests use
``n`` divisible by 8 for the sharded modes and an uneven ``n`` for the padded
one.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect

import jax.numpy as jnp
import keras
import numpy as np

import jmetrics as jm
from tests import harness

ALL = harness.ALL


def keras_twin(metric):
  """``() -> keras metric`` of the same class and configuration, or None
  where Keras has no such class (its oracle is then a NumPy reference, or
  the family test's)."""
  cls = getattr(keras.metrics, type(metric).__name__, None)
  if cls is None or not dataclasses.is_dataclass(metric):
    return None
  params = inspect.signature(cls.__init__).parameters
  config = {field.name: getattr(metric, field.name)
            for field in dataclasses.fields(metric) if field.name in params}
  # Keras takes lists where a frozen config holds tuples (thresholds).
  config = {k: list(v) if isinstance(v, tuple) and k != "shape" else v
            for k, v in config.items()}
  config.update(dict(getattr(metric, "fn_kwargs", ()) or ()))
  return functools.partial(cls, **config)


def numpy_reference(metric):
  """The family tests' NumPy (or scikit-learn) reference for a class Keras
  does not have, or None."""
  # pylint: disable=g-import-not-at-top
  name = type(metric).__name__
  if name == "Dice":
    from tests import test_dice
    return test_dice.reference(metric)
  if name == "ConfusionMatrix":
    from tests import test_iou
    return test_iou._sklearn_confusion(metric.num_classes, metric.normalize)  # pylint: disable=protected-access
  if name in ("Max", "Min"):
    from tests import test_collection
    return test_collection._extremum_reference(  # pylint: disable=protected-access
        np.max if name == "Max" else np.min)
  if name in _REFERENCE_MODULES:
    # Imported when called: those test modules import this one.
    module = f"tests.{_REFERENCE_MODULES[name]}"
    return lambda batches: importlib.import_module(module).reference(metric)(
        batches)
  if name == "WeightedPrecision":
    from tests import test_f_score
    return test_f_score._sklearn_weighted_precision(metric.class_weights)  # pylint: disable=protected-access
  return None


# Classes whose oracle is ``reference(metric)`` of a family's test module.
_REFERENCE_MODULES = {
    **dict.fromkeys(("CohenKappa", "MatthewsCorrelationCoefficient",
                     "BalancedAccuracy", "Specificity",
                     "NegativePredictiveValue", "MultiLabelConfusionMatrix",
                     "HammingLoss", "ExactMatch"), "test_agreement"),
    **dict.fromkeys(("ExpectedCalibrationError", "MaximumCalibrationError",
                     "BrierScore"), "test_calibration"),
    **dict.fromkeys(("MulticlassAUROC", "MulticlassAveragePrecision"),
                    "test_one_vs_rest"),
    **dict.fromkeys(("NDCG", "DCG", "MeanReciprocalRank",
                     "RankingMeanAveragePrecision", "PrecisionAtK",
                     "RecallAtK"), "test_ranking"),
    **dict.fromkeys(("Perplexity", "MaskedTokenAccuracy"), "test_language"),
}


def _spread_weights(weight_axes):
  """Per-row weights spread over the first ``weight_axes`` axes of the
  labels, as the distributed tests' ``(n, 1, ...)`` weights broadcast."""
  def make(rng, args):
    weights = harness.default_weights(rng, args)
    rows = np.shape(args[0])[:weight_axes]
    return np.broadcast_to(
        weights.reshape(weights.shape + (1,) * (len(rows) - 1)), rows).copy()
  return make


def entry(id_: str, metric, make_inputs, *, weighted=False, **kwargs
          ) -> harness.Case:
  """A catalogue `harness.Case`: unweighted unless asked, with Keras' twin
  of ``metric`` (or the family tests' NumPy reference) as its oracle."""
  oracle = keras_twin(metric)
  reference = None if oracle is not None else numpy_reference(metric)
  if kwargs.get("weight_axes", 1) > 1:
    kwargs.setdefault("make_weights", _spread_weights(kwargs["weight_axes"]))
  kwargs.setdefault("atol", 1e-6)
  return harness.Case(id_, metric, make_inputs, keras=oracle,
                      reference=reference, weighted=weighted, **kwargs)


def row_weights(entry: harness.Case, rng: np.random.Generator, n: int):
  """``None``, or for a weighted entry ``n`` weights in [0, 2) with about a
  quarter zero, shaped ``(n, 1, ...)`` with ``entry.weight_axes`` axes."""
  if not entry.weighted:
    return None
  weight = rng.uniform(0.0, 2.0, n).astype(np.float32)
  weight[rng.random(n) < 0.25] = 0.0
  return weight.reshape((n,) + (1,) * (entry.weight_axes - 1))


# -- input generators ----------------------------------------------------------


def _f32(x):
  return np.asarray(x, np.float32)


def binary(shape=()):
  """0/1 int labels and scores in [0, 1], ``(n, *shape)``."""
  def make(rng, n):
    full = (n,) + tuple(shape)
    return rng.integers(0, 2, full).astype(np.int32), _f32(rng.uniform(size=full))
  return make


def binary_logits(shape=()):
  def make(rng, n):
    full = (n,) + tuple(shape)
    return rng.integers(0, 2, full).astype(np.int32), _f32(rng.normal(size=full) * 2)
  return make


def binary_float_labels(shape=()):
  """0/1 float labels against probabilities (the cross-entropy inputs)."""
  def make(rng, n):
    full = (n,) + tuple(shape)
    return (_f32(rng.integers(0, 2, full)),
            _f32(rng.uniform(0.02, 0.98, full)))
  return make


def signed_labels(shape):
  """Labels in {-1, 1} against real scores."""
  def make(rng, n):
    full = (n,) + tuple(shape)
    return _f32(rng.choice([-1.0, 1.0], full)), _f32(rng.normal(size=full))
  return make


def sparse_scores(num_classes, label_dtype=np.int32, label_shape=()):
  """Integer labels ``(n, *label_shape)`` and scores ``(n, num_classes)``."""
  def make(rng, n):
    labels = rng.integers(0, num_classes, (n,) + tuple(label_shape))
    return labels.astype(label_dtype), _f32(rng.uniform(size=(n, num_classes)))
  return make


def class_ids(num_classes, shape=()):
  """Integer labels and predictions (right about 60% of the time)."""
  def make(rng, n):
    labels = rng.integers(0, num_classes, (n,) + tuple(shape))
    noisy = rng.integers(0, num_classes, labels.shape)
    preds = np.where(rng.random(labels.shape) < 0.6, labels, noisy)
    return labels.astype(np.int32), preds.astype(np.int32)
  return make


def token_scores(vocab, logits=True):
  """Token ids ``(n, 6)`` (about a fifth the padding id 0) and scores
  ``(n, 6, vocab)``, as the language tests make them."""
  def make(rng, n):
    from tests import test_language  # pylint: disable=g-import-not-at-top
    return test_language.tokens(vocab, logits=logits)(rng, n)
  return make


def bucketed_scores(num_classes, steps=64):
  """Labels and scores ``(k + 1/2) / steps``: one score value per bucket of
  a ``steps + 1`` threshold grid, so bucketing keeps every comparison."""
  def make(rng, n):
    labels = rng.integers(0, num_classes, n)
    k = rng.integers(0, steps, (n, num_classes))
    k[np.arange(n), labels] = np.maximum(k[np.arange(n), labels],
                                         rng.integers(0, steps, n))
    return labels.astype(np.int32), ((k + 0.5) / steps).astype(np.float32)
  return make


def ranked_lists(list_size):
  """Relevance lists (graded 0..3, a quarter padded with -1, one relevant
  item in each) and distinct scores that follow them loosely."""
  def make(rng, n):
    labels = rng.choice([0, 0, 1, 2, 3], (n, list_size))
    labels = np.where(rng.random(labels.shape) < 0.25, -1, labels)
    labels[np.arange(n), rng.integers(0, list_size, n)] = 2
    scores = labels + rng.normal(size=labels.shape) * 1.5
    return _f32(labels), _f32(scores)
  return make


def one_hot_scores(num_classes, label_dtype=np.float32, softmax=False):
  def make(rng, n):
    labels = np.eye(num_classes)[rng.integers(0, num_classes, n)]
    scores = rng.uniform(0.05, 1.0, (n, num_classes))
    if softmax:
      scores = scores / scores.sum(-1, keepdims=True)
    return labels.astype(label_dtype), _f32(scores)
  return make


def multi_hot_scores(num_classes):
  """Multi-label int 0/1 targets and scores (the F-score inputs)."""
  def make(rng, n):
    return (rng.integers(0, 2, (n, num_classes)).astype(np.int32),
            _f32(rng.uniform(size=(n, num_classes))))
  return make


def normal_pairs(shape, noise=0.5):
  def make(rng, n):
    y_true = rng.normal(size=(n,) + tuple(shape))
    return _f32(y_true), _f32(y_true + noise * rng.normal(size=y_true.shape))
  return make


def positive_pairs(shape, low=0.1, high=2.0):
  def make(rng, n):
    full = (n,) + tuple(shape)
    return _f32(rng.uniform(low, high, full)), _f32(rng.uniform(low, high, full))
  return make


def distributions(num_classes):
  """Rows of two probability distributions (KL divergence)."""
  def make(rng, n):
    a = rng.uniform(0.05, 1.0, (n, num_classes))
    b = rng.uniform(0.05, 1.0, (n, num_classes))
    return _f32(a / a.sum(-1, keepdims=True)), _f32(b / b.sum(-1, keepdims=True))
  return make


def values(shape=()):
  def make(rng, n):
    return (_f32(rng.normal(size=(n,) + tuple(shape))),)
  return make


def tensor(shape):
  """One `MeanTensor` update (no batch axis)."""
  def make(rng, n):
    del n
    return (_f32(rng.normal(size=shape)),)
  return make


def segmentation(num_classes, size=4, pred="ids"):
  """Label maps ``(n, size, size)``, with predictions as ``"ids"`` (same
  shape), ``"probs"`` (``(n, size, size, C)``) and labels as given."""
  def make(rng, n):
    if pred == "ids":
      return class_ids(num_classes, (size, size))(rng, n)
    labels = rng.integers(0, num_classes, (n, size, size)).astype(np.int32)
    scores = rng.uniform(size=labels.shape + (num_classes,))
    return labels, _f32(scores / scores.sum(-1, keepdims=True))
  return make


def one_hot_segmentation(num_classes, size=4):
  def make(rng, n):
    labels = rng.integers(0, num_classes, (n, size, size))
    one_hot = np.eye(num_classes, dtype=np.float32)[labels]
    return one_hot, _f32(rng.uniform(size=one_hot.shape))
  return make


def binary_masks(size=4):
  """Hard 0/1 masks and probabilities ``(n, size, size)``."""
  def make(rng, n):
    masks = rng.integers(0, 2, (n, size, size)).astype(np.int32)
    return masks, _f32(rng.uniform(size=masks.shape))
  return make


def _squared_error(y_true, y_pred):
  return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


# -- the catalogue ---------------------------------------------------------------


def _entries() -> list[harness.Case]:
  e = entry
  entries = [
      # reduction
      e("mean", jm.Mean(), values((3,)), exact=("count",)),
      e("mean_weighted", jm.Mean(), values(), weighted=True),
      e("sum", jm.Sum(), values((2,)), weighted=True),
      e("mean_tensor", jm.MeanTensor(shape=(8, 2)), tensor((8, 2)),
        exact=("count",), batch_axis=False),
      e("mean_tensor_weighted", jm.MeanTensor(shape=(8,)), tensor((8,)),
        weighted=True, batch_axis=False),
      e("mean_metric_wrapper", jm.MeanMetricWrapper(_squared_error, name="se"),
        normal_pairs((3,)), weighted=True),
      # accuracy
      e("accuracy", jm.Accuracy(), class_ids(3, (1,)), exact=("count",)),
      e("binary_accuracy", jm.BinaryAccuracy(), binary((2,)), exact=("count",)),
      e("binary_accuracy_weighted", jm.BinaryAccuracy(threshold=0.7), binary(),
        weighted=True),
      e("categorical_accuracy", jm.CategoricalAccuracy(), one_hot_scores(4),
        exact=("count",)),
      e("sparse_categorical_accuracy", jm.SparseCategoricalAccuracy(),
        sparse_scores(5), weighted=True),
      e("top_k_categorical_accuracy", jm.TopKCategoricalAccuracy(k=2),
        one_hot_scores(5), exact=("count",)),
      e("sparse_top_k_categorical_accuracy",
        jm.SparseTopKCategoricalAccuracy(k=2), sparse_scores(5), weighted=True),
      # probabilistic
      e("binary_crossentropy", jm.BinaryCrossentropy(),
        binary_float_labels((3,)), exact=("count",)),
      e("binary_crossentropy_logits",
        jm.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        binary_logits((2,)), weighted=True),
      e("categorical_crossentropy", jm.CategoricalCrossentropy(),
        one_hot_scores(4, softmax=True), weighted=True),
      e("sparse_categorical_crossentropy",
        jm.SparseCategoricalCrossentropy(from_logits=True), sparse_scores(4),
        exact=("count",)),
      e("sparse_categorical_crossentropy_ignore",
        jm.SparseCategoricalCrossentropy(ignore_class=0), sparse_scores(4),
        exact=("count",)),
      e("sparse_categorical_crossentropy_ignore_weighted",
        jm.SparseCategoricalCrossentropy(ignore_class=0), sparse_scores(4),
        weighted=True),
      e("kl_divergence", jm.KLDivergence(), distributions(4), weighted=True),
      e("poisson", jm.Poisson(), positive_pairs((3,)), exact=("count",)),
      # regression
      e("mean_squared_error", jm.MeanSquaredError(), normal_pairs((3,)),
        exact=("count",)),
      e("mean_absolute_error", jm.MeanAbsoluteError(), normal_pairs((2,)),
        weighted=True),
      e("mean_absolute_percentage_error", jm.MeanAbsolutePercentageError(),
        positive_pairs((2,)), exact=("count",)),
      e("mean_squared_logarithmic_error", jm.MeanSquaredLogarithmicError(),
        positive_pairs((2,)), weighted=True),
      e("log_cosh_error", jm.LogCoshError(), normal_pairs((2,)),
        exact=("count",)),
      e("root_mean_squared_error", jm.RootMeanSquaredError(),
        normal_pairs((2,)), weighted=True),
      e("cosine_similarity", jm.CosineSimilarity(), normal_pairs((4,)),
        exact=("count",)),
      e("cosine_similarity_weighted", jm.CosineSimilarity(axis=1),
        normal_pairs((3,)), weighted=True),
      e("pearson_correlation", jm.PearsonCorrelation(), normal_pairs((5,)),
        exact=("count",)),
      e("concordance_correlation", jm.ConcordanceCorrelation(),
        normal_pairs((5,)), weighted=True),
      e("r2_score", jm.R2Score(num_outputs=2, num_regressors=1),
        normal_pairs((2,)), exact=("sum_weight", "num_samples")),
      e("r2_score_weighted", jm.R2Score(class_aggregation=None),
        normal_pairs((1,)), weighted=True, exact=("num_samples",)),
      # hinge
      e("hinge", jm.Hinge(), binary((3,)), exact=("count",)),
      e("squared_hinge", jm.SquaredHinge(), signed_labels((3,)), weighted=True),
      e("categorical_hinge", jm.CategoricalHinge(), one_hot_scores(4),
        exact=("count",)),
      # confusion counts and ratios
      e("true_positives", jm.TruePositives(), binary((2,)), exact=ALL),
      e("false_positives", jm.FalsePositives(thresholds=[0.2, 0.5, 0.9]),
        binary(), exact=ALL),
      e("true_negatives", jm.TrueNegatives(), binary(), weighted=True),
      e("false_negatives", jm.FalseNegatives(thresholds=[0.3, 0.6]), binary(),
        exact=ALL),
      e("precision", jm.Precision(), binary(), exact=ALL),
      e("precision_top_k", jm.Precision(top_k=2, class_id=1),
        multi_hot_scores(4), weighted=True),
      e("recall", jm.Recall(thresholds=[0.25, 0.5, 0.75]), binary((3,)),
        exact=ALL),
      e("recall_top_k", jm.Recall(top_k=2), multi_hot_scores(4), exact=ALL),
      e("precision_at_recall", jm.PrecisionAtRecall(0.6, num_thresholds=50),
        binary(), exact=ALL),
      e("recall_at_precision", jm.RecallAtPrecision(0.5, num_thresholds=50),
        binary(), weighted=True),
      e("sensitivity_at_specificity",
        jm.SensitivityAtSpecificity(0.5, num_thresholds=50), binary(),
        exact=ALL),
      e("specificity_at_sensitivity",
        jm.SpecificityAtSensitivity(0.5, num_thresholds=50, class_id=2),
        multi_hot_scores(3), weighted=True),
      # curves
      e("auc", jm.AUC(), binary(), exact=ALL),
      e("auc_pr_multi_label",
        jm.AUC(curve="PR", multi_label=True, num_labels=3), binary((3,)),
        weighted=True),
      e("auc_logits_thresholds",
        jm.AUC(from_logits=True, thresholds=[0.1, 0.4, 0.5, 0.8],
               summation_method="minoring"), binary_logits((2,)), exact=ALL),
      e("mean_average_precision",
        jm.MeanAveragePrecision(num_labels=3, num_thresholds=101),
        binary((3,)), exact=ALL),
      # F-scores
      e("f1_score", jm.F1Score(num_classes=4, threshold=0.5),
        multi_hot_scores(4), exact=ALL),
      e("f1_score_argmax", jm.F1Score(average="macro", num_classes=4),
        one_hot_scores(4, label_dtype=np.int32), weighted=True),
      e("fbeta_score", jm.FBetaScore(average="micro", beta=2.0, threshold=0.4),
        multi_hot_scores(3), exact=ALL),
      e("fbeta_score_weighted",
        jm.FBetaScore(average="weighted", beta=0.5, num_classes=3),
        one_hot_scores(3), weighted=True),
      e("weighted_precision", jm.WeightedPrecision(class_weights=(0.2, 0.3, 0.5)),
        sparse_scores(3), exact=ALL),
      e("weighted_precision_weighted",
        jm.WeightedPrecision(class_weights=(1.0, 2.0)), sparse_scores(2),
        weighted=True),
  ]
  entries += [
      # beyond Keras: the confusion table and multi-label rows
      e("cohen_kappa", jm.CohenKappa(4), sparse_scores(4), weighted=True),
      e("cohen_kappa_quadratic", jm.CohenKappa(
          3, weightage="quadratic", sparse_y_pred=True), class_ids(3),
        exact=ALL),
      e("matthews_correlation", jm.MatthewsCorrelationCoefficient(
          2, threshold=0.5), binary(), exact=ALL),
      e("balanced_accuracy", jm.BalancedAccuracy(4, sparse_y_pred=True),
        class_ids(4), weighted=True),
      e("specificity", jm.Specificity(3, average=None), sparse_scores(3),
        weighted=True),
      e("negative_predictive_value", jm.NegativePredictiveValue(
          4, average="weighted"), sparse_scores(4), exact=ALL),
      e("multi_label_confusion_matrix", jm.MultiLabelConfusionMatrix(4),
        multi_hot_scores(4), weighted=True),
      e("hamming_loss", jm.HammingLoss("multilabel", threshold=0.5),
        multi_hot_scores(4), weighted=True),
      e("exact_match", jm.ExactMatch(), multi_hot_scores(3),
        exact=("count",)),
      # calibration
      e("expected_calibration_error", jm.ExpectedCalibrationError(num_bins=5),
        binary(), weighted=True),
      e("maximum_calibration_error", jm.MaximumCalibrationError(
          num_bins=4, num_classes=3), sparse_scores(3), exact=("count",)),
      e("brier_score", jm.BrierScore(), sparse_scores(4), weighted=True),
      # one-vs-rest curves, on scores the 65-threshold grid keeps exactly
      e("multiclass_auroc", jm.MulticlassAUROC(4, num_thresholds=65),
        bucketed_scores(4), weighted=True),
      e("multiclass_average_precision", jm.MulticlassAveragePrecision(
          3, average="micro", num_thresholds=65), bucketed_scores(3),
        exact=ALL),
      # ranking (keras-rs); every list holds a relevant item, so a list's
      # weight never depends on how its batch is split
      e("ndcg", jm.NDCG(k=4), ranked_lists(6), weighted=True),
      e("dcg", jm.DCG(), ranked_lists(5), weighted=True),
      e("mean_reciprocal_rank", jm.MeanReciprocalRank(k=3), ranked_lists(6),
        exact=("count",)),
      e("ranking_mean_average_precision", jm.RankingMeanAveragePrecision(),
        ranked_lists(5), weighted=True),
      e("precision_at_k", jm.PrecisionAtK(k=2), ranked_lists(6),
        exact=("count",)),
      e("recall_at_k", jm.RecallAtK(k=3), ranked_lists(6), weighted=True),
      # language models (KerasHub), on token ids with padding id 0
      e("perplexity", jm.Perplexity(from_logits=True, mask_token_id=0),
        token_scores(7), weighted=True, weight_axes=2, atol=1e-5),
      e("perplexity_probabilities", jm.Perplexity(), token_scores(5, False),
        exact=("count",), atol=1e-5),
      e("masked_token_accuracy", jm.MaskedTokenAccuracy(mask_token_id=0),
        token_scores(6), weighted=True, weight_axes=2),
  ]
  entries += _segmentation_entries()
  entries += _composition_entries()
  return entries


def _segmentation_entries() -> list[harness.Case]:
  """IoU family and Dice, once ``jmetrics`` exports them."""
  e = entry
  candidates = {
      "ConfusionMatrix": lambda cls: [
          e("confusion_matrix", cls(num_classes=3), segmentation(3), exact=ALL),
          e("confusion_matrix_weighted", cls(num_classes=3, normalize="true"),
            segmentation(3), weighted=True, weight_axes=3)],
      "IoU": lambda cls: [
          e("iou", cls(num_classes=3, target_class_ids=[0, 2]),
            segmentation(3), exact=ALL),
          e("iou_weighted", cls(num_classes=3, target_class_ids=[1],
                                dtype="float32"),
            segmentation(3), weighted=True, weight_axes=3)],
      "BinaryIoU": lambda cls: [
          e("binary_iou", cls(threshold=0.4), binary_masks(), exact=ALL)],
      "MeanIoU": lambda cls: [
          e("mean_iou", cls(num_classes=4, ignore_class=0), segmentation(4),
            exact=ALL),
          e("mean_iou_weighted", cls(num_classes=3, dtype="float32"),
            segmentation(3), weighted=True, weight_axes=3),
          # A table of 1,600 cells: its totals take the native table add.
          e("mean_iou_40", cls(num_classes=40), segmentation(40), exact=ALL),
          e("mean_iou_40_weighted", cls(num_classes=40, dtype="float32"),
            segmentation(40), weighted=True, weight_axes=3)],
      "OneHotIoU": lambda cls: [
          e("one_hot_iou", cls(num_classes=3, target_class_ids=[0, 1]),
            one_hot_segmentation(3), exact=ALL)],
      "OneHotMeanIoU": lambda cls: [
          e("one_hot_mean_iou", cls(num_classes=3, dtype="float32"),
            one_hot_segmentation(3), weighted=True, weight_axes=3)],
      "Dice": lambda cls: [
          e("dice_binary", cls(), binary_masks(), exact=("true_sum",)),
          e("dice_soft", cls(num_classes=3, average="weighted"),
            segmentation(3, pred="probs"), weighted=True),
          e("dice_hard", cls(num_classes=3, average=None, sparse_y_pred=True),
            segmentation(3), exact=ALL)],
  }
  entries = []
  for name, make in candidates.items():
    if hasattr(jm, name):
      entries += make(getattr(jm, name))
  return entries


def _composition_entries() -> list[harness.Case]:
  """`Collection`, `Routed`, `Checked`, `Max` and `Min`, once ``jmetrics``
  exports them."""
  e = entry
  entries = []
  if hasattr(jm, "Collection"):
    entries += [
        e("collection", jm.Collection([jm.AUC(num_thresholds=50),
                                       jm.BinaryAccuracy()]),
          binary(), exact=("auc",)),
        e("collection_weighted",
          jm.Collection({"tp": jm.TruePositives(), "mse": jm.MeanSquaredError()}),
          binary((2,)), weighted=True)]
  if hasattr(jm, "Routed"):
    route = getattr(jm, "route", None)
    if route is None:
      from jmetrics._src.composition.collection import route  # pylint: disable=g-import-not-at-top
    entries.append(e("routed", route(jm.Mean(name="loss"), values="loss"),
                     values((2,)), weighted=True))
  if hasattr(jm, "Checked"):
    # The wrapper's delegation on every path. Its checks need checkify's
    # functionalisation, which the generic harness does not apply; they are
    # tests/test_edges.py's.
    inner = jm.MeanSquaredError()
    entries.append(harness.Case(
        "checked", jm.Checked(inner, finite=False, weights=False, labels=False),
        normal_pairs((3,)), keras=keras_twin(inner), weighted=True, atol=1e-6))
  for name in ("Max", "Min"):
    if hasattr(jm, name):
      entries.append(e(name.lower(), getattr(jm, name)(), values((3,)),
                       weighted=True, exact=("count",)))
  return entries


ENTRIES = _entries()


def public_metric_classes() -> dict[str, type]:
  """The classes the catalogue must cover: dataclass `jm.Metric`s in ``__all__``."""
  classes = {}
  for name in jm.__all__:
    obj = getattr(jm, name)
    if (inspect.isclass(obj) and issubclass(obj, jm.Metric)
        and dataclasses.is_dataclass(obj)):
      classes[name] = obj
  return classes


def missing_classes() -> list[str]:
  covered = {type(entry.metric) for entry in ENTRIES}
  return sorted(name for name, cls in public_metric_classes().items()
                if cls not in covered)
