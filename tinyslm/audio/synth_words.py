"""Words for the synthetic ``_unknown_`` class: near-misses of each keyword and common words.

A keyword spotter learns what a keyword is only if it also hears what it is
not, above all words that sound almost the same ("yes" / "yet", "stop" /
"shop"). Near-misses are made from the keyword's spelling by a few rules and
kept only when the result is a real word of :data:`LEXICON` (so the engines say
something a person would say); when the rules find too few real words,
pronounceable pseudo-words from the same rules fill up (an engine reads them by
its letter-to-sound rules). Nothing here depends on the seed: the same keyword
always gets the same near-misses, in the same order.

Rules, in order of preference (a candidate's rank is its first rule):

0. a single word of a multi-word keyword ("lights" for "lights on");
1. one letter substituted, inserted or deleted ("yes" -> "yet", "stop" -> "top");
2. the leading consonants replaced by another onset ("stop" -> "shop", "yes" -> "chess");
3. the same rhyme (vowel and what follows) with any onset ("go" -> "no");
4. pseudo-words from rule 2 or one vowel changed, not in the lexicon ("mervin").

Within a rank, candidates are ordered by a stable hash, not alphabetically, so
that six near-misses are not all words starting with "b".

A homophone of a keyword ("to" for "two", "for" for "four", "okay" for "ok") is
never a near-miss nor a common word: the engines say it as they say the keyword,
so the same sound would be trained as the keyword and as ``_unknown_``, teaching
the model to miss the keyword. :data:`HOMOPHONES` lists common ones (checked
always); :mod:`tinyslm.audio.synth` also compares the engines' own phonemes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection

# Onsets (leading consonant clusters) English words commonly start with.
ONSETS = (
    "", "b", "bl", "br", "ch", "cl", "cr", "d", "dr", "f", "fl", "fr", "g", "gl", "gr", "h",
    "j", "k", "l", "m", "n", "p", "pl", "pr", "r", "s", "sc", "sh", "sk", "sl", "sm", "sn",
    "sp", "st", "str", "sw", "t", "th", "tr", "w", "wh", "y", "z",
)  # fmt: skip

# Short, common English words: near-miss candidates must be one of these.
LEXICON = frozenset(
    """
    a able about above add after again age ago air all also am an and any apple are arm art
    as ask at away baby back bad bag ball band bank bar base bat bay be bear bed bee beer bell
    belt bend best bet big bike bill bird bit black bless block blow blue boat body bone book
    boot both bow bowl box boy bread break bring brown bug build bus but buy by cake call came
    can cap car card care cart case cat catch chair chat cheap check chess chest chin chip
    chop city class clean clear clock close cloud coat cold come cook cool cop cope copy corn
    cost could count cow crop cup cut dad dark day dear deep desk did dig dish do dog doll
    done door dot doubt dove down drop dress drink drive drop dry duck dust each ear east eat
    egg eight else end even ever eye face fact fair fall far farm fast fat feed feel feet few
    fell fill find fine fire first fish fit five fix flag flat flop floor fly fold follow food
    foot for fork form forward four fox free fresh friend frog from front full fun game gate
    gave get gift girl give glad glass go goat god gold golf gone good got grab grass gray
    great green grew grow guess gun guy had hair half hall hand hang happy hard has hat have
    he head hear heat hell hello help hen her here hey hi hid high hill him his hit hold hole
    home hop hope hot house how hug hull hum hunt hurt ice if in ink into is it its jet job
    jog join joke jump just keep kept key kid kind king kiss kit knee knew know lab lake lamp
    land last late law lay lead learn led left leg less let lid life lift light like line lion
    lip list lit live lock log long look lord lost lot loud love low luck lunch mad made mail
    make man many map mark marvin mass mat may me meat men mess met might mile milk mind mine
    miss mix mob mom moon mop more most move much mud must my name near neck need nest net
    never new news next nice night nine no nod none noon nor north nose not note now nut oak
    of off oh oil ok old on once one only open or our out over own pan pat pay pen pet phone
    pick pie pig pin pit plan play please plot pop pot press pull push put quick quit rain ran
    rat read red rest rice rich ride right ring rip road rock rod roll roof room rope rot row
    rub rule run sad said sail salt same sand sat save saw say sea seat see seed sell send set
    seven shall she sheila ship shop shot should show shut sick side sign sing sink sip sit
    six sky sleep slip slow small smell snow so sock soft some son song soon sorry spot step
    stick still stock stomp stone stood stop store story street stuff such sun sure swim
    table tail take talk tall tap team tell ten test than thank that the them then there they
    thing think this those though three tight time tip to toe told top toss town toy tree trip
    try turn two up upon us use very visual wait wake walk wall want war warm was wash watch
    way we web well went were west wet what when where which white who why wide will win wind
    wish with wood word work wow yard yeah year yell yellow yes yet you young zero zip zoo
    """.split()  # noqa: SIM905 - a word list reads better as prose
)

# Words spoken for the unknown class besides near-misses: Speech Commands' own
# auxiliary words and everyday words a device hears around it.
COMMON_WORDS = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "backward", "forward", "follow", "learn", "visual", "zero", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "hello", "please", "thank", "sorry", "okay",
    "what", "where", "when", "why", "water", "coffee", "music", "phone", "window", "kitchen",
    "morning", "night", "today", "later", "maybe", "really", "people", "time", "little", "work",
)  # fmt: skip

# Words spoken alike (in General American or British English), one group a line. A
# table, not only the engines' phonemes (tinyslm.audio.synth), so that the common
# cases are left out whatever engine is installed: espeak-ng says "four" and "for"
# differently where flite and festival do not, and the table is checked before any
# engine runs (two keywords that are homophones are refused at once).
HOMOPHONES: tuple[frozenset[str], ...] = tuple(
    frozenset(line.split())
    for line in """
    to too two
    for four fore
    ok okay
    see sea
    by buy bye
    new knew
    no know
    knows nose
    right write
    night knight
    one won
    eight ate
    hear here
    hi high
    son sun
    meat meet
    sail sale
    wait weight
    week weak
    where wear
    there their
    made maid
    would wood
    hour our
    whole hole
    road rode
    be bee
    dear deer
    tail tale
    not knot
    so sew
    hey hay
    way weigh
    blue blew
    mail male
    pair pear
    peace piece
    plane plain
    rain reign
    some sum
    tea tee
    through threw
    which witch
    i eye
    its it's
    """.strip().splitlines()
)
_HOMOPHONE_OF = {w: group for group in HOMOPHONES for w in group}

_VOWELS = "aeiouy"
_WORD = re.compile(r"^[a-z]+(?:['-][a-z]+)*(?: [a-z]+(?:['-][a-z]+)*)*$")


def is_speakable(text: str) -> bool:
    """Whether ``text`` is lower-case words of letters (with ' or -), single spaces between."""
    return bool(_WORD.fullmatch(text))


def listed_homophones(a: str, b: str) -> bool:
    """Whether :data:`HOMOPHONES` says ``a`` and ``b`` sound alike (or they are equal);
    phrases word by word ("lights to" and "lights two")."""
    ta, tb = a.split(" "), b.split(" ")
    return len(ta) == len(tb) and all(
        x == y or y in _HOMOPHONE_OF.get(x, ()) for x, y in zip(ta, tb, strict=True)
    )


def _split(word: str) -> tuple[str, str]:
    """(onset, rhyme): the leading consonants and the rest ("stop" -> "st", "op")."""
    i = 0
    while i < len(word) and (word[i] not in _VOWELS or (i == 0 and word[i] == "y")):
        i += 1
    return word[:i], word[i:]


def _edits(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: set[str] = set()
    for i in range(len(word) + 1):
        for c in letters:
            out.add(word[:i] + c + word[i:])
        if i < len(word):
            out.add(word[:i] + word[i + 1 :])
            for c in letters:
                out.add(word[:i] + c + word[i + 1 :])
    return out


def _onset_swaps(word: str) -> set[str]:
    onset, rhyme = _split(word)
    if not rhyme:
        return set()
    out = {o + rhyme for o in ONSETS if o != onset}
    # English doubles a final s, l, f or z after a short vowel with no change in
    # sound ("yes" and "chess" rhyme): try both spellings.
    if len(rhyme) == 2 and rhyme[0] in _VOWELS and rhyme[1] in "slfz":
        out |= {o + rhyme + rhyme[1] for o in ONSETS}
    elif len(rhyme) == 3 and rhyme[0] in _VOWELS and rhyme[1] == rhyme[2] and rhyme[1] in "slfz":
        out |= {o + rhyme[:2] for o in ONSETS}
    return out


def _vowel_swaps(word: str) -> set[str]:
    return {
        word[:i] + v + word[i + 1 :]
        for i, c in enumerate(word)
        if c in "aeiou"
        for v in "aeiou"
        if v != c
    }


def _rhymes(word: str) -> set[str]:
    _, rhyme = _split(word)
    if len(rhyme) < 2:
        return set()
    return {w for w in LEXICON if w.endswith(rhyme) and len(w) <= len(word) + 2}


def _order(words: set[str]) -> list[str]:
    return sorted(words, key=lambda w: hashlib.sha1(w.encode()).hexdigest())


def _pronounceable(word: str) -> bool:
    return len(word) >= 2 and any(c in _VOWELS for c in word) and not re.search(r"(.)\1\1", word)


def near_misses(
    keyword: str,
    count: int,
    exclude: frozenset[str] = frozenset(),
    sound_alike: Callable[[Collection[str]], Collection[str]] | None = None,
) -> tuple[str, ...]:
    """Up to ``count`` words that sound like ``keyword`` but are not it (see the module rules).

    Args:
        keyword: a speakable keyword (:func:`is_speakable`), possibly several words.
        count: how many to return at most.
        exclude: words never returned (the keywords themselves), nor their
            homophones (:func:`listed_homophones`).
        sound_alike: given candidates, those that sound like a keyword (the engines'
            phonemes, :mod:`tinyslm.audio.synth`): never returned either. It must
            answer for each word alone, so that the result stays deterministic.
    """
    tokens = keyword.split(" ")
    ranked: list[set[str]] = [set(), set(), set(), set(), set()]
    if len(tokens) > 1:
        ranked[0] = set(tokens)
    for i, token in enumerate(tokens):

        def phrase(new: str, i: int = i) -> str:
            return " ".join([*tokens[:i], new, *tokens[i + 1 :]])

        edits = {e for e in _edits(token) if e != token}
        swaps = {s for s in _onset_swaps(token) if s != token}
        ranked[1] |= {phrase(e) for e in edits if e in LEXICON}
        ranked[2] |= {phrase(s) for s in swaps if s in LEXICON}
        ranked[3] |= {phrase(r) for r in _rhymes(token) if r != token}
        pseudo = swaps | _vowel_swaps(token)
        ranked[4] |= {phrase(p) for p in pseudo if p not in LEXICON and _pronounceable(p)}
    chosen: list[str] = []
    keywords = set(exclude) | {keyword}
    seen = set(keywords)
    for group in ranked:
        if len(chosen) == count:
            break
        # A homophone of a keyword would teach the keyword's own sound as _unknown_.
        fresh = [
            w for w in _order(group - seen) if not any(listed_homophones(k, w) for k in keywords)
        ]
        alike = set(sound_alike(fresh)) if sound_alike and fresh else set()
        for word in fresh:
            if len(chosen) == count:
                break
            if word not in alike:
                chosen.append(word)
                seen.add(word)
    return tuple(chosen)
