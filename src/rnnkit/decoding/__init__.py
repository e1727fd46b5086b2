"""Decoding: one autoregressive toolkit over one ``Step`` contract.

Greedy decoding and sampling (:mod:`.search`), beam search (:mod:`.beam`) and the one token
sampler with temperature, top-k and top-p (:mod:`.sampling`), for any model that exposes
``step(tokens (N,), state) -> (log_probs (N, V), state)``; see docs/decoding.md.
"""

from rnnkit.decoding.beam import LENGTH_PENALTIES, beam_search, length_penalties
from rnnkit.decoding.sampling import filter_logits, sample_sequence, sample_token
from rnnkit.decoding.search import greedy, sample
from rnnkit.decoding.step import Hypothesis, Reorder, Step

__all__ = [
    "LENGTH_PENALTIES",
    "Hypothesis",
    "Reorder",
    "Step",
    "beam_search",
    "filter_logits",
    "greedy",
    "length_penalties",
    "sample",
    "sample_sequence",
    "sample_token",
]
