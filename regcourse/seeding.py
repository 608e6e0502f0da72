"""Seeds: every random number the course draws comes from a seed that goes through here.

:func:`set_seed` seeds the global generators (Python, NumPy, torch) and returns a torch.Generator;
:func:`make_generator` returns a Generator only. Both add the integer in the environment variable
REGCOURSE_SEED_OFFSET, so that re-running a chapter with another offset checks its claims on other seeds.
"""
from __future__ import annotations

import os
import random

import torch

SEED_OFFSET_VARIABLE = "REGCOURSE_SEED_OFFSET"


def seed_offset() -> int:
    """The integer in the environment variable REGCOURSE_SEED_OFFSET (0 when unset).

    Every seed the course uses goes through :func:`set_seed` or :func:`make_generator`, which add this
    offset: re-running a chapter with offsets 1, 2, 3 checks that what it says does not hang on one seed
    (scripts/check_claims.sh does exactly that).
    """
    raw = os.environ.get(SEED_OFFSET_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{SEED_OFFSET_VARIABLE}={raw!r} is not a whole number; set it to an integer such "
                         f"as 1, or unset it for the book's own seeds.") from None


def make_generator(seed: int) -> torch.Generator:
    """A torch.Generator seeded with ``seed`` plus the seed offset; touches no global random state."""
    return torch.Generator().manual_seed(seed + seed_offset())


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy (if present) and torch with ``seed`` plus the seed offset (see
    :func:`seed_offset`); return a torch.Generator seeded the same way."""
    seed = seed + seed_offset()
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
