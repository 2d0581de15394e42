"""Language-model metrics: `Perplexity` (as KerasHub's) and
`MaskedTokenAccuracy`.

Inputs are token ids ``(batch, seq)`` and scores ``(batch, seq, vocab)``;
``mask_token_id`` leaves out the tokens whose label is that id (padding).
Totals are exact `Wide` pairs, so the token count stays exact over runs of
any length and the summed cross-entropy is rounded once per batch.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jmetrics._src import base
from jmetrics._src.metrics import accuracy
from jmetrics._src.metrics import probabilistic
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide

_F32 = jnp.float32
_TOKEN_ID = base.integer(optional=True, message="mask_token_id must be None or "
                         "an integer token id, got {value!r}")


def _token_weights(metric, y_true, sample_weight):
  """Per-token weights: ``sample_weight`` (broadcast to the tokens) times
  ``y_true != mask_token_id``; None where both are absent."""
  y_true = jnp.asarray(y_true)
  if sample_weight is not None:
    weight = checks.as_float(sample_weight)
    checks.check_broadcast(metric, "sample_weight", weight, y_true.shape,
                           given=sample_weight)
    sample_weight = jnp.broadcast_to(weight, y_true.shape)
  if metric.mask_token_id is None:
    return sample_weight
  kept = (y_true.astype(_F32) != metric.mask_token_id).astype(_F32)
  return kept if sample_weight is None else kept * sample_weight


@base.metric_dataclass
class Perplexity(base.Metric):
  """Perplexity of a language model, as ``keras_hub.metrics.Perplexity``.

  ``exp(sum(w * crossentropy) / sum(w))`` over every token seen, with the
  sparse categorical cross-entropy of each token's scores (probabilities,
  or logits with ``from_logits``) and weights ``w`` from ``sample_weight``
  and ``mask_token_id`` (1 per token without either). 0 on an empty state,
  as KerasHub's.

  Args:
    from_logits: whether ``y_pred`` holds logits.
    mask_token_id: ``None`` or the label id of tokens to leave out.
    name: key of the metric (default ``"perplexity"``).
    dtype: the result's dtype (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.Perplexity(from_logits=True, mask_token_id=0)
    >>> state = m.update(m.init(), [[1, 2, 0]],
    ...                  [[[0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [5.0, 0.0, 0.0]]])
    >>> round(float(m.compute(state)), 4)  # both kept tokens: 1 + 2 e**-2
    1.2707
  """

  from_logits: bool = False
  mask_token_id: Any = None
  name: str = None
  dtype: Any = None

  config_checks = {"from_logits": base.boolean(), "mask_token_id": _TOKEN_ID}

  def init(self) -> reduction.MeanState:
    return reduction.mean_init()

  def update(self, state: reduction.MeanState, y_true, y_pred,
             sample_weight=None) -> reduction.MeanState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: token ids ``(batch, seq)`` (any shape ``(...)``).
      y_pred: scores ``(..., vocab)``.
      sample_weight: ``None``, a scalar or weights broadcastable to
        ``y_true``.

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, if the shapes do not fit.
    """
    return self._add(state, y_true, y_pred, sample_weight, keep=None)

  def masked_update(self, state: reduction.MeanState, y_true, y_pred, *,
                    mask, sample_weight=None) -> reduction.MeanState:
    """`update` without the rows where the ``(batch,)`` ``mask`` is False
    (what they hold is never read)."""
    keep = base.as_mask(self, mask, (y_true, y_pred))
    if keep.ndim == 0:
      return base.select(keep, self.update(state, y_true, y_pred,
                                           sample_weight), state)
    return self._add(state, y_true, y_pred, sample_weight, keep=keep)

  def _add(self, state, y_true, y_pred, sample_weight, keep):
    """Adds ``sum(w * crossentropy)`` and ``sum(w)`` over the tokens (of
    the rows ``keep`` holds): KerasHub's sums, token by token."""
    crossentropy = probabilistic.SparseCategoricalCrossentropy(
        from_logits=self.from_logits, name=self.name).values(y_true, y_pred)
    weights = _token_weights(self, y_true, sample_weight)
    kept = None if keep is None else base.row_mask(keep, crossentropy.ndim)
    if weights is None and kept is None:
      return reduction.MeanState(
          wide.wide_add(state.total, jnp.sum(crossentropy)),
          wide.wide_add_int(state.count, crossentropy.size))
    if weights is None:
      weights = jnp.ones_like(crossentropy)
    weights = jnp.broadcast_to(weights, crossentropy.shape)
    terms = weights * crossentropy
    if kept is not None:  # where, so NaN in a left-out row never leaks
      terms = jnp.where(kept, terms, 0.0)
      weights = jnp.where(kept, weights, 0.0)
    return reduction.MeanState(wide.wide_add(state.total, jnp.sum(terms)),
                               wide.wide_add(state.count, jnp.sum(weights)))

  def compute(self, state: reduction.MeanState) -> jax.Array:
    count = wide.wide_value(state.count)
    mean = wide.wide_value(state.total) / jnp.where(count == 0, 1.0, count)
    return self.result_dtype(jnp.where(count == 0, 0.0, jnp.exp(mean)))


@base.metric_dataclass
class MaskedTokenAccuracy(accuracy.SparseCategoricalAccuracy):
  """Token accuracy with padding left out.

  `SparseCategoricalAccuracy` of token ids ``(batch, seq)`` against scores
  ``(batch, seq, vocab)``, with the tokens whose label is ``mask_token_id``
  weighted 0: Keras' ``SparseCategoricalAccuracy`` given ``sample_weight *
  (y_true != mask_token_id)``, the accuracy of a masked language model's
  kept tokens (as Keras', a row counts with its mean weight, so over
  batches of one sequence length this is the kept tokens' weighted
  accuracy). In a `Collection` it shares the row statistics of the
  scores with the other sparse row metrics.

  Args:
    mask_token_id: ``None`` or the label id of tokens to leave out (by
      keyword).
    name: key of the metric (default ``"masked_token_accuracy"``).
    dtype: the result's dtype (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MaskedTokenAccuracy(mask_token_id=0)
    >>> state = m.update(m.init(), [[1, 2, 0, 0]],
    ...                  [[[0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]]])
    >>> float(m.compute(state))  # 1 of the 2 kept tokens
    0.5
  """

  mask_token_id: Any = None
  name: str = None

  # Fields follow the inherited ones, so a positional token id would land
  # in ``name``: a name that is not a string says so.
  config_checks = {
      "mask_token_id": _TOKEN_ID,
      "name": base.Check(
          test=lambda value: isinstance(value, str), optional=True,
          message="name must be a string (give mask_token_id by keyword), "
          "got {value!r}"),
  }

  def sample_weights(self, y_true, y_pred, sample_weight):
    del y_pred
    return _token_weights(self, y_true, sample_weight)
