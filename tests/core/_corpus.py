"""Data generators shared by the core tests."""

import numpy as np

# label-quality.md section 2.5: a hand-checked example.
TINY_LABELS = [[0, 0, 1], [0, 1]]
TINY_PRED_PROBS = [
    np.array([[0.9, 0.1], [0.7, 0.3], [0.05, 0.95]]),
    np.array([[0.8, 0.2], [0.8, 0.2]]),
]



def make_corpus(seed, *, n_sentences=200, n_classes=5, max_len=15, noise=0.15, empty=False,
                dtype=np.float64):
    """Nested labels and out-of-sample-like probabilities with some flipped labels."""
    rng = np.random.default_rng(seed)
    labels, pred_probs = [], []
    for _ in range(n_sentences):
        length = int(rng.integers(0 if empty else 1, max_len + 1))
        truth = rng.integers(0, n_classes, length)
        given = truth.copy()
        flip = rng.random(length) < noise
        given[flip] = rng.integers(0, n_classes, int(flip.sum()))
        alpha = np.full((length, n_classes), 0.3)
        alpha[np.arange(length), truth] += rng.uniform(1, 8)
        probs = np.array([rng.dirichlet(a) for a in alpha]).reshape(length, n_classes)
        labels.append(given.tolist())
        pred_probs.append(probs.astype(dtype))
    return labels, pred_probs


def flat(labels, pred_probs):
    lengths = [len(s) for s in labels]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    flat_labels = np.array([x for s in labels for x in s], dtype=np.int64)
    n_classes = next(p.shape[1] for p in pred_probs if len(p))
    flat_probs = np.concatenate([np.asarray(p).reshape(-1, n_classes) for p in pred_probs])
    return flat_labels, flat_probs, offsets
