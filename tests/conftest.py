"""Test setup: 8 CPU devices and Keras on the JAX backend, before either loads."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8")
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

assert jax.device_count() == 8, "tests expect 8 host devices"
