"""simrenew: sell, renew and manage eSIM data plans."""
