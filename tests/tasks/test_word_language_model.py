"""Word-level language models: adaptive softmax, AR/TAR, locked dropout, perplexity by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.batching import Window
from rnnkit.data.vocab import WordVocab
from rnnkit.regularizers import activation_penalty
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig, next_token_loss
from rnnkit.training.trainer import evaluate

V = 40


def model(**fields) -> LanguageModel:
    torch.manual_seed(0)
    fields = {"hidden_size": 8, "num_layers": 1, **fields}
    return LanguageModel(LanguageModelConfig(vocab_size=V, **fields))


def tokens(*shape: int) -> torch.Tensor:
    return torch.randint(V, shape, generator=torch.Generator().manual_seed(1))


def test_adaptive_log_probabilities_sum_to_one_over_the_vocabulary():
    m = model(output="adaptive", cutoffs=(5, 20), hidden_size=16).eval()
    log_probs, _ = m(tokens(3, 7))  # (B, T, V)
    assert log_probs.shape == (3, 7, V)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 7))


def test_adaptive_training_loss_is_the_nll_of_its_log_probabilities():
    m = model(output="adaptive", cutoffs=(5, 20), hidden_size=16).eval()
    x, y = tokens(2, 6), tokens(2, 6).roll(1)
    loss, _ = next_token_loss(m, x, y, None)
    log_probs, _ = m(x)
    by_hand = -log_probs.gather(-1, y[..., None]).mean()
    torch.testing.assert_close(loss, by_hand)


def test_perplexity_is_exp_of_the_mean_nll_computed_by_hand():
    m = model()
    stream = tokens(101)
    nats = evaluate(m, stream, batch_size=1, bptt=7)  # one column: the state runs throughout
    with torch.no_grad():
        m.eval()
        logits, _ = m(stream[None, :-1])
        log_p = logits[0].log_softmax(-1)
        by_hand = -log_p[torch.arange(100), stream[1:]].mean().item()
    assert nats == pytest.approx(by_hand, rel=1e-5)
    assert math.exp(nats) == pytest.approx(math.exp(by_hand), rel=1e-5)


def test_ar_and_tar_equal_their_formulas():
    torch.manual_seed(2)
    dropped, raw = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    by_hand_ar = sum(float(v) ** 2 for v in dropped.flatten()) / dropped.numel()
    diffs = [(raw[b, t] - raw[b, t - 1]).pow(2).sum() for b in range(2) for t in range(1, 5)]
    by_hand_tar = float(sum(diffs)) / (2 * 4 * 3)
    penalty = activation_penalty(dropped, raw, alpha=2.0, beta=0.5)
    assert penalty.item() == pytest.approx(2.0 * by_hand_ar + 0.5 * by_hand_tar, rel=1e-6)


def test_the_training_loss_adds_ar_and_tar_only_in_training():
    m = model(ar=2.0, tar=1.0)  # no dropout: the dropped outputs are the raw ones
    x, y = tokens(2, 6), tokens(2, 6).roll(1)
    out, _ = m.features(x)
    plain = F.cross_entropy(m.proj(out).flatten(0, 1), y.flatten())
    penalty = 2.0 * out.pow(2).mean() + 1.0 * (out[:, 1:] - out[:, :-1]).pow(2).mean()
    loss, _ = m.loss(Window(x, y))
    torch.testing.assert_close(loss, plain + penalty)
    m.eval()
    torch.testing.assert_close(m.loss(Window(x, y))[0], plain)


def test_locked_dropout_shares_one_mask_over_time():
    m = model(locked_dropout=True, input_dropout=0.5, embedding_size=8).train()
    x = torch.ones(2, 5, 8)
    dropped = m.input_drop(x)  # (B, T, E)
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))
    assert set(dropped.unique().tolist()) <= {0.0, 2.0} and (dropped == 0).any()


def test_embedding_dropout_zeroes_whole_word_types():
    m = model(embedding_dropout=0.5).train()
    x = torch.tensor([[3, 3, 3, 4, 4, 4]])
    vectors = m.embedding_drop(m.embedding, x)[0]  # (T, E)
    zero = (vectors == 0).all(-1)
    assert zero[:3].all() or not zero[:3].any()  # one word type: all or none of its tokens


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"output": "adaptive", "cutoffs": (30, 10)}, "increasing"),
        ({"output": "adaptive", "cutoffs": (39,)}, "below the vocabulary size"),
        ({"output": "adaptive", "cutoffs": (5,), "tie_weights": True}, "tie_weights needs"),
        ({"output": "adaptive", "cutoffs": (5, 20), "hidden_size": 8}, "hidden_size >= 16"),
        ({"output": "mixture"}, "output must be one of"),
        ({"input_dropout": 1.0}, "input_dropout must be in"),
    ],
)
def test_bad_options_are_refused_with_the_reason(fields, message):
    with pytest.raises(ValueError, match=message):
        LanguageModelConfig(vocab_size=V, **fields)


def test_default_cutoffs_keep_those_below_the_vocabulary():
    assert LanguageModelConfig(vocab_size=5000, output="adaptive").adaptive_cutoffs() == [2000]
    assert LanguageModelConfig(vocab_size=33278, output="adaptive").adaptive_cutoffs() == [
        2000,
        10000,
    ]


def test_a_word_model_round_trips_with_its_vocabulary(tmp_path):
    vocab = WordVocab.from_text("the cat sat\nthe dog\n")
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=len(vocab), hidden_size=8, num_layers=1,
                                 output="adaptive", cutoffs=(3,))  # fmt: skip
    m = LanguageModel(config, vocab)
    m.save_pretrained(tmp_path / "lm")
    loaded = LanguageModel.from_pretrained(tmp_path / "lm")
    assert isinstance(loaded.vocab, WordVocab) and loaded.vocab.itos == vocab.itos
    assert loaded.config == m.config
    x = vocab.encode("the cat")[None]
    torch.testing.assert_close(loaded.eval()(x)[0], m.eval()(x)[0])
