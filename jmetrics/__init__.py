"""jmetrics: Keras' metrics catalogue as pure, jit-able, mergeable JAX functions."""

from jmetrics._src.base import LabelDomain
from jmetrics._src.base import Metric
from jmetrics._src.base import metric_dataclass
from jmetrics._src.base import SharedStep
from jmetrics._src.composition.checked import Checked
from jmetrics._src.composition.collection import Collection
from jmetrics._src.composition.collection import flatten_results
from jmetrics._src.composition.collection import Inputs
from jmetrics._src.composition.collection import inputs_of
from jmetrics._src.composition.collection import route
from jmetrics._src.composition.collection import Routed
from jmetrics._src.metrics.accuracy import Accuracy
from jmetrics._src.metrics.agreement import BalancedAccuracy
from jmetrics._src.metrics.agreement import ClassTableState
from jmetrics._src.metrics.agreement import CohenKappa
from jmetrics._src.metrics.agreement import MatthewsCorrelationCoefficient
from jmetrics._src.metrics.agreement import NegativePredictiveValue
from jmetrics._src.metrics.agreement import Specificity
from jmetrics._src.metrics.accuracy import binary_accuracy
from jmetrics._src.metrics.accuracy import BinaryAccuracy
from jmetrics._src.metrics.accuracy import categorical_accuracy
from jmetrics._src.metrics.accuracy import CategoricalAccuracy
from jmetrics._src.metrics.accuracy import sparse_categorical_accuracy
from jmetrics._src.metrics.accuracy import sparse_top_k_categorical_accuracy
from jmetrics._src.metrics.accuracy import SparseCategoricalAccuracy
from jmetrics._src.metrics.accuracy import SparseTopKCategoricalAccuracy
from jmetrics._src.metrics.accuracy import top_k_categorical_accuracy
from jmetrics._src.metrics.accuracy import TopKCategoricalAccuracy
from jmetrics._src.metrics.auc import AUC
from jmetrics._src.metrics.auc import Curve
from jmetrics._src.metrics.auc import MeanAveragePrecision
from jmetrics._src.metrics.auc import MeanAveragePrecisionState
from jmetrics._src.metrics.auc import roc_tie_bound
from jmetrics._src.metrics.calibration import BrierScore
from jmetrics._src.metrics.calibration import CalibrationState
from jmetrics._src.metrics.calibration import ExpectedCalibrationError
from jmetrics._src.metrics.calibration import MaximumCalibrationError
from jmetrics._src.metrics.calibration import Reliability
from jmetrics._src.metrics.confusion import ConfusionCountState
from jmetrics._src.metrics.confusion import FalseNegatives
from jmetrics._src.metrics.confusion import FalsePositives
from jmetrics._src.metrics.confusion import Precision
from jmetrics._src.metrics.confusion import PrecisionAtRecall
from jmetrics._src.metrics.confusion import PrecisionState
from jmetrics._src.metrics.confusion import Recall
from jmetrics._src.metrics.confusion import RecallAtPrecision
from jmetrics._src.metrics.confusion import RecallState
from jmetrics._src.metrics.confusion import SensitivityAtSpecificity
from jmetrics._src.metrics.confusion import SpecificityAtSensitivity
from jmetrics._src.metrics.confusion import TrueNegatives
from jmetrics._src.metrics.confusion import TruePositives
from jmetrics._src.metrics.dice import Dice
from jmetrics._src.metrics.dice import DiceState
from jmetrics._src.metrics.f_score import F1Score
from jmetrics._src.metrics.f_score import F1ScoreState
from jmetrics._src.metrics.f_score import FBetaScore
from jmetrics._src.metrics.f_score import FBetaScoreState
from jmetrics._src.metrics.f_score import WeightedPrecision
from jmetrics._src.metrics.f_score import WeightedPrecisionState
from jmetrics._src.metrics.hinge import categorical_hinge
from jmetrics._src.metrics.hinge import CategoricalHinge
from jmetrics._src.metrics.hinge import Hinge
from jmetrics._src.metrics.hinge import hinge
from jmetrics._src.metrics.hinge import squared_hinge
from jmetrics._src.metrics.hinge import SquaredHinge
from jmetrics._src.metrics.iou import BinaryIoU
from jmetrics._src.metrics.iou import ConfusionMatrix
from jmetrics._src.metrics.iou import ConfusionMatrixState
from jmetrics._src.metrics.iou import IoU
from jmetrics._src.metrics.iou import IoUState
from jmetrics._src.metrics.iou import MeanIoU
from jmetrics._src.metrics.iou import OneHotIoU
from jmetrics._src.metrics.iou import OneHotMeanIoU
from jmetrics._src.metrics.language import MaskedTokenAccuracy
from jmetrics._src.metrics.language import Perplexity
from jmetrics._src.metrics.multilabel import ExactMatch
from jmetrics._src.metrics.multilabel import HammingLoss
from jmetrics._src.metrics.multilabel import MultiLabelConfusionMatrix
from jmetrics._src.metrics.multilabel import MultiLabelConfusionMatrixState
from jmetrics._src.metrics.one_vs_rest import MulticlassAUROC
from jmetrics._src.metrics.one_vs_rest import MulticlassAveragePrecision
from jmetrics._src.metrics.one_vs_rest import OneVsRestState
from jmetrics._src.metrics.probabilistic import binary_crossentropy
from jmetrics._src.metrics.probabilistic import BinaryCrossentropy
from jmetrics._src.metrics.probabilistic import categorical_crossentropy
from jmetrics._src.metrics.probabilistic import CategoricalCrossentropy
from jmetrics._src.metrics.probabilistic import kl_divergence
from jmetrics._src.metrics.probabilistic import KLDivergence
from jmetrics._src.metrics.probabilistic import Poisson
from jmetrics._src.metrics.probabilistic import poisson
from jmetrics._src.metrics.probabilistic import sparse_categorical_crossentropy
from jmetrics._src.metrics.probabilistic import SparseCategoricalCrossentropy
from jmetrics._src.metrics.reduction import Max
from jmetrics._src.metrics.reduction import Mean
from jmetrics._src.metrics.reduction import MeanMetricWrapper
from jmetrics._src.metrics.reduction import MeanState
from jmetrics._src.metrics.reduction import MeanTensor
from jmetrics._src.metrics.reduction import Min
from jmetrics._src.metrics.reduction import SampleMeanMetric
from jmetrics._src.metrics.reduction import Sum
from jmetrics._src.metrics.regression import concordance_correlation
from jmetrics._src.metrics.regression import ConcordanceCorrelation
from jmetrics._src.metrics.regression import cosine_similarity
from jmetrics._src.metrics.regression import CosineSimilarity
from jmetrics._src.metrics.regression import huber
from jmetrics._src.metrics.regression import log_cosh
from jmetrics._src.metrics.regression import LogCoshError
from jmetrics._src.metrics.regression import mean_absolute_error
from jmetrics._src.metrics.regression import mean_absolute_percentage_error
from jmetrics._src.metrics.regression import mean_squared_error
from jmetrics._src.metrics.regression import mean_squared_logarithmic_error
from jmetrics._src.metrics.regression import MeanAbsoluteError
from jmetrics._src.metrics.regression import MeanAbsolutePercentageError
from jmetrics._src.metrics.regression import MeanSquaredError
from jmetrics._src.metrics.regression import MeanSquaredLogarithmicError
from jmetrics._src.metrics.regression import pearson_correlation
from jmetrics._src.metrics.regression import PearsonCorrelation
from jmetrics._src.metrics.ranking import DCG
from jmetrics._src.metrics.ranking import MeanReciprocalRank
from jmetrics._src.metrics.ranking import NDCG
from jmetrics._src.metrics.ranking import PrecisionAtK
from jmetrics._src.metrics.ranking import RankingMeanAveragePrecision
from jmetrics._src.metrics.ranking import RecallAtK
from jmetrics._src.metrics.regression import R2Score
from jmetrics._src.metrics.regression import R2ScoreState
from jmetrics._src.metrics.regression import RootMeanSquaredError
from jmetrics._src.metrics.thresholds import ConfusionState
from jmetrics._src.numerics.wide import Wide
from jmetrics.stateful import Stateful
from jmetrics._src.composition.registry import get
from jmetrics._src.numerics.distributed import pad_to_multiple

__version__ = "0.1.0"

__all__ = (
    "AUC",
    "Accuracy",
    "BalancedAccuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "BrierScore",
    "CalibrationState",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "Checked",
    "ClassTableState",
    "CohenKappa",
    "Collection",
    "ConcordanceCorrelation",
    "ConfusionCountState",
    "ConfusionMatrix",
    "ConfusionMatrixState",
    "ConfusionState",
    "CosineSimilarity",
    "Curve",
    "DCG",
    "Dice",
    "DiceState",
    "ExactMatch",
    "ExpectedCalibrationError",
    "F1Score",
    "F1ScoreState",
    "FBetaScore",
    "FBetaScoreState",
    "FalseNegatives",
    "FalsePositives",
    "HammingLoss",
    "Hinge",
    "Inputs",
    "IoU",
    "IoUState",
    "KLDivergence",
    "LabelDomain",
    "LogCoshError",
    "MaskedTokenAccuracy",
    "MatthewsCorrelationCoefficient",
    "Max",
    "MaximumCalibrationError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanAveragePrecision",
    "MeanAveragePrecisionState",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanReciprocalRank",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "MeanState",
    "MeanTensor",
    "Metric",
    "Min",
    "MultiLabelConfusionMatrix",
    "MultiLabelConfusionMatrixState",
    "MulticlassAUROC",
    "MulticlassAveragePrecision",
    "NDCG",
    "NegativePredictiveValue",
    "OneHotIoU",
    "OneHotMeanIoU",
    "OneVsRestState",
    "PearsonCorrelation",
    "Perplexity",
    "Poisson",
    "Precision",
    "PrecisionAtK",
    "PrecisionAtRecall",
    "PrecisionState",
    "R2Score",
    "R2ScoreState",
    "RankingMeanAveragePrecision",
    "Recall",
    "RecallAtK",
    "RecallAtPrecision",
    "RecallState",
    "Reliability",
    "RootMeanSquaredError",
    "Routed",
    "SampleMeanMetric",
    "SensitivityAtSpecificity",
    "SharedStep",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "Specificity",
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
