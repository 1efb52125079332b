"""Seekers, their profile, and recommendations both ways; the skill vocabulary."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.auth import CurrentPrincipal
from uplift.matching.api.access import (
    CandidateReader,
    OpenPostingsDep,
    SeekerIndexDep,
    SeekerReader,
    SeekerWriter,
    TodayDep,
)
from uplift.matching.domain.scoring import age_on, priority_of
from uplift.matching.domain.skills import DEFAULT_VOCABULARY
from uplift.matching.schemas import (
    CandidatesRead,
    PriorityRead,
    RecommendationsRead,
    SeekerConstraints,
    SeekerProfileRead,
    SeekerProfileUpdate,
    SeekerRead,
    SkillList,
    SkillRead,
)
from uplift.matching.service import postings as postings_service
from uplift.matching.service import recommendations as service
from uplift.matching.service.seekers import SeekerView, load_seeker, save_profile, working_age_on

router = APIRouter(tags=["seekers and recommendations"])
Limit = Annotated[int, Query(ge=0, le=200, description="how many to return")]


def seeker_read(view: SeekerView, working_age_includes: bool, age: int) -> SeekerRead:
    seeker = view.seeker
    profile = seeker.profile
    priority = priority_of(seeker)
    return SeekerRead(
        person_id=seeker.person_id,
        household_id=view.household_id,
        birth_year=seeker.birth_year,
        age=age,
        sex=seeker.sex,
        working_age=working_age_includes,
        work_ability=seeker.work_ability,
        employment_status=view.employment_status,
        disability_level=seeker.disability_level,
        chronic_illness=seeker.chronic_illness,
        education=seeker.education or "none",
        street_code=seeker.street_code,
        community_code=view.community_code,
        household_status=seeker.household_status,
        household_category=view.household_category,
        public_welfare_eligible=seeker.public_welfare_eligible,
        zero_employment_household=seeker.zero_employment_household,
        skills=sorted(seeker.skills),
        priority=PriorityRead(tier=priority.tier, label=priority.label),
        profile=SeekerProfileRead(
            desired_occupations=sorted(profile.desired_occupations),
            desired_weekly_hours=profile.desired_hours,
            min_monthly_wage=profile.min_wage,
            location_preference=profile.location_pref,
            prefers_remote=profile.prefers_remote,
            constraints=SeekerConstraints(max_weekly_hours=profile.max_hours, no_heavy_work=profile.no_heavy_work),
            trained_skills=list(view.trained_skills),
        ),
    )


@router.get("/skills", response_model=SkillList, summary="Search the skill vocabulary (codes, zh/en labels, aliases)")
async def search_skills(
    principal: CurrentPrincipal,
    q: Annotated[str, Query(max_length=100, description="free text: 保洁, cleaner, clening")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> SkillList:
    matches = DEFAULT_VOCABULARY.search(q, limit=limit)
    return SkillList(
        items=[
            SkillRead(
                code=m.skill.code,
                label_zh=m.skill.label_zh,
                label_en=m.skill.label_en,
                aliases=list(m.skill.aliases),
                match_score=round(m.score, 1),
            )
            for m in matches
        ]
    )


@router.get("/seekers/{person_id}", response_model=SeekerRead, summary="A seeker as projected from the registry")
async def get_seeker(
    person_id: uuid.UUID, principal: SeekerReader, session: ReadSessionDep, today: TodayDep
) -> SeekerRead:
    working_age = await working_age_on(session, today)
    view = await load_seeker(
        session=session, person_id=person_id, on=today, working_age=working_age, principal=principal
    )
    age = age_on(view.seeker.birth_year, today)
    return seeker_read(view, working_age.includes(age, view.seeker.sex), age)


@router.put("/seekers/{person_id}/profile", response_model=SeekerRead, summary="Set the seeker's profile")
async def put_profile(
    person_id: uuid.UUID, body: SeekerProfileUpdate, principal: SeekerWriter, uow: UnitOfWorkDep, today: TodayDep
) -> SeekerRead:
    working_age = await working_age_on(uow.session, today)
    await load_seeker(session=uow.session, person_id=person_id, on=today, working_age=working_age, principal=principal)
    await save_profile(session=uow.session, person_id=person_id, body=body)
    view = await load_seeker(
        session=uow.session, person_id=person_id, on=today, working_age=working_age, principal=None
    )
    await uow.commit()
    age = age_on(view.seeker.birth_year, today)
    return seeker_read(view, working_age.includes(age, view.seeker.sex), age)


@router.get(
    "/seekers/{person_id}/recommendations",
    response_model=RecommendationsRead,
    response_model_exclude_none=True,
    summary="Postings for a seeker, best first, with explained scores",
)
async def recommendations(
    person_id: uuid.UUID,
    principal: SeekerReader,
    session: ReadSessionDep,
    cache: OpenPostingsDep,
    today: TodayDep,
    limit: Limit = 20,
    explain_excluded: bool = False,
    excluded_limit: Annotated[
        int,
        Query(
            ge=0,
            le=20_000,
            description="with explain_excluded: how many excluded postings to explain (the location-admitted ones"
            " first, then fewer excluding filters, then posting id); all are counted in excluded_count and"
            " excluded_by_reason",
        ),
    ] = service.DEFAULT_EXCLUDED_LIMIT,
) -> RecommendationsRead:
    return await service.recommend_for_seeker(
        session=session,
        cache=cache,
        person_id=person_id,
        on=today,
        limit=limit,
        explain_excluded=explain_excluded,
        principal=principal,
        excluded_limit=excluded_limit,
    )


@router.get(
    "/postings/{posting_id}/candidates",
    response_model=CandidatesRead,
    summary="Seekers for a posting, best first, with explained scores",
    tags=["employers and postings"],
)
async def candidates(
    posting_id: uuid.UUID,
    principal: CandidateReader,
    session: ReadSessionDep,
    seekers: SeekerIndexDep,
    today: TodayDep,
    limit: Limit = 20,
) -> CandidatesRead:
    posting = await postings_service.get_posting(session=session, posting_id=posting_id, principal=principal)
    return await service.candidates_for_posting(
        session=session, seekers=seekers, posting_row=posting, on=today, limit=limit, principal=principal
    )
