"""The fine-tuned transformer: out of fold, deterministic, within its budget, kept small."""

import pickle

import numpy as np
import pytest

from tokenlq import model, transformer
from tokenlq.synthetic import make_ner_corpus
from tokenlq.transformer import TransformerPlan, plan_training

pytestmark = pytest.mark.encoder  # skipped where the extra is absent, except in the main run

CORPUS = make_ner_corpus(24, error_rate=0.0, seed=7)
NAMES = CORPUS.class_names
TAGS = [[NAMES[k] for k in s] for s in CORPUS.labels]
N_WORDS = sum(map(len, TAGS))
ONE_EPOCH = TransformerPlan(epochs=1, folds=2)


@pytest.fixture(scope="module")
def run():
    """One cross-validation with return_model, recording which sentences each fold trains on
    and predicts."""
    trained, predicted = [], []
    fit, predict = transformer._fit, transformer._predict

    def recording_fit(torch, transformers, path, chunks, *args):
        trained.append({c.sentence for c in chunks})
        return fit(torch, transformers, path, chunks, *args)

    def recording_predict(torch, fitted, chunks, out):
        predicted.append({c.sentence for c in chunks})
        return predict(torch, fitted, chunks, out)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transformer, "_fit", recording_fit)
        patch.setattr(transformer, "_predict", recording_predict)
        probs, fitted = transformer.cross_val_transformer_probs(
            CORPUS.tokens, TAGS, NAMES, folds=2, seed=3, plan=ONE_EPOCH, return_model=True)
    return probs, fitted, trained, predicted


def test_probabilities_are_well_formed_and_out_of_fold(run):
    probs, _, trained, predicted = run
    assert probs.shape == (N_WORDS, len(NAMES))
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    assert len(trained) == 2 and len(predicted) == 2
    for train, test in zip(trained, predicted):
        assert test and not train & test  # a fold never trains on the sentences it predicts
    assert predicted[0] | predicted[1] == set(range(len(CORPUS.tokens)))


def test_deterministic_for_a_seed_and_the_callers_torch_state_is_left_alone(run):
    import torch

    threads = torch.get_num_threads()
    caller = 1 if threads > 1 else 2
    torch.set_num_threads(caller)
    try:
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        again = transformer.cross_val_transformer_probs(CORPUS.tokens, TAGS, NAMES, folds=2,
                                                        seed=3, plan=ONE_EPOCH)
        assert torch.get_num_threads() == caller
        assert torch.equal(torch.rand(3), expected)  # the caller's random sequence goes on
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(again, run[0])


def test_words_without_pieces_take_the_fallback_rows():
    tokens = [list(s) for s in CORPUS.tokens[:6]] + [["hi", "\x07"]] * 2
    tags = [list(s) for s in TAGS[:6]] + [["O", "O"]] * 2
    n = sum(map(len, tokens))
    fallback = np.tile(np.eye(len(NAMES))[1], (n, 1))
    probs = transformer.cross_val_transformer_probs(tokens, tags, NAMES, folds=2, plan=ONE_EPOCH,
                                                    fallback=fallback)
    np.testing.assert_array_equal(probs[[n - 3, n - 1]], fallback[[n - 3, n - 1]])
    assert not np.array_equal(probs[n - 2], fallback[n - 2])


def test_the_fitted_model_survives_pickle_and_predicts_new_sentences(run):
    probs, fitted, _, _ = run
    assert fitted.plan == ONE_EPOCH
    # Only the embedding rows of pieces it trained on are kept, not the 30,522 of the vocabulary.
    assert 0 < len(fitted.embedding_rows) < 1000
    assert all(a.dtype == np.float16 for a in fitted.weights.values())
    new = make_ner_corpus(5, error_rate=0.0, seed=11).tokens
    predicted = fitted.predict_probs(new)
    assert predicted.shape == (sum(map(len, new)), len(NAMES))
    np.testing.assert_allclose(predicted.sum(axis=1), 1)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict_probs(new), predicted)
    assert fitted.predict_probs([]).shape == (0, len(NAMES))


def test_a_smaller_budget_plans_less_training():
    def plan(budget, n=2000):
        return plan_training(n, folds=5, train_seconds=1 / 40, predict_seconds=1 / 120,
                             budget_seconds=budget)

    epochs = [plan(budget).epochs for budget in (1000, 500, 250)]
    assert epochs == sorted(epochs, reverse=True) and epochs[0] > epochs[-1] >= 1
    assert plan(10_000).epochs == transformer.MAX_EPOCHS
    assert plan(10_000).max_train_sentences is None and plan(10_000).folds == 5
    tight = plan(480, n=20_000)  # one epoch on five folds would take about 35 minutes
    assert tight.epochs == 1 and tight.folds < 5
    fold_share = 20_000 * (tight.folds - 1) / tight.folds
    assert transformer.MIN_TRAIN_SENTENCES <= tight.max_train_sentences < fold_share
    assert tight.seconds <= 480 and "budget" in tight.reason
    least = plan(0, n=20_000)  # the least it trains, and it says it overruns
    assert least.max_train_sentences == transformer.MIN_TRAIN_SENTENCES and least.seconds > 0
    assert "the least it trains" in least.reason


def test_without_a_plan_it_measures_and_says_what_it_picked():
    plans = []
    probs = transformer.cross_val_transformer_probs(CORPUS.tokens[:8], TAGS[:8], NAMES, folds=2,
                                                    budget_seconds=0, on_plan=plans.append)
    assert len(plans) == 1 and probs.shape == (sum(map(len, TAGS[:8])), len(NAMES))
    plan = plans[0]
    # A zero budget fits nothing: one epoch, on the fewest folds, on what a fold has.
    assert (plan.epochs, plan.folds, plan.max_train_sentences) == (1, 2, 4)
    assert plan.budget_seconds == 0 and plan.seconds > 0


def test_crf_plus_transformer_is_the_mean_of_both_and_its_fitted_model_saves(tmp_path):
    kwargs = dict(folds=2, seed=1)
    plans = []
    both, fitted = model.out_of_sample_probs(CORPUS.tokens, TAGS, NAMES, model="crf+transformer",
                                             plan=ONE_EPOCH, on_plan=plans.append,
                                             return_model=True, **kwargs)
    crf = model.out_of_sample_probs(CORPUS.tokens, TAGS, NAMES, model="crf", **kwargs)
    alone = transformer.cross_val_transformer_probs(CORPUS.tokens, TAGS, NAMES, plan=ONE_EPOCH,
                                                    **kwargs)
    np.testing.assert_allclose(both, (crf + alone) / 2)
    assert plans == [ONE_EPOCH] and fitted.transformer.plan == ONE_EPOCH
    new = make_ner_corpus(5, error_rate=0.0, seed=12).tokens
    predicted = fitted.predict_probs(new)
    crf_only = fitted.predict_probs(new, use_encoder=False)
    np.testing.assert_allclose(predicted, (crf_only + fitted.transformer.predict_probs(new)) / 2)
    fitted.save(tmp_path)
    again = model.FittedModel.load(tmp_path)
    assert again.transformer.plan == ONE_EPOCH
    np.testing.assert_array_equal(again.predict_probs(new), predicted)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict_probs(new), predicted)


def test_model_choice(monkeypatch):
    from tokenlq import encoder

    assert model.resolve_model("crf+transformer") == "crf+transformer"
    monkeypatch.setattr(encoder, "available", lambda: False)
    with pytest.raises(ImportError, match=r"'crf\+transformer' needs .*pip install 'tokenlq\[encoder\]'"):
        model.resolve_model("crf+transformer")


@pytest.mark.filterwarnings("ignore:find_label_issues. classes")  # a class of one token here
def test_the_audit_says_what_the_fine_tuning_picked_for_its_budget():
    from tokenlq.audit import audit
    from tokenlq.io import Corpus

    result = audit(Corpus(CORPUS.tokens, TAGS), model="crf+transformer", folds=2,
                   budget_seconds=60)
    assert result.settings["probabilities"] == "cross-validated CRF + fine-tuned MiniLM (mean)"
    assert "60 s budget" in result.settings["fine-tuning"], result.settings
    assert result.pred_probs.shape == (N_WORDS, len(NAMES))
