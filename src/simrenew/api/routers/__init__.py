"""One router per domain; each is thin and calls that domain's services."""
