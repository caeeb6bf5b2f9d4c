"""Geography: coarse points and the H3 coverings SQLite's radius search relies on."""

import math

import h3
from hypothesis import given, settings
from hypothesis import strategies as st

from app.geo import COARSE_RES, coarse_point, covering_cells, haversine_km, resolution_for, round_half_km


def _destination(lat: float, lon: float, bearing: float, km: float) -> tuple[float, float]:
    d = km / 6371.0088
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


def test_haversine_known_distance() -> None:
    # London to Paris, about 343.5 km on the mean-radius sphere.
    assert abs(haversine_km(51.5074, -0.1278, 48.8566, 2.3522) - 343.56) < 0.1


def test_round_half_km() -> None:
    assert [round_half_km(x) for x in (0.0, 0.24, 0.25, 0.74, 1.76, 10.1)] == [0.0, 0.0, 0.5, 0.5, 2.0, 10.0]


@given(st.floats(-85, 85), st.floats(-180, 180))
def test_coarse_point_is_its_cells_centre_and_near(lat: float, lon: float) -> None:
    c_lat, c_lon = coarse_point(lat, lon)
    assert coarse_point(c_lat, c_lon) == (c_lat, c_lon)
    assert h3.latlng_to_cell(lat, lon, COARSE_RES) == h3.latlng_to_cell(c_lat, c_lon, COARSE_RES)
    assert haversine_km(lat, lon, c_lat, c_lon) < 1.0


@settings(max_examples=150, deadline=None)
@given(
    st.floats(-89.9, 89.9),
    st.floats(-180, 180),
    st.sampled_from([0.3, 1.0, 2.9, 5.0, 19.0, 60.0, 250.0]),
    st.lists(st.tuples(st.floats(0, 360), st.floats(0, 1)), min_size=1, max_size=30),
)
def test_covering_contains_every_point_within_the_radius(
    lat: float, lon: float, radius: float, offsets: list[tuple[float, float]]
) -> None:
    res = resolution_for(radius)
    cells = set(covering_cells(lat, lon, radius, res))
    for bearing, fraction in offsets:
        p_lat, p_lon = _destination(lat, lon, bearing, radius * fraction)
        if haversine_km(lat, lon, p_lat, p_lon) <= radius:
            assert h3.str_to_int(h3.latlng_to_cell(p_lat, p_lon, res)) in cells
