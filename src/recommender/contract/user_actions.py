"""The body of `POST /user_actions`: one action of a visitor, in either root form."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from recommender.contract.common import (
    ClientId,
    Id,
    PageId,
    Payload,
    ShortText,
    Timestamp,
    UniqueId,
    VisitId,
)


class Root(Payload):
    """Where a journey started: a recommendation panel, a catalogue list, or elsewhere."""

    type: ShortText = Field(examples=["recommendation_panel"])
    panel_id: ShortText | None = Field(default=None, examples=["v1"])
    # The old form names the clicked service; the new one names any resource.
    service_id: Id | None = None
    resource_type: ShortText | None = Field(default=None, examples=["service"])
    resource_id: Id | ShortText | None = None


class Source(Payload):
    visit_id: VisitId | None = None
    page_id: PageId = Field(examples=["/services"])
    root: Root | None = None


class Target(Payload):
    visit_id: VisitId
    page_id: PageId = Field(examples=["/services/1234"])


class Action(Payload):
    type: ShortText = Field(examples=["button"])
    text: Annotated[str, Field(strict=True, max_length=4096)] = ""
    order: Annotated[bool, Field(strict=True)] = False


class UserActionIn(Payload):
    unique_id: UniqueId
    timestamp: Timestamp
    user_id: Id | None = None
    aai_uid: ShortText | None = None
    client_id: ClientId | None = None
    source: Source
    target: Target
    action: Action
    recommendation_id: Id | None = Field(
        default=None,
        description="The `recommendation_id` of the answer whose panel the journey started in.",
    )
