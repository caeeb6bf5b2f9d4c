"""Crisis resources for the author of a text: detect, choose regions, pick from the catalogue.

Nothing here writes, logs or emits anything: the kinds found live only in this call."""

from app.safety import crisis, regions
from app.safety.catalogue import Catalogue
from app.safety.models import CrisisResource


async def resources_for(
    catalogue: Catalogue,
    *,
    texts: list[str | None],
    lat: float | None = None,
    lon: float | None = None,
    languages: list[str] | None = None,
) -> list[CrisisResource]:
    """Helplines for the author when any of `texts` reads as a crisis; [] otherwise."""
    kinds = crisis.kinds(*texts)
    if not kinds:
        return []
    chosen = await regions.regions_for(catalogue, lat=lat, lon=lon, languages=languages or [])
    return catalogue.resources(chosen, kinds)
