"""Watching training: a `History`, a `ProgressBar` and a `TensorBoardWriter`.

Imported on demand (``from jmetrics import logging as jlog``); the core
package never imports it. `History` needs nothing more; the progress bar
(tqdm) and the TensorBoard writer (tensorboardX) are the optional extra
``jmetrics[logging]``, its images (matplotlib) ``jmetrics[plot]``. Without
them the module imports, and the first use raises an ``ImportError`` naming
the extra.

**One interface.** Each writer takes what a training loop holds:
``write(step, metric, state)`` for a metric or `jm.Collection` and its state,
``write(step, train_state)`` for a `jmetrics.linen.TrainState`,
``write(step, nnx_metric)`` for a `jmetrics.nnx.NNXMetric` or ``MultiMetric``,
``write(step, stateful)`` for a `jm.Stateful`, or ``write(step, results)`` for
a dict already computed. Names are the collection's keys (nested ones
``"outer/inner"``) after ``prefix``.

**No host sync in the loop.** A write dispatches one jitted ``compute`` of
the state (asynchronous, as every JAX call) and returns; the values are read
back, and written to disk, on a background thread. The progress bar reads
values only every ``refresh_seconds``, and only once they are ready. To log
every step at the least cost, compute in the jitted step and pack the
values with `scalars`: a write of the `Scalars` it returns dispatches
nothing.

**Several processes.** In a ``jax.distributed`` run only process 0 writes:
the writers of the others do nothing and create no files. States synced
across processes are replicated; their values are read from this process's
copy.

Examples:
  >>> import jax.numpy as jnp
  >>> import jmetrics as jm
  >>> from jmetrics import logging as jlog
  >>> metrics = jm.Collection([jm.Mean(name="loss"),
  ...                           jm.Recall(thresholds=[0.5, 0.85])])
  >>> history = jlog.History()
  >>> for epoch in range(2):
  ...   state = metrics.update(metrics.init(), values=jnp.array([0.5 - epoch / 4]),
  ...                          y_true=jnp.array([1, 1]), y_pred=jnp.array([0.9, 0.8]))
  ...   history.write(epoch, metrics, state, prefix="train/")
  >>> history.series("train/loss")
  ([0, 1], [0.5, 0.25])
  >>> history["train/recall"]  # per threshold, kept whole
  [[1.0, 0.5], [1.0, 0.5]]
  >>> history.names
  ('train/loss', 'train/recall/0', 'train/recall/1')
  >>> jlog.History.from_json(history.to_json()) == history
  True
"""

from __future__ import annotations

import atexit
import functools
import itertools
import json
import math
import os
import queue
import socket
import struct
import threading
import time
import weakref
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics import plot as plot_lib
from jmetrics._src import base
from jmetrics._src.composition import collection as collection_lib
from jmetrics._src.integrations import extras
from jmetrics._src.metrics import iou
from jmetrics._src.metrics import thresholds

# -- what a writer is given ------------------------------------------------------


@jax.tree_util.register_pytree_node_class
class Scalars:
  """The scalar results of a step in one float32 array, with their names.

  Made by `scalars` inside a jitted step, so that the step returns one array
  for all its logged values; every writer takes it as ``source``.

  Attributes:
    values: float32 ``(n,)``: the values, in `layout` order.
    layout: ``((name, size), ...)``: a scalar (size 0) or a vector of
      ``size`` entries, written as ``name/0``, ``name/1``, ...
  """

  def __init__(self, values, layout):
    self.values = values
    self.layout = layout

  def tree_flatten(self):
    return (self.values,), self.layout

  @classmethod
  def tree_unflatten(cls, layout, children):
    return cls(children[0], layout)

  def to_dict(self) -> dict:
    """``{name: value}``, read back: floats, and NumPy vectors."""
    values = _to_host(self.values)
    if values.ndim != 1:
      raise ValueError(f"Scalars: values of shape {values.shape}; one vector "
                       "was packed (under pmap, take one device's copy)")
    out, start = {}, 0
    for name, size in self.layout:
      out[name] = values[start] if size == 0 else values[start:start + size]
      start += max(size, 1)
    return out

  def __repr__(self) -> str:
    return f"Scalars({[name for name, _ in self.layout]})"


def scalars(results, prefix: str = "") -> Scalars:
  """Packs the scalar and vector results of a dict into one `Scalars`; jit-able.

  Inside a jitted train step, ``return state, scalars(state.compute_metrics())``
  returns the step's values as one array: writing them every step then
  costs the writers one read-back per step, not one per metric. Results of
  rank 2 and more (a confusion matrix) are left out; integers become float32,
  as TensorBoard keeps them.

  Args:
    results: ``{name: value}`` (nested dicts give ``"outer/inner"``).
    prefix: put before every name.

  Returns:
    The `Scalars`.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> from jmetrics import logging as jlog
    >>> @jax.jit
    ... def step(x):
    ...   return jlog.scalars({"loss": jnp.mean(x), "f1": x[:2]})
    >>> packed = step(jnp.array([0.25, 1.0, 0.25]))
    >>> packed.layout
    (('loss', 0), ('f1', 2))
    >>> {k: v.tolist() for k, v in packed.to_dict().items()}
    {'loss': 0.5, 'f1': [0.25, 1.0]}
  """
  named = [(name, jnp.asarray(value)) for name, value in _named_leaves(results, prefix)
           if jnp.ndim(value) <= 1]
  layout = tuple((name, value.size if value.ndim else 0) for name, value in named)
  values = [jnp.ravel(value).astype(jnp.float32) for _, value in named]
  return Scalars(jnp.concatenate(values) if values else jnp.zeros((0,), jnp.float32),
                 layout)


def _fresh(tree):
  # New buffers: a result that is a state leaf itself (Max's) must outlive a
  # next train step that donates the state.
  return jax.tree.map(jnp.copy, tree)


@functools.lru_cache(maxsize=256)
def _jit_compute(metric: base.Metric):
  """``(state, also) -> (results, copy of also)``, compiled.

  ``also`` is a device step (a train state's), copied in the same call. A
  collection's results keep its order (a jitted dict comes back sorted).
  """
  order = []

  def compute(state, also=None):
    results = metric.compute(state)
    if isinstance(results, Mapping):
      order[:] = list(results)
    return _fresh((results, also))

  compiled = jax.jit(compute)

  def call(state, also=None):
    results, also = compiled(state, also)
    if isinstance(results, Mapping):
      results = {key: results[key] for key in order}
    return results, also

  return call


_jit_copy = jax.jit(_fresh)


def _metric_state(source, state):
  """``(metric, state)`` of a source that holds both, else ``None``."""
  if isinstance(source, base.Metric):
    if state is None:
      raise TypeError(f"{type(source).__name__} {source.name!r}: a metric needs "
                      "its state: write(step, metric, state)")
    return source, state
  if state is not None:
    raise TypeError("a state goes with a jmetrics metric or Collection, got "
                    f"{type(source).__name__} and a state")
  collection = getattr(source, "collection", None)  # jmetrics.linen.TrainState
  if isinstance(collection, base.Metric) and hasattr(source, "metrics"):
    return collection, source.metrics
  metric = getattr(source, "metric", None)  # NNXMetric, Stateful
  if isinstance(metric, base.Metric):
    held = getattr(source, "state")
    return metric, (held.get_value() if hasattr(held, "get_value") else held)
  return None


def _values(source, state=None, step=None):
  """``(computed, step)``: what a source computes (a dict for a collection)
  and a copy of a device ``step``, as dispatched."""
  pair = _metric_state(source, state)
  if pair is not None:
    metric, state = pair
    return _jit_compute(metric)(_local(state), step)
  if isinstance(step, jax.Array):
    step = _jit_copy(step)
  if isinstance(source, Scalars):
    return source, step
  if isinstance(source, Mapping):
    return dict(source), step
  names = getattr(source, "_metric_names", None)  # nnx.MultiMetric
  if names is not None:
    return {name: _values(getattr(source, name))[0] for name in names}, step
  if hasattr(source, "compute"):  # another nnx.Metric: computed eagerly
    return source.compute(), step
  raise TypeError(
      "expected a metric and its state, a Collection and its state, a "
      "jmetrics.linen.TrainState, a jmetrics.nnx metric, a jm.Stateful or a "
      f"dict of results, got {type(source).__name__}")


def _results(source, state=None, step=None):
  """``({name: value}, step)`` of a source, as dispatched (not yet read back).

  A device ``step`` (``train_state.step``) is copied with the results: the
  next train step may donate the original.
  """
  values, step = _values(source, state, None if step is None else _step(step))
  if not isinstance(values, (Mapping, Scalars)):
    pair = _metric_state(source, state)
    values = {pair[0].name if pair else getattr(source, "name", "value"): values}
  return values, step


def _members(source, state=None, path=""):
  """``(name, metric, state)`` of every leaf metric of a source (wrappers seen through)."""
  pair = _metric_state(source, state)
  if pair is None:
    names = getattr(source, "_metric_names", None)
    for name in names or ():
      yield from _members(getattr(source, name), None, path + name + "/")
    return
  metric, state = pair
  while isinstance(metric, collection_lib.Wrapper):
    metric = metric.metric
  if isinstance(metric, collection_lib.Collection):
    for name, member in metric.members:
      yield from _members(member, state[name], path + name + "/")
  else:
    yield path.rstrip("/") or metric.name, metric, state


def _local_replica(value):
  """This process's copy of an array replicated across processes."""
  if isinstance(value, jax.Array) and not value.is_fully_addressable:
    if not value.is_fully_replicated:
      raise ValueError("a state or result sharded across processes cannot be "
                       "written: sync it (metric.sync) so that it is replicated")
    return value.addressable_data(0)
  return value


def _local(tree):
  """``tree`` with this process's replica of each array shared across processes.

  Process 0 computes on it alone, at moments (a progress bar's refresh) the
  other processes do not share.
  """
  if jax.process_count() == 1:
    return tree
  return jax.tree.map(_local_replica, tree)


def _local_copy(tree):
  return _jit_copy(_local(tree))


def _to_host(value):
  """A result as NumPy (from this process's copy, if replicated across processes)."""
  if jax.process_count() == 1:
    return np.asarray(value)
  return np.asarray(_local_replica(value))


def _named_leaves(results, prefix: str) -> list:
  """``[(name, value)]`` of (nested) results, in their order."""
  out = []

  def put(key, value):
    if isinstance(value, Mapping):
      for inner, v in value.items():
        put(f"{key}/{inner}", v)
    else:
      out.append((prefix + key, value))

  for key, value in results.items():
    put(str(key), value)
  return out


def _flat(results, prefix: str = "") -> dict:
  """``{prefix + "outer/inner": NumPy value}`` of (nested) results."""
  if isinstance(results, Scalars):
    results = results.to_dict()
  if not isinstance(results, Mapping):
    results = {"value": results}
  return {name: _to_host(value) for name, value in _named_leaves(results, prefix)}


def _ready(results) -> bool:
  return all(leaf.is_ready() for leaf in jax.tree.leaves(results)
             if isinstance(leaf, jax.Array))


def _is_writer_process() -> bool:
  return jax.process_index() == 0


# -- History ---------------------------------------------------------------------


def _plain(value):
  """A NumPy result as JSON-ready Python numbers (nested lists for arrays)."""
  array = np.asarray(value)
  if array.dtype.kind in "iub":
    return array.tolist()
  return np.asarray(array, np.float64).tolist()


_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode(value):
  # Strict JSON has no NaN or infinity: they are written as these strings.
  if isinstance(value, list):
    return [_encode(v) for v in value]
  if isinstance(value, float) and not math.isfinite(value):
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
  return value


def _decode(value):
  if isinstance(value, list):
    return [_decode(v) for v in value]
  if isinstance(value, str):
    if value not in _NON_FINITE:
      raise ValueError(f"History: unexpected value {value!r} in the JSON")
    return _NON_FINITE[value]
  return value


def _entry_names(name: str, size: int) -> list:
  """The series of a result: ``name`` for a scalar (size 0), ``name/i`` per entry."""
  return [name] if size == 0 else [f"{name}/{i}" for i in range(size)]


def _scalars(name, value):
  """``(series, float)`` of a recorded value; matrices are kept whole, not as series."""
  if isinstance(value, list):
    if any(isinstance(v, list) for v in value):
      return
    yield from zip(_entry_names(name, len(value)), map(float, value))
  else:
    yield name, float(value)


class History:
  """Computed results per step (epoch), kept whole, saved and loaded as JSON.

  Each `write` records a dict of results at a step; writes at the step of
  the last record (a training and an evaluation pass of one epoch) join that
  record. Values are read back from the device lazily, when the history is
  read or saved, so writing never waits for the step. Per-class vectors and
  matrices are kept whole; `names` and `series` see vectors as one series
  per entry (``"f1/0"``, ``"f1/1"``). The JSON is strict: NaN and infinities
  are written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

  Args:
    records: optional ``[{"step": int, "values": {name: value}}, ...]``.
  """

  FORMAT = "jmetrics.History"
  VERSION = 1

  def __init__(self, records=None):
    self._records = []
    self._pending = []  # (step, prefix, results as dispatched)
    self._lock = threading.Lock()
    for record in records or ():
      self._add(int(record["step"]), {str(k): v for k, v in record["values"].items()})

  def write(self, step: int, source, state=None, *, prefix: str = "") -> None:
    """Records the results of ``source`` (see the module docstring) at ``step``.

    Args:
      step: the epoch or step (an int).
      source: a metric (with ``state``), a `jm.Collection` (with ``state``),
        a linen ``TrainState``, an nnx metric, a `jm.Stateful` or a dict of
        results.
      state: the metric's state, when ``source`` is a metric.
      prefix: put before every name, e.g. ``"train/"`` or ``"val_"``.
    """
    results, step = _results(source, state, step)
    with self._lock:
      self._pending.append((step, prefix, results))

  def _add(self, step: int, values: dict) -> None:
    if self._records and self._records[-1]["step"] == step:
      self._records[-1]["values"].update(values)
    else:
      self._records.append({"step": step, "values": values})

  def _settle(self) -> list:
    with self._lock:
      pending, self._pending = self._pending, []
      for step, prefix, results in pending:
        self._add(_step(_to_host(step)), {k: _plain(v) for k, v in _flat(results, prefix).items()})
      return self._records

  @property
  def records(self) -> list:
    """``[{"step": step, "values": {name: value}}, ...]`` in the order written."""
    return [{"step": r["step"], "values": dict(r["values"])} for r in self._settle()]

  @property
  def history(self) -> dict:
    """``{name: [value, ...]}`` over the records that hold it (Keras' ``History.history``)."""
    out = {}
    for record in self._settle():
      for name, value in record["values"].items():
        out.setdefault(name, []).append(value)
    return out

  def __getitem__(self, name: str) -> list:
    history = self.history
    if name not in history:
      raise KeyError(f"History has no {name!r}; names: {sorted(history)}")
    return history[name]

  def __len__(self) -> int:
    return len(self._settle())

  @property
  def names(self) -> tuple:
    """Every scalar series, vectors split into ``name/i``, in first-seen order."""
    seen = {}
    for record in self._settle():
      for name, value in record["values"].items():
        for scalar, _ in _scalars(name, value):
          seen.setdefault(scalar, None)
    return tuple(seen)

  def series(self, name: str) -> tuple:
    """``(steps, values)``: the steps where scalar series ``name`` was recorded, its values."""
    steps, values = [], []
    for record in self._settle():
      for key, value in record["values"].items():
        for scalar, number in _scalars(key, value):
          if scalar == name:
            steps.append(record["step"])
            values.append(number)
    if not steps:
      raise KeyError(f"History has no series {name!r}; names: {list(self.names)}")
    return steps, values

  def to_json(self) -> str:
    """The history as a JSON document (see `from_json`)."""
    records = [{"step": r["step"], "values": {k: _encode(v) for k, v in r["values"].items()}}
               for r in self._settle()]
    return json.dumps({"format": self.FORMAT, "version": self.VERSION,
                       "records": records}, allow_nan=False)

  @classmethod
  def from_json(cls, text: str) -> "History":
    """The `History` of a document written by `to_json`.

    Raises:
      ValueError: for a document that is not a jmetrics history.
    """
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("format") != cls.FORMAT:
      raise ValueError("History.from_json: not a jmetrics history (no "
                       f"'format': {cls.FORMAT!r})")
    if document.get("version") != cls.VERSION:
      raise ValueError(f"History.from_json: version {document.get('version')!r} "
                       f"is not {cls.VERSION}")
    return cls([{"step": r["step"], "values": {k: _decode(v) for k, v in r["values"].items()}}
                for r in document["records"]])

  def save(self, path) -> None:
    """Writes `to_json` to ``path`` (on process 0 only; elsewhere nothing)."""
    text = self.to_json()
    if _is_writer_process():
      with open(path, "w", encoding="utf-8") as f:
        f.write(text)

  @classmethod
  def load(cls, path) -> "History":
    """The history saved at ``path``."""
    with open(path, encoding="utf-8") as f:
      return cls.from_json(f.read())

  def __eq__(self, other) -> bool:
    if not isinstance(other, History):
      return NotImplemented
    return _same(self.records, other.records)

  def __repr__(self) -> str:
    return f"History({len(self)} records, names={list(self.names)})"


def _same(a, b) -> bool:
  # NaN equals NaN here: a history of a NaN loss round-trips equal.
  if isinstance(a, float) and isinstance(b, float):
    return a == b or (math.isnan(a) and math.isnan(b))
  if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
  if isinstance(a, dict) and isinstance(b, dict):
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
  return a == b


def _step(step):
  """``step`` as an int; a device array (``train_state.step``) stays one, read later."""
  if isinstance(step, jax.Array):
    if step.ndim or not jnp.issubdtype(step.dtype, jnp.integer):
      raise ValueError(f"step must be an integer scalar, got {step.dtype}{list(step.shape)}")
    return step
  if (isinstance(step, (bool, np.bool_)) or np.ndim(step)
      or not float(step).is_integer()):
    raise ValueError(f"step must be an integer, got {step!r}")
  return int(step)


# -- the background thread ------------------------------------------------------


class _Background:
  """A thread that runs jobs in order, off the training loop.

  A job's exception is kept and raised, chained, by the next `submit`,
  `drain` or `stop` of the owner (the jobs after it still run).
  """

  def __init__(self, owner: str):
    self._owner = owner
    self._jobs = queue.Queue()
    self._error = None
    self._thread = threading.Thread(target=self._run, name=f"jmetrics {owner}",
                                    daemon=True)
    self._thread.start()

  def _run(self):
    while True:
      job = self._jobs.get()
      try:
        if job is None:
          return
        job()
      except Exception as error:  # pylint: disable=broad-except
        if self._error is None:
          self._error = error
      finally:
        self._jobs.task_done()

  def _raise(self):
    if self._error is not None:
      error, self._error = self._error, None
      raise RuntimeError(f"{self._owner}: writing in the background failed: "
                         f"{error}") from error

  def submit(self, job) -> None:
    self._raise()
    self._jobs.put(job)

  def drain(self) -> None:
    """Waits until every submitted job has run."""
    self._jobs.join()
    self._raise()

  def stop(self) -> None:
    self._jobs.put(None)
    self._thread.join()
    self._raise()


_OPEN_WRITERS = weakref.WeakSet()


@atexit.register
def _close_open_writers():
  # Daemon threads die at exit: what they still hold is written first.
  for writer in list(_OPEN_WRITERS):
    try:
      writer.close()
    except Exception:  # pylint: disable=broad-except
      pass


# -- TensorBoard -----------------------------------------------------------------


def _figure_pixels(figure) -> np.ndarray:
  """A matplotlib figure rendered to ``uint8[H, W, 3]``, without pyplot."""
  backend_agg = extras.require("matplotlib.backends.backend_agg", extra="plot",
                               user="TensorBoardWriter images")
  canvas = backend_agg.FigureCanvasAgg(figure)
  canvas.draw()
  return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class _EventFile:
  """A TensorBoard event file: TFRecords of serialized ``Event`` protos.

  Records are framed here, so that a batch of them is one write to the
  file; the ``Event`` protos and the CRC-32C come from tensorboardX.
  """

  _LENGTH = struct.Struct("<Q")
  _CRC = struct.Struct("<I")

  def __init__(self, logdir: str, tensorboardx):
    self._crc32c = tensorboardx.crc32c.crc32c
    self._headers = {}  # record length -> its framed header
    # TensorBoard's own naming: a time, the host, the process and a counter.
    name = (f"events.out.tfevents.{int(time.time()):010d}."
            f"{socket.gethostname()}.{os.getpid()}.{next(_EVENT_FILES)}")
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, "wb")  # pylint: disable=consider-using-with
    self.write([tensorboardx.proto.event_pb2.Event(
        wall_time=time.time(), file_version="brain.Event:2").SerializeToString()])

  def _masked_crc(self, data: bytes) -> int:
    crc = self._crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

  def write(self, records) -> None:
    """Appends the serialized events ``records``, in one write."""
    framed = []
    for data in records:
      header = self._headers.get(len(data))
      if header is None:
        length = self._LENGTH.pack(len(data))
        header = length + self._CRC.pack(self._masked_crc(length))
        self._headers[len(data)] = header
      framed += (header, data, self._CRC.pack(self._masked_crc(data)))
    self._file.write(b"".join(framed))

  def flush(self) -> None:
    """Writes the file's buffer out and syncs it to disk."""
    self._file.flush()
    os.fsync(self._file.fileno())

  def close(self) -> None:
    self.flush()
    self._file.close()


_EVENT_FILES = itertools.count()


def _varint(number: int) -> bytes:
  """Protocol buffers' base-128 encoding of a non-negative integer."""
  out = bytearray()
  while number > 0x7F:
    out.append(number & 0x7F | 0x80)
    number >>= 7
  out.append(number)
  return bytes(out)


class _ScalarEvents:
  """Serialized ``Event`` protos of scalar summaries with fixed tags.

  Protocol buffers encode the summary once, each value set to zero; an event
  of one step is its wall time, its step and that summary with the float32
  values put in place, so a batch of steps is encoded as one array.
  """

  def __init__(self, proto, tags):
    value_type = proto.summary_pb2.Summary.Value
    summary, offsets = bytearray(), []
    for tag in tags:
      # A Value is its tag (field 1), then its float (field 2, 4 bytes).
      value = value_type(tag=tag, simple_value=0.0).SerializeToString()
      summary += b"\x0a" + _varint(len(value)) + value
      offsets.append(len(summary) - 4)
    expected = proto.summary_pb2.Summary(
        value=[value_type(tag=tag, simple_value=0.0) for tag in tags])
    if proto.summary_pb2.Summary.FromString(bytes(summary)) != expected:
      # This protobuf orders a Value's fields otherwise: nothing may be written.
      raise RuntimeError(f"TensorBoardWriter: the scalar summary of {tags} does "
                         "not encode as expected")
    self._summary = np.frombuffer(bytes(summary), np.uint8)
    self._columns = (np.asarray(offsets)[:, None] + np.arange(4)).ravel()
    # Event: wall_time (field 1, double), step (field 2), summary (field 5).
    self._summary_key = b"\x2a" + _varint(len(summary))

  def encode(self, steps, walltimes, numbers) -> list:
    """The serialized events of rows of ``numbers`` at ``steps``."""
    bodies = np.tile(self._summary, (len(steps), 1))
    values = np.asarray(numbers, "<f4").reshape(len(steps), -1)
    bodies[:, self._columns] = values.view(np.uint8)
    double = struct.Struct("<d").pack
    return [b"\x09" + double(walltime) + b"\x10"
            + _varint(int(step) & 0xFFFFFFFFFFFFFFFF) + self._summary_key + body.tobytes()
            for step, walltime, body in zip(steps, walltimes, bodies)]


# Scalar writes reach the background thread in batches: a hand-over per
# write would wake it, and take the interpreter lock from the loop, every step.
_BATCH_STEPS = 64
_BATCH_SECONDS = 1.0
# Device results given as dicts come back as one array per chunk of 16, 4 or
# 1 writes, so that few shapes of the pack compile.
_PACK_SIZES = (16, 4, 1)


def _device_of(values):
  """The one device holding every value, or None (host numbers, shards)."""
  device = None
  for value in values:
    if not isinstance(value, jax.Array):
      return None
    sharding = value.sharding
    if not isinstance(sharding, jax.sharding.SingleDeviceSharding):
      return None
    (held,) = sharding.device_set
    if device is None:
      device = held
    elif held != device:
      return None
  return device


@jax.jit
def _pack(values, steps):
  """One float32 vector of the values (TensorBoard's scalars are float32),
  and one vector of the device steps, if any."""
  packed = jnp.concatenate([jnp.ravel(v).astype(jnp.float32) for v in values])
  return packed, (jnp.stack(steps) if steps else None)


def _layout(prefix, results):
  """``(layout, values)``: ``layout`` is ``((name, size), ...)`` of the
  scalars (size 0) and vectors (``name/i``) of the results; results of rank
  2 and more are left out."""
  named = [(name, value) for name, value in _named_leaves(results, prefix)
           if np.ndim(value) <= 1]
  layout = tuple((name, int(np.size(v)) if np.ndim(v) else 0) for name, v in named)
  return layout, [v for _, v in named]


def _scalar_rows(batch):
  """``(layout, [(step, walltime, numbers)])`` of a batch of scalar writes.

  A `Scalars` is one array, read back on its own. Results given as a dict
  are read back as one packed array per chunk of writes with one layout
  whose values (and device steps) live on one device, else value by value.
  """
  runs = []  # [key, items]: consecutive writes of one key
  last = None  # (prefix, layout of a `Scalars`, layout of its tags)
  for step, prefix, results, walltime in batch:
    device_step = isinstance(step, jax.Array)
    if isinstance(results, Scalars):
      # The every-step path: its tags are worked out once per loop.
      if last is None or last[0] is not prefix or last[1] is not results.layout:
        last = (prefix, results.layout,
                tuple((prefix + name, size) for name, size in results.layout))
      key = (last[2], "read")
      item = (int(_to_host(step)) if device_step else step, walltime,
              _to_host(results.values))
    else:
      layout, values = _layout(prefix, results)
      packable = bool(values) and _device_of(
          values + [step] if device_step else values) is not None
      key = (layout, "packed" if packable else "one by one", device_step)
      item = (step, walltime, values)
    if runs and runs[-1][0] == key:
      runs[-1][1].append(item)
    else:
      runs.append((key, [item]))
  for key, items in runs:
    layout, how = key[0], key[1]
    if how == "read":
      yield layout, items
      continue
    rows, start = [], 0
    while start < len(items):
      left = len(items) - start
      size = next(k for k in _PACK_SIZES if k <= left) if how == "packed" else 1
      chunk, start = items[start:start + size], start + size
      if how == "packed":
        values, steps = _pack([v for item in chunk for v in item[2]],
                              [item[0] for item in chunk] if key[2] else [])
        numbers = np.asarray(values).reshape(len(chunk), -1).tolist()
        steps = (np.asarray(steps).tolist() if key[2]
                 else [item[0] for item in chunk])
      else:
        numbers = [[float(x) for v in item[2] for x in np.ravel(_to_host(v))]
                   for item in chunk]
        steps = [int(_to_host(item[0])) for item in chunk]
      rows += [(step, item[1], row) for step, item, row in zip(steps, chunk, numbers)]
    yield layout, rows


def _scalar_tags(layout) -> list:
  return [tag for name, size in layout for tag in _entry_names(name, size)]


class TensorBoardWriter:
  """Writes metric results to TensorBoard event files in ``logdir``.

  `write` adds a scalar per metric (a per-class vector as ``name/0``,
  ``name/1``, ...); `write_summaries` adds, for each member with a threshold
  curve (`jm.AUC`, the X-at-Y metrics), a real TensorBoard PR curve
  (``name/pr_curve``, ``name/pr_curve/j`` per label of a multi-label AUC)
  and images of its ROC and PR curves (``name/roc_image``,
  ``name/pr_image``), and for each `jm.ConfusionMatrix` or IoU member a heat
  map of its table (``name/image``). Both return at once: values are read
  back and written on a background thread (`flush` waits for it). Only
  process 0 writes; elsewhere the writer does nothing. View with
  ``tensorboard --logdir LOGDIR``.

  TensorBoard's PR-curve plugin places the points at thresholds evenly
  spaced on [0, 1], which Keras' default grids are; an `AUC` built with a
  ``thresholds`` list keeps its points but shows other threshold values.

  Args:
    logdir: the directory of the event files (created if missing).
    flush_seconds: how often the event file is flushed to disk.
    class_names: names of the classes on the confusion-matrix images of
      the members with that many classes (others are numbered).

  Raises:
    ImportError: if tensorboardX is not installed (``jmetrics[logging]``).

  Examples:
    >>> import tempfile
    >>> import jax.numpy as jnp
    >>> import jmetrics as jm
    >>> from jmetrics import logging as jlog
    >>> metrics = jm.Collection([jm.Mean(name="loss"), jm.AUC()])
    >>> state = metrics.update(metrics.init(), values=jnp.array([0.3]),
    ...                        y_true=jnp.array([0, 1]), y_pred=jnp.array([0.2, 0.7]))
    >>> with jlog.TensorBoardWriter(tempfile.mkdtemp()) as writer:
    ...   writer.write(0, metrics, state, prefix="train/")
    ...   writer.write_summaries(0, metrics, state, prefix="train/", images=False)
  """

  def __init__(self, logdir, *, flush_seconds: float = 10.0, class_names=None):
    self.logdir = os.fspath(logdir)
    self.class_names = None if class_names is None else list(class_names)
    self.active = _is_writer_process()
    self._closed = False
    if not self.active:
      return
    self._tensorboardx = extras.require("tensorboardX", extra="logging",
                                        user="TensorBoardWriter")
    os.makedirs(self.logdir, exist_ok=True)
    # The background thread here is the only one that writes the file.
    self._events = _EventFile(self.logdir, self._tensorboardx)
    self._proto = self._tensorboardx.proto
    self.flush_seconds = float(flush_seconds)
    self._flushed_at = time.monotonic()
    self._background = _Background("TensorBoardWriter")
    self._pending = []  # scalar writes not yet handed to the background
    self._pending_since = 0.0
    self._pending_lock = threading.Lock()
    self._templates = {}  # result layout -> its `_ScalarEvents`
    _OPEN_WRITERS.add(self)

  def _submit(self, job, *args) -> None:
    if self._closed:
      raise ValueError(f"TensorBoardWriter({self.logdir!r}) is closed")
    self._background.submit(functools.partial(job, *args))

  def write(self, step: int, source, state=None, *, prefix: str = "") -> None:
    """Adds a scalar per metric of ``source`` at ``step`` (see the module docstring).

    Results of rank 2 or more (a confusion matrix) are not scalars: see
    `write_summaries`.
    """
    if not self.active:
      return
    if self._closed:
      raise ValueError(f"TensorBoardWriter({self.logdir!r}) is closed")
    if type(source) is Scalars and state is None and type(step) is int:  # pylint: disable=unidiomatic-typecheck
      results = source  # the every-step path: nothing to dispatch or check
    else:
      results, step = _results(source, state, step)
    now = time.monotonic()
    with self._pending_lock:
      if not self._pending:
        self._pending_since = now
      self._pending.append((step, prefix, results, time.time()))
      full = (len(self._pending) >= _BATCH_STEPS
              or now - self._pending_since > _BATCH_SECONDS)
    if full:
      self._hand_over()

  def _hand_over(self) -> None:
    """Gives the pending scalar writes to the background thread, as one job."""
    with self._pending_lock:
      batch, self._pending = self._pending, []
    if batch:
      self._submit(self._write_scalar_batch, batch)

  def _add(self, values: list, step, walltime) -> None:
    """One event of summary values at ``step``."""
    summary = self._proto.summary_pb2.Summary(value=values)
    self._write_event(self._proto.event_pb2.Event(
        wall_time=walltime, step=int(_to_host(step)), summary=summary))

  def _write_event(self, event) -> None:
    self._events.write([event.SerializeToString()])
    self._flush_when_due()

  def _flush_when_due(self) -> None:
    if time.monotonic() - self._flushed_at > self.flush_seconds:
      self._events.flush()
      self._flushed_at = time.monotonic()

  def _write_scalar_batch(self, batch) -> None:
    # The writes came from consecutive steps: once the last one's values are
    # computed, the others' are too, and this thread wakes once per batch
    # rather than once per step (which costs the loop more than the reading).
    jax.block_until_ready(batch[-1][:3])
    for layout, rows in _scalar_rows(batch):
      if not layout:
        continue
      if layout not in self._templates:
        self._templates[layout] = _ScalarEvents(self._proto, _scalar_tags(layout))
      steps, walltimes, numbers = zip(*rows)
      self._events.write(self._templates[layout].encode(steps, walltimes, numbers))
    self._flush_when_due()

  def write_summaries(self, step: int, source, state=None, *, prefix: str = "",
                      images: bool = True) -> None:
    """Adds PR curves and images of the members of ``source`` that have them.

    Args:
      step: the step or epoch.
      source: as in `write`.
      state: the state, when ``source`` is a metric or collection.
      prefix: put before every tag.
      images: also render the ROC/PR curves and confusion matrices as
        images (needs matplotlib, ``jmetrics[plot]``).
    """
    if not self.active:
      return
    self._hand_over()
    step, walltime = _step(step), time.time()
    if isinstance(step, jax.Array):
      step = _jit_copy(step)
    for name, metric, member_state in _members(source, state):
      tag = prefix + name
      if (isinstance(member_state, thresholds.ConfusionState)
          and hasattr(metric, "curve_points")):
        self._submit(self._write_curve, step, tag, metric,
                     _local_copy(member_state), images, walltime)
      elif images and isinstance(member_state, (iou.ConfusionMatrixState,
                                                iou.IoUState)):
        self._submit(self._write_confusion, step, tag, metric,
                     _local_copy(member_state), walltime)

  def _write_curve(self, step, tag, metric, state, images, walltime):
    summary = self._tensorboardx.summary
    state = jax.tree.map(_to_host, state)
    points = jax.tree.map(np.asarray, metric.curve_points(state))
    per_label = points.tp.ndim == 2
    fields = [f if per_label else f[:, None] for f in
              (points.tp, points.fp, points.tn, points.fn, points.precision,
               points.recall)]
    values = []
    for j in range(fields[0].shape[1]):
      values += summary.pr_curve_raw(
          f"{tag}/pr_curve/{j}" if per_label else f"{tag}/pr_curve",
          *(f[:, j] for f in fields), num_thresholds=len(points.thresholds)).value
    if images:
      for curve, suffix in (("ROC", "roc_image"), ("PR", "pr_image")):
        figure, _ = plot_lib.curves(metric, state, curve=curve)
        values += summary.image(f"{tag}/{suffix}", _figure_pixels(figure),
                                dataformats="HWC").value
    self._add(values, step, walltime)

  def _write_confusion(self, step, tag, metric, state, walltime):
    state = jax.tree.map(_to_host, state)
    size = state.confusion.hi.shape[0]
    names = self.class_names if len(self.class_names or ()) == size else None
    figure, _ = plot_lib.confusion_matrix(metric, state, class_names=names)
    self._add(self._tensorboardx.summary.image(
        f"{tag}/image", _figure_pixels(figure), dataformats="HWC").value,
              step, walltime)

  def wait(self) -> None:
    """Waits until everything written so far is in the event file.

    The file is not synced to disk (see `flush`): what a training loop that
    logs as it goes would wait for, were it to wait at all.
    """
    if self.active and not self._closed:
      self._hand_over()
      self._background.drain()

  def flush(self) -> None:
    """Waits until everything written so far is on disk (synced)."""
    if self.active and not self._closed:
      self.wait()
      self._events.flush()

  def close(self) -> None:
    """Flushes and closes the event file; later writes raise."""
    if not self.active or self._closed:
      return
    _OPEN_WRITERS.discard(self)
    try:
      self._hand_over()
      self._closed = True
      self._background.stop()
    finally:
      self._events.close()

  def __enter__(self) -> "TensorBoardWriter":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


# -- progress bar ----------------------------------------------------------------


def _shown(results) -> dict:
  """The scalar results, as floats, for a progress bar."""
  return {name: float(value) for name, value in _flat(results).items()
          if value.ndim == 0}


class ProgressBar:
  """A tqdm progress bar showing the running metric values of a loop.

  `update` advances the bar by a step and, at most every
  ``refresh_seconds``, dispatches a ``compute`` of the values to show; they
  are shown once the device has them (at a later `update`), so the loop
  never waits for the device. `close` shows the values of the last update
  (reading them back once) and returns them. On processes other than 0 the
  bar is silent.

  Args:
    total: the number of steps, if known.
    desc: the text before the bar (``"epoch 3"``).
    refresh_seconds: the least time between two computes of the values.
    **tqdm_options: more options of ``tqdm.auto.tqdm`` (``leave``,
      ``file``, ``disable``, ...).

  Raises:
    ImportError: if tqdm is not installed (``jmetrics[logging]``).

  Examples:
    >>> import jax.numpy as jnp
    >>> import jmetrics as jm
    >>> from jmetrics import logging as jlog
    >>> metric = jm.Mean(name="loss")
    >>> state = metric.init()
    >>> with jlog.ProgressBar(total=3, desc="epoch 0", disable=True) as bar:
    ...   for loss in (0.5, 0.25, 0.75):
    ...     state = metric.update(state, jnp.array([loss]))
    ...     bar.update(metric, state)
    >>> bar.values
    {'loss': 0.5}
  """

  def __init__(self, total=None, *, desc=None, refresh_seconds: float = 0.5,
               **tqdm_options):
    tqdm = extras.require("tqdm.auto", extra="logging", user="ProgressBar")
    self._silent = not _is_writer_process()
    if self._silent:
      tqdm_options["disable"] = True
    self.refresh_seconds = float(refresh_seconds)
    self.values = {}
    self._bar = tqdm.tqdm(total=total, desc=desc, **tqdm_options)
    self._pending = None
    self._latest = None
    self._dispatched_at = -math.inf

  def update(self, source=None, state=None, *, prefix: str = "", n: int = 1) -> None:
    """Advances ``n`` steps; ``source`` (and ``state``) hold the values to show.

    Args:
      source: as in `TensorBoardWriter.write`, or None to advance only.
      state: the state, when ``source`` is a metric or collection.
      prefix: put before every name shown.
      n: steps done.
    """
    self._bar.update(n)
    if source is None or self._silent:
      return
    self._latest = (source, state, prefix)
    now = time.monotonic()
    if now - self._dispatched_at < self.refresh_seconds:
      return
    if self._pending is not None:
      if not _ready(self._pending[0]):
        return  # still on the device: show it at a later update
      self._show(*self._pending)
    self._pending = (_results(source, state)[0], prefix)
    self._dispatched_at = now

  def _show(self, results, prefix):
    self.values = {prefix + k: v for k, v in _shown(results).items()}
    self._bar.set_postfix({k: f"{v:.4g}" for k, v in self.values.items()},
                          refresh=False)

  def close(self) -> dict:
    """Shows the values of the last update and closes the bar.

    Returns:
      ``{name: float}`` of the scalar values of the last update.
    """
    if self._latest is not None:
      source, state, prefix = self._latest
      self._latest = self._pending = None
      self._show(_results(source, state)[0], prefix)
    self._bar.close()
    return dict(self.values)

  def __enter__(self) -> "ProgressBar":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
