"""The clinic's side: studies received from its PACS, handed to patients, answers shared back.

``scp`` is the DICOM node (its own process, ``manage.py dicom_listen``), ``stow`` the DICOMweb
endpoint; both hand each received instance to ``receiving``, which seals it into the vault.
Clinicians work through ``inbox`` (``handoff``), patients share answers through ``sharing``.
"""
