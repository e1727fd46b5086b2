"""``--word-vectors`` in classify, tag and seq2seq, and ``export --format word-vectors``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.checkpoint import load
from rnnkit.cli import main
from rnnkit.data.word_vectors import read_word_vectors, write_word2vec
from rnnkit.tasks.input_words import input_words

SPAM = ["win a free prize now", "claim your cash reward", "free entry call now", "urgent you won"]
HAM = ["see you at lunch", "ok i will call later", "how was your day", "meeting moved to six"]
TINY = ["--preset", "tiny", "--no-progress", "--max-steps", "6"]
VECTOR_WORDS = ["free", "Cash", "lunch", "call", "zebra"]  # "Cash" matches "cash" lower-cased


def vectors_file(path: Path, dim: int = 6) -> Path:
    rng = np.random.default_rng(0)
    write_word2vec(path, VECTOR_WORDS, rng.normal(0, 1, (len(VECTOR_WORDS), dim)).astype("f4"))
    return path


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wv")
    rows = [
        f"{y}\t{t} {i}" for i in range(12) for y, t in (("spam", SPAM[i % 4]), ("ham", HAM[i % 4]))
    ]
    (tmp / "sms.tsv").write_text("\n".join(rows) + "\n")
    vectors_file(tmp / "v.txt")
    code = main(["train", "classify", "--data", str(tmp / "sms.tsv"), "--no-header",
                 "--no-baseline", "--word-vectors", str(tmp / "v.txt"), "--freeze-word-vectors",
                 *TINY, "--out", str(tmp / "run")])  # fmt: skip
    assert code in (0, None)
    return tmp


def test_vectors_land_in_the_rows_of_their_words_and_stay_frozen(classifier, capsys) -> None:
    model = load(classifier / "run")
    assert model.config.embedding_size == 6  # followed the file
    embedding, words, first = input_words(model)
    vectors = read_word_vectors(classifier / "v.txt")
    for word, source in (("free", "free"), ("cash", "Cash"), ("lunch", "lunch"), ("call", "call")):
        row = embedding.weight[first + words.index(word)]
        expected = torch.from_numpy(vectors.vectors[vectors.words.index(source)])
        torch.testing.assert_close(row, expected)  # frozen: still the file's vector after training
    run = json.loads((classifier / "run" / "trainer_state" / "run.json").read_text())
    assert run["data"]["freeze_word_vectors"] is True


def test_export_writes_the_embedding_back(classifier, capsys) -> None:
    out = classifier / "exported.vec"
    assert main(["export", "--checkpoint", str(classifier / "run"), "--format", "word-vectors",
                 "--out", str(out)]) in (0, None)  # fmt: skip
    model = load(classifier / "run")
    embedding, words, first = input_words(model)
    read = read_word_vectors(out)
    assert read.words == words
    np.testing.assert_array_equal(read.vectors, embedding.weight[first:].detach().numpy())
    assert "wrote" in capsys.readouterr().out


def test_tag_and_seq2seq_take_word_vectors(tmp_path: Path, capsys) -> None:
    vectors_file(tmp_path / "v.txt", dim=5)
    rows = [("The", "DET"), ("cat", "NOUN"), ("free", "ADJ"), ("call", "VERB")]
    sentence = "".join(f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_\n" for i, (w, t) in enumerate(rows, 1))
    (tmp_path / "t.conllu").write_text((sentence + "\n") * 4)
    assert main(["train", "tag", "--train", str(tmp_path / "t.conllu"), "--dev",
                 str(tmp_path / "t.conllu"), "--word-vectors", str(tmp_path / "v.txt"),
                 *TINY, "--out", str(tmp_path / "tag")]) in (0, None)  # fmt: skip
    printed = capsys.readouterr()
    assert "2 of 4 vocabulary words found" in printed.out + printed.err  # free, call
    assert load(tmp_path / "tag").config.word_embedding_size == 5
    pairs = "".join(f"{a} {b}\t{b} {a}\n" for a in ("free", "call", "cat") for b in ("x", "y", "z"))
    (tmp_path / "pairs.tsv").write_text(pairs * 2)
    assert main(["train", "seq2seq", "--data", str(tmp_path / "pairs.tsv"), "--source-tokens",
                 "space", "--word-vectors", str(tmp_path / "v.txt"), *TINY,
                 "--out", str(tmp_path / "s2s")]) in (0, None)  # fmt: skip
    model = load(tmp_path / "s2s")
    embedding, words, first = input_words(model)
    vectors = read_word_vectors(tmp_path / "v.txt")
    assert model.config.embedding_size == 5
    trained = embedding.weight[first + words.index("free")]
    assert not torch.equal(trained, torch.from_numpy(vectors.vectors[0]))  # not frozen


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"2 6\nfree 1 2 3 4 5 6\n", [], "header promises 2 words, the file has 1"),
        (b"1 6\nfree 1 2 3 4 5 6\n", ["--embedding-size", "8"], "dimension 6, but the embedding"),
        (b"2 6\nfree " + b"\0" * 20, [], "entry 1 is cut mid-vector"),
    ],
)  # fmt: skip
def test_bad_vectors_give_one_line(classifier, tmp_path, capsys, content, extra, message) -> None:
    (tmp_path / "bad.vec").write_bytes(content)
    code = main(["train", "classify", "--data", str(classifier / "sms.tsv"), "--no-header",
                 "--no-baseline", "--word-vectors", str(tmp_path / "bad.vec"), *extra, *TINY,
                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "bad.vec" in err[-1] and "Traceback" not in "".join(err)
