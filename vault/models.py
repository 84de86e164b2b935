"""The one table the vault keeps in the database: each object's wrapped data key.

Keeping the wrapped keys apart from the blobs is what makes crypto-shredding work: delete the
row and the blob is noise, wherever copies of it went.
"""

from django.db import models


class VaultKey(models.Model):
    object_id = models.UUIDField(primary_key=True)
    master_key_id = models.CharField(max_length=64, db_index=True)
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table kept the name it had when the model lived in the scans app: moving the
        # model was a state-only migration, so no table was renamed or recreated.
        db_table = "scans_vaultkey"

    def __str__(self) -> str:
        return f"{self.object_id} under {self.master_key_id}"
