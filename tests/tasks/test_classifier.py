"""SequenceClassifier: pooling ignores padding, loss, overfitting, checkpoints, resume."""

from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.data.padded import BucketBatches, iter_batches, pad_batch
from rnnkit.data.tokenize import TextEncoder, Tokenizer, TokenVocab
from rnnkit.tasks.classifier import CELLS, POOLINGS, ClassifierConfig, SequenceClassifier
from rnnkit.training.config import TrainConfig
from rnnkit.training.trainer import Trainer

V, C = 30, 3


def model_for(**fields) -> SequenceClassifier:
    torch.manual_seed(0)
    fields = {"embedding_size": 8, "hidden_size": 6, "dropout": 0.0, **fields}
    return SequenceClassifier(ClassifierConfig(V, C, **fields)).eval()


def sequences(n=5, seed=0):
    """``n`` distinct random sequences of 2 to 8 tokens."""
    g = torch.Generator().manual_seed(seed)
    found: list[list[int]] = []
    while len(found) < n:
        s = torch.randint(2, V, (int(torch.randint(2, 9, (1,), generator=g)),), generator=g)
        if s.tolist() not in found:
            found.append(s.tolist())
    return found


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "layer_norm_lstm"])
def test_padding_changes_nothing(pooling, bidirectional, cell):
    """Each sequence alone (no padding) gives the logits it gets in a padded batch."""
    model = model_for(pooling=pooling, bidirectional=bidirectional, cell=cell, num_layers=2,
                      ngram_buckets=11)  # fmt: skip
    torch.nn.init.normal_(model.ngrams.weight)
    seqs = sequences()
    batch = pad_batch(seqs, None, list(range(len(seqs))))
    with torch.no_grad():
        together = model(batch.tokens, batch.lengths)
        for i, s in enumerate(seqs):
            alone = model(torch.tensor([s]), torch.tensor([len(s)]))
            torch.testing.assert_close(together[i], alone[0], atol=1e-5, rtol=1e-5)


def test_mean_and_max_pooling_match_hand_computation():
    out = torch.randn(2, 4, 3)
    lengths = torch.tensor([4, 2])
    for pooling, expected in (
        ("mean", torch.stack([out[0].mean(0), out[1, :2].mean(0)])),
        ("max", torch.stack([out[0].amax(0), out[1, :2].amax(0)])),
    ):
        model = model_for(pooling=pooling)
        torch.testing.assert_close(model.pool(out, None, lengths), expected)


def test_concat_pooling_is_last_max_mean_by_hand():
    """ULMFiT's concat pooling on a bidirectional stack: [h_fwd(end); h_bwd(start); max; mean]."""
    model = model_for(pooling="concat", bidirectional=True)
    seqs = sequences(3)
    batch = pad_batch(seqs, None, list(range(3)))
    with torch.no_grad():
        out, state = model.rnn(model.embedding(batch.tokens), lengths=batch.lengths)
        pooled = model.pool(out, state, batch.lengths)
        for i, s in enumerate(seqs):
            o = out[i, : len(s)]  # (T_i, 2H)
            last = torch.cat([o[-1, :6], o[0, 6:]])  # forward at its end, backward at its start
            expected = torch.cat([last, o.amax(0), o.mean(0)])
            torch.testing.assert_close(pooled[i], expected)
    assert model.proj.in_features == 3 * 12


def test_bag_of_ngrams_is_the_mean_of_hashed_unigram_and_bigram_rows_by_hand():
    """Each sequence's bag: the mean of E[u mod N] over its tokens and E[(P u + v + 1) mod N]
    over its adjacent pairs; padding adds nothing, and the bag is added to the logits."""
    N = 7
    model = model_for(ngram_buckets=N)
    torch.nn.init.normal_(model.ngrams.weight)
    seqs = sequences(4)
    batch = pad_batch(seqs, None, list(range(4)))
    E = model.ngrams.weight.detach()
    with torch.no_grad():
        bags = model.bag_of_ngrams(batch.tokens, batch.lengths)
        plain = model_for()  # the same weights (seed 0) without the bag
        for i, s in enumerate(seqs):
            rows = [u % N for u in s] + [(1_000_003 * u + v + 1) % N for u, v in pairwise(s)]
            torch.testing.assert_close(bags[i], E[rows].mean(0))
        torch.testing.assert_close(
            model(batch.tokens, batch.lengths), plain(batch.tokens, batch.lengths) + bags
        )


def test_attention_pooling_gives_padding_no_weight():
    model = model_for(pooling="attention")
    out = torch.randn(1, 5, 6)
    valid = torch.tensor([[True, True, False, False, False]])
    pooled = model.attention(out, valid)
    changed = out.clone()
    changed[0, 2:] = 100.0  # padded positions
    torch.testing.assert_close(model.attention(changed, valid), pooled)
    scores = model.attention.v(torch.tanh(model.attention.proj(out[0, :2]))).squeeze(-1)
    torch.testing.assert_close(pooled[0], scores.softmax(0) @ out[0, :2])


def test_class_weighted_loss_equals_torch():
    weights = (0.5, 2.0, 1.0)
    model = model_for(class_weights=weights)
    seqs = sequences(6)
    batch = pad_batch(seqs, [0, 1, 2, 1, 0, 2], list(range(6)))
    loss, metrics = model.loss(batch)
    logits = model(batch.tokens, batch.lengths)
    expected = F.cross_entropy(logits, batch.labels, weight=torch.tensor(weights))
    torch.testing.assert_close(loss, expected)
    assert metrics["tokens"] == sum(len(s) for s in seqs)


def tiny_training(out_dir=None, **train):
    seqs = sequences(20, seed=1)
    labels = [i % C for i in range(20)]
    torch.manual_seed(0)
    model = SequenceClassifier(ClassifierConfig(V, C, embedding_size=16, hidden_size=32))
    config = TrainConfig(batch_size=5, lr=1e-2, eval_every=20, **{"max_steps": 200, **train})
    source = BucketBatches(seqs, labels, 5, seed=0)
    valid = list(iter_batches(seqs, labels, 8))
    trainer = Trainer(model, source, valid, config, out_dir=out_dir, progress=False)
    return trainer, seqs, labels


def test_tiny_classifier_overfits_twenty_examples():
    trainer, seqs, labels = tiny_training()
    trainer.fit()
    predicted = trainer.model.predict_proba(seqs).argmax(-1).tolist()
    assert predicted == labels
    assert trainer.history[-1]["valid_accuracy"] == 1.0


def test_load_round_trip_gives_identical_logits(tmp_path):
    tokenizer = Tokenizer("word")
    texts = ["free prize now", "see you at six", "win cash", "ok lunch?"]
    vocab = TokenVocab.build(tokenizer(t) for t in texts)
    encoder = TextEncoder(tokenizer, vocab, max_length=10)
    torch.manual_seed(0)
    config = ClassifierConfig(len(vocab), 2, bidirectional=True, pooling="attention")
    model = SequenceClassifier(config, encoder, ["ham", "spam"]).eval()
    model.save_pretrained(tmp_path)
    loaded = rnnkit.load(tmp_path)
    assert type(loaded) is SequenceClassifier and loaded.labels == ["ham", "spam"]
    seqs = [encoder(t) for t in [*texts, "never seen words", ""]]
    assert torch.equal(loaded.predict_proba(seqs), model.predict_proba(seqs))
    assert loaded.classify(["win cash"]) == model.classify(["win cash"])


def test_resumed_training_ends_with_the_same_weights(tmp_path):
    whole, _, _ = tiny_training(tmp_path / "whole", max_steps=30, save_every=10)
    whole.fit()

    def crash(trainer, metrics):
        if metrics["step"] == 17:
            raise KeyboardInterrupt  # stands for the process dying

    crashed, _, _ = tiny_training(tmp_path / "crashed", max_steps=30, save_every=10)
    crashed.callbacks = {"on_step_end": [crash]}
    with pytest.raises(KeyboardInterrupt):
        crashed.fit()
    resumed, _, _ = tiny_training(tmp_path / "crashed", max_steps=30, save_every=10)
    assert resumed.resume() == 10
    resumed.fit()
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bad_configs_fail_with_one_line():
    with pytest.raises(ValueError, match="pooling must be one of"):
        ClassifierConfig(V, C, pooling="sum")
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        ClassifierConfig(V, 1)
    assert set(CELLS) >= {"lstm", "gru", "rnn"}
