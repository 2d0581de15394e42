"""`kernels.row_statistics`: the native kernel against its XLA body.

The XLA body is the specification: ``argmax`` is `kernels.argmax`'s,
``outranked`` is `kernels.in_top_k`'s count, ``crossentropy`` is
``SparseCategoricalCrossentropy(from_logits=True)``'s per-row formula. The
native kernel gives the integers bit for bit and the cross-entropy with the
same NaNs and infinities, and within 2 ulps of the formula evaluated in
float64. XLA's own float32 sum of the exps is off by many ulps where the loss
is small (a confident row), so against it the cross-entropy is held to 2 ulps
plus a few float32 epsilons of the log of the sum.
"""

import contextlib
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmetrics._src import kernels
from jmetrics._src.kernels import ffi
from jmetrics._src.kernels import rows
from jmetrics._src.metrics import probabilistic

ALL = rows.ROW_OUTPUTS
SUBSETS = [s for r in range(1, 4) for s in itertools.combinations(ALL, r)]
TINY = np.finfo(np.float32).tiny
EPS = np.finfo(np.float32).eps
SPECIAL = np.array([0.0, -0.0, 1e-40, -1e-40, 2e-40, TINY, np.nan, -np.nan,
                    np.inf, -np.inf, 1.0, -1.0, 3e38, -3e38], np.float32)


@pytest.fixture(autouse=True, scope="module")
def _kernels():
  assert ffi.available(), "the native kernels must build for these tests"


# -- the two lowerings ------------------------------------------------------------


def _native(scores, labels, outputs=ALL):
  # A fresh function per call: no trace is shared between calls.
  out = jax.jit(lambda s, l: kernels.row_statistics(s, l, outputs))(
      scores, labels)
  return {k: np.asarray(v) for k, v in out.items()}


def _xla(scores, labels, outputs=ALL):
  params = rows._RowStatistics(outputs, keras_cpu_rule=True)  # pylint: disable=protected-access
  out = jax.jit(lambda s, l: rows.ROW_STATISTICS.xla(params, s, l))(
      jnp.asarray(scores), jnp.asarray(labels, jnp.int32))
  return {k: np.asarray(v) for k, v in out.items()}


def _crossentropy_reference(scores, labels):
  """The formula's finite values in float64 from its float32 ``x - max``:
  log1p of the sum of the exps less 1, so that small losses keep their
  digits."""
  c = scores.shape[-1]
  x = scores.reshape(-1, c)
  label = labels.reshape(-1).astype(np.int64)
  with np.errstate(invalid="ignore", over="ignore"):
    shifted = (x - x.max(-1, keepdims=True)).astype(np.float32)
  top = shifted == 0
  with np.errstate(invalid="ignore", over="ignore"):
    others = np.where(top, 0.0, np.exp(shifted.astype(np.float64))).sum(-1)
    log_sum = np.log1p(top.sum(-1) - 1.0 + others)
  selected = (label >= 0) & (label < c)
  at_label = shifted[np.arange(len(label)), np.where(selected, label, 0)]
  with np.errstate(invalid="ignore"):
    loss = np.where(selected, log_sum - at_label.astype(np.float64), 0.0)
  return loss.reshape(labels.shape)


def _bits(x):
  x = np.asarray(x)
  return x.view(np.int32) if x.dtype == np.float32 else x


def _check_crossentropy(got, want, scores, labels):
  """``got`` (native) against ``want`` (the XLA body): the same NaNs and
  infinities, finite values within 2 ulps of the float64 formula and close
  to XLA's."""
  np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
  np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
  np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
  finite = np.isfinite(want)
  reference = _crossentropy_reference(scores, labels)[finite]
  got, want = got[finite].astype(np.float64), want[finite].astype(np.float64)
  # Exps below FLT_MIN may be flushed to zero (XLA:CPU's FTZ): at most C of
  # them, each below FLT_MIN, which only tiny losses can tell.
  c = scores.shape[-1]
  ulp = np.spacing(np.abs(reference).astype(np.float32)).astype(np.float64)
  assert np.all(np.abs(got - reference) <= 2 * ulp + c * TINY)
  large = np.abs(reference) > 1e-20
  np.testing.assert_array_max_ulp(got[large].astype(np.float32),
                                  reference[large].astype(np.float32), maxulp=2)
  # XLA sums the exps in float32: its log of the sum is off by a few eps.
  tolerance = 2 * np.spacing(np.abs(want).astype(np.float32)) + (
      4 * EPS * max(1.0, math.log(c)))
  assert np.all(np.abs(got - want) <= tolerance), np.max(
      np.abs(got - want) / tolerance)


def _check(scores, labels):
  """Every output of the native kernel against the XLA body, `argmax` and
  `in_top_k`; and each output alone or in any company with the same bits."""
  scores = np.asarray(scores, np.float32)
  labels = np.asarray(labels, np.int32)
  native, xla = _native(scores, labels), _xla(scores, labels)
  assert set(native) == set(xla) == set(ALL)
  for name in ALL:
    assert native[name].shape == xla[name].shape == labels.shape, name
    assert native[name].dtype == xla[name].dtype, name
  np.testing.assert_array_equal(native["argmax"], xla["argmax"])
  np.testing.assert_array_equal(native["argmax"],
                                np.asarray(kernels.argmax(scores)))
  np.testing.assert_array_equal(native["outranked"], xla["outranked"])
  for k in (1, 5):
    np.testing.assert_array_equal(
        native["outranked"] < k,
        np.asarray(kernels.in_top_k(labels, scores, k)), err_msg=f"k={k}")
  _check_crossentropy(native["crossentropy"], xla["crossentropy"], scores,
                      labels)
  for outputs in SUBSETS:
    alone = _native(scores, labels, outputs)
    assert tuple(alone) == outputs
    for name in outputs:
      np.testing.assert_array_equal(_bits(alone[name]), _bits(native[name]),
                                    err_msg=f"{name} in {outputs}")
  return native


# -- inputs -----------------------------------------------------------------------


def _labels(rng, shape, c):
  """Class ids in range mostly, some negative (indexing from the end for
  `outranked`, none for the cross-entropy) and some past either end."""
  labels = rng.integers(0, c, shape)
  odd = rng.random(shape)
  labels = np.where(odd < 0.1, rng.integers(-c - 2, 0, shape), labels)
  labels = np.where((odd >= 0.1) & (odd < 0.15), c + rng.integers(0, 3, shape),
                    labels)
  flat = labels.reshape(-1)
  flat[:2] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max][:flat.size]
  return labels.astype(np.int32)


def _special(rng, shape):
  """Ties among half-integers, signed zeros, subnormals, NaNs of both signs,
  infinities and scores whose differences overflow."""
  x = rng.integers(-2, 3, shape).astype(np.float32) / 2
  mask = rng.random(shape) < 0.3
  x[mask] = rng.choice(SPECIAL, shape)[mask]
  return x


@pytest.mark.parametrize("c", [1, 7, 100, 1000])
@pytest.mark.parametrize("scale", [1.0, 3.0, 30.0])
def test_random_logits(c, scale):
  rng = np.random.default_rng(c)
  n = max(16, 2**19 // c)  # several chunks of the pool's work
  scores = (rng.normal(size=(n, c)) * scale).astype(np.float32)
  _check(scores, _labels(rng, (n,), c))


@pytest.mark.parametrize("c", [1, 2, 7, 100])
def test_special_values(c):
  rng = np.random.default_rng(100 + c)
  n = 4000
  scores = _special(rng, (n, c))
  labels = _labels(rng, (n,), c)
  # A NaN at the label in some rows, a NaN elsewhere in others.
  rows_ = np.arange(n)
  label_nan = (rng.random(n) < 0.1) & (labels >= 0) & (labels < c)
  scores[rows_[label_nan], labels[label_nan]] = np.nan
  _check(scores, labels)


def test_ties_and_signed_zeros():
  rng = np.random.default_rng(2)
  scores = rng.integers(0, 3, (5000, 7)).astype(np.float32)
  zeros = np.where(rng.random((300, 7)) < 0.5, -0.0, 0.0).astype(np.float32)
  subnormals = rng.choice(np.float32([0.0, -0.0, 1e-40, -1e-40, 1e-45]),
                          (300, 7))
  scores = np.concatenate([scores, zeros, subnormals])
  labels = _labels(rng, (len(scores),), 7)
  native = _check(scores, labels)
  # Keras' rule: +0.0 beats an earlier -0.0.
  got = _native(np.float32([[-0.0, 0.0, -0.0]]), np.int32([0]))
  assert got["argmax"].tolist() == [1]
  assert native["argmax"].dtype == np.int32


def test_edge_rows():
  """Rows whose every case is known: the cross-entropy's NaN, +inf and zero."""
  inf, nan = np.inf, np.nan
  scores = np.float32([
      [0.0, 1.0, 2.0],  # finite
      [0.0, 1.0, 2.0],  # label out of range: 0
      [-inf, 1.0, 2.0],  # -inf elsewhere: NaN
      [-inf, 1.0, 2.0],  # -inf at the label: +inf
      [inf, 1.0, 2.0],  # +inf: NaN
      [nan, 1.0, 2.0],  # NaN at the label: NaN, outranked as -inf
      [1.0, nan, 2.0],  # NaN elsewhere: NaN
      [-3e38, 0.0, 3e38],  # x - max overflows elsewhere: NaN
      [-3e38, 0.0, 3e38],  # ... at the label: +inf
      [-inf, -inf, -inf],  # all -inf: NaN
      [1e-40, -1e-40, 0.0],  # subnormals tie with zero
      [0.0, 1.0, 2.0],  # negative label: -1 is class 2 for outranked
      [-inf, 1.0, 2.0],  # out of range with a -inf: NaN
  ])
  labels = np.int32([0, 3, 1, 0, 1, 0, 0, 1, 0, 2, 1, -1, 5])
  native = _check(scores, labels)
  ce = native["crossentropy"]
  assert np.isfinite(ce[[0, 10, 11]]).all() and ce[1] == 0 and ce[11] == 0
  assert np.isnan(ce[[2, 4, 5, 6, 7, 9, 12]]).all()
  assert np.isposinf(ce[[3, 8]]).all()
  np.testing.assert_allclose(ce[0], -jax.nn.log_softmax(scores[0])[0],
                             rtol=1e-6)
  assert native["outranked"].tolist() == [2, 3, 1, 2, 2, 2, 1, 1, 2, 0, 0, 0,
                                          2]


def test_a_3d_batch():
  rng = np.random.default_rng(3)
  for c in (7, 100):
    scores = rng.normal(size=(2, 5, c)).astype(np.float32)
    scores[0, 1] = _special(rng, (c,))
    native = _check(scores, _labels(rng, (2, 5), c))
    assert native["crossentropy"].shape == (2, 5)


def test_the_metric_formula():
  """The XLA body's cross-entropy is SparseCategoricalCrossentropy's."""
  rng = np.random.default_rng(4)
  scores = rng.normal(size=(500, 10)).astype(np.float32) * 3
  labels = _labels(rng, (500,), 10)
  labels = np.where(labels < 0, 11, labels)  # the metric reads float labels
  metric = probabilistic.SparseCategoricalCrossentropy(from_logits=True)
  want = np.asarray(jax.jit(metric.values)(labels, scores))
  got = _native(scores, labels, ("crossentropy",))["crossentropy"]
  tolerance = dict(rtol=3e-7, atol=4 * EPS * math.log(10))
  np.testing.assert_allclose(got, want, **tolerance)
  # Not bit for bit: XLA fuses the metric's graph otherwise.
  np.testing.assert_allclose(_xla(scores, labels)["crossentropy"], want,
                             **tolerance)


# -- lowering and transformations ---------------------------------------------------


def test_jit_lowers_to_one_native_call():
  scores = jnp.zeros((64, 10), jnp.float32)
  labels = jnp.zeros((64,), jnp.int32)
  for outputs in SUBSETS:
    hlo = jax.jit(lambda s, l, o=outputs: kernels.row_statistics(s, l, o)
                  ).lower(scores, labels).compile().as_text()
    assert hlo.count('custom_call_target="JmetricsRowStatistics"') == 1, outputs
    assert "exponential" not in hlo, outputs


def test_eager_matches_jit_and_the_xla_fallback(monkeypatch):
  rng = np.random.default_rng(5)
  scores = rng.normal(size=(300, 12)).astype(np.float32)
  labels = _labels(rng, (300,), 12)
  eager = kernels.row_statistics(scores, labels, ALL)
  jitted = _native(scores, labels)
  for name in ALL:
    np.testing.assert_array_equal(_bits(eager[name]), _bits(jitted[name]))
  with monkeypatch.context() as patch:
    patch.setattr(ffi, "available", lambda: False)
    fallback = _native(scores, labels)
  xla = _xla(scores, labels)
  for name in ALL:
    np.testing.assert_array_equal(_bits(fallback[name]), _bits(xla[name]))


def test_labels_as_keras_casts_them():
  scores = np.float32([[0.0, 1.0, 2.0]] * 4)
  labels = np.float32([1.7, np.nan, -0.5, 2.0])  # 1, none, 0, 2
  got = _native(scores, labels)
  assert got["outranked"].tolist() == [1, 3, 2, 0]
  assert got["crossentropy"][1] == 0
  np.testing.assert_allclose(got["crossentropy"][[0, 2, 3]],
                             -np.asarray(jax.nn.log_softmax(scores[0]))[[1, 0, 2]],
                             rtol=1e-6)


def test_argmax_alone_needs_no_labels():
  rng = np.random.default_rng(6)
  scores = _special(rng, (1000, 9))
  got = jax.jit(lambda s: kernels.row_statistics(s, None, ("argmax",)))(scores)
  np.testing.assert_array_equal(np.asarray(got["argmax"]),
                                np.asarray(kernels.argmax(scores)))


def test_xla_only_shapes():
  """No rows, or one row without a batch axis: the XLA body runs."""
  empty = kernels.row_statistics(np.zeros((0, 5), np.float32),
                                 np.zeros((0,), np.int32), ALL)
  assert all(v.shape == (0,) for v in empty.values())
  scores = np.float32([0.0, 3.0, 1.0])
  one = kernels.row_statistics(scores, np.int32(2), ALL)
  assert int(one["argmax"]) == 1 and int(one["outranked"]) == 1
  np.testing.assert_allclose(float(one["crossentropy"]),
                             -float(jax.nn.log_softmax(scores)[2]), rtol=1e-6)
  wide = kernels.row_statistics(np.ones((4, 3), np.float16), np.int32([0] * 4),
                                ALL)
  assert wide["crossentropy"].dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(wide["crossentropy"]), math.log(3),
                             rtol=1e-6)


def test_bad_arguments():
  scores = np.zeros((4, 3), np.float32)
  labels = np.zeros((4,), np.int32)
  for outputs in ((), ("outranked", "argmax"), ("argmax", "argmax"),
                  ("top_k",)):
    with pytest.raises(ValueError, match="sorted tuple"):
      kernels.row_statistics(scores, labels, outputs)
  with pytest.raises(ValueError, match="need labels"):
    kernels.row_statistics(scores, None, ("crossentropy",))
  with pytest.raises(ValueError, match="shape"):
    kernels.row_statistics(scores, labels[:3], ALL)


def test_vmap():
  rng = np.random.default_rng(7)
  scores = _special(rng, (4, 50, 20))
  scores[1] = rng.normal(size=(50, 20))
  labels = _labels(rng, (4, 50), 20)
  flat = _native(scores.reshape(200, 20), labels.reshape(200))
  for outputs in (ALL, ("crossentropy",), ("argmax", "outranked")):
    mapped = jax.jit(jax.vmap(
        lambda s, l, o=outputs: kernels.row_statistics(s, l, o)))(scores, labels)
    for name in outputs:
      np.testing.assert_array_equal(_bits(np.asarray(mapped[name]).reshape(200)),
                                    _bits(flat[name]), err_msg=name)
  # The raw call maps as one call on more rows.
  raw = jax.vmap(lambda s, l: ffi.row_statistics(
      s, l, outputs=ALL, signed_zeros=True))(scores, labels)
  for name, value in zip(ALL, raw):
    np.testing.assert_array_equal(_bits(np.asarray(value).reshape(200)),
                                  _bits(flat[name]), err_msg=name)


def _sharded_inputs():
  rng = np.random.default_rng(8)
  scores = _special(rng, (64, 30))
  scores[::2] = rng.normal(size=(32, 30))
  return scores, _labels(rng, (64,), 30)


def test_a_batch_sharded_over_devices_under_jit():
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top
  mesh = Mesh(np.array(jax.devices()), ("d",))
  rows_ = NamedSharding(mesh, PartitionSpec("d"))
  scores, labels = _sharded_inputs()
  want = _native(scores, labels)
  fn = jax.jit(lambda s, l: kernels.row_statistics(s, l, ALL))
  args = (jax.device_put(scores, rows_), jax.device_put(labels, rows_))
  got = fn(*args)
  hlo = fn.lower(*args).compile().as_text()
  assert "JmetricsRowStatistics" in hlo
  assert "all-gather" not in hlo
  for name in ALL:
    assert got[name].sharding.is_equivalent_to(rows_, 1), name
    np.testing.assert_array_equal(_bits(np.asarray(got[name])), _bits(want[name]))
  # Explicit mesh axes (jax.make_mesh's default) take the same rule.
  mesh = jax.make_mesh((8,), ("d",))
  rows_ = NamedSharding(mesh, PartitionSpec("d"))
  args = (jax.device_put(scores, rows_), jax.device_put(labels, rows_))
  for context in (contextlib.nullcontext(), jax.set_mesh(mesh)):
    with context:
      fn = jax.jit(lambda s, l: kernels.row_statistics(s, l, ALL))
      got = fn(*args)
      hlo = fn.lower(*args).compile().as_text()
    assert "JmetricsRowStatistics" in hlo
    assert "all-gather" not in hlo
    for name in ALL:
      np.testing.assert_array_equal(_bits(np.asarray(got[name])),
                                    _bits(want[name]))


def test_shard_map_and_pmap():
  from jax.sharding import Mesh, PartitionSpec as P  # pylint: disable=g-import-not-at-top
  mesh = Mesh(np.array(jax.devices()), ("d",))
  scores, labels = _sharded_inputs()
  want = _native(scores, labels)
  body = lambda s, l: kernels.row_statistics(s, l, ALL)
  mapped = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(P("d"), P("d")),
                                 out_specs=P("d")))
  hlo = mapped.lower(scores, labels).compile().as_text()
  assert "JmetricsRowStatistics" in hlo
  got = mapped(scores, labels)
  for name in ALL:
    np.testing.assert_array_equal(_bits(np.asarray(got[name])), _bits(want[name]))
  got = jax.pmap(body)(scores.reshape(8, 8, 30), labels.reshape(8, 8))
  for name in ALL:
    np.testing.assert_array_equal(_bits(np.asarray(got[name]).reshape(64)),
                                  _bits(want[name]))


_LEVEL_SCRIPT = """
import sys
import numpy as np
from jmetrics._src import kernels
from jmetrics._src.kernels import ffi
assert ffi.available()
rng = np.random.default_rng(9)
parts = []
for c in (1, 7, 100, 1000):
  scores = (rng.normal(size=(500, c)) * 5).astype(np.float32)
  labels = rng.integers(-1, c + 1, 500).astype(np.int32)
  out = kernels.row_statistics(scores, labels,
                               ("argmax", "crossentropy", "outranked"))
  parts += [np.asarray(v).view(np.int32) for v in out.values()]
sys.stdout.write(ffi.library_path().name + " " + np.concatenate(parts).tobytes().hex())
"""


def test_every_cpu_level_gives_the_same_bits():
  """The cross-entropy sums its lanes in a fixed order and has no fused
  multiply-add: the baseline build gives the bits of the one loaded here."""
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  results = {}
  for level in ("v2", ffi.library_path().name):
    env = dict(os.environ, JMETRICS_NATIVE="v2" if level == "v2" else "1")
    done = subprocess.run([sys.executable, "-c", _LEVEL_SCRIPT], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    name, bits = done.stdout.split()
    results[name] = bits
  assert len(results) == 2 or ffi.cpu_level() == 2, results.keys()
  assert len(set(results.values())) == 1
