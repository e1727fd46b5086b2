r"""Classification metrics from a confusion matrix, matching scikit-learn's definitions.

With ``C[i][j]`` the number of examples of true class ``i`` predicted as ``j``:

.. math::
    \text{precision}_k = C_{kk} / \textstyle\sum_i C_{ik} \qquad
    \text{recall}_k = C_{kk} / \textstyle\sum_j C_{kj} \qquad
    F_{1,k} = 2 P_k R_k / (P_k + R_k)

A ratio with a zero denominator is 0.0 (scikit-learn's ``zero_division=0``). The
multiclass Matthews correlation is Gorodkin's :math:`R_K`, with :math:`t_k` the true
count of class k, :math:`p_k` its predicted count, :math:`c` the correct count and
:math:`s` the total:

.. math::
    \text{MCC} = \frac{c s - \sum_k p_k t_k}
                      {\sqrt{(s^2 - \sum_k p_k^2)(s^2 - \sum_k t_k^2)}}

and 0.0 when the denominator is 0 (all predictions, or all truths, one class).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def confusion_matrix(
    y_true: Sequence[int], y_pred: Sequence[int], num_classes: int
) -> list[list[int]]:
    """Counts ``C[i][j]`` of examples of true class ``i`` predicted as ``j``: (K, K)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} != {len(y_pred)}")
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(y_true, y_pred, strict=True):
        if not (0 <= t < num_classes and 0 <= p < num_classes):
            raise ValueError(f"class ids must be in [0, {num_classes}), got true {t}, pred {p}")
        matrix[t][p] += 1
    return matrix


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def matthews_corrcoef(confusion: list[list[int]]) -> float:
    """Gorodkin's multiclass R_K from a (K, K) confusion matrix; 0.0 when undefined."""
    k = len(confusion)
    t = [sum(row) for row in confusion]  # (K,) true counts
    p = [sum(confusion[i][j] for i in range(k)) for j in range(k)]  # (K,) predicted counts
    c = sum(confusion[i][i] for i in range(k))
    s = sum(t)
    cov_tp = c * s - sum(pk * tk for pk, tk in zip(p, t, strict=True))
    cov_pp = s * s - sum(pk * pk for pk in p)
    cov_tt = s * s - sum(tk * tk for tk in t)
    return _ratio(cov_tp, math.sqrt(cov_pp * cov_tt))


@dataclass
class ClassificationReport:
    """Per-class and overall scores of one set of predictions.

    Attributes:
        labels: class names, index = class id.
        confusion: (K, K) counts, rows true, columns predicted.
        accuracy: fraction predicted correctly.
        precision, recall, f1, support: per class, support = true count.
        macro_f1: mean F1 over all K classes, absent ones included (as scikit-learn's
            ``f1_score(average="macro", labels=range(K))``).
        mcc: multiclass Matthews correlation (Gorodkin's R_K).
        loss: mean loss, if the caller measured one.
    """

    labels: list[str]
    confusion: list[list[int]]
    accuracy: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    macro_f1: float
    mcc: float
    loss: float | None = None

    @classmethod
    def from_predictions(
        cls,
        y_true: Sequence[int],
        y_pred: Sequence[int],
        labels: Sequence[str],
        loss: float | None = None,
    ) -> ClassificationReport:
        """Scores of ``y_pred`` against ``y_true``; class ids index ``labels``."""
        if not y_true:
            raise ValueError("need at least one prediction to score")
        k = len(labels)
        confusion = confusion_matrix(y_true, y_pred, k)
        support = [sum(row) for row in confusion]
        predicted = [sum(confusion[i][j] for i in range(k)) for j in range(k)]
        precision = [_ratio(confusion[j][j], predicted[j]) for j in range(k)]
        recall = [_ratio(confusion[j][j], support[j]) for j in range(k)]
        f1 = [_ratio(2 * p * r, p + r) for p, r in zip(precision, recall, strict=True)]
        return cls(
            labels=list(labels),
            confusion=confusion,
            accuracy=sum(confusion[j][j] for j in range(k)) / len(y_true),
            precision=precision,
            recall=recall,
            f1=f1,
            support=support,
            macro_f1=sum(f1) / k,
            mcc=matthews_corrcoef(confusion),
            loss=None if loss is None else float(loss),
        )

    def as_dict(self) -> dict:
        """JSON-serialisable fields."""
        return asdict(self)

    def table(self) -> str:
        """Per-class precision, recall, F1 and support, then accuracy, macro F1, MCC, loss."""
        width = max(len("macro avg"), *(len(label) for label in self.labels))
        total = sum(self.support)
        lines = [f"{'':<{width}}  precision  recall      f1  support"]
        for j, label in enumerate(self.labels):
            lines.append(
                f"{label:<{width}}  {self.precision[j]:9.3f}  {self.recall[j]:6.3f}"
                f"  {self.f1[j]:6.3f}  {self.support[j]:7d}"
            )
        macro_p = sum(self.precision) / len(self.labels)
        macro_r = sum(self.recall) / len(self.labels)
        lines += [
            "",
            f"{'accuracy':<{width}}  {'':9}  {'':6}  {self.accuracy:6.3f}  {total:7d}",
            f"{'macro avg':<{width}}  {macro_p:9.3f}  {macro_r:6.3f}  {self.macro_f1:6.3f}"
            f"  {total:7d}",
            f"{'MCC':<{width}}  {'':9}  {'':6}  {self.mcc:6.3f}",
        ]
        if self.loss is not None:
            lines.append(f"{'loss':<{width}}  {'':9}  {'':6}  {self.loss:6.3f}")
        return "\n".join(lines)

    def confusion_table(self) -> str:
        """The confusion matrix with label headers: rows true, columns predicted."""
        corner = "true \\ pred"
        width = max(len(corner), *(len(label) for label in self.labels))
        cells = [str(n) for row in self.confusion for n in row]
        col = max(*(len(label) for label in self.labels), *(len(c) for c in cells), 1)
        lines = [f"{corner:<{width}}" + "".join(f"  {label:>{col}}" for label in self.labels)]
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:<{width}}" + "".join(f"  {n:>{col}}" for n in row))
        return "\n".join(lines)


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions from a to b."""
    previous = list(range(len(b) + 1))  # distances from a[:0] to each prefix of b
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]
