"""Every check on user input, in one place.

Public functions call :func:`check_token_data` (data) and the ``check_*`` option helpers on entry;
the private kernels they hand the result to assume valid input and never check again.
Messages name the function and the parameter, say what was expected and what was passed, and
point at the first bad sentence and token where the problem is in the data.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from typing import NamedTuple

import numpy as np

from . import _kernels

__all__ = ["MissingExtraError", "TokenLQInputError", "TokenLQWarning", "TokenData",
           "check_token_data"]

#: Probabilities may stray this far outside [0, 1] (float rounding); such values are clipped.
PROB_TOLERANCE = 1e-6
#: Rows of ``pred_probs`` must sum to 1 within this tolerance unless ``renormalize=True``.
ROW_SUM_TOLERANCE = 1e-3


class TokenLQWarning(UserWarning):
    """A result is computable but may not mean much (one class only, a class too small to prune)."""


class TokenLQInputError(ValueError, TypeError):
    """Bad input: data, a file or a parameter value the caller can fix.

    Every check of tokenlq raises it, and nothing else does: an exception of another class is a
    bug of tokenlq, not the caller's fault. It is a :class:`ValueError` (the type cleanlab and
    earlier tokenlq raised) and, like scikit-learn's ``InvalidParameterError``, also a
    :class:`TypeError`, so ``except ValueError`` and ``except TypeError`` clauses written for
    either kind of check keep catching it.

    With ``parameter``, ``reason`` and ``accepted`` a caller that exposes the parameter under
    another name (the command line's ``--folds``) can say what to do in its own terms.

    Parameters
    ----------
    message : str
        The whole message: where (function and parameter, or file and line), what is expected,
        what was given, how to fix it.
    parameter : str, optional
        The parameter to blame, when one is.
    reason : str, optional
        The problem in words that name neither the function nor the parameter, e.g.
        ``"2 sentences cannot make 5 folds"``.
    accepted : str, optional
        The values that would work, to follow "use <parameter>", e.g. ``"2 or fewer"``.

    Examples
    --------
    >>> err = TokenLQInputError("f: 2 sentences cannot make 5 folds; pass folds=2 or fewer.",
    ...                         parameter="folds", reason="2 sentences cannot make 5 folds",
    ...                         accepted="2 or fewer")
    >>> isinstance(err, ValueError), f"{err.reason}; use --{err.parameter} {err.accepted}"
    (True, '2 sentences cannot make 5 folds; use --folds 2 or fewer')
    """

    def __init__(self, message: str, *, parameter: str | None = None, reason: str | None = None,
                 accepted: str | None = None):
        super().__init__(message)
        self.parameter, self.reason, self.accepted = parameter, reason, accepted


class MissingExtraError(TokenLQInputError, ImportError):
    """What was asked for needs an optional extra that is not installed; the message gives the
    ``pip install`` command. Also an :class:`ImportError`, so ``except ImportError`` catches it."""


def parameter_error(func: str, parameter: str, reason: str, accepted: str) -> TokenLQInputError:
    """The input error of one parameter: ``"{func}: {reason}; pass {parameter}={accepted}."``

    >>> str(parameter_error("cross_val_pred_probs", "folds", "2 sentences cannot make 5 folds",
    ...                     "2 or fewer"))
    'cross_val_pred_probs: 2 sentences cannot make 5 folds; pass folds=2 or fewer.'
    """
    return TokenLQInputError(f"{func}: {reason}; pass {parameter}={accepted}.", parameter=parameter,
                             reason=reason, accepted=accepted)


class TokenData(NamedTuple):
    """The one internal shape of token data: checked, flat and aligned.

    labels : int64 (n,); pred_probs : float (n, K), dtype of the input kept (float32 or float64),
    or None when the caller asked only for self-confidence; offsets : int64 (N+1,),
    offsets[0] = 0, non-decreasing, offsets[-1] = n; self_confidence : (n,) P[f, y_f] in [0, 1],
    gathered during validation; n_classes : K.
    """

    labels: np.ndarray
    pred_probs: np.ndarray | None
    offsets: np.ndarray
    self_confidence: np.ndarray
    n_classes: int

    @property
    def n_tokens(self) -> int:
        return len(self.labels)

    @property
    def n_sentences(self) -> int:
        return len(self.offsets) - 1


def locate(offsets: np.ndarray, flat_index: int) -> tuple[int, int]:
    """Sentence i and token j of flat token index f."""
    i = int(np.searchsorted(offsets, flat_index, side="right")) - 1
    return i, int(flat_index - offsets[i])


def _where(offsets: np.ndarray, flat_index: int) -> str:
    i, j = locate(offsets, flat_index)
    return f"sentence {i}, token {j}"


# --------------------------------------------------------------------------- options


def check_option(value, name: str, allowed, func: str):
    """Raise TokenLQInputError unless ``value`` is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise TokenLQInputError(
            f"The '{name}' parameter of {func} must be one of {choices}; got {value!r}.",
            parameter=name, reason=f"{value!r} is not a choice", accepted=f"one of {choices}")
    return value


def check_bool(value, name: str, func: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TokenLQInputError(f"The '{name}' parameter of {func} must be a bool; got {value!r}.",
                                parameter=name)
    return bool(value)


def check_number(value, name: str, func: str, *, low=None, high=None, integer=False,
                 allow_inf=False, low_open=False):
    """Raise TokenLQInputError for a non-number or a number out of range."""
    kind = numbers.Integral if integer else numbers.Real

    def fail(must: str, problem: str, accepted: str):
        raise TokenLQInputError(f"The '{name}' parameter of {func} must be {must}; got {value!r}.",
                                parameter=name, reason=f"{name} {value!r} {problem}",
                                accepted=accepted)

    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        fail(what, f"is not {what}", f"with {what}")
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        fail("finite", "is not finite", "with a finite value")
    if low is not None and (value < low or (low_open and value == low)):
        if low_open:
            fail(f"> {low}", f"is not above {low}", f"above {low}")
        fail(f">= {low}", f"is below {low}", f"{low} or more")
    if high is not None and value > high:
        fail(f"<= {high}", f"is above {high}", f"{high} or less")
    return value


def check_temperature(temperature, sentence_score_kwargs, func: str) -> float:
    """Merge the plain ``temperature`` keyword with cleanlab's ``sentence_score_kwargs``."""
    if sentence_score_kwargs is not None:
        if not isinstance(sentence_score_kwargs, dict):
            raise TokenLQInputError(
                f"The 'sentence_score_kwargs' parameter of {func} must be a dict or None; "
                f"got {type(sentence_score_kwargs).__name__}.", parameter="sentence_score_kwargs"
            )
        unknown = sorted(set(sentence_score_kwargs) - {"temperature"})
        if unknown:
            raise TokenLQInputError(
                f"The 'sentence_score_kwargs' parameter of {func} accepts only the key "
                f"'temperature'; got unknown key(s) {unknown}.", parameter="sentence_score_kwargs"
            )
        if "temperature" in sentence_score_kwargs:
            if temperature is not None:
                raise TokenLQInputError(
                    f"{func}: give the temperature either as 'temperature=' or inside "
                    "'sentence_score_kwargs', not both."
                )
            temperature = sentence_score_kwargs["temperature"]
    if temperature is None:
        return 0.05
    check_number(temperature, "temperature", func, low=0, allow_inf=True)
    return float(temperature)


def check_tokens(tokens, offsets: np.ndarray, func: str):
    """``tokens`` (None, or one sequence of words per sentence, as long as its labels)."""
    if tokens is None:
        return None
    if isinstance(tokens, str) or not hasattr(tokens, "__len__"):
        raise TokenLQInputError(f"{func}: 'tokens' must be a list of per-sentence token lists; "
                                f"got {type(tokens).__name__}.")
    if len(tokens) != len(offsets) - 1:
        raise TokenLQInputError(
            f"{func}: 'tokens' must have one entry per sentence ({len(offsets) - 1}); "
            f"got {len(tokens)}.")
    try:
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    except TypeError:
        i = next(i for i, s in enumerate(tokens) if not hasattr(s, "__len__"))
        raise TokenLQInputError(f"{func}: 'tokens' must be a list of per-sentence token lists; "
                                f"sentence {i} is {type(tokens[i]).__name__}.") from None
    bad = np.flatnonzero(lengths != np.diff(offsets))
    if bad.size:
        i = int(bad[0])
        raise TokenLQInputError(f"{func}: sentence {i} has {offsets[i + 1] - offsets[i]} labels "
                                f"but {lengths[i]} tokens.")
    return tokens


def check_class_names(class_names, n_classes: int | None, func: str):
    if class_names is None:
        return None
    names = [str(c) for c in class_names]
    if n_classes is not None and len(names) < n_classes:
        raise TokenLQInputError(
            f"The 'class_names' parameter of {func} must name all {n_classes} classes; "
            f"got {len(names)} names.", parameter="class_names"
        )
    return names


# --------------------------------------------------------------------------- data


def _fail(func: str, message: str):
    raise TokenLQInputError(f"{func}: {message}")


def _is_flat_labels(labels) -> bool:
    return isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype != object


def _flatten_labels(labels, func: str) -> tuple[np.ndarray, np.ndarray]:
    """Nested labels (list of per-sentence sequences, or a 2-D array) -> flat int64 + lengths."""
    if isinstance(labels, np.ndarray) and labels.ndim == 2 and labels.dtype != object:
        lengths = np.full(labels.shape[0], labels.shape[1], dtype=np.int64)
        return _check_label_dtype(labels.reshape(-1), func), lengths
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        _fail(func, f"'labels' must be a list of per-sentence label sequences; got {type(labels).__name__}.")
    try:
        lengths = np.fromiter(map(len, labels), dtype=np.int64, count=len(labels))
    except TypeError:
        bad = next(i for i, s in enumerate(labels) if not hasattr(s, "__len__") or isinstance(s, str))
        _fail(func, f"'labels' must be a list of per-sentence label sequences; sentence {bad} is "
                    f"{type(labels[bad]).__name__} {labels[bad]!r}.")
    if len(labels) and all(isinstance(s, np.ndarray) for s in labels):
        flat = np.concatenate([s.reshape(-1) for s in labels])
        if flat.dtype == object or flat.dtype.kind not in "iub":
            return _labels_from_python(labels, lengths, func), lengths
        return _check_label_dtype(flat, func), lengths
    return _labels_from_python(labels, lengths, func), lengths


def _labels_from_python(labels, lengths, func) -> np.ndarray:
    n = int(lengths.sum())
    flat = np.empty(n, dtype=np.int64)
    if isinstance(labels, list):
        try:
            bad = _kernels.labels_from_lists(labels, flat)
        except OverflowError:
            bad = 0
        if bad == -1:
            return flat
    # Not plain lists of ints (numpy scalars, tuples, or a bad item): the general path, which
    # names the first offending item.
    for i, sentence in enumerate(labels):
        for j, value in enumerate(sentence):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
                shown = repr(value) if isinstance(value, (str, bytes)) else str(value)
                _fail(func, f"labels must be integer class indices; sentence {i}, token {j} is "
                            f"{type(value).__name__} {shown}. Map label names to indices first "
                            "(see tokenlq.labels_to_indices).")
    try:
        return np.fromiter(itertools.chain.from_iterable(labels), dtype=np.int64, count=n)
    except (TypeError, ValueError, OverflowError):
        _fail(func, "labels could not be converted to 64-bit integers.")


def _check_label_dtype(flat: np.ndarray, func: str) -> np.ndarray:
    kind = flat.dtype.kind
    if kind == "b":
        _fail(func, "labels must be integer class indices; got a boolean array.")
    if kind not in "iu":
        if kind == "f" and flat.size and np.all(np.isfinite(flat)) and np.all(flat == np.round(flat)):
            hint = " (they are whole numbers: convert with labels.astype(int))"
        else:
            hint = ""
        what = {"U": "strings", "S": "bytes", "O": "objects", "f": "floats"}.get(kind, str(flat.dtype))
        _fail(func, f"labels must be integer class indices; got {what}{hint}.")
    return np.ascontiguousarray(flat, dtype=np.int64)


def _check_sentence_rows(pred_probs, lengths: np.ndarray, func: str) -> np.ndarray:
    """Rows of every per-sentence array of a nested pred_probs, checked against the labels."""
    if isinstance(pred_probs, (str, bytes)) or not hasattr(pred_probs, "__len__"):
        _fail(func, f"'pred_probs' must be a list of per-sentence (T_i, K) arrays; got "
                    f"{type(pred_probs).__name__}.")
    if len(pred_probs) != len(lengths):
        _fail(func, f"pred_probs and labels must have the same number of sentences; got "
                    f"{len(pred_probs)} and {len(lengths)}.")
    rows = np.fromiter(map(len, pred_probs), dtype=np.int64, count=len(pred_probs))
    bad = np.flatnonzero(rows != lengths)
    if bad.size:
        i = int(bad[0])
        _fail(func, f"sentence {i} has {lengths[i]} labels but pred_probs has {rows[i]} rows for it.")
    return rows


def _flatten_pred_probs(pred_probs, lengths: np.ndarray, func: str) -> np.ndarray:
    if isinstance(pred_probs, np.ndarray) and pred_probs.dtype != object:
        if pred_probs.ndim != 3:
            _fail(func, "with nested labels, 'pred_probs' must be a list of (T_i, K) arrays or a "
                        f"3-D array; got an array of shape {pred_probs.shape}. For flat input pass "
                        "offsets as well.")
        if pred_probs.shape[0] != len(lengths):
            _fail(func, f"pred_probs and labels must have the same number of sentences; got "
                        f"{pred_probs.shape[0]} and {len(lengths)}.")
        bad = np.flatnonzero(lengths != pred_probs.shape[1])
        if bad.size:
            i = int(bad[0])
            _fail(func, f"sentence {i} has {lengths[i]} labels but pred_probs has "
                        f"{pred_probs.shape[1]} rows for it.")
        return pred_probs.reshape(-1, pred_probs.shape[2])
    rows = _check_sentence_rows(pred_probs, lengths, func)
    if len(pred_probs) == 0:
        return np.empty((0, 0))
    # Empty sentences may come as arrays of any shape ((0,), (0, K), []): leave them out.
    parts = pred_probs if rows.min() > 0 else [p for p in pred_probs if len(p)]
    if not len(parts):
        return np.empty((0, 0))
    try:
        flat = np.concatenate(parts, axis=0)
    except ValueError:
        flat = None
    if flat is None or flat.ndim != 2:
        widths = [np.shape(p)[1] if np.ndim(p) == 2 else None for p in pred_probs]
        first = next((w for w in widths if w is not None), None)
        i = next(i for i, w in enumerate(widths) if w != first and len(pred_probs[i]))
        _fail(func, f"pred_probs[{i}] must have shape (T_{i}, K) with the same K as the other "
                    f"sentences; got shape {np.shape(pred_probs[i])} (K = {first} elsewhere).")
    return flat


def check_flat_labels(labels, offsets, func: str, *, n_classes: int | None = None):
    """Flat (n,) int64 class indices and their checked offsets; indices must be non-negative
    and, with ``n_classes``, below it."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        _fail(func, f"'labels' must be a flat (n,) array of class indices; got shape "
                    f"{labels.shape}, dtype {labels.dtype}.")
    labels = labels.astype(np.int64, copy=False)
    offsets = _check_offsets(offsets, len(labels), func)
    high = np.iinfo(np.int64).max if n_classes is None else n_classes
    if labels.size and (labels.min() < 0 or labels.max() >= high):
        f = int(np.flatnonzero((labels < 0) | (labels >= high))[0])
        bound = "non-negative" if n_classes is None else f"below {n_classes}"
        _fail(func, f"labels must be class indices {bound}; {_where(offsets, f)} has {labels[f]}.")
    return labels, offsets


def _check_offsets(offsets, n_tokens: int, func: str) -> np.ndarray:
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or offsets.size == 0:
        _fail(func, f"'offsets' must be a 1-D array of N+1 sentence boundaries; got shape {offsets.shape}.")
    if offsets.dtype.kind not in "iu":
        _fail(func, f"'offsets' must hold integers; got {offsets.dtype}.")
    offsets = offsets.astype(np.int64, copy=False)
    if offsets[0] != 0 or offsets[-1] != n_tokens:
        _fail(func, f"'offsets' must start at 0 and end at the number of tokens ({n_tokens}); "
                    f"got {offsets[0]} ... {offsets[-1]}.")
    steps = np.diff(offsets)
    if steps.size and steps.min() < 0:
        i = int(np.flatnonzero(steps < 0)[0])
        _fail(func, f"'offsets' must not decrease; offsets[{i + 1}] = {offsets[i + 1]} < "
                    f"offsets[{i}] = {offsets[i]}.")
    return offsets


def _check_prob_dtype(pred_probs, func: str) -> np.ndarray:
    pred_probs = np.asarray(pred_probs)
    kind = pred_probs.dtype.kind
    if kind == "f":
        if pred_probs.dtype.itemsize < 4:
            pred_probs = pred_probs.astype(np.float32)
    elif kind in "iub":
        pred_probs = pred_probs.astype(np.float64)
    else:
        _fail(func, f"pred_probs must hold numbers; got dtype {pred_probs.dtype}.")
    return pred_probs


def _check_scan(scan, pred_probs, offsets, func: str, renormalize: bool) -> str:
    """Judge the (all finite, negative count, min row sum, max row sum) of a kernel scan.

    ``pred_probs`` is a callable giving the flat array, needed only to locate a problem.
    Returns 'ok', or 'fix' when a copy must be made (negative values within the tolerance to
    clip, or rows to renormalize). Raises on NaN/inf, values outside [0, 1] beyond the
    tolerance and rows not summing to 1.
    """
    finite, negatives, s_lo, s_hi = scan
    if not finite:
        values = pred_probs()
        f, k = np.argwhere(~np.isfinite(values))[0]
        _fail(func, f"pred_probs must be finite; {_where(offsets, f)} has {values[f, k]} "
                    f"for class {k}.")
    # Values are looked at one by one only when something is off: with every value >= 0, none
    # exceeds its row sum, so the maximum matters only when a row sums to more than 1 + tolerance.
    lo = float(pred_probs().min()) if negatives else 0.0
    hi = float(pred_probs().max()) if s_hi > 1 + PROB_TOLERANCE else s_hi
    if lo < -PROB_TOLERANCE or hi > 1 + PROB_TOLERANCE:
        values = pred_probs()
        f, k = np.argwhere((values < -PROB_TOLERANCE) | (values > 1 + PROB_TOLERANCE))[0]
        _fail(func, f"pred_probs must lie in [0, 1] (tolerance {PROB_TOLERANCE:g}); "
                    f"{_where(offsets, f)} has {float(values[f, k])!r} for class {k}.")
    rows_off = s_lo < 1 - ROW_SUM_TOLERANCE or s_hi > 1 + ROW_SUM_TOLERANCE
    if rows_off and not renormalize:
        sums = pred_probs().sum(axis=1)
        f = int(np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)[0])
        _fail(func, f"each row of pred_probs must sum to 1 (tolerance {ROW_SUM_TOLERANCE:g}); "
                    f"the row of {_where(offsets, f)} sums to {sums[f]:.6g}. Pass renormalize=True "
                    "to divide every row by its sum.")
    return "fix" if negatives or (renormalize and rows_off) else "ok"


def _fixed(pred_probs: np.ndarray, offsets, func: str, renormalize: bool) -> np.ndarray:
    """The one corrected copy: negatives within tolerance clipped, rows renormalized on request."""
    fixed = np.clip(pred_probs, 0.0, None)
    if renormalize:
        sums = fixed.sum(axis=1, keepdims=True)
        if np.any(sums == 0):
            f = int(np.flatnonzero(sums[:, 0] == 0)[0])
            _fail(func, f"cannot renormalize pred_probs: the row of {_where(offsets, f)} is all zeros.")
        fixed /= sums
    return fixed


def _check_probabilities(pred_probs: np.ndarray, labels, offsets, func: str, renormalize: bool):
    """Validate flat pred_probs in one compiled pass that also gathers P[f, y_f].

    Returns (pred_probs or one corrected copy, self-confidence clipped to [0, 1]). Values above
    1 within the tolerance stay in pred_probs; every score that could see them is clipped.
    """
    pred_probs = np.ascontiguousarray(pred_probs)
    self_confidence = np.empty(len(labels), dtype=pred_probs.dtype)
    scan = _kernels.scan_gather(pred_probs, labels, self_confidence)
    if _check_scan(scan, lambda: pred_probs, offsets, func, renormalize) == "fix":
        pred_probs = _fixed(pred_probs, offsets, func, renormalize)
        _kernels.scan_gather(pred_probs, labels, self_confidence)
    return pred_probs, np.minimum(self_confidence, 1, out=self_confidence)


def _self_confidence_of_list(pred_probs, labels):
    """Self-confidence straight from a list of per-sentence arrays, or None to take the
    general path (irregular arrays, or probabilities that need a corrected copy)."""
    first = next((p for p in pred_probs if len(p)), None)
    if not isinstance(first, np.ndarray) or first.ndim != 2 or first.dtype not in \
            (np.float32, np.float64):
        return None
    K = first.shape[1]
    if K < 2 or int(labels.max()) >= K or int(labels.min()) < 0:
        return None
    self_confidence = np.empty(len(labels), dtype=first.dtype)
    scan = _kernels.scan_gather_list(pred_probs if isinstance(pred_probs, list) else list(pred_probs),
                                     labels, self_confidence, K)
    if scan is None:
        return None
    finite, negatives, s_lo, s_hi = scan
    if not finite or negatives or s_lo < 1 - ROW_SUM_TOLERANCE or s_hi > 1 + PROB_TOLERANCE:
        return None  # the general path reports the problem precisely (or makes the fixed copy)
    return np.minimum(self_confidence, 1, out=self_confidence), K


def check_token_data(labels, pred_probs, offsets=None, *, func: str, renormalize: bool = False,
                     need_pred_probs: bool = True) -> TokenData:
    """Validate and flatten token data once.

    Accepts the nested form (``labels`` a list of per-sentence sequences, ``pred_probs`` a list of
    (T_i, K) arrays or an (N, T, K) array) when ``offsets`` is None, and the flat form
    (``labels`` (n,), ``pred_probs`` (n, K), ``offsets`` (N+1,)) otherwise. With
    ``need_pred_probs=False`` a list of well-formed arrays is read in place, never
    concatenated, and the result carries only the self-confidence.
    """
    check_bool(renormalize, "renormalize", func)
    if offsets is None:
        if _is_flat_labels(labels):
            _fail(func, "got a flat 1-D labels array without offsets; pass offsets=(N+1,) "
                        "sentence boundaries, or nested per-sentence labels.")
        flat_labels, lengths = _flatten_labels(labels, func)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if not need_pred_probs and not isinstance(pred_probs, np.ndarray) and len(flat_labels):
            _check_sentence_rows(pred_probs, lengths, func)
            found = _self_confidence_of_list(pred_probs, flat_labels)
            if found is not None:
                return TokenData(flat_labels, None, offsets, found[0], found[1])
        flat_probs = _flatten_pred_probs(pred_probs, lengths, func)
    else:
        flat_labels = np.asarray(labels)
        if flat_labels.ndim != 1:
            _fail(func, f"with offsets, 'labels' must be a flat (n,) array; got shape {flat_labels.shape}.")
        flat_labels = _check_label_dtype(flat_labels, func) if flat_labels.size else \
            flat_labels.astype(np.int64)
        flat_probs = np.asarray(pred_probs)
        if flat_probs.ndim != 2:
            _fail(func, f"with offsets, 'pred_probs' must be a flat (n, K) array; got shape {flat_probs.shape}.")
        offsets = _check_offsets(offsets, len(flat_labels), func)
    flat_probs = _check_prob_dtype(flat_probs, func)
    n = len(flat_labels)
    if flat_probs.shape[0] != n:
        _fail(func, f"pred_probs and labels must describe the same tokens; got {flat_probs.shape[0]} "
                    f"rows of pred_probs and {n} labels.")
    if n == 0:
        K = flat_probs.shape[1] if flat_probs.ndim == 2 else 0
        return TokenData(flat_labels, flat_probs.reshape(0, K), offsets,
                         np.empty(0, dtype=flat_probs.dtype), K)
    K = flat_probs.shape[1]
    if K < 2:
        _fail(func, f"pred_probs must have at least 2 classes (columns); got {K}.")
    lo, hi = int(flat_labels.min()), int(flat_labels.max())
    if lo < 0:
        f = int(np.argmax(flat_labels < 0))
        _fail(func, f"labels must be non-negative class indices; {_where(offsets, f)} has {lo}.")
    if hi >= K:
        f = int(np.argmax(flat_labels >= K))
        _fail(func, f"labels must be < K = {K} (the number of pred_probs columns); "
                    f"{_where(offsets, f)} has {flat_labels[f]}.")
    flat_probs, self_confidence = _check_probabilities(flat_probs, flat_labels, offsets, func,
                                                       renormalize)
    return TokenData(flat_labels, flat_probs, offsets, self_confidence, K)


def warn(message: str) -> None:
    warnings.warn(message, TokenLQWarning, stacklevel=3)
