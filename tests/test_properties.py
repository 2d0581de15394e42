"""Property tests (hypothesis) over every catalogue metric.

Each catalogue entry (`tests.catalogue.ENTRIES`) gets random batches: batch
sizes from ``FIB = (0, 1, 2, 3, 5, 8)``, each input cast to a dtype drawn from
bool, int8..int64, float16, bfloat16, float32, sample weights (weighted
entries) random with zeros or all zero, and NaN / +-inf sprinkled into
y_pred, y_true or sample_weight. For every example either the metric raises a
clear error (``ValueError`` / ``TypeError`` whose message starts with the
metric's class name, on both the eager and the jitted call), or:

1. eager ``update`` and ``jax.jit(update)`` give the same states: integer
   counts (``Case.exact``) bit for bit, float sums to float32 rounding (XLA
   compiles ``x / c`` as ``x * (1 / c)``), NaN and inf at the same places;
2. the native CPU kernels and their XLA bodies (``ffi.available`` patched
   off, as in ``tests/test_kernel_parity.py``) give bit-identical states for
   unweighted inputs and, for weighted ones, states within rtol 1e-6 (on the
   edge cases test_kernel_parity.py lacks: batches of 0 and 1 rows, NaN/inf,
   dtypes other than int32/float32; XLA bodies are slow to compile);
3. ``update(batch)`` and ``merge(update(head), update(tail))`` compute the
   same value (Case tolerances, NaN positions equal);
4. without NaN/inf the value is the Case's oracle (NumPy reference always,
   the Keras twin on a few examples per entry: Keras is slow);
5. with NaN/inf the value is Keras' (IEEE semantics as Keras 3 gives them),
   except for the library's documented rules, checked instead: Dice (a class
   whose totals are not finite is NaN, and so is any average over it) and
   the threshold metrics' non-finite weights (the cells a row counts in
   become non-finite, the others are untouched: float arithmetic, not
   Keras' ``0 * inf``);
6. an empty batch leaves ``compute`` at ``compute(init())``.

Every property is checked on every example; a failing one is recorded
(its first failure) and the others and the later examples still run, so one
test per entry reports every property it breaks (`Failures`). Per entry:
three explicit examples (batches of 0 and 1 rows, one row with NaN in the
last input) and ``max_examples`` drawn ones, no shrinking: each new shape or
dtype is a compile, and the module must stay near a minute on two cores.

Batch sizes are Fibonacci numbers so that the head and tail of every batch
(``SPLIT``) are sizes of the set again: the compiled updates are reused.
Separate tests check the non-numeric inputs (property 7) and the documented
NaN rules on hand-made inputs.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools

import hypothesis
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jmetrics as jm
from jmetrics._src.kernels import ffi
from jmetrics._src.numerics.wide import Wide
from tests import catalogue
from tests import harness

ENTRIES = catalogue.ENTRIES
FIB = (0, 1, 2, 3, 5, 8)
SPLIT = {0: 0, 1: 0, 2: 1, 3: 1, 5: 2, 8: 3}  # head size: head, tail in FIB
DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.float16,
          jnp.bfloat16, np.float32)
SPRINKLES = ("nan", "inf", "-inf")
# The metrics whose counts follow rule (b) for non-finite weights.
THRESHOLD_CLASSES = {
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives",
    "Precision", "Recall", "PrecisionAtRecall", "RecallAtPrecision",
    "SensitivityAtSpecificity", "SpecificityAtSensitivity", "AUC",
    "MeanAveragePrecision"}
KERAS_CLEAN, KERAS_DIRTY = 1, 1  # Keras-checked examples per entry
XLA_RTOL = 1e-6
JIT_RTOL = 1e-6

PROPERTY_SETTINGS = settings(
    max_examples=1, deadline=None, derandomize=True, database=None,
    # No shrinking: every shrink step is a new shape to compile.
    phases=(hypothesis.Phase.explicit, hypothesis.Phase.generate),
    suppress_health_check=list(hypothesis.HealthCheck))

_keras_used = collections.Counter()


# -- helpers ---------------------------------------------------------------------


def _names(metric) -> tuple:
  """Class names an error of ``metric`` may start with (a composition's
  members' too)."""
  names = [type(metric).__name__]
  for _, member in getattr(metric, "members", ()):
    names += _names(member)
  if getattr(metric, "metric", None) is not None and isinstance(
      metric.metric, jm.Metric):
    names += _names(metric.metric)
  return tuple(names)


def assert_clear_error(metric, error, argument=None):
  assert isinstance(error, (ValueError, TypeError)), (
      f"{type(metric).__name__}: raw {type(error).__name__}: {error}")
  message = str(error)
  # "Collection 'name': ..." names the class too, and "route(Mean 'loss'):"
  # a routed metric with the input names its user passes.
  assert message.startswith(tuple(f"{n}{end}" for n in _names(metric)
                                  for end in (":", " '")) + ("route(",)), (
      f"error does not name the metric {_names(metric)}: {message!r}")
  if argument is not None:
    assert argument in message, (
        f"error does not name the argument {argument}: {message!r}")


@contextlib.contextmanager
def xla_path():
  """Every kernel on its XLA body, the path GPU and TPU take."""
  original = ffi.available
  ffi.available = lambda: False
  try:
    yield
  finally:
    ffi.available = original


def _update(metric, state, args, weight):
  return metric.update(state, *args, sample_weight=weight)


@functools.lru_cache(maxsize=None)
def _jitted(entry_id: str, path: str):
  """One jitted update per entry and path: its traces are reused across
  examples of the same shapes, never shared between the two lowerings."""
  metric = _by_id[entry_id].metric
  return jax.jit(lambda s, a, w: _update(metric, s, a, w))


def jit_update(entry, state, args, weight, path="native"):
  fn = _jitted(entry.id, path)
  if path == "xla":
    with xla_path():
      return fn(state, args, weight)
  return fn(state, args, weight)


@functools.lru_cache(maxsize=None)
def reaches_native(entry_id: str) -> bool:
  """Whether the entry's update lowers to a native kernel at all (if not,
  both paths are one program and the XLA run is skipped)."""
  entry = _by_id[entry_id]
  rng = np.random.default_rng(0)
  args = tuple(np.asarray(a) for a in entry.make_inputs(rng, 8))
  weight = catalogue.row_weights(entry, rng, 8)
  if weight is not None and entry.make_weights is not None:
    weight = entry.make_weights(rng, args)
  metric = entry.metric
  text = str(jax.make_jaxpr(lambda s, a, w: _update(metric, s, a, w))(
      metric.init(), args, weight))
  return "ffi_call" in text or "custom_call" in text


_by_id = {entry.id: entry for entry in ENTRIES}


def _is_wide(x):
  return isinstance(x, Wide)


def collapse(state):
  """Leaves as float64 values: a `Wide` pair read as ``hi + lo``."""
  def value(x):
    if isinstance(x, Wide):
      hi = np.asarray(x.hi, np.float64)
      lo = np.asarray(x.lo, np.float64)
      return np.where(np.isfinite(hi), hi + lo, hi)
    return np.asarray(x, np.float64)
  return [value(x) for x in jax.tree.leaves(state, is_leaf=_is_wide)]


def _bits(x):
  x = np.asarray(x)
  if jnp.issubdtype(x.dtype, jnp.floating):
    nan = np.isnan(x.astype(np.float32))
    return nan, np.where(nan, 0, x).view(f"u{x.dtype.itemsize}")
  return np.zeros(x.shape, bool), x


def assert_bitwise(a, b, what):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert jax.tree.structure(a) == jax.tree.structure(b), what
  for i, (x, y) in enumerate(zip(la, lb)):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape and x.dtype == y.dtype, (
        f"{what}: leaf {i} {x.shape}/{x.dtype} vs {y.shape}/{y.dtype}")
    nx, bx = _bits(x)
    ny, by = _bits(y)
    if not (np.array_equal(nx, ny) and np.array_equal(bx, by)):
      raise AssertionError(f"{what}: leaf {i} differs\n{x!r}\n{y!r}")


def assert_values(actual, expected, entry, what, rtol=None, atol=None):
  """Close within the Case's tolerances; NaN and inf at the same places."""
  la, lb = jax.tree.leaves(actual), jax.tree.leaves(expected)
  assert len(la) == len(lb), f"{entry.id}: {what}: {actual} vs {expected}"
  for x, y in zip(la, lb):
    np.testing.assert_allclose(
        np.asarray(x, np.float64), np.asarray(y, np.float64),
        rtol=entry.rtol if rtol is None else rtol,
        atol=entry.atol if atol is None else atol, equal_nan=True,
        err_msg=f"{entry.id}: {what}")


def _exact_leaves(entry, state):
  """The state fields that hold integer counts (``Case.exact``)."""
  if entry.exact == catalogue.ALL:
    return jax.tree.leaves(state)
  if not entry.exact:
    return []
  if isinstance(state, dict):
    return jax.tree.leaves([state[name] for name in entry.exact])
  return jax.tree.leaves([getattr(state, name) for name in entry.exact])


def _structure(state):
  return jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), state)


def _take(x, rows):
  if x is None or np.ndim(x) == 0:
    return x
  return x[rows]


# -- drawing examples --------------------------------------------------------------


@dataclasses.dataclass
class Drawn:
  """One example's inputs: for jmetrics, and widened for the oracles."""

  args: tuple
  weight: object
  oracle_args: tuple
  sprinkled: str  # "", "y_true", "y_pred" or "sample_weight"
  n: int


def _oracle_dtype(base, cast):
  if jnp.issubdtype(base.dtype, jnp.floating):
    return base.dtype
  return np.float32 if jnp.issubdtype(cast.dtype, jnp.floating) else np.int32


def _sprinkle(rng, x, kind):
  x = np.array(x)
  k = max(1, x.size // 6)
  flat = x.reshape(-1)
  flat[rng.choice(x.size, size=k, replace=False)] = float(kind)
  return flat.reshape(x.shape)


def make_example(entry, draw_spec) -> Drawn:
  n, dtypes, weights, target, kind, seed = draw_spec
  rng = np.random.default_rng(seed)
  base = tuple(np.asarray(a) for a in entry.make_inputs(rng, n))
  if not entry.batch_axis:
    n = 1
  names = _arg_names(entry)
  args, oracle = [], []
  sprinkled = ""
  for name, x, dt in zip(names, base, dtypes):
    cast = x if dt is None else x.astype(dt)
    if (target == name and cast.size
        and jnp.issubdtype(cast.dtype, jnp.floating)):
      cast = _sprinkle(rng, cast, kind)
      sprinkled = name
    args.append(cast)
    oracle.append(cast.astype(_oracle_dtype(x, cast)))
  weight = None
  if entry.weighted and weights != "none":
    make = entry.make_weights or harness.default_weights
    weight = np.asarray(make(rng, tuple(base)), np.float32)
    if weights == "zeros":
      weight = np.zeros_like(weight)
    if target == "sample_weight" and weight.size:
      weight = _sprinkle(rng, weight, kind)
      sprinkled = "sample_weight"
  return Drawn(tuple(args), weight, tuple(oracle), sprinkled, n)


def _arg_names(entry):
  """The names the user passes the inputs by (a routed metric's sources);
  optional inputs besides ``sample_weight`` (a ranking metric's
  ``list_mask``) are left at their defaults."""
  return [p for p in jm.inputs_of(entry.metric).required]


@st.composite
def examples(draw, entry):
  n = draw(st.sampled_from(FIB))
  names = _arg_names(entry)
  # Each new dtype is a compile: the catalogue's own dtype (None) 2 in 3.
  dtypes = tuple(draw(st.one_of(st.just(None), st.just(None),
                                st.sampled_from(DTYPES))) for _ in names)
  # Weighted entries always pass weights (random with zeros, or all zero):
  # their unweighted path is the unweighted entries' (one compile less).
  weights = draw(st.sampled_from(("random", "zeros"))
                 if entry.weighted else st.just("none"))
  target = draw(st.sampled_from(
      ("",) + tuple(names) + (("sample_weight",) if entry.weighted else ())))
  kind = draw(st.sampled_from(SPRINKLES))
  seed = draw(st.integers(0, 2**16))
  return n, dtypes, weights, target, kind, seed


def _canonical(entry, n, target="", kind="nan"):
  return (n, (None,) * len(_arg_names(entry)),
          "random" if entry.weighted else "none", target, kind, 0)


# -- the per-example properties ------------------------------------------------------


class Failures:
  """The first failure of each property over one entry's examples: a
  failing property does not stop the others (nor the later examples)."""

  def __init__(self):
    self.first = {}

  @contextlib.contextmanager
  def check(self, prop, spec):
    try:
      yield
    except Exception as error:  # pylint: disable=broad-except
      kind = "" if isinstance(error, AssertionError) else (
          f"crash, {type(error).__name__}: ")
      self.first.setdefault(prop, f"{prop}: {kind}{error}\n  example: {spec}")

  def raise_any(self):
    if self.first:
      raise AssertionError("\n\n".join(self.first.values()))


def check_example(entry, spec, failures):
  """Properties 1 to 6 on one example."""
  metric = entry.metric
  ex = make_example(entry, spec)
  init = metric.init()
  try:
    jitted = jit_update(entry, init, ex.args, ex.weight)
  except Exception as error:  # pylint: disable=broad-except
    with failures.check("clear error (jit)", spec):
      assert_clear_error(metric, error)
    with failures.check("clear error (eager)", spec):
      with pytest.raises(type(error)) as eager_error:
        _update(metric, init, ex.args, ex.weight)
      assert_clear_error(metric, eager_error.value)
    return
  # 1. eager and jit: integer counts bit for bit, float sums to float32
  # rounding (XLA compiles ``x / c`` as ``x * (1 / c)`` and orders fused
  # sums its own way; plain jnp code differs by an ulp too); NaN and inf at
  # the same places either way.
  with failures.check("1 eager vs jit", spec):
    eager = _update(metric, init, ex.args, ex.weight)
    assert _structure(eager) == _structure(init), f"{entry.id}: state structure"
    assert _structure(jitted) == _structure(init), f"{entry.id}: state structure"
    assert_bitwise(_exact_leaves(entry, eager), _exact_leaves(entry, jitted),
                   f"{entry.id}: eager vs jit (integer counts)")
    for got, want in zip(collapse(eager), collapse(jitted)):
      np.testing.assert_allclose(got, want, rtol=JIT_RTOL, atol=0,
                                 equal_nan=True,
                                 err_msg=f"{entry.id}: eager vs jit")
  with failures.check("2-6", spec):
    check_jitted(entry, ex, init, jitted, failures, spec)


def check_jitted(entry, ex, init, jitted, failures, spec):
  metric = entry.metric
  # 2. native and XLA bodies.
  with failures.check("2 native vs XLA", spec):
    check_native_vs_xla(entry, ex, init, jitted)
  with failures.check("3/6 merge, empty batch", spec):
    check_merge(entry, ex, init, jitted)
  with failures.check("4/5 oracle or rule", spec):
    check_value(entry, ex, init, jitted)


def check_native_vs_xla(entry, ex, init, jitted):
  # Clean batches of 64 rows are tests/test_kernel_parity.py's; here the
  # edge cases it lacks: empty and one-row batches, NaN/inf, odd dtypes.
  edge = ex.n <= 1 or ex.sprinkled or any(
      a.dtype not in (np.int32, np.float32) for a in ex.args)
  if edge and reaches_native(entry.id):
    xla = jit_update(entry, init, ex.args, ex.weight, path="xla")
    if ex.weight is None:
      assert_bitwise(jitted, xla, f"{entry.id}: native vs XLA (unweighted)")
    else:
      # Not bitwise: the kernels sum a batch's weights in double and round
      # once into the Wide pair, XLA's scatter sums blocks in float32; both
      # are within float32 rounding of the exact sum, not equal to it.
      for got, want in zip(collapse(jitted), collapse(xla)):
        np.testing.assert_allclose(got, want, rtol=XLA_RTOL, atol=0,
                                   equal_nan=True,
                                   err_msg=f"{entry.id}: native vs XLA")


def check_merge(entry, ex, init, jitted):
  metric = entry.metric
  value = metric.compute(jitted)
  # 3. one update vs the merge of its head's and tail's.
  if entry.batch_axis:
    head = SPLIT[ex.n]
    parts = [(tuple(_take(a, slice(lo, hi)) for a in ex.args),
              _take(ex.weight, slice(lo, hi)))
             for lo, hi in ((0, head), (head, ex.n))]
    merged = metric.merge(*(jit_update(entry, init, a, w) for a, w in parts))
  else:  # one update is one unit: update twice vs merge of two
    merged = metric.merge(jitted, jitted)
    value2 = metric.compute(jit_update(entry, jitted, ex.args, ex.weight))
    assert_values(metric.compute(merged), value2, entry,
                  "update(update(A), A) vs merge(update(A), update(A))")
  if entry.batch_axis:
    assert_values(metric.compute(merged), value, entry,
                  f"update(batch of {ex.n}) vs merge(head {head}, tail)")
  # 6. an empty batch changes nothing that compute reads.
  if ex.n == 0:
    assert_values(value, metric.compute(init), entry,
                  "compute(update(init, empty)) vs compute(init)",
                  rtol=0, atol=0)


def check_value(entry, ex, init, jitted):
  metric = entry.metric
  if ex.n == 0:
    return
  value = metric.compute(jitted)
  # 4. and 5. the oracle, or the documented rule.
  if not ex.sprinkled:
    if entry.reference is not None:
      expected = entry.reference([(ex.oracle_args, ex.weight)])
      assert_values(value, expected, entry, "vs NumPy reference")
    elif entry.keras is not None and _keras_used[entry.id, 0] < KERAS_CLEAN:
      _keras_used[entry.id, 0] += 1
      expected = harness.oracle_value(entry, [(ex.oracle_args, ex.weight)])
      assert_values(value, expected, entry, "vs Keras")
    return
  name = type(metric).__name__
  if name == "Dice":
    check_dice_rule(metric, jitted, value)
  elif name in THRESHOLD_CLASSES and ex.sprinkled == "sample_weight":
    check_threshold_weight_rule(entry, ex)
  elif entry.keras is not None and _keras_used[entry.id, 1] < KERAS_DIRTY:
    _keras_used[entry.id, 1] += 1
    expected = harness.oracle_value(entry, [(ex.oracle_args, ex.weight)])
    assert_values(value, expected, entry,
                  f"vs Keras with NaN/inf in {ex.sprinkled}")


def check_dice_rule(metric, state, value):
  """Rule (a): a class whose totals are not finite is NaN; any average
  over a non-finite class NaN; finite totals give a finite value."""
  totals = np.stack(collapse(state))  # (3, ...) intersection, true, pred
  bad = ~np.all(np.isfinite(totals), axis=0)
  value = np.asarray(value)
  if value.shape == bad.shape:
    np.testing.assert_array_equal(np.isnan(value), bad,
                                  err_msg="Dice: NaN classes")
    assert np.all(np.isfinite(value[~bad])), value
  elif np.any(bad):
    assert np.isnan(value), f"Dice: average over a non-finite class: {value}"
  else:
    assert np.all(np.isfinite(value)), value


def check_threshold_weight_rule(entry, ex):
  """Rule (b): a row with a non-finite weight makes exactly the cells it
  counts in non-finite (NaN for a NaN weight) and leaves the others."""
  metric = entry.metric
  weight = np.broadcast_to(ex.weight, np.shape(ex.args[0])[:np.ndim(ex.weight)])
  rows = np.nonzero(~np.isfinite(weight.reshape(weight.shape[0], -1)).all(1))[0]
  for i in rows[:2]:
    args = tuple(_take(a, slice(i, i + 1)) for a in ex.args)
    lone = jit_update(entry, metric.init(), args, ex.weight[i:i + 1])
    unit = jit_update(entry, metric.init(), args,
                      np.ones_like(ex.weight[i:i + 1]))
    for got, counted in zip(collapse(lone), collapse(unit)):
      assert np.all(got[counted == 0] == 0), (
          f"{entry.id}: a non-finite weight reached cells its row does not "
          f"count in\n{got}\n{counted}")
      assert np.all(~np.isfinite(got[counted != 0])), (
          f"{entry.id}: cells counting a non-finite weight stayed finite\n"
          f"{got}\n{counted}")
      if np.all(np.isnan(ex.weight[i])):
        assert np.all(np.isnan(got[counted != 0])), got


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_properties(entry):
  failures = Failures()

  @PROPERTY_SETTINGS
  @given(spec=examples(entry))
  @example(spec=_canonical(entry, 0))
  @example(spec=_canonical(entry, 1))
  # The one-row signature again (compiled already) with NaN in y_pred.
  @example(spec=_canonical(entry, 1, _arg_names(entry)[-1], "nan"))
  def run(spec):
    check_example(entry, spec, failures)
  run()
  failures.raise_any()


# -- 7. non-numeric inputs -------------------------------------------------------------

BAD_INPUTS = {
    "None": None,
    "a string": "abc",
    "a ragged list": [[1.0, 2.0], [3.0]],
    "an object array holding None": np.array([None, 1.0], dtype=object),
}


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_non_numeric_inputs_name_the_metric_and_argument(entry):
  metric = entry.metric
  rng = np.random.default_rng(0)
  args = tuple(np.asarray(a) for a in entry.make_inputs(rng, 2))
  names = _arg_names(entry) + ["sample_weight"]
  for position, name in enumerate(names):
    for what, bad in BAD_INPUTS.items():
      if name == "sample_weight" and bad is None:
        continue  # None is the default: no weights
      call_args = list(args)
      weight = None
      if name == "sample_weight":
        weight = bad
      else:
        call_args[position] = bad
      with pytest.raises(Exception) as error:
        _update(metric, metric.init(), tuple(call_args), weight)
      assert_clear_error(metric, error.value, argument=name), what


# -- the documented rules on hand-made inputs ------------------------------------------


def _on_every_path(metric, *args, sample_weight=None):
  """compute of one update eager, jitted and on the XLA path; all equal."""
  init = metric.init()
  eager = metric.update(init, *args, sample_weight=sample_weight)
  fn = jax.jit(lambda s, a, w: metric.update(s, *a, sample_weight=w))
  jitted = fn(init, args, sample_weight)
  with xla_path():
    xla = jax.jit(lambda s, a, w: metric.update(s, *a, sample_weight=w))(
        init, args, sample_weight)
  assert_bitwise(eager, jitted, f"{metric}: eager vs jit")
  for got, want in zip(collapse(jitted), collapse(xla)):
    np.testing.assert_allclose(got, want, rtol=XLA_RTOL, equal_nan=True)
  return np.asarray(metric.compute(jitted))


def test_rule_a_dice_nonfinite_class_is_nan():
  labels = np.array([0, 1, 2, 1], np.int32)
  scores = np.full((4, 3), 1 / 3, np.float32)
  scores[1, 1] = np.nan
  per_class = _on_every_path(jm.Dice(num_classes=3, average=None),
                             labels, scores)
  np.testing.assert_array_equal(np.isnan(per_class), [False, True, False])
  assert np.isnan(_on_every_path(jm.Dice(num_classes=3, average="macro"),
                                 labels, scores))
  scores[1, 1] = np.inf
  assert np.isnan(_on_every_path(jm.Dice(num_classes=3, average=None),
                                 labels, scores)[1])


def test_rule_b_threshold_nan_score_never_above_inf_weight_as_floats():
  labels = np.array([1, 0, 1, 0], np.int32)
  scores = np.array([0.9, np.nan, np.nan, 0.2], np.float32)
  # NaN > 0.5 is false: the NaN positive is a false negative, the NaN
  # negative a true negative.
  for cls, want in ((jm.TruePositives, 1), (jm.FalsePositives, 0),
                    (jm.TrueNegatives, 2), (jm.FalseNegatives, 1)):
    assert _on_every_path(cls(), labels, scores) == want, cls
  # An infinite weight on the one true positive: TP is not finite, FP
  # stays 0 (not Keras' 0 * inf = NaN).
  weights = np.array([np.inf, 1.0, 1.0, 1.0], np.float32)
  assert _on_every_path(jm.TruePositives(), labels, scores,
                        sample_weight=weights) == np.inf or np.isnan(
                            _on_every_path(jm.TruePositives(), labels, scores,
                                           sample_weight=weights))
  assert _on_every_path(jm.FalsePositives(), labels, scores,
                        sample_weight=weights) == 0.0
  assert _on_every_path(jm.TrueNegatives(), labels, scores,
                        sample_weight=weights) == 2.0


def test_rule_c_nan_label_is_no_class():
  labels = np.array([0.0, np.nan, 2.0, 1.0], np.float32)
  preds = np.array([0, 1, 2, 2], np.int32)
  keep = ~np.isnan(labels)
  for metric in (jm.MeanIoU(num_classes=3), jm.IoU(num_classes=3,
                                                   target_class_ids=[1])):
    got = _on_every_path(metric, labels, preds)
    want = _on_every_path(metric, labels[keep].astype(np.int32), preds[keep])
    np.testing.assert_allclose(got, want, rtol=1e-6)
  # The sparse crossentropy: the NaN row costs 0 and still counts a row.
  scores = np.array([[0.7, 0.2, 0.1]] * 4, np.float32)
  metric = jm.SparseCategoricalCrossentropy()
  got = _on_every_path(metric, labels, scores)
  losses = -np.log(scores[np.arange(4), np.nan_to_num(labels).astype(int)])
  losses[~keep] = 0.0
  np.testing.assert_allclose(got, losses.mean(), rtol=1e-6)
  keras_metric = catalogue.keras_twin(metric)()
  keras_metric.update_state(labels, scores)
  np.testing.assert_allclose(got, np.asarray(keras_metric.result()), rtol=1e-6)


def test_rule_d_running_totals_are_float_sums():
  assert _on_every_path(jm.Sum(), np.array([1.0, np.inf], np.float32)) == np.inf
  assert np.isnan(_on_every_path(jm.Sum(),
                                 np.array([np.inf, -np.inf], np.float32)))
  assert np.isnan(_on_every_path(jm.Mean(), np.array([1.0, np.nan],
                                                     np.float32)))
  assert _on_every_path(jm.Mean(), np.array([1.0, np.inf], np.float32)) == np.inf
  metric = jm.Sum()
  plus = metric.update(metric.init(), np.array([np.inf], np.float32))
  minus = metric.update(metric.init(), np.array([-np.inf], np.float32))
  assert metric.compute(metric.merge(plus, plus)) == np.inf
  assert np.isnan(metric.compute(metric.merge(plus, minus)))
