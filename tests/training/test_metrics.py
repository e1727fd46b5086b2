import json
import random

import pytest

from rnnkit.training.metrics import ClassificationReport, confusion_matrix


def test_two_class_by_hand():
    y_true = [1, 1, 1, 0, 0, 0, 0, 1]
    y_pred = [1, 0, 1, 0, 1, 0, 0, 1]
    report = ClassificationReport.from_predictions(y_true, y_pred, ["neg", "pos"], loss=0.25)
    assert report.confusion == [[3, 1], [1, 3]]
    assert report.accuracy == 0.75
    assert report.precision == [0.75, 0.75] and report.recall == [0.75, 0.75]
    assert report.f1 == pytest.approx([0.75, 0.75]) and report.support == [4, 4]
    # Binary MCC: (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (9 - 1) / 16.
    assert report.mcc == pytest.approx(0.5)
    assert report.loss == 0.25


def test_three_class_by_hand():
    y_true = [0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0, 2]
    report = ClassificationReport.from_predictions(y_true, y_pred, ["a", "b", "c"])
    assert report.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert report.accuracy == pytest.approx(5 / 7)
    assert report.precision == pytest.approx([1 / 2, 2 / 3, 1])  # column sums 2, 3, 2
    assert report.recall == pytest.approx([1 / 2, 1, 2 / 3])  # row sums 2, 2, 3
    assert report.f1 == pytest.approx([0.5, 0.8, 0.8])
    assert report.macro_f1 == pytest.approx(0.7)
    # c = 5, s = 7, sum p t = 16, sum p^2 = sum t^2 = 17: (35 - 16) / sqrt(32 * 32).
    assert report.mcc == pytest.approx(19 / 32)


def test_zero_division_and_undefined_mcc_give_zero():
    report = ClassificationReport.from_predictions([0, 1, 2, 0], [0, 0, 0, 0], ["a", "b", "c"])
    assert report.precision == [0.5, 0.0, 0.0] and report.recall == [1.0, 0.0, 0.0]
    assert report.f1[1:] == [0.0, 0.0] and report.mcc == 0.0
    perfect = ClassificationReport.from_predictions([1, 1], [1, 1], ["a", "b"])
    assert perfect.precision == [0.0, 1.0] and perfect.macro_f1 == 0.5 and perfect.mcc == 0.0


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="length"):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError):
        ClassificationReport.from_predictions([], [], ["a"])


@pytest.mark.parametrize(("k", "n", "seed"), [(2, 40, 0), (3, 25, 1), (5, 200, 2), (4, 7, 3)])
def test_matches_sklearn_on_random_predictions(k, n, seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(seed)
    y_true = [rng.randrange(k) for _ in range(n)]
    y_pred = [t if rng.random() < 0.4 else rng.randrange(k) for t in y_true]
    labels = list(range(k))
    report = ClassificationReport.from_predictions(y_true, y_pred, [f"c{j}" for j in labels])
    assert report.confusion == metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    p, r, f, s = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    assert report.precision == pytest.approx(p.tolist())
    assert report.recall == pytest.approx(r.tolist())
    assert report.f1 == pytest.approx(f.tolist())
    assert report.support == s.tolist()
    macro = metrics.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert report.macro_f1 == pytest.approx(macro)
    assert report.mcc == pytest.approx(metrics.matthews_corrcoef(y_true, y_pred))
    assert report.accuracy == pytest.approx(metrics.accuracy_score(y_true, y_pred))


def test_report_is_json_and_readable_text():
    report = ClassificationReport.from_predictions(
        [0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], ["neg", "positive", "neutral"], loss=0.5
    )
    data = json.loads(json.dumps(report.as_dict()))
    assert data["confusion"] == report.confusion and data["labels"] == report.labels
    assert ClassificationReport(**data) == report
    table = report.table().splitlines()
    assert table[0].split() == ["precision", "recall", "f1", "support"]
    assert table[2].split() == ["positive", "0.667", "1.000", "0.800", "2"]
    assert any(line.split() == ["macro", "avg", "0.722", "0.722", "0.700", "7"] for line in table)
    assert any(line.split() == ["MCC", "0.594"] for line in table)
    assert any(line.split() == ["loss", "0.500"] for line in table)
    confusion = report.confusion_table().splitlines()
    assert confusion[0].split()[-3:] == ["neg", "positive", "neutral"]
    assert confusion[3].split() == ["neutral", "1", "0", "2"]
