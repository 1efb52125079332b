import pytest

from uplift.matching.domain.skills import DEFAULT_VOCABULARY, Skill, SkillVocabulary


def test_chinese_label_resolves_to_its_code() -> None:
    assert DEFAULT_VOCABULARY.resolve("保洁") == ("cleaning", [])


def test_chinese_alias_resolves_to_its_code() -> None:
    assert DEFAULT_VOCABULARY.resolve("清洁") == ("cleaning", [])
    assert DEFAULT_VOCABULARY.resolve("在线客服") == ("remote_customer_service", [])


def test_code_and_english_label_resolve_ignoring_case_and_spacing() -> None:
    assert DEFAULT_VOCABULARY.resolve("elderly_care") == ("elderly_care", [])
    assert DEFAULT_VOCABULARY.resolve("  Remote   Customer Service ") == ("remote_customer_service", [])


def test_a_misspelling_is_not_resolved_but_suggests_the_right_code_first() -> None:
    code, suggestions = DEFAULT_VOCABULARY.resolve("clening")
    assert code is None
    assert suggestions[0] == "cleaning"
    assert len(suggestions) <= 5


def test_free_text_containing_a_label_suggests_it() -> None:
    code, suggestions = DEFAULT_VOCABULARY.resolve("会做保洁")
    assert code is None
    assert suggestions[0] == "cleaning"


def test_nonsense_gets_no_suggestion() -> None:
    assert DEFAULT_VOCABULARY.resolve("xyzzy") == (None, [])
    assert DEFAULT_VOCABULARY.resolve("   ") == (None, [])


def test_search_puts_the_exact_name_first_and_respects_the_limit() -> None:
    matches = DEFAULT_VOCABULARY.search("customer service", limit=2)
    assert [m.skill.code for m in matches] == ["customer_service", "remote_customer_service"]
    assert matches[0].score == 100.0


def test_search_finds_a_skill_by_a_partial_chinese_name() -> None:
    assert DEFAULT_VOCABULARY.search("远程")[0].skill.code == "remote_customer_service"


def test_blank_search_lists_the_vocabulary_in_order() -> None:
    matches = DEFAULT_VOCABULARY.search("", limit=3)
    assert [m.skill.code for m in matches] == [s.code for s in DEFAULT_VOCABULARY.skills[:3]]
    assert DEFAULT_VOCABULARY.search("保洁", limit=0) == []


def test_unknown_codes_are_named_with_suggestions() -> None:
    unknown = DEFAULT_VOCABULARY.unknown_codes(["cleaning", "clening", "保洁", "xyzzy", "clening"])
    assert list(unknown) == ["clening", "保洁", "xyzzy"]
    assert unknown["clening"][0] == "cleaning"
    assert unknown["保洁"] == ["cleaning"]  # a label sent for a code suggests exactly that code
    assert unknown["xyzzy"] == []


def test_known_codes_are_not_reported() -> None:
    assert DEFAULT_VOCABULARY.unknown_codes(["security", "delivery", "sewing"]) == {}


def test_the_default_vocabulary_has_40_to_60_unique_codes_with_both_labels() -> None:
    skills = DEFAULT_VOCABULARY.skills
    assert 40 <= len(skills) <= 60
    assert len({s.code for s in skills}) == len(skills)
    for code in ("cleaning", "security", "catering", "cooking", "delivery", "driving", "elderly_care",
                 "childcare", "customer_service", "remote_customer_service", "data_entry", "warehouse",
                 "sales", "cashier", "gardening", "property_maintenance", "electrician", "sewing",
                 "handicraft", "computer_basic"):  # fmt: skip
        skill = DEFAULT_VOCABULARY.get(code)
        assert skill is not None and skill.label_zh and skill.label_en, code


def test_a_name_shared_by_two_skills_is_refused() -> None:
    with pytest.raises(ValueError, match="belongs to both"):
        SkillVocabulary([Skill("a", "甲", "A", ("same",)), Skill("b", "乙", "B", ("Same",))])


def test_a_code_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        SkillVocabulary([Skill("a", "甲", "A"), Skill("a", "乙", "B")])
