"""Periods say whether their data is running low (80 % or more of the allowance used), in a
column the database keeps (stored, generated from the usage and the allowance), with an
index of those periods by end. Each tick the worker's data reminders asked for the running
periods at 80 % or 95 %, and the database could only find them by reading every live
subscription's current period; now it reads this index's running entries, and the
column's statistics tell the planner how few they are. (A partial index on the usage
condition itself was tried first: the planner took a third of all periods to match it,
and read every subscription to join them.) Usage updates stay HOT on PostgreSQL: no
index holds `used_bytes`, and the new column changes only when the share crosses 80 % (up with usage, down after a top-up).

Adding a stored generated column rewrites the table (both databases).
"""

import django.db.models.expressions
import django.db.models.functions.comparison
import django.db.models.lookups
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_invoice_fewer_indexes"),
        ("catalog", "0002_initial"),
        ("subscriptions", "0006_fewer_indexes_more_room"),
    ]

    operations = [
        migrations.AddField(
            model_name="period",
            name="data_running_low",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.lookups.GreaterThanOrEqual(
                    django.db.models.expressions.CombinedExpression(models.F("used_bytes"), "*", models.Value(100)),
                    django.db.models.expressions.CombinedExpression(
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                django.db.models.functions.comparison.Cast("data_mb", models.BigIntegerField()),
                                "+",
                                django.db.models.functions.comparison.Cast("top_up_mb", models.BigIntegerField()),
                            ),
                            "*",
                            models.Value(1048576),
                        ),
                        "*",
                        models.Value(80),
                    ),
                ),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="period",
            index=models.Index(
                condition=models.Q(("data_running_low", True)), fields=["ends_at"], name="period_data_running_low"
            ),
        ),
    ]
