"""Search by person through the blind index, duplicate check, routing suggestion, re-routing and the candidate decision."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from passage.core.db import unit_of_work
from passage.core.errors import Conflict, InvalidInput, NotFound
from passage.readmission import person_search, service
from passage.readmission.models import CaseAlias, CaseSearchToken, ReadmissionCase
from passage.security import blind_index
from passage.security.actors import system_actor
from passage.security.models import AuditEntry, Organisation, User

YEH = {"surname": "YE", "given_names": "Mingming", "name_in_characters": "叶明明", "date_of_birth": "1988-07-15", "place_of_birth": "Wenzhou",
       "sex": "F", "nationality": "CHN", "passport_number": "E12345678"}


def user(session, username: str) -> User:  # type: ignore[no-untyped-def]
    return session.scalars(select(User).where(User.username == username)).one()


def _submitted_case(session, application=YEH):  # type: ignore[no-untyped-def]
    officer = user(session, "nl.officer")
    case = service.create_draft(session, actor=officer, agreement_id="eu-china-draft", application=application, aliases_none=True)
    case.submitted_on = service.today_utc()  # visible to the requested state without replaying the whole workflow
    case.state = "acknowledged"
    session.flush()
    return case


def _search(session, username: str, q: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows, _, _ = service.list_cases(session, actor=user(session, username), filters=service.CaseFilter(q=q, limit=100))
    return [row.reference for row in rows]


@pytest.mark.parametrize("typed", ["YEH Ming-ming", "Ye Mingming", "Mingming YE", "叶明明", "Yip Ming Ming", "15.07.1988", "1988-07-15", "e1234-5678",
                                   "YEH Ming-ming 15.07.1988"])
def test_a_person_is_found_by_any_romanisation_characters_date_or_document(demo: dict[str, str], typed: str) -> None:
    with unit_of_work() as s:
        case = _submitted_case(s)
        assert case.reference in _search(s, "nl.officer", typed)
        assert case.reference in _search(s, "mps.central", typed)


def test_a_search_that_does_not_match_finds_nothing_and_another_scope_finds_nothing(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = _submitted_case(s)
        assert case.reference not in _search(s, "nl.officer", "CHEN Wei")
        assert case.reference not in _search(s, "nl.officer", "YEH Ming-ming 16.07.1988")  # name right, date wrong: AND
        assert _search(s, "fr.officer", "YEH Ming-ming") == [r for r in _search(s, "fr.officer", "YEH Ming-ming") if not r.startswith("NL-")]
        assert case.reference not in _search(s, "fr.officer", "E12345678")  # another requesting state's case
        assert case.reference not in _search(s, "fj.officer", "E12345678")  # not routed to Fujian


def test_tokens_hold_no_value_and_the_search_audit_names_kinds_only(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = _submitted_case(s)
        tokens = list(s.scalars(select(CaseSearchToken).where(CaseSearchToken.case_id == case.id)))
        assert {t.kind for t in tokens} == {"surname", "given", "birth", "document"}
        assert all(len(t.token) == 32 and "ye" not in t.token.lower() for t in tokens)
        _search(s, "nl.officer", "YEH Ming-ming 15.07.1988")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "search", AuditEntry.entity_type == "readmission_case").order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        text = json.dumps(entry.details, ensure_ascii=False)
        assert "Ming" not in text and "1988" not in text and case.id in text
        assert entry.details["search"] == ["name", "birth"]  # a text with a space is no reference
        _search(s, "nl.officer", "E12345678")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "search", AuditEntry.entity_type == "readmission_case").order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.details["search"] == ["reference", "document"]


def test_an_edit_and_an_erasure_update_the_tokens(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = _submitted_case(s)
        case.state, case.submitted_on = "draft", None
        service.edit_application(s, actor=user(s, "nl.officer"), case_id=case.id, expected_version=case.version, changes={"surname": "CHEN", "name_in_characters": None})
        assert case.reference in _search(s, "nl.officer", "CHEN Mingming")
        assert case.reference not in _search(s, "nl.officer", "YE Mingming")
        service.erase_case_data(s, case, actor=system_actor("retention"), day=service.today_utc())
        s.flush()
        assert s.scalar(select(CaseSearchToken.id).where(CaseSearchToken.case_id == case.id)) is None


def test_the_blind_index_key_rotates_without_losing_a_search(demo: dict[str, str], tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PASSAGE_BLIND_INDEX_KEY")
    monkeypatch.setenv("PASSAGE_BLIND_INDEX_KEY_FILE", str(tmp_path / "bi.json"))
    blind_index.reset_keys()
    try:
        with unit_of_work() as s:
            case = _submitted_case(s)
            old_tokens = set(s.scalars(select(CaseSearchToken.token).where(CaseSearchToken.case_id == case.id)))
            old, new = blind_index.rotate()
            assert case.reference in _search(s, "nl.officer", "YEH Ming-ming")  # old tokens still searchable
            assert service.rebuild_blind_index(s) >= 1
            fresh = set(s.scalars(select(CaseSearchToken.token).where(CaseSearchToken.case_id == case.id)))
            assert fresh and not fresh & old_tokens
            assert blind_index.retire(new) == [old]
            assert case.reference in _search(s, "nl.officer", "YEH Ming-ming")
            assert set(s.scalars(select(CaseSearchToken.key_id).where(CaseSearchToken.case_id == case.id))) == {new}
    finally:
        blind_index.reset_keys()


def test_the_blind_index_key_is_not_an_encryption_key(demo: dict[str, str]) -> None:
    """Tokens change with the blind-index key alone: the key-encryption keys cannot compute them."""
    first = blind_index.search_tokens(["ye"], context="x")
    blind_index.reset_keys()
    assert blind_index.search_tokens(["ye"], context="x") == first
    assert blind_index.search_tokens(["ye"], context="y") != first  # the context separates kinds and modules


def test_an_empty_draft_is_refused_and_creates_nothing(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        before = s.scalar(select(ReadmissionCase.id).order_by(ReadmissionCase.created_at.desc()))
        with pytest.raises(InvalidInput) as raised:
            service.create_draft(s, actor=user(s, "nl.officer"), agreement_id="eu-china-draft", application={"sex": "F"})
        assert raised.value.fields[0].path == "application.surname"
        assert s.scalar(select(ReadmissionCase.id).order_by(ReadmissionCase.created_at.desc())) == before


def test_new_fields_are_checked(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        with pytest.raises(InvalidInput) as raised:
            service.create_draft(s, actor=user(s, "nl.officer"), agreement_id="eu-china-draft",
                                 application={"surname": "YE", "id_number": "330302198807150011", "name_in_characters": "Ye", "passport_number": "E1"})
        assert {f.path for f in raised.value.fields} == {"application.id_number", "application.name_in_characters", "application.passport_number"}


def test_the_duplicate_check_finds_the_same_person_in_another_romanisation(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = _submitted_case(s)
        officer = user(s, "nl.officer")
        found = service.find_duplicates(s, actor=officer, application={"surname": "YEH", "given_names": "Ming-ming", "date_of_birth": "1988-07-15", "sex": "F"})
        assert [d.case.id for d in found] == [case.id] and "name" in found[0].agreeing
        assert service.find_duplicates(s, actor=officer, application={"surname": "CHEN", "given_names": "Wei", "date_of_birth": "1988-07-15", "sex": "F"}) == []
        assert service.find_duplicates(s, actor=user(s, "fr.officer"), application={"surname": "YEH", "given_names": "Ming-ming", "date_of_birth": "1988-07-15"}) == []


def test_routing_is_suggested_from_the_id_region_or_the_place_and_never_defaulted(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        zhejiang = s.scalars(select(Organisation).where(Organisation.province == "CN-ZJ")).one()
        guangdong = s.scalars(select(Organisation).where(Organisation.province == "CN-GD")).one()
        case = _submitted_case(s, {**YEH, "place_of_birth": "Wenchow"})
        suggestion = service.suggest_province(s, case)
        assert suggestion is not None and (suggestion.organisation.id, suggestion.basis) == (zhejiang.id, "place_of_birth")
        case.id_number = "440781198807150023"  # Taishan, Guangdong (GB/T 2260 440781); the ID number wins
        assert service.suggest_province(s, case).organisation.id == guangdong.id  # type: ignore[union-attr]
        case.id_number, case.place_of_birth = None, "Somewhere unknown"
        assert service.suggest_province(s, case) is None


def test_the_central_authority_reroutes_with_audit_and_timeline(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        fujian = s.scalars(select(Organisation).where(Organisation.province == "CN-FJ")).one()
        zhejiang = s.scalars(select(Organisation).where(Organisation.province == "CN-ZJ")).one()
        case = _submitted_case(s)
        service.transition(s, actor=user(s, "mps.central"), case_id=case.id, expected_version=case.version, action="route", payload={"province_org_id": fujian.id})
        with pytest.raises(InvalidInput):
            service.reroute(s, actor=user(s, "mps.central"), case_id=case.id, expected_version=case.version, province_org_id=zhejiang.id, reason=" ")
        service.reroute(s, actor=user(s, "mps.central"), case_id=case.id, expected_version=case.version, province_org_id=zhejiang.id, reason="born in Wenzhou")
        assert (case.state, case.province_code) == ("routed", "CN-ZJ")
        assert case.events[-1].action == "reroute" and case.events[-1].details == {"from_province": fujian.id, "to_province": zhejiang.id}
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "readmission.reroute", AuditEntry.entity_id == case.id)).first() is not None
        with pytest.raises(NotFound):
            service.load_case(s, actor=user(s, "fj.officer"), case_id=case.id)
        assert service.load_case(s, actor=user(s, "zj.officer"), case_id=case.id).id == case.id


def test_confirming_one_candidate_closes_the_others(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        fujian = s.scalars(select(Organisation).where(Organisation.province == "CN-FJ")).one()
        case = _submitted_case(s)
        service.transition(s, actor=user(s, "mps.central"), case_id=case.id, expected_version=case.version, action="route", payload={"province_org_id": fujian.id})
        officer = user(s, "fj.officer")
        record = service.record_candidates(s, actor=officer, case_id=case.id, expected_version=case.version, source="registry",
                                           candidates=[{"registry_id": f"P{i}", "score": 0.9 / i, "rank": i} for i in (1, 2, 3)])
        service.decide_candidate(s, actor=officer, case_id=case.id, expected_version=case.version, verification_id=record.id, registry_id="P2", decision="rejected")
        service.decide_candidate(s, actor=officer, case_id=case.id, expected_version=case.version, verification_id=record.id, registry_id="P1", decision="confirmed")
        assert [c["decision"] for c in record.candidates] == ["confirmed", "rejected", "closed"]
        with pytest.raises(Conflict):
            service.decide_candidate(s, actor=officer, case_id=case.id, expected_version=case.version, verification_id=record.id, registry_id="P3", decision="confirmed")


def test_the_search_box_is_read_as_name_date_and_numbers() -> None:
    query = person_search.parse_query("YEH Ming-ming 15/07/1988 E12345678")
    assert query.birth == "1988-07-15" and query.documents == ["E12345678"] and query.kinds == ["name", "birth", "document"]
    assert person_search.parse_query("NL-DEMO-0001").reference == "NL-DEMO-0001"
    assert person_search.parse_query("31.02.1988").birth is None


def test_a_search_pages_its_matches_with_the_exact_total_and_a_page_past_the_end_keeps_it(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        person = {**YEH, "surname": "OUYANG", "given_names": "Xiuyuan", "name_in_characters": "欧阳修远"}
        references = {_submitted_case(s, application={**person, "passport_number": f"E1234567{n}"}).reference for n in range(5)}
        central = user(s, "mps.central")
        pages = []
        for offset in (0, 2, 4):
            rows, total, _ = service.list_cases(s, actor=central, filters=service.CaseFilter(q="欧阳修远", sort="reference", offset=offset, limit=2))
            assert (total.value, total.estimated) == (5, False)
            pages.append([row.reference for row in rows])
        # three pages in the sort order, no case twice, none left out
        assert [ref for page in pages for ref in page] == sorted(references)
        rows, total, _ = service.list_cases(s, actor=central, filters=service.CaseFilter(q="欧阳修远", offset=50, limit=2))
        assert rows == [] and total.value == 5


def test_a_dense_search_pages_the_same_matches_in_the_same_order_as_a_sparse_one(demo: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # a search matching many cases walks the inbox order instead of sorting every match: the pages must be the same
    # cases in the same order, and the first page the newest matches (a capped, unordered match set lost them)
    with unit_of_work() as s:
        person = {**YEH, "surname": "OUYANG", "given_names": "Xiuyuan", "name_in_characters": "欧阳修远"}
        made = [_submitted_case(s, application={**person, "passport_number": f"E7654321{n}"}).reference for n in range(5)]
        central = user(s, "mps.central")

        def pages(q: str) -> tuple[list[str], int]:
            found, total = [], 0
            for offset in (0, 2, 4):
                rows, count, _ = service.list_cases(s, actor=central, filters=service.CaseFilter(q=q, sort="reference", offset=offset, limit=2))
                found += [row.reference for row in rows]
                total = count.value
            return found, total

        sparse = {q: pages(q) for q in ("欧阳修远", "E76543210")}
        monkeypatch.setattr(service, "DENSE_SEARCH", 2)
        for q, expected in sparse.items():
            assert pages(q) == expected
        assert sparse["欧阳修远"] == (sorted(made), 5)
        # newest first, by default: the last case made heads the first page
        rows, _, _ = service.list_cases(s, actor=central, filters=service.CaseFilter(q="欧阳修远", limit=1))
        assert [row.reference for row in rows] == [made[-1]]


def test_a_list_without_the_person_reads_no_personal_column(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        _submitted_case(s)
        s.expunge_all()  # the rows must come from the list's own statement, not the identity map
        rows, _, _ = service.list_cases(s, actor=user(s, "mps.central"), filters=service.CaseFilter(q="叶明明"), with_person=False)
        assert rows and rows[0].reference and rows[0].state == "acknowledged"
        with pytest.raises(Exception, match="raiseload|not available"):
            _ = rows[0].surname


def test_a_case_read_loads_only_the_related_records_it_has_and_all_of_them(demo: dict[str, str]) -> None:
    from sqlalchemy import event

    from passage.core.db import get_engine

    with unit_of_work() as s:
        case = _submitted_case(s)
        case.aliases.append(CaseAlias(alias="YE Mingming", kind="alias"))
        s.flush()
        case_id = case.id
    with unit_of_work() as s:
        read = service.read_case(s, actor=user(s, "mps.central"), case_id=case_id)
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(get_engine(), "before_cursor_execute", listener)
        try:
            seen = {name: list(getattr(read, name)) for name in service.CASE_PAGE_COLLECTIONS}
        finally:
            event.remove(get_engine(), "before_cursor_execute", listener)
        expected = {name: s.scalar(select(func.count()).select_from(getattr(ReadmissionCase, name).property.mapper.class_).where(
            getattr(ReadmissionCase, name).property.mapper.class_.case_id == case_id)) for name in service.CASE_PAGE_COLLECTIONS}
        # every collection has exactly its rows, and only the non-empty ones cost a statement
        assert {name: len(rows) for name, rows in seen.items()} == expected
        assert len(statements) == sum(1 for n in expected.values() if n)
        assert expected["aliases"] == 1 and expected["flags"] == 0
        assert [a.alias for a in seen["aliases"]] == ["YE Mingming"]
