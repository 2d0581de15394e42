"""Native multi-threaded histogram kernels for XLA:CPU, behind `jax.ffi`.

XLA:CPU runs a scatter-add on one thread, one element at a time, so every
histogram metric (threshold counts, confusion matrices, per-class sums) costs
several reads of its inputs there. The kernels in ``native/*.cc`` read
the inputs once, share the work with XLA's intra-op thread pool, and count into
small private tables (see that file).

They are compiled when the package is installed (``setup.py``) into
``native/_kernels*.so`` inside the package, for any x86-64-v2 CPU; nothing is
compiled or loaded from elsewhere at run time. Where the install could not
build them, ``import jmetrics`` warns once and every metric takes its pure-XLA
path, which gives the same counts. ``JMETRICS_NATIVE=0`` turns the kernels off.

Callers pass both paths to `on_cpu`: the kernels run on CPU devices; GPU and
TPU lowerings keep the XLA path (a scatter there is already parallel).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.machinery
import math
import os
import pathlib
import re
import threading
import warnings

import jax
from jax.experimental import custom_partitioning
import jax.numpy as jnp
import numpy as np

_NATIVE_DIR = pathlib.Path(__file__).with_name("native")
_SOURCES = tuple(sorted(_NATIVE_DIR.glob("*.cc")))
# Every handler the sources define is registered under its own name.
_HANDLER = re.compile(rb"XLA_FFI_DEFINE_HANDLER_SYMBOL\(\s*(\w+)")

_lock = threading.Lock()
_library = None  # the loaded ctypes library, kept alive once registered


def library_path() -> pathlib.Path | None:
  """The kernels' shared library the install built, or None."""
  for suffix in importlib.machinery.EXTENSION_SUFFIXES:
    candidate = _NATIVE_DIR / f"_kernels{suffix}"
    if candidate.is_file():
      return candidate
  return None


def _targets() -> list[str]:
  return [name.decode() for path in _SOURCES
          for name in _HANDLER.findall(path.read_bytes())]


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
      for name in _targets():
        jax.ffi.register_ffi_target(
            name, jax.ffi.pycapsule(getattr(library, name)), platform="cpu")
    except (OSError, AttributeError) as error:
      warnings.warn(
          f"jmetrics: the native CPU histogram kernels are unavailable "
          f"({error}); histogram metrics use their XLA path, which gives the "
          f"same results but is slower on CPU. Set JMETRICS_NATIVE=0 to "
          f"silence this.", RuntimeWarning, stacklevel=3)
      return False
    _library = library
  return True


def on_cpu(native_path, xla_path, *args, per_row: bool = False,
           num_batched: int | None = None, sharded=None):
  """``native_path(*args)`` on CPU when the kernels are available, else XLA's.

  Both paths must give the same result: a sum over the leading axis of
  ``args`` (a histogram), or with ``per_row`` one result per row of that
  axis. The choice is made per lowering platform, so a GPU or TPU
  computation keeps ``xla_path``. The native path partitions like XLA's
  (see `_partitioned`): a batch sharded on its leading axis costs one
  all-reduce of a histogram, and nothing for per-row results, never a gather
  of the inputs.

  Args:
    native_path, xla_path: the two paths, called with ``args``.
    *args: pytrees of arrays; the first ``num_batched`` (default: all) lead
      with the batch axis, the others (running totals, say) are replicated.
    per_row: whether the result has one row per batch row.
    num_batched: how many of ``args`` lead with the batch axis.
    sharded: ``sharded(axes, *args)``, the result from one device's shard of
      a batch split over the mesh ``axes``; by default ``native_path``'s
      result summed over ``axes`` (or, with ``per_row``, kept per device).
  """
  num_batched = len(args) if num_batched is None else num_batched
  explicit = _explicit_axes(args[:num_batched])
  if explicit:
    return _in_auto_axes(explicit, per_row, lambda *args: on_cpu(
        native_path, xla_path, *args, per_row=per_row,
        num_batched=num_batched, sharded=sharded), *args)
  if not available():
    return xla_path(*args)
  leaves, treedef = jax.tree.flatten(args)
  batched_leaves = len(jax.tree.leaves(args[:num_batched]))
  varying = frozenset().union(*map(_varying_axes, leaves))
  # The partitioned call takes no closed-over constants (such as a list of
  # thresholds): they become trailing operands, replicated.
  traced = jax.make_jaxpr(lambda *leaves: native_path(*treedef.unflatten(leaves)),
                          return_shape=True)
  closed, result_shape = traced(*leaves)
  consts, result_tree = list(closed.consts), jax.tree.structure(result_shape)

  def on_operands(*operands):
    outs = jax.core.eval_jaxpr(closed.jaxpr, operands[len(leaves):],
                               *operands[:len(leaves)])
    return result_tree.unflatten(outs)

  def on_shards(axes, *shards):
    # Traced anew at the shard shapes, which the reshapes inside depend on.
    shards = treedef.unflatten(shards[:len(leaves)])
    if axes and sharded is not None:
      return sharded(axes, *shards)
    out = native_path(*shards)
    return jax.lax.psum(out, axes) if axes and not per_row else out

  operands = (*leaves, *consts)
  partitioned = _batched(_partitioned(on_operands, on_shards, operands,
                                      batched_leaves, per_row), on_operands)

  def native_varying(*operands):
    return _vary_over(varying, partitioned(*operands))

  def xla_operands(*operands):
    return xla_path(*treedef.unflatten(operands[:len(leaves)]))

  return jax.lax.platform_dependent(*operands, cpu=native_varying,
                                    default=xla_operands)


def _explicit_axes(args):
  """The mesh and Explicit mesh axes that the leading axis of ``args`` is
  sharded over under ``jit`` (the default axis type of ``jax.make_mesh``),
  or None."""
  for leaf in jax.tree.leaves(args):
    sharding = getattr(jax.typeof(leaf), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    spec = getattr(sharding, "spec", ())
    if mesh is None or not getattr(mesh, "explicit_axes", ()) or not spec:
      continue
    lead = spec[0]
    axes = () if lead is None else (lead if isinstance(lead, tuple) else (lead,))
    axes = tuple(a for a in axes if a in mesh.explicit_axes)
    if axes:
      return mesh, axes
  return None


def _in_auto_axes(explicit, per_row, fn, *args):
  """``fn(*args)`` with the Explicit mesh axes of the batch turned Auto.

  A histogram's scatter-add (XLA's path) or custom partitioning (the
  kernels') has no Explicit-sharding rule; in Auto mode both partition over
  the batch with one all-reduce of the result, never a gather of the inputs.
  The result comes out replicated, or with ``per_row`` sharded as the batch.
  """
  mesh, axes = explicit
  out = jax.sharding.PartitionSpec(axes if per_row else None)
  context = (contextlib.nullcontext() if jax.sharding.get_abstract_mesh().axis_names
             else jax.sharding.use_abstract_mesh(mesh))
  with context:
    return jax.sharding.auto_axes(fn, axes=mesh.explicit_axes,
                                  out_sharding=out)(*args)


def small_on_cpu(native_path, xla_path, *args):
  """``native_path(*args)`` on CPU when the kernels are available, else XLA's,
  for computations on state-sized operands.

  Unlike `on_cpu` there is no partition rule: under ``jit`` with shardings
  the operands are replicated, as they are for XLA's path.
  """
  if not available():
    return xla_path(*args)
  leaves, treedef = jax.tree.flatten(args)
  varying = frozenset().union(*map(_varying_axes, leaves))

  def native_varying(*leaves):
    return _vary_over(varying, native_path(*treedef.unflatten(leaves)))

  def xla_leaves(*leaves):
    return xla_path(*treedef.unflatten(leaves))

  return jax.lax.platform_dependent(*leaves, cpu=native_varying,
                                    default=xla_leaves)


def _vary_over(varying, result):
  """``result`` cast to vary over the shard_map axes in ``varying``.

  Inside shard_map a foreign call's result is typed as replicated; it varies
  over the manual axes its inputs vary over, as XLA's path does.
  """
  def cast(x):
    missing = tuple(sorted(varying - _varying_axes(x)))
    return jax.lax.pcast(x, missing, to="varying") if missing else x
  return jax.tree.map(cast, result)


def _partitioned(histogram, on_shards, leaves, num_batched, per_row):
  """``histogram`` with an SPMD rule: shards of the leading axis count apart.

  Under ``jit`` with a batch sharded on its leading axis, every device
  histograms its own rows and ``on_shards(axes, *shards)`` combines them
  (one ``psum`` of the result, as the partitioner does for XLA's scatter;
  ``per_row``: each device keeps its rows of the result, sharded as the
  inputs). Any other layout (the leading axis unsharded, or not divisible by
  its shards) is replicated first, and so are the leaves from
  ``num_batched`` on.
  """
  fn = custom_partitioning.custom_partitioning(histogram)
  first = leaves[0].shape

  def batch_axes(mesh, arg_shapes):
    spec = arg_shapes[0].sharding.spec if first else ()
    # Only the batch axis may stay sharded.
    lead = spec[0] if len(spec) else None
    axes = () if lead is None else (lead if isinstance(lead, tuple) else (lead,))
    shards = math.prod(mesh.shape[a] for a in axes)
    return axes if axes and first[0] % shards == 0 else ()

  def partition(mesh, arg_shapes, result_shape):
    del result_shape
    axes = batch_axes(mesh, arg_shapes)
    rows = jax.sharding.PartitionSpec(axes or None)
    arg_shardings = tuple(
        jax.sharding.NamedSharding(
            mesh, rows if i < num_batched and _leads(arg, first)
            else jax.sharding.PartitionSpec())
        for i, arg in enumerate(arg_shapes))

    def lower(*shards):
      return on_shards(axes, *shards)

    return mesh, lower, infer(mesh, arg_shapes, None), arg_shardings

  def infer(mesh, arg_shapes, result_shape):
    del result_shape
    axes = batch_axes(mesh, arg_shapes) if per_row else ()
    sharding = jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec(axes or None))
    return jax.tree.map(lambda _: sharding, result)

  # Leaves that start with the batch axis share its factor; every other
  # dimension is a factor of its own.
  names = iter(f"f{i}" for i in range(10**6))
  batch = next(names)

  def factors(shape, leads):
    return " ".join([batch] * leads + [next(names) for _ in shape[leads:]])

  result = jax.eval_shape(histogram, *leaves)
  rule = (", ".join(factors(leaf.shape, i < num_batched and _leads(leaf, first))
                    for i, leaf in enumerate(leaves))
          + " -> " + ", ".join(factors(out.shape, per_row)
                               for out in jax.tree.leaves(result)))
  fn.def_partition(partition=partition, infer_sharding_from_operands=infer,
                   sharding_rule=rule)
  return fn


def _leads(leaf, first) -> bool:
  """Whether ``leaf`` starts with the batch axis (that of the first leaf)."""
  return bool(first) and len(leaf.shape) > 0 and leaf.shape[0] == first[0]


def _batched(fn, unbatched):
  """``fn`` under ``vmap``: one ``unbatched`` histogram per batch row."""
  fn = jax.custom_batching.custom_vmap(fn)

  @fn.def_vmap
  def rule(axis_size, in_batched, *leaves):
    leaves = [x if batched else jnp.broadcast_to(x, (axis_size, *x.shape))
              for x, batched in zip(leaves, in_batched)]
    out = jax.lax.map(lambda xs: unbatched(*xs), leaves)
    return out, jax.tree.map(lambda _: True, out)

  return fn


def _varying_axes(x) -> frozenset:
  """The shard_map axes over which ``x`` varies (empty outside shard_map)."""
  aval = jax.typeof(x)
  axis_type = getattr(aval, "manual_axis_type", None)
  if axis_type is not None:
    return frozenset(axis_type.varying)
  return frozenset(getattr(aval, "vma", ()))


def _no_weights():
  return jnp.zeros((0,), jnp.float32)


def _call(target, bins, weighted, *args, **attrs):
  out = jax.ShapeDtypeStruct((bins,), jnp.float32 if weighted else jnp.int32)
  attrs = {k: np.int64(v) for k, v in attrs.items()}
  return jax.ffi.ffi_call(target, out, vmap_method="sequential")(*args, **attrs)


# Label dtypes the threshold kernel reads as they are; others are compared
# with zero in XLA first.
_LABEL_DTYPES = (np.dtype(bool), np.dtype(np.uint8), np.dtype(np.int8),
                 np.dtype(np.int32), np.dtype(np.uint32), np.dtype(np.float32))

EVENLY, EVENLY_WITH_EPSILON, SORTED = 0, 1, 2  # threshold kernel modes


def threshold_histogram(scores, labels, weights, *, mode: int,
                        num_thresholds: int, num_labels: int,
                        sorted_thresholds=None) -> jax.Array:
  """Flat counts of ``(label index, bucket, positive)`` keys.

  Args:
    scores: float32 scores; the last axis holds ``num_labels`` labels.
    labels: truth of the same size (nonzero is positive).
    weights: ``None`` or float32 weights of the same size.
    mode: `EVENLY`, `EVENLY_WITH_EPSILON` or `SORTED` (see the kernel).
    num_thresholds: T.
    num_labels: 1 to pool every element, else the size of the last axis.
    sorted_thresholds: the ascending thresholds, for `SORTED`.

  Returns:
    ``num_labels * (T + 1) * 2`` counts, int32, or float32 sums of weights.
  """
  if np.dtype(labels.dtype) not in _LABEL_DTYPES:
    labels = labels != 0
  if sorted_thresholds is None:
    sorted_thresholds = jnp.zeros((0,), jnp.float32)
  return _call(
      "JmetricsThresholdHistogram", num_labels * (num_thresholds + 1) * 2,
      weights is not None, scores.astype(jnp.float32).ravel(), labels.ravel(),
      _no_weights() if weights is None else weights.astype(jnp.float32).ravel(),
      sorted_thresholds, mode=mode, num_thresholds=num_thresholds,
      num_labels=num_labels)


def threshold_totals(histogram, totals, *, cells: int, num_thresholds: int,
                     num_labels: int, positions=None) -> list:
  """Running totals with a `threshold_histogram` added, in one call.

  Args:
    histogram: the flat histogram (int32 counts or float32 sums of weights).
    totals: `wide.Wide` totals for the bits set in ``cells`` (1 TP, 2 FP,
      4 TN, 8 FN), in that order: each of shape ``(T,)`` or
      ``(T, num_labels)``, or several consecutive ones stacked on a leading
      axis.
    cells: which of TP, FP, TN, FN ``totals`` hold.
    num_thresholds: T.
    num_labels: as for the histogram.
    positions: ``None`` if the totals are in the grid's sorted order, else
      int32 ``(T,)``, the sorted position of each threshold in their order.

  Returns:
    The totals with the batch added, as ``(hi, lo)`` pairs in a list.
  """
  flat = [x for total in totals for x in total]
  if positions is None:
    positions = jnp.zeros((0,), jnp.int32)
  outs = jax.ffi.ffi_call(
      "JmetricsThresholdTotals",
      [jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in flat],
      vmap_method="sequential")(
          histogram, jnp.asarray(positions, jnp.int32),
          *(x.astype(jnp.float32) for x in flat),
          num_thresholds=np.int64(num_thresholds),
          num_labels=np.int64(num_labels), cells=np.int64(cells))
  return [tuple(outs[i:i + 2]) for i in range(0, len(outs), 2)]


def threshold_update(scores, labels, weights, totals, *, mode: int,
                     num_thresholds: int, num_labels: int, cells: int,
                     sorted_thresholds=None, positions=None) -> list:
  """`threshold_totals` of `threshold_histogram`, in one call.

  Args:
    scores, labels, weights, mode, num_thresholds, num_labels,
      sorted_thresholds: as for `threshold_histogram`.
    totals, cells, positions: as for `threshold_totals`.

  Returns:
    The totals with the batch added, as ``(hi, lo)`` pairs in a list.
  """
  if np.dtype(labels.dtype) not in _LABEL_DTYPES:
    labels = labels != 0
  if sorted_thresholds is None:
    sorted_thresholds = jnp.zeros((0,), jnp.float32)
  if positions is None:
    positions = jnp.zeros((0,), jnp.int32)
  flat = [x for total in totals for x in total]
  outs = jax.ffi.ffi_call(
      "JmetricsThresholdUpdate",
      [jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in flat],
      vmap_method="sequential")(
          scores.astype(jnp.float32).ravel(), labels.ravel(),
          _no_weights() if weights is None
          else weights.astype(jnp.float32).ravel(),
          sorted_thresholds, jnp.asarray(positions, jnp.int32),
          *(x.astype(jnp.float32) for x in flat),
          mode=np.int64(mode), num_thresholds=np.int64(num_thresholds),
          num_labels=np.int64(num_labels), cells=np.int64(cells))
  return [tuple(outs[i:i + 2]) for i in range(0, len(outs), 2)]


def pair_histogram(y_true, y_pred, weights, num_classes: int) -> jax.Array:
  """Flat ``C * C`` counts of ``y_true * C + y_pred`` (int32 ids); pairs with
  an id outside ``[0, C)`` are dropped."""
  return _call(
      "JmetricsPairHistogram", num_classes * num_classes, weights is not None,
      y_true.astype(jnp.int32).ravel(), y_pred.astype(jnp.int32).ravel(),
      _no_weights() if weights is None else weights.astype(jnp.float32).ravel(),
      num_classes=num_classes)


def bincount(keys, weights, bins: int) -> jax.Array:
  """``bins`` counts of int32 ``keys``; keys outside ``[0, bins)`` dropped."""
  return _call(
      "JmetricsBincount", bins, weights is not None,
      keys.astype(jnp.int32).ravel(),
      _no_weights() if weights is None else weights.astype(jnp.float32).ravel())


def product_sums(t, p, weights) -> jax.Array:
  """float32 ``[sum(w t p), sum(w t), sum(w p)]`` of float32 arrays of one
  shape (``w = 1`` when ``weights`` is None), accumulated in double."""
  return jax.ffi.ffi_call(
      "JmetricsProductSums", jax.ShapeDtypeStruct((3,), jnp.float32),
      vmap_method="sequential")(
          t.astype(jnp.float32).ravel(), p.astype(jnp.float32).ravel(),
          _no_weights() if weights is None
          else weights.astype(jnp.float32).ravel())


def argmax(scores, *, signed_zeros: bool) -> jax.Array:
  """int32 argmax of the last axis of float32 ``scores``, as ``jnp.argmax``
  on CPU (subnormals tie with zeros, the first NaN wins); with
  ``signed_zeros`` negative zeros rank below positive ones (Keras' rule)."""
  scores = scores.astype(jnp.float32)
  return jax.ffi.ffi_call(
      "JmetricsArgmax", jax.ShapeDtypeStruct(scores.shape[:-1], jnp.int32),
      vmap_method="sequential")(
          scores.reshape(-1), row_length=np.int64(scores.shape[-1]),
          signed_zeros=bool(signed_zeros))


# -- top-k kernels (native/ranking.cc) ---------------------------------------


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
  return jax.ffi.ffi_call("JmetricsInTopK", out, vmap_method="broadcast_all")(
      scores, labels, k=np.int64(k), row_length=np.int64(scores.shape[-1]))


def top_k_threshold_histogram(scores, labels, weights, *, k: int, class_id,
                              mode: int, num_thresholds: int,
                              sorted_thresholds=None) -> jax.Array:
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
    mode, num_thresholds, sorted_thresholds: as for `threshold_histogram`.

  Returns:
    int32 counts, or float32 sums of weights.
  """
  if np.dtype(labels.dtype) not in _LABEL_DTYPES:
    labels = labels != 0
  if sorted_thresholds is None:
    sorted_thresholds = jnp.zeros((0,), jnp.float32)
  return _call(
      "JmetricsTopKThresholdHistogram", (num_thresholds + 1) * 2,
      weights is not None, scores.astype(jnp.float32).ravel(), labels.ravel(),
      _no_weights() if weights is None else weights.astype(jnp.float32).ravel(),
      sorted_thresholds, mode=mode, num_thresholds=num_thresholds, k=k,
      row_length=scores.shape[-1], class_id=-1 if class_id is None else class_id)
