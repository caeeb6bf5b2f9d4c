"""Geography: haversine distances, coarse H3 locations and H3 disk coverings."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import h3

if TYPE_CHECKING:  # NumPy is imported by the array forms when called (batch runs), not with this module
    import numpy as np
    from numpy.typing import NDArray

EARTH_RADIUS_KM = 6371.0088
# The public view shows the centre of the need's cell at this resolution (~0.74 km^2, ~1 km across).
COARSE_RES = 8
# Resolutions whose cell of the coarse point is stored and indexed, coarsest first.
INDEXED_RES = (4, 6, 8)
MAX_RADIUS_KM = 500.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS 84 points in degrees, on a sphere of the
    mean Earth radius. The one definition: `haversine_km_array` below and
    `app.spatial.haversine_sql` (and SQLite's `haversine_km`, which is this function) follow the
    same steps, so every path agrees but for the rounding of the last bits
    (app.matching.rules.HAVERSINE; tests/matching/test_rules.py)."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = math.radians(lat2 - lat1)
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def haversine_km_array(
    lat1: NDArray[np.float64], lon1: NDArray[np.float64], lat2: NDArray[np.float64], lon2: NDArray[np.float64]
) -> NDArray[np.float64]:
    """`haversine_km` element-wise, step for step (NaN where a point is NaN)."""
    import numpy as np

    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = np.radians(lat2 - lat1), np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    out: NDArray[np.float64] = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))
    return out


def round_half_km(distance_km: float) -> float:
    """Distances shown to callers are rounded to 0.5 km, so they cannot pin anyone down."""
    return math.floor(distance_km * 2 + 0.5) / 2


def round_half_km_array(distance_km: NDArray[np.float64]) -> NDArray[np.float64]:
    """`round_half_km` element-wise, step for step (NaN stays NaN)."""
    import numpy as np

    out: NDArray[np.float64] = np.floor(distance_km * 2 + 0.5) / 2
    return out


# How far from a rounding boundary of `round_half_km` (in km) an arc measured another way must be
# for its rounding to be taken as the haversine's. The two differ by at most ~3e-12 km within
# MAX_ARC_KM (tests/matching/test_rules.py measures it), a margin of over four orders.
ROUNDING_MARGIN_KM = 1e-7
# The longest arc `round_half_km_from_chord` is asked about: an offer's furthest reach
# (OfferCreate.max_distance_km) and then some; arcsin is well conditioned well beyond it.
MAX_ARC_KM = 500.0


def chord_of_km(distance_km: NDArray[np.float64]) -> NDArray[np.float64]:
    """The straight-line distance between two points on the unit sphere `distance_km` apart
    along it, a hair (0.1%) long: a search by chord within it keeps every pair within the arc.
    Distances beyond half the Earth's circumference (inf included) give the diameter, 2."""
    import numpy as np

    out: NDArray[np.float64] = 2 * np.sin(np.minimum(np.pi, distance_km * 1.001 / EARTH_RADIUS_KM) / 2)
    return out


def round_half_km_from_chord(
    chord: NDArray[np.float64], exact: Callable[[NDArray[np.intp]], NDArray[np.float64]]
) -> NDArray[np.float64]:
    """`round_half_km_array` of the haversine distances of pairs of points whose unit vectors
    are `chord` apart (Euclidean), as a k-d tree search measures them: the arc from the chord
    where that is further than ROUNDING_MARGIN_KM from a rounding boundary, so both round the
    same way, and `exact(positions)` (the haversine of those pairs) where it is not. Arcs must
    be at most MAX_ARC_KM. The same values as rounding the haversine, at a fraction of its cost
    (an arcsine per pair instead of five trigonometric functions)."""
    import numpy as np

    twice = 4 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, chord / 2)) + 0.5  # 2 * arc + 0.5
    out: NDArray[np.float64] = np.floor(twice)
    unsure = np.flatnonzero(np.abs(twice - np.rint(twice)) < 2 * ROUNDING_MARGIN_KM)
    if unsure.size:
        out[unsure] = np.floor(exact(unsure) * 2 + 0.5)
    out /= 2
    return out


# Reaches (an offer's and a need's `max_distance_km`) are compared with the distance as callers
# see it, rounded to 0.5 km: compared with the exact one, a need's owner could binary-search its
# reach (PATCH, then list candidates) and read a volunteer's distance far finer than the rounding.
# A distance that rounds to at most r is below r + ROUNDING_SLACK_KM, so a search that keeps
# everything within reach + slack (SQL walks, trees) keeps a superset for the exact test to settle.
ROUNDING_SLACK_KM = 0.25


def within_reach_km(distance_km: float, reach_km: float) -> bool:
    """Whether a trip of `distance_km` is within `reach_km`, at the 0.5 km callers see."""
    return round_half_km(distance_km) <= reach_km


def coarse_point(lat: float, lon: float) -> tuple[float, float]:
    """Centre of the coarse cell holding the point: fixed for a point, never the point."""
    lat_c, lon_c = h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, COARSE_RES))
    return lat_c, lon_c


def cell_ids(lat: float, lon: float) -> dict[int, int]:
    """The point's cell at each indexed resolution, as 64-bit integers."""
    return {res: h3.str_to_int(h3.latlng_to_cell(lat, lon, res)) for res in INDEXED_RES}


def located(lat: float, lon: float) -> dict[str, Any]:
    """Columns stored for a located row: the point, its coarse stand-in and that one's cells."""
    a_lat, a_lon = coarse_point(lat, lon)
    cells = cell_ids(a_lat, a_lon)
    return {
        "lat": lat,
        "lon": lon,
        "approx_lat": a_lat,
        "approx_lon": a_lon,
        **{f"h3_r{res}": cell for res, cell in cells.items()},
    }


def resolution_for(radius_km: float) -> int:
    """Coarsest enough to keep a covering to a few hundred cells."""
    if radius_km <= 3:
        return 8
    if radius_km <= 20:
        return 6
    return 4


@lru_cache(maxsize=65536)
def _cell_centre_and_reach(cell: str) -> tuple[float, float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    reach = max(haversine_km(lat, lon, v_lat, v_lon) for v_lat, v_lon in h3.cell_to_boundary(cell))
    # Cell edges are arcs between vertices: pad the vertex distance so the reach is an upper bound.
    return lat, lon, reach * 1.02 + 0.001


def covering_cells(lat: float, lon: float, radius_km: float, res: int) -> list[int]:
    """Cells at `res` that together contain every point within `radius_km` of (lat, lon).

    Grow the disk ring by ring until a whole ring lies farther than the radius: the disk is a
    connected patch around the centre, so any path from the centre to a point outside it must
    cross that ring, and a point within the radius (whose whole path stays within the radius)
    therefore lies inside the rings before it.
    """
    origin = h3.latlng_to_cell(lat, lon, res)
    inside: set[str] = {origin}
    k = 0
    while True:
        k += 1
        ring = set(h3.grid_disk(origin, k)) - inside
        if not ring:  # the whole globe is covered
            break
        far = True
        for cell in ring:
            c_lat, c_lon, reach = _cell_centre_and_reach(cell)
            if haversine_km(lat, lon, c_lat, c_lon) - reach <= radius_km:
                far = False
                break
        if far:
            break
        inside |= ring
    return [h3.str_to_int(c) for c in inside]
