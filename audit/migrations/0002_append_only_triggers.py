"""Make the audit log append-only at the database (audit/triggers.py) and create the
chain head row."""

from django.db import migrations

from audit import triggers


def _apply(direction):
    def run(apps, schema_editor):
        for sql in triggers.statements(direction, schema_editor.connection.vendor):
            schema_editor.execute(sql)

    return run


def create_head(apps, schema_editor):
    ChainHead = apps.get_model("audit", "ChainHead")
    ChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(_apply(triggers.UP), _apply(triggers.DOWN)),
        migrations.RunPython(create_head, migrations.RunPython.noop),
    ]
