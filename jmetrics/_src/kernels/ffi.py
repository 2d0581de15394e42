"""The native CPU kernels (``native/*.cc``) as typed ``jax.ffi`` calls.

XLA:CPU runs a scatter-add on one thread, one element at a time, so every
histogram metric (threshold counts, confusion matrices, per-class sums) costs
several reads of its inputs there. The kernels read the inputs once, share
the work with XLA's intra-op thread pool, and count into small private tables.

They are compiled when the package is installed (``setup.py``) into
``native/_kernels*.so`` inside the package: a baseline for any x86-64-v2 CPU
and, on x86-64, builds for x86-64-v3 (AVX2, FMA, BMI2) and x86-64-v4
(AVX-512), the highest the CPU has loaded; nothing is compiled or loaded from
elsewhere at run time. Where the install could not
build them, ``import jmetrics`` warns once and every kernel takes its XLA
lowering, which gives the same results. ``JMETRICS_NATIVE=0`` turns them off.

The functions here are the raw calls, valid on CPU only; metrics reach them
through the operations of this package (`dispatch.Kernel`), which choose the
lowering per platform.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import importlib.machinery
import os
import pathlib
import threading
import warnings

import jax
import jax.numpy as jnp
import numpy as np

NATIVE_DIR = pathlib.Path(__file__).with_name("native")


class Target(str, enum.Enum):
  """The FFI handlers the native library exports, each under its own name."""

  THRESHOLD_HISTOGRAM = "JmetricsThresholdHistogram"
  THRESHOLD_UPDATE = "JmetricsThresholdUpdate"
  THRESHOLD_TOTALS = "JmetricsThresholdTotals"
  TOP_K_THRESHOLD_HISTOGRAM = "JmetricsTopKThresholdHistogram"
  PAIR_HISTOGRAM = "JmetricsPairHistogram"
  BINCOUNT = "JmetricsBincount"
  PRODUCT_SUMS = "JmetricsProductSums"
  ADD_COUNTS = "JmetricsAddCounts"
  ARGMAX = "JmetricsArgmax"
  IN_TOP_K = "JmetricsInTopK"
  ROW_STATISTICS = "JmetricsRowStatistics"


class Bucketing(enum.IntEnum):
  """How the threshold kernels find a score's bucket (the ``mode`` attribute).

  Attributes:
    EVENLY: Keras' arithmetic bucket on an evenly spaced grid over [0, 1],
      ``ceil(clip(p, 0, 1) * (T - 1))``.
    EVENLY_WITH_EPSILON: the same with AUC's outer thresholds ``-eps`` and
      ``1 + eps``: every score is above the first.
    SORTED: a binary search of the ascending thresholds (``p > t``).
  """

  EVENLY = 0
  EVENLY_WITH_EPSILON = 1
  SORTED = 2


class Cells(enum.IntFlag):
  """Which confusion counts a set of running totals holds, in this order."""

  TP = 1
  FP = 2
  TN = 4
  FN = 8
  ALL = 15

  @property
  def indices(self) -> tuple[int, ...]:
    """The positions of the set cells in (TP, FP, TN, FN)."""
    return tuple(i for i in range(4) if self & (1 << i))


_lock = threading.Lock()
_library = None  # the loaded ctypes library, kept alive once registered


# What each x86-64 level adds to the one below, as Linux names the CPU flags
# (abm: LZCNT).
_LEVEL_FLAGS = {
    3: frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe",
                  "abm"}),
    4: frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
}
_BUILDS = {2: "_kernels", 3: "_kernels_v3", 4: "_kernels_v4"}


def cpu_level() -> int:
  """The x86-64 microarchitecture level of this CPU that the kernels use.

  4 where it has AVX-512, 3 where it has AVX2, FMA and BMI2 (read from
  ``/proc/cpuinfo``), else 2: the baseline build, which any x86-64-v2 CPU
  runs, and the only one elsewhere. ``JMETRICS_NATIVE=v2`` (or ``v3``) caps
  the level.
  """
  requested = os.environ.get("JMETRICS_NATIVE", "")
  cap = int(requested[1:]) if requested in ("v2", "v3", "v4") else 4
  flags = set()
  try:
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
      for line in info:
        if line.startswith("flags"):
          flags = set(line.split(":", 1)[1].split())
          break
  except OSError:
    pass
  level = 2
  while level < cap and _LEVEL_FLAGS[level + 1] <= flags:
    level += 1
  return level


def library_path() -> pathlib.Path | None:
  """The kernels' shared library for this CPU that the install built, or
  None: the highest level the CPU has, else the baseline."""
  names = [_BUILDS[level] for level in range(cpu_level(), 1, -1)]
  for name in names:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
      candidate = NATIVE_DIR / f"{name}{suffix}"
      if candidate.is_file():
        return candidate
  return None


def available() -> bool:
  """Whether the native CPU kernels are installed and registered."""
  return _load()


@functools.cache
def _load() -> bool:
  global _library
  if os.environ.get("JMETRICS_NATIVE", "1") == "0":
    return False
  with _lock:
    path = library_path()
    try:
      if path is None:
        raise OSError(
            "the install did not build them (no C++ compiler or no jaxlib "
            "FFI headers when `pip install` ran; reinstall with a compiler "
            "to build them)")
      library = ctypes.cdll.LoadLibrary(str(path))
      for target in Target:
        jax.ffi.register_ffi_target(
            target.value, jax.ffi.pycapsule(getattr(library, target.value)),
            platform="cpu")
    except (OSError, AttributeError) as error:
      warnings.warn(
          f"jmetrics: the native CPU histogram kernels are unavailable "
          f"({error}); histogram metrics use their XLA path, which gives the "
          f"same results but is slower on CPU. Set JMETRICS_NATIVE=0 to "
          f"silence this.", RuntimeWarning, stacklevel=3)
      return False
    _library = library
  return True


def _attrs(**attrs):
  return {k: np.int64(int(v)) for k, v in attrs.items()}


def _flat(x, dtype=jnp.float32):
  return jnp.asarray(x, dtype).ravel()


def _weights(weights):
  return jnp.zeros((0,), jnp.float32) if weights is None else _flat(weights)


def _thresholds(sorted_thresholds):
  if sorted_thresholds is None:
    return jnp.zeros((0,), jnp.float32)
  return _flat(sorted_thresholds)


def _positions(positions):
  if positions is None:
    return jnp.zeros((0,), jnp.int32)
  return jnp.asarray(positions, jnp.int32)


def _counts(target: Target, bins: int, weighted: bool, *args, pairs=False,
            **attrs):
  # A (2, bins) float32 output asks the kernel for each double sum as a
  # (hi, lo) pair; (bins,) for it rounded to one float.
  if not weighted:
    out = jax.ShapeDtypeStruct((bins,), jnp.int32)
  else:
    out = jax.ShapeDtypeStruct((2, bins) if pairs else (bins,), jnp.float32)
  return jax.ffi.ffi_call(target.value, out, vmap_method="sequential")(
      *args, **_attrs(**attrs))


# Label dtypes the threshold kernels read as they are; others are compared
# with zero first.
_LABEL_DTYPES = (np.dtype(bool), np.dtype(np.uint8), np.dtype(np.int8),
                 np.dtype(np.int32), np.dtype(np.uint32), np.dtype(np.float32))


def _labels(labels):
  labels = jnp.asarray(labels)
  if np.dtype(labels.dtype) not in _LABEL_DTYPES:
    labels = labels != 0
  return labels.ravel()


def threshold_histogram(scores, labels, weights, *, bucketing: Bucketing,
                        num_thresholds: int, num_labels: int,
                        sorted_thresholds=None, pairs: bool = False
                        ) -> jax.Array:
  """Flat counts of ``(label index, bucket, positive)`` keys.

  Args:
    scores: float32 scores; the last axis holds ``num_labels`` labels.
    labels: truth of the same size (nonzero is positive).
    weights: ``None`` or float32 weights of the same size.
    bucketing: how a score finds its bucket.
    num_thresholds: T.
    num_labels: 1 to pool every element, else the size of the last axis.
    sorted_thresholds: the ascending thresholds, for `Bucketing.SORTED`.
    pairs: return weighted sums as exact pairs (see Returns).

  Returns:
    ``num_labels * (T + 1) * 2`` counts, int32, or sums of weights: float32
    sums (accumulated in double, rounded once), or with ``pairs`` float32
    ``(2, bins)``, each double sum as ``hi`` (row 0) plus ``lo`` (row 1),
    exact for integer sums below 2**48.
  """
  return _counts(
      Target.THRESHOLD_HISTOGRAM, num_labels * (num_thresholds + 1) * 2,
      weights is not None, _flat(scores), _labels(labels), _weights(weights),
      _thresholds(sorted_thresholds), pairs=pairs, mode=bucketing,
      num_thresholds=num_thresholds, num_labels=num_labels)


def _slots(cells) -> np.ndarray:
  """The cell (0 TP, 1 FP, 2 TN, 3 FN) of each slot of the totals: the set
  cells of a `Cells`, in order, or a sequence of cells (which may repeat)."""
  cells = cells.indices if isinstance(cells, Cells) else tuple(cells)
  return np.asarray(cells, np.int64)


def _wide_outputs(target: Target, totals, *args, slots, **attrs) -> list:
  flat = [x for total in totals for x in total]
  outs = jax.ffi.ffi_call(
      target.value, [jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in flat],
      vmap_method="sequential")(
          *args, *(x.astype(jnp.float32) for x in flat), slots=_slots(slots),
          **_attrs(**attrs))
  return [tuple(outs[i:i + 2]) for i in range(0, len(outs), 2)]


def threshold_totals(histogram, totals, *, cells, num_thresholds: int,
                     num_labels: int, positions=None) -> list:
  """Running totals with a `threshold_histogram` added, in one call.

  Args:
    histogram: the flat histogram: int32 counts, float32 ``(2, bins)``
      ``(hi, lo)`` pairs of weighted sums (added exactly: integer weights
      stay exact past 2**24 per cell), or float32 ``(bins,)`` sums (added
      rounded to float32, as they come).
    totals: ``(hi, lo)`` totals of the ``cells``, in their order: each of
      shape ``(T,)`` or ``(T, num_labels)``, or several consecutive cells
      stacked on a leading axis.
    cells: which counts ``totals`` hold: a `Cells` (each set cell once, in
      the order TP, FP, TN, FN), or the cell index (0 TP, 1 FP, 2 TN, 3 FN)
      of each total in order, which may repeat (several metrics' totals
      from one histogram).
    num_thresholds: T.
    num_labels: as for the histogram.
    positions: ``None`` if the totals are in the grid's sorted order, else
      int32 ``(T,)``, the sorted position of each threshold in their order.

  Returns:
    The totals with the batch added, as ``(hi, lo)`` pairs in a list.
  """
  return _wide_outputs(
      Target.THRESHOLD_TOTALS, totals, histogram, _positions(positions),
      slots=cells, num_thresholds=num_thresholds, num_labels=num_labels)


def threshold_update(scores, labels, weights, totals, *, bucketing: Bucketing,
                     num_thresholds: int, num_labels: int, cells,
                     sorted_thresholds=None, positions=None) -> list:
  """`threshold_totals` of `threshold_histogram`, in one call (arguments as
  there); returns the new ``(hi, lo)`` totals in a list. Weighted sums are
  kept in double and added exactly as a pair, as from a ``pairs``
  histogram."""
  return _wide_outputs(
      Target.THRESHOLD_UPDATE, totals, _flat(scores), _labels(labels),
      _weights(weights), _thresholds(sorted_thresholds), _positions(positions),
      slots=cells, mode=bucketing, num_thresholds=num_thresholds,
      num_labels=num_labels)


def top_k_threshold_histogram(scores, labels, weights, *, k: int, class_id,
                              bucketing: Bucketing, num_thresholds: int,
                              sorted_thresholds=None,
                              pairs: bool = False) -> jax.Array:
  """Flat ``(T + 1) * 2`` counts of ``(bucket, positive)`` after Keras' top-k
  filter, as `threshold_histogram` of the filtered (and, with ``class_id``,
  sliced) scores on one pooled label.

  Args:
    scores: float32 scores of shape ``(..., C)``; the filter keeps the ``k``
      largest of each row in ``lax.top_k``'s order.
    labels: truth like ``scores``, or with ``class_id`` the ``(..., 1)``
      class column.
    weights: ``None``; or float32 weights, one per row (any shape of
      ``scores.shape[:-1]``'s size), or without ``class_id`` one per score.
    k: the top_k, ``>= 1``.
    class_id: ``None``, or the column of the last axis that is counted.
    bucketing, num_thresholds, sorted_thresholds, pairs: as for
      `threshold_histogram`.

  Returns:
    int32 counts, or sums of weights as `threshold_histogram` returns them.
  """
  return _counts(
      Target.TOP_K_THRESHOLD_HISTOGRAM, (num_thresholds + 1) * 2,
      weights is not None, _flat(scores), _labels(labels), _weights(weights),
      _thresholds(sorted_thresholds), pairs=pairs, mode=bucketing,
      num_thresholds=num_thresholds, k=k, row_length=scores.shape[-1],
      class_id=-1 if class_id is None else class_id)


def add_counts(counts, hi, lo) -> tuple:
  """``(hi, lo)`` totals plus a table: int32 ``counts`` of their shape, or
  float32 ``(2, *shape)`` ``(hi, lo)`` pairs, added as `wide.wide_add_counts`
  adds them (the same bits)."""
  shape = jax.ShapeDtypeStruct(hi.shape, jnp.float32)
  return tuple(jax.ffi.ffi_call(Target.ADD_COUNTS.value, (shape, shape),
                                vmap_method="sequential")(counts, hi, lo))


def pair_histogram(y_true, y_pred, weights, num_classes: int, *,
                   pairs: bool = False) -> jax.Array:
  """Flat ``C * C`` counts of ``y_true * C + y_pred`` (int32 ids); pairs with
  an id outside ``[0, C)`` are dropped. Weighted sums as `threshold_histogram`
  returns them (with ``pairs``: float32 ``(2, C * C)`` hi and lo)."""
  return _counts(
      Target.PAIR_HISTOGRAM, num_classes * num_classes, weights is not None,
      _flat(y_true, jnp.int32), _flat(y_pred, jnp.int32), _weights(weights),
      pairs=pairs, num_classes=num_classes)


def bincount(keys, weights, bins: int, *, pairs: bool = False) -> jax.Array:
  """``bins`` counts of int32 ``keys``; keys outside ``[0, bins)`` dropped.
  Weighted sums as `threshold_histogram` returns them (with ``pairs``:
  float32 ``(2, bins)`` hi and lo)."""
  return _counts(Target.BINCOUNT, bins, weights is not None,
                 _flat(keys, jnp.int32), _weights(weights), pairs=pairs)


def product_sums(t, p, weights) -> jax.Array:
  """float32 ``[sum(w t p), sum(w t), sum(w p)]`` of float32 arrays of one
  shape (``w = 1`` when ``weights`` is None), accumulated in double."""
  return jax.ffi.ffi_call(
      Target.PRODUCT_SUMS.value, jax.ShapeDtypeStruct((3,), jnp.float32),
      vmap_method="sequential")(_flat(t), _flat(p), _weights(weights))


def argmax(scores, *, signed_zeros: bool) -> jax.Array:
  """int32 argmax of the last axis of float32 ``scores``, as ``jnp.argmax``
  on CPU (subnormals tie with zeros, the first NaN wins); with
  ``signed_zeros`` negative zeros rank below positive ones (Keras' rule)."""
  scores = jnp.asarray(scores, jnp.float32)
  return jax.ffi.ffi_call(
      Target.ARGMAX.value, jax.ShapeDtypeStruct(scores.shape[:-1], jnp.int32),
      vmap_method="sequential")(
          scores.reshape(-1), row_length=np.int64(scores.shape[-1]),
          signed_zeros=bool(signed_zeros))


def in_top_k(labels, scores, k: int) -> jax.Array:
  """Per row, whether fewer than ``k`` scores beat the score at the label.

  Args:
    labels: int32 class ids of shape ``scores.shape[:-1]``; a negative id
      indexes from the end, an id outside ``[-C, C)`` reads ``-inf``.
    scores: float32 scores of shape ``(..., C)``; a NaN at the label counts
      as ``-inf``, and "beat" is ``>`` with denormals as zero (XLA:CPU's).
    k: how many scores may beat the label's (``>= 0``).

  Returns:
    int32 0/1 of ``labels``' shape.
  """
  labels = jnp.asarray(labels, jnp.int32)
  scores = jnp.asarray(scores, jnp.float32)
  out = jax.ShapeDtypeStruct(labels.shape, jnp.int32)
  # Rows are independent: a vmapped call is one call on more rows.
  return jax.ffi.ffi_call(Target.IN_TOP_K.value, out,
                          vmap_method="broadcast_all")(
      scores, labels, **_attrs(k=k, row_length=scores.shape[-1]))


# The outputs `row_statistics` can ask for, in the order the kernel returns
# them, with the bit of each in the kernel's ``outputs`` attribute.
ROW_OUTPUTS = {"argmax": (1, jnp.int32), "crossentropy": (2, jnp.float32),
               "outranked": (4, jnp.int32)}


def row_statistics(scores, labels, *, outputs, signed_zeros: bool) -> list:
  """Per row of float32 ``scores`` ``(..., C)``, the requested statistics.

  Args:
    scores: float32 scores of shape ``(..., C)``, ``C >= 1``.
    labels: int32 class ids of shape ``scores.shape[:-1]``; may be None when
      only ``"argmax"`` is asked.
    outputs: a sorted tuple of names in `ROW_OUTPUTS`:
      ``"argmax"`` (`argmax` with ``signed_zeros``), ``"crossentropy"``
      (float32 sparse cross-entropy from logits; a label outside ``[0, C)``
      costs 0, a non-finite log-probability makes it NaN) and
      ``"outranked"`` (int32: the scores strictly above the label's, as
      `in_top_k` counts them: a negative label indexes from the end).
    signed_zeros: Keras' argmax rule, as for `argmax`.

  Returns:
    The outputs in the order of ``outputs``, each of shape
    ``scores.shape[:-1]``.
  """
  scores = jnp.asarray(scores, jnp.float32)
  batch = scores.shape[:-1]
  if labels is None:
    labels = jnp.zeros((0,), jnp.int32)
  else:
    labels = jnp.asarray(labels, jnp.int32)
  out = [jax.ShapeDtypeStruct(batch, ROW_OUTPUTS[name][1]) for name in outputs]
  mask = sum(ROW_OUTPUTS[name][0] for name in outputs)
  # Rows are independent: a vmapped call is one call on more rows.
  return jax.ffi.ffi_call(Target.ROW_STATISTICS.value, out,
                          vmap_method="broadcast_all")(
      scores, labels, row_length=np.int64(scores.shape[-1]),
      signed_zeros=bool(signed_zeros), outputs=np.int64(mask))
