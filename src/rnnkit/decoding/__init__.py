"""Decoding: greedy, temperature, top-k and top-p sampling over any ``step`` function."""

from rnnkit.decoding.sampling import filter_logits, sample_sequence, sample_token

__all__ = ["filter_logits", "sample_sequence", "sample_token"]
