from django.db import migrations
from django.utils import timezone


def watch_from_now(apps, schema_editor):
    # A beat that never starts is then noticed twice its interval after this migration.
    SweepHeartbeat = apps.get_model("escalation", "SweepHeartbeat")
    SweepHeartbeat.objects.get_or_create(pk=1, defaults={"watched_since": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [("escalation", "0006_sweep_heartbeat")]

    operations = [migrations.RunPython(watch_from_now, migrations.RunPython.noop)]
