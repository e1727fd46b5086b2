"""Data: text readers, vocabularies, batching."""

from rnnkit.data.batching import StreamBatches
from rnnkit.data.text import bundled_text, read_text, split_contiguous
from rnnkit.data.vocab import UNK, CharVocab

__all__ = ["UNK", "CharVocab", "StreamBatches", "bundled_text", "read_text", "split_contiguous"]
