"""The crisis catalogue: the shipped default, a deployment's file refused with a clear error, choices."""

import json
from pathlib import Path
from typing import Any

import pytest

from app.safety.catalogue import WORLD, CatalogueError, load_catalogue
from app.safety.kinds import Kind
from app.safety.regions import country_at_sync
from tests.conftest import make_settings


def test_the_shipped_catalogue_covers_its_countries_and_names_a_source_for_every_entry() -> None:
    catalogue = load_catalogue()
    assert [r.region for r in catalogue.regions] == [WORLD, "GB", "US", "ES", "FR", "DE"]
    for region in catalogue.regions:
        assert region.languages == frozenset()  # see regions.regions_for: a language names no country
        for entry in region.resources:
            assert entry.source.startswith("https://")
    phones = {(r.region, e.phone) for r in catalogue.regions for e in r.resources}
    wanted = {
        ("GB", "999"), ("GB", "116 123"), ("US", "911"), ("US", "988"), ("ES", "112"), ("ES", "024"),
        ("FR", "112"), ("FR", "3114"), ("DE", "112"), ("DE", "0800 111 0 111"),
    }  # fmt: skip
    assert wanted <= phones


def test_resources_come_in_region_order_filtered_by_kind_with_the_world_last() -> None:
    catalogue = load_catalogue()
    suicide = catalogue.resources(["FR", "WORLD", "FR"], [Kind.suicide])
    assert [(r.region, r.phone) for r in suicide] == [("FR", "112"), ("FR", "3114"), ("WORLD", None)]
    abuse = [(r.region, r.phone) for r in catalogue.resources(["FR"], [Kind.abuse])]
    assert abuse == [("FR", "112"), ("FR", "3114"), ("FR", "3919"), ("WORLD", None)]
    assert [r.region for r in catalogue.resources(["IE"], [Kind.danger])] == [WORLD]


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "resources.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


SOURCE = "https://example.org/"
WORLD_ENTRY = {"region": "WORLD", "resources": [{"name": "Directory", "url": SOURCE, "source": SOURCE}]}


def _world_with(**entry: Any) -> dict[str, Any]:
    return {"regions": [{"region": "WORLD", "resources": [{"name": "X", "source": SOURCE, **entry}]}]}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("{not json", "cannot be read as JSON"),
        ({"regions": []}, "a WORLD region is required"),
        ({"regions": [WORLD_ENTRY, WORLD_ENTRY]}, "each region appears once"),
        ({"regions": [WORLD_ENTRY, {**WORLD_ENTRY, "region": "gb"}]}, "regions.1.region"),
        (_world_with(), "an entry needs a phone or a url"),
        (_world_with(phone="112", source="http://example.org/"), "regions.0.resources.0.source"),
        (_world_with(phone="call us"), "regions.0.resources.0.phone"),
        (_world_with(phone="112", kinds=["sadness"]), "regions.0.resources.0.kinds"),
        (_world_with(phone="112", score=3), "regions.0.resources.0.score"),
        ({"regions": [{"region": "WORLD", "resources": []}]}, "regions.0.resources"),
    ],
)
def test_a_bad_catalogue_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, data: Any, says: str
) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert str(caught.value).startswith(f"CRISIS_RESOURCES_FILE {path}: ")
    assert says in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot be read as JSON"):
        load_catalogue(tmp_path / "nowhere.json")


def test_the_app_refuses_to_start_with_a_bad_catalogue(tmp_path: Path) -> None:
    from app.main import create_app

    path = _write(tmp_path, {"regions": []})
    with pytest.raises(CatalogueError, match="a WORLD region is required"):
        create_app(make_settings("sqlite+aiosqlite://", crisis_resources_file=path))


def test_the_setting_is_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.config import Settings

    path = _write(tmp_path, {"regions": [WORLD_ENTRY]})
    monkeypatch.setenv("CRISIS_RESOURCES_FILE", str(path))
    assert Settings().crisis_resources_file == path


@pytest.mark.parametrize(
    ("lat", "lon", "country"),
    [
        (51.5074, -0.1278, "GB"),  # London
        (54.597, -5.930, "GB"),  # Belfast
        (53.349, -6.260, "IE"),  # Dublin: not the United Kingdom
        (40.4168, -3.7038, "ES"),  # Madrid
        (48.8566, 2.3522, "FR"),  # Paris
        (48.5734, 7.7521, "FR"),  # Strasbourg, on the German border
        (52.5200, 13.4050, "DE"),  # Berlin
        (40.7128, -74.0060, "US"),  # New York
        (49.2827, -123.1207, "CA"),  # Vancouver, north of the US border
        (30.0, -40.0, None),  # mid-Atlantic: no place within reach
    ],
)
def test_the_country_of_a_point(lat: float, lon: float, country: str | None) -> None:
    assert country_at_sync(lat, lon) == country
