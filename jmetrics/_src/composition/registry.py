"""`get`: a metric from a string identifier, as in ``compile(metrics=[...])``."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from jmetrics._src import base
from jmetrics._src.metrics import reduction

# Short names Keras users type, mapped to the class they mean.
ALIASES = {
    "acc": "Accuracy",
    "mse": "MeanSquaredError",
    "rmse": "RootMeanSquaredError",
    "mae": "MeanAbsoluteError",
    "mape": "MeanAbsolutePercentageError",
    "msle": "MeanSquaredLogarithmicError",
    "bce": "BinaryCrossentropy",
    "cce": "CategoricalCrossentropy",
    "scce": "SparseCategoricalCrossentropy",
    "kld": "KLDivergence",
    "kullback_leibler_divergence": "KLDivergence",
    "logcosh": "LogCoshError",
    "r2": "R2Score",
    "top_k_accuracy": "TopKCategoricalAccuracy",
    "iou": "IoU",
}


def _key(name: str) -> str:
  return name.lower().replace("_", "")


def catalogue() -> dict[str, type]:
  """Public metric classes of the package, by class name."""
  return dict(base.REGISTERED)


def get(identifier: Any) -> base.Metric | None:
  """Returns a default-configured metric for ``identifier``.

  Args:
    identifier: a metric object (returned as is), a class name
      (``"MeanSquaredError"``), its snake_case name (``"mean_squared_error"``),
      a common short name (``"mse"``, ``"mae"``, ``"acc"``, ...), a metric
      class, a plain callable ``fn(y_true, y_pred)`` (wrapped in
      `MeanMetricWrapper` under its ``__name__``), or ``None``.

  Returns:
    The metric, or ``None`` for ``None``.

  Raises:
    ValueError: for an unknown name (listing close matches) or a metric whose
      constructor has required arguments (e.g. ``MeanIoU`` needs
      ``num_classes``).

  Examples:
    >>> import jmetrics as jm
    >>> jm.get("mse")
    MeanSquaredError(name='mean_squared_error', dtype=None)
    >>> jm.get("sparse_categorical_accuracy").name
    'sparse_categorical_accuracy'
  """
  if identifier is None or isinstance(identifier, base.Metric):
    return identifier
  if inspect.isclass(identifier) and issubclass(identifier, base.Metric):
    return _construct(identifier)
  if callable(identifier):
    return reduction.MeanMetricWrapper(
        identifier, name=getattr(identifier, "__name__", None))
  if not isinstance(identifier, str):
    raise ValueError(f"get: cannot interpret {identifier!r} as a metric")
  classes = catalogue()
  by_key = {_key(name): cls for name, cls in classes.items()}
  by_key.update({_key(alias): classes[target] for alias, target in ALIASES.items()
                 if target in classes})
  cls = by_key.get(_key(identifier))
  if cls is None:
    names = sorted(classes) + sorted(base.snake_case(n) for n in classes)
    names += sorted(ALIASES)
    close = difflib.get_close_matches(identifier, names, n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"get: unknown metric {identifier!r}{hint}")
  return _construct(cls)


def _construct(cls):
  try:
    return cls()
  except (TypeError, ValueError) as e:
    raise ValueError(f"get: {cls.__name__} has required arguments and cannot be "
                     f"built from its name alone ({e}); construct it directly")
