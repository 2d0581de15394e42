"""The native CPU histogram kernels against NumPy references, and the fallback.

Every metric test already runs on the kernels (they are the default on CPU);
these tests pin the kernels' own contract on inputs the metric tests do not
reach (several chunks, skewed keys, every label dtype, ids far out of range).
tests/test_kernel_parity.py holds every catalogue metric's XLA path to its
kernels; ``pytest --native=off`` runs any test file with the kernels off.
"""

import os
import pathlib
import platform
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from jmetrics._src.kernels import ffi
from jmetrics._src.numerics import wide

# More than one 2**16-element chunk, and not a multiple of the block size.
SIZES = (0, 1, 1000, 3 * 2**16 + 17)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_install_built_the_kernels_into_the_package():
  path = ffi.library_path()
  assert path is not None, "the install did not build native/_kernels*.so"
  assert path.parent == pathlib.Path(ffi.__file__).with_name("native")
  assert ffi.available()


def _builds():
  return {path.name.split(".")[0] for path in
          pathlib.Path(ffi.__file__).with_name("native").glob("_kernels*.so")}


def _cpu_flags():
  with open("/proc/cpuinfo", encoding="ascii") as info:
    return next(set(line.split(":", 1)[1].split()) for line in info
                if line.startswith("flags"))


def test_the_cpu_level_picks_its_build(monkeypatch):
  """The AVX-512 build where the CPU has it, the AVX2 one where it has AVX2,
  FMA and BMI2, the baseline (any x86-64-v2 CPU) otherwise or when asked."""
  if platform.machine().lower() not in ("x86_64", "amd64"):
    assert ffi.cpu_level() == 2
    return
  assert _builds() == {"_kernels", "_kernels_v3", "_kernels_v4"}
  flags = _cpu_flags()
  expected = 4 if {"avx512f", "avx512bw", "avx512vl"} <= flags else (
      3 if {"avx2", "fma", "bmi2"} <= flags else 2)
  assert ffi.cpu_level() == expected
  name = {2: "_kernels.", 3: "_kernels_v3.", 4: "_kernels_v4."}
  assert ffi.library_path().name.startswith(name[expected])
  for cap in (2, 3):
    monkeypatch.setenv("JMETRICS_NATIVE", f"v{cap}")
    assert ffi.cpu_level() == min(cap, expected)
    assert ffi.library_path().name.startswith(name[min(cap, expected)])


def test_both_builds_give_the_same_bits(tmp_path):
  """Each build this CPU runs, loaded in a process of its own, gives the same
  state: -ffp-contract=off keeps every float product."""
  code = """
      import numpy as np
      import jax
      import jmetrics as jm
      from jmetrics._src.kernels import ffi
      rng = np.random.default_rng(0)
      n = 3 * 2**16 + 5
      y, p = rng.integers(0, 2, (n, 4)), rng.random((n, 4), dtype=np.float32)
      w = rng.random(n, dtype=np.float32)
      leaves = []
      for metric in (jm.AUC(), jm.AUC(multi_label=True, num_labels=4),
                     jm.Precision(top_k=2), jm.MeanIoU(num_classes=4)):
        args = (y.argmax(-1), p.argmax(-1)) if isinstance(metric, jm.MeanIoU) else (y, p)
        for weights in (None, w):
          state = jax.jit(metric.update)(metric.init(), *args, weights)
          leaves += [np.asarray(x) for x in jax.tree.leaves(state)]
      np.save(OUT, np.concatenate([x.ravel().astype(np.float64) for x in leaves]))
      print(ffi.library_path().name)
      """
  outs = {}
  for level in ("v2", "v3", "v4"):
    out = tmp_path / f"bits-{level}.npy"
    done = _run_python(code.replace("OUT", repr(str(out))),
                       JMETRICS_NATIVE=level)
    assert done.returncode == 0, done.stderr[-3000:]
    outs[done.stdout.strip()] = np.load(out)
  assert len(outs) == min(len(_builds()), ffi.cpu_level() - 1), outs.keys()
  first, *others = outs.values()
  for other in others:
    np.testing.assert_array_equal(first, other)


def test_every_handler_in_the_sources_is_a_registered_target():
  sources = sorted((pathlib.Path(ffi.__file__).with_name("native")).glob("*.cc"))
  defined = {name for path in sources for name in re.findall(
      r"XLA_FFI_DEFINE_HANDLER_SYMBOL\(\s*(\w+)", path.read_text())}
  assert defined == {target.value for target in ffi.Target}


def threshold_reference(scores, labels, weights, mode, thresholds, num_labels):
  """Counts of (label index, bucket, positive) from the kernel's definition."""
  scores = np.asarray(scores, np.float32).reshape(-1)
  t = len(thresholds)
  with np.errstate(invalid="ignore"):
    if mode == ffi.Bucketing.SORTED:
      bucket = (scores[:, None] > np.asarray(thresholds, np.float32)).sum(1)
    else:
      # Keras' evenly spaced bucket: ceil(clip(p, 0, 1) * (T - 1)) in float32.
      scaled = np.clip(scores, 0, 1) * np.float32(t - 1)
      bucket = np.ceil(np.nan_to_num(scaled)).astype(np.int64)
      bucket = np.where(np.isnan(scores), 1, bucket)
      if mode == ffi.Bucketing.EVENLY_WITH_EPSILON:
        bucket = np.maximum(bucket, 1)
  label_index = np.arange(scores.size) % num_labels
  positive = np.asarray(labels).reshape(-1).astype(np.float32) != 0
  key = (label_index * (t + 1) + bucket) * 2 + positive
  out = np.zeros(num_labels * (t + 1) * 2, np.float64)
  np.add.at(out, key, 1.0 if weights is None else np.asarray(weights).reshape(-1))
  return out


def _scores(rng, n):
  scores = rng.random(n, dtype=np.float32)
  # Values Keras treats specially: outside [0, 1], exact grid points, NaN.
  special = np.array([-0.5, 0.0, 0.5, 1.0, 1.5, np.inf, -np.inf, np.nan],
                     np.float32)
  scores[: min(n, special.size)] = special[: min(n, special.size)]
  return scores


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("mode", [ffi.Bucketing.EVENLY, ffi.Bucketing.EVENLY_WITH_EPSILON,
                                  ffi.Bucketing.SORTED])
@pytest.mark.parametrize("num_labels", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_threshold_histogram_matches_definition(jit, n, mode, num_labels, weighted):
  ffi.available()
  rng = np.random.default_rng(n + 7 * mode + num_labels)
  n = n - n % num_labels
  scores = _scores(rng, n)
  labels = (rng.random(n) < 0.4).astype(np.float32)
  weights = rng.random(n, dtype=np.float32) if weighted else None
  if mode == ffi.Bucketing.SORTED:
    thresholds = [0.05, 0.3, 0.3, 0.9]  # ascending, with a tie
  else:
    thresholds = list(np.linspace(0, 1, 5))  # the grid the bucket assumes

  def run(scores, labels, weights):
    return ffi.threshold_histogram(
        scores.reshape(-1, num_labels), labels.reshape(-1, num_labels), weights,
        bucketing=mode, num_thresholds=len(thresholds), num_labels=num_labels,
        sorted_thresholds=jnp.asarray(thresholds, jnp.float32))

  fn = jax.jit(run) if jit else run
  got = fn(jnp.asarray(scores), jnp.asarray(labels),
           None if weights is None else jnp.asarray(weights))
  expected = threshold_reference(scores, labels, weights, mode, thresholds,
                                  num_labels)
  assert got.dtype == (jnp.float32 if weighted else jnp.int32)
  np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-6)


@pytest.mark.parametrize("num_labels,rows", [
    (16, 2**15),  # 6,432 bins: counted in copies (a batch of 64+ per bin)
    (16, 2**10),  # the same bins, too few scores to copy them
    (48, 2**14),  # 19,296 bins: never copied
])
@pytest.mark.parametrize("weighted", [False, True])
def test_threshold_histograms_of_many_labels(num_labels, rows, weighted):
  ffi.available()
  rng = np.random.default_rng(num_labels + rows)
  n = num_labels * rows
  scores = _scores(rng, n)
  labels = (rng.random(n) < 0.4).astype(np.float32)
  weights = rng.random(n, dtype=np.float32) if weighted else None
  got = jax.jit(lambda s, l, w: ffi.threshold_histogram(
      s.reshape(rows, num_labels), l.reshape(rows, num_labels), w,
      bucketing=ffi.Bucketing.EVENLY_WITH_EPSILON, num_thresholds=200,
      num_labels=num_labels))(scores, labels, weights)
  expected = threshold_reference(scores, labels, weights,
                                 ffi.Bucketing.EVENLY_WITH_EPSILON,
                                 list(np.linspace(0, 1, 200)), num_labels)
  np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int8, np.int32,
                                   np.uint32, np.float32, np.float16,
                                   ml_dtypes.bfloat16, np.int16])
def test_threshold_histogram_reads_every_label_dtype(dtype):
  ffi.available()
  rng = np.random.default_rng(3)
  n = 2**17 + 5
  scores = rng.random(n, dtype=np.float32)
  labels = rng.integers(0, 3, n).astype(dtype)  # 2 is positive too
  got = ffi.threshold_histogram(
      jnp.asarray(scores), jnp.asarray(labels), None, bucketing=ffi.Bucketing.EVENLY,
      num_thresholds=11, num_labels=1)
  expected = threshold_reference(scores, labels.astype(np.float32), None,
                                  ffi.Bucketing.EVENLY, [0.0] * 11, 1)
  np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("num_classes", [3, 150])
def test_pair_histogram_matches_definition(n, weighted, num_classes):
  ffi.available()
  rng = np.random.default_rng(n + num_classes)
  y_true = rng.integers(-2, num_classes + 2, n).astype(np.int32)
  y_pred = rng.integers(-2, num_classes + 2, n).astype(np.int32)
  y_true[: min(n, 2)] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max][: min(n, 2)]
  weights = rng.random(n, dtype=np.float32) if weighted else None
  got = jax.jit(ffi.pair_histogram, static_argnums=3)(
      jnp.asarray(y_true), jnp.asarray(y_pred),
      None if weights is None else jnp.asarray(weights), num_classes)
  # Pairs with an id outside [0, C) are not counted.
  kept = ((y_true >= 0) & (y_true < num_classes) & (y_pred >= 0)
          & (y_pred < num_classes))
  expected = np.zeros((num_classes, num_classes))
  np.add.at(expected, (y_true[kept], y_pred[kept]),
            1.0 if weights is None else weights[kept])
  np.testing.assert_allclose(np.asarray(got).reshape(num_classes, num_classes),
                             expected, rtol=1e-6)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
def test_bincount_drops_keys_out_of_range(n, weighted):
  ffi.available()
  rng = np.random.default_rng(n)
  keys = rng.integers(-3, 13, n).astype(np.int32)
  weights = rng.random(n, dtype=np.float32) if weighted else None
  got = ffi.bincount(jnp.asarray(keys),
                        None if weights is None else jnp.asarray(weights), 10)
  kept = (keys >= 0) & (keys < 10)
  expected = np.bincount(keys[kept], None if weights is None else weights[kept],
                         minlength=10)
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


def test_runs_of_one_key_across_threads():
  """Every element in one bin: the interleaved copies and the per-thread
  tables must add up to the exact count."""
  ffi.available()
  n = 2**20 + 3
  keys = jnp.full((n,), 7, jnp.int32)
  got = jax.jit(lambda k: ffi.bincount(k, None, 8))(keys)
  assert int(got[7]) == n and int(got.sum()) == n


def test_vmap_runs_one_histogram_per_row():
  ffi.available()
  rng = np.random.default_rng(1)
  y_true = rng.integers(0, 4, (5, 300)).astype(np.int32)
  y_pred = rng.integers(0, 4, (5, 300)).astype(np.int32)
  got = jax.vmap(lambda a, b: ffi.pair_histogram(a, b, None, 4))(
      jnp.asarray(y_true), jnp.asarray(y_pred))
  for row in range(5):
    expected = sk_metrics.confusion_matrix(y_true[row], y_pred[row],
                                           labels=np.arange(4))
    np.testing.assert_array_equal(np.asarray(got[row]).reshape(4, 4), expected)


def _run_python(code, **env):
  return subprocess.run(
      [sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
      text=True, cwd=REPO, env={**os.environ, **env}, timeout=600, check=False)


def test_missing_build_warns_at_import_and_falls_back():
  done = _run_python("""
      import importlib.machinery
      import warnings
      import numpy as np
      import jax
      from sklearn.metrics import roc_auc_score
      # As if the install had not built the kernels: no extension file matches.
      importlib.machinery.EXTENSION_SUFFIXES[:] = [".not-built.so"]
      with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import jmetrics as jm
        from jmetrics._src.kernels import ffi
      messages = [str(w.message) for w in caught]
      assert sum("native CPU histogram kernels are unavailable" in m
                 for m in messages) == 1, messages
      assert "XLA path" in messages[0], messages
      assert not ffi.available()
      rng = np.random.default_rng(0)
      y_true = rng.integers(0, 2, 5000)
      y_pred = rng.random(5000).astype(np.float32)
      metric = jm.AUC(num_thresholds=2**14)
      state = jax.jit(metric.update)(metric.init(), y_true, y_pred)
      assert abs(float(metric.compute(state)) - roc_auc_score(y_true, y_pred)) < 1e-3
      print("fell back")
      """)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "fell back" in done.stdout


def test_kernels_run_without_a_compiler_or_a_cache(tmp_path):
  """Nothing is compiled at run time: no compiler on PATH, a fresh HOME."""
  done = _run_python("""
      import os
      import numpy as np
      import jax
      import jmetrics as jm
      from jmetrics._src.kernels import ffi
      assert ffi.available()
      rng = np.random.default_rng(0)
      metric = jm.AUC()
      state = jax.jit(metric.update)(
          metric.init(), rng.integers(0, 2, 2**20), rng.random(2**20))
      hlo = jax.jit(metric.update).lower(
          metric.init(), np.zeros(8, np.int32), np.zeros(8, np.float32)).as_text()
      assert "JmetricsThresholdUpdate" in hlo
      print("ran", float(metric.compute(state)))
      """, PATH=str(tmp_path), CXX=str(tmp_path / "no-compiler"),
      HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
  assert done.returncode == 0, done.stderr[-3000:]
  assert "ran" in done.stdout
  assert sorted(os.listdir(tmp_path)) == []  # nothing written, nothing cached


@pytest.mark.parametrize("row_length", [1, 5, 16, 17, 100])
@pytest.mark.parametrize("signed_zeros", [False, True])
def test_argmax_matches_xla_argmax_on_every_special_value(row_length,
                                                          signed_zeros):
  """The row kernel against jnp.argmax on CPU (subnormals tie with zeros,
  the first NaN wins), and with Keras' rule of -0.0 -> -tiny."""
  ffi.available()
  rng = np.random.default_rng(row_length)
  special = np.array([0.0, -0.0, 1e-40, -1e-40, 2e-40, np.nan, -np.nan,
                      np.inf, -np.inf, 1.0, -1.0, 3e38, -3e38], np.float32)
  scores = np.concatenate([
      rng.choice(special, size=(3000, row_length)),
      rng.normal(size=(3000, row_length)),
      np.round(rng.normal(size=(3000, row_length)))]).astype(np.float32)

  def reference(x):
    if signed_zeros:
      x = jnp.where((x == 0.0) & jnp.signbit(x), -jnp.finfo(x.dtype).tiny, x)
    return jnp.argmax(x, axis=-1)

  expected = jax.jit(reference)(scores)
  got = jax.jit(lambda x: ffi.argmax(x, signed_zeros=signed_zeros))(
      scores.reshape(3, 3000, row_length))
  np.testing.assert_array_equal(np.asarray(got).reshape(-1), np.asarray(expected))


def test_product_sums_match_float64_sums():
  ffi.available()
  rng = np.random.default_rng(5)
  n = 3 * 2**16 + 11
  t, p, w = (rng.random(n, dtype=np.float32) for _ in range(3))
  for weights in (None, w):
    got = jax.jit(ffi.product_sums)(t, p, weights)
    c = np.ones(n) if weights is None else w.astype(np.float64)
    expected = [np.sum(c * t * p), np.sum(c * t), np.sum(c * p)]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


def _cumulative_cells(hist, t, num_labels):
  """TP, FP, TN, FN of shape (T, labels) from a flat (label, bucket,
  positive) histogram, in float64 (exact for the integer counts here)."""
  h = np.asarray(hist, np.float64).reshape(num_labels, t + 1, 2)
  above = np.cumsum(h[:, ::-1], axis=1)[:, ::-1][:, 1:]  # buckets > j
  total = h.sum(axis=1)
  tp, fp = above[..., 1].T, above[..., 0].T
  return np.stack([tp, fp, total[:, 0] - fp, total[:, 1] - tp])


@pytest.mark.parametrize("num_labels", [1, 3])
@pytest.mark.parametrize("cells", [(0, 1, 2, 3), (0, 1), (0, 3), (2,), "stacked"])
@pytest.mark.parametrize("permuted", [False, True])
def test_threshold_totals_add_exact_counts(num_labels, cells, permuted):
  """Integer counts, also past 2**24 per cell, land exactly: the new pair is
  the total rounded to float32 and the exact rest, as `wide` keeps it."""
  ffi.available()
  rng = np.random.default_rng(len(str(cells)) + num_labels)
  t = 7
  hist = rng.integers(0, 2**27, num_labels * (t + 1) * 2).astype(np.int32)
  hist[::5] = rng.integers(0, 40, hist[::5].size)  # small and large bins
  positions = rng.permutation(t).astype(np.int32) if permuted else None
  expected = _cumulative_cells(hist, t, num_labels)
  if permuted:
    expected = expected[:, positions]
  kept = (0, 1, 2, 3) if cells == "stacked" else cells
  shape = (t, num_labels) if num_labels > 1 else (t,)
  start = rng.integers(0, 2**40, (4, *shape)).astype(np.float64)
  start_hi = start.astype(np.float32)
  start_lo = (start - start_hi).astype(np.float32)
  if cells == "stacked":
    totals = [(start_hi, start_lo)]
  else:
    totals = [(start_hi[i], start_lo[i]) for i in cells]

  @jax.jit
  def add(hist, totals):
    return ffi.threshold_totals(
        hist, totals, cells=ffi.Cells(sum(1 << i for i in kept)), num_thresholds=t,
        num_labels=num_labels, positions=positions)

  got = add(hist, totals)
  got_hi = np.concatenate([np.asarray(hi).reshape(-1, *shape) for hi, _ in got])
  got_lo = np.concatenate([np.asarray(lo).reshape(-1, *shape) for _, lo in got])
  want = start[list(kept)] + expected[list(kept)].reshape(-1, *shape)
  assert np.all(want < 2**47)
  np.testing.assert_array_equal(got_hi, want.astype(np.float32))
  np.testing.assert_array_equal(got_hi.astype(np.float64) + got_lo, want)


def test_threshold_totals_round_weighted_sums_once():
  ffi.available()
  rng = np.random.default_rng(3)
  t, num_labels = 9, 2
  hist = rng.random(num_labels * (t + 1) * 2, dtype=np.float32) * 1000
  start = rng.random((4, t, num_labels)) * 1e6
  start_hi = start.astype(np.float32)
  start_lo = (start - start_hi).astype(np.float32)
  (hi, lo), = jax.jit(lambda h, s: ffi.threshold_totals(
      h, [s], cells=ffi.Cells.ALL, num_thresholds=t, num_labels=num_labels))(
          hist, (start_hi, start_lo))
  want = (start_hi.astype(np.float64) + start_lo
          + _cumulative_cells(hist, t, num_labels).astype(np.float32))
  np.testing.assert_allclose(np.asarray(hi, np.float64) + np.asarray(lo), want,
                             rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("grid", [
    dict(num_thresholds=50), dict(thresholds=[0.9, 0.1, 0.5, 0.3])])
def test_threshold_update_is_the_xla_update(weighted, grid):
  """On CPU an AUC update is two native calls; XLA's path gives the same
  state: bit for bit for counts, to float32 rounding for weighted sums."""
  from jmetrics import AUC  # pylint: disable=g-import-not-at-top
  from jmetrics._src.metrics import thresholds as thr  # pylint: disable=g-import-not-at-top
  from jmetrics._src.kernels import thresholds as kernel  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(11)
  n = 3 * 2**16 + 5
  y_true = rng.random(n) < 0.4
  y_pred = rng.random(n, dtype=np.float32)
  weights = rng.random(n, dtype=np.float32) if weighted else None
  metric = AUC(**grid)
  state = jax.jit(metric.update)(metric.init(), y_true, y_pred, weights)
  state = jax.jit(metric.update)(state, y_true, y_pred, weights)

  def xla_update(state):
    y_t, y_p, w = thr.prepare(metric, y_true, y_pred, weights)
    hist = kernel._xla_histogram(jnp.asarray(y_t), jnp.asarray(y_p, jnp.float32),
                                 w, metric.grid, 1)
    batch = kernel._from_histogram(hist, metric.grid, 1, False, n)
    return thr.ConfusionState(wide.wide_add_counts(state.counts, jnp.stack(batch)))

  expected = jax.jit(lambda s: xla_update(xla_update(s)))(metric.init())
  if weighted:
    # The kernel sums the batch in double and rounds each cell once; XLA's
    # path sums in float32 (its tn may come out at -0.0078 for 0). Both are
    # held to the definition, the kernel to float32 rounding.
    above = y_pred[:, None] > np.asarray(metric.grid.values, np.float32)
    w = 2 * weights.astype(np.float64)[:, None]
    tp, fp = (w * above * y_true[:, None]).sum(0), (w * above * ~y_true[:, None]).sum(0)
    reference = np.stack([tp, fp, (w * ~y_true[:, None]).sum() - fp,
                          (w * y_true[:, None]).sum() - tp])
    value = lambda s: np.asarray(s.counts.hi, np.float64) + np.asarray(s.counts.lo)
    np.testing.assert_allclose(value(state), reference, rtol=3e-7, atol=1e-9)
    np.testing.assert_allclose(value(expected), reference, rtol=1e-5, atol=0.1)
  else:
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(expected)):
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_threshold_update_is_one_native_call():
  """On CPU an AUC update compiles to the fused kernel alone: each extra
  computation or returned array costs microseconds, a good part of an
  update of a small batch."""
  from jmetrics import AUC  # pylint: disable=g-import-not-at-top
  ffi.available()
  metric = AUC(num_thresholds=200)
  x = jnp.zeros(2**16)
  hlo = jax.jit(metric.update).lower(metric.init(), x, x).compile().as_text()
  entry = hlo[hlo.index("ENTRY"):]
  # "%name = <shape or (tuple of shapes)> <opcode>(operands), ..."
  ops = re.findall(r"= (?:\([^)]*\)|\S+) ([\w-]+)\(", entry)
  assert [op for op in ops if op not in ("parameter", "constant")] == [
      "custom-call"], entry
  assert 'custom_call_target="JmetricsThresholdUpdate"' in entry
  assert len(jax.tree.leaves(metric.init())) == 2


@pytest.mark.parametrize("increment", ["counts", "pairs"])
def test_table_add_gives_wide_add_counts_bits_on_every_special_value(increment):
  rng = np.random.default_rng(3)
  shape = (48, 48)
  totals = rng.integers(0, 2**40, shape).astype(np.float64)
  totals[0, :4] = [np.inf, -np.inf, np.nan, 3.4e38]
  totals[1, :3] = [0.5, -2.0**30, 2.0**47 - 1]
  hi = totals.astype(np.float32)
  lo = np.where(np.isfinite(hi), totals - hi, 0).astype(np.float32)
  total = wide.Wide(jnp.asarray(hi), jnp.asarray(lo))
  if increment == "counts":
    add = rng.integers(0, 2**31 - 1, shape).astype(np.int32)
    add[2, :3] = [0, 2**24 + 1, 4095]
  else:
    sums = rng.integers(0, 2**36, shape).astype(np.float64) + rng.choice(
        [0.0, 0.25, 0.1], shape)
    sums[2, :4] = [np.inf, np.nan, -np.inf, 1e38]
    add_hi = sums.astype(np.float32)
    add = wide.Wide(jnp.asarray(add_hi), jnp.asarray(
        np.where(np.isfinite(add_hi), sums - add_hi, 0).astype(np.float32)))
  native = jax.jit(lambda t, a: wide.Wide(*ffi.add_counts(
      jnp.stack(a) if isinstance(a, wide.Wide) else a, t.hi, t.lo)))(total, add)
  xla = jax.jit(wide.wide_add_counts)(total, add)
  for got, want in zip(native, xla):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
