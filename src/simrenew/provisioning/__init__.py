"""Carrier and SM-DP+ adapters. So far: the carrier's SMS border (test messages
for the portal's connection check), with a sandbox carrier beside it."""
