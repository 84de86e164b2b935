"""The tamper-evident audit log: append-only entries in a hash chain and an RFC 6962 Merkle tree,
signed tree heads, receipts, and the auditor's pages and API. Imports nothing of scans, clinic or
forwarding: everything else writes to it, it reads nothing back from them."""
