"""Test setup: 8 CPU devices and Keras on the JAX backend, before either loads."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8")
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

assert jax.device_count() == 8, "tests expect 8 host devices"


def pytest_addoption(parser):
  parser.addoption(
      "--native", choices=("on", "off"), default="on",
      help="off: run with JMETRICS_NATIVE=0, every metric on its XLA path "
           "(the path GPU and TPU take)")


def pytest_configure(config):
  # Set before any test module imports jmetrics, which reads it at import.
  if config.getoption("--native") == "off":
    os.environ["JMETRICS_NATIVE"] = "0"


def pytest_ignore_collect(collection_path, config):
  # The kernels' own tests need the kernels.
  return (config.getoption("--native") == "off"
          and collection_path.name.startswith("test_native"))
