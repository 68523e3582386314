"""The worker: every piece of scheduled work (auto-renew, reconciliation, reminders,
suspension, termination, outbox delivery), run by `simrenew worker`."""
