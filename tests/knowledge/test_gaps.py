import pytest
from django.db import IntegrityError, transaction

from knowledge.models import KnowledgeGap
from knowledge.services import knowledge_gap_record, knowledge_gap_status_set

pytestmark = pytest.mark.django_db


def test_paraphrases_are_counted_as_one_gap_and_other_questions_open_new_ones():
    first = knowledge_gap_record(question="Do you sell gift cards?", locale="en", confidence=0.2)
    same = knowledge_gap_record(question="Do you sell gift cards", locale="en", confidence=0.35)
    paraphrase = knowledge_gap_record(question="Can I buy a gift card?", locale="en", confidence=0.1)
    other = knowledge_gap_record(question="Is there a loyalty points programme?", locale="en", confidence=0.1)
    assert same.pk == first.pk == paraphrase.pk
    assert other.pk != first.pk
    first.refresh_from_db()
    assert first.count == 3
    assert first.best_confidence == pytest.approx(0.35)
    assert first.examples == ["Can I buy a gift card?", "Do you sell gift cards"]
    assert KnowledgeGap.objects.count() == 2


def test_gaps_are_kept_per_locale():
    en = knowledge_gap_record(question="Do you sell gift cards?", locale="en", confidence=0.2)
    cs = knowledge_gap_record(question="Do you sell gift cards?", locale="cs", confidence=0.2)
    assert en.pk != cs.pk


def test_a_resolved_gap_is_not_reopened_by_a_new_question():
    gap = knowledge_gap_record(question="Do you sell gift cards?", locale="en", confidence=0.2)
    knowledge_gap_status_set(gap_ids=[gap.pk], status=KnowledgeGap.Status.RESOLVED)
    again = knowledge_gap_record(question="Do you sell gift cards?", locale="en", confidence=0.2)
    assert again.pk != gap.pk and again.status == KnowledgeGap.Status.OPEN


def test_empty_question_is_rejected_and_confidence_is_clamped():
    with pytest.raises(ValueError, match="question"):
        knowledge_gap_record(question="  ", locale="en", confidence=0.1)
    gap = knowledge_gap_record(question="Odd score", locale="en", confidence=1.7)
    assert gap.best_confidence == 1.0


def test_gap_constraints():
    gap = knowledge_gap_record(question="Q?", locale="en", confidence=0.1)
    with pytest.raises(IntegrityError, match="knowledge_gap_count_positive"), transaction.atomic():
        KnowledgeGap.objects.filter(pk=gap.pk).update(count=0)
