"""Consent: preparing exactly what would leave, the patient's agreement to it, and its end.

A consent request prepares every image exactly as it will be sent and seals the question, then
describes all of it in a canonical manifest (``requests``); the consent text names the endpoint,
the number of images and the expiry (``text``), and the patient's consent commits to the hashes
of both (``acceptance``). Nothing here sends anything: ``scans.sending`` does, once, and only for
an active, unexpired consent. A consent's state changes only through ``states.transition``;
``withdrawal`` and ``expiry`` end consents that were never used. Questions are checked for
identifying details first (``questions``, a pure module, fed by ``headers``).
"""
