"""Leases (an extension): ``/api/v1/leases/{name}``, so one runner and one autoscaler act at a time.

A lease is a row in the registry's database, so every replica sees the same one. A runner
asks for it on every pass (``POST`` renews it); while another holder's lease is unexpired
the answer is 409 with that lease. Times are the database's clock (PostgreSQL's, shared by
every replica and host). The token grows whenever the holder changes: a scale decision made
under a lease carries it, and is refused once another holder took over.

``DELETE`` gives the lease up; after it, ``GET`` answers 404 until someone takes it again. A
lease that merely expired still shows its last holder. Only the holder can give up a lease
that is live: anyone else is answered 409 with the lease, and nothing changes.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from kubiya_tui.controlplane.deps import V1, Auth, Caller, get_store
from kubiya_tui.controlplane.openapi import errors
from kubiya_tui.controlplane.serializers import iso
from kubiya_tui.controlplane.store import RELEASED
from kubiya_tui.models import Lease, LeaseRequest

router = APIRouter(tags=["leases"])
NAME = Path(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9-]*$", description="runner, autoscaler, ...")


def _lease_out(row: dict, held: bool) -> Lease:
    return Lease(
        name=row["name"],
        holder=row["holder"],
        token=row["token"],
        acquired_at=iso(row["acquired_at"]),
        expires_at=iso(row["expires_at"]),
        held=held,
    )


def _held_by_another(name: str, row: dict) -> HTTPException:
    return HTTPException(
        409,
        {
            "error": "lease held",
            "message": f"lease {name!r} is held by {row['holder']!r} until {iso(row['expires_at'])}",
            "lease": _lease_out(row, False).model_dump(mode="json"),
        },
    )


@router.post(f"{V1}/leases/{{name}}", responses=errors(409, lease=True))
async def acquire_lease(body: LeaseRequest, request: Request, name: str = NAME, who: Caller = Auth) -> Lease:
    """Take or renew the lease for ``holder``; 409 (with the lease as held) while another holds it."""
    store = get_store(request)
    held, row = await store.acquire_lease(who.org, name, body.holder, body.ttl_seconds)
    if not held:
        raise _held_by_another(name, row)
    if not row["renewed"]:
        # A new holder (not a renewal): said once in the audit log.
        await store.audit(who.org, who.actor, "lease.acquire", "lease", name, {"holder": body.holder, "token": row["token"]})
    return _lease_out(row, True)


@router.get(f"{V1}/leases/{{name}}", responses=errors(404))
async def get_lease(request: Request, name: str = NAME, who: Caller = Auth) -> Lease:
    """The lease as held now, or as it expired (404 when it was never taken, or was given up)."""
    row = await get_store(request).get_lease(who.org, name)
    if row is None:
        raise HTTPException(404, f"lease {name!r} has never been taken")
    if row["holder"] == RELEASED:
        raise HTTPException(404, f"lease {name!r} was given up and is free")
    return _lease_out(row, False)


@router.delete(f"{V1}/leases/{{name}}", status_code=204, responses=errors(404, 409, lease=True))
async def release_lease(
    request: Request,
    name: str = NAME,
    holder: str = Query(min_length=1, max_length=200),
    who: Caller = Auth,
) -> Response:
    """Give the lease up at once if ``holder`` holds it, so another can take it without waiting.

    204 also when nobody held it (it had expired); 409 with the lease while another holds it;
    404 when it was never taken.
    """
    store = get_store(request)
    outcome, row = await store.release_lease(who.org, name, holder)
    if outcome == "never":
        raise HTTPException(404, f"lease {name!r} has never been taken")
    if outcome == "held" and row is not None:
        raise _held_by_another(name, row)
    if outcome == "released":
        await store.audit(who.org, who.actor, "lease.release", "lease", name, {"holder": holder})
    return Response(status_code=204)
