"""Shared test settings."""

import os
import re

import torch
from hypothesis import settings

# Tests use tiny tensors: one thread avoids OpenMP hand-off costs and keeps results reproducible.
# It holds in each pytest-xdist worker too (each imports this file); CLI subprocesses get
# OMP_NUM_THREADS=1 from cli_helpers.
torch.set_num_threads(1)

# The fused paths take the fixed rule (compiled kernels where usable), not a timed choice: a
# choice measured on a busy machine could differ between workers and runs (the paths agree
# only to rounding), and timing would write to the user's cache directory. CLI subprocesses
# inherit it. tests/layers/test_fused_choice.py tests the measured choice and every forced path.
os.environ.setdefault("RNNKIT_FUSED_PATH", "rule")

# Every property test draws the same cases on every machine and every run: derandomized (the
# seed comes from the test's name) and no example database replaying another machine's finds.
# The draws still depend on hypothesis's version, which pyproject.toml's dev extra pins.
settings.register_profile("rnnkit", derandomize=True, database=None, print_blob=True)
settings.load_profile("rnnkit")

ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def pytest_collection_modifyitems(items) -> None:
    """Test ids without memory addresses (``<object object at 0x7f...>`` from a sentinel's
    repr): pytest-xdist's workers must collect the same ids, and an address differs in each."""
    for item in items:
        if ADDRESS.search(item.nodeid):
            item._nodeid = ADDRESS.sub("", item.nodeid)
