"""Recommendations both ways (DOMAIN.md §8): postings for a seeker, candidates for a posting.

The ranking itself is the domain's (`recommend_postings`, `recommend_seekers`); this module feeds it the open
postings from the cache and the seekers from the projection, and shapes the answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.auth import Principal, Role
from uplift.common.settings import ServiceSettings
from uplift.matching.domain.scoring import (
    Contribution,
    Posting,
    Score,
    priority_of,
    recommend_postings,
    recommend_seekers,
    score,
)
from uplift.matching.schemas import (
    CandidateRead,
    CandidatesRead,
    ContributionRead,
    ExcludedPostingRead,
    ExclusionRead,
    PriorityRead,
    RecommendationsRead,
    RecommendedPosting,
    score_text,
)
from uplift.matching.service.postings import OpenPostingsCache, domain_posting
from uplift.matching.service.seekers import (
    candidate_filters,
    load_seeker,
    load_seekers,
    working_age_on,
    zero_employment_households,
)


def business_today(settings: ServiceSettings) -> dt.date:
    """Today in the district's time zone (business dates are Asia/Shanghai dates)."""
    return dt.datetime.now(ZoneInfo(settings.timezone)).date()


def contributions_read(contributions: Mapping[str, Contribution]) -> dict[str, ContributionRead]:
    return {
        name: ContributionRead(
            value=score_text(c.value), weight=f"{c.weight:.2f}", contribution=score_text(c.contribution)
        )
        for name, c in contributions.items()
    }


def _summary(posting: Posting) -> dict[str, Any]:
    return {
        "posting_id": posting.posting_id,
        "employer_id": posting.employer_id,
        "occupation": posting.occupation,
        "monthly_wage": posting.monthly_wage,
        "weekly_hours": posting.weekly_hours,
        "street_code": posting.street_code,
        "remote": posting.remote,
        "public_welfare": posting.public_welfare,
        "openings": posting.openings,
    }


def _recommended(posting: Posting, pair_score: Score) -> RecommendedPosting:
    return RecommendedPosting(
        **_summary(posting),
        score=score_text(pair_score.total),
        contributions=contributions_read(pair_score.contributions),
        missing_skills=list(pair_score.missing_skills),
        priority=pair_score.priority.label,
    )


async def recommend_for_seeker(
    *,
    session: AsyncSession,
    cache: OpenPostingsCache,
    person_id: uuid.UUID,
    on: dt.date,
    limit: int,
    explain_excluded: bool,
    principal: Principal,
) -> RecommendationsRead:
    """The open postings that pass every hard filter for the seeker, best first; the excluded ones on request."""
    working_age = await working_age_on(session, on)
    view = await load_seeker(session=session, person_id=person_id, on=on, working_age=working_age, principal=principal)
    seeker = view.seeker
    priority = priority_of(seeker)
    if explain_excluded:
        # Every excluded posting is explained: the domain's exact ranking over the cached postings.
        open_postings = await cache.open_postings(session)
        result = recommend_postings(
            seeker, open_postings.postings, on, limit=limit, explain_excluded=True, working_age=working_age
        )
        items = [_recommended(item.posting, item.score) for item in result.recommended]
        feasible_count = result.feasible_count
        excluded: list[ExcludedPostingRead] | None = [
            ExcludedPostingRead(
                **_summary(item.posting),
                reasons=[ExclusionRead(code=str(r.code), message=r.message) for r in item.reasons],
            )
            for item in result.excluded
        ]
    else:
        # The same top `limit` from the column index (about a millisecond over 20,000 postings).
        open_postings, index = await cache.index(session, on)
        edges, feasible_count = index.top(seeker, limit, working_age=working_age)
        best = [open_postings.by_id[posting_id] for posting_id, _units in edges]
        items = [_recommended(posting, score(seeker, posting)) for posting in best]
        excluded = None
    return RecommendationsRead(
        person_id=person_id,
        priority=PriorityRead(tier=priority.tier, label=priority.label),
        on=on,
        feasible_count=feasible_count,
        items=items,
        excluded=excluded,
    )


async def candidates_for_posting(
    *, session: AsyncSession, posting_row: Mapping[str, Any], on: dt.date, limit: int, principal: Principal
) -> CandidatesRead:
    """The seekers for whom the posting passes every hard filter, best first.

    Street and community workers see only the candidates of their own org.
    """
    working_age = await working_age_on(session, on)
    posting = domain_posting(posting_row)
    # Ranked without the zero-employment fact (it decides the priority tier only); then told for the few ranked.
    views = await load_seekers(
        session=session,
        on=on,
        working_age=working_age,
        where=candidate_filters(posting, on, working_age),
        zero_employment=False,
    )
    district_wide = principal.has_role(Role.DISTRICT_ADMIN, Role.EMPLOYER) or principal.is_integrator
    if not district_wide:
        views = [v for v in views if principal.in_scope(v.community_code)]
    by_person = {v.seeker.person_id: v for v in views}
    ranked = recommend_seekers(posting, [v.seeker for v in views], on, limit=limit, working_age=working_age)
    zero_households = await zero_employment_households(
        session=session,
        household_ids=[by_person[c.seeker.person_id].household_id for c in ranked],
        on=on,
        working_age=working_age,
    )
    items = []
    for candidate in ranked:
        view = by_person[candidate.seeker.person_id]
        seeker = dataclasses.replace(candidate.seeker, zero_employment_household=view.household_id in zero_households)
        pair_score = score(seeker, posting)
        items.append(
            CandidateRead(
                person_id=seeker.person_id,
                household_id=view.household_id,
                street_code=seeker.street_code,
                age=on.year - seeker.birth_year,
                disability_level=seeker.disability_level,
                skills=sorted(seeker.skills),
                score=score_text(pair_score.total),
                contributions=contributions_read(pair_score.contributions),
                missing_skills=list(pair_score.missing_skills),
                priority=pair_score.priority.label,
                tier=pair_score.priority.tier,
            )
        )
    return CandidatesRead(posting_id=posting_row["id"], on=on, items=items)
