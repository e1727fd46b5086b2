"""generate / generate_iter / rnnkit sample against the sampling loop written out by hand."""

import pytest
import torch

from rnnkit.apps.language_model import generate, generate_iter
from rnnkit.cli import main
from rnnkit.data.vocab import CharVocab, WordVocab
from rnnkit.decoding import filter_logits, sample_sequence
from rnnkit.errors import VocabularyError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm_step import lm_step

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\n"


def make_model(vocab, cell: str = "lstm") -> LanguageModel:
    torch.manual_seed(0)
    config = LanguageModelConfig(len(vocab), cell=cell, hidden_size=24, num_layers=2)
    model = LanguageModel(config, vocab).eval()
    with torch.no_grad():  # peakier than the default init: varied, non-uniform samples
        for p in model.parameters():
            p.mul_(3.0)
    return model


def by_hand(model, prime: str, length: int, seed: int, temperature: float, **filters) -> str:
    """What ``generate`` did before the fast step: model.step, then torch.multinomial."""
    generator = torch.Generator().manual_seed(seed)
    ids, state, out = model.vocab.encode(prime), None, []
    with torch.no_grad():
        for token in ids:
            log_probs, state = model.step(token[None], state)
        for _ in range(length):
            if temperature == 0:
                token = log_probs.argmax(-1)
            else:
                probs = filter_logits(log_probs / temperature, **filters).softmax(-1)
                token = torch.multinomial(probs, 1, generator=generator)[:, 0]
            out.append(int(token))
            log_probs, state = model.step(token, state)
    return prime + model.vocab.decode(out)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    "options",
    [
        {"temperature": 1.0},
        {"temperature": 0.8, "top_k": 5},
        {"temperature": 1.2, "top_p": 0.9},
        {"temperature": 0.0},
    ],
)
def test_generate_gives_the_samples_it_gave_before_for_the_same_seed(cell, options):
    model = make_model(CharVocab.from_text(TEXT), cell)
    for seed in (0, 1):
        text = generate(model, "All:\n", 80, seed=seed, **options)
        filters = {k: v for k, v in options.items() if k != "temperature"}
        assert text == by_hand(model, "All:\n", 80, seed, options["temperature"], **filters)
        if options["temperature"]:
            assert len(set(text)) > 8


def test_generate_iter_streams_one_character_at_a_time():
    model = make_model(CharVocab.from_text(TEXT))
    pieces = generate_iter(model, "Speak", 40, temperature=1.0, seed=3)
    first = next(pieces)
    rest = list(pieces)
    assert len(first) == 1 and all(len(p) == 1 for p in rest) and len(rest) == 39
    assert "Speak" + first + "".join(rest) == generate(model, "Speak", 40, temperature=1.0, seed=3)


@pytest.mark.parametrize("prime", ["we proceed", "we proceed\n"])
def test_word_pieces_join_as_the_whole_sequence_decodes(prime):
    vocab = WordVocab.from_text(TEXT)
    model = make_model(vocab)
    pieces = list(generate_iter(model, prime, 60, temperature=1.0, seed=0))
    # an open last line goes on; a line break in the prime is its <eos>
    ids = vocab.encode_words(prime) if prime[-1] != "\n" else vocab.encode(prime)
    drawn = sample_sequence(
        lm_step(model), ids[None], 60, generator=torch.Generator().manual_seed(0)
    )[0]
    assert prime + "".join(pieces) == vocab.decode(torch.cat([ids, drawn]))
    assert pieces[0].startswith(" ") == (prime[-1] != "\n")
    assert any("\n" in p for p in pieces)


def test_bad_prime_and_options_raise_at_the_call():
    model = make_model(CharVocab.from_text(TEXT))
    with pytest.raises(VocabularyError, match="'Z'"):
        generate_iter(model, "Zoo", 5, temperature=1.0)
    with pytest.raises(ValueError, match="temperature"):
        generate_iter(model, "All", 5, temperature=-1.0)


def test_rnnkit_sample_prints_what_generate_returns(tmp_path, capsys):
    model = make_model(CharVocab.from_text(TEXT))
    model.save_pretrained(tmp_path)
    args = ["--prime", "All:", "--length", "50", "--temperature", "0.9", "--seed", "4"]
    assert main(["sample", "--checkpoint", str(tmp_path), *args]) in (0, None)
    expected = generate(model, "All:", 50, temperature=0.9, seed=4)
    assert capsys.readouterr().out == expected + "\n"
