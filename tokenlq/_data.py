"""The flat triple and its conversions.

Ragged token data is held flat: ``labels (n,)``, ``pred_probs (n, K)`` and sentence ``offsets (N+1,)``
with ``offsets[0] = 0`` and ``offsets[-1] = n``; sentence i covers ``offsets[i]:offsets[i+1]``
(an empty sentence has ``offsets[i] == offsets[i+1]``). Nested lists are converted once, here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validation import TokenLQInputError, check_token_data

__all__ = [
    "flatten",
    "unflatten",
    "offsets_from_lengths",
    "sentence_index",
    "to_sentence_token",
    "labels_to_indices",
]


def offsets_from_lengths(lengths) -> np.ndarray:
    """Sentence offsets (N+1,) from sentence lengths (N,).

    Examples
    --------
    >>> offsets_from_lengths([3, 0, 2]).tolist()
    [0, 3, 3, 5]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def flatten(labels, pred_probs, *, renormalize: bool = False):
    """Validate nested per-sentence data and convert it to the flat triple.

    Parameters
    ----------
    labels : list of N int sequences
        ``labels[i][j]`` is the given class of token j of sentence i.
    pred_probs : list of N arrays of shape (T_i, K), or array of shape (N, T, K)
        Out-of-sample predicted class probabilities.
    renormalize : bool, default=False
        Divide rows that do not sum to 1 by their sum instead of raising.

    Returns
    -------
    labels : ndarray of shape (n,), int64
    pred_probs : ndarray of shape (n, K)
    offsets : ndarray of shape (N+1,), int64

    Examples
    --------
    >>> labels, pred_probs, offsets = flatten([[0, 1], [1]], [[[.9, .1], [.2, .8]], [[.4, .6]]])
    >>> labels.tolist(), offsets.tolist()
    ([0, 1, 1], [0, 2, 3])
    """
    data = check_token_data(labels, pred_probs, func="flatten", renormalize=renormalize)
    return data.labels, data.pred_probs, data.offsets


def unflatten(values, offsets) -> list:
    """Split a flat array (n, ...) into the list of per-sentence arrays (views, no copy).

    Examples
    --------
    >>> [a.tolist() for a in unflatten([1, 2, 3], [0, 2, 2, 3])]
    [[1, 2], [], [3]]
    """
    values = np.asarray(values)
    offsets = np.asarray(offsets)
    return [values[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def sentence_index(offsets) -> np.ndarray:
    """The sentence of every token, (n,).

    Examples
    --------
    >>> sentence_index([0, 2, 2, 3]).tolist()
    [0, 0, 2]
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def to_sentence_token(flat_indices, offsets) -> tuple[np.ndarray, np.ndarray]:
    """Map flat token indices to (sentence i, token j) by binary search over the offsets.

    Examples
    --------
    >>> i, j = to_sentence_token([0, 2, 3], [0, 2, 2, 4])
    >>> i.tolist(), j.tolist()
    ([0, 2, 2], [0, 0, 1])
    """
    flat_indices = np.asarray(flat_indices, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    i = np.searchsorted(offsets, flat_indices, side="right") - 1
    return i, flat_indices - offsets[i]


def labels_to_indices(label_names, class_names: Sequence[str]):
    """Map label names (nested lists or a flat sequence) to class indices.

    Examples
    --------
    >>> labels_to_indices([["B-PER", "O"], ["O"]], ["O", "B-PER", "I-PER"])
    [[1, 0], [0]]
    """
    index = {name: k for k, name in enumerate(class_names)}

    def one(name, where):
        try:
            return index[name]
        except KeyError:
            raise TokenLQInputError(
                f"labels_to_indices: unknown label {name!r} at {where}; known classes are "
                f"{list(class_names)}."
            ) from None

    if len(label_names) and not isinstance(label_names[0], str):
        return [[one(x, f"sentence {i}, token {j}") for j, x in enumerate(s)]
                for i, s in enumerate(label_names)]
    return [one(x, f"position {j}") for j, x in enumerate(label_names)]
