"""Fakes of what lies outside the project (AI providers over HTTP), for tests only."""
