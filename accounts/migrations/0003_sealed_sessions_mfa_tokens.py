"""Sessions stored sealed, TOTP secrets and recovery seeds sealed, API tokens with scopes and an
expiry.

Existing database sessions are not carried over (their keys are in clear in the old table):
everyone signs in again. Existing tokens keep working for the patient's own scans (read, upload,
consent) until they expire; audit access needs a new token.
"""

from django.db import migrations, models

import accounts.models

EXISTING_TOKEN_SCOPES = ["consent", "read", "upload"]


def scope_existing_tokens(apps, schema_editor):
    apps.get_model("accounts", "ApiToken").objects.update(scopes=EXISTING_TOKEN_SCOPES)


def forget_clear_sessions(apps, schema_editor):
    """Django's own table kept session keys in clear: nothing in it may survive into a backup."""
    apps.get_model("sessions", "Session").objects.all().delete()


def seal_mfa_secrets(apps, schema_editor):
    """Seal what allauth stored in clear. Needs the keyring: a process without one (the
    container's migrate step) leaves them to ``manage.py seal_mfa_secrets``."""
    from allauth.mfa.adapter import get_adapter
    from django.conf import settings

    if not settings.VAULT_KEYRING_REQUIRED:
        return
    adapter = get_adapter()
    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.all():
        data = dict(authenticator.data)
        for field in ("secret", "seed"):
            if isinstance(data.get(field), str):
                data[field] = adapter.encrypt(data[field])
        if data != authenticator.data:
            Authenticator.objects.filter(pk=authenticator.pk).update(data=data)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_role_groups'),
        ('mfa', '0003_authenticator_type_uniq'),
        ('sessions', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='SealedSession',
            fields=[
                ('session_data', models.TextField(verbose_name='session data')),
                ('expire_date', models.DateTimeField(db_index=True, verbose_name='expire date')),
                ('session_key', models.CharField(max_length=64, primary_key=True, serialize=False, verbose_name='session key hash')),
                ('user_pk', models.CharField(blank=True, db_index=True, max_length=64)),
            ],
            options={
                'verbose_name': 'session',
                'verbose_name_plural': 'sessions',
                'abstract': False,
            },
        ),
        migrations.AddField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(default=accounts.models.default_token_expiry),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='scopes',
            field=models.JSONField(default=list),
        ),
        migrations.RunPython(scope_existing_tokens, migrations.RunPython.noop),
        migrations.RunPython(forget_clear_sessions, migrations.RunPython.noop),
        migrations.RunPython(seal_mfa_secrets, migrations.RunPython.noop),
    ]
