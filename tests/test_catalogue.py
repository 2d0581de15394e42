"""Every catalogue entry against its oracle, eager and jitted.

The entries are the descriptions the distributed and kernel-parity tests run
on every path; here each is held to Keras' twin of its configuration (or its
NumPy reference) on unweighted and weighted batches, one of them all zero
weights, so a path that agrees with the single-device state agrees with the
oracle too.
"""

import jax
import pytest

from tests import catalogue
from tests import harness

WITH_ORACLE = [case for case in catalogue.ENTRIES
               if case.keras is not None or case.reference is not None]


@pytest.mark.parametrize("case", WITH_ORACLE, ids=str)
def test_entry_matches_its_oracle(case):
  for mode, batches in harness.weighted_batches(case).items():
    expected = harness.oracle_value(case, batches)
    _, eager = harness.run_sequential(case.metric, batches)
    harness.assert_close(eager, expected, case, f"{mode} eager")
    _, jitted = harness.run_sequential(case.metric, batches, jit=True)
    harness.assert_close(jitted, expected, case, f"{mode} jit")


def test_every_entry_but_the_compositions_has_an_oracle():
  """Collections hold members that have entries of their own; MeanTensor
  and MeanAveragePrecision are held to theirs in the family tests."""
  without = sorted(case.id for case in catalogue.ENTRIES
                   if case not in WITH_ORACLE)
  assert without == ["collection", "collection_weighted",
                     "mean_average_precision", "mean_tensor",
                     "mean_tensor_weighted", "routed"], without


@pytest.mark.parametrize("case", catalogue.ENTRIES, ids=str)
def test_a_fresh_state_can_be_donated(case):
  # A train step that donates its train state donates the metric state in
  # it; XLA refuses a buffer donated twice, so no two leaves may share one.
  leaves = jax.tree.leaves(case.metric.init())
  donated = jax.jit(lambda state: state, donate_argnums=0)(case.metric.init())
  assert len({leaf.unsafe_buffer_pointer() for leaf in leaves}) == len(leaves)
  assert jax.tree.structure(donated) == jax.tree.structure(case.metric.init())
