"""Decoding: one autoregressive toolkit over one ``Step`` contract.

Greedy decoding and sampling (:mod:`.search`), beam search (:mod:`.beam`) and the one token
sampler with temperature, top-k and top-p (:mod:`.sampling`), for any model that exposes
``step(tokens (N,), state) -> (log_probs (N, V), state)``; see docs/decoding.md. CTC outputs
(per-frame label posteriors) decode by best path or prefix beam search (:mod:`.ctc`), with a
language model on the same ``Step`` for shallow fusion.
"""

from rnnkit.decoding.beam import LENGTH_PENALTIES, beam_search, length_penalties
from rnnkit.decoding.ctc import LMFusion, best_path, prefix_beam_search
from rnnkit.decoding.sampling import filter_logits, sample_sequence, sample_token
from rnnkit.decoding.search import greedy, sample
from rnnkit.decoding.step import Hypothesis, Reorder, Step

__all__ = [
    "LENGTH_PENALTIES",
    "Hypothesis",
    "LMFusion",
    "Reorder",
    "Step",
    "beam_search",
    "best_path",
    "filter_logits",
    "greedy",
    "length_penalties",
    "prefix_beam_search",
    "sample",
    "sample_sequence",
    "sample_token",
]
