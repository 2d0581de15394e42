"""Builds the native CPU kernels (``jmetrics/_src/kernels/native/*.cc``) at install.

The kernels are plain C++ against the XLA FFI headers that ship with jaxlib,
loaded with ctypes and registered through ``jax.ffi``; they need no Python
binding, so a setuptools ``Extension`` is the whole build. It is optional:
where it cannot compile (no compiler, no headers) the install still succeeds
and ``import jmetrics`` warns once that the XLA path runs instead.
"""

import glob
import importlib.util
import os
import pathlib
import platform

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError


def _ffi_include_dir() -> str:
  """jaxlib's include folder (what ``jax.ffi.include_dir()`` returns)."""
  spec = importlib.util.find_spec("jaxlib")  # found, not imported
  if spec is None or not spec.submodule_search_locations:
    return ""
  return str(pathlib.Path(list(spec.submodule_search_locations)[0]) / "include")


def _cpu_flags() -> list[str]:
  # A binary for any x86-64-v2 CPU (SSE4.2, POPCNT), not for the build
  # machine's: an installed package or image may run on an older CPU.
  machine = platform.machine().lower()
  if machine in ("x86_64", "amd64"):
    return ["-march=x86-64-v2", "-mtune=generic"]
  return []


class BuildKernels(build_ext):
  """A shared library, not a Python module: no ``PyInit_`` export needed."""

  def get_export_symbols(self, ext):
    return []

  def build_extension(self, ext):
    if not ext.include_dirs or not ext.include_dirs[0]:
      # A CompileError, so that the optional extension is skipped with a
      # message rather than failing the install.
      raise CompileError("jaxlib's XLA FFI headers were not found")
    super().build_extension(ext)


KERNELS = Extension(
    "jmetrics._src.kernels.native._kernels",
    sources=sorted(glob.glob("jmetrics/_src/kernels/native/*.cc")),
    depends=sorted(glob.glob("jmetrics/_src/kernels/native/*.h")),
    include_dirs=[_ffi_include_dir()],
    language="c++",
    # -fno-trapping-math lets the compiler vectorise float-to-int
    # conversions; -ffp-contract=off keeps Keras' float32 product (no fused
    # multiply-add); -fopenmp-simd honours `omp simd` reductions (no OpenMP
    # runtime).
    # -g0: no debug information (Python's own CFLAGS ask for -g: 10x the size).
    extra_compile_args=["-O3", "-g0", "-std=c++17", "-pthread", "-w",
                        "-fno-trapping-math", "-ffp-contract=off",
                        "-fopenmp-simd", *_cpu_flags()],
    extra_link_args=["-pthread"],
    optional=True,
)

# JMETRICS_BUILD_NATIVE=0 installs without the kernels (the XLA path only).
setup(ext_modules=[] if os.environ.get("JMETRICS_BUILD_NATIVE") == "0"
      else [KERNELS], cmdclass={"build_ext": BuildKernels})
