"""Radius search over a table's lat/lon columns: PostGIS on Postgres, H3 coverings on SQLite.

Both backends filter and order by the same haversine as `app.geo.haversine_km`, so results agree
exactly with a brute-force reference; the index only narrows the rows looked at.
"""

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, Float, and_, bindparam, func, literal, literal_column, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import UserDefinedType
from sqlmodel import select as select_rows
from sqlmodel.sql.expression import Select

from app.bit_numbers import CATEGORY
from app.core.errors import Invalid
from app.geo import EARTH_RADIUS_KM, covering_cells, resolution_for

_RAD = math.pi / 180  # the constant math.radians multiplies by


class Geography(UserDefinedType[Any]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "geography"


def geog(lon: Any, lat: Any) -> ColumnElement[Any]:
    """The expression the GiST indexes are built on; queries must use it verbatim.

    The SRID is a literal: as a parameter, a prepared statement's generic plan could not match
    the index expression and would sort the whole table instead."""
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), literal_column("4326")).cast(Geography())


def category_index_sql(numbers: Mapping[str, int] = CATEGORY) -> list[str]:
    """DDL for the per-category partial KNN indexes on active offers (Postgres only), one per
    category's permanent bit number (`app.bit_numbers.CATEGORY`), which also names the index:
    a new category adds a statement and changes none of the others."""
    return [
        f"CREATE INDEX IF NOT EXISTS ix_offers_geog_category_{bit} ON offers USING gist "
        "((ST_SetSRID(ST_MakePoint(approx_lon, approx_lat), 4326)::geography)) "
        f"WHERE status = 'active' AND (categories_mask & {1 << bit}) <> 0"
        for bit in sorted(numbers.values())
    ]


# The columns a candidate search reads while it walks offers nearest first (app.dispatch.pools):
# every walk filter and every mask, so the walk reads index pages only and visits the table for
# the few offers that pass.
WALK_COLUMNS = (
    "id",
    "volunteer_id",
    "approx_lat",
    "approx_lon",
    "max_distance_km",
    "active_matches",
    "capacity",
    "modes_mask",
    "capabilities_mask",
    "languages_mask",
    "availability_mask_0",
    "availability_mask_1",
    "availability_mask_2",
)
_SPHERE_SQL = (
    "cube(ARRAY[cos(radians(approx_lat)) * cos(radians(approx_lon)), "
    "cos(radians(approx_lat)) * sin(radians(approx_lon)), sin(radians(approx_lat))])"
)


def sphere_point(lat: Any, lon: Any) -> ColumnElement[Any]:
    """A point as a unit vector (a `cube` of three coordinates), the expression the walk indexes
    are built on; queries must use it verbatim.

    Between two such points `<->` is the chord, which grows with the great-circle distance, so the
    index's nearest-first order is the haversine's. Unlike geography's `<->` it is exact, which
    lets the walk be an index-only scan (Postgres refuses lossy distances in those)."""
    return func.cube(
        postgresql.array(
            [
                func.cos(func.radians(lat)) * func.cos(func.radians(lon)),
                func.cos(func.radians(lat)) * func.sin(func.radians(lon)),
                func.sin(func.radians(lat)),
            ]
        )
    )


def chord(km: Any) -> ColumnElement[float]:
    """The chord between two points of the unit sphere `km` apart on the earth (haversine's radius)."""
    out: ColumnElement[float] = _f(2.0) * func.sin(km / _f(2 * EARTH_RADIUS_KM))
    return out


def walk_index_sql(numbers: Mapping[str, int] = CATEGORY) -> list[str]:
    """DDL for the per-category covering walk indexes on active offers (Postgres, `cube`
    extension), named by the category's permanent bit number like `category_index_sql`'s."""
    return [
        f"CREATE INDEX IF NOT EXISTS ix_offers_walk_category_{bit} ON offers USING gist "
        f"(({_SPHERE_SQL})) INCLUDE ({', '.join(WALK_COLUMNS)}) "
        f"WHERE status = 'active' AND (categories_mask & {1 << bit}) <> 0"
        for bit in sorted(numbers.values())
    ]


def _f(value: float | ColumnElement[float]) -> ColumnElement[float]:
    return value if isinstance(value, ColumnElement) else literal(value, Float())


def haversine_sql(
    lat_col: Any,
    lon_col: Any,
    lat: float | ColumnElement[float],
    lon: float | ColumnElement[float],
    dialect: str,
) -> ColumnElement[float]:
    """Distance in km from the columns' point to (lat, lon), computed step for step as in Python.

    (lat, lon) are numbers, or bound parameters of a statement built once and run many times."""
    if dialect == "sqlite":
        return func.haversine_km(lat_col, lon_col, _f(lat), _f(lon), type_=Float())
    p1 = lat_col * _f(_RAD)
    p2 = _f(lat) * _f(_RAD)
    dp = (_f(lat) - lat_col) * _f(_RAD)
    dl = (_f(lon) - lon_col) * _f(_RAD)
    # Halved by a float: a plain 2 would make Postgres divide in numeric, slower and not Python's steps.
    half = _f(2.0)
    a = func.power(func.sin(dp / half), 2) + func.cos(p1) * func.cos(p2) * func.power(func.sin(dl / half), 2)
    return _f(2 * EARTH_RADIUS_KM) * func.asin(func.sqrt(func.least(_f(1.0), a)))


@dataclass(frozen=True)
class RadiusQuery:
    lat: float
    lon: float
    radius_km: float


def within_sql(model: Any, q: RadiusQuery, dialect: str) -> tuple[ColumnElement[bool], ColumnElement[float]]:
    """(filter, distance) for rows of `model` whose approx point lies within the radius.

    `model` has approx_lat/approx_lon and h3_r4/h3_r6/h3_r8 columns.
    """
    distance = haversine_sql(model.approx_lat, model.approx_lon, q.lat, q.lon, dialect)
    if dialect == "postgresql":
        prefilter = _dwithin(model, q, _f(q.radius_km * 1000 * 1.01 + 100))
    else:
        res = resolution_for(q.radius_km)
        cells = covering_cells(q.lat, q.lon, q.radius_km, res)
        column = getattr(model, f"h3_r{res}")
        prefilter = column.in_(bindparam(f"cells_r{res}", cells, expanding=True))
    return prefilter & (distance <= _f(q.radius_km)), distance


def _dwithin(model: Any, q: RadiusQuery, metres: ColumnElement[float]) -> ColumnElement[bool]:
    """Index-assisted prefilter (Postgres): `metres` is a haversine distance in km times 1.01
    plus 100 m, a margin that covers sphere-vs-spheroid differences (< 0.5 %)."""
    return func.ST_DWithin(geog(model.approx_lon, model.approx_lat), geog(_f(q.lon), _f(q.lat)), metres)


def nearest_first(
    model: Any,
    q: RadiusQuery,
    dialect: str,
    conditions: Sequence[ColumnElement[bool]],
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> Select[Any, float]:
    """Rows `(model row, d)` within the radius meeting `conditions`, nearest first: by `d`, the
    haversine distance in km (`app.geo.haversine_km`), then by id; at most `limit` of them, those
    after `after` = (d, id) of the previous page's last row (the keyset cursor, exact under ties).

    `model` is as for `within_sql` and has an `id` column. On Postgres the order is found without
    sorting every row within the radius: the GiST index's nearest-first (KNN, `<->`) scan yields
    `limit` matching rows, the farthest of them by haversine bounds the page, and only the rows
    within that bound are sorted by (d, id). Any `limit` matching rows prove that the page lies
    within the bound, so the KNN order (sphere distance, not haversine) only makes it tight: the
    result is exactly that of sorting all of them. SQLite sorts the H3 covering's rows."""
    within, distance = within_sql(model, q, dialect)
    where = list(conditions)
    if after is not None:
        d, last_id = after
        where.append(or_(distance > _f(d), and_(distance == _f(d), model.id > last_id)))
    if dialect == "postgresql":
        here = geog(_f(q.lon), _f(q.lat))
        there = geog(model.approx_lon, model.approx_lat)
        # The first rows may be any within the radius prefilter's box (a superset of the disk):
        # if the bound then exceeds the radius, the radius filter below still applies. The box
        # test is ST_DWithin's own index condition; ST_DWithin itself, estimated to keep a few
        # rows of thousands, would make the planner sort every row in the box instead.
        box = there.op("&&")(func._ST_Expand(here, _f(q.radius_km * 1000 * 1.01 + 100)))
        first = select(distance.label("km")).where(*where, box).order_by(there.op("<->")(here)).limit(limit)
        bound = select(func.max(first.subquery().c.km)).cte("bound")
        km = select(bound.c[0]).scalar_subquery()
        where += [within, _dwithin(model, q, km * _f(1000 * 1.01) + _f(100.0)), distance <= km]
    else:
        where.append(within)
    rows = select_rows(model, distance.label("d"))
    return rows.where(*where).order_by(distance, model.id).limit(limit)


# Two JSON numbers: what the documentation shows is exactly what is accepted (float() alone would
# also take ' 51.5', '1_000' or 'nan').
_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?"
NEAR = f"^{_NUMBER},{_NUMBER}$"


def parse_near(near: str | None, radius_km: float | None) -> RadiusQuery | None:
    """The `near` and `radius_km` query parameters of a list, as a search (default 10 km)."""
    if near is None:
        if radius_km is not None:
            raise Invalid("radius_km needs near.", loc=["query", "radius_km"])
        return None
    if re.fullmatch(NEAR, near) is None:
        # A schema violation (the documented pattern), told in words rather than as the regex.
        shape = "near must be lat,lon in decimal degrees, e.g. 51.5,-0.12."
        raise RequestValidationError(
            [{"type": "string_pattern_mismatch", "loc": ("query", "near"), "msg": shape}]
        )
    lat_s, lon_s = near.split(",")
    lat, lon = float(lat_s), float(lon_s)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid("near is outside the range of latitude and longitude.", loc=["query", "near"])
    return RadiusQuery(lat=lat, lon=lon, radius_km=10.0 if radius_km is None else radius_km)
