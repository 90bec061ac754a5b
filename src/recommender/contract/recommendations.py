"""The body and answer of `POST /recommendations`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from recommender.contract.common import (
    ClientId,
    Id,
    IdList,
    PageId,
    Payload,
    ShortText,
    Timestamp,
    UniqueId,
    VisitId,
)

PANEL_SIZES = {"v1": 3, "v2": 2}
DEFAULT_PANEL: Literal["v1"] = "v1"
# What a request may name: a panel, or one of the ways the original said "the default panel".
PanelName = Literal["v1", "v2", "service", ""]


# A mutable default is deep-copied into every request that leaves the field out, a cost on
# the busiest route; a factory makes the same empty list, and the schema still says [].
def _empty() -> Any:
    return Field(default_factory=list, json_schema_extra={"default": []})


# The id lists of a search accept null for "no filter", as the portal sends it.
NullableIdList = IdList | None
Countries = Annotated[list[ShortText], Field(max_length=1000)]


class SearchData(Payload):
    """The portal's search context: OR within a filter, AND across filters."""

    q: Annotated[str, Field(strict=True, max_length=1024)] | None = None
    categories: IdList = _empty()
    geographical_availabilities: Countries = _empty()
    order_type: ShortText | None = None
    providers: IdList = _empty()
    rating: ShortText | None = None
    related_platforms: IdList = _empty()
    scientific_domains: IdList = _empty()
    sort: ShortText | None = None
    target_users: IdList = _empty()

    @field_validator(
        "categories",
        "providers",
        "related_platforms",
        "scientific_domains",
        "target_users",
        mode="before",
        json_schema_input_type=NullableIdList,
    )
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator(
        "geographical_availabilities", mode="before", json_schema_input_type=Countries | None
    )
    @classmethod
    def _no_countries(cls, value: Any) -> Any:
        return [] if value is None else value


class RecommendationRequest(Payload):
    unique_id: UniqueId
    timestamp: Timestamp
    page_id: PageId = Field(examples=["/services"])
    visit_id: VisitId | None = None
    user_id: Id | None = None
    aai_uid: ShortText | None = None
    panel_id: PanelName | None = Field(
        default=DEFAULT_PANEL,
        description="`v1` (3 services) or `v2` (2); missing, null, empty or `service` = v1",
    )
    engine_version: ShortText | None = Field(
        default=None, description="Requested engine (case-insensitive), e.g. `NCF`, `RL`."
    )
    client_id: ClientId | None = None
    candidates: IdList = Field(
        default_factory=list,
        description="The portal's search result: recommend only among these services, which "
        "`search_data`'s filters do not narrow again; empty = all, narrowed by the filters.",
        json_schema_extra={"default": []},
    )
    search_data: SearchData = Field(default_factory=SearchData)

    @field_validator("panel_id")
    @classmethod
    def _known_panel(cls, value: str | None) -> str:
        return DEFAULT_PANEL if value in (None, "", "service") else str(value)

    @field_validator("candidates", mode="before", json_schema_input_type=NullableIdList)
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("search_data", mode="before", json_schema_input_type=SearchData | None)
    @classmethod
    def _null_search(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def panel_size(self) -> int:
        return PANEL_SIZES[self.panel_id or DEFAULT_PANEL]


class RecommendationResponse(BaseModel):
    panel_id: str
    recommendations: list[int]
    scores: list[float]
    explanations: list[str]
    explanations_short: list[str]
    engine_version: str = Field(description="The engine that actually produced the list.")
    recommendation_id: int = Field(
        description="Id of the stored impression; send it back with user actions."
    )
    experiment: str | None = Field(
        default=None, description="The A/B experiment this panel was served in, if any."
    )
    arm: str | None = Field(default=None, description="The experiment's arm this visitor is in.")
