"""Helpers the tests share: builders, fakes, accounts, workers. Fixtures stay in conftest.py
files; everything a test imports comes from here."""
