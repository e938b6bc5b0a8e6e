"""The small vocabulary shared by the REST handlers: an endpoint's declaration and a request's context."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from thunes.adapters.venues.simserver.auth import SIGNED_PARAMS, Security
from thunes.adapters.venues.simserver.limits import RateLimiter
from thunes.adapters.venues.simserver.rest_params import Params
from thunes.adapters.venues.simserver.state import ApiKey, ServerState
from thunes.simvenue.errors import VenueError

__all__ = ["NS_PER_MS", "Ctx", "Endpoint", "Handler", "Reply", "endpoint"]

NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer other than a plain 200 (cancel-replace's 409, order-count headers)."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Ctx:
    """One request as a handler sees it: parsed parameters and the authenticated key."""

    state: ServerState
    params: Params
    key: ApiKey | None
    limiter: RateLimiter
    started_ms: int = 0  # wall clock when the routes were registered

    @property
    def account(self) -> str:
        assert self.key is not None, "only keyed endpoints ask for the account"
        return self.key.account

    def replay_ms(self) -> int:
        """Now on the replay clock, for transactTime and updateTime."""
        return self.state.clock() // NS_PER_MS

    def wall_ms(self) -> int:
        """Now on the wall clock (request freshness, rate limits; not serverTime: see state.py)."""
        return self.state.wall_ns() // NS_PER_MS


Handler = Callable[[Ctx], Any]
Weight = int | Callable[[Params], int]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route: its security, request weight (rest-api.md) and the parameters it reads."""

    method: str
    path: str
    handler: Handler
    security: Security
    weight: Weight
    accepts: frozenset[str]
    places_order: bool = False  # counts toward the ORDERS limits and answers with X-MBX-ORDER-COUNT-*
    free_on_success: bool = False  # weight 0 when it succeeds (CHANGELOG 2026-03-27)

    def weight_of(self, params: Params | None) -> int:
        """The request weight; the base weight when the parameters could not be parsed."""
        if isinstance(self.weight, int):
            return self.weight
        if params is None:
            return self.weight(Params())
        try:
            return self.weight(params)
        except (ValueError, VenueError):
            return self.weight(Params())


def endpoint(
    method: str,
    path: str,
    handler: Handler,
    security: Security,
    weight: Weight,
    accepts: Iterable[str] = (),
    *,
    places_order: bool = False,
    free_on_success: bool = False,
) -> Endpoint:
    """An :class:`Endpoint`; signed endpoints also read ``timestamp``, ``recvWindow`` and ``signature``."""
    names = frozenset(accepts) | (SIGNED_PARAMS if security.signed else frozenset())
    return Endpoint(method, path, handler, security, weight, names, places_order, free_on_success)
