"""The catalogue dump: its record schemas and a validation pass that names what is wrong."""

# Longer than 400 lines because the record schemas and the passes that check a dump against
# them belong together: every problem a pass names is a field of a schema. The passes grew
# when they stopped holding the dump (ids as arrays, repeats named on a second read).

from __future__ import annotations

from abc import ABC, abstractmethod
from array import array
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from recommender.catalog.id_set import IdSet, repeated
from recommender.contract.ids import Id

REQUIRED_ARRAYS = (
    "services",
    "users",
    "categories",
    "providers",
    "scientific_domains",
    "platforms",
    "target_users",
    "access_modes",
    "access_types",
    "trls",
    "life_cycle_statuses",
)
OPTIONAL_ARRAYS = ("research_steps", "projects")
VOCABULARIES = (
    "categories",
    "providers",
    "scientific_domains",
    "platforms",
    "target_users",
    "access_modes",
    "access_types",
    "trls",
    "life_cycle_statuses",
    "research_steps",
)
MAX_PROBLEMS = 50
# Fields whose non-null values must be unique within an entity, besides `id`.
UNIQUE_FIELDS: dict[str, tuple[str, ...]] = {"users": ("aai_uid",)}


def _none_as_empty(value: Any) -> Any:
    return [] if value is None else value


# Each type says what it accepts (its JSON Schema), which can be more than what it keeps.
IdList = Annotated[
    list[Id], BeforeValidator(_none_as_empty, json_schema_input_type=list[Id] | None)
]
Text = Annotated[str, Field(strict=True)]
TextList = Annotated[
    list[Text], BeforeValidator(_none_as_empty, json_schema_input_type=list[Text] | None)
]
Flag = Annotated[bool, Field(strict=True)]
Number = Annotated[float, Field(strict=True)]


class _Record(BaseModel):
    # Unknown fields are ignored so that newer portals can send more than we use.
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Id


class VocabularyRecord(_Record):
    name: Text
    description: Text | None = None
    pid: Text | None = None


class ServiceRecord(_Record):
    name: Text
    description: Text = ""
    tagline: Text = ""
    countries: TextList = []
    order_type: Text | None = None
    rating: Number | None = None
    status: Text = "published"
    pid: Text | None = None
    horizontal: Flag | None = None
    resource_organisation: Id | None = None
    categories: IdList = []
    providers: IdList = []
    scientific_domains: IdList = []
    platforms: IdList = []
    target_users: IdList = []
    related_services: IdList = []
    required_services: IdList = []
    access_modes: IdList = []
    access_types: IdList = []
    trls: IdList = []
    life_cycle_statuses: IdList = []
    research_steps: IdList = []

    @field_validator(
        "description", "tagline", mode="before", json_schema_input_type=Text | list[Text] | None
    )
    @classmethod
    def _text_or_tags(cls, value: Any) -> Any:
        # Older dumps sent the tagline as a list of tags.
        if value is None:
            return ""
        if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
            return ", ".join(value)
        return value

    @field_validator("rating", mode="before", json_schema_input_type=Number | Text | None)
    @classmethod
    def _rating(cls, value: Any) -> Any:
        # The Marketplace sends ratings as decimal strings ("4.5").
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ValueError(f"rating {value!r} is not a number") from None
        return value

    @field_validator("status", mode="before", json_schema_input_type=Text | None)
    @classmethod
    def _status(cls, value: Any) -> Any:
        # Dumps of the first format had no status: everything in them was published.
        return "published" if value is None else value


class UserRecord(_Record):
    aai_uid: Text | None = None
    scientific_domains: IdList = []
    categories: IdList = []
    accessed_services: IdList = []


class ProjectRecord(_Record):
    user_id: Id
    services: IdList = []


RECORD_TYPES: dict[str, type[_Record]] = {
    **dict.fromkeys(VOCABULARIES, VocabularyRecord),
    "services": ServiceRecord,
    "users": UserRecord,
    "projects": ProjectRecord,
}

# Which id lists of a record must name ids of which entity of the same dump.
REFERENCES: dict[str, dict[str, str]] = {
    "services": {
        "resource_organisation": "providers",
        "categories": "categories",
        "providers": "providers",
        "scientific_domains": "scientific_domains",
        "platforms": "platforms",
        "target_users": "target_users",
        "related_services": "services",
        "required_services": "services",
        "access_modes": "access_modes",
        "access_types": "access_types",
        "trls": "trls",
        "life_cycle_statuses": "life_cycle_statuses",
        "research_steps": "research_steps",
    },
    "users": {
        "scientific_domains": "scientific_domains",
        "categories": "categories",
        "accessed_services": "services",
    },
    "projects": {"user_id": "users", "services": "services"},
}


def json_schema() -> dict[str, Any]:
    """The dump as JSON Schema: the arrays (null counts as empty) and each record's fields.

    What it cannot say: ids are unique within an entity, references name ids of the same
    dump, and `rating` strings must read as numbers; the validation below checks those too.
    """
    arrays = {
        name: {
            "anyOf": [
                {"type": "array", "items": RECORD_TYPES[name].model_json_schema()},
                {"type": "null"},
            ]
        }
        for name in (*REQUIRED_ARRAYS, *OPTIONAL_ARRAYS)
    }
    return {"type": "object", "required": list(REQUIRED_ARRAYS), "properties": arrays}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dump, located by entity, record and field."""

    entity: str
    message: str
    index: int | None = None
    record_id: Any = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.entity
        if self.record_id is not None:
            where += f"[id={self.record_id}]"
        elif self.index is not None:
            where += f"[{self.index}]"
        if self.field:
            where += f".{self.field}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "index": self.index,
            "id": self.record_id,
            "field": self.field,
            "message": self.message,
        }


class InvalidDumpError(ValueError):
    """A dump that cannot be loaded; nothing was changed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = len(self.problems) - 5
        super().__init__(
            f"invalid dump: {shown}" + (f" (and {more} more problems)" if more > 0 else "")
        )


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidDumpError(self.problems)


class RecordStream(ABC):
    """A top-level array of a dump read from its source on demand: each iteration reads its
    records again, so that neither pass over the dump holds the whole of it."""

    @abstractmethod
    def __iter__(self) -> Iterator[Any]: ...


def _is_array(value: Any) -> bool:
    return isinstance(value, list | RecordStream)


def collect_ids(doc: Any) -> dict[str, IdSet]:
    """First pass: the arrays are there, every record has a unique integer id.

    Returns the ids of every entity, which the second pass needs to check references
    without keeping validated records in memory.
    """
    problems = _Collector()
    if not isinstance(doc, Mapping):
        raise InvalidDumpError(
            [Problem(entity="dump", message="the dump must be a JSON object of arrays")]
        )
    for name in REQUIRED_ARRAYS:
        if name not in doc:
            problems.add(Problem(entity=name, message="required array is missing"))
    ids: dict[str, IdSet] = {}
    for name in (*REQUIRED_ARRAYS, *OPTIONAL_ARRAYS):
        records = doc.get(name)
        if records is None:
            ids[name] = IdSet()
            continue
        if not _is_array(records):
            problems.add(Problem(entity=name, message="must be an array of objects"))
            ids[name] = IdSet()
            continue
        found = array("q")
        entity_problems = _Collector()
        for index, record in enumerate(records):
            raw = _record_id(name, index, record, entity_problems)
            if raw is not None:
                found.append(raw)
        ids[name] = IdSet(found)
        if len(ids[name]) < len(found):
            # Rare: read the records again to name each repeat where it occurs.
            entity_problems = _Collector()
            twice = repeated(found)
            seen: set[int] = set()
            for index, record in enumerate(records):
                raw = _record_id(name, index, record, entity_problems)
                if raw in twice:
                    if raw in seen:
                        entity_problems.add(
                            Problem(entity=name, record_id=raw, field="id", message="duplicate id")
                        )
                    seen.add(raw)
        del found
        for problem in entity_problems.problems:
            problems.add(problem)
    problems.raise_if_any()
    return ids


def _record_id(name: str, index: int, record: Any, problems: _Collector) -> int | None:
    if not isinstance(record, Mapping):
        problems.add(Problem(entity=name, index=index, message="must be an object"))
        return None
    raw = record.get("id")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # 7.0 is an integer to JSON Schema, as to the record types
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0 or raw >= 2**63:
        problems.add(
            Problem(
                entity=name,
                index=index,
                field="id",
                message="required non-negative integer id is missing or invalid",
            )
        )
        return None
    return raw


def iter_records(doc: Mapping[str, Any], entity: str, ids: Mapping[str, IdSet]) -> Iterator[Any]:
    """Second pass over one entity: validate each record and its references, one at a time.

    Raises `InvalidDumpError` once the entity is exhausted (or too many problems were seen);
    a loader inside a transaction simply lets it propagate and roll back.
    """
    record_type = RECORD_TYPES[entity]
    references = REFERENCES.get(entity, {})
    # Hashes, not values, of the fields that must be unique: 8 bytes a record. Values whose
    # hash repeats are compared once the entity is read.
    unique_hashes: dict[str, array[int]] = {
        name: array("q") for name in UNIQUE_FIELDS.get(entity, ())
    }
    problems = _Collector()
    for index, raw in enumerate(doc.get(entity) or []):
        try:
            record = record_type.model_validate(raw)
        except ValidationError as error:
            for detail in error.errors():
                problems.add(
                    Problem(
                        entity=entity,
                        index=index,
                        record_id=raw.get("id"),
                        field=".".join(str(part) for part in detail["loc"]),
                        message=detail["msg"],
                    )
                )
            continue
        for field_name, target in references.items():
            value = getattr(record, field_name)
            wanted = value if isinstance(value, list) else ([] if value is None else [value])
            known = ids[target]
            for ref in wanted:
                if ref not in known:
                    problems.add(
                        Problem(
                            entity=entity,
                            record_id=record.id,
                            field=field_name,
                            message=f"{target} id {ref} is not in the dump",
                        )
                    )
        for field_name, hashes in unique_hashes.items():
            value = getattr(record, field_name)
            if value is not None:
                hashes.append(hash(value))
        if len(problems.problems) >= MAX_PROBLEMS:
            break
        if not problems.problems:
            yield record
    for field_name, hashes in unique_hashes.items():
        if len(problems.problems) < MAX_PROBLEMS:
            _check_unique(doc, entity, field_name, repeated(hashes), problems)
    problems.raise_if_any()


def _check_unique(
    doc: Mapping[str, Any], entity: str, field_name: str, hashes: set[int], problems: _Collector
) -> None:
    """Name every record whose `field_name` an earlier record has, among those whose value's
    hash repeats (a second read of the entity, and only when some hash does)."""
    if not hashes:
        return
    record_type = RECORD_TYPES[entity]
    seen: set[Any] = set()
    for raw in doc.get(entity) or []:
        value = raw.get(field_name) if isinstance(raw, Mapping) else None
        if not isinstance(value, Hashable) or value is None or hash(value) not in hashes:
            continue
        try:
            record = record_type.model_validate(raw)
        except ValidationError:
            continue  # already named by the first read
        value = getattr(record, field_name)
        if value in seen:
            problems.add(
                Problem(
                    entity=entity,
                    record_id=record.id,
                    field=field_name,
                    message=f"{field_name} {value!r} is used by another record",
                )
            )
        seen.add(value)


def validate_dump(doc: Any) -> dict[str, int]:
    """Check a whole dump without writing anything; returns the number of records per entity."""
    ids = collect_ids(doc)
    counts = {}
    problems: list[Problem] = []
    for entity in (*VOCABULARIES, "services", "users", "projects"):
        try:
            counts[entity] = sum(1 for _ in iter_records(doc, entity, ids))
        except InvalidDumpError as error:
            problems.extend(error.problems)
    if problems:
        raise InvalidDumpError(problems[:MAX_PROBLEMS])
    return counts
