"""Optional dependencies, imported on first use with an error naming the extra.

`jmetrics.logging` and `jmetrics.plot` import without them; the first call
that needs one imports it through `require`.
"""

from __future__ import annotations

import importlib
import types


def require(module: str, *, extra: str, user: str) -> types.ModuleType:
  """Imports ``module``, or says which extra of jmetrics installs it.

  Args:
    module: the module to import (``"tensorboardX"``, ``"matplotlib.figure"``).
    extra: the jmetrics extra that installs it (``"logging"``, ``"plot"``).
    user: what needs it, for the message (``"TensorBoardWriter"``).

  Returns:
    The module.

  Raises:
    ImportError: naming ``user``, the missing package and the extra.
  """
  try:
    return importlib.import_module(module)
  except ImportError as error:
    package = module.split(".")[0]
    raise ImportError(
        f"{user} needs {package}, which is not installed: "
        f"pip install 'jmetrics[{extra}]'") from error
