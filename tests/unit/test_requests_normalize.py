"""Song match keys: spellings of one song meet, different songs stay apart."""

from __future__ import annotations

import pytest

from rooms.services.requests_normalize import normalize, same_song, song_key


@pytest.mark.parametrize(("a", "b"), [
    (("Mr. Brightside - The Killers", ""), ("mr brightside", "Killers")),
    (("Señorita", "Shawn Mendes"), ("senorita (feat. Camila Cabello)", "SHAWN MENDES")),
    (("Don't Stop Believin'", "Journey"), ("dont stop believin", "journey")),
    (("Get Lucky ft. Pharrell Williams", "Daft Punk"), ("Get Lucky", "Daft Punk")),
    (("Under Pressure", "Queen featuring David Bowie"), ("under pressure", "Queen")),
    (("  The   Middle ", "Jimmy Eat World"), ("middle", "jimmy  eat  world")),
    (("Mrs. Robinson", "Simon & Garfunkel"), ("Mrs Robinson", "Simon and Garfunkel")),
    (("Halo — Beyoncé", ""), ("HALO", "Beyonce")),
])
def test_spellings_of_one_song_match(a: tuple[str, str], b: tuple[str, str]) -> None:
    """Case, accents, punctuation, featuring credits, a leading "the" and spaces don't matter."""
    assert same_song(song_key(*a), song_key(*b))


@pytest.mark.parametrize(("a", "b"), [
    (("Mr. Brightside", "The Killers"), ("Mr. Brightside", "Some Cover Band")),
    (("Hello", "Adele"), ("Hello Goodbye", "The Beatles")),
    (("Hurt", "Johnny Cash"), ("Hurts", "Johnny Cash")),
])
def test_different_songs_do_not_match(a: tuple[str, str], b: tuple[str, str]) -> None:
    """Another title, or another artist when both name one, is another song."""
    assert not same_song(song_key(*a), song_key(*b))


def test_a_missing_artist_matches_any_artist() -> None:
    """A fan who leaves the artist empty joins the request that names one."""
    assert same_song(song_key("Mr Brightside"), song_key("Mr. Brightside", "The Killers"))


def test_featuring_at_the_start_is_part_of_the_title() -> None:
    """Only a credit after something is cut: "Ft. Lauderdale" keeps its "ft"."""
    assert normalize("Ft. Lauderdale") == "ft lauderdale"


def test_a_dash_in_the_title_is_kept_when_the_artist_is_given() -> None:
    """"Title - Artist" is split only when the artist box is empty."""
    assert song_key("Bohemian Rhapsody - Remastered", "Queen") == (
        "bohemian rhapsody remastered", "queen")
    assert song_key("Bohemian Rhapsody - Queen") == ("bohemian rhapsody", "queen")


def test_punctuation_only_gives_an_empty_key() -> None:
    """A title with no letters or digits normalises to "" (the service refuses it)."""
    assert normalize(" !!! ... ") == ""
