"""``train lm --reverse`` and ``train tag --char-lm FWD_DIR,BWD_DIR`` as a user meets them."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.apps.language_model import LMData, read_corpus, reading_order
from rnnkit.cli import main
from rnnkit.data.vocab import WordVocab
from rnnkit.serve.tagger import tag_report
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig

TEXT = "".join(f" the {a} sat on the {b} \n" for a in ("cat", "dog", "man") * 20
               for b in ("mat", "rug"))  # fmt: skip
SENTENCES = [
    ("The dog barks .", "DET NOUN VERB PUNCT"),
    ("A cat sleeps", "DET NOUN VERB"),
    ("She runs fast", "PRON VERB ADV"),
]
TINY = ["--preset", "tiny", "--no-progress"]
WIKITEXT = Path(__file__).parents[3] / "shared" / "data" / "wikitext-2"


def conllu() -> str:
    blocks = []
    for text, tags in SENTENCES:
        pairs = zip(text.split(), tags.split(), strict=True)
        rows = [f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_" for i, (w, t) in enumerate(pairs, 1)]
        blocks.append("\n".join(rows) + "\n\n")
    return "".join(blocks)


def run(*args: str) -> int:
    """``rnnkit ARGS`` in this process: its exit status (argparse's usage errors included)."""
    try:
        return main(list(args))
    except SystemExit as e:
        return int(e.code)


def one_line_error(capsys, code: int, *needles: str) -> None:
    """Exit status 2 and one line on stderr holding every needle."""
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "Traceback" not in err[0] and all(n in err[0] for n in needles), err[0]


@pytest.fixture(scope="module")
def lms(tmp_path_factory) -> Path:
    """A forward and a backward (--reverse) tiny character LM, 30 steps each."""
    root = tmp_path_factory.mktemp("lms")
    (root / "text.txt").write_text(TEXT)
    for name, extra in (("fwd", []), ("bwd", ["--reverse"])):
        code = main(["train", "lm", "--text", str(root / "text.txt"), *TINY, "--sample-length",
                     "0", "--out", str(root / name), *extra])  # fmt: skip
        assert code == 0
    return root


@pytest.fixture(scope="module")
def tagger(lms, tmp_path_factory) -> Path:
    """A tagger trained on copies of the LMs, which are then deleted."""
    root = tmp_path_factory.mktemp("tagger")
    (root / "train.conllu").write_text(conllu())
    for name in ("fwd", "bwd"):
        shutil.copytree(lms / name, root / name)
    code = main(["train", "tag", "--train", str(root / "train.conllu"), "--dev",
                 str(root / "train.conllu"), *TINY, "--char-lm",
                 f"{root / 'fwd'},{root / 'bwd'}", "--out", str(root / "run")])  # fmt: skip
    assert code == 0
    shutil.rmtree(root / "fwd")
    shutil.rmtree(root / "bwd")
    return root / "run"


def test_reverse_is_recorded_in_the_model_and_the_run(lms):
    forward = json.loads((lms / "fwd" / "config.json").read_text())
    backward = json.loads((lms / "bwd" / "config.json").read_text())
    assert "reverse" not in forward and backward["reverse"] is True
    run = json.loads((lms / "bwd" / "trainer_state" / "run.json").read_text())
    assert run["data"]["reverse"] is True
    assert rnnkit.load(lms / "bwd").reverse and not rnnkit.load(lms / "fwd").reverse


def test_reverse_reads_the_text_backwards(lms):
    text = TEXT[:200]
    (lms / "short.txt").write_text(text)
    forward = read_corpus(LMData(text=str(lms / "short.txt"), valid_fraction=0.1), 4)
    backward = read_corpus(LMData(text=str(lms / "short.txt"), valid_fraction=0.1, reverse=True), 4)
    assert backward.vocab.decode(backward.train) == text[::-1][:180]  # its first 90%
    assert forward.vocab.decode(forward.train) == text[:180]


def test_reverse_of_words_reverses_the_word_stream(tmp_path):
    (tmp_path / "words.txt").write_text("a b\nc d e\nf\n" * 4)
    data = {"level": "word", "text": str(tmp_path / "words.txt"), "valid_fraction": 0.25}
    forward, backward = read_corpus(LMData(**data), 2), read_corpus(LMData(**data, reverse=True), 2)
    assert torch.equal(backward.train, forward.train.flip(0))
    assert backward.vocab.itos[int(backward.train[0])] == "<eos>"  # the last line's end first


def test_reading_order_by_hand():
    assert reading_order("tac eht\n", "char") == "\nthe cat"
    assert reading_order("\nmat the on\nsat cat", "word") == "cat sat\non the mat\n"


def test_sample_of_a_backward_lm_is_in_reading_order(lms, capsys):
    assert main(["sample", "--checkpoint", str(lms / "bwd"), "--prime", "the mat \n", "--length",
                 "40", "--seed", "1"]) == 0  # fmt: skip
    printed = capsys.readouterr()
    assert printed.out.endswith("the mat \n\n") and len(printed.out) == len("the mat \n") + 41
    assert "reading order" in printed.err
    assert main(["sample", "--checkpoint", str(lms / "fwd"), "--prime", "the mat", "--length",
                 "40", "--seed", "1"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("the mat")


def test_tagger_stands_alone_without_the_lm_directories(tagger, capsys):
    config = json.loads((tagger / "config.json").read_text())
    assert config["char_lms"]["backward"]["reverse"] is True
    assert config["char_lms"]["forward"]["vocab"]["type"] == "char"
    model = rnnkit.load(tagger)
    assert model.contextual is not None
    capsys.readouterr()
    assert main(["tag", "--checkpoint", str(tagger), "A dog sleeps", "--format", "plain"]) == 0
    words = ["A", "dog", "sleeps"]
    tags = model.tag([words])[0]
    assert capsys.readouterr().out.split() == [f"{w}/{t}" for w, t in zip(words, tags, strict=True)]
    assert tag_report(model, ["A", "dog"])["tags"] == model.tag([["A", "dog"]])[0]
    data = tagger.parent / "train.conllu"
    assert main(["evaluate", "--checkpoint", str(tagger), "--data", str(data)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_export_refuses_a_tagger_with_char_lms(tagger, tmp_path, capsys):
    code = main(["export", "--checkpoint", str(tagger), "--out", str(tmp_path / "m.onnx")])
    one_line_error(capsys, code, "--char-lm", "no ONNX export")


def save_word_lm(directory: Path) -> None:
    vocab = WordVocab.from_text("the cat sat\n")
    LanguageModel(LanguageModelConfig(len(vocab), hidden_size=4, num_layers=1), vocab
                  ).save_pretrained(directory)  # fmt: skip


@pytest.mark.parametrize(
    ("pair", "needles"),
    [
        ("bwd,bwd", ["forward LM", "bwd", "reversed text", "FWD_DIR,BWD_DIR"]),
        ("fwd,fwd", ["backward LM", "fwd", "not trained on reversed text", "--reverse"]),
        ("bwd,fwd", ["forward LM", "bwd", "reversed text"]),
        ("nope,bwd", ["nope", "no such directory"]),
        ("words,bwd", ["words", "word-level language model", "character LM"]),
        ("tagger,bwd", ["tagger", "rnnkit.tagger/1 checkpoint, not a language model"]),
        ("fwd", ["--char-lm", "expected FWD_DIR,BWD_DIR"]),
    ],
)
def test_wrong_char_lms_are_one_line(lms, tagger, tmp_path, capsys, pair, needles):
    (tmp_path / "train.conllu").write_text(conllu())
    save_word_lm(tmp_path / "words")
    shutil.copytree(tagger, tmp_path / "tagger")
    for name in ("fwd", "bwd"):
        shutil.copytree(lms / name, tmp_path / name)
    dirs = ",".join(str(tmp_path / name) for name in pair.split(","))
    capsys.readouterr()
    code = run("train", "tag", "--train", str(tmp_path / "train.conllu"), "--dev",
               str(tmp_path / "train.conllu"), *TINY, "--char-lm", dirs, "--out",
               str(tmp_path / "run"))  # fmt: skip
    one_line_error(capsys, code, *needles)
    assert not (tmp_path / "run" / "config.json").exists()


def test_char_backward_preset_reads_a_wikitext_directory_as_characters(tmp_path, capsys):
    """The preset's data and reversal on a WikiText-style directory; its sizes made tiny (the
    20-minute run itself is not a test)."""
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / "train.txt").write_text(TEXT)
    (tmp_path / "wt" / "valid.txt").write_text(" the cat sat on the rug \n xyz \n")
    code = main(["train", "lm", "--preset", "char-backward", "--data-dir", str(tmp_path / "wt"),
                 "--max-steps", "2", "--hidden-size", "8", "--embedding-size", "4",
                 "--batch-size", "2", "--bptt", "8", "--eval-every", "1", "--sample-length", "0",
                 "--no-progress", "--out", str(tmp_path / "bwd")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    model = rnnkit.load(tmp_path / "bwd")
    assert model.reverse and model.unit == "char"
    assert "".join(model.vocab.itos[1:]) == "".join(sorted(set(TEXT)))  # train.txt's alone


@pytest.mark.skipif(not WIKITEXT.is_dir(), reason="../shared/data/wikitext-2 is not here")
def test_wikitext_characters_read_backwards():
    corpus = read_corpus(LMData(level="char", data_dir=str(WIKITEXT), reverse=True), 64)
    train = (WIKITEXT / "train.txt").read_text(encoding="utf-8")
    assert corpus.vocab.decode(corpus.train[:500]) == train[::-1][:500]
    assert len(corpus.train) == len(train) and corpus.test is not None
