"""jmetrics: Keras' metrics catalogue as pure, jit-able, mergeable JAX functions."""

from jmetrics._src.base import Metric
from jmetrics._src.base import metric_dataclass
from jmetrics._src.wide import Wide
from jmetrics._src.reduction import Mean
from jmetrics._src.reduction import MeanMetricWrapper
from jmetrics._src.reduction import MeanState
from jmetrics._src.reduction import MeanTensor
from jmetrics._src.reduction import SampleMeanMetric
from jmetrics._src.reduction import Sum
from jmetrics._src.accuracy import Accuracy
from jmetrics._src.accuracy import BinaryAccuracy
from jmetrics._src.accuracy import CategoricalAccuracy
from jmetrics._src.accuracy import SparseCategoricalAccuracy
from jmetrics._src.accuracy import SparseTopKCategoricalAccuracy
from jmetrics._src.accuracy import TopKCategoricalAccuracy
from jmetrics._src.accuracy import binary_accuracy
from jmetrics._src.accuracy import categorical_accuracy
from jmetrics._src.accuracy import sparse_categorical_accuracy
from jmetrics._src.accuracy import sparse_top_k_categorical_accuracy
from jmetrics._src.accuracy import top_k_categorical_accuracy
from jmetrics._src.probabilistic import BinaryCrossentropy
from jmetrics._src.probabilistic import CategoricalCrossentropy
from jmetrics._src.probabilistic import KLDivergence
from jmetrics._src.probabilistic import Poisson
from jmetrics._src.probabilistic import SparseCategoricalCrossentropy
from jmetrics._src.probabilistic import binary_crossentropy
from jmetrics._src.probabilistic import categorical_crossentropy
from jmetrics._src.probabilistic import kl_divergence
from jmetrics._src.probabilistic import poisson
from jmetrics._src.probabilistic import sparse_categorical_crossentropy
from jmetrics._src.regression import ConcordanceCorrelation
from jmetrics._src.regression import CosineSimilarity
from jmetrics._src.regression import LogCoshError
from jmetrics._src.regression import MeanAbsoluteError
from jmetrics._src.regression import MeanAbsolutePercentageError
from jmetrics._src.regression import MeanSquaredError
from jmetrics._src.regression import MeanSquaredLogarithmicError
from jmetrics._src.regression import PearsonCorrelation
from jmetrics._src.regression import R2Score
from jmetrics._src.regression import R2ScoreState
from jmetrics._src.regression import RootMeanSquaredError
from jmetrics._src.regression import concordance_correlation
from jmetrics._src.regression import cosine_similarity
from jmetrics._src.regression import huber
from jmetrics._src.regression import log_cosh
from jmetrics._src.regression import mean_absolute_error
from jmetrics._src.regression import mean_absolute_percentage_error
from jmetrics._src.regression import mean_squared_error
from jmetrics._src.regression import mean_squared_logarithmic_error
from jmetrics._src.regression import pearson_correlation
from jmetrics._src.hinge import CategoricalHinge
from jmetrics._src.hinge import Hinge
from jmetrics._src.hinge import SquaredHinge
from jmetrics._src.hinge import categorical_hinge
from jmetrics._src.hinge import hinge
from jmetrics._src.hinge import squared_hinge
from jmetrics._src.thresholds import ConfusionState
from jmetrics._src.confusion import ConfusionCountState
from jmetrics._src.confusion import FalseNegatives
from jmetrics._src.confusion import FalsePositives
from jmetrics._src.confusion import Precision
from jmetrics._src.confusion import PrecisionAtRecall
from jmetrics._src.confusion import PrecisionState
from jmetrics._src.confusion import Recall
from jmetrics._src.confusion import RecallAtPrecision
from jmetrics._src.confusion import RecallState
from jmetrics._src.confusion import SensitivityAtSpecificity
from jmetrics._src.confusion import SpecificityAtSensitivity
from jmetrics._src.confusion import TrueNegatives
from jmetrics._src.confusion import TruePositives
from jmetrics._src.auc import AUC
from jmetrics._src.auc import Curve
from jmetrics._src.auc import MeanAveragePrecision
from jmetrics._src.auc import MeanAveragePrecisionState
from jmetrics._src.auc import roc_tie_bound
from jmetrics._src.f_score import F1Score
from jmetrics._src.f_score import F1ScoreState
from jmetrics._src.f_score import FBetaScore
from jmetrics._src.f_score import FBetaScoreState
from jmetrics._src.f_score import WeightedPrecision
from jmetrics._src.f_score import WeightedPrecisionState
from jmetrics._src.iou import BinaryIoU
from jmetrics._src.iou import ConfusionMatrix
from jmetrics._src.iou import ConfusionMatrixState
from jmetrics._src.iou import IoU
from jmetrics._src.iou import IoUState
from jmetrics._src.iou import MeanIoU
from jmetrics._src.iou import OneHotIoU
from jmetrics._src.iou import OneHotMeanIoU
from jmetrics._src.dice import Dice
from jmetrics._src.dice import DiceState
from jmetrics._src.collection import Collection
from jmetrics._src.collection import Inputs
from jmetrics._src.collection import Routed
from jmetrics._src.collection import flatten_results
from jmetrics._src.collection import inputs_of
from jmetrics._src.collection import route
from jmetrics._src.records import Max
from jmetrics._src.records import Min
from jmetrics.stateful import Stateful
from jmetrics._src.distributed import pad_to_multiple
from jmetrics._src.registry import get

__version__ = "0.1.0"

__all__ = (
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "Collection",
    "ConcordanceCorrelation",
    "ConfusionCountState",
    "ConfusionMatrix",
    "ConfusionMatrixState",
    "ConfusionState",
    "CosineSimilarity",
    "Curve",
    "Dice",
    "DiceState",
    "F1Score",
    "F1ScoreState",
    "FBetaScore",
    "FBetaScoreState",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "Inputs",
    "IoU",
    "IoUState",
    "KLDivergence",
    "LogCoshError",
    "Max",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanAveragePrecision",
    "MeanAveragePrecisionState",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "MeanState",
    "MeanTensor",
    "Metric",
    "Min",
    "OneHotIoU",
    "OneHotMeanIoU",
    "PearsonCorrelation",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "PrecisionState",
    "R2Score",
    "R2ScoreState",
    "Recall",
    "RecallAtPrecision",
    "RecallState",
    "RootMeanSquaredError",
    "Routed",
    "SampleMeanMetric",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Stateful",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "WeightedPrecision",
    "WeightedPrecisionState",
    "Wide",
    "binary_accuracy",
    "binary_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "categorical_hinge",
    "concordance_correlation",
    "cosine_similarity",
    "flatten_results",
    "get",
    "hinge",
    "huber",
    "inputs_of",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "metric_dataclass",
    "pad_to_multiple",
    "pearson_correlation",
    "poisson",
    "roc_tie_bound",
    "route",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "squared_hinge",
    "top_k_categorical_accuracy",
)

# Register the installed native CPU kernels now, so that a missing build warns
# once at import rather than inside a user's first trace.
from jmetrics._src import kernels as _kernels  # pylint: disable=g-bad-import-order
_kernels.available()
del _kernels
