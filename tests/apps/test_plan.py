"""Defaults read off the data, and the plan's epoch estimate (rnnkit.apps.plan)."""

from dataclasses import replace

import pytest
import torch

from rnnkit.apps import classify, plan
from rnnkit.apps.classify import ClassifyData
from rnnkit.apps.plan import LONG_TEXT_CAP, MAX_VOCAB, Plan
from rnnkit.data.padded import pad_batch
from rnnkit.data.tagging import TaggingEncoder
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.tagger import Tagger, TaggerConfig

# -- the rules --------------------------------------------------------------------------


def test_lengths_one_to_a_hundred_are_capped_at_their_99th_percentile_and_kept_whole():
    lengths = list(range(1, 101))
    assert plan.percentile(lengths, 99) == pytest.approx(99.01)  # 1 + 99 * 0.99
    assert plan.percentile([], 50) == 0.0
    assert plan.length_cap(lengths) == 100  # rounded up: no text is cut
    assert plan.truncation(lengths, 100) == "head"


def test_short_texts_are_not_cut():
    lengths = [3, 5, 8, 12, 20] * 20
    cap = plan.length_cap(lengths)
    assert cap == 20 and plan.truncation(lengths, cap) == "head"


def test_long_documents_are_capped_and_keep_head_and_tail():
    lengths = list(range(1, 1001))  # 99th percentile 990.01
    cap = plan.length_cap(lengths)
    assert cap == LONG_TEXT_CAP
    assert plan.truncation(lengths, cap) == "head_tail"
    assert plan.length_cap([900] * 10) == LONG_TEXT_CAP and plan.length_cap([0, 0]) == 1


def test_derived_fills_what_the_data_leaves_open_and_keeps_the_rest():
    tokens = [[f"w{i}"] * n for i, n in enumerate(range(1, 1001))]  # each type: one text
    tokens += [["rare", str(i)] for i in range(3000)]  # 3,000 types seen once
    filled = classify.derived(ClassifyData(), tokens)
    lengths = [len(t) for t in tokens]
    cap = plan.length_cap(lengths)
    assert (filled.max_length, filled.truncate) == (cap, plan.truncation(lengths, cap))
    assert (filled.min_freq, filled.max_vocab) == (1, MAX_VOCAB)  # every word is kept
    given = ClassifyData(max_length=7, truncate="head", min_freq=3, max_vocab=100)
    assert classify.derived(given, tokens) == given
    partly = classify.derived(ClassifyData(max_length=5000), tokens)
    assert (partly.max_length, partly.truncate) == (5000, "head")  # nothing is cut at 5,000


def test_prepare_encodes_with_the_derived_cap(tmp_path):
    rows = [f"{'spam' if i % 3 else 'ham'}\tmessage {i} " + "word " * (500 if i % 5 == 0 else 4)
            for i in range(60)]  # fmt: skip
    (tmp_path / "a.tsv").write_text("\n".join(rows) + "\n")
    data = ClassifyData(data_path=str(tmp_path / "a.tsv"), no_header=True)
    p = classify.prepare(data, seed=0)
    assert p.data.max_length == plan.length_cap(p.lengths) == LONG_TEXT_CAP
    assert (p.encoder.max_length, p.encoder.keep) == (LONG_TEXT_CAP, "head_tail")
    assert p.data.min_freq == 1 and p.data.max_vocab == MAX_VOCAB
    train_numbers = {t.split()[1] for t in p.train.texts}  # each occurs once: still kept
    assert set(p.encoder.vocab.stoi) >= {"message", "word", *train_numbers}
    long = next(t for t in p.train.texts if len(t.split()) > LONG_TEXT_CAP)
    assert len(p.encoder(long)) == LONG_TEXT_CAP
    kept = classify.prepare(replace(data, max_length=8, truncate="head"), seed=0)
    assert (kept.encoder.max_length, kept.encoder.keep) == (8, "head")


# -- the plan ---------------------------------------------------------------------------


def test_plan_sizes_by_hand():
    p = Plan.of([4, 6, 10, 20], 50, 8, batch_size=2, max_steps=10, max_minutes=None)
    assert (p.texts, p.vocab, p.truncated, p.tokens_per_epoch) == (4, 50, 2, 4 + 6 + 8 + 8)
    assert (p.median, p.p95) == (8.0, pytest.approx(10 + 10 * 0.85))
    assert Plan.of([4, 6, 10], 50, None, batch_size=2, max_steps=1,
                   max_minutes=None).tokens_per_epoch == 20  # fmt: skip


def test_epochs_are_the_fewer_of_the_step_and_the_time_budget():
    lengths = [10] * 100  # 1,000 tokens per epoch
    steps = Plan.of(lengths, 9, None, batch_size=10, max_steps=30, max_minutes=None)
    assert steps.epochs() == pytest.approx(30 * 10 / 100)
    timed = Plan.of(lengths, 9, None, batch_size=10, max_steps=None, max_minutes=2.0,
                    tokens_per_second=50.0)  # fmt: skip
    assert timed.epochs() == pytest.approx(2 * 60 * 50 / 1000)
    both = replace(timed, max_steps=30)
    assert both.epochs() == pytest.approx(min(3.0, 6.0))
    assert replace(both, max_steps=100).epochs() == pytest.approx(6.0)
    unmeasured = replace(timed, tokens_per_second=None)
    assert unmeasured.epochs() is None and len(unmeasured.lines()) == 1


@pytest.mark.parametrize(("max_steps", "warned"), [(5, True), (10, False), (20, False)])
def test_the_plan_warns_under_one_epoch(max_steps, warned):
    p = Plan.of([10] * 100, 9, 50, batch_size=10, max_steps=max_steps, max_minutes=None)
    lines = p.lines()
    assert f"the budget covers about {max_steps / 10:.1f} epochs" in lines[1]
    assert any(line.startswith("warning: the budget covers less than one epoch")
               for line in lines) is warned  # fmt: skip
    assert lines[0].startswith("plan: 100 training texts, median 10 tokens, 95th percentile 10;")
    assert "length cap 50 tokens (0 texts cut); 1,000 tokens per epoch" in lines[0]


def test_a_plan_of_sentences_or_pairs_names_its_vocabularies_and_sides():
    p = Plan.of([3, 5, 7], 20, None, batch_size=4, max_steps=0, max_minutes=None)
    tagged = replace(p, unit="sentences", vocabularies=(("words", 20), ("tags", 5)))
    first = tagged.lines()[0]
    assert first.startswith("plan: 3 training sentences, median 5 tokens")
    assert "vocabularies: 20 words, 5 tags; 15 tokens per epoch" in first
    assert "length cap" not in first
    assert tagged.lines()[-1].endswith("raise --max-minutes or --max-steps")  # no cap to lower
    paired = replace(tagged, unit="pairs", sides=(("source", 4.0, 6.0), ("target", 3.0, 5.0)))
    assert "source median 4 tokens, 95th percentile 6; target median 3 tokens" in paired.lines()[0]


# -- measuring the speed ----------------------------------------------------------------


def test_median_batch_takes_the_examples_nearest_the_median_length():
    assert plan.median_batch([1, 9, 5, 4, 6, 100], 3) == [2, 4, 3]  # median 5.5: 5, 6, 4
    assert plan.median_batch([2, 2], 8) == [0, 1]


def unchanged_by(measure, model):
    """``measure(model)`` leaves the weights, the gradients and torch's RNG as they were."""
    torch.manual_seed(3)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    speed = measure(model)
    assert speed > 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_batch_speed_of_a_classifier_changes_nothing():
    torch.manual_seed(0)
    config = ClassifierConfig(30, 2, embedding_size=8, hidden_size=8, dropout=0.5)
    model = SequenceClassifier(config).train()
    batch = pad_batch([[3, 4, 5], [6, 7, 8, 9, 10, 11, 12], [13] * 12], [0, 1, 0], [0, 1, 2])
    unchanged_by(lambda m: plan.batch_speed(m, batch, tokens=22), model)


def test_batch_speed_on_a_real_batch_changes_nothing():
    words = [s.split() for s in ("The dog barks .", "A cat sleeps", "She runs fast")]
    tags = [t.split() for t in ("DET NOUN VERB PUNCT", "DET NOUN VERB", "PRON VERB ADV")]
    encoder = TaggingEncoder.build(words, tags)
    torch.manual_seed(0)
    sizes = (len(encoder.words), len(encoder.chars), len(encoder.tags))
    config = TaggerConfig(*sizes, word_embedding_size=8, char_embedding_size=4,
                          char_hidden_size=4, hidden_size=8, num_layers=1,
                          word_dropout=0.3)  # fmt: skip
    model = Tagger(config, encoder).train()
    order = plan.median_batch([len(s) for s in words], 2)
    batch = encoder.batch(words, tags, order)
    unchanged_by(lambda m: plan.batch_speed(m, batch, tokens=7), model)
