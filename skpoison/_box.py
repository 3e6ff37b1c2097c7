"""How far data may lie outside a feature box and still count as inside it."""

from __future__ import annotations

import numpy as np

#: Rounding errors (of the data's dtype, relative to the bound or 1) that data
#: may lie outside a box: MinMaxScaler's output exceeds 1 by one ulp now and then
#: (1.0000000000000002, float32 1.0000001).
BOX_SLACK_ULPS = 4


def box_slack(bound, dtype):
    """The distance data in ``dtype`` may lie beyond ``bound`` (a box's low or high end).

    Examples
    --------
    >>> bool(box_slack(1.0, np.float64) == 4 * np.finfo(np.float64).eps)
    True
    >>> float(box_slack(-100.0, np.float32)) / float(np.finfo(np.float32).eps)
    400.0
    """
    return BOX_SLACK_ULPS * np.finfo(dtype).eps * np.maximum(1.0, np.abs(bound))
