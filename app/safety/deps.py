"""The deployment's crisis catalogue, loaded once by create_app, as a request dependency."""

from typing import Annotated

from fastapi import Depends, Request

from app.safety.catalogue import Catalogue


async def get_catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue = request.app.state.crisis_catalogue
    return catalogue


CrisisCatalogue = Annotated[Catalogue, Depends(get_catalogue)]
