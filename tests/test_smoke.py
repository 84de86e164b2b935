import pytest


@pytest.mark.django_db
def test_the_database_is_reachable_and_migrated():
    from accounts.models import User

    assert User.objects.count() == 0
