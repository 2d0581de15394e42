"""Perplexity and MaskedTokenAccuracy against KerasHub and Keras."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # pylint: disable=g-import-not-at-top
import keras
import keras_hub
import numpy as np
import pytest

import jmetrics as jm


def keras_twin(metric):
  """``() -> keras metric`` that computes what ``metric`` does."""
  if isinstance(metric, jm.Perplexity):
    return lambda: keras_hub.metrics.Perplexity(
        from_logits=metric.from_logits, mask_token_id=metric.mask_token_id)
  return _MaskedAccuracy(metric.mask_token_id)


class _MaskedAccuracy:
  """Keras' SparseCategoricalAccuracy given ``w * (y != mask_token_id)``."""

  def __init__(self, mask_token_id):
    self.mask_token_id = mask_token_id

  def __call__(self):
    self.twin = keras.metrics.SparseCategoricalAccuracy()
    return self

  def update_state(self, y_true, y_pred, sample_weight=None):
    y_true = np.asarray(y_true)
    weight = np.ones(y_true.shape, np.float32)
    if sample_weight is not None:
      weight = weight * np.asarray(sample_weight, np.float32)
    if self.mask_token_id is not None:
      weight = weight * (y_true != self.mask_token_id)
    self.twin.update_state(y_true, y_pred, sample_weight=weight)

  def result(self):
    return self.twin.result()


def reference(metric):
  """The catalogue's oracle: the Keras twin over the same batches."""
  def run(batches):
    twin = keras_twin(metric)()
    for args, weight in batches:
      twin.update_state(*args, sample_weight=weight)
    return np.asarray(twin.result())
  return run


def tokens(vocab, seq=6, logits=True):
  """Token ids ``(n, seq)`` (about a fifth the padding id 0) and scores
  ``(n, seq, vocab)``: logits, or probabilities."""
  def make(rng, n):
    labels = rng.integers(1, vocab, (n, seq))
    labels = np.where(rng.random(labels.shape) < 0.2, 0, labels)
    scores = rng.normal(size=(n, seq, vocab)) * 2.0
    if not logits:
      scores = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    return labels.astype(np.int32), scores.astype(np.float32)
  return make


METRICS = [
    jm.Perplexity(from_logits=True),
    jm.Perplexity(from_logits=True, mask_token_id=0),
    jm.Perplexity(mask_token_id=0),
    jm.MaskedTokenAccuracy(mask_token_id=0),
    jm.MaskedTokenAccuracy(),
]


def _batches(metric, weighted, seed=0):
  rng = np.random.default_rng(seed)
  make = tokens(7, logits=getattr(metric, "from_logits", True))
  batches = []
  for n in (5, 8, 3):
    args = make(rng, n)
    weight = None
    if weighted:
      weight = rng.uniform(0.0, 2.0, args[0].shape).astype(np.float32)
      weight[rng.random(weight.shape) < 0.2] = 0.0
    batches.append((args, weight))
  return batches


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("metric", METRICS, ids=repr)
def test_matches_keras_eager_jit_and_merged(metric, weighted):
  batches = _batches(metric, weighted)
  expected = reference(metric)(batches)
  eager = metric.init()
  for args, weight in batches:
    eager = metric.update(eager, *args, sample_weight=weight)
  update = jax.jit(metric.update)
  jitted = metric.init()
  for args, weight in batches:
    jitted = update(jitted, *args, sample_weight=weight)
  parts = [metric.update(metric.init(), *args, sample_weight=weight)
           for args, weight in batches]
  merged = parts[0]
  for part in parts[1:]:
    merged = metric.merge(merged, part)
  for state in (eager, jitted, merged):
    np.testing.assert_allclose(metric.compute(state), expected, rtol=1e-5)


def test_empty_perplexity_is_zero_as_keras_hub():
  metric = jm.Perplexity(from_logits=True, mask_token_id=0)
  expected = float(keras_hub.metrics.Perplexity(from_logits=True).result())
  assert float(metric.compute(metric.init())) == expected == 0.0
  labels = np.zeros((2, 3), np.int32)  # every token padding
  state = metric.update(metric.init(), labels, np.zeros((2, 3, 4), np.float32))
  assert float(metric.compute(state)) == 0.0


def test_token_count_is_exact_past_float32():
  """A 2^24 count then 8 merged states of one right token in two (a row
  counts its mean weight, as Keras'): a float32 count stays at 2^24, one
  +1/2 after another."""
  metric = jm.MaskedTokenAccuracy(mask_token_id=0)
  wrong = np.eye(3, dtype=np.float32)[[[2, 2]]]
  state = metric.update(metric.init(), np.array([[1, 0]], np.int32), wrong,
                        sample_weight=np.array([[2.0 ** 25, 1.0]], np.float32))
  one_right = metric.update(metric.init(), np.array([[1, 0]], np.int32),
                            np.eye(3, dtype=np.float32)[[[1, 1]]])
  merge = jax.jit(metric.merge)
  for _ in range(8):
    state = merge(state, one_right)
  result = float(metric.compute(state))
  np.testing.assert_allclose(result, 4 / (2.0 ** 24 + 4), rtol=1e-7)
  assert result != np.float32(4 / 2.0 ** 24)


def test_errors_name_the_metric_and_argument():
  with pytest.raises(ValueError, match="MaskedTokenAccuracy: name must be a "
                     "string"):
    jm.MaskedTokenAccuracy(0)
  with pytest.raises(ValueError, match="Perplexity: mask_token_id"):
    jm.Perplexity(mask_token_id=1.5)
  metric = jm.Perplexity(from_logits=True)
  with pytest.raises(ValueError, match="Perplexity.*sample_weight"):
    metric.update(metric.init(), np.ones((2, 3), np.int32),
                  np.zeros((2, 3, 4), np.float32),
                  sample_weight=np.ones((3, 2), np.float32))


def test_perplexity_counts_tokens_over_batches_of_any_length():
  """KerasHub sums token by token: a batch of longer sequences weighs more."""
  rng = np.random.default_rng(3)
  metric = jm.Perplexity(from_logits=True, mask_token_id=0)
  twin = keras_hub.metrics.Perplexity(from_logits=True, mask_token_id=0)
  state = metric.init()
  for seq in (2, 9, 4):
    labels, scores = tokens(5, seq=seq)(rng, 3)
    weight = rng.uniform(0.5, 2.0, labels.shape).astype(np.float32)
    twin.update_state(labels, scores, sample_weight=weight)
    state = metric.update(state, labels, scores, sample_weight=weight)
  np.testing.assert_allclose(metric.compute(state), twin.result(), rtol=1e-5)
