"""VaultKey now belongs to the vault app (see ``vault.0001_initial``): state only, the table
``scans_vaultkey`` stays exactly as it is."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("scans", "0002_consent_answers"),
        ("vault", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="VaultKey")],
            database_operations=[],
        ),
    ]
