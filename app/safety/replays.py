"""How replays of moderation's POSTs are answered (app/idempotency/replays.py): a decided report
as the caller may read it now; a suspension only to a caller who is still a platform admin."""

import uuid

from app.core.errors import NotFound
from app.idempotency.replays import Fresh, Replaying, gone, rendered, verbatim
from app.safety import reports


async def resolved(replaying: Replaying) -> Fresh:
    report_id = uuid.UUID(str(replaying.path_params["report_id"]))
    try:
        report, role = await reports.get_report(
            replaying.session, caller=replaying.caller, report_id=report_id
        )
    except NotFound:
        raise gone("you can no longer read this report") from None
    return rendered(replaying, await reports.view(replaying.session, report, role, replaying.caller))


async def while_platform_admin(replaying: Replaying) -> Fresh:
    member = replaying.caller.member
    if member is None or not member.platform_admin:
        raise gone("you are no longer a platform admin")
    return await verbatim(replaying)
