"""Suite-wide settings.

The problems in the unit tests are tiny: one intra-op thread avoids the
oversubscription that makes small torch ops slow when pytest shares 2 cores.
"""

import torch

torch.set_num_threads(1)
