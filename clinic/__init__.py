"""Running the clinic's gateway: people and roles, retention, a patient's erasure of their
account, and the health page. The top app: it may use every other one."""
