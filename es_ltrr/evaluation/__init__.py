"""Evaluating what users see: judged query sets and page metrics over served searches."""
