"""Runs every benchmark workload, jmetrics beside each installed peer.

    python -m benchmarks.run                       # CPU table, default sizes
    python -m benchmarks.run --sizes 20 24         # N = 2**20 and 2**24
    python -m benchmarks.run --workloads auc iou   # substring filter
    python -m benchmarks.run --gpu                 # on a GPU machine (adds GB/s)

For each workload and size, all libraries see the same inputs in one
process; each update is warmed up, then timed as the median of several
rounds in which every library (and the floor) runs once, so that a drift in
the machine's speed slows them alike. The table gives milliseconds and the
multiple of the read floor: the fastest jitted pass that only reads the same
inputs once.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
# Torch's OpenMP threads otherwise spin for a while after each update and take
# the cores from whichever library the interleaved rounds time next.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import peers  # noqa: E402
from benchmarks import timing  # noqa: E402
from benchmarks import workloads  # noqa: E402

LIBRARIES = ("jmetrics", "keras", "metrax", "clu", "torchmetrics")


def _versions() -> str:
  names = ["jax", "jmetrics", "keras", "metrax", "clu", "torch", "torchmetrics"]
  parts = []
  for name in names:
    try:
      module = __import__(name)
      parts.append(f"{name} {getattr(module, '__version__', '?')}")
    except Exception:  # pylint: disable=broad-except
      parts.append(f"{name} (not installed)")
  return ", ".join(parts)


def _device_bandwidth_gbs() -> float | None:
  device = jax.devices()[0]
  stats = getattr(device, "memory_stats", lambda: None)() or {}
  del stats  # JAX does not report bandwidth; known peaks by device kind:
  known = {"H100": 3350.0, "H200": 4800.0, "A100": 2039.0}
  for key, value in known.items():
    if key in device.device_kind:
      return value
  return None


def run(sizes, names, repeats, gpu, budget_ms=2000.0):
  """Times every workload; a library projected (linearly from its last size)
  to take over ``budget_ms`` per update is skipped at larger sizes."""
  last_ms = {}
  rows = []
  skipped = {}
  first_calls = {}  # (workload, N) -> {library: seconds of the first call}
  bandwidth = _device_bandwidth_gbs() if gpu else None
  for workload in workloads.WORKLOADS:
    if names and not any(n.lower() in workload.name.lower() for n in names):
      continue
    for log2 in sizes:
      n = 2**log2
      if n < workload.min_size:
        continue
      inputs = workload.make_inputs(n, np.random.default_rng(0))
      device_inputs = [jax.device_put(x) for x in inputs]
      row = {"workload": workload.name, "N": f"2^{log2}",
             "bytes": timing.input_bytes(*inputs)}
      builders = {"jmetrics": workload.jmetrics, **workload.peers}
      updates = timing.floor_reads(*device_inputs)
      for library in LIBRARIES:
        if library not in builders:
          skipped.setdefault(library, set()).add(f"{workload.name}: no such metric")
          continue
        previous = last_ms.get((workload.name, library))
        if previous is not None and previous[0] * n / previous[1] > budget_ms:
          skipped.setdefault(library, set()).add(
              f"{workload.name} from N=2^{log2}: projected over {budget_ms:.0f} ms")
          continue
        try:
          updates[library] = builders[library](*inputs)
          # The first call traces and compiles.
          first_ms = timing.median_ms(updates[library], repeats=1, warmup=0)
          if workload.report_compile and library in ("jmetrics", "keras"):
            first_calls.setdefault((workload.name, f"2^{log2}"), {})[library] = (
                first_ms / 1e3)
        except peers.Unavailable as e:
          updates.pop(library, None)
          skipped.setdefault(library, set()).add(str(e))
        except Exception as e:  # pylint: disable=broad-except  (a peer's failure is reported, not fatal)
          updates.pop(library, None)
          skipped.setdefault(library, set()).add(
              f"{workload.name} at N=2^{log2}: {type(e).__name__}: {str(e)[:80]}")
      medians = timing.interleaved_medians(updates, repeats)
      row["floor"] = min(ms for name, ms in medians.items()
                         if name.startswith("floor/"))
      for library in LIBRARIES:
        if library in medians:
          row[library] = medians[library]
          last_ms[(workload.name, library)] = (medians[library], n)
      rows.append(row)
      print(_format_row(row, bandwidth), flush=True)
  return rows, skipped, first_calls


def _format_row(row, bandwidth):
  cells = [row["workload"], row["N"], f"{row['floor']:.3f}"]
  for library in LIBRARIES:
    ms = row.get(library)
    cells.append("—" if ms is None else f"{ms:.3f} ({ms / row['floor']:.1f}x)")
  if bandwidth:
    ms = row.get("jmetrics")
    cells.append("—" if ms is None else
                 f"{row['bytes'] / (ms * 1e-3) / 1e9:.0f} / {bandwidth:.0f}")
  return "| " + " | ".join(cells) + " |"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", type=int, nargs="+", default=[12, 16, 20, 24],
                      help="log2 of the number of scores per update")
  parser.add_argument("--workloads", nargs="*", default=[],
                      help="substrings of workload names to run")
  parser.add_argument("--repeats", type=int, default=21,
                      help="interleaved rounds per row (slow peers get fewer)")
  parser.add_argument("--gpu", action="store_true",
                      help="expect a GPU; report GB/s against its bandwidth")
  args = parser.parse_args(argv)
  if args.gpu and jax.default_backend() != "gpu":
    sys.exit("--gpu given but JAX sees no GPU")
  device = jax.devices()[0]
  print(f"# jmetrics benchmarks, {datetime.date.today()}, {device.device_kind} "
        f"({jax.default_backend()}), {os.cpu_count()} CPUs, {platform.machine()}")
  print(f"# {_versions()}")
  header = ["workload", "N", "read floor ms", *LIBRARIES]
  if args.gpu:
    header.append("jmetrics GB/s / peak")
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  _, skipped, first_calls = run(args.sizes, args.workloads, args.repeats, args.gpu)
  for library, reasons in sorted(skipped.items()):
    print(f"# skipped {library}: " + "; ".join(sorted(reasons)))
  if first_calls:
    print("\n# first call of each collection's jitted update (trace + compile + "
          "one run), seconds")
    print("| workload | N | jmetrics | keras |")
    print("|---|---|---|---|")
    for (name, size), seconds in first_calls.items():
      cells = [f"{seconds[lib]:.2f}" if lib in seconds else "—"
               for lib in ("jmetrics", "keras")]
      print(f"| {name} | {size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main()
