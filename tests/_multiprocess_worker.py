"""One of the processes of `test_distributed`'s multi-process test.

``python -m tests._multiprocess_worker <process_id> <port> <output.npz> [logdir]``
starts a CPU JAX with `LOCAL_DEVICES` devices, joins the other process through
``jax.distributed.initialize`` on 127.0.0.1 (gloo, JAX's default CPU
collectives), feeds its own rows of a shared batch to a few metrics and
syncs them across both processes three ways:

* ``shard_map`` over a mesh of all processes' devices, the global batch
  assembled with ``jax.make_array_from_process_local_data``;
* ``pmap`` over the local devices, whose axis spans both processes;
* an uneven batch padded with ``pad_to_multiple`` (the padding all in the
  second process) through ``masked_update`` + ``shard_map``.

It writes each computed value and the integer-count state fields to the
``.npz`` file; the test compares them with `single_process_results`. Given a
``logdir``, both processes also log the synced ``shard_map`` states through
`jmetrics.logging` (a TensorBoard writer, a progress bar and a history saved
as ``history.json``), where only process 0 may write. The
module imports JAX only in `main`, so the test can import it for its
constants and reference.
"""

from __future__ import annotations

import os
import sys

NUM_PROCESSES = 2
LOCAL_DEVICES = 2
TIMEOUT_S = 50  # for the whole test; the test kills the workers after it
ROWS, UNEVEN_ROWS = 32, 27  # the global batches; 32 = 8 rows per device


def _metrics():
  """``name -> (metric, integer-count fields, inputs from the data)``."""
  import jmetrics as jm  # pylint: disable=g-import-not-at-top
  metrics = {
      "auc": (jm.AUC(num_thresholds=50), ("tp", "fp", "tn", "fn"),
              lambda d: (d["binary"], d["score"])),
      "mean": (jm.Mean(), ("count",), lambda d: (d["values"],)),
      "r2_score": (jm.R2Score(num_outputs=2), ("sum_weight", "num_samples"),
                   lambda d: (d["targets"], d["predictions"])),
      "sparse_categorical_accuracy": (
          jm.SparseCategoricalAccuracy(), ("count",),
          lambda d: (d["labels"], d["scores"])),
  }
  mean_iou = getattr(jm, "MeanIoU", None)
  if mean_iou is None:
    try:  # Until jmetrics exports it.
      from jmetrics._src.metrics.iou import MeanIoU as mean_iou  # pylint: disable=g-import-not-at-top
    except ImportError:
      mean_iou = None
  if mean_iou is not None:
    metrics["mean_iou"] = (mean_iou(num_classes=4), ("confusion",),
                           lambda d: (d["labels"], d["predicted"]))
  return metrics


def _data(rows):
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(7)
  labels = rng.integers(0, 4, rows).astype(np.int32)
  scores = rng.uniform(size=(rows, 4)).astype(np.float32)
  targets = rng.normal(size=(rows, 2)).astype(np.float32)
  return {
      "binary": rng.integers(0, 2, rows).astype(np.int32),
      "score": rng.uniform(size=rows).astype(np.float32),
      "values": rng.normal(size=(rows, 3)).astype(np.float32),
      "targets": targets,
      "predictions": (targets + rng.normal(size=targets.shape)).astype(np.float32),
      "labels": labels,
      "scores": scores,
      "predicted": np.argmax(scores, -1).astype(np.int32),
  }


def _results(name, mode, metric, fields, state):
  import numpy as np  # pylint: disable=g-import-not-at-top
  out = {f"{name}/{mode}/value": np.asarray(metric.compute(state))}
  for field in fields:
    total = getattr(state, field)
    out[f"{name}/{mode}/{field}.hi"] = np.asarray(total.hi)
    out[f"{name}/{mode}/{field}.lo"] = np.asarray(total.lo)
  return out


def single_process_results():
  """What every mode must give: ``update`` on the whole batch, one process."""
  results = {}
  even, uneven = _data(ROWS), _data(ROWS)
  uneven = {k: v[:UNEVEN_ROWS] for k, v in uneven.items()}
  for name, (metric, fields, inputs) in _metrics().items():
    state = metric.update(metric.init(), *inputs(even))
    for mode in ("shard_map", "pmap"):
      results.update(_results(name, mode, metric, fields, state))
    state = metric.update(metric.init(), *inputs(uneven))
    results.update(_results(name, "padded", metric, fields, state))
  return results


def _log(synced, logdir):
  from jmetrics import logging as jlog  # pylint: disable=g-import-not-at-top
  history = jlog.History()
  with jlog.TensorBoardWriter(logdir) as writer, jlog.ProgressBar(
      total=len(synced), refresh_seconds=0.0) as bar:
    for step, (name, (metric, state)) in enumerate(sorted(synced.items())):
      writer.write(step, metric, state, prefix="shard_map/")
      history.write(step, metric, state, prefix="shard_map/")
      bar.update(metric, state, prefix="shard_map/")
  history.save(os.path.join(logdir, "history.json"))


def main(argv):
  process_id, port, output = int(argv[1]), argv[2], argv[3]
  logdir = argv[4] if len(argv) > 4 else None
  os.environ["XLA_FLAGS"] = (
      f"--xla_force_host_platform_device_count={LOCAL_DEVICES}")
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_platforms", "cpu")
  # gloo is JAX's default CPU collectives implementation; say so anyway.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator_address=f"127.0.0.1:{port}", num_processes=NUM_PROCESSES,
      process_id=process_id, initialization_timeout=TIMEOUT_S)
  try:
    import numpy as np  # pylint: disable=g-import-not-at-top
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # pylint: disable=g-import-not-at-top
    from jmetrics._src.numerics.distributed import pad_to_multiple  # pylint: disable=g-import-not-at-top

    assert jax.process_count() == NUM_PROCESSES
    assert jax.device_count() == NUM_PROCESSES * LOCAL_DEVICES
    mesh = Mesh(np.array(jax.devices()), ("d",))
    rows = NamedSharding(mesh, P("d"))

    def mine(x):
      """This process's contiguous share of the rows of a global batch."""
      share = x.shape[0] // NUM_PROCESSES
      return x[process_id * share:(process_id + 1) * share]

    def global_(x):
      return jax.make_array_from_process_local_data(rows, mine(x))

    even = _data(ROWS)
    uneven = {k: v[:UNEVEN_ROWS] for k, v in _data(ROWS).items()}
    # 27 rows padded to 28 for 4 devices: the padding row is the second
    # process's.
    padded, mask = pad_to_multiple(*uneven.values(), multiple=jax.device_count())
    padded = dict(zip(uneven, padded))

    results, synced = {}, {}
    for name, (metric, fields, inputs) in _metrics().items():
      def step(args, metric=metric):
        return metric.sync(metric.update(metric.init(), *args), "d")

      def masked_step(args, keep, metric=metric):
        return metric.sync(metric.masked_update(metric.init(), *args, mask=keep),
                           "d")

      on_mesh = jax.jit(jax.shard_map(step, mesh=mesh, in_specs=P("d"),
                                      out_specs=P()))
      state = on_mesh(tuple(map(global_, inputs(even))))
      synced[name] = (metric, state)  # replicated on both processes' devices
      state = jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), state)
      results.update(_results(name, "shard_map", metric, fields, state))

      split = lambda x: mine(x).reshape(  # pylint: disable=unnecessary-lambda-assignment
          (LOCAL_DEVICES, -1) + x.shape[1:])
      state = jax.pmap(step, axis_name="d")(tuple(map(split, inputs(even))))
      state = jax.tree.map(lambda x: np.asarray(x[0]), state)
      results.update(_results(name, "pmap", metric, fields, state))

      on_mesh = jax.jit(jax.shard_map(masked_step, mesh=mesh,
                                      in_specs=(P("d"), P("d")), out_specs=P()))
      state = on_mesh(tuple(map(global_, inputs(padded))), global_(mask))
      state = jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), state)
      results.update(_results(name, "padded", metric, fields, state))
    np.savez(output, **results)
    if logdir is not None:
      _log(synced, logdir)
  finally:
    jax.distributed.shutdown()


if __name__ == "__main__":
  main(sys.argv)
