"""Confusion-matrix plots: counts against scikit-learn, and ``evaluate --plot-confusion``."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sklearn_confusion

from rnnkit.cli import main
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.metrics import ClassificationReport
from rnnkit.viz.confusion import confusion_figure, plot_confusion

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPAM = ["win a free prize now", "claim your cash reward", "free entry call now", "urgent you won"]
HAM = ["see you at lunch", "ok i will call later", "how was your day", "meeting moved to six"]
TAGGED = [
    ("The dog barks .", "DET NOUN VERB PUNCT"),
    ("A cat sleeps", "DET NOUN VERB"),
    ("She runs fast", "PRON VERB ADV"),
]


def test_plotted_counts_and_shares_equal_sklearn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    y_pred[y_true == 3] = 3  # a class always right
    y_true[y_true == 2] = 1  # a class never true (an empty row)
    labels = ["a", "b", "c", "d"]
    report = ClassificationReport.from_predictions(y_true.tolist(), y_pred.tolist(), labels)
    want = sklearn_confusion(y_true, y_pred, labels=range(4))
    assert report.confusion == want.tolist()
    fig = confusion_figure(report.confusion, labels)
    ax = fig.axes[0]
    shown = np.array([int(t.get_text()) for t in ax.texts]).reshape(4, 4)
    np.testing.assert_array_equal(shown, want)
    shares = np.nan_to_num(sklearn_confusion(y_true, y_pred, labels=range(4), normalize="true"))
    np.testing.assert_allclose(ax.images[0].get_array(), shares)
    assert [t.get_text() for t in ax.get_xticklabels()] == labels


def test_many_classes_are_not_annotated_and_the_png_is_written(tmp_path):
    k = 31
    eye = np.eye(k, dtype=int).tolist()
    assert len(confusion_figure(eye, [str(i) for i in range(k)]).axes[0].texts) == 0
    path = plot_confusion([[3, 1], [0, 2]], ["ham", "spam"], tmp_path / "c.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="labels 3"):
        confusion_figure([[1, 0], [0, 1]], ["a", "b", "c"])


def conllu(sentences) -> str:
    blocks = []
    for text, tags in sentences:
        rows = [f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_" for i, (w, t) in
                enumerate(zip(text.split(), tags.split(), strict=True), 1)]  # fmt: skip
        blocks.append("\n".join(rows) + "\n\n")
    return "".join(blocks)


def test_evaluate_plots_the_confusion_of_a_classifier_and_a_tagger(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = [f"{label}\t{text} {i}" for i in range(15) for label, text in
            (("spam", SPAM[i % 4]), ("ham", HAM[i % 4]))]  # fmt: skip
    (tmp_path / "sms.tsv").write_text("\n".join(rows) + "\n")
    tiny = ["--preset", "tiny", "--no-progress"]
    assert main(["train", "classify", "--data", "sms.tsv", "--no-header", *tiny, "--no-baseline",
                 "--max-steps", "5", "--out", "clf"]) == 0  # fmt: skip
    assert main(["evaluate", "--checkpoint", "clf", "--data", "sms.tsv", "--no-header",
                 "--plot-confusion", "plots/clf.png"]) == 0  # fmt: skip
    assert (tmp_path / "plots/clf.png").read_bytes()[:8] == PNG_MAGIC
    (tmp_path / "t.conllu").write_text(conllu(TAGGED))
    assert main(["train", "tag", "--train", "t.conllu", "--dev", "t.conllu", "--test", "t.conllu",
                 *tiny, "--max-steps", "5", "--out", "tagger"]) == 0  # fmt: skip
    assert main(["evaluate", "--checkpoint", "tagger", "--data", "t.conllu",
                 "--plot-confusion", "tags.png"]) == 0  # fmt: skip
    assert (tmp_path / "tags.png").read_bytes()[:8] == PNG_MAGIC
    assert "confusion matrix: tags.png" in capsys.readouterr().err


def test_plot_confusion_on_a_language_model_is_a_one_line_error(tmp_path, capsys):
    vocab = CharVocab.from_text("abc")
    torch.manual_seed(0)
    LanguageModel(LanguageModelConfig(len(vocab), hidden_size=4, num_layers=1), vocab)\
        .save_pretrained(tmp_path / "lm")  # fmt: skip
    (tmp_path / "t.txt").write_text("abcabc")
    args = ["evaluate", "--checkpoint", str(tmp_path / "lm"), "--data", str(tmp_path / "t.txt"),
            "--plot-confusion", str(tmp_path / "x.png")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rnnkit: error: --plot-confusion: only classifiers and taggers have a "
                   "confusion matrix"]  # fmt: skip
