"""The kernel layer: every operation over a batch that a metric calls.

Each operation is defined once (`dispatch.Kernel`): its XLA body is the
specification, an optional CPU lowering runs the native code the install
built (`ffi`), and its partition rule holds in every sharding mode. Metric
families call the functions below and never see which lowering runs.
"""

from jmetrics._src.kernels.counting import add_counts
from jmetrics._src.kernels.counting import bincount
from jmetrics._src.kernels.counting import confusion_matrix
from jmetrics._src.kernels.counting import diagonal
from jmetrics._src.kernels.counting import product_sums
from jmetrics._src.kernels.counting import table_sum
from jmetrics._src.kernels.ffi import available
from jmetrics._src.kernels.ffi import Bucketing
from jmetrics._src.kernels.ffi import Cells
from jmetrics._src.kernels.ffi import library_path
from jmetrics._src.kernels.rows import argmax
from jmetrics._src.kernels.rows import in_top_k
from jmetrics._src.kernels.rows import row_statistics
from jmetrics._src.kernels.thresholds import bucket
from jmetrics._src.kernels.thresholds import Counts
from jmetrics._src.kernels.thresholds import filter_top_k
from jmetrics._src.kernels.thresholds import NEG_INF
from jmetrics._src.kernels.thresholds import threshold_update
from jmetrics._src.kernels.thresholds import Thresholds
from jmetrics._src.kernels.thresholds import TopK
