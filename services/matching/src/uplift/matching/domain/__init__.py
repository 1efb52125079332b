"""The matching service's rules (DOMAIN.md §8): pure functions and small classes, no I/O, no ORM, no FastAPI.

- `skills`: the controlled skill vocabulary with aliases and fuzzy suggestions.
- `scoring`: seekers, postings, the hard filters, the score and recommendations both ways.
- `job_fair_edges`: each invited seeker's top-k feasible postings for a job fair, vectorised.
- `assignment`: the job-fair assignment (lexicographic min-cost flow) beside a greedy baseline.
- `applications`: the application / placement state machine.
"""
