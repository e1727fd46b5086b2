"""The classification job's preparation: splits, given files, class weights, baselines."""

from dataclasses import replace

import pytest

from rnnkit.apps.classify import ClassifyData, class_weights, tfidf_baselines
from rnnkit.apps.classify import prepare as prepare_data
from rnnkit.errors import DataError


def prepare(path, data, *, seed):
    return prepare_data(replace(data, data_path=str(path)), seed=seed)


def corpus(path, n=40, repeat=0):
    rows = [f"{'spam' if i % 4 == 0 else 'ham'}\tmessage number {i}\n" for i in range(n)]
    path.write_text("".join(rows) + rows[0] * repeat)
    return path


def test_split_sizes_dedupe_and_vocabulary_from_train_only(tmp_path):
    data = ClassifyData(no_header=True, valid_fraction=0.1, test_fraction=0.2)
    p = prepare(corpus(tmp_path / "a.tsv", repeat=3), data, seed=0)
    assert (len(p.train), len(p.valid), len(p.test)) == (28, 4, 8)
    assert "3 repeated texts dropped before splitting" in p.notes
    assert not set(p.train.texts) & set(p.test.texts)
    test_only = {str(i) for i in range(40)} - {t.split()[-1] for t in p.train.texts}
    assert not test_only & set(p.encoder.vocab.stoi)  # numbers seen only outside train: <unk>


def test_split_seed_fixes_the_splits_while_the_run_seed_varies(tmp_path):
    path = corpus(tmp_path / "a.tsv")
    data = ClassifyData(no_header=True)
    fixed = prepare(path, replace(data, split_seed=0), seed=5)
    assert fixed.test.texts == prepare(path, data, seed=0).test.texts
    assert fixed.valid.texts == prepare(path, data, seed=0).valid.texts
    assert fixed.test.texts != prepare(path, data, seed=5).test.texts


def test_given_validation_and_test_files_are_not_cut_from_data(tmp_path):
    (tmp_path / "v.tsv").write_text("ham\tv1\nspam\tv2\n")
    (tmp_path / "t.tsv").write_text("ham\tt1\nspam\tt2\nham\tt3\n")
    data = ClassifyData(no_header=True, valid_file=str(tmp_path / "v.tsv"),
                        test_file=str(tmp_path / "t.tsv"))  # fmt: skip
    p = prepare(corpus(tmp_path / "a.tsv"), data, seed=0)
    assert (len(p.train), p.valid.texts, p.test.texts) == (40, ["v1", "v2"], ["t1", "t2", "t3"])


def test_unknown_label_in_a_given_test_file_is_one_line(tmp_path):
    (tmp_path / "t.tsv").write_text("ham\tt1\neggs\tt2\n")
    data = ClassifyData(no_header=True, test_file=str(tmp_path / "t.tsv"))
    with pytest.raises(DataError, match=r"t.tsv: test label 'eggs' never occurs"):
        prepare(corpus(tmp_path / "a.tsv"), data, seed=0)


@pytest.mark.parametrize(
    ("rows", "named"),
    [(["spam\twin", "ham\thi"], "label '(ham|spam)' has 1,"),
     (["spam\twin", "ham\thi", "ham\tyo"], "label 'ham' has 2,")],
)  # fmt: skip
def test_a_split_of_too_few_texts_is_named_as_such(tmp_path, rows, named):
    """Two texts cannot give every label a training text: the error says so, not that the
    label is unknown to training (it used to list the empty set of known labels)."""
    (tmp_path / "a.tsv").write_text("\n".join(rows) + "\n")
    data = ClassifyData(no_header=True, valid_fraction=0.4, test_fraction=0.2)
    with pytest.raises(DataError, match=f"too few texts to split: {named}") as e:
        prepare(tmp_path / "a.tsv", data, seed=0)
    assert "known" not in str(e.value)


def test_balanced_class_weights_are_n_over_k_n_k():
    assert class_weights([0, 0, 0, 1], 2) == [4 / 6, 4 / 2]
    assert class_weights([0, 1, 1, 1, 1, 1], 3) == [2.0, 0.4, 0.0]


def test_baselines_are_scored_on_the_same_test_split(tmp_path):
    pytest.importorskip("sklearn")
    p = prepare(corpus(tmp_path / "a.tsv"), ClassifyData(no_header=True), seed=0)
    reports = tfidf_baselines(p.train, p.test)
    assert len(reports) == 2
    for report in reports.values():
        assert sum(map(sum, report.confusion)) == len(p.test) and report.labels == ["ham", "spam"]


def test_the_report_says_plainly_when_the_model_ends_below_a_baseline():
    from rnnkit.apps.classify import ClassifyRun
    from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
    from rnnkit.training.metrics import ClassificationReport

    labels = ["ham", "spam"]
    gold = [0, 0, 0, 1, 1]
    worse = ClassificationReport.from_predictions(gold, [0, 0, 1, 1, 0], labels)  # 60 %
    better = ClassificationReport.from_predictions(gold, [0, 0, 0, 1, 0], labels)  # 80 %
    model = SequenceClassifier(ClassifierConfig(5, 2, bidirectional=True), None, labels)

    def verdict(test, epochs=5.0, cut=0.1):
        run = ClassifyRun(model, test, {"svm": better}, 10, 1.0, {"train": 4000}, [], epochs, cut)
        return run.verdict()

    assert verdict(better) is None and verdict(worse, epochs=0.5).startswith(
        "the recurrent model is 20.00% below svm on this test split"
    )
    assert "only 0.5 times" in verdict(worse, epochs=0.5)
    assert "the length cap cut 60%" in verdict(worse, cut=0.6)
    assert "4,000 training texts are few" in verdict(worse)
    run = ClassifyRun(model, worse, {"svm": better}, 10, 1.0, {"train": 4000}, [], 5.0, 0.1)
    assert "rnnkit BiLSTM, max pooling" in run.text() and "note: the recurrent" in run.text()
