"""What logging every step costs a jitted train step of the demo model.

    python -m benchmarks.logging_overhead            # 200 steps a round
    python -m benchmarks.logging_overhead --steps 500 --rounds 61

The demo is ``examples/quickstart.py``'s: an MLP on scikit-learn's digits
(batches of 100, Adam) whose `jmetrics.linen.TrainState` carries a 6-metric
collection (loss, accuracy, top-3, AUC, confusion matrix and an activation
mean recorded with ``add_metric``), updated inside the jitted step. Each
round runs the same steps once per variant: the bare loop, and the loop with
a write through a `jmetrics.logging` writer after every step (the loop waits
for the TensorBoard writer's background thread at the end, so its work is
inside the time; the sync of the file to disk, which the writer does on its
thread every ``flush_seconds``, is not). The TensorBoard writer is timed the
three ways it can be given the values: the train state (one compiled
``compute`` per write), the results a step returns (``compute_metrics()``
inside the jitted step), and those results packed in the step by
``jlog.scalars``; and once per round, as an epoch's end would, with its PR
curves. Every variant runs beside a bare loop, before it in half the rounds and
after it in the others, in a new order each round, all in one process; the
table gives the median time per step and the median of its multiple of the
bare loop run beside it.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402

from examples import quickstart  # noqa: E402
from jmetrics import logging as jlog  # noqa: E402


def _chained(step_with_values):
  """A step taking the train state out of the last ``(state, values)``."""
  return lambda s, x, y: step_with_values(s[0] if isinstance(s, tuple) else s, x, y)


def _variants(steps: int, batch: int, logdir: str):
  x_train, y_train, _, _ = quickstart.load_data()
  batches = [(jax.device_put(x_train[i:i + batch]), jax.device_put(y_train[i:i + batch]))
             for i in range(0, len(x_train) - batch + 1, batch)]
  state, train_step, _ = quickstart.make_steps()

  @jax.jit
  def train_step_with_results(state, x, y):
    state = train_step(state, x, y)
    return state, state.compute_metrics()

  @jax.jit
  def train_step_with_scalars(state, x, y):
    state = train_step(state, x, y)
    return state, jlog.scalars(state.compute_metrics())

  writer = jlog.TensorBoardWriter(logdir)

  def loop(log=None, finish=None, step_fn=train_step):
    def run():
      current = state
      for step in range(steps):
        current = step_fn(current, *batches[step % len(batches)])
        if log is not None:
          log(step, current)
      jax.block_until_ready(current)
      if finish is not None:
        finish(current[0] if isinstance(current, tuple) else current)
    return run

  def with_bar():
    bar = jlog.ProgressBar(total=steps, file=io.StringIO())
    loop(lambda step, s: bar.update(s), lambda _: bar.close())()

  def with_history():  # a new history a round: one that grows slows the others
    history = jlog.History()
    loop(lambda step, s: history.write(step, s, prefix="train/"),
         lambda _: len(history))()

  def flush(_):
    # The background's work is in the time; a sync of the file to disk,
    # which a loop never waits for (the writer syncs on its thread every
    # flush_seconds), is not.
    writer.wait()

  def at_the_end(last):  # what an epoch's end writes, PR curves included
    writer.write(0, last, prefix="epoch/")
    writer.write_summaries(0, last, prefix="epoch/", images=False)
    writer.wait()

  def results_from_the_step(step, outputs):
    writer.write(step, outputs[1], prefix="train/")

  return writer, {
      "train step": loop(),
      "+ TensorBoardWriter.write(step, train_state)": loop(
          lambda step, s: writer.write(step, s, prefix="train/"), flush),
      "+ results from the step, TensorBoardWriter.write(step, results)": loop(
          results_from_the_step, flush, _chained(train_step_with_results)),
      "+ jlog.scalars from the step, TensorBoardWriter.write(step, scalars)": loop(
          results_from_the_step, flush, _chained(train_step_with_scalars)),
      "+ once a round: TensorBoardWriter.write and write_summaries(images=False)": loop(
          finish=at_the_end),
      "+ ProgressBar.update(train_state)": with_bar,
      "+ History.write(step, train_state)": with_history,
  }


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--rounds", type=int, default=31)
  parser.add_argument("--batch", type=int, default=100)
  args = parser.parse_args(argv)

  with tempfile.TemporaryDirectory() as logdir:
    writer, variants = _variants(args.steps, args.batch, logdir)
    for run in variants.values():  # compile and warm up every path
      run()
    def per_step_us(run):
      start = time.perf_counter()
      run()
      return (time.perf_counter() - start) / args.steps * 1e6

    times = {name: [] for name in variants}
    ratios = {name: [] for name in variants}
    order = list(variants)
    shuffle = random.Random(0).shuffle
    for round_ in range(args.rounds):
      shuffle(order)  # no variant always runs after the same one
      for i, name in enumerate(order):
        # Each variant beside a bare loop: the pair sees the same machine,
        # whose speed drifts by tens of percent over seconds. The bare loop
        # runs first in half the pairs and second in the other half, so
        # that the second run's head start (a warm cache) cancels.
        if (round_ + i) % 2:
          bare = per_step_us(variants["train step"])
          times[name].append(per_step_us(variants[name]))
        else:
          times[name].append(per_step_us(variants[name]))
          bare = per_step_us(variants["train step"])
        ratios[name].append(times[name][-1] / bare)
    writer.close()

  print(f"# logging overhead on the demo's train step, {args.steps} steps a "
        f"round, {args.rounds} interleaved rounds; jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs, {jax.devices()[0].platform}")
  print("| loop | us per step (median) | vs. the bare loop run beside it (median) |")
  print("|---|---|---|")
  for name, values in times.items():
    print(f"| {name} | {statistics.median(values):.1f} | "
          f"{statistics.median(ratios[name]):.3f}x |")


if __name__ == "__main__":
  main()
