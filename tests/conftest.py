"""Shared test settings."""

import torch

# Tests use tiny tensors: one thread avoids OpenMP hand-off costs and keeps results reproducible.
torch.set_num_threads(1)
