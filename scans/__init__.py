"""A study's life: upload → de-identify → consent → send → answer, for the patient.

Pages and the API sit on services (submission, processing, consent/, sending, answers, sweeper),
which sit on small bottom modules (pipeline, queue, inventory, busy, deletion, limits, hashing,
errors) and the models. ``deid/`` is a plain library without Django."""
