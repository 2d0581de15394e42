"""`Collection` and `route`: a collection of metrics is itself a metric.

Oracles: each member metric run on its own, eagerly, on the same batches, and
NumPy for the simple means.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jmetrics as jm
from jmetrics._src import base
from jmetrics._src.composition.collection import Collection
from jmetrics._src.composition.collection import flatten_results
from jmetrics._src.composition.collection import Inputs
from jmetrics._src.composition.collection import inputs_of
from jmetrics._src.composition.collection import route
from jmetrics._src.composition.collection import Routed
from jmetrics._src.metrics.reduction import Max
from jmetrics._src.metrics.reduction import Min
from jmetrics._src.numerics import wide
from tests import harness

N_CLASSES = 4


def _batches(seed=0, n_batches=4, batch=16, weighted=False):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n_batches):
    labels = rng.integers(0, N_CLASSES, batch).astype(np.int32)
    logits = rng.normal(size=(batch, N_CLASSES)).astype(np.float32)
    probs = np.asarray(jax.nn.softmax(logits))
    loss = -np.log(probs[np.arange(batch), labels])
    weight = rng.uniform(0, 2, batch).astype(np.float32) if weighted else None
    out.append(dict(y_true=labels, y_pred=logits, loss=loss.astype(np.float32),
                    onehot=np.eye(N_CLASSES, dtype=np.float32)[labels], probs=probs,
                    sample_weight=weight))
  return out


def _collection():
  return Collection({
      "loss": route(jm.Mean(), values="loss"),
      "accuracy": jm.SparseCategoricalAccuracy(),
      "auc": route(jm.AUC(num_thresholds=50), y_true="onehot", y_pred="probs"),
      "top2": jm.SparseTopKCategoricalAccuracy(k=2),
  })


def _reference(batches):
  """Each member eagerly on its own, plus NumPy means."""
  members = {
      "loss": (jm.Mean(), lambda b: dict(values=b["loss"])),
      "accuracy": (jm.SparseCategoricalAccuracy(),
                   lambda b: dict(y_true=b["y_true"], y_pred=b["y_pred"])),
      "auc": (jm.AUC(num_thresholds=50),
              lambda b: dict(y_true=b["onehot"], y_pred=b["probs"])),
      "top2": (jm.SparseTopKCategoricalAccuracy(k=2),
               lambda b: dict(y_true=b["y_true"], y_pred=b["y_pred"])),
  }
  out = {}
  for key, (metric, args) in members.items():
    state = metric.init()
    for b in batches:
      state = metric.update(state, **args(b), sample_weight=b["sample_weight"])
    out[key] = np.asarray(metric.compute(state))
  return out


def _numpy_means(batches):
  w = np.concatenate([np.ones(len(b["loss"])) if b["sample_weight"] is None
                      else b["sample_weight"] for b in batches])
  loss = np.concatenate([b["loss"] for b in batches])
  correct = np.concatenate([np.argmax(b["y_pred"], -1) == b["y_true"] for b in batches])
  return {"loss": np.sum(w * loss) / np.sum(w),
          "accuracy": np.sum(w * correct) / np.sum(w)}


def _assert_results(got, expected, rtol=1e-6, atol=1e-6):
  assert sorted(got) == sorted(expected)  # jit returns dicts key-sorted
  for key in expected:
    np.testing.assert_allclose(np.asarray(got[key]), expected[key], rtol=rtol,
                               atol=atol, err_msg=key)


# -- construction -------------------------------------------------------------

def test_members_from_objects_strings_lists_and_tuples():
  c = Collection(["mse", jm.MeanAbsoluteError(name="mae"),
                  (jm.Mean(name="loss"), {"values": "loss"})])
  assert c.names == ("mean_squared_error", "mae", "loss")
  assert c["mean_squared_error"] == jm.MeanSquaredError()
  assert c["loss"] == route(jm.Mean(name="loss"), values="loss")
  assert "mae" in c and "nope" not in c
  assert c.inputs() == Inputs(("y_true", "y_pred", "loss"), ("sample_weight",))
  d = Collection({"a": jm.AUC, "b": "binary_accuracy"})
  assert d.metrics == {"a": jm.AUC(), "b": jm.BinaryAccuracy()}


def test_duplicate_and_invalid_members_are_rejected():
  with pytest.raises(ValueError, match="duplicate metric name 'mean_squared_error'"):
    Collection(["mse", jm.MeanSquaredError()])
  with pytest.raises(ValueError, match="duplicate metric name 'loss'"):
    Collection([jm.Mean(name="loss"), jm.Sum(name="loss")])
  with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
    Collection(["acuracy"])
  with pytest.raises(ValueError, match="expected a dict"):
    Collection(jm.Mean())
  with pytest.raises(ValueError, match="non-empty strings"):
    Collection({1: jm.Mean()})
  with pytest.raises(ValueError, match="None is not a metric"):
    Collection({"x": None})
  with pytest.raises(KeyError, match="no metric 'x'"):
    Collection(["mse"])["x"]


def test_configs_hash_and_share_compilations():
  assert _collection() == _collection() and hash(_collection()) == hash(_collection())
  assert _collection() != Collection(["mse"])
  assert jax.tree.leaves(_collection()) == []
  traces = []

  @jax.jit
  def step(metrics, state, batch):
    traces.append(1)
    return metrics.update(state, **batch)

  batch = {k: v for k, v in _batches()[0].items() if v is not None}
  state = step(_collection(), _collection().init(), batch)
  step(_collection(), state, batch)  # an equal new config: no retrace
  assert len(traces) == 1


# -- routing and input checks ---------------------------------------------------

def test_route_renames_inputs_and_keeps_the_others():
  loss = route(jm.Mean(name="loss"), values="loss")
  assert isinstance(loss, Routed) and loss.name == "loss" and not loss.external
  assert inputs_of(loss) == Inputs(("loss",), ("sample_weight",))
  unweighted = route(jm.Mean(), values="loss", sample_weight=None)
  assert inputs_of(unweighted) == Inputs(("loss",), ())
  both = route(jm.MeanSquaredError(), y_true="x", y_pred="x")
  assert inputs_of(both) == Inputs(("x",), ("sample_weight",))
  state = both.update(both.init(), x=jnp.ones((2, 3)))
  assert float(both.compute(state)) == 0.0
  state = loss.update(loss.init(), jnp.array([1.0, 3.0]), jnp.array([1.0, 0.0]))
  assert float(loss.compute(state)) == 1.0  # positional: loss, sample_weight


def test_route_rejects_bad_routes():
  with pytest.raises(ValueError, match="'value' is not an input of Mean"):
    route(jm.Mean(), value="loss")
  with pytest.raises(ValueError, match="must be an input name or None"):
    route(jm.Mean(), values=3)
  with pytest.raises(ValueError, match=r"required input\(s\) \['y_true'\] routed to None"):
    route(jm.AUC(), y_true=None)
  r = route(jm.Mean(), values="loss")
  with pytest.raises(ValueError, match=r"unknown input\(s\) \['los'\]"):
    r.update(r.init(), los=1.0)
  with pytest.raises(ValueError, match=r"missing input\(s\) \['loss'\]"):
    r.update(r.init(), sample_weight=jnp.ones(2))


def test_external_member_is_left_alone_by_update():
  ext = route(jm.Mean(name="act"), values=None)
  assert ext.external and inputs_of(ext) == Inputs((), ())
  c = Collection([ext, jm.BinaryAccuracy()])
  state = c.update(c.init(), [1, 0], [0.9, 0.8], sample_weight=[1.0, 1.0])
  assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)),
                                   state["act"], jm.Mean().init()))
  state["act"] = jm.Mean().update(state["act"], jnp.array([2.0, 4.0]))
  assert float(c.compute(state)["act"]) == 3.0


def test_unknown_and_missing_inputs_raise_clear_errors():
  c = _collection()
  batch = _batches()[0]
  state = c.init()
  with pytest.raises(ValueError, match=r"unknown input\(s\) \['lables'\].*'loss'"):
    c.update(state, y_true=batch["y_true"], y_pred=batch["y_pred"],
             loss=batch["loss"], onehot=batch["onehot"], probs=batch["probs"],
             lables=batch["y_true"])
  with pytest.raises(ValueError, match=r"missing input\(s\) \['loss'\]"):
    c.update(state, y_true=batch["y_true"], y_pred=batch["y_pred"],
             onehot=batch["onehot"], probs=batch["probs"])
  with pytest.raises(ValueError, match="given both positionally and as a keyword"):
    c.update(state, batch["y_true"], y_true=batch["y_true"])
  with pytest.raises(ValueError, match="at most 3 positional"):
    c.update(state, 1, 2, 3, 4)
  with pytest.raises(ValueError, match="expected a state with keys"):
    c.update({"loss": state["loss"]}, **{k: v for k, v in batch.items()})
  # sample_weight=None is the habitual default: accepted even when unused.
  only_loss = Collection([route(jm.Mean(name="loss"), values="loss",
                                sample_weight=None)])
  s = only_loss.update(only_loss.init(), loss=jnp.ones(3), sample_weight=None)
  assert float(only_loss.compute(s)["loss"]) == 1.0
  with pytest.raises(ValueError, match=r"unknown input\(s\) \['sample_weight'\]"):
    only_loss.update(only_loss.init(), loss=jnp.ones(3), sample_weight=jnp.ones(3))


def test_positional_inputs_follow_keras_update_state():
  c = Collection(["binary_accuracy", jm.AUC(num_thresholds=3)])
  state = c.update(c.init(), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], [1, 1, 0, 1])
  expected = {}
  for key, metric in (("binary_accuracy", jm.BinaryAccuracy()),
                      ("auc", jm.AUC(num_thresholds=3))):
    expected[key] = metric.compute(metric.update(
        metric.init(), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 1, 0, 1]))
  _assert_results(c.compute(state), expected)


# -- the contract ---------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
def test_eager_jit_and_merge_equal_each_member_run_alone(weighted):
  c = _collection()
  batches = _batches(seed=1, weighted=weighted)
  expected = _reference(batches)
  _assert_results({k: expected[k] for k in ("loss", "accuracy")},
                  _numpy_means(batches), rtol=1e-5)

  state = c.init()
  for b in batches:
    state = c.update(state, **b)
  _assert_results(c.compute(state), expected)

  update = jax.jit(lambda s, b: c.update(s, **b))
  jitted = c.init()
  for b in batches:
    jitted = update(jitted, b)
  _assert_results(jax.jit(c.compute)(jitted), expected)
  chex_shapes = jax.tree.map(lambda x: (x.shape, x.dtype), c.init())
  assert jax.tree.map(lambda x: (x.shape, x.dtype), jitted) == chex_shapes
  assert jax.tree.map(lambda x: (x.shape, x.dtype), state) == chex_shapes

  parts = [c.update(c.init(), **b) for b in batches]
  merged = c.merge(c.merge(parts[0], parts[1]), c.merge(parts[2], c.merge(parts[3], c.init())))
  _assert_results(c.compute(merged), expected)


@pytest.mark.parametrize("weighted", [False, True])
def test_masked_update_of_a_padded_batch_equals_update_of_the_batch(weighted):
  c = Collection({**_collection().metrics,
                  "external": route(jm.Mean(), values=None)})
  batch = _batches(seed=4, n_batches=1, batch=13, weighted=weighted)[0]
  batch = {k: v for k, v in batch.items() if v is not None}
  rng = np.random.default_rng(5)
  padded = {k: np.concatenate([v, rng.normal(size=(3,) + v.shape[1:]).astype(v.dtype)
                               if v.dtype.kind == "f" else np.zeros((3,) + v.shape[1:],
                                                                    v.dtype)])
            for k, v in batch.items()}
  padded["loss"][-3:] = np.nan  # never read
  mask = np.arange(16) < 13
  masked = jax.jit(lambda s, b: c.masked_update(s, mask=mask, **b))(c.init(), padded)
  expected = c.update(c.init(), **batch)
  _assert_results(c.compute(masked), c.compute(expected), rtol=1e-6)
  np.testing.assert_allclose(  # the padding rows count for nothing
      float(wide.wide_value(masked["accuracy"].count)),
      np.sum(batch["sample_weight"], dtype=np.float64) if weighted else 13.0,
      rtol=1e-6)
  # Inputs are checked as in update.
  with pytest.raises(ValueError, match=r"unknown input\(s\) \['lables'\]"):
    c.masked_update(c.init(), mask=mask, lables=padded["y_true"], **padded)


def test_empty_state_computes_each_members_empty_value():
  c = _collection()
  got = c.compute(c.init())
  assert list(got) == ["loss", "accuracy", "auc", "top2"]
  assert all(float(v) == 0.0 for v in got.values())


class _RangeState(NamedTuple):
  low: jax.Array   # float32[]
  high: jax.Array  # float32[]


@base.metric_dataclass
class _Range(base.Metric):
  """Keeps min and max: its sync needs pmin and pmax, not psum."""

  name: str = "range"

  def init(self):
    return _RangeState(jnp.array(jnp.inf), jnp.array(-jnp.inf))

  def update(self, state, values, sample_weight=None):
    values = jnp.asarray(values, jnp.float32)
    return _RangeState(jnp.minimum(state.low, values.min()),
                       jnp.maximum(state.high, values.max()))

  def compute(self, state):
    return state.high - state.low

  def reductions(self):
    return _RangeState(base.MIN, base.MAX)


def test_sync_and_merge_stacked_respect_each_members_reductions():
  c = Collection({"range": route(_Range(), values="loss", sample_weight=None),
                  "max": route(Max(), values="loss"),
                  "loss": route(jm.Mean(), values="loss"),
                  "count": route(jm.Sum(), values="ones", sample_weight=None),
                  "accuracy": jm.SparseCategoricalAccuracy()})
  rng = np.random.default_rng(2)
  n = 8 * 6
  loss = rng.normal(size=n).astype(np.float32) * 3
  labels = rng.integers(0, 3, n).astype(np.int32)
  logits = rng.normal(size=(n, 3)).astype(np.float32)
  weight = rng.uniform(0, 2, n).astype(np.float32)
  weight[::5] = 0.0
  shard = lambda x: x.reshape((8, -1) + x.shape[1:])
  inputs = dict(loss=loss, y_true=labels, y_pred=logits, sample_weight=weight,
                ones=np.full(n, 2.0**24, np.float32))

  def local(batch):
    return c.update(c.init(), **batch)

  synced = jax.pmap(lambda b: c.sync(local(b), "d"), axis_name="d")(
      jax.tree.map(shard, inputs))
  stacked = jax.pmap(local)(jax.tree.map(shard, inputs))
  expected = {
      "range": loss.max() - loss.min(),
      "max": loss[weight != 0].max(),
      "loss": np.sum(weight * loss) / np.sum(weight),
      "count": np.float64(n) * 2**24,
      "accuracy": np.sum(weight * (logits.argmax(-1) == labels)) / np.sum(weight),
  }
  for device in (0, 7):
    _assert_results(c.compute(jax.tree.map(lambda x: x[device], synced)), expected,
                    rtol=1e-6)
  _assert_results(c.compute(c.merge_stacked(stacked)), expected, rtol=1e-6)
  total = jax.tree.map(lambda x: x[3], synced)["count"].total
  assert float(total.hi) + float(total.lo) == n * 2**24  # Wide pairs: exact


def test_reductions_is_a_prefix_of_the_state():
  c = Collection({"range": _Range(), "mean": jm.Mean()})
  assert c.reductions() == {"range": _RangeState("min", "max"), "mean": "sum"}
  a = c.update(c.init(), values=jnp.array([1.0, 5.0]))
  b = c.update(c.init(), values=jnp.array([-2.0]))
  merged = base.Metric.merge(c, a, b)  # the base class' per-leaf merge agrees
  _assert_results(c.compute(merged), c.compute(c.merge(a, b)))


# -- results ----------------------------------------------------------------------

def test_per_class_vectors_kept_or_flattened():
  y_true = np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 1]]
  y_pred = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7],
                     [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]], np.float32)
  f1 = jm.F1Score(num_classes=3)
  expected = np.asarray(f1.compute(f1.update(f1.init(), y_true, y_pred)))
  assert expected.shape == (3,)
  kept = Collection([f1])
  got = kept.compute(kept.update(kept.init(), y_true, y_pred))
  np.testing.assert_allclose(got["f1_score"], expected)
  flat = Collection([f1], flatten=True)
  got = flat.compute(flat.update(flat.init(), y_true, y_pred))
  assert list(got) == ["f1_score/0", "f1_score/1", "f1_score/2"]
  np.testing.assert_allclose([float(got[k]) for k in got], expected)
  assert {k: float(v) for k, v in flatten_results(kept.compute(
      kept.update(kept.init(), y_true, y_pred))).items()} == {
          f"f1_score/{i}": float(expected[i]) for i in range(3)}


def test_nested_collections_prefix_their_keys():
  inner = Collection(["mae", "mse"], name="errors")
  outer = Collection({"errors": inner, "loss": route(jm.Mean(), values="loss")})
  y_true, y_pred = np.array([[1.0], [2.0]]), np.array([[1.5], [1.0]])
  state = outer.update(outer.init(), y_true, y_pred, loss=np.array([0.5, 1.5]))
  got = outer.compute(state)
  assert list(got) == ["errors/mean_absolute_error", "errors/mean_squared_error",
                       "loss"]
  np.testing.assert_allclose(float(got["errors/mean_absolute_error"]), 0.75)
  np.testing.assert_allclose(float(got["errors/mean_squared_error"]), 0.625)
  np.testing.assert_allclose(float(got["loss"]), 1.0)


def test_call_is_one_batch_metric():
  c = Collection(["binary_accuracy"])
  assert float(c([1, 0], [0.9, 0.7])["binary_accuracy"]) == 0.5


def test_wide_states_survive_the_collection():
  c = Collection([route(jm.Sum(name="n"), values="ones")])
  state = c.init()
  assert isinstance(state["n"].total, wide.Wide)
  update = jax.jit(lambda s: c.update(s, ones=jnp.ones(1)))
  state = {"n": jm.Sum().update(jm.Sum().init(), jnp.array([2.0**24]))}
  for _ in range(10):
    state = update(state)
  assert float(wide.wide_value(state["n"].total)) == 2**24 + 10


# -- Max / Min (add_metric's "max" / "min" aggregations) through the harness -----

def _extremum_reference(reduce):
  def reference(batches):
    kept = [args[0][np.broadcast_to(np.ones(()) if w is None else w,
                                     args[0].shape[:1]) != 0]
            for args, w in batches]  # per-sample weights: whole rows
    kept = np.concatenate([k.reshape(-1) for k in kept])
    return reduce(kept) if kept.size else 0.0
  return reference


@pytest.mark.parametrize("case", [
    harness.Case("max", Max(),
                 lambda rng, n: (rng.normal(size=n).astype(np.float32),),
                 reference=_extremum_reference(np.max)),
    harness.Case("min", Min(),
                 lambda rng, n: (rng.normal(size=n).astype(np.float32),),
                 reference=_extremum_reference(np.min)),
    harness.Case("max_2d", Max(),
                 lambda rng, n: (rng.normal(size=(n, 3)).astype(np.float32),),
                 reference=_extremum_reference(np.max)),
], ids=str)
def test_extremum_metrics_in_all_modes(case):
  harness.check_all_modes(case)
  harness.check_merge_algebra(case, seed=1)
  assert float(case.metric.compute(case.metric.init())) == 0.0
