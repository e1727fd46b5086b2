"""Tokenizers and a token vocabulary for classifying short texts.

A :class:`Tokenizer` turns text into tokens (characters or words); a :class:`TokenVocab`
turns tokens into ids, with two reserved entries::

    id 0  <pad>   fills batches out to the longest sequence; never produced by encode
    id 1  <unk>   stands for every token unseen when the vocabulary was built
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass

from rnnkit.data.padded import truncate

WORD_PATTERN = r"\w+(?:['’]\w+)*|[^\w\s]"
"""A word token: a run of word characters, optionally joined by inner apostrophes
(``don't``, ``l’homme``), or any single character that is neither a word character nor
whitespace (each punctuation mark is its own token). Whitespace only separates tokens."""

WORD_RE = re.compile(WORD_PATTERN)

TOKENIZER_KINDS = ("char", "word")

DIGIT_RE = re.compile(r"[0-9]")

PAD = "<pad>"  # id 0: padding
UNK = "<unk>"  # id 1: any token not in the vocabulary
SPECIALS = (PAD, UNK)


@dataclass(frozen=True)
class Tokenizer:
    """Text -> tokens, by characters or by :data:`WORD_PATTERN` words.

    Args:
        kind: ``"char"`` (every character, whitespace included) or ``"word"``.
        lowercase: lowercase the text before splitting it.
        digits_as_zero: write every digit as ``0`` before splitting, so numbers of one shape
            share one token (``09061701461`` and ``08712300220`` both become ``00000000000``).

    Example:
        >>> Tokenizer("word")("Don't panic!")
        ["don't", 'panic', '!']
    """

    kind: str = "word"
    _: KW_ONLY
    lowercase: bool = True
    digits_as_zero: bool = False

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZER_KINDS:
            raise ValueError(f"tokenizer kind must be one of {TOKENIZER_KINDS}, got {self.kind!r}")

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.digits_as_zero:
            text = DIGIT_RE.sub("0", text)
        if self.kind == "char":
            return list(text)
        return WORD_RE.findall(text)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "lowercase": self.lowercase,
            "digits_as_zero": self.digits_as_zero,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        """Inverse of :meth:`to_dict`; unknown or missing keys are errors."""
        keys = {"kind", "lowercase", "digits_as_zero"}
        if not isinstance(data, dict) or not {"kind", "lowercase"} <= set(data) <= keys:
            raise ValueError(f"a tokenizer dict has the keys {sorted(keys)}; got {data!r}")
        digits = bool(data.get("digits_as_zero", False))
        return cls(data["kind"], lowercase=bool(data["lowercase"]), digits_as_zero=digits)


class TokenVocab:
    """Maps tokens to ids; id 0 is :data:`PAD`, id 1 is :data:`UNK`, known tokens follow.

    Args:
        tokens: the known tokens in id order starting at 2 (distinct, no specials).
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be distinct")
        if clash := set(tokens) & set(SPECIALS):
            raise ValueError(f"vocabulary tokens must not include the specials {sorted(clash)}")
        self.itos: list[str] = [*SPECIALS, *tokens]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(
        cls,
        token_lists: Iterable[list[str]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> TokenVocab:
        """Count tokens and keep the frequent ones.

        Tokens are ordered by descending count, ties by the token string, so the ids depend
        only on the counts.

        Args:
            token_lists: tokenized texts.
            min_freq: keep tokens seen at least this many times.
            max_size: most entries, the two specials included; ``None`` for no limit.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must be >= {len(SPECIALS)} (the specials), got {max_size}")
        counts = Counter(t for tokens in token_lists for t in tokens)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Tokens -> ids; unknown tokens become 1 (:data:`UNK`)."""
        unk = self.stoi[UNK]
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> tokens."""
        return [self.itos[i] for i in ids]

    def to_dict(self) -> dict:
        """JSON-serialisable form: the specials and the known tokens in id order."""
        return {"type": "token", "specials": list(SPECIALS), "tokens": self.itos[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, data: dict) -> TokenVocab:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on anything else."""
        if (
            not isinstance(data, dict)
            or data.get("type") != "token"
            or data.get("specials") != list(SPECIALS)
            or not isinstance(tokens := data.get("tokens"), list)
            or not all(isinstance(t, str) for t in tokens)
        ):
            raise ValueError("not a token vocabulary dict (type 'token', specials, tokens)")
        return cls(tokens)


@dataclass(frozen=True)
class TextEncoder:
    """Text -> token ids for a model: tokenize, look up, truncate; an empty text is ``[UNK]``.

    Saved with the model (``to_dict``), so prediction encodes exactly as training did.
    """

    tokenizer: Tokenizer
    vocab: TokenVocab
    max_length: int | None = None  # most tokens kept; None: all
    keep: str = "head"  # head | head_tail (see rnnkit.data.padded.truncate)

    def __call__(self, text: str) -> list[int]:
        ids = truncate(self.vocab.encode(self.tokenizer(text)), self.max_length, self.keep)
        return ids or [self.vocab.stoi[UNK]]

    def unknown_rate(self, texts: Iterable[str]) -> float:
        """Fraction of tokens of ``texts`` the vocabulary does not know."""
        unk, total = 0, 0
        for text in texts:
            ids = self.vocab.encode(self.tokenizer(text))
            unk += sum(i == self.vocab.stoi[UNK] for i in ids)
            total += len(ids)
        return unk / max(total, 1)

    def to_dict(self) -> dict:
        return {
            "tokenizer": self.tokenizer.to_dict(),
            "vocab": self.vocab.to_dict(),
            "max_length": self.max_length,
            "keep": self.keep,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TextEncoder:
        return cls(
            Tokenizer.from_dict(data["tokenizer"]),
            TokenVocab.from_dict(data["vocab"]),
            data.get("max_length"),
            data.get("keep", "head"),
        )
