"""Official VQA v2 accuracy (GT-Vision-Lab VQA evaluator semantics) and the normalized exact match.

The scoring reproduces ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` of the official VQA repository,
quirks included:

* the prediction and every ground-truth answer get newlines/tabs turned into spaces and are stripped;
* normalization (punctuation, then lowercase / number words / articles / contractions) is applied to the
  prediction and the answers only when the answers are not all identical after that clean-up;
* a punctuation character is deleted when it touches a space anywhere in the text, or when the text contains a
  comma between two digits; otherwise it becomes a space;
* the period-strip regex keeps its odd ``(?!<=\\d)`` prefix (a negative lookahead, not a lookbehind) and, like
  the official call ``sub("", text, re.UNICODE)``, performs at most ``re.UNICODE == 32`` replacements;
* a question scores the mean, over the leave-one-out subsets of annotators (by position), of
  ``min(matches among the others / 3, 1)``.

``\\d`` is matched as ASCII ``[0-9]``, as in the official (Python 2) evaluator, whose patterns carry no
``re.UNICODE`` flag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from seltda.core.records import majority

__all__ = ["exact_match", "normalize_answer", "vqa_accuracy"]

# Characters handled by the punctuation step (the period has its own rule below).
_PUNCTUATION = ';/[]"{}()=+\\_-><@`,?!'
_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)", re.ASCII)
# Same pattern as the official one: "(?!<=\d)" is a lookahead that never fires before a ".", so this removes
# every "." that is not followed by a digit.
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)", re.ASCII)
# The official code passes re.UNICODE positionally, i.e. as ``count``.
_PERIOD_MAX_REPLACEMENTS = int(re.UNICODE)
_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
# Data table of the official evaluator (120 entries, kept verbatim; the capitalised keys can never match
# because words are lowercased first, exactly as in the official code).
_CONTRACTIONS = {
    "aint": "ain't",
    "arent": "aren't",
    "cant": "can't",
    "couldve": "could've",
    "couldnt": "couldn't",
    "couldn'tve": "couldn't've",
    "couldnt've": "couldn't've",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "dont": "don't",
    "hadnt": "hadn't",
    "hadnt've": "hadn't've",
    "hadn'tve": "hadn't've",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hed": "he'd",
    "hed've": "he'd've",
    "he'dve": "he'd've",
    "hes": "he's",
    "howd": "how'd",
    "howll": "how'll",
    "hows": "how's",
    "Id've": "I'd've",
    "I'dve": "I'd've",
    "Im": "I'm",
    "Ive": "I've",
    "isnt": "isn't",
    "itd": "it'd",
    "itd've": "it'd've",
    "it'dve": "it'd've",
    "itll": "it'll",
    "let's": "let's",
    "maam": "ma'am",
    "mightnt": "mightn't",
    "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've",
    "mightve": "might've",
    "mustnt": "mustn't",
    "mustve": "must've",
    "neednt": "needn't",
    "notve": "not've",
    "oclock": "o'clock",
    "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at",
    "shant": "shan't",
    "shed've": "she'd've",
    "she'dve": "she'd've",
    "she's": "she's",
    "shouldve": "should've",
    "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll",
    "somebodys": "somebody's",
    "someoned": "someone'd",
    "someoned've": "someone'd've",
    "someone'dve": "someone'd've",
    "someonell": "someone'll",
    "someones": "someone's",
    "somethingd": "something'd",
    "somethingd've": "something'd've",
    "something'dve": "something'd've",
    "somethingll": "something'll",
    "thats": "that's",
    "thered": "there'd",
    "thered've": "there'd've",
    "there'dve": "there'd've",
    "therere": "there're",
    "theres": "there's",
    "theyd": "they'd",
    "theyd've": "they'd've",
    "they'dve": "they'd've",
    "theyll": "they'll",
    "theyre": "they're",
    "theyve": "they've",
    "twas": "'twas",
    "wasnt": "wasn't",
    "wed've": "we'd've",
    "we'dve": "we'd've",
    "weve": "we've",
    "werent": "weren't",
    "whatll": "what'll",
    "whatre": "what're",
    "whats": "what's",
    "whatve": "what've",
    "whens": "when's",
    "whered": "where'd",
    "wheres": "where's",
    "whereve": "where've",
    "whod": "who'd",
    "whod've": "who'd've",
    "who'dve": "who'd've",
    "wholl": "who'll",
    "whos": "who's",
    "whove": "who've",
    "whyll": "why'll",
    "whyre": "why're",
    "whys": "why's",
    "wont": "won't",
    "wouldve": "would've",
    "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've",
    "yall": "y'all",
    "yall'll": "y'all'll",
    "y'allll": "y'all'll",
    "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've",
    "youd": "you'd",
    "youd've": "you'd've",
    "you'dve": "you'd've",
    "youll": "you'll",
    "youre": "you're",
    "youve": "you've",
}


def _clean(text: str) -> str:
    """Newlines and tabs to spaces, then strip (applied by the evaluator to every string)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def _strip_punctuation(text: str) -> str:
    """Official punctuation step: delete or space out punctuation, then strip periods (at most 32)."""
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    table = {}
    for char in _PUNCTUATION:
        touches_space = f"{char} " in text or f" {char}" in text
        table[ord(char)] = "" if delete_all or touches_space else " "
    spaced = text.translate(table)
    return _PERIOD.sub("", spaced, count=_PERIOD_MAX_REPLACEMENTS)


def _canonical_words(text: str) -> str:
    """Official word step: lowercase, number words to digits, drop articles, expand contractions."""
    kept = []
    for word in text.lower().split():
        word = _NUMBER_WORDS.get(word, word)
        if word not in _ARTICLES:
            kept.append(_CONTRACTIONS.get(word, word))
    return " ".join(kept)


def normalize_answer(text: str) -> str:
    """Normalize an answer the way the official evaluator does when a question's answers disagree."""
    return _canonical_words(_strip_punctuation(_clean(text)))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Official VQA accuracy of ``prediction`` against the annotators' ``answers``, in [0, 1]."""
    if len(answers) == 0:
        raise ValueError("vqa_accuracy needs at least one ground-truth answer")
    truths = [_clean(answer) for answer in answers]
    guess = _clean(prediction)
    if len(set(truths)) > 1:
        truths = [_canonical_words(_strip_punctuation(answer)) for answer in truths]
        guess = _canonical_words(_strip_punctuation(guess))
    hits = [truth == guess for truth in truths]
    total_hits = sum(hits)
    # Leaving annotator i out leaves total_hits - hits[i] matching answers among the others.
    per_subset = [min(1.0, (total_hits - int(hit)) / 3) for hit in hits]
    return sum(per_subset) / len(per_subset)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the normalized prediction equals the most frequent normalized answer, else 0.0.

    Answers are counted after normalization; ties go to the answer that appears first.
    """
    if len(answers) == 0:
        raise ValueError("exact_match needs at least one ground-truth answer")
    return 1.0 if normalize_answer(prediction) == majority([normalize_answer(a) for a in answers]) else 0.0
