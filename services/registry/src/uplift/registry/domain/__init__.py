"""The registry's rules as pure code: parameters, the household lifecycle, pairing, alerts and eligibility.

Nothing here touches a database, the network or FastAPI; callers pass facts in and get decisions back.
"""
