"""Root conftest: every test session gets Uplift's fixtures (servers, databases) from one plugin."""

pytest_plugins = ["uplift.common.testing"]
