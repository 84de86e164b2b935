"""VaultKey moves here from the scans app without touching the database.

The table ``scans_vaultkey`` was created by ``scans.0001_initial`` and keeps its name
(``Meta.db_table``); this migration only tells Django's migration state that the model now
belongs to the vault app. ``scans.0003_vaultkey_moved_to_vault`` removes it from the scans
app's state, also without a database operation.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("scans", "0002_consent_answers"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="VaultKey",
                    fields=[
                        ("object_id", models.UUIDField(primary_key=True, serialize=False)),
                        ("master_key_id", models.CharField(db_index=True, max_length=64)),
                        ("wrapped_key", models.BinaryField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"db_table": "scans_vaultkey"},
                ),
            ],
            database_operations=[],
        ),
    ]
