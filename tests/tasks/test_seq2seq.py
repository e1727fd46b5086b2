"""Seq2Seq and ContextToSequence: teacher forcing, decoding, pointer masks, checkpoints."""

import itertools

import pytest
import torch

import rnnkit
from rnnkit.data.pair_batches import PairEncoder
from rnnkit.decoding import beam_search
from rnnkit.tasks.context_to_sequence import (
    ContextConfig,
    ContextToSequence,
    digit_vocab,
    image_batch,
)
from rnnkit.tasks.seq2seq import IGNORE, Seq2Seq, Seq2SeqConfig

PAIRS = [  # reverse a word: 20 pairs
    (tuple(w), tuple(reversed(w)))
    for w in ["abc", "bca", "cab", "abcd", "dcba", "ab", "ba", "aab", "bba", "cc", "dab",
              "bad", "cad", "dac", "abd", "db", "bd", "acd", "cda", "adc"]
]  # fmt: skip
SOURCES = [s for s, _ in PAIRS]
TARGETS = [t for _, t in PAIRS]


def model_for(output="vocab", attention="general", cell="lstm", seed=0, **fields) -> Seq2Seq:
    encoder = PairEncoder.build(SOURCES, TARGETS, pointer=output == "pointer")
    torch.manual_seed(seed)
    target = 0 if encoder.target is None else len(encoder.target)
    config = Seq2SeqConfig(len(encoder.source), target, cell=cell, embedding_size=16,
                           hidden_size=32, attention=attention, output=output, dropout=0.0,
                           **fields)  # fmt: skip
    return Seq2Seq(config, encoder)


def full_batch(model: Seq2Seq):
    return model.encoder.batch(SOURCES, TARGETS, list(range(len(PAIRS))))


def overfit(model: Seq2Seq, steps: int = 300) -> Seq2Seq:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = full_batch(model)
    for _ in range(steps):
        opt.zero_grad()
        loss, _ = model.loss(batch)
        loss.backward()
        opt.step()
    return model.eval()


def test_teacher_inputs_shift_by_one_and_end_with_eos():
    model = model_for()
    target = torch.tensor([[5, 6, 7], [8, 0, 0]])
    inputs, outputs = model.teacher_inputs(target, torch.tensor([3, 1]))
    assert inputs.tolist() == [[2, 5, 6, 7], [2, 8, 2, 2]]  # bos = 2, padding reads bos
    assert outputs.tolist() == [[5, 6, 7, 3], [8, 3, IGNORE, IGNORE]]  # eos = 3


def test_loss_is_the_mean_nll_of_the_gold_tokens():
    model = model_for().eval()
    batch = full_batch(model)
    log_probs, gold = model(batch)
    picked = [log_probs[b, t, gold[b, t]] for b, t in itertools.product(
        range(gold.shape[0]), range(gold.shape[1])) if gold[b, t] != IGNORE]  # fmt: skip
    loss, info = model.loss(batch)
    assert info["tokens"] == sum(len(t) + 1 for t in TARGETS)
    torch.testing.assert_close(loss, -torch.stack(picked).mean())


@pytest.mark.parametrize(
    "output,attention,cell",
    [("vocab", "general", "lstm"), ("vocab", "none", "gru"), ("vocab", "additive", "gru"),
     ("pointer", "none", "lstm"), ("pointer", "dot", "lstm")],
)  # fmt: skip
def test_a_tiny_model_overfits_20_pairs(output, attention, cell):
    model = overfit(model_for(output, attention, cell, bidirectional=attention != "dot"))
    outputs = [t[0].tokens for t in model.translate(SOURCES, method="greedy")]
    assert outputs == [list(t) for t in TARGETS]
    assert model.evaluate([full_batch(model)])["sequence_accuracy"] == 1.0


def test_step_by_step_decoding_equals_teacher_forcing():
    """decode_step fed the gold tokens gives the teacher-forced log-probabilities."""
    for output in ("vocab", "pointer"):
        model = model_for(output, pointer_once=output == "pointer").eval()
        batch = full_batch(model)
        log_probs, _ = model(batch)
        inputs, _ = model.gold(batch)
        state = model.start(batch)
        for t in range(inputs.shape[1]):
            step_log_probs, state = model.decode_step(inputs[:, t], state)
            torch.testing.assert_close(step_log_probs, log_probs[:, t], atol=1e-5, rtol=1e-5)


def test_pointer_once_never_points_twice():
    model = model_for("pointer", pointer_once=True).eval()
    batch = full_batch(model)
    log_probs, _ = model(batch)  # untrained: points anywhere allowed
    inputs, _ = model.gold(batch)
    for b, t in itertools.product(range(len(PAIRS)), range(inputs.shape[1])):
        used = {int(i) for i in inputs[b, 1 : t + 1] if i > 0}
        for position in used:
            assert log_probs[b, t, position] == float("-inf")
    for nbest in model.generate(batch, method="beam", beam_size=3, n_best=3, max_length=8):
        for hyp in nbest:  # generated ids are source positions: none twice
            assert len(hyp.tokens) == len(set(hyp.tokens))


def test_padded_source_positions_change_nothing():
    model = model_for(attention="general").eval()
    batch = full_batch(model)
    noisy = full_batch(model)
    pad = noisy.source == 0
    noisy.source[pad] = 5  # padding now reads a real token
    a, _ = model(batch)
    b, _ = model(noisy)
    torch.testing.assert_close(a, b)


def test_an_example_decodes_alike_alone_and_in_a_padded_batch():
    model = overfit(model_for(attention="additive"), steps=60)
    together = model.translate(SOURCES[:7], method="beam", beam_size=3, n_best=2, max_length=8)
    for i, source in enumerate(SOURCES[:7]):
        [alone] = model.translate([source], method="beam", beam_size=3, n_best=2, max_length=8)
        assert [h.tokens for h in alone] == [h.tokens for h in together[i]]
        for x, y in zip(alone, together[i], strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-5)


def test_beam_one_equals_greedy_and_attention_rows_are_distributions():
    model = overfit(model_for(attention="general"), steps=60)
    greedy = model.translate(SOURCES, method="greedy")
    beam = model.translate(SOURCES, method="beam", beam_size=1)
    assert [g[0].tokens for g in greedy] == [b[0].tokens for b in beam]
    weights = beam[0][0].attention
    assert weights.shape == (len(beam[0][0].tokens) + 1, len(SOURCES[0]))  # + the eos step
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[0]))


@pytest.mark.parametrize(
    "output,attention,fields",
    [("vocab", "general", {}), ("pointer", "additive", {}),
     ("pointer", "general", {"pointer_once": True})],
)  # fmt: skip
def test_memory_held_per_example_gives_the_beams_of_the_rows_layout(output, attention, fields):
    """Beam search over the shared state (memory once per example) finds the hypotheses, scores
    and attention of the rows layout (K rows per example after the first step, reordered each
    step), examples stopping apart."""
    model = overfit(model_for(output, attention, **fields), steps=60)
    batch = full_batch(model)
    held = []  # (rows, examples held, rows per example) at each step

    def step(tokens, state):
        memory = state.cell.values
        held.append((len(tokens), memory.tensor.shape[0], memory.group))
        return model.decode_step(tokens, state)

    for beam_size in (1, 3, 5):
        options = dict(batch_size=len(batch), bos=model.bos, eos=model.eos, beam_size=beam_size,
                       n_best=beam_size, max_length=8, attention=model.attention_of)  # fmt: skip
        rows = beam_search(model.decode_step, model.start(batch), **options)
        held.clear()
        shared = beam_search(step, model.start(batch).shared(), **options)
        first, *later = held
        assert first == (len(batch), len(batch), 1)  # the first step: one row per example
        assert all(n == examples * group and group == beam_size for n, examples, group in later)
        assert len({examples for _, examples, _ in held}) > 1  # some examples stop, others go on
        for a, b in zip(itertools.chain(*rows), itertools.chain(*shared), strict=True):
            assert (a.tokens, a.finished) == (b.tokens, b.finished)
            assert a.score == pytest.approx(b.score, abs=1e-5)
            torch.testing.assert_close(a.attention, b.attention)


def test_save_load_gives_identical_beam_output(tmp_path):
    model = overfit(model_for("pointer", pointer_once=True), steps=40)
    model.task = {"job": "test"}
    model.save_pretrained(tmp_path / "m")
    loaded = rnnkit.load(tmp_path / "m")
    assert isinstance(loaded, Seq2Seq) and loaded.task == {"job": "test"}
    a = model.translate(SOURCES, method="beam", beam_size=4, n_best=2)
    b = loaded.translate(SOURCES, method="beam", beam_size=4, n_best=2)
    assert [[(h.tokens, h.score) for h in n] for n in a] == [
        [(h.tokens, h.score) for h in n] for n in b
    ]


@pytest.mark.parametrize(
    "task,text,tokens",
    [({"source_tokens": "char"}, "a b\n", ("a", " ", "b")),
     ({"source_tokens": "space"}, " ab  c ", ("ab", "c")),
     ({}, "ab", ("a", "b")),  # checkpoints from before the field: characters
     ({"source_tokens": "numbers", "low": 0, "high": 99}, "42 7 +19 03", ("42", "7", "19", "3")),
     ({"job": "sort", "low": -5, "high": 9}, " -5 7", ("-5", "7"))],  # an older sorter
)  # fmt: skip
def test_read_input_splits_as_the_model_records(task, text, tokens):
    model = model_for()
    model.task = task
    assert model.read_input(text) == tokens


@pytest.mark.parametrize(
    "text,needle", [("4 x", "'x'"), ("100", "100 is out of range"), ("", "at least")]
)
def test_a_numbers_model_refuses_what_is_not_a_number_in_its_range(text, needle):
    model = model_for()
    model.task = {"source_tokens": "numbers", "low": 0, "high": 99}
    with pytest.raises(ValueError, match=needle):
        model.read_input(text)


@pytest.mark.parametrize(
    "task,needle",
    [({"source_tokens": "bytes"}, "source_tokens"), ({"source_tokens": "numbers"}, "range"),
     ({"job": "sort", "low": 0, "high": "9"}, "range")],
)  # fmt: skip
def test_a_task_that_cannot_read_input_is_refused(task, needle):
    with pytest.raises(ValueError, match=needle):
        Seq2Seq(model_for().config, task=task)


def test_config_rejects_bad_combinations():
    with pytest.raises(ValueError, match="pointer_once"):
        Seq2SeqConfig(10, 10, pointer_once=True)
    with pytest.raises(ValueError, match="attention"):
        Seq2SeqConfig(10, 10, attention="luong")
    with pytest.raises(ValueError, match="dot attention"):
        Seq2SeqConfig(10, 10, attention="dot")


def test_context_to_sequence_reads_images_and_round_trips(tmp_path):
    vocab = digit_vocab()
    torch.manual_seed(0)
    images = torch.rand(6, 1, 8, 24)
    widths = torch.tensor([3, 2, 3, 1, 2, 3])
    labels = ["123", "45", "678", "9", "00", "312"]
    model = ContextToSequence(ContextConfig(len(vocab), image_width=24, channels=4,
                                            hidden_size=32, dropout=0.0), vocab)  # fmt: skip
    batch = image_batch(images, widths, labels, list(range(6)), vocab)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        model.loss(batch)[0].backward()
        opt.step()
    assert model.read(images, widths) == labels
    model.save_pretrained(tmp_path / "c")
    assert rnnkit.load(tmp_path / "c").read(images, widths) == labels


def test_scheduled_sampling_feeds_own_tokens_and_trains(tmp_path):
    """teacher_prob 1 is teacher forcing exactly; below 1 the Trainer sets it by its schedule."""
    from rnnkit.data.padded import BucketBatches
    from rnnkit.training import TrainConfig, Trainer

    model = model_for().train()
    model.dropout.p = 0.0
    batch = full_batch(model)
    forced, _ = model(batch)
    model.teacher_prob = 0.999999  # the step-by-step unroll, nearly always the gold token
    torch.manual_seed(0)
    stepped, _ = model(batch)
    torch.testing.assert_close(stepped, forced, atol=1e-5, rtol=1e-5)
    model.teacher_prob = 1.0
    source = BucketBatches(SOURCES, TARGETS, 10, seed=0,
                           collate=lambda order: model.encoder.batch(SOURCES, TARGETS, order))
    config = TrainConfig(max_steps=6, eval_every=3, scheduled_sampling="linear", ss_c=0.1)
    seen = []
    trainer = Trainer(model, source, [batch], config, out_dir=tmp_path, progress=False,
                      callbacks={"on_step_end": [lambda t, m: seen.append(t.model.teacher_prob)]})
    trainer.fit()
    assert seen == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
