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


_X86 = platform.machine().lower() in ("x86_64", "amd64")

# The kernels are built once per x86-64 microarchitecture level below, and
# `jmetrics._src.kernels.ffi` loads the highest one the CPU it runs on
# supports: the baseline (`_kernels`) runs on any x86-64-v2 CPU (SSE4.2,
# POPCNT), `_kernels_v3` needs AVX2, FMA and BMI2 (Haswell, Zen and later),
# `_kernels_v4` AVX-512 (F, BW, CD, DQ, VL). Never the build machine's
# -march=native: an installed package or image may run on an older CPU.
# Elsewhere (arm64) one build with the defaults.
LEVELS = {"_kernels": ["-march=x86-64-v2", "-mtune=generic"],
          "_kernels_v3": ["-march=x86-64-v3", "-mtune=generic"],
          "_kernels_v4": ["-march=x86-64-v4", "-mtune=generic"]} if _X86 else {
              "_kernels": []}


class BuildKernels(build_ext):
  """A shared library, not a Python module: no ``PyInit_`` export needed."""

  def finalize_options(self):
    super().finalize_options()
    if not self.parallel:
      # The levels compile side by side (one compiler process each).
      self.parallel = os.cpu_count() or 1

  def get_export_symbols(self, ext):
    return []

  def build_extension(self, ext):
    if not ext.include_dirs or not ext.include_dirs[0]:
      # A CompileError, so that the optional extension is skipped with a
      # message rather than failing the install.
      raise CompileError("jaxlib's XLA FFI headers were not found")
    # As build_ext's own, but each level compiles into a folder of its own:
    # the levels share their sources, and so would share object files.
    build_temp = os.path.join(self.build_temp, ext.name.rsplit(".", 1)[-1])
    objects = self.compiler.compile(
        ext.sources, output_dir=build_temp, include_dirs=ext.include_dirs,
        debug=self.debug, extra_postargs=ext.extra_compile_args,
        depends=ext.depends)
    self.compiler.link_shared_object(
        objects, self.get_ext_fullpath(ext.name),
        libraries=self.get_libraries(ext), extra_postargs=ext.extra_link_args,
        export_symbols=self.get_export_symbols(ext), debug=self.debug,
        build_temp=build_temp, target_lang="c++")


def _kernels(name: str, cpu_flags: list[str]) -> Extension:
  return Extension(
      f"jmetrics._src.kernels.native.{name}",
      sources=sorted(glob.glob("jmetrics/_src/kernels/native/*.cc")),
      depends=sorted(glob.glob("jmetrics/_src/kernels/native/*.h")),
      include_dirs=[_ffi_include_dir()],
      language="c++",
      # -fno-trapping-math lets the compiler vectorise float-to-int
      # conversions; -ffp-contract=off keeps Keras' float32 product (no fused
      # multiply-add, so every level gives the same bits); -fopenmp-simd
      # honours `omp simd` reductions (no OpenMP runtime). -g0: no debug
      # information (Python's own CFLAGS ask for -g: 10x the size).
      extra_compile_args=["-O3", "-g0", "-std=c++17", "-pthread", "-w",
                          "-fno-trapping-math", "-ffp-contract=off",
                          "-fopenmp-simd", *cpu_flags],
      extra_link_args=["-pthread"],
      optional=True,
  )


# JMETRICS_BUILD_NATIVE=0 installs without the kernels (the XLA path only).
setup(ext_modules=[] if os.environ.get("JMETRICS_BUILD_NATIVE") == "0"
      else [_kernels(name, flags) for name, flags in LEVELS.items()],
      cmdclass={"build_ext": BuildKernels})
