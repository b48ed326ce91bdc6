"""Generated NER data with known label errors, for demos and tests (no downloads).

:func:`make_ner_corpus` fills English sentence templates ("{PER} met {PER} in {LOC} on {DAY} .")
with PER / LOC / ORG / MISC names from pools (multi-token names such as "United Nations" or
"Rio de Janeiro" included) in BIO labels, injects realistic label errors and simulates
out-of-sample probabilities of an imperfect model. The errors are mostly missed entities, then
plausible type confusions (a company named after its city tagged LOC), boundary errors ("United"
for "United Nations", a title pulled into a name) and spurious entities (a weekday tagged MISC);
two names per corpus are mislabeled systematically, as an annotator's habit would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import _validation as v
from .scheme import make_tag

__all__ = ["CLASS_NAMES", "SyntheticCorpus", "make_ner_corpus"]

CLASS_NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]

# Name pools (invented or common names; several tokens where real names have them).
_FIRST = ("Anna John Maria Li Omar Sara Tom Aiko Peter Lena Ahmed Fatima Carlos Ingrid Kenji Amara "
          "David Elena Farid Grace Hiroshi Ines Jonas Kwame Laura Mateo Nadia Oscar Priya Rafael "
          "Sofia Tariq Ursula Viktor Wei Yusuf Zara Chloe Diego Mei").split()
_LAST = [s.split() for s in (
    "Schmidt|Garcia|Silva|Novak|Berg|Hardy|Okafor|Tanaka|Kowalski|Haddad|Moreau|Rossi|Jensen|"
    "Mensah|Petrov|Costa|Nguyen|Fischer|Ali|Larsen|Dubois|Santos|Ivanova|Kim|Patel|Sato|Romero|"
    "Weber|Lindqvist|Adeyemi|Horvat|Mendes|Yilmaz|Khan|Brennan|Castillo|Olsen|Park|da Costa|"
    "van Dijk|de la Cruz").split("|")]
_POOLS = {slot: [s.split() for s in names.split("|")] for slot, names in {
    "LOC": "Paris|New York|Berlin|Lake Geneva|Tokyo|Lagos|Rio de Janeiro|Oslo|Cairo|San Diego|"
           "Nairobi|Lisbon|Madrid|Toronto|Mumbai|Seoul|Lima|Hamburg|Vienna|Istanbul|Sydney|"
           "Buenos Aires|Cape Town|Hong Kong|Los Angeles|Kenya|Brazil|Norway|Japan|Egypt|Canada|"
           "Germany|France|India|South Africa|New Zealand|Bavaria|Scotland|Siberia|Port of Spain|"
           "Kuala Lumpur|Sao Paulo|Mexico City|Addis Ababa|Ho Chi Minh City",
    "ORG": "United Nations|Red Cross|Siemens|Acme Corp|Globex|Initech|Nordbank|FIFA|World Bank|"
           "European Union|Open Labs|Reuters|Interpol|UNESCO|NATO|Greenpeace|Amazon|Toyota|"
           "Deutsche Bahn|Oxford University|Lagos Telecom|Tokyo Motors|Berlin Water|Cairo Airlines|"
           "Oslo Energy|Lisbon Airways|Geneva Bank|Toronto Star|Madrid Metro|Seoul Electronics|"
           "Vienna Insurance|Hamburg Port Authority|Bank of Kenya|Real Madrid|"
           "Norway Post|Nile Foods|Stellar Systems|Bluewave Media|Harbor Health|Quanta Labs|"
           "Northwind Traders|Summit Group|Medina Logistics|Kestrel Analytics",
    "NAT": "French|German|Brazilian|Japanese|Kenyan|Norwegian|Egyptian|Canadian|Indian|Spanish|"
           "Korean|Nigerian|Italian|Turkish|Peruvian|Austrian|Scottish|Portuguese",
    "EVENT": "World Cup|Olympics|Nobel Prize|Tour de France|Oscars|Grammy Awards|Champions League|"
             "Cannes Film Festival|Paris Motor Show|Berlin Marathon|Tokyo Games|Lagos Jazz Festival|"
             "Davos Forum|Wimbledon",
    "HOLIDAY": "Easter|Ramadan|Christmas|Diwali|Hanukkah|Eid|Thanksgiving|Lunar New Year",
    "PRODUCT": "Linux|Windows|Python|Android|Excel|PlayStation|Boeing 747|Airbus A320|Firefox|"
               "Photoshop|Skype|WhatsApp",
}.items()}
_TYPE_OF_SLOT = {"PER": "PER", "LOC": "LOC", "ORG": "ORG", "NAT": "MISC", "EVENT": "MISC",
                 "HOLIDAY": "MISC", "PRODUCT": "MISC"}
_FILL = {"DAY": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
         "MONTH": ("January February March April May June July August September October November "
                   "December").split(),
         "NUM": "two three five 12 15 20 40 120 300 1,500".split(),
         "YEAR": [str(y) for y in range(1998, 2025)]}
# Sentence templates: {SLOT} is an entity (or a day, month, number, year); [a|b|c] picks one.
_TEMPLATES = (
    "{PER} met {PER} in {LOC} on {DAY} .",
    "{ORG} opened an office in {LOC} [last week|on {DAY}|in {MONTH}] .",
    "{PER} , a [spokesman|spokeswoman] for {ORG} , said the talks would resume on {DAY} .",
    "The {NAT} government [said|announced] it would [send|give] {NUM} million dollars to {LOC} .",
    "{PER} won the {EVENT} in {YEAR} .",
    "Shares in {ORG} [rose|fell] {NUM} percent on {DAY} after the company reported [higher|lower] profits .",
    "{PER} [moved|returned] to {LOC} [after|before] the {EVENT} .",
    "[Officials|Police|Residents] in {LOC} said {NUM} people were [injured|evacuated] .",
    "{ORG} [signed|agreed] a deal with {ORG} worth {NUM} million euros .",
    "{PER} told reporters in {LOC} that {ORG} would [cut|add] {NUM} jobs .",
    "The {EVENT} will be held in {LOC} in {YEAR} .",
    "{PER} [joined|left] {ORG} in {MONTH} [last year|{YEAR}] .",
    "{PER} is [the|a] [chief executive|director|founder] of {ORG} .",
    "[Flights|Trains] between {LOC} and {LOC} were cancelled on {DAY} .",
    "{NAT} [fans|voters|farmers] [gathered|protested] in {LOC} on {DAY} .",
    "{ORG} [released|launched] a new version of {PRODUCT} [this week|on {DAY}] .",
    "{PER} and {PER} [celebrated|spent] {HOLIDAY} in {LOC} .",
    "President {PER} arrived in {LOC} for talks with {ORG} .",
    "Dr {PER} [of|from] {ORG} [led|presented] the study .",
    "A [storm|flood|fire] [hit|struck] {LOC} on {DAY} , according to {ORG} .",
    "{PER} [wrote|published] a book about {LOC} .",
    "{ORG} [will|plans to] build a factory near {LOC} .",
    "Prices in {LOC} rose {NUM} percent in {MONTH} , {ORG} said .",
    "{PER} , who [grew up|lives] in {LOC} , [plays|played] for {ORG} .",
    "The {NAT} [team|squad] [arrived|trained] in {LOC} ahead of the {EVENT} .",
    "{PER} [said|says] {PRODUCT} [is|was] [easy|hard] to use .",
    "Thousands of people [watched|attended] the {EVENT} in {LOC} .",
    "{ORG} [moved|will move] its headquarters from {LOC} to {LOC} .",
    "{PER} [visited|toured] {LOC} and {LOC} [last year|in {YEAR}] .",
    "On {DAY} , {PER} [announced|confirmed] plans to leave {ORG} .",
    "{ORG} [sued|took] {ORG} [over|to court over] [unpaid taxes|a contract dispute] .",
    "{PER} has [worked|lived] in {LOC} since {YEAR} .",
    "The museum in {LOC} [will open|reopened] after {HOLIDAY} .",
    "{PER} [thanked|criticised] {ORG} for its [support|response] .",
    "{ORG} said that {NUM} [tourists|students|workers] [arrived in|left] {LOC} in {MONTH} .",
    "{PER} [finished|came] [second|third] at the {EVENT} .",
    "[Heavy rain|Snow] [closed|blocked] roads [around|north of|south of] {LOC} .",
    "{PER} [bought|sold] a house in {LOC} for {NUM} million dollars .",
    "A {NAT} [court|judge] ordered {ORG} to pay {NUM} million euros .",
    "{PER} [spoke|lectured] at {ORG} in {LOC} on {DAY} .",
    "{ORG} and {ORG} announced a merger on {DAY} .",
    "{PER} is [expected|due] to [visit|arrive in] {LOC} [next week|on {DAY}|in {MONTH}] .",
    "The {NAT} [minister|ambassador] met {PER} in {LOC} .",
    "{PER} [uses|switched to] {PRODUCT} [at work|at home] .",
    "Tickets for the {EVENT} [sold out|went on sale] on {DAY} .",
    "{PER} [trained|studied] in {LOC} before [joining|founding] {ORG} .",
    "Workers at {ORG} in {LOC} went on strike on {DAY} .",
    "{LOC} [is|was] [hosting|preparing for] the {EVENT} .",
    "[Most|Many] {NAT} [families|shops] [close|open] [early|late] during {HOLIDAY} .",
    "{PER} said the [team|company|city] would [recover|grow] .",
    "{ORG} [appointed|named] {PER} as [its|a] new [director|coach|editor] .",
    "{PER} [flew|drove|travelled] from {LOC} to {LOC} on {DAY} .",
    "An [earthquake|explosion] near {LOC} [killed|injured] {NUM} people , {ORG} said .",
    "{PER} , 34 , [lives|works] in {LOC} .",
    "A {ORG} [report|survey] [covered|named] {NUM} [cities|countries] , including {LOC} .",
    "{PER} [praised|met] the {NAT} [prime minister|foreign minister] in {LOC} .",
    "{ORG} [opened|closed] [its|a] [store|branch|factory] in {LOC} [last month|in {MONTH}] .",
    "After the {EVENT} , {PER} [returned|went back] to {LOC} .",
    "Early on {DAY} , {ORG} [confirmed|denied] the [reports|rumours] .",
    "{PER} was born in {LOC} in {YEAR} .",
    "Police in {LOC} arrested {NUM} [men|people] on {DAY} .",
    "{ORG} [sponsors|sponsored] the {EVENT} .",
    "{PER} [celebrated|marked] {HOLIDAY} with [friends|family] in {LOC} .",
    "{PER} 's [new|latest] [film|album|book] [opens|comes out] in {LOC} on {DAY} .",
    "[Engineers|Researchers] at {ORG} tested {PRODUCT} in {LOC} .",
    "The meeting was [postponed|moved] to {DAY} .",
    "Prices rose {NUM} percent in {MONTH} .",
    "[It|This] was the [coldest|wettest] {MONTH} since {YEAR} .",
)
# Capitalised words outside entities that annotators tag by mistake, and the type they give them.
_SPURIOUS_TYPE = (dict.fromkeys(_FILL["DAY"] + _FILL["MONTH"], "MISC")
                  | {"President": "PER", "Dr": "PER", "Police": "ORG"})
# Plausible type confusions: (wrong type, weight) per slot.
_CONFUSIONS = {"PER": (("ORG", 6), ("LOC", 3), ("MISC", 1)),
               "LOC": (("ORG", 7), ("MISC", 2), ("PER", 1)),
               "ORG": (("LOC", 4), ("MISC", 4), ("PER", 2)),
               "NAT": (("LOC", 7), ("ORG", 3)), "EVENT": (("ORG", 6), ("LOC", 4)),
               "HOLIDAY": (("ORG", 1), ("LOC", 1)), "PRODUCT": (("ORG", 9), ("PER", 1))}
_KINDS = (("missing", 40), ("wrong_type", 25), ("boundary", 25), ("spurious", 10))
_PLACE_WORDS = {w for name in _POOLS["LOC"] for w in name if w[0].isupper()}
_TYPES = ["PER", "LOC", "ORG", "MISC"]


def _parse(template: str) -> list:
    """A template as words, ``("slot", NAME)`` and ``("choice", [alternatives])``."""
    parts = []
    for piece in re.findall(r"\[[^\]]*\]|\S+", template):
        if piece.startswith("["):
            parts.append(("choice", [_parse(alt) for alt in piece[1:-1].split("|")]))
        elif piece.startswith("{"):
            parts.append(("slot", piece[1:-1]))
        else:
            parts.append(piece)
    return parts


_PARSED = [_parse(t) for t in _TEMPLATES]


@dataclass
class SyntheticCorpus:
    """Tokens, given (noisy) and true labels as class indices, and simulated pred_probs."""

    tokens: list[list[str]]
    labels: list[list[int]]
    true_labels: list[list[int]]
    pred_probs: list[np.ndarray]
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    errors: list[tuple[int, str]] = field(default_factory=list)  # (sentence, kind)

    @property
    def error_tokens(self) -> set[tuple[int, int]]:
        """(sentence, token) pairs whose given label differs from the true one."""
        return {(i, j) for i, (g, t) in enumerate(zip(self.labels, self.true_labels))
                for j, (a, b) in enumerate(zip(g, t)) if a != b}


def _label(typ: str, position: int) -> int:
    return CLASS_NAMES.index(make_tag("B" if position == 0 else "I", typ))


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _weighted(rng, pairs):
    """One of ``(value, weight)`` pairs, drawn by weight."""
    weights = np.array([w for _, w in pairs], dtype=float)
    return pairs[int(rng.choice(len(pairs), p=weights / weights.sum()))][0]


def _mention(rng, slot: str) -> list[str]:
    if slot != "PER":
        return list(_pick(rng, _POOLS[slot]))
    form = rng.random()
    if form < 0.65:
        return [_pick(rng, _FIRST)] + _pick(rng, _LAST)  # full name
    return [_pick(rng, _FIRST)] if form < 0.8 else list(_pick(rng, _LAST))


def _fill(rng, parts, words, labels, spans) -> None:
    """Expand parsed template ``parts`` onto ``words`` / ``labels``; entities go to ``spans``."""
    for part in parts:
        if isinstance(part, str):
            words.append(part)
            labels.append(0)
        elif part[0] == "choice":
            _fill(rng, _pick(rng, part[1]), words, labels, spans)
        elif part[1] in _FILL:
            words.append(_pick(rng, _FILL[part[1]]))
            labels.append(0)
        else:
            slot, typ = part[1], _TYPE_OF_SLOT[part[1]]
            used = [words[s:e] for s, e, _, _ in spans]
            mention = _mention(rng, slot)
            for _ in range(5):  # no one meets themselves
                if mention not in used:
                    break
                mention = _mention(rng, slot)
            spans.append((len(words), len(words) + len(mention), typ, slot))
            words += mention
            labels += [_label(typ, p) for p in range(len(mention))]


def _boundary_error(rng, words, given, start, end, typ, slot) -> bool:
    """Shift one edge of the entity at ``start:end`` by a token; False if none fits."""
    options = []
    if end - start > 1:
        options += ["drop_last", "drop_last"]  # "United" for "United Nations"
        if words[start + 1][:1].isupper():
            options.append("drop_first")  # "York" for "New York"
    before = words[start - 1] if start > 0 and given[start - 1] == 0 else None
    if before in ("President", "Dr") or (before == "the" and slot in ("ORG", "EVENT")):
        options.append("add_previous")  # "President Anna Berg", "the United Nations"
    if (end < len(words) - 1 and given[end] == 0
            and (words[end] == "'s" or (slot == "NAT" and words[end][:1].islower()))):
        options.append("add_next")  # "Anna Berg 's", "French government"
    if not options:
        return False
    option = _pick(rng, options)
    if option == "drop_last":
        given[end - 1] = 0
    elif option == "drop_first":
        given[start], given[start + 1] = 0, _label(typ, 0)
    elif option == "add_previous":
        given[start - 1], given[start] = _label(typ, 0), _label(typ, 1)
    else:
        given[end] = _label(typ, 1)
    return True


def _wrong_type(rng, words, slot) -> str:
    if slot == "ORG" and _PLACE_WORDS.intersection(words):
        return "LOC"  # "Tokyo Motors", "Bank of Kenya" tagged as the place
    return _weighted(rng, _CONFUSIONS[slot])


def make_ner_corpus(n_sentences: int = 500, *, error_rate: float = 0.05, model_error: float = 0.03,
                    seed: int = 0) -> SyntheticCorpus:
    """A corpus of ``n_sentences`` with label errors in about ``error_rate`` of the entities.

    ``model_error`` is the share of tokens where the simulated model itself is wrong.

    Examples
    --------
    >>> corpus = make_ner_corpus(50, seed=1)
    >>> len(corpus.tokens), len(corpus.pred_probs[0]) == len(corpus.tokens[0])
    (50, True)
    """
    func = "make_ner_corpus"
    v.check_number(n_sentences, "n_sentences", func, integer=True, low=1)
    v.check_number(error_rate, "error_rate", func, low=0, high=1)
    v.check_number(model_error, "model_error", func, low=0, high=1)
    v.check_number(seed, "seed", func, integer=True, low=0)
    rng = np.random.default_rng(seed)
    K = len(CLASS_NAMES)
    tokens, truth, entity_spans = [], [], []
    for _ in range(n_sentences):
        words, labels, spans = [], [], []
        _fill(rng, _pick(rng, _PARSED), words, labels, spans)
        words[0] = words[0][:1].upper() + words[0][1:]  # "De la Cruz met ..."
        tokens.append(words)
        truth.append(labels)
        entity_spans.append(spans)

    given = [list(s) for s in truth]
    errors = []
    # An annotator's habits: one company named after a place tagged as the place, one
    # nationality never tagged; each mention of them is wrong with a much higher probability.
    place_orgs = [m for m in _POOLS["ORG"] if _PLACE_WORDS.intersection(m)]
    habits = {("ORG", tuple(_pick(rng, place_orgs))): "wrong_type",
              ("NAT", tuple(_pick(rng, _POOLS["NAT"]))): "missing"}
    habit_rate = min(0.6, 8 * error_rate)
    for i, spans in enumerate(entity_spans):
        words, labels = tokens[i], given[i]
        for start, end, typ, slot in spans:
            habit = habits.get((slot, tuple(words[start:end])))
            if habit is not None:
                if rng.random() >= habit_rate:
                    continue
                kind = habit
            elif rng.random() >= error_rate:
                continue
            else:
                kind = _weighted(rng, _KINDS)
            if kind == "boundary" and not _boundary_error(rng, words, labels, start, end, typ, slot):
                kind = "missing"
            if kind == "spurious":
                outside = [j for j, w in enumerate(words) if labels[j] == 0 and w in _SPURIOUS_TYPE]
                if outside:
                    j = _pick(rng, outside)  # "Monday" tagged MISC, "President" tagged PER
                    labels[j] = _label(_SPURIOUS_TYPE[words[j]], 0)
                else:
                    kind = "missing"
            if kind == "missing":
                labels[start:end] = [0] * (end - start)
            elif kind == "wrong_type":
                other = _wrong_type(rng, words[start:end], slot)
                labels[start:end] = [_label(other, p) for p in range(end - start)]
            errors.append((i, kind))

    pred_probs = []
    for labels in truth:
        n = len(labels)
        peak = np.array(labels)
        wrong = rng.random(n) < model_error
        peak[wrong] = rng.integers(0, K, int(wrong.sum()))
        alpha = np.full((n, K), 0.2)
        alpha[np.arange(n), peak] += np.where(wrong, rng.uniform(1, 3, n), rng.uniform(4, 12, n))
        # A model's own mistakes are less sure: the true class keeps some of the mass.
        alpha[np.arange(n)[wrong], np.array(labels)[wrong]] += rng.uniform(1, 3, int(wrong.sum()))
        probs = rng.standard_gamma(alpha)
        pred_probs.append(probs / probs.sum(axis=1, keepdims=True))
    return SyntheticCorpus(tokens, given, truth, pred_probs, errors=errors)
