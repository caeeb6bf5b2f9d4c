"""Shared pieces for the Idempotency-Key tests: exact request bytes, rows, and claims made by hand."""

import json
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select, text, update
from sqlmodel import col

from app.core.timeutil import utcnow
from app.idempotency import service
from app.idempotency.deps import policy
from app.idempotency.models import IdempotencyKey
from app.idempotency.sealing import derive, fingerprint, server_pepper
from tests.factories import Member


def encoded(body: dict[str, Any]) -> bytes:
    """The exact bytes sent, so a test can fingerprint them as the server will."""
    return json.dumps(body).encode()


def keyed(member: Member, key: str) -> dict[str, str]:
    return {**member.headers, "Idempotency-Key": key, "Content-Type": "application/json"}


async def count_rows(app: FastAPI, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


async def key_rows(app: FastAPI) -> list[IdempotencyKey]:
    async with app.state.sessionmaker() as session:
        return list((await session.exec(select(IdempotencyKey))).scalars().all())


async def expire_all(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        await session.exec(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()


async def claim_by_hand(app: FastAPI, member: Member, key: str, *, path: str, body: bytes) -> service.Claim:
    """The claim another worker would hold while it runs the first request with this key."""
    settings = app.state.settings
    material = derive(server_pepper(settings.jwt_secret), scope=f"member:{member.id}", key=key)
    request_print = fingerprint(material, method="POST", path=path, query=b"", body=body)
    async with app.state.sessionmaker() as session:
        outcome = await service.acquire(
            session,
            scope=f"member:{member.id}",
            material=material,
            fingerprint=request_print,
            policy=policy(settings),
        )
    assert isinstance(outcome, service.Claim)
    return outcome


async def age_claim(app: FastAPI, claim: service.Claim, seconds: int) -> service.Claim:
    """As if the claim had been taken `seconds` ago (its request long dead)."""
    then = utcnow() - timedelta(seconds=seconds)
    async with app.state.sessionmaker() as session:
        await session.exec(
            update(IdempotencyKey).where(col(IdempotencyKey.id) == claim.row_id).values(locked_at=then)
        )
        await session.commit()
    return service.Claim(row_id=claim.row_id, locked_at=then, material=claim.material)
