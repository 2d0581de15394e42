"""`Kernel`: one named operation, its lowerings, and its partition rule.

An operation is specified by its XLA body, which every platform can run. It
may add a CPU lowering to the native kernels (`ffi`), which must give the
same result; the choice is made per lowering platform
(``lax.platform_dependent``), so a GPU or TPU computation keeps the XLA body
and a CPU one runs the native code when it is installed.

The partition rule is declared once, as the kind of result (`Result`): a sum
over the batch rows (a histogram: shards count apart and add, one all-reduce
of the result) or one result per row (shards keep their rows). It holds in
every sharding mode: ``jit`` with Auto or Explicit axes (``custom_partitioning``
and ``auto_axes``), ``shard_map`` and ``pmap`` (the result varies over the
manual axes its inputs vary over), and ``vmap`` (one call per mapped row).
The batch is never gathered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
from typing import Any, Callable

import jax
from jax.experimental import custom_partitioning
import jax.numpy as jnp

from jmetrics._src.kernels import ffi


class Result(enum.Enum):
  """What a kernel's result is, and so how a batch split over devices
  combines."""

  SUM = "sum"  # a sum over the batch rows: one psum of the shards' results
  PER_ROW = "per_row"  # one result per batch row: each shard keeps its own


@dataclasses.dataclass(frozen=True)
class Kernel:
  """A named operation over a batch.

  Called as ``kernel(params, *args)``: ``params`` is a hashable description
  of everything static (sizes, grids, modes), ``args`` are pytrees of arrays,
  the first `num_batched` (default: all) leading with the batch axis and the
  others (running totals, say) replicated.

  Attributes:
    name: the operation's name.
    xla: ``xla(params, *args)``, the specification.
    result: how shards of the batch combine.
    native: ``native(params, *args)``, the CPU lowering, or None.
    accepts: ``accepts(params, *args)``, whether ``native`` takes these
      inputs (dtypes, sizes); by default it takes any.
    num_batched: how many of ``args`` lead with the batch axis.
    on_shards: ``on_shards(params, axes, *shards)``, the native result from
      one device's shard of a batch split over the mesh ``axes``, for a
      `Result.SUM` kernel that is not the sum of ``native`` over shards (a
      fused update of running totals); by default ``native`` summed.
  """

  name: str
  xla: Callable[..., Any]
  result: Result = Result.SUM
  native: Callable[..., Any] | None = None
  accepts: Callable[..., bool] | None = None
  num_batched: int | None = None
  on_shards: Callable[..., Any] | None = None

  def __call__(self, params, *args):
    native = (self.native is not None and ffi.available()
              and (self.accepts is None or self.accepts(params, *args)))
    if not native and self.result is Result.PER_ROW:
      # A per-row XLA body partitions as its batch in every mode.
      return self.xla(params, *args)
    num_batched = len(args) if self.num_batched is None else self.num_batched
    if not num_batched and _explicit_axes(args, leading_only=False):
      # An operation on state sharded over Explicit axes keeps the XLA body,
      # whose result is sharded as its operands.
      return self.xla(params, *args)
    explicit = _explicit_axes(args[:num_batched])
    if explicit:
      return _in_auto_axes(explicit, self.result,
                           lambda *args: self(params, *args), *args)
    if not native:
      return self.xla(params, *args)
    return self._on_cpu(params, num_batched, *args)

  def _on_cpu(self, params, num_batched, *args):
    per_row = self.result is Result.PER_ROW
    leaves, treedef = jax.tree.flatten(args)
    batched_leaves = len(jax.tree.leaves(args[:num_batched]))
    varying = frozenset().union(*map(_varying_axes, leaves))
    # The partitioned call takes no closed-over constants (such as a list of
    # thresholds): they become trailing operands, replicated.
    traced = jax.make_jaxpr(
        lambda *leaves: self.native(params, *treedef.unflatten(leaves)),
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
      if axes and self.on_shards is not None:
        return self.on_shards(params, axes, *shards)
      out = self.native(params, *shards)
      return jax.lax.psum(out, axes) if axes and not per_row else out

    operands = (*leaves, *consts)
    partitioned = _batched(_partitioned(on_operands, on_shards, operands,
                                        batched_leaves, per_row), on_operands)

    def native(*operands):
      return _vary_over(varying, partitioned(*operands))

    def xla(*operands):
      return self.xla(params, *treedef.unflatten(operands[:len(leaves)]))

    return jax.lax.platform_dependent(*operands, cpu=native, default=xla)


def _explicit_axes(args, leading_only: bool = True):
  """The mesh and Explicit mesh axes that the leading axis of ``args`` (or,
  with ``leading_only=False``, any axis) is sharded over under ``jit`` (the
  default axis type of ``jax.make_mesh``), or None."""
  for leaf in jax.tree.leaves(args):
    sharding = getattr(jax.typeof(leaf), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    spec = getattr(sharding, "spec", ())
    if mesh is None or not getattr(mesh, "explicit_axes", ()) or not spec:
      continue
    axes = ()
    for entry in spec[:1] if leading_only else spec:
      if entry is not None:
        axes += entry if isinstance(entry, tuple) else (entry,)
    axes = tuple(a for a in axes if a in mesh.explicit_axes)
    if axes:
      return mesh, axes
  return None


def _in_auto_axes(explicit, result: Result, fn, *args):
  """``fn(*args)`` with the Explicit mesh axes of the batch turned Auto.

  A histogram's scatter-add (the XLA body) or custom partitioning (the
  native lowering) has no Explicit-sharding rule; in Auto mode both
  partition over the batch with one all-reduce of the result, never a gather
  of the inputs. The result comes out replicated, or per row sharded as the
  batch.
  """
  mesh, axes = explicit
  out = jax.sharding.PartitionSpec(axes if result is Result.PER_ROW else None)
  context = (contextlib.nullcontext()
             if jax.sharding.get_abstract_mesh().axis_names
             else jax.sharding.use_abstract_mesh(mesh))
  with context:
    return jax.sharding.auto_axes(fn, axes=mesh.explicit_axes,
                                  out_sharding=out)(*args)


def _vary_over(varying, result):
  """``result`` cast to vary over the shard_map axes in ``varying``.

  Inside shard_map a foreign call's result is typed as replicated; it varies
  over the manual axes its inputs vary over, as the XLA body's does.
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
    if not num_batched:
      return ()  # operands of the state's shape only: nothing to split
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
  """``fn`` under ``vmap``: one ``unbatched`` call per mapped row."""
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
