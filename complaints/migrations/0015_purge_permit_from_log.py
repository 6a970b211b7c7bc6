"""The purge permit rests on the log and its checkpoints, not on the complaint row
(complaints/guard.py)."""

from django.db import migrations

from audit import triggers
from complaints import guard


class Migration(migrations.Migration):

    dependencies = [
        ('complaints', '0014_delete_guard'),
        # The function reads the checkpoints, and trusts their insert guard.
        ('audit', '0009_checkpoint_insert_guard'),
    ]

    operations = [
        triggers.operation(guard.PERMIT_FROM_LOG_UP, guard.PERMIT_FROM_LOG_DOWN),
    ]
