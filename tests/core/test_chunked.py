"""Out-of-core scoring and issue finding: identical to the in-memory functions, whatever the
chunk size, from arrays, memory-mapped files, .npy paths and on a local Dask cluster."""

import types

import numpy as np
import pytest

from tokenlq import find_label_issues, get_label_quality_scores
from tokenlq.chunked import find_label_issues_chunked, label_quality_scores_chunked


def corpus(n_sentences=3000, K=9, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, n_sentences)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    n = int(offsets[-1])
    truth = rng.choice(K, size=n, p=[0.6] + [0.4 / (K - 1)] * (K - 1))
    labels = np.where(rng.random(n) < 0.08, rng.integers(0, K, n), truth)
    probs = rng.dirichlet(np.full(K, 0.3), size=n)
    probs[np.arange(n), truth] += rng.uniform(0.5, 3, n)
    probs /= probs.sum(axis=1, keepdims=True)
    probs = probs.astype(dtype)
    if dtype == np.float32:
        probs /= probs.sum(axis=1, keepdims=True)
    return labels, probs, offsets


def expected_issues(labels, probs, offsets, renormalize=False):
    pairs = find_label_issues(labels, probs, offsets, renormalize=renormalize)
    return np.array([offsets[i] + j for i, j in pairs], dtype=np.int64)


@pytest.mark.parametrize("chunk", [50, 997, 10_000_000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_identical_to_the_in_memory_functions(chunk, dtype):
    labels, probs, offsets = corpus(dtype=dtype)
    issues = find_label_issues_chunked(labels, probs, offsets, chunk_tokens=chunk, renormalize=True)
    np.testing.assert_array_equal(issues, expected_issues(labels, probs, offsets, renormalize=True))
    assert len(issues) > 100
    for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        for sentence_method in ("min", "softmin"):
            options = {"token_score_method": method, "sentence_score_method": sentence_method}
            expected, tokens = get_label_quality_scores(labels, probs, offsets, **options)
            out = np.zeros(len(labels))
            got = label_quality_scores_chunked(labels, probs, offsets, chunk_tokens=chunk,
                                               token_scores_out=out, **options)
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(out, tokens.flat)


def test_from_npy_files_and_memory_maps(tmp_path):
    labels, probs, offsets = corpus(seed=1, dtype=np.float32)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "probs.npy", probs)
    expected = expected_issues(labels, probs, offsets)
    paths = (str(tmp_path / "labels.npy"), str(tmp_path / "probs.npy"))
    np.testing.assert_array_equal(find_label_issues_chunked(*paths, offsets, chunk_tokens=777), expected)
    mapped = (np.load(paths[0], mmap_mode="r"), np.load(paths[1], mmap_mode="r"))
    np.testing.assert_array_equal(find_label_issues_chunked(*mapped, offsets, chunk_tokens=777), expected)
    scores = label_quality_scores_chunked(*paths, offsets, chunk_tokens=777,
                                          token_scores_out=str(tmp_path / "tokens.npy"))
    sentence, tokens = get_label_quality_scores(labels, probs, offsets)
    np.testing.assert_array_equal(scores, sentence)
    np.testing.assert_array_equal(np.load(tmp_path / "tokens.npy"), tokens.flat)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_headers_are_read_with_numpys_public_api(tmp_path, monkeypatch, version):
    # numpy 2.4's np.lib.format keeps only its public names (the private _read_array_header
    # is gone): every header version numpy writes must be read with those alone, whichever
    # numpy runs the test.
    labels, probs, offsets = corpus(n_sentences=200, seed=2)
    paths = [tmp_path / "labels.npy", tmp_path / "probs.npy"]
    for path, array in zip(paths, (labels, probs)):
        with open(path, "wb") as f:
            np.lib.format.write_array(f, array, version=version)
    public = {name: value for name, value in vars(np.lib.format).items() if not name.startswith("_")}
    monkeypatch.setattr(np.lib, "format", types.SimpleNamespace(**public))
    np.testing.assert_array_equal(find_label_issues_chunked(*paths, offsets, chunk_tokens=500),
                                  expected_issues(labels, probs, offsets))


def test_on_a_local_dask_cluster(tmp_path):
    import distributed  # dask[distributed], a test extra
    labels, probs, offsets = corpus(seed=2)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "probs.npy", probs)
    paths = (str(tmp_path / "labels.npy"), str(tmp_path / "probs.npy"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        executor = client.get_executor()
        issues = find_label_issues_chunked(*paths, offsets, chunk_tokens=5000, executor=executor)
        scores = label_quality_scores_chunked(*paths, offsets, chunk_tokens=5000, executor=executor)
        assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_array_equal(issues, expected_issues(labels, probs, offsets))
    np.testing.assert_array_equal(scores, get_label_quality_scores(labels, probs, offsets)[0])


def test_bad_rows_in_a_chunk_are_reported_as_in_memory():
    labels, probs, offsets = corpus(n_sentences=50)
    probs = probs.copy()
    probs[40, 2] = np.nan
    with pytest.raises(ValueError, match=r"must be finite; sentence \d+, token \d+ has nan.*count "
                                         r"from sentence \d+, where this chunk starts"):
        find_label_issues_chunked(labels, probs, offsets, chunk_tokens=100)
