from __future__ import annotations

from django.db import models


class TestClock(models.Model):
    """The sandbox's shared "now": one row, read by web processes, workers and the CLI alike."""

    __test__ = False  # not a pytest test class, despite the name

    frozen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="test_clock_single_row")]

    def __str__(self) -> str:
        return f"test clock at {self.frozen_at}"
