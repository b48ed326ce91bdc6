"""The one tagging-scheme parser: tags, entity types, schemes, decoding and merging columns."""

import numpy as np
import pytest

from tokenlq import model
from tokenlq.scheme import (Prefix, decode, entity_type, entity_types, make_tag, merge_classes,
                            merge_subwords, ordered_classes, parse_classes, split_tag)


@pytest.mark.parametrize("tag, prefix, typ", [
    ("B-PER", "B", "PER"), ("I-LOC", "I", "LOC"), ("S-X-Y", "S", "X-Y"), ("O", "", "O"),
    ("PER", "", "PER"), ("B-", "", "B-"), ("BX-PER", "", "BX-PER"),
])
def test_split_tag_and_make_tag_are_inverse(tag, prefix, typ):
    assert split_tag(tag) == (prefix, typ)
    assert entity_type(tag) == typ
    assert make_tag(prefix, typ) == tag


def test_entity_types_index_every_class():
    types, index = entity_types(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    assert types == ["O", "PER", "LOC"] and index.tolist() == [0, 1, 1, 2, 2]


def test_ordered_classes_put_o_first_and_group_each_type():
    assert ordered_classes({"I-PER", "S-PER", "B-PER", "E-PER", "B-LOC", "misc"}) == [
        "O", "B-LOC", "B-PER", "I-PER", "E-PER", "S-PER", "misc"]
    assert ordered_classes([]) == ["O"]


@pytest.mark.parametrize("names, scheme, types", [
    (["O", "B-PER", "I-PER"], "BIO", ["PER"]),
    (["O", "B-PER", "I-PER", "E-PER", "S-LOC"], "BIOES", ["PER", "LOC"]),
    (["O", "U-PER", "L-PER", "B-PER"], "BIOES", ["PER"]),
    (["O", "PER", "LOC"], "IO", ["PER", "LOC"]),
    (["O", "B-PER", "LOC"], "IO", ["B-PER", "LOC"]),  # not every name prefixed: IO
])
def test_the_scheme_is_read_from_the_names(names, scheme, types):
    classes = parse_classes(names)
    assert classes.scheme == scheme and classes.types == types
    assert classes.prefixes[names.index("O")] == Prefix.OUTSIDE
    assert classes.type_of[names.index("O")] == -1


@pytest.mark.parametrize("names, scheme, message", [
    (["O", "PER"], "BIO", "does not follow the BIO scheme"),
    (["O", "S-PER"], "BIO", "is not valid in the BIO scheme"),
    (None, "auto", "'class_names' is required"),
    (["O"], "BILOU", "'scheme' parameter of decode_spans must be one of"),
])
def test_unreadable_names_are_refused_naming_the_function(names, scheme, message):
    with pytest.raises(ValueError, match=message):
        parse_classes(names, scheme=scheme, func="decode_spans")


def test_decode_is_lenient_as_conlleval():
    names = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC"]
    tags = ["I-PER", "I-PER", "O", "B-PER", "B-PER", "I-LOC", "S-PER", "I-PER", "E-PER", "I-PER"]
    labels = np.array([names.index(t) for t in tags])
    starts, ends, types = decode(labels, np.array([0, 7, 10]), parse_classes(names))
    assert list(zip(starts.tolist(), ends.tolist())) == [(0, 2), (3, 4), (4, 5), (5, 6), (6, 7),
                                                         (7, 9), (9, 10)]
    assert types.tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_merge_classes_by_type_or_by_mapping():
    probs = np.array([[.1, .2, .3, .4]])
    names = ["O", "B-PER", "I-PER", "B-LOC"]
    merged, types = merge_classes(probs, names)
    assert types == ["O", "PER", "LOC"]
    np.testing.assert_allclose(merged, [[.1, .5, .4]])
    merged, coarse = merge_classes(probs, names, {"B-LOC": "PER"})
    assert coarse == ["O", "B-PER", "I-PER", "PER"]
    np.testing.assert_allclose(merged, probs)
    assert merge_classes(probs, names, {})[1] == types  # an empty mapping: the default


def test_merge_subwords_mean_and_first():
    rows = np.array([[.9, .1], [.5, .5], [.7, .3], [.2, .8]])
    np.testing.assert_allclose(merge_subwords(rows, [None, 0, 0, 1]), [[.6, .4], [.2, .8]])
    np.testing.assert_allclose(merge_subwords(rows, [-1, 0, 0, 1], how="first"),
                               [[.5, .5], [.2, .8]])
    with pytest.raises(ValueError, match="one word per row"):
        merge_subwords(rows, [0, 1])


def test_the_model_module_keeps_its_documented_names():
    assert model.merge_classes is merge_classes and model.merge_subwords is merge_subwords
