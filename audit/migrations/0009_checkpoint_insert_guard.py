"""A checkpoint names an event of the log, comes after the last one, and is not dated
ahead of the database's clock (audit/triggers.py)."""

from django.db import migrations

from audit import triggers


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0008_checkpoints'),
    ]

    operations = [
        triggers.operation(triggers.CHECKPOINT_INSERT_UP, triggers.CHECKPOINT_INSERT_DOWN),
    ]
