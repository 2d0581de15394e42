"""The package's layers run one way: nothing imports a module above it."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "jmetrics"

# Lowest first: numerics, kernels, the contract, the metric families,
# composition, integrations; each folder of jmetrics/_src is one layer.
LAYERS = (
    {"numerics.wide", "numerics.checks", "numerics.weighting",
     "numerics.arithmetic", "numerics.distributed"},
    {"kernels", "kernels.ffi", "kernels.dispatch", "kernels.thresholds",
     "kernels.counting", "kernels.rows"},
    {"base"},
    {"metrics.reduction", "metrics.thresholds", "metrics.accuracy",
     "metrics.auc", "metrics.confusion", "metrics.dice", "metrics.f_score",
     "metrics.hinge", "metrics.iou", "metrics.probabilistic",
     "metrics.regression", "metrics.agreement", "metrics.multilabel",
     "metrics.calibration", "metrics.one_vs_rest", "metrics.ranking",
     "metrics.language"},
    {"composition.registry", "composition.collection", "composition.records",
     "composition.checked"},
    {"jmetrics.stateful", "jmetrics.linen", "jmetrics.nnx", "jmetrics.wide",
     "integrations.extras", "jmetrics.plot", "jmetrics.logging", "jmetrics.keras"},
)


def _layer(module: str) -> int:
  # `jmetrics._src.X` is named X in LAYERS; public modules by their full name.
  name = module.removeprefix("jmetrics._src.")
  for level, names in enumerate(LAYERS):
    if name in names:
      return level
  raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _modules():
  for path in sorted(PACKAGE.rglob("*.py")):
    if path.name == "__init__.py":
      continue
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    yield ".".join(relative.parts), path


def _is_module(name: str) -> bool:
  path = PACKAGE.parent.joinpath(*name.split("."))
  return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path):
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module:
      if node.module.startswith("jmetrics"):
        base = node.module
        for alias in node.names:
          candidate = f"{base}.{alias.name}"
          yield candidate if _is_module(candidate) else base
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith("jmetrics"):
          yield alias.name


def test_every_module_has_a_layer():
  for module, _ in _modules():
    _layer(module)


def test_no_import_runs_up_the_layers():
  upward = []
  for module, path in _modules():
    for imported in _imports(path):
      if imported == "jmetrics":
        upward.append(f"{module} imports the whole package")
      elif _layer(imported) > _layer(module):
        upward.append(f"{module} (layer {_layer(module)}) imports {imported} "
                      f"(layer {_layer(imported)})")
  assert not upward, "\n".join(upward)
