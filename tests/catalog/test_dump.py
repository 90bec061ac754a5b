from __future__ import annotations

from typing import Any

import orjson
import pytest

from recommender.catalog.dump import InvalidDumpError, validate_dump
from recommender.catalog.dump_stream import MemoryBytes, read_dump
from tests.factories import dump, service, user


def problems_of(doc: Any) -> list[str]:
    with pytest.raises(InvalidDumpError) as caught:
        validate_dump(doc)
    return [str(p) for p in caught.value.problems]


def test_valid_dump_counts_records() -> None:
    counts = validate_dump(dump([service(1), service(2)], [user(7, accessed_services=[1])]))
    assert counts["services"] == 2
    assert counts["users"] == 1
    assert counts["scientific_domains"] == 2


def test_first_format_without_research_steps_and_projects_is_accepted() -> None:
    doc = dump([service(1, research_steps=[])], [user(1)])
    del doc["research_steps"], doc["projects"]
    for optional in ("status", "pid", "horizontal"):
        del doc["services"][0][optional]
    del doc["users"][0]["aai_uid"]
    assert validate_dump(doc)["services"] == 1


def test_missing_required_array_is_named() -> None:
    doc = dump()
    del doc["trls"]
    assert problems_of(doc) == ["trls: required array is missing"]


def test_wrong_type_names_entity_id_and_field() -> None:
    doc = dump([service(5, name=42)])
    assert problems_of(doc) == ["services[id=5].name: Input should be a valid string"]


def test_string_id_in_a_list_is_rejected() -> None:
    doc = dump([service(5, categories=["10"])])
    assert problems_of(doc) == ["services[id=5].categories.0: Input should be a valid integer"]


def test_duplicate_ids_are_named() -> None:
    assert problems_of(dump([service(3), service(3)])) == ["services[id=3].id: duplicate id"]


def test_missing_id_is_located_by_position() -> None:
    record = service(1)
    del record["id"]
    assert problems_of(dump([service(2), record])) == [
        "services[1].id: required non-negative integer id is missing or invalid"
    ]


def test_reference_to_an_id_not_in_the_dump() -> None:
    assert problems_of(dump([service(1)], [user(9, accessed_services=[1, 77])])) == [
        "users[id=9].accessed_services: services id 77 is not in the dump"
    ]
    assert problems_of(dump([service(1, related_services=[2])])) == [
        "services[id=1].related_services: services id 2 is not in the dump"
    ]


def test_projects_must_name_known_users() -> None:
    doc = dump([service(1)], [user(1)], projects=[{"id": 1, "user_id": 2, "services": [1]}])
    assert problems_of(doc) == ["projects[id=1].user_id: users id 2 is not in the dump"]


def test_duplicate_aai_uid_is_rejected() -> None:
    doc = dump([service(1)], [user(1, aai_uid="a@b"), user(2, aai_uid="a@b")])
    assert problems_of(doc) == ["users[id=2].aai_uid: aai_uid 'a@b' is used by another record"]


def test_not_an_object() -> None:
    assert problems_of([1, 2]) == ["dump: the dump must be a JSON object of arrays"]
    doc = dump()
    doc["users"] = {"id": 1}
    assert problems_of(doc) == ["users: must be an array of objects"]


def test_old_list_tagline_and_string_rating_are_read() -> None:
    from recommender.catalog.dump import ServiceRecord

    record = ServiceRecord.model_validate(service(1, tagline=["gpu", "cloud"], rating="4.5"))
    assert record.tagline == "gpu, cloud"
    assert record.rating == 4.5
    with pytest.raises(ValueError, match="rating 'high' is not a number"):
        ServiceRecord.model_validate(service(1, rating="high"))


def test_every_repeat_of_an_id_is_named_where_it_occurs() -> None:
    record = service(1)
    del record["id"]
    doc = dump([service(3), service(4), service(3), record, service(4), service(3)])
    assert problems_of(doc) == [
        "services[id=3].id: duplicate id",
        "services[3].id: required non-negative integer id is missing or invalid",
        "services[id=4].id: duplicate id",
        "services[id=3].id: duplicate id",
    ]


def test_every_user_reusing_an_aai_uid_is_named() -> None:
    users = [user(1, aai_uid="a@b"), user(2, aai_uid="c@d"), user(3, aai_uid="a@b")]
    users += [user(4, aai_uid="c@d"), user(5, aai_uid=None), user(6, aai_uid=None)]
    assert problems_of(dump([service(1)], users)) == [
        "users[id=3].aai_uid: aai_uid 'a@b' is used by another record",
        "users[id=4].aai_uid: aai_uid 'c@d' is used by another record",
    ]


def test_a_streamed_dump_gets_the_problems_of_a_parsed_one() -> None:
    doc = dump([service(1, categories=[999]), service(1)], [user(2, aai_uid="x"), user(3)])
    doc["users"].append(user(4, aai_uid="x"))
    doc["extra"] = {"anything": [1]}
    streamed = read_dump(MemoryBytes(orjson.dumps(doc)))
    assert problems_of(streamed) == problems_of(doc) == ["services[id=1].id: duplicate id"]
    del doc["services"][1]
    streamed = read_dump(MemoryBytes(orjson.dumps(doc)))
    assert problems_of(streamed) == problems_of(doc)
    assert problems_of(doc) == [
        "services[id=1].categories: categories id 999 is not in the dump",
        "users[id=4].aai_uid: aai_uid 'x' is used by another record",
    ]
