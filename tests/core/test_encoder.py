"""The encoder extra: word vectors, the out-of-fold classifier and the CRF + encoder average."""

import numpy as np
import pytest

from tokenlq import encoder, model
from tokenlq.synthetic import make_ner_corpus

pytestmark = pytest.mark.encoder  # skipped where the extra is absent, except in the main run

CORPUS = make_ner_corpus(90, error_rate=0.0, seed=3)
NAMES = CORPUS.class_names
TAGS = [[NAMES[k] for k in s] for s in CORPUS.labels]
OFFSETS = np.concatenate(([0], np.cumsum([len(s) for s in CORPUS.tokens])))
LABELS = np.concatenate([np.asarray(s) for s in CORPUS.labels])


@pytest.fixture(scope="module")
def vectors():
    return encoder.encode_words(CORPUS.tokens)


def test_the_extra_is_installed_where_the_suite_runs():
    # scripts/test.sh's main run installs every extra and sets TOKENLQ_TEST_ALL_EXTRAS=1, so
    # this module runs there instead of skipping: without the extra this test fails.
    assert encoder.available()


def test_word_vectors_are_unit_length_contextual_and_batch_independent(vectors):
    assert vectors.shape == (OFFSETS[-1], 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    one_by_one = encoder.encode_words(CORPUS.tokens[:5], batch_size=1)
    np.testing.assert_allclose(one_by_one, vectors[:OFFSETS[5]], atol=1e-4)
    a, b = encoder.encode_words([["I", "love", "Paris"], ["Paris", "Hilton", "sings"]])[[2, 3]]
    assert float(a @ b) < 0.99  # the same word in two contexts gets two vectors


def test_a_word_without_pieces_gets_a_zero_vector_and_the_classifier_still_works():
    out = encoder.encode_words([["a", "\u0301", "b"], ["\x07"]])  # the tokenizer drops both
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [1, 0, 1, 0], atol=1e-5)
    probs = encoder.cross_val_encoder_probs(np.tile(out, (3, 1)), np.array([1, 0, 1, 0] * 3),
                                            np.array([0, 3, 4, 7, 8, 11, 12]), 2,
                                            np.array([0, 0, 1, 1, 2, 2]), max_iterations=5)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1)


def test_long_sentences_are_encoded_in_chunks_without_losing_words():
    long = [f"word{i}" for i in range(150)]
    out = encoder.encode_words([long, ["short"]])
    assert out.shape == (151, 384)
    assert np.all(np.linalg.norm(out, axis=1) > 0.99)


def test_classifier_predicts_each_fold_without_seeing_it(vectors):
    fold_of = model._fold_assignment(len(CORPUS.tokens), 3, 0)
    probs = encoder.cross_val_encoder_probs(vectors, LABELS, OFFSETS, len(NAMES), fold_of,
                                            max_iterations=20)
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    assert (probs.argmax(axis=1) == LABELS).mean() > 0.8
    # Relabel every token of fold 0: fold 0's own probabilities must not move at all.
    in_fold0 = np.repeat(fold_of == 0, np.diff(OFFSETS))
    changed = LABELS.copy()
    changed[in_fold0] = (changed[in_fold0] + 1) % len(NAMES)
    again = encoder.cross_val_encoder_probs(vectors, changed, OFFSETS, len(NAMES), fold_of,
                                            max_iterations=20)
    np.testing.assert_allclose(again[in_fold0], probs[in_fold0], atol=1e-6)
    assert not np.allclose(again[~in_fold0], probs[~in_fold0], atol=1e-3)


def test_extra_training_data_is_used_but_not_predicted(vectors):
    fold_of = model._fold_assignment(len(CORPUS.tokens), 3, 0)
    head = OFFSETS[30]
    base = encoder.cross_val_encoder_probs(vectors[:head], LABELS[:head], OFFSETS[:31],
                                           len(NAMES), fold_of[:30], max_iterations=20)
    more = encoder.cross_val_encoder_probs(vectors[:head], LABELS[:head], OFFSETS[:31],
                                           len(NAMES), fold_of[:30], max_iterations=20,
                                           extra_vectors=vectors[head:], extra_labels=LABELS[head:],
                                           extra_offsets=OFFSETS[30:] - head)
    assert more.shape == base.shape
    truth = LABELS[:head]
    assert (more.argmax(1) == truth).mean() >= (base.argmax(1) == truth).mean()
    assert not np.allclose(more, base)


def test_crf_plus_encoder_is_the_mean_of_both_on_the_same_folds():
    kwargs = dict(folds=3, seed=2)
    crf = model.out_of_sample_probs(CORPUS.tokens, TAGS, NAMES, model="crf", **kwargs)
    both = model.out_of_sample_probs(CORPUS.tokens, TAGS, NAMES, model="crf+encoder", **kwargs)
    vectors = encoder.encode_words(CORPUS.tokens)
    alone = encoder.cross_val_encoder_probs(vectors, LABELS, OFFSETS, len(NAMES),
                                            model._fold_assignment(len(CORPUS.tokens), 3, 2))
    np.testing.assert_allclose(both, (crf + alone) / 2, atol=1e-6)
    np.testing.assert_allclose(crf, model.cross_val_pred_probs(CORPUS.tokens, TAGS, NAMES, **kwargs))


def test_model_choice(monkeypatch):
    assert model.resolve_model("auto") == "crf+encoder"
    assert model.resolve_model("crf") == "crf"
    with pytest.raises(ValueError, match="'model' parameter of resolve_model must be one of"):
        model.resolve_model("bert")
    monkeypatch.setattr(encoder, "available", lambda: False)
    assert model.resolve_model("auto") == "crf"
    with pytest.raises(ImportError, match=r"pip install 'tokenlq\[encoder\]'"):
        model.resolve_model("crf+encoder")


def test_crf_plus_encoder_fitted_on_everything_saves_and_predicts(tmp_path):
    probs, fitted = model.out_of_sample_probs(CORPUS.tokens, TAGS, NAMES, model="crf+encoder",
                                              folds=3, return_model=True)
    np.testing.assert_allclose(probs, model.out_of_sample_probs(CORPUS.tokens, TAGS, NAMES,
                                                                model="crf+encoder", folds=3))
    assert fitted.encoder is not None and fitted.encoder[0].shape == (384, 3 * len(NAMES))
    new = make_ner_corpus(20, error_rate=0.0, seed=42)
    predicted = fitted.predict_probs(new.tokens)
    truth = np.array([NAMES.index(new.class_names[k]) for s in new.labels for k in s])
    assert (predicted.argmax(axis=1) == truth).mean() > 0.9
    fitted.save(tmp_path)
    np.testing.assert_allclose(model.FittedModel.load(tmp_path).predict_probs(new.tokens), predicted)


def test_the_callers_thread_count_and_environment_are_left_alone(monkeypatch, vectors):
    import os

    import torch
    import transformers

    for name in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    environment = dict(os.environ)
    threads = torch.get_num_threads()
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_info()  # not the encoder's choice, errors only
    caller = 1 if (os.cpu_count() or 1) > 1 else 2  # not the encoder's choice, every core
    torch.set_num_threads(caller)
    try:
        encoder._load.cache_clear()  # loads again, under this environment
        head = int(OFFSETS[20])
        encoder.encode_words(CORPUS.tokens[:3])
        encoder.cross_val_encoder_probs(vectors[:head], LABELS[:head], OFFSETS[:21], len(NAMES),
                                        np.arange(20) % 2, max_iterations=2)
        weights, bias = encoder.fit_classifier(vectors[:head], LABELS[:head], OFFSETS[:21],
                                               len(NAMES), max_iterations=2)
        encoder.classifier_probs(vectors[:head], OFFSETS[:21], weights, bias)
        assert torch.get_num_threads() == caller
        assert dict(os.environ) == environment
        assert transformers.logging.get_verbosity() == transformers.logging.INFO
    finally:
        torch.set_num_threads(threads)
        transformers.logging.set_verbosity(verbosity)


def test_loading_leaves_the_hubs_offline_mode_to_the_caller():
    # huggingface_hub reads HF_HUB_OFFLINE once, when first imported (here, inside the load):
    # the load must not leave the caller's process offline. A fresh interpreter, so that the
    # first import happens there.
    import os
    import subprocess
    import sys

    code = ("from tokenlq import encoder\n"
            "encoder._load()\n"
            "import huggingface_hub.constants\n"
            "print(huggingface_hub.constants.is_offline_mode())\n")
    environment = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=environment)
    assert out.stdout.strip() == "False"
