"""Test kit for duroxide workflows: a runtime and client on a private store whose durable
timers skip ahead, activities you can replace, and determinism checks on every turn.

    from duroxide.testing import TestEnvironment

    def test_reminder_fires_after_30_days():
        with TestEnvironment() as env:
            env.runtime.register_orchestration("Reminder", reminder)
            env.mock_activity("SendEmail", lambda ctx, to: f"sent to {to}")
            env.client.start_orchestration("r1", "Reminder", "ada@example.com")
            result = env.client.wait_for_orchestration("r1", 5_000)  # a 30-day timer: < 1 s
            assert result.output == "sent to ada@example.com"

With pytest, the ``duroxide_env`` fixture gives the same environment (the plugin is
registered when the package is installed). See docs/testing.md.
"""

from ._environment import TestClient, TestEnvironment

__all__ = ["TestEnvironment", "TestClient"]
