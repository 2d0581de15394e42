"""jmetrics: Keras' metrics catalogue as pure, jit-able, mergeable JAX functions."""

from jmetrics._src.base import Metric
from jmetrics._src.base import metric_dataclass
from jmetrics._src.reduction import Mean
from jmetrics._src.reduction import MeanMetricWrapper
from jmetrics._src.reduction import MeanState
from jmetrics._src.reduction import MeanTensor
from jmetrics._src.reduction import SampleMeanMetric
from jmetrics._src.reduction import Sum
from jmetrics._src.registry import get
from jmetrics._src.wide import Wide

__version__ = "0.1.0"

__all__ = (
    "Mean",
    "MeanMetricWrapper",
    "MeanState",
    "MeanTensor",
    "Metric",
    "SampleMeanMetric",
    "Sum",
    "Wide",
    "get",
    "metric_dataclass",
)
