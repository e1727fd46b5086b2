"""Shared test settings."""

import torch
from hypothesis import settings

# Tests use tiny tensors: one thread avoids OpenMP hand-off costs and keeps results reproducible.
torch.set_num_threads(1)

# Every property test draws the same cases on every machine and every run: derandomized (the
# seed comes from the test's name) and no example database replaying another machine's finds.
# The draws still depend on hypothesis's version, which pyproject.toml's dev extra pins.
settings.register_profile("rnnkit", derandomize=True, database=None, print_blob=True)
settings.load_profile("rnnkit")
