"""Match keys for song requests: two spellings of one song get the same key. No I/O.

"Mr. Brightside - The Killers" and "mr brightside" by "Killers" are one song. A key is
casefolded, without accents, without "feat."/"ft."/"featuring" and what follows, without
a leading "the", with apostrophes and dots dropped (so "Don't" = "Dont", "M.I.A." = "MIA"),
"&" read as "and", other punctuation as a space, and single spaces.
"""

from __future__ import annotations

import re
import unicodedata

# A featured-artist credit ends the meaningful part; it must follow something, so a
# title that starts with "Ft." (a place) keeps it.
_FEATURING = re.compile(r"(?<=\S)[\s(\[{-]+(?:feat|ft|featuring)\b.*$")
_JOINED = re.compile(r"['\u2019`.]")  # dropped without a space: "don't", "m.i.a."
_NOT_WORD = re.compile(r"[\W_]+")
_LEADING_THE = re.compile(r"^the\s+")
# "Title - Artist" typed into the title box when the artist box was left empty.
_TITLE_ARTIST = re.compile(r"\s+[-\u2013\u2014]\s+")


def normalize(text: str) -> str:
    """The match key of one title or artist name."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = _FEATURING.sub("", plain.strip())
    plain = _JOINED.sub("", plain.replace("&", " and "))
    plain = _NOT_WORD.sub(" ", plain).strip()
    return _LEADING_THE.sub("", plain)


def song_key(title: str, artist: str = "") -> tuple[str, str]:
    """(title key, artist key). With no artist, "Title - Artist" in the title is split."""
    if not artist.strip():
        parts = _TITLE_ARTIST.split(title.strip(), maxsplit=1)
        if len(parts) == 2 and normalize(parts[0]) and normalize(parts[1]):
            title, artist = parts
    return normalize(title), normalize(artist)


def same_song(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Same title, and the same artist unless one side gave none."""
    return a[0] == b[0] and (a[1] == b[1] or not a[1] or not b[1])
