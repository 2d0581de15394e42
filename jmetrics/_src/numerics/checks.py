"""Input checks shared by all metrics: shapes are checked at trace time.

Every failure is a ``ValueError`` naming the metric, the argument and the
shapes involved, raised while tracing (shapes are static), so a bad call
fails before anything runs and never yields a silently wrong number.

The predicates at the end (`is_int`, `is_real`, ...) judge configuration
values; `base.Check` builds the per-field config checks on them.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings

import jax
import numpy as np
import jax.numpy as jnp


def shape_of(x) -> tuple:
  shape = getattr(x, "shape", None)
  if shape is not None:
    return tuple(shape)
  try:
    return tuple(np.shape(x))
  except jax.errors.TracerArrayConversionError:
    return tuple(jnp.shape(jnp.asarray(x)))  # a Python list of traced values


def warn_user(message: str, category=UserWarning) -> None:
  """Warns at the first caller outside the package (the user's line)."""
  package = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
  frame, level = sys._getframe(1), 2
  while frame is not None and frame.f_code.co_filename.startswith(package):
    frame, level = frame.f_back, level + 1
  warnings.warn(message, category, stacklevel=level)


def _is_numeric_dtype(dtype) -> bool:
  """Bools, integers and real floats (bfloat16 and float16 included)."""
  return dtype == np.bool_ or (jnp.issubdtype(dtype, jnp.number)
                               and not jnp.issubdtype(dtype, jnp.complexfloating))


def numeric_input(metric, name: str, x):
  """An input of `update` as an array of numbers, or a clear error.

  JAX arrays (traced or not) pass as they are; anything else is read with
  NumPy, and a Python list holding traced values (a list built inside a
  jitted function) becomes one traced array.

  Raises:
    TypeError: for ``None``, strings, complex numbers, or objects that are
      not numbers (an object array holding ``None``), naming the metric and
      the argument.
    ValueError: for ragged nested lists.
  """
  if isinstance(x, jax.Array):
    if not _is_numeric_dtype(x.dtype):
      raise TypeError(f"{type(metric).__name__}: {name} must hold real numbers "
                      f"or bools, got an array of dtype {x.dtype}")
    return x
  if x is None:
    raise TypeError(f"{type(metric).__name__}: {name} must be an array of "
                    "numbers, got None")
  try:
    array = np.asarray(x)
  except jax.errors.TracerArrayConversionError:
    return numeric_input(metric, name, jnp.asarray(x))
  except (ValueError, TypeError) as e:
    raise ValueError(f"{type(metric).__name__}: {name} must be a rectangular "
                     f"array of numbers ({e})") from None
  if array.dtype == object:
    try:  # numbers held as Python objects (e.g. from pandas) are numbers
      array = np.asarray(array.tolist(), dtype=np.result_type(
          *{type(v) for v in array.ravel().tolist()}))
    except (TypeError, ValueError):
      pass
  if not _is_numeric_dtype(array.dtype):
    kinds = sorted({type(v).__name__ for v in np.ravel(array).tolist()[:1000]})
    held = ", ".join(kinds) if array.dtype == object else f"dtype {array.dtype}"
    raise TypeError(f"{type(metric).__name__}: {name} must hold real numbers "
                    f"or bools, got {type(x).__name__} holding {held}")
  return array


def fail(metric, message: str) -> ValueError:
  """A ``ValueError`` prefixed with the metric's class name."""
  return ValueError(f"{type(metric).__name__}: {message}")


def check_same_shape(metric, y_true, y_pred, what="y_true and y_pred"):
  if shape_of(y_true) != shape_of(y_pred):
    raise fail(metric, f"expected {what} of the same shape, got y_true "
               f"{shape_of(y_true)} and y_pred {shape_of(y_pred)}")


def check_min_rank(metric, name, x, min_rank):
  if np.ndim(x) < min_rank:
    raise fail(metric, f"expected {name} with at least {min_rank} "
               f"dimension(s), got shape {shape_of(x)}")


def check_broadcast(metric, name, x, target_shape, given=None):
  """``x`` must broadcast to ``target_shape`` (e.g. a sample weight).

  ``given`` is the argument as the user passed it, when ``x`` is its
  rank-aligned form: the message then names the user's shape first.
  """
  target_shape = tuple(target_shape)
  try:
    fits = np.broadcast_shapes(shape_of(x), target_shape) == target_shape
  except ValueError:
    fits = False
  if not fits:
    shape = shape_of(x) if given is None else shape_of(given)
    aligned = ("" if given is None or shape_of(given) == shape_of(x) else
               f" (aligned to the inputs' rank as {shape_of(x)})")
    raise fail(metric, f"{name} of shape {shape}{aligned} does not broadcast "
               f"to shape {target_shape}")


def as_float(x):
  """Inputs as float32 arrays (bools and ints included)."""
  return jnp.asarray(x, jnp.float32)


def same_shape_floats(metric, y_true, y_pred):
  """Both inputs as float32 arrays of one shape, with at least one axis."""
  check_same_shape(metric, y_true, y_pred)
  check_min_rank(metric, "y_pred", y_pred, 1)
  return as_float(y_true), as_float(y_pred)


# -- predicates on configuration values --------------------------------------------
#
# Config values reach these after `base.freeze`, so NumPy scalars are already
# Python numbers; bools are numbers to Python but never to a config.


def is_int(value) -> bool:
  """An integer that is not a bool."""
  return (isinstance(value, numbers.Integral)
          and not isinstance(value, (bool, np.bool_)))


def is_real(value) -> bool:
  """A real number (int or float, NaN and inf included) that is not a bool."""
  return (isinstance(value, numbers.Real)
          and not isinstance(value, (bool, np.bool_)))


def is_bool(value) -> bool:
  return isinstance(value, (bool, np.bool_))


def is_float_dtype(dtype) -> bool:
  """Whether ``dtype`` names a floating dtype (``"float16"``, ``jnp.float32``)."""
  try:
    return jnp.issubdtype(jnp.dtype(dtype), jnp.floating)
  except TypeError:
    return False
