"""Registered sources: one fetcher per kind (local folder, Git repository, web site)."""
