"""Contextual string embeddings: the tagger's features against the LMs' states taken by hand."""

import shutil

import pytest
import torch
from torch.testing import assert_close

import rnnkit
from rnnkit.apps.tag import load_char_lms
from rnnkit.data.tagging import TaggingEncoder
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.contextual import ContextualEmbeddings, sentence_string
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.tagger import Tagger, TaggerConfig

SENTENCES = [["The", "cat", "sat"], ["A", "dog"]]
TAGS = [["DET", "NOUN", "VERB"], ["DET", "NOUN"]]


def char_lm(seed: int, *, reverse: bool, hidden: int = 6) -> LanguageModel:
    """A random 2-layer character LM with dropout (which a frozen LM must never apply)."""
    torch.manual_seed(seed)
    vocab = CharVocab.from_text("\n The cat sat A dog")
    config = LanguageModelConfig(len(vocab), hidden_size=hidden, num_layers=2, embedding_size=4,
                                 dropout=0.5)  # fmt: skip
    return LanguageModel(config, vocab, reverse=reverse).eval()


def lm_states(lm: LanguageModel, text: str) -> torch.Tensor:
    """(S, H): the LM's last-layer output after each character of ``text``, run alone."""
    with torch.no_grad():
        out, _ = lm.features(lm.vocab.encode(text)[None])
    return out[0]


def test_sentence_string_positions_by_hand():
    text, starts, ends = sentence_string(["The", "cat", "sat"])
    assert text == "\n The cat sat \n"
    assert (starts, ends) == ([2, 6, 10], [4, 8, 12])


def test_features_are_the_lm_states_at_the_word_boundaries():
    fwd, bwd = char_lm(0, reverse=False), char_lm(1, reverse=True, hidden=5)
    got = ContextualEmbeddings(fwd, bwd).train()(SENTENCES, 3)  # (2, 3, 6 + 5); train: no effect
    assert got.shape == (2, 3, 11)
    # "\n The cat sat \n": forward after e (4), t (8), t (12); reversed "\n tas tac ehT \n":
    # backward after T (12), c (8), s (4)
    f, b = lm_states(fwd, "\n The cat sat \n"), lm_states(bwd, "\n tas tac ehT \n")
    assert_close(got[0, :, :6], f[[4, 8, 12]])
    assert_close(got[0, :, 6:], b[[12, 8, 4]])
    # "\n A dog \n": forward after A (2), g (6); reversed "\n god A \n": after A (6), d (4)
    f, b = lm_states(fwd, "\n A dog \n"), lm_states(bwd, "\n god A \n")
    assert_close(got[1, :2], torch.cat([f[[2, 6]], b[[6, 4]]], -1))
    assert torch.equal(got[1, 2], torch.zeros(11))  # past the sentence
    assert not fwd.training and not bwd.training


def test_forward_half_reads_the_left_context_backward_half_the_right():
    module = ContextualEmbeddings(char_lm(0, reverse=False), char_lm(1, reverse=True))
    got = module([["The", "cat", "sat"], ["A", "cat", "sat"], ["The", "cat", "dog"]], 3)
    H = 6
    # another first word: the backward half of words 2 and 3 is unchanged, the forward is not
    assert_close(got[1, 1:, H:], got[0, 1:, H:])
    assert not torch.allclose(got[1, 1:, :H], got[0, 1:, :H])
    # another last word: the forward half of words 1 and 2 is unchanged, the backward is not
    assert_close(got[2, :2, :H], got[0, :2, :H])
    assert not torch.allclose(got[2, :2, H:], got[0, :2, H:])



def counting(lm: LanguageModel) -> list[int]:
    """Count the texts ``lm`` reads from now on (one entry per call: its batch size)."""
    calls, features = [], lm.features
    lm.features = lambda ids: calls.append(ids.shape[0]) or features(ids)
    return calls


def test_each_sentence_is_read_once_and_the_cache_gives_the_same_features(monkeypatch):
    fwd, bwd = char_lm(0, reverse=False), char_lm(1, reverse=True)
    cold = ContextualEmbeddings(fwd, bwd)(SENTENCES, 4)  # a fresh module: nothing cached
    module = ContextualEmbeddings(fwd, bwd)
    calls = counting(fwd)
    module([SENTENCES[1]], 2)
    assert calls == [1]
    warm = module([SENTENCES[0], SENTENCES[1], SENTENCES[0]], 4)  # one new sentence, once
    assert calls == [1, 1]
    assert_close(warm[[0, 1]], cold)  # another batch: padded to another length
    assert torch.equal(warm[2], warm[0])
    module(SENTENCES, 3)
    assert calls == [1, 1]  # every sentence cached: no LM runs
    module.load_state_dict(module.state_dict())  # new weights may change every feature
    module(SENTENCES, 3)
    assert calls == [1, 1, 2]
    monkeypatch.setattr("rnnkit.tasks.contextual.CACHE_BYTES", 0)  # nothing fits: no cache
    module.clear_cache()
    assert_close(module(SENTENCES, 4), cold)
    assert_close(module(SENTENCES, 4), cold)
    assert calls == [1, 1, 2, 2, 2]

def tiny_tagger(char_lms) -> Tagger:
    encoder = TaggingEncoder.build(SENTENCES, TAGS)
    config = TaggerConfig(len(encoder.words), len(encoder.chars), len(encoder.tags),
                          word_embedding_size=4, char_embedding_size=3, char_hidden_size=3,
                          hidden_size=5, num_layers=1)  # fmt: skip
    torch.manual_seed(2)
    return Tagger(config, encoder, char_lms=char_lms)


def test_tagger_input_is_word_char_and_contextual_features():
    fwd, bwd = char_lm(0, reverse=False), char_lm(1, reverse=True)
    tagger = tiny_tagger((fwd, bwd)).eval()
    batch = tagger.encoder.batch(SENTENCES, TAGS, [0, 1])
    seen = {}
    tagger.rnn.register_forward_pre_hook(lambda _, args: seen.setdefault("x", args[0]))
    tagger(batch)
    x = seen["x"]  # (B, T, 4 + 6 + 12): eval, so dropout left it as it was
    assert x.shape == (2, 3, 22)
    assert_close(x[..., :4], tagger.word_embedding(batch.words))
    assert_close(x[0, :, 10:], ContextualEmbeddings(fwd, bwd)(SENTENCES[:1], 3)[0])


def test_trains_saves_and_loads_without_the_lm_directories(tmp_path):
    for name, lm in (("fwd", char_lm(0, reverse=False)), ("bwd", char_lm(1, reverse=True))):
        lm.save_pretrained(tmp_path / name)
    tagger = tiny_tagger(load_char_lms(str(tmp_path / "fwd"), str(tmp_path / "bwd")))
    frozen = {k: v.clone() for k, v in tagger.contextual.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in tagger.parameters() if p.requires_grad], lr=0.05)
    batch = tagger.encoder.batch(SENTENCES, TAGS, [0, 1])
    tagger.train()
    losses = []
    for _ in range(5):
        loss, _ = tagger.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]  # it learns ...
    for k, v in tagger.contextual.state_dict().items():  # ... and the LMs stay as they were
        assert torch.equal(v, frozen[k]), k
    tagger.save_pretrained(tmp_path / "tagger")
    shutil.rmtree(tmp_path / "fwd")
    shutil.rmtree(tmp_path / "bwd")
    loaded = rnnkit.load(tmp_path / "tagger")
    assert loaded.contextual.backward_lm.reverse and not loaded.contextual.forward_lm.reverse
    tagger.eval()
    assert_close(loaded(batch), tagger(batch))
    assert loaded.tag(SENTENCES) == tagger.tag(SENTENCES)


def test_checkpoint_with_swapped_lms_is_refused(tmp_path):
    import json

    from rnnkit.errors import CheckpointError

    tiny_tagger((char_lm(0, reverse=False), char_lm(1, reverse=True))).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    lms = config["char_lms"]
    assert "reverse" not in lms["forward"] and lms["backward"]["reverse"] is True
    lms["forward"], lms["backward"] = lms["backward"], lms["forward"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config\.json: .*char_lms\.forward"):
        Tagger.from_pretrained(tmp_path)


def test_checkpoint_with_an_edited_lm_vocabulary_is_refused(tmp_path):
    import json

    from rnnkit.errors import CheckpointError

    tiny_tagger((char_lm(0, reverse=False), char_lm(1, reverse=True))).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["char_lms"]["backward"]["vocab"]["chars"].append("z")  # one more than vocab_size
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"char_lms\.backward: field vocab: "):
        Tagger.from_pretrained(tmp_path)
