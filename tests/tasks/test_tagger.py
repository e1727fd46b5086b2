"""Tagger: padding, character words, word dropout, overfitting, checkpoints, evaluation."""

import itertools

import pytest
import torch

import rnnkit
from rnnkit.apps.tag import Treebank, evaluate_tagger
from rnnkit.data.conllu import sentences_from_words
from rnnkit.data.padded import BucketBatches, iter_batches
from rnnkit.data.tagging import PAD_TAG, UNSEEN_TAG, TaggingEncoder
from rnnkit.tasks.tagger import Tagger, TaggerConfig
from rnnkit.training.config import TrainConfig
from rnnkit.training.trainer import Trainer

SENTENCES = [
    ("The dog barks .", "DET NOUN VERB PUNCT"),
    ("A cat sleeps", "DET NOUN VERB"),
    ("Dogs chase cats .", "NOUN VERB NOUN PUNCT"),
    ("She runs fast", "PRON VERB ADV"),
    ("They sing loudly .", "PRON VERB ADV PUNCT"),
    ("The old man walks home", "DET ADJ NOUN VERB ADV"),
    ("Birds fly", "NOUN VERB"),
    ("I like green tea .", "PRON VERB ADJ NOUN PUNCT"),
    ("We eat", "PRON VERB"),
    ("The red car stops .", "DET ADJ NOUN VERB PUNCT"),
]
WORDS = [s.split() for s, _ in SENTENCES]
TAGS = [t.split() for _, t in SENTENCES]


def tagger(crf=False, **fields) -> Tagger:
    encoder = TaggingEncoder.build(WORDS, TAGS)
    torch.manual_seed(0)
    sizes = (len(encoder.words), len(encoder.chars), len(encoder.tags))
    small = {"word_embedding_size": 12, "char_embedding_size": 6, "char_hidden_size": 5}
    small.update(hidden_size=16, num_layers=2, dropout=0.0, word_dropout=0.0)
    fields = {**small, **fields}
    return Tagger(TaggerConfig(*sizes, crf=crf, **fields), encoder).eval()


def collate(model, words=WORDS, tags=TAGS):
    return lambda order: model.encoder.batch(words, tags, order)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_sentence_alone_and_in_a_padded_batch_get_the_same_scores(cell):
    model = tagger(cell=cell)
    batch = model.encoder.batch(WORDS, TAGS, list(range(len(WORDS))))
    with torch.no_grad():
        together = model(batch)
        for i, words in enumerate(WORDS):
            alone = model(model.encoder.batch(WORDS, TAGS, [i]))
            torch.testing.assert_close(together[i, : len(words)], alone[0], atol=1e-5, rtol=1e-5)
    assert bool((batch.tags[1, 3:] == PAD_TAG).all())


def test_unseen_words_get_a_vector_from_their_spelling():
    model = tagger()
    batch = model.encoder.batch([["zebras"], ["zebra"]], None, [0, 1])
    assert batch.words.tolist() == [[1], [1]]  # both unknown to the word vocabulary
    with torch.no_grad():
        spelled = model.char_words(batch.chars, batch.lengths)  # (2, 1, 2 Hc)
    assert not torch.equal(spelled[0], spelled[1]) and bool(spelled.abs().sum() > 0)


def test_word_dropout_only_replaces_known_words_in_training():
    model = tagger(word_dropout=0.5)
    batch = model.encoder.batch(WORDS, TAGS, list(range(len(WORDS))))
    seen = []
    model.word_embedding.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    model.train()
    torch.manual_seed(1)
    model(batch)
    model.eval()
    model(batch)
    trained, evaluated = seen
    assert torch.equal(evaluated, batch.words)
    changed = trained != batch.words
    assert bool(changed.any()) and bool((trained[changed] == 1).all())
    assert bool((trained[batch.words == 0] == 0).all())  # padding stays padding


@pytest.mark.parametrize("crf", [False, True])
def test_tiny_tagger_overfits_ten_sentences(crf):
    model = tagger(crf=crf).train()
    config = TrainConfig(batch_size=4, lr=2e-2, max_steps=150, eval_every=50)
    lengths = [[0] * len(w) for w in WORDS]
    source = BucketBatches(lengths, TAGS, 4, seed=0, collate=collate(model))
    valid = list(iter_batches(lengths, TAGS, 10, collate=collate(model)))
    Trainer(model, source, valid, config, progress=False).fit()
    assert model.tag(WORDS) == TAGS


def brute_force_best(emissions, start, transitions, end) -> list[int]:
    """The highest-scoring tag sequence for (L, K) emissions, trying all K**L of them; the
    score written from the CRF's definition: start + emissions + transitions + end."""
    L, K = emissions.shape

    def score(tags):
        moves = sum(float(transitions[a, b]) for a, b in itertools.pairwise(tags))
        emitted = sum(float(emissions[t, y]) for t, y in enumerate(tags))
        return float(start[tags[0]]) + emitted + moves + float(end[tags[-1]])

    return list(max(itertools.product(range(K), repeat=L), key=score))


def test_a_crf_tagger_tags_with_the_best_sequence_over_all_tag_sequences():
    model = tagger(crf=True)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # strong transitions: the best sequence is not the per-word best
        for p in (model.crf.transitions, model.crf.start, model.crf.end):
            p.copy_(torch.randn(p.shape, generator=g) * 3)
    sentences = [w for w in WORDS if len(w) <= 4] + [["Unseen", "words", "here"]]
    tagged = model.predict_ids(sentences)
    argmax_differs = 0
    for words, ids in zip(sentences, tagged, strict=True):
        with torch.no_grad():
            [emissions] = model(model.encoder.batch([words], None, [0]))  # (L, K)
        crf = [p.detach() for p in (model.crf.start, model.crf.transitions, model.crf.end)]
        assert ids == brute_force_best(emissions, *crf), words
        argmax_differs += ids != emissions.argmax(-1).tolist()
    assert argmax_differs >= 2  # so a per-word argmax would fail this test


def test_load_round_trip_gives_identical_tags_and_scores(tmp_path):
    model = tagger(crf=True)
    model.save_pretrained(tmp_path)
    loaded = rnnkit.load(tmp_path)
    assert type(loaded) is Tagger and loaded.column == "UPOS"
    batch = model.encoder.batch(WORDS, None, list(range(len(WORDS))))
    with torch.no_grad():
        assert torch.equal(loaded(batch), model(batch))
    assert loaded.tag([["Unseen", "words", "here"]]) == model.tag([["Unseen", "words", "here"]])


def test_evaluate_figures_equal_hand_computed_ones():
    model = tagger()
    words = [["The", "zebra", "barks"], ["Dogs", "xylophone", "."]]
    gold = [["DET", "NOUN", "VERB"], ["NOUN", "INTJ", "PUNCT"]]  # INTJ: never seen in training
    names = model.encoder.tags
    predicted = [["DET", "ADJ", "VERB"], ["NOUN", "NOUN", "VERB"]]
    model.predict_ids = lambda sentences: [[names.index(t) for t in s] for s in predicted]
    plain = sentences_from_words(words)
    sentences = [s.with_column("UPOS", g) for s, g in zip(plain, gold, strict=True)]
    report = evaluate_tagger(model, Treebank("hand", sentences, "UPOS"))
    assert report.words == 6 and report.accuracy == pytest.approx(3 / 6)
    assert report.oov_words == 2 and report.oov_accuracy == 0.0  # zebra, xylophone
    assert report.unseen_tags == 1
    noun = report.per_tag.labels.index("NOUN")
    assert report.per_tag.recall[noun] == pytest.approx(1 / 2)  # NOUN gold: zebra, Dogs
    assert report.per_tag.precision[noun] == pytest.approx(1 / 2)  # NOUN predicted: Dogs, xyl.
    assert sorted(report.confusions) == [
        ("INTJ", "NOUN", 1),
        ("NOUN", "ADJ", 1),
        ("PUNCT", "VERB", 1),
    ]
    assert model.encoder.tag_ids(["INTJ"]) == [UNSEEN_TAG]
